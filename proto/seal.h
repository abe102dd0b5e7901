/*
 * Session envelopes: a wire message after the handshake travels inside a
 * SEALED message that names the agent's session, the channel and sequence
 * number, and carries an HMAC (common/session.h) over the inner message's
 * encoding. The controller's reply repeats its request's channel and
 * sequence number, so a reply answers one request only and a recorded one
 * is refused. No I/O here: bytes in, bytes out.
 */
#ifndef HERD_PROTO_SEAL_H
#define HERD_PROTO_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/session.h"
#include "proto/wire.h"

/*
 * Encodes the envelope of the already-encoded message inner (len bytes) for
 * the session s of agent id, going dir, on channel ch with number seq, into
 * a new buffer (*buf, *buf_len; free with free()). Returns HERD_OK;
 * HERD_EINVAL when s has no key or ch is out of range; HERD_ENOMEM;
 * HERD_EINTERNAL when the MAC cannot be made.
 */
int seal_bytes(const session *s, session_dir dir, const char *id, uint32_t ch, uint64_t seq,
               const char *inner, size_t len, char **buf, size_t *buf_len);

/* The same for a message m, encoded first with wire_encode. */
int seal_msg(const session *s, session_dir dir, const char *id, uint32_t ch, uint64_t seq,
             const wire_msg *m, char **buf, size_t *buf_len);

/*
 * Checks the envelope env against session s for direction dir (its channel
 * and number are env's; the caller decides whether they are the ones it
 * expects) and decodes the inner message into *m (wire_msg_fini it).
 * Returns HERD_OK; HERD_EAUTH when the MAC does not verify or s has no key;
 * HERD_EPROTO when the inner bytes are not a message, or are an envelope
 * themselves; HERD_EVERSION or HERD_ENOMEM from decoding. On error *m holds
 * nothing to free.
 */
int seal_open(const session *s, session_dir dir, const wire_sealed *env, wire_msg *m);

#endif
