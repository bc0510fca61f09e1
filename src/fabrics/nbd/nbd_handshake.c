/* SPDX-License-Identifier: MIT */
/* Fixed newstyle option haggling: see nbd_handshake.h. */
#include <string.h>

#include "nbd_handshake.h"

#define META_ALLOCATION "base:allocation"

void vs_nbd_hs_init(struct nbd_hs *hs, const struct nbd_hs_ops *ops, void *ctx,
                 enum nbd_tls_mode mode)
{
	memset(hs, 0, sizeof(*hs));
	hs->ops = ops;
	hs->ctx = ctx;
	hs->tls_mode = mode;
}

bool vs_nbd_hs_client_flags(struct nbd_hs *hs, uint32_t flags)
{
	/* proto.md "Client flags": an unknown flag drops the connection */
	if (flags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))
		return false;
	hs->fixed = flags & NBD_FLAG_C_FIXED_NEWSTYLE;
	hs->no_zeroes = flags & NBD_FLAG_C_NO_ZEROES;
	/* TLS needs fixed newstyle ("TLS support") */
	return hs->fixed || hs->tls_mode != NBD_TLS_REQUIRE;
}

bool vs_nbd_hs_option_header(const uint8_t hdr[NBD_OPT_HDR_LEN], uint32_t *opt, uint32_t *len)
{
	*opt = vs_get32(hdr + 8);
	*len = vs_get32(hdr + 12);
	return vs_get64(hdr) == NBD_MAGIC_OPT && *len <= NBD_OPT_DATA_MAX;
}

static void copy_name(char *dst, const uint8_t *s, uint32_t n)
{
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* STARTTLS drops what was negotiated before it ("NBD_OPT_STARTTLS") */
static void forget_negotiation(struct nbd_hs *hs)
{
	hs->structured = false;
	hs->meta_set = false;
	hs->meta_allocation = false;
}

static enum nbd_hs_action starttls(struct nbd_hs *hs, uint32_t len, struct nbd_out *out)
{
	if (len) {
		vs_nbd_wire_opt_error(out, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID, "STARTTLS takes no data");
	} else if (hs->tls) {
		vs_nbd_wire_opt_error(out, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID, "TLS already runs");
	} else if (hs->tls_mode == NBD_TLS_OFF) {
		vs_nbd_wire_opt_error(out, NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY, "TLS is not configured");
	} else {
		vs_nbd_wire_opt_reply(out, NBD_OPT_STARTTLS, NBD_REP_ACK, NULL, 0);
		forget_negotiation(hs);
		return NBD_HS_STARTTLS;
	}
	return NBD_HS_CONTINUE;
}

static enum nbd_hs_action list(struct nbd_hs *hs, uint32_t len, struct nbd_out *out)
{
	const char *name, *desc;

	if (len) {
		vs_nbd_wire_opt_error(out, NBD_OPT_LIST, NBD_REP_ERR_INVALID, "LIST takes no data");
		return NBD_HS_CONTINUE;
	}
	if (hs->shutting_down) {
		vs_nbd_wire_opt_error(out, NBD_OPT_LIST, NBD_REP_ERR_SHUTDOWN, "server shutting down");
		return NBD_HS_CONTINUE;
	}
	for (size_t i = 0; (name = hs->ops->list(hs->ctx, i, &desc)); i++)
		vs_nbd_wire_rep_server(out, name, strlen(name), desc);
	vs_nbd_wire_opt_reply(out, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
	return NBD_HS_CONTINUE;
}

static enum nbd_hs_action meta(struct nbd_hs *hs, uint32_t opt, const uint8_t *d, uint32_t len,
                               struct nbd_out *out)
{
	bool set = opt == NBD_OPT_SET_META_CONTEXT;
	struct nbd_opt_meta m;
	uint32_t err;

	if (set) {
		/* "replaces all previously-set metadata contexts (including
		 * when this command fails)" */
		hs->meta_set = false;
		hs->meta_allocation = false;
	}
	if (!hs->structured) {
		vs_nbd_wire_opt_error(out, opt, NBD_REP_ERR_INVALID, "negotiate structured replies first");
		return NBD_HS_CONTINUE;
	}
	err = vs_nbd_opt_parse_meta(d, len, !set, &m);
	if (err) {
		vs_nbd_wire_opt_error(out, opt, err, "malformed metadata context request");
		return NBD_HS_CONTINUE;
	}
	if (set) {
		hs->meta_set = true;
		hs->meta_allocation = m.allocation;
		copy_name(hs->meta_name, m.name, m.name_len);
	}
	if (m.allocation)
		vs_nbd_wire_rep_meta(out, opt, set ? NBD_META_ID_ALLOCATION : 0, META_ALLOCATION);
	vs_nbd_wire_opt_reply(out, opt, NBD_REP_ACK, NULL, 0);
	return NBD_HS_CONTINUE;
}

static enum nbd_hs_action lookup(struct nbd_hs *hs, uint32_t opt, struct nbd_out *out)
{
	struct nbd_export_info info;
	enum nbd_lookup rc;

	memset(&info, 0, sizeof(info));
	if (hs->shutting_down)
		return vs_nbd_hs_resume(hs, NBD_LOOKUP_SHUTDOWN, NULL, out);
	hs->pending = opt;
	rc = hs->ops->lookup(hs->ctx, hs->name, opt != NBD_OPT_INFO, &info);
	if (rc == NBD_LOOKUP_PENDING)
		return NBD_HS_WAIT;
	return vs_nbd_hs_resume(hs, rc, &info, out);
}

static enum nbd_hs_action go(struct nbd_hs *hs, uint32_t opt, const uint8_t *d, uint32_t len,
                             struct nbd_out *out)
{
	struct nbd_opt_go g;
	uint32_t err = vs_nbd_opt_parse_go(d, len, &g);

	if (err) {
		vs_nbd_wire_opt_error(out, opt, err, "malformed INFO/GO request");
		return NBD_HS_CONTINUE;
	}
	copy_name(hs->name, g.name, g.name_len);
	hs->want_name = g.want_name;
	hs->want_description = g.want_description;
	return lookup(hs, opt, out);
}

static enum nbd_hs_action export_name(struct nbd_hs *hs, const uint8_t *d, uint32_t len,
                                      struct nbd_out *out)
{
	/* no way to say no: an export we cannot give closes the session */
	if (!vs_nbd_string_ok(d, len) || (hs->tls_mode == NBD_TLS_REQUIRE && !hs->tls))
		return NBD_HS_CLOSE;
	copy_name(hs->name, d, len);
	return lookup(hs, NBD_OPT_EXPORT_NAME, out);
}

enum nbd_hs_action vs_nbd_hs_option(struct nbd_hs *hs, uint32_t opt, const uint8_t *d, uint32_t len,
                                 struct nbd_out *out)
{
	if (hs->pending)
		return NBD_HS_CLOSE;    /* a client must wait for the final reply */
	if (opt == NBD_OPT_EXPORT_NAME)
		return export_name(hs, d, len, out);
	if (!hs->fixed)
		return NBD_HS_CLOSE;    /* plain newstyle knows EXPORT_NAME only */
	if (opt == NBD_OPT_ABORT) {
		vs_nbd_wire_opt_reply(out, opt, NBD_REP_ACK, NULL, 0);
		return NBD_HS_CLOSE;
	}
	if (opt == NBD_OPT_STARTTLS)
		return starttls(hs, len, out);
	if (hs->tls_mode == NBD_TLS_REQUIRE && !hs->tls) {
		vs_nbd_wire_opt_error(out, opt, NBD_REP_ERR_TLS_REQD, "TLS is required");
		return NBD_HS_CONTINUE;
	}
	switch (opt) {
	case NBD_OPT_LIST:
		return list(hs, len, out);
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		return go(hs, opt, d, len, out);
	case NBD_OPT_STRUCTURED_REPLY:
		if (len) {
			vs_nbd_wire_opt_error(out, opt, NBD_REP_ERR_INVALID, "takes no data");
			return NBD_HS_CONTINUE;
		}
		hs->structured = true;
		vs_nbd_wire_opt_reply(out, opt, NBD_REP_ACK, NULL, 0);
		return NBD_HS_CONTINUE;
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		return meta(hs, opt, d, len, out);
	default:
		vs_nbd_wire_opt_error(out, opt, NBD_REP_ERR_UNSUP, "unknown option");
		return NBD_HS_CONTINUE;
	}
}

static uint32_t lookup_error(enum nbd_lookup rc, const char **msg)
{
	switch (rc) {
	case NBD_LOOKUP_DENIED:
		*msg = "access denied";
		return NBD_REP_ERR_POLICY;
	case NBD_LOOKUP_TLS_REQD:
		*msg = "this export needs TLS";
		return NBD_REP_ERR_TLS_REQD;
	case NBD_LOOKUP_SHUTDOWN:
		*msg = "server shutting down";
		return NBD_REP_ERR_SHUTDOWN;
	case NBD_LOOKUP_FAILED:
		*msg = "export cannot be opened";
		return NBD_REP_ERR_UNKNOWN;
	default:
		*msg = "no such export";
		return NBD_REP_ERR_UNKNOWN;
	}
}

enum nbd_hs_action vs_nbd_hs_resume(struct nbd_hs *hs, enum nbd_lookup rc,
                                 const struct nbd_export_info *info, struct nbd_out *out)
{
	uint32_t opt = hs->pending ? hs->pending : NBD_OPT_GO;
	const char *msg;

	hs->pending = 0;
	if (opt == NBD_OPT_EXPORT_NAME) {
		if (rc != NBD_LOOKUP_OK)
			return NBD_HS_CLOSE;
		hs->info = *info;
		hs->info.tflags |= NBD_FLAG_HAS_FLAGS;
		if (hs->structured)
			hs->info.tflags |= NBD_FLAG_SEND_DF;
		vs_nbd_wire_export_name_reply(out, info->size, hs->info.tflags, hs->no_zeroes);
		return NBD_HS_TRANSMISSION;
	}
	if (rc != NBD_LOOKUP_OK) {
		uint32_t type = lookup_error(rc, &msg);

		vs_nbd_wire_opt_error(out, opt, type, msg);
		return NBD_HS_CONTINUE;
	}
	hs->info = *info;
	hs->info.tflags |= NBD_FLAG_HAS_FLAGS;
	/* a READ always answers in one data chunk: DF costs nothing */
	if (hs->structured)
		hs->info.tflags |= NBD_FLAG_SEND_DF;
	vs_nbd_wire_info_export(out, opt, info->size, hs->info.tflags);
	if (hs->want_name)
		vs_nbd_wire_info_string(out, opt, NBD_INFO_NAME, hs->name);
	if (hs->want_description && info->description)
		vs_nbd_wire_info_string(out, opt, NBD_INFO_DESCRIPTION, info->description);
	/* sent unasked too: our minimum block is not the default of 1
	 * ("Size constraints"), and a client that did not ask may still
	 * learn it */
	vs_nbd_wire_info_block_size(out, opt, info->min_block, info->pref_block, info->max_payload);
	vs_nbd_wire_opt_reply(out, opt, NBD_REP_ACK, NULL, 0);
	return opt == NBD_OPT_GO ? NBD_HS_TRANSMISSION : NBD_HS_CONTINUE;
}

void vs_nbd_hs_tx(const struct nbd_hs *hs, struct nbd_tx *tx)
{
	tx->size = hs->info.size;
	tx->min_block = hs->info.min_block;
	tx->max_payload = hs->info.max_payload;
	tx->tflags = hs->info.tflags;
	tx->structured = hs->structured;
	/* selected for the export actually chosen ("Metadata querying") */
	tx->meta_allocation = hs->structured && hs->meta_set && hs->meta_allocation &&
	                      !strcmp(hs->meta_name, hs->name);
}
