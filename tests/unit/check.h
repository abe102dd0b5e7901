/*
 * A tiny test harness: CHECK(cond) records a failure with file:line and goes
 * on; CHECK_EQ_* print both sides. A test program returns check_done(), which
 * prints "N checks, N failed" and exits non-zero when any check failed.
 */
#ifndef HERD_TESTS_CHECK_H
#define HERD_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_total_, check_failed_;

#define CHECK(cond)                                                                  \
	do {                                                                             \
		check_total_++;                                                              \
		if (!(cond)) {                                                               \
			check_failed_++;                                                         \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                            \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                               \
	do {                                                                                 \
		long long a_ = (long long)(a), b_ = (long long)(b);                              \
		check_total_++;                                                                  \
		if (a_ != b_) {                                                                  \
			check_failed_++;                                                             \
			fprintf(stderr, "%s:%d: %s == %s: %lld != %lld\n", __FILE__, __LINE__, #a, #b, \
			        a_, b_);                                                             \
		}                                                                                \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                                 \
	do {                                                                                   \
		const char *a_ = (a), *b_ = (b);                                                   \
		check_total_++;                                                                    \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                             \
			check_failed_++;                                                               \
			fprintf(stderr, "%s:%d: %s == %s: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a, \
			        #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                           \
		}                                                                                  \
	} while (0)

/* Substring check, for error messages. */
#define CHECK_CONTAINS(hay, needle)                                                       \
	do {                                                                                  \
		const char *h_ = (hay), *n_ = (needle);                                           \
		check_total_++;                                                                   \
		if (h_ == NULL || strstr(h_, n_) == NULL) {                                       \
			check_failed_++;                                                              \
			fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
			        h_ ? h_ : "(null)", n_);                                              \
		}                                                                                 \
	} while (0)

static inline int check_done(void)
{
	printf("%d checks, %d failed\n", check_total_, check_failed_);
	return check_failed_ ? 1 : 0;
}

#endif
