/*
 * herd's one error type. Every function that can fail returns a herd_err;
 * results travel through out-parameters. Codes from libraries (errno, CURLcode,
 * SQLite, NNG) are translated where they enter our code.
 */
#ifndef HERD_COMMON_ERR_H
#define HERD_COMMON_ERR_H

typedef enum herd_err {
	HERD_OK = 0,
	HERD_ENOMEM,    /* out of memory */
	HERD_EINVAL,    /* invalid argument or input */
	HERD_EPROTO,    /* malformed or hostile message */
	HERD_EVERSION,  /* incompatible protocol version */
	HERD_EIO,       /* I/O error (file, socket) */
	HERD_ETIMEDOUT, /* a wait ran out */
	HERD_ECLOSED,   /* the peer or object is gone */
	HERD_ENOTFOUND, /* no such thing */
	HERD_EPLAN,     /* invalid plan */
	HERD_ESTORE,    /* results store (SQLite) error */
	HERD_ENET,      /* transport (NNG) error */
	HERD_EINTERNAL, /* a bug: should not happen */
	HERD_EAUTH,     /* authentication failed or missing */
	HERD_EREFUSED,  /* refused by the agent's policy: a target outside --allow-target, a scheme
	                 * other than http(s) */
} herd_err;

/* Returns a static, human-readable description of err. Never NULL. */
const char *herd_strerror(int err);

#endif
