/* SPDX-License-Identifier: MIT */
/*
 * PERSISTENT RESERVE IN (SPC-4 6.15): READ KEYS, READ RESERVATION,
 * REPORT CAPABILITIES, READ FULL STATUS.  The reply is built under the state
 * lock (memory only, never blocks) and truncated to the ALLOCATION LENGTH;
 * the length fields always describe the whole reply (SPC-4 4.2.5.6).
 */
#include <string.h>

#include "pr_internal.h"

/* SPC-4 6.15.2 */
static size_t pr_in_read_keys(const struct pr_state *st, uint8_t *b)
{
	size_t off = 8;
	for (int i = 0; i < VDISK_PR_MAX_REGS; i++) {
		if (!st->regs[i].used)
			continue;
		pr_put_be64(b + off, st->regs[i].key);
		off += 8;
	}
	pr_put_be32(b, st->generation);
	pr_put_be32(b + 4, (uint32_t)(off - 8));
	return off;
}

/* SPC-4 6.15.3 */
static size_t pr_in_read_reservation(const struct pr_state *st, uint8_t *b)
{
	pr_put_be32(b, st->generation);
	if (!st->reserved) {
		pr_put_be32(b + 4, 0);
		return 8;
	}
	memset(b + 8, 0, 16);
	pr_put_be32(b + 4, 16);
	/* An all-registrants reservation reports key 0 (SPC-4 6.15.3.2). */
	uint64_t key = pr_type_all_reg(st->type) || st->holder < 0 ? 0 : st->regs[st->holder].key;
	pr_put_be64(b + 8, key);
	b[21] = (uint8_t)(PR_SCOPE_LU << 4 | st->type);
	return 24;
}

/* SPC-4 6.15.4 */
static size_t pr_in_report_caps(const struct vdisk_pr *pr, uint8_t *b)
{
	memset(b, 0, 8);
	pr_put_be16(b, 8);
	/*
	 * CRH=1: RESERVE/RELEASE follow the SPC-4 5.13.3 exceptions.
	 * SIP_C=0: SPEC_I_PT unsupported.  ATP_C=1: ALL_TG_PT supported.
	 * PTPL_C only when the LUN has a state file to persist to.
	 */
	b[2] = 0x10 | 0x04 | (pr->state_path ? 0x01 : 0x00);
	/* TMV=1, ALLOW COMMANDS 011b: TEST UNIT READY passes WE and EA
	 * reservations; MODE SENSE, READ BUFFER, RECEIVE DIAGNOSTIC RESULTS,
	 * REPORT SUPPORTED OPCODES/TMFs, READ DEFECT DATA pass WE. */
	b[3] = 0x80 | (0x3 << 4) | (pr->cur.aptpl ? 0x01 : 0x00);
	/* type mask: WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX | EX_AC_AR */
	b[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;
	b[5] = 0x01;
	return 8;
}

/* SPC-4 6.15.5 */
static size_t pr_in_read_full_status(const struct pr_state *st, uint8_t *b)
{
	size_t off = 8;
	for (int i = 0; i < VDISK_PR_MAX_REGS; i++) {
		const struct pr_reg *r = &st->regs[i];
		if (!r->used)
			continue;
		uint8_t *d = b + off;
		memset(d, 0, 24);
		pr_put_be64(d, r->key);
		bool holder = st->reserved && (pr_type_all_reg(st->type) || st->holder == i);
		d[12] = (uint8_t)((r->all_tg_pt ? 0x02 : 0) | (holder ? 0x01 : 0));
		if (holder)
			d[13] = (uint8_t)(PR_SCOPE_LU << 4 | st->type);
		if (!r->all_tg_pt)
			pr_put_be16(d + 18, r->rtpi);
		pr_put_be32(d + 20, r->tid_len);
		memcpy(d + 24, r->tid, r->tid_len);
		off += 24 + r->tid_len;
	}
	pr_put_be32(b, st->generation);
	pr_put_be32(b + 4, (uint32_t)(off - 8));
	return off;
}

void vs_vdisk_pr_in(struct vdisk_pr *pr, struct vs_srb *srb)
{
	uint8_t sa = srb->cdb[1] & 0x1f;
	uint32_t alloc = pr_get_be16(srb->cdb + 7);
	srb->xfer_len = 0;
	if (sa > PRIN_READ_FULL_STATUS) {
		vs_srb_set_invalid_field(srb, true, 1, 4);
		return;
	}

	pthread_mutex_lock(&pr->lock);
	size_t len;
	switch (sa) {
	case PRIN_READ_KEYS:
		len = pr_in_read_keys(&pr->cur, pr->in_buf);
		break;
	case PRIN_READ_RESERVATION:
		len = pr_in_read_reservation(&pr->cur, pr->in_buf);
		break;
	case PRIN_REPORT_CAPABILITIES:
		len = pr_in_report_caps(pr, pr->in_buf);
		break;
	default:
		len = pr_in_read_full_status(&pr->cur, pr->in_buf);
		break;
	}
	if (len > alloc)
		len = alloc;
	size_t copied = vs_srb_copy_to_iov(srb, 0, pr->in_buf, len);
	pthread_mutex_unlock(&pr->lock);
	vs_srb_set_good(srb);
	srb->xfer_len = (uint32_t)copied;
}
