/* SPDX-License-Identifier: MIT */
/*
 * Copying a large amount of data into memory the CPU will not read again
 * soon: a RAM disk's pages, written by 1 MiB WRITEs.  Non-temporal stores
 * write whole lines to memory without reading each destination line first
 * (the read for ownership of an ordinary store) and without evicting the
 * cache's working set for data nobody is about to use.  glibc's memcpy
 * turns to them only above three quarters of the shared cache (225 MB on
 * the bench machine, whose L3 reports 300 MB), never for one request.
 * Measured there: 1 MiB sequential WRITE QD8 to a ram LUN, 2,818-3,127 ->
 * 3,849-4,372 IOPS, target CPU 300 -> 227-252 us per I/O (bench/README.md).
 *
 * For small copies ordinary stores are better: the data is still in the
 * cache when it is read back, and the fence below costs more than it saves.
 */
#ifndef VSTOR_UTIL_COPY_H
#define VSTOR_UTIL_COPY_H

#include <stddef.h>

/* memcpy(dst, src, n), with non-temporal stores for the 16-byte aligned
 * middle of dst on x86-64 (SSE2, always there); memcpy elsewhere.  The
 * bytes are visible to other threads only after vs_copy_nt_fence(). */
void vs_copy_nt(void *dst, const void *src, size_t n);
/* Orders the non-temporal stores before the stores that follow (the
 * completion that tells another thread the data is there). */
void vs_copy_nt_fence(void);

#endif
