/* SPDX-License-Identifier: MIT */
/*
 * Inside the mirror filter (RAID-1 over two or more legs).  Files, each
 * one job, in the order they call each other (never back up the list;
 * what must go the other way goes through the function pointers in
 * struct mirror):
 *
 *   vs_mirror_log.c     lines for the log, through the stack's events
 *   mirror_map.c     per-region state: writes in flight, the in-flight
 *                    (write-intent) bits and each leg's behind bits
 *   mirror_meta.c    the map file: format, loading, durable updates
 *   mirror_wait.c    requests parked until a map update is durable or a
 *                    region's copy is over
 *   mirror_leg.c     leg states: failure, loss and return, timers
 *   mirror_resync.c  the background copy of regions a leg is behind on
 *   mirror_io.c      foreground requests: writes to every leg, reads
 *                    from one that is in sync
 *   mirror.c         the filter: options, open, close, events, state,
 *                    replacing a leg
 *
 * Regions: the volume is cut into regions of `region` bytes (a power of
 * two).  Per region the mirror keeps
 *   - pending:  writes in flight there (the resync copies a region only
 *               when none is, and holds new ones back while it copies);
 *   - wstate:   whether the region's in-flight bit is set in the map file
 *               (CLEAN, SET: asked for, DURABLE: on disk).  A write goes
 *               down only once all its regions are DURABLE; the bit is
 *               cleared lazily when the region has been idle a while
 *               (md's write-intent bitmap).  After a crash, the regions
 *               with the bit set are exactly those where legs may differ;
 *   - behind bits, one map per leg: the leg missed writes there (it was
 *               degraded, or its write failed) and must be copied from an
 *               in-sync leg before it is read from again.
 */
#ifndef VSTOR_FILTERS_MIRROR_INT_H
#define VSTOR_FILTERS_MIRROR_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vstor/filter.h"
#include "vstor/loop.h"

#define MIRROR_MAX_LEGS 8u
/* The map file's header; the maps follow it. */
#define MIRROR_HDR_BYTES 4096u
/* The resync copies a region in pieces of at most this. */
#define MIRROR_COPY_BYTES (1u << 20)
/* How often the mirror's timer looks at legs, idle regions and retries. */
#define MIRROR_TICK_MS 100u
/* A region's in-flight bit is cleared after it was idle this long. */
#define MIRROR_CLEAN_MS 1000u

enum leg_state {
	LEG_IN_SYNC = 0,        /* written and read */
	LEG_RESYNCING,          /* written; copied where behind; not read */
	LEG_DEGRADED,           /* failed or lost: not used; behind bits grow */
	LEG_FAILED,             /* gone for good: only a replacement helps */
	LEG_DETACHED,           /* being replaced (never in the map file) */
};

enum region_wstate {
	W_CLEAN = 0,
	W_SET,                  /* bit set in memory, waiting for a map update */
	W_FLUSHING,             /* in the update being written */
	W_DURABLE,
};

struct mirror;

/* One request of the disk above (the per-request context). */
struct mreq {
	struct mirror *m;
	struct vs_bio *parent;
	struct mreq *next_wait;         /* mirror_wait.c */
	void (*resume)(struct mreq *q); /* what runs when it is released */
	uint64_t r0, r1;                /* regions touched, inclusive */
	uint64_t need_gen;              /* map update that must be durable first */
	bool holds_pending;
	uint8_t read_leg;
	uint32_t tried;                 /* read: legs tried (mask) */
	uint32_t sent;                  /* legs a child went to (mask) */
	_Atomic uint32_t left;
	_Atomic uint32_t ok;            /* legs that succeeded (mask) */
	_Atomic int err;                /* the first error of a child */
	_Atomic int hard;               /* an error no other leg makes up for */
	struct vs_bio child[MIRROR_MAX_LEGS];
};

struct mleg {
	_Atomic uint8_t state;          /* enum leg_state */
	_Atomic bool lost;              /* LOST seen; not degraded (yet) nor back */
	_Atomic uint64_t lost_since_ns;
	_Atomic bool passed_up;         /* its LOST went up (no other leg to serve) */
	_Atomic uint32_t outstanding;   /* requests sent to it, not back */
	_Atomic uint64_t completions;
	uint64_t wd_completions;        /* tick: completions when last looked */
	uint64_t wd_since_ns;           /* tick: since when none came back */
	_Atomic uint64_t failed_ns;     /* when it was last degraded (retry) */
	_Atomic uint64_t behind;        /* regions with its behind bit set */
	/* regions to copy since its resync began: behind then, plus each
	 * region behind since (the percent shown; counted where the bits are
	 * set, not when someone looks, so a copy faster than the first look
	 * still shows) */
	_Atomic uint64_t rs_total;
	_Atomic uint64_t *bits;         /* its behind map, in the image */
	char why[128];                  /* last failure (under lock) */
	uint64_t since;                 /* CLOCK_REALTIME s of the last change */
};

struct meta {
	struct vs_bdev *file;           /* the map file, through the file backend */
	uint8_t *img;                   /* header + maps, what the next update writes */
	uint8_t *io;                    /* the copy being written */
	size_t slot;                    /* bytes of one copy (two are kept) */
	uint64_t seq;                   /* the last copy's sequence number */
	bool in_flight, want;           /* under lock */
	uint64_t gen;                   /* changes made (under lock) */
	uint64_t writing_gen;           /* the changes the update in flight carries */
	_Atomic uint64_t durable_gen;   /* the changes on disk */
	int io_err;                     /* last update's error */
	uint64_t *set_list, nset;       /* regions W_SET, waiting for an update */
	uint64_t *flush_list, nflush;   /* regions W_FLUSHING */
	pthread_cond_t done;            /* an update finished (synchronous waits) */
	struct vs_bio bio;
	struct iovec iov;
};

struct resync {
	struct vs_loop_msg kick;        /* posted to run a step */
	_Atomic bool kick_posted;
	struct vs_loop_timer timer;     /* rate limit, waits */
	bool busy;                      /* a copy is in flight (loop thread) */
	bool region_locked;
	uint64_t cursor, region;        /* next region to look at; the one being copied */
	uint64_t pos, end;              /* piece of the region being copied */
	size_t source;
	uint32_t targets;               /* legs being written this region (mask) */
	uint32_t ok;                    /* targets whose writes succeeded */
	_Atomic uint32_t left;
	_Atomic int read_err;
	uint64_t next_ns;               /* rate limit: no piece before this */
	uint8_t *buf;                   /* MIRROR_COPY_BYTES */
	struct iovec iov;
	struct vs_bio rd, wr[MIRROR_MAX_LEGS];
	_Atomic bool cleared;           /* behind bits cleared since the last map update */
	_Atomic uint64_t copied;        /* bytes written to legs, since open */
	_Atomic uint64_t regions_copied;
	bool stopping;                  /* close: no new step */
	pthread_cond_t idle;            /* busy became false */
};

struct mirror {
	struct vs_layer *self;
	size_t nlegs;
	uint64_t size;
	uint64_t region;
	unsigned shift;                 /* log2(region) */
	uint64_t nregions, words;       /* words: 64-bit words per map */
	struct vs_loop *loop;
	pthread_mutex_t lock;           /* slow paths: map updates, waits, leg states */

	_Atomic uint8_t *wstate;        /* enum region_wstate */
	_Atomic uint32_t *pending;
	_Atomic uint8_t *touched;       /* written since the cleaner last looked */
	_Atomic uint8_t *copying;       /* the resync holds writes back here */
	_Atomic uint64_t *wbits;        /* in-flight map, in the image */

	struct meta meta;
	struct mleg leg[MIRROR_MAX_LEGS];
	struct mreq *waiters;           /* under lock */
	/* the map update a leg state change made: acknowledgements of writes
	 * that skipped the leg wait until it is durable */
	_Atomic uint64_t state_gen;
	struct resync rs;

	_Atomic uint64_t rate;          /* resync bytes/s, 0: no limit */
	_Atomic uint64_t leg_timeout_ms;
	_Atomic uint64_t retry_ms;
	struct vs_loop_timer tick;
	uint64_t last_clean_ns;
	bool closing;
	pthread_cond_t stopped;
	bool tick_stopped;
	struct vs_loop_msg stop_msg;

	/* upward calls (see the file list) */
	void (*kick_resync)(struct mirror *m);
	void (*release_waiters)(struct mirror *m);
};

/* ---- vs_mirror_log.c ---- */
/* A line for the log: a VS_BDEV_EV_STATE event up the stack, which the
 * daemon logs.  Never with the mirror's lock held. */
void vs_mirror_log(struct mirror *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- mirror_map.c ---- */
static inline uint64_t region_of(const struct mirror *m, uint64_t off)
{
	return off >> m->shift;
}
bool vs_map_test(_Atomic uint64_t *bits, uint64_t r);
/* Set a bit; true if it was clear. */
bool vs_map_set(_Atomic uint64_t *bits, uint64_t r);
bool vs_map_clear(_Atomic uint64_t *bits, uint64_t r);
/* Leg i is behind on regions [r0, r1]. */
void vs_map_behind(struct mirror *m, size_t leg, uint64_t r0, uint64_t r1);
void vs_map_behind_all(struct mirror *m, size_t leg);
void vs_map_behind_clear(struct mirror *m, size_t leg, uint64_t r);
uint64_t vs_map_count(const struct mirror *m, _Atomic uint64_t *bits);
/* The first region >= from with a bit set in any of the maps of `legs`
 * (mask); nregions if none. */
uint64_t vs_map_next_behind(struct mirror *m, uint32_t legs, uint64_t from);
/* Take and give back a write's hold on its regions; false from take if a
 * region is being copied (nothing taken then). */
bool vs_map_take(struct mirror *m, uint64_t r0, uint64_t r1);
void vs_map_give(struct mirror *m, uint64_t r0, uint64_t r1);
/* Are the in-flight bits of [r0, r1] durable?  Fast path, no lock. */
bool vs_map_durable(struct mirror *m, uint64_t r0, uint64_t r1);
/* Under lock: ask for the in-flight bits of [r0, r1]; true if an update
 * is needed (the caller asks mirror_meta for one). */
bool vs_map_want(struct mirror *m, uint64_t r0, uint64_t r1);
/* Under lock: clear the in-flight bits of regions idle since the last
 * call; true if any changed. */
bool vs_map_clean(struct mirror *m, bool all);

/* ---- mirror_meta.c ---- */
int  vs_meta_open(struct mirror *m, const char *path, bool assume_clean);
void vs_meta_close(struct mirror *m);
/* Under lock: a change the next update must carry; returns its number. */
uint64_t vs_meta_changed(struct mirror *m);
/* Start an update if one is wanted and none is in flight.  Call without
 * the lock held. */
void vs_meta_kick(struct mirror *m);
/* Update now and wait for it (open, close, replace).  0 or -errno. */
int  vs_meta_sync(struct mirror *m);
static inline bool meta_durable(struct mirror *m, uint64_t gen)
{
	return atomic_load_explicit(&m->meta.durable_gen, memory_order_acquire) >= gen;
}

/* ---- mirror_wait.c ---- */
/* Under lock: park q; resume(q) runs when released. */
void vs_wait_park(struct mirror *m, struct mreq *q, void (*resume)(struct mreq *q));
/* Without the lock: resume every parked request (each looks again and may
 * park again). */
void vs_wait_release(struct mirror *m);
/* Take a parked request out (bio: the one of that caller's bio; NULL: all
 * of them, as a list through next_wait).  NULL if none. */
struct mreq *vs_wait_take(struct mirror *m, const struct vs_bio *bio);

/* ---- mirror_leg.c ---- */
static inline uint8_t leg_state(const struct mirror *m, size_t i)
{
	return atomic_load_explicit(&m->leg[i].state, memory_order_acquire);
}
static inline bool leg_writable(const struct mirror *m, size_t i)
{
	uint8_t s = leg_state(m, i);

	return s == LEG_IN_SYNC || s == LEG_RESYNCING;
}
/* Under lock: a new state for leg i, carried by the next map update (and
 * acknowledgements wait for that update: state_gen). */
void vs_leg_set_state(struct mirror *m, size_t i, uint8_t state);
/* Legs a new write goes to, and legs a read may use (mask). */
uint32_t vs_leg_write_mask(struct mirror *m);
uint32_t vs_leg_read_mask(struct mirror *m);
/* Submit a request to a leg, counting it in flight there. */
int  vs_leg_submit(struct mirror *m, size_t i, struct vs_bio *bio);
void vs_leg_returned(struct mirror *m, size_t i);
/*
 * Leg i failed (err) on regions [r0, r1] (has_range; else on a request
 * without regions): mark it degraded and behind there.  The last leg in sync is never degraded (it
 * has the only good copy): false then, and the caller gets the error.
 */
bool vs_leg_failed(struct mirror *m, size_t i, int err, bool has_range, uint64_t r0, uint64_t r1);
/* A write to leg i came back cancelled while the leg is fine: it is behind
 * there, and copied again. */
void vs_leg_behind(struct mirror *m, size_t i, uint64_t r0, uint64_t r1);
/* The resync brought leg i level: in sync again. */
void vs_leg_synced(struct mirror *m, size_t i);
/* An event of leg i (LOST, BACK, FAILED, ...). */
void vs_leg_event(struct mirror *m, size_t i, const struct vs_bdev_event *ev);
/* The tick: lost and stuck legs, retries of degraded ones. */
void vs_leg_tick(struct mirror *m, uint64_t now_ns);
/* Names for listings and the map file's states. */
const char *vs_leg_state_name(uint8_t state);

/* ---- mirror_resync.c ---- */
int  vs_resync_init(struct mirror *m);
void vs_resync_fini(struct mirror *m);
void vs_resync_kick(struct mirror *m);
/* Close: let the copy in flight finish, start none.  Control thread. */
void vs_resync_stop(struct mirror *m);

/* ---- mirror_io.c ---- */
int  vs_mio_submit(struct mirror *m, struct vs_bio *bio, struct mreq *q);
/* A parked request given back (cancel, reset): -ECANCELED. */
void vs_mio_cancel(struct mreq *q);

#endif
