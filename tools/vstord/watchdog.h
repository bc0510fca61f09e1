/* SPDX-License-Identifier: MIT */
/*
 * The watchdog thread: every period it reads each event loop's pass count
 * and pings (systemd's WATCHDOG=1) only if every loop has moved since the
 * last period, so a loop stuck in a callback stops the pings and systemd
 * restarts the daemon after WatchdogSec.  An idle loop passes every
 * 100 ms (its tick), so the period is never below 250 ms.  It also runs a
 * callback each period (vstord: the STATUS line).
 *
 * Where the pass counts come from is the caller's (vstord: the iSCSI
 * fabric's loops; the shared event-loop group once every fabric runs on
 * it), so this file knows no fabric.
 */
#ifndef VSTORD_WATCHDOG_H
#define VSTORD_WATCHDOG_H

#include <stddef.h>
#include <stdint.h>

#define VSD_WATCHDOG_MIN_PERIOD_MS 250u
#define VSD_WATCHDOG_MAX_LOOPS     256u

struct vsd_watchdog_ops {
	/* Each loop's pass count into out[0..max); returns how many loops. */
	size_t (*passes)(void *ctx, uint64_t *out, size_t max);
	/* Every loop moved this period.  NULL: no watchdog (only tick). */
	void (*alive)(void *ctx);
	/* Loop `loop` has not moved for `ms`: said when it first stalls and
	 * then every 10 s while it stays stuck.  May be NULL. */
	void (*stalled)(void *ctx, unsigned loop, uint64_t ms);
	/* Once per period, after the check.  May be NULL. */
	void (*tick)(void *ctx);
	void *ctx;
};

struct vsd_watchdog;

/* Start the thread; NULL (errno set) if it cannot be. */
struct vsd_watchdog *vsd_watchdog_start(uint32_t period_ms, const struct vsd_watchdog_ops *ops);
/* Stop and join it (its callbacks are done when this returns); NULL ok. */
void vsd_watchdog_stop(struct vsd_watchdog *w);

#endif
