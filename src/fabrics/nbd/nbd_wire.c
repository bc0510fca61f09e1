/* SPDX-License-Identifier: MIT */
/*
 * Every message the NBD server sends, laid out as the protocol document
 * says ("Newstyle negotiation", "Fixed newstyle negotiation", "Option
 * reply types", "Simple reply message", "Structured reply chunk message").
 */
#include <stdlib.h>
#include <string.h>

#include "nbd_proto.h"

void vs_nbd_out_init_fixed(struct nbd_out *o, void *buf, size_t cap)
{
	*o = (struct nbd_out){ .buf = buf, .cap = cap, .fixed = true };
}

void vs_nbd_out_free(struct nbd_out *o)
{
	if (!o->fixed)
		free(o->buf);
	o->buf = NULL;
	o->len = o->cap = 0;
}

void vs_nbd_out_put(struct nbd_out *o, const void *p, size_t n)
{
	if (o->overflow)
		return;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		uint8_t *b;

		while (cap < o->len + n && cap < (SIZE_MAX >> 1))
			cap *= 2;
		if (o->fixed || !(b = realloc(o->buf, cap))) {
			o->overflow = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	if (n)
		memcpy(o->buf + o->len, p, n);
	o->len += n;
}

void vs_nbd_out_be16(struct nbd_out *o, uint16_t v)
{
	uint8_t b[2];

	vs_put16(b, v);
	vs_nbd_out_put(o, b, sizeof(b));
}

void vs_nbd_out_be32(struct nbd_out *o, uint32_t v)
{
	uint8_t b[4];

	vs_put32(b, v);
	vs_nbd_out_put(o, b, sizeof(b));
}

void vs_nbd_out_be64(struct nbd_out *o, uint64_t v)
{
	uint8_t b[8];

	vs_put64(b, v);
	vs_nbd_out_put(o, b, sizeof(b));
}

void vs_nbd_wire_greeting(struct nbd_out *o)
{
	vs_nbd_out_be64(o, NBD_MAGIC_INIT);
	vs_nbd_out_be64(o, NBD_MAGIC_OPT);
	vs_nbd_out_be16(o, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
}

void vs_nbd_wire_opt_reply(struct nbd_out *o, uint32_t opt, uint32_t type, const void *data,
                        uint32_t len)
{
	vs_nbd_out_be64(o, NBD_MAGIC_OPT_REPLY);
	vs_nbd_out_be32(o, opt);
	vs_nbd_out_be32(o, type);
	vs_nbd_out_be32(o, len);
	vs_nbd_out_put(o, data, len);
}

void vs_nbd_wire_opt_error(struct nbd_out *o, uint32_t opt, uint32_t type, const char *msg)
{
	vs_nbd_wire_opt_reply(o, opt, type, msg, msg ? (uint32_t)strnlen(msg, NBD_STRING_MAX) : 0);
}

void vs_nbd_wire_rep_server(struct nbd_out *o, const char *name, size_t name_len, const char *desc)
{
	size_t dlen = desc ? strnlen(desc, NBD_STRING_MAX) : 0;

	vs_nbd_out_be64(o, NBD_MAGIC_OPT_REPLY);
	vs_nbd_out_be32(o, NBD_OPT_LIST);
	vs_nbd_out_be32(o, NBD_REP_SERVER);
	vs_nbd_out_be32(o, (uint32_t)(4 + name_len + dlen));
	vs_nbd_out_be32(o, (uint32_t)name_len);
	vs_nbd_out_put(o, name, name_len);
	vs_nbd_out_put(o, desc, dlen);
}

void vs_nbd_wire_rep_meta(struct nbd_out *o, uint32_t opt, uint32_t id, const char *name)
{
	size_t n = strlen(name);

	vs_nbd_out_be64(o, NBD_MAGIC_OPT_REPLY);
	vs_nbd_out_be32(o, opt);
	vs_nbd_out_be32(o, NBD_REP_META_CONTEXT);
	vs_nbd_out_be32(o, (uint32_t)(4 + n));
	vs_nbd_out_be32(o, id);
	vs_nbd_out_put(o, name, n);
}

static void info_header(struct nbd_out *o, uint32_t opt, uint16_t type, uint32_t len)
{
	vs_nbd_out_be64(o, NBD_MAGIC_OPT_REPLY);
	vs_nbd_out_be32(o, opt);
	vs_nbd_out_be32(o, NBD_REP_INFO);
	vs_nbd_out_be32(o, 2 + len);
	vs_nbd_out_be16(o, type);
}

void vs_nbd_wire_info_export(struct nbd_out *o, uint32_t opt, uint64_t size, uint16_t flags)
{
	info_header(o, opt, NBD_INFO_EXPORT, 10);
	vs_nbd_out_be64(o, size);
	vs_nbd_out_be16(o, flags);
}

void vs_nbd_wire_info_string(struct nbd_out *o, uint32_t opt, uint16_t type, const char *s)
{
	size_t n = strnlen(s, NBD_STRING_MAX);

	info_header(o, opt, type, (uint32_t)n);
	vs_nbd_out_put(o, s, n);
}

void vs_nbd_wire_info_block_size(struct nbd_out *o, uint32_t opt, uint32_t min, uint32_t pref,
                              uint32_t max)
{
	info_header(o, opt, NBD_INFO_BLOCK_SIZE, 12);
	vs_nbd_out_be32(o, min);
	vs_nbd_out_be32(o, pref);
	vs_nbd_out_be32(o, max);
}

void vs_nbd_wire_export_name_reply(struct nbd_out *o, uint64_t size, uint16_t flags,
                                bool no_zeroes)
{
	static const uint8_t zeroes[124];

	vs_nbd_out_be64(o, size);
	vs_nbd_out_be16(o, flags);
	if (!no_zeroes)
		vs_nbd_out_put(o, zeroes, sizeof(zeroes));
}

void vs_nbd_wire_simple_reply(uint8_t out[NBD_SIMPLE_REPLY_LEN], uint32_t error, uint64_t handle)
{
	vs_put32(out, NBD_MAGIC_SIMPLE_REPLY);
	vs_put32(out + 4, error);
	vs_put64(out + 8, handle);
}

void vs_nbd_wire_chunk(uint8_t out[NBD_CHUNK_HDR_LEN], uint16_t flags, uint16_t type,
                    uint64_t handle, uint32_t len)
{
	vs_put32(out, NBD_MAGIC_STRUCTURED_REPLY);
	vs_put16(out + 4, flags);
	vs_put16(out + 6, type);
	vs_put64(out + 8, handle);
	vs_put32(out + 16, len);
}

void vs_nbd_wire_error_chunk(struct nbd_out *o, uint64_t handle, uint32_t error, const char *msg)
{
	uint8_t hdr[NBD_CHUNK_HDR_LEN];
	size_t n = msg ? strnlen(msg, 1024) : 0;

	vs_nbd_wire_chunk(hdr, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, handle, (uint32_t)(6 + n));
	vs_nbd_out_put(o, hdr, sizeof(hdr));
	vs_nbd_out_be32(o, error);
	vs_nbd_out_be16(o, (uint16_t)n);
	vs_nbd_out_put(o, msg, n);
}
