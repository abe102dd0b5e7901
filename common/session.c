/*
 * Session keys and per-message MACs (see session.h), over mbedTLS's md API.
 * Every buffer that held a key or a MAC is zeroed before it goes out of
 * scope.
 */
#include <string.h>

#include <mbedtls/constant_time.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "common/err.h"
#include "common/session.h"

int session_start(session *s, const auth_token *t, const uint8_t *agent_nonce,
                  const uint8_t *controller_nonce, const char *id)
{
	int rv;

	if (s == NULL)
		return HERD_EINVAL;
	session_clear(s);
	if ((rv = auth_proof(t, "session", agent_nonce, controller_nonce, id, s->key)) != HERD_OK) {
		session_clear(s);
		return rv;
	}
	s->keyed = true;
	return HERD_OK;
}

void session_clear(session *s)
{
	if (s != NULL)
		mbedtls_platform_zeroize(s, sizeof(*s));
}

static void put_be(uint8_t *out, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		out[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

int session_mac(const session *s, session_dir dir, uint32_t ch, uint64_t seq, const void *body,
                size_t len, uint8_t out[SESSION_MAC_LEN])
{
	/* The labels differ in their first byte and end in a NUL, so the
	 * encoding (label, fixed-width numbers, then the body) is unambiguous. */
	static const char *const labels[] = { "to controller", "to agent" };
	const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t ctx;
	uint8_t head[12];
	int rv = HERD_OK;

	if (out == NULL)
		return HERD_EINVAL;
	memset(out, 0, SESSION_MAC_LEN);
	if (s == NULL || !s->keyed || (body == NULL && len > 0) ||
	    (dir != SESSION_TO_CONTROLLER && dir != SESSION_TO_AGENT))
		return HERD_EINVAL;
	if (info == NULL || mbedtls_md_get_size(info) != SESSION_MAC_LEN)
		return HERD_EINTERNAL;
	put_be(head, ch, 4);
	put_be(head + 4, seq, 8);
	const char *label = labels[dir];
	mbedtls_md_init(&ctx);
	if (mbedtls_md_setup(&ctx, info, 1) != 0 ||
	    mbedtls_md_hmac_starts(&ctx, s->key, SESSION_KEY_LEN) != 0 ||
	    mbedtls_md_hmac_update(&ctx, (const unsigned char *)label, strlen(label) + 1) != 0 ||
	    mbedtls_md_hmac_update(&ctx, head, sizeof(head)) != 0 ||
	    (len > 0 && mbedtls_md_hmac_update(&ctx, body, len) != 0) ||
	    mbedtls_md_hmac_finish(&ctx, out) != 0) {
		mbedtls_platform_zeroize(out, SESSION_MAC_LEN);
		rv = HERD_EINTERNAL;
	}
	/* mbedtls_md_free zeroes the context, which holds the keyed pads. */
	mbedtls_md_free(&ctx);
	return rv;
}

int session_check(const session *s, session_dir dir, uint32_t ch, uint64_t seq, const void *body,
                  size_t len, const uint8_t *mac, size_t mac_len)
{
	uint8_t want[SESSION_MAC_LEN];
	int rv;

	/* The length is public (it is on the wire); the bytes are compared
	 * without an early exit. */
	if (mac == NULL || mac_len != SESSION_MAC_LEN)
		return HERD_EAUTH;
	if (session_mac(s, dir, ch, seq, body, len, want) != HERD_OK)
		return HERD_EAUTH;
	rv = mbedtls_ct_memcmp(want, mac, SESSION_MAC_LEN) == 0 ? HERD_OK : HERD_EAUTH;
	mbedtls_platform_zeroize(want, sizeof(want));
	return rv;
}

int session_accept(session *s, uint32_t ch, uint64_t seq)
{
	if (s == NULL || !s->keyed || ch >= SESSION_NCH || seq <= s->seq[ch])
		return HERD_EAUTH;
	s->seq[ch] = seq;
	return HERD_OK;
}
