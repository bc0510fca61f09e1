/* SPDX-License-Identifier: MIT */
/*
 * The delay filter (src/filters/delay.c) over a RAM disk, with a running
 * loop group: the latency it adds (at least the configured one, not much
 * more), per operation and with jitter, from loop threads and others;
 * changes at run time; cancel and reset giving waiting requests back
 * exactly once; bad options refused naming the field.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "filter_load.h"
#include "vstor/loop.h"

#define KV(...) (struct vs_kv[]){ __VA_ARGS__ }, sizeof((struct vs_kv[]){ __VA_ARGS__ }) / sizeof(struct vs_kv)

/*
 * Timing on a shared machine: the filter must never be early, so every
 * request is held to the lower bound.  Being late is also the scheduler's
 * doing (a loaded 2-core machine stalls a thread for 100 ms and more), and
 * it only ever adds: the upper bound ("not much more") holds for the best
 * of a few tries, which a filter that really adds too much fails every
 * time.
 */
#define SLACK_MS 40.0
#define TRIES    5

static void init_op(struct fl_req *r, uint8_t op, uint64_t off)
{
	bool data = op == VS_BIO_READ || op == VS_BIO_WRITE;

	fl_req_init(r, op, off, data ? 4096 : op == VS_BIO_FLUSH ? 0 : 4096, NULL);
	if (!data)
		r->bio.iovcnt = 0;
}

static void expect_at_least(const char *what, double ms, double lo)
{
	if (ms < lo)
		fail_msg("%s: %.2f ms, less than the %.0f ms it must take", what, ms, lo);
}

/* Submit one of op and wait for it; its latency in ms. */
static double one(struct fl_stack *s, uint8_t op)
{
	struct fl_req r;
	double ms;

	init_op(&r, op, 8192);
	fl_submit(s, &r);
	assert_true(fl_wait_done(&r, 10000));
	assert_int_equal(atomic_load(&r.err), 0);
	assert_int_equal(atomic_load(&r.done), 1);
	ms = fl_latency_ms(&r);
	fl_req_fini(&r);
	return ms;
}

/* One op at a time: each at least lo ms, the best of TRIES at most hi. */
static void expect_latency(struct fl_stack *s, const char *what, uint8_t op, double lo, double hi)
{
	double best = 1e9;

	for (int i = 0; i < TRIES && best > hi; i++) {
		double ms = one(s, op);

		expect_at_least(what, ms, lo);
		best = ms < best ? ms : best;
	}
	printf("    %s: %.2f ms (want %.0f to %.0f)\n", what, best, lo, hi);
	if (best > hi)
		fail_msg("%s: %.2f ms at best in %d tries, more than %.0f", what, best, TRIES, hi);
}

/*
 * n requests of op at once, each at least lo ms and, in one of TRIES
 * batches, all of them at most hi; returns the spread (slowest - fastest)
 * of that batch.
 */
static double expect_batch(struct fl_stack *s, const char *what, int n, uint8_t op, double lo,
                           double hi)
{
	struct fl_req r[64];
	double fast = 0, slow = 1e9;

	assert_true(n <= 64);
	for (int t = 0; t < TRIES && slow > hi; t++) {
		fast = 1e9;
		slow = 0;
		fl_submit_n(s, r, n, op);
		for (int i = 0; i < n; i++) {
			double ms;

			assert_true(fl_wait_done(&r[i], 10000));
			assert_int_equal(atomic_load(&r[i].err), 0);
			ms = fl_latency_ms(&r[i]);
			expect_at_least(what, ms, lo);
			fast = ms < fast ? ms : fast;
			slow = ms > slow ? ms : slow;
		}
		fl_fini_n(r, n);
	}
	printf("    %s: %d at once took %.2f to %.2f ms (want %.0f to %.0f)\n", what, n, fast, slow,
	       lo, hi);
	if (slow > hi)
		fail_msg("%s: the slowest of %d took %.2f ms in each of %d tries, more than %.0f", what,
		         n, slow, TRIES, hi);
	return slow - fast;
}

/* ---------------------------------------------------------------- latency */

/* read=50ms: 8 reads at once each take 50 ms and not much more; other
 * operations get `all` (0 here): they complete inside submit. */
static void test_adds_the_configured_latency(void **state)
{
	struct fl_stack s;
	struct fl_req w;

	(void)state;
	fl_open(&s, "delay", KV({ "read", "50ms" }));
	expect_batch(&s, "read=50ms", 8, VS_BIO_READ, 50, 50 + SLACK_MS);
	init_op(&w, VS_BIO_WRITE, 0);
	fl_submit(&s, &w);
	assert_int_equal(atomic_load(&w.done), 1);
	fl_req_fini(&w);
	fl_close(&s);
}

/* all= for every operation, a per-operation value instead of it. */
static void test_per_operation(void **state)
{
	struct fl_stack s;

	(void)state;
	fl_open(&s, "delay", KV({ "all", "30ms" }, { "write", "0" }, { "flush", "60" }));
	expect_latency(&s, "read (all)", VS_BIO_READ, 30, 30 + SLACK_MS);
	expect_latency(&s, "write (0)", VS_BIO_WRITE, 0, SLACK_MS);
	expect_latency(&s, "flush", VS_BIO_FLUSH, 60, 60 + SLACK_MS);
	expect_latency(&s, "unmap (all)", VS_BIO_UNMAP, 30, 30 + SLACK_MS);
	expect_latency(&s, "write_zeroes (all)", VS_BIO_WRITE_ZEROES, 30, 30 + SLACK_MS);
	fl_close(&s);
}

/* jitter: 10 ms + 0..40 ms drawn per request; spread, within bounds.
 * 32 uniform draws over 40 ms all within 10 ms of each other: ~1e-17. */
static void test_jitter(void **state)
{
	struct fl_stack s;

	(void)state;
	fl_open(&s, "delay", KV({ "all", "10ms" }, { "jitter", "40ms" }));
	assert_true(expect_batch(&s, "all=10ms jitter=40ms", 32, VS_BIO_READ, 10,
	                         50 + SLACK_MS) >= 10);
	fl_close(&s);
}

/* ---------------------------------------------------------------- loops */

struct on_loop {
	struct fl_stack *s;
	struct fl_req *r;
};

static void submit_here(void *arg)
{
	struct on_loop *o = arg;

	fl_submit(o->s, o->r);
}

/* A request submitted on one of the loops (an iSCSI connection's) waits
 * and completes on that same loop; one from another thread completes on
 * one of the group's loops. */
static void test_stays_on_the_submitting_loop(void **state)
{
	struct fl_stack s;
	struct fl_req r[2], other;

	(void)state;
	fl_open(&s, "delay", KV({ "all", "20ms" }));
	for (unsigned i = 0; i < 2; i++) {
		struct vs_loop *loop = vs_loop_group_loop(s.loops, i);

		init_op(&r[i], VS_BIO_READ, 0);
		ls_run_on(loop, submit_here, &(struct on_loop){ &s, &r[i] });
		assert_true(fl_wait_done(&r[i], 5000));
		assert_ptr_equal(atomic_load(&r[i].done_on), loop);
		expect_at_least("from a loop", fl_latency_ms(&r[i]), 20);
		fl_req_fini(&r[i]);
	}
	init_op(&other, VS_BIO_READ, 0);
	fl_submit(&s, &other);
	assert_true(fl_wait_done(&other, 5000));
	assert_true(atomic_load(&other.done_on) == vs_loop_group_loop(s.loops, 0) ||
	            atomic_load(&other.done_on) == vs_loop_group_loop(s.loops, 1));
	expect_at_least("from elsewhere", fl_latency_ms(&other), 20);
	fl_req_fini(&other);
	fl_close(&s);
}

/* ---------------------------------------------------------------- run-time changes */

/* A change applies to requests that arrive after it; one already waiting
 * keeps its deadline. */
static void test_change_at_run_time(void **state)
{
	struct fl_stack s;
	struct fl_req waiting;

	(void)state;
	fl_open(&s, "delay", KV({ "read", "300ms" }));
	init_op(&waiting, VS_BIO_READ, 0);
	fl_submit(&s, &waiting);
	assert_int_equal(fl_set(&s, KV({ "read", "0" })), 0);
	expect_latency(&s, "read=0", VS_BIO_READ, 0, SLACK_MS);
	assert_int_equal(fl_set(&s, KV({ "read", "80ms" })), 0);
	expect_latency(&s, "read=80ms", VS_BIO_READ, 80, 80 + SLACK_MS);
	assert_int_equal(fl_set(&s, KV({ "all", "25ms" }, { "jitter", "0" })), 0);
	expect_latency(&s, "write (all=25ms)", VS_BIO_WRITE, 25, 25 + SLACK_MS);
	assert_true(fl_wait_done(&waiting, 5000));
	expect_at_least("the one waiting (300 ms)", fl_latency_ms(&waiting), 300);
	fl_req_fini(&waiting);
	fl_close(&s);
}

/* ---------------------------------------------------------------- cancel, reset */

static void test_cancel_and_reset_exactly_once(void **state)
{
	struct fl_stack s;
	struct fl_req r[6], never, fast;
	uint64_t start;

	(void)state;
	fl_open(&s, "delay", KV({ "all", "10s" }));
	/* from the test thread (the timer is armed by a message to a loop)
	 * and from the loops (armed at once) */
	for (int i = 0; i < 6; i++) {
		init_op(&r[i], VS_BIO_READ, (uint64_t)i * 4096);
		if (i < 4)
			fl_submit(&s, &r[i]);
		else
			ls_run_on(vs_loop_group_loop(s.loops, (unsigned)i & 1), submit_here,
			          &(struct on_loop){ &s, &r[i] });
	}
	start = vs_loop_clock_ns();
	/* cancelled right after submit: maybe before its arm message ran */
	assert_true(vs_bdev_cancel(s.bdev, &r[3].bio));
	assert_true(vs_bdev_cancel(s.bdev, &r[5].bio));
	assert_true(fl_wait_done(&r[3], 1000));
	assert_true(fl_wait_done(&r[5], 1000));
	assert_int_equal(atomic_load(&r[3].err), -ECANCELED);
	assert_int_equal(atomic_load(&r[5].err), -ECANCELED);
	assert_false(vs_bdev_cancel(s.bdev, &r[3].bio));        /* not twice */
	init_op(&never, VS_BIO_READ, 0);
	assert_false(vs_bdev_cancel(s.bdev, &never.bio));      /* never came */
	vs_bdev_reset(s.bdev);
	for (int i = 0; i < 6; i++) {
		assert_true(fl_wait_done(&r[i], 1000));
		assert_int_equal(atomic_load(&r[i].err), -ECANCELED);
	}
	/* given back promptly, and once: nothing more comes */
	assert_true((vs_loop_clock_ns() - start) / 1000000u < 1000);
	ls_sleep_ms(100);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(atomic_load(&r[i].done), 1);
		fl_req_fini(&r[i]);
	}
	assert_int_equal(atomic_load(&never.done), 0);
	fl_req_fini(&never);
	/* what is no longer waiting cannot be cancelled */
	assert_int_equal(fl_set(&s, KV({ "all", "0" })), 0);
	init_op(&fast, VS_BIO_READ, 0);
	fl_submit(&s, &fast);
	assert_int_equal(atomic_load(&fast.done), 1);
	assert_false(vs_bdev_cancel(s.bdev, &fast.bio));
	fl_req_fini(&fast);
	fl_close(&s);
}

/* A cancel that races the timer: whichever takes the request, it
 * completes once (sent on: 0, given back: -ECANCELED). */
static void test_cancel_racing_the_timer(void **state)
{
	struct fl_stack s;
	struct fl_req r[64];
	int cancelled = 0, got_cancel = 0;

	(void)state;
	/* deadlines spread over 1..3 ms, cancels at about 2 ms */
	fl_open(&s, "delay", KV({ "all", "1ms" }, { "jitter", "2ms" }));
	fl_submit_n(&s, r, 64, VS_BIO_READ);
	ls_sleep_ms(2);
	for (int i = 0; i < 64; i++)
		cancelled += vs_bdev_cancel(s.bdev, &r[i].bio);
	for (int i = 0; i < 64; i++)
		assert_true(fl_wait_done(&r[i], 2000));
	ls_sleep_ms(20);
	for (int i = 0; i < 64; i++) {
		int err = atomic_load(&r[i].err);

		assert_int_equal(atomic_load(&r[i].done), 1);
		assert_true(err == 0 || err == -ECANCELED);
		got_cancel += err == -ECANCELED;
		fl_req_fini(&r[i]);
	}
	printf("    %d of 64 cancelled before their timer\n", cancelled);
	assert_int_equal(got_cancel, cancelled);
	fl_close(&s);
}

/* A loop callback that blocks until the test lets it go. */
struct blocker {
	struct vs_loop_msg msg;
	struct vs_loop_timer timer;
	struct ls_counter running, go;
};

static void block_here(struct blocker *b)
{
	ls_counter_add(&b->running, 1);
	assert_true(ls_counter_wait(&b->go, ls_counter_get(&b->running), 5000));
}

static void block_msg(struct vs_loop_msg *m)
{
	block_here((struct blocker *)((char *)m - offsetof(struct blocker, msg)));
}

static void block_timer(struct vs_loop_timer *t)
{
	block_here((struct blocker *)((char *)t - offsetof(struct blocker, timer)));
}

struct submit_and_block {
	struct fl_stack *s;
	struct fl_req *r;
	struct blocker *b;
};

/* On the loop: the request's timer at +20 ms, the blocker's at +10 ms. */
static void submit_then_arm_blocker(void *arg)
{
	struct submit_and_block *sb = arg;

	fl_submit(sb->s, sb->r);
	vs_loop_timer_arm(vs_loop_current(), &sb->b->timer, vs_loop_clock_ns() + 10 * 1000000ull);
}

/*
 * The race a cancel must win cleanly: the request's timer is already due
 * and about to run (the loop runs due timers one after another) when a
 * cancel takes the request.  The cancel completes it; the timer, running
 * next, must find it gone and not send it on (a second completion).
 * Staged on one loop: its thread is held in a message while both
 * deadlines pass, so the next pass runs both timers, the blocker's first;
 * the cancel happens while the blocker holds the loop.
 */
static void test_timer_after_cancel_does_nothing(void **state)
{
	struct fl_stack s;
	struct fl_req r;
	struct blocker b = { .msg.fn = block_msg };
	struct vs_loop *loop;

	(void)state;
	fl_open(&s, "delay", KV({ "all", "20ms" }));
	loop = vs_loop_group_loop(s.loops, 0);
	ls_counter_init(&b.running);
	ls_counter_init(&b.go);
	vs_loop_timer_init(&b.timer, block_timer);
	init_op(&r, VS_BIO_READ, 0);
	ls_run_on(loop, submit_then_arm_blocker, &(struct submit_and_block){ &s, &r, &b });
	vs_loop_post(loop, &b.msg);
	assert_true(ls_counter_wait(&b.running, 1, 5000));     /* the loop is held */
	ls_sleep_ms(30);                                        /* both timers are due */
	ls_counter_add(&b.go, 1);
	assert_true(ls_counter_wait(&b.running, 2, 5000));     /* in the blocker's timer */
	assert_int_equal(atomic_load(&r.done), 0);
	assert_true(vs_bdev_cancel(s.bdev, &r.bio));
	ls_counter_add(&b.go, 1);                               /* now the request's timer */
	assert_true(fl_wait_done(&r, 1000));
	ls_sleep_ms(20);
	assert_int_equal(atomic_load(&r.done), 1);
	assert_int_equal(atomic_load(&r.err), -ECANCELED);
	fl_req_fini(&r);
	fl_close(&s);
	ls_counter_destroy(&b.running);
	ls_counter_destroy(&b.go);
}

/* ---------------------------------------------------------------- threads */

/* Several submitters at once, most requests waiting a random while:
 * every request completes exactly once (TSan watches the lanes). */
static void test_threads(void **state)
{
	struct fl_stack s;

	(void)state;
	fl_open(&s, "delay", KV({ "all", "0" }, { "jitter", "2ms" }));
	fl_threads(&s, 4, 400);
	fl_close(&s);
}

/* ---------------------------------------------------------------- options */

static void test_bad_options_name_the_field(void **state)
{
	struct fl_stack s;

	(void)state;
	assert_int_equal(vs_layer_check(VS_LAYER_FILTER, "delay",
	                                KV({ "all", "1s" }, { "read", "5" }, { "write", "2ms" },
	                                   { "flush", "0" }, { "unmap", "1m" },
	                                   { "write_zeroes", "7ms" }, { "jitter", "3ms" })), 0);
	fl_check_fails("delay", KV({ "read", "5x" }), "read: '5x' is not a duration");
	fl_check_fails("delay", KV({ "all", "-1" }), "all: '-1' is not a duration");
	fl_check_fails("delay", KV({ "jitter", "2h" }), "jitter: '2h' is out of range (0ms to 3600000ms)");
	fl_check_fails("delay", KV({ "raed", "1" }), "raed: unknown option (known: all, read, write");
	fl_check_fails("delay", KV({ "write", "1" }, { "write", "2" }), "write: given more than once");

	fl_open(&s, "delay", KV({ "read", "0" }));
	assert_int_equal(fl_set(&s, KV({ "read", "1h" }, { "flush", "soon" })), -EINVAL);
	fl_expect_error("flush: 'soon' is not a duration");
	/* refused whole: read is still 0 */
	expect_latency(&s, "read after a refused change", VS_BIO_READ, 0, SLACK_MS);
	fl_close(&s);

	assert_null(fl_try_open(NULL, "delay", KV({ "all", "1" })));
	fl_expect_error("delay: needs event loops");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adds_the_configured_latency),
		cmocka_unit_test(test_per_operation),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test(test_stays_on_the_submitting_loop),
		cmocka_unit_test(test_change_at_run_time),
		cmocka_unit_test(test_cancel_and_reset_exactly_once),
		cmocka_unit_test(test_cancel_racing_the_timer),
		cmocka_unit_test(test_timer_after_cancel_does_nothing),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_bad_options_name_the_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
