/* SPDX-License-Identifier: MIT */
/*
 * sys_trace: what the file backend hands the kernel for durability.
 *
 * Re-reading a file after a FUA write or a flush goes through the page
 * cache, so it cannot tell whether anything was made durable.  Instead a
 * test binary linked with -Wl,--wrap=io_uring_submit,--wrap=pwritev2,
 * --wrap=fdatasync (tests/unit/CMakeLists.txt) gets every call the backend
 * makes to them here first, where the SQEs it is about to hand the kernel
 * (and the flags of the other two) are recorded, then the real call runs.
 * A record is kept only when the kernel took it (the call succeeded), so a
 * test can prove that an fdatasync, an IORING_OP_FSYNC with
 * IORING_FSYNC_DATASYNC, or a write with RWF_DSYNC was issued for the
 * backend's file descriptor, in which order, and through which ring.
 *
 * Only a binary linked with those --wrap options pulls this in.
 */
#ifndef VSTOR_TEST_SYS_TRACE_H
#define VSTOR_TEST_SYS_TRACE_H

#include <stdint.h>

enum { SYS_SQE = 1, SYS_PWRITEV2, SYS_FDATASYNC };

struct sys_rec {
	int kind;
	int fd;
	uint8_t opcode;         /* SYS_SQE: IORING_OP_* */
	uint32_t flags;         /* SQE rw_flags / fsync_flags, pwritev2 flags */
	uint64_t off;
	const void *ring;       /* SYS_SQE: the struct io_uring it went through */
};

#define SYS_ANY_OFF UINT64_MAX

/* Forget every record. */
void sys_clear(void);
/* How many records of `kind` on fd (opcode for SQEs, 0: any), with all of
 * `flags` set, at offset `off` (SYS_ANY_OFF: any). */
int sys_count(int kind, int fd, uint8_t opcode, uint32_t flags, uint64_t off);
/* Copy up to max records, oldest first; how many were copied. */
int sys_records(struct sys_rec *out, int max);
/* The descriptor the process has open on `path` (the backend's), or -1. */
int sys_fd_of(const char *path);

#endif
