/* SPDX-License-Identifier: MIT */
/*
 * file_ring: the file backend's io_uring rings.
 *
 * Several rings per open file, so that the I/O path takes no lock shared
 * by all connections (DESIGN.md): each ring has its own SQ lock, pending
 * list, in-flight accounting, count of outstanding bios and completion
 * thread.  With one ring, every submit from every event loop and every
 * completion batch of the one reaper took the same mutex, and with
 * O_DIRECT files, block devices and page-cache misses every READ and WRITE
 * goes this way.
 *
 * Which ring: a submitting thread always uses the same one.  The first
 * time a thread submits to any file it takes a slot, round-robin from a
 * process-wide counter, and keeps it in a thread-local variable (no
 * allocation, ever); its bios go to rings[slot % nrings].  Event loops
 * that start submitting one after another therefore land on different
 * rings, and one connection's bios all go through one ring.  A ring's
 * completion thread takes its own ring's index as its slot, so a done()
 * that submits again (the port starting the next held command, a vdisk
 * job's next step) stays on the ring it runs for.  Rings are created at
 * open, never on the I/O path; how many is the rings= option, by default
 * one per online CPU (the iSCSI fabric's default number of event loops)
 * up to FILE_DEFAULT_RINGS.
 *
 * Reaping: one completion thread per ring, blocked in io_uring_enter on
 * that ring alone.  Fewer threads each waiting on several rings would need
 * an eventfd per ring and epoll: each completion batch would then cost an
 * eventfd signal, an epoll wake-up and a read() before the CQ peek (more
 * system calls per batch, not fewer), and it would put the completions of
 * rings that serve different connections back on one thread, the
 * serialisation the rings are there to remove.  A completion thread with
 * nothing to do sleeps in the kernel and costs no CPU; an unused ring
 * costs that sleeping thread and its ring memory (about 40 KiB), which is
 * why the default number of rings is bounded.  Wake-ups stay one per
 * completion batch of each busy ring.
 *
 * Shared across rings on the I/O path, all read-mostly: the file's size
 * (written by resize), the inline and fallocate switches (written once,
 * when a file system refuses something), the descriptor and the ring
 * array (written at open).  The count of outstanding bios that close
 * waits for is per ring; so are the statistics (file_ring.h).  The slot
 * counter is touched once per thread.
 *
 * FLUSH and FUA need nothing across rings.  A FLUSH must make durable
 * every write that completed before it was submitted, whichever ring (or
 * the inline path) carried the write.  It is an IORING_OP_FSYNC with
 * IORING_FSYNC_DATASYNC, i.e. fdatasync(), on the one descriptor every
 * ring uses, and fdatasync acts on the file (its inode's dirty pages and
 * metadata, then the device's cache flush), not on the ring or thread
 * that issued the writes.  A write that has completed has left its ring:
 * its CQE was posted, so its data is in the page cache (buffered) or has
 * reached the device (O_DIRECT) before the FLUSH was even submitted, and
 * the fsync that starts afterwards covers it.  Writes still in flight when
 * the FLUSH arrives are not covered, as they were not with one ring (no
 * IOSQE_IO_DRAIN either way; SBC-3 asks only for completed writes).  FUA
 * is RWF_DSYNC on the write's own SQE, whichever ring carries it.
 *
 * Within a ring, as before: the CQ can never overflow (at most cq_entries
 * SQEs are in the kernel at once; the rest wait in the pending list and go
 * out as CQEs come back); an SQ that is full or an io_uring_submit that
 * fails (kernel short of memory) never drops a bio and never blocks the
 * submitter: the bio waits in the pending list, and the ring's completion
 * thread retries after every CQE.  done() runs on the completion thread
 * (the backend contract allows it).
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
#include "file_ring.h"

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

/* One ring, on cache lines of its own: only the threads that submit to
 * it and its completion thread touch it. */
struct file_ring {
	_Alignas(64) pthread_mutex_t sq_lock;   /* SQ side, pending list, fields to reaper */
	struct io_uring ring;
	unsigned inflight_sqes;         /* SQEs the kernel owes us a CQE for */
	unsigned max_inflight;          /* CQ size: the CQ can never overflow */
	struct vs_bio *pend_head, *pend_tail;
	bool submit_stalled;            /* io_uring_submit failed; retry on next CQE */
	uint64_t bios, pended;          /* file_ring_stats */
	pthread_t reaper;

	struct file_dev *d;
	unsigned index;
	_Atomic uint64_t outstanding;   /* accepted bios whose done() has not returned */
	_Atomic uint64_t completed;     /* written by the completion thread only */
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
void vs_file_zero_next_stage(struct file_dev *d, struct vs_bio *bio)
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

bool vs_file_zero_unsupported(struct file_dev *d, struct vs_bio *bio, int err)
{
	struct bio_state *s = st(bio);

	if (s->stage == ZS_WRITE || (err != -EOPNOTSUPP && err != -ENOTTY && err != -ENOSYS))
		return false;
	atomic_store(s->stage == ZS_ZERO_RANGE ? &d->zero_range_ok : &d->punch_ok, false);
	vs_file_zero_next_stage(d, bio);
	return true;
}

/* Put one bio's next piece in the SQ; false if it had to wait in the
 * pending list instead.  Called with sq_lock held. */
static bool issue_locked(struct file_ring *r, struct vs_bio *bio)
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
		return false;
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
	return true;
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

/* The slot a thread keeps for its life (see the top of this file):
 * slot + 1, 0 while it has none. */
static _Atomic unsigned next_slot;
static _Thread_local unsigned my_slot;

static struct file_ring *ring_of_caller(struct file_dev *d)
{
	unsigned s = my_slot;
	if (__builtin_expect(s == 0, 0)) {
		s = (atomic_fetch_add_explicit(&next_slot, 1, memory_order_relaxed) & INT_MAX) + 1;
		my_slot = s;
	}
	return &d->rings[(s - 1) % d->nrings];
}

void vs_file_ring_submit(struct file_dev *d, struct vs_bio *bio)
{
	struct file_ring *r = ring_of_caller(d);

	if (bio->op == VS_BIO_UNMAP || bio->op == VS_BIO_WRITE_ZEROES)
		vs_file_zero_next_stage(d, bio);
	atomic_fetch_add_explicit(&r->outstanding, 1, memory_order_relaxed);
	pthread_mutex_lock(&r->sq_lock);
	r->bios++;
	if (r->inflight_sqes < r->max_inflight && !r->pend_head) {
		if (!issue_locked(r, bio))
			r->pended++;
		submit_locked(r);
	} else {
		pend_push_back(r, bio);
		r->pended++;
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
		if (s->done_bytes < bio->length)
			return ACT_RESUBMIT;
		if (bio->op == VS_BIO_WRITE)
			vs_file_map_written(d, bio->offset, bio->length);
		return ACT_COMPLETE;

	case VS_BIO_FLUSH:
		*err = res < 0 ? res : 0;
		return ACT_COMPLETE;

	default: /* UNMAP, WRITE_ZEROES */
		if (s->stage != ZS_WRITE) {
			if (res == 0)
				return ACT_COMPLETE;
			if (vs_file_zero_unsupported(d, bio, res))
				return ACT_RESUBMIT;
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
	struct file_dev *d = r->d;
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
			if (on_cqe(d, bio, res, &err) == ACT_RESUBMIT) {
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
			more = true;
			if (!issue_locked(r, pend_pop(r)))
				break;   /* SQ full: it went back on the list */
		}
		if (more || r->submit_stalled)
			submit_locked(r);
		pthread_mutex_unlock(&r->sq_lock);

		if (!ncomp)
			continue;
		/* Counted first, so a done() caller sees its own bio counted. */
		atomic_store_explicit(&r->completed,
		                      atomic_load_explicit(&r->completed, memory_order_relaxed) + ncomp,
		                      memory_order_relaxed);
		/* done() last: the caller may reuse the bio's memory at once. */
		for (unsigned i = 0; i < ncomp; i++)
			vs_bio_complete(complete[i], errs[i]);
		/* Close sets `closing` before it looks at the counts and we look
		 * at `closing` after the count (both seq_cst), so one of us sees
		 * the other; only then is the lock worth taking. */
		if (atomic_fetch_sub(&r->outstanding, ncomp) == ncomp && atomic_load(&d->closing)) {
			pthread_mutex_lock(&d->idle_lock);
			pthread_cond_broadcast(&d->idle_cond);
			pthread_mutex_unlock(&d->idle_lock);
		}
	}
	return NULL;
}

static void *reaper_start(void *arg)
{
	struct file_ring *r = arg;
	my_slot = r->index + 1;   /* submits from done() stay on this ring */
	return reaper_main(r);
}

/* ------------------------------------------------------------ set-up */

static int ring_open(struct file_dev *d, struct file_ring *r, unsigned index)
{
	r->d = d;
	r->index = index;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = FILE_CQ_ENTRIES;
	int rc = io_uring_queue_init_params(FILE_SQ_ENTRIES, &r->ring, &p);
	if (rc < 0) {
		vs_set_error("io_uring: cannot set up a ring: %s", strerror(-rc));
		return rc;
	}
	r->max_inflight = p.cq_entries;
	pthread_mutex_init(&r->sq_lock, NULL);
	atomic_init(&r->outstanding, 0);
	atomic_init(&r->completed, 0);
	rc = pthread_create(&r->reaper, NULL, reaper_start, r);
	if (rc != 0) {
		vs_set_error("cannot start a completion thread: %s", strerror(rc));
		io_uring_queue_exit(&r->ring);
		pthread_mutex_destroy(&r->sq_lock);
		return -rc;
	}
	return 0;
}

/* Stop a drained ring's completion thread and free the ring. */
static void ring_close(struct file_ring *r)
{
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
}

int vs_file_rings_open(struct file_dev *d, unsigned nrings)
{
	d->rings = aligned_alloc(_Alignof(struct file_ring), nrings * sizeof(struct file_ring));
	if (!d->rings) {
		vs_set_error("out of memory");
		return -ENOMEM;
	}
	memset(d->rings, 0, nrings * sizeof(struct file_ring));
	atomic_init(&d->closing, false);
	pthread_mutex_init(&d->idle_lock, NULL);
	pthread_cond_init(&d->idle_cond, NULL);
	for (d->nrings = 0; d->nrings < nrings; d->nrings++) {
		int rc = ring_open(d, &d->rings[d->nrings], d->nrings);
		if (rc < 0) {
			vs_file_rings_close(d);   /* the ones already running, all idle */
			return rc;
		}
	}
	return 0;
}

void vs_file_rings_drain(struct file_dev *d)
{
	pthread_mutex_lock(&d->idle_lock);
	atomic_store(&d->closing, true);
	for (unsigned i = 0; i < d->nrings; i++)
		while (atomic_load(&d->rings[i].outstanding) != 0)
			pthread_cond_wait(&d->idle_cond, &d->idle_lock);
	pthread_mutex_unlock(&d->idle_lock);
}

void vs_file_rings_close(struct file_dev *d)
{
	for (unsigned i = 0; i < d->nrings; i++)
		ring_close(&d->rings[i]);
	pthread_mutex_destroy(&d->idle_lock);
	pthread_cond_destroy(&d->idle_cond);
	free(d->rings);
	d->rings = NULL;
	d->nrings = 0;
}

/* ------------------------------------------------------------ file_ring.h */

unsigned vs_file_ring_count(void *h)
{
	struct file_dev *d = h;
	return d->nrings;
}

unsigned vs_file_ring_of_caller(void *h)
{
	struct file_dev *d = h;
	return (unsigned)(ring_of_caller(d) - d->rings);
}

void vs_file_ring_get_stats(void *h, unsigned i, struct file_ring_stats *out)
{
	struct file_dev *d = h;
	struct file_ring *r = &d->rings[i];
	pthread_mutex_lock(&r->sq_lock);
	out->bios = r->bios;
	out->pended = r->pended;
	pthread_mutex_unlock(&r->sq_lock);
	out->completed = atomic_load_explicit(&r->completed, memory_order_relaxed);
}
