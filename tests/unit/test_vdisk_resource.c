/* SPDX-License-Identifier: MIT */
/*
 * The resource behind a LUN goes away and comes back (vdisk_resource.c and
 * the port's per-LUN pause): the block stack's events become SCSI.
 *  - lost, no hold: media access gets NOT READY 04/01 (never MEDIUM
 *    ERROR); INQUIRY still works; REQUEST SENSE says why; back: GOOD;
 *  - lost with a hold: new commands wait in the port, unanswered, and go
 *    on GOOD when the resource is back; if it stays away past the hold
 *    they get NOT READY 04/01;
 *  - while held, a command the layer keeps longer than the port's timeout
 *    is not escalated into aborts and resets;
 *  - resized: new capacity and CAPACITY DATA HAS CHANGED;
 *  - failed: NOT READY 04/03;
 *  - ABORT TASK and LUN RESET reach the layer that holds the request.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spy_bdev.h"
#include "test_fabric.h"
#include "vstor/scsi.h"
#include "vstor/vdisk.h"

#define TIMEOUT_MS 200u

struct fix {
	struct tf *tf;
	struct spy *spy;
	struct vs_nexus *n;
	struct vs_srb_pool *pool;
	int events;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void count_event(void *ctx, uint64_t lun, const struct vs_bdev_event *ev)
{
	struct fix *f = ctx;

	(void)lun;
	(void)ev;
	__atomic_fetch_add(&f->events, 1, __ATOMIC_RELAXED);
}

static int setup(void **state)
{
	static const struct vs_vdisk_adapter_config ac = { .target_name = "iqn.2026-01.test:res" };
	struct vs_port_config pc = { .name = "res", .default_timeout_ms = TIMEOUT_MS,
	                             .abort_timeout_ms = 100 };
	struct fix *f = calloc(1, sizeof(*f));

	f->tf = tf_create(&vs_vdisk_miniport, &pc, &ac);
	assert_non_null(f->tf);
	f->spy = spy_new("1M");
	assert_non_null(f->spy);
	struct vs_vdisk_lun_config lc = { .bdev = spy_bdev(f->spy), .block_size = 512,
	                                  .on_event = count_event, .event_ctx = f };
	assert_int_equal(vs_port_lun_add(tf_port(f->tf), 0, &lc), 0);
	f->n = tf_nexus(f->tf, "iqn.2026-01.test:init,i,0x1");
	assert_int_equal(tf_clear_ua(f->tf, f->n, 0), 0);
	f->pool = vs_srb_pool_create(tf_port(f->tf), 8, 4096);
	assert_non_null(f->pool);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	spy_hold(f->spy, false);
	spy_release(f->spy, 0);
	vs_srb_pool_destroy(f->pool);
	tf_destroy(f->tf);
	spy_free(f->spy);
	free(f);
	return 0;
}

static const uint8_t read10[10] = { READ_10, 0, 0, 0, 0, 8, 0, 0, 1, 0 };

static void exec(struct fix *f, const uint8_t *cdb, size_t len, int dir, void *buf,
                 uint32_t n, struct tf_result *r)
{
	assert_int_equal(tf_exec(f->tf, f->n, 0, cdb, len, dir, buf, n, r), 0);
}

static void expect_sense(const struct tf_result *r, uint8_t key, uint8_t asc, uint8_t ascq)
{
	assert_int_equal(r->status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r->sense_key, key);
	assert_int_equal(r->asc, asc);
	assert_int_equal(r->ascq, ascq);
}

/* The worker pool applies events: wait until the LUN shows the state. */
static void wait_not_ready(struct fix *f, bool want)
{
	uint8_t buf[512];
	struct tf_result r;

	for (int i = 0; i < 500; i++) {
		exec(f, read10, sizeof(read10), VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r);
		if ((r.status == SAM_STAT_CHECK_CONDITION && r.sense_key == SENSE_NOT_READY) == want)
			return;
		usleep(2000);
	}
	fail_msg("the LUN never became %s", want ? "not ready" : "ready");
}

static void test_lost_without_hold_answers_not_ready(void **state)
{
	struct fix *f = *state;
	uint8_t buf[512];
	uint8_t inq[6] = { INQUIRY, 0, 0, 0, 96, 0 };
	uint8_t rs[6] = { REQUEST_SENSE, 0, 0, 0, 18, 0 };
	uint8_t tur[6] = { TEST_UNIT_READY };
	struct tf_result r;

	spy_event(f->spy, VS_BDEV_EV_LOST, 0);
	wait_not_ready(f, true);
	exec(f, read10, sizeof(read10), VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r);
	expect_sense(&r, SENSE_NOT_READY, 0x04, 0x01);
	exec(f, tur, sizeof(tur), VS_DIR_NONE, NULL, 0, &r);
	expect_sense(&r, SENSE_NOT_READY, 0x04, 0x01);
	/* INQUIRY needs no medium */
	exec(f, inq, sizeof(inq), VS_DIR_FROM_DEVICE, buf, 96, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	/* REQUEST SENSE reports the condition as data (SPC-4 6.39) */
	exec(f, rs, sizeof(rs), VS_DIR_FROM_DEVICE, buf, 18, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(buf[2] & 0x0f, SENSE_NOT_READY);
	assert_int_equal(buf[12], 0x04);
	assert_int_equal(buf[13], 0x01);

	spy_event(f->spy, VS_BDEV_EV_BACK, 0);
	wait_not_ready(f, false);
	exec(f, read10, sizeof(read10), VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(__atomic_load_n(&f->events, __ATOMIC_RELAXED), 2);
}

static void test_hold_keeps_commands_until_back(void **state)
{
	struct fix *f = *state;
	struct tf_pio io[3];
	struct tf_result r;

	spy_event(f->spy, VS_BDEV_EV_LOST, 5000);
	/* the port holds the LUN once the worker applied the event */
	for (int i = 0; i < 500; i++) {
		uint8_t tur[6] = { TEST_UNIT_READY };
		struct tf_task *t = tf_submit(f->tf, f->n, 0, tur, 6, VS_DIR_NONE, NULL, 0);

		if (tf_wait_ms(t, &r, 50) == -ETIMEDOUT) {
			/* held: this TUR now waits with the READs below */
			for (int k = 0; k < 3; k++)
				tf_pio_submit(tf_port(f->tf), f->pool, f->n, 0, read10, sizeof(read10),
				              VS_DIR_FROM_DEVICE, NULL, 512, &io[k]);
			/* longer than the port's command timeout: nothing is answered */
			usleep(3 * TIMEOUT_MS * 1000);
			for (int k = 0; k < 3; k++)
				assert_int_equal(atomic_load(&io[k].done), 0);
			assert_int_equal(tf_task_done(t), 0);
			spy_event(f->spy, VS_BDEV_EV_BACK, 0);
			assert_int_equal(tf_wait(t, &r), 0);
			assert_int_equal(r.status, SAM_STAT_GOOD);
			for (int k = 0; k < 3; k++) {
				assert_int_equal(tf_pio_wait(&io[k], 2000, &r), 0);
				assert_int_equal(r.status, SAM_STAT_GOOD);
			}
			return;
		}
		usleep(2000);
	}
	fail_msg("the LUN was never held");
}

static void test_hold_ends_in_not_ready(void **state)
{
	struct fix *f = *state;
	uint8_t tur[6] = { TEST_UNIT_READY };
	struct tf_result r;

	spy_event(f->spy, VS_BDEV_EV_LOST, 400);
	for (int i = 0; i < 500; i++) {
		struct tf_task *t = tf_submit(f->tf, f->n, 0, tur, 6, VS_DIR_NONE, NULL, 0);
		uint64_t t0 = now_ms();

		if (tf_wait_ms(t, &r, 50) == -ETIMEDOUT) {
			/* held until the hold ran out, then answered: retryable */
			assert_int_equal(tf_wait(t, &r), 0);
			assert_true(now_ms() - t0 >= 250);
			expect_sense(&r, SENSE_NOT_READY, 0x04, 0x01);
			/* the hold is over; the resource is still away */
			wait_not_ready(f, true);
			spy_event(f->spy, VS_BDEV_EV_BACK, 0);
			wait_not_ready(f, false);
			return;
		}
		usleep(2000);
	}
	fail_msg("the LUN was never held");
}

/* A command the layer keeps (a remote server away) outlives the port's
 * timeout while the LUN is held: no abort, no reset, and GOOD at the end. */
static void test_no_escalation_while_held(void **state)
{
	struct fix *f = *state;
	struct tf_pio io;
	struct tf_result r;
	struct vs_lun_stats st;

	spy_hold(f->spy, true);
	tf_pio_submit(tf_port(f->tf), f->pool, f->n, 0, read10, sizeof(read10),
	              VS_DIR_FROM_DEVICE, NULL, 512, &io);
	for (int i = 0; i < 500 && spy_held(f->spy) < 1; i++)
		usleep(1000);
	assert_int_equal(spy_held(f->spy), 1);
	spy_event(f->spy, VS_BDEV_EV_LOST, 10000);
	usleep(5 * TIMEOUT_MS * 1000);
	assert_int_equal(vs_port_lun_stats(tf_port(f->tf), 0, &st), 0);
	assert_int_equal(st.resets, 0);
	assert_int_equal(st.aborts, 0);
	assert_int_equal(atomic_load(&io.done), 0);
	assert_int_equal(spy_resets(f->spy), 0);
	/* back: the layer sends it; the command gets its timeout afresh */
	spy_hold(f->spy, false);
	spy_release(f->spy, 0);
	spy_event(f->spy, VS_BDEV_EV_BACK, 0);
	assert_int_equal(tf_pio_wait(&io, 2000, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(r.srb_status, VS_SRB_SUCCESS);
}

static void test_resized_and_failed(void **state)
{
	struct fix *f = *state;
	uint8_t cap[8], buf[512];
	uint8_t rc10[10] = { READ_CAPACITY_10 };
	struct tf_result r;

	/* the resource grew behind vdisk's back (e.g. rbd resize elsewhere) */
	assert_int_equal(vs_bdev_resize(spy_bdev(f->spy), 2u << 20), 0);
	spy_event(f->spy, VS_BDEV_EV_RESIZED, 0);
	for (int i = 0; i < 500; i++) {
		exec(f, rc10, sizeof(rc10), VS_DIR_FROM_DEVICE, cap, 8, &r);
		if (r.status == SAM_STAT_CHECK_CONDITION)
			break;
		usleep(2000);
	}
	expect_sense(&r, SENSE_UNIT_ATTENTION, 0x2a, 0x09);
	exec(f, rc10, sizeof(rc10), VS_DIR_FROM_DEVICE, cap, 8, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal((uint32_t)cap[0] << 24 | cap[1] << 16 | cap[2] << 8 | cap[3],
	                 (2u << 20) / 512 - 1);

	spy_event(f->spy, VS_BDEV_EV_FAILED, 0);
	for (int i = 0; i < 500; i++) {
		exec(f, read10, sizeof(read10), VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r);
		if (r.status == SAM_STAT_CHECK_CONDITION)
			break;
		usleep(2000);
	}
	expect_sense(&r, SENSE_NOT_READY, 0x04, 0x03);
}

static void test_abort_and_reset_reach_the_layer(void **state)
{
	struct fix *f = *state;
	static uint8_t buf[3][512];
	struct tf_task *t[3];
	struct tf_result r;
	uint64_t t0;

	spy_cancellable(f->spy, true);
	spy_hold(f->spy, true);
	for (int k = 0; k < 3; k++)
		t[k] = tf_submit_ex(f->tf, f->n, 0, read10, sizeof(read10), VS_DIR_FROM_DEVICE,
		                    buf[k], 512, VS_TASK_SIMPLE, 101 + (uint64_t)k, 0);
	for (int i = 0; i < 500 && spy_held(f->spy) < 3; i++)
		usleep(1000);
	assert_int_equal(spy_held(f->spy), 3);
	/* ABORT TASK: the layer gives the bio back at once, long before the
	 * port's escalation (timeout + abort step) would have */
	t0 = now_ms();
	assert_int_equal(tf_tmf(f->tf, f->n, VS_TMF_ABORT_TASK, 0, 102), VS_TMF_COMPLETE);
	assert_int_equal(tf_wait(t[1], &r), 0);
	assert_true(now_ms() - t0 < TIMEOUT_MS);
	assert_int_equal(r.srb_status, VS_SRB_ABORTED);
	assert_int_equal(spy_cancels(f->spy), 1);
	assert_int_equal(spy_held(f->spy), 2);
	/* LUN RESET: the layer is reset and gives back the rest */
	assert_int_equal(tf_tmf(f->tf, f->n, VS_TMF_LOGICAL_UNIT_RESET, 0, 0), VS_TMF_COMPLETE);
	assert_true(spy_resets(f->spy) >= 1);
	assert_int_equal(tf_wait(t[0], &r), 0);
	assert_int_equal(tf_wait(t[2], &r), 0);
	assert_int_equal(spy_held(f->spy), 0);
	assert_int_equal(tf_double_completions(f->tf), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lost_without_hold_answers_not_ready, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_hold_keeps_commands_until_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_ends_in_not_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_escalation_while_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resized_and_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_and_reset_reach_the_layer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
