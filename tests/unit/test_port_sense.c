/* SPDX-License-Identifier: MIT */
/*
 * The port's own sense follows the format a miniport gave the LUN with
 * vs_port_lun_set_sense_format (its D_SENSE, SPC-4 4.5.1): unit
 * attentions, the miniport's vs_srb_set_sense, REPORT LUNS errors, command
 * timeouts (2Eh/02h), LOGICAL UNIT NOT SUPPORTED for the commands a forced
 * removal takes back; a LUN number with no logical unit stays fixed format.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_fabric.h"
#include "test_port_mock.h"
#include "test_sense_check.h"

static const uint8_t tur[6] = { TEST_UNIT_READY };

static struct tf *mk(struct mock **m, uint32_t timeout_ms)
{
	struct vs_port_config cfg = { .default_timeout_ms = timeout_ms, .abort_timeout_ms = 40 };

	*m = mock_new(MOCK_INLINE);
	struct tf *tf = tf_create(&mock_miniport, &cfg, *m);
	assert_non_null(tf);
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	assert_int_equal(vs_port_lun_add(tf_port(tf), 1, NULL), 0);
	return tf;
}

static void finish(struct tf *tf, struct mock *m)
{
	mock_complete_all(m);
	assert_int_equal(tf_double_completions(tf), 0);
	tf_destroy(tf);
	assert_int_equal(m->attached, m->detached);
	mock_free(m);
}

static void exec_check(struct tf *tf, struct vs_nexus *n, uint64_t lun, const uint8_t *cdb,
                       size_t len, bool desc, uint8_t key, uint16_t asc_ascq,
                       struct tf_result *r)
{
	assert_int_equal(tf_exec(tf, n, lun, cdb, len, VS_DIR_NONE, NULL, 0, r), 0);
	assert_int_equal(r->status, SAM_STAT_CHECK_CONDITION);
	if (desc)
		assert_desc_sense(r->sense, r->sense_len, key, asc_ascq);
	else
		assert_fixed_sense(r->sense, r->sense_len, key, asc_ascq);
}

static void test_format_follows_the_lun(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, 5000);
	struct tf_result r;
	uint8_t rl[12] = { REPORT_LUNS }, unknown[6] = { 0xc5 };
	(void)state;

	/* a LUN starts in fixed format */
	assert_false(vs_port_lun_sense_descriptor(tf_port(tf), 0));
	vs_port_lun_set_sense_format(m->luns[0], true);
	assert_true(vs_port_lun_sense_descriptor(tf_port(tf), 0));
	assert_false(vs_port_lun_sense_descriptor(tf_port(tf), 1));
	assert_false(vs_port_lun_sense_descriptor(tf_port(tf), 7));
	assert_false(vs_port_lun_sense_descriptor(NULL, 0));

	/* unit attentions: POWER ON for a new nexus, then one a miniport raises */
	struct vs_nexus *n = tf_nexus(tf, "iqn.a");
	exec_check(tf, n, 0, tur, 6, true, SENSE_UNIT_ATTENTION, ASC_POWER_ON_RESET_OR_BUS_RESET, &r);
	exec_check(tf, n, 1, tur, 6, false, SENSE_UNIT_ATTENTION, ASC_POWER_ON_RESET_OR_BUS_RESET, &r);
	vs_port_lun_unit_attention(m->luns[0], ASC_CAPACITY_DATA_HAS_CHANGED, NULL);
	exec_check(tf, n, 0, tur, 6, true, SENSE_UNIT_ATTENTION, ASC_CAPACITY_DATA_HAS_CHANGED, &r);
	vs_port_bus_changed(tf_port(tf));
	exec_check(tf, n, 0, tur, 6, true, SENSE_UNIT_ATTENTION, ASC_REPORTED_LUNS_DATA_HAS_CHANGED,
	           &r);
	exec_check(tf, n, 1, tur, 6, false, SENSE_UNIT_ATTENTION,
	           ASC_REPORTED_LUNS_DATA_HAS_CHANGED, &r);

	/* the miniport's vs_srb_set_sense (the mock's unknown opcode) */
	exec_check(tf, n, 0, unknown, 6, true, SENSE_ILLEGAL_REQUEST,
	           ASC_INVALID_COMMAND_OPERATION_CODE, &r);
	exec_check(tf, n, 1, unknown, 6, false, SENSE_ILLEGAL_REQUEST,
	           ASC_INVALID_COMMAND_OPERATION_CODE, &r);

	/* REPORT LUNS with an allocation length below 16, sent to LUN 0 */
	rl[9] = 8;
	exec_check(tf, n, 0, rl, 12, true, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, &r);
	assert_desc_field_ptr(r.sense, r.sense_len, true, 6, 7);

	/* no logical unit: fixed format */
	exec_check(tf, n, 7, tur, 6, false, SENSE_ILLEGAL_REQUEST, ASC_LOGICAL_UNIT_NOT_SUPPORTED,
	           &r);

	/* the miniport turns it off again */
	vs_port_lun_set_sense_format(m->luns[0], false);
	exec_check(tf, n, 0, unknown, 6, false, SENSE_ILLEGAL_REQUEST,
	           ASC_INVALID_COMMAND_OPERATION_CODE, &r);
	finish(tf, m);
}

/* Sense the port makes when it takes commands back from the miniport. */
static void test_taken_back(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, 100);
	struct tf_result r;
	(void)state;

	vs_port_lun_set_sense_format(m->luns[0], true);
	struct vs_nexus *n = tf_nexus(tf, "iqn.a");
	assert_int_equal(tf_clear_ua(tf, n, 0), 0);
	m->mode = MOCK_MANUAL;

	/* a timeout: ABORTED COMMAND / COMMAND TIMEOUT DURING PROCESSING */
	struct tf_task *t = tf_submit(tf, n, 0, tur, 6, VS_DIR_NONE, NULL, 0);
	assert_non_null(t);
	assert_int_equal(tf_wait_ms(t, &r, 5000), 0);
	assert_int_equal(r.srb_status, VS_SRB_TIMEOUT);
	assert_desc_sense(r.sense, r.sense_len, SENSE_ABORTED_COMMAND, 0x2e02);
	mock_complete_all(m);

	/* a forced removal: LOGICAL UNIT NOT SUPPORTED for what it had, in
	 * the format of the logical unit the command was sent to */
	m->mode = MOCK_INLINE;
	assert_int_equal(tf_clear_ua(tf, n, 0), 0);     /* the timeout's LUN reset */
	m->mode = MOCK_MANUAL;
	t = tf_submit_ex(tf, n, 0, tur, 6, VS_DIR_NONE, NULL, 0, VS_TASK_SIMPLE, 9, 60000);
	assert_non_null(t);
	assert_int_equal(mock_npending(m), 1);
	assert_int_equal(vs_port_lun_remove(tf_port(tf), 0, true), 0);
	assert_int_equal(tf_wait(t, &r), 0);
	assert_int_equal(r.srb_status, VS_SRB_NO_DEVICE);
	assert_desc_sense(r.sense, r.sense_len, SENSE_ILLEGAL_REQUEST,
	                  ASC_LOGICAL_UNIT_NOT_SUPPORTED);
	/* gone: a new command finds no logical unit */
	exec_check(tf, n, 0, tur, 6, false, SENSE_ILLEGAL_REQUEST, ASC_LOGICAL_UNIT_NOT_SUPPORTED,
	           &r);
	/* and a new LUN under its number starts in fixed format */
	mock_complete_all(m);
	m->mode = MOCK_INLINE;
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	exec_check(tf, n, 0, tur, 6, false, SENSE_UNIT_ATTENTION, ASC_POWER_ON_RESET_OR_BUS_RESET,
	           &r);
	finish(tf, m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_follows_the_lun),
		cmocka_unit_test(test_taken_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
