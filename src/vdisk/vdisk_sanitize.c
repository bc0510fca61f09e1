/* SPDX-License-Identifier: MIT */
/*
 * SANITIZE (SBC-4 5.30, 4.11): OVERWRITE, BLOCK ERASE, CRYPTO ERASE and
 * EXIT FAILURE MODE, and the "not ready" gate every command passes.
 *
 * A sanitize is a background operation of the LUN, not of the SRB that
 * started it: with IMMED=1 the command completes as soon as the operation
 * has started; with IMMED=0 at its end.  Either way it survives task
 * aborts, resets and I_T nexus loss (SBC-4 4.11.2); an ABORT TASK only
 * detaches the waiting SRB (vdisk_abort_srb).  While it runs, commands
 * other than INQUIRY, REQUEST SENSE, REPORT LUNS and the REPORT SUPPORTED
 * commands get NOT READY / SANITIZE IN PROGRESS, and REQUEST SENSE reports
 * its progress (SPC-4 4.5.2.4.4).  If it fails, media-access commands get
 * MEDIUM ERROR / SANITIZE COMMAND FAILED until a sanitize succeeds or
 * EXIT FAILURE MODE is requested.
 *
 * The job runs on the port's worker pool, where blocking is allowed.  It
 * first takes the LUN's engine (so it owns the preallocated engine buffer:
 * no allocation) and the exclusive write gate (so writes accepted before
 * it started have drained), then walks the whole medium.
 *
 * BLOCK ERASE deallocates every block (UNMAP, which reads back as zeroes:
 * LBPRZ=1), or writes zeroes where the backend cannot deallocate, or both
 * where deallocated blocks do not read back as zeroes (see erase_all).
 * CRYPTO ERASE does the same: vdisk keeps no media encryption key to
 * change, so the data are made unrecoverable by removing them.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "vdisk_int.h"

#define ERASE_CHUNK_BYTES (1ull << 30)  /* per UNMAP / WRITE ZEROES bio */

/* ---- the not-ready gate (called from start_io when lun->not_ready != 0) ---- */

/* The sense of one not-ready condition (`bit`, a VDISK_NR_* value): a
 * sanitize in progress carries its progress indication (SPC-4 4.5.2.4.4). */
static void condition_sense(struct vdisk_lun *lun, uint32_t bit, struct vs_sense *s)
{
	memset(s, 0, sizeof(*s));
	switch (bit) {
	case VDISK_NR_SANITIZE:
		s->key = SENSE_NOT_READY;
		s->asc_ascq = VDISK_ASC_SANITIZE_IN_PROGRESS;
		vs_sense_progress(s, (uint16_t)atomic_load_explicit(&lun->san.progress,
		                                                    memory_order_relaxed));
		break;
	case VDISK_NR_NO_MEDIUM:
		s->key = SENSE_NOT_READY;
		s->asc_ascq = ASC_MEDIUM_NOT_PRESENT;
		break;
	case VDISK_NR_LOST:             /* vdisk_resource.c: retryable, never MEDIUM ERROR */
		s->key = SENSE_NOT_READY;
		s->asc_ascq = ASC_LUN_BECOMING_READY;
		break;
	case VDISK_NR_FAILED:
		s->key = SENSE_NOT_READY;
		s->asc_ascq = ASC_LUN_NOT_READY_MANUAL_INTERVENTION;
		break;
	default:        /* VDISK_NR_SANITIZE_FAILED */
		s->key = SENSE_MEDIUM_ERROR;
		s->asc_ascq = VDISK_ASC_SANITIZE_FAILED;
		break;
	}
}

/* CHECK CONDITION with the sense of condition `bit`; true (answered). */
static bool answer_not_ready(struct vdisk_lun *lun, struct vs_srb *srb, uint32_t bit)
{
	struct vs_sense s;

	condition_sense(lun, bit, &s);
	vs_srb_set_sense_data(srb, &s);
	return true;
}

bool vs_vdisk_not_ready(struct vdisk_lun *lun, struct vs_srb *srb, uint32_t nr,
                     const struct vdisk_cmd_desc *d)
{
	if (nr & VDISK_NR_SANITIZE)
		return !(d->flags & VDISK_F_SANITIZE_OK) &&
		       answer_not_ready(lun, srb, VDISK_NR_SANITIZE);
	if (nr & VDISK_NR_NO_MEDIUM)
		return !(d->flags & VDISK_F_NO_MEDIUM_OK) &&
		       answer_not_ready(lun, srb, VDISK_NR_NO_MEDIUM);
	/* the resource is away: commands that need no medium still run */
	if (nr & (VDISK_NR_FAILED | VDISK_NR_LOST))
		return !(d->flags & VDISK_F_NO_MEDIUM_OK) &&
		       answer_not_ready(lun, srb, nr & VDISK_NR_FAILED ? VDISK_NR_FAILED
		                                                       : VDISK_NR_LOST);
	if (nr & VDISK_NR_SANITIZE_FAILED) {
		/* SBC-4 4.11.3: a new SANITIZE may be sent in failure mode */
		if ((d->flags & (VDISK_F_SANITIZE_OK | VDISK_F_NO_MEDIUM_OK)) ||
		    d->opcode == VDISK_OP_SANITIZE)
			return false;
		return answer_not_ready(lun, srb, VDISK_NR_SANITIZE_FAILED);
	}
	return false;
}

void vs_vdisk_pending_sense(struct vdisk_lun *lun, struct vs_sense *s)
{
	uint32_t nr = atomic_load_explicit(&lun->not_ready, memory_order_acquire);

	if (nr & VDISK_NR_SANITIZE)
		condition_sense(lun, VDISK_NR_SANITIZE, s);
	else if (nr & VDISK_NR_NO_MEDIUM)
		condition_sense(lun, VDISK_NR_NO_MEDIUM, s);
	else if (nr & (VDISK_NR_FAILED | VDISK_NR_LOST))
		condition_sense(lun, nr & VDISK_NR_FAILED ? VDISK_NR_FAILED : VDISK_NR_LOST, s);
	else if (nr & VDISK_NR_SANITIZE_FAILED)
		condition_sense(lun, VDISK_NR_SANITIZE_FAILED, s);
	else
		*s = (struct vs_sense){ .key = SENSE_NO_SENSE, .asc_ascq = ASC_NO_ADDITIONAL_SENSE };
}

/* ---- job helpers (worker pool: may block; I/O goes through vs_vdisk_job_bio) ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void set_progress(struct vdisk_lun *lun, uint64_t done, uint64_t total)
{
	uint32_t p = total ? (uint32_t)((done * 65536u) / total) : 0;

	atomic_store_explicit(&lun->san.progress, p > 0xffff ? 0xffff : p, memory_order_relaxed);
}

static bool cancelled(struct vdisk_lun *lun)
{
	bool c;

	pthread_mutex_lock(&lun->lock);
	c = lun->san.cancel;
	pthread_mutex_unlock(&lun->lock);
	return c;
}

/* Fill the engine buffer with the pattern, repeated from byte 0 of every
 * block (SBC-4 5.30.3.2), inverted when asked. */
static void fill_pattern(struct vdisk_lun *lun, bool invert)
{
	struct vdisk_sanitize *s = &lun->san;
	uint8_t *b = lun->buf;

	for (uint32_t i = 0; i < lun->block_size; i++)
		b[i] = (uint8_t)(invert ? ~s->pattern[i % s->pat_len] : s->pattern[i % s->pat_len]);
	for (uint32_t off = lun->block_size; off < VDISK_ENGINE_BUF_BYTES; off += lun->block_size)
		memcpy(b + off, b, lun->block_size);
}

static int overwrite_all(struct vdisk_lun *lun)
{
	struct vdisk_sanitize *s = &lun->san;
	uint64_t size = vdisk_capacity(lun) << lun->block_shift;
	uint64_t total = size * s->passes, done = 0;
	uint64_t start = now_ns();
	uint64_t bytes_per_s = (uint64_t)VDISK_SANITIZE_MIB_PER_S << 20;
	uint32_t flags = lun->caps.can_fua ? VS_BIO_FUA : 0;

	for (uint32_t pass = 0; pass < s->passes; pass++) {
		/* INVERT: the pattern is inverted between consecutive passes */
		fill_pattern(lun, s->invert && (pass & 1));
		for (uint64_t off = 0; off < size; ) {
			uint64_t n = size - off < VDISK_ENGINE_BUF_BYTES ? size - off
			                                                 : VDISK_ENGINE_BUF_BYTES;
			uint64_t due;
			int rc;

			if (cancelled(lun))
				return -ECANCELED;
			rc = vs_vdisk_job_bio(lun, NULL, VS_BIO_WRITE, off, n, lun->buf, flags);
			if (rc < 0)
				return rc;
			off += n;
			done += n;
			set_progress(lun, done, total);
			/* bounded background rate (see VDISK_SANITIZE_MIB_PER_S) */
			due = start + (done * 1000000000ull) / bytes_per_s;
			for (uint64_t t = now_ns(); t < due && !cancelled(lun); t = now_ns()) {
				uint64_t ns = due - t > 50000000ull ? 50000000ull : due - t;
				struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ns };

				nanosleep(&ts, NULL);
			}
		}
	}
	return 0;
}

/* One pass of `op` over the whole medium; progress from done0 of total. */
static int erase_pass(struct vdisk_lun *lun, uint8_t op, uint32_t flags, uint64_t done0,
                      uint64_t total)
{
	uint64_t size = vdisk_capacity(lun) << lun->block_shift;
	uint64_t chunk = op == VS_BIO_WRITE ? VDISK_ENGINE_BUF_BYTES : ERASE_CHUNK_BYTES;

	if (op == VS_BIO_WRITE)
		memset(lun->buf, 0, VDISK_ENGINE_BUF_BYTES);
	for (uint64_t off = 0; off < size; ) {
		uint64_t n = size - off < chunk ? size - off : chunk;
		int rc;

		if (cancelled(lun))
			return -ECANCELED;
		rc = vs_vdisk_job_bio(lun, NULL, op, off, n, op == VS_BIO_WRITE ? lun->buf : NULL, flags);
		if (rc < 0)
			return rc;
		off += n;
		set_progress(lun, done0 + off, total);
	}
	return 0;
}

/*
 * BLOCK ERASE and CRYPTO ERASE.  Where deallocated blocks read back as
 * zeroes (LBPRZ=1), UNMAP is the whole erase.  Where they do not (an
 * encrypting filter: they read back as noise; or a backend whose UNMAP is
 * only a hint and may keep the data), the blocks are first overwritten
 * with zeroes, so nothing written before can be read again, and then, if
 * the LUN can deallocate, unmapped: after a sanitize of a thin-provisioned
 * LUN no LBA is mapped (SBC-4 4.11; libiscsi's Sanitize.BlockErase checks
 * GET LBA STATUS for it).
 */
static int erase_all(struct vdisk_lun *lun)
{
	uint64_t size = vdisk_capacity(lun) << lun->block_shift;
	bool dealloc = lun->caps.can_unmap;
	bool overwrite = !(dealloc && lun->caps.unmap_zeroes);
	uint64_t total = size * ((uint64_t)overwrite + dealloc);
	int rc = 0;

	if (overwrite)
		rc = lun->caps.can_zero ? erase_pass(lun, VS_BIO_WRITE_ZEROES, VS_BIO_MAY_TRIM, 0, total)
		                        : erase_pass(lun, VS_BIO_WRITE, 0, 0, total);
	if (rc == 0 && dealloc)
		rc = erase_pass(lun, VS_BIO_UNMAP, 0, overwrite ? size : 0, total);
	return rc;
}

/* Take the engine (its buffer) and the exclusive write gate; false if the
 * LUN is detached first (writes stuck in a backend never drain). */
static bool claim_medium(struct vdisk_lun *lun)
{
	for (;;) {
		pthread_mutex_lock(&lun->lock);
		if (!lun->engine_busy && vs_vdisk_gate_try_exclusive_locked(lun)) {
			lun->engine_busy = true;
			pthread_mutex_unlock(&lun->lock);
			return true;
		}
		if (lun->san.cancel) {
			pthread_mutex_unlock(&lun->lock);
			return false;
		}
		pthread_mutex_unlock(&lun->lock);
		/* commands accepted before the sanitize started are finishing */
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 1000000 };
		nanosleep(&ts, NULL);
	}
}

static void sanitize_work(struct vs_work *w)
{
	struct vdisk_lun *lun = (struct vdisk_lun *)((char *)w - offsetof(struct vdisk_lun, san.work));
	struct vdisk_sanitize *s = &lun->san;
	struct vs_srb *srb;
	int rc;

	if (claim_medium(lun)) {
		rc = s->sa == VDISK_SA_OVERWRITE ? overwrite_all(lun) : erase_all(lun);
		if (rc == 0 && lun->caps.can_flush)
			rc = vs_vdisk_job_bio(lun, NULL, VS_BIO_FLUSH, 0, 0, NULL, 0);
		vs_vdisk_gate_exclusive_end(lun);
		vs_vdisk_engine_release(lun);
	} else {
		rc = -ECANCELED;
	}

	pthread_mutex_lock(&lun->lock);
	srb = s->srb;
	s->srb = NULL;
	s->running = false;
	if (rc < 0)
		atomic_fetch_or(&lun->not_ready, VDISK_NR_SANITIZE_FAILED);
	atomic_fetch_and(&lun->not_ready, ~VDISK_NR_SANITIZE);
	pthread_mutex_unlock(&lun->lock);
	if (srb) {
		if (rc < 0)
			vs_srb_set_sense(srb, SENSE_MEDIUM_ERROR, VDISK_ASC_SANITIZE_FAILED);
		else
			vs_vdisk_good(srb);
		vs_port_complete(srb);
	}
}

/* ---- the command ---- */

static bool parse_overwrite(struct vdisk_lun *lun, struct vs_srb *srb, uint32_t plen)
{
	struct vdisk_sanitize *s = &lun->san;
	uint8_t p[4 + 4096];
	uint32_t got, pat;

	/* SBC-4 5.30.3.2: the list holds a 4-byte header and at most one block */
	if (plen < 5 || plen > lun->block_size + 4) {
		vs_srb_set_invalid_field(srb, true, 7, 7);
		return false;
	}
	got = vs_vdisk_data_out(srb, p, plen);
	if (got < plen) {
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
		return false;
	}
	if (p[0] & 0x60) {              /* TEST: reserved for vendor tests */
		vs_srb_set_invalid_field(srb, false, 0, 6);
		return false;
	}
	if ((p[0] & 0x1f) == 0) {       /* OVERWRITE COUNT 0 is reserved */
		vs_srb_set_invalid_field(srb, false, 0, 4);
		return false;
	}
	if (p[1]) {
		vs_srb_set_invalid_field(srb, false, 1, 7);
		return false;
	}
	pat = vd_get16(&p[2]);
	if (pat == 0 || pat > lun->block_size || pat > plen - 4) {
		vs_srb_set_invalid_field(srb, false, 2, 7);
		return false;
	}
	/* only the header and the pattern are read below: the rest is ignored */
	s->invert = p[0] & 0x80;
	s->passes = p[0] & 0x1f;
	s->pat_len = pat;
	memcpy(s->pattern, &p[4], pat);
	return true;
}

void vs_vdisk_cmd_sanitize(struct vdisk_lun *lun, struct vs_srb *srb)
{
	const uint8_t *cdb = srb->cdb;
	bool immed = cdb[1] & 0x80;
	uint8_t sa = cdb[1] & 0x1f;
	uint32_t plen = vd_get16(&cdb[7]);
	struct vdisk_sanitize *s = &lun->san;

	vs_vdisk_set_residual(srb, plen);
	if (!vs_vdisk_check_writable(lun, srb))
		goto done;
	if (sa != VDISK_SA_OVERWRITE && plen != 0) {
		/* BLOCK ERASE, CRYPTO ERASE, EXIT FAILURE MODE take no parameters */
		vs_srb_set_invalid_field(srb, true, 7, 7);
		goto done;
	}
	if (sa == VDISK_SA_EXIT_FAILURE_MODE) {
		/* SBC-4 4.11.3: leave failure mode; the medium stays as it is */
		atomic_fetch_and(&lun->not_ready, ~VDISK_NR_SANITIZE_FAILED);
		vs_vdisk_good(srb);
		goto done;
	}

	pthread_mutex_lock(&lun->lock);
	if (s->running) {
		pthread_mutex_unlock(&lun->lock);
		vs_srb_set_sense(srb, SENSE_NOT_READY, VDISK_ASC_SANITIZE_IN_PROGRESS);
		goto done;
	}
	/* parse into the LUN's state only once we know no job uses it */
	if (sa == VDISK_SA_OVERWRITE) {
		if (!parse_overwrite(lun, srb, plen)) {
			pthread_mutex_unlock(&lun->lock);
			goto done;
		}
	}
	s->sa = sa;
	s->cancel = false;
	s->running = true;
	s->srb = immed ? NULL : srb;
	atomic_store(&s->progress, 0);
	atomic_fetch_and(&lun->not_ready, ~VDISK_NR_SANITIZE_FAILED);
	atomic_fetch_or(&lun->not_ready, VDISK_NR_SANITIZE);
	s->work.fn = sanitize_work;
	if (vs_port_queue_work(lun->ad->port, &s->work) < 0) {
		s->running = false;
		s->srb = NULL;
		atomic_fetch_and(&lun->not_ready, ~VDISK_NR_SANITIZE);
		pthread_mutex_unlock(&lun->lock);
		vs_vdisk_busy(srb);
		goto done;
	}
	pthread_mutex_unlock(&lun->lock);
	if (!immed)
		return;                 /* completed by the job (or by an abort) */
	vs_vdisk_good(srb);
done:
	vs_port_complete(srb);
}

/* ABORT TASK (or a timeout) on the SRB waiting for a sanitize: the
 * operation goes on (SBC-4 4.11.2); only the SRB is given back. */
bool vs_vdisk_sanitize_abort(struct vdisk_lun *lun, struct vs_srb *srb)
{
	bool mine;

	pthread_mutex_lock(&lun->lock);
	mine = lun->san.srb == srb;
	if (mine)
		lun->san.srb = NULL;
	pthread_mutex_unlock(&lun->lock);
	if (!mine)
		return false;
	vs_srb_set_sense(srb, SENSE_NOT_READY, VDISK_ASC_SANITIZE_IN_PROGRESS);
	vs_port_complete(srb);
	return true;
}

void vs_vdisk_sanitize_init(struct vdisk_lun *lun)
{
	memset(&lun->san, 0, sizeof(lun->san));
}

static bool sanitize_idle(struct vdisk_lun *lun)
{
	bool idle;

	pthread_mutex_lock(&lun->lock);
	idle = !lun->san.running;
	pthread_mutex_unlock(&lun->lock);
	return idle;
}

bool vs_vdisk_sanitize_stop(struct vdisk_lun *lun, uint64_t deadline_ms)
{
	pthread_mutex_lock(&lun->lock);
	if (lun->san.running)
		lun->san.cancel = true;
	pthread_mutex_unlock(&lun->lock);
	/* The job sees the cancel between chunks, and a chunk stuck in the
	 * backend gives up because the LUN is draining. */
	return vs_vdisk_poll_until(lun, sanitize_idle, deadline_ms);
}
