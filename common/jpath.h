/*
 * A small JSON path: "$", "$.a.b", "$.items[0].id" over jansson values, and
 * the comparison of a value with expected text. Used by WebSocket expects
 * now and by captures and checks later.
 */
#ifndef HERD_COMMON_JPATH_H
#define HERD_COMMON_JPATH_H

#include <jansson.h>

/* The value at path in root (borrowed), or NULL when the path leads nowhere
 * or is malformed. The path starts with '$'; keys are up to 255 bytes. */
json_t *jpath_get(json_t *root, const char *path);

/* 1 when path is well formed ("$" then ".key" or "[index]" parts). */
int jpath_valid(const char *path);

/* Whether j reads as the text want: a string as it is; an integer, true,
 * false and null as JSON writes them; a real number by numeric value. */
int jpath_equals(const json_t *j, const char *want);

#endif
