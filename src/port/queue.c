/* SPDX-License-Identifier: MIT */
/*
 * The queues of a LUN: one per I_T nexus (SAM-5 task set per I_T nexus,
 * TST 001b) plus the default queue for SRBs without a nexus.
 *
 * Lifetime: a queue is created on the control path (nexus open, LUN add,
 * the LUN slot's first use) and lives, like its LUN slot, until
 * vs_port_destroy.  A nexus id that is reused (ids are the lowest free)
 * reuses the queue, after its unit attentions and "used" mark have been
 * forgotten.  So every pointer the I/O path loads from a queue table, and
 * every srb->priv.queue of an SRB a late miniport completion brings back,
 * stays valid memory with no reference counting on the I/O path.  The
 * memory is bounded by (LUN slots used) x (nexuses open at once).  Tasks
 * of a closed nexus that the miniport has not given back yet stay in the
 * queue, marked aborted, until it does or the timer's escalation takes
 * them back; a new nexus with the same id starts with them there (an
 * ORDERED task of it waits for them, as it would for its own).
 *
 * The table of a LUN is read without a lock; growing it copies it into a
 * bigger one and publishes that, keeping the outgrown one (->older) until
 * destroy, since a reader may still hold it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../util/vs_cond.h"
#include "port_int.h"

#define QT_MIN_CAP 16

static struct port_queue *queue_new(struct vs_port_lun *lun, uint32_t nkey)
{
	struct port_queue *q;

	if (posix_memalign((void **)&q, 64, sizeof(*q)))
		return NULL;
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
	if (vs_cond_init_monotonic(&q->drain_cv)) {
		pthread_mutex_destroy(&q->lock);
		free(q);
		return NULL;
	}
	q->lun = lun;
	q->nkey = nkey;
	atomic_init(&q->starved, false);
	return q;
}

static void queue_free(struct port_queue *q)
{
	pthread_cond_destroy(&q->drain_cv);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

int vs_lun_queues_init(struct vs_port_lun *lun)
{
	lun->defq = queue_new(lun, 0);
	atomic_init(&lun->qt, NULL);
	return lun->defq ? 0 : -ENOMEM;
}

uint32_t vs_lun_queue_count(struct vs_port_lun *lun)
{
	struct queue_table *t = atomic_load_explicit(&lun->qt, memory_order_acquire);

	return 1 + (t ? t->cap : 0);
}

static struct queue_table *table_grow(struct vs_port_lun *lun, uint32_t id)
{
	struct queue_table *old = atomic_load_explicit(&lun->qt, memory_order_relaxed), *t;
	uint32_t cap = old ? old->cap : QT_MIN_CAP;

	while (cap <= id)
		cap *= 2;
	t = calloc(1, sizeof(*t) + cap * sizeof(t->q[0]));
	if (!t)
		return NULL;
	t->cap = cap;
	t->older = old;
	for (uint32_t i = 0; old && i < old->cap; i++)
		atomic_init(&t->q[i], atomic_load_explicit(&old->q[i], memory_order_relaxed));
	atomic_store_explicit(&lun->qt, t, memory_order_release);
	return t;
}

int vs_lun_queue_ensure(struct vs_port_lun *lun, uint32_t id)
{
	struct queue_table *t = atomic_load_explicit(&lun->qt, memory_order_relaxed);
	struct port_queue *q;

	if (t && id < t->cap && atomic_load_explicit(&t->q[id], memory_order_relaxed))
		return 0;
	if (!t || id >= t->cap) {
		t = table_grow(lun, id);
		if (!t)
			return -ENOMEM;
	}
	q = queue_new(lun, id + 1);
	if (!q)
		return -ENOMEM;
	/* release: a reader that finds the pointer finds the queue set up */
	atomic_store_explicit(&t->q[id], q, memory_order_release);
	return 0;
}

void vs_lun_queues_free(struct vs_port_lun *lun)
{
	struct queue_table *t = atomic_load_explicit(&lun->qt, memory_order_relaxed), *older;

	for (uint32_t i = 0; t && i < t->cap; i++) {
		struct port_queue *q = atomic_load_explicit(&t->q[i], memory_order_relaxed);
		if (q)
			queue_free(q);
	}
	for (; t; t = older) {
		older = t->older;
		free(t);
	}
	if (lun->defq)
		queue_free(lun->defq);
	lun->defq = NULL;
}

void vs_lun_each_queue(struct vs_port_lun *lun, void (*fn)(struct port_queue *q, void *arg),
                    void *arg)
{
	uint32_t n = vs_lun_queue_count(lun);

	for (uint32_t i = 0; i < n; i++) {
		struct port_queue *q = lun_queue_at(lun, i);

		if (!q)
			continue;
		pthread_mutex_lock(&q->lock);
		fn(q, arg);
		pthread_mutex_unlock(&q->lock);
	}
}

/* port->nexus_lock held by the caller: no queue is created between
 * vs_lun_lock_all and vs_lun_unlock_all, so both walk the same queues. */
void vs_lun_lock_all(struct vs_port_lun *lun)
{
	uint32_t n = vs_lun_queue_count(lun);

	for (uint32_t i = 0; i < n; i++) {
		struct port_queue *q = lun_queue_at(lun, i);
		if (q)
			pthread_mutex_lock(&q->lock);
	}
}

void vs_lun_unlock_all(struct vs_port_lun *lun)
{
	uint32_t n = vs_lun_queue_count(lun);

	for (uint32_t i = n; i-- > 0;) {
		struct port_queue *q = lun_queue_at(lun, i);
		if (q)
			pthread_mutex_unlock(&q->lock);
	}
}
