/* Sessions and their envelopes: both sides derive the same key and only they
 * do; a MAC holds only for the same direction, channel, number and bytes;
 * numbers never go back; a sealed message opens only in its own session,
 * untouched; claimed ids are quoted for logs. */
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/err.h"
#include "common/session.h"
#include "proto/seal.h"
#include "proto/wire.h"
#include "tests/unit/check.h"

static auth_token token(const char *s)
{
	auth_token t;
	memset(&t, 0, sizeof(t));
	t.len = strlen(s);
	memcpy(t.bytes, s, t.len);
	return t;
}

static const uint8_t na[AUTH_NONCE_LEN] = { 1, 2, 3 }, nc[AUTH_NONCE_LEN] = { 9, 8, 7 };

static void test_keys(void)
{
	auth_token t = token("0123456789abcdef-token"), u = token("0123456789abcdef-other");
	session a, b, x;
	uint8_t proof[AUTH_MAC_LEN];

	CHECK_EQ_INT(session_start(&a, &t, na, nc, "agent-1"), HERD_OK);
	CHECK_EQ_INT(session_start(&b, &t, na, nc, "agent-1"), HERD_OK);
	CHECK(a.keyed && b.keyed);
	CHECK(memcmp(a.key, b.key, SESSION_KEY_LEN) == 0);
	/* Any other token, nonce order or id gives another key. */
	CHECK_EQ_INT(session_start(&x, &u, na, nc, "agent-1"), HERD_OK);
	CHECK(memcmp(a.key, x.key, SESSION_KEY_LEN) != 0);
	CHECK_EQ_INT(session_start(&x, &t, nc, na, "agent-1"), HERD_OK);
	CHECK(memcmp(a.key, x.key, SESSION_KEY_LEN) != 0);
	CHECK_EQ_INT(session_start(&x, &t, na, nc, "agent-2"), HERD_OK);
	CHECK(memcmp(a.key, x.key, SESSION_KEY_LEN) != 0);
	/* The key is none of the proofs that cross the wire. */
	CHECK_EQ_INT(auth_proof(&t, "controller", na, nc, "agent-1", proof), HERD_OK);
	CHECK(memcmp(a.key, proof, SESSION_KEY_LEN) != 0);
	CHECK_EQ_INT(auth_proof(&t, "agent", nc, na, "agent-1", proof), HERD_OK);
	CHECK(memcmp(a.key, proof, SESSION_KEY_LEN) != 0);
	/* A token-less start fails and leaves no key. */
	auth_token empty = { .len = 0 };
	CHECK(session_start(&x, &empty, na, nc, "agent-1") != HERD_OK);
	CHECK(!x.keyed);
	session_clear(&a);
	CHECK(!a.keyed);
	for (size_t i = 0; i < SESSION_KEY_LEN; i++)
		CHECK_EQ_INT(a.key[i], 0);
	session_clear(&b);
}

static void test_macs(void)
{
	auth_token t = token("0123456789abcdef-token");
	session s, other, none;
	uint8_t mac[SESSION_MAC_LEN];
	const char body[] = "the bytes of a message";
	size_t n = sizeof(body) - 1;

	memset(&none, 0, sizeof(none));
	session_start(&s, &t, na, nc, "a");
	session_start(&other, &t, na, nc, "b");
	CHECK_EQ_INT(session_mac(&s, SESSION_TO_AGENT, SESSION_CH_CMD, 7, body, n, mac), HERD_OK);
	CHECK_EQ_INT(session_check(&s, SESSION_TO_AGENT, SESSION_CH_CMD, 7, body, n, mac, sizeof(mac)), HERD_OK);
	/* Another direction, channel, number, length, byte or session: refused. */
	CHECK_EQ_INT(session_check(&s, SESSION_TO_CONTROLLER, SESSION_CH_CMD, 7, body, n, mac, sizeof(mac)),
	             HERD_EAUTH);
	CHECK_EQ_INT(session_check(&s, SESSION_TO_AGENT, SESSION_CH_MET, 7, body, n, mac, sizeof(mac)), HERD_EAUTH);
	CHECK_EQ_INT(session_check(&s, SESSION_TO_AGENT, SESSION_CH_CMD, 8, body, n, mac, sizeof(mac)), HERD_EAUTH);
	CHECK_EQ_INT(session_check(&s, SESSION_TO_AGENT, SESSION_CH_CMD, 7, body, n - 1, mac, sizeof(mac)),
	             HERD_EAUTH);
	char changed[sizeof(body)];
	memcpy(changed, body, sizeof(body));
	changed[3] ^= 1;
	CHECK_EQ_INT(session_check(&s, SESSION_TO_AGENT, SESSION_CH_CMD, 7, changed, n, mac, sizeof(mac)),
	             HERD_EAUTH);
	CHECK_EQ_INT(session_check(&other, SESSION_TO_AGENT, SESSION_CH_CMD, 7, body, n, mac, sizeof(mac)),
	             HERD_EAUTH);
	CHECK_EQ_INT(session_check(&s, SESSION_TO_AGENT, SESSION_CH_CMD, 7, body, n, mac, sizeof(mac) - 1),
	             HERD_EAUTH);
	/* No session: nothing is made and nothing verifies. */
	CHECK_EQ_INT(session_mac(&none, SESSION_TO_AGENT, SESSION_CH_CMD, 7, body, n, mac), HERD_EINVAL);
	CHECK_EQ_INT(session_check(&none, SESSION_TO_AGENT, SESSION_CH_CMD, 7, body, n, mac, sizeof(mac)),
	             HERD_EAUTH);
	/* Numbers go up per channel; a number seen or passed is refused. */
	CHECK_EQ_INT(session_accept(&s, SESSION_CH_CMD, 1), HERD_OK);
	CHECK_EQ_INT(session_accept(&s, SESSION_CH_CMD, 1), HERD_EAUTH);
	CHECK_EQ_INT(session_accept(&s, SESSION_CH_CMD, 0), HERD_EAUTH);
	CHECK_EQ_INT(session_accept(&s, SESSION_CH_CMD, 5), HERD_OK);
	CHECK_EQ_INT(session_accept(&s, SESSION_CH_CMD, 3), HERD_EAUTH);
	CHECK_EQ_INT(session_accept(&s, SESSION_CH_MET, 1), HERD_OK);
	CHECK_EQ_INT(session_accept(&s, SESSION_NCH, 9), HERD_EAUTH);
	CHECK_EQ_INT(session_accept(&none, SESSION_CH_CMD, 9), HERD_EAUTH);
	session_clear(&s);
	session_clear(&other);
}

/* Decodes buf (len bytes) as an envelope into *env; 1 when it is one. */
static int envelope(const char *buf, size_t len, wire_msg *env)
{
	return wire_decode(buf, len, env) == HERD_OK && env->type == WIRE_SEALED;
}

static void test_seal(void)
{
	auth_token t = token("0123456789abcdef-token");
	session s, other;
	char *buf = NULL;
	size_t len = 0;
	wire_msg env, in;

	session_start(&s, &t, na, nc, "agent-1");
	session_start(&other, &t, nc, na, "agent-1");
	wire_msg m = { .type = WIRE_ASSIGN };
	double w[2] = { 1, 3 };
	m.u.assign.run_id = "run-1";
	m.u.assign.plan_file = "p.yaml";
	m.u.assign.plan_text = "name: x";
	m.u.assign.agent_index = 1;
	m.u.assign.nweights = 2;
	m.u.assign.weights = w;
	CHECK_EQ_INT(seal_msg(&s, SESSION_TO_AGENT, "agent-1", SESSION_CH_CMD, 42, &m, &buf, &len), HERD_OK);
	CHECK(envelope(buf, len, &env));
	CHECK_EQ_STR(env.u.sealed.agent_id, "agent-1");
	CHECK_EQ_INT(env.u.sealed.ch, SESSION_CH_CMD);
	CHECK_EQ_INT(env.u.sealed.seq, 42);
	CHECK_EQ_INT(seal_open(&s, SESSION_TO_AGENT, &env.u.sealed, &in), HERD_OK);
	CHECK_EQ_INT(in.type, WIRE_ASSIGN);
	CHECK_EQ_STR(in.u.assign.run_id, "run-1");
	CHECK_EQ_INT(in.u.assign.agent_index, 1);
	wire_msg_fini(&in);
	/* Another session, the other direction: refused, nothing decoded. */
	CHECK_EQ_INT(seal_open(&other, SESSION_TO_AGENT, &env.u.sealed, &in), HERD_EAUTH);
	CHECK_EQ_INT(in.type, 0);
	CHECK_EQ_INT(seal_open(&s, SESSION_TO_CONTROLLER, &env.u.sealed, &in), HERD_EAUTH);
	/* The envelope's number or channel changed (a reply moved to another
	 * request), or one byte of the message inside: refused. */
	env.u.sealed.seq = 43;
	CHECK_EQ_INT(seal_open(&s, SESSION_TO_AGENT, &env.u.sealed, &in), HERD_EAUTH);
	env.u.sealed.seq = 42;
	env.u.sealed.ch = SESSION_CH_MET;
	CHECK_EQ_INT(seal_open(&s, SESSION_TO_AGENT, &env.u.sealed, &in), HERD_EAUTH);
	env.u.sealed.ch = SESSION_CH_CMD;
	for (size_t i = 0; i < env.u.sealed.inner.len; i += 7) {
		env.u.sealed.inner.data[i] ^= 0x20;
		CHECK_EQ_INT(seal_open(&s, SESSION_TO_AGENT, &env.u.sealed, &in), HERD_EAUTH);
		env.u.sealed.inner.data[i] ^= 0x20;
	}
	CHECK_EQ_INT(seal_open(&s, SESSION_TO_AGENT, &env.u.sealed, &in), HERD_OK);
	wire_msg_fini(&in);
	/* A MAC that is not hex of the right length. */
	free(env.u.sealed.mac);
	env.u.sealed.mac = strdup("00ff");
	CHECK_EQ_INT(seal_open(&s, SESSION_TO_AGENT, &env.u.sealed, &in), HERD_EAUTH);
	wire_msg_fini(&env);

	/* An envelope inside an envelope is refused even with a good MAC. */
	char *buf2 = NULL;
	size_t len2 = 0;
	CHECK_EQ_INT(seal_bytes(&s, SESSION_TO_AGENT, "agent-1", SESSION_CH_CMD, 1, buf, len, &buf2, &len2), HERD_OK);
	CHECK(envelope(buf2, len2, &env));
	CHECK_EQ_INT(seal_open(&s, SESSION_TO_AGENT, &env.u.sealed, &in), HERD_EPROTO);
	wire_msg_fini(&env);
	free(buf2);
	free(buf);

	/* Bytes that verify but are no message: a protocol error. */
	CHECK_EQ_INT(seal_bytes(&s, SESSION_TO_CONTROLLER, "agent-1", SESSION_CH_MET, 3, "\xc1", 1, &buf, &len), HERD_OK);
	CHECK(envelope(buf, len, &env));
	CHECK_EQ_INT(seal_open(&s, SESSION_TO_CONTROLLER, &env.u.sealed, &in), HERD_EPROTO);
	wire_msg_fini(&env);
	free(buf);

	/* No session, or a channel that does not exist: nothing is sealed. */
	session none;
	memset(&none, 0, sizeof(none));
	CHECK_EQ_INT(seal_msg(&none, SESSION_TO_AGENT, "agent-1", SESSION_CH_CMD, 1, &m, &buf, &len), HERD_EINVAL);
	CHECK_EQ_INT(seal_msg(&s, SESSION_TO_AGENT, "agent-1", SESSION_NCH, 1, &m, &buf, &len), HERD_EINVAL);
	session_clear(&s);
	session_clear(&other);
}

static void test_quote(void)
{
	char out[AUTH_QUOTED_MAX];
	auth_quote("real-1", out, sizeof(out));
	CHECK_EQ_STR(out, "\"real-1\"");
	auth_quote("a\"b\\c\n\x1b[2J\x7f\xc3\xa9", out, sizeof(out));
	CHECK_EQ_STR(out, "\"a\\x22b\\x5cc\\x0a\\x1b[2J\\x7f\\xc3\\xa9\"");
	auth_quote(NULL, out, sizeof(out));
	CHECK_EQ_STR(out, "\"\"");
	/* At most 64 bytes of the id, then "...". */
	char longid[200];
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	auth_quote(longid, out, sizeof(out));
	CHECK_EQ_INT(strlen(out), 64 + 2 + 3);
	CHECK(strcmp(out + 66, "...") == 0);
	/* 64 bytes that all need escaping fit AUTH_QUOTED_MAX exactly. */
	memset(longid, '\n', sizeof(longid) - 1);
	auth_quote(longid, out, sizeof(out));
	CHECK_EQ_INT(strlen(out), 64 * 4 + 2 + 3);
	CHECK_EQ_INT(strlen(out) + 1, AUTH_QUOTED_MAX);
	/* A small buffer holds a shorter, still well-formed quote. */
	char small[12];
	auth_quote("abcdefghijklmnop", small, sizeof(small));
	CHECK_EQ_STR(small, "\"abcdef\"...");
}

int main(void)
{
	test_keys();
	test_macs();
	test_seal();
	test_quote();
	return check_done();
}
