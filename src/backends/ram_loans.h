/* SPDX-License-Identifier: MIT */
/*
 * Stable loans of a RAM disk (backend.h lend_stable): a READ lent with
 * VS_BIO_LEND_STABLE shows the same bytes until its loan ends, because
 * every change (write, unmap, write-zeroes) that overlaps a stable loan is
 * held back until then.  iSCSI with data digests needs that: the digest
 * is taken when the Data-In PDU is built, the bytes are read again when
 * sendmsg copies them.
 */
#ifndef VSTOR_RAM_LOANS_H
#define VSTOR_RAM_LOANS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vstor/backend.h"

struct ram_loans {
	pthread_mutex_t lock;
	/* stable loans + changes held back: 0 means a change needs no lock */
	_Atomic uint32_t busy;
	/* changes being applied without the lock (RAM_CHANGE_FAST) */
	_Atomic uint32_t fast_changes;
	struct vs_bio *loans;           /* doubly linked: backend_scratch[0], [1] */
	struct vs_bio *held;            /* FIFO: backend_scratch[0] */
	struct vs_bio **held_tail;
	/* applies a change that was held back (under the lock), then the
	 * bio is completed with 0 outside it */
	void (*apply)(void *dev, struct vs_bio *bio);
	void *dev;
};

enum ram_change {
	RAM_CHANGE_FAST,        /* apply it now, then vs_ram_change_end */
	RAM_CHANGE_LOCKED,      /* apply it now (the lock is held), then vs_ram_change_end */
	RAM_CHANGE_HELD,        /* held back: it completes when the loans in its way end */
};

void vs_ram_loans_init(struct ram_loans *l, void (*apply)(void *dev, struct vs_bio *bio),
                       void *dev);
void vs_ram_loans_destroy(struct ram_loans *l);

/* A change of [bio->offset, +length) is about to be made: may it go now?
 * Changes are applied in the order they came while any is held. */
enum ram_change vs_ram_change_begin(struct ram_loans *l, struct vs_bio *bio);
void vs_ram_change_end(struct ram_loans *l, enum ram_change how);

/* A READ is about to be lent stably: from when this returns, nothing
 * changes its bytes until vs_ram_loan_end. */
void vs_ram_loan_begin(struct ram_loans *l, struct vs_bio *bio);
/* Its loan ended: the changes it held back (and those queued behind them)
 * are applied and completed, on this thread. */
void vs_ram_loan_end(struct ram_loans *l, struct vs_bio *bio);

#endif
