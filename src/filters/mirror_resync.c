/* SPDX-License-Identifier: MIT */
/*
 * The resync: copying the regions a leg is behind on from a leg in sync,
 * in the background, at most `resync_rate` bytes a second, while
 * requests go on.
 *
 * One region at a time, in pieces of up to 1 MiB through one buffer: the
 * region is locked first (`copying`; new writes there wait, mirror_io.c),
 * the copy starts once the writes already in it are done (`pending`), so
 * a copy never overwrites a newer write with older data, and every leg
 * being copied that is behind there gets the same piece.  When the region
 * is copied its behind bits are cleared (the next map update carries
 * that; a crash before it only copies the region again).  A leg with no
 * region left behind is in sync (mirror_leg.c).
 *
 * It runs on the mirror's event loop: a step is a message or a timer
 * callback there; the copy's requests complete on the legs' threads and
 * post the next step.  Its state changes under the mirror's lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mirror_int.h"

#define WAIT_PENDING_NS 1000000ull      /* look again for writes to drain */
#define WAIT_SOURCE_NS  100000000ull    /* no source leg now: look again */

static void post_step(struct mirror *m)
{
	if (!atomic_exchange(&m->rs.kick_posted, true))
		vs_loop_post(m->loop, &m->rs.kick);
}

void vs_resync_kick(struct mirror *m)
{
	post_step(m);
}

static uint32_t copy_targets(struct mirror *m)
{
	uint32_t mask = 0;

	for (size_t i = 0; i < m->nlegs; i++)
		if (leg_state(m, i) == LEG_RESYNCING && !atomic_load(&m->leg[i].lost))
			mask |= 1u << i;
	return mask;
}

static size_t pick_source(struct mirror *m)
{
	uint32_t mask = vs_leg_read_mask(m);

	return mask ? (size_t)__builtin_ctz(mask) : m->nlegs;
}

/* Under lock: the region is done (clear: its copy reached rs.targets). */
static void end_region(struct mirror *m, bool clear)
{
	struct resync *rs = &m->rs;

	for (size_t i = 0; clear && i < m->nlegs; i++)
		if (rs->targets & (1u << i))
			vs_map_behind_clear(m, i, rs->region);
	if (clear) {
		atomic_fetch_add(&rs->regions_copied, 1);
		atomic_store(&rs->cleared, true);
	}
	atomic_store(&m->copying[rs->region], 0);
	rs->region_locked = false;
	rs->cursor = rs->region + 1;
}

static void piece_written(struct mirror *m)
{
	struct resync *rs = &m->rs;
	uint64_t len = rs->rd.length, rate = atomic_load(&m->rate), now = vs_loop_clock_ns();
	bool region_over;

	pthread_mutex_lock(&m->lock);
	rs->targets &= rs->ok;
	if (rs->ok)
		atomic_fetch_add(&rs->copied, len);
	rs->pos += len;
	if (rate) {
		if (rs->next_ns < now)
			rs->next_ns = now;
		rs->next_ns += len * 1000000000ull / rate;
	}
	region_over = rs->pos >= rs->end || !rs->targets;
	if (region_over)
		end_region(m, rs->targets != 0);
	rs->busy = false;
	pthread_cond_broadcast(&rs->idle);
	pthread_mutex_unlock(&m->lock);
	if (region_over)
		vs_wait_release(m);        /* writes held back by the copy */
	post_step(m);
}

static void write_done(struct vs_bio *bio, int err)
{
	struct mirror *m = bio->ctx;
	size_t i = (size_t)(bio - m->rs.wr);

	vs_leg_returned(m, i);
	if (err)
		vs_leg_failed(m, i, err, true, m->rs.region, m->rs.region);
	else {
		pthread_mutex_lock(&m->lock);
		m->rs.ok |= 1u << i;
		pthread_mutex_unlock(&m->lock);
	}
	if (atomic_fetch_sub(&m->rs.left, 1) == 1)
		piece_written(m);
}

/* The source could not be read there: it fails (unless it is the last
 * leg in sync, then the copy is tried again later) and the next step
 * picks another. */
static void source_failed(struct mirror *m, int err)
{
	struct resync *rs = &m->rs;

	vs_leg_failed(m, rs->source, err, true, rs->region, rs->region);
	pthread_mutex_lock(&m->lock);
	rs->busy = false;
	pthread_cond_broadcast(&rs->idle);
	pthread_mutex_unlock(&m->lock);
	post_step(m);
}

static void read_done(struct vs_bio *bio, int err)
{
	struct mirror *m = bio->ctx;
	struct resync *rs = &m->rs;
	uint32_t targets;

	(void)bio;
	vs_leg_returned(m, rs->source);
	if (err) {
		source_failed(m, err);
		return;
	}
	pthread_mutex_lock(&m->lock);
	targets = rs->targets;
	rs->ok = 0;
	pthread_mutex_unlock(&m->lock);
	atomic_store(&rs->left, (uint32_t)__builtin_popcount(targets) + 1);
	for (size_t i = 0; i < m->nlegs; i++) {
		if (!(targets & (1u << i)))
			continue;
		rs->wr[i] = (struct vs_bio){ .op = VS_BIO_WRITE, .offset = rs->rd.offset,
		                             .length = rs->rd.length, .iov = &rs->iov, .iovcnt = 1,
		                             .done = write_done, .ctx = m };
		if (vs_leg_submit(m, i, &rs->wr[i]) < 0) {
			vs_leg_failed(m, i, -EIO, true, rs->region, rs->region);
			atomic_fetch_sub(&rs->left, 1);
		}
	}
	if (atomic_fetch_sub(&rs->left, 1) == 1)
		piece_written(m);
}

/* Under lock, loop thread: the next region to copy, locked; false if
 * none is behind any more (the legs being copied are in sync). */
static bool next_region(struct mirror *m, uint32_t targets)
{
	struct resync *rs = &m->rs;
	uint64_t r = vs_map_next_behind(m, targets, rs->cursor);

	if (r >= m->nregions)
		r = vs_map_next_behind(m, targets, 0);
	if (r >= m->nregions)
		return false;
	rs->region = r;
	rs->targets = 0;
	for (size_t i = 0; i < m->nlegs; i++)
		if ((targets & (1u << i)) && vs_map_test(m->leg[i].bits, r))
			rs->targets |= 1u << i;
	rs->pos = r << m->shift;
	rs->end = rs->pos + m->region < m->size ? rs->pos + m->region : m->size;
	/* Dekker with vs_map_take: set copying, then look at pending */
	atomic_store(&m->copying[r], 1);
	rs->region_locked = true;
	return true;
}

static void step(struct mirror *m)
{
	struct resync *rs = &m->rs;
	uint64_t now = vs_loop_clock_ns(), len;
	uint32_t targets;
	size_t src;
	int rc;

	pthread_mutex_lock(&m->lock);
	if (rs->busy || rs->stopping) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	targets = copy_targets(m);
	if (!rs->region_locked) {
		if (!targets) {
			pthread_mutex_unlock(&m->lock);
			return;
		}
		/* the rate is kept between regions: a region is never held
		 * locked while the copy waits for its turn */
		if (atomic_load(&m->rate) && now < rs->next_ns) {
			pthread_mutex_unlock(&m->lock);
			vs_loop_timer_arm(m->loop, &rs->timer, rs->next_ns);
			return;
		}
		if (!next_region(m, targets)) {
			pthread_mutex_unlock(&m->lock);
			for (size_t i = 0; i < m->nlegs; i++)
				if (targets & (1u << i))
					vs_leg_synced(m, i);
			return;
		}
	}
	rs->targets &= targets;
	if (!rs->targets) {
		/* the legs it was for went away: leave the region as it is */
		end_region(m, false);
		pthread_mutex_unlock(&m->lock);
		vs_wait_release(m);
		post_step(m);
		return;
	}
	if (atomic_load(&m->pending[rs->region])) {
		pthread_mutex_unlock(&m->lock);
		vs_loop_timer_arm(m->loop, &rs->timer, now + WAIT_PENDING_NS);
		return;
	}
	src = pick_source(m);
	if (src == m->nlegs) {
		/* no leg in sync to read from now: let writes in, look later */
		end_region(m, false);
		pthread_mutex_unlock(&m->lock);
		vs_wait_release(m);
		vs_loop_timer_arm(m->loop, &rs->timer, now + WAIT_SOURCE_NS);
		return;
	}
	rs->source = src;
	rs->busy = true;
	len = rs->end - rs->pos < MIRROR_COPY_BYTES ? rs->end - rs->pos : MIRROR_COPY_BYTES;
	rs->iov = (struct iovec){ rs->buf, (size_t)len };
	rs->rd = (struct vs_bio){ .op = VS_BIO_READ, .offset = rs->pos, .length = len,
	                          .iov = &rs->iov, .iovcnt = 1, .done = read_done, .ctx = m };
	pthread_mutex_unlock(&m->lock);
	rc = vs_leg_submit(m, src, &rs->rd);
	if (rc == -EAGAIN) {
		/* the leg's requests are all in use: a little later */
		pthread_mutex_lock(&m->lock);
		rs->busy = false;
		pthread_cond_broadcast(&rs->idle);
		pthread_mutex_unlock(&m->lock);
		vs_loop_timer_arm(m->loop, &rs->timer, now + WAIT_PENDING_NS);
	} else if (rc < 0) {
		source_failed(m, rc);
	}
}

static void on_kick(struct vs_loop_msg *msg)
{
	struct mirror *m = (struct mirror *)((char *)msg - offsetof(struct mirror, rs.kick));

	atomic_store(&m->rs.kick_posted, false);
	step(m);
}

static void on_timer(struct vs_loop_timer *t)
{
	step((struct mirror *)((char *)t - offsetof(struct mirror, rs.timer)));
}

int vs_resync_init(struct mirror *m)
{
	struct resync *rs = &m->rs;

	rs->buf = aligned_alloc(4096, MIRROR_COPY_BYTES);
	if (!rs->buf) {
		vs_set_error("out of memory");
		return -ENOMEM;
	}
	rs->kick.fn = on_kick;
	vs_loop_timer_init(&rs->timer, on_timer);
	pthread_cond_init(&rs->idle, NULL);
	return 0;
}

void vs_resync_stop(struct mirror *m)
{
	struct resync *rs = &m->rs;
	bool locked;

	pthread_mutex_lock(&m->lock);
	rs->stopping = true;
	while (rs->busy)
		pthread_cond_wait(&rs->idle, &m->lock);
	locked = rs->region_locked;
	if (locked)
		end_region(m, false);
	pthread_mutex_unlock(&m->lock);
	if (locked)
		vs_wait_release(m);
}

void vs_resync_fini(struct mirror *m)
{
	if (!m->rs.buf)
		return;         /* vs_resync_init did not get that far */
	free(m->rs.buf);
	m->rs.buf = NULL;
	pthread_cond_destroy(&m->rs.idle);
}
