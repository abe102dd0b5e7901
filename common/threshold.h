/*
 * Thresholds in k6 syntax: a metric with optional tag filters
 * ("http_req_duration{scenario:browse}") and an expression
 * ("p(95) < 500", "avg<200", "rate < 0.01", "count >= 100", "max < 2s").
 * This module only parses; the controller evaluates against merged results.
 */
#ifndef HERD_COMMON_THRESHOLD_H
#define HERD_COMMON_THRESHOLD_H

#include <stddef.h>

typedef enum th_agg {
	TH_P = 0, /* p(N): uses pct */
	TH_AVG,
	TH_MED,
	TH_MIN,
	TH_MAX,
	TH_RATE,  /* rate: errors / count for *_failed and checks; count/s for counters */
	TH_COUNT,
} th_agg;

typedef enum th_op { TH_LT = 0, TH_LE, TH_GT, TH_GE, TH_EQ, TH_NE } th_op;

#define TH_MAX_TAGS 8

typedef struct th_tag {
	char key[32];
	char value[96];
} th_tag;

typedef struct th_metric {
	char name[64]; /* "http_req_duration" */
	th_tag tags[TH_MAX_TAGS];
	size_t ntags;
} th_metric;

typedef struct th_expr {
	th_agg agg;
	double pct;   /* for TH_P */
	th_op op;
	double value; /* durations normalized to milliseconds; rates as fractions */
} th_expr;

/* Parses "name{k:v,k2:v2}". Tag keys are spelled as th_tag_key_valid says;
 * values may hold spaces and ':' ("checks{check:login ok}"), not ',' or '}'.
 * Returns 0 or -1 with a message in err. */
int th_parse_metric(const char *s, th_metric *out, char *err, size_t errlen);
/* Parses an expression. Values may carry a unit (ms, s, m, us) or a percent
 * sign ("5%" = 0.05). Returns 0 or -1 with a message in err. */
int th_parse_expr(const char *s, th_expr *out, char *err, size_t errlen);
/* 1 when key is a valid tag key: [A-Za-z_][A-Za-z0-9_.-]*, at most 31 bytes. */
int th_tag_key_valid(const char *key);
/* Applies op: returns 1 when `lhs op rhs` holds. */
int th_compare(th_op op, double lhs, double rhs);
/* k6 spelling of an aggregation ("p(95)", "avg", ...) into buf. */
const char *th_agg_label(const th_expr *e, char *buf, size_t len);

#endif
