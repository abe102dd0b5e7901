/*
 * libFuzzer target for the plan parser: any bytes must give either a plan or
 * a "file:line:column: message" error, never a crash or a leak. Every file a
 * plan names reads as a small CSV (so `data:` feeders, `bodyFile` and
 * `tls.ca` are exercised) and every environment variable is set, except
 * those whose name starts with "UNSET".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int any_file(void *arg, const char *name, char **out, size_t *len, char *why, size_t whylen)
{
	static const char csv[] = "id,email,name\n1,a@x,\"A, \"\"a\"\"\"\n2,b@x,B\n";
	(void)arg;
	if (strncmp(name, "missing", 7) == 0) {
		snprintf(why, whylen, "no such file");
		return -1;
	}
	if ((*out = malloc(sizeof(csv))) == NULL)
		return -1;
	memcpy(*out, csv, sizeof(csv));
	*len = sizeof(csv) - 1;
	return 0;
}

static const char *any_env(void *arg, const char *name)
{
	(void)arg;
	return strncmp(name, "UNSET", 5) == 0 ? NULL : "v\"al\\ue";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	plan *p = NULL;
	char err[1024];
	plan_io io = { any_file, any_env, NULL };
	int rv = plan_parse_io((const char *)data, size, "fuzz.yaml", &io, &p, err, sizeof(err));
	if (rv == HERD_OK) {
		plan_free(p);
	} else if (rv == HERD_EPLAN && strncmp(err, "fuzz.yaml:", 10) != 0) {
		abort(); /* every plan error names its place */
	}
	return 0;
}
