/* SPDX-License-Identifier: MIT */
/*
 * Cutting a block request into pieces the LUN takes, and turning a piece
 * into an SRB (SBC-3: READ(16) 5.16, WRITE(16) 5.40, SYNCHRONIZE CACHE(16)
 * 5.26, UNMAP 5.28, WRITE SAME(16) 5.42, GET LBA STATUS 5.7).
 *
 * Limits (SBC-3 6.6.4 Block Limits VPD page, and the adapter's caps):
 *  - READ / WRITE: at most max_transfer_bytes and max_sg iovec entries;
 *  - UNMAP: at most MAXIMUM UNMAP LBA COUNT blocks and MAXIMUM UNMAP BLOCK
 *    DESCRIPTOR COUNT descriptors (each at most 2^32-1 blocks) per command,
 *    split where the OPTIMAL UNMAP GRANULARITY (and its alignment) says;
 *  - WRITE SAME: at most MAXIMUM WRITE SAME LENGTH blocks.
 */
#include <errno.h>
#include <string.h>

#include "class_int.h"

#define DESC_MAX_BLOCKS 0xffffffffull   /* UNMAP descriptor / WRITE SAME(16) count field */

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Slice the request's iovec from byte `off`, at most `max` bytes in at most
 * disk->max_sg entries; return the bytes covered (the caller rounds down). */
static uint64_t slice_iov(struct vs_disk *disk, const struct class_req *r, uint64_t off,
                          uint64_t max, struct class_piece *p)
{
	const struct iovec *iov = r->pub.iov;
	uint64_t got = 0;
	int i = 0;

	p->iovcnt = 0;
	/* skip to the entry holding `off` */
	for (; i < r->pub.iovcnt && off >= iov[i].iov_len; i++)
		off -= iov[i].iov_len;
	for (; i < r->pub.iovcnt && got < max && (uint32_t)p->iovcnt < disk->max_sg; i++) {
		uint64_t n = min64(iov[i].iov_len - off, max - got);

		if (n == 0)
			continue;
		p->iov[p->iovcnt].iov_base = (uint8_t *)iov[i].iov_base + off;
		p->iov[p->iovcnt].iov_len = n;
		p->iovcnt++;
		got += n;
		off = 0;
	}
	return got;
}

/* READ / WRITE: the next piece by transfer length and scatter/gather limit. */
static int cut_rw(struct vs_disk *disk, struct class_req *r, struct class_piece *p)
{
	uint32_t bs = disk->info.block_size;
	uint64_t end = r->lba + r->nblocks;
	uint64_t want = min64((end - r->next_lba) * bs, disk->info.max_transfer_bytes);
	uint64_t got;

	p->byte_off = (r->next_lba - r->lba) * bs;
	got = slice_iov(disk, r, p->byte_off, want, p);
	got -= got % bs;
	if (got == 0)
		return -EINVAL;         /* entries too small for one block within max_sg */
	/* trim the slice back to whole blocks */
	for (uint64_t seen = 0, i = 0; i < (uint64_t)p->iovcnt; i++) {
		if (seen + p->iov[i].iov_len >= got) {
			p->iov[i].iov_len = got - seen;
			p->iovcnt = (int)i + 1;
			break;
		}
		seen += p->iov[i].iov_len;
	}
	p->nblocks = got / bs;
	return 0;
}

/* Round a split point down to the unmap granularity (SBC-3 4.7.3.5:
 * granules start at UNMAP GRANULARITY ALIGNMENT), if that still moves. */
static uint64_t granule_end(const struct vs_disk *disk, uint64_t start, uint64_t end)
{
	uint64_t g = disk->info.unmap_granularity_blocks;
	uint64_t a = disk->info.unmap_alignment_blocks;
	uint64_t aligned;

	if (g <= 1 || end < a)
		return end;
	aligned = (end - a) / g * g + a;
	return aligned > start ? aligned : end;
}

static int cut_unmap(struct vs_disk *disk, struct class_req *r, struct class_piece *p)
{
	uint64_t end = r->lba + r->nblocks;
	/* FFFFFFFFh: no limit per command (SBC-3 6.6.4) */
	uint64_t per_cmd = disk->info.max_unmap_blocks == 0xffffffffu ? UINT64_MAX
	                                                              : disk->info.max_unmap_blocks;
	uint64_t by_desc = (uint64_t)disk->info.max_unmap_descriptors * DESC_MAX_BLOCKS;
	uint64_t n = min64(end - r->next_lba, min64(per_cmd, by_desc));

	if (r->next_lba + n < end)
		n = granule_end(disk, r->next_lba, r->next_lba + n) - r->next_lba;
	p->nblocks = n;
	return 0;
}

int vs_class_piece_cut(struct vs_disk *disk, struct class_req *r, struct class_piece *p)
{
	int rc = 0;

	p->req = r;
	p->lba = r->next_lba;
	p->nblocks = 0;
	p->iovcnt = 0;
	p->immediate = 0;
	p->backoff_ns = CLASS_BACKOFF_FIRST_NS;
	p->wait = WAIT_NONE;
	p->zero_block = disk->no_ndob;
	if (r->phase == PHASE_SYNC) {
		p->lba = r->lba;        /* the whole range the pieces wrote */
		p->nblocks = r->nblocks;
		r->all_cut = true;
		return 0;
	}
	switch (r->pub.op) {
	case VS_BLK_READ:
	case VS_BLK_WRITE:
		rc = cut_rw(disk, r, p);
		break;
	case VS_BLK_UNMAP:
		rc = cut_unmap(disk, r, p);
		break;
	case VS_BLK_WRITE_ZEROES:
		p->nblocks = min64(r->lba + r->nblocks - r->next_lba,
		                   min64(disk->info.max_write_same_blocks, DESC_MAX_BLOCKS));
		break;
	default:
		/* FLUSH, BLOCK_STATUS, probe steps: one piece each */
		p->nblocks = r->nblocks;
		r->all_cut = true;
		return 0;
	}
	if (rc < 0) {
		r->all_cut = true;
		return rc;
	}
	r->next_lba += p->nblocks;
	r->all_cut = r->next_lba >= r->lba + r->nblocks;
	return 0;
}

static void cdb16(struct vs_srb *srb, uint8_t op, uint8_t byte1, uint64_t lba, uint32_t n)
{
	memset(srb->cdb, 0, 16);
	srb->cdb[0] = op;
	srb->cdb[1] = byte1;
	vs_put64(&srb->cdb[2], lba);
	vs_put32(&srb->cdb[10], n);
	srb->cdb_len = 16;
}

/* UNMAP parameter list (SBC-3 5.28.2): header, then descriptors of at most
 * 2^32-1 blocks each covering the piece. */
static void build_unmap(struct vs_srb *srb, const struct class_piece *p)
{
	uint8_t *buf = srb->iov[0].iov_base;
	uint64_t lba = p->lba, left = p->nblocks;
	uint32_t ndesc = 0, len;

	while (left) {
		uint64_t n = min64(left, DESC_MAX_BLOCKS);
		uint8_t *d = buf + 8 + 16 * ndesc;

		memset(d, 0, 16);
		vs_put64(d, lba);
		vs_put32(d + 8, (uint32_t)n);
		lba += n;
		left -= n;
		ndesc++;
	}
	len = 8 + 16 * ndesc;
	memset(buf, 0, 8);
	vs_put16(buf, (uint16_t)(len - 2));          /* UNMAP DATA LENGTH */
	vs_put16(buf + 2, (uint16_t)(16 * ndesc));   /* BLOCK DESCRIPTOR DATA LENGTH */
	memset(srb->cdb, 0, 10);
	srb->cdb[0] = UNMAP;
	vs_put16(&srb->cdb[7], (uint16_t)len);       /* PARAMETER LIST LENGTH */
	srb->cdb_len = 10;
	srb->data_dir = VS_DIR_TO_DEVICE;
	srb->data_length = len;
}

static void build_write_same(struct vs_disk *disk, struct vs_srb *srb, struct class_piece *p)
{
	const struct class_req *r = p->req;
	uint8_t byte1 = 0;

	/* UNMAP=1 lets the device deallocate instead of writing when that
	 * reads back the same (zeroes); NO_UNMAP keeps the blocks allocated */
	if (!(r->pub.flags & VS_BLK_NO_UNMAP) && disk->info.can_write_same_unmap)
		byte1 |= 0x08;
	if (p->zero_block) {
		/* the device refused NDOB: one block of zeroes as data-out */
		p->iov[0].iov_base = disk->zero_block;
		p->iov[0].iov_len = disk->info.block_size;
		srb->iov = p->iov;
		srb->iovcnt = 1;
		srb->data_dir = VS_DIR_TO_DEVICE;
		srb->data_length = disk->info.block_size;
	} else {
		byte1 |= 0x01;          /* NDOB: no data-out, the block is zeroes */
		srb->data_dir = VS_DIR_NONE;
		srb->data_length = 0;
	}
	cdb16(srb, WRITE_SAME_16, byte1, p->lba, (uint32_t)p->nblocks);
}

void vs_class_piece_build(struct vs_disk *disk, struct class_piece *p, struct vs_srb *srb)
{
	struct class_req *r = p->req;
	uint32_t bs = disk->info.block_size;

	srb->lun = disk->lun;
	srb->nexus = disk->nexus;
	srb->tag = (uint64_t)(p - disk->pieces);
	srb->task_attr = VS_TASK_SIMPLE;
	srb->timeout_ms = disk->srb_timeout_ms;
	srb->done = disk->srb_done;
	srb->submitter_ctx = p;
	srb->data_dir = VS_DIR_NONE;
	srb->data_length = 0;
	srb->accept_data_ref = 0;
	if (r->phase == PHASE_SYNC) {
		/* the written range; 0 blocks means "to the end" (SBC-3 5.26) */
		cdb16(srb, SYNCHRONIZE_CACHE_16, 0, p->lba,
		      p->nblocks > DESC_MAX_BLOCKS ? 0 : (uint32_t)p->nblocks);
		return;
	}
	switch (r->pub.op) {
	case VS_BLK_READ:
	case VS_BLK_WRITE:
		cdb16(srb, r->pub.op == VS_BLK_READ ? READ_16 : WRITE_16,
		      (r->pub.flags & VS_BLK_FUA) && r->pub.op == VS_BLK_WRITE ? 0x08 : 0,
		      p->lba, (uint32_t)p->nblocks);
		srb->data_dir = r->pub.op == VS_BLK_READ ? VS_DIR_FROM_DEVICE : VS_DIR_TO_DEVICE;
		srb->iov = p->iov;
		srb->iovcnt = p->iovcnt;
		srb->data_length = (uint32_t)(p->nblocks * bs);
		/* by reference only when this one SRB is the whole request:
		 * the caller gets a single pointer (class.h data_ref) */
		if (r->pub.op == VS_BLK_READ && (r->pub.flags & VS_BLK_MAY_LEND) &&
		    srb->data_length == r->pub.length)
			srb->accept_data_ref = VS_DATA_REF_OK;
		break;
	case VS_BLK_FLUSH:
		cdb16(srb, SYNCHRONIZE_CACHE_16, 0, 0, 0);
		break;
	case VS_BLK_UNMAP:
		build_unmap(srb, p);
		break;
	case VS_BLK_WRITE_ZEROES:
		build_write_same(disk, srb, p);
		break;
	case VS_BLK_BLOCK_STATUS:
		cdb16(srb, SERVICE_ACTION_IN_16, SAI_GET_LBA_STATUS, p->lba,
		      (uint32_t)disk->srb_buf_len);     /* ALLOCATION LENGTH */
		srb->data_dir = VS_DIR_FROM_DEVICE;
		srb->data_length = (uint32_t)disk->srb_buf_len;
		break;
	default:
		vs_class_probe_build(disk, r, srb);
		break;
	}
}
