/*
 * Parsing of k6-style thresholds: a metric name with optional tag filters
 * ("http_req_duration{scenario:browse}") and an expression such as
 * "p(95) < 500" or "rate < 1%". Values are normalized here (durations to
 * milliseconds, percentages to fractions) so the evaluator only compares.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/threshold.h"

static const char agg_list[] = "p(N), avg, med, min, max, rate or count";

/* Writes a formatted message into err when the caller gave room for one. */
static int th_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int th_fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static const char *skip_space(const char *p)
{
	while (is_space(*p))
		p++;
	return p;
}

/* Trims [*b, *e) of surrounding white space. */
static void trim(const char **b, const char **e)
{
	while (*b < *e && is_space(**b))
		(*b)++;
	while (*e > *b && is_space((*e)[-1]))
		(*e)--;
}

/*
 * Copies [b, e) into dst (size dstlen) as a C string. Returns -1 when the
 * text does not fit, so over-long fields are reported rather than cut.
 */
static int copy_field(char *dst, size_t dstlen, const char *b, const char *e)
{
	size_t n = (size_t)(e - b);
	if (n >= dstlen)
		return -1;
	memcpy(dst, b, n);
	dst[n] = '\0';
	return 0;
}

/* Control characters and white space have no place in a name or a tag key. */
static int has_bad_char(const char *b, const char *e, int allow_space)
{
	for (const char *p = b; p < e; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f)
			return 1;
		if (!allow_space && c == ' ')
			return 1;
	}
	return 0;
}

/* [A-Za-z_][A-Za-z0-9_.-]* over [b, e), in ASCII whatever the locale; the
 * length is checked by the caller. */
static int key_valid(const char *b, const char *e)
{
	for (const char *p = b; p < e; p++) {
		char c = *p;
		int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
		int more = (c >= '0' && c <= '9') || c == '.' || c == '-';
		if (!alpha && (p == b || !more))
			return 0;
	}
	return b < e;
}

int th_tag_key_valid(const char *key)
{
	size_t n;
	if (key == NULL)
		return 0;
	n = strlen(key);
	return n < sizeof(((th_tag *)0)->key) && key_valid(key, key + n);
}

int th_parse_metric(const char *s, th_metric *out, char *err, size_t errlen)
{
	th_metric m;
	const char *p, *b, *e;

	if (s == NULL || out == NULL)
		return th_fail(err, errlen, "no metric given");
	memset(&m, 0, sizeof(m));

	b = s;
	e = strchr(s, '{');
	if (e == NULL)
		e = s + strlen(s);
	p = e;
	trim(&b, &e);
	if (b == e)
		return th_fail(err, errlen, "metric name is empty");
	if (has_bad_char(b, e, 0) || memchr(b, '}', (size_t)(e - b)) != NULL ||
	    memchr(b, ':', (size_t)(e - b)) != NULL || memchr(b, ',', (size_t)(e - b)) != NULL)
		return th_fail(err, errlen, "metric name '%.*s' has a character that is not allowed",
		               (int)(e - b), b);
	if (copy_field(m.name, sizeof(m.name), b, e) != 0)
		return th_fail(err, errlen, "metric name is too long (the limit is %zu bytes)",
		               sizeof(m.name) - 1);

	if (*p == '{') {
		p++;
		if (*skip_space(p) == '}') {
			p = skip_space(p) + 1;
		} else {
			for (;;) {
				const char *kb = p, *ke, *vb, *ve;
				th_tag *t;

				while (*p != '\0' && *p != ':' && *p != ',' && *p != '}')
					p++;
				ke = p;
				trim(&kb, &ke);
				if (*p == '\0' && kb == ke)
					return th_fail(err, errlen, "missing '}' after the tags of '%s'", m.name);
				if (kb == ke)
					return th_fail(err, errlen, "empty tag in '%s'", m.name);
				if (*p != ':')
					return th_fail(err, errlen,
					               "tag '%.*s' needs a ':' between its key and its value",
					               (int)(ke - kb), kb);
				if (!key_valid(kb, ke))
					return th_fail(err, errlen,
					               "tag key '%.*s' is not valid: a key starts with a letter or "
					               "'_' and holds letters, digits, '_', '.' and '-'",
					               (int)(ke - kb), kb);
				p++;
				vb = p;
				while (*p != '\0' && *p != ',' && *p != '}')
					p++;
				ve = p;
				trim(&vb, &ve);
				if (*p == '\0')
					return th_fail(err, errlen, "missing '}' after the tags of '%s'", m.name);
				if (vb == ve)
					return th_fail(err, errlen, "tag '%.*s' has no value", (int)(ke - kb), kb);
				if (has_bad_char(vb, ve, 1))
					return th_fail(err, errlen, "tag '%.*s' has a control character in its value",
					               (int)(ke - kb), kb);
				if (m.ntags == TH_MAX_TAGS)
					return th_fail(err, errlen, "too many tags (the limit is %d)", TH_MAX_TAGS);
				t = &m.tags[m.ntags];
				if (copy_field(t->key, sizeof(t->key), kb, ke) != 0)
					return th_fail(err, errlen,
					               "tag key '%.20s...' is too long (the limit is %zu bytes)", kb,
					               sizeof(t->key) - 1);
				if (copy_field(t->value, sizeof(t->value), vb, ve) != 0)
					return th_fail(err, errlen,
					               "value of tag '%s' is too long (the limit is %zu bytes)", t->key,
					               sizeof(t->value) - 1);
				for (size_t i = 0; i < m.ntags; i++)
					if (strcmp(m.tags[i].key, t->key) == 0)
						return th_fail(err, errlen, "tag '%s' is given twice", t->key);
				m.ntags++;
				if (*p++ == '}')
					break;
			}
		}
	}
	p = skip_space(p);
	if (*p != '\0')
		return th_fail(err, errlen, "unexpected '%.20s' after the metric", p);
	*out = m;
	return 0;
}

/*
 * Scans a decimal number ("500", "99.9", "-1", "1e3", ".5") at p. Unlike
 * strtod alone it refuses hexadecimal, "inf" and "nan". Returns the end of the
 * number, or p when there is none.
 */
static const char *scan_number(const char *p, double *v)
{
	const char *q = p;
	char buf[64];
	int digits = 0;

	if (*q == '+' || *q == '-')
		q++;
	while (isdigit((unsigned char)*q)) {
		q++;
		digits++;
	}
	if (*q == '.') {
		q++;
		while (isdigit((unsigned char)*q)) {
			q++;
			digits++;
		}
	}
	if (digits == 0)
		return p;
	if (*q == 'e' || *q == 'E') {
		const char *r = q + 1;
		if (*r == '+' || *r == '-')
			r++;
		if (isdigit((unsigned char)*r)) {
			while (isdigit((unsigned char)*r))
				r++;
			q = r;
		}
	}
	if ((size_t)(q - p) >= sizeof(buf))
		return p;
	memcpy(buf, p, (size_t)(q - p));
	buf[q - p] = '\0';
	*v = strtod(buf, NULL);
	if (!isfinite(*v))
		return p;
	return q;
}

static int is_time_agg(th_agg a)
{
	return a == TH_P || a == TH_AVG || a == TH_MED || a == TH_MIN || a == TH_MAX;
}

/* Aggregations spelled as a bare word, in th_agg order after TH_P. */
static const struct {
	const char *word;
	th_agg agg;
} agg_words[] = {
	{"avg", TH_AVG}, {"med", TH_MED},   {"min", TH_MIN},
	{"max", TH_MAX}, {"rate", TH_RATE}, {"count", TH_COUNT},
};

/* The end of what a user would read as the aggregation word ("p95", "avg"). */
static const char *word_end(const char *p)
{
	while (*p != '\0' && !is_space(*p) && strchr("<>=!", *p) == NULL)
		p++;
	return p;
}

int th_parse_expr(const char *s, th_expr *out, char *err, size_t errlen)
{
	th_expr x;
	const char *p, *q, *w;
	char label[32];

	if (s == NULL || out == NULL)
		return th_fail(err, errlen, "no expression given");
	memset(&x, 0, sizeof(x));
	p = skip_space(s);
	if (*p == '\0')
		return th_fail(err, errlen, "empty expression; expected e.g. 'p(95) < 500'");

	/* The aggregation. */
	w = word_end(p);
	if (p[0] == 'p' && skip_space(p + 1)[0] == '(') {
		q = skip_space(skip_space(p + 1) + 1);
		const char *r = scan_number(q, &x.pct);
		if (r == q)
			return th_fail(err, errlen, "p(N) needs a number, e.g. p(95)");
		r = skip_space(r);
		if (*r != ')')
			return th_fail(err, errlen, "missing ')' after p(%.*s", (int)(r - q), q);
		if (!(x.pct > 0 && x.pct <= 100))
			return th_fail(err, errlen, "p(N) needs 0 < N <= 100, got %g", x.pct);
		x.agg = TH_P;
		p = r + 1;
	} else {
		size_t n = (size_t)(w - p);
		size_t i;
		if (n == 0)
			return th_fail(err, errlen, "missing aggregation; expected %s", agg_list);
		for (i = 0; i < sizeof(agg_words) / sizeof(agg_words[0]); i++)
			if (strlen(agg_words[i].word) == n && memcmp(agg_words[i].word, p, n) == 0)
				break;
		if (i == sizeof(agg_words) / sizeof(agg_words[0]))
			return th_fail(err, errlen, "unknown aggregation '%.*s', expected %s",
			               (int)(n > 40 ? 40 : n), p, agg_list);
		x.agg = agg_words[i].agg;
		p = w;
	}
	th_agg_label(&x, label, sizeof(label));

	/* The operator; k6 also accepts "===" for equality. */
	p = skip_space(p);
	if (strncmp(p, "<=", 2) == 0) {
		x.op = TH_LE;
		p += 2;
	} else if (strncmp(p, ">=", 2) == 0) {
		x.op = TH_GE;
		p += 2;
	} else if (strncmp(p, "===", 3) == 0) {
		x.op = TH_EQ;
		p += 3;
	} else if (strncmp(p, "==", 2) == 0) {
		x.op = TH_EQ;
		p += 2;
	} else if (strncmp(p, "!=", 2) == 0) {
		x.op = TH_NE;
		p += 2;
	} else if (*p == '<') {
		x.op = TH_LT;
		p++;
	} else if (*p == '>') {
		x.op = TH_GT;
		p++;
	} else {
		return th_fail(err, errlen, "expected an operator (<, <=, >, >=, ==, !=) after '%s'",
		               label);
	}

	/* The value and its unit. */
	p = skip_space(p);
	q = scan_number(p, &x.value);
	if (q == p)
		return th_fail(err, errlen, "expected a number after the operator in '%s'", s);
	p = skip_space(q);
	q = p;
	while (*q != '\0' && !is_space(*q))
		q++;
	{
		size_t n = (size_t)(q - p);
		double scale = 1;
		int is_time_unit = 1;

		if (n == 0) {
			is_time_unit = 0;
		} else if ((n == 2 && memcmp(p, "us", 2) == 0) ||
		           (n == 3 && memcmp(p, "\xc2\xb5s", 3) == 0) ||
		           (n == 3 && memcmp(p, "\xce\xbcs", 3) == 0)) {
			scale = 0.001;
		} else if (n == 2 && memcmp(p, "ms", 2) == 0) {
			scale = 1;
		} else if (n == 1 && *p == 's') {
			scale = 1000;
		} else if (n == 1 && *p == 'm') {
			scale = 60000;
		} else if (n == 1 && *p == 'h') {
			scale = 3600000;
		} else if (n == 1 && *p == '%') {
			is_time_unit = 0;
			if (x.agg != TH_RATE)
				return th_fail(err, errlen, "'%%' only applies to rate, not to %s", label);
			scale = 0.01;
		} else {
			return th_fail(err, errlen,
			               "unexpected '%.*s' after the value; units are us, ms, s, m, h or %%",
			               (int)(n > 20 ? 20 : n), p);
		}
		if (is_time_unit && !is_time_agg(x.agg)) {
			if (x.agg == TH_RATE)
				return th_fail(
				    err, errlen,
				    "rate takes a fraction (0.01) or a percentage (1%%), not a duration");
			return th_fail(err, errlen, "count takes a plain number, not a duration");
		}
		x.value *= scale;
	}
	p = skip_space(q);
	if (*p != '\0')
		return th_fail(err, errlen, "unexpected '%.20s' after the value", p);
	*out = x;
	return 0;
}

int th_compare(th_op op, double lhs, double rhs)
{
	switch (op) {
	case TH_LT: return lhs < rhs;
	case TH_LE: return lhs <= rhs;
	case TH_GT: return lhs > rhs;
	case TH_GE: return lhs >= rhs;
	case TH_EQ: return lhs == rhs;
	case TH_NE: return lhs != rhs;
	}
	return 0;
}

const char *th_agg_label(const th_expr *e, char *buf, size_t len)
{
	const char *word = "?";

	if (buf == NULL || len == 0)
		return "";
	switch (e->agg) {
	case TH_P: {
		/* The shortest spelling that reads back as the same number. */
		char num[32];
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(num, sizeof(num), "%.*g", prec, e->pct);
			if (strtod(num, NULL) == e->pct)
				break;
		}
		snprintf(buf, len, "p(%s)", num);
		return buf;
	}
	case TH_AVG: word = "avg"; break;
	case TH_MED: word = "med"; break;
	case TH_MIN: word = "min"; break;
	case TH_MAX: word = "max"; break;
	case TH_RATE: word = "rate"; break;
	case TH_COUNT: word = "count"; break;
	}
	snprintf(buf, len, "%s", word);
	return buf;
}
