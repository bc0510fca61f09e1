/* SPDX-License-Identifier: MIT */
/*
 * Writes that must be atomic with respect to every other write to the LUN:
 *
 *  - ORWRITE(16) (SBC-3 5.10): the data-out buffer is ORed into the blocks
 *    on the medium (read, OR, write), like COMPARE AND WRITE a
 *    read-modify-write that no other write may interleave with;
 *  - WRITE ATOMIC(16) (SBC-4 5.48): the blocks are written all or nothing
 *    and no other write to the LUN is seen half-way through it.
 *
 * Both reuse COMPARE AND WRITE's serialization: the job runs on the LUN's
 * engine (one buffer job at a time) under the exclusive write gate (writes
 * in flight drain first; new ones park until it ends).
 */
#include <string.h>

#include "vdisk_int.h"

static uint64_t chunk_blocks(const struct vdisk_lun *lun)
{
	return VDISK_ENGINE_BUF_BYTES >> lun->block_shift;
}

/* FUA from the CDB or WCE=0; emulated with a flush where the backend
 * cannot do FUA (SBC-3 4.15). */
static void set_write_flags(struct vdisk_lun *lun, struct vdisk_cmd *c, bool fua)
{
	c->bio_flags = vs_vdisk_write_flags(lun, fua);
	if ((c->bio_flags & VS_BIO_FUA) && !lun->caps.can_fua) {
		c->bio_flags &= ~(uint32_t)VS_BIO_FUA;
		c->flush_after = true;
	}
}

/* ---- ORWRITE ---- */

enum { OR_NEXT, OR_READ_DONE, OR_WRITE_DONE, OR_FLUSHED };

/* OR `len` data-out bytes starting at `off` into buf. */
static void or_data_out(struct vs_srb *srb, uint64_t off, uint8_t *buf, uint64_t len)
{
	uint8_t tmp[512];

	for (uint64_t done = 0; done < len; ) {
		size_t n = len - done < sizeof(tmp) ? (size_t)(len - done) : sizeof(tmp);
		size_t got = vs_srb_copy_from_iov(srb, (size_t)(off + done), tmp, n);

		for (size_t i = 0; i < got; i++)
			buf[done + i] |= tmp[i];
		done += n;
	}
}

static bool or_iter(struct vdisk_cmd *c)
{
	struct vdisk_lun *lun = c->lun;
	struct vs_srb *srb = c->srb;
	uint64_t n;

	switch (c->phase) {
	case OR_READ_DONE:
		if (c->bio_err) {
			vs_vdisk_set_errno(srb, c->bio_err, false);
			goto out;
		}
		or_data_out(srb, c->pos << lun->block_shift, lun->buf, c->xfer_bytes);
		c->phase = OR_WRITE_DONE;
		vs_vdisk_iter_submit(c, VS_BIO_WRITE, (c->lba + c->pos) << lun->block_shift,
		                  c->xfer_bytes, &c->iov, 1, c->bio_flags);
		return true;
	case OR_WRITE_DONE:
		if (c->bio_err) {
			vs_vdisk_set_errno(srb, c->bio_err, true);
			goto out;
		}
		c->pos += c->xfer_bytes >> lun->block_shift;
		/* fallthrough */
	case OR_NEXT:
		if (c->pos >= c->nblocks) {
			if (c->flush_after) {
				c->phase = OR_FLUSHED;
				vs_vdisk_iter_submit(c, VS_BIO_FLUSH, 0, 0, NULL, 0, 0);
				return true;
			}
			vs_vdisk_good(srb);
			goto out;
		}
		n = c->nblocks - c->pos < chunk_blocks(lun) ? c->nblocks - c->pos : chunk_blocks(lun);
		c->xfer_bytes = n << lun->block_shift;
		c->iov.iov_base = lun->buf;
		c->iov.iov_len = c->xfer_bytes;
		c->phase = OR_READ_DONE;
		vs_vdisk_iter_submit(c, VS_BIO_READ, (c->lba + c->pos) << lun->block_shift,
		                  c->xfer_bytes, &c->iov, 1, 0);
		return true;
	case OR_FLUSHED:
		vs_vdisk_set_errno(srb, c->bio_err, true);
		break;
	}
out:
	if (srb->scsi_status == SAM_STAT_GOOD)
		srb->xfer_len = (uint32_t)(c->nblocks << lun->block_shift);
	vs_vdisk_gate_exclusive_end(lun);
	vs_vdisk_engine_finish(c);
	return false;
}

static void or_go(struct vdisk_cmd *c)
{
	c->iter = or_iter;
	c->phase = OR_NEXT;
	c->pos = 0;
	c->dir_write = 1;
	vs_vdisk_iterate(c);
}

static void or_start(struct vdisk_cmd *c)
{
	vs_vdisk_gate_exclusive(c, or_go);
}

void vs_vdisk_cmd_orwrite(struct vdisk_lun *lun, struct vs_srb *srb)
{
	struct vdisk_cmd *c = vs_vdisk_cmd_init(lun, srb);
	uint64_t lba = vd_get64(&srb->cdb[2]);
	uint64_t n = vd_get32(&srb->cdb[10]);
	uint64_t fit;

	vs_vdisk_set_residual(srb, n << lun->block_shift);
	if (!vs_vdisk_check_writable(lun, srb) || !vs_vdisk_check_range(lun, srb, lba, n))
		goto done;
	if (n > (VDISK_MAX_XFER_BYTES >> lun->block_shift)) {
		/* MAXIMUM TRANSFER LENGTH (VPD B0h) */
		vs_srb_set_invalid_field(srb, true, 10, 7);
		goto done;
	}
	/* SAM-5 5.4.3: only whole blocks that fit the expected length move */
	fit = (uint64_t)srb->data_length >> lun->block_shift;
	c->lba = lba;
	c->nblocks = n < fit ? n : fit;
	if (c->nblocks == 0) {
		vs_vdisk_good(srb);
		goto done;
	}
	set_write_flags(lun, c, srb->cdb[1] & 0x08);
	vs_vdisk_engine_run(c, or_start);
	return;
done:
	vs_port_complete(srb);
}

/* ---- WRITE ATOMIC(16) ---- */

static void atomic_done(struct vdisk_cmd *c)
{
	struct vdisk_lun *lun = c->lun;

	if (!c->bio_err && c->flush_after) {
		c->flush_after = false;
		vs_vdisk_submit_bio(c, VS_BIO_FLUSH, 0, 0, NULL, 0, 0, atomic_done);
		return;
	}
	vs_vdisk_set_errno(c->srb, c->bio_err, true);
	if (!c->bio_err)
		c->srb->xfer_len = (uint32_t)c->xfer_bytes;
	vs_vdisk_gate_exclusive_end(lun);
	vs_vdisk_engine_finish(c);
}

static void atomic_go(struct vdisk_cmd *c)
{
	struct vs_srb *srb = c->srb;

	vs_vdisk_submit_bio(c, VS_BIO_WRITE, c->lba << c->lun->block_shift, c->xfer_bytes,
	                 srb->iov, srb->iovcnt, c->bio_flags, atomic_done);
}

static void atomic_start(struct vdisk_cmd *c)
{
	vs_vdisk_gate_exclusive(c, atomic_go);
}

void vs_vdisk_cmd_write_atomic(struct vdisk_lun *lun, struct vs_srb *srb)
{
	struct vdisk_cmd *c = vs_vdisk_cmd_init(lun, srb);
	uint64_t lba = vd_get64(&srb->cdb[2]);
	uint64_t n = vd_get16(&srb->cdb[12]);
	uint64_t need = n << lun->block_shift;

	vs_vdisk_set_residual(srb, need);
	if (!vs_vdisk_check_writable(lun, srb) || !vs_vdisk_check_range(lun, srb, lba, n))
		goto done;
	if (n > vdisk_max_atomic_blocks(lun)) {
		/* MAXIMUM ATOMIC TRANSFER LENGTH (VPD B0h) */
		vs_srb_set_invalid_field(srb, true, 12, 7);
		goto done;
	}
	if (n == 0) {
		vs_vdisk_good(srb);
		goto done;
	}
	if (srb->data_length < need) {
		/* all or nothing: a short data-out buffer cannot be written */
		vs_srb_set_invalid_field(srb, true, 12, 7);
		goto done;
	}
	c->lba = lba;
	c->nblocks = n;
	c->xfer_bytes = need;
	c->dir_write = 1;
	set_write_flags(lun, c, srb->cdb[1] & 0x08);
	vs_vdisk_engine_run(c, atomic_start);
	return;
done:
	vs_port_complete(srb);
}
