/* SPDX-License-Identifier: MIT */
/*
 * The miniport's data_out_length callback: how many bytes of data-out a
 * command transfers, read from its CDB before the fabric asks the
 * initiator for them.  An iSCSI initiator may announce more than that
 * (RFC 7143 §11.4.5.2: the difference is an underflow residual), and the
 * fabric must not solicit, or wait for, what the command will never use.
 *
 * Only the length is decoded; the handlers check every field when the
 * command runs.  Commands without data-out, and commands this LUN does not
 * support, take none.
 */
#include <errno.h>

#include "vdisk_int.h"

/* Blocks of data-out a write-family command carries (SBC-3 5.x). */
static uint64_t data_out_blocks(const uint8_t *cdb)
{
	struct rw_args a;
	uint8_t bytchk;

	switch (cdb[0]) {
	case WRITE_6: case WRITE_10: case WRITE_12: case WRITE_16:
	case WRITE_AND_VERIFY_10: case WRITE_AND_VERIFY_12: case WRITE_AND_VERIFY_16:
	case ORWRITE_16:
		vs_vdisk_decode_rw(cdb, &a);
		return a.n;
	case VERIFY_10: case VERIFY_12: case VERIFY_16:
		/* SBC-3 5.33: BYTCHK 00b no data, 01b the blocks, 11b one block */
		vs_vdisk_decode_rw(cdb, &a);
		bytchk = (cdb[1] >> 1) & 3;
		return bytchk == 1 ? a.n : bytchk == 3 && a.n ? 1 : 0;
	case WRITE_SAME_10:
		return 1;
	case WRITE_SAME_16:
		return (cdb[1] & 0x01) ? 0 : 1;         /* NDOB: no data-out buffer */
	case COMPARE_AND_WRITE:
		return 2u * cdb[13];                    /* verify data, then write data */
	case WRITE_ATOMIC_16:
		return vd_get16(&cdb[12]);              /* SBC-4 5.48 */
	default:
		return 0;
	}
}

/* Bytes of a parameter list (SPC-4 4.2.5.5 PARAMETER LIST LENGTH). */
static uint32_t parameter_list_bytes(const uint8_t *cdb)
{
	switch (cdb[0]) {
	case MODE_SELECT_6:
		return cdb[4];
	case SEND_DIAGNOSTIC:
		return vd_get16(&cdb[3]);
	case MODE_SELECT_10: case RESERVE_10: case UNMAP: case VDISK_OP_SANITIZE:
		return vd_get16(&cdb[7]);
	case PERSISTENT_RESERVE_OUT:
		return vd_get32(&cdb[5]);
	case VDISK_OP_EXTENDED_COPY:
		return vd_get32(&cdb[10]);
	default:
		return 0;
	}
}

int vs_vdisk_data_out_length(void *adapter_ext, void *lun_ext, const struct vs_srb *srb,
                          uint64_t *bytes)
{
	struct vdisk_lun *lun = vdisk_lun_of(lun_ext);
	const struct vdisk_cmd_desc *d;
	bool sa_unknown;

	(void)adapter_ext;
	*bytes = 0;
	d = vs_vdisk_cmd_lookup(srb->cdb[0], srb->cdb[1] & 0x1f, &sa_unknown);
	if (!d || !d->fn || (d->available && !d->available(lun)) || srb->cdb_len < d->cdb_len)
		return 0;       /* refused when it runs: no data needed */
	*bytes = (data_out_blocks(srb->cdb) << lun->block_shift) + parameter_list_bytes(srb->cdb);
	return 0;
}
