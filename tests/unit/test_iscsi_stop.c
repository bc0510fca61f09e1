/* SPDX-License-Identifier: MIT */
/*
 * Stopping the fabric (vs_iscsi_stop, what SIGTERM does in vstord): every
 * logged-in connection is asked to log out (Asynchronous Message,
 * AsyncEvent 1 with Parameter3 = the grace period, RFC 7143 §11.9.1); new
 * commands are rejected ("Waiting for Logout"), commands already started
 * finish -- their Data-Out is still taken -- and each connection closes as
 * soon as its last task has answered, so stop returns long before the
 * grace period under load; what is still waiting at the deadline is
 * aborted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <unistd.h>

#include "vstor/scsi.h"
#include "iscsi_harness.h"

struct stopper {
	pthread_t th;
	struct fx *f;
	uint32_t grace_ms;
	uint64_t took_ms;
};

static struct stopper *running;   /* joined by teardown if a test fails */

static void *stop_thread(void *arg)
{
	struct stopper *s = arg;
	uint64_t t0 = now_ms();

	vs_iscsi_stop(s->f->is, s->grace_ms);       /* blocks until every loop is done */
	s->took_ms = now_ms() - t0;
	return NULL;
}

static void start_stop(struct stopper *s, struct fx *f, uint32_t grace_ms)
{
	s->f = f;
	s->grace_ms = grace_ms;
	assert_int_equal(pthread_create(&s->th, NULL, stop_thread, s), 0);
	running = s;
}

static uint64_t join_stop(struct stopper *s)
{
	pthread_join(s->th, NULL);
	running = NULL;
	return s->took_ms;
}

static int teardown(void **state)
{
	if (running)
		join_stop(running);
	return fx_teardown(state);
}

/* The next PDU asks us to log out within `seconds` (§11.9.1). */
static void expect_logout_request(struct cl *cl, uint16_t seconds)
{
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_ASYNC_MSG);
	assert_int_equal(be32(rx.bhs + 16), ISCSI_RESERVED_TAG);
	assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);   /* takes a StatSN */
	cl->exp_statsn++;
	assert_int_equal(rx.bhs[36], 1);                        /* AsyncEvent: logout requested */
	assert_int_equal(iscsi_get_be16(rx.bhs + 42), seconds); /* Parameter3 */
	assert_int_equal(rx.dlen, 0);
}

static void test_idle_connection(void **state)
{
	struct fx *f = *state;
	struct cl *cl = new_client(f, NULL);
	struct stopper s;

	clear_ua(cl);
	start_stop(&s, f, 5000);
	expect_logout_request(cl, 5);
	/* Nothing in flight: the connection closes right after. */
	assert_int_equal(recv_pdu(cl, &rx), -1);
	assert_true(join_stop(&s) < 2000);
	close(cl->fd);
}

static void test_commands_in_flight_finish(void **state)
{
	struct fx *f = *state;
	struct cl *cl = new_client(f, &(struct login_opts){ .initial_r2t = true, .first_burst = 4096 });
	static uint8_t out[8192];
	static const uint8_t tur[6];
	uint8_t bhs[48];
	struct stopper s;
	uint32_t ttt, cmdsn;

	clear_ua(cl);
	fill(out, sizeof(out), 21);
	ttt = write_until_r2t(cl, 0x100, 0, sizeof(out), out, 4096);
	start_stop(&s, f, 10000);
	expect_logout_request(cl, 10);
	/* A new command is not started: Reject, its CmdSN not consumed. */
	cmdsn = cl->cmdsn;
	cmd_header(cl, bhs, tur, 6, 0, 0, true, 0x101);
	send_pdu(cl, bhs, NULL, 0);
	assert_int_equal(expect_reject(cl), ISCSI_REJECT_WAITING_FOR_LOGOUT);
	assert_int_equal(be32(rx.data + 16), 0x101);
	cl->cmdsn = cmdsn;
	/* The write that was started takes its data and completes. */
	send_data_out(cl, 0x100, ttt, 0, 4096, out, 4096, true);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_SCSI_RESP);
	assert_int_equal(be32(rx.bhs + 16), 0x100);
	assert_int_equal(rx.bhs[3], SAM_STAT_GOOD);
	assert_int_equal(be32(rx.bhs + 28), cmdsn);             /* ExpCmdSN did not move */
	/* Then the connection goes, long before the 10 s of grace. */
	assert_int_equal(recv_pdu(cl, &rx), -1);
	assert_true(join_stop(&s) < 3000);
	close(cl->fd);
}

static void test_initiator_logs_out(void **state)
{
	struct fx *f = *state;
	struct cl *cl = new_client(f, &(struct login_opts){ .initial_r2t = true, .first_burst = 4096 });
	static uint8_t out[8192];
	uint8_t bhs[48] = { 0 };
	struct stopper s;

	clear_ua(cl);
	write_until_r2t(cl, 0x200, 0, sizeof(out), out, 4096);
	start_stop(&s, f, 5000);
	expect_logout_request(cl, 5);
	/* NOP-Out is still answered, and the initiator does what it was
	 * asked: its Logout is answered, then the connection closes (the
	 * write it gave up is not acknowledged). */
	ping(cl, 0x201);
	bhs[0] = ISCSI_OP_LOGOUT_REQ | ISCSI_FLAG_IMMEDIATE;
	bhs[1] = ISCSI_FLAG_FINAL | 0;
	iscsi_put_be32(bhs + 16, 0x202);
	iscsi_put_be32(bhs + 24, cl->cmdsn);
	iscsi_put_be32(bhs + 28, cl->exp_statsn);
	send_pdu(cl, bhs, NULL, 0);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_LOGOUT_RESP);
	assert_int_equal(be32(rx.bhs + 16), 0x202);
	assert_int_equal(rx.bhs[2], 0);
	assert_int_equal(recv_pdu(cl, &rx), -1);
	assert_true(join_stop(&s) < 2000);
	close(cl->fd);
}

static void test_grace_expires(void **state)
{
	struct fx *f = *state;
	struct cl *cl = new_client(f, &(struct login_opts){ .initial_r2t = true, .first_burst = 4096 });
	static uint8_t out[8192];
	struct stopper s;
	uint64_t took;

	clear_ua(cl);
	write_until_r2t(cl, 0x300, 0, sizeof(out), out, 4096);
	/* Its data never comes: the task is aborted at the deadline. */
	start_stop(&s, f, 600);
	expect_logout_request(cl, 1);
	assert_int_equal(recv_pdu(cl, &rx), -1);
	took = join_stop(&s);
	assert_true(took >= 500 && took < 3000);
	close(cl->fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_idle_connection, fx_setup, teardown),
		cmocka_unit_test_setup_teardown(test_commands_in_flight_finish, fx_setup, teardown),
		cmocka_unit_test_setup_teardown(test_initiator_logs_out, fx_setup, teardown),
		cmocka_unit_test_setup_teardown(test_grace_expires, fx_setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
