/* SPDX-License-Identifier: MIT */
/*
 * Stable loans (stable_loans.h).
 *
 * While no stable loan exists (busy == 0) a change takes no lock: it
 * counts itself in fast_changes, looks at busy once more, and is applied.
 * A stable loan raises busy, then waits for the fast changes already
 * under way (each a memcpy or madvise) to finish.  Both sides use
 * sequentially consistent operations, so at least one sees the other: a
 * change either finished before the loan was handed out, or it sees busy
 * and takes the lock, where it is held back if it overlaps a loan (or if
 * another change is already held: changes keep their order).
 */
#include <sched.h>

#include "stable_loans.h"

/* The links live in the bios' backend_scratch (the backend is the bottom
 * of its stack, so the field is the backend's and these two words ours). */
_Static_assert(LOANS_SCRATCH + 2 <= sizeof(((struct vs_bio *)0)->backend_scratch) /
                                    sizeof(uint64_t), "loan links fit in backend_scratch");

static struct vs_bio **next_of(struct vs_bio *b)
{
	return (struct vs_bio **)(void *)&b->backend_scratch[LOANS_SCRATCH];
}

static struct vs_bio **prev_of(struct vs_bio *b)
{
	return (struct vs_bio **)(void *)&b->backend_scratch[LOANS_SCRATCH + 1];
}

/* A held change's result, between apply and its completion: prev is not
 * used by held changes. */
static int64_t *err_of(struct vs_bio *b)
{
	return (int64_t *)(void *)&b->backend_scratch[LOANS_SCRATCH + 1];
}

void vs_loans_init(struct stable_loans *l, int (*apply)(void *dev, struct vs_bio *bio),
                   void *dev)
{
	pthread_mutex_init(&l->lock, NULL);
	atomic_init(&l->busy, 0);
	atomic_init(&l->fast_changes, 0);
	l->loans = NULL;
	l->held = NULL;
	l->held_tail = &l->held;
	l->apply = apply;
	l->dev = dev;
}

void vs_loans_destroy(struct stable_loans *l)
{
	pthread_mutex_destroy(&l->lock);
}

static bool overlap(const struct vs_bio *a, const struct vs_bio *b)
{
	return a->offset < b->offset + b->length && b->offset < a->offset + a->length;
}

static bool overlaps_a_loan(const struct stable_loans *l, const struct vs_bio *change)
{
	for (struct vs_bio *b = l->loans; b; b = *next_of(b))
		if (overlap(b, change))
			return true;
	return false;
}

enum loan_change vs_loans_change_begin(struct stable_loans *l, struct vs_bio *bio)
{
	atomic_fetch_add(&l->fast_changes, 1);
	if (atomic_load(&l->busy) == 0)
		return LOAN_CHANGE_FAST;
	atomic_fetch_sub(&l->fast_changes, 1);

	pthread_mutex_lock(&l->lock);
	if (l->held || overlaps_a_loan(l, bio)) {
		*next_of(bio) = NULL;
		*l->held_tail = bio;
		l->held_tail = next_of(bio);
		atomic_fetch_add(&l->busy, 1);
		pthread_mutex_unlock(&l->lock);
		return LOAN_CHANGE_HELD;
	}
	return LOAN_CHANGE_LOCKED;
}

void vs_loans_change_end(struct stable_loans *l, enum loan_change how)
{
	if (how == LOAN_CHANGE_FAST)
		atomic_fetch_sub(&l->fast_changes, 1);
	else if (how == LOAN_CHANGE_LOCKED)
		pthread_mutex_unlock(&l->lock);
}

void vs_loans_lend_begin(struct stable_loans *l, struct vs_bio *bio)
{
	pthread_mutex_lock(&l->lock);
	*prev_of(bio) = NULL;
	*next_of(bio) = l->loans;
	if (l->loans)
		*prev_of(l->loans) = bio;
	l->loans = bio;
	atomic_fetch_add(&l->busy, 1);
	pthread_mutex_unlock(&l->lock);
	/* changes that did not see busy: each is one copy, soon done; new
	 * ones see busy and take the lock */
	while (atomic_load(&l->fast_changes) != 0)
		sched_yield();
}

void vs_loans_lend_end(struct stable_loans *l, struct vs_bio *bio)
{
	struct vs_bio *done = NULL, **done_tail = &done;

	pthread_mutex_lock(&l->lock);
	if (*prev_of(bio))
		*next_of(*prev_of(bio)) = *next_of(bio);
	else
		l->loans = *next_of(bio);
	if (*next_of(bio))
		*prev_of(*next_of(bio)) = *prev_of(bio);
	atomic_fetch_sub(&l->busy, 1);
	/* in order, up to the first still in a loan's way */
	while (l->held && !overlaps_a_loan(l, l->held)) {
		struct vs_bio *c = l->held;

		l->held = *next_of(c);
		if (!l->held)
			l->held_tail = &l->held;
		int err = l->apply(l->dev, c);

		atomic_fetch_sub(&l->busy, 1);
		*next_of(c) = NULL;
		*err_of(c) = err;
		*done_tail = c;
		done_tail = next_of(c);
	}
	pthread_mutex_unlock(&l->lock);
	while (done) {
		struct vs_bio *c = done;

		done = *next_of(c);
		vs_bio_complete(c, (int)*err_of(c));
	}
}
