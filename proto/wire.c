/*
 * herd's wire codec: wire messages to msgpack bytes and back (see wire.h).
 * Encoding uses msgpack-c's packer; decoding uses the small bounded reader in
 * this file rather than msgpack-c's unpacker, whose object tree costs about
 * 24 bytes of heap per byte of input, so only what the message holds is
 * allocated. The layout and the checks are described below the includes.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "common/err.h"
#include "proto/wire.h"

/*
 * Layout. A message is a map: "v" (version), "t" (type name) and the type's
 * fields in the tables below, each required unless said otherwise; unknown
 * keys are skipped, a known key given twice is refused. Entries are maps;
 * "hist" may be nil or absent (no histogram) or
 * [total, sum, min, max, [i0, c0, d1, c1, ...]] holding only nonzero buckets,
 * where i0 is the first bucket's index and each d is the distance from the
 * previous index (at least 1). "errs" maps error-kind names to counts, nonzero
 * kinds only; names this version does not know are added to "other", and a
 * name given twice adds up.
 *
 * Decoding. A first pass walks the whole buffer and refuses truncation,
 * trailing bytes, the reserved byte 0xc1, nesting deeper than WIRE_MAX_DEPTH
 * and any container claiming more elements than bytes remain. A second pass
 * reads the fields straight into the message, checking types and ranges.
 * Beyond shape and type it checks what a peer could use to make us misbehave:
 * histogram buckets must add up to the total and agree with min and max,
 * ASSIGN's agent_index must name one of its weights, and weights must be
 * finite and not negative. An integer is accepted where a float is expected.
 * The encoder refuses (HERD_EINVAL) a message the decoder would refuse, so a
 * bug shows where it is made rather than as a dropped message at the peer.
 */

/* Bounds on what one message may hold; a peer asking for more is refused. */
#define WIRE_MAX_DEPTH 32       /* nesting of arrays and maps */
#define WIRE_MAX_ENTRIES 1000000u /* entries in one METRICS */
#define WIRE_MAX_WEIGHTS 100000u  /* weights in one ASSIGN */
#define WIRE_MAX_BLOBS 1024u      /* files or env values in one ASSIGN */
/* A histogram takes about 15 KiB in memory however few bytes it took on the
 * wire, so their number is bounded to keep one message under ~256 MiB. */
#define WIRE_MAX_HISTS 16384u

static const char *const type_names[WIRE__NTYPES] = {
	[WIRE_HELLO] = "HELLO", [WIRE_WELCOME] = "WELCOME", [WIRE_POLL] = "POLL",
	[WIRE_NOP] = "NOP",     [WIRE_ASSIGN] = "ASSIGN",   [WIRE_READY] = "READY",
	[WIRE_METRICS] = "METRICS", [WIRE_ACK] = "ACK",     [WIRE_STOP] = "STOP",
	[WIRE_DONE] = "DONE",   [WIRE_ERROR] = "ERROR",
	[WIRE_CHALLENGE] = "CHALLENGE", [WIRE_AUTH] = "AUTH", [WIRE_TIME] = "TIME",
	[WIRE_SEALED] = "SEALED",
	[WIRE_LOAD] = "LOAD",
};

const char *wire_type_name(int t)
{
	if (t <= 0 || t >= WIRE__NTYPES)
		return "?";
	return type_names[t];
}

/*
 * Field tables. Each message type and the entry are described once, by key,
 * kind and offset; the encoder, the decoder and the fini functions all walk
 * the same tables, so a field cannot be encoded but forgotten when decoded.
 * Offsets of message fields are from the start of the union in wire_msg.
 */
typedef enum fkind {
	F_STR,     /* char *, NULL encodes as "" */
	F_U32,     /* uint32_t */
	F_U64,     /* uint64_t */
	F_I32,     /* int32_t */
	F_I64,     /* int64_t */
	F_F64,     /* double */
	F_WEIGHTS, /* wire_assign's nweights and weights */
	F_BLOBS,   /* a wire_blobs: an array of [name, bytes] */
	F_BYTES,   /* a wire_bytes: msgpack bin */
	F_ENTRIES, /* wire_metrics's nentries and entries */
	F_ERRS,    /* wire_entry's errors */
	F_HIST,    /* wire_entry's h; optional */
} fkind;

typedef struct field {
	const char *key;
	fkind kind;
	size_t off;
	int optional; /* may be left out: it then decodes as empty (F_HIST: NULL) */
} field;

#define FLD(key, kind, type, member) { key, kind, offsetof(type, member), 0 }
/* A field a sender may leave out when it has nothing to say. */
#define OPT(key, kind, type, member) { key, kind, offsetof(type, member), 1 }

static const field hello_fields[] = {
	FLD("agent", F_STR, wire_hello, agent_id),
	FLD("name", F_STR, wire_hello, name),
	FLD("host", F_STR, wire_hello, host),
	FLD("version", F_STR, wire_hello, version),
	FLD("cores", F_U32, wire_hello, cores),
	FLD("pid", F_U32, wire_hello, pid),
	FLD("clock", F_I64, wire_hello, clock_ns),
	FLD("caps", F_STR, wire_hello, caps),
	FLD("nonce", F_STR, wire_hello, nonce),
};

static const field challenge_fields[] = {
	FLD("nonce", F_STR, wire_challenge, nonce),
	FLD("proof", F_STR, wire_challenge, proof),
};

static const field auth_fields[] = {
	FLD("agent", F_STR, wire_auth, agent_id),
	FLD("proof", F_STR, wire_auth, proof),
};

static const field time_fields[] = {
	FLD("agent", F_STR, wire_time, agent_id),
	FLD("t0", F_I64, wire_time, t0),
	FLD("t1", F_I64, wire_time, t1),
};

static const field sealed_fields[] = {
	FLD("agent", F_STR, wire_sealed, agent_id),
	FLD("ch", F_U32, wire_sealed, ch),
	FLD("seq", F_U64, wire_sealed, seq),
	FLD("mac", F_STR, wire_sealed, mac),
	FLD("m", F_BYTES, wire_sealed, inner),
};

static const field load_fields[] = {
	FLD("agent", F_STR, wire_load, agent_id),
	FLD("run", F_STR, wire_load, run_id),
	FLD("scen", F_STR, wire_load, scenario),
	FLD("seq", F_U64, wire_load, seq),
	FLD("kind", F_U32, wire_load, kind),
	FLD("value", F_F64, wire_load, value),
	FLD("status", F_I32, wire_load, status),
};

static const field welcome_fields[] = {
	FLD("clock", F_I64, wire_welcome, clock_ns),
	FLD("hb_ms", F_U32, wire_welcome, heartbeat_ms),
};

static const field poll_fields[] = {
	FLD("agent", F_STR, wire_poll, agent_id),
	FLD("run", F_STR, wire_poll, run_id),
	FLD("cpu", F_F64, wire_poll, cpu_pct),
	FLD("rss_kb", F_U64, wire_poll, rss_kb),
	FLD("offset", F_I64, wire_poll, clock_offset_ns),
	FLD("rtt", F_I64, wire_poll, clock_rtt_ns),
	FLD("started", F_I64, wire_poll, started_ns),
};

static const field assign_fields[] = {
	FLD("run", F_STR, wire_assign, run_id),
	FLD("plan_file", F_STR, wire_assign, plan_file),
	FLD("plan", F_STR, wire_assign, plan_text),
	FLD("index", F_U32, wire_assign, agent_index),
	FLD("weights", F_WEIGHTS, wire_assign, weights),
	FLD("start", F_I64, wire_assign, start_ns),
	FLD("interval_ms", F_U32, wire_assign, interval_ms),
	OPT("files", F_BLOBS, wire_assign, files),
	OPT("env", F_BLOBS, wire_assign, env),
	OPT("max_rate", F_I64, wire_assign, max_rate),
	OPT("max_vus", F_I64, wire_assign, max_vus),
};

static const field ready_fields[] = {
	FLD("agent", F_STR, wire_ready, agent_id),
	FLD("run", F_STR, wire_ready, run_id),
};

static const field metrics_fields[] = {
	FLD("agent", F_STR, wire_metrics, agent_id),
	FLD("run", F_STR, wire_metrics, run_id),
	FLD("seq", F_U64, wire_metrics, seq),
	FLD("interval", F_I64, wire_metrics, interval_ms),
	FLD("entries", F_ENTRIES, wire_metrics, entries),
};

static const field ack_fields[] = {
	FLD("run", F_STR, wire_ack, run_id),
	FLD("seq", F_U64, wire_ack, seq),
};

static const field stop_fields[] = {
	FLD("run", F_STR, wire_stop, run_id),
	FLD("reason", F_STR, wire_stop, reason),
};

static const field done_fields[] = {
	FLD("agent", F_STR, wire_done, agent_id),
	FLD("run", F_STR, wire_done, run_id),
	FLD("last_seq", F_U64, wire_done, last_seq),
	FLD("dropped", F_U64, wire_done, dropped_batches),
	FLD("started", F_I64, wire_done, started_ns),
	FLD("ended", F_I64, wire_done, ended_ns),
};

static const field error_fields[] = {
	FLD("agent", F_STR, wire_error, agent_id),
	FLD("run", F_STR, wire_error, run_id),
	FLD("code", F_I32, wire_error, code),
	FLD("msg", F_STR, wire_error, message),
};

static const field entry_fields[] = {
	FLD("metric", F_STR, wire_entry, metric),
	FLD("scen", F_STR, wire_entry, scenario),
	FLD("name", F_STR, wire_entry, name),
	FLD("method", F_STR, wire_entry, method),
	OPT("tags", F_STR, wire_entry, tags),
	FLD("status", F_U32, wire_entry, status_class),
	FLD("count", F_U64, wire_entry, count),
	FLD("errs", F_ERRS, wire_entry, errors),
	FLD("in", F_U64, wire_entry, bytes_in),
	FLD("out", F_U64, wire_entry, bytes_out),
	FLD("gauge", F_I64, wire_entry, gauge),
	OPT("hist", F_HIST, wire_entry, h),
};

typedef struct ftable {
	const field *f;
	size_t n;
} ftable;

#define TABLE(a) { a, sizeof(a) / sizeof((a)[0]) }

/* NOP carries no fields beyond "v" and "t". */
static const ftable type_tables[WIRE__NTYPES] = {
	[WIRE_HELLO] = TABLE(hello_fields),   [WIRE_WELCOME] = TABLE(welcome_fields),
	[WIRE_POLL] = TABLE(poll_fields),     [WIRE_NOP] = { NULL, 0 },
	[WIRE_ASSIGN] = TABLE(assign_fields), [WIRE_READY] = TABLE(ready_fields),
	[WIRE_METRICS] = TABLE(metrics_fields), [WIRE_ACK] = TABLE(ack_fields),
	[WIRE_STOP] = TABLE(stop_fields),     [WIRE_DONE] = TABLE(done_fields),
	[WIRE_ERROR] = TABLE(error_fields),
	[WIRE_CHALLENGE] = TABLE(challenge_fields), [WIRE_AUTH] = TABLE(auth_fields),
	[WIRE_TIME] = TABLE(time_fields),     [WIRE_SEALED] = TABLE(sealed_fields),
	[WIRE_LOAD] = TABLE(load_fields),
};

static const ftable entry_table = TABLE(entry_fields);

#define AT(base, fl, type) ((type *)(void *)((char *)(base) + (fl)->off))
#define CAT(base, fl, type) ((const type *)(const void *)((const char *)(base) + (fl)->off))

/* ---------------------------------------------------------------------- */
/* Freeing */

/* Frees what the fields of table t own in the struct at base, and zeroes it
 * (size bytes). */
static void fields_fini(const ftable *t, void *base, size_t size)
{
	for (size_t i = 0; i < t->n; i++) {
		const field *fl = &t->f[i];
		switch (fl->kind) {
		case F_STR:
			free(*AT(base, fl, char *));
			break;
		case F_WEIGHTS:
			free(((wire_assign *)base)->weights);
			break;
		case F_BLOBS: {
			wire_blobs *b = AT(base, fl, wire_blobs);
			for (uint32_t j = 0; b->v != NULL && j < b->n; j++) {
				free(b->v[j].name);
				free(b->v[j].data);
			}
			free(b->v);
			break;
		}
		case F_BYTES:
			free(AT(base, fl, wire_bytes)->data);
			break;
		case F_ENTRIES: {
			wire_metrics *mt = base;
			if (mt->entries != NULL)
				for (uint32_t j = 0; j < mt->nentries; j++)
					wire_entry_fini(&mt->entries[j]);
			free(mt->entries);
			break;
		}
		case F_HIST:
			hist_free(*AT(base, fl, hist *));
			break;
		default:
			break;
		}
	}
	memset(base, 0, size);
}

void wire_entry_fini(wire_entry *e)
{
	if (e != NULL)
		fields_fini(&entry_table, e, sizeof(*e));
}

void wire_msg_fini(wire_msg *m)
{
	if (m == NULL)
		return;
	/* A type out of range can own nothing: decode never leaves one so. */
	if (m->type > 0 && m->type < WIRE__NTYPES)
		fields_fini(&type_tables[m->type], &m->u, sizeof(m->u));
	memset(m, 0, sizeof(*m));
}

/* ---------------------------------------------------------------------- */
/* Checks shared by the encoder and the decoder */

/*
 * Whether h is consistent: its buckets add up to its total, and when it is not
 * empty, min <= max <= HIST_MAX_US with min in the lowest nonzero bucket and
 * max in the highest. The min and max of an empty histogram are not looked at.
 */
/* The checks of hist_consistent, given the sum of h's bucket counts and its
 * lowest and highest nonzero buckets. */
static bool hist_agrees(const hist *h, uint64_t sum, uint32_t first, uint32_t last)
{
	if (sum != h->total)
		return false;
	if (h->total == 0)
		return true;
	return h->min <= h->max && h->max <= HIST_MAX_US && hist_index(h->min) == first &&
	       hist_index(h->max) == last;
}

static bool hist_consistent(const hist *h)
{
	uint64_t sum = 0;
	uint32_t first = 0, last = 0;
	bool any = false;
	for (uint32_t i = 0; i < HIST_NBUCKETS; i++) {
		if (h->counts[i] == 0)
			continue;
		if (!any)
			first = i;
		last = i;
		any = true;
		sum += h->counts[i]; /* at most 2^32 * 3840: no overflow */
	}
	return hist_agrees(h, sum, first, last);
}

/* A LOAD names a scenario, a known kind and a finite load that is not
 * negative (a whole number of VUs, at most 2^31). */
static bool load_ok(const wire_load *l)
{
	if (l->scenario == NULL || l->scenario[0] == '\0' || !isfinite(l->value) || l->value < 0)
		return false;
	if (l->kind == WIRE_LOAD_RATE)
		return l->value <= 1e12;
	if (l->kind == WIRE_LOAD_VUS)
		return l->value <= 2147483647.0 && l->value == floor(l->value);
	return false;
}

static bool weight_ok(double w)
{
	return isfinite(w) && w >= 0;
}

/* ---------------------------------------------------------------------- */
/* Encoding */

/* The output buffer behind msgpack-c's packer; refuses to grow past
 * WIRE_MAX_MSG so a too-large message fails early and cheaply. */
typedef struct obuf {
	char *data;
	size_t len, cap;
	bool too_big;
} obuf;

static int obuf_write(void *data, const char *buf, size_t len)
{
	obuf *o = data;
	if (len > WIRE_MAX_MSG - o->len) {
		o->too_big = true;
		return -1;
	}
	if (o->len + len > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		while (cap < o->len + len)
			cap *= 2;
		char *p = realloc(o->data, cap);
		if (p == NULL)
			return -1;
		o->data = p;
		o->cap = cap;
	}
	memcpy(o->data + o->len, buf, len);
	o->len += len;
	return 0;
}

/* The packer's calls return nonzero on failure; rather than test each, the
 * encoder ORs them into one flag and looks at it at the end. */
typedef struct enc {
	msgpack_packer pk;
	int fail;
	uint32_t nhists;
} enc;

static void put_str(enc *e, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	e->fail |= msgpack_pack_str(&e->pk, n);
	if (n > 0)
		e->fail |= msgpack_pack_str_body(&e->pk, s, n);
}

static int enc_hist(enc *e, const hist *h)
{
	if (!hist_consistent(h) || ++e->nhists > WIRE_MAX_HISTS)
		return HERD_EINVAL;
	size_t nz = 0;
	for (uint32_t i = 0; i < HIST_NBUCKETS; i++)
		nz += h->counts[i] != 0;
	e->fail |= msgpack_pack_array(&e->pk, 5);
	e->fail |= msgpack_pack_uint64(&e->pk, h->total);
	e->fail |= msgpack_pack_uint64(&e->pk, h->sum);
	/* An empty histogram always goes out in its canonical form. */
	e->fail |= msgpack_pack_uint64(&e->pk, h->total ? h->min : UINT64_MAX);
	e->fail |= msgpack_pack_uint64(&e->pk, h->total ? h->max : 0);
	e->fail |= msgpack_pack_array(&e->pk, 2 * nz);
	uint32_t prev = 0;
	for (uint32_t i = 0; i < HIST_NBUCKETS; i++) {
		if (h->counts[i] == 0)
			continue;
		e->fail |= msgpack_pack_uint32(&e->pk, i - prev);
		e->fail |= msgpack_pack_uint32(&e->pk, h->counts[i]);
		prev = i;
	}
	return HERD_OK;
}

static int enc_fields(enc *e, const ftable *t, const void *base);

static int enc_field(enc *e, const field *fl, const void *base)
{
	int rv;
	switch (fl->kind) {
	case F_STR:
		put_str(e, *CAT(base, fl, char *));
		break;
	case F_U32:
		e->fail |= msgpack_pack_uint32(&e->pk, *CAT(base, fl, uint32_t));
		break;
	case F_U64:
		e->fail |= msgpack_pack_uint64(&e->pk, *CAT(base, fl, uint64_t));
		break;
	case F_I32:
		e->fail |= msgpack_pack_int32(&e->pk, *CAT(base, fl, int32_t));
		break;
	case F_I64:
		e->fail |= msgpack_pack_int64(&e->pk, *CAT(base, fl, int64_t));
		break;
	case F_F64:
		e->fail |= msgpack_pack_double(&e->pk, *CAT(base, fl, double));
		break;
	case F_BLOBS: {
		const wire_blobs *b = CAT(base, fl, wire_blobs);
		if (b->n > WIRE_MAX_BLOBS || (b->n > 0 && b->v == NULL))
			return HERD_EINVAL;
		e->fail |= msgpack_pack_array(&e->pk, b->n);
		for (uint32_t i = 0; i < b->n; i++) {
			if (b->v[i].len > UINT32_MAX || (b->v[i].len > 0 && b->v[i].data == NULL))
				return HERD_EINVAL;
			e->fail |= msgpack_pack_array(&e->pk, 2);
			put_str(e, b->v[i].name);
			e->fail |= msgpack_pack_bin(&e->pk, b->v[i].len);
			if (b->v[i].len > 0)
				e->fail |= msgpack_pack_bin_body(&e->pk, b->v[i].data, b->v[i].len);
		}
		break;
	}
	case F_BYTES: {
		const wire_bytes *b = CAT(base, fl, wire_bytes);
		if (b->len > UINT32_MAX || (b->len > 0 && b->data == NULL))
			return HERD_EINVAL;
		e->fail |= msgpack_pack_bin(&e->pk, b->len);
		if (b->len > 0)
			e->fail |= msgpack_pack_bin_body(&e->pk, b->data, b->len);
		break;
	}
	case F_WEIGHTS: {
		const wire_assign *a = base;
		if (a->nweights > WIRE_MAX_WEIGHTS || (a->nweights > 0 && a->weights == NULL))
			return HERD_EINVAL;
		e->fail |= msgpack_pack_array(&e->pk, a->nweights);
		for (uint32_t i = 0; i < a->nweights; i++) {
			if (!weight_ok(a->weights[i]))
				return HERD_EINVAL;
			e->fail |= msgpack_pack_double(&e->pk, a->weights[i]);
		}
		break;
	}
	case F_ENTRIES: {
		const wire_metrics *mt = base;
		if (mt->nentries > WIRE_MAX_ENTRIES || (mt->nentries > 0 && mt->entries == NULL))
			return HERD_EINVAL;
		e->fail |= msgpack_pack_array(&e->pk, mt->nentries);
		for (uint32_t i = 0; i < mt->nentries; i++)
			if ((rv = enc_fields(e, &entry_table, &mt->entries[i])) != HERD_OK)
				return rv;
		break;
	}
	case F_ERRS: {
		const uint64_t *errs = CAT(base, fl, uint64_t);
		size_t nz = 0;
		for (int k = 0; k < ERRK__N; k++)
			nz += errs[k] != 0;
		e->fail |= msgpack_pack_map(&e->pk, nz);
		for (int k = 0; k < ERRK__N; k++) {
			if (errs[k] == 0)
				continue;
			put_str(e, errk_name(k));
			e->fail |= msgpack_pack_uint64(&e->pk, errs[k]);
		}
		break;
	}
	case F_HIST: {
		const hist *h = *CAT(base, fl, hist *);
		if (h == NULL)
			e->fail |= msgpack_pack_nil(&e->pk);
		else if ((rv = enc_hist(e, h)) != HERD_OK)
			return rv;
		break;
	}
	}
	return HERD_OK;
}

/* Writes the fields of table t from the struct at base as one map. */
static int enc_fields(enc *e, const ftable *t, const void *base)
{
	int rv;
	e->fail |= msgpack_pack_map(&e->pk, t->n);
	for (size_t i = 0; i < t->n; i++) {
		put_str(e, t->f[i].key);
		if ((rv = enc_field(e, &t->f[i], base)) != HERD_OK)
			return rv;
	}
	return HERD_OK;
}

static uint32_t encode_version = WIRE_VERSION;

void wire_set_version_for_tests(uint32_t v)
{
	encode_version = v;
}

int wire_encode(const wire_msg *m, char **buf, size_t *len)
{
	if (m == NULL || buf == NULL || len == NULL || m->type <= 0 || m->type >= WIRE__NTYPES)
		return HERD_EINVAL;
	if (m->type == WIRE_ASSIGN && m->u.assign.agent_index >= m->u.assign.nweights)
		return HERD_EINVAL;
	if (m->type == WIRE_LOAD && !load_ok(&m->u.load))
		return HERD_EINVAL;

	obuf o = { 0 };
	enc e = { .fail = 0 };
	msgpack_packer_init(&e.pk, &o, obuf_write);

	const ftable *t = &type_tables[m->type];
	e.fail |= msgpack_pack_map(&e.pk, 2 + t->n);
	put_str(&e, "v");
	e.fail |= msgpack_pack_uint32(&e.pk, encode_version);
	put_str(&e, "t");
	put_str(&e, type_names[m->type]);
	int rv = HERD_OK;
	for (size_t i = 0; i < t->n && rv == HERD_OK; i++) {
		put_str(&e, t->f[i].key);
		rv = enc_field(&e, &t->f[i], &m->u);
	}
	if (rv == HERD_OK && e.fail)
		rv = o.too_big ? HERD_EINVAL : HERD_ENOMEM;
	if (rv != HERD_OK) {
		free(o.data);
		return rv;
	}
	*buf = o.data;
	*len = o.len;
	return HERD_OK;
}

/* ---------------------------------------------------------------------- */
/* Reading msgpack */

typedef enum tkind { T_NIL, T_BOOL, T_INT, T_FLOAT, T_STR, T_BIN, T_EXT, T_ARRAY, T_MAP } tkind;

/* One msgpack header. Integers keep their value, not their format: a
 * non-negative value is in u whatever its encoding, a negative one in i. */
typedef struct tok {
	tkind kind;
	bool neg;     /* T_INT: negative, value in i */
	uint64_t u;   /* T_INT value when not negative; T_ARRAY/T_MAP element count */
	int64_t i;    /* T_INT value when negative */
	double d;     /* T_FLOAT */
	const char *s; /* T_STR, T_BIN, T_EXT: payload */
	uint32_t n;   /* T_STR, T_BIN, T_EXT: payload length */
} tok;

typedef struct rd {
	const unsigned char *p, *end;
} rd;

static bool rd_get(rd *r, size_t n, const unsigned char **out)
{
	if ((size_t)(r->end - r->p) < n)
		return false;
	*out = r->p;
	r->p += n;
	return true;
}

/* Reads an n-byte big-endian unsigned integer (n is 1, 2, 4 or 8). */
static bool rd_be(rd *r, size_t n, uint64_t *v)
{
	const unsigned char *b;
	if (!rd_get(r, n, &b))
		return false;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++)
		x = x << 8 | b[i];
	*v = x;
	return true;
}

static void tok_signed(tok *t, int64_t v)
{
	t->kind = T_INT;
	if (v < 0) {
		t->neg = true;
		t->i = v;
	} else {
		t->u = (uint64_t)v;
	}
}

/* Reads a payload of n bytes for a str, bin or ext. */
static bool rd_payload(rd *r, tok *t, tkind kind, uint64_t n)
{
	const unsigned char *b;
	if (n > UINT32_MAX || !rd_get(r, (size_t)n, &b))
		return false;
	t->kind = kind;
	t->s = (const char *)b;
	t->n = (uint32_t)n;
	return true;
}

/* Reads a container header claiming n elements (2n for a map); refuses one
 * claiming more elements than bytes remain, since each takes at least one. */
static bool rd_container(rd *r, tok *t, tkind kind, uint64_t n)
{
	uint64_t need = kind == T_MAP ? 2 * n : n;
	if (need > (uint64_t)(r->end - r->p))
		return false;
	t->kind = kind;
	t->u = n;
	return true;
}

/*
 * Reads one msgpack header (and the payload of a str, bin or ext; the elements
 * of an array or map follow). Returns false on truncation, on the reserved
 * byte 0xc1 and on a container claiming more elements than bytes remain.
 */
static bool rd_tok(rd *r, tok *t)
{
	const unsigned char *b;
	uint64_t v;
	memset(t, 0, sizeof(*t));
	if (!rd_get(r, 1, &b))
		return false;
	unsigned c = *b;
	if (c <= 0x7f) {
		t->kind = T_INT;
		t->u = c;
		return true;
	}
	if (c >= 0xe0) {
		tok_signed(t, (int64_t)c - 256);
		return true;
	}
	if (c >= 0x80 && c <= 0x8f)
		return rd_container(r, t, T_MAP, c & 0x0f);
	if (c >= 0x90 && c <= 0x9f)
		return rd_container(r, t, T_ARRAY, c & 0x0f);
	if (c >= 0xa0 && c <= 0xbf)
		return rd_payload(r, t, T_STR, c & 0x1f);
	switch (c) {
	case 0xc0:
		t->kind = T_NIL;
		return true;
	case 0xc2:
	case 0xc3:
		t->kind = T_BOOL;
		t->u = c == 0xc3;
		return true;
	case 0xc4:
	case 0xc5:
	case 0xc6:
		return rd_be(r, (size_t)1 << (c - 0xc4), &v) && rd_payload(r, t, T_BIN, v);
	case 0xc7:
	case 0xc8:
	case 0xc9:
		/* ext: length, then a type byte, then the payload */
		return rd_be(r, (size_t)1 << (c - 0xc7), &v) && rd_get(r, 1, &b) &&
		       rd_payload(r, t, T_EXT, v);
	case 0xca: {
		float f;
		uint32_t w;
		if (!rd_be(r, 4, &v))
			return false;
		w = (uint32_t)v;
		memcpy(&f, &w, sizeof(f));
		t->kind = T_FLOAT;
		t->d = f;
		return true;
	}
	case 0xcb:
		if (!rd_be(r, 8, &v))
			return false;
		t->kind = T_FLOAT;
		memcpy(&t->d, &v, sizeof(t->d));
		return true;
	case 0xcc:
	case 0xcd:
	case 0xce:
	case 0xcf:
		if (!rd_be(r, (size_t)1 << (c - 0xcc), &v))
			return false;
		t->kind = T_INT;
		t->u = v;
		return true;
	case 0xd0:
		if (!rd_be(r, 1, &v))
			return false;
		tok_signed(t, (int8_t)(uint8_t)v);
		return true;
	case 0xd1:
		if (!rd_be(r, 2, &v))
			return false;
		tok_signed(t, (int16_t)(uint16_t)v);
		return true;
	case 0xd2:
		if (!rd_be(r, 4, &v))
			return false;
		tok_signed(t, (int32_t)(uint32_t)v);
		return true;
	case 0xd3:
		if (!rd_be(r, 8, &v))
			return false;
		tok_signed(t, (int64_t)v);
		return true;
	case 0xd4:
	case 0xd5:
	case 0xd6:
	case 0xd7:
	case 0xd8:
		/* fixext: a type byte, then 1, 2, 4, 8 or 16 bytes */
		return rd_get(r, 1, &b) && rd_payload(r, t, T_EXT, (uint64_t)1 << (c - 0xd4));
	case 0xd9:
	case 0xda:
	case 0xdb:
		return rd_be(r, (size_t)1 << (c - 0xd9), &v) && rd_payload(r, t, T_STR, v);
	case 0xdc:
	case 0xdd:
		return rd_be(r, (size_t)2 << (c - 0xdc), &v) && rd_container(r, t, T_ARRAY, v);
	case 0xde:
	case 0xdf:
		return rd_be(r, (size_t)2 << (c - 0xde), &v) && rd_container(r, t, T_MAP, v);
	default: /* 0xc1 is never used */
		return false;
	}
}

/*
 * Skips one complete value, without recursion: left[d] counts the elements
 * still to read at nesting level d. Refuses nesting deeper than
 * WIRE_MAX_DEPTH below the value's own level.
 */
static bool rd_skip(rd *r)
{
	uint64_t left[WIRE_MAX_DEPTH];
	int d = 0;
	left[0] = 1;
	while (d >= 0) {
		if (left[d] == 0) {
			d--;
			continue;
		}
		left[d]--;
		tok t;
		if (!rd_tok(r, &t))
			return false;
		if ((t.kind == T_ARRAY || t.kind == T_MAP) && t.u > 0) {
			if (d + 1 >= WIRE_MAX_DEPTH)
				return false;
			left[++d] = t.kind == T_MAP ? 2 * t.u : t.u;
		}
	}
	return true;
}

/* ---------------------------------------------------------------------- */
/* Decoding */

typedef struct dec {
	rd r;
	uint32_t nhists;
} dec;

static bool str_is(const tok *t, const char *s)
{
	size_t n = strlen(s);
	return t->kind == T_STR && t->n == n && memcmp(t->s, s, n) == 0;
}

/* Reads a map key: a string without NUL bytes. */
static int dec_key(dec *d, tok *k)
{
	if (!rd_tok(&d->r, k) || k->kind != T_STR || memchr(k->s, 0, k->n) != NULL)
		return HERD_EPROTO;
	return HERD_OK;
}

static int dec_uint(dec *d, uint64_t max, uint64_t *v)
{
	tok t;
	if (!rd_tok(&d->r, &t) || t.kind != T_INT || t.neg || t.u > max)
		return HERD_EPROTO;
	*v = t.u;
	return HERD_OK;
}

static int dec_int(dec *d, int64_t min, int64_t max, int64_t *v)
{
	tok t;
	if (!rd_tok(&d->r, &t) || t.kind != T_INT)
		return HERD_EPROTO;
	if (t.neg) {
		if (t.i < min)
			return HERD_EPROTO;
		*v = t.i;
	} else {
		if (t.u > (uint64_t)max)
			return HERD_EPROTO;
		*v = (int64_t)t.u;
	}
	return HERD_OK;
}

static int dec_double(dec *d, double *v)
{
	tok t;
	if (!rd_tok(&d->r, &t))
		return HERD_EPROTO;
	if (t.kind == T_FLOAT)
		*v = t.d;
	else if (t.kind == T_INT)
		*v = t.neg ? (double)t.i : (double)t.u;
	else
		return HERD_EPROTO;
	return HERD_OK;
}

static int dec_str(dec *d, char **out)
{
	tok t;
	if (!rd_tok(&d->r, &t) || t.kind != T_STR || memchr(t.s, 0, t.n) != NULL)
		return HERD_EPROTO;
	char *s = malloc((size_t)t.n + 1);
	if (s == NULL)
		return HERD_ENOMEM;
	memcpy(s, t.s, t.n);
	s[t.n] = '\0';
	*out = s;
	return HERD_OK;
}

/* Reads an array header of at most max elements. */
static int dec_array(dec *d, uint64_t max, uint32_t *n)
{
	tok t;
	if (!rd_tok(&d->r, &t) || t.kind != T_ARRAY || t.u > max)
		return HERD_EPROTO;
	*n = (uint32_t)t.u;
	return HERD_OK;
}

static int dec_weights(dec *d, wire_assign *a)
{
	uint32_t n;
	int rv;
	if ((rv = dec_array(d, WIRE_MAX_WEIGHTS, &n)) != HERD_OK)
		return rv;
	if (n == 0)
		return HERD_OK;
	if ((a->weights = calloc(n, sizeof(double))) == NULL)
		return HERD_ENOMEM;
	a->nweights = n;
	for (uint32_t i = 0; i < n; i++) {
		if ((rv = dec_double(d, &a->weights[i])) != HERD_OK)
			return rv;
		if (!weight_ok(a->weights[i]))
			return HERD_EPROTO;
	}
	return HERD_OK;
}

static int dec_blobs(dec *d, wire_blobs *b)
{
	uint32_t n, two;
	int rv;
	tok t;
	if ((rv = dec_array(d, WIRE_MAX_BLOBS, &n)) != HERD_OK)
		return rv;
	if (n == 0)
		return HERD_OK;
	if ((b->v = calloc(n, sizeof(*b->v))) == NULL)
		return HERD_ENOMEM;
	b->n = n;
	for (uint32_t i = 0; i < n; i++) {
		wire_blob *x = &b->v[i];
		if ((rv = dec_array(d, 2, &two)) != HERD_OK)
			return rv;
		if (two != 2)
			return HERD_EPROTO;
		if ((rv = dec_str(d, &x->name)) != HERD_OK)
			return rv;
		if (!rd_tok(&d->r, &t) || (t.kind != T_BIN && t.kind != T_STR))
			return HERD_EPROTO;
		if ((x->data = malloc((size_t)t.n + 1)) == NULL)
			return HERD_ENOMEM;
		memcpy(x->data, t.s, t.n);
		x->data[t.n] = '\0';
		x->len = t.n;
	}
	return HERD_OK;
}

static int dec_bytes(dec *d, wire_bytes *b)
{
	tok t;
	if (!rd_tok(&d->r, &t) || t.kind != T_BIN)
		return HERD_EPROTO;
	if (t.n == 0)
		return HERD_OK;
	if ((b->data = malloc(t.n)) == NULL)
		return HERD_ENOMEM;
	memcpy(b->data, t.s, t.n);
	b->len = t.n;
	return HERD_OK;
}

static int dec_errs(dec *d, uint64_t *errs)
{
	tok t, k;
	int rv;
	if (!rd_tok(&d->r, &t) || t.kind != T_MAP)
		return HERD_EPROTO;
	for (uint64_t i = 0; i < t.u; i++) {
		uint64_t v;
		if ((rv = dec_key(d, &k)) != HERD_OK || (rv = dec_uint(d, UINT64_MAX, &v)) != HERD_OK)
			return rv;
		int kind = ERRK_OTHER;
		for (int j = 0; j < ERRK__N; j++)
			if (str_is(&k, errk_name(j)))
				kind = j;
		if (v > UINT64_MAX - errs[kind])
			return HERD_EPROTO;
		errs[kind] += v;
	}
	return HERD_OK;
}

static int dec_hist(dec *d, hist **out)
{
	tok t;
	uint64_t total, sum, min, max;
	uint32_t n;
	int rv;
	if (!rd_tok(&d->r, &t))
		return HERD_EPROTO;
	if (t.kind == T_NIL)
		return HERD_OK;
	if (t.kind != T_ARRAY || t.u != 5)
		return HERD_EPROTO;
	if ((rv = dec_uint(d, UINT64_MAX, &total)) != HERD_OK ||
	    (rv = dec_uint(d, UINT64_MAX, &sum)) != HERD_OK ||
	    (rv = dec_uint(d, UINT64_MAX, &min)) != HERD_OK ||
	    (rv = dec_uint(d, UINT64_MAX, &max)) != HERD_OK ||
	    (rv = dec_array(d, 2 * (uint64_t)HIST_NBUCKETS, &n)) != HERD_OK)
		return rv;
	if (n % 2 != 0 || ++d->nhists > WIRE_MAX_HISTS)
		return HERD_EPROTO;
	hist *h = hist_new();
	if (h == NULL)
		return HERD_ENOMEM;
	/* From here on h belongs to the entry, which frees it on error. */
	*out = h;
	h->total = total;
	h->sum = sum;
	/* Checked as it is read, over the buckets given: scanning all 3,840 of
	 * each histogram was a tenth of the controller's time at 1,000 agents. */
	uint64_t idx = 0, nsum = 0;
	uint32_t first = 0;
	for (uint32_t i = 0; i < n / 2; i++) {
		uint64_t delta, count;
		if ((rv = dec_uint(d, HIST_NBUCKETS - 1, &delta)) != HERD_OK ||
		    (rv = dec_uint(d, UINT32_MAX, &count)) != HERD_OK)
			goto fail;
		/* Indices strictly increase, so no bucket is given twice. */
		rv = HERD_EPROTO;
		if ((i > 0 && delta == 0) || count == 0)
			goto fail;
		idx += delta;
		if (idx >= HIST_NBUCKETS)
			goto fail;
		h->counts[idx] = (uint32_t)count;
		if (i == 0)
			first = (uint32_t)idx;
		nsum += count; /* at most 2^32 * 3840: no overflow */
	}
	if (total > 0) {
		h->min = min;
		h->max = max;
	}
	if (hist_agrees(h, nsum, first, (uint32_t)idx))
		return HERD_OK;
	rv = HERD_EPROTO;
fail:
	/* Refused: its buckets may lie outside its span, which hist_free
	 * empties when it keeps a histogram (hist_reuse). */
	hist_init(h);
	return rv;
}

static int dec_fields(dec *d, const ftable *t, void *base, uint64_t npairs);

static int dec_entries(dec *d, wire_metrics *mt)
{
	uint32_t n, cap = 0;
	int rv;
	if ((rv = dec_array(d, WIRE_MAX_ENTRIES, &n)) != HERD_OK)
		return rv;
	/* The array grows as entries are read rather than to the claimed count
	 * at once, so memory follows what was actually sent. */
	for (uint32_t i = 0; i < n; i++) {
		if (i == cap) {
			uint32_t ncap = cap ? cap * 2 : 16;
			if (ncap > n)
				ncap = n;
			wire_entry *p = realloc(mt->entries, ncap * sizeof(wire_entry));
			if (p == NULL)
				return HERD_ENOMEM;
			mt->entries = p;
			cap = ncap;
		}
		/* Counted before it is read, so that on error it is freed too. */
		memset(&mt->entries[i], 0, sizeof(wire_entry));
		mt->nentries = i + 1;
		tok t;
		if (!rd_tok(&d->r, &t) || t.kind != T_MAP)
			return HERD_EPROTO;
		if ((rv = dec_fields(d, &entry_table, &mt->entries[i], t.u)) != HERD_OK)
			return rv;
	}
	return HERD_OK;
}

static int dec_field(dec *d, const field *fl, void *base)
{
	uint64_t u;
	int64_t i;
	int rv;
	switch (fl->kind) {
	case F_STR:
		return dec_str(d, AT(base, fl, char *));
	case F_U32:
		if ((rv = dec_uint(d, UINT32_MAX, &u)) == HERD_OK)
			*AT(base, fl, uint32_t) = (uint32_t)u;
		return rv;
	case F_U64:
		return dec_uint(d, UINT64_MAX, AT(base, fl, uint64_t));
	case F_I32:
		if ((rv = dec_int(d, INT32_MIN, INT32_MAX, &i)) == HERD_OK)
			*AT(base, fl, int32_t) = (int32_t)i;
		return rv;
	case F_I64:
		return dec_int(d, INT64_MIN, INT64_MAX, AT(base, fl, int64_t));
	case F_F64:
		return dec_double(d, AT(base, fl, double));
	case F_WEIGHTS:
		return dec_weights(d, base);
	case F_BLOBS:
		return dec_blobs(d, AT(base, fl, wire_blobs));
	case F_BYTES:
		return dec_bytes(d, AT(base, fl, wire_bytes));
	case F_ENTRIES:
		return dec_entries(d, base);
	case F_ERRS:
		return dec_errs(d, AT(base, fl, uint64_t));
	case F_HIST:
		return dec_hist(d, AT(base, fl, hist *));
	}
	return HERD_EINTERNAL;
}

/*
 * Reads npairs key/value pairs into the struct at base by table t. Unknown
 * keys are skipped; a known key seen twice, a missing field (other than a
 * histogram) or a non-string key is an error. On error, what was read stays
 * in base for the caller to free.
 */
static int dec_fields(dec *d, const ftable *t, void *base, uint64_t npairs)
{
	uint32_t seen = 0; /* bit i: field i read; tables have fewer than 32 */
	int rv;
	for (uint64_t p = 0; p < npairs; p++) {
		tok k;
		if ((rv = dec_key(d, &k)) != HERD_OK)
			return rv;
		size_t i = 0;
		while (i < t->n && !str_is(&k, t->f[i].key))
			i++;
		if (i == t->n) {
			if (!rd_skip(&d->r))
				return HERD_EPROTO;
			continue;
		}
		if (seen & (UINT32_C(1) << i))
			return HERD_EPROTO;
		seen |= UINT32_C(1) << i;
		if ((rv = dec_field(d, &t->f[i], base)) != HERD_OK)
			return rv;
	}
	for (size_t i = 0; i < t->n; i++)
		if (!(seen & (UINT32_C(1) << i)) && !t->f[i].optional)
			return HERD_EPROTO;
	return HERD_OK;
}

/* Finds "v" and "t" among the top-level pairs. *type is left T_NIL when "t"
 * is absent or not a string, which matters only when the version is ours. */
static int dec_header(dec *d, uint64_t npairs, uint64_t *version, tok *type)
{
	bool have_v = false, have_t = false;
	int rv;
	for (uint64_t p = 0; p < npairs; p++) {
		tok k;
		if ((rv = dec_key(d, &k)) != HERD_OK)
			return rv;
		if (str_is(&k, "v")) {
			if (have_v)
				return HERD_EPROTO;
			have_v = true;
			if ((rv = dec_uint(d, UINT32_MAX, version)) != HERD_OK)
				return rv;
		} else if (str_is(&k, "t")) {
			if (have_t)
				return HERD_EPROTO;
			have_t = true;
			/* Look at the value's header; anything but a string is stepped
			 * over whole and leaves the type unknown. */
			const unsigned char *at = d->r.p;
			if (!rd_tok(&d->r, type))
				return HERD_EPROTO;
			if (type->kind != T_STR) {
				d->r.p = at;
				type->kind = T_NIL;
				if (!rd_skip(&d->r))
					return HERD_EPROTO;
			}
		} else if (!rd_skip(&d->r)) {
			return HERD_EPROTO;
		}
	}
	return have_v ? HERD_OK : HERD_EPROTO;
}

static int type_from_name(const tok *t)
{
	for (int i = 1; i < WIRE__NTYPES; i++)
		if (str_is(t, type_names[i]))
			return i;
	return 0;
}

int wire_decode(const char *buf, size_t len, wire_msg *m)
{
	if (m == NULL)
		return HERD_EINVAL;
	memset(m, 0, sizeof(*m));
	if (buf == NULL || len == 0 || len > WIRE_MAX_MSG)
		return HERD_EPROTO;

	/* Pass one: the whole buffer is one well-formed, bounded value. */
	dec d = { .r = { (const unsigned char *)buf, (const unsigned char *)buf + len } };
	if (!rd_skip(&d.r) || d.r.p != d.r.end)
		return HERD_EPROTO;

	d.r.p = (const unsigned char *)buf;
	tok top, type = { .kind = T_NIL };
	uint64_t version = 0;
	int rv;
	if (!rd_tok(&d.r, &top) || top.kind != T_MAP)
		return HERD_EPROTO;
	const unsigned char *pairs = d.r.p;
	if ((rv = dec_header(&d, top.u, &version, &type)) != HERD_OK)
		return rv;
	int ty = type_from_name(&type);
	if (version != WIRE_VERSION) {
		m->version = (uint32_t)version;
		m->type = (wire_type)ty;
		return HERD_EVERSION;
	}
	if (ty == 0)
		return HERD_EPROTO;

	/* Pass two: the type's fields, straight into the message. */
	wire_msg tmp;
	memset(&tmp, 0, sizeof(tmp));
	tmp.type = (wire_type)ty;
	tmp.version = (uint32_t)version;
	d.r.p = pairs;
	rv = dec_fields(&d, &type_tables[ty], &tmp.u, top.u);
	if (rv == HERD_OK && ty == WIRE_ASSIGN && tmp.u.assign.agent_index >= tmp.u.assign.nweights)
		rv = HERD_EPROTO;
	if (rv == HERD_OK && ty == WIRE_LOAD && !load_ok(&tmp.u.load))
		rv = HERD_EPROTO;
	if (rv != HERD_OK) {
		wire_msg_fini(&tmp);
		return rv;
	}
	*m = tmp;
	return HERD_OK;
}
