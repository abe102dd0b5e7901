/*
 * Shared-token authentication: token files, nonces from getrandom(2), and
 * HMAC-SHA256 proofs through mbedTLS's md API, compared in constant time.
 * Every buffer that held the token or a proof is zeroed before it goes out of
 * scope; error messages name the file, never its content.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/constant_time.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "common/auth.h"
#include "common/err.h"

int auth_nonce(uint8_t out[AUTH_NONCE_LEN])
{
	size_t got = 0;

	while (got < AUTH_NONCE_LEN) {
		ssize_t n = getrandom(out + got, AUTH_NONCE_LEN - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			mbedtls_platform_zeroize(out, AUTH_NONCE_LEN);
			return HERD_EIO;
		}
		got += (size_t)n;
	}
	return HERD_OK;
}

void auth_token_wipe(auth_token *t)
{
	if (t != NULL)
		mbedtls_platform_zeroize(t, sizeof(*t));
}

/* Every message names the file and says what is wrong, never what is in it. */
static void set_err(char *err, size_t errlen, const char *path, const char *why)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "token file %s: %s", path, why);
}

int auth_token_load(const char *path, auth_token *out, char *err, size_t errlen)
{
	/* Room for the largest token, a "\r\n", and one byte more to see that a
	 * file is too long without reading all of it. */
	uint8_t buf[AUTH_TOKEN_MAX + 3];
	size_t len = 0;
	struct stat st;
	int fd, rv;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL || path == NULL) {
		set_err(err, errlen, path ? path : "(null)", "invalid argument");
		return HERD_EINVAL;
	}
	auth_token_wipe(out);

	/* O_NONBLOCK: opening a FIFO must not hang; it is refused below anyway.
	 * O_NOFOLLOW: a symbolic link is refused rather than followed, so the
	 * file checked below is the file named, not one someone pointed it at. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0) {
		int e = errno;
		set_err(err, errlen, path,
		        e == ELOOP ? "is a symbolic link: refused (name the file itself)" : strerror(e));
		return e == ENOENT ? HERD_ENOTFOUND : HERD_EIO;
	}
	if (fstat(fd, &st) != 0) {
		set_err(err, errlen, path, strerror(errno));
		close(fd);
		return HERD_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, path, "not a regular file");
		close(fd);
		return HERD_EIO;
	}
	/* Whoever may write the token may also replace it with one they know:
	 * the permissions of the opened file (not of the path) decide. */
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		set_err(err, errlen, path, "is writable by group or others: refused (chmod 600 it)");
		close(fd);
		return HERD_EIO;
	}

	while (len < sizeof(buf)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			set_err(err, errlen, path, strerror(errno));
			rv = HERD_EIO;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == sizeof(buf)) {
		set_err(err, errlen, path,
		        "the token is longer than the maximum of 4096 bytes");
		rv = HERD_EINVAL;
		goto fail;
	}

	/* Editors and `echo` end the file with a newline that is not part of the
	 * token; strip exactly one, so a token may still end in whitespace. */
	if (len > 0 && buf[len - 1] == '\n') {
		len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
	}
	if (len == 0) {
		set_err(err, errlen, path, "the token is empty");
		rv = HERD_EINVAL;
		goto fail;
	}
	if (len < AUTH_TOKEN_MIN) {
		set_err(err, errlen, path,
		        "the token is shorter than 16 bytes (make one with "
		        "`head -c 32 /dev/urandom | base64`)");
		rv = HERD_EINVAL;
		goto fail;
	}
	if (len > AUTH_TOKEN_MAX) {
		set_err(err, errlen, path,
		        "the token is longer than the maximum of 4096 bytes");
		rv = HERD_EINVAL;
		goto fail;
	}

	memcpy(out->bytes, buf, len);
	out->len = len;
	out->loose_perms = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
	mbedtls_platform_zeroize(buf, sizeof(buf));
	close(fd);
	return HERD_OK;

fail:
	mbedtls_platform_zeroize(buf, sizeof(buf));
	close(fd);
	return rv;
}

int auth_hmac_sha256(const uint8_t *key, size_t klen, const uint8_t *msg, size_t mlen,
                     uint8_t out[32])
{
	const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

	if (out == NULL || (key == NULL && klen > 0) || (msg == NULL && mlen > 0))
		return HERD_EINVAL;
	if (info == NULL || mbedtls_md_get_size(info) != 32)
		return HERD_EINTERNAL;
	if (mbedtls_md_hmac(info, key, klen, msg, mlen, out) != 0) {
		mbedtls_platform_zeroize(out, 32);
		return HERD_EINTERNAL;
	}
	return HERD_OK;
}

int auth_proof(const auth_token *t, const char *role, const uint8_t *nonce_a,
               const uint8_t *nonce_b, const char *id, uint8_t out[AUTH_MAC_LEN])
{
	static const unsigned char zero = 0;
	const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t ctx;
	int rv = HERD_OK;

	if (out == NULL)
		return HERD_EINVAL;
	memset(out, 0, AUTH_MAC_LEN);
	if (t == NULL || t->len == 0 || t->len > AUTH_TOKEN_MAX || role == NULL ||
	    nonce_a == NULL || nonce_b == NULL || id == NULL)
		return HERD_EINVAL;
	/* Only the two roles and the session key (common/session.h) exist;
	 * anything else is a caller's bug, and refusing it keeps the domain
	 * separation meaningful. */
	if (strcmp(role, "agent") != 0 && strcmp(role, "controller") != 0 && strcmp(role, "session") != 0)
		return HERD_EINVAL;
	if (info == NULL || mbedtls_md_get_size(info) != AUTH_MAC_LEN)
		return HERD_EINTERNAL;

	/* Streamed into the HMAC rather than concatenated, so no copy of the
	 * message or key is left in our memory. The encoding is unambiguous:
	 * role and id cannot contain 0x00 and the nonces have a fixed length. */
	mbedtls_md_init(&ctx);
	if (mbedtls_md_setup(&ctx, info, 1) != 0 ||
	    mbedtls_md_hmac_starts(&ctx, t->bytes, t->len) != 0 ||
	    mbedtls_md_hmac_update(&ctx, (const unsigned char *)role, strlen(role)) != 0 ||
	    mbedtls_md_hmac_update(&ctx, &zero, 1) != 0 ||
	    mbedtls_md_hmac_update(&ctx, nonce_a, AUTH_NONCE_LEN) != 0 ||
	    mbedtls_md_hmac_update(&ctx, nonce_b, AUTH_NONCE_LEN) != 0 ||
	    mbedtls_md_hmac_update(&ctx, (const unsigned char *)id, strlen(id)) != 0 ||
	    mbedtls_md_hmac_update(&ctx, &zero, 1) != 0 ||
	    mbedtls_md_hmac_finish(&ctx, out) != 0) {
		mbedtls_platform_zeroize(out, AUTH_MAC_LEN);
		rv = HERD_EINTERNAL;
	}
	/* mbedtls_md_free zeroes the context, which holds the keyed pads. */
	mbedtls_md_free(&ctx);
	return rv;
}

int auth_verify(const auth_token *t, const char *role, const uint8_t *nonce_a,
                const uint8_t *nonce_b, const char *id, const uint8_t *mac, size_t mac_len)
{
	uint8_t want[AUTH_MAC_LEN];
	int rv;

	/* The length is public (it is on the wire), so refusing it early leaks
	 * nothing; the bytes are compared without an early exit. */
	if (mac == NULL || mac_len != AUTH_MAC_LEN)
		return HERD_EINVAL;
	if ((rv = auth_proof(t, role, nonce_a, nonce_b, id, want)) != HERD_OK)
		return rv;
	rv = mbedtls_ct_memcmp(want, mac, AUTH_MAC_LEN) == 0 ? HERD_OK : HERD_EINVAL;
	mbedtls_platform_zeroize(want, sizeof(want));
	return rv;
}

void auth_quote(const char *id, char *out, size_t outlen)
{
	static const char hexd[] = "0123456789abcdef";
	size_t o = 0, i;

	if (out == NULL || outlen == 0)
		return;
	if (id == NULL)
		id = "";
	/* Written only while a whole escape, the closing quote, "..." and the
	 * NUL still fit, so the result is always well formed. */
	if (outlen < 6) {
		out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (i = 0; id[i] != '\0' && i < 64; i++) {
		unsigned char ch = (unsigned char)id[i];
		int plain = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\';
		if (o + (plain ? 1 : 4) + 5 > outlen)
			break;
		if (plain) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hexd[ch >> 4];
			out[o++] = hexd[ch & 15];
		}
	}
	out[o++] = '"';
	if (id[i] != '\0') {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}
