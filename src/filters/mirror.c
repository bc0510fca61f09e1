/* SPDX-License-Identifier: MIT */
/*
 * mirror: RAID-1 over two or more legs (Windows' mirrored volume, md's
 * raid1), e.g. a local file and a remote NBD server.  Writes go to every
 * leg, reads to one that is in sync; a leg that fails, loses its resource
 * or stops answering is degraded and the others serve without an error at
 * the initiator; what it misses is recorded in a map file and copied to it
 * in the background when it returns, while requests go on.
 *
 *   meta=         (required) the map file: each leg's state, the regions
 *                 each leg is behind on, and the regions with writes in
 *                 flight (made if missing; see mirror_meta.c for why a
 *                 file of its own)
 *   region=       bytes per region of the maps, a power of two from 4K
 *                 (default 0: 64K or more, so that there are at most
 *                 262144 regions)
 *   resync_rate=  bytes a second the background copy may use (default
 *                 100M; 0: no limit)
 *   leg_timeout=  how long a leg may hold requests (its resource lost, or
 *                 no answer) before it is degraded (default 5s); a LOST
 *                 event asking for a shorter hold shortens it to half that
 *   retry=        how often a leg degraded by errors is tried again
 *                 (default 10s; 0: only when its resource comes back)
 *   assume_clean= a new map file: the legs are the same already (new,
 *                 empty disks), copy nothing (default 0: leg 0 is copied
 *                 to the others)
 * resync_rate, leg_timeout and retry may change while the LUN is open.
 *
 * A crash loses nothing: the map says which legs are behind where, and
 * which regions had writes in flight (legs may differ there); the next
 * open copies exactly those regions from a leg in sync before any is read
 * from another leg.  A leg can be replaced while the LUN is open
 * (vs_bdev_replace_lower; vstorctl lun replace-leg): the new one is copied
 * in full.  The files of this filter are listed in mirror_int.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mirror_int.h"
#include "volume_caps.h"

#define LEG_ALIGN      4096u
#define AUTO_REGION    (64u << 10)
#define AUTO_MAX       262144u
#define DETACH_WAIT_MS 30000u

static const struct vs_opt_desc mirror_options[] = {
	{ .name = "meta", .type = VS_OPT_PATH, .flags = VS_OPT_REQUIRED,
	  .help = "map file: leg states, regions behind and in flight (made if missing)" },
	{ .name = "region", .type = VS_OPT_SIZE, .dflt = "0", .max = 1u << 30,
	  .help = "bytes per region, a power of two from 4K (0: at least 64K, at most 262144 "
	          "regions)" },
	{ .name = "resync_rate", .type = VS_OPT_RATE, .flags = VS_OPT_RUNTIME, .dflt = "100M",
	  .help = "bytes per second the background copy may use (0: no limit)" },
	{ .name = "leg_timeout", .type = VS_OPT_DURATION, .flags = VS_OPT_RUNTIME, .dflt = "5s",
	  .min = 100, .max = 3600000, .help = "a lost or silent leg is degraded after this" },
	{ .name = "retry", .type = VS_OPT_DURATION, .flags = VS_OPT_RUNTIME, .dflt = "10s",
	  .max = 86400000, .help = "try a leg degraded by errors again after this (0: never)" },
	{ .name = "assume_clean", .type = VS_OPT_BOOL, .dflt = "0",
	  .help = "a new map file: the legs are already the same, copy nothing" },
	{ 0 }
};

static int mirror_check(const struct vs_opts *o)
{
	uint64_t region = vs_opt_u64(o, "region");

	if (region && (region < 4096 || (region & (region - 1)))) {
		vs_set_error("region: %" PRIu64 " is not a power of two from 4K", region);
		return -EINVAL;
	}
	return 0;
}

static void apply_options(struct mirror *m, const struct vs_opts *o)
{
	atomic_store(&m->rate, vs_opt_u64(o, "resync_rate"));
	atomic_store(&m->leg_timeout_ms, vs_opt_u64(o, "leg_timeout"));
	atomic_store(&m->retry_ms, vs_opt_u64(o, "retry"));
}

/* ---- the timer ---- */

static void on_tick(struct vs_loop_timer *t)
{
	struct mirror *m = (struct mirror *)((char *)t - offsetof(struct mirror, tick));
	uint64_t now = vs_loop_clock_ns();
	bool clean = false, copy = false;

	vs_leg_tick(m, now);
	if (now - m->last_clean_ns >= MIRROR_CLEAN_MS * 1000000ull) {
		m->last_clean_ns = now;
		pthread_mutex_lock(&m->lock);
		if (vs_map_clean(m, false)) {
			vs_meta_changed(m);
			clean = true;
		}
		clean |= m->meta.want;          /* an update that failed: again */
		pthread_mutex_unlock(&m->lock);
	}
	/* the copy's progress goes into the map every tick, so a crash
	 * copies again at most what was copied in the last one */
	if (atomic_exchange(&m->rs.cleared, false)) {
		pthread_mutex_lock(&m->lock);
		vs_meta_changed(m);
		pthread_mutex_unlock(&m->lock);
		clean = true;
	}
	if (clean)
		vs_meta_kick(m);
	for (size_t i = 0; i < m->nlegs; i++)
		copy |= leg_state(m, i) == LEG_RESYNCING;
	if (copy)
		vs_resync_kick(m);
	vs_loop_timer_arm_in(m->loop, &m->tick, MIRROR_TICK_MS * 1000000ull);
}

static void on_stop(struct vs_loop_msg *msg)
{
	struct mirror *m = (struct mirror *)((char *)msg - offsetof(struct mirror, stop_msg));

	vs_loop_timer_cancel(&m->tick);
	vs_loop_timer_cancel(&m->rs.timer);
	pthread_mutex_lock(&m->lock);
	m->tick_stopped = true;
	pthread_cond_broadcast(&m->stopped);
	pthread_mutex_unlock(&m->lock);
}

/* ---- open, close ---- */

/* Also a mirror that failed half way through open. */
static void free_mirror(struct mirror *m)
{
	vs_meta_close(m);
	vs_resync_fini(m);
	free((void *)m->wstate);
	free((void *)m->pending);
	free((void *)m->touched);
	free((void *)m->copying);
	pthread_cond_destroy(&m->stopped);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static void kick_resync_up(struct mirror *m) { vs_resync_kick(m); }
static void release_up(struct mirror *m) { vs_wait_release(m); }

static void *mirror_open(struct vs_filter_open_args *args)
{
	struct mirror *m;

	if (args->nlower > MIRROR_MAX_LEGS) {
		vs_set_error("legs: a mirror takes at most %u", MIRROR_MAX_LEGS);
		return NULL;
	}
	if (!args->loops) {
		vs_set_error("mirror: needs the daemon's event loops (none were given)");
		return NULL;
	}
	if (args->readonly) {
		vs_set_error("mirror: a read-only LUN cannot keep the mirror's map; open it "
		             "read-write");
		return NULL;
	}
	if (!(m = calloc(1, sizeof(*m)))) {
		vs_set_error("out of memory");
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->stopped, NULL);
	m->self = args->self;
	m->nlegs = args->nlower;
	m->kick_resync = kick_resync_up;
	m->release_waiters = release_up;
	apply_options(m, args->opts);
	m->size = UINT64_MAX;
	for (size_t i = 0; i < m->nlegs; i++) {
		uint64_t s = vs_layer_lower_size(args->self, i) / LEG_ALIGN * LEG_ALIGN;

		if (s < m->size)
			m->size = s;
	}
	if (m->size == 0) {
		vs_set_error("legs: a leg has less than %u bytes", LEG_ALIGN);
		goto fail;
	}
	m->region = vs_opt_u64(args->opts, "region");
	if (!m->region)
		for (m->region = AUTO_REGION; m->size / m->region > AUTO_MAX; m->region <<= 1)
			;
	while ((1ull << m->shift) < m->region)
		m->shift++;
	m->nregions = (m->size + m->region - 1) >> m->shift;
	m->words = (m->nregions + 63) / 64;
	m->wstate = calloc(m->nregions, 1);
	m->pending = calloc(m->nregions, sizeof(*m->pending));
	m->touched = calloc(m->nregions, 1);
	m->copying = calloc(m->nregions, 1);
	if (!m->wstate || !m->pending || !m->touched || !m->copying) {
		vs_set_error("out of memory");
		goto fail;
	}
	if (vs_resync_init(m) < 0)
		goto fail;
	m->loop = vs_loop_group_pick(args->loops, (uintptr_t)m);
	m->stop_msg.fn = on_stop;
	vs_loop_timer_init(&m->tick, on_tick);
	if (vs_meta_open(m, vs_opt_str(args->opts, "meta"), vs_opt_bool(args->opts, "assume_clean"))
	    < 0)
		goto fail;
	for (size_t i = 0; i < m->nlegs; i++) {
		m->leg[i].since = (uint64_t)time(NULL);
		/* the watchdog counts silence from now, not from the epoch */
		m->leg[i].wd_since_ns = vs_loop_clock_ns();
	}
	m->last_clean_ns = vs_loop_clock_ns();
	vs_loop_timer_post_arm(m->loop, &m->tick, vs_loop_clock_ns() + MIRROR_TICK_MS * 1000000ull);
	args->ctx_size = sizeof(struct mreq);
	/* a child per leg, and the resync's own request on top */
	args->max_pieces = (uint32_t)m->nlegs + 1;
	vs_resync_kick(m);
	return m;
fail:
	free_mirror(m);
	return NULL;
}

static void mirror_close(void *h)
{
	struct mirror *m = h;

	vs_resync_stop(m);
	vs_loop_post(m->loop, &m->stop_msg);
	pthread_mutex_lock(&m->lock);
	while (!m->tick_stopped)
		pthread_cond_wait(&m->stopped, &m->lock);
	/* nothing is in flight: every in-flight bit can go */
	vs_map_clean(m, true);
	pthread_mutex_unlock(&m->lock);
	vs_meta_sync(m);
	free_mirror(m);
}

/* ---- requests ---- */

static int mirror_submit(void *h, struct vs_bio *bio, void *ctx)
{
	return vs_mio_submit(h, bio, ctx);
}

static bool mirror_cancel(void *h, struct vs_bio *bio)
{
	struct mreq *q = vs_wait_take(h, bio);

	if (q)
		vs_mio_cancel(q);
	return q != NULL;
}

static void mirror_reset(void *h)
{
	struct mreq *q = vs_wait_take(h, NULL), *next;

	for (; q; q = next) {
		next = q->next_wait;
		vs_mio_cancel(q);
	}
}

static uint64_t mirror_size(void *h)
{
	return ((struct mirror *)h)->size;
}

static void mirror_caps(void *h, struct vs_backend_caps *caps)
{
	struct mirror *m = h;

	vs_volume_caps(m->self, m->nlegs, caps);
}

static int mirror_resize(void *h, uint64_t new_size)
{
	(void)h;
	(void)new_size;
	vs_set_error("resize: a mirror cannot change size (its map is made for its size)");
	return -EOPNOTSUPP;
}

/* Every leg in sync holds the same: ask one. */
static int mirror_block_status(void *h, uint64_t off, uint64_t len, bool *mapped,
                               uint64_t *ext)
{
	struct mirror *m = h;
	uint32_t mask = vs_leg_read_mask(m);
	size_t i = mask ? (size_t)__builtin_ctz(mask) : 0;

	if (!mask || !vs_layer_lower_has_block_status(m->self, i)) {
		*mapped = true;
		*ext = len;
		return 0;
	}
	return vs_layer_lower_block_status(m->self, i, off, len, mapped, ext);
}

static void mirror_event(void *h, size_t lower, const struct vs_bdev_event *ev)
{
	struct mirror *m = h;

	if (lower < m->nlegs && leg_state(m, lower) != LEG_DETACHED)
		vs_leg_event(m, lower, ev);
}

static int mirror_set_options(void *h, const struct vs_opts *o)
{
	apply_options(h, o);
	vs_resync_kick(h);
	return 0;
}

/* ---- state for listings ---- */

static unsigned percent(uint64_t done, uint64_t total)
{
	return total ? (unsigned)(done * 100 / total) : 100;
}

static void mirror_state(void *h, void (*emit)(void *, const char *, const char *), void *ctx)
{
	struct mirror *m = h;
	uint64_t behind_sum = 0, total_sum = 0;
	bool degraded = false, copying = false;
	char key[24], v[256];

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->nlegs; i++) {
		struct mleg *l = &m->leg[i];
		uint8_t s = leg_state(m, i);
		uint64_t behind = atomic_load(&l->behind);
		char since[32] = "";
		struct tm tm;
		time_t t = (time_t)l->since;

		localtime_r(&t, &tm);
		strftime(since, sizeof(since), "%H:%M:%S", &tm);
		snprintf(key, sizeof(key), "leg%zu", i);
		if (s == LEG_RESYNCING) {
			uint64_t total = atomic_load(&l->rs_total);   /* after behind */

			copying = true;
			behind_sum += behind;
			total_sum += total;
			snprintf(v, sizeof(v), "resyncing %u%% (%" PRIu64 " regions to copy)",
			         percent(total - behind, total), behind);
		} else if (s == LEG_IN_SYNC) {
			snprintf(v, sizeof(v), "%s", atomic_load(&l->lost)
			         ? "in sync, resource lost: waiting for it" : "in sync");
		} else {
			degraded = true;
			snprintf(v, sizeof(v), "%s since %s%s%s%s, %" PRIu64 " regions behind",
			         vs_leg_state_name(s), since, l->why[0] ? " (" : "", l->why,
			         l->why[0] ? ")" : "", behind);
		}
		emit(ctx, key, v);
	}
	pthread_mutex_unlock(&m->lock);
	if (copying)
		snprintf(v, sizeof(v), "resyncing %u%%", percent(total_sum - behind_sum, total_sum));
	else
		snprintf(v, sizeof(v), "%s", degraded ? "degraded" : "in sync");
	emit(ctx, "state", v);
	snprintf(v, sizeof(v), "%" PRIu64, m->region);
	emit(ctx, "region", v);
	snprintf(v, sizeof(v), "%" PRIu64, atomic_load(&m->rs.copied));
	emit(ctx, "resync_copied", v);
	snprintf(v, sizeof(v), "%" PRIu64, atomic_load(&m->rs.regions_copied));
	emit(ctx, "resync_regions", v);
}

/* ---- replacing a leg ---- */

static int mirror_replace(void *h, size_t i, int step, uint64_t new_size)
{
	struct mirror *m = h;
	uint8_t was;

	switch (step) {
	case VS_REPLACE_CHECK:
		if (new_size < m->size) {
			vs_set_error("leg: the new leg has %" PRIu64 " bytes; the mirror needs %" PRIu64,
			             new_size, m->size);
			return -EINVAL;
		}
		/* the same test DETACH makes, early */
		__attribute__((fallthrough));
	case VS_REPLACE_DETACH:
		pthread_mutex_lock(&m->lock);
		was = leg_state(m, i);
		if (was == LEG_IN_SYNC) {
			size_t others = 0;

			for (size_t k = 0; k < m->nlegs; k++)
				others += k != i && leg_state(m, k) == LEG_IN_SYNC;
			if (!others) {
				pthread_mutex_unlock(&m->lock);
				vs_set_error("leg: leg %zu is the only one in sync; it cannot be replaced "
				             "until another is", i);
				return -EBUSY;
			}
		}
		if (step == VS_REPLACE_CHECK) {
			pthread_mutex_unlock(&m->lock);
			return 0;
		}
		vs_leg_set_state(m, i, LEG_DETACHED);
		atomic_store(&m->leg[i].lost, false);
		pthread_mutex_unlock(&m->lock);
		vs_meta_sync(m);
		vs_layer_lower_reset(m->self, i);
		for (unsigned ms = 0; atomic_load(&m->leg[i].outstanding); ms++) {
			if (ms == DETACH_WAIT_MS) {
				pthread_mutex_lock(&m->lock);
				vs_leg_set_state(m, i, was == LEG_FAILED ? LEG_FAILED : LEG_DEGRADED);
				pthread_mutex_unlock(&m->lock);
				vs_meta_kick(m);
				vs_set_error("leg: requests to leg %zu are still in flight after %u s; it "
				             "stays", i, DETACH_WAIT_MS / 1000);
				return -EBUSY;
			}
			usleep(1000);
		}
		return 0;
	case VS_REPLACE_ATTACH:
		pthread_mutex_lock(&m->lock);
		vs_map_behind_all(m, i);
		m->leg[i].why[0] = 0;
		atomic_store(&m->leg[i].passed_up, false);
		vs_leg_set_state(m, i, LEG_RESYNCING);
		pthread_mutex_unlock(&m->lock);
		vs_meta_kick(m);
		vs_mirror_log(m, "mirror: leg %zu replaced; copying all %" PRIu64 " regions to it", i,
		           m->nregions);
		vs_resync_kick(m);
		return 0;
	default:
		return -EINVAL;
	}
}

static const struct vs_filter_ops mirror_ops = {
	.name = "mirror",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "RAID-1 over several legs: serves on when a leg fails, copies it level "
	               "when it returns",
	.options = mirror_options,
	.min_lower = 2,
	.max_lower = MIRROR_MAX_LEGS,
	.check = mirror_check,
	.open = mirror_open,
	.close = mirror_close,
	.submit = mirror_submit,
	.get_size = mirror_size,
	.get_caps = mirror_caps,
	.cancel = mirror_cancel,
	.reset = mirror_reset,
	.resize = mirror_resize,
	.block_status = mirror_block_status,
	.event = mirror_event,
	.set_options = mirror_set_options,
	.state = mirror_state,
	.replace_lower = mirror_replace,
};
VS_FILTER_BUILTIN(mirror_ops)
