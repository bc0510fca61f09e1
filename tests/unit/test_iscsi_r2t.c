/* SPDX-License-Identifier: MIT */
/*
 * MaxOutstandingR2T (RFC 7143 §13.17): the target offers the configured
 * value (default 1), the session gets the lower of both offers, and a write
 * then has that many R2Ts outstanding at once -- R2TSN in order, each for at
 * most MaxBurstLength, the next one issued as soon as one is answered.
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

#define BURST   8192u
#define LEN     (64u * 1024u)
#define IMM     4096u

static int setup_r2t4(void **state)
{
	next_cfg = (struct vs_iscsi_config){ .threads = 2, .queue_depth = 16, .nop_interval_ms = 60000,
	                                     .max_outstanding_r2t = 4 };
	return fx_setup(state);
}

struct r2t { uint32_t ttt, r2tsn, off, len; };

static void recv_r2t(struct cl *cl, uint32_t itt, struct r2t *r)
{
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_R2T);
	assert_int_equal(be32(rx.bhs + 16), itt);
	r->ttt = be32(rx.bhs + 20);
	r->r2tsn = be32(rx.bhs + 36);
	r->off = be32(rx.bhs + 40);
	r->len = be32(rx.bhs + 44);
}

static void answer(struct cl *cl, uint32_t itt, const struct r2t *r, const uint8_t *out)
{
	/* Two PDUs per burst, DataSN 0 and 1 (§11.7.4). */
	send_data_out(cl, itt, r->ttt, 0, r->off, out, r->len / 2, false);
	send_data_out(cl, itt, r->ttt, 1, r->off + r->len / 2, out, r->len - r->len / 2, true);
}

/*
 * Write LEN bytes, IMM of them immediate, and check that `window` R2Ts are
 * outstanding at a time.  Returns the number of R2Ts.
 */
static uint32_t write_with_window(struct cl *cl, uint32_t itt, const uint8_t *out, unsigned window)
{
	struct r2t r[16];
	uint8_t bhs[48], cdb[10];
	uint32_t n = 0, answered = 0, expect_off = IMM;
	uint32_t total = (LEN - IMM + BURST - 1) / BURST;

	rw10(cdb, WRITE_10, 0, LEN / BLK);
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, LEN, true, itt);
	send_pdu(cl, bhs, out, IMM);
	/* The whole window at once, before any data comes back. */
	for (; n < window; n++) {
		recv_r2t(cl, itt, &r[n]);
		assert_int_equal(r[n].r2tsn, n);
		assert_int_equal(r[n].off, expect_off);
		assert_int_equal(r[n].len, BURST);
		expect_off += r[n].len;
	}
	/* ... and not one more: the ping's echo is the next PDU. */
	ping(cl, itt + 0x1000);
	/* Each answer opens the window for the next R2T (in offset order,
	 * DataSequenceInOrder=Yes). */
	while (answered < total) {
		answer(cl, itt, &r[answered], out);
		answered++;
		if (n < total) {
			recv_r2t(cl, itt, &r[n]);
			assert_int_equal(r[n].r2tsn, n);
			assert_int_equal(r[n].off, expect_off);
			assert_int_equal(r[n].len, LEN - expect_off < BURST ? LEN - expect_off : BURST);
			expect_off += r[n].len;
			n++;
		}
	}
	assert_int_equal(expect_off, LEN);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_SCSI_RESP);
	assert_int_equal(rx.bhs[3], SAM_STAT_GOOD);
	assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);
	assert_int_equal(be32(rx.bhs + 36), n);          /* ExpDataSN: R2Ts sent (§11.4.8) */
	cl->exp_statsn++;
	return n;
}

static void read_back(struct cl *cl, const uint8_t *out)
{
	static uint8_t in[LEN];
	uint8_t cdb[10];
	struct result r;

	rw10(cdb, READ_10, 0, LEN / BLK);
	exec(cl, cdb, 10, ISCSI_CMD_READ, LEN, NULL, in, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_memory_equal(in, out, LEN);
}

static void test_four_outstanding(void **state)
{
	struct login_opts o = { .first_burst = IMM, .max_burst = BURST, .initial_r2t = true, .max_r2t = 4 };
	struct cl *cl = new_client(*state, &o);
	static uint8_t out[LEN];

	assert_string_equal(key_value(&rx, "MaxOutstandingR2T"), "4");
	clear_ua(cl);
	fill(out, sizeof(out), 11);
	/* 60 KiB solicited in 8 KiB bursts: 8 R2Ts, 4 at a time. */
	assert_int_equal(write_with_window(cl, 0x100, out, 4), 8);
	read_back(cl, out);
	close(cl->fd);
}

static void test_initiator_offers_fewer(void **state)
{
	struct login_opts o = { .first_burst = IMM, .max_burst = BURST, .initial_r2t = true, .max_r2t = 2 };
	struct cl *cl = new_client(*state, &o);
	static uint8_t out[LEN];

	/* §13.17: the lower of the two offers. */
	assert_string_equal(key_value(&rx, "MaxOutstandingR2T"), "2");
	clear_ua(cl);
	fill(out, sizeof(out), 12);
	assert_int_equal(write_with_window(cl, 0x200, out, 2), 8);
	read_back(cl, out);
	close(cl->fd);
}

static void test_default_is_one(void **state)
{
	struct login_opts o = { .first_burst = IMM, .max_burst = BURST, .initial_r2t = true, .max_r2t = 4 };
	struct cl *cl = new_client(*state, &o);
	static uint8_t out[LEN];

	/* Without max_outstanding_r2t the target offers the RFC default. */
	assert_string_equal(key_value(&rx, "MaxOutstandingR2T"), "1");
	clear_ua(cl);
	fill(out, sizeof(out), 13);
	assert_int_equal(write_with_window(cl, 0x300, out, 1), 8);
	read_back(cl, out);
	close(cl->fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_four_outstanding, setup_r2t4, fx_teardown),
		cmocka_unit_test_setup_teardown(test_initiator_offers_fewer, setup_r2t4, fx_teardown),
		cmocka_unit_test_setup_teardown(test_default_is_one, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
