/* SPDX-License-Identifier: MIT */
/*
 * iSCSI PDU layout (RFC 7143 §11): the 48-byte Basic Header Segment, opcodes,
 * flags, and helpers to read and write its big-endian fields.
 */
#ifndef VSTOR_ISCSI_PDU_H
#define VSTOR_ISCSI_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "../../util/vs_crc32c.h"

#define ISCSI_BHS_LEN 48
#define ISCSI_DIGEST_LEN 4

/* RFC 7143 §11.1.1 opcodes: initiator → target */
#define ISCSI_OP_NOP_OUT        0x00
#define ISCSI_OP_SCSI_CMD       0x01
#define ISCSI_OP_TASK_MGMT_REQ  0x02
#define ISCSI_OP_LOGIN_REQ      0x03
#define ISCSI_OP_TEXT_REQ       0x04
#define ISCSI_OP_DATA_OUT       0x05
#define ISCSI_OP_LOGOUT_REQ     0x06
#define ISCSI_OP_SNACK_REQ      0x10
/* target → initiator */
#define ISCSI_OP_NOP_IN         0x20
#define ISCSI_OP_SCSI_RESP      0x21
#define ISCSI_OP_TASK_MGMT_RESP 0x22
#define ISCSI_OP_LOGIN_RESP     0x23
#define ISCSI_OP_TEXT_RESP      0x24
#define ISCSI_OP_DATA_IN        0x25
#define ISCSI_OP_LOGOUT_RESP    0x26
#define ISCSI_OP_R2T            0x31
#define ISCSI_OP_ASYNC_MSG      0x32
#define ISCSI_OP_REJECT         0x3f

#define ISCSI_OPCODE_MASK       0x3f
#define ISCSI_FLAG_IMMEDIATE    0x40   /* byte 0 */
#define ISCSI_FLAG_FINAL        0x80   /* byte 1 */

/* SCSI Command byte 1 (§11.3) */
#define ISCSI_CMD_READ          0x40
#define ISCSI_CMD_WRITE         0x20
#define ISCSI_CMD_ATTR_MASK     0x07
/* SCSI Response / Data-In byte 1 (§11.4, §11.7) */
#define ISCSI_FLAG_BIDI_OVERFLOW  0x10
#define ISCSI_FLAG_BIDI_UNDERFLOW 0x08
#define ISCSI_FLAG_OVERFLOW     0x04
#define ISCSI_FLAG_UNDERFLOW    0x02
#define ISCSI_FLAG_STATUS       0x01   /* Data-In S bit */
#define ISCSI_FLAG_ACK          0x40   /* Data-In A bit */
/* Login (§11.12) byte 1 */
#define ISCSI_LOGIN_TRANSIT     0x80
#define ISCSI_LOGIN_CONTINUE    0x40
#define ISCSI_LOGIN_CSG(b)      (((b) >> 2) & 3)
#define ISCSI_LOGIN_NSG(b)      ((b) & 3)
#define ISCSI_STAGE_SECURITY    0
#define ISCSI_STAGE_OPERATIONAL 1
#define ISCSI_STAGE_FULL_FEATURE 3
/* Text (§11.10) byte 1 */
#define ISCSI_TEXT_CONTINUE     0x40

/* Login status (§11.13.5): class << 8 | detail */
#define ISCSI_LOGIN_STATUS_SUCCESS              0x0000
#define ISCSI_LOGIN_STATUS_TARGET_MOVED_TEMP    0x0101
#define ISCSI_LOGIN_STATUS_INIT_ERR             0x0200
#define ISCSI_LOGIN_STATUS_AUTH_FAILED          0x0201
#define ISCSI_LOGIN_STATUS_TGT_FORBIDDEN        0x0202
#define ISCSI_LOGIN_STATUS_TGT_NOT_FOUND        0x0203
#define ISCSI_LOGIN_STATUS_TGT_REMOVED          0x0204
#define ISCSI_LOGIN_STATUS_NO_VERSION           0x0205
#define ISCSI_LOGIN_STATUS_TOO_MANY_CONN        0x0206
#define ISCSI_LOGIN_STATUS_MISSING_FIELDS       0x0207
#define ISCSI_LOGIN_STATUS_CONN_ADD_FAILED      0x0208
#define ISCSI_LOGIN_STATUS_SESSION_TYPE_UNSUPP  0x0209
#define ISCSI_LOGIN_STATUS_NO_SESSION           0x020a
#define ISCSI_LOGIN_STATUS_INVALID_REQUEST      0x020b
#define ISCSI_LOGIN_STATUS_TARGET_ERROR         0x0300
#define ISCSI_LOGIN_STATUS_SVC_UNAVAILABLE      0x0301
#define ISCSI_LOGIN_STATUS_NO_RESOURCES         0x0302

/* Reject reasons (§11.17.1) */
#define ISCSI_REJECT_DATA_DIGEST_ERROR   0x02
#define ISCSI_REJECT_SNACK_REJECT        0x03
#define ISCSI_REJECT_PROTOCOL_ERROR      0x04
#define ISCSI_REJECT_CMD_NOT_SUPPORTED   0x05
#define ISCSI_REJECT_IMM_CMD_REJECT      0x06
#define ISCSI_REJECT_TASK_IN_PROGRESS    0x07
#define ISCSI_REJECT_INVALID_DATA_ACK    0x08
#define ISCSI_REJECT_INVALID_PDU_FIELD   0x09
#define ISCSI_REJECT_LONG_OP_REJECT      0x0a
#define ISCSI_REJECT_DEPRECATED          0x0b
#define ISCSI_REJECT_WAITING_FOR_LOGOUT  0x0c

/* Task management functions (§11.5.1) */
#define ISCSI_TMF_ABORT_TASK            1
#define ISCSI_TMF_ABORT_TASK_SET        2
#define ISCSI_TMF_CLEAR_ACA             3
#define ISCSI_TMF_CLEAR_TASK_SET        4
#define ISCSI_TMF_LOGICAL_UNIT_RESET    5
#define ISCSI_TMF_TARGET_WARM_RESET     6
#define ISCSI_TMF_TARGET_COLD_RESET     7
#define ISCSI_TMF_TASK_REASSIGN         8

#define ISCSI_RESERVED_TAG 0xffffffffu

/* The BHS as raw bytes; fields are read with the accessors below. */
struct iscsi_bhs {
	uint8_t b[ISCSI_BHS_LEN];
};

static inline uint32_t iscsi_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void iscsi_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline uint64_t iscsi_get_be64(const uint8_t *p)
{
	return (uint64_t)iscsi_get_be32(p) << 32 | iscsi_get_be32(p + 4);
}
static inline void iscsi_put_be64(uint8_t *p, uint64_t v)
{
	iscsi_put_be32(p, (uint32_t)(v >> 32)); iscsi_put_be32(p + 4, (uint32_t)v);
}
static inline uint16_t iscsi_get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void iscsi_put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* Common fields (§11.2.1) */
static inline uint8_t  bhs_opcode(const struct iscsi_bhs *h) { return h->b[0] & ISCSI_OPCODE_MASK; }
static inline bool     bhs_immediate(const struct iscsi_bhs *h) { return h->b[0] & ISCSI_FLAG_IMMEDIATE; }
static inline uint8_t  bhs_flags(const struct iscsi_bhs *h) { return h->b[1]; }
static inline uint8_t  bhs_ahs_len(const struct iscsi_bhs *h) { return h->b[4]; } /* 4-byte words */
static inline uint32_t bhs_dsl(const struct iscsi_bhs *h)
{
	return (uint32_t)h->b[5] << 16 | (uint32_t)h->b[6] << 8 | h->b[7];
}
static inline void bhs_set_dsl(struct iscsi_bhs *h, uint32_t len)
{
	h->b[5] = (uint8_t)(len >> 16); h->b[6] = (uint8_t)(len >> 8); h->b[7] = (uint8_t)len;
}
static inline uint64_t bhs_lun(const struct iscsi_bhs *h) { return iscsi_get_be64(h->b + 8); }
static inline uint32_t bhs_itt(const struct iscsi_bhs *h) { return iscsi_get_be32(h->b + 16); }
/* Bytes 20..47 differ per opcode; by offset: */
static inline uint32_t bhs_be32(const struct iscsi_bhs *h, size_t off) { return iscsi_get_be32(h->b + off); }
static inline void bhs_set_be32(struct iscsi_bhs *h, size_t off, uint32_t v) { iscsi_put_be32(h->b + off, v); }

/* Pad a data segment length to a 4-byte boundary (§11.2.3). */
static inline uint32_t iscsi_pad4(uint32_t n) { return (n + 3u) & ~3u; }

/* Single-level LUN encoding (SAM-5 4.7.3 peripheral / flat addressing). */
uint64_t vs_iscsi_lun_to_scsi(uint64_t lun_field);   /* BHS LUN → flat LUN number */
uint64_t vs_iscsi_scsi_to_lun(uint64_t lun);          /* flat LUN number → BHS LUN */
/* (added by iscsi-login) Returned by both for a LUN that has no single-level
 * encoding (multi-level, bus != 0, logical-unit/extended addressing, or a
 * number >= 16384).  Matches no LUN, so the port answers LUN NOT SUPPORTED. */
#define ISCSI_LUN_INVALID UINT64_MAX

/*
 * Header and data digests are CRC32C (RFC 7143 §13.1), util/vs_crc32c.h.
 *
 * Wire order: RFC 3720 B.4 lists the digest of 32 zero bytes as the bytes
 * aa 36 91 8a, i.e. the CRC value is sent least significant byte first
 * (little-endian), unlike every other BHS field.  Use these to store/load it.
 */
static inline void iscsi_put_digest(uint8_t *p, uint32_t crc)
{
	p[0] = (uint8_t)crc; p[1] = (uint8_t)(crc >> 8); p[2] = (uint8_t)(crc >> 16); p[3] = (uint8_t)(crc >> 24);
}
static inline uint32_t iscsi_get_digest(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Structural check of a received BHS before anything else reads it:
 * known opcode for this direction, AHS length sane, data segment length
 * within `max_recv_dsl` (the limit we declared), opcode-specific reserved
 * fields.  Returns 0 or an ISCSI_REJECT_* reason (> 0); -1 = close the
 * connection (framing can no longer be trusted).
 */
int vs_iscsi_bhs_validate(const struct iscsi_bhs *h, uint32_t max_recv_dsl, bool full_feature);
/*
 * (added by iscsi-login) Details of vs_iscsi_bhs_validate:
 *  - login phase (full_feature = false): anything but a Login Request, a
 *    data segment over max_recv_dsl (pass 8192 during login, §13.12
 *    default) or any AHS -> -1 (close).
 *  - full feature phase: target opcodes / reserved opcodes ->
 *    PROTOCOL_ERROR; vendor opcodes 0x1c-0x1e -> CMD_NOT_SUPPORTED; Login
 *    Request -> PROTOCOL_ERROR; DataSegmentLength > max_recv_dsl ->
 *    PROTOCOL_ERROR (framing is intact: skip the segment, send Reject);
 *    AHS on anything but a SCSI Command -> PROTOCOL_ERROR; Text Request
 *    with both C and F -> PROTOCOL_ERROR.
 *  SNACK passes (it is a known opcode); at ErrorRecoveryLevel 0 the
 *  connection layer rejects it.
 */

/* (added by iscsi-login) AHS of a SCSI Command (§11.2.2). */
#define ISCSI_AHS_EXTENDED_CDB  1
#define ISCSI_AHS_BIDI_READ_LEN 2
struct iscsi_ahs_info {
	const uint8_t *ext_cdb;     /* CDB bytes 16.. (points into the AHS) */
	size_t ext_cdb_len;
	bool has_bidi_read_len;
	uint32_t bidi_read_len;     /* Expected Bidirectional Read Data Length */
};
/* Parse TotalAHSLength*4 bytes of AHS.  0, or ISCSI_REJECT_PROTOCOL_ERROR for
 * a malformed, duplicated or unknown AHS. */
int vs_iscsi_ahs_parse(const uint8_t *ahs, size_t len, struct iscsi_ahs_info *out);

#endif
