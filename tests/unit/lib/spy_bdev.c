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
	struct vs_bdev *inner;          /* a RAM backend doing the real work */
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
};

static void spy_close(void *h)
{
	struct spy *s = h;

	pthread_mutex_lock(&s->mu);
	s->closed = true;
	pthread_mutex_unlock(&s->mu);
}

static uint64_t spy_get_size(void *h)
{
	struct spy *s = h;

	return s->inner->ops->get_size(s->inner->h);
}

static void spy_get_caps(void *h, struct vs_backend_caps *caps)
{
	struct spy *s = h;

	if (s->caps_set)
		*caps = s->caps;
	else
		s->inner->ops->get_caps(s->inner->h, caps);
}

/* The inner RAM backend has nothing to flush (can_flush=false) but takes
 * a FLUSH bio all the same, so forwarding is uniform. */
static int spy_submit(void *h, struct vs_bio *bio)
{
	struct spy *s = h;

	pthread_mutex_lock(&s->mu);
	if (s->nrecs < SPY_RECS)
		s->recs[s->nrecs++] = (struct spy_rec){ bio->op, bio->flags, bio->offset, bio->length };
	if ((s->fail_op && s->fail_op == bio->op) || (s->lose_writes && bio->op == VS_BIO_WRITE)) {
		int err = s->fail_op == bio->op ? s->fail_err : 0;

		pthread_mutex_unlock(&s->mu);
		bio->done(bio, err);
		return 0;
	}
	if (s->hold && (s->hold_op == 0 || s->hold_op == bio->op) && s->nheld < SPY_HELD) {
		s->held[s->nheld++] = bio;
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	pthread_mutex_unlock(&s->mu);
	return s->inner->ops->submit(s->inner->h, bio);
}

static int spy_resize(void *h, uint64_t size)
{
	struct spy *s = h;

	return s->inner->ops->resize(s->inner->h, size);
}

static int spy_block_status(void *h, uint64_t off, uint64_t len, bool *mapped, uint64_t *ext)
{
	struct spy *s = h;

	return s->inner->ops->block_status(s->inner->h, off, len, mapped, ext);
}

static const struct vs_backend_ops spy_ops = {
	.name = "spy",
	.api_version = VS_BACKEND_API_VERSION,
	.struct_size = sizeof(struct vs_backend_ops),
	.close = spy_close,
	.get_size = spy_get_size,
	.get_caps = spy_get_caps,
	.submit = spy_submit,
	.resize = spy_resize,
	.block_status = spy_block_status,
};

struct spy *spy_new(const char *size)
{
	struct vs_kv kv[] = { { "size", size } };
	struct spy *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	s->inner = vs_bdev_open("ram", kv, 1);
	s->outer = calloc(1, sizeof(*s->outer));
	if (!s->inner || !s->outer) {
		vs_bdev_close(s->inner);
		free(s->outer);
		free(s);
		return NULL;
	}
	s->outer->ops = &spy_ops;
	s->outer->h = s;
	strcpy(s->outer->name, "spy");
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
		if (err || s->inner->ops->submit(s->inner->h, bio) < 0)
			bio->done(bio, err ? err : -EIO);
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
	vs_bdev_close(s->inner);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
