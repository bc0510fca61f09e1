/* SPDX-License-Identifier: MIT */
/*
 * Liveness of the shared event loops (vstor/loop.h), for the watchdog
 * (watchdog.h's pass counts): each loop is sent a probe message whenever
 * its last one has run, and counts the probes it ran.  An idle loop runs
 * its probe at once (the post wakes it); a loop stuck in a callback does
 * not, so its count stops moving.  One probe per loop at a time, embedded
 * here: nothing allocates.
 */
#ifndef VSTORD_LIVENESS_H
#define VSTORD_LIVENESS_H

#include <stddef.h>
#include <stdint.h>

struct vs_loop_group;
struct vsd_liveness;

/* NULL when out of memory.  Free only after the group is destroyed (a
 * probe may still be queued on a loop until then). */
struct vsd_liveness *vsd_liveness_create(struct vs_loop_group *g);
void vsd_liveness_free(struct vsd_liveness *l);
/* watchdog.h's passes(): probes answered per loop; posts the next probe to
 * each loop whose last one has run.  Any thread, one caller at a time. */
size_t vsd_liveness_passes(void *l, uint64_t *out, size_t max);

#endif
