/* SPDX-License-Identifier: MIT */
/*
 * The nbd backend's dirty log (see nbd_dirty.h for what and why).
 *
 * Ring positions are 64-bit counters that never wrap; a position's byte is
 * at pos % ring_size.  A copy never straddles the ring's end: if it does
 * not fit before the end, the rest of the ring is skipped and charged to
 * the record (start_pos < data_pos), so the space comes back with it.  The
 * ring's used part runs from the oldest record's start_pos to head_pos.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "nbd_dirty.h"

int vs_dlog_init(struct nbd_dirty *d, uint64_t ring_bytes, uint32_t max_records, uint32_t window)
{
	memset(d, 0, sizeof(*d));
	d->first = d->last = d->cursor = DIRTY_NONE;
	if (max_records == 0 || max_records == DIRTY_NONE || window == 0 ||
	    window > DIRTY_MAX_WINDOW)
		return -EINVAL;
	if (ring_bytes) {
		/* Anonymous memory: reserved now, backed by pages only once
		 * copies reach them. */
		void *m = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED)
			return -ENOMEM;
		d->ring = m;
	}
	d->ring_size = ring_bytes;
	d->recs = calloc(max_records, sizeof(*d->recs));
	d->free_ids = calloc(max_records, sizeof(*d->free_ids));
	if (!d->recs || !d->free_ids) {
		vs_dlog_fini(d);
		return -ENOMEM;
	}
	d->nrecs = max_records;
	/* pop order: id 0 first */
	for (uint32_t i = 0; i < max_records; i++)
		d->free_ids[i] = max_records - 1 - i;
	d->nfree = max_records;
	d->window = window;
	return 0;
}

void vs_dlog_fini(struct nbd_dirty *d)
{
	if (d->ring)
		munmap(d->ring, d->ring_size);
	free(d->recs);
	free(d->free_ids);
	memset(d, 0, sizeof(*d));
	d->first = d->last = d->cursor = DIRTY_NONE;
}

/* Ring space for len bytes at the head: *start (padding included) and
 * *data, or false if the used part would exceed the ring. */
static bool ring_reserve(struct nbd_dirty *d, uint32_t len, uint64_t *start, uint64_t *data)
{
	uint64_t used = dlog_ring_used(d);
	uint64_t at = d->head_pos;
	uint64_t phys, pad = 0;

	if (len == 0) {
		*start = *data = at;
		return true;
	}
	if (len > d->ring_size)
		return false;
	phys = at % d->ring_size;
	if (phys + len > d->ring_size)
		pad = d->ring_size - phys;
	if (used + pad + len > d->ring_size)
		return false;
	*start = at;
	*data = at + pad;
	d->head_pos = *data + len;
	return true;
}

uint32_t vs_dlog_add(struct nbd_dirty *d, uint8_t kind, uint64_t off, uint64_t len,
                   uint32_t data_len, void *owner)
{
	uint64_t start, data;
	uint32_t id;
	struct dirty_rec *r;

	if (d->nfree == 0 || !ring_reserve(d, data_len, &start, &data))
		return DIRTY_NONE;
	id = d->free_ids[--d->nfree];
	r = &d->recs[id];
	*r = (struct dirty_rec){
		.off = off, .len = len, .start_pos = start, .data_pos = data, .owner = owner,
		.data_len = data_len, .prev = d->last, .next = DIRTY_NONE, .state = DR_SENT,
		.kind = kind,
	};
	if (d->last != DIRTY_NONE)
		d->recs[d->last].next = id;
	else
		d->first = id;
	d->last = id;
	return id;
}

void *vs_dlog_data(struct nbd_dirty *d, uint32_t id)
{
	const struct dirty_rec *r = &d->recs[id];

	return r->data_len ? d->ring + r->data_pos % d->ring_size : NULL;
}

static void window_remove(struct nbd_dirty *d, uint32_t id)
{
	for (uint32_t i = 0; i < d->ninflight; i++) {
		if (d->inflight[i] == id) {
			d->inflight[i] = d->inflight[--d->ninflight];
			return;
		}
	}
}

/* Unlink and free; the ring space comes back once every older record's
 * has (dlog_ring_used follows the oldest record). */
static void rec_free(struct nbd_dirty *d, uint32_t id)
{
	struct dirty_rec *r = &d->recs[id];

	if (r->state == DR_FREE)
		return;
	if (r->state == DR_REPLAYING)
		window_remove(d, id);
	if (d->cursor == id)
		d->cursor = r->next;
	if (r->acknowledged)
		d->ack_bytes -= r->len;
	if (r->prev != DIRTY_NONE)
		d->recs[r->prev].next = r->next;
	else
		d->first = r->next;
	if (r->next != DIRTY_NONE)
		d->recs[r->next].prev = r->prev;
	else
		d->last = r->prev;
	r->state = DR_FREE;
	r->owner = NULL;
	d->free_ids[d->nfree++] = id;
	if (d->first == DIRTY_NONE)
		d->head_pos = 0;        /* empty: start over at the ring's start */
}

void *vs_dlog_acked(struct nbd_dirty *d, uint32_t id)
{
	struct dirty_rec *r = &d->recs[id];
	void *owner = r->owner;

	if (r->state == DR_REPLAYING)
		window_remove(d, id);
	r->state = DR_ACKED;
	r->ack_seq = ++d->ack_counter;
	if (!r->acknowledged) {
		r->acknowledged = true;
		d->ack_bytes += r->len;
	}
	r->owner = NULL;
	return owner;
}

uint32_t vs_dlog_flushed(struct nbd_dirty *d, uint64_t mark)
{
	uint32_t n = 0;

	for (uint32_t id = d->first, next; id != DIRTY_NONE; id = next) {
		const struct dirty_rec *r = &d->recs[id];

		next = r->next;
		/* acknowledged by the server before the flush went out */
		if (r->state == DR_ACKED && r->ack_seq <= mark) {
			rec_free(d, id);
			n++;
		}
	}
	return n;
}

void vs_dlog_drop(struct nbd_dirty *d, uint32_t id)
{
	rec_free(d, id);
}

void vs_dlog_lost(struct nbd_dirty *d)
{
	for (uint32_t id = d->first; id != DIRTY_NONE; id = d->recs[id].next)
		d->recs[id].state = DR_LOST;
	d->ninflight = 0;
	d->cursor = d->first;
}

static bool overlaps(const struct dirty_rec *a, const struct dirty_rec *b)
{
	return a->off < b->off + b->len && b->off < a->off + a->len;
}

uint32_t vs_dlog_replay_next(struct nbd_dirty *d)
{
	while (d->cursor != DIRTY_NONE && d->recs[d->cursor].state != DR_LOST)
		d->cursor = d->recs[d->cursor].next;
	if (d->cursor == DIRTY_NONE || d->ninflight >= d->window)
		return DIRTY_NONE;

	uint32_t id = d->cursor;
	struct dirty_rec *r = &d->recs[id];

	/* An earlier record over the same blocks is still on its way: the
	 * server may apply two requests in flight in either order, so this
	 * one waits (and everything after it, to keep log order simple). */
	for (uint32_t i = 0; i < d->ninflight; i++)
		if (overlaps(&d->recs[d->inflight[i]], r))
			return DIRTY_NONE;
	r->state = DR_REPLAYING;
	d->inflight[d->ninflight++] = id;
	d->cursor = r->next;
	return id;
}

void *vs_dlog_replay_done(struct nbd_dirty *d, uint32_t id, bool ok, uint64_t *lost_bytes)
{
	struct dirty_rec *r = &d->recs[id];
	void *owner;

	*lost_bytes = 0;
	if (ok)
		return vs_dlog_acked(d, id);
	owner = r->owner;
	if (r->acknowledged)
		*lost_bytes = r->len;
	rec_free(d, id);
	return owner;
}

bool vs_dlog_replay_finished(const struct nbd_dirty *d)
{
	if (d->ninflight)
		return false;
	for (uint32_t id = d->cursor; id != DIRTY_NONE; id = d->recs[id].next)
		if (d->recs[id].state == DR_LOST)
			return false;
	return true;
}

uint64_t vs_dlog_give_up(struct nbd_dirty *d, uint64_t *records)
{
	uint64_t bytes = d->ack_bytes, n = 0;

	for (uint32_t id = d->first, next; id != DIRTY_NONE; id = next) {
		next = d->recs[id].next;
		if (d->recs[id].acknowledged)
			n++;
		rec_free(d, id);
	}
	if (records)
		*records = n;
	return bytes;
}
