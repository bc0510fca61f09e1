/* SPDX-License-Identifier: MIT */
/*
 * The public port API with NULL arguments: every call returns an error (or
 * completes the SRB or TMF it was given with an error) and leaves a
 * message naming the argument in vs_last_error(), never a crash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_fabric.h"
#include "test_port_mock.h"

static int done_calls;
static void count_done(struct vs_srb *srb)
{
	(void)srb;
	done_calls++;
}

static int tmf_resp = -1;
static void tmf_done(void *ctx, enum vs_tmf_response resp)
{
	(void)ctx;
	tmf_resp = (int)resp;
}

static void expect_error(const char *msg)
{
	assert_string_equal(vs_last_error(), msg);
	vs_set_error("stale");          /* the next check must set its own */
}

static void test_null_port(void **state)
{
	struct vs_lun_stats st;
	uint64_t luns[4];
	struct vs_work w = { NULL, NULL };
	(void)state;

	vs_set_error("stale");
	assert_int_equal(vs_port_lun_add(NULL, 0, NULL), -EINVAL);
	expect_error("lun_add: port is NULL");
	assert_int_equal(vs_port_lun_remove(NULL, 0, true), -EINVAL);
	expect_error("lun_remove: port is NULL");
	assert_int_equal(vs_port_lun_control(NULL, 0, VS_LUN_FLUSH, NULL), -EINVAL);
	expect_error("lun_control: port is NULL");
	assert_int_equal(vs_port_lun_stats(NULL, 0, &st), -EINVAL);
	expect_error("lun_stats: port is NULL");
	assert_int_equal(vs_port_lun_list(NULL, luns, 4), 0);
	expect_error("lun_list: port is NULL");
	assert_null(vs_srb_pool_create(NULL, 4, 0));
	expect_error("srb_pool: port is NULL");
	assert_int_equal(vs_port_queue_work(NULL, &w), -EINVAL);
	expect_error("queue_work: port is NULL");
	vs_port_pause(NULL, 100);
	expect_error("pause: port is NULL");
	vs_port_resume(NULL);
	expect_error("resume: port is NULL");
	vs_port_bus_changed(NULL);
	expect_error("bus_changed: port is NULL");
	assert_null(vs_port_nexus_by_id(NULL, 0));
	expect_error("nexus_by_id: port is NULL");
	assert_null(vs_port_adapter_ext(NULL));
	expect_error("adapter_ext: port is NULL");
	vs_port_set_event_handler(NULL, NULL, NULL);
	expect_error("set_event_handler: port is NULL");
	vs_port_nexus_close(NULL, NULL);
	expect_error("nexus_close: port is NULL");
	vs_port_nexus_abort_all(NULL, NULL);
	expect_error("nexus_abort_all: port is NULL");
	assert_null(vs_port_nexus_open(NULL, "n", "n", NULL, 0));
	expect_error("nexus: port is NULL");
	/* a TMF without a port is answered, not dropped */
	vs_port_task_mgmt(NULL, NULL, VS_TMF_ABORT_TASK_SET, 0, 0, tmf_done, NULL);
	assert_int_equal(tmf_resp, VS_TMF_REJECTED);
	expect_error("task_mgmt: port is NULL");
	vs_port_task_mgmt(NULL, NULL, VS_TMF_ABORT_TASK_SET, 0, 0, NULL, NULL);
	expect_error("task_mgmt: done is NULL");
	/* port services a miniport calls */
	vs_port_busy(NULL, 1);
	expect_error("busy: lun is NULL");
	vs_port_ready(NULL);
	expect_error("ready: lun is NULL");
	vs_port_complete(NULL);
	expect_error("complete: srb is NULL");
	vs_port_lun_unit_attention(NULL, ASC_MODE_PARAMETERS_CHANGED, NULL);
	expect_error("lun_unit_attention: lun is NULL");
	vs_port_nexus_unit_attention(NULL, NULL, ASC_MODE_PARAMETERS_CHANGED);
	expect_error("nexus_unit_attention: lun is NULL");
	assert_int_equal(vs_port_lun_number(NULL), UINT64_MAX);
	expect_error("lun_number: lun is NULL");
	assert_null(vs_port_lun_port(NULL));
	expect_error("lun_port: lun is NULL");
	assert_int_equal(vs_lun_stats_percentile_us(NULL, 50), 0);
	expect_error("percentile: stats is NULL");
	/* SRB pools */
	assert_null(vs_srb_get(NULL));
	expect_error("srb_get: pool is NULL");
	size_t len = 99;
	assert_null(vs_srb_buffer(NULL, &len));
	assert_int_equal(len, 0);
	expect_error("srb_buffer: srb is NULL");
	vs_srb_put(NULL);
	vs_srb_pool_destroy(NULL);
	vs_port_destroy(NULL);
}

static void test_null_args_with_port(void **state)
{
	struct mock *m = mock_new(MOCK_INLINE);
	struct tf *tf = tf_create(&mock_miniport, NULL, m);
	struct vs_port *p = tf_port(tf);
	struct vs_work w = { NULL, NULL };
	(void)state;

	assert_non_null(tf);
	assert_int_equal(vs_port_lun_add(p, 0, NULL), 0);
	vs_port_submit(p, NULL);
	expect_error("submit: srb is NULL");
	assert_int_equal(vs_port_lun_stats(p, 0, NULL), -EINVAL);
	expect_error("lun_stats: out is NULL");
	assert_int_equal(vs_port_lun_list(p, NULL, 4), 0);
	expect_error("lun_list: luns is NULL");
	assert_int_equal(vs_port_lun_list(p, NULL, 0), 0);      /* nothing asked: fine */
	assert_int_equal(vs_port_queue_work(p, NULL), -EINVAL);
	expect_error("queue_work: work is NULL");
	assert_int_equal(vs_port_queue_work(p, &w), -EINVAL);
	expect_error("queue_work: work.fn must be set");
	vs_port_nexus_close(p, NULL);
	expect_error("nexus_close: nexus is NULL");
	vs_port_nexus_abort_all(p, NULL);
	expect_error("nexus_abort_all: nexus is NULL");
	vs_port_nexus_unit_attention(m->luns[0], NULL, ASC_MODE_PARAMETERS_CHANGED);
	expect_error("nexus_unit_attention: nexus is NULL");

	/* an SRB without done() cannot be completed: refused */
	struct vs_srb *srb = vs_srb_get(tf_pool(tf));
	assert_non_null(srb);
	srb->cdb[0] = TEST_UNIT_READY;
	srb->cdb_len = 6;
	vs_port_submit(p, srb);
	expect_error("submit: srb.done must be set");
	/* an SRB the port never started is not the miniport's to complete */
	vs_port_complete(srb);
	expect_error("complete: srb was not started by the port");
	/* without a port: completed once, as an internal error */
	srb->done = count_done;
	done_calls = 0;
	vs_port_submit(NULL, srb);
	assert_int_equal(done_calls, 1);
	assert_int_equal(srb->srb_status, VS_SRB_ERROR);
	assert_int_equal(srb->scsi_status, SAM_STAT_CHECK_CONDITION);
	struct tf_result r;
	tf_parse_sense(srb->sense, srb->sense_len, &r);
	assert_int_equal(r.sense_key, SENSE_HARDWARE_ERROR);
	assert_int_equal(r.asc, 0x44);
	expect_error("submit: port is NULL");
	vs_srb_put(srb);
	tf_destroy(tf);
	mock_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_port),
		cmocka_unit_test(test_null_args_with_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
