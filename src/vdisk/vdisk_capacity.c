/* SPDX-License-Identifier: MIT */
/*
 * READ CAPACITY (10) and (16) (SBC-3 5.15, 5.16) and GET LBA STATUS
 * (SBC-3 5.7).
 */
#include <errno.h>
#include <string.h>

#include "vdisk_int.h"

void vs_vdisk_cmd_read_capacity10(struct vdisk_lun *lun, struct vs_srb *srb)
{
	uint8_t d[8];
	uint64_t last = vdisk_capacity(lun) - 1;

	/* SBC-3 5.15.1: with PMI=0 the LOGICAL BLOCK ADDRESS must be zero */
	if (!(srb->cdb[8] & 0x01) && vd_get32(&srb->cdb[2]) != 0) {
		vs_srb_set_invalid_field(srb, true, 2, 7);
		vs_port_complete(srb);
		return;
	}
	/* Too big for 32 bits: FFFFFFFFh sends the initiator to READ CAPACITY (16) */
	vd_put32(&d[0], last >= 0xffffffffu ? 0xffffffffu : (uint32_t)last);
	vd_put32(&d[4], lun->block_size);
	vs_vdisk_data_in(srb, d, sizeof(d), sizeof(d));
	vs_port_complete(srb);
}

void vs_vdisk_cmd_read_capacity16(struct vdisk_lun *lun, struct vs_srb *srb)
{
	uint8_t d[32];
	uint32_t alloc = vd_get32(&srb->cdb[10]);

	if (!(srb->cdb[14] & 0x01) && vd_get64(&srb->cdb[2]) != 0) {
		vs_srb_set_invalid_field(srb, true, 2, 7);
		vs_port_complete(srb);
		return;
	}
	memset(d, 0, sizeof(d));
	vd_put64(&d[0], vdisk_capacity(lun) - 1);
	vd_put32(&d[8], lun->block_size);
	/* byte 12: no protection; byte 13: LOGICAL BLOCKS PER PHYSICAL BLOCK
	 * EXPONENT 0; byte 14: LBPME / LBPRZ (SBC-3 4.7.3) */
	/* LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT (physical_block_size) */
	d[13] = (uint8_t)lun->phys_shift;
	if (lun->caps.can_unmap) {
		d[14] |= 0x80;
		if (lun->caps.unmap_zeroes)
			d[14] |= 0x40;
	}
	vs_vdisk_data_in(srb, d, sizeof(d), alloc);
	vs_port_complete(srb);
}

/* ---- GET LBA STATUS ---- */

#define LBAS_MAX_DESC 64

struct lbas_buf {
	uint8_t d[8 + 16 * LBAS_MAX_DESC];
	uint32_t n;
};

static void lbas_add(struct lbas_buf *b, uint64_t lba, uint64_t count, uint8_t status)
{
	uint8_t *p;

	/* extend the previous descriptor when the state is the same */
	if (b->n) {
		p = &b->d[8 + 16 * (b->n - 1)];
		if ((p[12] & 0x0f) == status &&
		    vd_get64(p) + vd_get32(&p[8]) == lba &&
		    (uint64_t)vd_get32(&p[8]) + count <= 0xffffffffu) {
			vd_put32(&p[8], (uint32_t)(vd_get32(&p[8]) + count));
			return;
		}
	}
	p = &b->d[8 + 16 * b->n++];
	memset(p, 0, 16);
	vd_put64(p, lba);
	vd_put32(&p[8], (uint32_t)(count > 0xffffffffu ? 0xffffffffu : count));
	p[12] = status;          /* PROVISIONING STATUS: 0 mapped, 1 deallocated */
}

static void lbas_reply(struct vdisk_lun *lun, struct vs_srb *srb, struct lbas_buf *b)
{
	uint32_t len = 8 + 16 * b->n;

	(void)lun;
	vd_put32(&b->d[0], len - 4);   /* PARAMETER DATA LENGTH */
	memset(&b->d[4], 0, 4);
	vs_vdisk_data_in(srb, b->d, len, vd_get32(&srb->cdb[10]));
}

/*
 * The provisioning state of the extent that starts at `lba`, in whole
 * physical blocks (SBC-3 4.7.3.3, 4.6.2: LOGICAL BLOCKS PER PHYSICAL BLOCK,
 * LOWEST ALIGNED LBA 0): a physical block is deallocated only if all of it
 * is; if any part of it holds data, all of its LBAs are mapped.  Sets the
 * state and the first LBA past the extent (> lba, <= cap).
 */
static int phys_extent(struct vdisk_lun *lun, uint64_t lba, uint64_t cap, bool *mapped,
                       uint64_t *end)
{
	uint64_t per = 1ull << lun->phys_shift;
	uint64_t pstart = lba & ~(per - 1);
	uint64_t ext = 0, stop;
	int rc = vs_bdev_block_status(lun->bdev, pstart << lun->block_shift,
	                                      (cap - pstart) << lun->block_shift, mapped, &ext);

	if (rc < 0)
		return rc;
	if (*mapped) {
		/* partial blocks count as mapped: round up */
		stop = pstart + ((ext + lun->block_size - 1) >> lun->block_shift);
		stop = (stop + per - 1) & ~(per - 1);
	} else {
		/* only whole deallocated blocks (or up to the capacity) */
		stop = pstart + (ext >> lun->block_shift);
		if (stop < cap)
			stop &= ~(per - 1);
		if (stop <= lba) {
			/* less than one physical block: that block is mapped */
			*mapped = true;
			stop = pstart + per;
		}
	}
	if (stop > cap)
		stop = cap;
	if (stop <= lba)
		stop = lba + 1;
	*end = stop;
	return 0;
}

static void lbas_answer(struct vdisk_cmd *c)
{
	struct vdisk_lun *lun = c->lun;
	struct vs_srb *srb = c->srb;
	struct lbas_buf b;
	uint64_t cap = vdisk_capacity(lun);
	uint64_t lba = c->lba;
	/* how many descriptors the allocation length has room for */
	uint32_t alloc = vd_get32(&srb->cdb[10]);
	uint32_t room = alloc > 8 ? (alloc - 8) / 16 : 0;

	if (room == 0)
		room = 1;
	if (room > LBAS_MAX_DESC)
		room = LBAS_MAX_DESC;
	b.n = 0;
	while (lba < cap) {
		bool mapped = true;
		uint64_t end;
		int rc = phys_extent(lun, lba, cap, &mapped, &end);

		if (rc < 0) {
			vs_vdisk_set_errno(srb, rc, false);
			vs_port_complete(srb);
			return;
		}
		if (b.n == room) {
			/* full: only merging into the last descriptor is still possible */
			uint8_t *p = &b.d[8 + 16 * (b.n - 1)];

			if ((p[12] & 0x0f) != (mapped ? 0 : 1))
				break;
		}
		lbas_add(&b, lba, end - lba, mapped ? 0 : 1);
		if (b.n > room) {
			b.n--;
			break;
		}
		lba = end;
	}
	lbas_reply(lun, srb, &b);
	vs_port_complete(srb);
}

void vs_vdisk_cmd_get_lba_status(struct vdisk_lun *lun, struct vs_srb *srb)
{
	struct vdisk_cmd *c = vs_vdisk_cmd_init(lun, srb);
	uint64_t cap = vdisk_capacity(lun);
	struct lbas_buf b;
	int rc;

	c->lba = vd_get64(&srb->cdb[2]);
	if (c->lba >= cap) {
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		vs_port_complete(srb);
		return;
	}
	if (!lun->caps.can_unmap || !vs_bdev_has_block_status(lun->bdev)) {
		/* fully provisioned: everything is mapped */
		b.n = 0;
		lbas_add(&b, c->lba, cap - c->lba, 0);
		lbas_reply(lun, srb, &b);
		vs_port_complete(srb);
		return;
	}
	/* block_status may block: run it on the port's worker pool */
	rc = vs_vdisk_cmd_queue_work(c, lbas_answer);
	if (rc < 0) {
		vs_vdisk_busy(srb);
		vs_port_complete(srb);
	}
}
