/* SPDX-License-Identifier: MIT */
/*
 * stop_client: what an initiator sees while vstord stops (tests/e2e/
 * sigterm.sh), on raw PDUs so each step of the graceful stop is checked,
 * not just that the connection ended:
 *
 *   stop_client PORT IQN LBA BYTE CMD
 *       log in (InitialR2T=Yes); start a WRITE(10) of 8 blocks at LBA filled
 *       with BYTE and hold its data back (the target's R2T waits); run CMD
 *       (it sends vstord SIGTERM); then expect, in this order:
 *         - an Asynchronous Message, AsyncEvent 1: the target asks for a
 *           logout (RFC 7143 §11.9.1);
 *         - the write, a command already started, still finishes: its
 *           Data-Out is taken and it is answered GOOD;
 *         - a new command is not started: Reject, reason "waiting for
 *           logout" (§11.17.1, 0x0c);
 *         - Logout is answered (§11.15), and the target closes.
 *
 *   stop_client PORT IQN LBA BYTE CMD hold
 *       the same up to the logout request, but the write's data never
 *       comes: the target must close the connection when its grace period
 *       ends (-g), aborting the write without a status; prints how long
 *       after the logout request that took.
 *
 * A vstord that just exits on SIGTERM fails at the first step.  Prints one
 * line per step; exit 0 = all seen, 1 = a step failed, 2 = bad usage.
 */
#include <sys/wait.h>
#include <time.h>

#include "lib/raw_iscsi.h"

#define TIMEOUT_MS 10000
#define BLOCKS 8u

static int failed(const char *what, struct raw_conn *c)
{
	fprintf(stderr, "stop_client: FAIL %s: %s\n", what, c->err);
	return 1;
}

/* The next PDU that is not a ping answer; 0 = got one. */
static int next_pdu(struct raw_conn *c, struct raw_pdu *p, const char *waiting_for)
{
	int r = raw_recv_pdu(c, p);

	if (r == 0)
		return raw_fail(c, "connection closed while waiting for %s", waiting_for);
	if (r < 0)
		return raw_fail(c, "%s: nothing within %d ms (%s)", waiting_for, TIMEOUT_MS,
		                c->err[0] ? c->err : strerror(errno));
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Never send the write's data: the target must give up on it at the end of
 * its grace period and close, without answering it. */
static int hold_until_closed(struct raw_conn *c, uint32_t witt)
{
	static struct raw_pdu p;
	long t0 = now_ms();

	/* raw_recv_pdu answers the target's pings and reads on, so only a
	 * timer bounds the whole wait: SIGALRM ends us ("Alarm clock"). */
	alarm(30);
	for (;;) {
		int r = raw_recv_pdu(c, &p);

		if (r == 0)
			break;
		if (r < 0)
			return failed("held write: waiting for the target to close", c);
		if (bhs_opcode(&p.h) == ISCSI_OP_SCSI_RESP && bhs_itt(&p.h) == witt) {
			fprintf(stderr, "stop_client: FAIL the held write was answered (status 0x%02x) "
			        "though its data never came\n", p.h.b[3]);
			return 1;
		}
	}
	printf("stop_client: held write: the target closed the connection %ld ms after the "
	       "logout request, without a status for it\n", now_ms() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	static const uint8_t isid[6] = { 0x80, 0x12, 0x34, 0x56, 0x00, 0x09 };
	static struct raw_pdu p;
	static uint8_t data[BLOCKS * 512];
	struct raw_conn c = { 0 };
	struct iscsi_bhs h;
	uint8_t cdb[10] = { 0x2a /* WRITE(10) */ };
	uint8_t tur[6] = { 0 };
	uint32_t witt, ttt, lba;
	int st;

	bool hold = argc == 7 && !strcmp(argv[6], "hold");

	if (argc != 6 && !hold) {
		fprintf(stderr, "usage: stop_client PORT IQN LBA BYTE CMD [hold]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	lba = (uint32_t)strtoul(argv[3], NULL, 0);
	memset(data, atoi(argv[4]), sizeof(data));
	if (raw_connect(&c, atoi(argv[1]), TIMEOUT_MS))
		return failed("connect", &c);
	memcpy(c.isid, isid, 6);
	if (raw_login(&c, "iqn.2026-11.org.vstor:e2e-stop", argv[2]))
		return failed("login", &c);
	if (!c.initial_r2t)
		return failed("login: InitialR2T=No, want Yes (the data must wait for an R2T)", &c);
	/* The new nexus's UNIT ATTENTION (POWER ON, RESET) goes to a TEST UNIT
	 * READY, not to the write. */
	for (int i = 0;; i++) {
		struct raw_result res;

		if (raw_scsi_in(&c, tur, sizeof(tur), 0, NULL, 0, &res))
			return failed("TEST UNIT READY", &c);
		if (res.status == 0)
			break;
		if (i == 4)
			return failed("TEST UNIT READY never GOOD", &c);
	}

	/* A write that has started: the target holds its task and asks for
	 * the data, which we keep back across the SIGTERM. */
	cdb[2] = (uint8_t)(lba >> 24);
	cdb[3] = (uint8_t)(lba >> 16);
	cdb[4] = (uint8_t)(lba >> 8);
	cdb[5] = (uint8_t)lba;
	cdb[8] = BLOCKS;
	witt = c.itt;
	raw_cmd_bhs(&c, &h, cdb, sizeof(cdb), ISCSI_CMD_WRITE, sizeof(data));
	if (raw_send_pdu(&c, &h, NULL, 0) || raw_wait_r2t(&c, witt, &p))
		return failed("WRITE(10): no R2T", &c);
	ttt = bhs_be32(&p.h, 20);
	if (bhs_be32(&p.h, 40) != 0 || bhs_be32(&p.h, 44) != sizeof(data))
		return failed("WRITE(10): R2T for another range than the whole write", &c);
	printf("stop_client: write at LBA %u started, R2T received\n", lba);

	st = system(argv[5]);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "stop_client: FAIL '%s' did not succeed\n", argv[5]);
		return 1;
	}

	/* 1. The logout request (§11.9.1: AsyncEvent 1, Parameter3 = the time
	 *    left to log out in seconds). */
	if (next_pdu(&c, &p, "the Asynchronous Message"))
		return failed("no logout request after SIGTERM", &c);
	if (bhs_opcode(&p.h) != ISCSI_OP_ASYNC_MSG || p.h.b[36] != 1) {
		fprintf(stderr, "stop_client: FAIL want an Asynchronous Message with AsyncEvent 1, got "
		        "opcode 0x%02x AsyncEvent %u\n", bhs_opcode(&p.h), p.h.b[36]);
		return 1;
	}
	printf("stop_client: Asynchronous Message AsyncEvent 1 (logout requested within %u s)\n",
	       iscsi_get_be16(p.h.b + 42));
	if (hold)
		return hold_until_closed(&c, witt);

	/* 2. A new command is not started.  Sent while the write still waits
	 *    for its Data-Out, so the connection is certainly still open: once
	 *    its last task has answered, a stopping target may close it at
	 *    any tick (iscsi_loop.c stop_tick). */
	raw_cmd_bhs(&c, &h, tur, sizeof(tur), 0, 0);
	if (raw_send_pdu(&c, &h, NULL, 0))
		return failed("TEST UNIT READY", &c);
	c.cmdsn--;      /* §11.17.1: a rejected command's CmdSN is not used */
	if (next_pdu(&c, &p, "the Reject"))
		return failed("a new command after SIGTERM", &c);
	if (bhs_opcode(&p.h) != ISCSI_OP_REJECT || p.h.b[2] != ISCSI_REJECT_WAITING_FOR_LOGOUT) {
		fprintf(stderr, "stop_client: FAIL want Reject 0x0c (waiting for logout) for a new "
		        "command, got opcode 0x%02x reason 0x%02x\n", bhs_opcode(&p.h), p.h.b[2]);
		return 1;
	}
	printf("stop_client: a new command was rejected, waiting for logout\n");

	/* 3. The started write finishes: Data-Out in, GOOD out. */
	raw_data_out_bhs(&c, &h, witt, ttt, 0, 0, true);
	if (raw_send_pdu(&c, &h, data, sizeof(data)))
		return failed("Data-Out", &c);
	if (next_pdu(&c, &p, "the write's status"))
		return failed("the started write was not finished", &c);
	if (bhs_opcode(&p.h) != ISCSI_OP_SCSI_RESP || bhs_itt(&p.h) != witt || p.h.b[2] != 0 ||
	    p.h.b[3] != 0) {
		fprintf(stderr, "stop_client: FAIL want GOOD for the write (ITT 0x%x), got opcode 0x%02x "
		        "ITT 0x%x response 0x%02x status 0x%02x\n", witt, bhs_opcode(&p.h),
		        bhs_itt(&p.h), p.h.b[2], p.h.b[3]);
		return 1;
	}
	printf("stop_client: the started write finished GOOD\n");

	/* 4. The logout is answered; then the target closes. */
	if (raw_logout(&c))
		return failed("logout", &c);
	if (raw_recv_pdu(&c, &p) != 0)
		return failed("the target did not close the connection after the logout", &c);
	printf("stop_client: logged out, connection closed by the target\n");
	raw_close(&c);
	return 0;
}
