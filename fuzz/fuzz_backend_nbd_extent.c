/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what the nbd backend makes of a block-status reply
 * (src/backends/nbd/nbd_extent.c).  libnbd parses the NBD protocol itself;
 * the one thing from the network the backend interprets is the array of
 * (length, flags) pairs of a base:allocation reply, which a hostile or
 * broken server controls entirely.  Input: 8 bytes of the length asked
 * for, then the 32-bit entries.  Besides "no crash", the answer must be
 * usable: an extent of at least 1 byte and no longer than asked, mapped
 * exactly when the first extent is not a hole, and a reply the backend
 * takes only if it has a non-empty first extent and whole pairs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/nbd/nbd_extent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t len;
	size_t n;
	uint32_t *e;
	bool mapped = false;
	uint64_t ext = 0;
	int rc;

	if (size < 8)
		return 0;
	memcpy(&len, data, 8);
	n = (size - 8) / 4;
	e = malloc(n ? n * 4 : 1);     /* its own buffer: ASan sees any overread */
	if (!e)
		return 0;
	memcpy(e, data + 8, n * 4);
	rc = vs_nbdbe_extent_first(n ? e : NULL, n, len, &mapped, &ext);
	if (rc == 0) {
		if (ext == 0 || ext > len)
			abort();
		if (n < 2 || n % 2 || e[0] == 0)
			abort();
		if (mapped != !(e[1] & 1))
			abort();
		if (ext < len && ext < e[0])
			abort();   /* shorter than asked only where the first extent ends */
	} else if (n >= 2 && n % 2 == 0 && e[0] && len) {
		abort();       /* a usable reply refused */
	}
	free(e);
	return 0;
}
