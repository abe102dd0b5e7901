/*
 * Text tables for the summary: cells are collected row by row, and each
 * column is as wide as its widest cell (header included, in display
 * columns of UTF-8 text) plus a gap, never less than a minimum given per
 * column, so that large counts never run into their neighbours. Rows may be
 * interleaved with free lines (notes) that do not take part in the widths.
 * Pure formatting: no I/O but the final write to a FILE.
 */
#ifndef HERD_CONTROLLER_TABLE_H
#define HERD_CONTROLLER_TABLE_H

#include <stddef.h>
#include <stdio.h>

typedef struct table table;

/* One column: its minimum width (gap included) and its alignment. A
 * left-aligned column is followed by a gap of 2 spaces at least, a
 * right-aligned one is preceded by a gap of 1 at least. */
typedef struct table_col {
	int min;
	int right; /* 1: right-aligned (numbers), 0: left-aligned (names) */
} table_col;

/* Makes an empty table of ncols columns described by cols (copied).
 * Returns 0 and *out (free with table_free), or -1 when out of memory. */
int table_new(const table_col *cols, size_t ncols, table **out);
void table_free(table *t);

/* Appends a cell to the current row (a copy of s; NULL is ""); the row ends
 * after ncols cells. Out of memory is sticky and reported by table_write. */
void table_cell(table *t, const char *s);
/* As table_cell, formatted as printf. */
void table_cellf(table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds a line printed as is (after indent) between rows; it does not widen
 * the columns. The current row must be complete. */
void table_note(table *t, const char *s);

/* Writes the rows and notes, each line starting with indent spaces.
 * Returns 0, or -1 when the table ran out of memory (nothing is written). */
int table_write(const table *t, FILE *f, int indent);

/* Display width of UTF-8 text in columns (one per code point). */
int table_width(const char *s);

#endif
