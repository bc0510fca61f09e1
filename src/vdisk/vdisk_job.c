/* SPDX-License-Identifier: MIT */
/*
 * One bio, submitted and waited for.  The I/O path never blocks (it chains
 * completions through vs_vdisk_submit_bio/vs_vdisk_iterate), but some callers run
 * on threads that may: the SANITIZE job and the EXTENDED COPY job on the
 * worker pool, and lun_control / detach / adapter stop flushing the cache.
 * They all need the same "submit, sleep until done, return the bio's
 * status" loop, so it lives here once.
 *
 * A backend may never answer (a dead remote, a wedged device).  So every
 * wait here can end without the bio: the control paths after a timeout,
 * the worker jobs when their LUN is being detached.  The wait state (and
 * the bio in it) is therefore on the heap with two references, the
 * waiter's and the backend's; whichever lets go last frees it, and the
 * LUN counts the bio as outstanding until the backend completes it, so
 * detach never frees memory the late completion will touch.  This is the
 * control and background path: one small allocation per bio is fine here
 * (the SRB I/O path never comes here).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "vdisk_int.h"

/* How often a waiter looks at its LUN's draining flag. */
#define JOB_POLL_MS 20

struct job_wait {
	pthread_mutex_t m;
	pthread_cond_t cv;              /* CLOCK_MONOTONIC */
	struct vs_bio bio;
	struct iovec iov;
	struct vdisk_lun *lun, *owner;  /* owner: NULL or the buffer's LUN if not lun */
	int refs;                       /* waiter + backend, under m */
	bool done;
	int err;
};

uint64_t vs_vdisk_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool vs_vdisk_poll_until(struct vdisk_lun *lun, bool (*done)(struct vdisk_lun *lun),
                      uint64_t deadline_ms)
{
	const struct timespec ms = { .tv_sec = 0, .tv_nsec = 1000000 };

	for (;;) {
		if (done(lun))
			return true;
		if (vs_vdisk_now_ms() >= deadline_ms)
			return done(lun);
		nanosleep(&ms, NULL);
	}
}

static void job_put(struct job_wait *w)
{
	bool last;

	pthread_mutex_lock(&w->m);
	last = --w->refs == 0;
	pthread_mutex_unlock(&w->m);
	if (!last)
		return;
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->m);
	free(w);
}

static void job_bio_done(struct vs_bio *bio, int err)
{
	struct job_wait *w = bio->ctx;
	struct vdisk_lun *lun = w->lun, *owner = w->owner;

	pthread_mutex_lock(&w->m);
	w->err = err;
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->m);
	job_put(w);
	/* last: after this the LUNs may be freed by a detach */
	vdisk_out_put(lun);
	if (owner)
		vdisk_out_put(owner);
}

static bool is_draining(const struct job_wait *w)
{
	return atomic_load(&w->lun->draining) || (w->owner && atomic_load(&w->owner->draining));
}

/* deadline_ms 0: none.  cancel_on_drain: give up once a LUN detaches. */
static int job_bio(struct vdisk_lun *lun, struct vdisk_lun *owner, uint8_t op, uint64_t off,
                   uint64_t len, void *buf, uint32_t flags, uint64_t deadline_ms,
                   bool cancel_on_drain)
{
	struct job_wait *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;
	int rc;

	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->m, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	w->lun = lun;
	w->owner = owner && owner != lun ? owner : NULL;
	w->refs = 2;
	w->iov.iov_base = buf;
	w->iov.iov_len = (size_t)len;
	w->bio.op = op;
	w->bio.flags = flags;
	w->bio.offset = off;
	w->bio.length = len;
	if (buf) {
		w->bio.iov = &w->iov;
		w->bio.iovcnt = 1;
	}
	w->bio.done = job_bio_done;
	w->bio.ctx = w;

	vdisk_out_get(lun);
	if (w->owner)
		vdisk_out_get(w->owner);
	rc = vs_bdev_submit(lun->bdev, &w->bio);
	if (rc < 0) {
		/* not submitted: done() will not run */
		vdisk_out_put(lun);
		if (w->owner)
			vdisk_out_put(w->owner);
		w->refs = 1;
		job_put(w);
		return rc;
	}

	pthread_mutex_lock(&w->m);
	for (;;) {
		uint64_t now = vs_vdisk_now_ms(), until = now + JOB_POLL_MS;
		struct timespec ts;

		if (w->done) {
			rc = w->err;
			break;
		}
		if (deadline_ms && now >= deadline_ms) {
			rc = -ETIMEDOUT;
			break;
		}
		if (cancel_on_drain && is_draining(w)) {
			rc = -ECANCELED;
			break;
		}
		if (deadline_ms && deadline_ms < until)
			until = deadline_ms;
		ts.tv_sec = (time_t)(until / 1000u);
		ts.tv_nsec = (long)(until % 1000u) * 1000000L;
		pthread_cond_timedwait(&w->cv, &w->m, &ts);
	}
	pthread_mutex_unlock(&w->m);
	job_put(w);
	return rc;
}

int vs_vdisk_job_bio(struct vdisk_lun *lun, struct vdisk_lun *buf_owner, uint8_t op, uint64_t off,
                  uint64_t len, void *buf, uint32_t flags)
{
	return job_bio(lun, buf_owner, op, off, len, buf, flags, 0, true);
}

int vs_vdisk_flush_until(struct vdisk_lun *lun, uint64_t deadline_ms, uint32_t bound_ms)
{
	int rc;

	/* A backend without a cache has nothing to flush (SBC-3 5.22). */
	if (!lun->caps.can_flush)
		return 0;
	rc = job_bio(lun, NULL, VS_BIO_FLUSH, 0, 0, NULL, 0, deadline_ms, false);
	if (rc == -ETIMEDOUT)
		vs_set_error("flush failed: backend %s did not answer within %u ms", vs_bdev_name(lun->bdev),
		             bound_ms);
	else if (rc < 0)
		vs_set_error("flush failed: backend %s: %s", vs_bdev_name(lun->bdev), strerror(-rc));
	return rc;
}

int vs_vdisk_flush_wait(struct vdisk_lun *lun, uint32_t timeout_ms)
{
	return vs_vdisk_flush_until(lun, vs_vdisk_now_ms() + timeout_ms, timeout_ms);
}
