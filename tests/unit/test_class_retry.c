/* SPDX-License-Identifier: MIT */
/*
 * The class layer's retry table (class.h), rule by rule, against a mock
 * disk answering with scripted status and sense in both formats (SPC-4
 * 4.5.2 descriptor, 4.5.3 fixed): unit attentions are retried at once and
 * reported upward, BUSY / TASK SET FULL / becoming ready back off up to
 * the deadline, and answers become the errno the table says, after
 * exactly the number of tries it says.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "class_mock.h"
#include "vstor/scsi.h"

#define MS 1000000ull

static struct cm_rule sense_rule(uint8_t key, uint16_t asc_ascq, bool descriptor, uint32_t count)
{
	return (struct cm_rule){ .opcode = READ_16, .count = count,
	                         .status = SAM_STAT_CHECK_CONDITION, .key = key,
	                         .asc_ascq = asc_ascq, .descriptor = descriptor };
}

static void open_disk(struct ch *h, struct cm **m, uint32_t deadline_ms)
{
	*m = cm_new();
	assert_int_equal(ch_open_deadline(h, *m, 0, 0, 0, deadline_ms), 0);
}

static void close_disk(struct ch *h, struct cm *m)
{
	ch_close(h);
	cm_free(m);
}

static void test_unit_attention_retried_and_reported(void **state)
{
	(void)state;
	for (int desc = 0; desc < 2; desc++) {
		struct cm *m;
		struct ch h;
		uint8_t buf[512];

		open_disk(&h, &m, 0);
		cm_rule(m, sense_rule(SENSE_UNIT_ATTENTION, ASC_MODE_PARAMETERS_CHANGED, desc, 1));
		assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 0, 512, buf), 0);
		assert_int_equal(cm_count(m, READ_16), 2);
		assert_int_equal(ch_event_count(&h, VS_DISK_EV_UNIT_ATTENTION,
		                                ASC_MODE_PARAMETERS_CHANGED), 1);
		assert_int_equal(ch_event_count(&h, VS_DISK_EV_CAPACITY, 0), 0);
		close_disk(&h, m);
	}
}

static void test_capacity_change_rereads_capacity(void **state)
{
	struct cm *m;
	struct ch h;
	struct vs_disk_info in;
	uint8_t buf[512];
	(void)state;

	open_disk(&h, &m, 0);
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 3000 * 512, 512, buf), -EINVAL);
	m->blocks = 4096;               /* the LUN grew */
	cm_rule(m, sense_rule(SENSE_UNIT_ATTENTION, ASC_CAPACITY_DATA_HAS_CHANGED, true, 1));
	int caps = cm_count(m, SERVICE_ACTION_IN_16);
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 0, 512, buf), 0);
	assert_int_equal(cm_count(m, SERVICE_ACTION_IN_16), caps + 1);
	assert_int_equal(ch_event_count(&h, VS_DISK_EV_UNIT_ATTENTION,
	                                ASC_CAPACITY_DATA_HAS_CHANGED), 1);
	assert_int_equal(ch_event_count(&h, VS_DISK_EV_CAPACITY, 0), 1);
	assert_int_equal(h.events[h.nevents - 1].type, VS_DISK_EV_CAPACITY);
	assert_int_equal(h.events[h.nevents - 1].capacity_bytes, 4096ull * 512);
	vs_disk_info(h.disk, &in);
	assert_int_equal(in.capacity_bytes, 4096ull * 512);
	/* and the new blocks can be reached */
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 3000 * 512, 512, buf), 0);
	close_disk(&h, m);
}

static void test_immediate_retries_are_bounded(void **state)
{
	(void)state;
	/* every rule that retries at once gives up after 8 retries: -EIO */
	struct cm_rule rules[] = {
		sense_rule(SENSE_UNIT_ATTENTION, ASC_POWER_ON_OCCURRED, false, 100),
		sense_rule(SENSE_ABORTED_COMMAND, 0x4700, true, 100),
		sense_rule(SENSE_NO_SENSE, 0, false, 100),
		{ .opcode = READ_16, .count = 100, .status = SAM_STAT_TASK_ABORTED },
		{ .opcode = READ_16, .count = 100, .srb_status = VS_SRB_BUS_RESET },
		{ .opcode = READ_16, .count = 100, .status = SAM_STAT_CHECK_CONDITION,
		  .key = SENSE_MEDIUM_ERROR, .asc_ascq = ASC_UNRECOVERED_READ_ERROR,
		  .deferred = true },
		{ .opcode = READ_16, .count = 100, .status = SAM_STAT_CHECK_CONDITION,
		  .key = SENSE_HARDWARE_ERROR, .asc_ascq = ASC_INTERNAL_TARGET_FAILURE,
		  .deferred = true, .descriptor = true },
	};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		struct cm *m;
		struct ch h;
		uint8_t buf[512];

		open_disk(&h, &m, 0);
		cm_rule(m, rules[i]);
		assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 0, 512, buf), -EIO);
		assert_int_equal(cm_count(m, READ_16), 1 + 8);
		close_disk(&h, m);

		/* and one such answer is simply retried */
		open_disk(&h, &m, 0);
		rules[i].count = 1;
		cm_rule(m, rules[i]);
		assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 0, 512, buf), 0);
		assert_int_equal(cm_count(m, READ_16), 2);
		rules[i].count = 100;
		close_disk(&h, m);
	}
}

/* Run a read that backs off `busy` times; check the steps double from 1 ms. */
static void backoff_then_success(struct cm_rule r, uint32_t busy)
{
	struct cm *m;
	struct ch h;
	uint8_t buf[512];

	open_disk(&h, &m, 0);
	r.count = busy;
	cm_rule(m, r);
	struct ch_req *q = ch_submit(&h, VS_BLK_READ, 0, 0, 512, buf);
	uint64_t step = MS;
	for (uint32_t i = 0; i < busy; i++) {
		assert_int_equal(q->done, 0);               /* waiting, not failed */
		assert_int_equal(h.armed_ns, h.now_ns + step);
		assert_int_equal(cm_count(m, READ_16), (int)i + 1);
		assert_true(ch_fire(&h));
		step *= 2;
	}
	assert_int_equal(q->done, 1);
	assert_int_equal(q->result, 0);
	assert_int_equal(cm_count(m, READ_16), (int)busy + 1);
	assert_int_equal(h.armed_ns, VS_DISK_TIMER_OFF);     /* nothing left to wake for */
	ch_put(q);
	close_disk(&h, m);
}

static void test_backoff_rules(void **state)
{
	(void)state;
	backoff_then_success((struct cm_rule){ .opcode = READ_16, .status = SAM_STAT_BUSY }, 3);
	backoff_then_success((struct cm_rule){ .opcode = READ_16, .status = SAM_STAT_TASK_SET_FULL }, 2);
	backoff_then_success(sense_rule(SENSE_NOT_READY, ASC_LUN_BECOMING_READY, false, 0), 4);
	backoff_then_success(sense_rule(SENSE_NOT_READY, ASC_LUN_BECOMING_READY, true, 0), 1);
}

static void test_backoff_deadline(void **state)
{
	struct cm *m;
	struct ch h;
	uint8_t buf[512];
	(void)state;

	/* deadline 10 ms: tries at 0, 1, 3, 7 ms and the last at exactly 10 */
	open_disk(&h, &m, 10);
	cm_rule(m, (struct cm_rule){ .opcode = READ_16, .count = 1000, .status = SAM_STAT_BUSY });
	uint64_t t0 = h.now_ns;
	struct ch_req *q = ch_submit(&h, VS_BLK_READ, 0, 0, 512, buf);
	const uint64_t at[] = { 1, 3, 7, 10 };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(h.armed_ns, t0 + at[i] * MS);
		assert_true(ch_fire(&h));
	}
	assert_int_equal(q->done, 1);
	assert_int_equal(q->result, -ETIMEDOUT);
	assert_int_equal(cm_count(m, READ_16), 5);
	ch_put(q);
	close_disk(&h, m);

	/* steps stop doubling at 100 ms */
	open_disk(&h, &m, 1000);
	cm_rule(m, sense_rule(SENSE_NOT_READY, ASC_LUN_BECOMING_READY, true, 9));
	q = ch_submit(&h, VS_BLK_READ, 0, 0, 512, buf);
	const uint64_t step[] = { 1, 2, 4, 8, 16, 32, 64, 100, 100 };
	for (int i = 0; i < 9; i++) {
		assert_int_equal(h.armed_ns - h.now_ns, step[i] * MS);
		assert_true(ch_fire(&h));
	}
	assert_int_equal(q->done, 1);
	assert_int_equal(q->result, 0);
	ch_put(q);
	close_disk(&h, m);
}

struct errno_case {
	uint8_t key;
	uint16_t asc_ascq;
	int err;
};

static void test_errno_mapping_both_formats(void **state)
{
	const struct errno_case cases[] = {
		{ SENSE_RECOVERED_ERROR, 0x1700, 0 },
		{ SENSE_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR, -EIO },
		{ SENSE_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE, -EIO },
		{ SENSE_ILLEGAL_REQUEST, ASC_INVALID_COMMAND_OPERATION_CODE, -EOPNOTSUPP },
		{ SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, -EINVAL },
		{ SENSE_ILLEGAL_REQUEST, ASC_LOGICAL_UNIT_NOT_SUPPORTED, -ENODEV },
		{ SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, -EINVAL },
		{ SENSE_DATA_PROTECT, ASC_SPACE_ALLOCATION_FAILED_WRITE_PROTECT, -ENOSPC },
		{ SENSE_DATA_PROTECT, ASC_WRITE_PROTECTED, -EROFS },
		{ SENSE_DATA_PROTECT, 0x7471, -EACCES },
		{ SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT, -ENOMEDIUM },
		{ SENSE_NOT_READY, ASC_LUN_NOT_READY_MANUAL_INTERVENTION, -EIO },
		{ SENSE_BLANK_CHECK, 0, -EIO },
		{ SENSE_MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY, -EILSEQ },
		{ 0x9, 0, -EIO },       /* vendor specific */
	};
	(void)state;
	for (int desc = 0; desc < 2; desc++)
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct cm *m;
			struct ch h;
			uint8_t buf[512];

			open_disk(&h, &m, 0);
			cm_rule(m, sense_rule(cases[i].key, cases[i].asc_ascq, desc, 1));
			int rc = ch_run(&h, VS_BLK_READ, 0, 0, 512, buf);
			if (rc != cases[i].err)
				fail_msg("key %x asc %04x %s: got %d, want %d", cases[i].key,
				         cases[i].asc_ascq, desc ? "descriptor" : "fixed", rc,
				         cases[i].err);
			assert_int_equal(cm_count(m, READ_16), 1);      /* no retry */
			close_disk(&h, m);
		}
}

static void test_status_and_srb_status_mapping(void **state)
{
	const struct { struct cm_rule r; int err; } cases[] = {
		{ { .status = SAM_STAT_RESERVATION_CONFLICT }, -EBADE },
		{ { .status = SAM_STAT_ACA_ACTIVE }, -EIO },
		{ { .status = SAM_STAT_CHECK_CONDITION, .bad_sense = true }, -EIO },
		{ { .srb_status = VS_SRB_ABORTED }, -ECANCELED },
		{ { .srb_status = VS_SRB_TIMEOUT }, -ETIMEDOUT },
		{ { .srb_status = VS_SRB_NO_DEVICE }, -ENODEV },
		{ { .srb_status = VS_SRB_ERROR }, -EIO },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cm *m;
		struct ch h;
		uint8_t buf[512];
		struct cm_rule r = cases[i].r;

		open_disk(&h, &m, 0);
		r.opcode = WRITE_16;
		r.count = 1;
		cm_rule(m, r);
		assert_int_equal(ch_run(&h, VS_BLK_WRITE, 0, 0, 512, buf), cases[i].err);
		assert_int_equal(cm_count(m, WRITE_16), 1);
		close_disk(&h, m);
	}
	/* GOOD with less data than asked (SAM-5 5.1 underflow): a read that
	 * did not bring the blocks is an error, not a success */
	struct cm *m;
	struct ch h;
	uint8_t buf[1024];

	open_disk(&h, &m, 0);
	cm_rule(m, (struct cm_rule){ .opcode = READ_16, .count = 1, .short_read = true });
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 0, 1024, buf), -EIO);
	close_disk(&h, m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unit_attention_retried_and_reported),
		cmocka_unit_test(test_capacity_change_rereads_capacity),
		cmocka_unit_test(test_immediate_retries_are_bounded),
		cmocka_unit_test(test_backoff_rules),
		cmocka_unit_test(test_backoff_deadline),
		cmocka_unit_test(test_errno_mapping_both_formats),
		cmocka_unit_test(test_status_and_srb_status_mapping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
