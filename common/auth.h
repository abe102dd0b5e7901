/*
 * Agent authentication by a shared token: each side proves that it holds the
 * token with an HMAC-SHA256 over fresh nonces from both sides, so the token
 * itself never crosses the wire. Pure code (no sockets); the crypto is
 * mbedTLS's. Nothing here logs or returns the token's bytes.
 *
 * The handshake herd uses (A = agent, C = controller, id = the agent's id):
 *
 *   A -> C  HELLO      { id, ..., agent_nonce }          agent_nonce = auth_nonce()
 *   C -> A  CHALLENGE  { controller_nonce, proof_c }     controller_nonce = auth_nonce()
 *           proof_c = auth_proof(token, "controller", agent_nonce, controller_nonce, id)
 *   A       auth_verify(token, "controller", agent_nonce, controller_nonce, id, proof_c);
 *           on failure the agent hangs up: its controller does not hold the token.
 *   A -> C  AUTH       { proof_a }
 *           proof_a = auth_proof(token, "agent", controller_nonce, agent_nonce, id)
 *   C       auth_verify(token, "agent", controller_nonce, agent_nonce, id, proof_a);
 *           on success WELCOME, on failure ERROR ("authentication failed") and no plan.
 *
 * Rules for the code that wires it up:
 * - Each side draws a new nonce for every handshake and never reuses it; the
 *   controller keeps its nonce with the pending agent and forgets it after one
 *   AUTH attempt (success or failure), so a recorded AUTH cannot be replayed.
 * - The role strings separate the two proofs, so a proof_c cannot be reflected
 *   back as a proof_a, and the nonces come in a different order in each.
 * - `id` must be the id the agent sent in HELLO, byte for byte, on both sides.
 * - Nonces and proofs travel as msgpack bin of exactly AUTH_NONCE_LEN and
 *   AUTH_MAC_LEN bytes; refuse any other length before calling in here.
 * - The proofs authenticate the peer at the start of a link; they do not
 *   protect later messages from a man in the middle. Use tls+tcp:// on
 *   networks that are not trusted.
 */
#ifndef HERD_COMMON_AUTH_H
#define HERD_COMMON_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_NONCE_LEN 32
#define AUTH_MAC_LEN 32
/* Tokens are at least AUTH_TOKEN_MIN and at most AUTH_TOKEN_MAX bytes long. */
#define AUTH_TOKEN_MIN 16
#define AUTH_TOKEN_MAX 4096

/* A shared secret. Embedded by value; call auth_token_wipe when done with it. */
typedef struct auth_token {
	uint8_t bytes[AUTH_TOKEN_MAX];
	size_t len;
	/* Set by auth_token_load when group or others may read the file
	 * (mode & 044; write access is refused), as ssh warns about private
	 * keys; the caller warns. */
	bool loose_perms;
} auth_token;

/* Fills out with AUTH_NONCE_LEN bytes from the kernel's CSPRNG (getrandom),
 * retrying on EINTR and short reads. Returns HERD_OK, or HERD_EIO when the
 * kernel refuses (out is then wiped). */
int auth_nonce(uint8_t out[AUTH_NONCE_LEN]);

/*
 * Reads the token from the regular file at path into *out. One trailing "\n"
 * or "\r\n" is stripped; every other byte is part of the token. On error,
 * writes a message to err (errlen bytes, may be NULL/0) that names the path
 * and never the content, leaves *out wiped, and returns:
 *   HERD_ENOTFOUND  the file does not exist;
 *   HERD_EIO        it cannot be opened or read, is not a regular file, is a
 *                   symbolic link (never followed), or group or others may
 *                   write it (checked on the opened file);
 *   HERD_EINVAL     the token is empty, shorter than AUTH_TOKEN_MIN or longer
 *                   than AUTH_TOKEN_MAX bytes.
 * On success out->loose_perms tells whether group or others may read the file.
 */
int auth_token_load(const char *path, auth_token *out, char *err, size_t errlen);

/* Zeroes t (bytes, length and flag) in a way the compiler does not remove. */
void auth_token_wipe(auth_token *t);

/*
 * Writes HMAC-SHA256(token, role || 0x00 || nonce_a || nonce_b || id || 0x00)
 * to out, where role is "agent", "controller" or "session" (the session key
 * of common/session.h, never sent) and nonce_a, nonce_b are
 * AUTH_NONCE_LEN bytes each. Returns HERD_OK; HERD_EINVAL when an argument is
 * NULL, the token is empty or role is neither name; HERD_EINTERNAL when
 * mbedTLS fails. On error out is zeroed.
 */
int auth_proof(const auth_token *t, const char *role, const uint8_t *nonce_a,
               const uint8_t *nonce_b, const char *id, uint8_t out[AUTH_MAC_LEN]);

/*
 * Recomputes the proof for (t, role, nonce_a, nonce_b, id) and compares it with
 * mac in constant time. Returns HERD_OK only when they match; HERD_EINVAL when
 * they differ, mac_len is not AUTH_MAC_LEN or an argument is invalid;
 * HERD_EINTERNAL when mbedTLS fails. Treat anything but HERD_OK as a refusal.
 */
int auth_verify(const auth_token *t, const char *role, const uint8_t *nonce_a,
                const uint8_t *nonce_b, const char *id, const uint8_t *mac, size_t mac_len);

/* Room auth_quote needs at most: 64 characters of the id, each up to 4
 * bytes escaped, quotes, "..." and the NUL. */
#define AUTH_QUOTED_MAX (64 * 4 + 6)

/*
 * Writes id, as claimed by a peer that has not proved the token, in double
 * quotes into out (outlen bytes, AUTH_QUOTED_MAX is always enough): bytes
 * outside printable ASCII, '"' and '\\' as \xNN, at most 64 bytes of the id
 * followed by "..." when it is longer. So a claimed id can neither pass for
 * a real agent's name in a log line nor move the terminal's cursor.
 */
void auth_quote(const char *id, char *out, size_t outlen);

/* Plain HMAC-SHA256 of msg under key, exposed for the RFC 4231 test vectors.
 * Returns HERD_OK, HERD_EINVAL for a NULL pointer with a non-zero length, or
 * HERD_EINTERNAL when mbedTLS fails. */
int auth_hmac_sha256(const uint8_t *key, size_t klen, const uint8_t *msg, size_t mlen,
                     uint8_t out[32]);

#endif
