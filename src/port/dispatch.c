/* SPDX-License-Identifier: MIT */
/*
 * The dispatch loop that starts a queue's held SRBs in order, by the rules
 * start.h applies to every SRB (SAM-5 8.6 task attributes within its
 * queue, the LUN-wide depth, busy and pause):
 *
 *  - at most lun->depth SRBs of the LUN are ACTIVE in the miniport
 *    (depth.c); later ones wait on their queue's held list in arrival
 *    order;
 *  - ORDERED starts only when no older task of its queue is active, and
 *    while it runs nothing else of its queue starts (SAM-5 8.6.3);
 *  - HEAD OF QUEUE starts at once, beyond the depth limit and past an
 *    ORDERED task, unless the port is paused or the LUN busy (then it
 *    waits at the front of its queue, SAM-5 8.6.4).
 *
 * Re-entrancy: start_io may call vs_port_complete inline, which may start
 * the next held SRB, which may complete inline...  Only one thread runs a
 * queue's dispatch loop at a time (q->dispatching); others leave the work
 * to it.  And a queue kicked while this thread is already inside a
 * dispatch loop (a slot handed to another nexus's queue, vs_port_ready
 * from start_io) is put on this thread's kick list and run when its
 * outermost loop ends, so the recursion depth stays bounded by two
 * whatever the number of queues.
 */
#include "port_int.h"
#include "start.h"

static _Thread_local unsigned tl_running;          /* dispatch loops on this thread's stack */
static _Thread_local bool tl_draining;
static _Thread_local struct port_queue *tl_kicks;

static void drain_kicks(void)
{
	struct port_queue *q;

	if (tl_draining)
		return;                 /* the loop below, further up this stack */
	tl_draining = true;
	while ((q = tl_kicks)) {
		pthread_mutex_lock(&q->lock);
		tl_kicks = q->kick_next;
		q->kick_next = NULL;
		q->kick_queued = false;
		vs_queue_run_unlock(q);
	}
	tl_draining = false;
}

void vs_queue_run_unlock(struct port_queue *q)
{
	const struct vs_miniport *mp = q->lun->mp;
	void *aext = q->lun->aext;
	enum start_verdict v = START_WAIT;
	struct vs_srb *srb;
	uint32_t give_back = 0;

	if (q->dispatching) {
		pthread_mutex_unlock(&q->lock);
		return;
	}
	q->dispatching = true;
	tl_running++;
	while ((srb = q->held.head)) {
		v = queue_try_start(q, srb);
		if (v == START_NEED_SLOT && vs_slot_starve(q)) {
			srb->priv.flags |= SRBF_SLOT;
			v = START_NOW;
		}
		if (v != START_NOW)
			break;
		srb_list_remove(&q->held, srb);
		make_active(q, srb);
		void *lext = q->lun->ext;
		pthread_mutex_unlock(&q->lock);
		mp->start_io(aext, lext, srb);
		pthread_mutex_lock(&q->lock);
	}
	/* still waiting for a slot: stay starved (a slot comes as a credit);
	 * otherwise give back what was handed to it and not used */
	if (!srb || v != START_NEED_SLOT)
		give_back = vs_slot_unstarve(q);
	q->dispatching = false;
	pthread_mutex_unlock(&q->lock);
	if (give_back)
		slot_release(q->lun, give_back);        /* kicks are deferred: still running */
	if (--tl_running == 0)
		drain_kicks();
}

void vs_queue_kick(struct port_queue *q)
{
	pthread_mutex_lock(&q->lock);
	if (q->dispatching) {
		/* its loop looks again before it stops */
		pthread_mutex_unlock(&q->lock);
		return;
	}
	if (tl_running || tl_draining) {
		if (!q->kick_queued) {
			q->kick_queued = true;
			q->kick_next = tl_kicks;
			tl_kicks = q;
		}
		pthread_mutex_unlock(&q->lock);
		return;
	}
	vs_queue_run_unlock(q);
}

void vs_lun_dispatch(struct vs_port_lun *lun)
{
	uint32_t n = vs_lun_queue_count(lun);

	for (uint32_t i = 0; i < n; i++) {
		struct port_queue *q = lun_queue_at(lun, i);
		if (q)
			vs_queue_kick(q);
	}
}

void vs_port_dispatch_all(struct vs_port *port)
{
	uint32_t hi = atomic_load(&port->lun_hi);

	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		if (lun && atomic_load(&lun->state) == LUN_ACTIVE)
			vs_lun_dispatch(lun);
	}
}
