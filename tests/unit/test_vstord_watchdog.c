/* SPDX-License-Identifier: MIT */
/*
 * vstord's watchdog thread (tools/vstord/watchdog.c): it pings only while
 * every event loop's pass count moves, names a loop that stops, pings
 * again once it moves, and never runs faster than the tick allows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "watchdog.h"

/* Two fake loops: a helper thread advances those not frozen every 20 ms. */
static _Atomic uint64_t passes[2];
static atomic_bool frozen[2], quit;
static atomic_int alive_n, tick_n, stalled_n, stalled_loop = -1;

static void *advance(void *arg)
{
	(void)arg;
	while (!atomic_load(&quit)) {
		for (int i = 0; i < 2; i++)
			if (!atomic_load(&frozen[i]))
				atomic_fetch_add(&passes[i], 1);
		usleep(20 * 1000);
	}
	return NULL;
}

static size_t get_passes(void *ctx, uint64_t *out, size_t max)
{
	(void)ctx;
	for (size_t i = 0; i < 2 && i < max; i++)
		out[i] = atomic_load(&passes[i]);
	return 2;
}

static void on_alive(void *ctx) { (void)ctx; atomic_fetch_add(&alive_n, 1); }
static void on_tick(void *ctx) { (void)ctx; atomic_fetch_add(&tick_n, 1); }
static void on_stalled(void *ctx, unsigned loop, uint64_t ms)
{
	(void)ctx;
	assert_true(ms >= VSD_WATCHDOG_MIN_PERIOD_MS);
	atomic_store(&stalled_loop, (int)loop);
	atomic_fetch_add(&stalled_n, 1);
}

static const struct vsd_watchdog_ops ops = {
	.passes = get_passes, .alive = on_alive, .stalled = on_stalled, .tick = on_tick,
};

static pthread_t helper;

static int setup(void **state)
{
	(void)state;
	atomic_store(&quit, false);
	atomic_store(&frozen[0], false);
	atomic_store(&frozen[1], false);
	atomic_store(&alive_n, 0);
	atomic_store(&tick_n, 0);
	atomic_store(&stalled_n, 0);
	atomic_store(&stalled_loop, -1);
	return pthread_create(&helper, NULL, advance, NULL);
}

static int teardown(void **state)
{
	(void)state;
	atomic_store(&quit, true);
	return pthread_join(helper, NULL);
}

static void test_pings_while_every_loop_moves(void **state)
{
	(void)state;
	/* 100 ms asked: held to the 250 ms floor (an idle loop ticks every
	 * 100 ms, a shorter period would see a healthy loop as stuck). */
	struct vsd_watchdog *w = vsd_watchdog_start(100, &ops);

	assert_non_null(w);
	usleep(1100 * 1000);
	vsd_watchdog_stop(w);
	assert_in_range(atomic_load(&alive_n), 4, 5);
	assert_in_range(atomic_load(&tick_n), 4, 5);
	assert_int_equal(atomic_load(&stalled_n), 0);
}

static void test_a_stuck_loop_stops_the_pings(void **state)
{
	(void)state;
	struct vsd_watchdog *w = vsd_watchdog_start(250, &ops);

	assert_non_null(w);
	usleep(100 * 1000);     /* the first look: both fine */
	atomic_store(&frozen[1], true);
	usleep(1000 * 1000);
	int pinged = atomic_load(&alive_n);
	/* the first look, and at most the period in which it froze */
	assert_in_range(pinged, 1, 2);
	assert_int_equal(atomic_load(&stalled_loop), 1);
	assert_int_equal(atomic_load(&stalled_n), 1);   /* said once, not every period */
	assert_true(atomic_load(&tick_n) >= 4);         /* STATUS goes on */

	atomic_store(&frozen[1], false);
	usleep(800 * 1000);
	vsd_watchdog_stop(w);
	assert_true(atomic_load(&alive_n) >= pinged + 2);
}

static void test_stop_is_prompt(void **state)
{
	(void)state;
	struct vsd_watchdog *w = vsd_watchdog_start(60000, &ops);
	struct timespec a, b;

	assert_non_null(w);
	usleep(50 * 1000);
	clock_gettime(CLOCK_MONOTONIC, &a);
	vsd_watchdog_stop(w);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 500);
	vsd_watchdog_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pings_while_every_loop_moves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_stuck_loop_stops_the_pings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_is_prompt, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
