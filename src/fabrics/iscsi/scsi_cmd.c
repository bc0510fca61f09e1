/* SPDX-License-Identifier: MIT */
/*
 * SCSI Command PDUs → vs_srb and back (RFC 7143 §11.3, §11.4, §11.7, §11.8):
 * LUN and CDB (with the extended-CDB AHS), task attribute, expected data
 * transfer length, immediate and unsolicited data, R2T flow honouring
 * MaxBurstLength / MaxOutstandingR2T with DataSN / buffer offset checks,
 * Data-In PDUs of at most the initiator's MaxRecvDataSegmentLength with the
 * status in the last one when there is no sense data, SCSI Response PDUs
 * with sense data and residual counts.
 *
 * Data is received straight into the SRB's buffer and sent straight from
 * it -- or, for a read whose LUN lends its memory (a RAM disk), straight
 * from the disk, with no copy at all (srb.h data_ref); a task never
 * allocates.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vstor/scsi.h"
#include "conn.h"
#include "iscsi_target.h"
#include "log.h"

/*
 * Resources and the CmdSN window (RFC 7143 §3.2.2.1, §4.2.2.1).
 *
 * The connection never stops reading because a command lacks memory: the
 * Data-Out PDUs that would finish the commands holding the memory are
 * behind it in the same TCP stream, so waiting there can deadlock.
 * Instead every task slot comes with an SRB whose buffer holds the largest
 * transfer we accept, and the window we advertise (MaxCmdSN) only ever
 * covers slots we have:
 *   - a non-immediate command counts against the window (active_window)
 *     from admission until its status PDU is built;
 *   - MaxCmdSN = ExpCmdSN + (queue_depth - active_window) - 1, never lower
 *     than before; the initiator learns it only from a PDU fully written,
 *     and a task whose final PDU is fully written frees its slot before
 *     the connection reads again (vs_iscsi_tx_flush);
 *   - immediate commands have ISCSI_IMMEDIATE_TASKS slots of their own
 *     (more are rejected, §11.17.1 reason 6).
 * So ntasks = queue_depth + ISCSI_IMMEDIATE_TASKS always has a slot for a
 * command the window admitted.  The SRB pool has spares because an SRB is
 * back only once the miniport let go too; if even those are out (zombies
 * after resets), the command is answered BUSY (SAM-5 5.3.1), not held.
 */

/* SPC-4 Annex D: ABORTED COMMAND additional sense for data phase errors */
#define ASC_DATA_PHASE_ERROR        0x4b00
#define ASC_INVALID_TTT_RECEIVED    0x4b01
#define ASC_TOO_MUCH_WRITE_DATA     0x4b02
#define ASC_DATA_OFFSET_ERROR       0x4b05

static bool task_build(struct iscsi_conn *c, struct iscsi_tx *tx);
static void task_finished(struct iscsi_conn *c, struct iscsi_tx *tx);
static void task_done_msg(struct vs_loop_msg *m);

/* ---------------------------------------------------------------- task table */

void vs_iscsi_tasks_init(struct iscsi_conn *c, uint32_t qd)
{
	struct vs_port *port = c->sess->target->port;
	struct vs_adapter_caps caps = { 0 };

	c->ntasks = qd + ISCSI_IMMEDIATE_TASKS + ISCSI_TASK_MARGIN;
	c->tasks = calloc(c->ntasks, sizeof(*c->tasks));
	if (!c->tasks)
		return;
	for (uint32_t i = c->ntasks; i-- > 0;) {
		struct iscsi_task *t = &c->tasks[i];

		t->conn = c;
		t->index = (uint16_t)i;
		t->tx.build = task_build;
		t->tx.finished = task_finished;
		t->done_msg.fn = task_done_msg;
		t->next_free = c->free_tasks;
		c->free_tasks = t;
	}
	/* Address space only (the pool reserves it MAP_NORESERVE): a page
	 * costs memory once a transfer touches it. */
	c->pool = vs_srb_pool_create(port, c->ntasks + ISCSI_SRB_SPARE, ISCSI_MAX_XFER);
	/* The port refuses an SRB whose buffer is over the adapter's limit:
	 * never offer more than that, whatever the initiator expects. */
	c->xfer_cap = ISCSI_MAX_XFER;
	if (vs_port_adapter_caps(port, &caps) == 0 && caps.max_transfer_length &&
	    caps.max_transfer_length < c->xfer_cap)
		c->xfer_cap = caps.max_transfer_length;
}

void vs_iscsi_tasks_fini(struct iscsi_conn *c)
{
	if (c->pool)
		vs_srb_pool_destroy(c->pool);
	c->pool = NULL;
	free(c->tasks);
	c->tasks = NULL;
	c->free_tasks = NULL;
}

struct iscsi_task *vs_iscsi_task_find(struct iscsi_conn *c, uint32_t itt)
{
	for (struct iscsi_task *t = c->itt_hash[itt % ISCSI_ITT_BUCKETS]; t; t = t->hnext)
		if (t->itt == itt)
			return t;
	return NULL;
}

static void hash_remove(struct iscsi_conn *c, struct iscsi_task *t)
{
	struct iscsi_task **pp = &c->itt_hash[t->itt % ISCSI_ITT_BUCKETS];

	while (*pp && *pp != t)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = t->hnext;
	t->hnext = NULL;
}

/*
 * Late Data-Out (RFC 7143 §11.6.2: while a task management function is
 * under way the initiator goes on answering the R2Ts of the tasks it
 * affects; §11.3 / §13.10: unsolicited data follows a write without waiting
 * for the target).  A task that ends while its data may still be on the
 * wire -- aborted, answered before all its data arrived, or a write command
 * we refused -- leaves its ITT here, and Data-Out naming it is dropped
 * silently; Data-Out for any other unknown ITT is a protocol error the
 * initiator hears about (Reject, §11.17.1 "Invalid PDU field").
 */
static void quiet_add(struct iscsi_conn *c, uint32_t itt)
{
	c->quiet_itt[c->quiet_next] = itt;
	c->quiet_next = (c->quiet_next + 1) % ISCSI_QUIET_ITTS;
	if (c->quiet_n < ISCSI_QUIET_ITTS)
		c->quiet_n++;
}

static bool quiet_has(const struct iscsi_conn *c, uint32_t itt)
{
	if (itt == ISCSI_RESERVED_TAG)
		return false;   /* the mark of a forgotten slot */
	for (uint32_t i = 0; i < c->quiet_n; i++)
		if (c->quiet_itt[i] == itt)
			return true;
	return false;
}

/* A new command reuses the ITT: from now on Data-Out naming it is its own. */
static void quiet_forget(struct iscsi_conn *c, uint32_t itt)
{
	for (uint32_t i = 0; i < c->quiet_n; i++)
		if (c->quiet_itt[i] == itt)
			c->quiet_itt[i] = ISCSI_RESERVED_TAG;
}

/* The window slot frees as soon as the final status is built, so the
 * MaxCmdSN in that very PDU already lets the next command in. */
static void release_window(struct iscsi_conn *c, struct iscsi_task *t)
{
	if (t->in_window) {
		t->in_window = false;
		c->active_window--;
	}
	if (t->imm_counted) {
		t->imm_counted = false;
		c->active_immediate--;
	}
}

/*
 * After a long transfer, give the buffer's tail back (MADV_FREE: the kernel
 * reclaims it only under memory pressure, and a later write just keeps the
 * page).  Only when the miniport completed normally: a zombie SRB's I/O may
 * still be reading the buffer.
 */
static void trim_buffer(struct iscsi_task *t)
{
	struct vs_srb *srb = t->srb;
	uint8_t st = srb->srb_status;
	size_t cap = 0;
	uint8_t *buf;
	size_t end = ((size_t)t->buf_len + 4095u) & ~(size_t)4095u;

	if (t->buf_len <= ISCSI_BUF_KEEP || (st != VS_SRB_SUCCESS && st != VS_SRB_ERROR))
		return;
	buf = vs_srb_buffer(srb, &cap);
	if (!buf || buf != t->iov.iov_base || end > cap)
		return;         /* not the pool's (a LUN's own memory) */
	madvise(buf + ISCSI_BUF_KEEP, end - ISCSI_BUF_KEEP, MADV_FREE);
}

void vs_iscsi_task_release(struct iscsi_conn *c, struct iscsi_task *t)
{
	if (t->state == TASK_FREE)
		return;
	if (t->write && (t->quiet_late || t->discard_data))
		quiet_add(c, t->itt);
	hash_remove(c, t);
	release_window(c, t);
	if (t->abort_tmf) {
		t->abort_tmf->ref_task = NULL;
		t->abort_tmf = NULL;
	}
	if (t->srb) {
		trim_buffer(t);
		vs_srb_put(t->srb);
		t->srb = NULL;
	}
	t->state = TASK_FREE;
	t->next_free = c->free_tasks;
	c->free_tasks = t;
	c->active_tasks--;
	if (c->state == CONN_LOGOUT)
		vs_iscsi_logout_progress(c);
	else if (c->state != CONN_CLOSING)
		vs_iscsi_conn_resume_rx(c);
}

void vs_iscsi_task_abort_local(struct iscsi_conn *c, struct iscsi_task *t)
{
	if (t->state == TASK_FREE || t->state == TASK_SUBMITTED)
		return;
	if (t->state == TASK_DATA_OUT)
		t->quiet_late = true;
	t->state = TASK_DEAD;
	if (!t->tx.queued)
		vs_iscsi_task_release(c, t);
}

void vs_iscsi_tasks_release_all_local(struct iscsi_conn *c)
{
	for (uint32_t i = 0; c->tasks && i < c->ntasks; i++) {
		struct iscsi_task *t = &c->tasks[i];

		if (t->state != TASK_FREE && t->state != TASK_SUBMITTED && !t->tx.queued)
			vs_iscsi_task_release(c, t);
	}
}

/* ---------------------------------------------------------------- helpers */

static uint8_t cdb_len_for(const uint8_t *cdb)
{
	switch (cdb[0] >> 5) {            /* SPC-4 4.2.5.1 group code */
	case 0: return 6;
	case 1: case 2: return 10;
	case 4: return 16;
	case 5: return 12;
	default: return 16;
	}
}

static uint8_t task_attr(uint8_t flags)
{
	switch (flags & ISCSI_CMD_ATTR_MASK) {   /* §11.3.1 ATTR */
	case 2: return VS_TASK_ORDERED;
	case 3: return VS_TASK_HEAD_OF_QUEUE;
	case 4: return VS_TASK_ACA;
	default: return VS_TASK_SIMPLE;          /* 0 untagged, 1 simple */
	}
}

/* CHECK CONDITION made here, in the format the LUN's D_SENSE selects
 * (SPC-4 4.5.1), as the port and the miniport make theirs. */
static void set_local_check(struct iscsi_conn *c, struct iscsi_task *t, uint8_t key,
                            uint16_t asc_ascq)
{
	struct vs_sense s = { .key = key, .asc_ascq = asc_ascq };
	bool desc = vs_port_lun_sense_descriptor(c->sess->target->port, t->lun);

	t->local_status = true;
	t->status = SAM_STAT_CHECK_CONDITION;
	t->sense_len = (uint8_t)vs_sense_build(t->sense, sizeof(t->sense), desc, &s);
	t->sense_ptr = t->sense;
}

static uint32_t min3(uint32_t a, uint32_t b, uint32_t c)
{
	uint32_t m = a < b ? a : b;

	return m < c ? m : c;
}

/* ---------------------------------------------------------------- response */

/*
 * §11.4.5.2: the residual compares what the command transferred (SPDTL)
 * with the initiator's EDTL.  The miniport's residual compares it with
 * the buffer the SRB offered (buf_len), which may be less than EDTL; the
 * part of EDTL it never offered is underflow on top.  A command that
 * needed more than the offered buffer while the initiator expected more
 * still cannot be told truthfully (the data is cut short): it fails, as a
 * transfer over the MAXIMUM TRANSFER LENGTH does (SBC-3 6.5.3).
 */
static void set_residual(struct iscsi_conn *c, struct iscsi_task *t, const struct vs_srb *srb)
{
	uint32_t unoffered = t->edtl - t->buf_len;
	uint32_t under = unoffered;

	if (srb->resid_flags & VS_RESID_OVERFLOW) {
		if (unoffered) {
			set_local_check(c, t, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
			t->din_len = 0;
			return;
		}
		t->resid_flags = ISCSI_FLAG_OVERFLOW;
		t->residual = srb->residual;
		return;
	}
	if (srb->resid_flags & VS_RESID_UNDERFLOW)
		under += srb->residual;
	else if (t->read && t->din_len < t->buf_len)
		under += t->buf_len - t->din_len;   /* fewer bytes than offered, unsaid */
	if (under) {
		t->resid_flags = ISCSI_FLAG_UNDERFLOW;
		t->residual = under;
	}
}

static void prepare_response(struct iscsi_conn *c, struct iscsi_task *t)
{
	struct vs_srb *srb = t->srb;

	t->state = TASK_RESPONDING;
	t->din_base = srb && srb->data_ref ? srb->data_ref : t->iov.iov_base;
	t->din_offset = 0;
	t->din_len = 0;
	t->datasn = 0;
	t->status_sent = false;
	t->burst_left = c->p.max_burst_length;
	if (!t->local_status && srb) {
		t->status = srb->scsi_status;
		t->sense_len = srb->sense_len;
		t->sense_ptr = srb->sense;
		if (srb->srb_status != VS_SRB_SUCCESS && t->status == SAM_STAT_GOOD) {
			/* Ended by the port (e.g. timeout) without a SCSI status:
			 * ABORTED COMMAND lets the initiator retry. */
			set_local_check(c, t, SENSE_ABORTED_COMMAND, ASC_NO_ADDITIONAL_SENSE);
		}
		if (t->read && srb->data_dir == VS_DIR_FROM_DEVICE)
			t->din_len = srb->xfer_len < t->buf_len ? srb->xfer_len : t->buf_len;
		set_residual(c, t, srb);
	}
	if (t->sense_len > VS_SENSE_MAX)
		t->sense_len = VS_SENSE_MAX;
	/* §11.7.3: status may ride on the final Data-In only without sense. */
	t->piggyback = t->din_len > 0 && t->sense_len == 0 && t->status == SAM_STAT_GOOD;
	vs_iscsi_tx_queue(c, &t->tx);
}

static void build_r2t(struct iscsi_conn *c, struct iscsi_task *t, struct iscsi_r2t *r)
{
	uint8_t *hd = t->tx.hdr;

	memset(hd, 0, ISCSI_BHS_LEN);
	hd[0] = ISCSI_OP_R2T;
	hd[1] = ISCSI_FLAG_FINAL;
	iscsi_put_be64(hd + 8, t->lun_field);
	iscsi_put_be32(hd + 16, t->itt);
	iscsi_put_be32(hd + 20, r->ttt);
	vs_iscsi_fill_sn(c, hd, ISCSI_STATSN_CURRENT);   /* §11.8: StatSN not advanced */
	iscsi_put_be32(hd + 36, r->r2tsn);
	iscsi_put_be32(hd + 40, r->offset);
	iscsi_put_be32(hd + 44, r->len);
	vs_iscsi_tx_set_pdu(c, &t->tx, NULL, 0, 0, true);
	r->sent = true;
}

static void build_data_in(struct iscsi_conn *c, struct iscsi_task *t)
{
	uint8_t *hd = t->tx.hdr;
	uint32_t remaining = t->din_len - t->din_offset;
	uint32_t len = min3(remaining, c->p.max_xmit_dsl, t->burst_left);
	bool last = len == remaining;
	uint8_t flags = 0;
	/* sendmsg only reads it (the iovec type is not const) */
	struct iovec d = { (void *)(uintptr_t)(t->din_base + t->din_offset), len };
	struct vs_srb *srb = t->srb;
	uint32_t crc;
	/* A RAM disk's loan may come with its blocks' checksums (srb.h
	 * data_ref_crc32c): the data digest then costs no pass over the data,
	 * which is not in cache and which sendmsg reads once more anyway. */
	bool have_crc = c->ddigest && srb && srb->data_ref && srb->data_ref_crc32c &&
	                t->din_base == srb->data_ref &&
	                srb->data_ref_crc32c(srb, t->din_offset, len, &crc);

	memset(hd, 0, ISCSI_BHS_LEN);
	hd[0] = ISCSI_OP_DATA_IN;
	/* F closes each sequence of at most MaxBurstLength bytes (§11.7.1). */
	if (last || len == t->burst_left)
		flags |= ISCSI_FLAG_FINAL;
	iscsi_put_be64(hd + 8, t->lun_field);
	iscsi_put_be32(hd + 16, t->itt);
	iscsi_put_be32(hd + 20, ISCSI_RESERVED_TAG);
	iscsi_put_be32(hd + 36, t->datasn++);
	iscsi_put_be32(hd + 40, t->din_offset);
	if (last && t->piggyback) {
		flags |= ISCSI_FLAG_FINAL | ISCSI_FLAG_STATUS | t->resid_flags;
		hd[3] = t->status;
		iscsi_put_be32(hd + 44, t->resid_flags ? t->residual : 0);
		release_window(c, t);
		vs_iscsi_fill_sn(c, hd, ISCSI_STATSN_ADVANCE);
		t->status_sent = true;
	} else {
		vs_iscsi_fill_sn(c, hd, ISCSI_STATSN_NONE);
	}
	hd[1] = flags;
	vs_iscsi_tx_set_pdu_crc(c, &t->tx, &d, 1, len, true, have_crc ? &crc : NULL);
	t->din_offset += len;
	t->burst_left -= len;
	if (!t->burst_left)
		t->burst_left = c->p.max_burst_length;
}

static void build_response(struct iscsi_conn *c, struct iscsi_task *t)
{
	uint8_t *hd = t->tx.hdr;
	struct iovec d[2];
	uint32_t dlen = 0;

	memset(hd, 0, ISCSI_BHS_LEN);
	hd[0] = ISCSI_OP_SCSI_RESP;
	hd[1] = ISCSI_FLAG_FINAL | t->resid_flags;
	hd[2] = 0x00;                     /* Command Completed at Target */
	hd[3] = t->status;
	iscsi_put_be32(hd + 16, t->itt);
	/* §11.4.8: number of R2T and Data-In PDUs sent for this command. */
	iscsi_put_be32(hd + 36, t->read ? t->datasn : t->r2tsn);
	iscsi_put_be32(hd + 44, t->resid_flags ? t->residual : 0);
	if (t->sense_len) {
		/* §11.4.7.2: SenseLength, then the sense data. */
		iscsi_put_be16(t->sense_hdr, t->sense_len);
		d[0] = (struct iovec){ t->sense_hdr, 2 };
		d[1] = (struct iovec){ (void *)t->sense_ptr, t->sense_len };
		dlen = 2u + t->sense_len;
	}
	release_window(c, t);
	vs_iscsi_fill_sn(c, hd, ISCSI_STATSN_ADVANCE);
	vs_iscsi_tx_set_pdu(c, &t->tx, d, dlen ? 2 : 0, dlen, true);
	t->status_sent = true;
}

static bool task_build(struct iscsi_conn *c, struct iscsi_tx *tx)
{
	struct iscsi_task *t = ISCSI_CONTAINER_OF(tx, struct iscsi_task, tx);

	switch (t->state) {
	case TASK_DATA_OUT:
		for (unsigned i = 0; i < ISCSI_MAX_R2T; i++) {
			if (t->r2t[i].active && !t->r2t[i].sent) {
				build_r2t(c, t, &t->r2t[i]);
				tx->last = false;
				return true;
			}
		}
		return false;
	case TASK_RESPONDING:
		if (t->status_sent)
			return false;
		if (t->din_offset < t->din_len)
			build_data_in(c, t);
		else
			build_response(c, t);
		/* The status PDU ends the task: its slot is free once written. */
		tx->last = t->status_sent;
		return true;
	default:
		return false;
	}
}

static void task_finished(struct iscsi_conn *c, struct iscsi_tx *tx)
{
	struct iscsi_task *t = ISCSI_CONTAINER_OF(tx, struct iscsi_task, tx);

	if (t->state == TASK_DEAD || (t->state == TASK_RESPONDING && t->status_sent) ||
	    (c->state == CONN_CLOSING && t->state != TASK_SUBMITTED))
		vs_iscsi_task_release(c, t);
	if (c->state == CONN_CLOSING)
		vs_iscsi_conn_try_free(c);
}

/* ---------------------------------------------------------------- completion */

void vs_iscsi_task_srb_done(struct vs_srb *srb)
{
	struct iscsi_task *t = srb->done_ctx;

	/* Any thread; inline inside vs_port_submit too.  The loop runs it
	 * after the current event, so no handler is re-entered. */
	vs_loop_post(t->conn->loop->base, &t->done_msg);
}

static void task_done_msg(struct vs_loop_msg *m)
{
	struct iscsi_task *t = ISCSI_CONTAINER_OF(m, struct iscsi_task, done_msg);
	struct iscsi_conn *c = t->conn;
	uint8_t st = t->srb->srb_status;

	c->outstanding_srbs--;
	if (c->state == CONN_CLOSING) {
		vs_iscsi_task_release(c, t);
		vs_iscsi_conn_try_free(c);
		return;
	}
	if (st == VS_SRB_ABORTED || st == VS_SRB_BUS_RESET) {
		/* Ended by task management: the TMF response speaks for it
		 * (§11.6); no SCSI Response is sent. */
		t->state = TASK_DEAD;
		if (!t->tx.queued)
			vs_iscsi_task_release(c, t);
		return;
	}
	/* The port finished the command before an ABORT TASK reached it:
	 * the status goes out, so that TMF must answer "task does not
	 * exist" — even if the response is fully sent and the task released
	 * before the port reports the TMF done. */
	if (t->abort_tmf)
		t->abort_tmf->ref_answered = true;
	prepare_response(c, t);
}

static void task_submit(struct iscsi_conn *c, struct iscsi_task *t)
{
	struct vs_srb *srb = t->srb;

	srb->data_length = t->buf_len;
	srb->iov = &t->iov;
	srb->iovcnt = 1;
	srb->nexus = c->sess->nexus;
	srb->done = vs_iscsi_task_srb_done;
	srb->done_ctx = t;
	srb->submitter_ctx = t;
	/* Data-In may go straight from the LUN's memory (srb.h data_ref): we
	 * only hand it to sendmsg.  With data digests the digest is taken when
	 * the PDU is built and the bytes are copied when sendmsg runs, so a
	 * write to the same blocks in between (another initiator's, on a
	 * shared disk) would make the digest wrong: then only a loan nothing
	 * changes until we let go will do (VS_DATA_REF_STABLE), else a copy. */
	srb->accept_data_ref = !t->read ? 0
	                       : c->ddigest ? VS_DATA_REF_OK | VS_DATA_REF_STABLE
	                                    : VS_DATA_REF_OK;
	t->state = TASK_SUBMITTED;
	c->outstanding_srbs++;
	vs_port_submit(c->sess->target->port, srb);
}

/* ---------------------------------------------------------------- write data */

static struct iscsi_r2t *free_r2t(struct iscsi_task *t)
{
	for (unsigned i = 0; i < ISCSI_MAX_R2T; i++)
		if (!t->r2t[i].active)
			return &t->r2t[i];
	return NULL;
}

static unsigned active_r2ts(const struct iscsi_task *t)
{
	unsigned n = 0;

	for (unsigned i = 0; i < ISCSI_MAX_R2T; i++)
		n += t->r2t[i].active;
	return n;
}

/* Next step of a write: more R2Ts, or submit once every byte is in. */
static void write_progress(struct iscsi_conn *c, struct iscsi_task *t)
{
	bool queue = false;

	if (t->unsol_open)
		return;     /* R2Ts follow the unsolicited burst (in-order sequences) */
	/* Only what the command transfers (buf_len), even when EDTL is more. */
	while (t->next_r2t_offset < t->buf_len && active_r2ts(t) < c->p.max_outstanding_r2t) {
		struct iscsi_r2t *r = free_r2t(t);

		if (!r)
			break;
		memset(r, 0, sizeof(*r));
		r->active = true;
		r->ttt = (uint32_t)t->index << 16 | (++t->ttt_gen & 0xffffu);
		r->r2tsn = t->r2tsn++;
		r->offset = t->next_r2t_offset;
		r->len = t->buf_len - r->offset < c->p.max_burst_length ? t->buf_len - r->offset
		                                                         : c->p.max_burst_length;
		t->next_r2t_offset += r->len;
		queue = true;
	}
	if (queue) {
		vs_iscsi_tx_queue(c, &t->tx);
		return;
	}
	if (t->next_r2t_offset >= t->buf_len && active_r2ts(t) == 0)
		task_submit(c, t);
}

static void immediate_data_done(struct iscsi_conn *c)
{
	struct iscsi_task *t = c->rx_task;

	if (!t || t->state != TASK_DATA_OUT)
		return;
	t->received += t->cur_len;
	write_progress(c, t);
}

static void data_out_done(struct iscsi_conn *c)
{
	struct iscsi_task *t = c->rx_task;
	const struct iscsi_bhs *h = &c->rx_bhs;
	bool final = bhs_flags(h) & ISCSI_FLAG_FINAL;

	if (!t || t->state != TASK_DATA_OUT)
		return;
	t->received += t->cur_len;
	if (t->cur_r2t < 0) {
		t->unsol_next += t->cur_len;
		t->unsol_datasn++;
		if (final || t->unsol_next >= t->unsol_end) {
			/* The unsolicited burst is over; solicit the rest from
			 * where it actually ended (§11.7.1 F bit). */
			t->unsol_open = false;
			t->next_r2t_offset = t->unsol_next;
		}
	} else {
		struct iscsi_r2t *r = &t->r2t[t->cur_r2t];

		r->received += t->cur_len;
		r->exp_datasn++;
		if (r->received >= r->len)
			r->active = false;
	}
	write_progress(c, t);
}

/*
 * A Data-Out that breaks the sequence rules (§11.7.4 DataSN, §11.7.5
 * buffer offset, R2T length).  ERL 0 cannot recover the data, but the
 * connection and every other task can: the command ends here with CHECK
 * CONDITION / ABORTED COMMAND and the rest of its Data-Out is dropped.
 */
static void data_out_fail(struct iscsi_conn *c, struct iscsi_task *t, uint16_t asc, const char *why)
{
	vs_iscsi_log(ISCSI_LOG_WARN, "conn %llu %s: itt 0x%x: %s", (unsigned long long)c->id, c->peer,
	          t->itt, why);
	vs_iscsi_rx_sink_discard(c);
	set_local_check(c, t, SENSE_ABORTED_COMMAND, asc);
	t->discard_data = true;
	memset(t->r2t, 0, sizeof(t->r2t));
	prepare_response(c, t);
}

int vs_iscsi_data_out_header(struct iscsi_conn *c)
{
	const struct iscsi_bhs *h = &c->rx_bhs;
	uint32_t itt = bhs_itt(h);
	uint32_t ttt = bhs_be32(h, 20);
	uint32_t datasn = bhs_be32(h, 36);
	uint32_t offset = bhs_be32(h, 40);
	uint32_t dlen = c->rx_dlen;
	bool final = bhs_flags(h) & ISCSI_FLAG_FINAL;
	struct iscsi_task *t = vs_iscsi_task_find(c, itt);

	if (!t || t->state != TASK_DATA_OUT) {
		if (t ? t->write && (t->state == TASK_DEAD || t->discard_data || t->quiet_late)
		      : quiet_has(c, itt)) {
			/* Data for a command that is over but whose data was still
			 * on its way (see quiet_add): dropped without a word. */
			vs_iscsi_rx_sink_discard(c);
			return 0;
		}
		/* No task of that ITT, or one that takes no more data: nothing
		 * here may change because of it (§11.17.1 Invalid PDU field). */
		vs_iscsi_reject_current(c, ISCSI_REJECT_INVALID_PDU_FIELD, false,
		                     t ? "Data-Out for a task that expects no data"
		                       : "Data-Out for an unknown Initiator Task Tag");
		return 0;
	}
	if (ttt == ISCSI_RESERVED_TAG) {
		if (!t->unsol_open || dlen == 0 || dlen > t->unsol_end - t->unsol_next) {
			data_out_fail(c, t, ASC_TOO_MUCH_WRITE_DATA, "unsolicited Data-Out beyond the first burst");
			return 0;
		}
		if (datasn != t->unsol_datasn) {
			data_out_fail(c, t, ASC_DATA_PHASE_ERROR, "unsolicited Data-Out with a wrong DataSN");
			return 0;
		}
		if (offset != t->unsol_next) {
			data_out_fail(c, t, ASC_DATA_OFFSET_ERROR, "unsolicited Data-Out with a wrong offset");
			return 0;
		}
		t->cur_r2t = -1;
	} else {
		int idx = -1;

		for (unsigned i = 0; i < ISCSI_MAX_R2T; i++)
			if (t->r2t[i].active && t->r2t[i].ttt == ttt && t->r2t[i].sent)
				idx = (int)i;
		if (idx < 0) {
			data_out_fail(c, t, ASC_INVALID_TTT_RECEIVED, "Data-Out with an unknown Target Transfer Tag");
			return 0;
		}
		struct iscsi_r2t *r = &t->r2t[idx];

		/* §11.7.4 / §11.7.5: DataSN restarts at 0 per R2T; offsets are in
		 * order (DataPDUInOrder) within [offset, offset+len). */
		if (datasn != r->exp_datasn) {
			data_out_fail(c, t, ASC_DATA_PHASE_ERROR, "Data-Out with a wrong DataSN");
			return 0;
		}
		if (offset != r->offset + r->received) {
			data_out_fail(c, t, ASC_DATA_OFFSET_ERROR, "Data-Out with a wrong buffer offset");
			return 0;
		}
		if (dlen == 0 || dlen > r->len - r->received || (final && r->received + dlen != r->len)) {
			data_out_fail(c, t, ASC_TOO_MUCH_WRITE_DATA, "Data-Out length does not match the R2T");
			return 0;
		}
		t->cur_r2t = (int8_t)idx;
	}
	t->cur_len = dlen;
	c->rx_task = t;
	vs_iscsi_rx_sink_seg(c, (uint8_t *)t->iov.iov_base + offset, dlen, 0);
	c->rx_complete = data_out_done;
	return 0;
}

/* ---------------------------------------------------------------- command */

/* The CDB: 16 bytes in the BHS, the rest in an Extended CDB AHS
 * (§11.2.2.3).  -1 when it does not fit an SRB (a SCSI-level error). */
static int parse_cdb(struct iscsi_conn *c, const struct iscsi_ahs_info *ai, struct vs_srb *srb,
                     uint8_t *cdb_len)
{
	const uint8_t *cdb = c->rx_bhs.b + 32;
	uint8_t len = cdb_len_for(cdb);

	memcpy(srb->cdb, cdb, 16);
	if (cdb[0] == VARIABLE_LENGTH_CDB)
		len = (uint8_t)(8 + cdb[7] > VS_CDB_MAX ? VS_CDB_MAX : 8 + cdb[7]);
	if (ai->ext_cdb) {
		if (16u + ai->ext_cdb_len > VS_CDB_MAX)
			return -1;
		memcpy(srb->cdb + 16, ai->ext_cdb, ai->ext_cdb_len);
		len = (uint8_t)(16u + ai->ext_cdb_len);
	}
	*cdb_len = len;
	return 0;
}

/*
 * A write whose data is not all in its first PDU: solicit (R2T) only what
 * the command transfers, which the LUN's miniport reads from the CDB; the
 * initiator's EDTL may be larger (§11.4.5.2: the rest is underflow).  Its
 * unsolicited data (immediate, and Data-Out up to FirstBurstLength with
 * InitialR2T=No) may still run past that: it lands in the buffer, which
 * holds any first burst, and is not used.  False when the command needs
 * more than one buffer while the initiator expects that much as well
 * (SBC-3 6.5.3 MAXIMUM TRANSFER LENGTH): answered at once, nothing solicited.
 */
static bool write_buffer_fits(struct iscsi_conn *c, struct iscsi_task *t)
{
	uint64_t need = t->edtl;
	uint64_t spdtl;

	if (vs_port_data_out_length(c->sess->target->port, t->srb, &spdtl) == 0 && spdtl < need)
		need = spdtl;
	if (need > c->xfer_cap)
		return false;
	t->buf_len = (uint32_t)need;
	return true;
}

/* A write command refused or dropped before it became a task: its
 * unsolicited Data-Out (F=0, InitialR2T=No) is on its way regardless. */
static void refused_write(struct iscsi_conn *c, uint8_t flags, uint32_t itt)
{
	if ((flags & ISCSI_CMD_WRITE) && !(flags & ISCSI_FLAG_FINAL) && !c->p.initial_r2t)
		quiet_add(c, itt);
}

/* Reject a SCSI Command before it becomes a task.  §11.17.1: its CmdSN
 * is not considered received, so ExpCmdSN does not move. */
static void reject_cmd(struct iscsi_conn *c, uint8_t reason, const char *why)
{
	refused_write(c, bhs_flags(&c->rx_bhs), bhs_itt(&c->rx_bhs));
	vs_iscsi_reject_current(c, reason, false, why);
}

int vs_iscsi_scsi_cmd_header(struct iscsi_conn *c)
{
	const struct iscsi_bhs *h = &c->rx_bhs;
	uint8_t flags = bhs_flags(h);
	uint32_t itt = bhs_itt(h);
	uint32_t edtl = bhs_be32(h, 20);
	uint32_t dlen = c->rx_dlen;
	bool imm = bhs_immediate(h);
	bool rd = flags & ISCSI_CMD_READ, wr = flags & ISCSI_CMD_WRITE;
	struct iscsi_task *t;
	struct vs_srb *srb = NULL;
	uint8_t cdb_len = 0;
	struct iscsi_ahs_info ai;
	int rc;

	if (!vs_iscsi_session_check_cmdsn(c, h)) {
		refused_write(c, flags, itt);
		vs_iscsi_rx_sink_discard(c);     /* §3.2.2.1: silently ignored */
		return 0;
	}
	if (itt == ISCSI_RESERVED_TAG) {
		vs_iscsi_reject_current(c, ISCSI_REJECT_INVALID_PDU_FIELD, false, "SCSI Command with ITT 0xffffffff");
		return 0;
	}
	if (c->logout_requested) {
		/* The target is stopping and asked for a logout (§11.9.1): no new
		 * command starts.  A Reject does not acknowledge it -- its CmdSN
		 * is not even consumed (§11.17.1) -- so nothing is lost; the
		 * initiator issues it again elsewhere or after a new login. */
		reject_cmd(c, ISCSI_REJECT_WAITING_FOR_LOGOUT, "target stopping");
		return 0;
	}
	/* §11.2.2: a malformed, duplicated or unknown AHS leaves the command
	 * meaningless. */
	rc = vs_iscsi_ahs_parse(c->rx_ahs, (size_t)bhs_ahs_len(h) * 4, &ai);
	if (rc) {
		reject_cmd(c, (uint8_t)rc, "malformed AHS");
		return 0;
	}
	if (rd && wr) {
		reject_cmd(c, ISCSI_REJECT_CMD_NOT_SUPPORTED, "bidirectional command");
		return 0;
	}
	if ((edtl && !rd && !wr) || (dlen && !wr)) {
		reject_cmd(c, ISCSI_REJECT_PROTOCOL_ERROR, "SCSI Command data without R/W bit");
		return 0;
	}
	if (dlen && (!c->p.immediate_data || dlen > edtl || dlen > c->p.first_burst_length)) {
		reject_cmd(c, ISCSI_REJECT_PROTOCOL_ERROR,
		           "immediate data not allowed or longer than EDTL/FirstBurstLength");
		return 0;
	}
	if (vs_iscsi_task_find(c, itt)) {
		/* Not refused_write(): Data-Out naming this ITT belongs to the
		 * task that has it. */
		vs_iscsi_reject_current(c, ISCSI_REJECT_TASK_IN_PROGRESS, false, "ITT already in use");
		return 0;
	}
	if (imm && c->active_immediate >= ISCSI_IMMEDIATE_TASKS) {
		reject_cmd(c, ISCSI_REJECT_IMM_CMD_REJECT, "too many immediate commands");
		return 0;
	}
	/* The window guarantees a slot (see the top of this file); should the
	 * accounting ever be wrong, wait for a response to go out — which
	 * needs only our send side, never a later PDU — rather than fail. */
	if (!c->free_tasks) {
		vs_iscsi_log(ISCSI_LOG_WARN, "conn %llu %s: no free task slot for CmdSN %u (window %u)",
		          (unsigned long long)c->id, c->peer, bhs_be32(h, 24), c->active_window);
		return 1;
	}
	srb = vs_srb_get(c->pool);
	t = c->free_tasks;
	c->free_tasks = t->next_free;
	vs_iscsi_session_commit_cmdsn(c, h);
	quiet_forget(c, itt);

	t->state = TASK_DATA_OUT;
	t->immediate = imm;
	t->in_window = !imm;
	t->imm_counted = imm;
	if (imm)
		c->active_immediate++;
	else
		c->active_window++;
	c->active_tasks++;
	t->read = rd;
	t->write = wr;
	t->local_status = false;
	t->discard_data = false;
	t->quiet_late = false;
	t->itt = itt;
	t->cmdsn = bhs_be32(h, 24);
	t->lun_field = bhs_lun(h);
	t->lun = vs_iscsi_lun_to_scsi(t->lun_field);
	t->edtl = edtl;
	t->buf_len = edtl < c->xfer_cap ? edtl : c->xfer_cap;
	t->srb = srb;
	t->received = 0;
	t->r2tsn = 0;
	t->datasn = 0;
	t->status = SAM_STAT_GOOD;
	t->sense_len = 0;
	t->sense_ptr = NULL;
	t->resid_flags = 0;
	t->residual = 0;
	t->status_sent = false;
	t->cur_len = 0;
	memset(t->r2t, 0, sizeof(t->r2t));
	t->hnext = c->itt_hash[itt % ISCSI_ITT_BUCKETS];
	c->itt_hash[itt % ISCSI_ITT_BUCKETS] = t;

	if (!srb) {
		/* Every spare SRB is still held by a miniport (zombies after a
		 * reset): BUSY lets the initiator retry (SAM-5 5.3.1); its data is
		 * dropped.  Never stop reading for this. */
		vs_iscsi_log(ISCSI_LOG_DEBUG, "conn %llu: no SRB for itt 0x%x: BUSY", (unsigned long long)c->id,
		          itt);
		t->local_status = true;
		t->status = SAM_STAT_BUSY;
		t->discard_data = true;
		vs_iscsi_rx_sink_discard(c);
		prepare_response(c, t);
		return 0;
	}
	if (parse_cdb(c, &ai, srb, &cdb_len) < 0)
		goto invalid_cdb;
	srb->cdb_len = cdb_len;
	srb->task_attr = task_attr(flags);
	srb->data_dir = wr ? VS_DIR_TO_DEVICE : rd ? VS_DIR_FROM_DEVICE : VS_DIR_NONE;
	srb->lun = t->lun;
	srb->tag = itt;
	srb->nexus = c->sess->nexus;
	if (wr && dlen < edtl && !write_buffer_fits(c, t))
		goto invalid_cdb;
	{
		/* The LUN's own memory if it provides some (memory shared with
		 * the process serving it: the data is received into it and sent
		 * from it, never copied), else the pool's.  Unsolicited data may
		 * run past what the command transfers (write_buffer_fits), up to
		 * the first burst: the buffer holds that too. */
		uint32_t first = edtl < c->p.first_burst_length ? edtl : c->p.first_burst_length;
		size_t need = wr && first > t->buf_len ? first : t->buf_len;

		t->iov.iov_base = vs_port_srb_buffer(c->sess->target->port, srb, need);
		t->iov.iov_len = t->buf_len;
	}
	if (!wr) {
		vs_iscsi_rx_sink_discard(c);     /* dlen is 0 here */
		task_submit(c, t);
		return 0;
	}
	/* Write: §11.3 F bit = no unsolicited Data-Out follows; with
	 * InitialR2T=No the first burst may be sent without R2T (§13.10). */
	{
		uint32_t first = edtl < c->p.first_burst_length ? edtl : c->p.first_burst_length;

		t->unsol_open = !c->p.initial_r2t && !(flags & ISCSI_FLAG_FINAL) && dlen < first;
		t->unsol_end = t->unsol_open ? first : dlen;
		t->unsol_next = dlen;
		t->unsol_datasn = 0;
		t->next_r2t_offset = t->unsol_end;
	}
	t->cur_len = dlen;
	c->rx_task = t;
	vs_iscsi_rx_sink_seg(c, t->iov.iov_base, dlen, 0);
	c->rx_complete = immediate_data_done;
	return 0;

invalid_cdb:
	/* Answer at once; drop any data that comes with it. */
	set_local_check(c, t, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	t->discard_data = true;
	vs_iscsi_rx_sink_discard(c);
	prepare_response(c, t);
	return 0;
}
