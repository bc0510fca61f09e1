/* SPDX-License-Identifier: MIT */
/* sys_trace: see sys_trace.h. */
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sys_trace.h"

#define SYS_RECS 8192
static pthread_mutex_t sys_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sys_rec sys_recs[SYS_RECS];
static int sys_nrecs;

static void sys_record(const struct sys_rec *r, int n)
{
	pthread_mutex_lock(&sys_mu);
	for (int i = 0; i < n && sys_nrecs < SYS_RECS; i++)
		sys_recs[sys_nrecs++] = r[i];
	pthread_mutex_unlock(&sys_mu);
}

int __real_io_uring_submit(struct io_uring *ring);
int __wrap_io_uring_submit(struct io_uring *ring);
int __wrap_io_uring_submit(struct io_uring *ring)
{
	struct sys_rec batch[256];
	int n = 0;

	/* the SQEs prepared since the last submit: sqe_head .. sqe_tail */
	for (unsigned i = ring->sq.sqe_head; i != ring->sq.sqe_tail && n < 256; i++) {
		const struct io_uring_sqe *sqe = &ring->sq.sqes[i & ring->sq.ring_mask];

		batch[n++] = (struct sys_rec){ SYS_SQE, sqe->fd, sqe->opcode, sqe->rw_flags, sqe->off,
		                               ring };
	}
	int rc = __real_io_uring_submit(ring);
	if (rc >= 0)
		sys_record(batch, n);
	return rc;
}

ssize_t __real_pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags);
ssize_t __wrap_pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags);
ssize_t __wrap_pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	ssize_t rc = __real_pwritev2(fd, iov, iovcnt, off, flags);

	if (rc >= 0)
		sys_record(&(struct sys_rec){ SYS_PWRITEV2, fd, 0, (uint32_t)flags, (uint64_t)off,
		                              NULL }, 1);
	return rc;
}

int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_fdatasync(int fd)
{
	int rc = __real_fdatasync(fd);

	if (rc == 0)
		sys_record(&(struct sys_rec){ SYS_FDATASYNC, fd, 0, 0, 0, NULL }, 1);
	return rc;
}

void sys_clear(void)
{
	pthread_mutex_lock(&sys_mu);
	sys_nrecs = 0;
	pthread_mutex_unlock(&sys_mu);
}

int sys_count(int kind, int fd, uint8_t opcode, uint32_t flags, uint64_t off)
{
	int n = 0;

	pthread_mutex_lock(&sys_mu);
	for (int i = 0; i < sys_nrecs; i++) {
		const struct sys_rec *r = &sys_recs[i];

		n += r->kind == kind && r->fd == fd && (!opcode || r->opcode == opcode) &&
		     (r->flags & flags) == flags && (off == SYS_ANY_OFF || r->off == off);
	}
	pthread_mutex_unlock(&sys_mu);
	return n;
}

int sys_records(struct sys_rec *out, int max)
{
	pthread_mutex_lock(&sys_mu);
	int n = sys_nrecs < max ? sys_nrecs : max;
	memcpy(out, sys_recs, (size_t)n * sizeof(*out));
	pthread_mutex_unlock(&sys_mu);
	return n;
}

int sys_fd_of(const char *path)
{
	char link[64], target[256];

	for (int fd = 3; fd < 1024; fd++) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			if (strcmp(target, path) == 0)
				return fd;
		}
	}
	return -1;
}
