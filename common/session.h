/*
 * The authenticated session between an agent and its controller: after the
 * handshake of common/auth.h both sides derive the same key from the token,
 * both nonces and the agent's id, and every later message carries an
 * HMAC-SHA256 under that key over its direction, its channel (which of the
 * agent's two REQ contexts), its sequence number and its bytes. A message
 * that does not verify is not acted on; see docs/protocol.md,
 * "Authentication". Pure code: no sockets, no wire format (proto/seal.h puts
 * the MAC on wire messages). The crypto is mbedTLS's.
 */
#ifndef HERD_COMMON_SESSION_H
#define HERD_COMMON_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/auth.h"

#define SESSION_KEY_LEN 32
#define SESSION_MAC_LEN 32
/* The agent's REQ contexts: commands and polls, and METRICS batches. Each
 * has its own sequence numbers, since their requests interleave. */
#define SESSION_CH_CMD 0u
#define SESSION_CH_MET 1u
#define SESSION_NCH 2u

/* Which way a message goes; part of every MAC, so a request's MAC is never a
 * valid reply's. */
typedef enum session_dir {
	SESSION_TO_CONTROLLER = 0, /* the agent's requests */
	SESSION_TO_AGENT = 1,      /* the controller's replies */
} session_dir;

/* One side's view of a session. Embedded by value; session_clear wipes it. */
typedef struct session {
	uint8_t key[SESSION_KEY_LEN];
	bool keyed;                  /* false: no session (key unset) */
	uint64_t seq[SESSION_NCH];   /* agent: last sent; controller: highest accepted */
} session;

/*
 * Derives the session key for the handshake (agent_nonce, controller_nonce,
 * id) under token t: HMAC-SHA256(token, "session" || 0x00 || agent_nonce ||
 * controller_nonce || id || 0x00), the same construction as the proofs of
 * auth.h with a role of its own, so a key is never a proof and neither side
 * ever sends it. Sets s->key, s->keyed and zeroes the sequence numbers.
 * Returns HERD_OK, or what auth_proof returns (s is then cleared).
 */
int session_start(session *s, const auth_token *t, const uint8_t *agent_nonce,
                  const uint8_t *controller_nonce, const char *id);

/* Zeroes s (key included) in a way the compiler does not remove. */
void session_clear(session *s);

/*
 * Writes HMAC-SHA256(key, label(dir) || 0x00 || ch (4 bytes, big-endian) ||
 * seq (8 bytes, big-endian) || body) to out. Returns HERD_OK, HERD_EINVAL
 * when s has no key or body is NULL with len > 0, HERD_EINTERNAL when mbedTLS
 * fails (out is then zeroed).
 */
int session_mac(const session *s, session_dir dir, uint32_t ch, uint64_t seq, const void *body,
                size_t len, uint8_t out[SESSION_MAC_LEN]);

/* Recomputes the MAC and compares it with mac in constant time. Returns
 * HERD_OK only when they match; HERD_EAUTH otherwise (wrong length, no key,
 * mismatch). */
int session_check(const session *s, session_dir dir, uint32_t ch, uint64_t seq, const void *body,
                  size_t len, const uint8_t *mac, size_t mac_len);

/* Controller side: accepts seq on channel ch when it is above every seq
 * accepted on ch so far (and records it), so a recorded request cannot be
 * played again. Returns HERD_OK, or HERD_EAUTH for a replayed or stale seq
 * or a channel out of range. */
int session_accept(session *s, uint32_t ch, uint64_t seq);

#endif
