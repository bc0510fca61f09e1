/* SPDX-License-Identifier: MIT */
/*
 * Jobs that need a scratch buffer bigger than an SRB extension: COMPARE AND
 * WRITE (SBC-3 5.3), VERIFY with BYTCHK (SBC-3 5.33) and WRITE SAME with a
 * data pattern (SBC-3 5.41).  Each LUN has one preallocated buffer
 * (VDISK_ENGINE_BUF_BYTES) and runs these jobs one at a time; later jobs
 * wait in a FIFO.  Nothing here allocates or blocks.
 */
#include <string.h>

#include "vdisk_int.h"

void vs_vdisk_engine_run(struct vdisk_cmd *c, vdisk_step_fn start)
{
	struct vdisk_lun *lun = c->lun;

	pthread_mutex_lock(&lun->lock);
	if (lun->engine_busy) {
		vdisk_cmd_park(&lun->engine_head, &lun->engine_tail, c, start);
		pthread_mutex_unlock(&lun->lock);
		return;
	}
	lun->engine_busy = true;
	pthread_mutex_unlock(&lun->lock);
	start(c);
}

void vs_vdisk_engine_finish(struct vdisk_cmd *c)
{
	struct vdisk_lun *lun = c->lun;

	vs_vdisk_finish(c);                /* c may be reused from here on */
	vs_vdisk_engine_release(lun);
}

void vs_vdisk_engine_release(struct vdisk_lun *lun)
{
	struct vdisk_cmd *n;

	pthread_mutex_lock(&lun->lock);
	n = lun->engine_head;
	if (n) {
		lun->engine_head = n->next;
		if (!lun->engine_head)
			lun->engine_tail = NULL;
	} else {
		lun->engine_busy = false;
	}
	pthread_mutex_unlock(&lun->lock);
	if (n)
		n->resume(n);
}

/* Offset of the first byte where data-out [off, off+len) differs from buf,
 * or -1 if equal. */
static int64_t compare_data_out(struct vs_srb *srb, uint64_t off, const uint8_t *buf, uint64_t len)
{
	uint8_t tmp[512];
	uint64_t done = 0;

	while (done < len) {
		size_t n = len - done < sizeof(tmp) ? (size_t)(len - done) : sizeof(tmp);
		size_t got = vs_srb_copy_from_iov(srb, (size_t)(off + done), tmp, n);

		if (got < n)
			memset(tmp + got, 0, n - got);
		if (memcmp(tmp, buf + done, n) != 0) {
			for (size_t i = 0; i < n; i++)
				if (tmp[i] != buf[done + i])
					return (int64_t)(done + i);
		}
		done += n;
	}
	return -1;
}

static uint64_t engine_chunk_blocks(const struct vdisk_lun *lun)
{
	return VDISK_ENGINE_BUF_BYTES >> lun->block_shift;
}

/* ---- COMPARE AND WRITE ---- */

enum { CAW_READ, CAW_COMPARE, CAW_WRITTEN, CAW_FLUSHED };

static bool caw_iter(struct vdisk_cmd *c)
{
	struct vdisk_lun *lun = c->lun;
	struct vs_srb *srb = c->srb;
	uint64_t bytes = c->nblocks << lun->block_shift;
	uint64_t off = c->lba << lun->block_shift;
	int64_t miss;

	switch (c->phase) {
	case CAW_READ:
		c->phase = CAW_COMPARE;
		c->iov.iov_base = lun->buf;
		c->iov.iov_len = bytes;
		vs_vdisk_iter_submit(c, VS_BIO_READ, off, bytes, &c->iov, 1, 0);
		return true;
	case CAW_COMPARE:
		if (c->bio_err) {
			vs_vdisk_set_errno(srb, c->bio_err, false);
			break;
		}
		miss = compare_data_out(srb, 0, lun->buf, bytes);
		if (miss >= 0) {
			vs_vdisk_miscompare(srb, (uint64_t)miss);
			break;
		}
		vs_srb_copy_from_iov(srb, (size_t)bytes, lun->buf, (size_t)bytes);
		c->phase = CAW_WRITTEN;
		c->dir_write = 1;
		vs_vdisk_iter_submit(c, VS_BIO_WRITE, off, bytes, &c->iov, 1, c->bio_flags);
		return true;
	case CAW_WRITTEN:
		if (!c->bio_err && c->flush_after) {
			c->phase = CAW_FLUSHED;
			vs_vdisk_iter_submit(c, VS_BIO_FLUSH, 0, 0, NULL, 0, 0);
			return true;
		}
		/* fallthrough */
	case CAW_FLUSHED:
		vs_vdisk_set_errno(srb, c->bio_err, true);
		if (!c->bio_err)
			srb->xfer_len = (uint32_t)(2 * bytes);
		break;
	}
	vs_vdisk_gate_exclusive_end(lun);
	vs_vdisk_engine_finish(c);
	return false;
}

static void caw_go(struct vdisk_cmd *c)
{
	c->iter = caw_iter;
	c->phase = CAW_READ;
	vs_vdisk_iterate(c);
}

void vs_vdisk_engine_caw(struct vdisk_cmd *c)
{
	/* Atomic with respect to every other write to the LUN: wait until
	 * in-flight writes drained; new ones park until we are done. */
	vs_vdisk_gate_exclusive(c, caw_go);
}

/* ---- VERIFY with BYTCHK=01b / 11b, and WRITE AND VERIFY's read-back ---- */

/* c->bytchk 0 (WRITE AND VERIFY with BYTCHK=0): read only, the medium
 * must be readable; 1: compare each block with the data-out at its offset;
 * 3: compare each with the one block of data-out. */
static bool verify_iter(struct vdisk_cmd *c)
{
	struct vdisk_lun *lun = c->lun;
	struct vs_srb *srb = c->srb;
	uint64_t chunk = engine_chunk_blocks(lun);

	if (c->phase == 1) {
		/* a chunk of c->xfer_bytes was read at block c->pos */
		uint64_t blocks = c->xfer_bytes >> lun->block_shift;

		if (c->bio_err) {
			vs_vdisk_set_errno(srb, c->bio_err, false);
			goto out;
		}
		for (uint64_t b = 0; c->bytchk && b < blocks; b++) {
			uint64_t doff = c->bytchk == 3 ? 0 : (c->pos + b) << lun->block_shift;
			int64_t miss = compare_data_out(srb, doff, lun->buf + (b << lun->block_shift),
			                                lun->block_size);

			if (miss >= 0) {
				vs_vdisk_miscompare(srb, ((c->pos + b) << lun->block_shift) + (uint64_t)miss);
				goto out;
			}
		}
		c->pos += blocks;
	}
	if (c->pos >= c->nblocks) {
		vs_vdisk_good(srb);
		srb->xfer_len = c->bytchk == 3 ? lun->block_size
		                               : (uint32_t)(c->nblocks << lun->block_shift);
		goto out;
	}
	c->phase = 1;
	c->xfer_bytes = (c->nblocks - c->pos < chunk ? c->nblocks - c->pos : chunk) << lun->block_shift;
	c->iov.iov_base = lun->buf;
	c->iov.iov_len = c->xfer_bytes;
	vs_vdisk_iter_submit(c, VS_BIO_READ, (c->lba + c->pos) << lun->block_shift, c->xfer_bytes,
	                  &c->iov, 1, 0);
	return true;
out:
	vs_vdisk_engine_finish(c);
	return false;
}

void vs_vdisk_engine_verify(struct vdisk_cmd *c)
{
	c->iter = verify_iter;
	c->phase = 0;
	c->pos = 0;
	vs_vdisk_iterate(c);
}

/* ---- WRITE SAME with a pattern ---- */

static bool ws_iter(struct vdisk_cmd *c)
{
	struct vdisk_lun *lun = c->lun;
	struct vs_srb *srb = c->srb;
	uint64_t chunk = engine_chunk_blocks(lun);
	uint64_t n;

	if (c->phase == 1) {
		if (c->bio_err) {
			vs_vdisk_set_errno(srb, c->bio_err, true);
			goto out;
		}
		c->pos += c->xfer_bytes >> lun->block_shift;
	} else if (c->phase == 2) {
		vs_vdisk_set_errno(srb, c->bio_err, true);
		goto out;
	}
	if (c->pos >= c->nblocks) {
		if (c->flush_after) {
			c->phase = 2;
			vs_vdisk_iter_submit(c, VS_BIO_FLUSH, 0, 0, NULL, 0, 0);
			return true;
		}
		vs_vdisk_good(srb);
		goto out;
	}
	n = c->nblocks - c->pos < chunk ? c->nblocks - c->pos : chunk;
	c->phase = 1;
	c->xfer_bytes = n << lun->block_shift;
	c->iov.iov_base = lun->buf;
	c->iov.iov_len = c->xfer_bytes;
	vs_vdisk_iter_submit(c, VS_BIO_WRITE, (c->lba + c->pos) << lun->block_shift, c->xfer_bytes,
	                  &c->iov, 1, c->bio_flags);
	return true;
out:
	if (srb->scsi_status == SAM_STAT_GOOD)
		srb->xfer_len = c->ndob ? 0 : lun->block_size;
	vs_vdisk_engine_finish(c);
	return false;
}

void vs_vdisk_engine_write_same(struct vdisk_cmd *c)
{
	struct vdisk_lun *lun = c->lun;
	uint64_t chunk = engine_chunk_blocks(lun);
	uint64_t fill = c->nblocks < chunk ? c->nblocks : chunk;

	/* Fill the buffer with as many copies of the block as one chunk needs. */
	if (c->pattern_zero) {
		memset(lun->buf, 0, fill << lun->block_shift);
	} else {
		vs_srb_copy_from_iov(c->srb, 0, lun->buf, lun->block_size);
		for (uint64_t b = 1; b < fill; b++)
			memcpy(lun->buf + (b << lun->block_shift), lun->buf, lun->block_size);
	}
	c->iter = ws_iter;
	c->phase = 0;
	c->pos = 0;
	c->dir_write = 1;
	vs_vdisk_iterate(c);
}

/* SBC-3 5.3 COMPARE AND WRITE: data-out holds n blocks to compare, then n
 * blocks to write. */
void vs_vdisk_cmd_compare_and_write(struct vdisk_lun *lun, struct vs_srb *srb)
{
	struct vdisk_cmd *c = vs_vdisk_cmd_init(lun, srb);
	uint64_t max = engine_chunk_blocks(lun);
	uint64_t need;

	if (max > VDISK_MAX_CAW_BLOCKS)
		max = VDISK_MAX_CAW_BLOCKS;
	c->lba = vd_get64(&srb->cdb[2]);
	c->nblocks = srb->cdb[13];
	need = 2 * (c->nblocks << lun->block_shift);
	vs_vdisk_set_residual(srb, need);
	if (!vs_vdisk_check_writable(lun, srb) || !vs_vdisk_check_range(lun, srb, c->lba, c->nblocks))
		goto done;
	if (c->nblocks > max) {
		/* MAXIMUM COMPARE AND WRITE LENGTH (VPD B0h) */
		vs_srb_set_invalid_field(srb, true, 13, 7);
		goto done;
	}
	if (srb->data_length != need) {
		/* the data-out buffer must hold exactly the verify and write data
		 * (a NUMBER OF LOGICAL BLOCKS that wrapped to 0 lands here too) */
		vs_srb_set_invalid_field(srb, true, 13, 7);
		goto done;
	}
	if (c->nblocks == 0) {
		vs_vdisk_good(srb);
		goto done;
	}
	c->bio_flags = vs_vdisk_write_flags(lun, srb->cdb[1] & 0x08);
	if ((c->bio_flags & VS_BIO_FUA) && !lun->caps.can_fua) {
		c->bio_flags &= ~(uint32_t)VS_BIO_FUA;
		c->flush_after = true;
	}
	vs_vdisk_engine_run(c, vs_vdisk_engine_caw);
	return;
done:
	vs_port_complete(srb);
}
