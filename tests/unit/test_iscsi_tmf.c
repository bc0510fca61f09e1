/* SPDX-License-Identifier: MIT */
/*
 * Task management through iSCSI (RFC 7143 §11.5, §11.6): ABORT TASK SET and
 * CLEAR TASK SET end the writes still waiting for their data without a SCSI
 * Response (the TMF response speaks for them, §11.6.2) and drop their late
 * Data-Out quietly; TARGET WARM RESET does the same for every LUN and
 * leaves a unit attention for every session, whose connections stay (unlike
 * TARGET COLD RESET, see test_iscsi_conn.c).  The session goes on after
 * each.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <unistd.h>

#include "vstor/scsi.h"
#include "iscsi_harness.h"

#define LEN 8192u

static uint8_t out[LEN];
static const uint8_t tur[6];

static struct cl *client(struct fx *f, const uint8_t *isid)
{
	struct login_opts o = { .initial_r2t = true, .first_burst = 4096, .isid = isid };
	struct cl *cl = new_client(f, &o);

	clear_ua(cl);
	return cl;
}

/* Two writes waiting for their solicited data; their TTTs in ttt[]. */
static void two_waiting_writes(struct cl *cl, uint32_t itt, uint32_t *ttt)
{
	ttt[0] = write_until_r2t(cl, itt, 0, LEN, out, 4096);
	ttt[1] = write_until_r2t(cl, itt + 1, 64, LEN, out, 4096);
}

/* The TMF answered "Function complete", then (§11.6.2) the initiator's
 * late answers to the R2Ts are dropped without a word, nothing else was
 * queued (the ping echo comes next) and new commands run. */
static void after_tmf(struct cl *cl, uint32_t itt, const uint32_t *ttt, uint32_t ping_itt)
{
	struct result r;
	uint8_t cdb[10];

	send_data_out(cl, itt, ttt[0], 0, 4096, out, 4096, true);
	send_data_out(cl, itt + 1, ttt[1], 0, 4096, out, 4096, true);
	ping(cl, ping_itt);
	rw10(cdb, WRITE_10, 128, LEN / BLK);
	exec(cl, cdb, 10, ISCSI_CMD_WRITE, LEN, out, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
}

static void test_abort_task_set(void **state)
{
	struct fx *f = *state;
	struct cl *a = client(f, NULL);
	struct cl *b = client(f, (const uint8_t[6]){ 0x80, 0, 0, 0, 0, 2 });
	uint32_t ttt[2], bttt;
	struct result r;

	fill(out, sizeof(out), 5);
	two_waiting_writes(a, 0x100, ttt);
	bttt = write_until_r2t(b, 0x200, 256, LEN, out, 4096);
	send_tmf(a, ISCSI_TMF_ABORT_TASK_SET, 0x110, ISCSI_RESERVED_TAG, 0);
	assert_int_equal(tmf_response(a, 0x110), 0);
	after_tmf(a, 0x100, ttt, 0x111);
	/* Only the requester's task set (SAM-5 7.3): the other session's write
	 * completes. */
	send_data_out(b, 0x200, bttt, 0, 4096, out, 4096, true);
	assert_int_equal(recv_pdu(b, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_SCSI_RESP);
	assert_int_equal(be32(rx.bhs + 16), 0x200);
	assert_int_equal(rx.bhs[3], SAM_STAT_GOOD);
	b->exp_statsn++;
	exec(b, tur, 6, 0, 0, NULL, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	close(a->fd);
	close(b->fd);
}

static void test_clear_task_set(void **state)
{
	struct fx *f = *state;
	struct cl *a = client(f, NULL);
	uint32_t ttt[2];

	fill(out, sizeof(out), 6);
	two_waiting_writes(a, 0x300, ttt);
	send_tmf(a, ISCSI_TMF_CLEAR_TASK_SET, 0x310, ISCSI_RESERVED_TAG, 0);
	assert_int_equal(tmf_response(a, 0x310), 0);
	after_tmf(a, 0x300, ttt, 0x311);
	close(a->fd);
}

static void expect_reset_ua(struct cl *cl)
{
	struct result r;

	/* SAM-5 6.3: a reset leaves POWER ON, RESET, OR BUS DEVICE RESET
	 * OCCURRED (29/xx) for every I_T nexus. */
	exec(cl, tur, 6, 0, 0, NULL, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);
	assert_int_equal(r.asc, 0x29);
	clear_ua(cl);
}

static void test_target_warm_reset(void **state)
{
	struct fx *f = *state;
	struct cl *a = client(f, NULL);
	struct cl *b = client(f, (const uint8_t[6]){ 0x80, 0, 0, 0, 0, 3 });
	uint32_t ttt[2];

	fill(out, sizeof(out), 7);
	two_waiting_writes(a, 0x400, ttt);
	send_tmf(a, ISCSI_TMF_TARGET_WARM_RESET, 0x410, ISCSI_RESERVED_TAG, 0);
	assert_int_equal(tmf_response(a, 0x410), 0);
	/* Unlike a cold reset, nobody's connection goes. */
	expect_reset_ua(a);
	after_tmf(a, 0x400, ttt, 0x411);
	expect_reset_ua(b);
	ping(b, 0x412);
	close(a->fd);
	close(b->fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_abort_task_set, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_clear_task_set, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_target_warm_reset, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
