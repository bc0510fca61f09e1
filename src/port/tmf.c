/* SPDX-License-Identifier: MIT */
/*
 * Task management functions (SAM-5 7) and connection-loss aborts.
 *
 * A TMF runs on the port's TMF thread (so vs_port_task_mgmt never blocks
 * and TMFs take effect in the order received).  Held SRBs are completed
 * ABORTED at once; SRBs the miniport has are marked, abort_srb/reset is
 * called, and the TMF's done() runs only after every affected SRB has
 * completed (RFC 7143 11.6.2).  If the miniport does not let go, the
 * request timer's escalation (reset.c) takes them back, so a TMF always
 * finishes.
 *
 * Scope (SPC-4 7.5.7: TST 001b, a task set per I_T nexus; SAM-5 7): ABORT
 * TASK, ABORT TASK SET, CLEAR TASK SET and QUERY TASK act on the
 * requesting nexus's task set, i.e. its queue on the LUN, alone; LOGICAL
 * UNIT RESET and the target resets act on every task set of the LUN(s).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "port_int.h"

struct tmf_req {
	struct vs_work work;            /* first: container_of by cast */
	struct vs_port *port;
	uint32_t nkey;                  /* requesting nexus id + 1 */
	enum vs_tmf fn;
	uint64_t lun;
	uint64_t tag;
	void (*done)(void *ctx, enum vs_tmf_response response);
	void *ctx;
};

struct task_key {
	uint32_t nkey;
	uint64_t tag;
};

static bool filter_task(const struct vs_srb *s, const void *arg)
{
	const struct task_key *k = arg;
	return SRB_NEXUS_KEY(s) == k->nkey && s->tag == k->tag;
}

static uint32_t count_matching(struct port_queue *q, srb_filter_fn f, const void *arg)
{
	uint32_t n = 0;

	pthread_mutex_lock(&q->lock);
	for (struct vs_srb *s = q->held.head; s; s = s->priv.next)
		n += !f || f(s, arg);
	for (struct vs_srb *s = q->active.head; s; s = s->priv.next)
		n += !f || f(s, arg);
	pthread_mutex_unlock(&q->lock);
	return n;
}

/* How long a TMF waits for the miniport before the port takes SRBs back
 * itself: the abort step, the LUN reset step, and some slack for the timer. */
static uint32_t tmf_wait_ms(const struct vs_port *port)
{
	return 2 * port->abort_timeout_ms + 4 * PORT_TICK_MS;
}

/*
 * The tasks one abort takes, split by whose they are (SAM-5 5.6, TAS=1,
 * see vs_srb_apply_verdict): the requesting nexus's own end without status,
 * another nexus's complete with TASK ABORTED.
 */
struct abort_sel {
	srb_filter_fn f;                /* which tasks; NULL: all */
	const void *arg;
	uint32_t by;                    /* requesting nexus key (id + 1, 0: none) */
	bool own;                       /* this pass: the requester's tasks, or the others' */
};

static bool filter_sel(const struct vs_srb *s, const void *arg)
{
	const struct abort_sel *a = arg;

	if (a->f && !a->f(s, a->arg))
		return false;
	return (SRB_NEXUS_KEY(s) == a->by) == a->own;
}

/* What an abort has marked (so a later SRB is not swept up with them). */
static bool filter_taken(const struct vs_srb *s, const void *arg)
{
	(void)arg;
	return (s->priv.flags & (SRBF_TMF_ABORTED | SRBF_TAS_ABORTED)) != 0;
}

/* Held tasks complete at once; the miniport's are marked (`how`: see
 * vs_lun_mark_abort).  `only`: the queue that holds every selected task, or
 * NULL for all queues of the LUN.  Returns how many the miniport has;
 * *held (if not NULL) gets how many held ones were completed. */
static uint32_t take_begin(struct vs_port_lun *lun, struct port_queue *only, srb_filter_fn f,
                           const void *arg, uint32_t by, unsigned how, uint32_t *held)
{
	struct abort_sel own = { f, arg, by, true }, other = { f, arg, by, false };
	uint32_t n = 0, h = 0;

	/* a queue's tasks are all of one nexus: one of the passes is empty */
	if (!only || only->nkey == by) {
		h += vs_lun_force_complete(lun, only, FORCE_HELD, filter_sel, &own, VS_SRB_ABORTED);
		n += vs_lun_mark_abort(lun, only, filter_sel, &own, SRBF_TMF_ABORTED, how);
	}
	if (!only || only->nkey != by) {
		h += vs_lun_force_complete(lun, only, FORCE_HELD, filter_sel, &other, VERDICT_TASK_ABORTED);
		n += vs_lun_mark_abort(lun, only, filter_sel, &other, SRBF_TAS_ABORTED, how);
	}
	if (held)
		*held = h;
	return n;
}

/* Wait for the miniport; past ms the port gives them back itself (their
 * late completions only release them). */
static void take_finish(struct vs_port_lun *lun, struct port_queue *only, uint32_t ms)
{
	if (!vs_lun_wait_abort(lun, only, ms))
		vs_lun_force_complete(lun, only, FORCE_ACTIVE, filter_taken, NULL, VS_SRB_ABORTED);
}

/* Abort the SRBs of the requester's queue `q` selected by f/arg and wait
 * until all completed.  Returns how many it took (held or marked): none
 * means every selected task had already completed on its own. */
static uint32_t abort_and_wait(struct vs_port *port, struct port_queue *q, srb_filter_fn f,
                               const void *arg)
{
	uint32_t held, marked = take_begin(q->lun, q, f, arg, q->nkey, MARK_CALL_ABORT_SRB, &held);

	if (marked == 0)
		return held;
	take_finish(q->lun, q, tmf_wait_ms(port));
	vs_queue_kick(q);
	return held + marked;
}

/* LOGICAL UNIT RESET on one LUN for nexus key `by`; lun_lock held by the caller */
static void lun_reset_begin(struct vs_port_lun *lun, uint32_t by)
{
	take_begin(lun, NULL, NULL, NULL, by, 0, NULL);
	atomic_fetch_add(&lun->resets, 1);
}

static void lun_reset_finish(struct vs_port *port, struct vs_port_lun *lun)
{
	take_finish(lun, NULL, port->abort_timeout_ms);
}

static enum vs_tmf_response do_lun_reset(struct tmf_req *r, struct vs_port_lun *lun)
{
	struct vs_port *port = r->port;

	pthread_mutex_lock(&port->lun_lock);
	if (atomic_load(&lun->state) != LUN_ACTIVE) {
		pthread_mutex_unlock(&port->lun_lock);
		return VS_TMF_LUN_DOES_NOT_EXIST;
	}
	lun_reset_begin(lun, r->nkey);
	if (lun->mp->reset)
		lun->mp->reset(lun->aext, lun->ext, VS_RESET_LUN);
	lun_reset_finish(port, lun);
	/* SAM-5 6.3.3: a logical unit reset establishes BUS DEVICE RESET
	 * FUNCTION OCCURRED for every I_T nexus, the requester's included
	 * (multipath initiators rely on seeing it on each path). */
	if (!port->inner)
		vs_ua_all_nexus(lun, ASC_TARGET_RESET_OCCURRED, UINT32_MAX);
	pthread_mutex_unlock(&port->lun_lock);
	vs_lun_dispatch(lun);
	return VS_TMF_COMPLETE;
}

static enum vs_tmf_response do_target_reset(struct tmf_req *r, bool cold)
{
	struct vs_port *port = r->port;
	uint32_t hi;

	pthread_mutex_lock(&port->lun_lock);
	hi = atomic_load(&port->lun_hi);
	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		if (lun && atomic_load(&lun->state) == LUN_ACTIVE)
			lun_reset_begin(lun, r->nkey);
	}
	vs_port_reset_all(port, VS_RESET_TARGET);
	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		if (!lun || atomic_load(&lun->state) != LUN_ACTIVE)
			continue;
		lun_reset_finish(port, lun);
		/* SAM-5 6.3.6/6.3.7: warm reset → BUS DEVICE RESET FUNCTION
		 * OCCURRED, cold reset → POWER ON OCCURRED, on every I_T nexus
		 * (a hard reset of the target, as 6.3.3 for each LU) */
		if (!port->inner)
			vs_ua_all_nexus(lun, cold ? ASC_POWER_ON_OCCURRED : ASC_TARGET_RESET_OCCURRED,
			             UINT32_MAX);
	}
	pthread_mutex_unlock(&port->lun_lock);
	vs_port_dispatch_all(port);
	return VS_TMF_COMPLETE;
}

static enum vs_tmf_response run_tmf(struct tmf_req *r)
{
	struct vs_port *port = r->port;
	struct vs_port_lun *lun = NULL;
	struct port_queue *q;
	struct task_key key = { r->nkey, r->tag };

	switch (r->fn) {
	case VS_TMF_TARGET_WARM_RESET:
		return do_target_reset(r, false);
	case VS_TMF_TARGET_COLD_RESET:
		return do_target_reset(r, true);
	case VS_TMF_CLEAR_ACA:
		return VS_TMF_NOT_SUPPORTED;        /* NACA is not supported (INQUIRY NormACA=0) */
	default:
		break;
	}
	lun = port_lun_slot(port, r->lun);
	if (!lun || atomic_load(&lun->state) != LUN_ACTIVE)
		return VS_TMF_LUN_DOES_NOT_EXIST;
	if (r->fn == VS_TMF_LOGICAL_UNIT_RESET)
		return do_lun_reset(r, lun);
	/* the requester's task set */
	q = lun_queue(lun, r->nkey);
	if (!q)
		return VS_TMF_LUN_DOES_NOT_EXIST;

	switch (r->fn) {
	case VS_TMF_ABORT_TASK:
		/* Judged by what the abort took, not by a look before it: a
		 * task that completes in between has had its status sent, and
		 * answering "function complete" would give it two outcomes
		 * (RFC 7143 §11.5.1: it no longer exists). */
		return abort_and_wait(port, q, filter_task, &key) ? VS_TMF_COMPLETE
		                                                  : VS_TMF_TASK_DOES_NOT_EXIST;
	case VS_TMF_ABORT_TASK_SET:
		abort_and_wait(port, q, NULL, NULL);
		return VS_TMF_COMPLETE;
	case VS_TMF_CLEAR_TASK_SET:
		/* SAM-5 7.5: every task in the task set the TST field names
		 * (SPC-4 7.5.7); with TST 001b that is the requester's own, so
		 * as ABORT TASK SET its tasks end without status and no other
		 * nexus is touched (no TASK ABORTED, no COMMANDS CLEARED BY
		 * ANOTHER INITIATOR).  LOGICAL UNIT RESET clears them all. */
		abort_and_wait(port, q, NULL, NULL);
		return VS_TMF_COMPLETE;
	case VS_TMF_QUERY_TASK:
		return count_matching(q, filter_task, &key) ? VS_TMF_SUCCEEDED
		                                             : VS_TMF_TASK_DOES_NOT_EXIST;
	default:
		return VS_TMF_NOT_SUPPORTED;
	}
}

static void tmf_work(struct vs_work *w)
{
	struct tmf_req *r = (struct tmf_req *)w;
	enum vs_tmf_response resp = run_tmf(r);

	r->done(r->ctx, resp);
	free(r);
}

void vs_port_task_mgmt(struct vs_port *port, struct vs_nexus *nexus, enum vs_tmf fn,
                       uint64_t lun, uint64_t tag,
                       void (*done)(void *ctx, enum vs_tmf_response response), void *ctx)
{
	struct tmf_req *r;

	if (!port_arg(done, "task_mgmt: done"))
		return;
	if (!port_arg(port, "task_mgmt: port")) {
		done(ctx, VS_TMF_REJECTED);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		done(ctx, VS_TMF_REJECTED);
		return;
	}
	r->work.fn = tmf_work;
	r->port = port;
	r->nkey = nexus ? nexus->id + 1 : 0;
	r->fn = fn;
	r->lun = lun;
	r->tag = tag;
	r->done = done;
	r->ctx = ctx;
	if (vs_workq_push(&port->tmfq, &r->work)) {
		free(r);
		done(ctx, VS_TMF_REJECTED);
	}
}

struct nexus_except {
	uint32_t key;
	const struct vs_srb *keep;
};

static bool filter_nexus_except(const struct vs_srb *s, const void *arg)
{
	const struct nexus_except *k = arg;

	return SRB_NEXUS_KEY(s) == k->key && s != k->keep;
}

int vs_port_lun_abort_nexus(struct vs_port_lun *lun, const struct vs_nexus *nexus,
                            const struct vs_nexus *by, const struct vs_srb *keep)
{
	struct nexus_except k = { 0, keep };
	struct vs_port *port;
	struct port_queue *q;

	if (!port_arg(lun, "abort_nexus: lun") || !port_arg(nexus, "abort_nexus: nexus"))
		return -EINVAL;
	port = lun->port;
	/* Still open?  Found by address, without reading a nexus that may be
	 * gone: a closed nexus's tasks were aborted at its close already. */
	pthread_mutex_lock(&port->nexus_lock);
	for (uint32_t id = 0; id < port->nexus_cap && !k.key; id++)
		if (port->nexus[id] && &port->nexus[id]->pub == nexus)
			k.key = id + 1;
	pthread_mutex_unlock(&port->nexus_lock);
	if (!k.key || atomic_load(&lun->state) != LUN_ACTIVE || !(q = lun_queue(lun, k.key)))
		return 0;
	/* Called from a command of this LUN (keep): the timer's escalation
	 * would LUN-reset it too, so wait here and take them back ourselves.
	 * The tasks are all in that nexus's queue. */
	if (take_begin(lun, q, filter_nexus_except, &k, by ? by->id + 1 : 0,
	               MARK_CALL_ABORT_SRB | MARK_NO_ESCALATION, NULL)) {
		take_finish(lun, q, port->abort_timeout_ms);
		vs_queue_kick(q);
	}
	return 0;
}

void vs_port_nexus_abort_all(struct vs_port *port, struct vs_nexus *nexus)
{
	uint32_t hi;

	if (!port_arg(port, "nexus_abort_all: port") || !port_arg(nexus, "nexus_abort_all: nexus"))
		return;
	hi = atomic_load(&port->lun_hi);
	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		struct port_queue *q = lun ? lun_queue(lun, nexus->id + 1) : NULL;

		/* its tasks are all in its own queue (the held ones complete at
		 * once and the queue is kicked; slots given back reach others) */
		if (!q || atomic_load(&lun->state) == LUN_ABSENT)
			continue;
		vs_lun_force_complete(lun, q, FORCE_HELD, NULL, NULL, VS_SRB_ABORTED);
		/* the miniport's completions report ABORTED; the timer escalates
		 * if it never completes them */
		vs_lun_mark_abort(lun, q, NULL, NULL, SRBF_TMF_ABORTED, MARK_CALL_ABORT_SRB);
	}
}
