/*
 * libFuzzer target for proto/wire's decoder. Each input is decoded as it is,
 * and is also read as patches to one of a few valid encoded messages, which
 * reaches the field decoders far sooner than raw bytes do. Decoding must not
 * crash, leak or read out of bounds; whatever it accepts must encode again,
 * decode to the same type and version, and encode to the same bytes (the
 * encoding is deterministic). Build and run: see tests/fuzz/README.md.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decodes len bytes and checks the round trip of whatever is accepted. */
static void check_decode(const char *buf, size_t len)
{
	wire_msg m, m2;
	char *b1 = NULL, *b2 = NULL;
	size_t n1 = 0, n2 = 0;

	int rv = wire_decode(buf, len, &m);
	if (rv != HERD_OK) {
		if (rv != HERD_EPROTO && rv != HERD_EVERSION && rv != HERD_ENOMEM)
			abort();
		wire_msg_fini(&m);
		return;
	}
	/* What the decoder accepts, the encoder must accept. */
	if (wire_encode(&m, &b1, &n1) != HERD_OK)
		abort();
	if (wire_decode(b1, n1, &m2) != HERD_OK || m2.type != m.type || m2.version != m.version)
		abort();
	if (wire_encode(&m2, &b2, &n2) != HERD_OK || n1 != n2 || memcmp(b1, b2, n1) != 0)
		abort();
	wire_msg_fini(&m2);
	wire_msg_fini(&m);
	free(b1);
	free(b2);
}

/* Valid messages to patch, built once. */
#define NTEMPLATES 6
static char *tmpl[NTEMPLATES];
static size_t tmpl_len[NTEMPLATES];

static void build_templates(void)
{
	static double weights[] = { 0.5, 0.5 };
	wire_msg m[NTEMPLATES];
	memset(m, 0, sizeof(m));
	m[0].type = WIRE_HELLO;
	/* Designated: a field added to a message must not shift the others. */
	m[0].u.hello = (wire_hello){ .agent_id = "a", .name = "n", .host = "h", .version = "1", .caps = "http",
		                         .nonce = "", .cores = 8, .pid = 99, .clock_ns = -5 };
	m[1].type = WIRE_ASSIGN;
	m[1].u.assign = (wire_assign){ "r", "f", "p: 1", 1, 2, weights, 7, 1000 };
	m[2].type = WIRE_POLL;
	m[2].u.poll = (wire_poll){ "a", "r", 1.5, 10 };
	m[4].type = WIRE_ERROR;
	m[4].u.error = (wire_error){ "a", "", -3, "m" };
	m[5].type = WIRE_LOAD;
	m[5].u.load = (wire_load){ .agent_id = "a", .run_id = "r", .scenario = "s", .seq = 4,
		                        .kind = WIRE_LOAD_VUS, .value = 12 };

	static wire_entry e[2];
	static hist h;
	hist_init(&h);
	for (uint64_t v = 1; v < 100000000; v = v * 3 + 1)
		hist_record(&h, v);
	e[0] = (wire_entry){ .metric = "http_req_duration", .method = "GET", .status_class = 2,
		                 .count = 5, .h = &h };
	e[0].errors[ERRK_TIMEOUT] = 2;
	e[0].errors[ERRK_OTHER] = 1;
	e[1] = (wire_entry){ .metric = "vus", .gauge = -1 };
	m[3].type = WIRE_METRICS;
	m[3].u.metrics = (wire_metrics){ "a", "r", 3, 1000, 2, e };

	for (int i = 0; i < NTEMPLATES; i++)
		if (wire_encode(&m[i], &tmpl[i], &tmpl_len[i]) != HERD_OK)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_decode((const char *)data, size);

	/* The input as patches: a template number, then (position, byte)
	 * triples; a last byte left over cuts that many bytes off the end. */
	if (size < 1)
		return 0;
	if (tmpl[0] == NULL)
		build_templates();
	int t = data[0] % NTEMPLATES;
	size_t len = tmpl_len[t];
	char *buf = malloc(len);
	if (buf == NULL)
		return 0;
	memcpy(buf, tmpl[t], len);
	size_t i = 1;
	for (; i + 3 <= size; i += 3)
		buf[((size_t)data[i] << 8 | data[i + 1]) % len] = (char)data[i + 2];
	if (i < size)
		len -= data[i] % (len + 1);
	check_decode(buf, len);
	free(buf);
	return 0;
}
