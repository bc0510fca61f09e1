/* SPDX-License-Identifier: MIT */
/*
 * The mirror's legs: which are in sync, which are being copied, which
 * are degraded, and what moves them.
 *
 *  - A request that fails on a leg degrades it (an I/O error: its data
 *    there is not to be trusted), unless it is the last leg in sync: that
 *    one has the only good copy, so the error goes to the initiator as it
 *    would without a mirror.
 *  - A leg whose resource is lost (VS_BDEV_EV_LOST: a connection broke)
 *    is no longer read from at once, and degraded when it has not come
 *    back within leg_timeout (or half the hold the backend asked for, if
 *    shorter): then it is reset, so the requests its backend still holds
 *    come back and complete from the other legs.  The LOST stops here:
 *    the LUN is not paused, since the other legs serve (the hold is for a
 *    LUN with nowhere else to go: with no other leg in sync the event
 *    goes on up, and so does its BACK).
 *  - A leg that answers nothing for leg_timeout while requests wait
 *    there is degraded the same way (a stuck device).
 *  - A degraded leg is copied level (RESYNCING) when its resource comes
 *    back, and tried again every `retry` after an error; when the copy
 *    ends it is in sync.
 * Every change of a leg's state goes into the map file before a write
 * that relied on it is acknowledged (mirror_io.c: state_gen).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mirror_int.h"

static const char *const state_names[] = {
	[LEG_IN_SYNC] = "in sync", [LEG_RESYNCING] = "resyncing", [LEG_DEGRADED] = "degraded",
	[LEG_FAILED] = "failed", [LEG_DETACHED] = "being replaced",
};

const char *vs_leg_state_name(uint8_t state)
{
	return state <= LEG_DETACHED ? state_names[state] : "?";
}

uint32_t vs_leg_write_mask(struct mirror *m)
{
	uint32_t mask = 0;

	for (size_t i = 0; i < m->nlegs; i++)
		if (leg_writable(m, i))
			mask |= 1u << i;
	return mask;
}

uint32_t vs_leg_read_mask(struct mirror *m)
{
	uint32_t mask = 0;

	for (size_t i = 0; i < m->nlegs; i++)
		if (leg_state(m, i) == LEG_IN_SYNC && !atomic_load(&m->leg[i].lost))
			mask |= 1u << i;
	return mask;
}

int vs_leg_submit(struct mirror *m, size_t i, struct vs_bio *bio)
{
	int rc;

	atomic_fetch_add(&m->leg[i].outstanding, 1);
	rc = vs_layer_submit(m->self, i, bio);
	if (rc < 0)
		atomic_fetch_sub(&m->leg[i].outstanding, 1);
	return rc;
}

void vs_leg_returned(struct mirror *m, size_t i)
{
	atomic_fetch_add(&m->leg[i].completions, 1);
	atomic_fetch_sub(&m->leg[i].outstanding, 1);
}

static size_t others_in_sync(struct mirror *m, size_t i)
{
	size_t n = 0;

	for (size_t k = 0; k < m->nlegs; k++)
		if (k != i && leg_state(m, k) == LEG_IN_SYNC)
			n++;
	return n;
}

void vs_leg_set_state(struct mirror *m, size_t i, uint8_t state)
{
	if (state == LEG_RESYNCING && leg_state(m, i) != LEG_RESYNCING)
		atomic_store(&m->leg[i].rs_total, atomic_load(&m->leg[i].behind));
	atomic_store(&m->leg[i].state, state);
	m->leg[i].since = (uint64_t)time(NULL);
	atomic_store(&m->state_gen, vs_meta_changed(m));
}

bool vs_leg_failed(struct mirror *m, size_t i, int err, bool has_range, uint64_t r0, uint64_t r1)
{
	struct mleg *l = &m->leg[i];
	bool degraded = false;
	uint8_t s;

	pthread_mutex_lock(&m->lock);
	s = leg_state(m, i);
	if (s == LEG_IN_SYNC && others_in_sync(m, i) == 0) {
		pthread_mutex_unlock(&m->lock);
		return false;
	}
	if (has_range)
		vs_map_behind(m, i, r0, r1);
	if (s == LEG_IN_SYNC || s == LEG_RESYNCING) {
		vs_leg_set_state(m, i, LEG_DEGRADED);
		snprintf(l->why, sizeof(l->why), "%s", strerror(-err));
		atomic_store(&l->failed_ns, vs_loop_clock_ns());
		degraded = true;
	}
	pthread_mutex_unlock(&m->lock);
	vs_meta_kick(m);
	if (degraded)
		vs_mirror_log(m, "mirror: leg %zu degraded (%s); the others serve, what it misses is "
		           "copied when it returns", i, strerror(-err));
	return true;
}

void vs_leg_behind(struct mirror *m, size_t i, uint64_t r0, uint64_t r1)
{
	uint8_t s;

	pthread_mutex_lock(&m->lock);
	s = leg_state(m, i);
	/* the last leg in sync holds what there is: nothing to copy it from */
	if (s == LEG_IN_SYNC && others_in_sync(m, i) > 0)
		vs_leg_set_state(m, i, s = LEG_RESYNCING);
	if (s != LEG_IN_SYNC)
		vs_map_behind(m, i, r0, r1);
	pthread_mutex_unlock(&m->lock);
	vs_meta_kick(m);
	m->kick_resync(m);
}

void vs_leg_synced(struct mirror *m, size_t i)
{
	bool now = false;

	pthread_mutex_lock(&m->lock);
	if (leg_state(m, i) == LEG_RESYNCING && atomic_load(&m->leg[i].behind) == 0) {
		vs_leg_set_state(m, i, LEG_IN_SYNC);
		m->leg[i].why[0] = 0;
		now = true;
	}
	pthread_mutex_unlock(&m->lock);
	if (now) {
		vs_meta_kick(m);
		vs_mirror_log(m, "mirror: leg %zu is in sync again", i);
	}
}

/* A degraded leg is copied from now on (its resource is back, or it is
 * tried again after an error). */
static void start_copy(struct mirror *m, size_t i, const char *what)
{
	uint64_t behind;
	bool now = false;

	pthread_mutex_lock(&m->lock);
	if (leg_state(m, i) == LEG_DEGRADED) {
		vs_leg_set_state(m, i, LEG_RESYNCING);
		now = true;
	}
	behind = atomic_load(&m->leg[i].behind);
	pthread_mutex_unlock(&m->lock);
	if (!now)
		return;
	vs_meta_kick(m);
	vs_mirror_log(m, "mirror: leg %zu %s; copying the %llu regions it is behind on", i, what,
	           (unsigned long long)behind);
	m->kick_resync(m);
}

void vs_leg_event(struct mirror *m, size_t i, const struct vs_bdev_event *ev)
{
	struct mleg *l = &m->leg[i];

	switch (ev->type) {
	case VS_BDEV_EV_LOST:
		if (!leg_writable(m, i) || atomic_exchange(&l->lost, true))
			return;
		atomic_store(&l->lost_since_ns, vs_loop_clock_ns());
		if (ev->hold_ms && ev->hold_ms / 2 < atomic_load(&m->leg_timeout_ms))
			atomic_store(&l->lost_since_ns, vs_loop_clock_ns() -
			             (atomic_load(&m->leg_timeout_ms) - ev->hold_ms / 2) * 1000000ull);
		if (leg_state(m, i) == LEG_IN_SYNC && others_in_sync(m, i) == 0) {
			/* nowhere else to read from: the LUN holds, as without a mirror */
			atomic_store(&l->passed_up, true);
			vs_layer_event(m->self, ev);
			return;
		}
		vs_mirror_log(m, "mirror: leg %zu lost its resource (%s); degraded in %llu ms unless "
		           "it comes back", i, ev->why ? ev->why : "no reason given",
		           (unsigned long long)atomic_load(&m->leg_timeout_ms));
		return;
	case VS_BDEV_EV_BACK:
		atomic_store(&l->lost, false);
		if (atomic_exchange(&l->passed_up, false))
			vs_layer_event(m->self, ev);
		start_copy(m, i, "is back");
		return;
	case VS_BDEV_EV_FAILED:
		atomic_store(&l->lost, false);
		if (!vs_leg_failed(m, i, -ENODEV, true, 0, m->nregions - 1)) {
			vs_layer_event(m->self, ev);
			return;
		}
		pthread_mutex_lock(&m->lock);
		vs_leg_set_state(m, i, LEG_FAILED);
		pthread_mutex_unlock(&m->lock);
		vs_meta_kick(m);
		vs_mirror_log(m, "mirror: leg %zu failed for good (%s); replace it", i,
		           ev->why ? ev->why : "no reason given");
		if (atomic_exchange(&l->passed_up, false)) {
			struct vs_bdev_event back = { .type = VS_BDEV_EV_BACK, .why = "other legs serve" };

			vs_layer_event(m->self, &back);
		}
		return;
	case VS_BDEV_EV_RESIZED:
		return;         /* the mirror's size is fixed when it opens */
	default:
		vs_layer_event(m->self, ev);
		return;
	}
}

/* Give up on leg i: degraded, and what its backend holds comes back. */
static void give_up(struct mirror *m, size_t i, const char *why)
{
	/* no regions: the writes it held mark theirs as they come back */
	if (!vs_leg_failed(m, i, -ETIMEDOUT, false, 0, 0))
		return;         /* the last leg in sync: it keeps its requests */
	pthread_mutex_lock(&m->lock);
	snprintf(m->leg[i].why, sizeof(m->leg[i].why), "%s", why);
	pthread_mutex_unlock(&m->lock);
	atomic_store(&m->leg[i].lost, false);
	vs_layer_lower_reset(m->self, i);
}

void vs_leg_tick(struct mirror *m, uint64_t now)
{
	uint64_t timeout = atomic_load(&m->leg_timeout_ms) * 1000000ull;
	uint64_t retry = atomic_load(&m->retry_ms) * 1000000ull;

	for (size_t i = 0; i < m->nlegs; i++) {
		struct mleg *l = &m->leg[i];
		uint8_t s = leg_state(m, i);
		uint64_t done = atomic_load(&l->completions);

		if (leg_writable(m, i) && atomic_load(&l->lost) && !atomic_load(&l->passed_up) &&
		    now - atomic_load(&l->lost_since_ns) >= timeout) {
			give_up(m, i, "its resource was lost and did not come back in time");
			continue;
		}
		if (!leg_writable(m, i) || atomic_load(&l->outstanding) == 0 ||
		    done != l->wd_completions) {
			l->wd_completions = done;
			l->wd_since_ns = now;
		} else if (now - l->wd_since_ns >= timeout) {
			l->wd_since_ns = now;
			give_up(m, i, "it stopped answering");
			continue;
		}
		if (s == LEG_DEGRADED && retry && !atomic_load(&l->lost) &&
		    now - atomic_load(&l->failed_ns) >= retry)
			start_copy(m, i, "is tried again");
	}
}
