/* SPDX-License-Identifier: MIT */
/*
 * The NBD protocol (NetworkBlockDevice/nbd doc/proto.md) as vstor speaks
 * it: the numbers, the wire layouts, and the pure pieces of the server
 * that turn bytes into decisions and decisions into bytes, with no socket
 * and no event loop, so that a fuzzer can drive them:
 *
 *   nbd_wire.c       builders for every message the server sends
 *   nbd_option.c     option payloads (GO / INFO, meta-context queries)
 *   nbd_handshake.c  fixed newstyle option haggling, one option at a time
 *   nbd_request.c    transmission request headers and what they may do
 *
 * All integers on the wire are big-endian ("network byte order").
 */
#ifndef VSTOR_NBD_PROTO_H
#define VSTOR_NBD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../util/vs_be.h"

/* magic numbers */
#define NBD_MAGIC_INIT              0x4e42444d41474943ull   /* "NBDMAGIC" */
#define NBD_MAGIC_OPT               0x49484156454f5054ull   /* "IHAVEOPT" */
#define NBD_MAGIC_OPT_REPLY         0x0003e889045565a9ull
#define NBD_MAGIC_REQUEST           0x25609513u
#define NBD_MAGIC_SIMPLE_REPLY      0x67446698u
#define NBD_MAGIC_STRUCTURED_REPLY  0x668e33efu

/* handshake flags (server) and client flags */
#define NBD_FLAG_FIXED_NEWSTYLE     (1u << 0)
#define NBD_FLAG_NO_ZEROES          (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE   (1u << 0)
#define NBD_FLAG_C_NO_ZEROES        (1u << 1)

/* transmission flags */
#define NBD_FLAG_HAS_FLAGS          (1u << 0)
#define NBD_FLAG_READ_ONLY          (1u << 1)
#define NBD_FLAG_SEND_FLUSH         (1u << 2)
#define NBD_FLAG_SEND_FUA           (1u << 3)
#define NBD_FLAG_ROTATIONAL         (1u << 4)
#define NBD_FLAG_SEND_TRIM          (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES  (1u << 6)
#define NBD_FLAG_SEND_DF            (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN     (1u << 8)
#define NBD_FLAG_SEND_CACHE         (1u << 10)
#define NBD_FLAG_SEND_FAST_ZERO     (1u << 11)

/* options */
#define NBD_OPT_EXPORT_NAME         1u
#define NBD_OPT_ABORT               2u
#define NBD_OPT_LIST                3u
#define NBD_OPT_STARTTLS            5u
#define NBD_OPT_INFO                6u
#define NBD_OPT_GO                  7u
#define NBD_OPT_STRUCTURED_REPLY    8u
#define NBD_OPT_LIST_META_CONTEXT   9u
#define NBD_OPT_SET_META_CONTEXT    10u

/* option reply types; errors have bit 31 set */
#define NBD_REP_ACK                 1u
#define NBD_REP_SERVER              2u
#define NBD_REP_INFO                3u
#define NBD_REP_META_CONTEXT        4u
#define NBD_REP_ERR(n)              ((1u << 31) + (n))
#define NBD_REP_ERR_UNSUP           NBD_REP_ERR(1)
#define NBD_REP_ERR_POLICY          NBD_REP_ERR(2)
#define NBD_REP_ERR_INVALID         NBD_REP_ERR(3)
#define NBD_REP_ERR_PLATFORM        NBD_REP_ERR(4)
#define NBD_REP_ERR_TLS_REQD        NBD_REP_ERR(5)
#define NBD_REP_ERR_UNKNOWN         NBD_REP_ERR(6)
#define NBD_REP_ERR_SHUTDOWN        NBD_REP_ERR(7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD NBD_REP_ERR(8)
#define NBD_REP_ERR_TOO_BIG         NBD_REP_ERR(9)

/* NBD_REP_INFO types */
#define NBD_INFO_EXPORT             0u
#define NBD_INFO_NAME               1u
#define NBD_INFO_DESCRIPTION        2u
#define NBD_INFO_BLOCK_SIZE         3u

/* commands and their flags */
#define NBD_CMD_READ                0u
#define NBD_CMD_WRITE               1u
#define NBD_CMD_DISC                2u
#define NBD_CMD_FLUSH               3u
#define NBD_CMD_TRIM                4u
#define NBD_CMD_CACHE               5u
#define NBD_CMD_WRITE_ZEROES        6u
#define NBD_CMD_BLOCK_STATUS        7u
#define NBD_CMD_FLAG_FUA            (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE        (1u << 1)
#define NBD_CMD_FLAG_DF             (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE        (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO      (1u << 4)

/* structured reply chunks */
#define NBD_REPLY_FLAG_DONE         (1u << 0)
#define NBD_REPLY_TYPE_NONE         0u
#define NBD_REPLY_TYPE_OFFSET_DATA  1u
#define NBD_REPLY_TYPE_OFFSET_HOLE  2u
#define NBD_REPLY_TYPE_BLOCK_STATUS 5u
#define NBD_REPLY_TYPE_ERROR        0x8001u
#define NBD_REPLY_TYPE_ERROR_OFFSET 0x8002u

/* base:allocation states */
#define NBD_STATE_HOLE              (1u << 0)
#define NBD_STATE_ZERO              (1u << 1)

/* error values (not the host's errno numbers, though they match Linux) */
#define NBD_EPERM                   1u
#define NBD_EIO                     5u
#define NBD_ENOMEM                  12u
#define NBD_EINVAL                  22u
#define NBD_ENOSPC                  28u
#define NBD_EOVERFLOW               75u
#define NBD_ENOTSUP                 95u
#define NBD_ESHUTDOWN               108u

/* sizes */
#define NBD_GREETING_LEN            18u     /* NBDMAGIC, IHAVEOPT, handshake flags */
#define NBD_OPT_HDR_LEN             16u     /* IHAVEOPT, option, length */
#define NBD_OPT_REPLY_HDR_LEN       20u
#define NBD_REQUEST_LEN             28u
#define NBD_SIMPLE_REPLY_LEN        16u
#define NBD_CHUNK_HDR_LEN           20u
#define NBD_STRING_MAX              4096u   /* names, queries, messages */
/* Longer option data than this is not an option this server can have
 * been sent in good faith: the connection is closed. */
#define NBD_OPT_DATA_MAX            (64u * 1024u)
#define NBD_META_ID_ALLOCATION      1u      /* our id for base:allocation */

/* ---- output: a growable byte buffer (handshake) or a fixed one ---- */
struct nbd_out {
	uint8_t *buf;
	size_t len, cap;
	bool fixed;             /* never grows: buf is the caller's */
	bool overflow;          /* something did not fit */
};
void vs_nbd_out_init_fixed(struct nbd_out *o, void *buf, size_t cap);
void vs_nbd_out_free(struct nbd_out *o);   /* growable ones */
void vs_nbd_out_put(struct nbd_out *o, const void *p, size_t n);
void vs_nbd_out_be16(struct nbd_out *o, uint16_t v);
void vs_nbd_out_be32(struct nbd_out *o, uint32_t v);
void vs_nbd_out_be64(struct nbd_out *o, uint64_t v);

/* ---- nbd_wire.c: what the server sends ---- */
void vs_nbd_wire_greeting(struct nbd_out *o);
void vs_nbd_wire_opt_reply(struct nbd_out *o, uint32_t opt, uint32_t type, const void *data,
                        uint32_t len);
/* an error reply with a one-line message for a human */
void vs_nbd_wire_opt_error(struct nbd_out *o, uint32_t opt, uint32_t type, const char *msg);
void vs_nbd_wire_rep_server(struct nbd_out *o, const char *name, size_t name_len,
                         const char *desc);
void vs_nbd_wire_rep_meta(struct nbd_out *o, uint32_t opt, uint32_t id, const char *name);
void vs_nbd_wire_info_export(struct nbd_out *o, uint32_t opt, uint64_t size, uint16_t flags);
void vs_nbd_wire_info_string(struct nbd_out *o, uint32_t opt, uint16_t type, const char *s);
void vs_nbd_wire_info_block_size(struct nbd_out *o, uint32_t opt, uint32_t min, uint32_t pref,
                              uint32_t max);
/* NBD_OPT_EXPORT_NAME's answer: size, flags, 124 zeroes unless no_zeroes */
void vs_nbd_wire_export_name_reply(struct nbd_out *o, uint64_t size, uint16_t flags,
                                bool no_zeroes);
/* transmission: headers only; data follows from the caller's buffers */
void vs_nbd_wire_simple_reply(uint8_t out[NBD_SIMPLE_REPLY_LEN], uint32_t error, uint64_t handle);
void vs_nbd_wire_chunk(uint8_t out[NBD_CHUNK_HDR_LEN], uint16_t flags, uint16_t type,
                    uint64_t handle, uint32_t len);
/* NBD_REPLY_TYPE_ERROR chunk with message: header + payload into o */
void vs_nbd_wire_error_chunk(struct nbd_out *o, uint64_t handle, uint32_t error, const char *msg);

/* ---- nbd_option.c: option payloads ---- */
struct nbd_opt_go {
	const uint8_t *name;            /* points into the option data */
	uint32_t name_len;
	uint16_t nreqs;
	bool want_name, want_description, want_block_size;
};
/* NBD_OPT_INFO / NBD_OPT_GO data.  0, or NBD_REP_ERR_INVALID. */
uint32_t vs_nbd_opt_parse_go(const uint8_t *d, uint32_t len, struct nbd_opt_go *out);

struct nbd_opt_meta {
	const uint8_t *name;
	uint32_t name_len;
	uint32_t nqueries;
	bool all;                       /* no queries: everything (LIST) / nothing (SET) */
	bool allocation;                /* a query selects base:allocation */
};
/* NBD_OPT_{LIST,SET}_META_CONTEXT data.  0, or NBD_REP_ERR_INVALID (a
 * length past the end, a query without a namespace, a string over the
 * limit or holding NUL). */
uint32_t vs_nbd_opt_parse_meta(const uint8_t *d, uint32_t len, bool list, struct nbd_opt_meta *out);
/* A string the protocol accepts: at most NBD_STRING_MAX bytes, no NUL. */
bool vs_nbd_string_ok(const uint8_t *s, uint32_t len);

/* ---- nbd_request.c: transmission requests ---- */
struct nbd_request {
	uint16_t flags;
	uint16_t type;
	uint64_t handle;
	uint64_t offset;
	uint32_t length;
};
/* What the server negotiated and knows about the export. */
struct nbd_tx {
	uint64_t size;
	uint32_t min_block;             /* offsets and lengths are multiples */
	uint32_t max_payload;           /* WRITE data / READ data we take at once */
	uint16_t tflags;                /* transmission flags we advertised */
	bool structured;
	bool meta_allocation;           /* base:allocation selected for this export */
};
/* What to do with one request. */
struct nbd_verdict {
	uint32_t error;                 /* 0: run it; else reply with this NBD_E* */
	bool close;                     /* hard disconnect (bad magic, hostile length) */
	bool payload;                   /* a WRITE: `length` bytes of data follow (read
	                                 * them, even when error is set) */
};
/* Parse 28 header bytes. */
bool vs_nbd_request_parse(const uint8_t hdr[NBD_REQUEST_LEN], struct nbd_request *out);
void vs_nbd_request_check(const struct nbd_tx *tx, const struct nbd_request *r,
                       struct nbd_verdict *v);
/* errno (positive or negative) from the block layer → NBD error value */
uint32_t vs_nbd_errno(int err);

#endif
