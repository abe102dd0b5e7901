/* safetext: escaping and truncating peer text (common/safetext.h). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/safetext.h"

static const char *esc(const char *s, size_t len)
{
	static char buf[512];
	return safetext_copy(buf, len, s);
}

int main(void)
{
	/* Printable ASCII and UTF-8 pass unchanged. */
	CHECK_EQ_STR(esc("agent-1 on host.example", 64), "agent-1 on host.example");
	CHECK_EQ_STR(esc("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x90\x91", 64),
	             "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x90\x91");
	CHECK(safetext_ok("h\xc3\xa9llo", 16));
	CHECK_EQ_STR(esc(NULL, 8), "");

	/* The forged line of issue 9: CR, ESC sequences, newline, BEL. */
	CHECK_EQ_STR(esc("x\r\x1b[2K\rherd: agent real-1 lost\n\x07", 128),
	             "x\\x0d\\x1b[2K\\x0dherd: agent real-1 lost\\x0a\\x07");
	CHECK(!safetext_ok("a\rb", 16));
	CHECK(!safetext_ok("a\x7f", 16));
	/* A backslash is escaped, so escaped text cannot pass for another. */
	CHECK_EQ_STR(esc("a\\x0d", 32), "a\\\\x0d");
	CHECK(!safetext_ok("a\\b", 16));

	/* C1 controls, bidi overrides, invalid and overlong UTF-8, surrogates. */
	CHECK_EQ_STR(esc("a\xc2\x9b"
	                 "31mb",
	                 32),
	             "a\\u{009b}31mb");
	CHECK_EQ_STR(esc("\xe2\x80\xae"
	                 "evil",
	                 32),
	             "\\u{202e}evil");
	CHECK_EQ_STR(esc("a\xff"
	                 "b",
	                 32),
	             "a\\xffb");
	CHECK_EQ_STR(esc("\xc0\xaf", 32), "\\xc0\\xaf");
	CHECK_EQ_STR(esc("\xed\xa0\x80", 32), "\\xed\\xa0\\x80");
	CHECK_EQ_STR(esc("\xe2\x82", 32), "\\xe2\\x82"); /* cut short */

	/* Truncation: at a character, marked, within the size. */
	CHECK_EQ_STR(esc("abcdefghij", 11), "abcdefghij");
	CHECK_EQ_STR(esc("abcdefghijk", 11), "abcdefg...");
	CHECK_EQ_STR(esc("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 9), "\xc3\xa9\xc3\xa9...");
	CHECK_EQ_STR(esc("\x1b\x1b\x1b\x1b", 12), "\\x1b\\x1b...");
	CHECK(!safetext_ok("abcdefghijk", 10));
	CHECK(safetext_ok("abcdefghij", 10));

	/* Long hostile input: bounded output, never a control byte. */
	char *big = malloc(1 << 20);
	CHECK(big != NULL);
	if (big != NULL) {
		for (size_t i = 0; i < (1u << 20) - 1; i++)
			big[i] = (char)(i * 7 % 255 + 1);
		big[(1u << 20) - 1] = '\0';
		const char *out = esc(big, 200);
		CHECK(strlen(out) <= 199);
		int ctl = 0;
		for (const char *p = out; *p; p++)
			ctl |= (unsigned char)*p < 0x20 || *p == 0x7f;
		CHECK(!ctl);
		free(big);
	}
	return check_done();
}
