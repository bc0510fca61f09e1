/* SPDX-License-Identifier: MIT */
/*
 * vcache: a volatile write cache, to prove durability.  A disk with a
 * write cache may lose every write it acknowledged but was not told to
 * make durable when the power goes; this filter is such a disk, on
 * purpose, in its most forgetful form:
 *
 *  - a WRITE without FUA is copied into the cache and acknowledged; it
 *    reaches the layer below only when a FLUSH destages the cache (or the
 *    cache is full and destages before taking more);
 *  - a WRITE with FUA goes through to the layer below, with FUA, and
 *    replaces what the cache held of its blocks;
 *  - a FLUSH writes every cached block below, flushes the layer below, and
 *    only then completes (SBC-3 5.22: everything acknowledged before the
 *    SYNCHRONIZE CACHE is on stable storage when it completes);
 *  - a READ reads below and lays the cached blocks over what it read;
 *  - UNMAP and WRITE ZEROES drop their cached blocks and go below;
 *  - power_fail=1 (run time: vstorctl lun set-filter) drops the cache, as
 *    a power loss does, and fails every request from then on with EIO
 *    (the disk is dead) until power_fail=0.
 *
 * So a test that writes, SYNCHRONIZE CACHEs and FUAs through a LUN, then
 * pulls the plug, finds below exactly what was made durable and nothing it
 * may count on besides: anything acknowledged without FUA and not covered
 * by a completed flush is gone (tests/e2e/power_loss.sh).
 *
 * It models a disk, not a fast one: requests run one at a time in arrival
 * order (a FIFO through their contexts, under one lock), which keeps the
 * cache's contents and what is in flight below trivially consistent.  The
 * cache is `size` bytes of 512-byte slots and a hash table from block to
 * slot, allocated at open; the I/O path allocates nothing.
 */
#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vstor/filter.h"
#include "vcache_filter.h"

#define VC_BLOCK       512u
#define VC_NONE        UINT32_MAX
#define VC_DESTAGE_IOV 64u      /* slots per destage write */

static const struct vs_opt_desc vcache_options[] = {
	{ .name = "size", .type = VS_OPT_SIZE, .dflt = "64M", .min = 4096, .max = 1ull << 32,
	  .help = "cache capacity in bytes (512-byte blocks)" },
	{ .name = "power_fail", .type = VS_OPT_BOOL, .flags = VS_OPT_RUNTIME, .dflt = "0",
	  .help = "1: lose the cache now and fail every request until 0" },
	{ 0 }
};

struct vcache;

/* One request's state (its context): its place in the FIFO, and for the
 * request running, what it is doing below. */
struct vc_req {
	struct vc_req *next;
	struct vcache *v;
	struct vs_bio *bio;
	struct vs_bio child;
	_Atomic int sync;       /* SUBMITTING / DONE_INLINE / RETURNED, see below() */
	int child_err;
	uint8_t step;
	uint32_t nslots;
	uint32_t slots[VC_DESTAGE_IOV];
	struct iovec iov[VC_DESTAGE_IOV];
};

enum { STEP_START = 0, STEP_DESTAGE, STEP_BELOW, STEP_FLUSH_BELOW };
enum { SUBMITTING = 0, DONE_INLINE, RETURNED };

struct vcache {
	struct vs_layer *self;
	pthread_mutex_t lock;
	uint8_t *data;          /* nslots x VC_BLOCK */
	uint64_t *block;        /* slot -> block number, or UINT64_MAX when free */
	uint32_t *table;        /* open addressing: block hash -> slot, VC_NONE empty */
	uint32_t table_mask;
	uint32_t nslots;
	uint32_t used;
	uint32_t *free_slots;   /* stack of free slot indexes */
	uint32_t nfree;
	uint64_t destaged;      /* for the tests */
	bool power_failed;
	bool running;           /* a request is being served */
	struct vc_req *head, *tail;
};

static uint32_t hash(uint64_t b)
{
	b ^= b >> 33;
	b *= 0xff51afd7ed558ccdull;
	b ^= b >> 33;
	return (uint32_t)b;
}

/* ---- the cache table (lock held) ---- */

static uint32_t find(struct vcache *v, uint64_t blk)
{
	for (uint32_t i = hash(blk) & v->table_mask;; i = (i + 1) & v->table_mask) {
		uint32_t s = v->table[i];

		if (s == VC_NONE)
			return VC_NONE;
		if (v->block[s] == blk)
			return s;
	}
}

static void table_insert(struct vcache *v, uint64_t blk, uint32_t slot)
{
	uint32_t i = hash(blk) & v->table_mask;

	while (v->table[i] != VC_NONE)
		i = (i + 1) & v->table_mask;
	v->table[i] = slot;
	v->block[slot] = blk;
}

/* Remove a block, keeping every probe chain intact (backward shift). */
static void table_remove(struct vcache *v, uint64_t blk)
{
	uint32_t i = hash(blk) & v->table_mask, j;

	while (v->table[i] != VC_NONE && v->block[v->table[i]] != blk)
		i = (i + 1) & v->table_mask;
	if (v->table[i] == VC_NONE)
		return;
	v->free_slots[v->nfree++] = v->table[i];
	v->block[v->table[i]] = UINT64_MAX;
	v->used--;
	v->table[i] = VC_NONE;
	for (j = (i + 1) & v->table_mask; v->table[j] != VC_NONE; j = (j + 1) & v->table_mask) {
		uint32_t s = v->table[j], home = hash(v->block[s]) & v->table_mask;

		/* move s back into the hole if the hole lies on its probe path */
		if (((j - home) & v->table_mask) >= ((j - i) & v->table_mask)) {
			v->table[i] = s;
			v->table[j] = VC_NONE;
			i = j;
		}
	}
}

static void drop_range(struct vcache *v, uint64_t off, uint64_t len)
{
	for (uint64_t b = off / VC_BLOCK; b < (off + len + VC_BLOCK - 1) / VC_BLOCK; b++)
		table_remove(v, b);
}

static void drop_all(struct vcache *v)
{
	for (uint32_t i = 0; i <= v->table_mask; i++)
		v->table[i] = VC_NONE;
	v->nfree = 0;
	for (uint32_t s = 0; s < v->nslots; s++) {
		v->block[s] = UINT64_MAX;
		v->free_slots[v->nfree++] = v->nslots - 1 - s;
	}
	v->used = 0;
}

/* ---- copying between a bio's iovec and the cache ---- */

/* Walk the bio's bytes block by block: fn(v, block, pointer into the bio). */
static void each_block(struct vcache *v, struct vs_bio *bio,
                       void (*fn)(struct vcache *v, uint64_t blk, uint8_t *p))
{
	uint64_t blk = bio->offset / VC_BLOCK, left = bio->length;

	for (int i = 0; i < bio->iovcnt && left; i++) {
		uint8_t *p = bio->iov[i].iov_base;
		uint64_t n = bio->iov[i].iov_len < left ? bio->iov[i].iov_len : left;

		for (uint64_t k = 0; k + VC_BLOCK <= n; k += VC_BLOCK)
			fn(v, blk++, p + k);
		left -= n;
	}
}

static void cache_put(struct vcache *v, uint64_t blk, uint8_t *p)
{
	uint32_t s = find(v, blk);

	if (s == VC_NONE) {
		s = v->free_slots[--v->nfree];
		table_insert(v, blk, s);
		v->used++;
	}
	memcpy(v->data + (size_t)s * VC_BLOCK, p, VC_BLOCK);
}

static void cache_overlay(struct vcache *v, uint64_t blk, uint8_t *p)
{
	uint32_t s = find(v, blk);

	if (s != VC_NONE)
		memcpy(p, v->data + (size_t)s * VC_BLOCK, VC_BLOCK);
}

static bool aligned(const struct vs_bio *bio)
{
	if (bio->offset % VC_BLOCK || bio->length % VC_BLOCK)
		return false;
	for (int i = 0; i < bio->iovcnt; i++)
		if (bio->iov[i].iov_len % VC_BLOCK)
			return false;
	return true;
}

/* ---- the FIFO: one request at a time ----
 *
 * Each step returns the request to serve next when the one it handled has
 * completed, or NULL when that one is waiting below; run() loops, so a
 * queue of requests that complete inline (cache hits, a RAM disk below)
 * is served without recursion.
 */

static struct vc_req *serve(struct vcache *v, struct vc_req *r);

static void run(struct vcache *v, struct vc_req *r)
{
	while (r)
		r = serve(v, r);
}

/* The running request is done: complete it; the next one, if any. */
static struct vc_req *complete(struct vcache *v, struct vc_req *r, int err)
{
	struct vc_req *next;

	pthread_mutex_lock(&v->lock);
	next = v->head;
	if (next) {
		v->head = next->next;
		if (!v->head)
			v->tail = NULL;
	} else {
		v->running = false;
	}
	pthread_mutex_unlock(&v->lock);
	vs_bio_complete(r->bio, err);
	return next;
}

/* Build the next destage write from up to VC_DESTAGE_IOV cached blocks
 * that follow each other, from the lowest (lock held); false when the
 * cache is empty. */
static bool next_destage(struct vcache *v, struct vc_req *r)
{
	uint64_t first = UINT64_MAX;

	r->nslots = 0;
	for (uint32_t s = 0; s < v->nslots; s++)
		if (v->block[s] != UINT64_MAX && v->block[s] < first)
			first = v->block[s];
	if (first == UINT64_MAX)
		return false;
	for (uint64_t b = first; r->nslots < VC_DESTAGE_IOV; b++) {
		uint32_t s = find(v, b);

		if (s == VC_NONE)
			break;
		r->slots[r->nslots] = s;
		r->iov[r->nslots].iov_base = v->data + (size_t)s * VC_BLOCK;
		r->iov[r->nslots].iov_len = VC_BLOCK;
		r->nslots++;
	}
	r->child = (struct vs_bio){ .op = VS_BIO_WRITE, .offset = first * VC_BLOCK,
	                            .length = (uint64_t)r->nslots * VC_BLOCK, .iov = r->iov,
	                            .iovcnt = (int)r->nslots };
	return true;
}

static struct vc_req *step(struct vcache *v, struct vc_req *r, int err);

static void child_done(struct vs_bio *child, int err)
{
	struct vc_req *r = child->ctx;
	struct vcache *v = r->v;        /* r may be reused once step() completed it */

	r->child_err = err;
	/* completed inside vs_layer_submit: below() goes on from there */
	if (atomic_exchange(&r->sync, DONE_INLINE) == SUBMITTING)
		return;
	run(v, step(v, r, err));
}

/* Send r->child below; what to serve next if it already completed. */
static struct vc_req *below(struct vcache *v, struct vc_req *r)
{
	int rc;

	r->child.done = child_done;
	r->child.ctx = r;
	atomic_store(&r->sync, SUBMITTING);
	rc = vs_layer_submit(v->self, 0, &r->child);
	if (rc < 0)
		return step(v, r, rc);
	if (atomic_exchange(&r->sync, RETURNED) == DONE_INLINE)
		return step(v, r, r->child_err);
	return NULL;
}

/*
 * The running request's next step.  Destaging (a FLUSH, or a write that
 * found the cache full) writes the cache out below a run of blocks at a
 * time, dropping each run once it is written.
 */
static struct vc_req *step(struct vcache *v, struct vc_req *r, int err)
{
	struct vs_bio *bio = r->bio;
	bool more;

	if (err)
		return complete(v, r, err);
	pthread_mutex_lock(&v->lock);
	more = v->power_failed;
	pthread_mutex_unlock(&v->lock);
	/* the power went while this one ran: the disk died under it */
	if (more)
		return complete(v, r, -EIO);
	switch (r->step) {
	case STEP_DESTAGE:
		pthread_mutex_lock(&v->lock);
		for (uint32_t i = 0; i < r->nslots; i++)
			table_remove(v, v->block[r->slots[i]]);
		v->destaged += r->nslots;
		more = !v->power_failed && next_destage(v, r);
		pthread_mutex_unlock(&v->lock);
		if (more)
			return below(v, r);
		if (bio->op == VS_BIO_FLUSH) {
			r->step = STEP_FLUSH_BELOW;
			r->child = (struct vs_bio){ .op = VS_BIO_FLUSH };
			return below(v, r);
		}
		/* a write that needed room: serve it again, now that there is */
		r->step = STEP_START;
		return serve(v, r);
	case STEP_BELOW:
	case STEP_FLUSH_BELOW:
		if (bio->op == VS_BIO_READ) {
			pthread_mutex_lock(&v->lock);
			each_block(v, bio, cache_overlay);
			pthread_mutex_unlock(&v->lock);
		}
		return complete(v, r, 0);
	default:
		return complete(v, r, -EIO);
	}
}

/* Start the request at the head of the FIFO (lock not held). */
static struct vc_req *serve(struct vcache *v, struct vc_req *r)
{
	struct vs_bio *bio = r->bio;
	uint32_t need = (uint32_t)(bio->length / VC_BLOCK);

	pthread_mutex_lock(&v->lock);
	if (v->power_failed) {
		pthread_mutex_unlock(&v->lock);
		return complete(v, r, -EIO);
	}
	switch (bio->op) {
	case VS_BIO_WRITE:
		if (!(bio->flags & VS_BIO_FUA)) {
			if (v->nfree >= need) {
				each_block(v, bio, cache_put);
				pthread_mutex_unlock(&v->lock);
				return complete(v, r, 0);
			}
			/* full: destage first, then take it */
			r->step = STEP_DESTAGE;
			next_destage(v, r);
			pthread_mutex_unlock(&v->lock);
			return below(v, r);
		}
		/* FUA: through, and what the cache held of it is stale */
		drop_range(v, bio->offset, bio->length);
		break;
	case VS_BIO_UNMAP:
	case VS_BIO_WRITE_ZEROES:
		drop_range(v, bio->offset, bio->length);
		break;
	case VS_BIO_FLUSH:
		r->step = STEP_DESTAGE;
		r->nslots = 0;
		pthread_mutex_unlock(&v->lock);
		return step(v, r, 0);
	default:
		break;
	}
	pthread_mutex_unlock(&v->lock);
	r->step = STEP_BELOW;
	r->child = *bio;
	return below(v, r);
}

static int vcache_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct vcache *v = h;
	struct vc_req *r = ctx;
	bool start;

	if ((bio->op == VS_BIO_READ || bio->op == VS_BIO_WRITE) && !aligned(bio))
		return -EINVAL;
	if (bio->op == VS_BIO_WRITE && bio->length > (uint64_t)v->nslots * VC_BLOCK)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->bio = bio;
	r->v = v;
	pthread_mutex_lock(&v->lock);
	start = !v->running;
	if (start) {
		v->running = true;
	} else {
		if (v->tail)
			v->tail->next = r;
		else
			v->head = r;
		v->tail = r;
	}
	pthread_mutex_unlock(&v->lock);
	if (start)
		run(v, r);
	return 0;
}

/* ---- cancel, reset: a request waiting in the FIFO can be given back ---- */

static bool vcache_cancel(void *h, struct vs_bio *bio)
{
	struct vcache *v = h;
	struct vc_req *r, *prev = NULL;

	pthread_mutex_lock(&v->lock);
	for (r = v->head; r; prev = r, r = r->next) {
		if (r->bio != bio)
			continue;
		if (prev)
			prev->next = r->next;
		else
			v->head = r->next;
		if (v->tail == r)
			v->tail = prev;
		break;
	}
	pthread_mutex_unlock(&v->lock);
	if (r)
		vs_bio_complete(r->bio, -ECANCELED);
	return r != NULL;
}

static void vcache_reset(void *h)
{
	struct vcache *v = h;
	struct vc_req *list;

	pthread_mutex_lock(&v->lock);
	list = v->head;
	v->head = v->tail = NULL;
	pthread_mutex_unlock(&v->lock);
	while (list) {
		struct vc_req *r = list;

		list = r->next;
		vs_bio_complete(r->bio, -ECANCELED);
	}
}

/* ---- options, open, close ---- */

static int vcache_set_options(void *h, const struct vs_opts *o)
{
	struct vcache *v = h;
	bool fail = vs_opt_bool(o, "power_fail");

	pthread_mutex_lock(&v->lock);
	/* the power goes: what was only in the cache is lost */
	if (fail && !v->power_failed)
		drop_all(v);
	v->power_failed = fail;
	pthread_mutex_unlock(&v->lock);
	return 0;
}

static void vcache_caps(void *h, struct vs_backend_caps *caps)
{
	(void)h;
	/* a volatile cache to flush, and FUA honoured, whatever is below */
	caps->can_flush = true;
	caps->has_write_cache = true;
	caps->can_fua = true;
	if (caps->logical_block_size < VC_BLOCK)
		caps->logical_block_size = VC_BLOCK;
}

static void vcache_close(void *h)
{
	struct vcache *v = h;

	pthread_mutex_destroy(&v->lock);
	free(v->data);
	free(v->block);
	free(v->table);
	free(v->free_slots);
	free(v);
}

static void *vcache_open(struct vs_filter_open_args *a)
{
	struct vcache *v = calloc(1, sizeof(*v));
	uint64_t slots = vs_opt_u64(a->opts, "size") / VC_BLOCK;
	uint32_t tsize = 1;

	if (!v) {
		vs_set_error("out of memory");
		return NULL;
	}
	while (tsize < slots * 2)
		tsize <<= 1;
	v->self = a->self;
	v->nslots = (uint32_t)slots;
	v->table_mask = tsize - 1;
	pthread_mutex_init(&v->lock, NULL);
	v->data = malloc((size_t)slots * VC_BLOCK);
	v->block = malloc(slots * sizeof(*v->block));
	v->table = malloc((size_t)tsize * sizeof(*v->table));
	v->free_slots = malloc(slots * sizeof(*v->free_slots));
	if (!v->data || !v->block || !v->table || !v->free_slots) {
		vcache_close(v);
		vs_set_error("size: cannot allocate %llu bytes of cache",
		             (unsigned long long)slots * VC_BLOCK);
		return NULL;
	}
	drop_all(v);
	v->power_failed = vs_opt_bool(a->opts, "power_fail");
	a->ctx_size = sizeof(struct vc_req);
	return v;
}

static const struct vs_filter_ops vcache_ops = {
	.name = "vcache",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "a volatile write cache that a power failure empties (durability tests)",
	.options = vcache_options,
	.open = vcache_open,
	.close = vcache_close,
	.submit = vcache_submit,
	.get_caps = vcache_caps,
	.cancel = vcache_cancel,
	.reset = vcache_reset,
	.set_options = vcache_set_options,
};
VS_FILTER_BUILTIN(vcache_ops)

uint64_t vs_vcache_destaged(struct vcache *v)
{
	pthread_mutex_lock(&v->lock);
	uint64_t n = v->destaged;
	pthread_mutex_unlock(&v->lock);
	return n;
}

uint32_t vs_vcache_cached(struct vcache *v)
{
	pthread_mutex_lock(&v->lock);
	uint32_t n = v->used;
	pthread_mutex_unlock(&v->lock);
	return n;
}
