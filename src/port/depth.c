/* SPDX-License-Identifier: MIT */
/*
 * The LUN-wide queue depth, shared by the LUN's per-nexus queues.
 *
 * Why LUN-wide and not per nexus: Storport's queue depth is per LUN, and
 * that is the contract a miniport sees (vs_adapter_caps.default_queue_depth
 * "per LUN"): at most `depth` SRBs of one LUN in its hands, plus HEAD OF
 * QUEUE ones (SAM-5 8.6.4 lets those pass).  A depth per nexus would let N
 * initiators put N x depth requests on one backend.  The task sets are per
 * nexus (SPC-4 7.5.7 TST 001b), and so is TASK SET FULL (port.h
 * max_held): only the slots are shared.
 *
 * Cost on the I/O path: a slot is one compare-and-swap on lun->slots to
 * take and one atomic subtract to give back, on the LUN's own cache line;
 * no lock.  Those two are inline (start.h); this file has the rest.
 *
 * Starvation: a queue whose head waits only for a slot is "starved"
 * (lun->starved counts them).  While any queue is, a slot given back is
 * not released but handed, as a credit, to the next starved queue in
 * round-robin order, and a queue that is not starved does not take a free
 * slot ahead of them (slot_take), so an initiator keeping the LUN full
 * cannot starve another one.  A slot is never lost between the two: the
 * starving side counts itself in lun->starved and then tries the counter,
 * the releasing side decrements the counter and then reads lun->starved,
 * all sequentially consistent (Dekker), so at least one of them sees the
 * other.
 */
#include "port_int.h"
#include "start.h"

bool vs_slot_starve(struct port_queue *q)
{
	if (!atomic_load_explicit(&q->starved, memory_order_relaxed)) {
		atomic_store_explicit(&q->starved, true, memory_order_relaxed);
		atomic_fetch_add_explicit(&q->lun->starved, 1, memory_order_seq_cst);
	}
	/* a slot freed before we were counted: take it now */
	return slot_cas(q->lun);
}

uint32_t vs_slot_unstarve(struct port_queue *q)
{
	uint32_t c = q->credits;

	q->credits = 0;
	if (atomic_load_explicit(&q->starved, memory_order_relaxed)) {
		atomic_store_explicit(&q->starved, false, memory_order_relaxed);
		atomic_fetch_sub_explicit(&q->lun->starved, 1, memory_order_seq_cst);
	}
	return c;
}

/*
 * One starved queue, the next after the LUN's round-robin cursor, gets a
 * slot as a credit; false if no queue is starved any more.
 */
static bool hand_credit(struct vs_port_lun *lun)
{
	uint32_t n = vs_lun_queue_count(lun);
	uint32_t start = atomic_load_explicit(&lun->kick_cursor, memory_order_relaxed);

	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (start + k) % n;
		struct port_queue *q = lun_queue_at(lun, i);
		bool kick;

		/* a hint: checked again under the lock */
		if (!q || !atomic_load_explicit(&q->starved, memory_order_relaxed))
			continue;
		pthread_mutex_lock(&q->lock);
		if (!atomic_load_explicit(&q->starved, memory_order_relaxed)) {
			pthread_mutex_unlock(&q->lock);
			continue;
		}
		q->credits++;
		/* a running dispatch loop sees the credit before it stops */
		kick = !q->dispatching;
		pthread_mutex_unlock(&q->lock);
		/* the next slot starts looking after this queue: round robin (two
		 * releasers racing here may serve one queue twice; that is all) */
		atomic_store_explicit(&lun->kick_cursor, i + 1, memory_order_relaxed);
		if (kick)
			vs_queue_kick(q);
		return true;
	}
	return false;
}

/* Slots were released while queues became starved: each starved queue
 * tries to take them itself (slot_take lets a starved queue in). */
static void kick_starved(struct vs_port_lun *lun)
{
	uint32_t n = vs_lun_queue_count(lun);

	for (uint32_t i = 0; i < n; i++) {
		struct port_queue *q = lun_queue_at(lun, i);

		if (q && atomic_load_explicit(&q->starved, memory_order_relaxed))
			vs_queue_kick(q);
	}
}

void vs_slot_release_slow(struct vs_port_lun *lun, uint32_t n, bool released)
{
	if (!released) {
		while (n && atomic_load_explicit(&lun->starved, memory_order_seq_cst) &&
		       hand_credit(lun))
			n--;
		if (!n)
			return;
		atomic_fetch_sub_explicit(&lun->slots, n, memory_order_seq_cst);
	}
	if (atomic_load_explicit(&lun->starved, memory_order_seq_cst))
		kick_starved(lun);
}
