/*
 * libFuzzer target for the plan parser: any bytes must give either a plan or
 * a "file:line:column: message" error, never a crash or a leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	plan *p = NULL;
	char err[1024];
	int rv = plan_parse((const char *)data, size, "fuzz.yaml", &p, err, sizeof(err));
	if (rv == HERD_OK) {
		plan_free(p);
	} else if (rv == HERD_EPLAN && strncmp(err, "fuzz.yaml:", 10) != 0) {
		abort(); /* every plan error names its place */
	}
	return 0;
}
