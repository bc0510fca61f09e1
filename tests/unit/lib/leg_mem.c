/* SPDX-License-Identifier: MIT */
/* leg_mem: see leg_mem.h */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leg_mem.h"

#define RECS 4096
#define HELD 4096

struct leg {
	struct leg_mem pub;
	struct vs_layer *self;
	pthread_mutex_t mu;
	uint32_t lbs;
	bool hold;
	uint8_t hold_op;
	uint8_t fail_op;
	int fail_err, refuse;
	struct vs_bio *held[HELD];
	int nheld;
	struct leg_rec recs[RECS];
	long nrecs;
	int counts[8];
	int resets;
	uint64_t read_bytes;
};

static pthread_mutex_t legs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct leg *legs[LEG_MEM_MAX];

static const struct vs_opt_desc leg_options[] = {
	{ .name = "id", .type = VS_OPT_UINT, .flags = VS_OPT_REQUIRED, .max = LEG_MEM_MAX - 1,
	  .help = "which test leg" },
	{ .name = "size", .type = VS_OPT_SIZE, .flags = VS_OPT_REQUIRED, .min = 512, .max = 1ull << 32,
	  .help = "bytes" },
	{ .name = "lbs", .type = VS_OPT_UINT, .dflt = "0", .help = "logical block size" },
	{ 0 }
};

static void *leg_open(struct vs_backend_open_args *a)
{
	struct leg *l = calloc(1, sizeof(*l));
	unsigned id = (unsigned)vs_opt_u64(a->opts, "id");

	pthread_mutex_init(&l->mu, NULL);
	l->self = a->self;
	l->pub.id = id;
	l->pub.size = vs_opt_u64(a->opts, "size");
	l->pub.data = calloc(1, l->pub.size);
	l->pub.open = true;
	l->lbs = (uint32_t)vs_opt_u64(a->opts, "lbs");
	pthread_mutex_lock(&legs_mu);
	legs[id] = l;
	pthread_mutex_unlock(&legs_mu);
	return l;
}

static void leg_close(void *h)
{
	struct leg *l = h;

	if (l->nheld)
		fprintf(stderr, "leg_mem %u closed with %d bios held\n", l->pub.id, l->nheld);
	pthread_mutex_lock(&legs_mu);
	if (legs[l->pub.id] == l)
		legs[l->pub.id] = NULL;
	pthread_mutex_unlock(&legs_mu);
	pthread_mutex_destroy(&l->mu);
	free(l->pub.data);
	free(l);
}

static uint64_t leg_size(void *h) { return ((struct leg *)h)->pub.size; }

static void leg_caps(void *h, struct vs_backend_caps *c)
{
	struct leg *l = h;

	c->can_write = c->can_flush = c->can_fua = c->can_unmap = c->can_zero = true;
	c->unmap_zeroes = true;
	c->has_write_cache = true;
	c->logical_block_size = l->lbs;
}

static void leg_do(struct leg *l, struct vs_bio *bio)
{
	uint64_t off = bio->offset, left = bio->length;

	switch (bio->op) {
	case VS_BIO_READ:
	case VS_BIO_WRITE:
		for (int i = 0; i < bio->iovcnt && left; i++) {
			uint64_t n = bio->iov[i].iov_len < left ? bio->iov[i].iov_len : left;

			if (bio->op == VS_BIO_READ)
				memcpy(bio->iov[i].iov_base, l->pub.data + off, n);
			else
				memcpy(l->pub.data + off, bio->iov[i].iov_base, n);
			off += n;
			left -= n;
		}
		break;
	case VS_BIO_UNMAP:
	case VS_BIO_WRITE_ZEROES:
		memset(l->pub.data + off, 0, bio->length);
		break;
	default:
		break;
	}
	vs_bio_complete(bio, 0);
}

static int vs_leg_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct leg *l = h;
	int err = 0;

	(void)ctx;
	if (bio->op != VS_BIO_FLUSH && (bio->offset > l->pub.size ||
	                                bio->length > l->pub.size - bio->offset))
		return -EINVAL;
	pthread_mutex_lock(&l->mu);
	if (l->refuse) {
		err = l->refuse;
		pthread_mutex_unlock(&l->mu);
		return err;
	}
	l->recs[l->nrecs % RECS] = (struct leg_rec){ bio->op, bio->flags, bio->offset, bio->length,
	                                            bio->iovcnt };
	l->nrecs++;
	if (bio->op < 8)
		l->counts[bio->op]++;
	if (bio->op == VS_BIO_READ)
		l->read_bytes += bio->length;
	if (l->fail_err && (!l->fail_op || l->fail_op == bio->op))
		err = l->fail_err;
	if (!err && l->hold && (!l->hold_op || l->hold_op == bio->op) && l->nheld < HELD) {
		l->held[l->nheld++] = bio;
		pthread_mutex_unlock(&l->mu);
		return 0;
	}
	pthread_mutex_unlock(&l->mu);
	if (err)
		vs_bio_complete(bio, err);
	else
		leg_do(l, bio);
	return 0;
}

static struct vs_bio *take(struct leg *l, struct vs_bio *bio)
{
	struct vs_bio *got = NULL;

	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < l->nheld; i++) {
		if (bio && l->held[i] != bio)
			continue;
		got = l->held[i];
		memmove(&l->held[i], &l->held[i + 1], (size_t)(l->nheld - i - 1) * sizeof(got));
		l->nheld--;
		break;
	}
	pthread_mutex_unlock(&l->mu);
	return got;
}

static bool leg_cancel(void *h, struct vs_bio *bio)
{
	struct vs_bio *got = take(h, bio);

	if (got)
		vs_bio_complete(got, -ECANCELED);
	return got != NULL;
}

static void leg_reset(void *h)
{
	struct leg *l = h;
	struct vs_bio *b;

	pthread_mutex_lock(&l->mu);
	l->resets++;
	pthread_mutex_unlock(&l->mu);
	while ((b = take(l, NULL)))
		vs_bio_complete(b, -ECANCELED);
}

static const struct vs_backend_ops leg_ops = {
	.name = "legmem",
	.api_version = VS_BACKEND_API_VERSION,
	.struct_size = sizeof(struct vs_backend_ops),
	.description = "test leg",
	.options = leg_options,
	.open = leg_open,
	.close = leg_close,
	.get_size = leg_size,
	.get_caps = leg_caps,
	.submit = vs_leg_submit,
	.cancel = leg_cancel,
	.reset = leg_reset,
};

void leg_mem_register(void)
{
	static bool done;

	if (!done)
		vs_backend_register(&leg_ops, "test");
	done = true;
}

static struct leg *L(struct leg_mem *m) { return (struct leg *)m; }

struct leg_mem *leg_mem(unsigned id)
{
	struct leg *l;

	pthread_mutex_lock(&legs_mu);
	l = id < LEG_MEM_MAX ? legs[id] : NULL;
	pthread_mutex_unlock(&legs_mu);
	return l ? &l->pub : NULL;
}

int leg_mem_count(struct leg_mem *m, uint8_t op)
{
	int n;

	pthread_mutex_lock(&L(m)->mu);
	n = op < 8 ? L(m)->counts[op] : 0;
	pthread_mutex_unlock(&L(m)->mu);
	return n;
}

struct leg_rec leg_mem_last(struct leg_mem *m, int k)
{
	struct leg_rec r = { 0 };

	pthread_mutex_lock(&L(m)->mu);
	if (k < L(m)->nrecs && k < RECS)
		r = L(m)->recs[(L(m)->nrecs - 1 - k) % RECS];
	pthread_mutex_unlock(&L(m)->mu);
	return r;
}

void leg_mem_clear(struct leg_mem *m)
{
	pthread_mutex_lock(&L(m)->mu);
	L(m)->nrecs = 0;
	memset(L(m)->counts, 0, sizeof(L(m)->counts));
	L(m)->read_bytes = 0;
	pthread_mutex_unlock(&L(m)->mu);
}

void leg_mem_hold(struct leg_mem *m, bool hold)
{
	pthread_mutex_lock(&L(m)->mu);
	L(m)->hold = hold;
	pthread_mutex_unlock(&L(m)->mu);
}

void leg_mem_hold_op(struct leg_mem *m, uint8_t op)
{
	pthread_mutex_lock(&L(m)->mu);
	L(m)->hold_op = op;
	pthread_mutex_unlock(&L(m)->mu);
}

int leg_mem_held(struct leg_mem *m)
{
	int n;

	pthread_mutex_lock(&L(m)->mu);
	n = L(m)->nheld;
	pthread_mutex_unlock(&L(m)->mu);
	return n;
}

void leg_mem_release(struct leg_mem *m, int err)
{
	struct vs_bio *b;

	while ((b = take(L(m), NULL))) {
		if (err)
			vs_bio_complete(b, err);
		else
			leg_do(L(m), b);
	}
}

void leg_mem_fail(struct leg_mem *m, uint8_t op, int err)
{
	pthread_mutex_lock(&L(m)->mu);
	L(m)->fail_op = op;
	L(m)->fail_err = err;
	pthread_mutex_unlock(&L(m)->mu);
}

void leg_mem_refuse(struct leg_mem *m, int err)
{
	pthread_mutex_lock(&L(m)->mu);
	L(m)->refuse = err;
	pthread_mutex_unlock(&L(m)->mu);
}

void leg_mem_event(struct leg_mem *m, int type, uint32_t hold_ms)
{
	struct vs_bdev_event ev = { .type = type, .hold_ms = hold_ms, .why = "test" };

	vs_layer_event(L(m)->self, &ev);
}

int leg_mem_resets(struct leg_mem *m)
{
	int n;

	pthread_mutex_lock(&L(m)->mu);
	n = L(m)->resets;
	pthread_mutex_unlock(&L(m)->mu);
	return n;
}

uint64_t leg_mem_read_bytes(struct leg_mem *m)
{
	uint64_t n;

	pthread_mutex_lock(&L(m)->mu);
	n = L(m)->read_bytes;
	pthread_mutex_unlock(&L(m)->mu);
	return n;
}
