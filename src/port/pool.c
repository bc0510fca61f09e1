/* SPDX-License-Identifier: MIT */
/*
 * SRB pools.  Everything an SRB needs (the SRB, the miniport's SRB
 * extension, an optional data buffer and its iovec) is allocated once when
 * the pool is created, so vs_srb_get() never allocates.
 *
 * An SRB goes back to the free list only when both references are gone:
 * the fabric's (vs_srb_put) and the miniport's (vs_port_complete).  So a
 * late completion after an abort or reset can never touch a reused SRB.
 *
 * Free SRBs sit in three lists, linked through srb->priv.next (a free SRB
 * is in no queue):
 *  - `hot` and `local`, which only vs_srb_get reads and writes, under
 *    get_lock.  A pool has one submitter (a fabric connection, a class
 *    disk under its own lock), so that lock is never contended on the I/O
 *    path; it stays because the API lets any thread call vs_srb_get.
 *  - `returned`, a lock-free stack the last reference pushes onto from
 *    any thread (one compare-and-swap).  Nothing ever pops a single SRB
 *    off `returned`, so there is no ABA: a push's CAS only succeeds if the
 *    head is still the one its link points at, and whatever that head is,
 *    the link is right.
 * vs_srb_get takes from `hot` (SRBs taken back from `returned`, the most
 * recently freed first), then the whole of `returned` with one exchange
 * when a plain load sees something there, and only then from `local` (the
 * SRBs never used yet).  So the SRBs in use stay the few that were just
 * freed, whose buffers are still in cache: taking `local` first made every
 * get cycle through all of the pool's buffers, and 1 MiB writes, received
 * into cold buffers, ran 15 % slower.
 * Before, one mutex guarded a single free stack, taken at every get and
 * every return: two lock/unlock pairs per SRB, a quarter of the stack's
 * in-process cost.
 *
 * Destroy while SRBs are out: pool_retire swaps POOL_CLOSED into
 * `returned` (so no push can slip in unseen: its CAS expects the old
 * head), counts what is free and keeps the count of SRBs still out; each
 * of those then returns under get_lock, and the last one frees the pool.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../util/vs_zero.h"
#include "port_int.h"

/* In `returned` once the pool is destroyed: an SRB coming back counts
 * itself out under get_lock instead (never an SRB's address). */
#define POOL_CLOSED ((struct vs_srb *)(uintptr_t)1)

struct vs_srb_pool {
	/* written by whichever thread drops an SRB's last reference: a line
	 * of its own, so those writes do not take the getter's fields away */
	_Alignas(64) _Atomic(struct vs_srb *) returned;
	_Alignas(64) pthread_spinlock_t get_lock;
	/* under get_lock: */
	struct vs_srb *hot;             /* taken back from `returned` */
	struct vs_srb *local;           /* never used yet */
	bool dying;                     /* destroyed (returned is POOL_CLOSED) */
	bool claimed;                   /* someone is freeing it */
	uint32_t out;                   /* dying: SRBs not yet back */
	/* fixed at create: */
	struct vs_port *port;
	struct vs_srb *srbs;
	struct iovec *iovs;
	uint8_t *ext_area;
	uint8_t *data;
	size_t data_map_len;            /* > 0: data is an mmap reservation */
	size_t ext_stride, data_stride, data_bytes;
	uint32_t count;
	struct vs_srb_pool *next;       /* port->pools, under port->pool_lock */
};

/* Data areas at least this large are reserved with mmap (page aligned). */
#define POOL_MAP_THRESHOLD (4u * 1024u * 1024u)

static size_t round_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

static void pool_free_mem(struct vs_srb_pool *p)
{
	pthread_spin_destroy(&p->get_lock);
	free(p->srbs);
	free(p->iovs);
	free(p->ext_area);
	if (p->data_map_len)
		munmap(p->data, p->data_map_len);
	else
		free(p->data);
	free(p);
}

struct vs_srb_pool *vs_srb_pool_create(struct vs_port *port, uint32_t count,
                                       size_t data_bytes_per_srb)
{
	struct vs_srb_pool *p;
	size_t ext;

	if (!port_arg(port, "srb_pool: port"))
		return NULL;
	ext = port->mp->srb_extension_size;
	if (count == 0 || count > (1u << 24)) {
		vs_set_error("srb_pool.count: must be 1..16777216 (got %u)", count);
		return NULL;
	}
	p = aligned_alloc(_Alignof(struct vs_srb_pool), sizeof(*p));
	if (!p)
		goto nomem;
	memset(p, 0, sizeof(*p));
	atomic_init(&p->returned, NULL);
	p->port = port;
	p->count = count;
	pthread_spin_init(&p->get_lock, PTHREAD_PROCESS_PRIVATE);
	p->srbs = calloc(count, sizeof(*p->srbs));
	p->iovs = calloc(count, sizeof(*p->iovs));
	if (!p->srbs || !p->iovs)
		goto nomem_p;
	if (ext) {
		p->ext_stride = round_up(ext, 16);
		p->ext_area = aligned_alloc(16, p->ext_stride * count);
		if (!p->ext_area)
			goto nomem_p;
		memset(p->ext_area, 0, p->ext_stride * count);
	}
	if (data_bytes_per_srb) {
		p->data_bytes = data_bytes_per_srb;
		p->data_stride = data_bytes_per_srb >= 4096 ? round_up(data_bytes_per_srb, 4096)
		                                             : round_up(data_bytes_per_srb, 64);
		if (p->data_stride * count >= POOL_MAP_THRESHOLD) {
			/* Large pools (e.g. one maximum-transfer buffer per task
			 * slot) reserve address space only: MAP_NORESERVE keeps
			 * untouched pages out of the commit charge, and only
			 * pages a transfer touches ever cost memory. */
			void *m = mmap(NULL, p->data_stride * count, PROT_READ | PROT_WRITE,
			               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

			if (m == MAP_FAILED)
				goto nomem_p;
			p->data = m;
			p->data_map_len = p->data_stride * count;
		} else if (posix_memalign((void **)&p->data, 4096, p->data_stride * count)) {
			goto nomem_p;
		}
	}
	for (uint32_t i = count; i-- > 0;) {
		struct vs_srb *s = &p->srbs[i];
		s->ext = p->ext_area ? p->ext_area + i * p->ext_stride : NULL;
		s->priv.pool = p;
		s->priv.state = SRB_FREE;
		s->priv.next = p->local;        /* srbs[0] first, as before */
		p->local = s;
	}
	pthread_mutex_lock(&port->pool_lock);
	p->next = port->pools;
	port->pools = p;
	pthread_mutex_unlock(&port->pool_lock);
	return p;

nomem_p:
	pool_free_mem(p);
nomem:
	vs_set_error("srb_pool: out of memory for %u SRBs", count);
	return NULL;
}

static void pool_unlink(struct vs_srb_pool *p)
{
	struct vs_port *port = p->port;

	pthread_mutex_lock(&port->pool_lock);
	for (struct vs_srb_pool **pp = &port->pools; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	pthread_mutex_unlock(&port->pool_lock);
}

static uint32_t list_length(const struct vs_srb *s)
{
	uint32_t n = 0;

	for (; s; s = s->priv.next)
		n++;
	return n;
}

/* Mark p dying; true if every SRB is back and the caller must free it.
 * Destroy and vs_pool_destroy_all may both retire a pool: the second
 * call only looks. */
static bool pool_retire(struct vs_srb_pool *p)
{
	bool mine;

	pthread_spin_lock(&p->get_lock);
	if (!p->dying) {
		/* acquire: the returned SRBs' links and last writes */
		struct vs_srb *ret = atomic_exchange_explicit(&p->returned, POOL_CLOSED,
		                                              memory_order_acq_rel);

		p->dying = true;
		p->out = p->count - list_length(p->local) - list_length(p->hot) -
		         list_length(ret);
	}
	mine = p->out == 0 && !p->claimed;
	p->claimed |= mine;
	pthread_spin_unlock(&p->get_lock);
	return mine;
}

void vs_srb_pool_destroy(struct vs_srb_pool *p)
{
	if (!p)
		return;
	/* Off the port's list first: from here on nothing of the pool's life
	 * touches the port, so its last SRB may come back after the port is
	 * gone. */
	pool_unlink(p);
	/* SRBs still out (e.g. held by a miniport that never completed them)
	 * free the pool when the last one returns. */
	if (pool_retire(p))
		pool_free_mem(p);
}

void vs_pool_destroy_all(struct vs_port *port)
{
	struct vs_srb_pool *p, *next;

	pthread_mutex_lock(&port->pool_lock);
	p = port->pools;
	port->pools = NULL;
	pthread_mutex_unlock(&port->pool_lock);
	for (; p; p = next) {
		next = p->next;
		/* An SRB a backend never gave back keeps its pool alive: its late
		 * completion must not land in freed memory. */
		if (pool_retire(p))
			pool_free_mem(p);
	}
}

struct vs_srb *vs_srb_get(struct vs_srb_pool *p)
{
	struct vs_srb *s;
	uint32_t idx;

	if (!port_arg(p, "srb_get: pool"))
		return NULL;
	pthread_spin_lock(&p->get_lock);
	if (p->dying) {
		s = NULL;
	} else if ((s = p->hot)) {
		p->hot = s->priv.next;
	} else if (atomic_load_explicit(&p->returned, memory_order_relaxed) &&
	           /* acquire: pairs with the pushes' release (every change
	            * to `returned` is a read-modify-write, so each push's
	            * release sequence reaches this exchange); only we take
	            * from it, so what the load saw is still there */
	           (s = atomic_exchange_explicit(&p->returned, NULL, memory_order_acquire))) {
		p->hot = s->priv.next;
	} else if ((s = p->local)) {
		p->local = s->priv.next;
	}
	pthread_spin_unlock(&p->get_lock);
	if (!s)
		return NULL;

	/* reset everything but the extension pointer and the pool link */
	void *ext = s->ext;
	vs_zero(s, offsetof(struct vs_srb, ext));
	memset(&s->priv, 0, sizeof(s->priv));
	s->ext = ext;
	s->priv.pool = p;
	s->priv.refs = 1;                       /* the fabric's */
	s->priv.state = SRB_OWNED;
	idx = (uint32_t)(s - p->srbs);
	if (p->data) {
		p->iovs[idx].iov_base = p->data + (size_t)idx * p->data_stride;
		p->iovs[idx].iov_len = p->data_bytes;
		s->iov = &p->iovs[idx];
		s->iovcnt = 1;
	}
	return s;
}

void *vs_srb_buffer(struct vs_srb *srb, size_t *len)
{
	struct vs_srb_pool *p;
	size_t idx;

	if (!port_arg(srb, "srb_buffer: srb")) {
		if (len)
			*len = 0;
		return NULL;
	}
	p = srb->priv.pool;
	if (!p || !p->data) {
		if (len)
			*len = 0;
		return NULL;
	}
	idx = (size_t)(srb - p->srbs);
	if (len)
		*len = p->data_bytes;
	return p->data + idx * p->data_stride;
}

/* Nobody reads the data-in any more: the miniport may take back memory
 * it lent (srb.h, data_ref). */
void vs_srb_release_data_ref(struct vs_srb *srb)
{
	void (*release)(struct vs_srb *srb) = srb->data_ref_release;

	if (!release)
		return;
	release(srb);
	srb->data_ref_release = NULL;
	srb->data_ref = NULL;
	srb->data_ref_crc32c = NULL;
}

/* The pool was destroyed while srb was out: count it back in; the last
 * one frees the pool (already off the port's list). */
static void return_to_dying_pool(struct vs_srb_pool *p)
{
	bool free_pool;

	pthread_spin_lock(&p->get_lock);
	p->out--;
	free_pool = p->out == 0 && !p->claimed;
	p->claimed |= free_pool;
	pthread_spin_unlock(&p->get_lock);
	if (free_pool)
		pool_free_mem(p);
}

void vs_srb_unref(struct vs_srb *srb)
{
	struct vs_srb_pool *p = srb->priv.pool;
	struct vs_srb *head;

	if (__atomic_sub_fetch(&srb->priv.refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	vs_srb_release_data_ref(srb);
	if (!p)
		return;                 /* not from a pool: the submitter owns it */
	if (srb->priv.buf_release) {
		/* the LUN's buffer back to its provider (buffer.c) */
		srb->priv.buf_release(srb->priv.buf_cookie, srb->priv.buf);
		srb->priv.buf_release = NULL;
		srb->priv.buf = NULL;
	}
	srb->priv.state = SRB_FREE;
	head = atomic_load_explicit(&p->returned, memory_order_relaxed);
	do {
		if (head == POOL_CLOSED) {
			return_to_dying_pool(p);
			return;
		}
		srb->priv.next = head;
		/* release: the SRB's last writes (and its link) before anyone
		 * can take it */
	} while (!atomic_compare_exchange_weak_explicit(&p->returned, &head, srb,
	                                                memory_order_release,
	                                                memory_order_relaxed));
}

void vs_srb_put(struct vs_srb *srb)
{
	if (!srb)
		return;
	vs_srb_unref(srb);
}
