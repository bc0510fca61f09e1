/* SPDX-License-Identifier: MIT */
/*
 * file: a disk kept in a regular file or a block device, with I/O through
 * io_uring.
 *
 *   path=      (required) file or block device
 *   size=      with create=1, the size of a new (sparse) file; extends a
 *              smaller existing regular file to this size
 *   create=0/1 create the file if missing (needs size=); without it a
 *              missing path is refused, so a typo never makes a new disk
 *   direct=0/1 O_DIRECT: offsets, lengths and the caller's buffers must be
 *              aligned to the device's direct-I/O alignment (4096 is always
 *              enough; the iSCSI fabric's pool buffers are page aligned);
 *              caps.logical_block_size says the offset/length unit, so a
 *              disk with smaller blocks is refused when it is set up
 *   readonly=0/1
 *   dsync=0/1  O_DSYNC: every write is durable when it completes, so there
 *              is no volatile write cache to report
 *   inline=0/1 (default 1) let submit() copy READ/WRITE data itself when
 *              that cannot wait for a device (see try_inline); 0 sends
 *              everything through io_uring
 *
 * Threads: submit() may be called from any number of threads.  A READ or
 * WRITE whose data can be copied without waiting for a device (page-cache
 * hits with RWF_NOWAIT, or any copy on tmpfs/ramfs) completes inline in
 * submit(), in the caller's thread: one syscall, no wake-ups.  Everything
 * else goes to io_uring under a short mutex around the submission queue;
 * one completion thread per bdev reaps CQEs, finishes short transfers, and
 * calls bio->done from that thread (the backend contract allows both).
 *
 * Durability (SBC-3 4.15, SYNCHRONIZE CACHE and FUA): the page cache is a
 * volatile write cache, so has_write_cache is true and FLUSH is
 * fdatasync(); a FUA write is issued with RWF_DSYNC, which makes that
 * write durable with fdatasync semantics before it completes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend_opts.h"
#include "builtin.h"

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
#define FILE_ZERO_BUF     (1u << 20)
#define FILE_MAX_SQE_LEN  (1u << 30)   /* keep single-buffer lengths in u32 */
#define FILE_REAP_BATCH   64
#define FILE_MAX_RETRIES  1000
#define FILE_INLINE_IOV   64        /* iovecs per inline preadv2/pwritev2 call */

/* Steps of the write-zeroes / unmap fallback chain. */
enum zero_stage {
	ZS_ZERO_RANGE = 0,  /* fallocate(FALLOC_FL_ZERO_RANGE): keeps the blocks */
	ZS_PUNCH,           /* fallocate(FALLOC_FL_PUNCH_HOLE): frees them */
	ZS_WRITE,           /* plain writes from a zero buffer */
};

/* Per-bio progress, kept in bio->backend_scratch (no allocation). */
struct bio_state {
	struct vs_bio *next;   /* pending list link */
	uint64_t done_bytes;   /* bytes transferred so far */
	uint64_t seg_off;      /* offset inside iov[idx] */
	uint32_t idx;          /* current iovec */
	uint8_t  stage;        /* enum zero_stage */
	uint8_t  tried;        /* bit per stage already attempted */
	uint16_t retries;      /* transient errors seen (bounded) */
};
_Static_assert(sizeof(struct bio_state) <= sizeof(((struct vs_bio *)0)->backend_scratch),
               "bio_state must fit in backend_scratch");

static inline struct bio_state *st(struct vs_bio *bio)
{
	return (struct bio_state *)(void *)bio->backend_scratch;
}

struct file_dev {
	int fd;
	bool is_blk, direct, readonly, dsync;
	bool can_unmap, rotational;
	bool memfs;                              /* tmpfs/ramfs: the file is memory */
	/* How submit() may copy READ / WRITE data itself (enum inline_mode);
	 * learned: EOPNOTSUPP from RWF_NOWAIT turns a direction off. */
	_Atomic uint8_t inline_read, inline_write;
	uint32_t dio_align;                      /* O_DIRECT: offsets, lengths and buffers */
	uint32_t dio_offset_align;               /* O_DIRECT: offsets and lengths (caps) */
	uint32_t blksize;
	_Atomic uint64_t size;
	_Atomic bool zero_range_ok, punch_ok;   /* learned: EOPNOTSUPP turns them off */
	void *zero_buf;                          /* FILE_ZERO_BUF read-only zeroes */

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

static void advance(struct vs_bio *bio, uint64_t n);
static void zero_fill_rest(struct vs_bio *bio);

static void pend_push_back(struct file_dev *d, struct vs_bio *bio)
{
	st(bio)->next = NULL;
	if (d->pend_tail)
		st(d->pend_tail)->next = bio;
	else
		d->pend_head = bio;
	d->pend_tail = bio;
}

static void pend_push_front(struct file_dev *d, struct vs_bio *bio)
{
	st(bio)->next = d->pend_head;
	d->pend_head = bio;
	if (!d->pend_tail)
		d->pend_tail = bio;
}

static struct vs_bio *pend_pop(struct file_dev *d)
{
	struct vs_bio *bio = d->pend_head;
	if (bio) {
		d->pend_head = st(bio)->next;
		if (!d->pend_head)
			d->pend_tail = NULL;
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
static void issue_locked(struct file_dev *d, struct vs_bio *bio)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);
	if (!sqe) {
		/* SQ full of unsubmitted entries: hand them to the kernel. */
		io_uring_submit(&d->ring);
		sqe = io_uring_get_sqe(&d->ring);
	}
	if (!sqe) {
		/* Never dropped: it waits at the head of the pending list. */
		pend_push_front(d, bio);
		d->submit_stalled = true;
		return;
	}
	switch (bio->op) {
	case VS_BIO_READ:
	case VS_BIO_WRITE:
		prep_rw(d, bio, sqe);
		break;
	case VS_BIO_FLUSH:
		io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
		break;
	default:
		prep_zero(d, bio, sqe);
		break;
	}
	io_uring_sqe_set_data(sqe, bio);
	handoff_release(bio);
	d->inflight_sqes++;
}

static void submit_locked(struct file_dev *d)
{
	/* -EINTR: retry at once.  -EAGAIN/-EBUSY (kernel short of memory or
	 * CQ backlog): the SQEs stay in the ring; try a little, then leave it
	 * to the completion thread, which retries after every CQE. */
	for (int tries = 0; tries < 64; tries++) {
		int r = io_uring_submit(&d->ring);
		if (r >= 0) {
			d->submit_stalled = false;
			return;
		}
		if (r != -EINTR && r != -EAGAIN && r != -EBUSY)
			break;
		if (r != -EINTR)
			sched_yield();
	}
	d->submit_stalled = true;
}

static bool dio_aligned(const struct file_dev *d, const struct vs_bio *bio)
{
	uint64_t a = d->dio_align;
	if (bio->offset % a || bio->length % a)
		return false;
	if (bio->op != VS_BIO_READ && bio->op != VS_BIO_WRITE)
		return true;
	uint64_t left = bio->length;
	for (int i = 0; i < bio->iovcnt && left; i++) {
		uint64_t n = bio->iov[i].iov_len < left ? bio->iov[i].iov_len : left;
		if ((uintptr_t)bio->iov[i].iov_base % a || n % a)
			return false;
		left -= n;
	}
	return true;
}

/* ------------------------------------------------------- inline copies */

/*
 * Why: io_uring cannot run a buffered read/write on a file whose file
 * system lacks non-blocking support (tmpfs, for one) from the submitting
 * thread; it punts every such request to an io-wq worker, so each bio costs
 * a worker wake-up, a reaper wake-up and a cross-thread completion.  Where
 * the copy cannot wait for a device, submit() does it itself and completes
 * the bio inline (the backend contract allows that):
 *
 *   INLINE_NOWAIT  preadv2/pwritev2 with RWF_NOWAIT: the kernel copies only
 *                  what is in the page cache and returns -EAGAIN instead of
 *                  waiting; the rest goes through io_uring.
 *   INLINE_MEMFS   tmpfs/ramfs: the file *is* memory (like the ram
 *                  backend's buffer), so a plain copy never waits for I/O;
 *                  these file systems refuse RWF_NOWAIT (EOPNOTSUPP).
 *
 * Never with O_DIRECT (the request goes to the device), and a FUA write
 * only on memfs, where there is no device for RWF_DSYNC to wait for.
 */
enum inline_mode { INLINE_OFF = 0, INLINE_NOWAIT, INLINE_MEMFS };

/* The bio's not-yet-transferred bytes as an iovec array (at most max
 * entries, the last one trimmed to the bio's length). */
static int inline_window(struct vs_bio *bio, struct iovec *v, int max)
{
	struct bio_state *s = st(bio);
	uint64_t left = bio->length - s->done_bytes;
	int n = 0;
	for (uint32_t i = s->idx; i < (uint32_t)bio->iovcnt && left && n < max; i++) {
		uint64_t off = i == s->idx ? s->seg_off : 0;
		uint64_t len = bio->iov[i].iov_len - off;
		if (len == 0)
			continue;
		if (len > left)
			len = left;
		v[n].iov_base = (char *)bio->iov[i].iov_base + off;
		v[n].iov_len = len;
		n++;
		left -= len;
	}
	return n;
}

/* Try to do a READ/WRITE bio here and now.  true: done() has run.  false:
 * the bio (with whatever progress was made) goes to io_uring. */
static bool try_inline(struct file_dev *d, struct vs_bio *bio)
{
	bool rd = bio->op == VS_BIO_READ;
	_Atomic uint8_t *modep = rd ? &d->inline_read : &d->inline_write;
	uint8_t mode = atomic_load_explicit(modep, memory_order_relaxed);
	if (mode == INLINE_OFF)
		return false;
	if (!rd && (bio->flags & VS_BIO_FUA) && mode != INLINE_MEMFS)
		return false;   /* RWF_DSYNC would wait for the device */
	int flags = mode == INLINE_NOWAIT ? RWF_NOWAIT : 0;
	struct bio_state *s = st(bio);

	for (int intr = 0; intr < 16;) {
		struct iovec v[FILE_INLINE_IOV];
		int n = inline_window(bio, v, FILE_INLINE_IOV);
		off_t off = (off_t)(bio->offset + s->done_bytes);
		ssize_t r = rd ? preadv2(d->fd, v, n, off, flags)
		               : pwritev2(d->fd, v, n, off, flags);
		if (r > 0) {
			advance(bio, (uint64_t)r);
			if (s->done_bytes >= bio->length) {
				bio->done(bio, 0);
				return true;
			}
			continue;   /* short: the next call may still copy more */
		}
		if (r == 0) {
			if (!rd)
				return false;   /* io_uring reports the stalled write */
			zero_fill_rest(bio);    /* past a (truncated) end: zeroes */
			bio->done(bio, 0);
			return true;
		}
		int e = errno;
		if (e == EINTR) {
			intr++;
			continue;
		}
		if (e == EAGAIN)
			return false;       /* not cached / would block: io_uring */
		if (e == EOPNOTSUPP && mode == INLINE_NOWAIT) {
			/* This file system cannot do it without blocking. */
			atomic_store_explicit(modep, INLINE_OFF, memory_order_relaxed);
			return false;
		}
		bio->done(bio, -e);
		return true;
	}
	return false;
}

static int file_submit(void *h, struct vs_bio *bio)
{
	struct file_dev *d = h;
	uint64_t size = atomic_load_explicit(&d->size, memory_order_acquire);

	switch (bio->op) {
	case VS_BIO_READ:
	case VS_BIO_WRITE:
		if (bio->length && (!bio->iov || bio->iovcnt <= 0 ||
		                    vs_bk_iov_bytes(bio->iov, bio->iovcnt) < bio->length))
			return -EINVAL;
		/* fall through */
	case VS_BIO_UNMAP:
	case VS_BIO_WRITE_ZEROES:
		if (bio->offset > size || bio->length > size - bio->offset)
			return -EINVAL;
		if (d->readonly && bio->op != VS_BIO_READ)
			return -EROFS;
		if (d->direct && !dio_aligned(d, bio))
			return -EINVAL;
		if (bio->length == 0) {
			bio->done(bio, 0);
			return 0;
		}
		break;
	case VS_BIO_FLUSH:
		break;
	default:
		return -EINVAL;
	}

	struct bio_state *s = st(bio);
	memset(s, 0, sizeof(*s));
	if (bio->op == VS_BIO_UNMAP || bio->op == VS_BIO_WRITE_ZEROES)
		zero_next_stage(d, bio);
	else if (bio->op != VS_BIO_FLUSH)
		advance(bio, 0);   /* step over leading empty iovecs */

	if ((bio->op == VS_BIO_READ || bio->op == VS_BIO_WRITE) && try_inline(d, bio))
		return 0;

	atomic_fetch_add_explicit(&d->outstanding, 1, memory_order_relaxed);
	pthread_mutex_lock(&d->sq_lock);
	if (d->inflight_sqes < d->max_inflight && !d->pend_head) {
		issue_locked(d, bio);
		submit_locked(d);
	} else {
		pend_push_back(d, bio);
	}
	pthread_mutex_unlock(&d->sq_lock);
	return 0;
}

/* ------------------------------------------------------------ completion */

enum cqe_action { ACT_RESUBMIT, ACT_COMPLETE };

/* Move the iovec cursor forward by n bytes. */
static void advance(struct vs_bio *bio, uint64_t n)
{
	struct bio_state *s = st(bio);
	s->done_bytes += n;
	while (n && s->idx < (uint32_t)bio->iovcnt) {
		uint64_t room = bio->iov[s->idx].iov_len - s->seg_off;
		if (n < room) {
			s->seg_off += n;
			n = 0;
		} else {
			n -= room;
			s->idx++;
			s->seg_off = 0;
		}
	}
	/* Skip empty iovecs so prep_rw always starts on real bytes. */
	while (s->idx < (uint32_t)bio->iovcnt && bio->iov[s->idx].iov_len == 0)
		s->idx++;
}

/* A read hit end of file (someone shrank it under us): past EOF is a hole. */
static void zero_fill_rest(struct vs_bio *bio)
{
	struct bio_state *s = st(bio);
	uint64_t left = bio->length - s->done_bytes;
	for (uint32_t i = s->idx; i < (uint32_t)bio->iovcnt && left; i++) {
		uint64_t off = i == s->idx ? s->seg_off : 0;
		uint64_t n = bio->iov[i].iov_len - off;
		if (n > left)
			n = left;
		memset((char *)bio->iov[i].iov_base + off, 0, n);
		left -= n;
	}
}

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
	struct file_dev *d = arg;
	struct vs_bio *complete[FILE_REAP_BATCH];
	int errs[FILE_REAP_BATCH];
	struct vs_bio *resub[FILE_REAP_BATCH];
	bool stop = false;

	while (!stop) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(&d->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0) {
			/* Should not happen; do not spin hot if it does. */
			sched_yield();
			continue;
		}
		struct io_uring_cqe *cqes[FILE_REAP_BATCH];
		unsigned got = io_uring_peek_batch_cqe(&d->ring, cqes, FILE_REAP_BATCH);
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
		io_uring_cq_advance(&d->ring, got);

		pthread_mutex_lock(&d->sq_lock);
		d->inflight_sqes -= nio;
		for (unsigned i = 0; i < nres; i++)
			issue_locked(d, resub[i]);
		bool more = nres > 0;
		while (d->pend_head && d->inflight_sqes < d->max_inflight) {
			unsigned before = d->inflight_sqes;
			issue_locked(d, pend_pop(d));
			more = true;
			if (d->inflight_sqes == before)
				break;   /* SQ full: it went back on the list */
		}
		if (more || d->submit_stalled)
			submit_locked(d);
		pthread_mutex_unlock(&d->sq_lock);

		/* done() last: the caller may reuse the bio's memory at once. */
		for (unsigned i = 0; i < ncomp; i++)
			complete[i]->done(complete[i], errs[i]);
		if (ncomp &&
		    atomic_fetch_sub_explicit(&d->outstanding, ncomp, memory_order_acq_rel) == ncomp) {
			pthread_mutex_lock(&d->idle_lock);
			pthread_cond_broadcast(&d->idle_cond);
			pthread_mutex_unlock(&d->idle_lock);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------ open/close */

static bool read_rotational(dev_t dev)
{
	char p[96];
	FILE *f;
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/queue/rotational", major(dev), minor(dev));
	f = fopen(p, "re");
	if (!f) {
		/* A partition has no queue/ of its own; its disk does. */
		snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/../queue/rotational",
		         major(dev), minor(dev));
		f = fopen(p, "re");
	}
	if (!f)
		return false;
	int c = fgetc(f);
	fclose(f);
	return c == '1';
}

/* O_DIRECT alignment: *offset_align for file offsets and lengths (the
 * device's logical block size, what a disk on top may not go below), the
 * return value for those and the memory buffers together.  Unknown (no
 * STATX_DIOALIGN, not a block device): 4096, always enough. */
static uint32_t direct_alignment(int fd, bool is_blk, uint32_t *offset_align)
{
	struct statx sx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align) {
		uint32_t a = sx.stx_dio_offset_align;
		*offset_align = a;
		if (sx.stx_dio_mem_align > a)
			a = sx.stx_dio_mem_align;
		return a;
	}
	int ssz;
	if (is_blk && ioctl(fd, BLKSSZGET, &ssz) == 0 && ssz > 0) {
		*offset_align = (uint32_t)ssz;
		return (uint32_t)ssz;
	}
	*offset_align = 4096;
	return 4096;
}

static void file_free(struct file_dev *d)
{
	if (d->zero_buf)
		munmap(d->zero_buf, FILE_ZERO_BUF);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

static void *file_open(const struct vs_kv *opts, size_t n)
{
	static const char *const allowed[] = {"path", "size", "create", "direct",
	                                      "readonly", "dsync", "inline", NULL};
	uint64_t size = 0;
	bool have_size, create, direct, readonly, dsync, use_inline;

	if (vs_bk_opts_check("file", opts, n, allowed) < 0 ||
	    vs_bk_opt_size("file", opts, n, "size", &size, &have_size) < 0 ||
	    vs_bk_opt_bool("file", opts, n, "create", false, &create) < 0 ||
	    vs_bk_opt_bool("file", opts, n, "direct", false, &direct) < 0 ||
	    vs_bk_opt_bool("file", opts, n, "readonly", false, &readonly) < 0 ||
	    vs_bk_opt_bool("file", opts, n, "dsync", false, &dsync) < 0 ||
	    vs_bk_opt_bool("file", opts, n, "inline", true, &use_inline) < 0)
		return NULL;
	const char *path = vs_kv_get(opts, n, "path");
	if (!path || !*path) {
		vs_set_error("file: path: required (e.g. path=/var/lib/vstor/disk0.img)");
		return NULL;
	}
	if (have_size && size == 0) {
		vs_set_error("file: size: must be greater than 0");
		return NULL;
	}
	if (have_size && size > (uint64_t)INT64_MAX) {
		vs_set_error("file: size: too large for a file offset");
		return NULL;
	}
	if (readonly && create) {
		vs_set_error("file: create: cannot create a file opened readonly=1");
		return NULL;
	}
	if (create && !have_size) {
		vs_set_error("file: size: required with create=1");
		return NULL;
	}

	struct file_dev *d = calloc(1, sizeof(*d));
	if (!d) {
		vs_set_error("file: out of memory");
		return NULL;
	}
	d->fd = -1;
	d->readonly = readonly;
	d->direct = direct;
	d->dsync = dsync;

	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	if (direct)
		flags |= O_DIRECT;
	if (dsync)
		flags |= O_DSYNC;
	if (create)
		flags |= O_CREAT;
	d->fd = open(path, flags, 0644);
	if (d->fd < 0) {
		if (errno == ENOENT && !create)
			vs_set_error("file: path: '%s' cannot be opened: it does not exist (create=1 "
			             "creates it)", path);
		else
			vs_set_error("file: path: '%s' cannot be opened: %s", path, strerror(errno));
		file_free(d);
		return NULL;
	}

	struct stat sb;
	if (fstat(d->fd, &sb) != 0) {
		vs_set_error("file: path: cannot stat '%s': %s", path, strerror(errno));
		file_free(d);
		return NULL;
	}
	uint64_t cur;
	if (S_ISREG(sb.st_mode)) {
		cur = (uint64_t)sb.st_size;
		d->rotational = read_rotational(sb.st_dev);
	} else if (S_ISBLK(sb.st_mode)) {
		d->is_blk = true;
		if (ioctl(d->fd, BLKGETSIZE64, &cur) != 0) {
			vs_set_error("file: path: cannot read the size of '%s': %s", path,
			             strerror(errno));
			file_free(d);
			return NULL;
		}
		d->rotational = read_rotational(sb.st_rdev);
	} else {
		vs_set_error("file: path: '%s' is not a regular file or a block device", path);
		file_free(d);
		return NULL;
	}
	d->blksize = sb.st_blksize > 0 ? (uint32_t)sb.st_blksize : 4096;

	if (have_size && size != cur) {
		if (d->is_blk) {
			vs_set_error("file: size: '%s' is a block device of %llu bytes; its size cannot be set",
			             path, (unsigned long long)cur);
			file_free(d);
			return NULL;
		}
		if (size < cur) {
			/* Never shrink (lose data) because of an open option. */
			vs_set_error("file: size: %llu bytes is less than the existing file '%s' (%llu bytes)",
			             (unsigned long long)size, path, (unsigned long long)cur);
			file_free(d);
			return NULL;
		}
		if (readonly) {
			vs_set_error("file: size: cannot extend '%s' with readonly=1", path);
			file_free(d);
			return NULL;
		}
		if (ftruncate(d->fd, (off_t)size) != 0) {
			vs_set_error("file: size: cannot extend '%s' to %llu bytes: %s", path,
			             (unsigned long long)size, strerror(errno));
			file_free(d);
			return NULL;
		}
		cur = size;
	}
	if (cur == 0) {
		vs_set_error("file: size: '%s' is empty; give size= to extend it", path);
		file_free(d);
		return NULL;
	}
	atomic_init(&d->size, cur);
	d->dio_align = 1;
	if (direct)
		d->dio_align = direct_alignment(d->fd, d->is_blk, &d->dio_offset_align);

	/* Inline copies (see try_inline): never with O_DIRECT; on tmpfs and
	 * ramfs plain copies; elsewhere RWF_NOWAIT, turned off per direction
	 * the first time the file system says EOPNOTSUPP.  inline=0 keeps
	 * every request on io_uring. */
	struct statfs sfs;
	d->memfs = !d->is_blk && fstatfs(d->fd, &sfs) == 0 &&
	           (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
	uint8_t im = !use_inline || direct ? INLINE_OFF : d->memfs ? INLINE_MEMFS : INLINE_NOWAIT;
	atomic_init(&d->inline_read, im);
	/* O_DSYNC makes every write wait for the device after the copy. */
	atomic_init(&d->inline_write, dsync && im == INLINE_NOWAIT ? INLINE_OFF : im);

	/* Probe hole punching past the end (a no-op where supported) so
	 * can_unmap is honest.  On a block device PUNCH_HOLE means "discard
	 * that reads back zeroes"; if the device cannot, the bio falls back. */
	atomic_init(&d->zero_range_ok, true);
	atomic_init(&d->punch_ok, true);
	d->can_unmap = !readonly;
	if (!readonly && !d->is_blk) {
		off_t probe = (off_t)((cur + 2 * 4096ULL) / 4096 * 4096);
		if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, probe, 4096) != 0 &&
		    errno == EOPNOTSUPP) {
			atomic_store(&d->punch_ok, false);
			d->can_unmap = false;
		}
	}

	d->zero_buf = mmap(NULL, FILE_ZERO_BUF, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d->zero_buf == MAP_FAILED) {
		d->zero_buf = NULL;
		vs_set_error("file: out of memory");
		file_free(d);
		return NULL;
	}

	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = FILE_CQ_ENTRIES;
	int r = io_uring_queue_init_params(FILE_SQ_ENTRIES, &d->ring, &p);
	if (r < 0) {
		vs_set_error("file: io_uring: cannot set up a ring: %s", strerror(-r));
		file_free(d);
		return NULL;
	}
	d->max_inflight = p.cq_entries;
	pthread_mutex_init(&d->sq_lock, NULL);
	pthread_mutex_init(&d->idle_lock, NULL);
	pthread_cond_init(&d->idle_cond, NULL);
	atomic_init(&d->outstanding, 0);
	r = pthread_create(&d->reaper, NULL, reaper_main, d);
	if (r != 0) {
		vs_set_error("file: cannot start the completion thread: %s", strerror(r));
		io_uring_queue_exit(&d->ring);
		pthread_mutex_destroy(&d->sq_lock);
		pthread_mutex_destroy(&d->idle_lock);
		pthread_cond_destroy(&d->idle_cond);
		file_free(d);
		return NULL;
	}
	return d;
}

static void file_close(void *h)
{
	struct file_dev *d = h;

	pthread_mutex_lock(&d->idle_lock);
	while (atomic_load(&d->outstanding) != 0)
		pthread_cond_wait(&d->idle_cond, &d->idle_lock);
	pthread_mutex_unlock(&d->idle_lock);

	if (!d->readonly)
		fdatasync(d->fd);

	/* Wake the completion thread with a NOP whose user_data is NULL. */
	pthread_mutex_lock(&d->sq_lock);
	struct io_uring_sqe *sqe;
	while (!(sqe = io_uring_get_sqe(&d->ring)))
		io_uring_submit(&d->ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data(sqe, NULL);
	submit_locked(d);
	pthread_mutex_unlock(&d->sq_lock);
	pthread_join(d->reaper, NULL);

	io_uring_queue_exit(&d->ring);
	pthread_mutex_destroy(&d->sq_lock);
	pthread_mutex_destroy(&d->idle_lock);
	pthread_cond_destroy(&d->idle_cond);
	file_free(d);
}

static uint64_t file_get_size(void *h)
{
	struct file_dev *d = h;
	return atomic_load_explicit(&d->size, memory_order_acquire);
}

static void file_get_caps(void *h, struct vs_backend_caps *caps)
{
	struct file_dev *d = h;
	memset(caps, 0, sizeof(*caps));
	caps->can_write = !d->readonly;
	caps->can_flush = !d->readonly;
	caps->can_fua = !d->readonly;
	caps->can_unmap = d->can_unmap;
	caps->can_zero = !d->readonly;
	caps->unmap_zeroes = true;     /* a punched hole reads back zeroes */
	caps->is_rotational = d->rotational;
	caps->can_resize = !d->readonly && !d->is_blk;
	/* The page cache holds writes until fdatasync; O_DSYNC writes are
	 * durable on completion.  O_DIRECT alone is not enough: the disk's
	 * own cache and block allocation metadata still need a flush. */
	caps->has_write_cache = !d->readonly && !d->dsync;
	caps->optimal_io_size = d->blksize;
	caps->unmap_granularity = d->can_unmap ? d->blksize : 0;
	/* buffered I/O goes through the page cache at any offset */
	caps->logical_block_size = d->direct ? d->dio_offset_align : 0;
}

static int file_resize(void *h, uint64_t new_size)
{
	struct file_dev *d = h;
	if (d->is_blk) {
		vs_set_error("file: size: a block device cannot be resized");
		return -EOPNOTSUPP;
	}
	if (d->readonly) {
		vs_set_error("file: size: cannot resize with readonly=1");
		return -EROFS;
	}
	if (new_size == 0 || new_size > (uint64_t)INT64_MAX) {
		vs_set_error("file: size: %llu bytes is not a valid size",
		             (unsigned long long)new_size);
		return -EINVAL;
	}
	/* Shrink: publish the smaller size first so new I/O cannot land past
	 * the new end; grow: extend first so no I/O sees a short file. */
	uint64_t old = file_get_size(d);
	if (new_size < old)
		atomic_store_explicit(&d->size, new_size, memory_order_release);
	if (ftruncate(d->fd, (off_t)new_size) != 0) {
		int e = errno;
		atomic_store_explicit(&d->size, old, memory_order_release);
		vs_set_error("file: size: cannot resize to %llu bytes: %s",
		             (unsigned long long)new_size, strerror(e));
		return -e;
	}
	atomic_store_explicit(&d->size, new_size, memory_order_release);
	return 0;
}

static int file_block_status(void *h, uint64_t offset, uint64_t len,
                             bool *mapped, uint64_t *extent_len)
{
	struct file_dev *d = h;
	uint64_t size = file_get_size(d);
	if (len == 0 || offset >= size || len > size - offset) {
		vs_set_error("file: block_status: range outside the disk");
		return -EINVAL;
	}
	if (d->is_blk) {
		*mapped = true;
		*extent_len = len;
		return 0;
	}
	uint64_t end = offset + len;
	off_t data = lseek(d->fd, (off_t)offset, SEEK_DATA);
	if (data < 0) {
		if (errno == ENXIO) {      /* only a hole up to EOF */
			*mapped = false;
			*extent_len = len;
			return 0;
		}
		*mapped = true;            /* no SEEK_DATA: say "maybe data" */
		*extent_len = len;
		return 0;
	}
	if ((uint64_t)data > offset) {
		*mapped = false;
		*extent_len = ((uint64_t)data < end ? (uint64_t)data : end) - offset;
		return 0;
	}
	off_t hole = lseek(d->fd, (off_t)offset, SEEK_HOLE);
	uint64_t e = hole < 0 ? end : (uint64_t)hole;
	*mapped = true;
	*extent_len = (e < end ? e : end) - offset;
	return 0;
}

const struct vs_backend_ops vs_backend_file = {
	.name = "file",
	.api_version = VS_BACKEND_API_VERSION,
	.struct_size = sizeof(struct vs_backend_ops),
	.help = "path=PATH      file or block device (required)\n"
	        "size=SIZE      size of a new file (create=1), or extend a smaller one to SIZE\n"
	        "create=0|1     create the file if missing (needs size=); else it must exist\n"
	        "direct=0|1     O_DIRECT; buffers and offsets must be 4096-aligned\n"
	        "readonly=0|1   open read-only\n"
	        "dsync=0|1      O_DSYNC: writes durable on completion (no write cache)\n"
	        "inline=0|1     copy cached data in submit when it cannot block (default 1)\n",
	.open = file_open,
	.close = file_close,
	.get_size = file_get_size,
	.get_caps = file_get_caps,
	.submit = file_submit,
	.resize = file_resize,
	.block_status = file_block_status,
};
