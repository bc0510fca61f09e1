/* SPDX-License-Identifier: MIT */
/*
 * The nbd backend's counters, for its own tests and tools (through
 * vs_bdev_backend_handle(bdev, "nbd")), until the daemon has metrics.
 * The same figures go into the lines of the backend's events (the log,
 * `vstorctl lun list`).
 */
#ifndef VSTOR_BACKEND_NBD_STATS_H
#define VSTOR_BACKEND_NBD_STATS_H

#include <stdatomic.h>
#include <stdint.h>

struct nbd_stats {
	_Atomic uint64_t connections;       /* in use (1 unless the server has multi-conn) */
	_Atomic uint64_t reconnects;        /* times the server was lost and found again */
	_Atomic uint64_t losses;            /* times it was lost */
	_Atomic uint64_t replayed;          /* dirty-log records sent again */
	_Atomic uint64_t replayed_bytes;    /* their ranges' bytes */
	_Atomic uint64_t copied_bytes;      /* write data copied into the dirty log */
	_Atomic uint64_t dirty_bytes;       /* acknowledged, not yet covered by a flush (now) */
	_Atomic uint64_t dirty_peak;        /* the most dirty_bytes has been */
	_Atomic uint64_t budget_flushes;    /* flushes the dirty budget forced */
	_Atomic uint64_t lost_bytes;        /* acknowledged writes given up (never, we hope) */
	_Atomic uint64_t held_timeouts;     /* requests answered "not connected" after hold_timeout */
};

/* A copy of the counters of an open nbd backend (h from vs_bdev_backend_handle). */
void vs_nbd_backend_stats(void *h, struct nbd_stats *out);

#endif
