/* SPDX-License-Identifier: MIT */
/*
 * The iSCSI transport in-process: a vs_iscsi with a vdisk+ram port, a
 * connection injected over socketpair(), and hand-built PDUs from the
 * "initiator" side.  Covers login, READ/WRITE with immediate data, the R2T
 * flow, Data-In split by MaxRecvDataSegmentLength with status in the last
 * PDU, residuals, digests, Reject, NOP echo, CmdSN window, ABORT TASK,
 * logout and session reinstatement; many large writes in flight at once
 * (the receive path must never wait on what only later PDUs can free),
 * Asynchronous Messages on LUN changes, TARGET COLD RESET for all sessions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vstor/backend.h"
#include "vstor/iscsi.h"
#include "vstor/port.h"
#include "vstor/scsi.h"
#include "vstor/vdisk.h"
#include "fabrics/iscsi/conn.h"
#include "fabrics/iscsi/iscsi_target.h"
#include "fabrics/iscsi/pdu.h"
#include "iscsi_harness.h"

/* ---------------------------------------------------------------- tests */

static void test_login_and_unit_attention(void **state)
{
	struct cl *cl = new_client(*state, NULL);
	uint8_t tur[6] = { 0 };
	struct result r;

	/* A new I_T nexus reports POWER ON / RESET first (SAM-5 6.3). */
	exec(cl, tur, 6, 0, 0, NULL, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);
	assert_int_equal(r.asc, 0x29);
	exec(cl, tur, 6, 0, 0, NULL, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	close(cl->fd);
}

static void test_write_read_immediate(void **state)
{
	struct cl *cl = new_client(*state, NULL);
	static uint8_t out[8192], in[8192];
	uint8_t cdb[10];
	struct result r;

	clear_ua(cl);
	fill(out, sizeof(out), 1);
	rw10(cdb, WRITE_10, 10, 16);
	exec(cl, cdb, 10, ISCSI_CMD_WRITE, sizeof(out), out, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(r.r2ts, 0);            /* all of it was immediate data */
	rw10(cdb, READ_10, 10, 16);
	exec(cl, cdb, 10, ISCSI_CMD_READ, sizeof(in), NULL, in, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_true(r.status_in_data);          /* §11.7.3 phase collapse */
	assert_int_equal(r.data_in, sizeof(in));
	assert_int_equal(r.flags, 0);
	assert_memory_equal(in, out, sizeof(in));
	close(cl->fd);
}

static void test_r2t_flow(void **state)
{
	struct login_opts o = { .first_burst = 4096, .max_burst = 16384, .initial_r2t = true };
	struct cl *cl = new_client(*state, &o);
	static uint8_t out[65536], in[65536];
	uint8_t cdb[10];
	struct result r;

	clear_ua(cl);
	fill(out, sizeof(out), 2);
	rw10(cdb, WRITE_10, 100, 128);
	exec(cl, cdb, 10, ISCSI_CMD_WRITE, sizeof(out), out, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	/* 4096 immediate, then (65536-4096)/16384 rounded up = 4 R2Ts. */
	assert_int_equal(r.r2ts, 4);
	rw10(cdb, READ_10, 100, 128);
	exec(cl, cdb, 10, ISCSI_CMD_READ, sizeof(in), NULL, in, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_memory_equal(in, out, sizeof(in));
	close(cl->fd);
}

static void test_unsolicited_data_out(void **state)
{
	struct login_opts o = { .first_burst = 16384, .max_burst = 65536 };
	struct cl *cl = new_client(*state, &o);
	static uint8_t out[32768], in[32768];
	uint8_t cdb[10], bhs[48];
	uint32_t itt = 0x777;
	struct result r;

	clear_ua(cl);
	fill(out, sizeof(out), 3);
	/* InitialR2T=No: 4096 immediate + 12288 unsolicited (F=0 on the
	 * command), then one R2T for the last 16384. */
	rw10(cdb, WRITE_10, 300, 64);
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, sizeof(out), false, itt);
	send_pdu(cl, bhs, out, 4096);
	send_data_out(cl, itt, ISCSI_RESERVED_TAG, 0, 4096, out, 8192, false);
	send_data_out(cl, itt, ISCSI_RESERVED_TAG, 1, 12288, out, 4096, true);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_R2T);
	assert_int_equal(be32(rx.bhs + 40), 16384);
	assert_int_equal(be32(rx.bhs + 44), 16384);
	send_data_out(cl, itt, be32(rx.bhs + 20), 0, 16384, out, 16384, true);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_SCSI_RESP);
	assert_int_equal(rx.bhs[3], SAM_STAT_GOOD);
	assert_int_equal(be32(rx.bhs + 36), 1);     /* ExpDataSN: one R2T */
	cl->exp_statsn++;
	rw10(cdb, READ_10, 300, 64);
	exec(cl, cdb, 10, ISCSI_CMD_READ, sizeof(in), NULL, in, &r);
	assert_memory_equal(in, out, sizeof(in));
	close(cl->fd);
}

static void test_data_in_split_by_mrdsl(void **state)
{
	struct login_opts o = { .mrdsl = 4096 };
	struct cl *cl = new_client(*state, &o);
	static uint8_t out[32768], in[32768];
	uint8_t cdb[10];
	struct result r;

	clear_ua(cl);
	fill(out, sizeof(out), 4);
	rw10(cdb, WRITE_10, 500, 64);
	exec(cl, cdb, 10, ISCSI_CMD_WRITE, sizeof(out), out, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	rw10(cdb, READ_10, 500, 64);
	exec(cl, cdb, 10, ISCSI_CMD_READ, sizeof(in), NULL, in, &r);
	/* 32 KiB in PDUs of at most our MaxRecvDataSegmentLength (4096):
	 * 8 Data-In, DataSN 0..7, status in the last one only. */
	assert_int_equal(r.din_pdus, 8);
	assert_true(r.status_in_data);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_memory_equal(in, out, sizeof(in));
	close(cl->fd);
}

static void test_residual_underflow(void **state)
{
	struct cl *cl = new_client(*state, NULL);
	static uint8_t in[4096];
	uint8_t cdb[10];
	struct result r;

	clear_ua(cl);
	/* One block read, initiator expects 4096: §11.4.5.2 underflow. */
	rw10(cdb, READ_10, 0, 1);
	exec(cl, cdb, 10, ISCSI_CMD_READ, sizeof(in), NULL, in, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(r.data_in, BLK);
	assert_int_equal(r.flags, ISCSI_FLAG_UNDERFLOW);
	assert_int_equal(r.residual, sizeof(in) - BLK);
	close(cl->fd);
}

static void test_check_condition_sense(void **state)
{
	struct cl *cl = new_client(*state, NULL);
	static uint8_t in[512];
	uint8_t cdb[10];
	struct result r;

	clear_ua(cl);
	/* Beyond the end of a 16 MiB LUN: sense goes in a SCSI Response with
	 * SenseLength (§11.4.7.2), never on a Data-In. */
	rw10(cdb, READ_10, 0x100000, 1);
	exec(cl, cdb, 10, ISCSI_CMD_READ, sizeof(in), NULL, in, &r);
	assert_false(r.status_in_data);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_ILLEGAL_REQUEST);
	assert_int_equal(r.asc, 0x21);
	assert_int_equal(r.data_in, 0);
	close(cl->fd);
}

static void test_nop_echo_and_reject(void **state)
{
	struct cl *cl = new_client(*state, NULL);
	uint8_t bhs[48] = { 0 };

	ping(cl, 0x4321);
	/* Opcode 0x1f is no initiator opcode: Reject with the header as data. */
	bhs[0] = 0x1f;
	bhs[1] = 0x80;
	iscsi_put_be32(bhs + 16, 0x99);
	send_pdu(cl, bhs, NULL, 0);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_REJECT);
	assert_int_equal(rx.bhs[2], ISCSI_REJECT_PROTOCOL_ERROR);
	assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);
	cl->exp_statsn++;
	assert_int_equal(rx.dlen, 48);
	bhs[5] = bhs[6] = bhs[7] = 0;
	assert_memory_equal(rx.data, bhs, 48);
	/* Still alive. */
	ping(cl, 0x4322);
	close(cl->fd);
}

static void test_cmdsn_window(void **state)
{
	struct cl *cl = new_client(*state, NULL);
	uint8_t tur[6] = { 0 }, bhs[48];
	uint32_t exp;

	clear_ua(cl);
	exp = cl->cmdsn;
	/* Beyond MaxCmdSN (window 16) and below ExpCmdSN: both ignored
	 * silently (§3.2.2.1); the ping answers first. */
	cl->cmdsn = exp + 100;
	cmd_header(cl, bhs, tur, 6, 0, 0, true, 0x501);
	send_pdu(cl, bhs, NULL, 0);
	cl->cmdsn = exp - 1;
	cmd_header(cl, bhs, tur, 6, 0, 0, true, 0x502);
	send_pdu(cl, bhs, NULL, 0);
	cl->cmdsn = exp;
	ping(cl, 0x503);
	assert_int_equal(be32(rx.bhs + 28), exp);           /* ExpCmdSN unchanged */
	assert_int_equal(be32(rx.bhs + 32), exp + 16 - 1);  /* MaxCmdSN = window */
	close(cl->fd);
}

static void test_abort_task(void **state)
{
	struct login_opts o = { .initial_r2t = true, .first_burst = 4096 };
	struct cl *cl = new_client(*state, &o);
	static uint8_t out[16384];
	uint8_t cdb[10], bhs[48];
	uint32_t wcmdsn;

	clear_ua(cl);
	/* Unknown task, already-used CmdSN: "task does not exist". */
	send_tmf(cl, ISCSI_TMF_ABORT_TASK, 0x900, 0xabcdef, cl->cmdsn - 1);
	assert_int_equal(tmf_response(cl, 0x900), 1);
	/* Unknown task whose CmdSN never arrived: "function complete". */
	send_tmf(cl, ISCSI_TMF_ABORT_TASK, 0x901, 0xabcdee, cl->cmdsn);
	assert_int_equal(tmf_response(cl, 0x901), 0);
	/* A write waiting for its R2T data is aborted by the fabric itself;
	 * it gets no SCSI Response. */
	rw10(cdb, WRITE_10, 700, 32);
	wcmdsn = cl->cmdsn;
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, sizeof(out), true, 0x910);
	send_pdu(cl, bhs, out, 4096);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_R2T);
	send_tmf(cl, ISCSI_TMF_ABORT_TASK, 0x911, 0x910, wcmdsn);
	assert_int_equal(tmf_response(cl, 0x911), 0);
	/* Late Data-Out for the aborted task is dropped without a word. */
	send_data_out(cl, 0x910, be32(rx.bhs + 20), 0, 4096, out, 4096, false);
	ping(cl, 0x912);
	/* TASK REASSIGN at ERL 0: not supported (§11.6.1 response 4). */
	send_tmf(cl, ISCSI_TMF_TASK_REASSIGN, 0x913, 0x910, wcmdsn);
	assert_int_equal(tmf_response(cl, 0x913), 4);
	/* LUN RESET completes. */
	send_tmf(cl, ISCSI_TMF_LOGICAL_UNIT_RESET, 0x914, 0, 0);
	assert_int_equal(tmf_response(cl, 0x914), 0);
	close(cl->fd);
}

static void test_digests(void **state)
{
	struct login_opts o = { .digest = "CRC32C" };
	struct cl *cl = new_client(*state, &o);
	static uint8_t out[8192], in[8192];
	uint8_t cdb[10], bhs[48], dig[4];
	struct result r;

	clear_ua(cl);
	fill(out, sizeof(out), 5);
	rw10(cdb, WRITE_10, 900, 16);
	exec(cl, cdb, 10, ISCSI_CMD_WRITE, sizeof(out), out, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	rw10(cdb, READ_10, 900, 16);
	exec(cl, cdb, 10, ISCSI_CMD_READ, sizeof(in), NULL, in, &r);
	assert_memory_equal(in, out, sizeof(in));
	/* A bad header digest: framing is lost, the connection goes (§7.8). */
	memset(bhs, 0, sizeof(bhs));
	bhs[0] = ISCSI_OP_NOP_OUT | ISCSI_FLAG_IMMEDIATE;
	bhs[1] = 0x80;
	iscsi_put_be32(bhs + 16, 5);
	iscsi_put_be32(bhs + 20, ISCSI_RESERVED_TAG);
	write_all(cl->fd, bhs, 48);
	put_digest(dig, vs_crc32c(0, bhs, 48) ^ 1);
	write_all(cl->fd, dig, 4);
	assert_int_equal(recv_pdu(cl, &rx), -1);
	close(cl->fd);
}

static void test_logout(void **state)
{
	struct cl *cl = new_client(*state, NULL);
	uint8_t bhs[48] = { 0 };

	bhs[0] = ISCSI_OP_LOGOUT_REQ | ISCSI_FLAG_IMMEDIATE;
	bhs[1] = 0x80 | 0;              /* close the session */
	iscsi_put_be32(bhs + 16, 0x77);
	iscsi_put_be32(bhs + 24, cl->cmdsn);
	iscsi_put_be32(bhs + 28, cl->exp_statsn);
	send_pdu(cl, bhs, NULL, 0);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_LOGOUT_RESP);
	assert_int_equal(rx.bhs[2], 0);
	assert_int_equal(be32(rx.bhs + 16), 0x77);
	assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);
	/* ... and the target closes the connection. */
	assert_int_equal(recv_pdu(cl, &rx), -1);
	close(cl->fd);
}

static void test_session_reinstatement(void **state)
{
	struct fx *f = *state;
	struct cl *a = new_client(f, NULL);
	struct cl *b;
	struct vs_iscsi_session_info info[4];
	uint16_t old_tsih = a->tsih;

	clear_ua(a);
	assert_int_equal(vs_iscsi_sessions(f->is, info, 4), 1);
	/* Same InitiatorName + ISID, TSIH 0: the old session is closed first
	 * (§6.3.5), then the new login succeeds with a new TSIH. */
	b = new_client(f, NULL);
	assert_int_not_equal(b->tsih, old_tsih);
	assert_int_equal(recv_pdu(a, &rx), -1);
	assert_int_equal(vs_iscsi_sessions(f->is, info, 4), 1);
	assert_int_equal(info[0].tsih, b->tsih);
	assert_string_equal(info[0].initiator, INI);
	ping(b, 0x600);
	close(a->fd);
	close(b->fd);
}

static void test_login_unknown_target_fails(void **state)
{
	struct fx *f = *state;
	struct cl cl = { .fd = connect_fx(f) };
	struct login_opts o = { .tsih = 0x4444, .expect_fail = true };

	/* A TSIH that names no session: "session does not exist". */
	assert_int_equal(do_login(&cl, &o), ISCSI_LOGIN_STATUS_NO_SESSION);
	assert_int_equal(recv_pdu(&cl, &rx), -1);
	close(cl.fd);
}

static int fx_setup_timers(void **state)
{
	next_cfg = (struct vs_iscsi_config){ .threads = 1, .queue_depth = 8, .login_timeout_ms = 300,
	                                     .nop_interval_ms = 200, .nop_timeout_ms = 600,
	                                     .max_connections = 2 };
	return fx_setup(state);
}

static void test_remove_target(void **state)
{
	struct fx *f = *state;
	struct cl *cl = new_client(f, NULL);
	struct vs_iscsi_session_info info[2];
	struct cl cl2 = { 0 };
	struct login_opts o = { .expect_fail = true };

	clear_ua(cl);
	assert_int_equal(vs_iscsi_remove_target(f->is, TGT, false), -EBUSY);
	assert_int_equal(vs_iscsi_remove_target(f->is, "iqn.2026-01.none:x", false), -ENOENT);
	/* force: the session is dropped and gone when the call returns. */
	assert_int_equal(vs_iscsi_remove_target(f->is, TGT, true), 0);
	assert_int_equal(vs_iscsi_sessions(f->is, info, 2), 0);
	assert_int_equal(recv_pdu(cl, &rx), -1);
	close(cl->fd);
	cl2.fd = connect_fx(f);
	assert_int_equal(do_login(&cl2, &o), ISCSI_LOGIN_STATUS_TGT_NOT_FOUND);
	close(cl2.fd);
}

static int fx_setup_limits(void **state)
{
	next_cfg = (struct vs_iscsi_config){ .threads = 2, .queue_depth = 8, .max_connections = 2 };
	return fx_setup(state);
}

static void test_login_timeout(void **state)
{
	struct fx *f = *state;
	struct cl cl = { .fd = connect_fx(f) };

	/* Nothing sent: dropped after login_timeout_ms (300 ms < 5 s). */
	assert_int_equal(recv_pdu(&cl, &rx), -1);
	close(cl.fd);
}

static void test_nop_ping_and_timeout(void **state)
{
	struct cl *cl = new_client(*state, NULL);
	uint8_t bhs[48] = { 0 };
	uint32_t ttt;

	/* Idle: the target pings with ITT 0xffffffff and a TTT of its own,
	 * StatSN not advanced (§11.19). */
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_NOP_IN);
	assert_int_equal(be32(rx.bhs + 16), ISCSI_RESERVED_TAG);
	ttt = be32(rx.bhs + 20);
	assert_int_not_equal(ttt, ISCSI_RESERVED_TAG);
	assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);
	/* Answer it: the connection stays. */
	bhs[0] = ISCSI_OP_NOP_OUT | ISCSI_FLAG_IMMEDIATE;
	bhs[1] = 0x80;
	iscsi_put_be32(bhs + 16, ISCSI_RESERVED_TAG);
	iscsi_put_be32(bhs + 20, ttt);
	iscsi_put_be32(bhs + 24, cl->cmdsn);
	send_pdu(cl, bhs, NULL, 0);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_NOP_IN);
	assert_int_not_equal(be32(rx.bhs + 20), ttt);
	/* Ignore this one: dropped after nop_timeout. */
	assert_int_equal(recv_pdu(cl, &rx), -1);
	close(cl->fd);
}

static void test_portal_and_max_connections(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fds[3];
	struct timeval tv = { .tv_sec = 5 };
	uint8_t b;

	assert_int_equal(vs_iscsi_add_portal(f->is, "127.0.0.1:0"), 0);
	assert_int_equal(vs_iscsi_add_portal(f->is, "no-port"), -EINVAL);
	assert_int_equal(getsockname(f->is->portals[0].fd, (struct sockaddr *)&sa, &len), 0);
	/* max_connections = 2: the third connection is closed at once. */
	for (int i = 0; i < 3; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
		usleep(50000);
	}
	assert_int_equal(read(fds[2], &b, 1), 0);
	{
		struct cl cl = { .fd = fds[0] };
		struct login_opts o = { 0 };

		assert_int_equal(do_login(&cl, &o), 0);
		ping(&cl, 0x42);
	}
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

/* ---------------------------------------------------------------- many writes in flight */
#define NWRITES     16u
#define WRITE_LEN   (1024u * 1024u)
#define IMM_LEN     (64u * 1024u)

/*
 * The deadlock a large-write load used to hit: 16 x 1 MiB WRITEs sent at
 * once, each with immediate data, unsolicited Data-Out up to
 * FirstBurstLength (InitialR2T=No) and the rest solicited by R2T.  A target
 * that stops reading when a command finds no buffer never sees the Data-Out
 * answering its R2Ts for the commands that hold the buffers: they are
 * behind that command in the same stream.  The client never blocks (poll
 * with a deadline), so a stuck target fails the test instead of hanging it.
 */
static void test_many_large_writes_in_flight(void **state)
{
	struct fx *f = *state;
	struct login_opts o = { .mrdsl = 262144, .first_burst = 262144, .max_burst = 1048576 };
	struct cl *cl = new_client(f, &o);
	uint8_t *data = malloc((size_t)NWRITES * WRITE_LEN);
	uint8_t *in = malloc(WRITE_LEN);
	struct obuf ob = { .cap = (size_t)NWRITES * WRITE_LEN + 64 * 1024 };
	static uint8_t ibuf[64 * 1024];
	size_t ilen = 0;
	uint32_t done = 0, r2ts = 0, first_itt = 0x4000;
	uint64_t deadline;
	struct timespec ts;
	int fl;

	assert_non_null(data);
	assert_non_null(in);
	ob.p = malloc(ob.cap);
	assert_non_null(ob.p);
	clear_ua(cl);
	fill(data, (size_t)NWRITES * WRITE_LEN, 9);
	for (uint32_t i = 0; i < NWRITES; i++) {
		uint8_t cdb[10], bhs[48];
		const uint8_t *buf = data + (size_t)i * WRITE_LEN;

		rw10(cdb, WRITE_10, i * (WRITE_LEN / BLK), (uint16_t)(WRITE_LEN / BLK));
		/* F=0: unsolicited Data-Out follows the immediate data. */
		cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, WRITE_LEN, false, first_itt + i);
		ob_pdu(&ob, bhs, buf, IMM_LEN);
		for (uint32_t off = IMM_LEN, sn = 0; off < o.first_burst; off += IMM_LEN, sn++)
			ob_data_out(&ob, cl, first_itt + i, ISCSI_RESERVED_TAG, sn, off, buf, IMM_LEN,
			            off + IMM_LEN == o.first_burst);
	}
	fl = fcntl(cl->fd, F_GETFL);
	fcntl(cl->fd, F_SETFL, fl | O_NONBLOCK);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	deadline = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 8000;
	while (done < NWRITES) {
		struct pollfd pfd = { .fd = cl->fd, .events = POLLIN };
		uint64_t now;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		if (now >= deadline)
			fail_msg("stuck: %u of %u writes answered, %u R2Ts, %zu of %zu bytes sent", done,
			         NWRITES, r2ts, ob.off, ob.len);
		if (ob.off < ob.len)
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		if (pfd.revents & POLLOUT) {
			n = write(cl->fd, ob.p + ob.off, ob.len - ob.off);
			if (n > 0)
				ob.off += (size_t)n;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(cl->fd, ibuf + ilen, sizeof(ibuf) - ilen);
		if (n == 0)
			fail_msg("target closed the connection");
		if (n < 0)
			continue;
		ilen += (size_t)n;
		/* Every PDU the target sends here is a header with little data. */
		while (ilen >= 48) {
			uint32_t dl = (uint32_t)ibuf[5] << 16 | ibuf[6] << 8 | ibuf[7];
			size_t total = 48 + iscsi_pad4(dl);
			uint8_t op = ibuf[0] & 0x3f;
			uint32_t itt = be32(ibuf + 16);

			assert_true(total <= sizeof(ibuf));
			if (ilen < total)
				break;
			assert_true(itt >= first_itt && itt < first_itt + NWRITES);
			if (op == ISCSI_OP_R2T) {
				uint32_t ttt = be32(ibuf + 20), off = be32(ibuf + 40), len = be32(ibuf + 44);
				const uint8_t *buf = data + (size_t)(itt - first_itt) * WRITE_LEN;

				/* Solicited data starts where the first burst ended. */
				assert_true(off >= o.first_burst && off + len <= WRITE_LEN);
				r2ts++;
				for (uint32_t sn = 0; len;) {
					uint32_t chunk = len < cl->tgt_mrdsl ? len : cl->tgt_mrdsl;

					ob_data_out(&ob, cl, itt, ttt, sn++, off, buf, chunk, chunk == len);
					off += chunk;
					len -= chunk;
				}
			} else {
				assert_int_equal(op, ISCSI_OP_SCSI_RESP);
				assert_int_equal(ibuf[3], SAM_STAT_GOOD);
				assert_int_equal(be32(ibuf + 24), cl->exp_statsn);
				cl->exp_statsn++;
				done++;
			}
			memmove(ibuf, ibuf + total, ilen - total);
			ilen -= total;
		}
	}
	fcntl(cl->fd, F_SETFL, fl);
	assert_int_equal(r2ts, NWRITES);        /* 768 KiB each: one R2T (MaxBurstLength 1 MiB) */
	/* Every byte landed where it belongs. */
	for (uint32_t i = 0; i < NWRITES; i++) {
		uint8_t cdb[10];
		struct result r;

		rw10(cdb, READ_10, i * (WRITE_LEN / BLK), (uint16_t)(WRITE_LEN / BLK));
		exec(cl, cdb, 10, ISCSI_CMD_READ, WRITE_LEN, NULL, in, &r);
		assert_int_equal(r.status, SAM_STAT_GOOD);
		assert_int_equal(r.data_in, WRITE_LEN);
		assert_memory_equal(in, data + (size_t)i * WRITE_LEN, WRITE_LEN);
	}
	ping(cl, 0x4999);
	close(cl->fd);
	free(ob.p);
	free(in);
	free(data);
}

/* ---------------------------------------------------------------- async events, cold reset */

/* ---------------------------------------------------------------- batched receive */
#define BATCH_CMDS 8u

/*
 * The target reads the socket in bursts and parses every PDU of a burst
 * from memory; data segments of 16 KiB or more are read straight into the
 * command's buffer.  Here, with header and data digests: eight WRITEs
 * (4 KiB and 64 KiB of immediate data, alternating) and a NOP-Out reach
 * the target in one write, so one burst holds many PDUs and ends in the
 * middle of one; then eight READs dribble in pieces of 1 to 700 bytes, so
 * headers and digests arrive split.  Every command must complete GOOD
 * and every byte read back must be the byte written.
 */
static void test_batched_receive_with_digests(void **state)
{
	struct login_opts o = { .digest = "CRC32C" };
	struct cl *cl = new_client(*state, &o);
	static uint8_t out[BATCH_CMDS][64 * 1024], in[BATCH_CMDS][64 * 1024];
	static uint8_t sendbuf[BATCH_CMDS * (64 * 1024 + 120) + 4096];
	static const size_t pieces[] = { 1, 5, 47, 52, 3, 700 };
	struct obuf ob = { .p = sendbuf, .cap = sizeof(sendbuf) };
	uint32_t len[BATCH_CMDS], got_len[BATCH_CMDS] = { 0 }, itt0;
	uint8_t bhs[48], cdb[10], ping_data[100];
	bool done[BATCH_CMDS] = { false }, pinged = false;
	unsigned left;
	size_t off, k;

	clear_ua(cl);
	itt0 = cl->itt;
	for (unsigned i = 0; i < BATCH_CMDS; i++) {
		len[i] = i % 2 ? 64u * 1024u : 4096u;
		fill(out[i], len[i], 40 + i);
		rw10(cdb, WRITE_10, 4000 + i * 256, (uint16_t)(len[i] / BLK));
		cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, len[i], true, cl->itt++);
		ob_pdu_dig(&ob, cl, bhs, out[i], len[i]);
	}
	memset(bhs, 0, sizeof(bhs));
	bhs[0] = ISCSI_OP_NOP_OUT | ISCSI_FLAG_IMMEDIATE;
	bhs[1] = ISCSI_FLAG_FINAL;
	iscsi_put_be32(bhs + 16, 0x7777);
	iscsi_put_be32(bhs + 20, ISCSI_RESERVED_TAG);
	iscsi_put_be32(bhs + 24, cl->cmdsn);
	iscsi_put_be32(bhs + 28, cl->exp_statsn);
	fill(ping_data, sizeof(ping_data), 9);
	ob_pdu_dig(&ob, cl, bhs, ping_data, sizeof(ping_data));
	write_all(cl->fd, ob.p, ob.len);

	for (left = BATCH_CMDS + 1; left; left--) {
		uint32_t itt;

		assert_int_equal(recv_pdu(cl, &rx), 0);
		itt = be32(rx.bhs + 16);
		if ((rx.bhs[0] & 0x3f) == ISCSI_OP_NOP_IN) {
			assert_int_equal(itt, 0x7777);
			assert_int_equal(rx.dlen, sizeof(ping_data));
			assert_memory_equal(rx.data, ping_data, sizeof(ping_data));
			assert_false(pinged);
			pinged = true;
		} else {
			assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_SCSI_RESP);
			assert_true(itt >= itt0 && itt < itt0 + BATCH_CMDS);
			assert_false(done[itt - itt0]);
			assert_int_equal(rx.bhs[3], SAM_STAT_GOOD);
			done[itt - itt0] = true;
		}
		assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);
		cl->exp_statsn++;
	}

	ob.len = 0;
	itt0 = cl->itt;
	for (unsigned i = 0; i < BATCH_CMDS; i++) {
		rw10(cdb, READ_10, 4000 + i * 256, (uint16_t)(len[i] / BLK));
		cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_READ, len[i], true, cl->itt++);
		ob_pdu_dig(&ob, cl, bhs, NULL, 0);
	}
	for (off = 0, k = 0; off < ob.len; k++) {
		size_t n = pieces[k % (sizeof(pieces) / sizeof(pieces[0]))];

		if (n > ob.len - off)
			n = ob.len - off;
		write_all(cl->fd, ob.p + off, n);
		off += n;
		usleep(200);        /* let the target see each piece on its own */
	}
	memset(done, 0, sizeof(done));
	for (left = BATCH_CMDS; left;) {
		uint32_t itt, i;

		assert_int_equal(recv_pdu(cl, &rx), 0);
		assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_DATA_IN);
		itt = be32(rx.bhs + 16);
		assert_true(itt >= itt0 && itt < itt0 + BATCH_CMDS);
		i = itt - itt0;
		assert_false(done[i]);
		assert_int_equal(be32(rx.bhs + 40), got_len[i]);
		assert_true(got_len[i] + rx.dlen <= len[i]);
		memcpy(in[i] + got_len[i], rx.data, rx.dlen);
		got_len[i] += rx.dlen;
		if (rx.bhs[1] & ISCSI_FLAG_STATUS) {
			assert_int_equal(rx.bhs[3], SAM_STAT_GOOD);
			assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);
			cl->exp_statsn++;
			done[i] = true;
			left--;
		}
	}
	for (unsigned i = 0; i < BATCH_CMDS; i++) {
		assert_int_equal(got_len[i], len[i]);
		assert_memory_equal(in[i], out[i], len[i]);
	}
	ping(cl, 0x99);
	close(cl->fd);
}

static void expect_async_ua(struct cl *cl, uint64_t lun, uint8_t asc, uint8_t ascq)
{
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_ASYNC_MSG);
	assert_int_equal(be32(rx.bhs + 16), ISCSI_RESERVED_TAG);
	assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);      /* takes a StatSN */
	cl->exp_statsn++;
	assert_true(iscsi_get_be64(rx.bhs + 8) == vs_iscsi_scsi_to_lun(lun));
	assert_int_equal(rx.bhs[36], 0);                          /* AsyncEvent: SCSI event */
	/* §11.9.4: SenseLength, then fixed-format sense. */
	assert_int_equal(rx.dlen, 20);
	assert_int_equal(iscsi_get_be16(rx.data), 18);
	assert_int_equal(rx.data[2] & 0x7f, 0x70);
	assert_int_equal(rx.data[2 + 2] & 0xf, SENSE_UNIT_ATTENTION);
	assert_int_equal(rx.data[2 + 12], asc);
	assert_int_equal(rx.data[2 + 13], ascq);
}

static void test_async_event_on_lun_change(void **state)
{
	struct fx *f = *state;
	struct cl *cl = new_client(f, NULL);
	struct vs_kv kv[] = { { "size", "1M" } };
	struct vs_vdisk_lun_config lcfg = { .block_size = BLK };
	uint64_t size = 32u << 20;
	uint8_t tur[6] = { 0 };
	struct result r;

	clear_ua(cl);
	/* A LUN arrives: the session hears at once (REPORTED LUNS DATA HAS
	 * CHANGED, reported on the lowest LUN), without sending a command. */
	lcfg.bdev = vs_bdev_open("ram", kv, 1);
	assert_non_null(lcfg.bdev);
	assert_int_equal(vs_port_lun_add(f->port, 1, &lcfg), 0);
	expect_async_ua(cl, 0, 0x3f, 0x0e);
	/* LUN 0 grows: CAPACITY DATA HAS CHANGED on LUN 0. */
	assert_int_equal(vs_port_lun_control(f->port, 0, VS_LUN_RESIZE, &size), 0);
	expect_async_ua(cl, 0, 0x2a, 0x09);
	/* The unit attentions are still reported on the next command. */
	exec(cl, tur, 6, 0, 0, NULL, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);
	assert_int_equal(r.asc, 0x3f);
	assert_int_equal(r.ascq, 0x0e);
	/* Removing a LUN is news too; nothing else was queued before. */
	assert_int_equal(vs_port_lun_remove(f->port, 1, true), 0);
	expect_async_ua(cl, 0, 0x3f, 0x0e);
	ping(cl, 0x5001);
	close(cl->fd);
}

static void test_cold_reset_drops_every_session(void **state)
{
	struct fx *f = *state;
	static const uint8_t isid_b[6] = { 0x80, 0, 0, 0x12, 0x34, 1 };
	struct login_opts ob = { .isid = isid_b };
	struct cl *a = new_client(f, NULL);
	struct cl *b = new_client(f, &ob);
	struct vs_iscsi_session_info info[4];

	clear_ua(a);
	clear_ua(b);
	assert_int_equal(vs_iscsi_sessions(f->is, info, 4), 2);
	/* SAM-5: a cold reset is a hard reset of the target; RFC 7143 §11.5.1:
	 * the target answers, then closes all connections of all sessions. */
	send_tmf(a, ISCSI_TMF_TARGET_COLD_RESET, 0x800, 0, 0);
	assert_int_equal(tmf_response(a, 0x800), 0);
	assert_int_equal(recv_pdu(a, &rx), -1);
	assert_int_equal(recv_pdu(b, &rx), -1);
	for (int i = 0; i < 200 && vs_iscsi_sessions(f->is, info, 4); i++)
		usleep(10000);
	assert_int_equal(vs_iscsi_sessions(f->is, info, 4), 0);
	close(a->fd);
	close(b->fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_login_and_unit_attention, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_write_read_immediate, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_r2t_flow, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_unsolicited_data_out, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_data_in_split_by_mrdsl, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_residual_underflow, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_condition_sense, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nop_echo_and_reject, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cmdsn_window, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_abort_task, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_digests, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_logout, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_session_reinstatement, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_login_unknown_target_fails, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_remove_target, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_login_timeout, fx_setup_timers, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nop_ping_and_timeout, fx_setup_timers, fx_teardown),
		cmocka_unit_test_setup_teardown(test_portal_and_max_connections, fx_setup_limits, fx_teardown),
		cmocka_unit_test_setup_teardown(test_many_large_writes_in_flight, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_batched_receive_with_digests, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_async_event_on_lun_change, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cold_reset_drops_every_session, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
