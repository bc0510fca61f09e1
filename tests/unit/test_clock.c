/* SPDX-License-Identifier: MIT */
/*
 * vs_now_fast_ns (util/vs_clock.h): CLOCK_MONOTONIC, mostly from the TSC.
 * Every value must lie within a few microseconds of clock_gettime's taken
 * just before and just after it, on any thread and across the 256 us
 * anchor windows, and must never go back on a thread.  On a machine whose
 * clocksource is not the TSC the same holds (it is clock_gettime there).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/vs_clock.h"

#define THREADS   3
#define SAMPLES   100000
/* the anchor's own error (its clock read between two TSC reads at most
 * 2 us apart) plus the factor's over one window (0.13 us at 500 ppm) */
#define BOUND_NS  3000

struct sampler {
	uint64_t worst_early, worst_late;       /* ns outside [before, after] */
	int backwards;                          /* values below the last one */
	int out_of_bound;
};

static void *sample_main(void *arg)
{
	struct sampler *s = arg;
	uint64_t last = 0;

	for (int i = 0; i < SAMPLES; i++) {
		uint64_t before = vs_now_ns();
		uint64_t f = vs_now_fast_ns();
		uint64_t after = vs_now_ns();

		if (f < last)
			s->backwards++;
		last = f;
		if (f < before && before - f > s->worst_early)
			s->worst_early = before - f;
		if (f > after && f - after > s->worst_late)
			s->worst_late = f - after;
		if (f + BOUND_NS < before || f > after + BOUND_NS)
			s->out_of_bound++;
		/* now and then a pause longer than an anchor's window, so
		 * values come from many anchors, old and fresh */
		if (i % 2000 == 1999)
			usleep(300);
	}
	return NULL;
}

static void check_threads(void)
{
	pthread_t th[THREADS];
	struct sampler s[THREADS] = { 0 };

	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, sample_main, &s[i]), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < THREADS; i++) {
		if (s[i].out_of_bound)
			print_error("thread %d: %d values off by more than %d ns "
			            "(worst %llu ns early, %llu ns late)\n", i, s[i].out_of_bound,
			            BOUND_NS, (unsigned long long)s[i].worst_early,
			            (unsigned long long)s[i].worst_late);
		assert_int_equal(s[i].out_of_bound, 0);
		assert_int_equal(s[i].backwards, 0);
	}
}

/* With the TSC (where the kernel keeps CLOCK_MONOTONIC on it). */
/* A fast value with CLOCK_MONOTONIC read just before and after it, the
 * two no more than 1 us apart (read again, up to 1000 times, when the
 * thread was preempted in between). */
static void bracket(uint64_t *before, uint64_t *fast, uint64_t *after)
{
	for (int i = 0; i < 1000; i++) {
		*before = vs_now_ns();
		*fast = vs_now_fast_ns();
		*after = vs_now_ns();
		if (*after - *before <= 1000)
			return;
	}
}

static void test_agrees_with_monotonic(void **state)
{
	(void)state;
	bool tsc = vs_clock_use_tsc(true);
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
	char cs[32] = "";

	if (f) {
		if (!fgets(cs, sizeof(cs), f))
			cs[0] = '\0';
		fclose(f);
	}
	/* x86 with the kernel on the TSC: it must be in use */
#if defined(__x86_64__) || defined(__i386__)
	assert_int_equal(tsc, strcmp(cs, "tsc\n") == 0);
#endif
	check_threads();
	/* and over a long gap: 50 ms later it still counts 50 ms, between
	 * the clock reads around each end (a thread preempted between two of
	 * them would widen the bracket, not show an error of the clock) */
	uint64_t a0, f0, b0, a1, f1, b1;
	bracket(&a0, &f0, &b0);
	usleep(50 * 1000);
	bracket(&a1, &f1, &b1);
	assert_true(f1 - f0 <= b1 - a0 + 2 * BOUND_NS);
	assert_true(f1 - f0 + 2 * BOUND_NS >= a1 - b0);
}

/* Switched off: clock_gettime itself, so the same bounds hold trivially;
 * switched back on, the TSC again, still monotonic per thread. */
static void test_off_and_on_again(void **state)
{
	(void)state;
	assert_false(vs_clock_use_tsc(false));
	check_threads();
	vs_clock_use_tsc(true);
	check_threads();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agrees_with_monotonic),
		cmocka_unit_test(test_off_and_on_again),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
