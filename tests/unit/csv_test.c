/* CSV parsing: plain and quoted fields, line ends, a BOM, trailing empty
 * lines, every error with its line and column, and random bytes that must
 * give a table or an error but never a crash. */
#include <stdint.h>
#include <stdlib.h>

#include "common/csv.h"
#include "tests/unit/check.h"

static char err[256];

/* Parses a C string as t.csv. */
static int parse(const char *s, csv *t)
{
	return csv_parse(s, strlen(s), "t.csv", t, err, sizeof(err));
}

static const char *cell(const csv *t, size_t row, size_t col)
{
	return csv_cell(t, row, col)->p;
}

/* The message for s, which must fail. */
static const char *fails(const char *s, size_t len)
{
	csv t;
	err[0] = '\0';
	if (csv_parse(s, len, "t.csv", &t, err, sizeof(err)) == 0) {
		csv_free(&t);
		return "(parsed)";
	}
	/* A failed parse leaves nothing to free. */
	if (t.header != NULL || t.cells != NULL || t.store != NULL || t.ncols != 0 || t.nrows != 0)
		return "(table left behind)";
	return err;
}
#define FAILS(s) fails(s, sizeof(s) - 1)

static void test_plain(void)
{
	csv t;
	CHECK_EQ_INT(parse("name,email\nann,a@x\nbob,b@x\n", &t), 0);
	CHECK_EQ_INT(t.ncols, 2);
	CHECK_EQ_INT(t.nrows, 2);
	CHECK_EQ_STR(t.header[0].p, "name");
	CHECK_EQ_STR(t.header[1].p, "email");
	CHECK_EQ_INT(t.header[1].len, 5);
	CHECK_EQ_STR(cell(&t, 0, 0), "ann");
	CHECK_EQ_STR(cell(&t, 0, 1), "a@x");
	CHECK_EQ_STR(cell(&t, 1, 0), "bob");
	CHECK_EQ_STR(cell(&t, 1, 1), "b@x");
	CHECK_EQ_INT(csv_column(&t, "email", 5), 1);
	CHECK_EQ_INT(csv_column(&t, "name", 4), 0);
	CHECK_EQ_INT(csv_column(&t, "emai", 4), -1); /* exact match, not a prefix */
	CHECK_EQ_INT(csv_column(&t, "emails", 6), -1);
	CHECK_EQ_INT(csv_column(&t, "Email", 5), -1);  /* case counts */
	CHECK_EQ_INT(csv_column(&t, "email,x", 5), 1); /* len bytes of name */
	csv_free(&t);
	CHECK(t.header == NULL && t.store == NULL);
	csv_free(&t); /* twice is harmless */

	/* Spaces are data; empty cells and a trailing comma's empty last cell. */
	CHECK_EQ_INT(parse("a,b,c\n x ,,\n,,\n", &t), 0);
	CHECK_EQ_INT(t.nrows, 2);
	CHECK_EQ_STR(cell(&t, 0, 0), " x ");
	CHECK_EQ_STR(cell(&t, 0, 1), "");
	CHECK_EQ_STR(cell(&t, 0, 2), "");
	CHECK_EQ_INT(csv_cell(&t, 1, 2)->len, 0);
	csv_free(&t);
}

static void test_quoted(void)
{
	csv t;
	CHECK_EQ_INT(
	    parse("a,\"b,c\"\n\"x,y\",\"line1\nline2\"\n\"say \"\"hi\"\"\",\"\"\n\"\"\"\",\"a\r\nb\"\n", &t),
	    0);
	CHECK_EQ_INT(t.ncols, 2);
	CHECK_EQ_INT(t.nrows, 3);
	CHECK_EQ_STR(t.header[1].p, "b,c");
	CHECK_EQ_INT(csv_column(&t, "b,c", 3), 1);
	CHECK_EQ_STR(cell(&t, 0, 0), "x,y");
	CHECK_EQ_STR(cell(&t, 0, 1), "line1\nline2");
	CHECK_EQ_STR(cell(&t, 1, 0), "say \"hi\"");
	CHECK_EQ_INT(csv_cell(&t, 1, 0)->len, 8);
	CHECK_EQ_STR(cell(&t, 1, 1), "");
	CHECK_EQ_STR(cell(&t, 2, 0), "\"");
	CHECK_EQ_STR(cell(&t, 2, 1), "a\r\nb"); /* line ends inside quotes are kept as they are */
	csv_free(&t);

	/* A quoted last field with no line end after it. */
	CHECK_EQ_INT(parse("a\n\"end\"", &t), 0);
	CHECK_EQ_INT(t.nrows, 1);
	CHECK_EQ_STR(cell(&t, 0, 0), "end");
	csv_free(&t);
}

static void test_line_ends(void)
{
	csv t;
	CHECK_EQ_INT(parse("a,b\r\n1,2\r\n\"3\",4\r\n", &t), 0);
	CHECK_EQ_INT(t.nrows, 2);
	CHECK_EQ_STR(t.header[1].p, "b");
	CHECK_EQ_STR(cell(&t, 0, 1), "2");
	CHECK_EQ_STR(cell(&t, 1, 0), "3");
	CHECK_EQ_STR(cell(&t, 1, 1), "4");
	csv_free(&t);

	/* LF and CRLF mixed. */
	CHECK_EQ_INT(parse("a\r\n1\n2\r\n", &t), 0);
	CHECK_EQ_INT(t.nrows, 2);
	CHECK_EQ_STR(cell(&t, 1, 0), "2");
	csv_free(&t);

	/* A UTF-8 BOM is skipped. */
	CHECK_EQ_INT(parse("\xEF\xBB\xBFid,n\n7,8\n", &t), 0);
	CHECK_EQ_STR(t.header[0].p, "id");
	CHECK_EQ_INT(csv_column(&t, "id", 2), 0);
	CHECK_EQ_STR(cell(&t, 0, 0), "7");
	csv_free(&t);

	/* No final line end. */
	CHECK_EQ_INT(parse("a,b\n1,2\n3,4", &t), 0);
	CHECK_EQ_INT(t.nrows, 2);
	CHECK_EQ_STR(cell(&t, 1, 1), "4");
	csv_free(&t);

	/* Empty lines at the end are ignored, LF or CRLF. */
	CHECK_EQ_INT(parse("a,b\n1,2\n\n\r\n\n", &t), 0);
	CHECK_EQ_INT(t.nrows, 1);
	csv_free(&t);

	/* With one column an empty line inside the file is a row with an empty cell. */
	CHECK_EQ_INT(parse("a\n1\n\n2\n\n", &t), 0);
	CHECK_EQ_INT(t.nrows, 3);
	CHECK_EQ_STR(cell(&t, 1, 0), "");
	CHECK_EQ_STR(cell(&t, 2, 0), "2");
	csv_free(&t);
}

static void test_sizes(void)
{
	csv t;
	/* A header alone: no rows. */
	CHECK_EQ_INT(parse("a,b\n", &t), 0);
	CHECK_EQ_INT(t.ncols, 2);
	CHECK_EQ_INT(t.nrows, 0);
	csv_free(&t);
	CHECK_EQ_INT(parse("a,b", &t), 0);
	CHECK_EQ_INT(t.nrows, 0);
	csv_free(&t);
	CHECK_EQ_INT(parse("only\r\n\r\n", &t), 0);
	CHECK_EQ_INT(t.ncols, 1);
	CHECK_EQ_INT(t.nrows, 0);
	CHECK_EQ_STR(t.header[0].p, "only");
	csv_free(&t);

	/* One row. */
	CHECK_EQ_INT(parse("a,b\n1,2", &t), 0);
	CHECK_EQ_INT(t.nrows, 1);
	CHECK_EQ_STR(cell(&t, 0, 0), "1");
	csv_free(&t);

	/* Many rows and many columns (the duplicate check sorts). */
	size_t ncols = 3000, nrows = 2000;
	char *big = malloc(ncols * 8 + nrows * 16 + 1);
	size_t n = 0;
	CHECK(big != NULL);
	if (big == NULL)
		return;
	for (size_t c = 0; c < ncols; c++)
		n += (size_t)sprintf(big + n, "%sc%zu", c ? "," : "", c);
	n += (size_t)sprintf(big + n, "\n");
	CHECK_EQ_INT(csv_parse(big, n, "big.csv", &t, err, sizeof(err)), 0);
	CHECK_EQ_INT(t.ncols, ncols);
	CHECK_EQ_INT(csv_column(&t, "c2999", 5), 2999);
	csv_free(&t);
	/* The same header with its last column renamed to an earlier one's name. */
	n -= strlen("c2999\n");
	size_t dup_at = n;
	n += (size_t)sprintf(big + n, "c17\n");
	CHECK_EQ_INT(csv_parse(big, n, "big.csv", &t, err, sizeof(err)), -1);
	char want[128];
	snprintf(want, sizeof(want), "big.csv:1:%zu: duplicate column name \"c17\" (also column 18)",
	         dup_at + 1);
	CHECK_EQ_STR(err, want);

	n = (size_t)sprintf(big, "id,v\n");
	for (size_t r = 0; r < nrows; r++)
		n += (size_t)sprintf(big + n, "%zu,\"v%zu\"\r\n", r, r);
	CHECK_EQ_INT(csv_parse(big, n, "big.csv", &t, err, sizeof(err)), 0);
	CHECK_EQ_INT(t.nrows, nrows);
	CHECK_EQ_STR(cell(&t, 1234, 0), "1234");
	CHECK_EQ_STR(cell(&t, 1999, 1), "v1999");
	csv_free(&t);
	free(big);
}

static void test_errors(void)
{
	/* No header. */
	CHECK_EQ_STR(FAILS(""), "t.csv:1:1: no header row (the file is empty)");
	CHECK_EQ_STR(FAILS("\n\r\n\n"), "t.csv:1:1: no header row (the file is empty)");
	CHECK_EQ_STR(FAILS("\xEF\xBB\xBF"), "t.csv:1:1: no header row (the file is empty)");
	CHECK_EQ_STR(fails(NULL, 0), "t.csv:1:1: no header row (the file is empty)");

	/* An unterminated quote is reported where it opened. */
	CHECK_EQ_STR(FAILS("a,b\n1,\"xy\nz\n\n"), "t.csv:2:3: unterminated quoted field");
	CHECK_EQ_STR(FAILS("\"a"), "t.csv:1:1: unterminated quoted field");
	CHECK_EQ_STR(FAILS("a\n\"x\"\"\n"), "t.csv:2:1: unterminated quoted field");

	/* Text after a closing quote. */
	CHECK_EQ_STR(FAILS("a,b\n\"x\"y,2\n"), "t.csv:2:4: text after the closing quote of a field");
	CHECK_EQ_STR(FAILS("a,b\n1,\"x\" \n"), "t.csv:2:6: text after the closing quote of a field");
	CHECK_EQ_STR(FAILS("a\n\"x\"\r"), "t.csv:2:4: carriage return without a line feed");

	/* A quote inside an unquoted field. */
	CHECK_EQ_STR(FAILS("a,b\n1,x\"y\n"),
	             "t.csv:2:4: quote inside an unquoted field (quote the field and double the quote)");
	CHECK_EQ_STR(FAILS("a \"b\""),
	             "t.csv:1:3: quote inside an unquoted field (quote the field and double the quote)");

	/* Field counts, at the start of the row. */
	CHECK_EQ_STR(FAILS("a,b,c,d\n1,2,3,4\n1,2,3\n"), "t.csv:3:1: row has 3 fields, the header has 4");
	CHECK_EQ_STR(FAILS("a,b\n1\n"), "t.csv:2:1: row has 1 field, the header has 2");
	CHECK_EQ_STR(FAILS("a\n1,2"), "t.csv:2:1: row has 2 fields, the header has 1");
	CHECK_EQ_STR(FAILS("a,b\n\"x\ny\",1,2\n"), "t.csv:2:1: row has 3 fields, the header has 2");
	CHECK_EQ_STR(FAILS("a,b\n1,2\n\n3,4\n"), "t.csv:3:1: row has 1 field, the header has 2");

	/* Empty and duplicate column names. */
	CHECK_EQ_STR(FAILS("a,,b\n"), "t.csv:1:3: empty column name");
	CHECK_EQ_STR(FAILS("\"\",a\n"), "t.csv:1:1: empty column name");
	CHECK_EQ_STR(FAILS("a,b,\n1,2,3\n"), "t.csv:1:5: empty column name");
	CHECK_EQ_STR(FAILS("\na\n1\n"), "t.csv:1:1: empty column name");
	CHECK_EQ_STR(FAILS("id,name,id\n"), "t.csv:1:9: duplicate column name \"id\" (also column 1)");
	CHECK_EQ_STR(FAILS("x,\"y\",\"y\"\n"), "t.csv:1:7: duplicate column name \"y\" (also column 2)");
	/* The first duplicate in the file is the one reported. */
	CHECK_EQ_STR(FAILS("a,b,b,a\n"), "t.csv:1:5: duplicate column name \"b\" (also column 2)");
	/* A header spanning lines; "a,b" is one name, unlike a and b. */
	CHECK_EQ_STR(FAILS("\"a,b\",a,\"x\ny\",b,\"x\ny\""),
	             "t.csv:2:6: duplicate column name \"x?y\" (also column 3)");

	/* NUL bytes, unquoted, quoted and after a quote. */
	CHECK_EQ_STR(FAILS("a,b\n1,\0\n"), "t.csv:2:3: NUL byte");
	CHECK_EQ_STR(FAILS("a\n\"x\0\""), "t.csv:2:3: NUL byte");
	CHECK_EQ_STR(FAILS("a\n\"x\"\0"), "t.csv:2:4: NUL byte");
	CHECK_EQ_STR(FAILS("\0"), "t.csv:1:1: NUL byte");

	/* A carriage return must start a CRLF. */
	CHECK_EQ_STR(FAILS("a,b\r1,2"), "t.csv:1:4: carriage return without a line feed");
	CHECK_EQ_STR(FAILS("a\n1\r"), "t.csv:2:2: carriage return without a line feed");

	/* Columns count UTF-8 characters; line 1 starts after a BOM. */
	CHECK_EQ_STR(FAILS("\xC3\xA9,\xC3\xA9\n"),
	             "t.csv:1:3: duplicate column name \"\xC3\xA9\" (also column 1)");
	CHECK_EQ_STR(FAILS("\xEF\xBB\xBF"
	                   "a,a"),
	             "t.csv:1:3: duplicate column name \"a\" (also column 1)");
	CHECK_EQ_STR(FAILS("h\n\xE2\x82\xAC\xE2\x82\xAC\"\n"),
	             "t.csv:2:3: quote inside an unquoted field (quote the field and double the quote)");

	/* A long duplicate name is cut in the message. */
	char longname[300];
	memset(longname, 'n', 100);
	memcpy(longname + 100, ",", 1);
	memset(longname + 101, 'n', 100);
	CHECK_CONTAINS(fails(longname, 201), "t.csv:1:102: duplicate column name \"nnnn");
	CHECK_CONTAINS(err, "nnn...\" (also column 1)");

	/* The file name is the caller's; no room for a message is fine. */
	csv t;
	CHECK_EQ_INT(csv_parse("a,a", 3, "data/users.csv", &t, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "data/users.csv:1:3: ");
	CHECK_EQ_INT(csv_parse("a,a", 3, "x.csv", &t, NULL, 0), -1);
	CHECK_EQ_INT(csv_parse("a,a", 3, "x.csv", &t, err, 5), -1);
	CHECK_EQ_STR(err, "x.cs");
}

static uint64_t rng_state = 0x243F6A8885A308D3;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

/* Random inputs, half from CSV's own bytes so that many of them parse. */
static void test_random(void)
{
	static const char alphabet[] = {'"', ',', '\n', '\r', 'a', 'b', ' ', '\0', '\xEF', '\xBB', '\xBF'};
	char buf[80];
	int parsed = 0;

	for (int i = 0; i < 20000; i++) {
		size_t len = rnd() % sizeof(buf);
		int csvish = i % 2;
		for (size_t k = 0; k < len; k++) {
			uint64_t r = rnd();
			buf[k] = csvish ? alphabet[r % (sizeof(alphabet) - (r >> 32) % 2 * 4)] : (char)r;
		}
		/* Exact size on the heap, so reading past the end is caught by ASan. */
		char *in = malloc(len ? len : 1);
		if (in == NULL) {
			CHECK(in != NULL);
			break;
		}
		memcpy(in, buf, len);
		csv t;
		err[0] = '\0';
		int rv = csv_parse(in, len, "r.csv", &t, err, sizeof(err));
		CHECK(rv == 0 || rv == -1);
		if (rv == 0) {
			parsed++;
			int ok = t.ncols > 0 && t.header != NULL && t.cells == t.header + t.ncols;
			size_t nf = t.ncols * (t.nrows + 1);
			for (size_t f = 0; f < nf && ok; f++) {
				const csv_field *c = &t.header[f];
				/* Inside the store, which is never longer than the input plus one. */
				ok = c->p >= t.store && c->p + c->len < t.store + len + 1 &&
				     c->p[c->len] == '\0' && strlen(c->p) == c->len;
			}
			for (size_t c = 0; c < t.ncols && ok; c++)
				ok = csv_column(&t, t.header[c].p, t.header[c].len) == (int)c;
			CHECK(ok);
			csv_free(&t);
		} else {
			CHECK(strncmp(err, "r.csv:", 6) == 0);
		}
		free(in);
	}
	printf("random inputs: %d of 20000 parsed\n", parsed);
	CHECK(parsed > 1000);
}

int main(void)
{
	test_plain();
	test_quoted();
	test_line_ends();
	test_sizes();
	test_errors();
	test_random();
	return check_done();
}
