/*
 * RFC 4180 CSV in one pass over the input. Unescaped field text goes into one
 * buffer as long as the input (a field's text is never longer than its raw
 * bytes and the separator after it leaves room for its NUL), so pointers into
 * it stay valid while the field array grows. Errors are located by byte
 * offset and turned into line and column only when reported.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/csv.h"

/* Header names and cells together; keeps every column index an int. */
#define CSV_MAX_FIELDS ((size_t)INT_MAX)

typedef struct parser {
	const char *data; /* after a BOM */
	size_t len;       /* up to the last line end that is not followed by text */
	const char *file;
	char *err;
	size_t errlen;

	char *store;
	size_t used; /* bytes of store written */
	csv_field *fields;
	size_t nfields, cap;
} parser;

/*
 * Writes "file:line:column: message" for byte offset off. Lines are counted
 * by LF; the column counts UTF-8 characters (bytes that do not continue a
 * sequence), 1-based, and line 1 starts after a BOM.
 */
static int fail(parser *ps, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(parser *ps, size_t off, const char *fmt, ...)
{
	size_t line = 1, col = 1;
	char msg[256];
	va_list ap;

	if (ps->err == NULL || ps->errlen == 0)
		return -1;
	for (size_t i = 0; i < off; i++) {
		unsigned char c = (unsigned char)ps->data[i];
		if (c == '\n') {
			line++;
			col = 1;
		} else if ((c & 0xC0) != 0x80) {
			col++;
		}
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "%s:%zu:%zu: %s", ps->file, line, col, msg);
	return -1;
}

/* Appends a field whose text starts at store + start and ends at ps->used. */
static int add_field(parser *ps, size_t start, size_t off)
{
	if (ps->nfields == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64;
		if (cap > CSV_MAX_FIELDS)
			cap = CSV_MAX_FIELDS;
		if (cap > SIZE_MAX / sizeof(csv_field))
			cap = SIZE_MAX / sizeof(csv_field);
		if (ps->nfields >= cap)
			return fail(ps, off, "more than %zu fields in the file", CSV_MAX_FIELDS);
		csv_field *f = realloc(ps->fields, cap * sizeof(*f));
		if (f == NULL)
			return fail(ps, off, "out of memory");
		ps->fields = f;
		ps->cap = cap;
	}
	ps->fields[ps->nfields].p = ps->store + start;
	ps->fields[ps->nfields].len = ps->used - start;
	ps->nfields++;
	ps->store[ps->used++] = '\0';
	return 0;
}

/* Offset of header field i, found by counting commas outside quotes (an
 * escaped "" flips the state twice, so it needs no special case). */
static size_t header_offset(const parser *ps, size_t i)
{
	size_t off = 0;
	int quoted = 0;
	for (; i > 0 && off < ps->len; off++) {
		if (ps->data[off] == '"')
			quoted = !quoted;
		else if (ps->data[off] == ',' && !quoted)
			i--;
	}
	return off;
}

typedef struct named {
	const csv_field *f;
	size_t col;
} named;

static int cmp_named(const void *a, const void *b)
{
	const named *x = a, *y = b;
	int c = strcmp(x->f->p, y->f->p); /* names hold no NUL */
	if (c != 0)
		return c;
	return x->col < y->col ? -1 : x->col > y->col;
}

/* Reports the first column (in file order) whose name an earlier one has.
 * Sorting keeps this O(n log n) for headers with very many columns. */
static int check_duplicates(parser *ps, size_t ncols)
{
	named *s = malloc(ncols * sizeof(*s));
	size_t dup = SIZE_MAX, orig = 0, head = 0;

	if (s == NULL)
		return fail(ps, 0, "out of memory");
	for (size_t i = 0; i < ncols; i++)
		s[i] = (named){&ps->fields[i], i};
	qsort(s, ncols, sizeof(*s), cmp_named);
	for (size_t k = 1; k < ncols; k++) {
		if (strcmp(s[k].f->p, s[head].f->p) != 0) {
			head = k;
		} else if (s[k].col < dup) {
			dup = s[k].col;
			orig = s[head].col;
		}
	}
	free(s);
	if (dup == SIZE_MAX)
		return 0;
	/* The name as one line of at most 64 bytes. */
	const csv_field *f = &ps->fields[dup];
	char name[68];
	size_t n = f->len > 64 ? 64 : f->len;
	for (size_t i = 0; i < n; i++)
		name[i] = (unsigned char)f->p[i] < 0x20 || f->p[i] == 0x7F ? '?' : f->p[i];
	strcpy(name + n, f->len > 64 ? "..." : "");
	return fail(ps, header_offset(ps, dup), "duplicate column name \"%s\" (also column %zu)", name,
	            orig + 1);
}

static int is_line_end(const parser *ps, size_t pos)
{
	return ps->data[pos] == '\n' ||
	       (ps->data[pos] == '\r' && pos + 1 < ps->len && ps->data[pos + 1] == '\n');
}

/* Parses one field at *pos into the store, leaving *pos at the byte after it
 * (a comma, a line end, or the end of the input). */
static int parse_field(parser *ps, size_t *pos)
{
	const char *d = ps->data;
	size_t p = *pos, start = ps->used;

	if (p < ps->len && d[p] == '"') {
		size_t open = p++;
		for (;;) {
			if (p >= ps->len)
				return fail(ps, open, "unterminated quoted field");
			if (d[p] == '"') {
				if (p + 1 < ps->len && d[p + 1] == '"') {
					ps->store[ps->used++] = '"';
					p += 2;
					continue;
				}
				p++;
				break;
			}
			if (d[p] == '\0')
				return fail(ps, p, "NUL byte");
			ps->store[ps->used++] = d[p++];
		}
		if (p < ps->len && d[p] != ',' && !is_line_end(ps, p)) {
			if (d[p] == '\0')
				return fail(ps, p, "NUL byte");
			if (d[p] == '\r')
				return fail(ps, p, "carriage return without a line feed");
			return fail(ps, p, "text after the closing quote of a field");
		}
	} else {
		for (; p < ps->len && d[p] != ',' && d[p] != '\n'; p++) {
			if (d[p] == '"')
				return fail(
				    ps, p,
				    "quote inside an unquoted field (quote the field and double the quote)");
			if (d[p] == '\0')
				return fail(ps, p, "NUL byte");
			if (d[p] == '\r') {
				if (p + 1 < ps->len && d[p + 1] == '\n')
					break;
				return fail(ps, p, "carriage return without a line feed");
			}
			ps->store[ps->used++] = d[p];
		}
	}
	*pos = p;
	return add_field(ps, start, p);
}

static int parse(parser *ps, csv *out)
{
	size_t pos = 0, ncols = 0;
	int have_header = 0;

	while (pos < ps->len || !have_header) {
		size_t row_start = pos, first = ps->nfields;
		for (;;) {
			size_t field_start = pos;
			if (parse_field(ps, &pos) != 0)
				return -1;
			if (!have_header && ps->fields[ps->nfields - 1].len == 0)
				return fail(ps, field_start, "empty column name");
			if (pos >= ps->len)
				break;
			if (ps->data[pos] != ',') {
				pos += ps->data[pos] == '\r' ? 2 : 1;
				break;
			}
			pos++;
		}
		size_t n = ps->nfields - first;
		if (!have_header) {
			ncols = n;
			have_header = 1;
			if (check_duplicates(ps, ncols) != 0)
				return -1;
		} else if (n != ncols) {
			return fail(ps, row_start, "row has %zu field%s, the header has %zu", n,
			            n == 1 ? "" : "s", ncols);
		}
	}
	out->ncols = ncols;
	out->nrows = ps->nfields / ncols - 1;
	out->header = ps->fields;
	out->cells = ps->fields + ncols;
	out->store = ps->store;
	return 0;
}

int csv_parse(const char *data, size_t len, const char *file, csv *out, char *err, size_t errlen)
{
	parser ps = {.data = data, .len = len, .file = file ? file : "csv", .err = err, .errlen = errlen};

	memset(out, 0, sizeof(*out));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (ps.len >= 3 && memcmp(ps.data, "\xEF\xBB\xBF", 3) == 0) {
		ps.data += 3;
		ps.len -= 3;
	}
	/* Empty lines at the end are no rows; nor is the last row's line end. */
	while (ps.len > 0 && ps.data[ps.len - 1] == '\n') {
		ps.len--;
		if (ps.len > 0 && ps.data[ps.len - 1] == '\r')
			ps.len--;
	}
	if (ps.len == 0)
		return fail(&ps, 0, "no header row (the file is empty)");
	if (ps.len == SIZE_MAX || (ps.store = malloc(ps.len + 1)) == NULL)
		return fail(&ps, 0, "out of memory");
	if (parse(&ps, out) != 0) {
		free(ps.fields);
		free(ps.store);
		memset(out, 0, sizeof(*out));
		return -1;
	}
	/* Give back what the doubling left over; keeping the larger block is fine. */
	csv_field *f = realloc(ps.fields, ps.nfields * sizeof(*f));
	if (f != NULL) {
		out->header = f;
		out->cells = f + out->ncols;
	}
	return 0;
}

void csv_free(csv *t)
{
	if (t == NULL)
		return;
	free(t->header); /* the cells follow the header in the same block */
	free(t->store);
	memset(t, 0, sizeof(*t));
}

int csv_column(const csv *t, const char *name, size_t len)
{
	for (size_t i = 0; i < t->ncols; i++)
		if (t->header[i].len == len && memcmp(t->header[i].p, name, len) == 0)
			return (int)i;
	return -1;
}
