/* SPDX-License-Identifier: MIT */
/*
 * The data path: READ / WRITE / WRITE AND VERIFY (6/10/12/16), VERIFY
 * without byte compare, SYNCHRONIZE CACHE, PRE-FETCH; plus the plumbing
 * every command that talks to the block stack shares: submitting a bio
 * from the SRB extension and the multi-bio iterator (the write gate is in
 * vdisk_gate.c).
 */
#include <errno.h>
#include <string.h>

#include "../util/vs_zero.h"
#include "vdisk_int.h"

struct vdisk_cmd *vs_vdisk_cmd_init(struct vdisk_lun *lun, struct vs_srb *srb)
{
	struct vdisk_cmd *c = vdisk_cmd_of(srb);

	vs_zero(c, sizeof(*c));
	c->srb = srb;
	c->lun = lun;
	return c;
}

/* SBC-3 4.5: LBA + count must not pass the last LBA; count 0 at the
 * capacity is fine, one past it is not. */
bool vs_vdisk_check_range(struct vdisk_lun *lun, struct vs_srb *srb, uint64_t lba, uint64_t n)
{
	uint64_t cap = vdisk_capacity(lun);

	if (lba > cap || n > cap - lba) {
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		return false;
	}
	return true;
}

bool vs_vdisk_check_writable(struct vdisk_lun *lun, struct vs_srb *srb)
{
	if (lun->readonly || atomic_load_explicit(&lun->swp, memory_order_relaxed)) {
		/* SBC-3 4.11 / SPC-4 7.5.7 SWP: DATA PROTECT, WRITE PROTECTED */
		vs_srb_set_sense(srb, SENSE_DATA_PROTECT, ASC_WRITE_PROTECTED);
		return false;
	}
	return true;
}

uint32_t vs_vdisk_write_flags(struct vdisk_lun *lun, bool fua)
{
	/* Without a volatile cache every write is already stable. */
	if (!lun->caps.has_write_cache)
		return 0;
	if (fua || !atomic_load_explicit(&lun->wce, memory_order_relaxed))
		return VS_BIO_FUA;
	return 0;
}

/* A bio that ends with its data lent (only a READ asks, read_done takes
 * the loan): its count on lun->outstanding goes on to the loan. */
static bool bio_goes_on_loan(const struct vs_bio *bio, int err)
{
	return !err && bio->lent && (bio->flags & VS_BIO_MAY_LEND);
}

static void bio_done(struct vs_bio *bio, int err)
{
	struct vdisk_cmd *c = bio->ctx;
	struct vdisk_lun *lun = c->lun;        /* c may be reused by on_bio */
	bool loan = bio_goes_on_loan(bio, err); /* nor may bio be read after */

	c->bio_err = err;
	c->on_bio(c);
	/* A loan keeps the count until read_lend_end: handing it on, not
	 * taking a second one, saves two atomic operations per lent READ
	 * on a counter every connection to the LUN shares. */
	if (!loan)
		vdisk_out_put(lun);
}

void vs_vdisk_submit_bio(struct vdisk_cmd *c, uint8_t op, uint64_t offset, uint64_t len,
                      struct iovec *iov, int iovcnt, uint32_t flags, vdisk_step_fn on_bio)
{
	struct vdisk_lun *lun = c->lun;
	struct vs_bdev *bdev = lun->bdev;
	int rc;

	vs_zero(&c->bio, sizeof(c->bio));
	c->bio.op = op;
	c->bio.flags = flags;
	c->bio.offset = offset;
	c->bio.length = len;
	c->bio.iov = iov;
	c->bio.iovcnt = iovcnt;
	c->bio.done = bio_done;
	c->bio.ctx = c;
	c->on_bio = on_bio;
	vdisk_out_get(lun);
	rc = vs_bdev_submit(bdev, &c->bio);
	if (rc < 0) {
		/* not submitted: done() will not run */
		c->bio_err = rc;
		on_bio(c);
		vdisk_out_put(lun);
	}
}

static void cmd_work(struct vs_work *w)
{
	struct vdisk_cmd *c = (struct vdisk_cmd *)((char *)w - offsetof(struct vdisk_cmd, work));
	struct vdisk_lun *lun = c->lun;        /* c may be reused once fn completed it */

	c->resume(c);
	vdisk_out_put(lun);
}

int vs_vdisk_cmd_queue_work(struct vdisk_cmd *c, vdisk_step_fn fn)
{
	struct vdisk_lun *lun = c->lun;
	int rc;

	c->resume = fn;
	c->work.fn = cmd_work;
	vdisk_out_get(lun);
	rc = vs_port_queue_work(lun->ad->port, &c->work);
	if (rc < 0)
		vdisk_out_put(lun);
	return rc;
}

/* ---- the multi-bio iterator ---- */

enum { ITER_SUBMITTING = 0, ITER_DONE_INLINE = 1, ITER_RETURNED = 2 };

static void iter_bio_done(struct vdisk_cmd *c)
{
	/* Completed while the submitter is still inside submit(): let it loop. */
	if (atomic_exchange(&c->sync, ITER_DONE_INLINE) == ITER_SUBMITTING)
		return;
	vs_vdisk_iterate(c);
}

void vs_vdisk_iter_submit(struct vdisk_cmd *c, uint8_t op, uint64_t offset, uint64_t len,
                       struct iovec *iov, int iovcnt, uint32_t flags)
{
	vs_vdisk_submit_bio(c, op, offset, len, iov, iovcnt, flags, iter_bio_done);
}

void vs_vdisk_iterate(struct vdisk_cmd *c)
{
	for (;;) {
		atomic_store(&c->sync, ITER_SUBMITTING);
		if (!c->iter(c))
			return;         /* finished; c may already be reused */
		if (atomic_exchange(&c->sync, ITER_RETURNED) == ITER_SUBMITTING)
			return;         /* asynchronous: iter_bio_done continues */
	}
}

void vs_vdisk_finish(struct vdisk_cmd *c)
{
	struct vdisk_lun *lun = c->lun;
	struct vs_srb *srb = c->srb;
	bool held = c->gate_held;

	c->gate_held = false;
	if (held)
		vs_vdisk_gate_exit(lun);
	vs_port_complete(srb);
}

/* ---- CDB decoding for the READ/WRITE/VERIFY families ---- */

void vs_vdisk_decode_rw(const uint8_t *cdb, struct rw_args *a)
{
	memset(a, 0, sizeof(*a));
	switch (cdb[0]) {
	case READ_6:
	case WRITE_6:
		/* SBC-3 5.14/5.38: a TRANSFER LENGTH of 0 means 256 blocks */
		a->lba = vd_get24(&cdb[1]) & 0x1fffff;
		a->n = cdb[4] ? cdb[4] : 256;
		a->len_byte = 4;
		return;
	case READ_10: case WRITE_10: case WRITE_AND_VERIFY_10: case VERIFY_10:
	case PRE_FETCH_10: case SYNCHRONIZE_CACHE_10:
		a->lba = vd_get32(&cdb[2]);
		a->n = vd_get16(&cdb[7]);
		a->len_byte = 7;
		break;
	case READ_12: case WRITE_12: case WRITE_AND_VERIFY_12: case VERIFY_12:
		a->lba = vd_get32(&cdb[2]);
		a->n = vd_get32(&cdb[6]);
		a->len_byte = 6;
		break;
	default: /* 16-byte forms */
		a->lba = vd_get64(&cdb[2]);
		a->n = vd_get32(&cdb[10]);
		a->len_byte = 10;
		break;
	}
	a->fua = (cdb[1] & 0x08) != 0;
}

static bool check_max_len(struct vdisk_lun *lun, struct vs_srb *srb, const struct rw_args *a)
{
	/* SBC-3 6.5.3 MAXIMUM TRANSFER LENGTH */
	if (a->n > (VDISK_MAX_XFER_BYTES >> lun->block_shift)) {
		vs_srb_set_invalid_field(srb, true, a->len_byte, 7);
		return false;
	}
	return true;
}

/*
 * SAM-5 5.4.3 / RFC 7143 11.4.5.1: residuals compare what the command
 * needs with the expected data transfer length.  A WRITE transfers only the
 * whole blocks that fit in the expected length: writing part of a block
 * would need a read-modify-write, and the initiator sent less than a block
 * anyway (libiscsi accepts GOOD with the overflow residual).
 */
static uint64_t fitting_bytes(struct vdisk_lun *lun, struct vs_srb *srb, uint64_t need)
{
	uint64_t fit = ((uint64_t)srb->data_length >> lun->block_shift) << lun->block_shift;

	vs_vdisk_set_residual(srb, need);
	return need < fit ? need : fit;
}

/* ---- READ ---- */

/* The SRB is back in its pool's hands (srb.h data_ref): end the block
 * stack's loan, and let the LUN go: the count the READ's bio handed on
 * (bio_done, read_done). */
static void read_lend_end(struct vs_srb *srb)
{
	struct vdisk_cmd *c = vdisk_cmd_of(srb);
	struct vdisk_lun *lun = c->lun;

	vs_bdev_lend_end(lun->bdev, &c->bio);
	vdisk_out_put(lun);
}

/* srb.h data_ref_crc32c: the checksum the block stack keeps of bytes of a
 * stable loan. */
static bool read_lent_crc32c(struct vs_srb *srb, uint32_t off, uint32_t len, uint32_t *crc)
{
	struct vdisk_cmd *c = vdisk_cmd_of(srb);

	return vs_bdev_lent_crc32c(c->lun->bdev, &c->bio, off, len, crc) == 0;
}

/* What the submitter lets the stack lend for a READ (srb.h accept_data_ref). */
static uint32_t read_lend_flags(const struct vs_srb *srb)
{
	if (!srb->accept_data_ref)
		return 0;
	return VS_BIO_MAY_LEND | ((srb->accept_data_ref & VS_DATA_REF_STABLE) ? VS_BIO_LEND_STABLE : 0);
}

static void read_done(struct vdisk_cmd *c)
{
	struct vs_srb *srb = c->srb;

	if (c->bio_err) {
		vs_bdev_lend_end(c->lun->bdev, &c->bio);        /* none is expected */
		vs_vdisk_set_errno(srb, c->bio_err, false);
	} else {
		vs_vdisk_good(srb);
		srb->xfer_len = (uint32_t)c->xfer_bytes;
		if (bio_goes_on_loan(&c->bio, c->bio_err)) {
			/* The data stays in the stack's memory until the submitter
			 * is done with it: the loan counts as outstanding (the
			 * bio's count, which bio_done hands on), so a detach keeps
			 * the LUN and its stack open until it ends
			 * (vdisk_miniport.c lun_quiet). */
			srb->data_ref = c->bio.lent;
			srb->data_ref_release = read_lend_end;
			srb->data_ref_crc32c = (c->bio.flags & VS_BIO_LEND_STABLE) ? read_lent_crc32c
			                                                         : NULL;
		}
	}
	vs_vdisk_finish(c);
}

/*
 * A READ whose expected data transfer length ends inside a block (e.g. one
 * 512-byte block, EDTL 200).  SAM-5 5.4.3 / RFC 7143 11.4.5.1: on overflow
 * the target moves as many bytes as the initiator expects and reports the
 * rest as residual.  Backends move whole blocks (O_DIRECT alignment), so
 * the whole blocks go straight into the data-in buffer (c->pos bytes) and
 * the block holding the last bytes is read into the LUN's preallocated
 * engine buffer and copied from there.  Rare, so it may queue behind
 * other engine jobs; the common path never comes here.
 */
static void read_tail_done(struct vdisk_cmd *c)
{
	struct vs_srb *srb = c->srb;

	if (c->bio_err) {
		vs_vdisk_set_errno(srb, c->bio_err, false);
	} else {
		vs_srb_copy_to_iov(srb, (size_t)c->pos, c->lun->buf, (size_t)(c->xfer_bytes - c->pos));
		vs_vdisk_good(srb);
		srb->xfer_len = (uint32_t)c->xfer_bytes;
	}
	vs_vdisk_engine_finish(c);
}

static void read_tail_go(struct vdisk_cmd *c)
{
	struct vdisk_lun *lun = c->lun;

	c->iov.iov_base = lun->buf;
	c->iov.iov_len = lun->block_size;
	vs_vdisk_submit_bio(c, VS_BIO_READ, (c->lba << lun->block_shift) + c->pos, lun->block_size,
	                 &c->iov, 1, 0, read_tail_done);
}

static void read_head_done(struct vdisk_cmd *c)
{
	if (c->bio_err) {
		vs_vdisk_set_errno(c->srb, c->bio_err, false);
		vs_vdisk_finish(c);
		return;
	}
	vs_vdisk_engine_run(c, read_tail_go);
}

void vs_vdisk_cmd_read(struct vdisk_lun *lun, struct vs_srb *srb)
{
	struct vdisk_cmd *c = vs_vdisk_cmd_init(lun, srb);
	struct rw_args a;
	uint64_t need;

	vs_vdisk_decode_rw(srb->cdb, &a);
	if (!vs_vdisk_check_range(lun, srb, a.lba, a.n) || !check_max_len(lun, srb, &a)) {
		vs_port_complete(srb);
		return;
	}
	/* SAM-5 5.4.3: move min(needed, expected) bytes, report the rest */
	need = a.n << lun->block_shift;
	vs_vdisk_set_residual(srb, need);
	c->xfer_bytes = need < srb->data_length ? need : srb->data_length;
	if (c->xfer_bytes == 0) {
		vs_vdisk_good(srb);
		vs_port_complete(srb);
		return;
	}
	c->lba = a.lba;
	c->pos = (c->xfer_bytes >> lun->block_shift) << lun->block_shift;
	if (c->pos != c->xfer_bytes) {
		if (c->pos)
			vs_vdisk_submit_bio(c, VS_BIO_READ, a.lba << lun->block_shift, c->pos,
			                 srb->iov, srb->iovcnt, 0, read_head_done);
		else
			vs_vdisk_engine_run(c, read_tail_go);
		return;
	}
	/* FUA on a read (SBC-3 5.11): we have no read cache of our own, so
	 * every read already comes from the backend.  A submitter that takes
	 * data-in by reference may get the stack's own memory (read_done). */
	vs_vdisk_submit_bio(c, VS_BIO_READ, a.lba << lun->block_shift, c->xfer_bytes,
	                 srb->iov, srb->iovcnt, read_lend_flags(srb), read_done);
}

/* ---- WRITE / WRITE AND VERIFY ---- */

static void write_flush_done(struct vdisk_cmd *c)
{
	struct vdisk_lun *lun = c->lun;

	if (!c->bio_err && c->verify_after) {
		/* SBC-3 5.40: now verify what was written, reading it back
		 * from the medium through the LUN's engine buffer.  The write
		 * gate is let go first: an exclusive COMPARE AND WRITE holding
		 * the engine may be waiting for it. */
		c->gate_held = false;
		vs_vdisk_gate_exit(lun);
		c->nblocks = c->xfer_bytes >> lun->block_shift;
		vs_vdisk_engine_run(c, vs_vdisk_engine_verify);
		return;
	}
	vs_vdisk_set_errno(c->srb, c->bio_err, true);
	if (!c->bio_err)
		c->srb->xfer_len = (uint32_t)c->xfer_bytes;
	vs_vdisk_finish(c);
}

static void write_done(struct vdisk_cmd *c)
{
	if (!c->bio_err && c->flush_after) {
		/* FUA emulated: the backend cannot do FUA, so flush (SBC-3 4.15) */
		vs_vdisk_submit_bio(c, VS_BIO_FLUSH, 0, 0, NULL, 0, 0, write_flush_done);
		return;
	}
	write_flush_done(c);
}

static void write_go(struct vdisk_cmd *c)
{
	struct vs_srb *srb = c->srb;

	if (!vs_vdisk_gate_enter(c, write_go))
		return;
	vs_vdisk_submit_bio(c, VS_BIO_WRITE, c->lba << c->lun->block_shift, c->xfer_bytes,
	                 srb->iov, srb->iovcnt, c->bio_flags, write_done);
}

void vs_vdisk_cmd_write(struct vdisk_lun *lun, struct vs_srb *srb)
{
	struct vdisk_cmd *c = vs_vdisk_cmd_init(lun, srb);
	uint8_t op = srb->cdb[0];
	bool verify = op == WRITE_AND_VERIFY_10 || op == WRITE_AND_VERIFY_12 ||
	              op == WRITE_AND_VERIFY_16;
	struct rw_args a;

	vs_vdisk_decode_rw(srb->cdb, &a);
	if (!vs_vdisk_check_writable(lun, srb) || !vs_vdisk_check_range(lun, srb, a.lba, a.n) ||
	    !check_max_len(lun, srb, &a)) {
		vs_port_complete(srb);
		return;
	}
	c->lba = a.lba;
	c->nblocks = a.n;
	c->dir_write = 1;
	c->xfer_bytes = fitting_bytes(lun, srb, a.n << lun->block_shift);
	if (c->xfer_bytes == 0) {
		vs_vdisk_good(srb);
		vs_port_complete(srb);
		return;
	}
	/* WRITE AND VERIFY (SBC-3 5.40): the data must be on the medium before
	 * it can be verified there, so it is written through like FUA, then
	 * read back: BYTCHK=1 compares it with the data-out (MISCOMPARE on a
	 * difference), BYTCHK=0 only checks that the medium reads. */
	c->verify_after = verify;
	c->bytchk = verify ? (srb->cdb[1] >> 1) & 1 : 0;
	c->bio_flags = vs_vdisk_write_flags(lun, verify ? true : a.fua);
	if ((c->bio_flags & VS_BIO_FUA) && !lun->caps.can_fua) {
		c->bio_flags &= ~(uint32_t)VS_BIO_FUA;
		c->flush_after = true;
	}
	write_go(c);
}

/* ---- VERIFY ---- */

void vs_vdisk_cmd_verify(struct vdisk_lun *lun, struct vs_srb *srb)
{
	struct vdisk_cmd *c = vs_vdisk_cmd_init(lun, srb);
	struct rw_args a;
	uint64_t need;

	vs_vdisk_decode_rw(srb->cdb, &a);
	c->bytchk = (srb->cdb[1] >> 1) & 3;
	if (c->bytchk == 2) {
		/* SBC-3 5.33: BYTCHK 10b is reserved */
		vs_srb_set_invalid_field(srb, true, 1, 2);
		vs_port_complete(srb);
		return;
	}
	if (!vs_vdisk_check_range(lun, srb, a.lba, a.n) ||
	    (c->bytchk && !check_max_len(lun, srb, &a))) {
		vs_port_complete(srb);
		return;
	}
	/* BYTCHK=0: medium verification; our media have no ECC to check. */
	need = c->bytchk == 0 ? 0 : c->bytchk == 1 ? a.n << lun->block_shift
	                                           : (a.n ? lun->block_size : 0);
	vs_vdisk_set_residual(srb, need);
	if (c->bytchk == 0 || a.n == 0) {
		vs_vdisk_good(srb);
		vs_port_complete(srb);
		return;
	}
	if (srb->data_length < need) {
		/* Nothing to compare against: the data-out buffer is short. */
		vs_srb_set_invalid_field(srb, true, a.len_byte, 7);
		vs_port_complete(srb);
		return;
	}
	c->lba = a.lba;
	c->nblocks = a.n;
	vs_vdisk_engine_run(c, vs_vdisk_engine_verify);
}

/* ---- SYNCHRONIZE CACHE ---- */

static void flush_done(struct vdisk_cmd *c)
{
	vs_vdisk_set_errno(c->srb, c->bio_err, true);
	vs_vdisk_finish(c);
}

void vs_vdisk_cmd_sync_cache(struct vdisk_lun *lun, struct vs_srb *srb)
{
	struct vdisk_cmd *c = vs_vdisk_cmd_init(lun, srb);
	struct rw_args a;

	vs_vdisk_decode_rw(srb->cdb, &a);
	/* SBC-3 5.22: NUMBER OF LOGICAL BLOCKS 0 means "to the last LBA" */
	if (!vs_vdisk_check_range(lun, srb, a.lba, a.n)) {
		vs_port_complete(srb);
		return;
	}
	vs_vdisk_set_residual(srb, 0);
	if (!lun->caps.can_flush) {
		vs_vdisk_good(srb);
		vs_port_complete(srb);
		return;
	}
	/* IMMED=1 would allow GOOD before the flush; we always answer after
	 * it, which the standard permits and keeps the bio in the SRB. */
	c->dir_write = 1;
	vs_vdisk_submit_bio(c, VS_BIO_FLUSH, 0, 0, NULL, 0, 0, flush_done);
}

/* ---- PRE-FETCH ---- */

void vs_vdisk_cmd_prefetch(struct vdisk_lun *lun, struct vs_srb *srb)
{
	struct rw_args a;

	vs_vdisk_decode_rw(srb->cdb, &a);
	if (!vs_vdisk_check_range(lun, srb, a.lba, a.n)) {
		vs_port_complete(srb);
		return;
	}
	/* SBC-3 5.9: we keep no cache to load the blocks into, so GOOD
	 * (CONDITION MET would claim they are now cached). */
	vs_vdisk_set_residual(srb, 0);
	vs_vdisk_good(srb);
	vs_port_complete(srb);
}
