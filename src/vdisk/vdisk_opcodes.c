/* SPDX-License-Identifier: MIT */
/*
 * REPORT SUPPORTED OPERATION CODES (SPC-4 6.35) and REPORT SUPPORTED TASK
 * MANAGEMENT FUNCTIONS (SPC-4 6.36), both answered from the command table
 * in vdisk_dispatch.c, so the report and the decoder agree by construction.
 */
#include <string.h>

#include "vdisk_int.h"

#define SUPPORT_NOT_SUPPORTED 0x1
#define SUPPORT_SUPPORTED     0x3

static bool listed(const struct vdisk_lun *lun, const struct vdisk_cmd_desc *d)
{
	return !d->available || d->available(lun);
}

/* Command timeouts descriptor (SPC-4 6.35.4). */
static uint32_t put_timeouts(uint8_t *p, const struct vdisk_cmd_desc *d)
{
	memset(p, 0, 12);
	vd_put16(&p[0], 0x0a);
	vd_put32(&p[4], d->timeout_nominal);
	vd_put32(&p[8], d->timeout_nominal * 2u);
	return 12;
}

/* CDB USAGE DATA: opcode, then the mask of each byte, with the service
 * action value in its field (SPC-4 6.35.3). */
static void put_usage(uint8_t *p, const struct vdisk_cmd_desc *d)
{
	p[0] = d->opcode;
	for (unsigned i = 1; i + 1 < d->cdb_len; i++)
		p[i] = d->mask[i];
	if (d->has_sa)
		p[1] |= d->sa;
	p[d->cdb_len - 1] = 0x04;       /* CONTROL: NACA is examined */
}

static uint32_t report_all(struct vdisk_lun *lun, bool rctd, uint8_t *buf)
{
	uint32_t len = 4;

	for (size_t i = 0; i < vs_vdisk_cmd_table_len; i++) {
		const struct vdisk_cmd_desc *d = &vs_vdisk_cmd_table[i];
		uint8_t *p = &buf[len];

		if (!listed(lun, d))
			continue;
		memset(p, 0, 8);
		p[0] = d->opcode;
		if (d->has_sa)
			vd_put16(&p[2], d->sa);
		p[5] = (uint8_t)((rctd ? 0x02 : 0) | (d->has_sa ? 0x01 : 0)); /* CTDP, SERVACTV */
		vd_put16(&p[6], d->cdb_len);
		len += 8;
		if (rctd)
			len += put_timeouts(&buf[len], d);
	}
	vd_put32(&buf[0], len - 4);
	return len;
}

static uint32_t report_one(struct vdisk_lun *lun, const struct vdisk_cmd_desc *d, bool rctd,
                           uint8_t *buf)
{
	uint32_t len = 4;

	memset(buf, 0, 4);
	if (!d || !listed(lun, d)) {
		buf[1] = SUPPORT_NOT_SUPPORTED;
		return 4;
	}
	buf[1] = (uint8_t)((rctd ? 0x80 : 0) | SUPPORT_SUPPORTED);
	vd_put16(&buf[2], d->cdb_len);
	put_usage(&buf[4], d);
	len += d->cdb_len;
	if (rctd)
		len += put_timeouts(&buf[len], d);
	return len;
}

void vs_vdisk_cmd_report_opcodes(struct vdisk_lun *lun, struct vs_srb *srb)
{
	const uint8_t *cdb = srb->cdb;
	bool rctd = cdb[2] & 0x80;
	uint8_t opt = cdb[2] & 0x07, op = cdb[3];
	uint16_t sa = vd_get16(&cdb[4]);
	uint32_t alloc = vd_get32(&cdb[6]);
	const struct vdisk_cmd_desc *d = NULL;
	bool sa_unknown, has_sa = vs_vdisk_opcode_has_sa(op);
	uint8_t buf[2048];
	uint32_t len;

	switch (opt) {
	case 0:
		len = report_all(lun, rctd, buf);
		break;
	case 1:         /* opcode only: invalid for commands with service actions */
		if (has_sa) {
			vs_srb_set_invalid_field(srb, true, 2, 2);
			goto out;
		}
		d = vs_vdisk_cmd_lookup(op, 0, &sa_unknown);
		len = report_one(lun, d, rctd, buf);
		break;
	case 2:         /* opcode + service action: invalid for commands without */
		d = vs_vdisk_cmd_lookup(op, (uint8_t)(sa & 0x1f), &sa_unknown);
		if ((d || sa_unknown) && !has_sa) {
			vs_srb_set_invalid_field(srb, true, 2, 2);
			goto out;
		}
		if (sa > 0x1f)
			d = NULL;
		len = report_one(lun, d, rctd, buf);
		break;
	case 3:         /* either form (SPC-4 r37) */
		d = vs_vdisk_cmd_lookup(op, has_sa ? (uint8_t)(sa & 0x1f) : 0, &sa_unknown);
		if (has_sa && sa > 0x1f)
			d = NULL;
		len = report_one(lun, d, rctd, buf);
		break;
	default:
		vs_srb_set_invalid_field(srb, true, 2, 2);
		goto out;
	}
	vs_vdisk_data_in(srb, buf, len, alloc);
out:
	vs_port_complete(srb);
}

/*
 * The port implements ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL
 * UNIT RESET, TARGET RESET and QUERY TASK (SAM-5 7).
 */
void vs_vdisk_cmd_report_tmfs(struct vdisk_lun *lun, struct vs_srb *srb)
{
	uint8_t d[16];
	bool repd = srb->cdb[2] & 0x80;
	uint32_t len = repd ? 16 : 4;

	(void)lun;
	memset(d, 0, sizeof(d));
	d[0] = 0x80 | 0x40 | 0x10 | 0x08 | 0x04 | 0x02; /* ATS ATSS CTSS LURS QTS TRS */
	if (repd)
		d[3] = 0x0c;                            /* ADDITIONAL DATA LENGTH */
	vs_vdisk_data_in(srb, d, len, vd_get32(&srb->cdb[6]));
	vs_port_complete(srb);
}
