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

static bool filter_nexus(const struct vs_srb *s, const void *arg)
{
	return SRB_NEXUS_KEY(s) == *(const uint32_t *)arg;
}

static uint32_t count_matching(struct vs_port_lun *lun, srb_filter_fn f, const void *arg)
{
	uint32_t n = 0;

	pthread_mutex_lock(&lun->lock);
	for (struct vs_srb *s = lun->held.head; s; s = s->priv.next)
		n += !f || f(s, arg);
	for (struct vs_srb *s = lun->active.head; s; s = s->priv.next)
		n += !f || f(s, arg);
	pthread_mutex_unlock(&lun->lock);
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
 * see srb_apply_verdict): the requesting nexus's own end without status,
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
 * lun_mark_abort).  Returns how many the miniport has. */
static uint32_t take_begin(struct vs_port_lun *lun, srb_filter_fn f, const void *arg, uint32_t by,
                           unsigned how)
{
	struct abort_sel own = { f, arg, by, true }, other = { f, arg, by, false };

	lun_force_complete(lun, FORCE_HELD, filter_sel, &own, VS_SRB_ABORTED);
	lun_force_complete(lun, FORCE_HELD, filter_sel, &other, VERDICT_TASK_ABORTED);
	return lun_mark_abort(lun, filter_sel, &own, SRBF_TMF_ABORTED, how) +
	       lun_mark_abort(lun, filter_sel, &other, SRBF_TAS_ABORTED, how);
}

/* Wait for the miniport; past ms the port gives them back itself (their
 * late completions only release them). */
static void take_finish(struct vs_port_lun *lun, uint32_t ms)
{
	if (!lun_wait_abort(lun, ms))
		lun_force_complete(lun, FORCE_ACTIVE, filter_taken, NULL, VS_SRB_ABORTED);
}

/* Abort the SRBs of `lun` selected by f/arg for nexus key `by` and wait
 * until all completed. */
static void abort_and_wait(struct vs_port *port, struct vs_port_lun *lun, srb_filter_fn f,
                           const void *arg, uint32_t by)
{
	if (take_begin(lun, f, arg, by, MARK_CALL_ABORT_SRB) == 0)
		return;
	take_finish(lun, tmf_wait_ms(port));
	lun_dispatch(lun);
}

/* LOGICAL UNIT RESET on one LUN for nexus key `by`; lun_lock held by the caller */
static void lun_reset_begin(struct vs_port_lun *lun, uint32_t by)
{
	take_begin(lun, NULL, NULL, by, 0);
	pthread_mutex_lock(&lun->lock);
	lun->st.resets++;
	pthread_mutex_unlock(&lun->lock);
}

static void lun_reset_finish(struct vs_port *port, struct vs_port_lun *lun)
{
	take_finish(lun, port->abort_timeout_ms);
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
	if (port->mp->reset)
		port->mp->reset(port->adapter_ext, lun->ext, VS_RESET_LUN);
	lun_reset_finish(port, lun);
	/* SAM-5 6.3.3: a logical unit reset establishes BUS DEVICE RESET
	 * FUNCTION OCCURRED for every I_T nexus, the requester's included
	 * (multipath initiators rely on seeing it on each path). */
	ua_all_nexus(lun, ASC_TARGET_RESET_OCCURRED, UINT32_MAX);
	pthread_mutex_unlock(&port->lun_lock);
	lun_dispatch(lun);
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
	if (port->mp->reset)
		port->mp->reset(port->adapter_ext, NULL, VS_RESET_TARGET);
	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		if (!lun || atomic_load(&lun->state) != LUN_ACTIVE)
			continue;
		lun_reset_finish(port, lun);
		/* SAM-5 6.3.6/6.3.7: warm reset → BUS DEVICE RESET FUNCTION
		 * OCCURRED, cold reset → POWER ON OCCURRED, on every I_T nexus
		 * (a hard reset of the target, as 6.3.3 for each LU) */
		ua_all_nexus(lun, cold ? ASC_POWER_ON_OCCURRED : ASC_TARGET_RESET_OCCURRED,
		             UINT32_MAX);
	}
	pthread_mutex_unlock(&port->lun_lock);
	port_dispatch_all(port);
	return VS_TMF_COMPLETE;
}

/* SAM-5 7.5: every task of the task set, whichever nexus sent it; with
 * TAS=1 the other nexuses' tasks complete with TASK ABORTED status (and no
 * COMMANDS CLEARED BY ANOTHER INITIATOR, which is for TAS=0). */
static enum vs_tmf_response do_clear_task_set(struct tmf_req *r, struct vs_port_lun *lun)
{
	abort_and_wait(r->port, lun, NULL, NULL, r->nkey);
	return VS_TMF_COMPLETE;
}

static enum vs_tmf_response run_tmf(struct tmf_req *r)
{
	struct vs_port *port = r->port;
	struct vs_port_lun *lun = NULL;
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

	switch (r->fn) {
	case VS_TMF_ABORT_TASK:
		if (count_matching(lun, filter_task, &key) == 0)
			return VS_TMF_TASK_DOES_NOT_EXIST;
		abort_and_wait(port, lun, filter_task, &key, r->nkey);
		return VS_TMF_COMPLETE;
	case VS_TMF_ABORT_TASK_SET:
		abort_and_wait(port, lun, filter_nexus, &r->nkey, r->nkey);
		return VS_TMF_COMPLETE;
	case VS_TMF_CLEAR_TASK_SET:
		return do_clear_task_set(r, lun);
	case VS_TMF_LOGICAL_UNIT_RESET:
		return do_lun_reset(r, lun);
	case VS_TMF_QUERY_TASK:
		return count_matching(lun, filter_task, &key) ? VS_TMF_SUCCEEDED
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
	if (workq_push(&port->tmfq, &r->work)) {
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
	if (!k.key || atomic_load(&lun->state) != LUN_ACTIVE)
		return 0;
	/* Called from a command of this LUN (keep): the timer's escalation
	 * would LUN-reset it too, so wait here and take them back ourselves. */
	if (take_begin(lun, filter_nexus_except, &k, by ? by->id + 1 : 0,
	               MARK_CALL_ABORT_SRB | MARK_NO_ESCALATION)) {
		take_finish(lun, port->abort_timeout_ms);
		lun_dispatch(lun);
	}
	return 0;
}

void vs_port_nexus_abort_all(struct vs_port *port, struct vs_nexus *nexus)
{
	uint32_t hi, key;

	if (!port_arg(port, "nexus_abort_all: port") || !port_arg(nexus, "nexus_abort_all: nexus"))
		return;
	key = nexus->id + 1;
	hi = atomic_load(&port->lun_hi);
	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		if (!lun || atomic_load(&lun->state) == LUN_ABSENT)
			continue;
		lun_force_complete(lun, FORCE_HELD, filter_nexus, &key, VS_SRB_ABORTED);
		/* the miniport's completions report ABORTED; the timer escalates
		 * if it never completes them */
		lun_mark_abort(lun, filter_nexus, &key, SRBF_TMF_ABORTED, MARK_CALL_ABORT_SRB);
		lun_dispatch(lun);
	}
}
