/* SPDX-License-Identifier: MIT */
/*
 * The I/O path: submit -> (hold) -> start_io -> vs_port_complete -> done.
 *
 * An SRB goes to its I_T nexus's queue on the LUN (queue.c): a task set of
 * its own (SPC-4 7.5.7 TST 001b), so submit and complete take only that
 * queue's mutex, which no other connection uses; the LUN-wide depth is an
 * atomic slot counter (depth.c).  No allocation; the latency histogram
 * takes the time at submit from stats_start_ns (on an event loop its
 * cached clock) and at completion from vs_now_fast_ns (mostly the TSC,
 * no clock_gettime); deadlines use the timer thread's coarse tick, so
 * they cost nothing here.
 *
 * When an SRB may start (task attributes, depth, busy, pause): start.h;
 * the dispatch loop that starts held ones: dispatch.c.
 */
#include <string.h>

#include "../util/vs_clock.h"
#include "vstor/loop.h"
#include "port_int.h"
#include "start.h"

/* `n` SRBs taken back for an abort request have had their done() called */
void vs_queue_abort_settled(struct port_queue *q, uint32_t n)
{
	pthread_mutex_lock(&q->lock);
	q->abort_pending -= n;
	if (q->waiters)
		pthread_cond_broadcast(&q->drain_cv);
	pthread_mutex_unlock(&q->lock);
}

static bool is_ua_exempt(uint8_t op)
{
	/* SPC-4 5.14 / SAM-5 5.14: INQUIRY and REPORT LUNS run normally with a
	 * unit attention pending; REQUEST SENSE reports it (handled below). */
	return op == INQUIRY || op == REPORT_LUNS;
}

/* Complete an SRB the port answered itself (never reached the miniport). */
void vs_port_finish_local(struct vs_srb *srb)
{
	if (srb->srb_status == VS_SRB_PENDING)
		srb->srb_status = VS_SRB_SUCCESS;
	srb->priv.state = SRB_DONE;
	srb->done(srb);
}

/*
 * When a command began, for the latency histogram.  Submitted on an event
 * loop (a fabric's connection): the loop's clock, read once per pass
 * (loop.h vs_loop_now_ns) -- the wake-up that received the command, so
 * the time it waited behind others of the same pass counts too, and no
 * clock is read at submit.  Elsewhere vs_now_fast_ns.  The end is always
 * vs_now_fast_ns (stats_end_ns): with the loop's clock there too, a
 * command completing in the pass it arrived in (a RAM LUN's) would count
 * as taking no time.  vs_now_fast_ns is CLOCK_MONOTONIC, as the loop's
 * clock is, mostly from the TSC (util/vs_clock.h): a vDSO clock_gettime
 * per SRB was 11 % of the stack's in-process cost.
 */
static inline uint64_t stats_start_ns(void)
{
	struct vs_loop *loop = vs_loop_current();

	return loop ? vs_loop_now_ns(loop) : vs_now_fast_ns();
}

static inline uint64_t stats_end_ns(void)
{
	return vs_now_fast_ns();
}

static void finish_with_stats(struct port_queue *q, struct vs_srb *srb)
{
	vs_queue_account_locked(q, srb, stats_end_ns());
	srb->priv.state = SRB_DONE;
}

/*
 * q->lock held.  The adapter cannot move this SRB (find_adapter's
 * limits).  More bytes than MAXIMUM TRANSFER LENGTH (VPD B0h) is answered
 * as SBC-3 6.5.3 says: ILLEGAL REQUEST, INVALID FIELD IN CDB.  More iovec
 * entries than max_sg_elements is the submitter's own mistake (it can size
 * its lists with vs_port_adapter_caps), so the same sense goes with
 * VS_SRB_ERROR to tell the fabric it was not the initiator's fault.
 */
static void over_adapter_limit(struct port_queue *q, struct vs_srb *srb)
{
	bool sg = srb->iovcnt > q->lun->port->max_sg;

	vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	if (sg)
		srb->srb_status = VS_SRB_ERROR;
	finish_with_stats(q, srb);
}

/* vs_port_submit without a port: the SRB still completes, once, as the
 * internal error it is (SPC-4: HARDWARE ERROR, INTERNAL TARGET FAILURE). */
static void submit_without_port(struct vs_srb *srb)
{
	vs_set_error("submit: port is NULL");
	srb->resid_flags = 0;
	srb->residual = 0;
	srb->xfer_len = 0;
	srb->priv.sense_desc = false;   /* no LUN to ask */
	vs_srb_set_sense(srb, SENSE_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE);
	srb->srb_status = VS_SRB_ERROR;
	srb->priv.state = SRB_DONE;
	srb->done(srb);
}

void vs_port_submit(struct vs_port *port, struct vs_srb *srb)
{
	struct vs_port_lun *lun;
	struct port_queue *q;
	uint8_t op;
	uint32_t nkey;
	uint16_t ua;

	if (!port_arg(srb, "submit: srb"))
		return;
	if (!srb->done) {
		vs_set_error("submit: srb.done must be set");
		return;
	}
	if (!port) {
		submit_without_port(srb);
		return;
	}
	op = srb->cdb[0];

	srb->srb_status = VS_SRB_PENDING;
	srb->scsi_status = SAM_STAT_GOOD;
	srb->sense_len = 0;
	srb->resid_flags = 0;
	srb->residual = 0;
	srb->xfer_len = 0;
	/* Sent again (a class driver's retry): the last attempt's loan ends. */
	if (srb->data_ref_release)
		vs_srb_release_data_ref(srb);
	srb->priv.flags = 0;
	srb->priv.escalation = 0;
	srb->priv.queue = NULL;
	/* an inner port keeps no latency of its own: its front port's is
	 * the initiator's */
	srb->priv.start_ns = port->inner ? 0 : stats_start_ns();
	nkey = srb->nexus ? srb->nexus->id + 1 : 0;
	SRB_NEXUS_KEY(srb) = nkey;
	/* Whatever answers it, the sense follows this LUN's D_SENSE
	 * (sense_format.c) */
	lun = port_lun_slot(port, srb->lun);
	srb->priv.sense_desc = port_lun_sense_desc(lun);

	if (srb->cdb_len == 0 || srb->cdb_len > VS_CDB_MAX) {
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_INVALID_COMMAND_OPERATION_CODE);
		vs_port_finish_local(srb);
		return;
	}
	if (op == REPORT_LUNS) {
		/* SPC-4 6.33: the port owns the LUN inventory; any LUN may be asked */
		vs_port_report_luns(port, srb);
		vs_port_finish_local(srb);
		return;
	}

	/* The nexus's task set on this LUN.  None: the LUN slot was never
	 * used while this nexus was open, so the LUN is not there for it. */
	q = lun ? lun_queue(lun, nkey) : NULL;
	if (!q) {
		vs_port_absent_lun(srb);
		vs_port_finish_local(srb);
		return;
	}
	pthread_mutex_lock(&q->lock);
	if (atomic_load_explicit(&lun->state, memory_order_relaxed) != LUN_ACTIVE) {
		pthread_mutex_unlock(&q->lock);
		vs_port_absent_lun(srb);
		vs_port_finish_local(srb);
		return;
	}
	srb->priv.queue = q;

	/* This nexus uses the LUN now (vs_port_lun_users: the control plane
	 * will not remove it from under a logged-in user without force). */
	if (nkey && !q->ua.used)
		q->ua.used = true;

	if (q->ua.n && !is_ua_exempt(op)) {
		vs_ua_pop_locked(q, &ua);
		if (op == REQUEST_SENSE)
			/* SPC-4 6.39: report the UA as parameter data and clear it */
			vs_port_sense_as_data(srb, SENSE_UNIT_ATTENTION, ua);
		else
			vs_srb_set_sense(srb, SENSE_UNIT_ATTENTION, ua);
		finish_with_stats(q, srb);
		pthread_mutex_unlock(&q->lock);
		srb->done(srb);
		return;
	}

	if (srb->data_length > port->max_xfer || srb->iovcnt > port->max_sg) {
		over_adapter_limit(q, srb);
		pthread_mutex_unlock(&q->lock);
		srb->done(srb);
		return;
	}

	/* The request timer starts now, whether the SRB goes to the miniport
	 * or waits: a LUN left busy or paused must not hold it forever. */
	srb->priv.deadline_ns = atomic_load_explicit(&port->tick_ms, memory_order_relaxed) +
	                        (srb->timeout_ms ? srb->timeout_ms : port->timeout_ms);
	if (q->held.n == 0 && queue_try_start(q, srb) == START_NOW) {
		make_active(q, srb);
		void *lext = lun->ext;
		pthread_mutex_unlock(&q->lock);
		lun->mp->start_io(lun->aext, lext, srb);
		return;
	}
	/* SAM-5 5.3.1: TASK SET FULL when this nexus's task set cannot take
	 * more (it has at least one task in it: max_held >= 1); BUSY while
	 * the miniport has declared the LUN busy */
	if (q->held.n >= port->max_held) {
		if (atomic_load_explicit(&lun->busy, memory_order_relaxed)) {
			vs_srb_set_status(srb, SAM_STAT_BUSY);
			q->st.busy++;
		} else {
			vs_srb_set_status(srb, SAM_STAT_TASK_SET_FULL);
			q->st.task_set_full++;
		}
		finish_with_stats(q, srb);
		pthread_mutex_unlock(&q->lock);
		srb->done(srb);
		return;
	}
	srb->priv.state = SRB_HELD;
	if (srb->task_attr == VS_TASK_HEAD_OF_QUEUE) {
		/* SAM-5 8.6.4: before every task still waiting */
		srb_list_push_front(&q->held, srb);
	} else {
		srb_list_append(&q->held, srb);
	}
	/* starts it if it can after all, or marks the queue starved when it
	 * waits for a depth slot, so a slot given back reaches it */
	vs_queue_run_unlock(q);
}

/*
 * Final status of an SRB the port asked back or takes back.  Flags set by
 * whoever asked first win; `default_status` (VS_SRB_BUS_RESET, _ABORTED,
 * _NO_DEVICE, VERDICT_TASK_ABORTED, or 0 = keep the miniport's) applies
 * when no flag is set.
 *
 * Aborted tasks follow SAM-5 5.6 with TAS=1 (what vdisk's control mode
 * page reports, SPC-4 7.5.7): a task aborted on behalf of its own I_T
 * nexus (ABORT TASK, ABORT TASK SET, CLEAR TASK SET, its own reset, I_T
 * nexus loss) ends without status (VS_SRB_ABORTED: the fabric sends none,
 * the TMF response speaks for it); a task aborted on behalf of another
 * nexus (LOGICAL UNIT / TARGET RESET, PREEMPT AND ABORT; with a task set
 * per nexus, TST 001b, CLEAR TASK SET reaches only the requester's)
 * completes with TASK ABORTED status, which the fabric sends
 * (VS_SRB_SUCCESS).  No COMMANDS CLEARED BY ANOTHER INITIATOR unit
 * attention: that is the TAS=0 alternative.
 */
void vs_srb_apply_verdict(struct vs_srb *srb, uint8_t default_status)
{
	uint8_t f = srb->priv.flags;
	uint8_t st = default_status;

	if (f & SRBF_TMF_ABORTED)
		st = VS_SRB_ABORTED;
	else if (f & SRBF_TAS_ABORTED)
		st = VERDICT_TASK_ABORTED;
	else if (f & SRBF_GONE)
		st = VS_SRB_NO_DEVICE;
	else if (f & SRBF_TIMED_OUT)
		st = VS_SRB_TIMEOUT;

	switch (st) {
	case VERDICT_TASK_ABORTED:
		vs_srb_set_status(srb, SAM_STAT_TASK_ABORTED);
		srb->xfer_len = 0;
		return;
	case VS_SRB_ABORTED:
	case VS_SRB_BUS_RESET:
		/* no status goes out; TASK ABORTED for a fabric that logs it */
		vs_srb_set_status(srb, SAM_STAT_TASK_ABORTED);
		break;
	case VS_SRB_NO_DEVICE:
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_LOGICAL_UNIT_NOT_SUPPORTED);
		break;
	case VS_SRB_TIMEOUT:
		/* SPC-5: ABORTED COMMAND / COMMAND TIMEOUT DURING PROCESSING (2Eh/02h) */
		vs_srb_set_sense(srb, SENSE_ABORTED_COMMAND, 0x2e02);
		break;
	case VERDICT_TIMEOUT_HELD:
		/* SPC-5: ABORTED COMMAND / COMMAND TIMEOUT BEFORE PROCESSING (2Eh/01h) */
		vs_srb_set_sense(srb, SENSE_ABORTED_COMMAND, 0x2e01);
		srb->srb_status = VS_SRB_TIMEOUT;
		srb->xfer_len = 0;
		return;
	default:
		return;
	}
	srb->srb_status = st;
	srb->xfer_len = 0;
}

/*
 * StorPortBusy's count: one more outstanding SRB completed; true when that
 * was the last one the miniport asked to wait for (the LUN is ready again).
 */
static bool busy_count_down(struct vs_port_lun *lun)
{
	uint32_t r;

	if (!atomic_load_explicit(&lun->busy, memory_order_relaxed))
		return false;
	r = atomic_load_explicit(&lun->busy_remaining, memory_order_relaxed);
	while (r)
		if (atomic_compare_exchange_weak_explicit(&lun->busy_remaining, &r, r - 1,
		                                          memory_order_relaxed,
		                                          memory_order_relaxed)) {
			if (r > 1)
				return false;
			atomic_store_explicit(&lun->busy, false, memory_order_relaxed);
			return true;
		}
	return false;
}

void vs_port_complete(struct vs_srb *srb)
{
	struct port_queue *q;
	struct vs_port_lun *lun;
	bool kick, slot, ready;
	uint64_t now;

	if (!port_arg(srb, "complete: srb"))
		return;
	q = srb->priv.queue;
	if (!q) {
		/* not an SRB the port gave this miniport */
		vs_set_error("complete: srb was not started by the port");
		return;
	}
	lun = q->lun;
	now = lun->port->inner ? 0 : stats_end_ns();

	pthread_mutex_lock(&q->lock);
	if (srb->priv.state == SRB_ZOMBIE) {
		/* the port already completed it (reset/removal): just let go */
		srb_list_remove(&q->zombies, srb);
		srb->priv.state = SRB_DONE;
		if (q->waiters)
			pthread_cond_broadcast(&q->drain_cv);
		pthread_mutex_unlock(&q->lock);
		vs_srb_unref(srb);
		return;
	}
	if (srb->priv.state != SRB_ACTIVE) {
		/* a second completion of the same SRB: a miniport bug; ignore */
		pthread_mutex_unlock(&q->lock);
		return;
	}
	srb_list_remove(&q->active, srb);
	q->in_flight--;
	if (srb->priv.flags & SRBF_ORDERED)
		q->ordered_active--;
	slot = srb->priv.flags & SRBF_SLOT;
	bool abort_req = srb->priv.flags & SRBF_ABORT_REQ;
	if (abort_req)
		vs_srb_apply_verdict(srb, 0);
	ready = busy_count_down(lun);
	if (srb->srb_status == VS_SRB_PENDING)
		srb->srb_status = VS_SRB_SUCCESS;
	vs_queue_account_locked(q, srb, now);
	srb->priv.state = SRB_DONE;
	if (q->waiters)
		pthread_cond_broadcast(&q->drain_cv);
	kick = q->held.n && !q->dispatching;
	pthread_mutex_unlock(&q->lock);

	srb->done(srb);
	vs_srb_unref(srb);                         /* the miniport's reference */
	if (abort_req)
		vs_queue_abort_settled(q, 1);      /* only now: a TMF answers after done() */
	if (slot)
		slot_release(lun, 1);           /* a starved queue first (depth.c) */
	if (ready)
		vs_lun_dispatch(lun);              /* every queue may go on */
	else if (kick)
		vs_queue_kick(q);
}
