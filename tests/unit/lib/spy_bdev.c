/* SPDX-License-Identifier: MIT */
/* spy_bdev: see spy_bdev.h */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "spy_bdev.h"

#define SPY_RECS 4096
#define SPY_HELD 256

struct spy {
	pthread_mutex_t mu;
	struct vs_layer *self;          /* the spy layer, over a RAM backend */
	struct vs_bdev *outer;          /* handed to the LUN */
	struct vs_backend_caps caps;
	bool caps_set, hold, closed;
	uint8_t hold_op;
	uint8_t fail_op;
	int fail_err;
	bool lose_writes;
	struct vs_bio *held[SPY_HELD];
	int nheld;
	struct spy_rec recs[SPY_RECS];
	int nrecs;
	int cancels, resets;
	bool cancellable;
};

/* The spy being opened: spy_new opens one stack at a time. */
static struct spy *opening;

static const struct vs_filter_ops spy_ops;

static void register_spy(void)
{
	vs_filter_register_builtin(&spy_ops);
}

static void *spy_open(struct vs_filter_open_args *args)
{
	struct spy *s = opening;

	s->self = args->self;
	return s;
}

static void spy_close(void *h)
{
	struct spy *s = h;

	pthread_mutex_lock(&s->mu);
	s->closed = true;
	pthread_mutex_unlock(&s->mu);
}

static void spy_get_caps(void *h, struct vs_backend_caps *caps)
{
	struct spy *s = h;

	if (s->caps_set)
		*caps = s->caps;
}

/* The inner RAM backend has nothing to flush (can_flush=false) but takes
 * a FLUSH bio all the same, so forwarding is uniform. */
static int spy_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct spy *s = h;

	(void)ctx;
	pthread_mutex_lock(&s->mu);
	if (s->nrecs < SPY_RECS)
		s->recs[s->nrecs++] = (struct spy_rec){ bio->op, bio->flags, bio->offset, bio->length };
	if ((s->fail_op && s->fail_op == bio->op) || (s->lose_writes && bio->op == VS_BIO_WRITE)) {
		int err = s->fail_op == bio->op ? s->fail_err : 0;

		pthread_mutex_unlock(&s->mu);
		vs_bio_complete(bio, err);
		return 0;
	}
	if (s->hold && (s->hold_op == 0 || s->hold_op == bio->op) && s->nheld < SPY_HELD) {
		s->held[s->nheld++] = bio;
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	pthread_mutex_unlock(&s->mu);
	return vs_layer_submit(s->self, 0, bio);
}

/* Give a held bio back: an abort reached the layer that has it. */
static bool spy_cancel(void *h, struct vs_bio *bio)
{
	struct spy *s = h;
	bool found = false;

	pthread_mutex_lock(&s->mu);
	for (int i = 0; s->cancellable && i < s->nheld && !found; i++) {
		if (s->held[i] != bio)
			continue;
		memmove(&s->held[i], &s->held[i + 1], (size_t)(s->nheld - i - 1) * sizeof(bio));
		s->nheld--;
		s->cancels++;
		found = true;
	}
	pthread_mutex_unlock(&s->mu);
	if (found)
		vs_bio_complete(bio, -ECANCELED);
	return found;
}

static void spy_reset(void *h)
{
	struct spy *s = h;

	bool give_back;

	pthread_mutex_lock(&s->mu);
	s->resets++;
	give_back = s->cancellable;
	pthread_mutex_unlock(&s->mu);
	if (give_back)
		spy_release(s, -ECANCELED);
}

static const struct vs_filter_ops spy_ops = {
	.name = "spy",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "unit tests: records and holds what the disk asks",
	.open = spy_open,
	.close = spy_close,
	.submit = spy_submit,
	.get_caps = spy_get_caps,
	.cancel = spy_cancel,
	.reset = spy_reset,
};

struct spy *spy_new(const char *size)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
	struct vs_kv kv[] = { { "size", size } };
	struct vs_bdev_desc ram = { .kind = VS_LAYER_BACKEND, .name = "ram", .opts = kv, .nopts = 1 };
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "spy", .lower = &ram,
	                            .nlower = 1 };
	struct spy *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_once(&once, register_spy);
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_lock(&open_lock);
	opening = s;
	s->outer = vs_bdev_open_stack(&top, NULL);
	opening = NULL;
	pthread_mutex_unlock(&open_lock);
	if (!s->outer) {
		free(s);
		return NULL;
	}
	return s;
}

struct vs_bdev *spy_bdev(struct spy *s)
{
	return s->outer;
}

void spy_set_caps(struct spy *s, const struct vs_backend_caps *caps)
{
	s->caps = *caps;
	s->caps_set = true;
}

void spy_hold(struct spy *s, bool hold)
{
	pthread_mutex_lock(&s->mu);
	s->hold = hold;
	pthread_mutex_unlock(&s->mu);
}

void spy_hold_op(struct spy *s, uint8_t op)
{
	pthread_mutex_lock(&s->mu);
	s->hold_op = op;
	pthread_mutex_unlock(&s->mu);
}

void spy_fail_op(struct spy *s, uint8_t op, int err)
{
	pthread_mutex_lock(&s->mu);
	s->fail_op = err ? op : 0;
	s->fail_err = err;
	pthread_mutex_unlock(&s->mu);
}

void spy_lose_writes(struct spy *s, bool lose)
{
	pthread_mutex_lock(&s->mu);
	s->lose_writes = lose;
	pthread_mutex_unlock(&s->mu);
}

int spy_held(struct spy *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->nheld;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void spy_release(struct spy *s, int err)
{
	for (;;) {
		struct vs_bio *bio;

		pthread_mutex_lock(&s->mu);
		if (s->nheld == 0) {
			pthread_mutex_unlock(&s->mu);
			return;
		}
		bio = s->held[0];
		memmove(&s->held[0], &s->held[1], (size_t)(s->nheld - 1) * sizeof(s->held[0]));
		s->nheld--;
		pthread_mutex_unlock(&s->mu);
		if (err || vs_layer_submit(s->self, 0, bio) < 0)
			vs_bio_complete(bio, err ? err : -EIO);
	}
}

int spy_count(struct spy *s, uint8_t op, uint32_t flags)
{
	int n = 0;

	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->nrecs; i++)
		n += s->recs[i].op == op && (s->recs[i].flags & flags) == flags;
	pthread_mutex_unlock(&s->mu);
	return n;
}

int spy_nrecs(struct spy *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->nrecs;
	pthread_mutex_unlock(&s->mu);
	return n;
}

struct spy_rec spy_rec(struct spy *s, int i)
{
	pthread_mutex_lock(&s->mu);
	struct spy_rec r = s->recs[i];
	pthread_mutex_unlock(&s->mu);
	return r;
}

void spy_clear(struct spy *s)
{
	pthread_mutex_lock(&s->mu);
	s->nrecs = 0;
	pthread_mutex_unlock(&s->mu);
}

bool spy_closed(struct spy *s)
{
	pthread_mutex_lock(&s->mu);
	bool c = s->closed;
	pthread_mutex_unlock(&s->mu);
	return c;
}

void spy_free(struct spy *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void spy_event(struct spy *s, int type, uint32_t hold_ms)
{
	struct vs_bdev_event ev = { .type = type, .hold_ms = hold_ms, .why = "spy" };

	vs_layer_event(s->self, &ev);
}

int spy_cancels(struct spy *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->cancels;
	pthread_mutex_unlock(&s->mu);
	return n;
}

int spy_resets(struct spy *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->resets;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void spy_cancellable(struct spy *s, bool yes)
{
	pthread_mutex_lock(&s->mu);
	s->cancellable = yes;
	pthread_mutex_unlock(&s->mu);
}
