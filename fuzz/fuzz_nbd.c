/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the NBD server's protocol code, fed as a client would
 * feed it.  The input is a byte stream: 4 bytes of client flags, then
 * options (16-byte header + data) through the handshake until it enters
 * transmission (a STARTTLS is taken as done), then 28-byte request
 * headers (a WRITE's payload skipped).  Besides "no crash, no leak" it
 * checks properties: every option reply is well framed and answers the
 * option asked; a request that is let through lies inside the export and
 * is aligned; a hostile length never gets past the checks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fabrics/nbd/nbd_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum nbd_lookup lookup(void *ctx, const char *name, bool go,
                              struct nbd_export_info *info)
{
	(void)ctx;
	(void)go;
	if (!strcmp(name, "later"))
		return NBD_LOOKUP_PENDING;
	if (!strcmp(name, "no"))
		return NBD_LOOKUP_DENIED;
	if (strcmp(name, "") && strcmp(name, "a"))
		return NBD_LOOKUP_UNKNOWN;
	info->size = 1 << 20;
	info->tflags = NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM |
	               NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO | NBD_FLAG_SEND_CACHE;
	info->min_block = 512;
	info->pref_block = 4096;
	info->max_payload = 1 << 16;
	info->description = "fuzz";
	return NBD_LOOKUP_OK;
}

static const char *list(void *ctx, size_t i, const char **desc)
{
	(void)ctx;
	*desc = "d";
	return i == 0 ? "a" : NULL;
}

static const struct nbd_hs_ops ops = { .lookup = lookup, .list = list };

/* Every reply is magic, our option, a type and exactly its length. */
static void check_replies(const struct nbd_out *o, uint32_t opt, bool export_name)
{
	size_t at = 0;

	if (export_name)
		return;         /* size + flags (+ zeroes), no framing */
	while (at < o->len) {
		if (o->len - at < NBD_OPT_REPLY_HDR_LEN ||
		    vs_get64(o->buf + at) != NBD_MAGIC_OPT_REPLY || vs_get32(o->buf + at + 8) != opt)
			abort();
		at += NBD_OPT_REPLY_HDR_LEN + vs_get32(o->buf + at + 16);
		if (at > o->len)
			abort();
	}
}

static void transmission(const struct nbd_hs *hs, const uint8_t *p, size_t n)
{
	struct nbd_tx tx;

	vs_nbd_hs_tx(hs, &tx);
	while (n >= NBD_REQUEST_LEN) {
		struct nbd_request r;
		struct nbd_verdict v;

		if (!vs_nbd_request_parse(p, &r))
			return;                 /* bad magic: the server closes */
		p += NBD_REQUEST_LEN;
		n -= NBD_REQUEST_LEN;
		vs_nbd_request_check(&tx, &r, &v);
		if (v.close) {
			if (r.length <= tx.max_payload)
				abort();
			return;
		}
		if (!v.error && r.type != NBD_CMD_DISC && r.type != NBD_CMD_FLUSH &&
		    (r.offset % tx.min_block || r.length % tx.min_block || !r.length ||
		     r.offset + r.length > tx.size || r.offset + r.length < r.offset))
			abort();
		if (v.payload) {
			size_t skip = r.length < n ? r.length : n;
			p += skip;
			n -= skip;
		}
		if (r.type == NBD_CMD_DISC)
			return;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nbd_hs hs;
	struct nbd_out o = {0};
	const uint8_t *p = data;
	size_t n = size;

	if (n < 5)
		return 0;
	/* first byte picks the TLS mode, then the client flags */
	vs_nbd_hs_init(&hs, &ops, NULL, (enum nbd_tls_mode)(p[0] % 3));
	if (!vs_nbd_hs_client_flags(&hs, vs_get32(p + 1)))
		return 0;
	p += 5;
	n -= 5;
	while (n >= NBD_OPT_HDR_LEN) {
		uint32_t opt, len;
		enum nbd_hs_action a;

		if (!vs_nbd_hs_option_header(p, &opt, &len))
			break;
		p += NBD_OPT_HDR_LEN;
		n -= NBD_OPT_HDR_LEN;
		if (len > n)
			break;                  /* the connection would wait for more */
		o.len = 0;
		a = vs_nbd_hs_option(&hs, opt, p, len, &o);
		p += len;
		n -= len;
		if (a == NBD_HS_WAIT) {
			struct nbd_export_info info = { .size = 4096, .min_block = 512,
			                                .pref_block = 4096, .max_payload = 4096 };
			a = vs_nbd_hs_resume(&hs, n && (p[0] & 1) ? NBD_LOOKUP_OK : NBD_LOOKUP_FAILED,
			                  &info, &o);
		}
		if (o.overflow)
			abort();
		check_replies(&o, opt, opt == NBD_OPT_EXPORT_NAME);
		if (a == NBD_HS_STARTTLS)
			hs.tls = true;
		if (a == NBD_HS_CLOSE)
			break;
		if (a == NBD_HS_TRANSMISSION) {
			transmission(&hs, p, n);
			break;
		}
	}
	vs_nbd_out_free(&o);
	return 0;
}
