/*
 * libFuzzer target for the CSV parser: any bytes must give a table or a
 * "fuzz.csv:line:column: message" error. A table must hold NUL-terminated
 * cells inside its store, find every column by name, and come back the same
 * when written out again with every field quoted and parsed a second time.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes t as CSV with every field quoted; returns the length, or 0 on no memory. */
static size_t write_csv(const csv *t, int crlf, char **out)
{
	size_t nf = t->ncols * (t->nrows + 1), cap = 0;
	for (size_t i = 0; i < nf; i++)
		cap += 2 * t->header[i].len + 4;
	char *s = malloc(cap + 1), *w = s;
	if (s == NULL)
		return 0;
	for (size_t i = 0; i < nf; i++) {
		const csv_field *f = &t->header[i];
		*w++ = '"';
		for (size_t k = 0; k < f->len; k++) {
			if (f->p[k] == '"')
				*w++ = '"';
			*w++ = f->p[k];
		}
		*w++ = '"';
		if ((i + 1) % t->ncols != 0) {
			*w++ = ',';
		} else {
			if (crlf)
				*w++ = '\r';
			*w++ = '\n';
		}
	}
	*out = s;
	return (size_t)(w - s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	csv t, again;

	if (csv_parse((const char *)data, size, "fuzz.csv", &t, err, sizeof(err)) != 0) {
		if (strncmp(err, "fuzz.csv:", 9) != 0 || t.header != NULL || t.store != NULL)
			abort(); /* every error names its place and leaves nothing behind */
		return 0;
	}
	size_t nf = t.ncols * (t.nrows + 1);
	if (t.ncols == 0 || t.cells != t.header + t.ncols)
		abort();
	for (size_t i = 0; i < nf; i++) {
		const csv_field *f = &t.header[i];
		if (f->p < t.store || f->p + f->len > t.store + size || f->p[f->len] != '\0' ||
		    strlen(f->p) != f->len)
			abort();
	}
	for (size_t c = 0; c < t.ncols; c++)
		if (t.header[c].len == 0 || csv_column(&t, t.header[c].p, t.header[c].len) != (int)c)
			abort();

	char *text;
	size_t len = write_csv(&t, size > 0 && data[0] & 1, &text);
	if (len > 0) {
		if (csv_parse(text, len, "again.csv", &again, err, sizeof(err)) != 0)
			abort();
		if (again.ncols != t.ncols || again.nrows != t.nrows)
			abort();
		for (size_t i = 0; i < nf; i++)
			if (again.header[i].len != t.header[i].len ||
			    memcmp(again.header[i].p, t.header[i].p, t.header[i].len) != 0)
				abort();
		csv_free(&again);
		free(text);
	}
	csv_free(&t);
	return 0;
}
