/* SPDX-License-Identifier: MIT */
/*
 * file_ring: the file backend's io_uring ring.  Submitters put SQEs in the
 * ring under a short mutex around the submission queue; one completion
 * thread reaps CQEs, finishes short transfers and the write-zeroes
 * fallback chain, and calls bio->done from that thread (the backend
 * contract allows it).
 *
 * The CQ can never overflow: at most cq_entries SQEs are in the kernel at
 * once, the rest wait in the pending list and go out as CQEs come back.
 * An SQ that is full or an io_uring_submit that fails (kernel short of
 * memory) never drops a bio and never blocks the submitter: the bio waits
 * in the pending list, and the completion thread retries after every CQE.
 */
#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_dev.h"

/* A bio goes from the submitting thread to the completion thread through
 * the kernel (SQE, then CQE), which ThreadSanitizer cannot see: in a TSan
 * build, say so, or every field the reaper reads looks like a race. */
#if defined(__SANITIZE_THREAD__)
#define FILE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FILE_TSAN 1
#endif
#endif
#ifdef FILE_TSAN
#include <sanitizer/tsan_interface.h>
#define handoff_release(p) __tsan_release(p)
#define handoff_acquire(p) __tsan_acquire(p)
#else
#define handoff_release(p) ((void)(p))
#define handoff_acquire(p) ((void)(p))
#endif

#define FILE_SQ_ENTRIES   256
#define FILE_CQ_ENTRIES   1024
#define FILE_MAX_SQE_LEN  (1u << 30)   /* keep single-buffer lengths in u32 */
#define FILE_REAP_BATCH   64
#define FILE_MAX_RETRIES  1000

struct file_ring {
	struct file_dev *d;
	struct io_uring ring;
	pthread_mutex_t sq_lock;        /* ring SQ side, pending list, counters below */
	unsigned inflight_sqes;         /* SQEs the kernel owes us a CQE for */
	unsigned max_inflight;          /* CQ size: the CQ can never overflow */
	struct vs_bio *pend_head, *pend_tail;
	bool submit_stalled;            /* io_uring_submit failed; retry on next CQE */

	pthread_t reaper;
	_Atomic uint64_t outstanding;   /* accepted bios whose done() has not returned */
	pthread_mutex_t idle_lock;
	pthread_cond_t idle_cond;
};

/* ------------------------------------------------------------ submission */

static void pend_push_back(struct file_ring *r, struct vs_bio *bio)
{
	st(bio)->next = NULL;
	if (r->pend_tail)
		st(r->pend_tail)->next = bio;
	else
		r->pend_head = bio;
	r->pend_tail = bio;
}

static void pend_push_front(struct file_ring *r, struct vs_bio *bio)
{
	st(bio)->next = r->pend_head;
	r->pend_head = bio;
	if (!r->pend_tail)
		r->pend_tail = bio;
}

static struct vs_bio *pend_pop(struct file_ring *r)
{
	struct vs_bio *bio = r->pend_head;
	if (bio) {
		r->pend_head = st(bio)->next;
		if (!r->pend_head)
			r->pend_tail = NULL;
	}
	return bio;
}

/* Fill an SQE for the next piece of a READ/WRITE from the saved progress. */
static void prep_rw(struct file_dev *d, struct vs_bio *bio, struct io_uring_sqe *sqe)
{
	struct bio_state *s = st(bio);
	bool rd = bio->op == VS_BIO_READ;
	uint64_t remaining = bio->length - s->done_bytes;
	uint64_t off = bio->offset + s->done_bytes;
	const struct iovec *v = &bio->iov[s->idx];

	/* Whole iovecs that fit in what is left go out as one readv/writev,
	 * straight from the caller's array.  A partly done or trimmed segment
	 * goes out alone as a plain read/write of the exact bytes. */
	unsigned n = 0;
	uint64_t sum = 0;
	if (s->seg_off == 0) {
		while (s->idx + n < (uint32_t)bio->iovcnt && n < IOV_MAX &&
		       v[n].iov_len <= remaining - sum) {
			sum += v[n].iov_len;
			n++;
			if (sum == remaining)
				break;
		}
	}
	if (n >= 2) {
		if (rd)
			io_uring_prep_readv(sqe, d->fd, v, n, off);
		else
			io_uring_prep_writev(sqe, d->fd, v, n, off);
	} else {
		uint64_t len = v->iov_len - s->seg_off;
		if (len > remaining)
			len = remaining;
		if (len > FILE_MAX_SQE_LEN)
			len = FILE_MAX_SQE_LEN;
		char *buf = (char *)v->iov_base + s->seg_off;
		if (rd)
			io_uring_prep_read(sqe, d->fd, buf, (unsigned)len, off);
		else
			io_uring_prep_write(sqe, d->fd, buf, (unsigned)len, off);
	}
	if (!rd && (bio->flags & VS_BIO_FUA))
		sqe->rw_flags = RWF_DSYNC;
}

static void prep_zero(struct file_dev *d, struct vs_bio *bio, struct io_uring_sqe *sqe)
{
	struct bio_state *s = st(bio);
	uint64_t off = bio->offset + s->done_bytes;
	uint64_t len = bio->length - s->done_bytes;

	switch (s->stage) {
	case ZS_ZERO_RANGE:
		io_uring_prep_fallocate(sqe, d->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		                        off, len);
		break;
	case ZS_PUNCH:
		io_uring_prep_fallocate(sqe, d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		                        off, len);
		break;
	default:
		if (len > FILE_ZERO_BUF)
			len = FILE_ZERO_BUF;
		io_uring_prep_write(sqe, d->fd, d->zero_buf, (unsigned)len, off);
		break;
	}
}

/*
 * Pick the next fallback step for a zeroing bio that has not tried it yet.
 * UNMAP and trimming write-zeroes prefer to deallocate (punch), plain
 * write-zeroes prefers to keep the allocation (zero range); both end with
 * writing zeroes, which always works.
 */
static void zero_next_stage(struct file_dev *d, struct vs_bio *bio)
{
	struct bio_state *s = st(bio);
	bool trim = bio->op == VS_BIO_UNMAP || (bio->flags & VS_BIO_MAY_TRIM);
	const uint8_t order_trim[] = {ZS_PUNCH, ZS_ZERO_RANGE, ZS_WRITE};
	const uint8_t order_keep[] = {ZS_ZERO_RANGE, ZS_PUNCH, ZS_WRITE};
	const uint8_t *order = trim ? order_trim : order_keep;
	for (int i = 0; i < 3; i++) {
		uint8_t stg = order[i];
		if (s->tried & (1u << stg))
			continue;
		if (stg == ZS_ZERO_RANGE && !atomic_load(&d->zero_range_ok))
			continue;
		if (stg == ZS_PUNCH && !atomic_load(&d->punch_ok))
			continue;
		s->stage = stg;
		s->tried |= (uint8_t)(1u << stg);
		return;
	}
	s->stage = ZS_WRITE;
}

/* Put one bio's next piece in the SQ.  Called with sq_lock held. */
static void issue_locked(struct file_ring *r, struct vs_bio *bio)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	if (!sqe) {
		/* SQ full of unsubmitted entries: hand them to the kernel. */
		io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
	}
	if (!sqe) {
		/* Never dropped: it waits at the head of the pending list. */
		pend_push_front(r, bio);
		r->submit_stalled = true;
		return;
	}
	switch (bio->op) {
	case VS_BIO_READ:
	case VS_BIO_WRITE:
		prep_rw(r->d, bio, sqe);
		break;
	case VS_BIO_FLUSH:
		io_uring_prep_fsync(sqe, r->d->fd, IORING_FSYNC_DATASYNC);
		break;
	default:
		prep_zero(r->d, bio, sqe);
		break;
	}
	io_uring_sqe_set_data(sqe, bio);
	handoff_release(bio);
	r->inflight_sqes++;
}

static void submit_locked(struct file_ring *r)
{
	/* -EINTR: retry at once.  -EAGAIN/-EBUSY (kernel short of memory or
	 * CQ backlog): the SQEs stay in the ring; try a little, then leave it
	 * to the completion thread, which retries after every CQE. */
	for (int tries = 0; tries < 64; tries++) {
		int rc = io_uring_submit(&r->ring);
		if (rc >= 0) {
			r->submit_stalled = false;
			return;
		}
		if (rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			break;
		if (rc != -EINTR)
			sched_yield();
	}
	r->submit_stalled = true;
}

void file_ring_submit(struct file_dev *d, struct vs_bio *bio)
{
	struct file_ring *r = d->ring;

	if (bio->op == VS_BIO_UNMAP || bio->op == VS_BIO_WRITE_ZEROES)
		zero_next_stage(d, bio);
	atomic_fetch_add_explicit(&r->outstanding, 1, memory_order_relaxed);
	pthread_mutex_lock(&r->sq_lock);
	if (r->inflight_sqes < r->max_inflight && !r->pend_head) {
		issue_locked(r, bio);
		submit_locked(r);
	} else {
		pend_push_back(r, bio);
	}
	pthread_mutex_unlock(&r->sq_lock);
}

/* ------------------------------------------------------------ completion */

enum cqe_action { ACT_RESUBMIT, ACT_COMPLETE };

static enum cqe_action on_cqe(struct file_dev *d, struct vs_bio *bio, int res, int *err)
{
	struct bio_state *s = st(bio);
	*err = 0;
	/*
	 * Transient: -EINTR, -EAGAIN, and -ECANCELED, which io_uring returns
	 * when the thread that submitted a request exits while the request
	 * still waits in that thread's io-wq (an event-loop thread may well
	 * exit with I/O in flight).  Resubmitted from this long-lived thread,
	 * so the retry cannot be cancelled that way again; bounded anyway.
	 */
	if (res == -EINTR || res == -EAGAIN || res == -ECANCELED) {
		if (++s->retries <= FILE_MAX_RETRIES)
			return ACT_RESUBMIT;
		*err = res == -ECANCELED ? -EIO : res;
		return ACT_COMPLETE;
	}

	switch (bio->op) {
	case VS_BIO_READ:
	case VS_BIO_WRITE:
		if (res < 0) {
			*err = res;
			return ACT_COMPLETE;
		}
		if (res == 0) {
			if (bio->op == VS_BIO_WRITE) {
				*err = -EIO;
			} else {
				zero_fill_rest(bio);
			}
			return ACT_COMPLETE;
		}
		advance(bio, (uint64_t)res);
		return s->done_bytes >= bio->length ? ACT_COMPLETE : ACT_RESUBMIT;

	case VS_BIO_FLUSH:
		*err = res < 0 ? res : 0;
		return ACT_COMPLETE;

	default: /* UNMAP, WRITE_ZEROES */
		if (s->stage != ZS_WRITE) {
			if (res == 0)
				return ACT_COMPLETE;
			if (res == -EOPNOTSUPP || res == -ENOTTY || res == -ENOSYS) {
				/* This file system cannot do it: remember, fall back. */
				if (s->stage == ZS_ZERO_RANGE)
					atomic_store(&d->zero_range_ok, false);
				else
					atomic_store(&d->punch_ok, false);
				zero_next_stage(d, bio);
				return ACT_RESUBMIT;
			}
			*err = res;
			return ACT_COMPLETE;
		}
		if (res < 0) {
			*err = res;
			return ACT_COMPLETE;
		}
		if (res == 0) {
			*err = -EIO;
			return ACT_COMPLETE;
		}
		s->done_bytes += (uint64_t)res;
		return s->done_bytes >= bio->length ? ACT_COMPLETE : ACT_RESUBMIT;
	}
}

static void *reaper_main(void *arg)
{
	struct file_ring *r = arg;
	struct vs_bio *complete[FILE_REAP_BATCH];
	int errs[FILE_REAP_BATCH];
	struct vs_bio *resub[FILE_REAP_BATCH];
	bool stop = false;

	while (!stop) {
		struct io_uring_cqe *cqe;
		int rc = io_uring_wait_cqe(&r->ring, &cqe);
		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			/* Should not happen; do not spin hot if it does. */
			sched_yield();
			continue;
		}
		struct io_uring_cqe *cqes[FILE_REAP_BATCH];
		unsigned got = io_uring_peek_batch_cqe(&r->ring, cqes, FILE_REAP_BATCH);
		unsigned ncomp = 0, nres = 0, nio = 0;
		for (unsigned i = 0; i < got; i++) {
			struct vs_bio *bio = io_uring_cqe_get_data(cqes[i]);
			int res = cqes[i]->res;
			if (!bio) {
				stop = true;  /* the NOP sent by close */
				continue;
			}
			handoff_acquire(bio);
			nio++;
			int err;
			if (on_cqe(r->d, bio, res, &err) == ACT_RESUBMIT) {
				resub[nres++] = bio;
			} else {
				errs[ncomp] = err;
				complete[ncomp++] = bio;
			}
		}
		io_uring_cq_advance(&r->ring, got);

		pthread_mutex_lock(&r->sq_lock);
		r->inflight_sqes -= nio;
		for (unsigned i = 0; i < nres; i++)
			issue_locked(r, resub[i]);
		bool more = nres > 0;
		while (r->pend_head && r->inflight_sqes < r->max_inflight) {
			unsigned before = r->inflight_sqes;
			issue_locked(r, pend_pop(r));
			more = true;
			if (r->inflight_sqes == before)
				break;   /* SQ full: it went back on the list */
		}
		if (more || r->submit_stalled)
			submit_locked(r);
		pthread_mutex_unlock(&r->sq_lock);

		/* done() last: the caller may reuse the bio's memory at once. */
		for (unsigned i = 0; i < ncomp; i++)
			complete[i]->done(complete[i], errs[i]);
		if (ncomp &&
		    atomic_fetch_sub_explicit(&r->outstanding, ncomp, memory_order_acq_rel) == ncomp) {
			pthread_mutex_lock(&r->idle_lock);
			pthread_cond_broadcast(&r->idle_cond);
			pthread_mutex_unlock(&r->idle_lock);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------ set-up */

int file_rings_open(struct file_dev *d)
{
	struct file_ring *r = calloc(1, sizeof(*r));
	if (!r) {
		vs_set_error("file: out of memory");
		return -ENOMEM;
	}
	r->d = d;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = FILE_CQ_ENTRIES;
	int rc = io_uring_queue_init_params(FILE_SQ_ENTRIES, &r->ring, &p);
	if (rc < 0) {
		vs_set_error("file: io_uring: cannot set up a ring: %s", strerror(-rc));
		free(r);
		return rc;
	}
	r->max_inflight = p.cq_entries;
	pthread_mutex_init(&r->sq_lock, NULL);
	pthread_mutex_init(&r->idle_lock, NULL);
	pthread_cond_init(&r->idle_cond, NULL);
	atomic_init(&r->outstanding, 0);
	rc = pthread_create(&r->reaper, NULL, reaper_main, r);
	if (rc != 0) {
		vs_set_error("file: cannot start the completion thread: %s", strerror(rc));
		io_uring_queue_exit(&r->ring);
		pthread_mutex_destroy(&r->sq_lock);
		pthread_mutex_destroy(&r->idle_lock);
		pthread_cond_destroy(&r->idle_cond);
		free(r);
		return -rc;
	}
	d->ring = r;
	return 0;
}

void file_rings_drain(struct file_dev *d)
{
	struct file_ring *r = d->ring;

	pthread_mutex_lock(&r->idle_lock);
	while (atomic_load(&r->outstanding) != 0)
		pthread_cond_wait(&r->idle_cond, &r->idle_lock);
	pthread_mutex_unlock(&r->idle_lock);
}

void file_rings_close(struct file_dev *d)
{
	struct file_ring *r = d->ring;

	/* Wake the completion thread with a NOP whose user_data is NULL. */
	pthread_mutex_lock(&r->sq_lock);
	struct io_uring_sqe *sqe;
	while (!(sqe = io_uring_get_sqe(&r->ring)))
		io_uring_submit(&r->ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data(sqe, NULL);
	submit_locked(r);
	pthread_mutex_unlock(&r->sq_lock);
	pthread_join(r->reaper, NULL);

	io_uring_queue_exit(&r->ring);
	pthread_mutex_destroy(&r->sq_lock);
	pthread_mutex_destroy(&r->idle_lock);
	pthread_cond_destroy(&r->idle_cond);
	free(r);
	d->ring = NULL;
}
