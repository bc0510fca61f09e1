/* SPDX-License-Identifier: MIT */
/*
 * Data-in by reference (srb.h data_ref): memory a miniport lends to a read
 * is given back exactly once, only when both the submitter and the
 * miniport have let go of the SRB -- after a normal completion, after a
 * timeout whose late completion lends (a zombie), and when the submitter
 * sends the SRB again.  The mock miniport plays the lender: the test sets
 * data_ref and the release callback on an SRB it holds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_fabric.h"
#include "test_port_mock.h"

static const uint8_t lent_bytes[512] = { 0x5a, 0xa5 };

static _Atomic int g_done, g_released;
static struct vs_srb *g_released_srb;

static void count_done(struct vs_srb *srb)
{
	(void)srb;
	g_done++;
}

static void count_release(struct vs_srb *srb)
{
	/* still attached when the port calls it */
	assert_ptr_equal(srb->data_ref, lent_bytes);
	g_released_srb = srb;
	g_released++;
}

/* A port over the mock (the lender), a pool of one SRB, a nexus, and that
 * SRB sent as a one-block READ(10) that accepts data by reference; the
 * mock holds it (MANUAL) until the test completes it. */
struct rt {
	struct mock *m;
	struct tf *tf;
	struct vs_srb_pool *pool;
	struct vs_srb *s;
};

static void start_read(struct rt *t, uint32_t timeout_ms)
{
	struct vs_port_config cfg = { .queue_depth = 8, .default_timeout_ms = timeout_ms,
	                              .abort_timeout_ms = 30 };
	struct vs_nexus *n;

	t->m = mock_new(MOCK_INLINE);
	t->tf = tf_create(&mock_miniport, &cfg, t->m);
	assert_non_null(t->tf);
	assert_int_equal(vs_port_lun_add(tf_port(t->tf), 0, NULL), 0);
	t->pool = vs_srb_pool_create(tf_port(t->tf), 1, 512);
	n = tf_nexus(t->tf, "iqn.test:ref,i,0x1");
	assert_int_equal(tf_clear_ua(t->tf, n, 0), 0);
	t->m->mode = MOCK_MANUAL;
	t->s = vs_srb_get(t->pool);
	assert_non_null(t->s);
	memset(t->s->cdb, 0, sizeof(t->s->cdb));
	t->s->cdb[0] = READ_10;
	t->s->cdb[8] = 1;
	t->s->cdb_len = 10;
	t->s->data_dir = VS_DIR_FROM_DEVICE;
	t->s->data_length = 512;
	t->s->done = count_done;
	t->s->accept_data_ref = true;
	t->s->nexus = n;
	g_done = g_released = 0;
	vs_port_submit(tf_port(t->tf), t->s);
}

static void finish(struct rt *t)
{
	vs_srb_pool_destroy(t->pool);
	mock_complete_all(t->m);
	assert_int_equal(tf_double_completions(t->tf), 0);
	tf_destroy(t->tf);
	mock_free(t->m);
}

/* The miniport (here: the test) holds the SRB; it lends on completion. */
static struct vs_srb *take_pending(struct mock *m)
{
	pthread_mutex_lock(&m->mu);
	assert_int_equal(m->npending, 1);
	struct vs_srb *s = mock_take_locked(m, 0);
	pthread_mutex_unlock(&m->mu);
	return s;
}

static void lend_and_complete(struct vs_srb *s)
{
	s->data_ref = lent_bytes;
	s->data_ref_release = count_release;
	s->xfer_len = 512;
	vs_srb_set_good(s);
	vs_port_complete(s);
}

static void test_released_after_the_submitter_lets_go(void **state)
{
	struct rt t;
	(void)state;

	start_read(&t, 10000);
	lend_and_complete(take_pending(t.m));
	assert_int_equal(g_done, 1);
	/* the submitter still sends from it: nothing given back yet */
	assert_int_equal(g_released, 0);
	assert_ptr_equal(t.s->data_ref, lent_bytes);
	vs_srb_put(t.s);
	assert_int_equal(g_released, 1);
	assert_ptr_equal(g_released_srb, t.s);
	/* back in the pool without a loan */
	struct vs_srb *again = vs_srb_get(t.pool);
	assert_ptr_equal(again, t.s);
	assert_null(again->data_ref);
	assert_null(again->data_ref_release);
	vs_srb_put(again);
	assert_int_equal(g_released, 1);
	finish(&t);
}

/* Timed out: the port completes it to the submitter, which puts it while the
 * miniport still holds it; the miniport's late completion lends, and that
 * last let-go gives the loan back, once. */
static void test_released_once_for_a_zombie(void **state)
{
	struct rt t;
	(void)state;

	start_read(&t, 50);
	for (int i = 0; i < 3000 && g_done == 0; i++)
		usleep(1000);
	assert_int_equal(g_done, 1);
	assert_int_equal(t.s->srb_status, VS_SRB_TIMEOUT);
	vs_srb_put(t.s);
	usleep(150 * 1000);                     /* the escalation runs its course */
	assert_int_equal(g_released, 0);
	lend_and_complete(take_pending(t.m));
	assert_int_equal(g_done, 1);
	assert_int_equal(g_released, 1);
	finish(&t);
}

/* Sent again (a class driver's retry) while the last attempt's loan is
 * still attached: that loan ends before the new attempt starts. */
static void test_released_when_sent_again(void **state)
{
	struct rt t;
	(void)state;

	start_read(&t, 10000);
	lend_and_complete(take_pending(t.m));
	assert_int_equal(g_released, 0);
	vs_port_submit(tf_port(t.tf), t.s);
	assert_int_equal(g_released, 1);
	assert_null(t.s->data_ref);
	struct vs_srb *held = take_pending(t.m);
	mock_finish(held);                      /* copies this time */
	vs_port_complete(held);
	assert_int_equal(g_done, 2);
	vs_srb_put(t.s);
	assert_int_equal(g_released, 1);
	finish(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_released_after_the_submitter_lets_go),
		cmocka_unit_test(test_released_once_for_a_zombie),
		cmocka_unit_test(test_released_when_sent_again),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
