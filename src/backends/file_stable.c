/* SPDX-License-Identifier: MIT */
/*
 * Stable loans of a file on tmpfs/ramfs (backend.h lend_stable,
 * stable_loans.h).
 *
 * Such a file is memory, as the RAM disk's buffer is, and file_map.c
 * lends its pages to reads.  A caller that checksums the data before it
 * sends it (iSCSI data digests, RFC 7143 §13.1: the digest is taken when
 * the Data-In PDU is built, the bytes are read again when sendmsg copies
 * them) needs the lent bytes to stay as they were until the loan ends.
 * So every write, unmap and write-zeroes that overlaps a stable loan is
 * held back until then, in order, as the RAM disk does it.
 *
 * That needs each change made in submit, before it completes: on a memory
 * file system a write is a copy and an unmap frees pages, so nothing waits
 * for a device, and the file backend already copies writes there inline
 * (file.c try_inline).  A file that is not lent, or with inline=0 (every
 * request through io_uring, the user's choice), takes no stable loan: its
 * digest reads are copied, as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/uio.h>
#include <unistd.h>

#include "file_dev.h"

#define STABLE_EINTR_MAX 16     /* interrupted calls retried per change */

static int apply_write(struct file_dev *d, struct vs_bio *bio)
{
	int r = vs_file_rw_now(d->fd, bio, 0);

	if (r < 0)
		return r;
	if (r == 0)
		return -EIO;    /* no progress: never spin on it */
	vs_file_map_written(d, bio->offset, bio->length);
	return 0;
}

/* The same steps as through io_uring (file_ring.c), made here. */
static int apply_zero(struct file_dev *d, struct vs_bio *bio)
{
	struct bio_state *s = st(bio);

	vs_file_zero_next_stage(d, bio);
	while (s->stage != ZS_WRITE) {
		int mode = s->stage == ZS_PUNCH ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE;

		if (fallocate(d->fd, mode | FALLOC_FL_KEEP_SIZE, (off_t)bio->offset,
		              (off_t)bio->length) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (!vs_file_zero_unsupported(d, bio, -errno))
			return -errno;
	}
	for (int intr = 0; s->done_bytes < bio->length;) {
		uint64_t len = bio->length - s->done_bytes;
		ssize_t r = pwrite(d->fd, d->zero_buf, len < FILE_ZERO_BUF ? len : FILE_ZERO_BUF,
		                   (off_t)(bio->offset + s->done_bytes));

		if (r > 0) {
			s->done_bytes += (uint64_t)r;
			continue;
		}
		if (r == 0)
			return -EIO;
		if (errno == EINTR && ++intr < STABLE_EINTR_MAX)
			continue;
		return -errno;
	}
	return 0;
}

/* stable_loans.h apply: a checked change, made now. */
static int apply(void *dev, struct vs_bio *bio)
{
	struct file_dev *d = dev;

	memset(st(bio), 0, sizeof(struct bio_state));
	if (bio->op == VS_BIO_WRITE) {
		advance(bio, 0);   /* step over leading empty iovecs */
		return apply_write(d, bio);
	}
	return apply_zero(d, bio);
}

void vs_file_stable_open(struct file_dev *d)
{
	d->stable = d->lend_base && !d->readonly &&
	            atomic_load(&d->inline_write) != 0 /* INLINE_OFF: inline=0 */;
	if (d->stable)
		vs_loans_init(&d->loans, apply, d);
}

void vs_file_stable_close(struct file_dev *d)
{
	if (d->stable)
		vs_loans_destroy(&d->loans);
	d->stable = false;
}

bool vs_file_stable_lend(struct file_dev *d, struct vs_bio *bio)
{
	bool stable = bio->flags & VS_BIO_LEND_STABLE;

	if (stable && !d->stable)
		return false;
	if (!vs_file_map_lend(d, bio))
		return false;
	if (stable)
		vs_loans_lend_begin(&d->loans, bio);
	return true;
}

void vs_file_stable_lend_end(struct file_dev *d, struct vs_bio *bio)
{
	if (d->stable)
		vs_loans_lend_end(&d->loans, bio);
}

bool vs_file_stable_change(struct file_dev *d, struct vs_bio *bio)
{
	enum loan_change how;
	int err;

	if (!d->stable)
		return false;
	how = vs_loans_change_begin(&d->loans, bio);
	if (how == LOAN_CHANGE_HELD)
		return true;    /* made and completed when the loans in its way end */
	err = apply(d, bio);
	vs_loans_change_end(&d->loans, how);
	vs_bio_complete(bio, err);
	return true;
}
