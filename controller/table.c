/*
 * Text tables; see table.h. Cells are kept as strings in one array, rows
 * of ncols cells each; a note is a row whose first cell holds the line and
 * whose other cells are NULL.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/table.h"

struct table {
	table_col *cols;
	size_t ncols;
	char **cells;   /* row-major; a note row has its text in the first cell */
	unsigned char *is_note; /* per row */
	size_t ncells, cap;
	size_t nrows, caprows;
	int oom;
};

int table_width(const char *s)
{
	int w = 0;
	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

int table_new(const table_col *cols, size_t ncols, table **out)
{
	table *t = calloc(1, sizeof(*t));
	if (t == NULL || ncols == 0 || (t->cols = malloc(ncols * sizeof(*cols))) == NULL) {
		free(t);
		return -1;
	}
	memcpy(t->cols, cols, ncols * sizeof(*cols));
	t->ncols = ncols;
	*out = t;
	return 0;
}

void table_free(table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->is_note);
	free(t->cols);
	free(t);
}

/* Appends one cell (taking s, which may be NULL only in a note row). */
static void push(table *t, char *s, int note)
{
	if (t->oom)
		goto fail;
	if (t->ncells % t->ncols == 0) {
		if (t->nrows == t->caprows) {
			size_t cap = t->caprows ? t->caprows * 2 : 16;
			unsigned char *n = realloc(t->is_note, cap);
			if (n == NULL)
				goto fail;
			t->is_note = n;
			t->caprows = cap;
		}
		t->is_note[t->nrows++] = (unsigned char)note;
	}
	if (t->ncells == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **c = realloc(t->cells, cap * sizeof(*c));
		if (c == NULL)
			goto fail;
		t->cells = c;
		t->cap = cap;
	}
	t->cells[t->ncells++] = s;
	return;
fail:
	t->oom = 1;
	free(s);
}

void table_cell(table *t, const char *s)
{
	char *c = strdup(s != NULL ? s : "");
	if (c == NULL) {
		t->oom = 1;
		return;
	}
	push(t, c, 0);
}

void table_cellf(table *t, const char *fmt, ...)
{
	va_list ap;
	char *c = NULL;
	va_start(ap, fmt);
	if (vasprintf(&c, fmt, ap) < 0) {
		t->oom = 1;
		c = NULL;
	}
	va_end(ap);
	if (c != NULL)
		push(t, c, 0);
}

void table_note(table *t, const char *s)
{
	if (t->ncells % t->ncols != 0) {
		t->oom = 1; /* a note inside a row: a bug of the caller, reported as a failure */
		return;
	}
	char *c = strdup(s != NULL ? s : "");
	if (c == NULL) {
		t->oom = 1;
		return;
	}
	push(t, c, 1);
	for (size_t i = 1; i < t->ncols && !t->oom; i++)
		push(t, NULL, 1);
}

int table_write(const table *t, FILE *f, int indent)
{
	if (t->oom)
		return -1;
	int *w = calloc(t->ncols, sizeof(*w));
	if (w == NULL)
		return -1;
	for (size_t c = 0; c < t->ncols; c++)
		w[c] = t->cols[c].min;
	for (size_t i = 0; i < t->ncells; i++) {
		size_t c = i % t->ncols;
		if (t->is_note[i / t->ncols])
			continue;
		int need = table_width(t->cells[i]) + (t->cols[c].right ? 1 : 2);
		if (need > w[c])
			w[c] = need;
	}
	for (size_t r = 0; r < t->nrows; r++) {
		char *const *row = &t->cells[r * t->ncols];
		size_t have = t->ncells - r * t->ncols; /* the last row may be short */
		fprintf(f, "%*s", indent, "");
		if (t->is_note[r]) {
			fprintf(f, "%s\n", row[0]);
			continue;
		}
		/* Trailing blanks of the last left-aligned column are left out. */
		for (size_t c = 0; c < t->ncols && c < have; c++) {
			int pad = w[c] - table_width(row[c]);
			int last = c + 1 == t->ncols || c + 1 == have;
			if (t->cols[c].right)
				fprintf(f, "%*s%s", pad, "", row[c]);
			else if (last)
				fputs(row[c], f);
			else
				fprintf(f, "%s%*s", row[c], pad, "");
		}
		fputc('\n', f);
	}
	free(w);
	return 0;
}
