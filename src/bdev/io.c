/* SPDX-License-Identifier: MIT */
/*
 * Requests through the layers.
 *
 * A layer without per-request context is called directly: a stack of one
 * backend costs one indirect call more than calling the backend.  A layer
 * with context takes a slot from its pool (reserved at open: no
 * allocation), keeps the bio's done/ctx in the slot's header and puts its
 * own exit in their place; when the bio completes — from below, or by the
 * layer itself — the exit gives the slot back and restores done/ctx
 * before calling the caller's done.  So a bio can pass any number of
 * layers unchanged and still free each one's context exactly once.
 *
 * The pool's free list is a lock-free stack of slot indexes whose head
 * carries a generation tag against ABA: one CAS to take a slot and one to
 * give it back, no lock shared by the connections.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_int.h"

#define SLOT_NONE UINT32_MAX

static inline struct slot_hdr *slot_at(struct slot_pool *p, uint32_t i)
{
	return (struct slot_hdr *)(p->mem + (size_t)i * p->stride);
}

static inline void *slot_ctx(struct slot_hdr *s)
{
	return s + 1;
}

int vs_slot_pool_init(struct slot_pool *p, uint32_t count, size_t ctx_size, size_t bounce_size)
{
	memset(p, 0, sizeof(*p));
	p->stride = sizeof(struct slot_hdr) + ((ctx_size + 15) & ~(size_t)15);
	p->count = count;
	p->mem = aligned_alloc(64, ((size_t)count * p->stride + 63) & ~(size_t)63);
	if (!p->mem)
		return -ENOMEM;
	memset(p->mem, 0, (size_t)count * p->stride);
	if (bounce_size) {
		p->bounce_size = (bounce_size + 4095) & ~(size_t)4095;
		p->bounce = aligned_alloc(4096, (size_t)count * p->bounce_size);
		if (!p->bounce) {
			free(p->mem);
			p->mem = NULL;
			return -ENOMEM;
		}
	}
	for (uint32_t i = 0; i < count; i++) {
		struct slot_hdr *s = slot_at(p, i);

		s->index = i;
		atomic_init(&s->next, i + 1 < count ? i + 1 : SLOT_NONE);
	}
	atomic_init(&p->head, count ? 0 : SLOT_NONE);
	return 0;
}

void vs_slot_pool_fini(struct slot_pool *p)
{
	free(p->mem);
	free(p->bounce);
	memset(p, 0, sizeof(*p));
}

static struct slot_hdr *slot_get(struct slot_pool *p)
{
	uint64_t head = atomic_load_explicit(&p->head, memory_order_acquire);

	for (;;) {
		uint32_t i = (uint32_t)head;
		uint32_t next;

		if (i == SLOT_NONE)
			return NULL;
		next = atomic_load_explicit(&slot_at(p, i)->next, memory_order_relaxed);
		/* the tag (high half) changes on every push and pop, so a slot
		 * taken and given back meanwhile fails this CAS */
		if (atomic_compare_exchange_weak_explicit(&p->head, &head,
		                                          ((head >> 32) + 1) << 32 | next,
		                                          memory_order_acquire,
		                                          memory_order_acquire))
			return slot_at(p, i);
	}
}

static void slot_put(struct slot_pool *p, struct slot_hdr *s)
{
	uint64_t head = atomic_load_explicit(&p->head, memory_order_relaxed);

	do {
		atomic_store_explicit(&s->next, (uint32_t)head, memory_order_relaxed);
	} while (!atomic_compare_exchange_weak_explicit(&p->head, &head,
	                                                ((head >> 32) + 1) << 32 | s->index,
	                                                memory_order_release,
	                                                memory_order_relaxed));
}

/* The bio leaves layer s->layer: restore what the layer above gave it. */
static void layer_exit(struct vs_bio *bio, int err)
{
	struct slot_hdr *s = bio->ctx;
	struct vs_layer *l = s->layer;

	bio->done = s->saved_done;
	bio->ctx = s->saved_ctx;
	slot_put(&l->pool, s);
	bio->done(bio, err);
}

static inline int call_submit(struct vs_layer *l, struct vs_bio *bio, void *ctx)
{
	return l->type->backend ? l->type->backend->submit(l->h, bio, ctx)
	                        : l->type->filter->submit(l->h, bio, ctx);
}

int vs_bdev_layer_submit(struct vs_layer *l, struct vs_bio *bio)
{
	struct slot_hdr *s;
	int rc;

	if (!l->pool.mem)
		return call_submit(l, bio, NULL);
	s = slot_get(&l->pool);
	if (!s)
		return -EAGAIN;         /* reserved for max_requests: the user is over it */
	s->layer = l;
	s->saved_done = bio->done;
	s->saved_ctx = bio->ctx;
	bio->done = layer_exit;
	bio->ctx = s;
	rc = call_submit(l, bio, slot_ctx(s));
	if (rc < 0) {
		/* not taken: done() will not run, so undo here */
		bio->done = s->saved_done;
		bio->ctx = s->saved_ctx;
		slot_put(&l->pool, s);
	}
	return rc;
}

int vs_bdev_submit(struct vs_bdev *bdev, struct vs_bio *bio)
{
	/* Only a caller that knows vs_bio.lent sets the flag (bdev.h); only a
	 * lone backend that lends sees it. */
	if (bio->flags & VS_BIO_MAY_LEND) {
		bio->lent = NULL;
		if (!bdev->lend_end || ((bio->flags & VS_BIO_LEND_STABLE) && !bdev->lend_stable))
			bio->flags &= ~(uint32_t)(VS_BIO_MAY_LEND | VS_BIO_LEND_STABLE);
	}
	if (bdev->direct_submit)
		return bdev->direct_submit(bdev->direct_h, bio, NULL);
	return vs_bdev_layer_submit(bdev->top, bio);
}

void vs_bdev_lend_end(struct vs_bdev *bdev, struct vs_bio *bio)
{
	if (!bio->lent)
		return;
	bdev->lend_end(bdev->direct_h, bio);
	bio->lent = NULL;
}

int vs_bdev_lent_crc32c(struct vs_bdev *bdev, const struct vs_bio *bio, uint64_t off,
                        uint64_t len, uint32_t *crc)
{
	if (!bio->lent || !(bio->flags & VS_BIO_LEND_STABLE) || !bdev->lent_crc32c ||
	    off > bio->length || len > bio->length - off)
		return -EINVAL;
	return bdev->lent_crc32c(bdev->direct_h, bio, off, len, crc);
}

int vs_layer_submit(struct vs_layer *self, size_t lower, struct vs_bio *bio)
{
	if (lower >= self->nlower)
		return -EINVAL;
	return vs_bdev_layer_submit(self->lower[lower], bio);
}

void *vs_layer_bounce(struct vs_layer *self, void *ctx)
{
	struct slot_hdr *s;

	if (!self->pool.bounce || !ctx)
		return NULL;
	s = (struct slot_hdr *)ctx - 1;
	return self->pool.bounce + (size_t)s->index * self->pool.bounce_size;
}

/* Top-down: the first layer that has the bio answers; a layer without a
 * cancel callback, or that does not have it, passes the question on. */
bool vs_bdev_layer_cancel(struct vs_layer *l, struct vs_bio *bio)
{
	if (l->type->backend)
		return l->type->backend->cancel && l->type->backend->cancel(l->h, bio);
	if (l->type->filter->cancel && l->type->filter->cancel(l->h, bio))
		return true;
	for (size_t i = 0; i < l->nlower; i++)
		if (vs_bdev_layer_cancel(l->lower[i], bio))
			return true;
	return false;
}

bool vs_bdev_cancel(struct vs_bdev *bdev, struct vs_bio *bio)
{
	bool found;

	if (!bdev || !bio)
		return false;
	pthread_rwlock_rdlock(&bdev->tree_lock);
	found = vs_bdev_layer_cancel(bdev->top, bio);
	pthread_rwlock_unlock(&bdev->tree_lock);
	return found;
}

bool vs_layer_cancel(struct vs_layer *self, size_t lower, struct vs_bio *bio)
{
	return lower < self->nlower && vs_bdev_layer_cancel(self->lower[lower], bio);
}

void vs_layer_reset(struct vs_layer *l)
{
	if (l->type->backend) {
		if (l->type->backend->reset)
			l->type->backend->reset(l->h);
		return;
	}
	if (l->type->filter->reset)
		l->type->filter->reset(l->h);
	for (size_t i = 0; i < l->nlower; i++)
		vs_layer_reset(l->lower[i]);
}

void vs_bdev_reset(struct vs_bdev *bdev)
{
	if (!bdev)
		return;
	pthread_rwlock_rdlock(&bdev->tree_lock);
	vs_layer_reset(bdev->top);
	pthread_rwlock_unlock(&bdev->tree_lock);
}

void vs_layer_lower_reset(struct vs_layer *self, size_t lower)
{
	if (lower < self->nlower)
		vs_layer_reset(self->lower[lower]);
}
