/* JSON paths over jansson values; see jpath.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jpath.h"

/* Walks path; with root NULL only checks its form. Returns the value, root
 * itself when only checking and the path is well formed, or NULL. */
static json_t *walk(json_t *root, const char *path, int check_only)
{
	static json_t *const ok_marker = (json_t *)1;
	json_t *j = check_only ? ok_marker : root;
	char key[256];
	const char *p;

	if (path == NULL || path[0] != '$')
		return NULL;
	p = path + 1;
	while (j != NULL && *p != '\0') {
		if (*p == '.') {
			size_t n = strcspn(++p, ".[");
			if (n == 0 || n >= sizeof(key))
				return NULL;
			memcpy(key, p, n);
			key[n] = '\0';
			if (!check_only)
				j = json_is_object(j) ? json_object_get(j, key) : NULL;
			p += n;
		} else if (*p == '[') {
			char *end;
			if (p[1] < '0' || p[1] > '9')
				return NULL;
			unsigned long i = strtoul(p + 1, &end, 10);
			if (*end != ']')
				return NULL;
			if (!check_only)
				j = json_is_array(j) ? json_array_get(j, i) : NULL;
			p = end + 1;
		} else {
			return NULL;
		}
	}
	return j;
}

json_t *jpath_get(json_t *root, const char *path)
{
	return root == NULL ? NULL : walk(root, path, 0);
}

int jpath_valid(const char *path)
{
	return walk(NULL, path, 1) != NULL;
}

int jpath_equals(const json_t *j, const char *want)
{
	char buf[64];
	char *end;
	if (j == NULL || want == NULL)
		return 0;
	switch (json_typeof(j)) {
	case JSON_STRING: /* a string may hold "\u0000": compare every byte */
		return json_string_length(j) == strlen(want) &&
		       memcmp(json_string_value(j), want, json_string_length(j)) == 0;
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		return strcmp(buf, want) == 0;
	case JSON_REAL: {
		double v = strtod(want, &end);
		return end != want && *end == '\0' && v == json_real_value(j);
	}
	case JSON_TRUE: return strcmp(want, "true") == 0;
	case JSON_FALSE: return strcmp(want, "false") == 0;
	case JSON_NULL: return strcmp(want, "null") == 0;
	default: return 0;
	}
}
