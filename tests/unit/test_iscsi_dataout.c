/* SPDX-License-Identifier: MIT */
/*
 * Data-Out that breaks the rules (RFC 7143 §11.7): a wrong DataSN, buffer
 * offset or Target Transfer Tag ends its command with CHECK CONDITION /
 * ABORTED COMMAND and the SPC-4 data-phase sense (the connection and the
 * other tasks go on); Data-Out for an ITT the target does not know gets a
 * Reject (§11.17.1 "Invalid PDU field") -- unless the task named is one
 * that just ended while its data could still be on the wire (aborted,
 * answered early, refused), whose late Data-Out is dropped without a word.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "vstor/scsi.h"
#include "iscsi_harness.h"

#define LEN 16384u

static uint8_t out[LEN];

/* A WRITE of LEN bytes with 4096 immediate (InitialR2T=Yes); returns the
 * TTT of the R2T that solicits the rest (offset 4096, LEN - 4096 bytes). */
static uint32_t start_write(struct cl *cl, uint32_t itt, uint32_t lba)
{
	uint32_t ttt = write_until_r2t(cl, itt, lba, LEN, out, 4096);

	assert_int_equal(be32(rx.bhs + 44), LEN - 4096);
	return ttt;
}

static void expect_sense(struct cl *cl, uint32_t itt, uint8_t key, uint8_t asc, uint8_t ascq)
{
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_SCSI_RESP);
	assert_int_equal(be32(rx.bhs + 16), itt);
	assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);
	cl->exp_statsn++;
	assert_int_equal(rx.bhs[3], SAM_STAT_CHECK_CONDITION);
	assert_true(rx.dlen >= 2 + 14);
	assert_int_equal(rx.data[2 + 2] & 0xf, key);
	assert_int_equal(rx.data[2 + 12], asc);
	assert_int_equal(rx.data[2 + 13], ascq);
}

static struct cl *client(void **state)
{
	struct login_opts o = { .first_burst = 4096, .initial_r2t = true };
	struct cl *cl = new_client(*state, &o);

	clear_ua(cl);
	fill(out, sizeof(out), 7);
	return cl;
}

static void test_wrong_datasn(void **state)
{
	struct cl *cl = client(state);
	uint32_t ttt = start_write(cl, 0x100, 0);

	/* §11.7.4: DataSN starts at 0 for each R2T. */
	send_data_out(cl, 0x100, ttt, 1, 4096, out, 4096, false);
	expect_sense(cl, 0x100, SENSE_ABORTED_COMMAND, 0x4b, 0x00);   /* DATA PHASE ERROR */
	/* The rest of its data is dropped quietly; the next PDU is the echo. */
	send_data_out(cl, 0x100, ttt, 2, 8192, out, 8192, true);
	ping(cl, 0x101);
	close(cl->fd);
}

static void test_wrong_offset(void **state)
{
	struct cl *cl = client(state);
	uint32_t ttt = start_write(cl, 0x200, 0);

	/* §11.7.5: in order, from the R2T's offset. */
	send_data_out(cl, 0x200, ttt, 0, 8192, out, 4096, false);
	expect_sense(cl, 0x200, SENSE_ABORTED_COMMAND, 0x4b, 0x05);   /* DATA OFFSET ERROR */
	ping(cl, 0x201);
	close(cl->fd);
}

static void test_wrong_ttt(void **state)
{
	struct cl *cl = client(state);
	uint32_t ttt = start_write(cl, 0x300, 0);

	send_data_out(cl, 0x300, ttt ^ 0x8000, 0, 4096, out, 4096, false);
	/* INVALID TARGET PORT TRANSFER TAG RECEIVED (SPC-4) */
	expect_sense(cl, 0x300, SENSE_ABORTED_COMMAND, 0x4b, 0x01);
	ping(cl, 0x301);
	close(cl->fd);
}

static void test_unknown_itt(void **state)
{
	struct cl *cl = client(state);
	uint8_t cdb[10];
	struct result r;

	/* Never used, with a TTT the target might have issued and with the
	 * reserved TTT: both are protocol errors (§11.17.1, reason 9). */
	send_data_out(cl, 0xdead, 0x00010001, 0, 0, out, 512, true);
	assert_int_equal(expect_reject(cl), ISCSI_REJECT_INVALID_PDU_FIELD);
	assert_int_equal(rx.data[0] & 0x3f, ISCSI_OP_DATA_OUT);
	assert_int_equal(be32(rx.data + 16), 0xdead);
	send_data_out(cl, 0xbeef, ISCSI_RESERVED_TAG, 0, 0, out, 512, true);
	assert_int_equal(expect_reject(cl), ISCSI_REJECT_INVALID_PDU_FIELD);
	/* A write that ended normally takes no more data either. */
	rw10(cdb, WRITE_10, 8, 8);
	exec(cl, cdb, 10, ISCSI_CMD_WRITE, 4096, out, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	send_data_out(cl, cl->itt - 1, ISCSI_RESERVED_TAG, 0, 0, out, 512, true);
	assert_int_equal(expect_reject(cl), ISCSI_REJECT_INVALID_PDU_FIELD);
	/* Nothing else changed: the session goes on. */
	ping(cl, 0x401);
	rw10(cdb, READ_10, 8, 8);
	{
		static uint8_t in[4096];

		exec(cl, cdb, 10, ISCSI_CMD_READ, 4096, NULL, in, &r);
		assert_int_equal(r.status, SAM_STAT_GOOD);
		assert_memory_equal(in, out, 4096);
	}
	close(cl->fd);
}

static void test_late_data_for_aborted_task(void **state)
{
	struct cl *cl = client(state);
	uint32_t cmdsn = cl->cmdsn;
	uint32_t ttt = start_write(cl, 0x500, 0);

	/* RFC 7143 §11.6.2: the initiator keeps answering the R2Ts of tasks a
	 * task management function affects; the target drops that data. */
	send_tmf(cl, ISCSI_TMF_ABORT_TASK, 0x501, 0x500, cmdsn);
	assert_int_equal(tmf_response(cl, 0x501), 0);
	send_data_out(cl, 0x500, ttt, 0, 4096, out, 4096, false);
	send_data_out(cl, 0x500, ttt, 1, 8192, out, 8192, true);
	ping(cl, 0x502);
	close(cl->fd);
}

static void test_late_data_for_early_answer(void **state)
{
	struct login_opts o = { .first_burst = 65536 };     /* InitialR2T=No */
	struct cl *cl = new_client(*state, &o);
	uint8_t bhs[48], cdb[10];

	clear_ua(cl);
	/* More than the largest transfer: answered at once (INVALID FIELD IN
	 * CDB) while its unsolicited Data-Out (F=0) is still coming. */
	rw10(cdb, WRITE_10, 0, 0xffff);
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, 16u << 20, false, 0x600);
	send_pdu(cl, bhs, NULL, 0);
	expect_sense(cl, 0x600, SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	send_data_out(cl, 0x600, ISCSI_RESERVED_TAG, 0, 0, out, 8192, false);
	send_data_out(cl, 0x600, ISCSI_RESERVED_TAG, 1, 8192, out, 8192, true);
	ping(cl, 0x601);
	/* The same for a write the target refused (Reject): its unsolicited
	 * data is not the initiator's second mistake. */
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE | ISCSI_CMD_READ, 8192, false, 0x602);
	send_pdu(cl, bhs, NULL, 0);
	assert_int_equal(expect_reject(cl), ISCSI_REJECT_CMD_NOT_SUPPORTED);
	cl->cmdsn--;
	send_data_out(cl, 0x602, ISCSI_RESERVED_TAG, 0, 0, out, 8192, true);
	ping(cl, 0x603);
	close(cl->fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wrong_datasn, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_wrong_offset, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_wrong_ttt, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_itt, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_late_data_for_aborted_task, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_late_data_for_early_answer, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
