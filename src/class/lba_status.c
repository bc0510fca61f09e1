/* SPDX-License-Identifier: MIT */
/*
 * GET LBA STATUS parameter data (SBC-3 5.7.2) into block-status extents.
 * Provisioning status 0 mapped, 1 deallocated, 2 anchored (SBC-3 4.7.1);
 * what deallocated and anchored blocks read back is LBPRZ's to say.
 */
#include <errno.h>

#include "class_int.h"

#define LBAS_HDR  8u
#define LBAS_DESC 16u

static uint32_t status_flags(const struct vs_disk *disk, uint8_t status)
{
	uint32_t zero = disk->info.unmap_zeroes ? VS_BLK_EXTENT_ZERO : 0;

	switch (status & 0x0f) {
	case 1:
		return VS_BLK_EXTENT_HOLE | zero;       /* deallocated */
	case 2:
		return zero;                            /* anchored: allocated, unmapped */
	default:
		return 0;                               /* mapped (or unknown: data) */
	}
}

/* Append [off, off+len) with flags, merging with the last extent. */
static bool add_extent(struct vs_blk_request *q, uint64_t off, uint64_t len, uint32_t flags)
{
	if (q->nextents) {
		struct vs_blk_extent *last = &q->extents[q->nextents - 1];

		if (last->flags == flags && last->offset + last->length == off) {
			last->length += len;
			return true;
		}
	}
	if (q->nextents >= q->max_extents)
		return false;
	q->extents[q->nextents++] = (struct vs_blk_extent){ off, len, flags };
	return true;
}

int vs_class_lba_status_parse(struct vs_disk *disk, struct class_req *r, const struct vs_srb *srb)
{
	const uint8_t *d = srb->iov[0].iov_base;
	uint64_t avail = srb->xfer_len;
	uint64_t pos = r->lba, end = r->lba + r->nblocks;
	uint32_t bs = disk->info.block_size;

	r->pub.nextents = 0;
	if (avail < LBAS_HDR)
		return -EIO;
	if (4ull + vs_get32(d) < avail)
		avail = 4ull + vs_get32(d);  /* PARAMETER DATA LENGTH */
	for (uint64_t at = LBAS_HDR; at + LBAS_DESC <= avail && pos < end; at += LBAS_DESC) {
		uint64_t lba = vs_get64(d + at);
		uint64_t n = vs_get32(d + at + 8);
		uint64_t stop = lba + n;

		if (n == 0 || lba > pos)
			break;                  /* a gap: report the prefix we have */
		if (stop <= pos)
			continue;
		if (stop > end)
			stop = end;
		if (!add_extent(&r->pub, pos * bs, (stop - pos) * bs, status_flags(disk, d[at + 12])))
			break;
		pos = stop;
	}
	/* SBC-3 5.7.2: the first descriptor covers the starting LBA */
	return r->pub.nextents ? 0 : -EIO;
}

void vs_class_lba_status_all_mapped(struct vs_disk *disk, struct class_req *r)
{
	uint32_t bs = disk->info.block_size;

	r->pub.nextents = 0;
	add_extent(&r->pub, r->lba * bs, r->nblocks * bs, 0);
}
