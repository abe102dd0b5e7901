/*
 * CSV for data feeders: RFC 4180 (quoted fields with "" for a quote, CRLF or
 * LF line ends, a header row naming the columns), parsed once into rows of
 * fields. Free of I/O: the caller reads the file.
 */
#ifndef HERD_COMMON_CSV_H
#define HERD_COMMON_CSV_H

#include <stddef.h>

typedef struct csv_field {
	const char *p; /* into the table's own storage, NUL-terminated */
	size_t len;
} csv_field;

typedef struct csv {
	size_t ncols;
	csv_field *header; /* ncols names */
	size_t nrows;      /* data rows, the header not counted */
	csv_field *cells;  /* nrows * ncols, row after row */
	char *store;
} csv;

/*
 * Parses data (len bytes). file names the source in messages. On success
 * returns 0 and fills *out (free with csv_free). On error returns -1 and
 * writes "file:line:column: message" into err (errlen bytes): an unterminated
 * quote, text after a closing quote, a row with a different number of fields
 * than the header, an empty or duplicate column name, a NUL byte, no header.
 * A final line end is optional; empty lines at the end are ignored.
 */
int csv_parse(const char *data, size_t len, const char *file, csv *out, char *err, size_t errlen);
void csv_free(csv *t);

/* Column index of name (len bytes), or -1. */
int csv_column(const csv *t, const char *name, size_t len);

/* Cell (row, col). */
static inline const csv_field *csv_cell(const csv *t, size_t row, size_t col)
{
	return &t->cells[row * t->ncols + col];
}

#endif
