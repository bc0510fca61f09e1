/* SPDX-License-Identifier: MIT */
/*
 * vs_iscsi_loop_passes, what vstord's systemd watchdog reads: every loop's
 * pass count moves while it is alive, also when idle (its 100 ms tick),
 * and stops moving while the loop is stuck in a callback, for that loop
 * only.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "fabrics/iscsi/iscsi_target.h"
#include "iscsi_harness.h"

static void test_idle_loops_pass(void **state)
{
	struct fx *f = *state;
	uint64_t a[4], b[4];
	size_t n = vs_iscsi_loop_passes(f->is, a, 4);

	assert_int_equal(n, 2);
	usleep(350 * 1000);     /* three ticks and more */
	assert_int_equal(vs_iscsi_loop_passes(f->is, b, 4), 2);
	for (size_t i = 0; i < n; i++)
		assert_true(b[i] >= a[i] + 2);
}

/* A message that holds its loop until released. */
struct blocker {
	struct iscsi_msg m;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool entered, release;
};

static void block_fn(struct iscsi_msg *m)
{
	struct blocker *b = (struct blocker *)m;

	pthread_mutex_lock(&b->lock);
	b->entered = true;
	pthread_cond_broadcast(&b->cv);
	while (!b->release)
		pthread_cond_wait(&b->cv, &b->lock);
	pthread_mutex_unlock(&b->lock);
}

static void test_stuck_loop_stops_counting(void **state)
{
	struct fx *f = *state;
	struct blocker b = { .m.fn = block_fn, .lock = PTHREAD_MUTEX_INITIALIZER,
	                     .cv = PTHREAD_COND_INITIALIZER };
	uint64_t a[2], c[2];

	iscsi_loop_post(&f->is->loops[1], &b.m);
	pthread_mutex_lock(&b.lock);
	while (!b.entered)
		pthread_cond_wait(&b.cv, &b.lock);
	pthread_mutex_unlock(&b.lock);

	size_t na = vs_iscsi_loop_passes(f->is, a, 2);
	usleep(350 * 1000);
	size_t nc = vs_iscsi_loop_passes(f->is, c, 2);

	/* free it before any assertion: teardown waits for every loop */
	pthread_mutex_lock(&b.lock);
	b.release = true;
	pthread_cond_broadcast(&b.cv);
	pthread_mutex_unlock(&b.lock);
	assert_int_equal(na, 2);
	assert_int_equal(nc, 2);
	assert_true(c[0] >= a[0] + 2);          /* the other loop lives on */
	assert_int_equal(c[1], a[1]);           /* the stuck one does not move */

	usleep(250 * 1000);
	assert_int_equal(vs_iscsi_loop_passes(f->is, a, 2), 2);
	assert_true(a[1] > c[1]);               /* and moves again once free */
}

static int setup2(void **state)
{
	next_cfg = (struct vs_iscsi_config){ .threads = 2 };
	return fx_setup(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_idle_loops_pass, setup2, fx_teardown),
		cmocka_unit_test_setup_teardown(test_stuck_loop_stops_counting, setup2, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
