/* Token authentication: HMAC-SHA256 against RFC 4231, proofs that verify only
 * with the same token, role, nonce order, id and bytes, fresh nonces, and the
 * token file rules (newline, empty, short, long, missing, permissions). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/err.h"
#include "tests/unit/check.h"

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

static void test_rfc4231(void)
{
	uint8_t mac[32];
	char h[65];

	/* Test case 2: a key shorter than the block. */
	const char *d2 = "what do ya want for nothing?";
	CHECK_EQ_INT(auth_hmac_sha256((const uint8_t *)"Jefe", 4, (const uint8_t *)d2, strlen(d2), mac),
	             HERD_OK);
	hex(mac, 32, h);
	CHECK_EQ_STR(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

	/* Test case 1: 20 bytes of 0x0b, "Hi There". */
	uint8_t k1[20];
	memset(k1, 0x0b, sizeof(k1));
	CHECK_EQ_INT(auth_hmac_sha256(k1, sizeof(k1), (const uint8_t *)"Hi There", 8, mac), HERD_OK);
	hex(mac, 32, h);
	CHECK_EQ_STR(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

	/* Test case 6: a 131-byte key, longer than the block, which HMAC hashes first. */
	uint8_t k6[131];
	memset(k6, 0xaa, sizeof(k6));
	const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
	CHECK_EQ_INT(auth_hmac_sha256(k6, sizeof(k6), (const uint8_t *)d6, strlen(d6), mac), HERD_OK);
	hex(mac, 32, h);
	CHECK_EQ_STR(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

	CHECK_EQ_INT(auth_hmac_sha256(NULL, 4, (const uint8_t *)"x", 1, mac), HERD_EINVAL);
}

static void make_token(auth_token *t, const char *s)
{
	memset(t, 0, sizeof(*t));
	t->len = strlen(s);
	memcpy(t->bytes, s, t->len);
}

static void test_proofs(void)
{
	auth_token tok, other;
	uint8_t na[AUTH_NONCE_LEN], nb[AUTH_NONCE_LEN], mac[AUTH_MAC_LEN], mac2[AUTH_MAC_LEN];
	const char *id = "agent-7f3a";

	make_token(&tok, "correct horse battery staple");
	make_token(&other, "correct horse battery stapler");
	CHECK_EQ_INT(auth_nonce(na), HERD_OK);
	CHECK_EQ_INT(auth_nonce(nb), HERD_OK);

	/* The controller's proof verifies with the same inputs. */
	CHECK_EQ_INT(auth_proof(&tok, "controller", na, nb, id, mac), HERD_OK);
	CHECK_EQ_INT(auth_verify(&tok, "controller", na, nb, id, mac, sizeof(mac)), HERD_OK);
	/* It is deterministic: the other side computes the same bytes. */
	CHECK_EQ_INT(auth_proof(&tok, "controller", na, nb, id, mac2), HERD_OK);
	CHECK(memcmp(mac, mac2, sizeof(mac)) == 0);

	/* A peer with another token fails. */
	CHECK_EQ_INT(auth_verify(&other, "controller", na, nb, id, mac, sizeof(mac)), HERD_EINVAL);
	/* Reflection: the controller's proof is not an agent's proof, in either nonce order. */
	CHECK_EQ_INT(auth_verify(&tok, "agent", na, nb, id, mac, sizeof(mac)), HERD_EINVAL);
	CHECK_EQ_INT(auth_verify(&tok, "agent", nb, na, id, mac, sizeof(mac)), HERD_EINVAL);
	/* Swapped nonces. */
	CHECK_EQ_INT(auth_verify(&tok, "controller", nb, na, id, mac, sizeof(mac)), HERD_EINVAL);
	/* A different nonce (replay against a fresh challenge). */
	uint8_t nc[AUTH_NONCE_LEN];
	CHECK_EQ_INT(auth_nonce(nc), HERD_OK);
	CHECK_EQ_INT(auth_verify(&tok, "controller", na, nc, id, mac, sizeof(mac)), HERD_EINVAL);
	/* A different id, also one that only extends the real one. */
	CHECK_EQ_INT(auth_verify(&tok, "controller", na, nb, "agent-7f3b", mac, sizeof(mac)),
	             HERD_EINVAL);
	CHECK_EQ_INT(auth_verify(&tok, "controller", na, nb, "agent-7f3a0", mac, sizeof(mac)),
	             HERD_EINVAL);
	CHECK_EQ_INT(auth_verify(&tok, "controller", na, nb, "", mac, sizeof(mac)), HERD_EINVAL);

	/* Every single flipped bit, in the first, middle and last byte, is refused. */
	size_t bytes[] = { 0, AUTH_MAC_LEN / 2, AUTH_MAC_LEN - 1 };
	for (size_t i = 0; i < 3; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(mac2, mac, sizeof(mac));
			mac2[bytes[i]] ^= (uint8_t)(1u << bit);
			CHECK_EQ_INT(auth_verify(&tok, "controller", na, nb, id, mac2, sizeof(mac2)),
			             HERD_EINVAL);
		}
	}
	/* A flipped bit in a nonce or the token changes the proof too. */
	na[5] ^= 0x10;
	CHECK_EQ_INT(auth_verify(&tok, "controller", na, nb, id, mac, sizeof(mac)), HERD_EINVAL);
	na[5] ^= 0x10;
	tok.bytes[0] ^= 0x01;
	CHECK_EQ_INT(auth_verify(&tok, "controller", na, nb, id, mac, sizeof(mac)), HERD_EINVAL);
	tok.bytes[0] ^= 0x01;
	CHECK_EQ_INT(auth_verify(&tok, "controller", na, nb, id, mac, sizeof(mac)), HERD_OK);

	/* Short, long and missing MACs are refused, even when the prefix is right. */
	CHECK_EQ_INT(auth_verify(&tok, "controller", na, nb, id, mac, AUTH_MAC_LEN - 1), HERD_EINVAL);
	CHECK_EQ_INT(auth_verify(&tok, "controller", na, nb, id, mac, 0), HERD_EINVAL);
	uint8_t longer[AUTH_MAC_LEN + 1];
	memcpy(longer, mac, sizeof(mac));
	longer[AUTH_MAC_LEN] = 0;
	CHECK_EQ_INT(auth_verify(&tok, "controller", na, nb, id, longer, sizeof(longer)), HERD_EINVAL);
	CHECK_EQ_INT(auth_verify(&tok, "controller", na, nb, id, NULL, AUTH_MAC_LEN), HERD_EINVAL);

	/* The full handshake of auth.h, as both sides would run it. */
	uint8_t agent_nonce[AUTH_NONCE_LEN], ctl_nonce[AUTH_NONCE_LEN];
	uint8_t proof_c[AUTH_MAC_LEN], proof_a[AUTH_MAC_LEN];
	CHECK_EQ_INT(auth_nonce(agent_nonce), HERD_OK);
	CHECK_EQ_INT(auth_nonce(ctl_nonce), HERD_OK);
	CHECK_EQ_INT(auth_proof(&tok, "controller", agent_nonce, ctl_nonce, id, proof_c), HERD_OK);
	CHECK_EQ_INT(auth_verify(&tok, "controller", agent_nonce, ctl_nonce, id, proof_c, AUTH_MAC_LEN),
	             HERD_OK);
	CHECK_EQ_INT(auth_proof(&tok, "agent", ctl_nonce, agent_nonce, id, proof_a), HERD_OK);
	CHECK_EQ_INT(auth_verify(&tok, "agent", ctl_nonce, agent_nonce, id, proof_a, AUTH_MAC_LEN),
	             HERD_OK);
	CHECK(memcmp(proof_a, proof_c, AUTH_MAC_LEN) != 0);
	/* An agent that echoes proof_c as its own proof is refused. */
	CHECK_EQ_INT(auth_verify(&tok, "agent", ctl_nonce, agent_nonce, id, proof_c, AUTH_MAC_LEN),
	             HERD_EINVAL);

	/* Bad arguments are refused and leave no stale proof behind. */
	memset(mac2, 0xff, sizeof(mac2));
	CHECK_EQ_INT(auth_proof(&tok, "admin", na, nb, id, mac2), HERD_EINVAL);
	CHECK(mac2[0] == 0 && mac2[AUTH_MAC_LEN - 1] == 0);
	CHECK_EQ_INT(auth_proof(&tok, "Agent", na, nb, id, mac2), HERD_EINVAL);
	CHECK_EQ_INT(auth_proof(&tok, NULL, na, nb, id, mac2), HERD_EINVAL);
	CHECK_EQ_INT(auth_proof(&tok, "agent", NULL, nb, id, mac2), HERD_EINVAL);
	CHECK_EQ_INT(auth_proof(&tok, "agent", na, nb, NULL, mac2), HERD_EINVAL);
	CHECK_EQ_INT(auth_proof(NULL, "agent", na, nb, id, mac2), HERD_EINVAL);
	auth_token empty;
	memset(&empty, 0, sizeof(empty));
	CHECK_EQ_INT(auth_proof(&empty, "agent", na, nb, id, mac2), HERD_EINVAL);
	CHECK_EQ_INT(auth_verify(&tok, "admin", na, nb, id, mac, sizeof(mac)), HERD_EINVAL);

	auth_token_wipe(&tok);
	CHECK_EQ_INT(tok.len, 0);
	CHECK(tok.bytes[0] == 0 && tok.bytes[5] == 0);
	auth_token_wipe(&other);
}

static void test_nonces(void)
{
	uint8_t a[AUTH_NONCE_LEN], b[AUTH_NONCE_LEN], zero[AUTH_NONCE_LEN];

	memset(zero, 0, sizeof(zero));
	CHECK_EQ_INT(auth_nonce(a), HERD_OK);
	CHECK_EQ_INT(auth_nonce(b), HERD_OK);
	CHECK(memcmp(a, b, AUTH_NONCE_LEN) != 0);
	CHECK(memcmp(a, zero, AUTH_NONCE_LEN) != 0);
	/* Many draws: no repeated first 8 bytes (a collision is ~2^-58 likely). */
	static uint8_t many[256][AUTH_NONCE_LEN];
	int dup = 0;
	for (int i = 0; i < 256; i++) {
		CHECK_EQ_INT(auth_nonce(many[i]), HERD_OK);
		for (int j = 0; j < i; j++)
			dup += memcmp(many[i], many[j], 8) == 0;
	}
	CHECK_EQ_INT(dup, 0);
}

/* Writes len bytes of s to dir/name with mode; returns the path (static). */
static const char *put_file(const char *dir, const char *name, const void *s, size_t len,
                            mode_t mode)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	/* A fresh file each time: an earlier one may be read-only. */
	unlink(path);
	FILE *f = fopen(path, "wb");
	if (f == NULL) {
		perror(path);
		return path;
	}
	if (len > 0 && fwrite(s, 1, len, f) != len)
		perror(path);
	fclose(f);
	/* chmod, not the umask: the test must not depend on the caller's umask. */
	if (chmod(path, mode) != 0)
		perror(path);
	return path;
}

static void test_token_file(const char *dir)
{
	auth_token t;
	char err[512];
	const char *secret = "s3cr3t-t0ken-0123456789";
	const char *p;

	/* One trailing newline is stripped. */
	p = put_file(dir, "nl", "s3cr3t-t0ken-0123456789\n", 24, 0600);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(t.len, strlen(secret));
	CHECK(memcmp(t.bytes, secret, t.len) == 0);
	CHECK(!t.loose_perms);

	/* And a Windows line end. */
	p = put_file(dir, "crlf", "s3cr3t-t0ken-0123456789\r\n", 25, 0600);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(t.len, strlen(secret));
	CHECK(memcmp(t.bytes, secret, t.len) == 0);

	/* No newline at all. */
	p = put_file(dir, "bare", secret, strlen(secret), 0600);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(t.len, strlen(secret));

	/* Only ONE newline: a second one is part of the token. */
	p = put_file(dir, "two", "s3cr3t-t0ken-0123456789\n\n", 25, 0600);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(t.len, strlen(secret) + 1);
	CHECK(t.bytes[t.len - 1] == '\n');

	/* The same token from two files gives the same proofs. */
	auth_token t2;
	uint8_t n[AUTH_NONCE_LEN] = { 1 }, m1[AUTH_MAC_LEN], m2[AUTH_MAC_LEN];
	p = put_file(dir, "nl", "s3cr3t-t0ken-0123456789\n", 24, 0600);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_OK);
	p = put_file(dir, "bare", secret, strlen(secret), 0600);
	CHECK_EQ_INT(auth_token_load(p, &t2, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(auth_proof(&t, "agent", n, n, "a", m1), HERD_OK);
	CHECK_EQ_INT(auth_verify(&t2, "agent", n, n, "a", m1, sizeof(m1)), HERD_OK);
	CHECK_EQ_INT(auth_proof(&t2, "agent", n, n, "a", m2), HERD_OK);
	CHECK(memcmp(m1, m2, sizeof(m1)) == 0);
	auth_token_wipe(&t2);

	/* Empty, and a newline alone, are refused. */
	p = put_file(dir, "empty", "", 0, 0600);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, p);
	CHECK_CONTAINS(err, "empty");
	CHECK_EQ_INT(t.len, 0);
	p = put_file(dir, "onlynl", "\n", 1, 0600);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "empty");
	p = put_file(dir, "onlycrlf", "\r\n", 2, 0600);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "empty");

	/* Shorter than 16 bytes is refused with a message saying so, without the token. */
	p = put_file(dir, "short", "hunter2secret\n", 14, 0600);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, p);
	CHECK_CONTAINS(err, "shorter than 16 bytes");
	CHECK(strstr(err, "hunter2") == NULL);
	CHECK_EQ_INT(t.len, 0);
	/* Exactly 16 is enough (the newline does not count). */
	p = put_file(dir, "sixteen", "0123456789abcdef\n", 17, 0600);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(t.len, 16);
	p = put_file(dir, "fifteen", "0123456789abcde\n", 16, 0600);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_EINVAL);

	/* Up to 4096 bytes (plus a line end) are taken; more is refused. */
	static char big[AUTH_TOKEN_MAX + 8];
	memset(big, 'k', sizeof(big));
	big[AUTH_TOKEN_MAX] = '\r';
	big[AUTH_TOKEN_MAX + 1] = '\n';
	p = put_file(dir, "max", big, AUTH_TOKEN_MAX + 2, 0600);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(t.len, AUTH_TOKEN_MAX);
	memset(big, 'k', sizeof(big));
	p = put_file(dir, "over", big, AUTH_TOKEN_MAX + 1, 0600);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "longer than");
	CHECK(strstr(err, "kkkk") == NULL);
	p = put_file(dir, "huge", big, sizeof(big), 0600);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "longer than");

	/* A missing file: the error names the path. */
	char missing[512];
	snprintf(missing, sizeof(missing), "%s/no-such-token", dir);
	CHECK_EQ_INT(auth_token_load(missing, &t, err, sizeof(err)), HERD_ENOTFOUND);
	CHECK_CONTAINS(err, missing);
	CHECK_CONTAINS(err, "No such file");

	/* A directory is not a token file. */
	CHECK_EQ_INT(auth_token_load(dir, &t, err, sizeof(err)), HERD_EIO);
	CHECK_CONTAINS(err, "not a regular file");

	/* No err buffer is fine. */
	CHECK_EQ_INT(auth_token_load(missing, &t, NULL, 0), HERD_ENOTFOUND);

	/* Permissions: 0644 is loose (others can read it), 0640 too, 0600 and 0400 are not. */
	p = put_file(dir, "perm", secret, strlen(secret), 0644);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_OK);
	CHECK(t.loose_perms);
	p = put_file(dir, "perm", secret, strlen(secret), 0640);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_OK);
	CHECK(t.loose_perms);
	p = put_file(dir, "perm", secret, strlen(secret), 0600);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_OK);
	CHECK(!t.loose_perms);
	p = put_file(dir, "perm", secret, strlen(secret), 0400);
	CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_OK);
	CHECK(!t.loose_perms);
	/* Writable by group or others: refused, whatever the rest of the mode. */
	static const mode_t writable[] = { 0620, 0602, 0666, 0622, 0660 };
	for (size_t i = 0; i < sizeof(writable) / sizeof(writable[0]); i++) {
		p = put_file(dir, "perm", secret, strlen(secret), writable[i]);
		CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_EIO);
		CHECK_CONTAINS(err, p);
		CHECK_CONTAINS(err, "writable by group or others");
		CHECK_EQ_INT((int)t.len, 0);
	}
	/* A symbolic link is refused, even to a good token file (0600). */
	p = put_file(dir, "perm", secret, strlen(secret), 0600);
	char link_path[512];
	snprintf(link_path, sizeof(link_path), "%s/token-link", dir);
	unlink(link_path);
	CHECK(symlink(p, link_path) == 0);
	CHECK_EQ_INT(auth_token_load(link_path, &t, err, sizeof(err)), HERD_EIO);
	CHECK_CONTAINS(err, link_path);
	CHECK_CONTAINS(err, "symbolic link");
	CHECK_EQ_INT((int)t.len, 0);
	unlink(link_path);
	/* Unreadable: only meaningful when not root (root reads anything). */
	if (geteuid() != 0) {
		p = put_file(dir, "perm", secret, strlen(secret), 0000);
		CHECK_EQ_INT(auth_token_load(p, &t, err, sizeof(err)), HERD_EIO);
		CHECK_CONTAINS(err, p);
		CHECK_CONTAINS(err, "Permission denied");
	}
	auth_token_wipe(&t);
}

static void cleanup(const char *dir)
{
	static const char *names[] = {
		"nl", "crlf", "bare", "two", "empty", "onlynl", "onlycrlf",
		"short", "sixteen", "fifteen", "max", "over", "huge", "perm",
	};
	char path[512];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

int main(void)
{
	char dir[] = "/tmp/herd-auth-test-XXXXXX";

	test_rfc4231();
	test_proofs();
	test_nonces();
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		CHECK(0);
		return check_done();
	}
	test_token_file(dir);
	cleanup(dir);
	return check_done();
}
