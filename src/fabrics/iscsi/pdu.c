/* SPDX-License-Identifier: MIT */
/*
 * BHS helpers: single-level LUN encoding (SAM-5 §4.7) and the structural
 * check every received BHS passes before anything else reads it
 * (RFC 7143 §11.2).
 */
#include "pdu.h"

/*
 * SAM-5 §4.7.3 single-level LUN structure, as carried in the 8-byte BHS
 * LUN field (RFC 7143 §11.2.1.4):
 *   peripheral device addressing (method 00b): byte0 = bus 0, byte1 = LUN;
 *   flat space addressing (method 01b): 14-bit LUN in byte0[5:0]:byte1.
 * Bytes 2..7 are the second..fourth levels and must be zero for a single
 * level LUN.  Anything else (bus != 0, logical unit / extended addressing,
 * multi-level) cannot name one of our LUNs.
 */
uint64_t vs_iscsi_lun_to_scsi(uint64_t lun_field)
{
	uint8_t b0 = (uint8_t)(lun_field >> 56);
	uint8_t b1 = (uint8_t)(lun_field >> 48);

	if (lun_field & 0x0000ffffffffffffull)
		return ISCSI_LUN_INVALID;
	switch (b0 >> 6) {
	case 0: /* peripheral: bus identifier must be 0 */
		if (b0 & 0x3f)
			return ISCSI_LUN_INVALID;
		return b1;
	case 1: /* flat space */
		return ((uint64_t)(b0 & 0x3f) << 8) | b1;
	default:
		return ISCSI_LUN_INVALID;
	}
}

uint64_t vs_iscsi_scsi_to_lun(uint64_t lun)
{
	if (lun < 256)
		return lun << 48;
	if (lun < 16384)
		return ((uint64_t)(0x40 | (lun >> 8)) << 56) | ((lun & 0xff) << 48);
	return ISCSI_LUN_INVALID;
}

/* Opcodes an initiator may send (RFC 7143 §11.1.1). */
static bool initiator_opcode(uint8_t op)
{
	switch (op) {
	case ISCSI_OP_NOP_OUT:
	case ISCSI_OP_SCSI_CMD:
	case ISCSI_OP_TASK_MGMT_REQ:
	case ISCSI_OP_LOGIN_REQ:
	case ISCSI_OP_TEXT_REQ:
	case ISCSI_OP_DATA_OUT:
	case ISCSI_OP_LOGOUT_REQ:
	case ISCSI_OP_SNACK_REQ:
		return true;
	default:
		return false;
	}
}

int vs_iscsi_bhs_validate(const struct iscsi_bhs *h, uint32_t max_recv_dsl, bool full_feature)
{
	uint8_t op = bhs_opcode(h);
	uint8_t flags = bhs_flags(h);

	/*
	 * §6: during the login phase only Login Requests may be sent.  There is
	 * no Login Response that could answer another opcode sensibly and the
	 * session is not established, so the connection is dropped.
	 */
	if (!full_feature) {
		if (op != ISCSI_OP_LOGIN_REQ)
			return -1;
		/* The login machine works with at most one 8192-byte PDU at a time
		 * until MaxRecvDataSegmentLength is declared; an oversized segment
		 * cannot be buffered, so the connection goes. */
		if (bhs_dsl(h) > max_recv_dsl || bhs_ahs_len(h) != 0)
			return -1;
		return 0;
	}

	if (!initiator_opcode(op)) {
		/* 0x1c..0x1e are vendor-specific initiator opcodes (§11.1.1):
		 * well formed but not something we implement. */
		if (op >= 0x1c && op <= 0x1e)
			return ISCSI_REJECT_CMD_NOT_SUPPORTED;
		return ISCSI_REJECT_PROTOCOL_ERROR;
	}

	/* §6.2: a Login Request after login completed is a protocol error. */
	if (op == ISCSI_OP_LOGIN_REQ)
		return ISCSI_REJECT_PROTOCOL_ERROR;

	/*
	 * §13.12: the initiator must not send more than the MaxRecvDataSegmentLength
	 * we declared.  The length field is intact, so framing can still be
	 * trusted: the caller skips the segment and sends a Reject.
	 */
	if (bhs_dsl(h) > max_recv_dsl)
		return ISCSI_REJECT_PROTOCOL_ERROR;

	/* §11.2.2: only the SCSI Command carries AHS we understand (extended
	 * CDB, bidirectional read length); anywhere else it is a protocol error. */
	if (bhs_ahs_len(h) != 0 && op != ISCSI_OP_SCSI_CMD)
		return ISCSI_REJECT_PROTOCOL_ERROR;

	/* §11.10.2: a Text Request with C=1 must have F=0.  (Other fixed bits
	 * -- e.g. F=1 in NOP-Out or Logout -- are not policed: ignoring them is
	 * harmless and keeps odd initiators working.) */
	if (op == ISCSI_OP_TEXT_REQ && (flags & ISCSI_TEXT_CONTINUE) && (flags & ISCSI_FLAG_FINAL))
		return ISCSI_REJECT_PROTOCOL_ERROR;
	return 0;
}

/*
 * §11.2.2.3 / §11.2.2.4: AHS entries, each AHSLength(2) AHSType(1) then
 * AHSLength bytes of type-specific data, padded to 4 bytes.
 */
int vs_iscsi_ahs_parse(const uint8_t *ahs, size_t len, struct iscsi_ahs_info *out)
{
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	if (len % 4)
		return ISCSI_REJECT_PROTOCOL_ERROR;
	while (off < len) {
		size_t alen, total;
		uint8_t type;

		if (len - off < 4)
			return ISCSI_REJECT_PROTOCOL_ERROR;
		alen = iscsi_get_be16(ahs + off);
		type = ahs[off + 2];
		total = iscsi_pad4((uint32_t)(3 + alen));
		if (alen == 0 || total > len - off)
			return ISCSI_REJECT_PROTOCOL_ERROR;
		switch (type) {
		case ISCSI_AHS_EXTENDED_CDB:
			/* AHSLength counts the reserved byte plus the CDB bytes
			 * beyond the first 16 (CDB length - 15). */
			if (out->ext_cdb || alen < 2)
				return ISCSI_REJECT_PROTOCOL_ERROR;
			out->ext_cdb = ahs + off + 4;
			out->ext_cdb_len = alen - 1;
			break;
		case ISCSI_AHS_BIDI_READ_LEN:
			if (out->has_bidi_read_len || alen != 5)
				return ISCSI_REJECT_PROTOCOL_ERROR;
			out->has_bidi_read_len = true;
			out->bidi_read_len = iscsi_get_be32(ahs + off + 4);
			break;
		default:
			return ISCSI_REJECT_PROTOCOL_ERROR;
		}
		off += total;
	}
	return 0;
}
