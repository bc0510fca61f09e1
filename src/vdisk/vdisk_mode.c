/* SPDX-License-Identifier: MIT */
/*
 * MODE SENSE (6/10) and MODE SELECT (6/10) (SPC-4 6.11-6.14, 7.5; SBC-3 6.4).
 *
 * Pages: 03h format device and 04h rigid disk geometry (obsolete in SBC-3,
 * still read by some initiators; fixed values), 08h caching, 0Ah control,
 * 1Ch informational exceptions control.  No subpages, nothing savable.
 *
 * What a MODE SELECT may change (the "changeable" mask):
 *  - caching WCE, only when the backend really has a volatile write cache.
 *    With WCE=0 every write is sent with FUA, so "write cache disabled" is
 *    honest.  Without a cache WCE is 0 and fixed: there is nothing to enable.
 *  - control D_SENSE (this LUN's sense format, passed on to the port so
 *    its own sense follows it too) and SWP (software write protect: writes
 *    get DATA PROTECT / WRITE PROTECTED).
 * Everything else must be sent back unchanged, or the MODE SELECT fails
 * with INVALID FIELD IN PARAMETER LIST pointing at the byte and bit.
 */
#include <string.h>

#include "vdisk_int.h"

enum { PC_CURRENT = 0, PC_CHANGEABLE = 1, PC_DEFAULT = 2, PC_SAVED = 3 };

#define MP_FORMAT   0x03
#define MP_GEOMETRY 0x04
#define MP_CACHING  0x08
#define MP_CONTROL  0x0a
#define MP_IEC      0x1c
#define MP_ALL      0x3f

static const uint8_t page_order[] = { MP_FORMAT, MP_GEOMETRY, MP_CACHING, MP_CONTROL, MP_IEC };

/* A fake CHS geometry for the obsolete pages: 255 heads, 63 sectors/track. */
#define GEO_HEADS 255u
#define GEO_SPT   63u

void vs_vdisk_mode_init(struct vdisk_lun *lun)
{
	atomic_store(&lun->wce, lun->caps.has_write_cache);
	atomic_store(&lun->d_sense, false);
	atomic_store(&lun->swp, false);
	if (lun->plun)
		vs_port_lun_set_sense_format(lun->plun, false);
}

/* Build page `code` for page control `pc` into p; returns its length or 0. */
static uint32_t build_page(struct vdisk_lun *lun, uint8_t code, int pc, uint8_t *p)
{
	bool chg = pc == PC_CHANGEABLE, def = pc == PC_DEFAULT;

	switch (code) {
	case MP_FORMAT: {       /* SBC-3 obsolete; SBC-2 6.3.4 */
		memset(p, 0, 24);
		p[0] = MP_FORMAT;
		p[1] = 0x16;
		if (!chg) {
			vd_put16(&p[10], GEO_SPT);              /* SECTORS PER TRACK */
			vd_put16(&p[12], (uint16_t)(lun->block_size > 0xffff ? 0 : lun->block_size));
			vd_put16(&p[14], 1);                    /* INTERLEAVE */
			p[20] = 0x40;                           /* HSEC: hard sectored */
		}
		return 24;
	}
	case MP_GEOMETRY: {     /* SBC-3 obsolete; SBC-2 6.3.5 */
		uint64_t cyl = vdisk_capacity(lun) / (GEO_HEADS * GEO_SPT);

		memset(p, 0, 24);
		p[0] = MP_GEOMETRY;
		p[1] = 0x16;
		if (!chg) {
			if (cyl > 0xffffff)
				cyl = 0xffffff;
			p[2] = (uint8_t)(cyl >> 16);
			p[3] = (uint8_t)(cyl >> 8);
			p[4] = (uint8_t)cyl;
			p[5] = GEO_HEADS;
			vd_put16(&p[20], lun->caps.is_rotational ? 7200 : 0); /* MEDIUM ROTATION RATE */
		}
		return 24;
	}
	case MP_CACHING:        /* SBC-3 6.4.5 */
		memset(p, 0, 20);
		p[0] = MP_CACHING;
		p[1] = 0x12;
		if (chg)
			p[2] = lun->caps.has_write_cache ? 0x04 : 0;
		else if (def)
			p[2] = lun->caps.has_write_cache ? 0x04 : 0;
		else
			p[2] = atomic_load(&lun->wce) ? 0x04 : 0;
		return 20;
	case MP_CONTROL:        /* SPC-4 7.5.7 */
		memset(p, 0, 12);
		p[0] = MP_CONTROL;
		p[1] = 0x0a;
		if (chg) {
			p[2] = 0x04;                    /* D_SENSE */
			p[4] = 0x08;                    /* SWP */
			return 12;
		}
		/* TST 001b: a separate task set for each I_T nexus (the port
		 * keeps one queue per nexus: task attributes, TASK SET FULL and
		 * CLEAR TASK SET act per nexus, SAM-5 8.6 / 5.3.1 / 7.5);
		 * QUEUE ALGORITHM MODIFIER 1 (unrestricted reordering), QERR 00b,
		 * TAS=1 (tasks a reset or PREEMPT AND ABORT aborts for another
		 * nexus get TASK ABORTED status) */
		p[2] = 0x20;
		p[3] = 0x10;
		p[5] = 0x40;
		if (!def) {
			if (atomic_load(&lun->d_sense))
				p[2] |= 0x04;
			if (atomic_load(&lun->swp))
				p[4] |= 0x08;
		}
		return 12;
	case MP_IEC:            /* SPC-4 7.5.9: no failure prediction: DEXCPT=1 */
		memset(p, 0, 12);
		p[0] = MP_IEC;
		p[1] = 0x0a;
		if (!chg)
			p[2] = 0x08;
		return 12;
	}
	return 0;
}

void vs_vdisk_cmd_mode_sense(struct vdisk_lun *lun, struct vs_srb *srb)
{
	const uint8_t *cdb = srb->cdb;
	bool ms10 = cdb[0] == MODE_SENSE_10;
	bool dbd = cdb[1] & 0x08;
	bool llbaa = ms10 && (cdb[1] & 0x10);
	int pc = cdb[2] >> 6;
	uint8_t code = cdb[2] & 0x3f, sub = cdb[3];
	uint32_t alloc = ms10 ? vd_get16(&cdb[7]) : cdb[4];
	uint32_t hs = ms10 ? 8 : 4, bdlen = dbd ? 0 : (llbaa ? 16 : 8);
	uint8_t d[512];
	uint32_t len;
	uint64_t cap = vdisk_capacity(lun);

	if (pc == PC_SAVED) {
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_SAVING_PARAMETERS_NOT_SUPPORTED);
		goto out;
	}
	/* Subpage 00h, or FFh: "all subpages" (we only have subpage 0). */
	if (sub != 0 && sub != 0xff) {
		vs_srb_set_invalid_field(srb, true, 3, 7);
		goto out;
	}
	memset(d, 0, sizeof(d));
	len = hs;
	if (bdlen == 8) {
		/* SBC-3 6.4.2 short LBA block descriptor */
		vd_put32(&d[len], cap > 0xffffffffu ? 0xffffffffu : (uint32_t)cap);
		vd_put32(&d[len + 4], lun->block_size & 0xffffff);
		if (pc == PC_CHANGEABLE)
			memset(&d[len], 0, 8);
	} else if (bdlen == 16) {
		/* SBC-3 6.4.2 long LBA block descriptor */
		vd_put64(&d[len], cap);
		vd_put32(&d[len + 12], lun->block_size);
		if (pc == PC_CHANGEABLE)
			memset(&d[len], 0, 16);
	}
	len += bdlen;
	if (code == MP_ALL) {
		for (size_t i = 0; i < sizeof(page_order); i++)
			len += build_page(lun, page_order[i], pc, &d[len]);
	} else {
		uint32_t n = build_page(lun, code, pc, &d[len]);

		if (!n) {
			vs_srb_set_invalid_field(srb, true, 2, 5);
			goto out;
		}
		len += n;
	}
	/* Mode parameter header (SPC-4 7.5.4); DEVICE-SPECIFIC PARAMETER for a
	 * disk is WP and DPOFUA (SBC-3 6.4.1) */
	{
		uint8_t devspec = 0x10;

		if (lun->readonly || atomic_load(&lun->swp))
			devspec |= 0x80;
		if (ms10) {
			vd_put16(&d[0], (uint16_t)(len - 2));
			d[3] = devspec;
			d[4] = llbaa && bdlen ? 0x01 : 0;  /* LONGLBA */
			vd_put16(&d[6], (uint16_t)bdlen);
		} else {
			d[0] = (uint8_t)(len - 1);
			d[2] = devspec;
			d[3] = (uint8_t)bdlen;
		}
	}
	vs_vdisk_data_in(srb, d, len, alloc);
out:
	vs_port_complete(srb);
}

/* ---- MODE SELECT ---- */

static void mode_select_flush_done(struct vdisk_cmd *c)
{
	vs_vdisk_set_errno(c->srb, c->bio_err, true);
	vs_vdisk_finish(c);
}

static int highest_bit(uint8_t v)
{
	int b = 7;

	while (b > 0 && !(v & (1u << b)))
		b--;
	return b;
}

void vs_vdisk_cmd_mode_select(struct vdisk_lun *lun, struct vs_srb *srb)
{
	const uint8_t *cdb = srb->cdb;
	bool ms10 = cdb[0] == MODE_SELECT_10;
	uint32_t plen = ms10 ? vd_get16(&cdb[7]) : cdb[4];
	uint32_t hs = ms10 ? 8 : 4;
	uint8_t buf[1024];
	uint32_t got, bdlen, bdsize, off;
	bool wce = atomic_load(&lun->wce), d_sense = atomic_load(&lun->d_sense);
	bool swp = atomic_load(&lun->swp);
	bool changed = false, flush = false;

	vs_vdisk_set_residual(srb, plen);
	if (plen == 0) {
		vs_vdisk_good(srb);
		goto out;
	}
	if (!(cdb[1] & 0x10)) {
		/* PF=0: SCSI-1 vendor-specific page format, not supported */
		vs_srb_set_invalid_field(srb, true, 1, 4);
		goto out;
	}
	if (plen > sizeof(buf)) {
		vs_srb_set_invalid_field(srb, true, ms10 ? 7 : 4, 7);
		goto out;
	}
	got = vs_vdisk_data_out(srb, buf, plen);
	if (got < plen || plen < hs) {
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
		goto out;
	}
	/* Header: MODE DATA LENGTH is reserved for MODE SELECT; MEDIUM TYPE 0 */
	if (buf[ms10 ? 2 : 1] != 0) {
		vs_srb_set_invalid_field(srb, false, ms10 ? 2 : 1, 7);
		goto out;
	}
	bdlen = ms10 ? vd_get16(&buf[6]) : buf[3];
	bdsize = ms10 && (buf[4] & 0x01) ? 16 : 8;
	if (bdlen % bdsize) {
		vs_srb_set_invalid_field(srb, false, ms10 ? 6 : 3, 7);
		goto out;
	}
	if (hs + bdlen > plen) {
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
		goto out;
	}
	/* Block descriptors: the block size cannot change; NUMBER OF LOGICAL
	 * BLOCKS may be 0 (no change) or the current capacity. */
	for (off = hs; off < hs + bdlen; off += bdsize) {
		uint64_t cap = vdisk_capacity(lun);
		uint64_t nb = bdsize == 16 ? vd_get64(&buf[off]) : vd_get32(&buf[off]);
		uint32_t bl = bdsize == 16 ? vd_get32(&buf[off + 12]) : vd_get24(&buf[off + 5]);
		uint64_t capf = bdsize == 16 ? cap : (cap > 0xffffffffu ? 0xffffffffu : cap);

		if (nb != 0 && nb != capf) {
			vs_srb_set_invalid_field(srb, false, (uint16_t)off, 7);
			goto out;
		}
		if (bl != lun->block_size) {
			vs_srb_set_invalid_field(srb, false, (uint16_t)(off + (bdsize == 16 ? 12 : 5)), 7);
			goto out;
		}
	}
	/* Pages: validate all, then apply all. */
	for (off = hs + bdlen; off < plen;) {
		uint8_t cur[32], chg[32];
		uint8_t code = buf[off] & 0x3f;
		uint32_t n, plen_page;

		if (plen - off < 2) {
			vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
			goto out;
		}
		if (buf[off] & 0x40) {
			/* SPF: sub_page format; we have no subpages */
			vs_srb_set_invalid_field(srb, false, (uint16_t)off, 6);
			goto out;
		}
		n = build_page(lun, code, PC_CURRENT, cur);
		if (!n || code == MP_ALL) {
			vs_srb_set_invalid_field(srb, false, (uint16_t)off, 5);
			goto out;
		}
		build_page(lun, code, PC_CHANGEABLE, chg);
		plen_page = buf[off + 1];
		if (plen_page + 2 != n) {
			vs_srb_set_invalid_field(srb, false, (uint16_t)(off + 1), 7);
			goto out;
		}
		if (off + n > plen) {
			vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
			goto out;
		}
		/* byte 0 bit 7 (PS) is reserved in MODE SELECT: ignored */
		for (uint32_t i = 2; i < n; i++) {
			uint8_t diff = (uint8_t)((buf[off + i] ^ cur[i]) & ~chg[i]);

			if (diff) {
				vs_srb_set_invalid_field(srb, false, (uint16_t)(off + i), highest_bit(diff));
				goto out;
			}
		}
		if (code == MP_CACHING) {
			wce = buf[off + 2] & 0x04;
		} else if (code == MP_CONTROL) {
			d_sense = buf[off + 2] & 0x04;
			swp = buf[off + 4] & 0x08;
		}
		off += n;
	}
	pthread_mutex_lock(&lun->mode_lock);
	if (wce != atomic_load(&lun->wce)) {
		changed = true;
		/* Turning the write cache off: what it holds must reach the medium */
		flush = !wce;
		atomic_store(&lun->wce, wce);
	}
	if (d_sense != atomic_load(&lun->d_sense)) {
		changed = true;
		atomic_store(&lun->d_sense, d_sense);
		/* SPC-4 4.5.1: every sense of this LUN, the port's included, in
		 * the format D_SENSE selects from the next command on */
		if (lun->plun)
			vs_port_lun_set_sense_format(lun->plun, d_sense);
	}
	if (swp != atomic_load(&lun->swp)) {
		changed = true;
		atomic_store(&lun->swp, swp);
	}
	pthread_mutex_unlock(&lun->mode_lock);
	/* SPC-4 7.5.1: MODE PARAMETERS CHANGED for every other I_T nexus */
	if (changed && lun->plun)
		vs_port_lun_unit_attention(lun->plun, ASC_MODE_PARAMETERS_CHANGED, srb->nexus);
	vs_vdisk_good(srb);
	srb->xfer_len = plen;
	if (flush && lun->caps.can_flush) {
		struct vdisk_cmd *c = vs_vdisk_cmd_init(lun, srb);

		c->dir_write = 1;
		vs_vdisk_submit_bio(c, VS_BIO_FLUSH, 0, 0, NULL, 0, 0, mode_select_flush_done);
		return;
	}
out:
	vs_port_complete(srb);
}
