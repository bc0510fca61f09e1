/* SPDX-License-Identifier: MIT */
/*
 * The file backend's internals shared by file.c (options, open/close,
 * validation, inline copies) and file_ring.c (io_uring submission and
 * completion).  Nothing outside src/backends/file*.c includes this.
 */
#ifndef VSTOR_BACKENDS_FILE_DEV_H
#define VSTOR_BACKENDS_FILE_DEV_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <sys/uio.h>

#include "vstor/backend.h"
#include "page_map.h"
#include "stable_loans.h"

#define FILE_ZERO_BUF     (1u << 20)   /* read-only zeroes for the write fallback */
#define FILE_INLINE_IOV   64           /* iovecs per inline preadv2/pwritev2 call */

struct file_ring;

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

	/* file_map.c: a tmpfs/ramfs file mapped to lend its pages to reads.
	 * lend_base NULL: never lent; set at open, unmapped at close. */
	uint8_t *lend_base;
	uint64_t lend_len;                       /* bytes mapped */
	struct page_map lend_map;                /* pages known to hold data */
	atomic_bool lend_on;                     /* off once the file outgrew lend_len */
	/* file_stable.c: loans that stay as lent; changes made in submit */
	bool stable;
	struct stable_loans loans;

	/* file_ring.c.  Read by every request that goes to io_uring, written
	 * only at open and close. */
	struct file_ring *rings;                 /* nrings of them, set up at open */
	unsigned nrings;
	atomic_bool closing;                     /* close waits: reapers tell it */
	pthread_mutex_t idle_lock;               /* only for close's wait */
	pthread_cond_t idle_cond;
};

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
_Static_assert(sizeof(struct bio_state) <= LOANS_SCRATCH * sizeof(uint64_t),
               "bio_state must fit in backend_scratch before the loan links");

static inline struct bio_state *st(struct vs_bio *bio)
{
	return (struct bio_state *)(void *)bio->backend_scratch;
}

/* Move the iovec cursor forward by n bytes. */
static inline void advance(struct vs_bio *bio, uint64_t n)
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
	/* Skip empty iovecs so the next piece always starts on real bytes. */
	while (s->idx < (uint32_t)bio->iovcnt && bio->iov[s->idx].iov_len == 0)
		s->idx++;
}

/* The bio's not-yet-transferred bytes as an iovec array (at most max
 * entries, the last one trimmed to the bio's length). */
static inline int vs_file_iov_window(struct vs_bio *bio, struct iovec *v, int max)
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

/*
 * Move what is left of a READ/WRITE bio with preadv2/pwritev2(flags), here
 * and now, retrying an interrupted call up to 16 times; progress stays in
 * bio_state.  1: all of it moved.  0: a call moved nothing (a read at end
 * of file, a stalled write).  -errno: the call's error, -EINTR once the
 * retries are used up.
 */
static inline int vs_file_rw_now(int fd, struct vs_bio *bio, int flags)
{
	struct bio_state *s = st(bio);
	bool rd = bio->op == VS_BIO_READ;

	for (int intr = 0; s->done_bytes < bio->length;) {
		struct iovec v[FILE_INLINE_IOV];
		int n = vs_file_iov_window(bio, v, FILE_INLINE_IOV);
		off_t off = (off_t)(bio->offset + s->done_bytes);
		ssize_t r = rd ? preadv2(fd, v, n, off, flags) : pwritev2(fd, v, n, off, flags);

		if (r > 0) {
			advance(bio, (uint64_t)r);
			continue;   /* short: the next call may still move more */
		}
		if (r == 0)
			return 0;
		if (errno != EINTR || ++intr >= 16)
			return -errno;
	}
	return 1;
}

/* A read hit end of file (someone shrank it under us): past EOF is a hole. */
static inline void zero_fill_rest(struct vs_bio *bio)
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

/* ---- file_map.c: lending a memory file's pages (see there) ---- */

/* Map the file and find its data, if it is on tmpfs/ramfs (not O_DIRECT);
 * otherwise, or if that fails, reads are simply never lent. */
void vs_file_map_open(struct file_dev *d, uint64_t size);
void vs_file_map_close(struct file_dev *d);       /* after the last loan */
/* A READ (checked against the size) that may be lent: set bio->lent and
 * return true if every page it touches holds data. */
bool vs_file_map_lend(struct file_dev *d, struct vs_bio *bio);
/* Bytes [off, off+len) now hold data (a write completed). */
void vs_file_map_written(struct file_dev *d, uint64_t off, uint64_t len);
/* Bytes [off, off+len) may become holes (before an unmap or zeroing). */
void vs_file_map_forget(struct file_dev *d, uint64_t off, uint64_t len);
void vs_file_map_resized(struct file_dev *d, uint64_t old_size, uint64_t new_size);

/* ---- file_stable.c: stable loans of a memory file (see there) ---- */

/* After vs_file_map_open: stable loans if the file lends and its writes
 * are inline copies. */
void vs_file_stable_open(struct file_dev *d);
void vs_file_stable_close(struct file_dev *d);    /* after the last loan */
/* A READ with VS_BIO_MAY_LEND (checked): lent (bio->lent set, and with
 * VS_BIO_LEND_STABLE a stable loan begun), or false: copy it. */
bool vs_file_stable_lend(struct file_dev *d, struct vs_bio *bio);
void vs_file_stable_lend_end(struct file_dev *d, struct vs_bio *bio);
/* A checked write, unmap or write-zeroes: true if it was taken here (made
 * and completed, or held back behind a stable loan); false: go on as
 * without stable loans. */
bool vs_file_stable_change(struct file_dev *d, struct vs_bio *bio);

/* ---- file_ring.c ---- */

#define FILE_MAX_RINGS     64
#define FILE_DEFAULT_RINGS 8   /* at most, by default: see file_ring.c */

/* Set up nrings (1..FILE_MAX_RINGS) rings, each with its completion
 * thread.  -errno with vs_set_error(); nothing is left behind. */
int  vs_file_rings_open(struct file_dev *d, unsigned nrings);
/* Wait until every bio handed to vs_file_ring_submit() has had done() return
 * (no new submit may start once close has begun). */
void vs_file_rings_drain(struct file_dev *d);
/* Stop the completion threads and free the rings (after vs_file_rings_drain). */
void vs_file_rings_close(struct file_dev *d);
/* Queue a checked bio (its bio_state zeroed) on the calling thread's ring;
 * done() runs once, from that ring's completion thread.  Never blocks on
 * I/O. */
void vs_file_ring_submit(struct file_dev *d, struct vs_bio *bio);
/* An UNMAP / WRITE_ZEROES bio's next zeroing step not tried yet
 * (bio_state.stage): punch or zero range, as the file system allows, and
 * in the end plain writes of zeroes. */
void vs_file_zero_next_stage(struct file_dev *d, struct vs_bio *bio);
/* A zeroing step failed with err (negative errno).  If that says the file
 * system cannot do it, remember so for the file, move the bio to its next
 * step and return true (try again); false: err is the bio's result. */
bool vs_file_zero_unsupported(struct file_dev *d, struct vs_bio *bio, int err);

#endif
