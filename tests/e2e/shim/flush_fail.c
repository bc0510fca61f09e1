/* SPDX-License-Identifier: MIT */
/*
 * flush_fail.so: an LD_PRELOAD shim that makes every flush of the process
 * fail, as a disk whose cache flush returns an error would, for
 * tests/e2e/flush_error_exit.sh.  Nothing else changes: reads and writes
 * go through as always.
 *
 *  - io_uring: each IORING_OP_FSYNC about to be submitted is pointed at a
 *    pipe, which cannot be synced (EINVAL), so its completion reports the
 *    failure the way a failing device's fdatasync would;
 *  - fdatasync() / fsync() return -1 with EIO.
 *
 * The file backend flushes through io_uring and fdatasyncs at close; the
 * shim interposes liburing's io_uring_submit (a shared library function).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <liburing.h>
#include <unistd.h>

static int unsyncable = -1;     /* a pipe's read end */

__attribute__((constructor)) static void flush_fail_init(void)
{
	int p[2];

	if (pipe(p) == 0)
		unsyncable = p[0];
}

int io_uring_submit(struct io_uring *ring)
{
	static int (*real)(struct io_uring *);

	if (!real)
		real = (int (*)(struct io_uring *))dlsym(RTLD_NEXT, "io_uring_submit");
	/* Not yet handed to the kernel: [sqe_head, sqe_tail) (liburing 2.x). */
	for (unsigned i = ring->sq.sqe_head; i != ring->sq.sqe_tail; i++) {
		struct io_uring_sqe *sqe = &ring->sq.sqes[i & ring->sq.ring_mask];

		if (sqe->opcode == IORING_OP_FSYNC && !(sqe->flags & IOSQE_FIXED_FILE))
			sqe->fd = unsyncable;
	}
	return real(ring);
}

int fdatasync(int fd)
{
	(void)fd;
	errno = EIO;
	return -1;
}

int fsync(int fd)
{
	(void)fd;
	errno = EIO;
	return -1;
}
