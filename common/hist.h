/*
 * Log-linear latency histogram in the style of HdrHistogram: values in
 * microseconds from 0 to HIST_MAX_US (about 19 hours), relative error under
 * 0.4% (bucket midpoint reporting). Histograms merge by adding counts, so
 * percentiles across workers and agents come from merged data, never averages.
 * No Debian package provides HdrHistogram_c, so this one is written here.
 */
#ifndef HERD_COMMON_HIST_H
#define HERD_COMMON_HIST_H

#include <stddef.h>
#include <stdint.h>

/* Values below 2^HIST_SUB_BITS are exact; above, each power of two is cut
 * into 2^(HIST_SUB_BITS-1) equal buckets. */
#define HIST_SUB_BITS 8
#define HIST_MAX_BITS 36
#define HIST_MAX_US ((UINT64_C(1) << HIST_MAX_BITS) - 1)
#define HIST_NBUCKETS ((1u << HIST_SUB_BITS) + (HIST_MAX_BITS - HIST_SUB_BITS) * (1u << (HIST_SUB_BITS - 1)))

/*
 * Every histogram keeps min in its lowest nonzero bucket and max in its
 * highest (the functions here do; the decoders, proto/wire.c and
 * store_hist_decode, refuse a histogram that does not), so the buckets
 * outside [hist_index(min), hist_index(max)] are zero and the scans below
 * skip them: a latency histogram sets a few of its 3,840 buckets.
 */
typedef struct hist {
	uint64_t total;  /* number of recorded values */
	uint64_t sum;    /* exact sum of recorded values (clamped), for the mean */
	uint64_t min;    /* exact smallest value, UINT64_MAX when empty */
	uint64_t max;    /* exact largest value, 0 when empty */
	uint32_t counts[HIST_NBUCKETS];
} hist;

/* Empties h. */
void hist_init(hist *h);
/* Allocates an empty histogram; returns NULL when out of memory. Free with
 * hist_free. Thread-safe. */
hist *hist_new(void);
/* Frees h (NULL is a no-op), or keeps it for a later hist_new when the
 * process asked for that (hist_reuse). Thread-safe. */
void hist_free(hist *h);

/*
 * From now on, hist_free keeps up to max freed histograms, emptied over the
 * span of buckets they may have set only (a few of 3,840, see above), and
 * hist_new hands them out again: a histogram decoded, merged and freed per
 * entry then costs no 15 KB allocation and zeroing (the controller's ingest
 * at 1,000 agents decodes 50,000 a second). 0 (the default) frees at once
 * and drops what is kept. Call it from main, before other threads use
 * histograms. Out of memory, it changes nothing.
 */
void hist_reuse(size_t max);
/* How many freed histograms are kept now; for tests. */
size_t hist_reuse_kept(void);

/* Records value v (microseconds); values above HIST_MAX_US are clamped. */
void hist_record(hist *h, uint64_t v);
/* Records value v n times. */
void hist_record_n(hist *h, uint64_t v, uint32_t n);
/* Adds every count of src into dst. */
void hist_merge(hist *dst, const hist *src);

/* Value at percentile p (0..100): the representative value of the bucket that
 * holds the ceil(p/100*total)-th smallest value, clamped to [min,max].
 * Returns 0 for an empty histogram. */
uint64_t hist_percentile(const hist *h, double p);
/* Arithmetic mean, 0 when empty. */
double hist_mean(const hist *h);

/* Bucket arithmetic, exposed for sparse encoding and tests. */
uint32_t hist_index(uint64_t v);
/* The range of buckets that may be nonzero, [*lo, *hi); empty (0, 0) for an
 * empty histogram. */
void hist_span(const hist *h, uint32_t *lo, uint32_t *hi);
uint64_t hist_bucket_low(uint32_t idx);
uint64_t hist_bucket_high(uint32_t idx); /* inclusive */

#endif
