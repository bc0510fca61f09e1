/* SPDX-License-Identifier: MIT */
/*
 * NBD option haggling (proto.md "Fixed newstyle negotiation", "Option
 * types", "TLS support", "Metadata querying"), byte for byte, without a
 * socket: each option gets the reply the protocol document requires.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fabrics/nbd/nbd_handshake.h"

/* ---- a fake server: exports "disk" and "ro"; "secret" is denied;
 * "tls" needs TLS; "slow" answers later ---- */
static enum nbd_lookup fake_lookup(void *ctx, const char *name, bool go,
                                   struct nbd_export_info *info)
{
	(void)ctx;
	(void)go;
	if (!strcmp(name, "secret"))
		return NBD_LOOKUP_DENIED;
	if (!strcmp(name, "tls"))
		return NBD_LOOKUP_TLS_REQD;
	if (!strcmp(name, "slow"))
		return NBD_LOOKUP_PENDING;
	if (strcmp(name, "disk") && strcmp(name, "ro"))
		return NBD_LOOKUP_UNKNOWN;
	info->size = 1 << 20;
	info->tflags = NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
	               (name[0] == 'r' ? NBD_FLAG_READ_ONLY : 0);
	info->min_block = 512;
	info->pref_block = 4096;
	info->max_payload = 32 << 20;
	info->description = "a test disk";
	return NBD_LOOKUP_OK;
}

static const char *fake_list(void *ctx, size_t i, const char **desc)
{
	static const char *names[] = { "disk", "ro" };

	(void)ctx;
	*desc = NULL;
	return i < 2 ? names[i] : NULL;
}

static const struct nbd_hs_ops fake_ops = { .lookup = fake_lookup, .list = fake_list };

/* ---- reading replies back ---- */
struct reply {
	uint32_t opt, type, len;
	const uint8_t *data;
};

/* the n-th option reply in out; false if there are fewer */
static bool nth_reply(const struct nbd_out *o, int n, struct reply *r)
{
	size_t at = 0;

	for (int i = 0; at + NBD_OPT_REPLY_HDR_LEN <= o->len; i++) {
		assert_int_equal(vs_get64(o->buf + at), NBD_MAGIC_OPT_REPLY);
		r->opt = vs_get32(o->buf + at + 8);
		r->type = vs_get32(o->buf + at + 12);
		r->len = vs_get32(o->buf + at + 16);
		r->data = o->buf + at + 20;
		if (i == n)
			return true;
		at += NBD_OPT_REPLY_HDR_LEN + r->len;
	}
	return false;
}

static int count_replies(const struct nbd_out *o)
{
	struct reply r;
	int n = 0;

	while (nth_reply(o, n, &r))
		n++;
	return n;
}

static void hs_start(struct nbd_hs *hs, enum nbd_tls_mode mode)
{
	vs_nbd_hs_init(hs, &fake_ops, NULL, mode);
	assert_true(vs_nbd_hs_client_flags(hs, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES));
}

/* GO / INFO data: name, then information requests */
static size_t go_data(uint8_t *d, const char *name, const uint16_t *reqs, int nreqs)
{
	size_t n = strlen(name), at = 0;

	vs_put32(d, (uint32_t)n);
	memcpy(d + 4, name, n);
	at = 4 + n;
	vs_put16(d + at, (uint16_t)nreqs);
	at += 2;
	for (int i = 0; i < nreqs; i++, at += 2)
		vs_put16(d + at, reqs[i]);
	return at;
}

/* META_CONTEXT data: name, then queries */
static size_t meta_data(uint8_t *d, const char *name, const char **q, int nq)
{
	size_t n = strlen(name), at;

	vs_put32(d, (uint32_t)n);
	memcpy(d + 4, name, n);
	at = 4 + n;
	vs_put32(d + at, (uint32_t)nq);
	at += 4;
	for (int i = 0; i < nq; i++) {
		vs_put32(d + at, (uint32_t)strlen(q[i]));
		memcpy(d + at + 4, q[i], strlen(q[i]));
		at += 4 + strlen(q[i]);
	}
	return at;
}

static void test_greeting_flags_and_headers(void **state)
{
	struct nbd_out o = {0};
	struct nbd_hs hs;
	uint8_t hdr[NBD_OPT_HDR_LEN];
	uint32_t opt, len;
	(void)state;

	vs_nbd_wire_greeting(&o);
	assert_int_equal(o.len, NBD_GREETING_LEN);
	assert_memory_equal(o.buf, "NBDMAGICIHAVEOPT", 16);
	assert_int_equal(vs_get16(o.buf + 16), NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	vs_nbd_out_free(&o);

	vs_nbd_hs_init(&hs, &fake_ops, NULL, NBD_TLS_OFF);
	assert_false(vs_nbd_hs_client_flags(&hs, 1u << 2));        /* unknown bit: drop */
	assert_true(vs_nbd_hs_client_flags(&hs, NBD_FLAG_C_FIXED_NEWSTYLE));
	/* TLS needs fixed newstyle: FORCEDTLS cannot serve a plain newstyle client */
	vs_nbd_hs_init(&hs, &fake_ops, NULL, NBD_TLS_REQUIRE);
	assert_false(vs_nbd_hs_client_flags(&hs, 0));

	vs_put64(hdr, NBD_MAGIC_OPT);
	vs_put32(hdr + 8, NBD_OPT_GO);
	vs_put32(hdr + 12, 100);
	assert_true(vs_nbd_hs_option_header(hdr, &opt, &len));
	assert_int_equal(opt, NBD_OPT_GO);
	assert_int_equal(len, 100);
	vs_put32(hdr + 12, NBD_OPT_DATA_MAX + 1);              /* hostile length */
	assert_false(vs_nbd_hs_option_header(hdr, &opt, &len));
	vs_put32(hdr + 12, 4);
	hdr[0] ^= 1;                                            /* bad magic */
	assert_false(vs_nbd_hs_option_header(hdr, &opt, &len));
}

static void test_list_abort_unknown(void **state)
{
	struct nbd_hs hs;
	struct nbd_out o = {0};
	struct reply r;
	(void)state;

	hs_start(&hs, NBD_TLS_OFF);
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_LIST, NULL, 0, &o), NBD_HS_CONTINUE);
	assert_int_equal(count_replies(&o), 3);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_SERVER);
	assert_int_equal(r.opt, NBD_OPT_LIST);
	assert_int_equal(vs_get32(r.data), 4);
	assert_memory_equal(r.data + 4, "disk", 4);
	assert_true(nth_reply(&o, 2, &r));
	assert_int_equal(r.type, NBD_REP_ACK);
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_LIST, (const uint8_t *)"x", 1, &o),
	                 NBD_HS_CONTINUE);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ERR_INVALID);
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, 4242, NULL, 0, &o), NBD_HS_CONTINUE);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ERR_UNSUP);
	assert_int_equal(r.opt, 4242);
	assert_true(r.len > 0);                                 /* a message for a human */
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_ABORT, NULL, 0, &o), NBD_HS_CLOSE);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ACK);
	vs_nbd_out_free(&o);
}

static void test_go_and_info(void **state)
{
	struct nbd_hs hs;
	struct nbd_out o = {0};
	struct reply r;
	struct nbd_tx tx;
	uint8_t d[64];
	const uint16_t reqs[] = { NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME, NBD_INFO_DESCRIPTION, 77 };
	(void)state;

	hs_start(&hs, NBD_TLS_OFF);
	size_t n = go_data(d, "disk", reqs, 4);
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_INFO, d, (uint32_t)n, &o), NBD_HS_CONTINUE);
	assert_int_equal(count_replies(&o), 5);     /* export, name, description, block size, ack */
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_INFO);
	assert_int_equal(r.len, 12);
	assert_int_equal(vs_get16(r.data), NBD_INFO_EXPORT);
	assert_int_equal(vs_get64(r.data + 2), 1 << 20);
	assert_int_equal(vs_get16(r.data + 10),
	                 NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA);
	assert_true(nth_reply(&o, 3, &r));
	assert_int_equal(vs_get16(r.data), NBD_INFO_BLOCK_SIZE);
	assert_int_equal(r.len, 14);
	assert_int_equal(vs_get32(r.data + 2), 512);
	assert_int_equal(vs_get32(r.data + 6), 4096);
	assert_int_equal(vs_get32(r.data + 10), 32 << 20);
	assert_true(nth_reply(&o, 4, &r));
	assert_int_equal(r.type, NBD_REP_ACK);
	assert_int_equal(r.opt, NBD_OPT_INFO);

	/* GO without requests: export and block size still come */
	o.len = 0;
	n = go_data(d, "ro", NULL, 0);
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_GO, d, (uint32_t)n, &o), NBD_HS_TRANSMISSION);
	assert_int_equal(count_replies(&o), 3);
	vs_nbd_hs_tx(&hs, &tx);
	assert_int_equal(tx.size, 1 << 20);
	assert_int_equal(tx.min_block, 512);
	assert_true(tx.tflags & NBD_FLAG_READ_ONLY);
	assert_false(tx.tflags & NBD_FLAG_SEND_DF);             /* no structured replies */
	assert_false(tx.structured);
	assert_false(tx.meta_allocation);
	vs_nbd_out_free(&o);
}

static void test_go_errors(void **state)
{
	struct nbd_hs hs;
	struct nbd_out o = {0};
	struct reply r;
	uint8_t d[64];
	const struct { const char *name; uint32_t type; } cases[] = {
		{ "nope", NBD_REP_ERR_UNKNOWN },
		{ "secret", NBD_REP_ERR_POLICY },
		{ "tls", NBD_REP_ERR_TLS_REQD },
	};
	(void)state;

	hs_start(&hs, NBD_TLS_ON);
	for (size_t i = 0; i < 3; i++) {
		o.len = 0;
		size_t n = go_data(d, cases[i].name, NULL, 0);
		assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_GO, d, (uint32_t)n, &o), NBD_HS_CONTINUE);
		assert_int_equal(count_replies(&o), 1);
		assert_true(nth_reply(&o, 0, &r));
		assert_int_equal(r.type, cases[i].type);
	}
	/* malformed: a name longer than the data, trailing bytes, NUL in the name */
	size_t n = go_data(d, "disk", NULL, 0);
	vs_put32(d, 200);
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_GO, d, (uint32_t)n, &o), NBD_HS_CONTINUE);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ERR_INVALID);
	n = go_data(d, "disk", NULL, 0);
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_GO, d, (uint32_t)n + 1, &o), NBD_HS_CONTINUE);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ERR_INVALID);
	d[5] = 0;
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_GO, d, (uint32_t)n, &o), NBD_HS_CONTINUE);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ERR_INVALID);
	/* a server stopping answers NBD_REP_ERR_SHUTDOWN */
	hs.shutting_down = true;
	n = go_data(d, "disk", NULL, 0);
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_GO, d, (uint32_t)n, &o), NBD_HS_CONTINUE);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ERR_SHUTDOWN);
	vs_nbd_out_free(&o);
}

static void test_export_name(void **state)
{
	struct nbd_hs hs;
	struct nbd_out o = {0};
	(void)state;

	vs_nbd_hs_init(&hs, &fake_ops, NULL, NBD_TLS_OFF);
	assert_true(vs_nbd_hs_client_flags(&hs, NBD_FLAG_C_FIXED_NEWSTYLE));
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_EXPORT_NAME, (const uint8_t *)"disk", 4, &o),
	                 NBD_HS_TRANSMISSION);
	assert_int_equal(o.len, 8 + 2 + 124);                   /* zeroes: not declined */
	assert_int_equal(vs_get64(o.buf), 1 << 20);
	hs_start(&hs, NBD_TLS_OFF);
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_EXPORT_NAME, (const uint8_t *)"disk", 4, &o),
	                 NBD_HS_TRANSMISSION);
	assert_int_equal(o.len, 8 + 2);                         /* NO_ZEROES */
	/* an export it cannot give: no way to say so but closing */
	o.len = 0;
	hs_start(&hs, NBD_TLS_OFF);
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_EXPORT_NAME, (const uint8_t *)"nope", 4, &o),
	                 NBD_HS_CLOSE);
	assert_int_equal(o.len, 0);
	/* a plain newstyle client may send only EXPORT_NAME */
	vs_nbd_hs_init(&hs, &fake_ops, NULL, NBD_TLS_OFF);
	assert_true(vs_nbd_hs_client_flags(&hs, 0));
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_LIST, NULL, 0, &o), NBD_HS_CLOSE);
	vs_nbd_out_free(&o);
}

static void test_structured_and_meta_context(void **state)
{
	struct nbd_hs hs;
	struct nbd_out o = {0};
	struct reply r;
	struct nbd_tx tx;
	uint8_t d[256];
	const char *alloc[] = { "base:allocation" };
	const char *other[] = { "qemu:dirty-bitmap:x", "base:unknown" };
	const char *bad[] = { "nocolon" };
	const char *wild[] = { "base:" };
	size_t n;
	(void)state;

	hs_start(&hs, NBD_TLS_OFF);
	/* needs structured replies first */
	n = meta_data(d, "disk", alloc, 1);
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_SET_META_CONTEXT, d, (uint32_t)n, &o),
	                 NBD_HS_CONTINUE);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ERR_INVALID);
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_STRUCTURED_REPLY, NULL, 0, &o), NBD_HS_CONTINUE);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ACK);

	/* LIST with no query: everything we have */
	o.len = 0;
	n = meta_data(d, "disk", NULL, 0);
	vs_nbd_hs_option(&hs, NBD_OPT_LIST_META_CONTEXT, d, (uint32_t)n, &o);
	assert_int_equal(count_replies(&o), 2);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_META_CONTEXT);
	assert_memory_equal(r.data + 4, "base:allocation", 15);
	/* "base:" is a wildcard for LIST but selects nothing in SET */
	o.len = 0;
	n = meta_data(d, "disk", wild, 1);
	vs_nbd_hs_option(&hs, NBD_OPT_LIST_META_CONTEXT, d, (uint32_t)n, &o);
	assert_int_equal(count_replies(&o), 2);
	o.len = 0;
	vs_nbd_hs_option(&hs, NBD_OPT_SET_META_CONTEXT, d, (uint32_t)n, &o);
	assert_int_equal(count_replies(&o), 1);
	/* unknown namespaces and leaves are ignored, not errors */
	o.len = 0;
	n = meta_data(d, "disk", other, 2);
	vs_nbd_hs_option(&hs, NBD_OPT_SET_META_CONTEXT, d, (uint32_t)n, &o);
	assert_int_equal(count_replies(&o), 1);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ACK);
	/* a query without a namespace is invalid */
	o.len = 0;
	n = meta_data(d, "disk", bad, 1);
	vs_nbd_hs_option(&hs, NBD_OPT_SET_META_CONTEXT, d, (uint32_t)n, &o);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ERR_INVALID);
	/* bytes after the last query: invalid */
	o.len = 0;
	n = meta_data(d, "disk", alloc, 1);
	d[n] = 'x';
	vs_nbd_hs_option(&hs, NBD_OPT_SET_META_CONTEXT, d, (uint32_t)n + 1, &o);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ERR_INVALID);
	/* a query length past the end is invalid */
	o.len = 0;
	n = meta_data(d, "disk", alloc, 1);
	vs_nbd_hs_option(&hs, NBD_OPT_SET_META_CONTEXT, d, (uint32_t)n - 3, &o);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ERR_INVALID);

	/* select base:allocation on "disk", then GO "disk": block status allowed */
	o.len = 0;
	n = meta_data(d, "disk", alloc, 1);
	vs_nbd_hs_option(&hs, NBD_OPT_SET_META_CONTEXT, d, (uint32_t)n, &o);
	assert_int_equal(count_replies(&o), 2);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_META_CONTEXT);
	assert_int_equal(vs_get32(r.data), NBD_META_ID_ALLOCATION);
	struct nbd_hs keep = hs;
	o.len = 0;
	n = go_data(d, "disk", NULL, 0);
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_GO, d, (uint32_t)n, &o), NBD_HS_TRANSMISSION);
	vs_nbd_hs_tx(&hs, &tx);
	assert_true(tx.structured);
	assert_true(tx.meta_allocation);
	assert_true(tx.tflags & NBD_FLAG_SEND_DF);
	/* ... but not for another export than the one it was selected on */
	hs = keep;
	o.len = 0;
	n = go_data(d, "ro", NULL, 0);
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_GO, d, (uint32_t)n, &o), NBD_HS_TRANSMISSION);
	vs_nbd_hs_tx(&hs, &tx);
	assert_false(tx.meta_allocation);
	vs_nbd_out_free(&o);
}

static void test_tls_modes(void **state)
{
	struct nbd_hs hs;
	struct nbd_out o = {0};
	struct reply r;
	uint8_t d[64];
	size_t n = go_data(d, "disk", NULL, 0);
	(void)state;

	/* NOTLS: STARTTLS refused by policy */
	hs_start(&hs, NBD_TLS_OFF);
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_STARTTLS, NULL, 0, &o), NBD_HS_CONTINUE);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ERR_POLICY);

	/* FORCEDTLS: everything but STARTTLS / ABORT waits for TLS */
	hs_start(&hs, NBD_TLS_REQUIRE);
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_GO, d, (uint32_t)n, &o), NBD_HS_CONTINUE);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ERR_TLS_REQD);
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_LIST, NULL, 0, &o), NBD_HS_CONTINUE);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ERR_TLS_REQD);
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_EXPORT_NAME, (const uint8_t *)"disk", 4, &o),
	                 NBD_HS_CLOSE);
	hs_start(&hs, NBD_TLS_REQUIRE);
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_STRUCTURED_REPLY, NULL, 0, &o), NBD_HS_CONTINUE);
	assert_false(hs.structured);
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_STARTTLS, (const uint8_t *)"x", 1, &o),
	                 NBD_HS_CONTINUE);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ERR_INVALID);
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_STARTTLS, NULL, 0, &o), NBD_HS_STARTTLS);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ACK);
	hs.tls = true;                  /* the connection ran the TLS handshake */
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_STARTTLS, NULL, 0, &o), NBD_HS_CONTINUE);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.type, NBD_REP_ERR_INVALID);
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_GO, d, (uint32_t)n, &o), NBD_HS_TRANSMISSION);

	/* STARTTLS forgets what was negotiated before it */
	hs_start(&hs, NBD_TLS_ON);
	vs_nbd_hs_option(&hs, NBD_OPT_STRUCTURED_REPLY, NULL, 0, &o);
	assert_true(hs.structured);
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_STARTTLS, NULL, 0, &o), NBD_HS_STARTTLS);
	assert_false(hs.structured);
	vs_nbd_out_free(&o);
}

static void test_pending_lookup(void **state)
{
	struct nbd_hs hs;
	struct nbd_out o = {0};
	struct reply r;
	struct nbd_export_info info = { .size = 4096, .min_block = 512, .pref_block = 4096,
	                                .max_payload = 1 << 20 };
	uint8_t d[64];
	size_t n = go_data(d, "slow", NULL, 0);
	(void)state;

	hs_start(&hs, NBD_TLS_OFF);
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_GO, d, (uint32_t)n, &o), NBD_HS_WAIT);
	assert_int_equal(o.len, 0);
	assert_int_equal(vs_nbd_hs_resume(&hs, NBD_LOOKUP_OK, &info, &o), NBD_HS_TRANSMISSION);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.opt, NBD_OPT_GO);
	assert_int_equal(vs_get64(r.data + 2), 4096);
	/* a failed open answers the option that waited */
	hs_start(&hs, NBD_TLS_OFF);
	o.len = 0;
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_INFO, d, (uint32_t)n, &o), NBD_HS_WAIT);
	/* an option sent before the final reply breaks the protocol */
	assert_int_equal(vs_nbd_hs_option(&hs, NBD_OPT_LIST, NULL, 0, &o), NBD_HS_CLOSE);
	assert_int_equal(vs_nbd_hs_resume(&hs, NBD_LOOKUP_FAILED, NULL, &o), NBD_HS_CONTINUE);
	assert_true(nth_reply(&o, 0, &r));
	assert_int_equal(r.opt, NBD_OPT_INFO);
	assert_int_equal(r.type, NBD_REP_ERR_UNKNOWN);
	vs_nbd_out_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_flags_and_headers),
		cmocka_unit_test(test_list_abort_unknown),
		cmocka_unit_test(test_go_and_info),
		cmocka_unit_test(test_go_errors),
		cmocka_unit_test(test_export_name),
		cmocka_unit_test(test_structured_and_meta_context),
		cmocka_unit_test(test_tls_modes),
		cmocka_unit_test(test_pending_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
