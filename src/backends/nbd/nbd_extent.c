/* SPDX-License-Identifier: MIT */
/*
 * Reading the server's answer to NBD_CMD_BLOCK_STATUS for the
 * "base:allocation" context (NBD protocol, "Metadata querying" and
 * "base:allocation"): libnbd parses the reply and hands over an array of
 * (length, flags) pairs; what they mean for GET LBA STATUS is decided
 * here, and nothing the server sends is trusted: a reply with no extent,
 * an odd count, or a first extent of length 0 is refused.
 *
 * NBD_STATE_HOLE (bit 0) set: the extent is not allocated ("deallocated"
 * in SBC-3 5.7 terms); NBD_STATE_ZERO alone says nothing about allocation.
 * Consecutive extents with the same allocation state are joined, and the
 * answer never reaches past the length asked for.
 */
#include <errno.h>
#include <libnbd.h>

#include "nbd_extent.h"

int vs_nbdbe_extent_first(const uint32_t *entries, size_t nr_entries, uint64_t len, bool *mapped,
                     uint64_t *ext_len)
{
	uint64_t total = 0;
	bool state;

	if (!entries || nr_entries < 2 || nr_entries % 2 || len == 0 || entries[0] == 0)
		return -EPROTO;
	state = !(entries[1] & LIBNBD_STATE_HOLE);
	for (size_t i = 0; i + 1 < nr_entries && total < len; i += 2) {
		if (entries[i] == 0 || !(entries[i + 1] & LIBNBD_STATE_HOLE) != state)
			break;
		total += entries[i];
	}
	*mapped = state;
	*ext_len = total < len ? total : len;
	return 0;
}
