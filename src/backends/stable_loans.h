/* SPDX-License-Identifier: MIT */
/*
 * Stable loans of a backend whose data is memory and whose changes are
 * made synchronously in submit (the RAM disk, a file on tmpfs:
 * backend.h lend_stable): a READ lent with VS_BIO_LEND_STABLE shows the
 * same bytes until its loan ends, because every change (write, unmap,
 * write-zeroes) that overlaps a stable loan is held back until then.
 * iSCSI with data digests needs that: the digest is taken when the Data-In
 * PDU is built, the bytes are read again when sendmsg copies them.
 *
 * The links live in the bios' backend_scratch[LOANS_SCRATCH..+1], the last
 * two words, so a backend keeps the words before them for itself.
 */
#ifndef VSTOR_STABLE_LOANS_H
#define VSTOR_STABLE_LOANS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vstor/backend.h"

#define LOANS_SCRATCH 6  /* backend_scratch[6] and [7] */

struct stable_loans {
	pthread_mutex_t lock;
	/* stable loans + changes held back: 0 means a change needs no lock */
	_Atomic uint32_t busy;
	/* changes being applied without the lock (LOAN_CHANGE_FAST) */
	_Atomic uint32_t fast_changes;
	struct vs_bio *loans;           /* doubly linked: backend_scratch[0], [1] */
	struct vs_bio *held;            /* FIFO: backend_scratch[0] */
	struct vs_bio **held_tail;
	/* applies a change that was held back (under the lock), then the
	 * bio is completed with what it returned (0 or -errno) outside it */
	int (*apply)(void *dev, struct vs_bio *bio);
	void *dev;
};

enum loan_change {
	LOAN_CHANGE_FAST,       /* apply it now, then vs_loans_change_end */
	LOAN_CHANGE_LOCKED,     /* apply it now (the lock is held), then vs_loans_change_end */
	LOAN_CHANGE_HELD,       /* held back: it completes when the loans in its way end */
};

void vs_loans_init(struct stable_loans *l, int (*apply)(void *dev, struct vs_bio *bio),
                   void *dev);
void vs_loans_destroy(struct stable_loans *l);

/* A change of [bio->offset, +length) is about to be made: may it go now?
 * Changes are applied in the order they came while any is held. */
enum loan_change vs_loans_change_begin(struct stable_loans *l, struct vs_bio *bio);
void vs_loans_change_end(struct stable_loans *l, enum loan_change how);

/* A READ is about to be lent stably: from when this returns, nothing
 * changes its bytes until vs_loans_lend_end. */
void vs_loans_lend_begin(struct stable_loans *l, struct vs_bio *bio);
/* Its loan ended: the changes it held back (and those queued behind them)
 * are applied and completed, on this thread. */
void vs_loans_lend_end(struct stable_loans *l, struct vs_bio *bio);

#endif
