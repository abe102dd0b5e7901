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
	csv_field *cells;  /* nrows * ncols, row after row; same block as header */
	char *store;
} csv;

/*
 * Parses data (len bytes). file names the source in messages. On success
 * returns 0 and fills *out (free with csv_free). On error returns -1, leaves
 * *out zeroed and writes "file:line:column: message" into err (errlen bytes;
 * err may be NULL): an unterminated quote (where it opened), text after a
 * closing quote, a quote inside an unquoted field, a carriage return not
 * followed by a line feed outside quotes, a row with a different number of
 * fields than the header (at the row's start), an empty or duplicate column
 * name, a NUL byte, no header, more than INT_MAX fields. Lines and columns
 * are 1-based; columns count UTF-8 characters, and line 1 starts after a
 * UTF-8 BOM, which is skipped. A final line end is optional; empty lines at
 * the end are ignored (an empty line before other rows is a row of one empty
 * field).
 */
int csv_parse(const char *data, size_t len, const char *file, csv *out, char *err, size_t errlen);

/* Frees the table's memory and zeroes *t; a zeroed table is fine too. */
void csv_free(csv *t);

/* Column index of name (len bytes), or -1. */
int csv_column(const csv *t, const char *name, size_t len);

/* Cell (row, col). */
static inline const csv_field *csv_cell(const csv *t, size_t row, size_t col)
{
	return &t->cells[row * t->ncols + col];
}

#endif
