/* SPDX-License-Identifier: MIT */
/*
 * SRB pools.  Everything an SRB needs (the SRB, the miniport's SRB
 * extension, an optional data buffer and its iovec) is allocated once when
 * the pool is created, so vs_srb_get() never allocates.
 *
 * An SRB goes back to the free list only when both references are gone:
 * the fabric's (vs_srb_put) and the miniport's (vs_port_complete).  So a
 * late completion after an abort or reset can never touch a reused SRB.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "port_int.h"

struct vs_srb_pool {
	struct vs_port *port;
	pthread_mutex_t mu;
	struct vs_srb *srbs;
	struct iovec *iovs;
	uint8_t *ext_area;
	uint8_t *data;
	size_t data_map_len;            /* > 0: data is an mmap reservation */
	size_t ext_stride, data_stride, data_bytes;
	uint32_t count;
	struct vs_srb **free_stack;
	uint32_t nfree;
	bool dying;                     /* destroyed while SRBs were out */
	bool claimed;                   /* someone is freeing it */
	struct vs_srb_pool *next;       /* port->pools */
};

/* Data areas at least this large are reserved with mmap (page aligned). */
#define POOL_MAP_THRESHOLD (4u * 1024u * 1024u)

static size_t round_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

static void pool_free_mem(struct vs_srb_pool *p)
{
	pthread_mutex_destroy(&p->mu);
	free(p->srbs);
	free(p->iovs);
	free(p->ext_area);
	if (p->data_map_len)
		munmap(p->data, p->data_map_len);
	else
		free(p->data);
	free(p->free_stack);
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
	p = calloc(1, sizeof(*p));
	if (!p)
		goto nomem;
	p->port = port;
	p->count = count;
	pthread_mutex_init(&p->mu, NULL);
	p->srbs = calloc(count, sizeof(*p->srbs));
	p->iovs = calloc(count, sizeof(*p->iovs));
	p->free_stack = calloc(count, sizeof(*p->free_stack));
	if (!p->srbs || !p->iovs || !p->free_stack)
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
	for (uint32_t i = 0; i < count; i++) {
		struct vs_srb *s = &p->srbs[i];
		s->ext = p->ext_area ? p->ext_area + i * p->ext_stride : NULL;
		s->priv.pool = p;
		s->priv.state = SRB_FREE;
		p->free_stack[count - 1 - i] = s;
	}
	p->nfree = count;
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

/* Mark p dying; true if every SRB is back and the caller must free it. */
static bool pool_retire(struct vs_srb_pool *p)
{
	bool mine;

	pthread_mutex_lock(&p->mu);
	p->dying = true;
	mine = p->nfree == p->count && !p->claimed;
	p->claimed |= mine;
	pthread_mutex_unlock(&p->mu);
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
	pthread_mutex_lock(&p->mu);
	if (p->nfree == 0 || p->dying) {
		pthread_mutex_unlock(&p->mu);
		return NULL;
	}
	s = p->free_stack[--p->nfree];
	pthread_mutex_unlock(&p->mu);

	/* reset everything but the extension pointer and the pool link */
	void *ext = s->ext;
	memset(s, 0, offsetof(struct vs_srb, ext));
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

void vs_srb_ref(struct vs_srb *srb)
{
	__atomic_fetch_add(&srb->priv.refs, 1, __ATOMIC_RELAXED);
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
}

void vs_srb_unref(struct vs_srb *srb)
{
	struct vs_srb_pool *p = srb->priv.pool;
	bool free_pool = false;

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
	pthread_mutex_lock(&p->mu);
	p->free_stack[p->nfree++] = srb;
	free_pool = p->dying && p->nfree == p->count && !p->claimed;
	p->claimed |= free_pool;
	pthread_mutex_unlock(&p->mu);
	if (free_pool)
		pool_free_mem(p);       /* already off the port's list */
}

void vs_srb_put(struct vs_srb *srb)
{
	if (!srb)
		return;
	vs_srb_unref(srb);
}
