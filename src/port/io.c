/* SPDX-License-Identifier: MIT */
/*
 * The I/O path: submit → (hold) → start_io → vs_port_complete → done.
 *
 * Only the LUN's own mutex is taken; no allocation; one CLOCK_MONOTONIC
 * read at submit and one at completion (latency histogram); deadlines use
 * the timer thread's coarse tick, so they cost nothing here.
 *
 * Queueing (SAM-5 8.6 task attributes, Storport queue depth):
 *  - at most lun->depth SRBs are ACTIVE in the miniport; later ones wait on
 *    the LUN's held queue in arrival order; beyond max_held → TASK SET FULL
 *    (or BUSY while the miniport has declared itself busy);
 *  - ORDERED starts only when no older task is active, and while it runs
 *    nothing else starts;
 *  - HEAD OF QUEUE starts at once, even beyond the depth limit, unless the
 *    port is paused or the LUN busy (then it waits at the front).
 *
 * Re-entrancy: start_io may call vs_port_complete inline, which would
 * start the next held SRB, which may complete inline...  Only one thread
 * runs a LUN's dispatch loop at a time (lun->dispatching); others leave the
 * work to it, so the recursion depth is bounded by two.
 */
#include <string.h>

#include "../util/vs_clock.h"
#include "port_int.h"

static bool can_start(const struct vs_port_lun *lun, const struct vs_srb *srb)
{
	if (lun->busy || atomic_load_explicit(&lun->port->hold, memory_order_relaxed))
		return false;
	if (srb->task_attr == VS_TASK_HEAD_OF_QUEUE)
		return true;
	if (lun->ordered_active)
		return false;
	if (srb->task_attr == VS_TASK_ORDERED)
		return lun->in_flight == 0;
	return lun->in_flight < lun->depth;
}

/* lun->lock held: hand the SRB to the miniport (caller calls start_io
 * unlocked).  Its deadline runs from submit, time spent held included. */
static void make_active(struct vs_port_lun *lun, struct vs_srb *srb)
{
	srb->priv.state = SRB_ACTIVE;
	if (srb->task_attr == VS_TASK_ORDERED) {
		srb->priv.flags |= SRBF_ORDERED;
		lun->ordered_active++;
	}
	lun->in_flight++;
	srb_list_append(&lun->active, srb);
	srb_ref(srb);                           /* the miniport's reference */
}

void lun_dispatch(struct vs_port_lun *lun)
{
	const struct vs_miniport *mp = lun->port->mp;
	void *aext = lun->port->adapter_ext;
	struct vs_srb *srb;

	pthread_mutex_lock(&lun->lock);
	if (lun->dispatching) {
		pthread_mutex_unlock(&lun->lock);
		return;
	}
	lun->dispatching = true;
	while ((srb = lun->held.head) && can_start(lun, srb)) {
		srb_list_remove(&lun->held, srb);
		make_active(lun, srb);
		void *lext = lun->ext;
		pthread_mutex_unlock(&lun->lock);
		mp->start_io(aext, lext, srb);
		pthread_mutex_lock(&lun->lock);
	}
	lun->dispatching = false;
	pthread_mutex_unlock(&lun->lock);
}

/* `n` SRBs taken back for an abort request have had their done() called */
void lun_abort_settled(struct vs_port_lun *lun, uint32_t n)
{
	pthread_mutex_lock(&lun->lock);
	lun->abort_pending -= n;
	if (lun->waiters)
		pthread_cond_broadcast(&lun->drain_cv);
	pthread_mutex_unlock(&lun->lock);
}

void port_dispatch_all(struct vs_port *port)
{
	uint32_t hi = atomic_load(&port->lun_hi);

	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		if (lun && atomic_load(&lun->state) == LUN_ACTIVE)
			lun_dispatch(lun);
	}
}

static bool is_ua_exempt(uint8_t op)
{
	/* SPC-4 5.14 / SAM-5 5.14: INQUIRY and REPORT LUNS run normally with a
	 * unit attention pending; REQUEST SENSE reports it (handled below). */
	return op == INQUIRY || op == REPORT_LUNS;
}

/* Complete an SRB the port answered itself (never reached the miniport). */
void port_finish_local(struct vs_srb *srb)
{
	if (srb->srb_status == VS_SRB_PENDING)
		srb->srb_status = VS_SRB_SUCCESS;
	srb->priv.state = SRB_DONE;
	srb->done(srb);
}

static void finish_with_stats(struct vs_port_lun *lun, struct vs_srb *srb)
{
	lun_account_locked(lun, srb, vs_now_ns());
	srb->priv.state = SRB_DONE;
}

/*
 * lun->lock held.  The adapter cannot move this SRB (find_adapter's
 * limits).  More bytes than MAXIMUM TRANSFER LENGTH (VPD B0h) is answered
 * as SBC-3 6.5.3 says: ILLEGAL REQUEST, INVALID FIELD IN CDB.  More iovec
 * entries than max_sg_elements is the submitter's own mistake (it can size
 * its lists with vs_port_adapter_caps), so the same sense goes with
 * VS_SRB_ERROR to tell the fabric it was not the initiator's fault.
 */
static void over_adapter_limit(struct vs_port_lun *lun, struct vs_srb *srb)
{
	bool sg = srb->iovcnt > lun->port->max_sg;

	vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	if (sg)
		srb->srb_status = VS_SRB_ERROR;
	finish_with_stats(lun, srb);
}

/* vs_port_submit without a port: the SRB still completes, once, as the
 * internal error it is (SPC-4: HARDWARE ERROR, INTERNAL TARGET FAILURE). */
static void submit_without_port(struct vs_srb *srb)
{
	vs_set_error("submit: port is NULL");
	srb->resid_flags = 0;
	srb->residual = 0;
	srb->xfer_len = 0;
	vs_srb_set_sense(srb, SENSE_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE);
	srb->srb_status = VS_SRB_ERROR;
	srb->priv.state = SRB_DONE;
	srb->done(srb);
}

void vs_port_submit(struct vs_port *port, struct vs_srb *srb)
{
	struct vs_port_lun *lun;
	uint8_t op;
	uint32_t nid;
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
	srb->priv.flags = 0;
	srb->priv.escalation = 0;
	srb->priv.lun = NULL;
	srb->priv.start_ns = vs_now_ns();
	SRB_NEXUS_KEY(srb) = srb->nexus ? srb->nexus->id + 1 : 0;
	nid = srb->nexus ? srb->nexus->id : UINT32_MAX;

	if (srb->cdb_len == 0 || srb->cdb_len > VS_CDB_MAX) {
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_INVALID_COMMAND_OPERATION_CODE);
		port_finish_local(srb);
		return;
	}
	if (op == REPORT_LUNS) {
		/* SPC-4 6.33: the port owns the LUN inventory; any LUN may be asked */
		port_report_luns(port, srb);
		port_finish_local(srb);
		return;
	}

	lun = port_lun_slot(port, srb->lun);
	if (!lun) {
		port_absent_lun(srb);
		port_finish_local(srb);
		return;
	}
	pthread_mutex_lock(&lun->lock);
	if (atomic_load_explicit(&lun->state, memory_order_relaxed) != LUN_ACTIVE) {
		pthread_mutex_unlock(&lun->lock);
		port_absent_lun(srb);
		port_finish_local(srb);
		return;
	}
	srb->priv.lun = lun;

	/* This nexus uses the LUN now (vs_port_lun_users: the control plane
	 * will not remove it from under a logged-in user without force).
	 * The slot is the nexus's UA slot, allocated at nexus open; written
	 * once, then only read. */
	if (nid < lun->ua_cap && !lun->ua[nid].used)
		lun->ua[nid].used = true;

	if (lun->ua_nonempty && nid < lun->ua_cap && lun->ua[nid].n && !is_ua_exempt(op)) {
		ua_pop_locked(lun, nid, &ua);
		if (op == REQUEST_SENSE)
			/* SPC-4 6.39: report the UA as parameter data and clear it */
			port_sense_as_data(srb, SENSE_UNIT_ATTENTION, ua);
		else
			vs_srb_set_sense(srb, SENSE_UNIT_ATTENTION, ua);
		finish_with_stats(lun, srb);
		pthread_mutex_unlock(&lun->lock);
		srb->done(srb);
		return;
	}

	if (srb->data_length > port->max_xfer || srb->iovcnt > port->max_sg) {
		over_adapter_limit(lun, srb);
		pthread_mutex_unlock(&lun->lock);
		srb->done(srb);
		return;
	}

	/* The request timer starts now, whether the SRB goes to the miniport
	 * or waits: a LUN left busy or paused must not hold it forever. */
	srb->priv.deadline_ns = atomic_load_explicit(&port->tick_ms, memory_order_relaxed) +
	                        (srb->timeout_ms ? srb->timeout_ms : port->timeout_ms);
	if (lun->held.n == 0 && can_start(lun, srb)) {
		make_active(lun, srb);
		void *lext = lun->ext;
		pthread_mutex_unlock(&lun->lock);
		port->mp->start_io(port->adapter_ext, lext, srb);
		return;
	}
	if (lun->held.n >= port->max_held) {
		if (lun->busy) {
			vs_srb_set_status(srb, SAM_STAT_BUSY);
			lun->st.busy++;
		} else {
			vs_srb_set_status(srb, SAM_STAT_TASK_SET_FULL);
			lun->st.task_set_full++;
		}
		finish_with_stats(lun, srb);
		pthread_mutex_unlock(&lun->lock);
		srb->done(srb);
		return;
	}
	srb->priv.state = SRB_HELD;
	if (srb->task_attr == VS_TASK_HEAD_OF_QUEUE) {
		/* SAM-5 8.6.4: before every task still waiting */
		srb_list_push_front(&lun->held, srb);
	} else {
		srb_list_append(&lun->held, srb);
	}
	bool kick = !lun->dispatching && can_start(lun, lun->held.head);
	pthread_mutex_unlock(&lun->lock);
	if (kick)
		lun_dispatch(lun);
}

/*
 * Final status of an SRB the port asked back or takes back.  Flags set by
 * whoever asked first win; `default_status` (VS_SRB_BUS_RESET, _ABORTED,
 * _NO_DEVICE, VERDICT_TASK_ABORTED, or 0 = keep the miniport's) applies
 * when no flag is set.
 *
 * Aborted tasks follow SAM-5 5.6 with TAS=1 (what vdisk's control mode
 * page reports, SPC-4 7.5.7): a task aborted on behalf of its own I_T
 * nexus (ABORT TASK, ABORT TASK SET, its own CLEAR TASK SET or reset, I_T
 * nexus loss) ends without status (VS_SRB_ABORTED: the fabric sends none,
 * the TMF response speaks for it); a task aborted on behalf of another
 * nexus (CLEAR TASK SET, LOGICAL UNIT / TARGET RESET, PREEMPT AND ABORT)
 * completes with TASK ABORTED status, which the fabric sends
 * (VS_SRB_SUCCESS).  No COMMANDS CLEARED BY ANOTHER INITIATOR unit
 * attention: that is the TAS=0 alternative.
 */
void srb_apply_verdict(struct vs_srb *srb, uint8_t default_status)
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

void vs_port_complete(struct vs_srb *srb)
{
	struct vs_port_lun *lun;
	bool kick;
	uint64_t now;

	if (!port_arg(srb, "complete: srb"))
		return;
	lun = srb->priv.lun;
	if (!lun) {
		/* not an SRB the port gave this miniport */
		vs_set_error("complete: srb was not started by the port");
		return;
	}
	now = vs_now_ns();

	pthread_mutex_lock(&lun->lock);
	if (srb->priv.state == SRB_ZOMBIE) {
		/* the port already completed it (reset/removal): just let go */
		srb_list_remove(&lun->zombies, srb);
		srb->priv.state = SRB_DONE;
		if (lun->waiters)
			pthread_cond_broadcast(&lun->drain_cv);
		pthread_mutex_unlock(&lun->lock);
		srb_unref(srb);
		return;
	}
	if (srb->priv.state != SRB_ACTIVE) {
		/* a second completion of the same SRB: a miniport bug; ignore */
		pthread_mutex_unlock(&lun->lock);
		return;
	}
	srb_list_remove(&lun->active, srb);
	lun->in_flight--;
	if (srb->priv.flags & SRBF_ORDERED)
		lun->ordered_active--;
	bool abort_req = srb->priv.flags & SRBF_ABORT_REQ;
	if (abort_req)
		srb_apply_verdict(srb, 0);
	if (lun->busy && lun->busy_remaining && --lun->busy_remaining == 0)
		lun->busy = false;
	if (srb->srb_status == VS_SRB_PENDING)
		srb->srb_status = VS_SRB_SUCCESS;
	lun_account_locked(lun, srb, now);
	srb->priv.state = SRB_DONE;
	if (lun->waiters)
		pthread_cond_broadcast(&lun->drain_cv);
	kick = lun->held.n && !lun->dispatching;
	pthread_mutex_unlock(&lun->lock);

	srb->done(srb);
	srb_unref(srb);                         /* the miniport's reference */
	if (abort_req)
		lun_abort_settled(lun, 1);      /* only now: a TMF answers after done() */
	if (kick)
		lun_dispatch(lun);
}
