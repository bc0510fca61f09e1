/* SPDX-License-Identifier: MIT */
/*
 * throttle: per-LUN limits on operations and bytes per second, with
 * bursts, as a shared disk's quality-of-service setting or to see how an
 * application copes with a slow disk.
 *
 *   iops=, bps=              reads and writes together (0: no limit)
 *   read_iops=, read_bps=    reads only
 *   write_iops=, write_bps=  writes only (WRITE SAME and UNMAP count as
 *                            writes)
 *   burst=                   how far ahead of its rate a limit may run
 *                            after an idle spell (default 100ms)
 *   iops_burst=, bps_burst=  the burst of iops and bps as a number of
 *                            operations / bytes instead
 * Rates are decimal, a network's and a disk vendor's unit: bps=50M is
 * 50 000 000 bytes per second, iops=2k is 2000 operations per second.
 * Every request counts as one operation; READ and WRITE count their bytes,
 * WRITE SAME and UNMAP none (they carry no data).  FLUSH is never held.
 * Every option may change while the LUN is open, and a change applies at
 * once, to the requests already waiting too.
 *
 * A request over a limit waits: held in the filter, never failed, in a
 * FIFO linked through its own context (reserved at open: nothing is
 * allocated).  Reads and writes wait in separate queues, so a write limit
 * does not hold reads back; between the two, requests go in arrival order
 * when both may.  One timer on one event loop (loop.h, picked at open)
 * sends waiting requests on as the limits allow.  A cancel (abort) or a
 * reset takes waiting requests out and completes them -ECANCELED; each
 * request leaves the queue exactly once, under the lock, by whoever took
 * it.
 *
 * Each limit is a token bucket in the form of the generic cell rate
 * algorithm (ITU-T I.371 GCRA, "virtual scheduling"): a bucket keeps the
 * time `tat` at which it would be empty of debt.  A request may go when
 * tat - burst <= now for every bucket it uses, and then pushes each tat to
 * max(tat, now) + cost / rate.  So the long-run rate is exact, a request
 * larger than the burst still goes (it runs the bucket into debt, paid
 * off before the next one), a timer that fires late loses nothing while a
 * burst is left, and the moment a waiting request may go is known: that
 * is when the timer is set for.  All in integer nanoseconds.
 *
 * Locking: with no limit set and nothing waiting, a request goes straight
 * on after one atomic load: no lock.  With a limit set, every request of
 * the LUN takes the LUN's lock for a few dozen instructions (a clock read,
 * one division per bucket): the buckets are the LUN's, and a limit is a
 * point where the LUN's requests meet.  `bench-inproc -f throttle,iops=1G`
 * measures that cost with a limit far above the rate reached: about 0.1 us
 * of CPU per request on the machine it was written on, where a request
 * through port, vdisk and ram costs 0.6-0.9 us.
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

#define NS_PER_S 1000000000ull
#define MS       1000000ull

enum { B_IOPS, B_BPS, B_READ_IOPS, B_READ_BPS, B_WRITE_IOPS, B_WRITE_BPS, NBUCKETS };
enum { DIR_READ, DIR_WRITE, NDIRS };

static const char *const bucket_names[NBUCKETS] = {
	"iops", "bps", "read_iops", "read_bps", "write_iops", "write_bps",
};
/* A request of direction d uses these buckets (bytes ones only if it has bytes). */
static const unsigned dir_ops_buckets[NDIRS] = {
	1u << B_IOPS | 1u << B_READ_IOPS, 1u << B_IOPS | 1u << B_WRITE_IOPS,
};
static const unsigned dir_byte_buckets[NDIRS] = {
	1u << B_BPS | 1u << B_READ_BPS, 1u << B_BPS | 1u << B_WRITE_BPS,
};
#define BYTE_BUCKETS (1u << B_BPS | 1u << B_READ_BPS | 1u << B_WRITE_BPS)

static const struct vs_opt_desc throttle_options[] = {
	{ .name = "iops", .type = VS_OPT_RATE, .flags = VS_OPT_RUNTIME, .dflt = "0",
	  .help = "operations per second, reads and writes together, 0 = no limit" },
	{ .name = "bps", .type = VS_OPT_RATE, .flags = VS_OPT_RUNTIME, .dflt = "0",
	  .help = "bytes per second read and written together, 50M = 50000000, 0 = no limit" },
	{ .name = "read_iops", .type = VS_OPT_RATE, .flags = VS_OPT_RUNTIME, .dflt = "0",
	  .help = "reads per second, 0 = no limit" },
	{ .name = "read_bps", .type = VS_OPT_RATE, .flags = VS_OPT_RUNTIME, .dflt = "0",
	  .help = "bytes read per second, 0 = no limit" },
	{ .name = "write_iops", .type = VS_OPT_RATE, .flags = VS_OPT_RUNTIME, .dflt = "0",
	  .help = "writes per second (WRITE SAME and UNMAP count), 0 = no limit" },
	{ .name = "write_bps", .type = VS_OPT_RATE, .flags = VS_OPT_RUNTIME, .dflt = "0",
	  .help = "bytes written per second, 0 = no limit" },
	{ .name = "burst", .type = VS_OPT_DURATION, .flags = VS_OPT_RUNTIME, .dflt = "100ms",
	  .max = 60000, .help = "after an idle spell, rate x burst may go at once" },
	{ .name = "iops_burst", .type = VS_OPT_UINT, .flags = VS_OPT_RUNTIME,
	  .help = "operations that may go at once beyond iops (default iops x burst)" },
	{ .name = "bps_burst", .type = VS_OPT_SIZE, .flags = VS_OPT_RUNTIME,
	  .help = "bytes that may go at once beyond bps (default bps x burst)" },
	{ 0 }
};

struct bucket {
	uint64_t rate;                  /* units per second; 0: no limit */
	uint64_t burst_ns;              /* how far tat may run ahead of now */
	uint64_t tat;                   /* CLOCK_MONOTONIC ns; 0: full */
};

/* Per request (the block layer's context: reserved at open). */
struct thr_ctx {
	struct thr_ctx *next;           /* in its queue, then in a batch to send */
	struct vs_bio *bio;
	uint64_t bytes;
	uint64_t seq;                   /* arrival order between the two queues */
	uint8_t dir;
};

struct thr_queue {
	struct thr_ctx *head, *tail;
};

struct throttle {
	struct vs_layer *self;
	/* No limit set and nothing waiting: requests go on without the lock. */
	_Atomic bool open_road;

	pthread_mutex_t lock;           /* everything below */
	struct bucket b[NBUCKETS];
	struct thr_queue q[NDIRS];
	uint64_t seq;
	uint64_t timer_at;              /* what the timer is set for; 0: not set */
	bool kick_posted;               /* a pump is coming: no need to ask again */
	bool closing;                   /* closed on the loop's own thread, kick pending */

	struct vs_loop *loop;
	struct vs_loop_timer timer;     /* loop thread only */
	struct vs_loop_msg kick;        /* "run the pump now" from any thread */
	struct vs_loop_msg close_msg;
	pthread_mutex_t close_lock;
	pthread_cond_t close_cond;
	bool close_done;
};

/* ---------------------------------------------------------------- buckets */

static uint64_t cost_ns(const struct bucket *b, uint64_t units)
{
	unsigned __int128 ns;

	/* every request pays this once per bucket: a 64-bit division is a
	 * fraction of a 128-bit one, and is exact up to 18 GB at once (at
	 * most half the clock's range: tat + cost must not wrap) */
	if (units <= UINT64_MAX / NS_PER_S)
		ns = units * NS_PER_S / b->rate;
	else
		ns = (unsigned __int128)units * NS_PER_S / b->rate;
	return ns > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)ns;
}

/* Which buckets with a limit a request uses. */
static unsigned buckets_of(const struct throttle *t, const struct thr_ctx *x)
{
	unsigned m = dir_ops_buckets[x->dir] | (x->bytes ? dir_byte_buckets[x->dir] : 0), live = 0;

	for (unsigned i = 0; i < NBUCKETS; i++)
		if ((m & (1u << i)) && t->b[i].rate)
			live |= 1u << i;
	return live;
}

/* When every bucket the request uses lets it go. */
static uint64_t ready_at(const struct throttle *t, const struct thr_ctx *x)
{
	unsigned m = buckets_of(t, x);
	uint64_t at = 0;

	for (unsigned i = 0; i < NBUCKETS; i++) {
		const struct bucket *b = &t->b[i];

		if ((m & (1u << i)) && b->tat > b->burst_ns && b->tat - b->burst_ns > at)
			at = b->tat - b->burst_ns;
	}
	return at;
}

static void charge(struct throttle *t, const struct thr_ctx *x, uint64_t now)
{
	unsigned m = buckets_of(t, x);

	for (unsigned i = 0; i < NBUCKETS; i++) {
		struct bucket *b = &t->b[i];

		if (m & (1u << i))
			b->tat = (b->tat > now ? b->tat : now) +
			         cost_ns(b, (BYTE_BUCKETS & (1u << i)) ? x->bytes : 1);
	}
}

static bool nothing_limited(const struct throttle *t)
{
	for (unsigned i = 0; i < NBUCKETS; i++)
		if (t->b[i].rate)
			return false;
	return true;
}

/* Under the lock: may requests skip it? */
static void update_road(struct throttle *t)
{
	atomic_store_explicit(&t->open_road, nothing_limited(t) && !t->q[DIR_READ].head &&
	                      !t->q[DIR_WRITE].head, memory_order_release);
}

/* Under the lock: a waiting request may go at `at`; make sure the pump
 * runs by then.  Only the loop's thread sets the timer, so others ask it
 * with the kick message (one outstanding at a time). */
static void wake_by(struct throttle *t, uint64_t at)
{
	if (t->kick_posted || (t->timer_at && t->timer_at <= at))
		return;
	t->kick_posted = true;
	vs_loop_post(t->loop, &t->kick);
}

/* ---------------------------------------------------------------- the pump */

static void send_on(struct throttle *t, struct thr_ctx *x)
{
	while (x) {
		struct thr_ctx *next = x->next;         /* x is gone once its bio completes */
		struct vs_bio *bio = x->bio;
		int rc = vs_layer_submit(t->self, 0, bio);

		if (rc < 0)
			vs_bio_complete(bio, rc);
		x = next;
	}
}

/* Loop thread: send on what the limits allow now, set the timer for the
 * next one. */
static void pump(struct throttle *t, bool kicked)
{
	struct thr_ctx *go = NULL, **tail = &go;
	uint64_t now, next = 0;

	pthread_mutex_lock(&t->lock);
	if (kicked)
		t->kick_posted = false;
	now = vs_loop_clock_ns();
	for (;;) {
		struct thr_ctx *x = NULL;

		for (unsigned d = 0; d < NDIRS; d++) {
			struct thr_ctx *h = t->q[d].head;

			if (h && ready_at(t, h) <= now && (!x || h->seq < x->seq))
				x = h;
		}
		if (!x)
			break;
		t->q[x->dir].head = x->next;
		if (!x->next)
			t->q[x->dir].tail = NULL;
		x->next = NULL;
		charge(t, x, now);
		*tail = x;
		tail = &x->next;
	}
	for (unsigned d = 0; d < NDIRS; d++) {
		uint64_t at;

		if (t->q[d].head && (at = ready_at(t, t->q[d].head), !next || at < next))
			next = at;
	}
	if (next)
		vs_loop_timer_arm(t->loop, &t->timer, next);
	else
		vs_loop_timer_cancel(&t->timer);
	t->timer_at = next;
	update_road(t);
	pthread_mutex_unlock(&t->lock);
	send_on(t, go);
}

static void on_timer(struct vs_loop_timer *tm)
{
	pump((struct throttle *)((char *)tm - offsetof(struct throttle, timer)), false);
}

static void throttle_free(struct throttle *t);

static void on_kick(struct vs_loop_msg *m)
{
	struct throttle *t = (struct throttle *)((char *)m - offsetof(struct throttle, kick));
	bool closing;

	pthread_mutex_lock(&t->lock);
	closing = t->closing;
	pthread_mutex_unlock(&t->lock);
	if (closing)
		throttle_free(t);       /* close ran on this thread and left it to us */
	else
		pump(t, true);
}

/* ---------------------------------------------------------------- options */

/*
 * A bucket takes a new rate or burst and keeps what it holds, in units:
 * with tokens = (now + burst - tat) x rate (negative: a debt), the new tat
 * gives the same tokens at the new rate, at most a full new burst.  So a
 * saturated LUN stays saturated (no free burst from a change) and a debt
 * is paid at the new rate, not the old one.
 */
static void bucket_set(struct bucket *b, uint64_t rate, uint64_t burst_ns, uint64_t now)
{
	if (rate && b->rate && b->tat) {
		__int128 tokens = ((__int128)now + b->burst_ns - b->tat) * b->rate;  /* x 10^9 */
		__int128 ahead = (__int128)burst_ns - tokens / rate;                   /* ns */

		b->tat = ahead > 0 ? now + (uint64_t)ahead : 0;
	} else {
		b->tat = 0;             /* a new limit starts full */
	}
	b->rate = rate;
	b->burst_ns = burst_ns;
}

/* Under the lock: take the limits of `o`. */
static void apply(struct throttle *t, const struct vs_opts *o, uint64_t now)
{
	uint64_t burst_ns = vs_opt_u64(o, "burst") * MS;

	for (unsigned i = 0; i < NBUCKETS; i++) {
		struct bucket nb = { .rate = vs_opt_u64(o, bucket_names[i]), .burst_ns = burst_ns };

		/* a burst given as operations or bytes, in ns of the new rate */
		if (i == B_IOPS && nb.rate && vs_opt_present(o, "iops_burst"))
			nb.burst_ns = cost_ns(&nb, vs_opt_u64(o, "iops_burst"));
		if (i == B_BPS && nb.rate && vs_opt_present(o, "bps_burst"))
			nb.burst_ns = cost_ns(&nb, vs_opt_u64(o, "bps_burst"));
		bucket_set(&t->b[i], nb.rate, nb.burst_ns, now);
	}
	update_road(t);
	/* waiting requests may go sooner (or later): the pump decides again */
	if (t->q[DIR_READ].head || t->q[DIR_WRITE].head)
		wake_by(t, 0);
}

static int throttle_set_options(void *h, const struct vs_opts *o)
{
	struct throttle *t = h;

	pthread_mutex_lock(&t->lock);
	apply(t, o, vs_loop_clock_ns());
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* ---------------------------------------------------------------- open, close */

static void *throttle_open(struct vs_filter_open_args *args)
{
	struct throttle *t;

	if (!args->loops) {
		vs_set_error("throttle: needs event loops to send waiting requests on, and none "
		             "were given");
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		vs_set_error("out of memory");
		return NULL;
	}
	t->self = args->self;
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->close_lock, NULL);
	pthread_cond_init(&t->close_cond, NULL);
	/* every LUN's timer on a loop of its own, in turn */
	t->loop = vs_loop_group_pick(args->loops, VS_LOOP_PICK_NEXT);
	vs_loop_timer_init(&t->timer, on_timer);
	t->kick.fn = on_kick;
	apply(t, args->opts, vs_loop_clock_ns());
	args->ctx_size = sizeof(struct thr_ctx);
	return t;
}

static void throttle_free(struct throttle *t)
{
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->close_lock);
	pthread_cond_destroy(&t->close_cond);
	free(t);
}

/* The timer belongs to the loop: disarm it there. */
static void on_close(struct vs_loop_msg *m)
{
	struct throttle *t = (struct throttle *)((char *)m - offsetof(struct throttle, close_msg));

	vs_loop_timer_cancel(&t->timer);
	pthread_mutex_lock(&t->close_lock);
	t->close_done = true;
	pthread_cond_signal(&t->close_cond);
	pthread_mutex_unlock(&t->close_lock);
}

/*
 * Every request has completed, but the timer may be set and a kick on its
 * way.  A kick posted before close began runs before the close message
 * (messages run in the order they were posted), so once that has run the
 * loop holds nothing of ours.  The loops outlive the stacks on them
 * (vstord closes its LUNs before it stops its loops); holding the loop
 * instead would make a daemon whose LUN is kept as an orphan (a backend
 * that never gave its requests back) hang at exit.  Closing on the loop's
 * own thread cannot wait for the message: a kick still to come frees the
 * filter instead.
 */
static void throttle_close(void *h)
{
	struct throttle *t = h;
	bool kick_pending;

	if (vs_loop_current() == t->loop) {
		vs_loop_timer_cancel(&t->timer);
		pthread_mutex_lock(&t->lock);
		kick_pending = t->kick_posted;
		t->closing = true;
		pthread_mutex_unlock(&t->lock);
		if (!kick_pending)
			throttle_free(t);
		return;
	}
	t->close_msg.fn = on_close;
	vs_loop_post(t->loop, &t->close_msg);
	pthread_mutex_lock(&t->close_lock);
	while (!t->close_done)
		pthread_cond_wait(&t->close_cond, &t->close_lock);
	pthread_mutex_unlock(&t->close_lock);
	throttle_free(t);
}

/* ---------------------------------------------------------------- requests */

static int throttle_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct throttle *t = h;
	struct thr_ctx *x = ctx;
	uint64_t now;

	if (bio->op == VS_BIO_FLUSH || bio->op > VS_BIO_WRITE_ZEROES || !bio->op ||
	    atomic_load_explicit(&t->open_road, memory_order_acquire))
		return vs_layer_submit(t->self, 0, bio);
	x->bio = bio;
	x->dir = bio->op == VS_BIO_READ ? DIR_READ : DIR_WRITE;
	x->bytes = bio->op == VS_BIO_READ || bio->op == VS_BIO_WRITE ? bio->length : 0;
	x->next = NULL;
	pthread_mutex_lock(&t->lock);
	now = vs_loop_clock_ns();
	/* straight on if it may, and nothing that came before it waits (the
	 * other queue's head included, if it may go too) */
	if (!t->q[x->dir].head && ready_at(t, x) <= now) {
		struct thr_ctx *o = t->q[!x->dir].head;

		if (!o || ready_at(t, o) > now) {
			charge(t, x, now);
			pthread_mutex_unlock(&t->lock);
			return vs_layer_submit(t->self, 0, bio);
		}
	}
	x->seq = t->seq++;
	if (t->q[x->dir].tail)
		t->q[x->dir].tail->next = x;
	else
		t->q[x->dir].head = x;
	t->q[x->dir].tail = x;
	if (t->q[x->dir].head == x)
		wake_by(t, ready_at(t, x));
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static bool throttle_cancel(void *h, struct vs_bio *bio)
{
	struct throttle *t = h;
	struct thr_ctx *x = NULL;

	pthread_mutex_lock(&t->lock);
	for (unsigned d = 0; d < NDIRS && !x; d++) {
		struct thr_ctx *prev = NULL;

		for (x = t->q[d].head; x && x->bio != bio; x = x->next)
			prev = x;
		if (!x)
			continue;
		if (prev)
			prev->next = x->next;
		else
			t->q[d].head = x->next;
		if (t->q[d].tail == x)
			t->q[d].tail = prev;
		/* the new head may need less (a request without bytes) */
		if (t->q[d].head)
			wake_by(t, ready_at(t, t->q[d].head));
	}
	update_road(t);
	pthread_mutex_unlock(&t->lock);
	if (x)
		vs_bio_complete(bio, -ECANCELED);
	return x != NULL;
}

static void throttle_reset(void *h)
{
	struct throttle *t = h;
	struct thr_ctx *lists[NDIRS];

	pthread_mutex_lock(&t->lock);
	for (unsigned d = 0; d < NDIRS; d++) {
		lists[d] = t->q[d].head;
		t->q[d].head = t->q[d].tail = NULL;
	}
	update_road(t);
	pthread_mutex_unlock(&t->lock);
	for (unsigned d = 0; d < NDIRS; d++) {
		for (struct thr_ctx *x = lists[d], *next; x; x = next) {
			next = x->next;         /* x is gone once its bio completes */
			vs_bio_complete(x->bio, -ECANCELED);
		}
	}
}

static const struct vs_filter_ops throttle_ops = {
	.name = "throttle",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "limit operations and bytes per second, with bursts; over the limit "
	               "requests wait",
	.options = throttle_options,
	.open = throttle_open,
	.close = throttle_close,
	.submit = throttle_submit,
	.cancel = throttle_cancel,
	.reset = throttle_reset,
	.set_options = throttle_set_options,
};
VS_FILTER_BUILTIN(throttle_ops)
