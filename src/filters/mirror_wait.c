/* SPDX-License-Identifier: MIT */
/*
 * Requests the mirror holds back: a write whose regions' in-flight bits
 * are not on disk yet, a write into a region the resync is copying, a
 * write whose acknowledgement waits for a leg's new state to be on disk.
 * They wait in one list (under the mirror's lock: this is the slow path,
 * taken at most once per idle region and per state change), and every
 * event that may let some go — a map update done, a region's copy over —
 * resumes them all; each looks at what it waits for and parks again if
 * it still must.  The list lives in the requests' own contexts: nothing
 * is allocated.
 */
#include "mirror_int.h"

void vs_wait_park(struct mirror *m, struct mreq *q, void (*resume)(struct mreq *q))
{
	q->resume = resume;
	q->next_wait = m->waiters;
	m->waiters = q;
}

void vs_wait_release(struct mirror *m)
{
	struct mreq *q, *next, *rev = NULL;

	pthread_mutex_lock(&m->lock);
	q = m->waiters;
	m->waiters = NULL;
	pthread_mutex_unlock(&m->lock);
	/* oldest first */
	for (; q; q = next) {
		next = q->next_wait;
		q->next_wait = rev;
		rev = q;
	}
	for (q = rev; q; q = next) {
		next = q->next_wait;
		q->resume(q);
	}
}

struct mreq *vs_wait_take(struct mirror *m, const struct vs_bio *bio)
{
	struct mreq **pp, *q = NULL;

	pthread_mutex_lock(&m->lock);
	if (!bio) {
		q = m->waiters;
		m->waiters = NULL;
	} else {
		for (pp = &m->waiters; *pp; pp = &(*pp)->next_wait) {
			if ((*pp)->parent == bio) {
				q = *pp;
				*pp = q->next_wait;
				q->next_wait = NULL;
				break;
			}
		}
	}
	pthread_mutex_unlock(&m->lock);
	return q;
}
