/*
 * Edit distance between short words, for "did you mean" suggestions in plan
 * and template errors.
 */
#ifndef HERD_COMMON_TEXTDIST_H
#define HERD_COMMON_TEXTDIST_H

#include <stddef.h>

/* Levenshtein distance between a (alen bytes) and b (blen bytes), ignoring
 * ASCII case, on at most the first 63 bytes of each. */
size_t text_edit_distance(const char *a, size_t alen, const char *b, size_t blen);

#endif
