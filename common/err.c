/* Descriptions for herd_err codes. */
#include "common/err.h"

const char *herd_strerror(int err)
{
	switch ((herd_err)err) {
	case HERD_OK: return "success";
	case HERD_ENOMEM: return "out of memory";
	case HERD_EINVAL: return "invalid argument";
	case HERD_EPROTO: return "malformed message";
	case HERD_EVERSION: return "incompatible protocol version";
	case HERD_EIO: return "I/O error";
	case HERD_ETIMEDOUT: return "timed out";
	case HERD_ECLOSED: return "closed";
	case HERD_ENOTFOUND: return "not found";
	case HERD_EPLAN: return "invalid plan";
	case HERD_ESTORE: return "results store error";
	case HERD_ENET: return "network transport error";
	case HERD_EINTERNAL: return "internal error";
	case HERD_EAUTH: return "authentication failed";
	case HERD_EREFUSED: return "refused by policy";
	}
	return "unknown error";
}
