/* SPDX-License-Identifier: MIT */
/*
 * The write gate of a LUN (SBC-3 5.3 COMPARE AND WRITE, SBC-4 5.13 ORWRITE
 * and 5.48 WRITE ATOMIC: no other write may come between their read and
 * their write; SBC-4 4.11 SANITIZE: the writes accepted before it finish
 * first).  Writes count themselves in; a command that needs the medium
 * alone sets `excl`, waits until the writes in flight drained, and writes
 * that arrive meanwhile park and are restarted when it ends.
 *
 * Writes do not take a lock while nothing exclusive is going on: one
 * atomic add on the way in, one atomic subtract on the way out.  The two
 * sides meet Dekker-style, all sequentially consistent:
 *
 *   write:     writes_inflight += 1, then read excl
 *   exclusive: excl = 1,             then read writes_inflight
 *
 * so at least one sees the other: either the write sees excl and backs out
 * (parks, then subtracts itself), or the exclusive command sees the write
 * and waits for it.  Only the exclusive side, a write that found excl set,
 * and the last write out while excl is set take lun->lock, which guards
 * excl_waiter and the parked list.  Exclusive commands hold the LUN's
 * engine (vdisk_engine.c), so there is at most one at a time.
 */
#include "vdisk_int.h"

/* One write is out of the gate; the last one out wakes an exclusive
 * command waiting for the writes to drain. */
static void gate_leave(struct vdisk_lun *lun)
{
	struct vdisk_cmd *w = NULL;

	if (atomic_fetch_sub_explicit(&lun->writes_inflight, 1, memory_order_seq_cst) != 1)
		return;
	if (!atomic_load_explicit(&lun->excl, memory_order_seq_cst))
		return;
	pthread_mutex_lock(&lun->lock);
	/* again under the lock: a write may have come in (and be parking) */
	if (atomic_load_explicit(&lun->writes_inflight, memory_order_seq_cst) == 0 &&
	    lun->excl_waiter) {
		w = lun->excl_waiter;
		lun->excl_waiter = NULL;
	}
	pthread_mutex_unlock(&lun->lock);
	if (w)
		w->resume(w);
}

/* excl was set when c came in: park, unless it ended meanwhile. */
static bool gate_enter_slow(struct vdisk_cmd *c, vdisk_step_fn resume)
{
	struct vdisk_lun *lun = c->lun;

	pthread_mutex_lock(&lun->lock);
	if (!atomic_load_explicit(&lun->excl, memory_order_seq_cst)) {
		/* exclusive_end ran: keep the count taken, go on */
		pthread_mutex_unlock(&lun->lock);
		c->gate_held = true;
		return true;
	}
	vdisk_cmd_park(&lun->parked_head, &lun->parked_tail, c, resume);
	pthread_mutex_unlock(&lun->lock);
	/* parked first, then out: exclusive_end restarts it through resume,
	 * which enters again */
	gate_leave(lun);
	return false;
}

bool vs_vdisk_gate_enter(struct vdisk_cmd *c, vdisk_step_fn resume)
{
	struct vdisk_lun *lun = c->lun;

	atomic_fetch_add_explicit(&lun->writes_inflight, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&lun->excl, memory_order_seq_cst))
		return gate_enter_slow(c, resume);
	c->gate_held = true;
	return true;
}

void vs_vdisk_gate_exit(struct vdisk_lun *lun)
{
	gate_leave(lun);
}

void vs_vdisk_gate_exclusive(struct vdisk_cmd *c, vdisk_step_fn go)
{
	struct vdisk_lun *lun = c->lun;

	pthread_mutex_lock(&lun->lock);
	atomic_store_explicit(&lun->excl, true, memory_order_seq_cst);
	if (atomic_load_explicit(&lun->writes_inflight, memory_order_seq_cst) == 0) {
		pthread_mutex_unlock(&lun->lock);
		go(c);
		return;
	}
	/* the last write out (gate_leave) takes the lock after us and
	 * finds the waiter */
	c->resume = go;
	lun->excl_waiter = c;
	pthread_mutex_unlock(&lun->lock);
}

bool vs_vdisk_gate_try_exclusive_locked(struct vdisk_lun *lun)
{
	if (atomic_load_explicit(&lun->excl, memory_order_seq_cst) ||
	    atomic_load_explicit(&lun->writes_inflight, memory_order_seq_cst))
		return false;
	atomic_store_explicit(&lun->excl, true, memory_order_seq_cst);
	if (atomic_load_explicit(&lun->writes_inflight, memory_order_seq_cst) == 0)
		return true;
	/* A write came in between the two loads.  It either saw excl and is
	 * waiting for lun->lock (held by our caller) to park, and will find
	 * excl clear and go on, or it did not see it and is in flight: either
	 * way nothing is parked yet, so clearing excl is all there is to undo. */
	atomic_store_explicit(&lun->excl, false, memory_order_seq_cst);
	return false;
}

void vs_vdisk_gate_exclusive_end(struct vdisk_lun *lun)
{
	struct vdisk_cmd *list;

	pthread_mutex_lock(&lun->lock);
	atomic_store_explicit(&lun->excl, false, memory_order_seq_cst);
	list = lun->parked_head;
	lun->parked_head = lun->parked_tail = NULL;
	pthread_mutex_unlock(&lun->lock);
	while (list) {
		struct vdisk_cmd *next = list->next;

		list->resume(list);     /* may complete and reuse `list` */
		list = next;
	}
}
