/* SPDX-License-Identifier: MIT */
/*
 * Fixed newstyle option haggling (proto.md "Handshake", "TLS support",
 * "Option types"), one option at a time, without I/O: the connection reads
 * the client flags and each option, hands them here, sends what lands in
 * the output buffer and does what the returned action says.
 *
 * TLS modes (proto.md "Server-side requirements"): OFF is NOTLS (STARTTLS
 * gets NBD_REP_ERR_POLICY); ON is SELECTIVETLS (TLS when the client asks;
 * an export whose access list names TLS identities is TLS-only); REQUIRE
 * is FORCEDTLS (every option but STARTTLS and ABORT gets
 * NBD_REP_ERR_TLS_REQD until TLS runs; EXPORT_NAME closes).
 */
#ifndef VSTOR_NBD_HANDSHAKE_H
#define VSTOR_NBD_HANDSHAKE_H

#include "nbd_proto.h"

enum nbd_tls_mode { NBD_TLS_OFF = 0, NBD_TLS_ON, NBD_TLS_REQUIRE };

/* What GO / INFO / EXPORT_NAME tell the client about an export. */
struct nbd_export_info {
	uint64_t size;
	uint16_t tflags;                /* NBD_FLAG_*; the handshake adds SEND_DF */
	uint32_t min_block, pref_block, max_payload;
	const char *description;        /* may be NULL */
};

enum nbd_lookup {
	NBD_LOOKUP_OK = 0,              /* info filled */
	NBD_LOOKUP_PENDING,             /* answer later with vs_nbd_hs_resume */
	NBD_LOOKUP_UNKNOWN,             /* no such export (or not for this client) */
	NBD_LOOKUP_DENIED,              /* exists, access list says no */
	NBD_LOOKUP_TLS_REQD,            /* only over TLS */
	NBD_LOOKUP_FAILED,              /* exists, cannot be opened now */
	NBD_LOOKUP_SHUTDOWN,            /* the server is stopping */
};

struct nbd_hs_ops {
	/* Export `name` (NUL-terminated copy) for GO / INFO / EXPORT_NAME. */
	enum nbd_lookup (*lookup)(void *ctx, const char *name, bool go,
	                          struct nbd_export_info *info);
	/* The i-th export this client may see (NBD_OPT_LIST); NULL past the end. */
	const char *(*list)(void *ctx, size_t i, const char **description);
};

enum nbd_hs_action {
	NBD_HS_CONTINUE = 0,            /* send the output, read the next option */
	NBD_HS_WAIT,                    /* a lookup is pending */
	NBD_HS_STARTTLS,                /* send the output, then the TLS handshake */
	NBD_HS_TRANSMISSION,            /* send the output, then transmission */
	NBD_HS_CLOSE,                   /* send the output, then close */
};

struct nbd_hs {
	const struct nbd_hs_ops *ops;
	void *ctx;
	enum nbd_tls_mode tls_mode;
	bool tls;                       /* TLS runs on the connection */
	bool fixed, no_zeroes;
	bool structured;
	bool shutting_down;
	bool meta_set, meta_allocation; /* last SET_META_CONTEXT and what it chose */
	char meta_name[NBD_STRING_MAX + 1];
	uint32_t pending;               /* option waiting for its lookup (0: none) */
	bool want_name, want_description;
	char name[NBD_STRING_MAX + 1];  /* the export being looked up / chosen */
	struct nbd_export_info info;    /* the chosen export's */
};

void vs_nbd_hs_init(struct nbd_hs *hs, const struct nbd_hs_ops *ops, void *ctx,
                 enum nbd_tls_mode mode);
/* The 32-bit client flags: false means close (unknown bits). */
bool vs_nbd_hs_client_flags(struct nbd_hs *hs, uint32_t flags);
/* Parse an option header: false means close (bad magic, hostile length). */
bool vs_nbd_hs_option_header(const uint8_t hdr[NBD_OPT_HDR_LEN], uint32_t *opt, uint32_t *len);
enum nbd_hs_action vs_nbd_hs_option(struct nbd_hs *hs, uint32_t opt, const uint8_t *data,
                                 uint32_t len, struct nbd_out *out);
/* The answer to a lookup that said PENDING. */
enum nbd_hs_action vs_nbd_hs_resume(struct nbd_hs *hs, enum nbd_lookup rc,
                                 const struct nbd_export_info *info, struct nbd_out *out);
/* After TRANSMISSION: what the request checks need. */
void vs_nbd_hs_tx(const struct nbd_hs *hs, struct nbd_tx *tx);

#endif
