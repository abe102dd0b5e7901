/* Summary tables: columns as wide as their widest cell plus a gap, never
 * narrower than their minimum, UTF-8 measured in columns, notes between
 * rows that do not widen anything. */
#include <stdlib.h>

#include "controller/table.h"
#include "tests/unit/check.h"

static char *render(const table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CHECK(f != NULL);
	CHECK(table_write(t, f, 2) == 0);
	fclose(f);
	return buf;
}

static void test_minimums_kept(void)
{
	static const table_col cols[] = { { 10, 0 }, { 12, 1 }, { 9, 1 } };
	table *t;
	CHECK(table_new(cols, 3, &t) == 0);
	table_cell(t, "scenario");
	table_cell(t, "iterations");
	table_cell(t, "dropped");
	table_cell(t, "s");
	table_cellf(t, "%d", 6);
	table_cellf(t, "%d", 0);
	char *s = render(t);
	CHECK_EQ_STR(s, "  scenario    iterations  dropped\n"
	                "  s                    6        0\n");
	free(s);
	table_free(t);
}

/* The defect of issue 9: 6 iterations and 721,113,669 dropped printed as
 * "6721113669". Every column now holds its widest cell plus a gap. */
static void test_large_counts_never_run_together(void)
{
	static const table_col cols[] = { { 10, 0 }, { 12, 1 }, { 9, 1 } };
	table *t;
	CHECK(table_new(cols, 3, &t) == 0);
	table_cell(t, "scenario");
	table_cell(t, "iterations");
	table_cell(t, "dropped");
	table_cell(t, "a-rather-long-scenario-name");
	table_cell(t, "6");
	table_cell(t, "721113669");
	table_cell(t, "s");
	table_cell(t, "123456789012345");
	table_cell(t, "1");
	char *s = render(t);
	CHECK_EQ_STR(s, "  scenario                           iterations   dropped\n"
	                "  a-rather-long-scenario-name                 6 721113669\n"
	                "  s                             123456789012345         1\n");
	CHECK(strstr(s, "6721113669") == NULL);
	free(s);
	table_free(t);
}

static void test_utf8_and_notes(void)
{
	static const table_col cols[] = { { 4, 0 }, { 6, 1 } };
	table *t;
	CHECK(table_new(cols, 2, &t) == 0);
	CHECK_EQ_INT(table_width("µs✓"), 3);
	table_cell(t, "name");
	table_cell(t, "p95");
	table_cell(t, "µ✓✓✓✓");
	table_cell(t, "850µs");
	table_note(t, "  a note much wider than every column of the table");
	table_cell(t, "b");
	table_cell(t, "1ms");
	char *s = render(t);
	CHECK_EQ_STR(s, "  name      p95\n"
	                "  µ✓✓✓✓   850µs\n"
	                "    a note much wider than every column of the table\n"
	                "  b         1ms\n");
	free(s);
	table_free(t);
}

static void test_note_inside_row_is_an_error(void)
{
	static const table_col cols[] = { { 4, 0 }, { 6, 1 } };
	table *t;
	CHECK(table_new(cols, 2, &t) == 0);
	table_cell(t, "x");
	table_note(t, "not here");
	FILE *f = fopen("/dev/null", "w");
	CHECK(table_write(t, f, 0) == -1);
	fclose(f);
	table_free(t);
}

int main(void)
{
	test_minimums_kept();
	test_large_counts_never_run_together();
	test_utf8_and_notes();
	test_note_inside_row_is_an_error();
	return check_done();
}
