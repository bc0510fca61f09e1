/* SPDX-License-Identifier: MIT */
/*
 * Logical block provisioning commands: WRITE SAME (10/16) and UNMAP
 * (SBC-3 5.41, 5.42, 5.28; 4.7 logical block provisioning).
 */
#include <string.h>

#include "vdisk_int.h"

/* ---- WRITE SAME ---- */

static bool data_out_is_zero(struct vs_srb *srb, uint32_t len)
{
	uint8_t tmp[512];
	uint32_t done = 0;

	while (done < len) {
		uint32_t n = len - done < sizeof(tmp) ? len - done : (uint32_t)sizeof(tmp);

		if (vs_srb_copy_from_iov(srb, done, tmp, n) < n)
			return false;
		for (uint32_t i = 0; i < n; i++)
			if (tmp[i])
				return false;
		done += n;
	}
	return true;
}

static void ws_simple_done(struct vdisk_cmd *c)
{
	if (!c->bio_err && c->flush_after) {
		c->flush_after = false;
		vs_vdisk_submit_bio(c, VS_BIO_FLUSH, 0, 0, NULL, 0, 0, ws_simple_done);
		return;
	}
	vs_vdisk_set_errno(c->srb, c->bio_err, true);
	if (!c->bio_err)
		c->srb->xfer_len = c->ndob ? 0 : c->lun->block_size;
	vs_vdisk_finish(c);
}

/* Zeroes (or deallocation that reads back as zeroes) in one bio. */
static void ws_simple_go(struct vdisk_cmd *c)
{
	struct vdisk_lun *lun = c->lun;
	uint8_t op;
	uint32_t flags = 0;

	if (!vs_vdisk_gate_enter(c, ws_simple_go))
		return;
	if (c->unmap && lun->caps.unmap_zeroes) {
		op = VS_BIO_UNMAP;
	} else {
		op = VS_BIO_WRITE_ZEROES;
		if (c->unmap)
			flags |= VS_BIO_MAY_TRIM;
	}
	vs_vdisk_submit_bio(c, op, c->lba << lun->block_shift, c->nblocks << lun->block_shift,
	                 NULL, 0, flags, ws_simple_done);
}

void vs_vdisk_cmd_write_same(struct vdisk_lun *lun, struct vs_srb *srb)
{
	struct vdisk_cmd *c = vs_vdisk_cmd_init(lun, srb);
	const uint8_t *cdb = srb->cdb;
	bool ws16 = cdb[0] == WRITE_SAME_16;
	uint16_t nbyte = ws16 ? 10 : 7;
	uint32_t need;

	c->lba = ws16 ? vd_get64(&cdb[2]) : vd_get32(&cdb[2]);
	c->nblocks = ws16 ? vd_get32(&cdb[10]) : vd_get16(&cdb[7]);
	c->unmap = (cdb[1] & 0x08) != 0;
	c->ndob = ws16 && (cdb[1] & 0x01);
	c->dir_write = 1;
	need = c->ndob ? 0 : lun->block_size;
	vs_vdisk_set_residual(srb, need);

	if (!vs_vdisk_check_writable(lun, srb) || !vs_vdisk_check_range(lun, srb, c->lba, c->nblocks))
		goto done;
	if (c->nblocks == 0 || c->nblocks > VDISK_MAX_WS_BLOCKS) {
		/* VPD B0h: WSNZ=1 (0 is not "to the end"), MAXIMUM WRITE SAME LENGTH */
		vs_srb_set_invalid_field(srb, true, nbyte, 7);
		goto done;
	}
	if (c->unmap && !lun->caps.can_unmap) {
		/* LBPWS=0 / LBPWS10=0 in VPD B2h */
		vs_srb_set_invalid_field(srb, true, 1, 3);
		goto done;
	}
	if (srb->data_length != need) {
		/* Exactly one block of data-out (none with NDOB), SBC-3 5.41 */
		vs_srb_set_invalid_field(srb, true, nbyte, 7);
		goto done;
	}
	c->pattern_zero = c->ndob || data_out_is_zero(srb, lun->block_size);
	c->bio_flags = vs_vdisk_write_flags(lun, false);
	if ((c->bio_flags & VS_BIO_FUA) && !lun->caps.can_fua) {
		c->bio_flags &= ~(uint32_t)VS_BIO_FUA;
		c->flush_after = true;
	}
	/*
	 * UNMAP=1 deallocates whatever the data-out block holds: libiscsi's
	 * iscsi-test-cu (WriteSame*.Unmap*) expects the blocks to read back as
	 * zeroes when LBPRZ=1, as in the SBC-3 drafts it follows.  Initiators
	 * (Linux, ESXi) send a zero block with UNMAP=1 anyway.
	 */
	if (c->unmap && lun->caps.unmap_zeroes)
		c->pattern_zero = true;
	if (c->pattern_zero && ((c->unmap && lun->caps.unmap_zeroes) || lun->caps.can_zero)) {
		/* WRITE ZEROES / UNMAP carry no FUA: flush when one is due */
		if (c->bio_flags & VS_BIO_FUA)
			c->flush_after = true;
		ws_simple_go(c);
		return;
	}
	vs_vdisk_engine_run(c, vs_vdisk_engine_write_same);
	return;
done:
	vs_port_complete(srb);
}

/* ---- UNMAP ---- */

#define UNMAP_HDR 8
#define UNMAP_DESC 16

static bool read_desc(struct vs_srb *srb, uint32_t i, uint64_t *lba, uint32_t *n)
{
	uint8_t d[UNMAP_DESC];

	if (vs_srb_copy_from_iov(srb, UNMAP_HDR + (size_t)i * UNMAP_DESC, d, sizeof(d)) < sizeof(d))
		return false;
	*lba = vd_get64(&d[0]);
	*n = vd_get32(&d[8]);
	return true;
}

static bool unmap_iter(struct vdisk_cmd *c)
{
	struct vdisk_lun *lun = c->lun;
	uint64_t lba = 0;
	uint32_t n = 0;

	if (c->bio_err) {
		vs_vdisk_set_errno(c->srb, c->bio_err, true);
		vs_vdisk_finish(c);
		return false;
	}
	/* c->pos: next descriptor, c->nblocks: descriptor count */
	while (c->pos < c->nblocks) {
		read_desc(c->srb, (uint32_t)c->pos++, &lba, &n);
		if (n == 0)
			continue;
		vs_vdisk_iter_submit(c, VS_BIO_UNMAP, lba << lun->block_shift,
		                  (uint64_t)n << lun->block_shift, NULL, 0, 0);
		return true;
	}
	vs_vdisk_good(c->srb);
	c->srb->xfer_len = (uint32_t)c->xfer_bytes;
	vs_vdisk_finish(c);
	return false;
}

static void unmap_go(struct vdisk_cmd *c)
{
	if (!vs_vdisk_gate_enter(c, unmap_go))
		return;
	c->iter = unmap_iter;
	c->pos = 0;
	vs_vdisk_iterate(c);
}

void vs_vdisk_cmd_unmap(struct vdisk_lun *lun, struct vs_srb *srb)
{
	struct vdisk_cmd *c = vs_vdisk_cmd_init(lun, srb);
	uint32_t plen = vd_get16(&srb->cdb[7]);
	uint32_t avail = plen < srb->data_length ? plen : srb->data_length;
	uint8_t hdr[UNMAP_HDR];
	uint32_t bdlen, ndesc;
	uint64_t total = 0;

	vs_vdisk_set_residual(srb, plen);
	if (!vs_vdisk_check_writable(lun, srb))
		goto done;
	if (plen == 0) {
		/* SBC-3 5.28: a zero PARAMETER LIST LENGTH is not an error */
		vs_vdisk_good(srb);
		goto done;
	}
	if (plen < UNMAP_HDR || avail < UNMAP_HDR) {
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
		goto done;
	}
	vs_srb_copy_from_iov(srb, 0, hdr, sizeof(hdr));
	bdlen = vd_get16(&hdr[2]);
	if (bdlen > avail - UNMAP_HDR)
		bdlen = avail - UNMAP_HDR;
	/* An incomplete last descriptor is ignored (SBC-3 5.28.2). */
	ndesc = bdlen / UNMAP_DESC;
	if (ndesc > VDISK_MAX_UNMAP_DESC) {
		vs_srb_set_invalid_field(srb, false, 2, 7);
		goto done;
	}
	/* Check every descriptor before touching the medium. */
	for (uint32_t i = 0; i < ndesc; i++) {
		uint64_t lba = 0;
		uint32_t n = 0;

		read_desc(srb, i, &lba, &n);
		if (!vs_vdisk_check_range(lun, srb, lba, n))
			goto done;
		total += n;
		if (total > VDISK_MAX_UNMAP_LBAS) {
			/* MAXIMUM UNMAP LBA COUNT (VPD B0h) */
			vs_srb_set_invalid_field(srb, false,
			                    (uint16_t)(UNMAP_HDR + i * UNMAP_DESC + 8), 7);
			goto done;
		}
	}
	c->nblocks = ndesc;
	c->dir_write = 1;
	c->xfer_bytes = avail;
	unmap_go(c);
	return;
done:
	vs_port_complete(srb);
}
