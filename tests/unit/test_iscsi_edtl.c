/* SPDX-License-Identifier: MIT */
/*
 * ExpectedDataTransferLength larger than the command's transfer (RFC 7143
 * §11.4.5.2): any EDTL up to 2^32 - 1 is accepted, the command moves what
 * it moves, and the response says U (underflow) with ResidualCount = EDTL
 * - SPDTL.  For a write the target asks (R2T) only for what the command
 * transfers and never waits for the rest; unsolicited data the initiator
 * may send up to min(FirstBurstLength, EDTL) (§13.10, §13.14) is taken in
 * and not used.
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

#define MIB (1024u * 1024u)

static const uint32_t big_edtls[] = {
	8 * MIB + 512,          /* just past the largest buffer */
	16 * MIB,
	0x80000000u,
	0xffffffffu,            /* the largest EDTL the BHS can carry */
};
#define N_EDTLS (sizeof(big_edtls) / sizeof(big_edtls[0]))

static uint8_t out[64 * 1024], in[64 * 1024];

static struct cl *client(void **state, const struct login_opts *o)
{
	struct cl *cl = new_client(*state, o);

	clear_ua(cl);
	return cl;
}

static void write_blocks(struct cl *cl, uint32_t lba, uint16_t blocks, uint32_t seed)
{
	uint8_t cdb[10];
	struct result r;

	fill(out, (size_t)blocks * BLK, seed);
	rw10(cdb, WRITE_10, lba, blocks);
	exec(cl, cdb, 10, ISCSI_CMD_WRITE, (uint32_t)blocks * BLK, out, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(r.flags, 0);
}

static void expect_block(struct cl *cl, uint32_t lba, const uint8_t *want)
{
	uint8_t cdb[10];
	struct result r;

	memset(in, 0, BLK);
	rw10(cdb, READ_10, lba, 1);
	exec(cl, cdb, 10, ISCSI_CMD_READ, BLK, NULL, in, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_memory_equal(in, want, BLK);
}

/* The status of itt, next on the wire: GOOD with underflow `residual`. */
static void expect_good_underflow(struct cl *cl, uint32_t itt, uint32_t residual, uint32_t r2ts)
{
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_SCSI_RESP);
	assert_int_equal(be32(rx.bhs + 16), itt);
	assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);
	cl->exp_statsn++;
	assert_int_equal(rx.bhs[3], SAM_STAT_GOOD);
	assert_int_equal(rx.bhs[1] & (ISCSI_FLAG_OVERFLOW | ISCSI_FLAG_UNDERFLOW), ISCSI_FLAG_UNDERFLOW);
	assert_int_equal(be32(rx.bhs + 44), residual);
	assert_int_equal(be32(rx.bhs + 36), r2ts);      /* ExpDataSN: R2Ts sent (§11.4.8) */
}

/* READ of one block: 512 bytes and U with EDTL - 512, whatever EDTL is.
 * EDTL = 8 MiB (the largest buffer) was answered GOOD before; one byte
 * more was INVALID FIELD IN CDB. */
static void test_read_one_block(void **state)
{
	struct cl *cl = client(state, NULL);
	uint8_t cdb[10];
	struct result r;

	write_blocks(cl, 7, 1, 21);
	for (size_t i = 0; i < N_EDTLS + 1; i++) {
		uint32_t edtl = i < N_EDTLS ? big_edtls[i] : 8 * MIB;

		memset(in, 0, BLK);
		rw10(cdb, READ_10, 7, 1);
		exec(cl, cdb, 10, ISCSI_CMD_READ, edtl, NULL, in, &r);
		assert_int_equal(r.status, SAM_STAT_GOOD);
		assert_int_equal(r.data_in, BLK);
		assert_int_equal(r.flags, ISCSI_FLAG_UNDERFLOW);
		assert_int_equal(r.residual, edtl - BLK);
		assert_memory_equal(in, out, BLK);
	}
	close(cl->fd);
}

/* A longer READ, and a data-in command that is not a READ (INQUIRY),
 * with the largest EDTL: all their data, the rest as residual. */
static void test_read_many_and_inquiry(void **state)
{
	struct cl *cl = client(state, NULL);
	uint8_t cdb[10], inq[6] = { INQUIRY, 0, 0, 0, 36, 0 };
	struct result r;

	write_blocks(cl, 100, 64, 22);
	memset(in, 0, sizeof(in));
	rw10(cdb, READ_10, 100, 64);
	exec(cl, cdb, 10, ISCSI_CMD_READ, 0xffffffffu, NULL, in, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(r.data_in, 64 * BLK);
	assert_int_equal(r.flags, ISCSI_FLAG_UNDERFLOW);
	assert_int_equal(r.residual, 0xffffffffu - 64 * BLK);
	assert_memory_equal(in, out, 64 * BLK);

	exec(cl, inq, 6, ISCSI_CMD_READ, 0xffffffffu, NULL, in, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(r.data_in, 36);
	assert_int_equal(r.flags, ISCSI_FLAG_UNDERFLOW);
	assert_int_equal(r.residual, 0xffffffffu - 36);
	close(cl->fd);
}

/*
 * WRITE of `blocks` with a large EDTL, InitialR2T=Yes and no immediate
 * data: the R2Ts ask for exactly blocks * 512 bytes, then the status comes
 * without waiting for more.
 */
static void solicited_write(struct cl *cl, uint32_t itt, uint32_t lba, uint16_t blocks,
                            uint32_t edtl, uint32_t burst)
{
	uint8_t bhs[48], cdb[10];
	uint32_t want = (uint32_t)blocks * BLK, off = 0, r2ts = 0;

	rw10(cdb, WRITE_10, lba, blocks);
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, edtl, true, itt);
	send_pdu(cl, bhs, NULL, 0);
	while (off < want) {
		uint32_t ttt, len;

		assert_int_equal(recv_pdu(cl, &rx), 0);
		assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_R2T);
		assert_int_equal(be32(rx.bhs + 16), itt);
		assert_int_equal(be32(rx.bhs + 36), r2ts);
		assert_int_equal(be32(rx.bhs + 40), off);
		ttt = be32(rx.bhs + 20);
		len = be32(rx.bhs + 44);
		assert_int_equal(len, want - off < burst ? want - off : burst);
		send_data_out(cl, itt, ttt, 0, off, out, len, true);
		off += len;
		r2ts++;
	}
	expect_good_underflow(cl, itt, edtl - want, r2ts);
}

static void test_write_solicits_only_the_transfer(void **state)
{
	struct login_opts o = { .first_burst = 4096, .max_burst = 4096, .initial_r2t = true };
	struct cl *cl = client(state, &o);

	for (size_t i = 0; i < N_EDTLS; i++) {
		fill(out, BLK, 30 + (uint32_t)i);
		solicited_write(cl, 0x100 + (uint32_t)i, 9, 1, big_edtls[i], 4096);
		expect_block(cl, 9, out);
	}
	/* Several R2Ts (4 KiB bursts), still only the command's 24 KiB. */
	fill(out, 48 * BLK, 40);
	solicited_write(cl, 0x120, 200, 48, 0xffffffffu, 4096);
	expect_block(cl, 247, out + 47 * BLK);
	/* Below the largest buffer as well: EDTL 64 KiB for one block. */
	fill(out, BLK, 41);
	solicited_write(cl, 0x121, 10, 1, 65536, 4096);
	expect_block(cl, 10, out);
	ping(cl, 0x130);
	close(cl->fd);
}

/* Immediate data holding the whole transfer, F=1: no R2T at all. */
static void test_write_immediate_is_enough(void **state)
{
	struct cl *cl = client(state, NULL);       /* ImmediateData=Yes, InitialR2T=No */
	uint8_t bhs[48], cdb[10];

	fill(out, 2 * BLK, 50);
	rw10(cdb, WRITE_10, 11, 1);
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, 0xffffffffu, true, 0x200);
	send_pdu(cl, bhs, out, BLK);
	expect_good_underflow(cl, 0x200, 0xffffffffu - BLK, 0);
	expect_block(cl, 11, out);
	/* More immediate data than the command uses: only its block is written. */
	rw10(cdb, WRITE_10, 12, 1);
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, 2 * BLK, true, 0x201);
	send_pdu(cl, bhs, out + BLK, 2 * BLK);
	expect_good_underflow(cl, 0x201, BLK, 0);
	expect_block(cl, 12, out + BLK);
	ping(cl, 0x202);
	close(cl->fd);
}

/*
 * InitialR2T=No: the initiator may send min(FirstBurstLength, EDTL) without
 * being asked, more than the one block the command writes.  The target
 * takes the whole burst (no Reject, no R2T), writes only the block, and
 * answers once the burst is in.
 */
static void test_write_unsolicited_beyond_transfer(void **state)
{
	struct login_opts o = { .first_burst = 16384 };
	struct cl *cl = client(state, &o);
	uint8_t bhs[48], cdb[10];

	fill(out, 16384, 60);
	rw10(cdb, WRITE_10, 13, 1);
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, 0xffffffffu, false, 0x300);
	send_pdu(cl, bhs, out, 4096);
	send_data_out(cl, 0x300, ISCSI_RESERVED_TAG, 0, 4096, out, 8192, false);
	send_data_out(cl, 0x300, ISCSI_RESERVED_TAG, 1, 12288, out, 4096, true);
	expect_good_underflow(cl, 0x300, 0xffffffffu - BLK, 0);
	expect_block(cl, 13, out);
	ping(cl, 0x301);
	close(cl->fd);
}

/*
 * Commands whose data-out is a parameter list or one block, with an EDTL
 * far above it: MODE SELECT(10) takes its parameter list length, WRITE
 * SAME(16) one block, WRITE SAME(16) with NDOB none.
 */
static void test_write_other_data_out_commands(void **state)
{
	struct login_opts o = { .first_burst = 4096, .max_burst = 4096, .initial_r2t = true };
	struct cl *cl = client(state, &o);
	uint8_t bhs[48], cdb[16];
	uint8_t mode[8] = { 0 };        /* mode parameter header (10), no pages */

	memset(cdb, 0, sizeof(cdb));
	cdb[0] = MODE_SELECT_10;
	cdb[1] = 0x10;                  /* PF */
	cdb[8] = sizeof(mode);
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, 0xffffffffu, true, 0x400);
	send_pdu(cl, bhs, NULL, 0);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_R2T);
	assert_int_equal(be32(rx.bhs + 40), 0);
	assert_int_equal(be32(rx.bhs + 44), sizeof(mode));
	data_out_header(cl, bhs, 0x400, be32(rx.bhs + 20), 0, 0, true);
	send_pdu(cl, bhs, mode, sizeof(mode));
	expect_good_underflow(cl, 0x400, 0xffffffffu - sizeof(mode), 1);

	/* WRITE SAME(16) of 4 blocks from one block of zeroes. */
	memset(out, 0, BLK);
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = WRITE_SAME_16;
	cdb[9] = 20;                    /* LBA 20 */
	cdb[13] = 4;
	cmd_header(cl, bhs, cdb, 16, ISCSI_CMD_WRITE, 0xffffffffu, true, 0x401);
	send_pdu(cl, bhs, NULL, 0);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_R2T);
	assert_int_equal(be32(rx.bhs + 44), BLK);
	send_data_out(cl, 0x401, be32(rx.bhs + 20), 0, 0, out, BLK, true);
	expect_good_underflow(cl, 0x401, 0xffffffffu - BLK, 1);

	/* NDOB: no data-out buffer at all, so nothing is asked for. */
	cdb[1] = 0x01;
	cmd_header(cl, bhs, cdb, 16, ISCSI_CMD_WRITE, 0xffffffffu, true, 0x402);
	send_pdu(cl, bhs, NULL, 0);
	expect_good_underflow(cl, 0x402, 0xffffffffu, 0);
	ping(cl, 0x403);
	close(cl->fd);
}

/* A write that needs more than one command may move (SBC-3 6.5.3) is
 * still refused at once, whatever EDTL says, and nothing is solicited. */
static void test_write_over_max_transfer(void **state)
{
	struct login_opts o = { .first_burst = 4096, .initial_r2t = true };
	struct cl *cl = client(state, &o);
	uint8_t cdb[10];
	struct result r;

	rw10(cdb, WRITE_10, 0, 0xffff);         /* 32 MiB - 512 */
	exec(cl, cdb, 10, ISCSI_CMD_WRITE, 0xffffffffu, out, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_ILLEGAL_REQUEST);
	assert_int_equal(r.asc, 0x24);
	assert_int_equal(r.r2ts, 0);
	close(cl->fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_one_block, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_read_many_and_inquiry, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_write_solicits_only_the_transfer, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_write_immediate_is_enough, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_write_unsolicited_beyond_transfer, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_write_other_data_out_commands, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_write_over_max_transfer, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
