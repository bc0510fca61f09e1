/* SPDX-License-Identifier: MIT */
/*
 * Option payloads (proto.md "Option types"): NBD_OPT_INFO / NBD_OPT_GO
 * (name, information requests) and NBD_OPT_{LIST,SET}_META_CONTEXT
 * (name, queries).  Every length is checked against what is left before
 * it is used; a payload whose pieces do not add up to the option length
 * is NBD_REP_ERR_INVALID.
 */
#include <string.h>

#include "nbd_proto.h"

#define META_BASE          "base:"
#define META_ALLOCATION    "base:allocation"

bool vs_nbd_string_ok(const uint8_t *s, uint32_t len)
{
	/* proto.md "Conventions": no NUL, at most 4096 bytes */
	return len <= NBD_STRING_MAX && (len == 0 || !memchr(s, 0, len));
}

uint32_t vs_nbd_opt_parse_go(const uint8_t *d, uint32_t len, struct nbd_opt_go *out)
{
	uint32_t at;

	memset(out, 0, sizeof(*out));
	if (len < 6)
		return NBD_REP_ERR_INVALID;
	out->name_len = vs_get32(d);
	if (out->name_len > len - 6)
		return NBD_REP_ERR_INVALID;
	out->name = d + 4;
	if (!vs_nbd_string_ok(out->name, out->name_len))
		return NBD_REP_ERR_INVALID;
	at = 4 + out->name_len;
	out->nreqs = vs_get16(d + at);
	at += 2;
	if ((uint64_t)out->nreqs * 2 != len - at)
		return NBD_REP_ERR_INVALID;
	for (uint32_t i = 0; i < out->nreqs; i++) {
		switch (vs_get16(d + at + 2 * i)) {
		case NBD_INFO_NAME:
			out->want_name = true;
			break;
		case NBD_INFO_DESCRIPTION:
			out->want_description = true;
			break;
		case NBD_INFO_BLOCK_SIZE:
			out->want_block_size = true;
			break;
		default:
			break;          /* NBD_INFO_EXPORT always comes; others ignored */
		}
	}
	return 0;
}

/* One query: namespace, colon, leaf.  What it selects of ours. */
static uint32_t meta_query(const uint8_t *q, uint32_t n, bool list, struct nbd_opt_meta *out)
{
	const uint8_t *colon = memchr(q, ':', n);

	if (!vs_nbd_string_ok(q, n) || !colon || colon == q)
		return NBD_REP_ERR_INVALID;     /* "MUST start with a namespace and a colon" */
	if (n == strlen(META_ALLOCATION) && !memcmp(q, META_ALLOCATION, n))
		out->allocation = true;
	/* "base:" lists the whole namespace, but selects nothing */
	else if (list && n == strlen(META_BASE) && !memcmp(q, META_BASE, n))
		out->allocation = true;
	/* unknown namespaces and leaves are ignored, not errors */
	return 0;
}

uint32_t vs_nbd_opt_parse_meta(const uint8_t *d, uint32_t len, bool list, struct nbd_opt_meta *out)
{
	uint32_t at;

	memset(out, 0, sizeof(*out));
	if (len < 8)
		return NBD_REP_ERR_INVALID;
	out->name_len = vs_get32(d);
	if (out->name_len > len - 8)
		return NBD_REP_ERR_INVALID;
	out->name = d + 4;
	if (!vs_nbd_string_ok(out->name, out->name_len))
		return NBD_REP_ERR_INVALID;
	at = 4 + out->name_len;
	out->nqueries = vs_get32(d + at);
	at += 4;
	for (uint32_t i = 0; i < out->nqueries; i++) {
		uint32_t n;
		uint32_t err;

		if (len - at < 4)
			return NBD_REP_ERR_INVALID;
		n = vs_get32(d + at);
		at += 4;
		if (n > len - at)
			return NBD_REP_ERR_INVALID;
		err = meta_query(d + at, n, list, out);
		if (err)
			return err;
		at += n;
	}
	if (at != len)
		return NBD_REP_ERR_INVALID;
	if (out->nqueries == 0) {
		out->all = true;
		out->allocation = list;         /* LIST: all we have; SET: none */
	}
	return 0;
}
