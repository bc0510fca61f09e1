/* SPDX-License-Identifier: MIT */
/*
 * The command table and start_io: decode the operation code (and service
 * action), check the CDB against the table, check reservations, run the
 * handler.
 *
 * Each entry's `mask` says which bits of each CDB byte the device server
 * uses.  The same masks are reported as CDB USAGE DATA by REPORT SUPPORTED
 * OPERATION CODES (SPC-4 6.35.3), so what we advertise and what we accept
 * cannot drift apart: a bit outside the mask is a reserved (or unsupported)
 * field and gets ILLEGAL REQUEST / INVALID FIELD IN CDB with a field
 * pointer to it (SPC-4 4.5.2.4.2).
 */
#include <string.h>

#include "pr.h"
#include "vdisk_int.h"

#define IO_TIMEOUT 30

/* Helpers to keep the table readable. */
#define M6(...)  { 0, __VA_ARGS__ }
#define M10(...) { 0, __VA_ARGS__ }
#define LBA4 0xff, 0xff, 0xff, 0xff
#define LBA8 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff

bool vs_vdisk_avail_unmap(const struct vdisk_lun *lun)
{
	return lun->caps.can_unmap;
}

const struct vdisk_cmd_desc vs_vdisk_cmd_table[] = {
	{ TEST_UNIT_READY, 0, false, 6, 0, M6(0, 0, 0, 0), vs_vdisk_cmd_test_unit_ready, NULL, 5 },
	{ REQUEST_SENSE, 0, false, 6, VDISK_F_NO_MEDIUM_OK | VDISK_F_SANITIZE_OK, M6(0x01, 0, 0, 0xff), vs_vdisk_cmd_request_sense, NULL, 5 },
	/* FORMAT UNIT: FMTDATA=0 only; CMPLST and DEFECT LIST FORMAT ignored */
	{ FORMAT_UNIT, 0, false, 6, 0, M6(0x0f, 0xff, 0xff, 0xff), vs_vdisk_cmd_format_unit, NULL, 60 },
	{ READ_6, 0, false, 6, 0, M6(0x1f, 0xff, 0xff, 0xff), vs_vdisk_cmd_read, NULL, IO_TIMEOUT },
	{ WRITE_6, 0, false, 6, 0, M6(0x1f, 0xff, 0xff, 0xff), vs_vdisk_cmd_write, NULL, IO_TIMEOUT },
	{ INQUIRY, 0, false, 6, VDISK_F_NO_MEDIUM_OK | VDISK_F_SANITIZE_OK, M6(0x01, 0xff, 0xff, 0xff), vs_vdisk_cmd_inquiry, NULL, 5 },
	{ MODE_SELECT_6, 0, false, 6, VDISK_F_NO_MEDIUM_OK, M6(0x10, 0, 0, 0xff), vs_vdisk_cmd_mode_select, NULL, 5 },
	{ RESERVE_6, 0, false, 6, VDISK_F_NO_MEDIUM_OK, M6(0, 0, 0, 0), vs_vdisk_cmd_reserve, NULL, 5 },
	{ RELEASE_6, 0, false, 6, VDISK_F_NO_MEDIUM_OK, M6(0, 0, 0, 0), vs_vdisk_cmd_release, NULL, 5 },
	{ MODE_SENSE_6, 0, false, 6, VDISK_F_NO_MEDIUM_OK, M6(0x08, 0xff, 0xff, 0xff), vs_vdisk_cmd_mode_sense, NULL, 5 },
	{ START_STOP_UNIT, 0, false, 6, VDISK_F_NO_MEDIUM_OK, M6(0x01, 0, 0x0f, 0xf7), vs_vdisk_cmd_start_stop, NULL, 30 },
	{ SEND_DIAGNOSTIC, 0, false, 6, 0, M6(0xf7, 0, 0xff, 0xff), vs_vdisk_cmd_send_diagnostic, NULL, 30 },
	{ PREVENT_ALLOW_MEDIUM_REMOVAL, 0, false, 6, VDISK_F_NO_MEDIUM_OK, M6(0, 0, 0, 0x03), vs_vdisk_cmd_prevent_allow, NULL, 5 },
	{ READ_CAPACITY_10, 0, false, 10, 0, M10(0, LBA4, 0, 0, 0x01), vs_vdisk_cmd_read_capacity10, NULL, 5 },
	{ READ_10, 0, false, 10, VDISK_F_PROTECT_FIELD, M10(0x1e, LBA4, 0x1f, 0xff, 0xff),
	  vs_vdisk_cmd_read, NULL, IO_TIMEOUT },
	{ WRITE_10, 0, false, 10, VDISK_F_PROTECT_FIELD, M10(0x1a, LBA4, 0x1f, 0xff, 0xff),
	  vs_vdisk_cmd_write, NULL, IO_TIMEOUT },
	{ WRITE_AND_VERIFY_10, 0, false, 10, VDISK_F_PROTECT_FIELD, M10(0x12, LBA4, 0x1f, 0xff, 0xff),
	  vs_vdisk_cmd_write, NULL, IO_TIMEOUT },
	{ VERIFY_10, 0, false, 10, VDISK_F_PROTECT_FIELD, M10(0x16, LBA4, 0x1f, 0xff, 0xff),
	  vs_vdisk_cmd_verify, NULL, IO_TIMEOUT },
	{ PRE_FETCH_10, 0, false, 10, 0, M10(0x02, LBA4, 0x1f, 0xff, 0xff), vs_vdisk_cmd_prefetch, NULL, IO_TIMEOUT },
	{ SYNCHRONIZE_CACHE_10, 0, false, 10, 0, M10(0x06, LBA4, 0x1f, 0xff, 0xff),
	  vs_vdisk_cmd_sync_cache, NULL, IO_TIMEOUT },
	/* READ DEFECT DATA (10): REQ_PLIST, REQ_GLIST, DEFECT LIST FORMAT */
	{ VDISK_OP_READ_DEFECT_DATA_10, 0, false, 10, 0, M10(0, 0x1f, 0, 0, 0, 0, 0xff, 0xff),
	  vs_vdisk_cmd_read_defect_data, NULL, 5 },
	{ WRITE_SAME_10, 0, false, 10, VDISK_F_PROTECT_FIELD, M10(0x08, LBA4, 0x1f, 0xff, 0xff),
	  vs_vdisk_cmd_write_same, NULL, 60 },
	{ UNMAP, 0, false, 10, 0, M10(0, 0, 0, 0, 0, 0x1f, 0xff, 0xff), vs_vdisk_cmd_unmap, vs_vdisk_avail_unmap, 60 },
	/* SANITIZE (SBC-4 5.30): IMMED, AUSE; BLOCK ERASE needs deallocation */
#define SANITIZE(sa, avail) { VDISK_OP_SANITIZE, sa, true, 10, 0, M10(0xa0, 0, 0, 0, 0, 0, 0xff, 0xff), \
	                      vs_vdisk_cmd_sanitize, avail, 3600 }
	SANITIZE(VDISK_SA_OVERWRITE, NULL),
	SANITIZE(VDISK_SA_BLOCK_ERASE, vs_vdisk_avail_unmap),
	SANITIZE(VDISK_SA_CRYPTO_ERASE, NULL),
	SANITIZE(VDISK_SA_EXIT_FAILURE_MODE, NULL),
#undef SANITIZE
	{ MODE_SELECT_10, 0, false, 10, VDISK_F_NO_MEDIUM_OK, M10(0x10, 0, 0, 0, 0, 0, 0xff, 0xff), vs_vdisk_cmd_mode_select, NULL, 5 },
	{ RESERVE_10, 0, false, 10, VDISK_F_NO_MEDIUM_OK, M10(0, 0, 0, 0, 0, 0, 0xff, 0xff), vs_vdisk_cmd_reserve, NULL, 5 },
	{ RELEASE_10, 0, false, 10, VDISK_F_NO_MEDIUM_OK, M10(0, 0, 0, 0, 0, 0, 0xff, 0xff), vs_vdisk_cmd_release, NULL, 5 },
	{ MODE_SENSE_10, 0, false, 10, VDISK_F_NO_MEDIUM_OK, M10(0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff), vs_vdisk_cmd_mode_sense, NULL, 5 },
	/* PERSISTENT RESERVE IN: READ KEYS, READ RESERVATION, REPORT CAPABILITIES, READ FULL STATUS */
	{ PERSISTENT_RESERVE_IN, 0, true, 10, VDISK_F_NO_MEDIUM_OK, M10(0, 0, 0, 0, 0, 0, 0xff, 0xff), vs_vdisk_cmd_pr_in, NULL, 5 },
	{ PERSISTENT_RESERVE_IN, 1, true, 10, VDISK_F_NO_MEDIUM_OK, M10(0, 0, 0, 0, 0, 0, 0xff, 0xff), vs_vdisk_cmd_pr_in, NULL, 5 },
	{ PERSISTENT_RESERVE_IN, 2, true, 10, VDISK_F_NO_MEDIUM_OK, M10(0, 0, 0, 0, 0, 0, 0xff, 0xff), vs_vdisk_cmd_pr_in, NULL, 5 },
	{ PERSISTENT_RESERVE_IN, 3, true, 10, VDISK_F_NO_MEDIUM_OK, M10(0, 0, 0, 0, 0, 0, 0xff, 0xff), vs_vdisk_cmd_pr_in, NULL, 5 },
	/* PERSISTENT RESERVE OUT: REGISTER .. REGISTER AND MOVE */
#define PROUT(sa) { PERSISTENT_RESERVE_OUT, sa, true, 10, VDISK_F_NO_MEDIUM_OK, M10(0, 0xff, 0, 0, LBA4), vs_vdisk_cmd_pr_out, NULL, 10 }
	PROUT(0), PROUT(1), PROUT(2), PROUT(3), PROUT(4), PROUT(5), PROUT(6), PROUT(7),
#undef PROUT
	{ READ_16, 0, false, 16, VDISK_F_PROTECT_FIELD,
	  { 0, 0x1e, LBA8, 0xff, 0xff, 0xff, 0xff, 0x1f }, vs_vdisk_cmd_read, NULL, IO_TIMEOUT },
	{ COMPARE_AND_WRITE, 0, false, 16, VDISK_F_PROTECT_FIELD,
	  { 0, 0x1a, LBA8, 0, 0, 0, 0xff, 0x1f }, vs_vdisk_cmd_compare_and_write, NULL, IO_TIMEOUT },
	{ WRITE_16, 0, false, 16, VDISK_F_PROTECT_FIELD,
	  { 0, 0x1a, LBA8, 0xff, 0xff, 0xff, 0xff, 0x1f }, vs_vdisk_cmd_write, NULL, IO_TIMEOUT },
	{ ORWRITE_16, 0, false, 16, VDISK_F_PROTECT_FIELD,
	  { 0, 0x1a, LBA8, 0xff, 0xff, 0xff, 0xff, 0x1f }, vs_vdisk_cmd_orwrite, NULL, IO_TIMEOUT },
	{ WRITE_AND_VERIFY_16, 0, false, 16, VDISK_F_PROTECT_FIELD,
	  { 0, 0x12, LBA8, 0xff, 0xff, 0xff, 0xff, 0x1f }, vs_vdisk_cmd_write, NULL, IO_TIMEOUT },
	{ VERIFY_16, 0, false, 16, VDISK_F_PROTECT_FIELD,
	  { 0, 0x16, LBA8, 0xff, 0xff, 0xff, 0xff, 0x1f }, vs_vdisk_cmd_verify, NULL, IO_TIMEOUT },
	{ PRE_FETCH_16, 0, false, 16, 0,
	  { 0, 0x02, LBA8, 0xff, 0xff, 0xff, 0xff, 0x1f }, vs_vdisk_cmd_prefetch, NULL, IO_TIMEOUT },
	{ SYNCHRONIZE_CACHE_16, 0, false, 16, 0,
	  { 0, 0x06, LBA8, 0xff, 0xff, 0xff, 0xff, 0x1f }, vs_vdisk_cmd_sync_cache, NULL, IO_TIMEOUT },
	{ WRITE_SAME_16, 0, false, 16, VDISK_F_PROTECT_FIELD,
	  { 0, 0x09, LBA8, 0xff, 0xff, 0xff, 0xff, 0x1f }, vs_vdisk_cmd_write_same, NULL, 60 },
	/* WRITE ATOMIC (16): no ATOMIC BOUNDARY support (bytes 10-11 must be 0) */
	{ WRITE_ATOMIC_16, 0, false, 16, VDISK_F_PROTECT_FIELD,
	  { 0, 0x18, LBA8, 0, 0, 0xff, 0xff, 0x1f }, vs_vdisk_cmd_write_atomic, NULL, IO_TIMEOUT },
	{ SERVICE_ACTION_IN_16, SAI_READ_CAPACITY_16, true, 16, 0,
	  { 0, 0, LBA8, 0xff, 0xff, 0xff, 0xff, 0x01 }, vs_vdisk_cmd_read_capacity16, NULL, 5 },
	{ SERVICE_ACTION_IN_16, SAI_GET_LBA_STATUS, true, 16, 0,
	  { 0, 0, LBA8, 0xff, 0xff, 0xff, 0xff, 0 }, vs_vdisk_cmd_get_lba_status, NULL, 10 },
	{ REPORT_LUNS, 0, false, 12, VDISK_F_PORT_ONLY | VDISK_F_NO_MEDIUM_OK | VDISK_F_SANITIZE_OK,
	  { 0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0 }, NULL, NULL, 5 },
	{ MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPCODES, true, 12, VDISK_F_NO_MEDIUM_OK | VDISK_F_SANITIZE_OK,
	  { 0, 0, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 }, vs_vdisk_cmd_report_opcodes, NULL, 5 },
	{ MAINTENANCE_IN, MI_REPORT_SUPPORTED_TMFS, true, 12, VDISK_F_NO_MEDIUM_OK | VDISK_F_SANITIZE_OK,
	  { 0, 0, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0 }, vs_vdisk_cmd_report_tmfs, NULL, 5 },
	/* EXTENDED COPY (LID1) and RECEIVE COPY RESULTS (LID1): COPY STATUS,
	 * OPERATING PARAMETERS, FAILED SEGMENT DETAILS (SPC-4 6.3, 6.18) */
	{ VDISK_OP_EXTENDED_COPY, 0, true, 16, 0,
	  { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0 }, vs_vdisk_cmd_extended_copy, NULL, 600 },
#define RCR(sa) { VDISK_OP_RECEIVE_COPY_RESULTS, sa, true, 16, VDISK_F_NO_MEDIUM_OK, \
	          { 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0 }, \
	          vs_vdisk_cmd_receive_copy_results, NULL, 5 }
	RCR(0x00), RCR(0x03), RCR(0x04),
#undef RCR
	{ READ_12, 0, false, 12, VDISK_F_PROTECT_FIELD,
	  { 0, 0x1e, LBA4, 0xff, 0xff, 0xff, 0xff, 0x1f }, vs_vdisk_cmd_read, NULL, IO_TIMEOUT },
	{ WRITE_12, 0, false, 12, VDISK_F_PROTECT_FIELD,
	  { 0, 0x1a, LBA4, 0xff, 0xff, 0xff, 0xff, 0x1f }, vs_vdisk_cmd_write, NULL, IO_TIMEOUT },
	{ WRITE_AND_VERIFY_12, 0, false, 12, VDISK_F_PROTECT_FIELD,
	  { 0, 0x12, LBA4, 0xff, 0xff, 0xff, 0xff, 0x1f }, vs_vdisk_cmd_write, NULL, IO_TIMEOUT },
	{ VERIFY_12, 0, false, 12, VDISK_F_PROTECT_FIELD,
	  { 0, 0x16, LBA4, 0xff, 0xff, 0xff, 0xff, 0x1f }, vs_vdisk_cmd_verify, NULL, IO_TIMEOUT },
	/* READ DEFECT DATA (12): ADDRESS DESCRIPTOR INDEX is accepted (lists are empty) */
	{ VDISK_OP_READ_DEFECT_DATA_12, 0, false, 12, 0,
	  { 0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 }, vs_vdisk_cmd_read_defect_data,
	  NULL, 5 },
};
const size_t vs_vdisk_cmd_table_len = sizeof(vs_vdisk_cmd_table) / sizeof(vs_vdisk_cmd_table[0]);

#define TABLE_LEN (sizeof(vs_vdisk_cmd_table) / sizeof(vs_vdisk_cmd_table[0]))

/*
 * Where each operation code's first entry is (NO_ENTRY: none), so a lookup
 * starts there instead of walking the table: READ(16) sat some 50 entries
 * in, a walk that cost every command as much as the rest of start_io.
 */
#define NO_ENTRY UINT8_MAX
_Static_assert(TABLE_LEN < NO_ENTRY, "vs_vdisk_cmd_table: the index holds entry numbers in a byte");
static uint8_t first_entry[256];

/*
 * Each entry's bits that must be zero in a good CDB, as two words over its
 * 16 bytes: the reserved and unsupported bits of bytes 1 to cdb_len - 2
 * (the complement of mask[], with the service action) and NACA and LINK in
 * the CONTROL byte.  A CDB with none of them set passes check_cdb_fields
 * with two ANDs; only one that fails walks the bytes to point at the field.
 */
static uint64_t must_be_zero[TABLE_LEN][2];

static void __attribute__((constructor)) index_cmd_table(void)
{
	memset(first_entry, NO_ENTRY, sizeof(first_entry));
	for (size_t i = TABLE_LEN; i-- > 0;) {
		const struct vdisk_cmd_desc *d = &vs_vdisk_cmd_table[i];
		uint8_t bits[16] = { 0 };

		first_entry[d->opcode] = (uint8_t)i;
		if (d->cdb_len > sizeof(bits)) {
			memset(must_be_zero[i], 0xff, sizeof(must_be_zero[i]));  /* always walk */
			continue;
		}
		for (unsigned b = 1; b + 1 < d->cdb_len; b++)
			bits[b] = (uint8_t)~(d->mask[b] | (b == 1 && d->has_sa ? 0x1f : 0));
		bits[d->cdb_len - 1] = 0x05;
		memcpy(must_be_zero[i], bits, sizeof(bits));
	}
}

bool vs_vdisk_opcode_has_sa(uint8_t opcode)
{
	uint8_t i = first_entry[opcode];

	return i != NO_ENTRY && vs_vdisk_cmd_table[i].has_sa;
}

const struct vdisk_cmd_desc *vs_vdisk_cmd_lookup(uint8_t opcode, uint8_t sa, bool *sa_unknown)
{
	bool known = false;

	*sa_unknown = false;
	if (first_entry[opcode] == NO_ENTRY)
		return NULL;
	for (size_t i = first_entry[opcode]; i < vs_vdisk_cmd_table_len; i++) {
		const struct vdisk_cmd_desc *d = &vs_vdisk_cmd_table[i];

		if (d->opcode != opcode)
			continue;
		if (!d->has_sa || d->sa == sa)
			return d;
		known = true;
	}
	*sa_unknown = known;
	return NULL;
}

static int highest_bit(uint8_t v)
{
	int b = 7;

	while (b > 0 && !(v & (1u << b)))
		b--;
	return b;
}

/* SPC-4 4.2.5.1: reserved bits, unsupported fields and the CONTROL byte. */
static bool check_cdb_fields(struct vs_srb *srb, const struct vdisk_cmd_desc *d)
{
	const uint8_t *cdb = srb->cdb;
	const uint64_t *zero = must_be_zero[d - vs_vdisk_cmd_table];
	uint64_t w[2];
	uint8_t ctl = cdb[d->cdb_len - 1];

	memcpy(w, cdb, sizeof(w));
	if (!((w[0] & zero[0]) | (w[1] & zero[1])))
		return true;

	for (unsigned i = 1; i + 1 < d->cdb_len; i++) {
		uint8_t mask = d->mask[i];
		uint8_t bad;

		if (i == 1 && d->has_sa)
			mask |= 0x1f;   /* the service action, matched by lookup */
		bad = cdb[i] & (uint8_t)~mask;
		if (!bad)
			continue;
		/* RD/WR/VRPROTECT: we have no protection information
		 * (SBC-3 4.22); point at the field's most significant bit. */
		if (i == 1 && (d->flags & VDISK_F_PROTECT_FIELD) && (bad & 0xe0))
			vs_srb_set_invalid_field(srb, true, 1, 7);
		else
			vs_srb_set_invalid_field(srb, true, (uint16_t)i, highest_bit(bad));
		return false;
	}
	/* SAM-5 5.2: NACA=1 needs ACA support, which we do not have; LINK is
	 * obsolete (SAM-5) and we do not support linked commands. */
	if (ctl & 0x04) {
		vs_srb_set_invalid_field(srb, true, (uint16_t)(d->cdb_len - 1), 2);
		return false;
	}
	if (ctl & 0x01) {
		vs_srb_set_invalid_field(srb, true, (uint16_t)(d->cdb_len - 1), 0);
		return false;
	}
	return true;
}

void vs_vdisk_start_io(void *adapter_ext, void *lun_ext, struct vs_srb *srb)
{
	struct vdisk_lun *lun = vdisk_lun_of(lun_ext);
	const struct vdisk_cmd_desc *d;
	bool sa_unknown = false;
	uint8_t opcode = srb->cdb[0];
	uint32_t nr;

	/* xfer_len, the residual and the sense come cleared from the port
	 * (miniport.h): writing them again here would race with the port
	 * taking the SRB back on a timeout or reset. */
	(void)adapter_ext;

	d = srb->cdb_len ? vs_vdisk_cmd_lookup(opcode, srb->cdb[1] & 0x1f, &sa_unknown) : NULL;
	if (!d && sa_unknown) {
		/* SPC-4: unsupported service action → INVALID FIELD IN CDB, byte 1 */
		vs_srb_set_invalid_field(srb, true, 1, 4);
		vs_port_complete(srb);
		return;
	}
	if (!d || !d->fn || (d->available && !d->available(lun))) {
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_INVALID_COMMAND_OPERATION_CODE);
		vs_port_complete(srb);
		return;
	}
	if (srb->cdb_len < d->cdb_len) {
		/* The CDB is shorter than its group code says (SPC-4 4.2.5.1). */
		vs_srb_set_invalid_field(srb, true, 0, 7);
		vs_port_complete(srb);
		return;
	}
	if (lun->pr && vs_vdisk_pr_conflict(lun->pr, srb)) {
		vs_port_complete(srb);
		return;
	}
	if (!check_cdb_fields(srb, d)) {
		vs_port_complete(srb);
		return;
	}
	/* one load: sanitize in progress, no medium, sanitize failed.
	 * Acquire: a command that finds the sanitize over reads what it
	 * wrote (free on x86, a plain load). */
	nr = atomic_load_explicit(&lun->not_ready, memory_order_acquire);
	if (nr && vs_vdisk_not_ready(lun, srb, nr, d)) {
		vs_port_complete(srb);
		return;
	}
	d->fn(lun, srb);
}
