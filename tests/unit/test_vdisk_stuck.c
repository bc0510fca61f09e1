/* SPDX-License-Identifier: MIT */
/*
 * vdisk over a backend that accepts requests and never answers (a dead
 * remote, a wedged device): the port's timeout escalation takes the SRBs
 * back (abort → LUN reset → adapter reset) and completes each exactly once,
 * forced LUN removal and vs_port_destroy return within their bounds, the
 * removal reports that the final flush did not happen, and the LUN's
 * memory survives until the backend's late completions have run (ASan
 * would report a use after free when the test finally releases them).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spy_bdev.h"
#include "test_fabric.h"
#include "vstor/scsi.h"
#include "vstor/vdisk.h"

#define DETACH_MS 300u

struct stuck {
	struct tf *tf;
	struct spy *spy;
	struct vs_nexus *n;
	/* READs use SRBs with pool buffers: after an SRB came back to us by
	 * force, its data buffer must stay valid while the backend still
	 * holds it (srb.h), which the pool guarantees. */
	struct vs_srb_pool *pool;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A LUN over the spy, which claims a volatile write cache so that removal
 * really sends a FLUSH. */
static void setup(struct stuck *t)
{
	static const struct vs_vdisk_adapter_config ac = {
		.target_name = "iqn.2026-01.test:stuck", .detach_timeout_ms = DETACH_MS,
	};
	struct vs_port_config pc = { .name = "stuck", .default_timeout_ms = 200,
	                             .abort_timeout_ms = 100 };
	struct vs_backend_caps caps;

	memset(t, 0, sizeof(*t));
	t->tf = tf_create(&vs_vdisk_miniport, &pc, &ac);
	assert_non_null(t->tf);
	t->spy = spy_new("1M");
	assert_non_null(t->spy);
	vs_bdev_get_caps(spy_bdev(t->spy), &caps);
	caps.can_flush = true;
	caps.has_write_cache = true;
	spy_set_caps(t->spy, &caps);
	struct vs_vdisk_lun_config lc = { .bdev = spy_bdev(t->spy), .block_size = 512 };
	assert_int_equal(vs_port_lun_add(tf_port(t->tf), 0, &lc), 0);
	t->n = tf_nexus(t->tf, "iqn.2026-01.test:init,i,0x1");
	assert_non_null(t->n);
	assert_int_equal(tf_clear_ua(t->tf, t->n, 0), 0);
	t->pool = vs_srb_pool_create(tf_port(t->tf), 4, 512);
	assert_non_null(t->pool);
}

static void submit_read(struct stuck *t, struct tf_pio *io)
{
	static const uint8_t cdb[10] = { READ_10, 0, 0, 0, 0, 1, 0, 0, 1, 0 };

	tf_pio_submit(tf_port(t->tf), t->pool, t->n, 0, cdb, sizeof(cdb), VS_DIR_FROM_DEVICE, NULL,
	              512, io);
	assert_non_null(io->srb);
}

static void wait_read(struct tf_pio *io, uint32_t ms, struct tf_result *r)
{
	assert_int_equal(tf_pio_wait(io, ms, r), 0);
}

static bool wait_resets(struct stuck *t, uint64_t want, uint32_t ms)
{
	for (uint64_t end = now_ms() + ms; now_ms() < end;) {
		struct vs_lun_stats st;

		if (vs_port_lun_stats(tf_port(t->tf), 0, &st) == 0 && st.resets >= want)
			return true;
		usleep(5000);
	}
	return false;
}

static void test_read_escalates_and_forced_removal_returns(void **state)
{
	struct stuck t;
	struct tf_result r;
	struct tf_pio rd1, rd2;
	(void)state;

	setup(&t);
	spy_hold(t.spy, true);
	/* deadline → abort (vdisk cannot abort a backend READ) → LUN reset:
	 * the SRB comes back TIMEOUT; the backend still holds its bio, so the
	 * next step, the adapter reset, follows */
	submit_read(&t, &rd1);
	wait_read(&rd1, 5000, &r);
	assert_int_equal(r.srb_status, VS_SRB_TIMEOUT);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_ABORTED_COMMAND);
	assert_int_equal(r.asc, 0x2e);
	assert_int_equal(r.ascq, 0x02);
	assert_true(wait_resets(&t, 2, 3000));  /* LUN reset + adapter reset */
	assert_int_equal(spy_held(t.spy), 1);

	/* one more READ still in flight when the LUN is removed by force
	 * (after the adapter reset's unit attention) */
	assert_int_equal(tf_clear_ua(t.tf, t.n, 0), 0);
	submit_read(&t, &rd2);
	for (int i = 0; i < 1000 && spy_held(t.spy) < 2; i++)
		usleep(1000);
	assert_int_equal(spy_held(t.spy), 2);
	uint64_t t0 = now_ms();
	int rc = vs_port_lun_remove(tf_port(t.tf), 0, true);
	uint64_t took = now_ms() - t0;
	assert_int_equal(rc, -EIO);
	assert_non_null(strstr(vs_last_error(), "lun: 0 removed, but flush failed: backend spy/ram did "
	                                        "not answer within 300 ms"));
	/* abort + LUN reset + zombie wait (3 × 100 ms) + the detach bound */
	assert_true(took < 3000);
	wait_read(&rd2, 100, &r);
	assert_int_equal(r.srb_status, VS_SRB_NO_DEVICE);
	assert_int_equal(r.sense_key, SENSE_ILLEGAL_REQUEST);
	assert_int_equal(r.asc, 0x25);
	/* the LUN is gone for initiators */
	assert_int_equal(tf_exec(t.tf, t.n, 0, (const uint8_t[6]){ TEST_UNIT_READY }, 6,
	                         VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.srb_status, VS_SRB_NO_DEVICE);
	/* the backend kept both READs and the flush; its bdev is not closed */
	assert_int_equal(spy_held(t.spy), 3);
	assert_false(spy_closed(t.spy));

	/* the backend wakes up: its completions land in live memory and
	 * nothing completes a second time */
	uint64_t calls = tf_done_calls(t.tf);
	spy_release(t.spy, 0);
	usleep(20000);
	assert_int_equal(tf_done_calls(t.tf), calls);
	assert_int_equal(rd1.done, 1);
	assert_int_equal(rd2.done, 1);
	assert_int_equal(tf_double_completions(t.tf), 0);
	tf_destroy(t.tf);               /* frees the orphan now quiet */
	assert_true(spy_closed(t.spy));
	spy_free(t.spy);
}

/* The flush succeeds, but a READ stays with the backend: the removal says
 * so instead of freeing the LUN under it. */
static void test_removal_reports_requests_still_held(void **state)
{
	struct stuck t;
	struct tf_pio rd;
	struct tf_result r;
	(void)state;

	setup(&t);
	spy_hold_op(t.spy, VS_BIO_READ);
	spy_hold(t.spy, true);
	submit_read(&t, &rd);
	for (int i = 0; i < 1000 && spy_held(t.spy) < 1; i++)
		usleep(1000);
	int rc = vs_port_lun_remove(tf_port(t.tf), 0, true);
	assert_int_equal(rc, -EIO);
	assert_non_null(strstr(vs_last_error(), "backend spy/ram still holds 1 request after 300 ms"));
	assert_int_equal(spy_count(t.spy, VS_BIO_FLUSH, 0), 1);
	wait_read(&rd, 100, &r);
	assert_int_equal(r.srb_status, VS_SRB_NO_DEVICE);
	spy_release(t.spy, 0);
	assert_int_equal(rd.done, 1);
	assert_int_equal(tf_double_completions(t.tf), 0);
	tf_destroy(t.tf);
	assert_true(spy_closed(t.spy));
	spy_free(t.spy);
}

/* Nothing stuck: removal flushes, closes the backend at once, returns 0. */
static void test_clean_removal(void **state)
{
	struct stuck t;
	(void)state;

	setup(&t);
	assert_int_equal(vs_port_lun_remove(tf_port(t.tf), 0, true), 0);
	assert_int_equal(spy_count(t.spy, VS_BIO_FLUSH, 0), 1);
	assert_true(spy_closed(t.spy));
	tf_destroy(t.tf);
	spy_free(t.spy);
}

/* lun_control(FLUSH) is bounded too (vstorctl and shutdown use it). */
static void test_lun_control_flush_times_out(void **state)
{
	struct stuck t;
	(void)state;

	setup(&t);
	spy_hold(t.spy, true);
	uint64_t t0 = now_ms();
	assert_int_equal(vs_port_lun_control(tf_port(t.tf), 0, VS_LUN_FLUSH, NULL), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= DETACH_MS);
	assert_non_null(strstr(vs_last_error(), "flush failed: backend spy/ram did not answer within "
	                                        "300 ms"));
	spy_hold(t.spy, false);
	spy_release(t.spy, 0);
	tf_destroy(t.tf);
	spy_free(t.spy);
}

/*
 * vs_port_destroy with a backend that never answers at all returns (it
 * used to wait forever in the detach flush).  Run in a child: the memory
 * the backend still points into is deliberately left allocated, which the
 * leak checker would rightly count; _exit() skips it.
 */
static void test_destroy_returns_with_dead_backend(void **state)
{
	(void)state;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct stuck t;
		struct tf_pio rd;

		setup(&t);
		spy_hold(t.spy, true);
		submit_read(&t, &rd);
		while (spy_held(t.spy) < 1)
			usleep(1000);
		vs_port_destroy(tf_port(t.tf));
		_exit(spy_held(t.spy) == 2 ? 0 : 3);   /* the READ and the final flush */
	}
	int status = 0;
	pid_t got = 0;

	for (int i = 0; i < 20000 && got == 0; i++) {
		got = waitpid(pid, &status, WNOHANG);
		if (got == 0)
			usleep(1000);
	}
	if (got == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("vs_port_destroy did not return within 20 s");
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_escalates_and_forced_removal_returns),
		cmocka_unit_test(test_removal_reports_requests_still_held),
		cmocka_unit_test(test_clean_removal),
		cmocka_unit_test(test_lun_control_flush_times_out),
		cmocka_unit_test(test_destroy_returns_with_dead_backend),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
