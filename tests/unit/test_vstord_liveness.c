/* SPDX-License-Identifier: MIT */
/*
 * vstord's liveness probe of the shared event loops (tools/vstord/
 * liveness.c), what its systemd watchdog reads: every loop of a real group
 * answers its probe and its count moves, also when idle; a loop stuck in
 * a callback does not, for that loop only, and moves again once free.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "liveness.h"
#include "vstor/loop.h"

struct fx {
	struct vs_loop_group *g;
	struct vsd_liveness *l;
};

static int setup(void **state)
{
	static struct fx f;

	f.g = vs_loop_group_create(2, "live");
	if (!f.g || vs_loop_group_start(f.g) < 0)
		return -1;
	f.l = vsd_liveness_create(f.g);
	*state = &f;
	return f.l ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	vs_loop_group_destroy(f->g);    /* before the probes it may hold */
	vsd_liveness_free(f->l);
	return 0;
}

static void test_idle_loops_answer(void **state)
{
	struct fx *f = *state;
	uint64_t a[4], b[4];

	assert_int_equal(vsd_liveness_passes(f->l, a, 4), 2);
	for (int round = 0; round < 3; round++) {
		usleep(100 * 1000);
		assert_int_equal(vsd_liveness_passes(f->l, b, 4), 2);
		for (int i = 0; i < 2; i++)
			assert_true(b[i] == a[i] + 1);  /* one probe each look */
		a[0] = b[0];
		a[1] = b[1];
	}
}

/* A message that holds its loop until released. */
struct blocker {
	struct vs_loop_msg m;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool entered, release;
};

static void block_fn(struct vs_loop_msg *m)
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

	vs_loop_post(vs_loop_group_loop(f->g, 1), &b.m);
	pthread_mutex_lock(&b.lock);
	while (!b.entered)
		pthread_cond_wait(&b.cv, &b.lock);
	pthread_mutex_unlock(&b.lock);

	vsd_liveness_passes(f->l, a, 2);
	for (int round = 0; round < 3; round++) {
		usleep(100 * 1000);
		vsd_liveness_passes(f->l, c, 2);
	}
	/* free it before any assertion: teardown waits for every loop */
	pthread_mutex_lock(&b.lock);
	b.release = true;
	pthread_cond_broadcast(&b.cv);
	pthread_mutex_unlock(&b.lock);
	assert_true(c[0] >= a[0] + 2);          /* the other loop lives on */
	assert_int_equal(c[1], a[1]);           /* the stuck one does not move */

	usleep(100 * 1000);
	vsd_liveness_passes(f->l, a, 2);
	assert_true(a[1] > c[1]);               /* and answers again once free */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_idle_loops_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stuck_loop_stops_counting, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
