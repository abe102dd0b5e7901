/*
 * The agent's target allowlist (--allow-target): host names, IP addresses
 * with an optional port, and CIDR ranges. An assignment whose plan aims at
 * anything outside the list is refused before any request is sent; at run
 * time every request is checked again, on every driver: its URL once
 * rendered (templates, captures, data), and the address of every connection
 * it opens (each redirect hop included). Also the check that an agent with
 * source addresses can reach every target over their family.
 */
#ifndef HERD_AGENT_ALLOW_H
#define HERD_AGENT_ALLOW_H

#include <stddef.h>
#include <sys/socket.h>

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

/*
 * Checks the URL of one request as rendered (from templates, a captured
 * Location, a data column): its scheme must be http:// or https:// (with or
 * without a list: a plan never reaches file://, gopher:// or any other of
 * libcurl's schemes) and it must name a host. With a list (a not NULL), a
 * host that is an address literal must be inside it, and a name must match a
 * name rule or is left to allow_check_addr once the driver has its address.
 * Never resolves (it runs on a worker's loop). Returns HERD_OK, or
 * HERD_EREFUSED with the reason in err.
 */
int allow_check_request(const allow *a, const char *url, char *err, size_t errlen);

/*
 * Checks a connection a driver is about to open to sa (an AF_INET or
 * AF_INET6 address with its port: what the URL's host resolved to), for the
 * host written in the URL (a name or an address literal, brackets or not;
 * NULL when unknown). Allowed when a name rule matches host and the port, or
 * an address or range rule holds sa. NULL a allows everything. Never
 * resolves. Returns HERD_OK, or HERD_EREFUSED with the reason in err.
 */
int allow_check_addr(const allow *a, const char *host, const struct sockaddr *sa, char *err, size_t errlen);

/* allow_check_addr for an address a driver resolved once, when a run
 * starts (the plan's names were checked when the agent took the assignment,
 * but DNS may answer otherwise now): *why is NULL when it is allowed, else the
 * reason, allocated (the caller frees it). Returns HERD_OK, or HERD_ENOMEM. */
int allow_addr_refusal(const allow *a, const char *host, const struct sockaddr *sa, char **why);

/* Logs why a request was refused, for the first refusal of a run only (a
 * plan whose every request is refused must not flood the log; the summary
 * counts them all as target_not_allowed). Thread-safe. */
void allow_log_refusal(const char *why);
/* Lets the next refusal be logged: called when a run starts. */
void allow_log_rearm(void);

/* Checks that every target of a plan has an address of family, the family
 * of the agent's source addresses (AF_UNSPEC: no pool, anything goes).
 * Returns HERD_OK, or HERD_EINVAL with the target and why in err. */
int allow_check_family(const plan *p, int family, char *err, size_t errlen);

#endif
