/*
 * The agent's target allowlist (--allow-target): host names, IP addresses
 * with an optional port, and CIDR ranges. An assignment whose plan aims at
 * anything outside the list is refused before any request is sent. Also
 * the check that an agent with source addresses can reach every target
 * over their family.
 */
#ifndef HERD_AGENT_ALLOW_H
#define HERD_AGENT_ALLOW_H

#include <stddef.h>

#include "common/plan.h"

typedef struct allow allow;

/* Parses "HOST[:PORT]|IP[:PORT]|[IPv6]:PORT|CIDR,..." into *out. Returns
 * HERD_OK, or HERD_EINVAL with a message naming the bad item in err. */
int allow_parse(const char *list, allow **out, char *err, size_t errlen);
void allow_free(allow *a);

/* Checks one URL. Returns HERD_OK when allowed, or HERD_EINVAL with the
 * reason in err ("target 198.18.0.100:80 is not allowed by --allow-target"). */
int allow_check_url(const allow *a, const char *url, char *err, size_t errlen);

/* Checks every URL of a plan. NULL a allows everything. */
int allow_check_plan(const allow *a, const plan *p, char *err, size_t errlen);

/* Checks that every target of a plan has an address of family, the family
 * of the agent's source addresses (AF_UNSPEC: no pool, anything goes).
 * Returns HERD_OK, or HERD_EINVAL with the target and why in err. */
int allow_check_family(const plan *p, int family, char *err, size_t errlen);

#endif
