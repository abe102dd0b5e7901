/*
 * Which HTTP driver runs a scenario: libcurl, or the lean HTTP/1.1 driver
 * (agent/h1.c). One rule, used by the agents' workers to pick and by the
 * controller to say in the run header and the summary what they picked.
 * Codec-like: no I/O, no state.
 */
#ifndef HERD_COMMON_HDRV_H
#define HERD_COMMON_HDRV_H

#include <stddef.h>

#include "common/plan.h"

/* --http-driver: auto (the default) picks per scenario; curl and lean ask. */
typedef enum hdrv_mode { HDRV_AUTO = 0, HDRV_CURL, HDRV_LEAN } hdrv_mode;

/* Why the lean driver does not serve a scenario, one bit per reason. */
enum {
	HDRV_WHY_SCHEME = 1u << 0,      /* a URL that is neither http:// nor https:// */
	HDRV_WHY_TEMPLATES = 1u << 1,   /* a URL that is all template ("{{ next }}"): it
	                                 * could render to another scheme or host */
	HDRV_WHY__N = 2
};

/* Parses "auto", "curl" or "lean". Returns HERD_OK, or HERD_EINVAL. */
int hdrv_parse(const char *s, hdrv_mode *out);

/* "auto", "curl" or "lean". */
const char *hdrv_mode_name(hdrv_mode m);

/* The HDRV_WHY_* reasons the lean driver cannot serve scenario s of plan p
 * as libcurl would; 0 when it can (also when s has no HTTP request). */
unsigned hdrv_reasons(const plan *p, const plan_scenario *s);

/* The name of reason bit why ("scheme", "templates", ...). */
const char *hdrv_reason_name(unsigned why);

/* 1 when scenario s runs on the lean driver under mode m, else 0. */
int hdrv_use_lean(hdrv_mode m, const plan *p, const plan_scenario *s);

/* 1 when scenario s sends HTTP requests (a driver is picked for it). */
int hdrv_has_http(const plan_scenario *s);

/* The reasons hdrv_describe names for s under m: for a curl pick, why lean
 * was not (none when curl was asked); none for a lean pick. */
unsigned hdrv_said_reasons(hdrv_mode m, const plan *p, const plan_scenario *s);

/*
 * Describes the pick for s under m into buf (len bytes, always
 * NUL-terminated): "lean", "curl", "curl (https, templates)" when auto or
 * lean fell back and why, "-" without HTTP.
 */
void hdrv_describe(hdrv_mode m, const plan *p, const plan_scenario *s, char *buf, size_t len);

#endif
