/* Session envelopes (see seal.h): wire_encode/wire_decode around a MAC. */
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "common/err.h"
#include "common/hex.h"
#include "proto/seal.h"

int seal_bytes(const session *s, session_dir dir, const char *id, uint32_t ch, uint64_t seq,
               const char *inner, size_t len, char **buf, size_t *buf_len)
{
	uint8_t mac[SESSION_MAC_LEN];
	char mac_hex[2 * SESSION_MAC_LEN + 1];
	int rv;

	if (s == NULL || !s->keyed || ch >= SESSION_NCH || id == NULL)
		return HERD_EINVAL;
	if ((rv = session_mac(s, dir, ch, seq, inner, len, mac)) != HERD_OK)
		return rv;
	hex_encode(mac, sizeof(mac), mac_hex);
	wire_msg env = { .type = WIRE_SEALED };
	env.u.sealed.agent_id = (char *)id;
	env.u.sealed.ch = ch;
	env.u.sealed.seq = seq;
	env.u.sealed.mac = mac_hex;
	env.u.sealed.inner.data = (char *)inner;
	env.u.sealed.inner.len = len;
	rv = wire_encode(&env, buf, buf_len);
	mbedtls_platform_zeroize(mac, sizeof(mac));
	return rv;
}

int seal_msg(const session *s, session_dir dir, const char *id, uint32_t ch, uint64_t seq,
             const wire_msg *m, char **buf, size_t *buf_len)
{
	char *inner;
	size_t len;
	int rv;

	if ((rv = wire_encode(m, &inner, &len)) != HERD_OK)
		return rv;
	rv = seal_bytes(s, dir, id, ch, seq, inner, len, buf, buf_len);
	free(inner);
	return rv;
}

int seal_open(const session *s, session_dir dir, const wire_sealed *env, wire_msg *m)
{
	uint8_t mac[SESSION_MAC_LEN];
	int rv;

	memset(m, 0, sizeof(*m));
	if (env == NULL || env->mac == NULL || hex_decode(env->mac, mac, sizeof(mac)) != 0)
		return HERD_EAUTH;
	rv = session_check(s, dir, env->ch, env->seq, env->inner.data, env->inner.len, mac, sizeof(mac));
	if (rv != HERD_OK)
		return HERD_EAUTH;
	/* Only after the MAC holds are the inner bytes decoded at all. */
	if ((rv = wire_decode(env->inner.data, env->inner.len, m)) != HERD_OK)
		return rv;
	if (m->type == WIRE_SEALED) {
		wire_msg_fini(m);
		return HERD_EPROTO;
	}
	return HERD_OK;
}
