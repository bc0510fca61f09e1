/* SPDX-License-Identifier: MIT */
/*
 * spy_bdev: a filter for unit tests, registered by the test binary, over a
 * RAM backend.  It forwards every bio to the RAM backend and records what
 * it saw (op, flags, offset, length), so a test can prove what vdisk asked
 * of its block stack (a SYNCHRONIZE CACHE reached it as a FLUSH, a write
 * carried FUA ...).  Capabilities can be overridden
 * (a write cache, no native FUA), and it can hold bios instead of passing
 * them on: a backend that accepts requests and never answers, until the
 * test releases them.
 *
 *   struct spy *s = spy_new("1M");
 *   struct vs_vdisk_lun_config lc = { .bdev = spy_bdev(s), ... };  // the LUN owns the bdev
 *   spy_set_caps(s, &caps);          // before lun_add: what get_caps reports
 *   spy_hold(s, true);               // from now on bios are kept, not completed
 *   spy_held(s);                     // how many are kept
 *   spy_release(s, 0);               // complete them (with err) through the inner backend
 *   spy_fail_op(s, VS_BIO_FLUSH, -EIO);  // that op fails at once from now on
 *   spy_count(s, VS_BIO_WRITE, VS_BIO_FUA);   // recorded bios with that op and flag(s)
 *   spy_event(s, VS_BDEV_EV_LOST, 2000);  // the resource went away: hold 2 s
 *   spy_free(s);                     // after the LUN (and its bdev) is gone
 */
#ifndef VSTOR_TEST_SPY_BDEV_H
#define VSTOR_TEST_SPY_BDEV_H

#include <stdbool.h>
#include <stdint.h>

#include "vstor/filter.h"

struct spy;

struct spy_rec {
	uint8_t  op;
	uint32_t flags;
	uint64_t offset, length;
};

struct spy *spy_new(const char *size);
/* The bdev to hand to a LUN (once: the LUN closes and frees it). */
struct vs_bdev *spy_bdev(struct spy *s);
void spy_set_caps(struct spy *s, const struct vs_backend_caps *caps);
void spy_hold(struct spy *s, bool hold);
/* Hold only bios of this op (0: every op) while holding. */
void spy_hold_op(struct spy *s, uint8_t op);
int  spy_held(struct spy *s);
/* Complete every later bio of this op at once with err (0: stop failing). */
void spy_fail_op(struct spy *s, uint8_t op, int err);
/* A lying disk: WRITEs complete with success but change nothing. */
void spy_lose_writes(struct spy *s, bool lose);
/* Complete every held bio: err 0 passes it to the inner backend. */
void spy_release(struct spy *s, int err);
int  spy_count(struct spy *s, uint8_t op, uint32_t flags);
int  spy_nrecs(struct spy *s);
struct spy_rec spy_rec(struct spy *s, int i);
void spy_clear(struct spy *s);
bool spy_closed(struct spy *s);
/* Raise a block-stack event (VS_BDEV_EV_*) as a backend would. */
void spy_event(struct spy *s, int type, uint32_t hold_ms);
/* Whether held bios can be given back (cancel, reset: a queue in a layer)
 * or not (default: a wedged device that never answers). */
void spy_cancellable(struct spy *s, bool yes);
/* Held bios given back by cancel (an abort) and resets seen. */
int  spy_cancels(struct spy *s);
int  spy_resets(struct spy *s);
void spy_free(struct spy *s);

#endif
