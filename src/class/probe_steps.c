/* SPDX-License-Identifier: MIT */
/*
 * What the class layer asks a LUN before it serves block requests, one
 * command per step, and what it takes from each answer:
 *
 *   INQUIRY (SPC-4 6.6)                 a disk is there (qualifier 000b, type 00h)
 *   INQUIRY VPD 00h (SPC-4 7.8.13)      which of B0h / B2h the LUN has
 *   INQUIRY VPD B0h (SBC-3 6.6.4)       transfer, unmap and write-same limits
 *   INQUIRY VPD B2h (SBC-3 6.6.5)       LBPU, LBPWS, LBPRZ
 *   READ CAPACITY(16) (SBC-3 5.16)      capacity, block sizes, LBPME, LBPRZ
 *   MODE SENSE(10) 08h (SBC-3 6.5.5)    WP (SBC-3 6.5.1), WCE
 *
 * The VPD pages and the mode page are optional: a LUN that refuses them
 * is served with conservative defaults (no unmap, the port's transfer
 * limit, a write cache to flush).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "class_int.h"

#define VPD_SUPPORTED     0x00
#define VPD_BLOCK_LIMITS  0xb0
#define VPD_LBP           0xb2
#define MODE_PAGE_CACHING 0x08
#define U32_ALL           0xffffffffu

static uint32_t min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static void cdb_inquiry(struct vs_srb *srb, bool evpd, uint8_t page, uint16_t alloc)
{
	memset(srb->cdb, 0, 6);
	srb->cdb[0] = INQUIRY;
	srb->cdb[1] = evpd ? 0x01 : 0x00;
	srb->cdb[2] = page;
	vs_put16(&srb->cdb[3], alloc);
	srb->cdb_len = 6;
	srb->data_length = alloc;
}

void vs_class_probe_build(struct vs_disk *disk, struct class_req *r, struct vs_srb *srb)
{
	uint8_t step = r->pub.op == CLASS_OP_CAPACITY ? PROBE_READ_CAPACITY : r->probe_step;

	(void)disk;
	srb->data_dir = VS_DIR_FROM_DEVICE;
	switch (step) {
	case PROBE_INQUIRY:
		cdb_inquiry(srb, false, 0, 96);
		break;
	case PROBE_VPD_PAGES:
		cdb_inquiry(srb, true, VPD_SUPPORTED, 255);
		break;
	case PROBE_VPD_BLOCK_LIMITS:
		cdb_inquiry(srb, true, VPD_BLOCK_LIMITS, 64);
		break;
	case PROBE_VPD_LBP:
		cdb_inquiry(srb, true, VPD_LBP, 8);
		break;
	case PROBE_READ_CAPACITY:
		memset(srb->cdb, 0, 16);
		srb->cdb[0] = SERVICE_ACTION_IN_16;
		srb->cdb[1] = SAI_READ_CAPACITY_16;
		vs_put32(&srb->cdb[10], 32);
		srb->cdb_len = 16;
		srb->data_length = 32;
		break;
	default:
		memset(srb->cdb, 0, 10);
		srb->cdb[0] = MODE_SENSE_10;
		srb->cdb[1] = 0x08;                     /* DBD: no block descriptors */
		srb->cdb[2] = MODE_PAGE_CACHING;        /* PC 00b: current values */
		vs_put16(&srb->cdb[7], 64);
		srb->cdb_len = 10;
		srb->data_length = 64;
		break;
	}
}

static int parse_inquiry(const uint8_t *d, uint32_t n)
{
	/* PERIPHERAL QUALIFIER 000b and DEVICE TYPE 00h: a direct-access
	 * block device is connected to this LUN (SPC-4 6.6.2) */
	if (n < 1 || (d[0] >> 5) != 0 || (d[0] & 0x1f) != TYPE_DISK)
		return -ENODEV;
	return 0;
}

static void parse_vpd_pages(struct vs_disk *disk, const uint8_t *d, uint32_t n)
{
	uint32_t len = n >= 4 ? 4u + d[3] : 0;

	if (len > n)
		len = n;
	for (uint32_t i = 4; i < len; i++) {
		disk->has_vpd_b0 |= d[i] == VPD_BLOCK_LIMITS;
		disk->has_vpd_b2 |= d[i] == VPD_LBP;
	}
}

static void parse_block_limits(struct vs_disk *disk, const uint8_t *d, uint32_t n)
{
	struct vs_disk_info *in = &disk->info;

	if (n < 16)
		return;
	in->optimal_granularity_bytes = vs_get16(&d[6]);     /* blocks for now */
	disk->b0_max_transfer = vs_get32(&d[8]);
	in->optimal_transfer_bytes = vs_get32(&d[12]);      /* blocks for now */
	if (n < 36)
		return;         /* an SBC-2 length page: no unmap fields */
	in->max_unmap_blocks = vs_get32(&d[20]);
	in->max_unmap_descriptors = vs_get32(&d[24]);
	in->unmap_granularity_blocks = vs_get32(&d[28]);
	if (vs_get32(&d[32]) & 0x80000000u)                 /* UGAVALID */
		in->unmap_alignment_blocks = vs_get32(&d[32]) & 0x7fffffffu;
	if (n >= 44)
		in->max_write_same_blocks = vs_get64(&d[36]);
}

static void parse_lbp(struct vs_disk *disk, const uint8_t *d, uint32_t n)
{
	if (n < 6)
		return;
	disk->lbpu = d[5] & 0x80;
	disk->info.can_write_same_unmap = d[5] & 0x40;
	disk->info.unmap_zeroes |= (d[5] & 0x04) != 0;
}

static int parse_capacity(struct vs_disk *disk, const struct class_req *r,
                          const uint8_t *d, uint32_t n)
{
	uint64_t last;
	uint32_t bs;

	if (n < 15)
		return -EIO;
	last = vs_get64(&d[0]);
	bs = vs_get32(&d[8]);
	if (bs < 512 || (bs & (bs - 1)) || last == UINT64_MAX || (last + 1) > UINT64_MAX / bs)
		return -EIO;
	if (r->pub.op == CLASS_OP_CAPACITY) {
		/* a new block size is a different disk, not a resize */
		if (bs != disk->info.block_size)
			return -EIO;
		disk->info.capacity_bytes = (last + 1) * bs;
		return 0;
	}
	disk->info.capacity_bytes = (last + 1) * bs;
	disk->info.block_size = bs;
	disk->info.physical_block_size = bs << (d[13] & 0x0f);
	disk->lbpme = d[14] & 0x80;
	disk->info.unmap_zeroes |= (d[14] & 0x40) != 0;
	return 0;
}

static void parse_caching(struct vs_disk *disk, const uint8_t *d, uint32_t n)
{
	uint32_t at;

	if (n < 8)
		return;
	disk->info.readonly = d[3] & 0x80;                     /* WP */
	at = 8u + vs_get16(&d[6]);                           /* past block descriptors */
	if (at + 3 <= n && (d[at] & 0x3f) == MODE_PAGE_CACHING)
		disk->info.write_cache = d[at + 2] & 0x04;      /* WCE */
}

int vs_class_probe_parse_locked(struct vs_disk *disk, struct class_req *r, const struct vs_srb *srb)
{
	const uint8_t *d = srb->iov[0].iov_base;
	uint32_t n = srb->xfer_len;
	uint8_t step = r->pub.op == CLASS_OP_CAPACITY ? PROBE_READ_CAPACITY : r->probe_step;

	switch (step) {
	case PROBE_INQUIRY:
		return parse_inquiry(d, n);
	case PROBE_VPD_PAGES:
		parse_vpd_pages(disk, d, n);
		return 0;
	case PROBE_VPD_BLOCK_LIMITS:
		parse_block_limits(disk, d, n);
		return 0;
	case PROBE_VPD_LBP:
		parse_lbp(disk, d, n);
		return 0;
	case PROBE_READ_CAPACITY:
		return parse_capacity(disk, r, d, n);
	default:
		parse_caching(disk, d, n);
		return 0;
	}
}

bool vs_class_probe_optional(uint8_t step)
{
	return step != PROBE_INQUIRY && step != PROBE_READ_CAPACITY;
}

uint8_t vs_class_probe_next(const struct vs_disk *disk, uint8_t step)
{
	step++;
	if (step == PROBE_VPD_BLOCK_LIMITS && !disk->has_vpd_b0)
		step++;
	if (step == PROBE_VPD_LBP && !disk->has_vpd_b2)
		step++;
	return step;
}

/* Turn what the pages said into the limits pieces are cut by. */
int vs_class_probe_finish_locked(struct vs_disk *disk)
{
	struct vs_disk_info *in = &disk->info;
	uint32_t bs = in->block_size;
	uint32_t max = CLASS_DEFAULT_MAX_XFER;
	uint32_t by_buf = (uint32_t)((disk->srb_buf_len - 8) / 16);

	if (disk->adapter_max_xfer)
		max = min32(max, disk->adapter_max_xfer);
	if (disk->b0_max_transfer && disk->b0_max_transfer <= max / bs)
		max = disk->b0_max_transfer * bs;
	in->max_transfer_bytes = max / bs * bs;
	if (in->max_transfer_bytes == 0)
		return -EIO;            /* the adapter cannot move one block */
	in->optimal_granularity_bytes *= bs;
	in->optimal_transfer_bytes = in->optimal_transfer_bytes <= U32_ALL / bs
	                             ? in->optimal_transfer_bytes * bs : 0;
	in->block_status = disk->lbpme;
	/* SBC-3 4.7.3.3: UNMAP needs LBPME and LBPU */
	in->can_unmap = disk->lbpme && disk->lbpu;
	in->can_write_same_unmap = disk->lbpme && in->can_write_same_unmap;
	in->unmap_zeroes = disk->lbpme && in->unmap_zeroes;
	if (!in->can_unmap) {
		in->max_unmap_blocks = 0;
		in->max_unmap_descriptors = 0;
	} else {
		if (!in->max_unmap_blocks)
			in->max_unmap_blocks = U32_ALL;
		if (!in->max_unmap_descriptors || in->max_unmap_descriptors == U32_ALL)
			in->max_unmap_descriptors = by_buf;
		in->max_unmap_descriptors = min32(in->max_unmap_descriptors, by_buf);
	}
	if (!in->max_write_same_blocks || in->max_write_same_blocks > U32_ALL)
		in->max_write_same_blocks = U32_ALL;
	free(disk->zero_block);
	disk->zero_block = calloc(1, bs);
	return disk->zero_block ? 0 : -ENOMEM;
}
