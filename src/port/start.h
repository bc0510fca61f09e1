/* SPDX-License-Identifier: MIT */
/*
 * The steps every SRB takes on its way into and out of the miniport: may
 * it start (SAM-5 8.6 within its queue, the LUN's depth, busy, pause),
 * take and give back a depth slot, become ACTIVE.  Inline, because submit
 * (io.c), complete (io.c) and the dispatch loop (dispatch.c) all run them
 * for every SRB; as calls across files they cost about a hundred
 * instructions per SRB in bench-inproc.  The slow paths (starvation,
 * credits) stay in depth.c.
 */
#ifndef VSTOR_PORT_START_H
#define VSTOR_PORT_START_H

#include "port_int.h"

static inline bool slot_cas(struct vs_port_lun *lun)
{
	uint32_t cur = atomic_load_explicit(&lun->slots, memory_order_relaxed);

	while (cur < lun->depth)
		if (atomic_compare_exchange_weak_explicit(&lun->slots, &cur, cur + 1,
		                                          memory_order_seq_cst,
		                                          memory_order_relaxed))
			return true;
	return false;
}

/* q->lock held: a depth slot for q's head, a credit first (depth.c) */
static inline bool slot_take(struct port_queue *q)
{
	if (q->credits) {
		q->credits--;
		return true;
	}
	/* others have waited longer: behind them */
	if (!atomic_load_explicit(&q->starved, memory_order_relaxed) &&
	    atomic_load_explicit(&q->lun->starved, memory_order_seq_cst))
		return false;
	return slot_cas(q->lun);
}

/* Give n slots back, no queue lock held; while a queue is starved they go
 * to it (depth.c).  Decrement, then read lun->starved: the releasing half
 * of depth.c's Dekker pair. */
static inline void slot_release(struct vs_port_lun *lun, uint32_t n)
{
	if (atomic_load_explicit(&lun->starved, memory_order_seq_cst)) {
		vs_slot_release_slow(lun, n, false);
		return;
	}
	atomic_fetch_sub_explicit(&lun->slots, n, memory_order_seq_cst);
	if (atomic_load_explicit(&lun->starved, memory_order_seq_cst))
		vs_slot_release_slow(lun, n, true);
}

/* q->lock held; no side effect */
static inline enum start_verdict may_start(const struct port_queue *q, const struct vs_srb *srb)
{
	if (atomic_load_explicit(&q->lun->busy, memory_order_relaxed) ||
	    atomic_load_explicit(&q->lun->paused, memory_order_relaxed) ||
	    atomic_load_explicit(&q->lun->port->hold, memory_order_relaxed))
		return START_WAIT;
	if (srb->task_attr == VS_TASK_HEAD_OF_QUEUE)
		return START_NOW;
	if (q->ordered_active)
		return START_WAIT;
	if (srb->task_attr == VS_TASK_ORDERED && q->in_flight)
		return START_WAIT;
	return START_NEED_SLOT;
}

/* q->lock held: START_NOW with the slot taken (if it needs one) */
static inline enum start_verdict queue_try_start(struct port_queue *q, struct vs_srb *srb)
{
	enum start_verdict v = may_start(q, srb);

	if (v != START_NEED_SLOT)
		return v;
	if (!slot_take(q))
		return START_NEED_SLOT;
	srb->priv.flags |= SRBF_SLOT;
	return START_NOW;
}

/* q->lock held: hand the SRB to the miniport (the caller calls start_io
 * unlocked).  Its deadline runs from submit, time spent held included. */
static inline void make_active(struct port_queue *q, struct vs_srb *srb)
{
	srb->priv.state = SRB_ACTIVE;
	if (srb->task_attr == VS_TASK_ORDERED) {
		srb->priv.flags |= SRBF_ORDERED;
		q->ordered_active++;
	}
	q->in_flight++;
	srb_list_append(&q->active, srb);
	vs_srb_ref(srb);                           /* the miniport's reference */
}

#endif
