/* SPDX-License-Identifier: MIT */
/*
 * The throttle filter (src/filters/throttle.c) over a RAM disk, with a
 * running loop group: rates kept, bursts, reads and writes limited apart,
 * changes at run time reaching waiting requests, cancel and reset giving
 * waiting requests back exactly once, flushes never held, bad options
 * refused naming the field.
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

/* ---------------------------------------------------------------- no limit */

/* Without a limit, or under one with room, a request goes on in the
 * submitting call: ram completes it before submit returns. */
static void test_no_limit_goes_straight_on(void **state)
{
	struct fl_stack s;
	struct fl_req r[40];

	(void)state;
	fl_open(&s, "throttle", NULL, 0);
	assert_int_equal(fl_submit_n(&s, r, 40, VS_BIO_READ), 40);
	fl_fini_n(r, 40);
	fl_close(&s);

	fl_open(&s, "throttle", KV({ "iops", "1G" }, { "bps", "1T" }));
	assert_int_equal(fl_submit_n(&s, r, 40, VS_BIO_WRITE), 40);
	fl_fini_n(r, 40);
	fl_close(&s);
}

/* ---------------------------------------------------------------- rates */

static void test_iops_rate_kept(void **state)
{
	struct fl_stack s;

	(void)state;
	fl_open(&s, "throttle", KV({ "iops", "1000" }));
	fl_expect_rate(&s, "iops=1000, 4 KiB reads at QD16", 16, VS_BIO_READ, 4096, false, 200, 800,
	               1000, 5);
	fl_close(&s);
}

/* bps is decimal: 8M = 8 000 000 bytes per second */
static void test_bps_rate_kept(void **state)
{
	struct fl_stack s;

	(void)state;
	fl_open(&s, "throttle", KV({ "bps", "8M" }));
	fl_expect_rate(&s, "bps=8M, 64 KiB writes at QD8, bytes/s", 8, VS_BIO_WRITE, 65536, true,
	               200, 800, 8e6, 5);
	fl_close(&s);
}

/* A change at run time reaches a running load: 2000/s, then 500/s. */
static void test_rate_change_under_load(void **state)
{
	struct fl_stack s;

	(void)state;
	fl_open(&s, "throttle", KV({ "iops", "2000" }));
	fl_expect_rate(&s, "iops=2000", 16, VS_BIO_READ, 4096, false, 100, 500, 2000, 5);
	assert_int_equal(fl_set(&s, KV({ "iops", "500" })), 0);
	fl_expect_rate(&s, "then iops=500", 16, VS_BIO_READ, 4096, false, 100, 600, 500, 5);
	fl_close(&s);
}

/* ---------------------------------------------------------------- bursts */

/* After an idle spell iops_burst requests go at once beyond the one the
 * rate allows; the next waits for the rate. */
static void test_burst(void **state)
{
	struct fl_stack s;
	struct fl_req r[25];

	(void)state;
	fl_open(&s, "throttle", KV({ "iops", "10" }, { "iops_burst", "20" }));
	assert_int_equal(fl_submit_n(&s, r, 25, VS_BIO_READ), 21);
	/* 10/s: the 22nd after 100 ms */
	assert_true(fl_wait_done(&r[21], 1000));
	assert_true(fl_latency_ms(&r[21]) >= 95);
	assert_int_equal(atomic_load(&r[22].done), 0);
	vs_bdev_reset(s.bdev);
	fl_fini_n(r, 25);
	fl_close(&s);

	/* burst= as a duration: 100/s x 50ms = 5 beyond the first */
	fl_open(&s, "throttle", KV({ "iops", "100" }, { "burst", "50ms" }));
	assert_int_equal(fl_submit_n(&s, r, 8, VS_BIO_READ), 6);
	vs_bdev_reset(s.bdev);
	fl_fini_n(r, 8);
	fl_close(&s);
}

/* ---------------------------------------------------------------- read / write */

/* A read limit holds reads, not writes; flushes are never held. */
static void test_read_write_apart_flush_free(void **state)
{
	struct fl_stack s;
	struct fl_req rd[3], wr[10], fl[2];

	(void)state;
	fl_open(&s, "throttle", KV({ "read_iops", "1" }, { "burst", "0" }));
	assert_int_equal(fl_submit_n(&s, rd, 3, VS_BIO_READ), 1);
	assert_int_equal(fl_submit_n(&s, wr, 10, VS_BIO_WRITE), 10);
	assert_int_equal(fl_submit_n(&s, fl, 2, VS_BIO_FLUSH), 2);
	/* and a write limit holds writes while reads wait on their own */
	assert_int_equal(fl_set(&s, KV({ "write_iops", "1" })), 0);
	fl_fini_n(wr, 10);
	assert_int_equal(fl_submit_n(&s, wr, 3, VS_BIO_WRITE), 1);
	assert_int_equal(fl_submit_n(&s, fl, 2, VS_BIO_FLUSH), 2);
	vs_bdev_reset(s.bdev);
	assert_int_equal(fl_done_n(rd, 3), 3);
	assert_int_equal(fl_done_n(wr, 3), 3);
	fl_fini_n(rd, 3);
	fl_fini_n(wr, 3);
	fl_fini_n(fl, 2);
	fl_close(&s);
}

/* ---------------------------------------------------------------- run-time changes */

/* Requests already waiting follow a change: raised, they go at once;
 * the limit removed, they go at once; lowered, new ones wait longer. */
static void test_change_reaches_waiting_requests(void **state)
{
	struct fl_stack s;
	struct fl_req r[20], more[4];

	(void)state;
	fl_open(&s, "throttle", KV({ "iops", "2" }, { "burst", "0" }));
	assert_int_equal(fl_submit_n(&s, r, 20, VS_BIO_READ), 1);
	ls_sleep_ms(50);
	assert_int_equal(fl_done_n(r, 20), 1);          /* 2/s: the rest would take 10 s */
	assert_int_equal(fl_set(&s, KV({ "iops", "100k" })), 0);
	for (int i = 0; i < 20; i++) {
		assert_true(fl_wait_done(&r[i], 200));
		assert_int_equal(atomic_load(&r[i].err), 0);
	}
	fl_fini_n(r, 20);

	/* lowered: the bucket is full (it refilled), one goes, the rest wait */
	assert_int_equal(fl_set(&s, KV({ "iops", "1" })), 0);
	assert_int_equal(fl_submit_n(&s, more, 4, VS_BIO_READ), 1);
	ls_sleep_ms(30);
	assert_int_equal(fl_done_n(more, 4), 1);
	assert_int_equal(fl_set(&s, KV({ "iops", "0" })), 0);
	for (int i = 0; i < 4; i++)
		assert_true(fl_wait_done(&more[i], 200));
	fl_fini_n(more, 4);
	/* no limit any more: straight on again */
	assert_int_equal(fl_submit_n(&s, more, 4, VS_BIO_READ), 4);
	fl_fini_n(more, 4);
	fl_close(&s);
}

/* ---------------------------------------------------------------- cancel, reset */

static void test_cancel_and_reset_exactly_once(void **state)
{
	struct fl_stack s;
	struct fl_req r[6], never;

	(void)state;
	fl_open(&s, "throttle", KV({ "iops", "1" }, { "burst", "0" }));
	assert_int_equal(fl_submit_n(&s, r, 6, VS_BIO_READ), 1);
	assert_true(vs_bdev_cancel(s.bdev, &r[2].bio));
	assert_int_equal(atomic_load(&r[2].done), 1);
	assert_int_equal(atomic_load(&r[2].err), -ECANCELED);
	assert_false(vs_bdev_cancel(s.bdev, &r[2].bio));        /* not twice */
	fl_req_init(&never, VS_BIO_READ, 0, 512, NULL);
	assert_false(vs_bdev_cancel(s.bdev, &never.bio));      /* never came */
	assert_true(vs_bdev_cancel(s.bdev, &r[5].bio));         /* the tail */
	vs_bdev_reset(s.bdev);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(atomic_load(&r[i].done), 1);
		assert_int_equal(atomic_load(&r[i].err), i == 0 ? 0 : -ECANCELED);
	}
	/* the timer still set for the head that left finds nothing to send:
	 * nothing completes a second time */
	ls_sleep_ms(1100);
	for (int i = 0; i < 6; i++)
		assert_int_equal(atomic_load(&r[i].done), 1);
	assert_int_equal(atomic_load(&never.done), 0);
	/* the queue works on: one waits, a cancel of the head lets nothing by */
	fl_fini_n(r, 6);
	assert_int_equal(fl_submit_n(&s, r, 2, VS_BIO_READ), 1);
	assert_true(vs_bdev_cancel(s.bdev, &r[1].bio));
	fl_fini_n(r, 2);
	fl_req_fini(&never);
	fl_close(&s);
}

/* ---------------------------------------------------------------- close */

struct on_loop {
	struct vs_bdev *bdev;
	struct fl_req r[3];
};

/* On the throttle's loop: one goes, two wait (the second wakes the pump,
 * a kick that runs after this callback), a reset gives them back, and
 * the stack closes with the kick still to come. */
static void submit_reset_close(void *arg)
{
	struct on_loop *o = arg;

	for (int i = 0; i < 3; i++) {
		fl_req_init(&o->r[i], VS_BIO_READ, (uint64_t)i * 4096, 4096, NULL);
		assert_int_equal(vs_bdev_submit(o->bdev, &o->r[i].bio), 0);
	}
	vs_bdev_reset(o->bdev);
	vs_bdev_close(o->bdev);
}

/* Closed on its own loop's thread, where it cannot wait for the loop: the
 * kick still queued frees it (ASan: once, and nothing touches it after). */
static void test_close_on_its_own_loop(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	struct on_loop o = { .bdev = fl_try_open(g, "throttle", KV({ "iops", "1" }, { "burst", "0" })) };

	(void)state;
	assert_non_null(o.bdev);
	ls_run_on(vs_loop_group_loop(g, 0), submit_reset_close, &o);
	ls_sleep_ms(20);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(atomic_load(&o.r[i].done), 1);
		assert_int_equal(atomic_load(&o.r[i].err), i == 0 ? 0 : -ECANCELED);
	}
	fl_fini_n(o.r, 3);
	vs_loop_group_destroy(g);
}

/* ---------------------------------------------------------------- threads */

/* Several submitters at once through limits that hold some of them:
 * every request completes exactly once (TSan watches the queues). */
static void test_threads(void **state)
{
	struct fl_stack s;
	uint64_t start;
	double secs;

	(void)state;
	fl_open(&s, "throttle", KV({ "iops", "20k" }, { "write_bps", "20M" }));
	start = vs_loop_clock_ns();
	fl_threads(&s, 4, 1500);
	secs = (double)(vs_loop_clock_ns() - start) / 1e9;
	/* the writes: 3000 x 4 KiB = 12.3 MB at 20 MB/s, less the burst of
	 * 100 ms: at least 0.51 s */
	printf("    6000 requests in %.3f s\n", secs);
	assert_true(secs >= 0.5);
	fl_close(&s);
}

/* ---------------------------------------------------------------- options */

static void test_bad_options_name_the_field(void **state)
{
	struct fl_stack s;
	struct fl_req r[3];

	(void)state;
	assert_int_equal(vs_layer_check(VS_LAYER_FILTER, "throttle",
	                                KV({ "iops", "2k" }, { "bps", "50M" }, { "burst", "1s" },
	                                   { "read_iops", "5" }, { "write_bps", "1G" },
	                                   { "iops_burst", "8" }, { "bps_burst", "4M" })), 0);
	fl_check_fails("throttle", KV({ "iops", "fast" }), "iops: 'fast' is not a rate");
	fl_check_fails("throttle", KV({ "bps", "-1" }), "bps: '-1' is not a rate");
	fl_check_fails("throttle", KV({ "bps", "50MiB" }), "bps: '50MiB' is not a rate");
	fl_check_fails("throttle", KV({ "read_bps", "5x" }), "read_bps: '5x' is not a rate");
	fl_check_fails("throttle", KV({ "burst", "2m" }), "burst: '2m' is out of range");
	fl_check_fails("throttle", KV({ "iops_burst", "1.5" }), "iops_burst: '1.5' is not a whole number");
	fl_check_fails("throttle", KV({ "bps_burst", "lots" }), "bps_burst: 'lots' is not a size");
	fl_check_fails("throttle", KV({ "iosp", "1" }), "iosp: unknown option (known: iops, bps");

	/* refused at run time: named, and the limit in force stays */
	fl_open(&s, "throttle", KV({ "iops", "1" }, { "burst", "0" }));
	assert_int_equal(fl_set(&s, KV({ "iops", "1000" }, { "bps", "much" })), -EINVAL);
	fl_expect_error("bps: 'much' is not a rate");
	assert_int_equal(fl_submit_n(&s, r, 3, VS_BIO_READ), 1);
	vs_bdev_reset(s.bdev);
	fl_fini_n(r, 3);
	fl_close(&s);

	/* it times requests on the daemon's loops: none, no throttle */
	assert_null(fl_try_open(NULL, "throttle", KV({ "iops", "1" })));
	fl_expect_error("throttle: needs event loops");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_limit_goes_straight_on),
		cmocka_unit_test(test_iops_rate_kept),
		cmocka_unit_test(test_bps_rate_kept),
		cmocka_unit_test(test_rate_change_under_load),
		cmocka_unit_test(test_burst),
		cmocka_unit_test(test_read_write_apart_flush_free),
		cmocka_unit_test(test_change_reaches_waiting_requests),
		cmocka_unit_test(test_cancel_and_reset_exactly_once),
		cmocka_unit_test(test_close_on_its_own_loop),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_bad_options_name_the_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
