/* SPDX-License-Identifier: MIT */
/*
 * delay: added latency, to see what an initiator, a filesystem or a
 * mirror does over a slow disk (a remote one, a disk about to fail).
 *
 *   all=           latency added to every request (default 0)
 *   read=, write=, flush=, unmap=, write_zeroes=
 *                  latency for that operation instead of `all`
 *   jitter=        a random extra from 0 to this much, uniform, drawn per
 *                  request (default 0)
 * Durations: 20ms, 1s (a bare number is milliseconds).  Every option may
 * change while the LUN is open; a change applies to requests that arrive
 * after it (one already waiting keeps the deadline it got).
 *
 * A request with a delay waits *before* it is sent on, so what the layers
 * below see is delayed too, and a waiting request can still be given back
 * by an abort or a reset (vs_bdev_cancel/reset): it completes with
 * -ECANCELED and is never sent.  A request with no delay goes on at once.
 *
 * How it waits, without allocating and without a lock all connections
 * share: its context holds one intrusive timer of the daemon's event loops
 * (loop.h) and the links of a list of waiting requests.  A request waits on
 * the loop of the thread that submitted it when that is one of ours (an
 * iSCSI connection's loop: the timer, the send on and the completion all
 * stay on that thread), else on a loop picked from the request's address.
 * Each loop has its own list and lock ("lane"); only that loop's own
 * submissions, its timers and a cancel or reset ever take it.  The
 * options are one immutable snapshot read with one atomic load.
 *
 * Exactly once: a request leaves its lane's list once, under the lane's
 * lock, by whoever takes it — its timer (which sends it on) or a cancel
 * or reset (which completes it -ECANCELED).  The timer belongs to the
 * loop, so a cancel completes the request on the loop's thread, after
 * disarming the timer there; a timer that fires first finds the request
 * gone from the list and does nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vstor/filter.h"
#include "vstor/loop.h"

#define MS 1000000ull                   /* ns */

static const char *const op_names[] = {
	[VS_BIO_READ] = "read", [VS_BIO_WRITE] = "write", [VS_BIO_FLUSH] = "flush",
	[VS_BIO_UNMAP] = "unmap", [VS_BIO_WRITE_ZEROES] = "write_zeroes",
};
#define OP_COUNT (sizeof(op_names) / sizeof(op_names[0]))

static const struct vs_opt_desc delay_options[] = {
	{ .name = "all", .type = VS_OPT_DURATION, .flags = VS_OPT_RUNTIME, .dflt = "0",
	  .max = 3600000, .help = "latency added to every request (e.g. 5ms)" },
	{ .name = "read", .type = VS_OPT_DURATION, .flags = VS_OPT_RUNTIME, .max = 3600000,
	  .help = "latency added to reads, instead of all" },
	{ .name = "write", .type = VS_OPT_DURATION, .flags = VS_OPT_RUNTIME, .max = 3600000,
	  .help = "latency added to writes, instead of all" },
	{ .name = "flush", .type = VS_OPT_DURATION, .flags = VS_OPT_RUNTIME, .max = 3600000,
	  .help = "latency added to flushes (SYNCHRONIZE CACHE), instead of all" },
	{ .name = "unmap", .type = VS_OPT_DURATION, .flags = VS_OPT_RUNTIME, .max = 3600000,
	  .help = "latency added to unmaps, instead of all" },
	{ .name = "write_zeroes", .type = VS_OPT_DURATION, .flags = VS_OPT_RUNTIME,
	  .max = 3600000, .help = "latency added to write-zeroes (WRITE SAME), instead of all" },
	{ .name = "jitter", .type = VS_OPT_DURATION, .flags = VS_OPT_RUNTIME, .dflt = "0",
	  .max = 3600000, .help = "random extra latency, 0 to this much, per request" },
	{ 0 }
};

/* One immutable set of options, as the I/O path reads it. */
struct delay_conf {
	struct delay_conf *older;       /* replaced snapshots, freed at close */
	uint64_t ns[OP_COUNT];
	uint64_t jitter_ns;
};

struct delay_ctx;

/* The requests waiting on one loop. */
struct delay_lane {
	pthread_mutex_t lock;
	struct delay_ctx *head;         /* doubly linked, any order */
	struct vs_loop *loop;
} __attribute__((aligned(64)));         /* lanes of different loops: own cache lines */

struct delay_filter {
	struct vs_layer *self;
	struct vs_loop_group *loops;
	_Atomic(struct delay_conf *) conf;
	unsigned nlanes;
	struct delay_lane *lanes;       /* one per loop of the group */
};

/* Per request (the block layer's context: reserved at open). */
struct delay_ctx {
	struct vs_loop_timer timer;     /* armed on lane->loop */
	struct vs_loop_msg cancel_msg;  /* completes it -ECANCELED on lane->loop */
	struct delay_ctx *prev, *next;  /* in lane->head while waiting */
	struct delay_filter *f;
	struct delay_lane *lane;
	struct vs_bio *bio;
	bool waiting;                   /* in the lane's list (under its lock) */
};

/* The options (already checked) as a snapshot; NULL when out of memory. */
static struct delay_conf *conf_new(const struct vs_opts *o)
{
	struct delay_conf *c = calloc(1, sizeof(*c));
	uint64_t all = vs_opt_u64(o, "all");

	if (!c) {
		vs_set_error("out of memory");
		return NULL;
	}
	for (size_t op = 1; op < OP_COUNT; op++)
		c->ns[op] = (vs_opt_present(o, op_names[op]) ? vs_opt_u64(o, op_names[op]) : all) * MS;
	c->jitter_ns = vs_opt_u64(o, "jitter") * MS;
	return c;
}

static void *delay_open(struct vs_filter_open_args *args)
{
	struct delay_filter *f;
	unsigned n;

	if (!args->loops) {
		vs_set_error("delay: needs event loops to time its requests, and none were given");
		return NULL;
	}
	n = vs_loop_group_size(args->loops);
	f = calloc(1, sizeof(*f));
	if (f)
		f->lanes = aligned_alloc(64, n * sizeof(*f->lanes));
	if (!f || !f->lanes) {
		vs_set_error("out of memory");
		free(f);
		return NULL;
	}
	struct delay_conf *c = conf_new(args->opts);

	if (!c) {
		free(f->lanes);
		free(f);
		return NULL;
	}
	memset(f->lanes, 0, n * sizeof(*f->lanes));
	for (unsigned i = 0; i < n; i++) {
		pthread_mutex_init(&f->lanes[i].lock, NULL);
		f->lanes[i].loop = vs_loop_group_loop(args->loops, i);
	}
	f->nlanes = n;
	f->self = args->self;
	f->loops = args->loops;
	atomic_init(&f->conf, c);
	args->ctx_size = sizeof(struct delay_ctx);
	return f;
}

static void delay_close(void *h)
{
	struct delay_filter *f = h;
	struct delay_conf *c = atomic_load(&f->conf), *older;

	/* every request has completed: no lane holds one, no timer is armed */
	for (unsigned i = 0; i < f->nlanes; i++)
		pthread_mutex_destroy(&f->lanes[i].lock);
	for (; c; c = older) {
		older = c->older;
		free(c);
	}
	free(f->lanes);
	free(f);
}

/* xorshift64* per thread: jitter needs spread, not secrecy, and a shared
 * generator would be one more cache line every connection writes. */
static uint64_t draw(uint64_t bound)
{
	static _Thread_local uint64_t state;

	if (!state)
		state = (uintptr_t)&state ^ vs_loop_clock_ns() ^ 0x9e3779b97f4a7c15ull;
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (state * 0x2545f4914f6cdd1dull) % (bound + 1);
}

/* The loop the request waits on: the submitting thread's, if it is one
 * of ours, so the request never changes threads. */
static struct delay_lane *lane_for(struct delay_filter *f, const struct vs_bio *bio,
                                   struct vs_loop **cur)
{
	struct vs_loop *l = vs_loop_current();

	if (l && vs_loop_group_loop(f->loops, vs_loop_index(l)) == l) {
		*cur = l;
		return &f->lanes[vs_loop_index(l)];
	}
	*cur = NULL;
	return &f->lanes[vs_loop_index(vs_loop_group_pick(f->loops, (uintptr_t)bio >> 6))];
}

static void unlink_ctx(struct delay_lane *lane, struct delay_ctx *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		lane->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	x->waiting = false;
}

/* The deadline: send it on (lane's loop thread). */
static void delay_expired(struct vs_loop_timer *t)
{
	struct delay_ctx *x = (struct delay_ctx *)((char *)t - offsetof(struct delay_ctx, timer));
	struct delay_lane *lane = x->lane;
	struct vs_bio *bio = x->bio;
	bool mine;
	int rc;

	pthread_mutex_lock(&lane->lock);
	mine = x->waiting;
	if (mine)
		unlink_ctx(lane, x);
	pthread_mutex_unlock(&lane->lock);
	if (!mine)
		return;         /* cancelled: its cancel_msg completes it */
	/* the context is free once the bio completes, maybe inside this call */
	rc = vs_layer_submit(x->f->self, 0, bio);
	if (rc < 0)
		vs_bio_complete(bio, rc);
}

/* A cancel or reset took it from the list (lane's loop thread). */
static void delay_cancelled(struct vs_loop_msg *m)
{
	struct delay_ctx *x = (struct delay_ctx *)((char *)m - offsetof(struct delay_ctx, cancel_msg));

	vs_loop_timer_cancel(&x->timer);
	vs_bio_complete(x->bio, -ECANCELED);
}

static int delay_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct delay_filter *f = h;
	struct delay_ctx *x = ctx;
	struct delay_conf *c = atomic_load_explicit(&f->conf, memory_order_acquire);
	struct delay_lane *lane;
	struct vs_loop *cur;
	uint64_t ns = bio->op < OP_COUNT ? c->ns[bio->op] : 0, deadline;

	if (c->jitter_ns)
		ns += draw(c->jitter_ns);
	if (!ns)
		return vs_layer_submit(f->self, 0, bio);
	deadline = vs_loop_clock_ns() + ns;
	lane = lane_for(f, bio, &cur);
	vs_loop_timer_init(&x->timer, delay_expired);
	x->cancel_msg.fn = delay_cancelled;
	x->f = f;
	x->lane = lane;
	x->bio = bio;
	pthread_mutex_lock(&lane->lock);
	x->prev = NULL;
	x->next = lane->head;
	if (lane->head)
		lane->head->prev = x;
	lane->head = x;
	x->waiting = true;
	/* Armed under the lock: a cancel that finds it in the list posts its
	 * message after this arm request, so the loop sees them in order. */
	if (cur)
		vs_loop_timer_arm(cur, &x->timer, deadline);
	else
		vs_loop_timer_post_arm(lane->loop, &x->timer, deadline);
	pthread_mutex_unlock(&lane->lock);
	return 0;
}

/* Give back one waiting bio: look in every lane (a cancel is rare, and the
 * bio is read only when found). */
static bool delay_cancel(void *h, struct vs_bio *bio)
{
	struct delay_filter *f = h;

	for (unsigned i = 0; i < f->nlanes; i++) {
		struct delay_lane *lane = &f->lanes[i];
		struct delay_ctx *x;

		pthread_mutex_lock(&lane->lock);
		for (x = lane->head; x && x->bio != bio; x = x->next)
			;
		if (x)
			unlink_ctx(lane, x);
		pthread_mutex_unlock(&lane->lock);
		if (x) {
			vs_loop_post(lane->loop, &x->cancel_msg);
			return true;
		}
	}
	return false;
}

static void delay_reset(void *h)
{
	struct delay_filter *f = h;

	for (unsigned i = 0; i < f->nlanes; i++) {
		struct delay_lane *lane = &f->lanes[i];
		struct delay_ctx *x, *next;

		pthread_mutex_lock(&lane->lock);
		x = lane->head;
		lane->head = NULL;
		for (struct delay_ctx *y = x; y; y = y->next)
			y->waiting = false;
		pthread_mutex_unlock(&lane->lock);
		for (; x; x = next) {
			next = x->next;         /* x may be gone once its message ran */
			vs_loop_post(lane->loop, &x->cancel_msg);
		}
	}
}

/* The block layer runs one change at a time, so only the I/O path reads
 * the pointer concurrently; a snapshot it may still hold stays until close. */
static int delay_set_options(void *h, const struct vs_opts *o)
{
	struct delay_filter *f = h;
	struct delay_conf *c = conf_new(o);

	if (!c)
		return -ENOMEM;
	c->older = atomic_load_explicit(&f->conf, memory_order_relaxed);
	atomic_store_explicit(&f->conf, c, memory_order_release);
	return 0;
}

static const struct vs_filter_ops delay_ops = {
	.name = "delay",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "add latency to requests, fixed or random, per operation",
	.options = delay_options,
	.open = delay_open,
	.close = delay_close,
	.submit = delay_submit,
	.cancel = delay_cancel,
	.reset = delay_reset,
	.set_options = delay_set_options,
};
VS_FILTER_BUILTIN(delay_ops)
