/* SPDX-License-Identifier: MIT */
/*
 * The port's latency statistics read one clock per SRB on an event loop:
 * the start is the loop's clock of the pass that received the command
 * (loop.h vs_loop_now_ns), the end CLOCK_MONOTONIC, so a command that
 * completes in the pass it arrived in still takes some time (the sum is
 * never 0; /metrics showed a RAM LUN's latency sum as 0 when the end was the
 * pass's clock too).  Off a loop they read CLOCK_MONOTONIC at submit and at
 * completion.  Either way every command lands in the histogram, and one
 * that completes in a later pass than it arrived in counts the time
 * between the passes.
 * clock_gettime is wrapped at link time (CMakeLists.txt) to count the reads.
 * The clock the port reads per SRB is vs_now_fast_ns (util/vs_clock.h):
 * with the TSC switched off it is one clock_gettime each, which the first
 * tests count exactly; with the TSC on (where the kernel's clocksource is
 * the TSC) it reads clock_gettime only every 256 us, and the latencies
 * still add up.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <time.h>

#include "loop_sync.h"
#include "util/vs_clock.h"
#include "test_fabric.h"
#include "test_port_mock.h"

#define N 100

int __real_clock_gettime(clockid_t id, struct timespec *ts);

static _Atomic uint64_t monotonic_reads;
static _Atomic pthread_t counted_thread;

/* Counts CLOCK_MONOTONIC reads made on the thread under test only (the
 * port's timer thread and the loop itself read it too). */
int __wrap_clock_gettime(clockid_t id, struct timespec *ts)
{
	if (id == CLOCK_MONOTONIC && pthread_equal(pthread_self(), atomic_load(&counted_thread)))
		monotonic_reads++;
	return __real_clock_gettime(id, ts);
}

struct ctx {
	struct mock *m;
	struct tf *tf;
	struct vs_srb_pool *pool;
	struct vs_nexus *n;
	uint64_t reads;         /* clock reads while submitting */
};

static void setup(struct ctx *c, enum mock_mode mode)
{
	struct vs_port_config cfg = { .queue_depth = N };

	memset(c, 0, sizeof(*c));
	c->m = mock_new(MOCK_INLINE);
	c->tf = tf_create(&mock_miniport, &cfg, c->m);
	assert_non_null(c->tf);
	assert_int_equal(vs_port_lun_add(tf_port(c->tf), 0, NULL), 0);
	c->n = tf_nexus(c->tf, "iqn.test:clock,i,0x1");
	assert_int_equal(tf_clear_ua(c->tf, c->n, 0), 0);
	c->pool = vs_srb_pool_create(tf_port(c->tf), N, 0);
	assert_non_null(c->pool);
	c->m->mode = mode;
}

static void teardown(struct ctx *c)
{
	vs_srb_pool_destroy(c->pool);
	mock_complete_all(c->m);
	tf_destroy(c->tf);
	mock_free(c->m);
}

static void done_put(struct vs_srb *srb)
{
	vs_srb_put(srb);
}

/* N TEST UNIT READYs; the inline mock completes each in submit. */
static void submit_n(void *arg)
{
	struct ctx *c = arg;

	atomic_store(&counted_thread, pthread_self());
	uint64_t before = monotonic_reads;
	for (int i = 0; i < N; i++) {
		struct vs_srb *s = vs_srb_get(c->pool);

		assert_non_null(s);
		s->cdb[0] = TEST_UNIT_READY;
		s->cdb_len = 6;
		s->nexus = c->n;
		s->done = done_put;
		vs_port_submit(tf_port(c->tf), s);
	}
	c->reads = monotonic_reads - before;
}

static uint64_t hist_total(struct ctx *c, struct vs_lun_stats *st)
{
	uint64_t n = 0;

	assert_int_equal(vs_port_lun_stats(tf_port(c->tf), 0, st), 0);
	for (unsigned i = 0; i < VS_LAT_BUCKETS; i++)
		n += st->latency_us_hist[i];
	return n;
}

static void test_one_clock_read_per_srb_on_a_loop(void **state)
{
	struct ctx c;
	struct vs_lun_stats st;
	struct vs_loop_group *g = ls_group(1);
	(void)state;

	vs_clock_use_tsc(false);
	setup(&c, MOCK_INLINE);
	uint64_t before = hist_total(&c, &st);
	uint64_t sum_before = st.latency_ns_sum;
	ls_run_on(vs_loop_group_loop(g, 0), submit_n, &c);
	assert_int_equal(c.reads, N);
	assert_int_equal(hist_total(&c, &st) - before, N);
	/* completed in the pass they arrived in, yet they took time */
	assert_true(st.latency_ns_sum > sum_before);
	/* the same off a loop: two reads per SRB, which proves the count */
	submit_n(&c);
	assert_int_equal(c.reads, 2 * N);
	assert_int_equal(hist_total(&c, &st) - before, 2 * N);
	teardown(&c);
	vs_loop_group_destroy(g);
}

static void complete_all(void *arg)
{
	struct ctx *c = arg;

	assert_int_equal(mock_complete_all(c->m), N);
}

/* Submitted in one pass, completed in a pass 20 ms later: every command
 * counts about those 20 ms (bucket i holds latencies < 2^i us). */
static void later_pass_counts_the_time_between(bool tsc)
{
	struct ctx c;
	struct vs_lun_stats st;
	struct vs_loop_group *g = ls_group(1);
	struct vs_loop *loop = vs_loop_group_loop(g, 0);

	vs_clock_use_tsc(tsc);
	setup(&c, MOCK_MANUAL);
	uint64_t before = hist_total(&c, &st);
	ls_run_on(loop, submit_n, &c);
	assert_int_equal(mock_npending(c.m), N);
	usleep(20 * 1000);
	ls_run_on(loop, complete_all, &c);
	assert_int_equal(hist_total(&c, &st) - before, N);
	uint64_t slow = 0;
	for (unsigned i = 15; i < VS_LAT_BUCKETS; i++)   /* >= 16.4 ms */
		slow += st.latency_us_hist[i];
	assert_int_equal(slow, N);
	teardown(&c);
	vs_loop_group_destroy(g);
}

static void test_later_pass_counts_the_time_between(void **state)
{
	(void)state;
	later_pass_counts_the_time_between(false);
}

static void test_later_pass_counts_the_time_between_tsc(void **state)
{
	(void)state;
	later_pass_counts_the_time_between(true);
}

/*
 * With the TSC: N commands read clock_gettime only when a thread's anchor
 * runs out (every 256 us), on a loop and off it, and every one of them
 * still lands in the histogram with some time taken.  Where the kernel's
 * clock is not on the TSC, vs_now_fast_ns reads clock_gettime each time:
 * the counts of the first test.
 */
static void test_tsc_reads_no_clock_per_srb(void **state)
{
	struct ctx c;
	struct vs_lun_stats st;
	struct vs_loop_group *g = ls_group(1);
	bool tsc = vs_clock_use_tsc(true);
	(void)state;

	setup(&c, MOCK_INLINE);
	uint64_t before = hist_total(&c, &st);
	uint64_t sum_before = st.latency_ns_sum;
	ls_run_on(vs_loop_group_loop(g, 0), submit_n, &c);
	/* a few anchors' worth at most */
	if (tsc)
		assert_true(c.reads < N / 4);
	else
		assert_int_equal(c.reads, N);
	assert_int_equal(hist_total(&c, &st) - before, N);
	assert_true(st.latency_ns_sum > sum_before);
	sum_before = st.latency_ns_sum;
	submit_n(&c);
	if (tsc)
		assert_true(c.reads < N / 4);
	else
		assert_int_equal(c.reads, 2 * N);
	assert_int_equal(hist_total(&c, &st) - before, 2 * N);
	assert_true(st.latency_ns_sum > sum_before);
	teardown(&c);
	vs_loop_group_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_clock_read_per_srb_on_a_loop),
		cmocka_unit_test(test_later_pass_counts_the_time_between),
		cmocka_unit_test(test_later_pass_counts_the_time_between_tsc),
		cmocka_unit_test(test_tsc_reads_no_clock_per_srb),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
