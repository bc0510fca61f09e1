/* SPDX-License-Identifier: MIT */
/*
 * Malformed PDUs in full feature phase (RFC 7143 §11.17): each gets a
 * Reject carrying its header, or closes the connection where framing or
 * numbering can no longer be trusted; never a crash, and after a Reject the
 * connection goes on (a ping is answered next, so nothing else was queued).
 * AHS, data segment over MaxRecvDataSegmentLength, immediate data over
 * FirstBurstLength, an ITT in use, a bidirectional command, SNACK at ERL 0,
 * ExpStatSN, data and header digest errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vstor/scsi.h"
#include "iscsi_harness.h"

static const uint8_t tur[6];

/* A READ(10) of one block with `ahs` after the BHS. */
static void read_with_ahs(struct cl *cl, uint32_t itt, const uint8_t *ahs, uint32_t ahs_len)
{
	uint8_t bhs[48], cdb[10];

	rw10(cdb, READ_10, 0, 1);
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_READ, BLK, true, itt);
	send_pdu_ahs(cl, bhs, ahs, ahs_len, NULL, 0);
}

/* A command Rejected before it became a task: its CmdSN is not consumed
 * (§11.17.1), so the client takes it back. */
static void expect_cmd_reject(struct cl *cl, uint8_t reason)
{
	assert_int_equal(expect_reject(cl), reason);
	assert_int_equal(rx.data[0] & 0x3f, ISCSI_OP_SCSI_CMD);
	cl->cmdsn--;
}

static void test_ahs(void **state)
{
	struct cl *cl = new_client(*state, NULL);
	/* AHSLength 5 = reserved byte + 4 CDB bytes (§11.2.2.3), padded. */
	static const uint8_t ext_cdb[8] = { 0, 5, ISCSI_AHS_EXTENDED_CDB, 0, 0, 0, 0, 0 };
	static const uint8_t dup_cdb[16] = { 0, 5, 1, 0, 0, 0, 0, 0, 0, 5, 1, 0, 0, 0, 0, 0 };
	static const uint8_t unknown[8] = { 0, 5, 0x3f, 0, 0, 0, 0, 0 };
	static const uint8_t overrun[8] = { 0, 9, 1, 0, 0, 0, 0, 0 };
	static const uint8_t zero_len[4] = { 0, 0, 1, 0 };
	static const uint8_t bidi_bad[8] = { 0, 4, ISCSI_AHS_BIDI_READ_LEN, 0, 0, 0, 2, 0 };
	const struct { const uint8_t *ahs; uint32_t len; } bad[] = {
		{ dup_cdb, sizeof(dup_cdb) }, { unknown, sizeof(unknown) }, { overrun, sizeof(overrun) },
		{ zero_len, sizeof(zero_len) }, { bidi_bad, sizeof(bidi_bad) },
	};

	clear_ua(cl);
	/* A well-formed Extended CDB AHS: the command runs. */
	read_with_ahs(cl, 0x100, ext_cdb, sizeof(ext_cdb));
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_DATA_IN);
	assert_true(rx.bhs[1] & ISCSI_FLAG_STATUS);
	assert_int_equal(rx.bhs[3], SAM_STAT_GOOD);
	assert_int_equal(rx.dlen, BLK);
	cl->exp_statsn++;
	/* Duplicated, unknown, overrunning, empty, wrongly sized AHS: the
	 * command means nothing (§11.2.2); Reject, and the session goes on. */
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		read_with_ahs(cl, 0x200 + i, bad[i].ahs, bad[i].len);
		expect_cmd_reject(cl, ISCSI_REJECT_PROTOCOL_ERROR);
		assert_int_equal(be32(rx.data + 16), 0x200 + i);
		ping(cl, 0x300 + i);
	}
	close(cl->fd);
}

static void test_data_segment_over_mrdsl(void **state)
{
	struct cl *cl = new_client(*state, NULL);
	uint32_t len = cl->tgt_mrdsl + 4;
	uint8_t *big = calloc(1, len), bhs[48] = { 0 };

	assert_non_null(big);
	/* §13.12: more than the MaxRecvDataSegmentLength we declared.  The
	 * length field is intact, so the segment is skipped and rejected. */
	nop_header(cl, bhs, 0x10);
	send_pdu(cl, bhs, big, len);
	assert_int_equal(expect_reject(cl), ISCSI_REJECT_PROTOCOL_ERROR);
	assert_int_equal(be32(rx.data + 16), 0x10);
	ping(cl, 0x11);
	free(big);
	close(cl->fd);
}

static void test_immediate_data_over_first_burst(void **state)
{
	struct login_opts o = { .first_burst = 4096, .initial_r2t = true };
	struct cl *cl = new_client(*state, &o);
	static uint8_t out[8192];
	uint8_t bhs[48], cdb[10];

	clear_ua(cl);
	/* §13.14: immediate data counts against FirstBurstLength. */
	rw10(cdb, WRITE_10, 0, 16);
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, sizeof(out), true, 0x20);
	send_pdu(cl, bhs, out, sizeof(out));
	expect_cmd_reject(cl, ISCSI_REJECT_PROTOCOL_ERROR);
	ping(cl, 0x21);
	close(cl->fd);
}

static void test_itt_in_use(void **state)
{
	struct login_opts o = { .first_burst = 4096, .initial_r2t = true };
	struct cl *cl = new_client(*state, &o);
	static uint8_t out[8192];
	uint8_t bhs[48], cdb[10];
	uint32_t ttt;

	clear_ua(cl);
	rw10(cdb, WRITE_10, 64, 16);
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, sizeof(out), true, 0x30);
	send_pdu(cl, bhs, out, 4096);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_R2T);
	ttt = be32(rx.bhs + 20);
	/* Another command with the ITT of a task in progress (§11.17.1 reason
	 * 7): rejected; the first task is untouched. */
	cmd_header(cl, bhs, tur, 6, 0, 0, true, 0x30);
	send_pdu(cl, bhs, NULL, 0);
	expect_cmd_reject(cl, ISCSI_REJECT_TASK_IN_PROGRESS);
	send_data_out(cl, 0x30, ttt, 0, 4096, out, 4096, true);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_SCSI_RESP);
	assert_int_equal(be32(rx.bhs + 16), 0x30);
	assert_int_equal(rx.bhs[3], SAM_STAT_GOOD);
	cl->exp_statsn++;
	close(cl->fd);
}

static void test_bidirectional_command(void **state)
{
	struct cl *cl = new_client(*state, NULL);
	uint8_t bhs[48], cdb[10];

	clear_ua(cl);
	/* R and W together: no LUN here supports a bidirectional command, and
	 * the fabric does not take one (§11.17.1 "Command not supported"). */
	rw10(cdb, WRITE_10, 0, 1);
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_READ | ISCSI_CMD_WRITE, BLK, true, 0x40);
	send_pdu(cl, bhs, NULL, 0);
	expect_cmd_reject(cl, ISCSI_REJECT_CMD_NOT_SUPPORTED);
	ping(cl, 0x41);
	close(cl->fd);
}

static void test_snack_at_erl0(void **state)
{
	struct cl *cl = new_client(*state, NULL);
	uint8_t bhs[48] = { 0 };

	/* ErrorRecoveryLevel 0: no SNACK support (§11.16); SNACK Reject. */
	bhs[0] = ISCSI_OP_SNACK_REQ;
	bhs[1] = ISCSI_FLAG_FINAL | 1;      /* Type 1: status SNACK */
	iscsi_put_be32(bhs + 16, ISCSI_RESERVED_TAG);
	iscsi_put_be32(bhs + 20, ISCSI_RESERVED_TAG);
	iscsi_put_be32(bhs + 28, cl->exp_statsn);
	iscsi_put_be32(bhs + 40, cl->exp_statsn - 1);  /* BegRun */
	iscsi_put_be32(bhs + 44, 1);                   /* RunLength */
	send_pdu(cl, bhs, NULL, 0);
	assert_int_equal(expect_reject(cl), ISCSI_REJECT_SNACK_REJECT);
	assert_int_equal(rx.data[0] & 0x3f, ISCSI_OP_SNACK_REQ);
	ping(cl, 0x50);
	close(cl->fd);
}

static void nop_with_exp_statsn(struct cl *cl, uint32_t itt, uint32_t exp_statsn)
{
	uint8_t bhs[48];

	nop_header(cl, bhs, itt);
	iscsi_put_be32(bhs + 28, exp_statsn);
	send_pdu(cl, bhs, NULL, 0);
}

static void test_exp_statsn(void **state)
{
	struct cl *cl = new_client(*state, NULL);

	/* One beyond the next StatSN (what libiscsi sends after an R2T) and
	 * far behind (status not read yet) are both fine. */
	nop_with_exp_statsn(cl, 0x60, cl->exp_statsn + 1);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_NOP_IN);
	assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);
	cl->exp_statsn++;
	nop_with_exp_statsn(cl, 0x61, cl->exp_statsn - 100000);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_NOP_IN);
	cl->exp_statsn++;
	/* Acknowledging status a million PDUs ahead: the initiator's numbering
	 * is broken (§4.2.2.2); Reject, then the connection goes. */
	nop_with_exp_statsn(cl, 0x62, cl->exp_statsn + 1000000);
	assert_int_equal(expect_reject(cl), ISCSI_REJECT_PROTOCOL_ERROR);
	assert_int_equal(be32(rx.data + 16), 0x62);
	assert_int_equal(recv_pdu(cl, &rx), -1);
	close(cl->fd);
}

static void test_data_digest_error(void **state)
{
	struct login_opts o = { .digest = "CRC32C" };
	struct cl *cl = new_client(*state, &o);
	static uint8_t out[4096];
	uint8_t bhs[48] = { 0 }, cdb[10], data[64] = { 1, 2, 3 };

	clear_ua(cl);
	/* A NOP-Out with a damaged data digest: Reject reason 2 (§7.8, §11.17.1);
	 * nothing is lost, the session goes on. */
	nop_header(cl, bhs, 0x70);
	cl->bad_data_digest = true;
	send_pdu(cl, bhs, data, sizeof(data));
	cl->bad_data_digest = false;
	assert_int_equal(expect_reject(cl), ISCSI_REJECT_DATA_DIGEST_ERROR);
	assert_int_equal(be32(rx.data + 16), 0x70);
	ping(cl, 0x71);
	/* A WRITE whose immediate data was damaged cannot be recovered at ERL 0
	 * (no recovery R2T): Reject, then the connection closes. */
	rw10(cdb, WRITE_10, 0, 8);
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, sizeof(out), true, 0x72);
	cl->bad_data_digest = true;
	send_pdu(cl, bhs, out, sizeof(out));
	assert_int_equal(expect_reject(cl), ISCSI_REJECT_DATA_DIGEST_ERROR);
	assert_int_equal(be32(rx.data + 16), 0x72);
	assert_int_equal(recv_pdu(cl, &rx), -1);
	close(cl->fd);
}

static void test_header_digest_error(void **state)
{
	struct fx *f = *state;
	struct login_opts o = { .digest = "CRC32C" };
	struct cl *cl = new_client(f, &o);
	struct cl *other = new_client(f, &(struct login_opts){ .isid = (const uint8_t[6]){ 0x80, 0, 0, 0, 0, 9 } });
	uint8_t bhs[48] = { 0 }, dig[4];

	/* A header digest error: the length fields cannot be trusted, so
	 * neither can the framing (§7.8); the connection closes. */
	nop_header(cl, bhs, 0x80);
	write_all(cl->fd, bhs, 48);
	put_digest(dig, vs_crc32c(0, bhs, 48) ^ 0x100);
	write_all(cl->fd, dig, 4);
	assert_int_equal(recv_pdu(cl, &rx), -1);
	/* Other sessions are not affected. */
	ping(other, 0x81);
	close(cl->fd);
	close(other->fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ahs, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_data_segment_over_mrdsl, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_immediate_data_over_first_burst, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_itt_in_use, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bidirectional_command, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_snack_at_erl0, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_exp_statsn, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_data_digest_error, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_header_digest_error, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
