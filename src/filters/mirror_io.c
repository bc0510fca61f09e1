/* SPDX-License-Identifier: MIT */
/*
 * The mirror's foreground requests, each in its own context (struct mreq,
 * children included: nothing is allocated).
 *
 * Writes (and WRITE ZEROES, UNMAP): the regions are taken (a write never
 * enters a region the resync is copying), their in-flight bits made
 * durable if they are not (the first write to an idle region waits for
 * one map update; md's write-intent bitmap), then the same request goes
 * to every leg that is in sync or being copied, with its FUA.  Legs not
 * written are marked behind there.  A leg whose write fails is degraded
 * and behind there; the write succeeds if the legs that took it suffice
 * (the last leg in sync failing is an error, as without a mirror).  The
 * acknowledgement waits for the map update that recorded a leg's new
 * state, so after a crash the map never names a leg in sync that missed
 * an acknowledged write.
 *
 * FLUSH goes to every leg written; a leg whose flush fails may have lost
 * acknowledged writes, so it is degraded and copied in full.
 *
 * Reads go to one leg in sync (never to a leg still behind), chosen by
 * region so that the legs share the work; a leg that fails a read is
 * degraded and the read is tried on the next.
 */
#include <errno.h>

#include "mirror_int.h"

static void finish(struct mreq *q, int err)
{
	if (q->holds_pending) {
		q->holds_pending = false;
		vs_map_give(q->m, q->r0, q->r1);
	}
	vs_bio_complete(q->parent, err);
}

static void note_err(_Atomic int *slot, int err)
{
	int none = 0;

	atomic_compare_exchange_strong(slot, &none, err);
}

static void child_init(struct mreq *q, size_t i, vs_bio_done_fn done)
{
	const struct vs_bio *p = q->parent;

	q->child[i] = (struct vs_bio){ .op = p->op, .flags = p->flags, .offset = p->offset,
	                               .length = p->length, .iov = p->iov, .iovcnt = p->iovcnt,
	                               .done = done, .ctx = q };
}

static size_t child_leg(struct mreq *q, struct vs_bio *bio)
{
	return (size_t)(bio - q->child);
}

/* ---- acknowledgement ---- */

static void ack(struct mreq *q)
{
	struct mirror *m = q->m;

	if (!meta_durable(m, q->need_gen)) {
		pthread_mutex_lock(&m->lock);
		if (!meta_durable(m, q->need_gen)) {
			vs_wait_park(m, q, ack);
			pthread_mutex_unlock(&m->lock);
			vs_meta_kick(m);
			return;
		}
		pthread_mutex_unlock(&m->lock);
	}
	finish(q, 0);
}

/* Every child of a write or flush is back. */
static void fanned_out(struct mreq *q)
{
	int hard = atomic_load(&q->hard), err = atomic_load(&q->err);

	if (hard || !atomic_load(&q->ok)) {
		finish(q, hard ? hard : err ? err : -EIO);
		return;
	}
	q->need_gen = atomic_load(&q->m->state_gen);
	ack(q);
}

static void child_failed(struct mreq *q, size_t i, int err)
{
	struct mirror *m = q->m;
	bool flush = q->parent->op == VS_BIO_FLUSH;

	note_err(&q->err, err);
	if (!flush && err == -ECANCELED && leg_writable(m, i)) {
		/* a reset of the stack, not a failure: the leg may or may not
		 * have it, so it is copied there again */
		vs_leg_behind(m, i, q->r0, q->r1);
		note_err(&q->hard, err);
		return;
	}
	if (!vs_leg_failed(m, i, err, !flush, q->r0, q->r1))
		note_err(&q->hard, err);
	else if (flush)
		vs_map_behind_all(m, i);   /* acknowledged writes on it may be lost */
}

static void fan_child_done(struct vs_bio *bio, int err)
{
	struct mreq *q = bio->ctx;
	size_t i = child_leg(q, bio);

	vs_leg_returned(q->m, i);
	if (err)
		child_failed(q, i, err);
	else
		atomic_fetch_or(&q->ok, 1u << i);
	if (atomic_fetch_sub(&q->left, 1) == 1)
		fanned_out(q);
}

/* The same request to every leg that is written. */
static void fan_out(struct mreq *q)
{
	struct mirror *m = q->m;
	uint32_t mask = vs_leg_write_mask(m);

	if (q->parent->op != VS_BIO_FLUSH)
		for (size_t i = 0; i < m->nlegs; i++)
			if (!(mask & (1u << i)))
				vs_map_behind(m, i, q->r0, q->r1);
	if (!mask) {
		finish(q, -EIO);
		return;
	}
	q->sent = mask;
	atomic_store(&q->ok, 0);
	atomic_store(&q->err, 0);
	atomic_store(&q->hard, 0);
	atomic_store(&q->left, (uint32_t)__builtin_popcount(mask) + 1);
	for (size_t i = 0; i < m->nlegs; i++) {
		if (!(mask & (1u << i)))
			continue;
		child_init(q, i, fan_child_done);
		if (vs_leg_submit(m, i, &q->child[i]) < 0) {
			child_failed(q, i, -EIO);
			atomic_fetch_sub(&q->left, 1);
		}
	}
	if (atomic_fetch_sub(&q->left, 1) == 1)
		fanned_out(q);
}

/* ---- writes ---- */

static bool any_copying(struct mirror *m, uint64_t r0, uint64_t r1)
{
	for (uint64_t r = r0; r <= r1; r++)
		if (atomic_load(&m->copying[r]))
			return true;
	return false;
}

static void write_start(struct mreq *q)
{
	struct mirror *m = q->m;

	while (!q->holds_pending) {
		if (vs_map_take(m, q->r0, q->r1)) {
			q->holds_pending = true;
			break;
		}
		pthread_mutex_lock(&m->lock);
		if (any_copying(m, q->r0, q->r1)) {
			vs_wait_park(m, q, write_start);
			pthread_mutex_unlock(&m->lock);
			return;
		}
		pthread_mutex_unlock(&m->lock);
	}
	if (!vs_map_durable(m, q->r0, q->r1)) {
		pthread_mutex_lock(&m->lock);
		if (!vs_map_durable(m, q->r0, q->r1)) {
			if (vs_map_want(m, q->r0, q->r1))
				vs_meta_changed(m);
			vs_wait_park(m, q, write_start);
			pthread_mutex_unlock(&m->lock);
			vs_meta_kick(m);
			return;
		}
		pthread_mutex_unlock(&m->lock);
	}
	fan_out(q);
}

/* ---- reads ---- */

static void read_start(struct mreq *q);

static void read_child_done(struct vs_bio *bio, int err)
{
	struct mreq *q = bio->ctx;
	struct mirror *m = q->m;
	size_t i = child_leg(q, bio);

	vs_leg_returned(m, i);
	if (!err) {
		finish(q, 0);
		return;
	}
	if (err == -ECANCELED && leg_state(m, i) == LEG_IN_SYNC) {
		finish(q, err);         /* a reset of the stack */
		return;
	}
	note_err(&q->err, err);
	if (!vs_leg_failed(m, i, err, true, q->r0, q->r1)) {
		finish(q, err);         /* the last leg in sync */
		return;
	}
	read_start(q);
}

static void read_start(struct mreq *q)
{
	struct mirror *m = q->m;
	uint32_t mask = vs_leg_read_mask(m) & ~q->tried;
	unsigned k;
	int rc;

	if (!mask) {
		/* legs in sync whose resource is lost (not given up on yet):
		 * their backend holds the read until it is back or given up */
		for (size_t i = 0; i < m->nlegs; i++)
			if (leg_state(m, i) == LEG_IN_SYNC && !(q->tried & (1u << i)))
				mask |= 1u << i;
	}
	if (!mask) {
		int err = atomic_load(&q->err);

		finish(q, err ? err : -EIO);
		return;
	}
	/* spread by region: each leg serves its share of the volume */
	k = (unsigned)(q->r0 % (uint64_t)__builtin_popcount(mask));
	while (k--)
		mask &= mask - 1;
	q->read_leg = (uint8_t)__builtin_ctz(mask);
	q->tried |= 1u << q->read_leg;
	child_init(q, q->read_leg, read_child_done);
	rc = vs_leg_submit(m, q->read_leg, &q->child[q->read_leg]);
	if (rc < 0) {
		note_err(&q->err, rc);
		read_start(q);
	}
}

void vs_mio_cancel(struct mreq *q)
{
	finish(q, -ECANCELED);
}

int vs_mio_submit(struct mirror *m, struct vs_bio *bio, struct mreq *q)
{
	q->m = m;
	q->parent = bio;
	q->holds_pending = false;
	q->tried = 0;
	atomic_init(&q->err, 0);
	atomic_init(&q->hard, 0);
	if (bio->op != VS_BIO_FLUSH) {
		if (bio->offset > m->size || bio->length > m->size - bio->offset)
			return -EINVAL;
		if (bio->length == 0) {
			vs_bio_complete(bio, 0);
			return 0;
		}
		q->r0 = region_of(m, bio->offset);
		q->r1 = region_of(m, bio->offset + bio->length - 1);
	} else {
		q->r0 = q->r1 = 0;
	}
	switch (bio->op) {
	case VS_BIO_READ:
		read_start(q);
		return 0;
	case VS_BIO_WRITE:
	case VS_BIO_WRITE_ZEROES:
	case VS_BIO_UNMAP:
		write_start(q);
		return 0;
	case VS_BIO_FLUSH:
		fan_out(q);
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}
