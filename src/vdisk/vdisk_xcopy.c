/* SPDX-License-Identifier: MIT */
/*
 * EXTENDED COPY (LID1), SPC-4 6.3 / 6.4: the copy manager of a vdisk LUN
 * copies blocks between LUNs of the same vdisk adapter.
 *
 * Supported: identification descriptor CSCD descriptors (E4h) naming a LUN
 * of this adapter by its NAA designator (VPD 83h), and block device to
 * block device segment descriptors (02h).  Nothing else: other descriptor
 * types get UNSUPPORTED TARGET / SEGMENT DESCRIPTOR TYPE CODE, inline data
 * and held data are not supported (their limits are 0 in the OPERATING
 * PARAMETERS).
 *
 * start_io checks the whole parameter list (errors there are ILLEGAL
 * REQUEST, SPC-4 6.4.3), then the copy runs as an engine job (one per LUN
 * at a time, owning the LUN's preallocated engine buffer) on the port's
 * worker pool, where it may block: it resolves the target descriptors,
 * takes a reference on each target LUN so none can be detached under it,
 * and copies segment by segment through the buffer.  Errors while
 * processing a segment are COPY ABORTED (SPC-4 6.4.5) with a sense-key
 * specific segment pointer to the field at fault (SPC-4 4.5.2.4.5).
 *
 * The writes go to the backends directly: they are not ordered against a
 * COMPARE AND WRITE on the destination LUN (the write gate is per LUN and
 * per command), and reservations are checked only on the LUN the command
 * was sent to.
 */
#include <string.h>

#include "vdisk_int.h"

#define XC_HDR      16
#define XC_TGT_LEN  32
#define XC_SEG_B2B  28
#define XC_TGT_IDENT 0xe4
#define XC_SEG_BLOCK_TO_BLOCK 0x02

/* ---- errors ---- */

/* ILLEGAL REQUEST with a field pointer into the parameter list. */
static void bad_param(struct vs_srb *srb, uint16_t asc, uint32_t byte, int bit)
{
	struct vs_sense s = { .key = SENSE_ILLEGAL_REQUEST, .asc_ascq = asc };

	vs_sense_field_pointer(&s, false, (uint16_t)(byte > 0xffff ? 0xffff : byte), bit);
	vs_srb_set_sense_data(srb, &s);
}

/* COPY ABORTED with a segment pointer (SD=0: byte offset in the parameter
 * list), SPC-4 4.5.2.4.5. */
static void copy_aborted(struct vs_srb *srb, uint16_t asc, uint32_t byte)
{
	struct vs_sense s = { .key = VDISK_SENSE_COPY_ABORTED, .asc_ascq = asc };

	vs_sense_field_pointer(&s, false, (uint16_t)(byte > 0xffff ? 0xffff : byte), -1);
	vs_srb_set_sense_data(srb, &s);
}

static bool read_param(struct vs_srb *srb, uint32_t off, void *buf, uint32_t len)
{
	return vs_srb_copy_from_iov(srb, off, buf, len) == len;
}

/* ---- parameter list checks (start_io; never blocks) ---- */

static bool check_targets(struct vs_srb *srb, uint32_t tdl)
{
	uint8_t d[XC_TGT_LEN];

	if (tdl % XC_TGT_LEN) {
		/* every supported CSCD descriptor is 32 bytes */
		bad_param(srb, ASC_INVALID_FIELD_IN_PARAMETER_LIST, 2, -1);
		return false;
	}
	if (tdl / XC_TGT_LEN > VDISK_XCOPY_MAX_TARGETS) {
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, VDISK_ASC_TOO_MANY_TARGET_DESC);
		return false;
	}
	for (uint32_t off = XC_HDR; off < XC_HDR + tdl; off += XC_TGT_LEN) {
		read_param(srb, off, d, sizeof(d));
		if (d[0] != XC_TGT_IDENT) {
			bad_param(srb, VDISK_ASC_UNSUPPORTED_TARGET_DESC, off, -1);
			return false;
		}
		/* SPC-4 6.4.5.1: LU ID TYPE is ignored in an identification
		 * descriptor CSCD descriptor (the designator names the LU), and
		 * NUL is obsolete: both are ignored here.
		 * PERIPHERAL DEVICE TYPE: block devices only. */
		if (d[1] & 0x1f) {
			bad_param(srb, ASC_INVALID_FIELD_IN_PARAMETER_LIST, off + 1, 4);
			return false;
		}
		if (d[7] > 20) {        /* DESIGNATOR LENGTH: 20 bytes of room */
			bad_param(srb, ASC_INVALID_FIELD_IN_PARAMETER_LIST, off + 7, -1);
			return false;
		}
	}
	return true;
}

static bool check_segments(struct vs_srb *srb, uint32_t start, uint32_t sdl)
{
	uint32_t off = start, end = start + sdl, n = 0;
	uint8_t h[4];

	while (off < end) {
		uint32_t dlen;

		if (end - off < sizeof(h)) {
			vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
			return false;
		}
		read_param(srb, off, h, sizeof(h));
		if (h[0] != XC_SEG_BLOCK_TO_BLOCK) {
			bad_param(srb, VDISK_ASC_UNSUPPORTED_SEGMENT_DESC, off, -1);
			return false;
		}
		dlen = vd_get16(&h[2]);
		if (dlen != XC_SEG_B2B - 4) {
			bad_param(srb, ASC_INVALID_FIELD_IN_PARAMETER_LIST, off + 2, -1);
			return false;
		}
		if (end - off < 4 + dlen) {
			vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
			return false;
		}
		if (++n > VDISK_XCOPY_MAX_SEGMENTS) {
			vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, VDISK_ASC_TOO_MANY_SEGMENT_DESC);
			return false;
		}
		off += 4 + dlen;
	}
	return true;
}

/* ---- the copy job (worker pool: may block) ---- */

static bool xc_cancelled(struct vdisk_lun *lun)
{
	bool c;

	pthread_mutex_lock(&lun->lock);
	c = lun->xc_cancel;
	pthread_mutex_unlock(&lun->lock);
	return c;
}

/*
 * Resolve the CSCD descriptors to LUNs (with a reference each).  A
 * descriptor that names nothing here stays NULL: only a segment that uses
 * it fails (COPY TARGET DEVICE NOT REACHABLE).
 */
static void resolve_targets(struct vdisk_cmd *c, uint32_t ntgt)
{
	struct vdisk_lun *lun = c->lun;
	uint8_t d[XC_TGT_LEN];

	for (uint32_t i = 0; i < ntgt; i++) {
		lun->xc_tgt[i] = NULL;
		read_param(c->srb, XC_HDR + i * XC_TGT_LEN, d, sizeof(d));
		/* NAA (3h), binary, associated with the logical unit, 16 bytes */
		if ((d[4] & 0x0f) != 1 || (d[5] & 0x3f) != 0x03 || d[7] != 16)
			continue;
		lun->xc_tgt[i] = vs_vdisk_xcopy_get(lun->ad, &d[8]);
	}
}

static void release_targets(struct vdisk_lun *lun, uint32_t ntgt)
{
	for (uint32_t i = 0; i < ntgt; i++) {
		if (lun->xc_tgt[i])
			vs_vdisk_xcopy_put(lun->ad, lun->xc_tgt[i]);
		lun->xc_tgt[i] = NULL;
	}
}

/* Copy one segment; false with the sense set. */
static bool copy_segment(struct vdisk_cmd *c, uint32_t off, uint32_t ntgt, uint64_t *bytes)
{
	struct vdisk_lun *lun = c->lun;
	struct vs_srb *srb = c->srb;
	struct vdisk_lun *src, *dst;
	uint8_t s[XC_SEG_B2B];
	uint16_t si, di;
	uint64_t n, slba, dlba, done = 0, total;
	uint32_t flags;
	bool flush = false;
	int rc;

	read_param(srb, off, s, sizeof(s));
	si = vd_get16(&s[4]);
	di = vd_get16(&s[6]);
	n = vd_get16(&s[10]);
	slba = vd_get64(&s[12]);
	dlba = vd_get64(&s[20]);
	if (si >= ntgt || di >= ntgt) {
		/* the segment names a CSCD descriptor that is not in the list */
		copy_aborted(srb, VDISK_ASC_UNREACHABLE_COPY_TARGET, off + (si >= ntgt ? 4 : 6));
		return false;
	}
	src = lun->xc_tgt[si];
	dst = lun->xc_tgt[di];
	if (!src || !dst) {
		copy_aborted(srb, VDISK_ASC_COPY_TARGET_NOT_REACHABLE,
		             XC_HDR + (uint32_t)(src ? di : si) * XC_TGT_LEN);
		return false;
	}
	if (src->block_size != dst->block_size) {
		/* DC and differing block lengths are not supported */
		copy_aborted(srb, ASC_INVALID_FIELD_IN_PARAMETER_LIST, off + 1);
		return false;
	}
	if (n == 0)
		return true;
	if (slba > vdisk_capacity(src) || n > vdisk_capacity(src) - slba ||
	    dlba > vdisk_capacity(dst) || n > vdisk_capacity(dst) - dlba) {
		/* past the end of a copy target: segment pointer to the LBA */
		bool src_bad = slba > vdisk_capacity(src) || n > vdisk_capacity(src) - slba;

		copy_aborted(srb, ASC_NO_ADDITIONAL_SENSE, off + (src_bad ? 12 : 20));
		return false;
	}
	if (dst->readonly || atomic_load_explicit(&dst->swp, memory_order_relaxed)) {
		copy_aborted(srb, ASC_WRITE_PROTECTED, XC_HDR + (uint32_t)di * XC_TGT_LEN);
		return false;
	}
	if (atomic_load(&src->not_ready) || atomic_load(&dst->not_ready)) {
		/* sanitize in progress or failed, or no medium */
		copy_aborted(srb, VDISK_ASC_COPY_TARGET_NOT_REACHABLE,
		             XC_HDR + (uint32_t)(atomic_load(&src->not_ready) ? si : di) * XC_TGT_LEN);
		return false;
	}
	flags = vs_vdisk_write_flags(dst, false);
	if ((flags & VS_BIO_FUA) && !dst->caps.can_fua) {
		flags &= ~(uint32_t)VS_BIO_FUA;
		flush = true;
	}
	total = n << src->block_shift;
	while (done < total) {
		uint64_t len = total - done < VDISK_ENGINE_BUF_BYTES ? total - done
		                                                     : VDISK_ENGINE_BUF_BYTES;

		if (xc_cancelled(lun)) {
			copy_aborted(srb, VDISK_ASC_COPY_TARGET_NOT_REACHABLE, off);
			return false;
		}
		rc = vs_vdisk_job_bio(src, lun, VS_BIO_READ, (slba << src->block_shift) + done, len,
		                   lun->buf, 0);
		if (rc) {
			copy_aborted(srb, ASC_UNRECOVERED_READ_ERROR, off + 12);
			return false;
		}
		rc = vs_vdisk_job_bio(dst, lun, VS_BIO_WRITE, (dlba << dst->block_shift) + done, len,
		                   lun->buf, flags);
		if (rc) {
			copy_aborted(srb, ASC_WRITE_ERROR, off + 20);
			return false;
		}
		done += len;
		*bytes += len;
		vs_vdisk_xcopy_progress(lun, c->xc_slot, c->xc_gen, 0, *bytes, NULL);
	}
	if (flush && (rc = vs_vdisk_job_bio(dst, NULL, VS_BIO_FLUSH, 0, 0, NULL, 0)) != 0) {
		copy_aborted(srb, ASC_WRITE_ERROR, off + 20);
		return false;
	}
	return true;
}

static void xcopy_end(struct vdisk_cmd *c, uint16_t segments, uint64_t bytes)
{
	struct vdisk_lun *lun = c->lun;

	vs_vdisk_xcopy_progress(lun, c->xc_slot, c->xc_gen, segments, bytes, c->srb);
	pthread_mutex_lock(&lun->lock);
	lun->xc_jobs--;
	pthread_mutex_unlock(&lun->lock);
	vs_vdisk_engine_finish(c);         /* completes the SRB; c may be reused */
}

static void xcopy_job(struct vdisk_cmd *c)
{
	struct vdisk_lun *lun = c->lun;
	uint32_t ntgt = c->xc_tdl / XC_TGT_LEN;
	uint32_t off = XC_HDR + c->xc_tdl, end = off + c->xc_sdl;
	uint16_t segments = 0;
	uint64_t bytes = 0;
	bool ok = true;

	resolve_targets(c, ntgt);
	for (; off < end; off += XC_SEG_B2B) {
		if (!copy_segment(c, off, ntgt, &bytes)) {
			ok = false;
			break;
		}
		segments++;
		vs_vdisk_xcopy_progress(lun, c->xc_slot, c->xc_gen, segments, bytes, NULL);
	}
	release_targets(lun, ntgt);
	if (ok)
		vs_vdisk_good(c->srb);
	xcopy_end(c, segments, bytes);
}

/* The engine is ours (and with it lun->buf): go to the worker pool. */
static void xcopy_go(struct vdisk_cmd *c)
{
	if (vs_vdisk_cmd_queue_work(c, xcopy_job) < 0) {
		vs_vdisk_busy(c->srb);
		xcopy_end(c, 0, 0);
	}
}

void vs_vdisk_cmd_extended_copy(struct vdisk_lun *lun, struct vs_srb *srb)
{
	struct vdisk_cmd *c = vs_vdisk_cmd_init(lun, srb);
	uint32_t plen = vd_get32(&srb->cdb[10]);
	uint32_t avail = plen < srb->data_length ? plen : srb->data_length;
	uint8_t h[XC_HDR];
	uint8_t usage;
	uint32_t tdl, sdl, inl;
	int slot = -1;

	vs_vdisk_set_residual(srb, plen);
	c->xc_slot = -1;
	if (plen == 0) {
		/* SPC-4 6.4.1: not an error; nothing to copy */
		vs_vdisk_good(srb);
		goto done;
	}
	if (avail < XC_HDR) {
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
		goto done;
	}
	read_param(srb, 0, h, sizeof(h));
	usage = (h[1] >> 3) & 3;
	tdl = vd_get16(&h[2]);
	sdl = vd_get32(&h[8]);
	inl = vd_get32(&h[12]);
	if (usage == 1) {
		/* LIST ID USAGE 01b is reserved */
		bad_param(srb, ASC_INVALID_FIELD_IN_PARAMETER_LIST, 1, 4);
		goto done;
	}
	if (usage == 3 && h[0] != 0) {
		/* 11b: the list identifier must be zero */
		bad_param(srb, ASC_INVALID_FIELD_IN_PARAMETER_LIST, 0, -1);
		goto done;
	}
	/* SPC-4 6.4.3.1: descriptors past the MAXIMUM DESCRIPTOR LIST LENGTH,
	 * or past the parameter list length */
	if ((uint64_t)tdl + sdl > VDISK_XCOPY_MAX_LIST ||
	    (uint64_t)XC_HDR + tdl + sdl + inl > avail) {
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
		goto done;
	}
	if (inl) {
		/* MAXIMUM INLINE DATA LENGTH is 0 */
		bad_param(srb, ASC_INVALID_FIELD_IN_PARAMETER_LIST, 12, -1);
		goto done;
	}
	if (!check_targets(srb, tdl) || !check_segments(srb, XC_HDR + tdl, sdl))
		goto done;
	if (usage == 0) {
		/* 00b: hold the status for RECEIVE COPY RESULTS */
		slot = vs_vdisk_xcopy_hold(lun, srb->nexus, h[0], &c->xc_gen);
		if (slot == -1) {
			vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, VDISK_ASC_OPERATION_IN_PROGRESS);
			goto done;
		}
		if (slot < 0) {
			vs_vdisk_busy(srb);
			goto done;
		}
	}
	c->xc_slot = slot;
	c->xc_tdl = tdl;
	c->xc_sdl = sdl;
	c->dir_write = 1;
	srb->xfer_len = avail;
	/* LUN detach waits for a queued or running job */
	pthread_mutex_lock(&lun->lock);
	lun->xc_jobs++;
	pthread_mutex_unlock(&lun->lock);
	vs_vdisk_engine_run(c, xcopy_go);
	return;
done:
	vs_port_complete(srb);
}
