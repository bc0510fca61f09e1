/* SPDX-License-Identifier: MIT */
/* Small helpers the built-in backends share. */
#ifndef VSTOR_BACKENDS_IOV_H
#define VSTOR_BACKENDS_IOV_H

#include <stdint.h>
#include <sys/uio.h>

/* Total bytes described by an iovec (saturating). */
static inline uint64_t vs_bk_iov_bytes(const struct iovec *iov, int iovcnt)
{
	uint64_t total = 0;

	for (int i = 0; i < iovcnt; i++) {
		if (UINT64_MAX - total < iov[i].iov_len)
			return UINT64_MAX;
		total += iov[i].iov_len;
	}
	return total;
}

#endif
