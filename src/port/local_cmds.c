/* SPDX-License-Identifier: MIT */
/*
 * Commands the port answers itself, without the miniport:
 *  - REPORT LUNS for any LUN (SPC-4 6.33): the port owns the LUN inventory;
 *  - INQUIRY / REQUEST SENSE / anything else addressed to a LUN that does
 *    not exist (SPC-4 6.6.2, 6.39; SAM-5 5.9.2 incorrect logical unit).
 */
#include <string.h>

#include "port_int.h"

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Data-in of `produced` bytes (already clipped to the allocation length)
 * was copied: set xfer_len and the residual against the expected length. */
static void data_in_result(struct vs_srb *srb, uint32_t produced)
{
	uint32_t xfer = produced < srb->data_length ? produced : srb->data_length;

	srb->xfer_len = xfer;
	if (srb->data_length > produced) {
		srb->resid_flags = VS_RESID_UNDERFLOW;
		srb->residual = srb->data_length - produced;
	} else if (produced > srb->data_length) {
		srb->resid_flags = VS_RESID_OVERFLOW;
		srb->residual = produced - srb->data_length;
	}
}

/* SAM-5 4.7.7.2 / 4.7.7.4: single level LUN in peripheral device (LUN < 256)
 * or flat space addressing (01b, 14-bit LUN) */
static void encode_lun(uint8_t out[8], uint64_t lun)
{
	memset(out, 0, 8);
	if (lun < 256) {
		out[1] = (uint8_t)lun;
	} else {
		out[0] = 0x40 | (uint8_t)((lun >> 8) & 0x3f);
		out[1] = (uint8_t)lun;
	}
}

void vs_port_report_luns(struct vs_port *port, struct vs_srb *srb)
{
	const uint8_t *cdb = srb->cdb;
	uint8_t select = cdb[2];
	uint32_t alloc = srb->cdb_len >= 10 ? get_be32(&cdb[6]) : 0;
	uint32_t hi, count = 0, limit;
	uint8_t hdr[8] = {0}, ent[8];

	if (srb->cdb_len < 12) {
		vs_srb_set_invalid_field(srb, true, 0, -1);
		return;
	}
	if (select > 0x02) {
		vs_srb_set_invalid_field(srb, true, 2, 7);
		return;
	}
	/* SPC-4 6.33: an allocation length below 16 is an error */
	if (alloc < 16) {
		vs_srb_set_invalid_field(srb, true, 6, 7);
		return;
	}
	/* SELECT REPORT 01h lists only well-known LUNs; vstor has none */
	hi = atomic_load(&port->lun_hi);
	if (select != 0x01) {
		for (uint32_t i = 0; i < hi; i++) {
			struct vs_port_lun *l = port_lun_slot(port, i);
			if (l && atomic_load(&l->state) == LUN_ACTIVE)
				count++;
		}
	}
	put_be32(hdr, count * 8);
	limit = alloc;
	vs_srb_copy_to_iov(srb, 0, hdr, limit < 8 ? limit : 8);
	if (select != 0x01) {
		uint32_t n = 0;
		for (uint32_t i = 0; i < hi && n < count; i++) {
			struct vs_port_lun *l = port_lun_slot(port, i);
			if (!l || atomic_load(&l->state) != LUN_ACTIVE)
				continue;
			uint32_t off = 8 + n * 8;
			n++;
			if (off >= limit)
				continue;
			encode_lun(ent, i);
			vs_srb_copy_to_iov(srb, off, ent, limit - off < 8 ? limit - off : 8);
		}
	}
	{
		uint32_t total = 8 + count * 8;
		data_in_result(srb, total < alloc ? total : alloc);
	}
	vs_srb_set_good(srb);
	/* SPC-4 5.14: REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED for this nexus */
	if (srb->nexus)
		vs_ua_clear_nexus_everywhere(port, srb->nexus->id, ASC_REPORTED_LUNS_DATA_HAS_CHANGED);
}

void vs_port_sense_as_data(struct vs_srb *srb, uint8_t key, uint16_t asc_ascq)
{
	uint8_t buf[32];
	size_t n;
	uint32_t alloc = srb->cdb_len >= 5 ? srb->cdb[4] : 0;

	if (srb->cdb[1] & 0x01)         /* DESC: descriptor format requested */
		n = vs_sense_descriptor(buf, sizeof(buf), key, asc_ascq);
	else
		n = vs_sense_fixed(buf, sizeof(buf), key, asc_ascq);
	if (n > alloc)
		n = alloc;
	vs_srb_copy_to_iov(srb, 0, buf, n);
	data_in_result(srb, (uint32_t)n);
	vs_srb_set_good(srb);
}

static void absent_inquiry(struct vs_srb *srb)
{
	uint8_t d[36];
	uint32_t alloc = srb->cdb_len >= 5 ? ((uint32_t)srb->cdb[3] << 8 | srb->cdb[4]) : 0;
	uint32_t n;

	if (srb->cdb[1] & 0x01) {
		/* no VPD pages for a LUN that is not there */
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_LOGICAL_UNIT_NOT_SUPPORTED);
		srb->srb_status = VS_SRB_NO_DEVICE;
		return;
	}
	memset(d, 0, sizeof(d));
	/* SPC-4 6.6.2: peripheral qualifier 011b (not capable of supporting a
	 * device here), peripheral device type 1Fh (unknown / no device type) */
	d[0] = 0x7f;
	d[2] = 0x06;                    /* VERSION: SPC-4 */
	d[3] = 0x02;                    /* RESPONSE DATA FORMAT 2 */
	d[4] = sizeof(d) - 5;           /* ADDITIONAL LENGTH */
	memcpy(&d[8], "VSTOR   ", 8);
	memcpy(&d[16], "NO LUN          ", 16);
	memcpy(&d[32], "0001", 4);
	n = alloc < sizeof(d) ? alloc : (uint32_t)sizeof(d);
	vs_srb_copy_to_iov(srb, 0, d, n);
	data_in_result(srb, n);
	vs_srb_set_good(srb);
}

void vs_port_absent_lun(struct vs_srb *srb)
{
	switch (srb->cdb[0]) {
	case INQUIRY:
		absent_inquiry(srb);
		return;
	case REQUEST_SENSE:
		/* SPC-4 6.39: sense data LOGICAL UNIT NOT SUPPORTED, GOOD status */
		vs_port_sense_as_data(srb, SENSE_ILLEGAL_REQUEST, ASC_LOGICAL_UNIT_NOT_SUPPORTED);
		return;
	default:
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_LOGICAL_UNIT_NOT_SUPPORTED);
		srb->srb_status = VS_SRB_NO_DEVICE;
		return;
	}
}
