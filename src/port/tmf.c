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

/* Abort the SRBs of `lun` selected by f/arg and wait until all completed. */
static void abort_and_wait(struct vs_port *port, struct vs_port_lun *lun,
                           srb_filter_fn f, const void *arg)
{
	lun_force_complete(lun, FORCE_HELD, f, arg, VS_SRB_ABORTED);
	if (lun_mark_abort(lun, f, arg, SRBF_TMF_ABORTED, true) == 0)
		return;
	if (!lun_wait_abort(lun, tmf_wait_ms(port)))
		lun_force_complete(lun, FORCE_ACTIVE, f, arg, VS_SRB_ABORTED);
	lun_dispatch(lun);
}

/* LOGICAL UNIT RESET on one LUN; lun_lock held by the caller */
static void lun_reset_begin(struct vs_port_lun *lun)
{
	lun_force_complete(lun, FORCE_HELD, NULL, NULL, VS_SRB_ABORTED);
	lun_mark_abort(lun, NULL, NULL, SRBF_TMF_ABORTED, false);
	pthread_mutex_lock(&lun->lock);
	lun->st.resets++;
	pthread_mutex_unlock(&lun->lock);
}

static void lun_reset_finish(struct vs_port *port, struct vs_port_lun *lun)
{
	if (!lun_wait_abort(lun, port->abort_timeout_ms))
		lun_force_complete(lun, FORCE_ACTIVE, NULL, NULL, VS_SRB_ABORTED);
}

static enum vs_tmf_response do_lun_reset(struct tmf_req *r, struct vs_port_lun *lun)
{
	struct vs_port *port = r->port;

	pthread_mutex_lock(&port->lun_lock);
	if (atomic_load(&lun->state) != LUN_ACTIVE) {
		pthread_mutex_unlock(&port->lun_lock);
		return VS_TMF_LUN_DOES_NOT_EXIST;
	}
	lun_reset_begin(lun);
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
			lun_reset_begin(lun);
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

static enum vs_tmf_response do_clear_task_set(struct tmf_req *r, struct vs_port_lun *lun)
{
	struct vs_port *port = r->port;
	uint32_t cap, *hit_ids = NULL, nhit = 0;

	/* SAM-5 7.5 / SPC-4 (TAS=0): other nexuses whose commands were cleared
	 * get COMMANDS CLEARED BY ANOTHER INITIATOR */
	pthread_mutex_lock(&lun->lock);
	cap = lun->held.n + lun->active.n;
	if (cap)
		hit_ids = calloc(cap, sizeof(*hit_ids));
	if (hit_ids) {
		struct srb_list *lists[2] = { &lun->held, &lun->active };
		for (int l = 0; l < 2; l++)
			for (struct vs_srb *s = lists[l]->head; s; s = s->priv.next) {
				uint32_t k = SRB_NEXUS_KEY(s);
				bool seen = k == 0 || k == r->nkey;
				for (uint32_t i = 0; i < nhit && !seen; i++)
					seen = hit_ids[i] == k;
				if (!seen)
					hit_ids[nhit++] = k;
			}
	}
	pthread_mutex_unlock(&lun->lock);

	abort_and_wait(port, lun, NULL, NULL);
	for (uint32_t i = 0; i < nhit; i++) {
		const struct vs_nexus *n = vs_port_nexus_by_id(port, hit_ids[i] - 1);
		if (n)
			vs_port_nexus_unit_attention(lun, n, ASC_COMMANDS_CLEARED_BY_ANOTHER_INITIATOR);
	}
	free(hit_ids);
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
		abort_and_wait(port, lun, filter_task, &key);
		return VS_TMF_COMPLETE;
	case VS_TMF_ABORT_TASK_SET:
		abort_and_wait(port, lun, filter_nexus, &r->nkey);
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

	if (!port || !done)
		return;
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

void vs_port_nexus_abort_all(struct vs_port *port, struct vs_nexus *nexus)
{
	uint32_t hi, key;

	if (!port || !nexus)
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
		lun_mark_abort(lun, filter_nexus, &key, SRBF_TMF_ABORTED, true);
		lun_dispatch(lun);
	}
}
