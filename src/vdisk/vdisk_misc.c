/* SPDX-License-Identifier: MIT */
/*
 * Small commands: TEST UNIT READY, REQUEST SENSE, SEND DIAGNOSTIC, FORMAT
 * UNIT, and the glue to the reservation code in pr.c.
 */
#include <errno.h>
#include <string.h>

#include "pr.h"
#include "vdisk_int.h"

void vs_vdisk_cmd_test_unit_ready(struct vdisk_lun *lun, struct vs_srb *srb)
{
	(void)lun;
	vs_vdisk_good(srb);
	vs_port_complete(srb);
}

/*
 * SPC-4 6.39: sense is returned with each CHECK CONDITION (autosense), so
 * there is never a deferred condition to report.  What is left is the
 * LUN's state: a sanitize in progress (with its progress indication, SBC-4
 * 4.11.2), a missing medium or sanitize failure mode; otherwise NO SENSE.
 * In the format the DESC bit asks for.
 */
void vs_vdisk_cmd_request_sense(struct vdisk_lun *lun, struct vs_srb *srb)
{
	uint8_t d[VS_SENSE_MAX];
	struct vs_sense s;
	size_t len;

	vs_vdisk_pending_sense(lun, &s);
	len = vs_sense_build(d, sizeof(d), srb->cdb[1] & 0x01, &s);
	vs_vdisk_data_in(srb, d, (uint32_t)len, srb->cdb[4]);
	vs_port_complete(srb);
}

/* SPC-4 6.32 SEND DIAGNOSTIC: self-tests trivially pass; no diagnostic pages. */
void vs_vdisk_cmd_send_diagnostic(struct vdisk_lun *lun, struct vs_srb *srb)
{
	const uint8_t *cdb = srb->cdb;
	uint8_t code = cdb[1] >> 5;
	bool selftest = cdb[1] & 0x04;
	uint16_t plen = vd_get16(&cdb[3]);

	(void)lun;
	vs_vdisk_set_residual(srb, plen);
	if (selftest) {
		if (code)
			vs_srb_set_invalid_field(srb, true, 1, 7);
		else if (plen)
			vs_srb_set_invalid_field(srb, true, 3, 7);
		else
			vs_vdisk_good(srb);
	} else if (code) {
		/* 001b/010b background, 100b abort background, 101b/110b foreground */
		if (code == 3 || code == 7 || plen)
			vs_srb_set_invalid_field(srb, true, code == 3 || code == 7 ? 1 : 3, 7);
		else
			vs_vdisk_good(srb);
	} else if (plen) {
		/* a diagnostic page we do not support */
		vs_srb_set_invalid_field(srb, false, 0, 7);
	} else {
		vs_vdisk_good(srb);
	}
	vs_port_complete(srb);
}

/*
 * SBC-3 5.4 FORMAT UNIT with FMTDATA=0: the medium keeps its only format
 * (block size is fixed per LUN); contents are left as they are.
 */
void vs_vdisk_cmd_format_unit(struct vdisk_lun *lun, struct vs_srb *srb)
{
	if (vs_vdisk_check_writable(lun, srb))
		vs_vdisk_good(srb);
	vs_port_complete(srb);
}

/* ---- reservations ---- */

void vs_vdisk_cmd_pr_in(struct vdisk_lun *lun, struct vs_srb *srb)
{
	vs_vdisk_pr_in(lun->pr, srb);
	vs_port_complete(srb);
}

static void pr_out_job(struct vdisk_cmd *c)
{
	vs_vdisk_pr_out(c->lun->pr, c->srb);
	vs_port_complete(c->srb);
}

void vs_vdisk_cmd_pr_out(struct vdisk_lun *lun, struct vs_srb *srb)
{
	struct vdisk_cmd *c = vs_vdisk_cmd_init(lun, srb);

	/* may write the APTPL state file: run where blocking is allowed */
	if (vs_vdisk_cmd_queue_work(c, pr_out_job) < 0) {
		vs_vdisk_busy(srb);
		vs_port_complete(srb);
	}
}

void vs_vdisk_cmd_reserve(struct vdisk_lun *lun, struct vs_srb *srb)
{
	vs_vdisk_pr_reserve(lun->pr, srb);
	vs_port_complete(srb);
}

void vs_vdisk_cmd_release(struct vdisk_lun *lun, struct vs_srb *srb)
{
	vs_vdisk_pr_release(lun->pr, srb);
	vs_port_complete(srb);
}
