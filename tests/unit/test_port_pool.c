/* SPDX-License-Identifier: MIT */
/*
 * SRB pools (port.h vs_srb_pool_*, pool.c) under threads.  An SRB's last
 * reference may go from any thread (vs_srb_put is thread safe) while the
 * pool's owner keeps taking SRBs, any thread may call vs_srb_get, and a
 * pool destroyed with SRBs out lives until the last of them is back.
 * Each test checks that no SRB is ever handed out twice at once, that none
 * is lost, and (ASan's leak check, TSan) that a dying pool is freed exactly
 * once, by whoever gives back the last SRB.  Loops are bounded in count.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "test_fabric.h"
#include "test_port_mock.h"

#define POOL_SRBS   64
#define RETURNERS   3
#define ROUNDS      50000       /* SRBs each getter takes */
#define RING        128         /* > POOL_SRBS: a getter's hand-off never fills */

/* A single-producer single-consumer ring: the getter hands an SRB to one
 * returner, which puts it.  Empty slots are NULL. */
struct ring {
	_Atomic(struct vs_srb *) slot[RING];
	unsigned head, tail;    /* tail: producer's, head: consumer's */
};

struct ctx {
	struct vs_srb_pool *pool;
	/* cmocka's asserts belong on the main thread: the others note the
	 * first thing that went wrong here, and the main thread fails on it */
	_Atomic(const char *) failed;
	struct ring rings[RETURNERS];
	_Atomic bool stop;
	_Atomic unsigned busy[POOL_SRBS]; /* 1 while handed out */
	struct vs_srb *base;             /* the pool's lowest SRB */
	_Atomic uint64_t got, put;
};

/* On any thread: false (and noted) if !ok. */
static bool check(struct ctx *c, bool ok, const char *what)
{
	const char *none = NULL;

	if (!ok)
		atomic_compare_exchange_strong(&c->failed, &none, what);
	return ok;
}

static void ring_push(struct ctx *c, struct ring *r, struct vs_srb *s)
{
	/* the ring is deeper than the pool: a slot is always free */
	check(c, !atomic_load(&r->slot[r->tail % RING]), "hand-off ring full");
	atomic_store_explicit(&r->slot[r->tail % RING], s, memory_order_release);
	r->tail++;
}

static struct vs_srb *ring_pop(struct ring *r)
{
	struct vs_srb *s = atomic_exchange_explicit(&r->slot[r->head % RING], NULL,
	                                            memory_order_acquire);
	if (s)
		r->head++;
	return s;
}

/* Which SRB this is: the pool's SRBs are one array (pool.c), so the one
 * with the lowest address seen first anchors the index.  Found once, in
 * setup, by taking every SRB. */
static unsigned srb_index(struct ctx *c, struct vs_srb *s)
{
	ptrdiff_t i = s - c->base;

	return check(c, i >= 0 && i < POOL_SRBS, "an SRB not of the pool") ? (unsigned)i : 0;
}

/* Taken: nobody else may hold it now. */
static void mark_got(struct ctx *c, struct vs_srb *s)
{
	check(c, atomic_exchange(&c->busy[srb_index(c, s)], 1) == 0,
	      "an SRB handed out twice at once");
	/* vs_srb_get's promise: the fields reset */
	check(c, s->cdb_len == 0 && !s->done_ctx, "an SRB not reset by vs_srb_get");
	s->cdb_len = 6;         /* dirty it: the next get must reset it */
	s->done_ctx = s;
	atomic_fetch_add(&c->got, 1);
}

static void give_back(struct ctx *c, struct vs_srb *s)
{
	check(c, atomic_exchange(&c->busy[srb_index(c, s)], 0) == 1,
	      "an SRB given back that was not out");
	atomic_fetch_add(&c->put, 1);
	vs_srb_put(s);
}

static void *returner_main(void *arg)
{
	struct ctx *c = ((void **)arg)[0];
	struct ring *r = ((void **)arg)[1];

	while (!atomic_load(&c->stop) || atomic_load(&r->slot[r->head % RING])) {
		struct vs_srb *s = ring_pop(r);

		if (s)
			give_back(c, s);
		else
			sched_yield();
	}
	return NULL;
}

/*
 * Take ROUNDS SRBs in batches of up to BATCH, spreading each batch over
 * the returners, so they give back runs of SRBs at the same time (returns
 * that collide are what a lost update needs); an empty pool (everything
 * in flight) is waited out.  Every fifth SRB the getter puts itself.
 */
#define BATCH 48
static void *getter_main(void *arg)
{
	struct ctx *c = ((void **)arg)[0];
	unsigned first = (unsigned)(uintptr_t)((void **)arg)[1];
	unsigned step = (unsigned)(uintptr_t)((void **)arg)[2];
	unsigned k = first;
	int n = 0;

	while (n < ROUNDS && !atomic_load(&c->failed)) {
		struct vs_srb *batch[BATCH];
		int got = 0, spins = 0;

		while (got < BATCH && n + got < ROUNDS) {
			struct vs_srb *s = vs_srb_get(c->pool);

			if (s) {
				mark_got(c, s);
				batch[got++] = s;
			} else if (got) {
				break;
			} else if (check(c, ++spins < 1000 * 1000, "SRBs lost: the pool stays empty")) {
				sched_yield();  /* empty while all are in flight */
			} else {
				return NULL;
			}
		}
		for (int i = 0; i < got; i++, n++) {
			if (n % 5 == 4) {
				give_back(c, batch[i]);         /* the owner's own put */
				continue;
			}
			ring_push(c, &c->rings[k], batch[i]);
			k += step;
			if (k >= RETURNERS)
				k = first;
		}
	}
	return NULL;
}

static struct tf *setup_pool(struct ctx *c, struct mock **m)
{
	struct tf *tf;
	struct vs_srb *all[POOL_SRBS];

	memset(c, 0, sizeof(*c));
	*m = mock_new(MOCK_INLINE);
	tf = tf_create(&mock_miniport, NULL, *m);
	assert_non_null(tf);
	c->pool = vs_srb_pool_create(tf_port(tf), POOL_SRBS, 0);
	assert_non_null(c->pool);
	c->base = NULL;
	for (int i = 0; i < POOL_SRBS; i++) {
		all[i] = vs_srb_get(c->pool);
		assert_non_null(all[i]);
		if (!c->base || all[i] < c->base)
			c->base = all[i];
	}
	assert_null(vs_srb_get(c->pool));
	for (int i = 0; i < POOL_SRBS; i++)
		vs_srb_put(all[i]);
	return tf;
}

/* Every SRB is back: exactly POOL_SRBS can be taken, all different. */
static void assert_all_back(struct ctx *c)
{
	struct vs_srb *all[POOL_SRBS];

	for (int i = 0; i < POOL_SRBS; i++) {
		all[i] = vs_srb_get(c->pool);
		assert_non_null(all[i]);
		mark_got(c, all[i]);
	}
	assert_null(vs_srb_get(c->pool));
	for (int i = 0; i < POOL_SRBS; i++)
		give_back(c, all[i]);
	if (atomic_load(&c->failed))
		fail_msg("%s", atomic_load(&c->failed));
}

static void run(struct ctx *c, unsigned getters)
{
	pthread_t rt[RETURNERS], gt[2];
	void *rarg[RETURNERS][2], *garg[2][3];

	for (int i = 0; i < RETURNERS; i++) {
		rarg[i][0] = c;
		rarg[i][1] = &c->rings[i];
		assert_int_equal(pthread_create(&rt[i], NULL, returner_main, rarg[i]), 0);
	}
	/* one getter feeds every returner; two split them (a ring has one
	 * producer) */
	for (unsigned g = 0; g < getters; g++) {
		garg[g][0] = c;
		garg[g][1] = (void *)(uintptr_t)(getters == 1 ? 0 : g);
		garg[g][2] = (void *)(uintptr_t)(getters == 1 ? 1 : 2);
		assert_int_equal(pthread_create(&gt[g], NULL, getter_main, garg[g]), 0);
	}
	for (unsigned g = 0; g < getters; g++)
		pthread_join(gt[g], NULL);
	atomic_store(&c->stop, true);
	for (int i = 0; i < RETURNERS; i++)
		pthread_join(rt[i], NULL);
	if (atomic_load(&c->failed))
		fail_msg("%s", atomic_load(&c->failed));
	assert_int_equal(atomic_load(&c->got), (uint64_t)getters * ROUNDS);
	assert_int_equal(atomic_load(&c->put), (uint64_t)getters * ROUNDS);
}

/* `getters` threads take SRBs while RETURNERS others give them back;
 * then every SRB is back, once. */
static void churn(unsigned getters)
{
	struct ctx c;
	struct mock *m;
	struct tf *tf = setup_pool(&c, &m);

	run(&c, getters);
	assert_all_back(&c);
	vs_srb_pool_destroy(c.pool);
	tf_destroy(tf);
	mock_free(m);
}

/* The owner keeps taking SRBs while three other threads give them back. */
static void test_returns_from_many_threads(void **state)
{
	(void)state;
	churn(1);
}

/* Two threads call vs_srb_get on one pool at once (the API allows it). */
static void test_two_getters(void **state)
{
	(void)state;
	churn(2);
}

struct late {
	struct vs_srb **srbs;
	unsigned n;
	_Atomic bool *go;
};

static void *late_put_main(void *arg)
{
	struct late *l = arg;

	while (!atomic_load(l->go))
		sched_yield();
	for (unsigned i = 0; i < l->n; i++)
		vs_srb_put(l->srbs[i]);
	return NULL;
}

/*
 * Destroyed with SRBs out, while other threads give SRBs back: the
 * returns before the destroy count as back, the ones after free the pool
 * with the last of them.  Run many rounds so the destroy lands at every
 * point of the returns; ASan reports a pool never freed (a leak) or freed
 * while SRBs are out (use after free), TSan a return racing the count.
 */
static void test_destroy_while_returning(void **state)
{
	struct mock *m = mock_new(MOCK_INLINE);
	struct tf *tf = tf_create(&mock_miniport, NULL, m);
	(void)state;

	assert_non_null(tf);
	for (int round = 0; round < 200; round++) {
		struct vs_srb_pool *pool = vs_srb_pool_create(tf_port(tf), POOL_SRBS, 512);
		struct vs_srb *srbs[POOL_SRBS];
		struct late l[RETURNERS];
		pthread_t th[RETURNERS];
		_Atomic bool go = false;
		unsigned per = POOL_SRBS / RETURNERS;
		/* odd rounds keep the SRBs the threads do not get (POOL_SRBS
		 * is not a multiple of RETURNERS) until after the destroy, so
		 * the pool dies with them out and this thread frees it; even
		 * rounds give them back first, so the threads' last return
		 * races the destroy for who frees it */
		bool keep = round % 2;

		assert_non_null(pool);
		for (int i = 0; i < POOL_SRBS; i++) {
			srbs[i] = vs_srb_get(pool);
			assert_non_null(srbs[i]);
		}
		if (!keep)
			for (int i = RETURNERS * per; i < POOL_SRBS; i++)
				vs_srb_put(srbs[i]);
		for (int t = 0; t < RETURNERS; t++) {
			l[t].srbs = &srbs[t * per];
			l[t].n = per;
			l[t].go = &go;
			assert_int_equal(pthread_create(&th[t], NULL, late_put_main, &l[t]), 0);
		}
		atomic_store(&go, true);
		for (int spin = 0; spin < round % 7; spin++)
			sched_yield();
		vs_srb_pool_destroy(pool);
		/* destroyed: nothing more comes out of it (asked only while
		 * an SRB is out, so that it is still there to ask) */
		if (keep)
			assert_null(vs_srb_get(pool));
		for (int t = 0; t < RETURNERS; t++)
			pthread_join(th[t], NULL);
		if (keep)
			for (int i = RETURNERS * per; i < POOL_SRBS; i++)
				vs_srb_put(srbs[i]);
	}
	tf_destroy(tf);
	mock_free(m);
}

/* The port goes first (vs_pool_destroy_all) with an SRB out; the pool
 * lives on until that SRB comes back, and the return frees it. */
static void test_srb_back_after_port_gone(void **state)
{
	struct mock *m = mock_new(MOCK_INLINE);
	struct tf *tf = tf_create(&mock_miniport, NULL, m);
	(void)state;

	assert_non_null(tf);
	struct vs_srb_pool *pool = vs_srb_pool_create(tf_port(tf), 4, 0);
	struct vs_srb *a = vs_srb_get(pool), *b = vs_srb_get(pool);

	assert_non_null(a);
	assert_non_null(b);
	vs_srb_put(a);                  /* back before anything dies */
	tf_destroy(tf);                 /* retires the pool: b is out */
	assert_null(vs_srb_get(pool));
	vs_srb_put(b);                  /* the last one frees it */
	mock_free(m);
}

/* A freed SRB is the next one handed out, its buffer still in cache: the
 * pool does not cycle through SRBs never used while freed ones wait (1 MiB
 * writes into cold buffers ran 15 % slower). */
static void test_freed_first(void **state)
{
	struct mock *m = mock_new(MOCK_INLINE);
	struct tf *tf = tf_create(&mock_miniport, NULL, m);
	(void)state;

	assert_non_null(tf);
	struct vs_srb_pool *pool = vs_srb_pool_create(tf_port(tf), 16, 4096);
	struct vs_srb *a = vs_srb_get(pool), *b = vs_srb_get(pool);

	assert_non_null(a);
	assert_non_null(b);
	for (int i = 0; i < 100; i++) {
		vs_srb_put(b);
		vs_srb_put(a);
		/* most recently freed first */
		assert_ptr_equal(vs_srb_get(pool), a);
		assert_ptr_equal(vs_srb_get(pool), b);
	}
	vs_srb_put(a);
	vs_srb_put(b);
	vs_srb_pool_destroy(pool);
	tf_destroy(tf);
	mock_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_returns_from_many_threads),
		cmocka_unit_test(test_two_getters),
		cmocka_unit_test(test_destroy_while_returning),
		cmocka_unit_test(test_srb_back_after_port_gone),
		cmocka_unit_test(test_freed_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
