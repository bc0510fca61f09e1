/* SPDX-License-Identifier: MIT */
/*
 * Logout reasons (RFC 7143 §11.14, §11.15): "close the connection" for
 * this CID is answered 0 and the connection closes (ending the session:
 * it has one connection), also with a write still waiting for its data;
 * for a CID the session does not have, "CID not found"; "remove the
 * connection for recovery" needs ErrorRecoveryLevel 2: "connection
 * recovery is not supported".  Neither of the last two ends anything.
 * Closing the session is covered in test_iscsi_conn.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <unistd.h>

#include "iscsi_harness.h"

#define CLOSE_CONNECTION        1
#define REMOVE_FOR_RECOVERY     2

static void send_logout(struct cl *cl, uint8_t reason, uint16_t cid, uint32_t itt)
{
	uint8_t bhs[48] = { 0 };

	bhs[0] = ISCSI_OP_LOGOUT_REQ | ISCSI_FLAG_IMMEDIATE;
	bhs[1] = ISCSI_FLAG_FINAL | reason;
	iscsi_put_be32(bhs + 16, itt);
	iscsi_put_be16(bhs + 20, cid);
	iscsi_put_be32(bhs + 24, cl->cmdsn);
	iscsi_put_be32(bhs + 28, cl->exp_statsn);
	send_pdu(cl, bhs, NULL, 0);
}

static uint8_t logout_response(struct cl *cl, uint32_t itt)
{
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_LOGOUT_RESP);
	assert_int_equal(be32(rx.bhs + 16), itt);
	assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);
	cl->exp_statsn++;
	/* §11.15.2-3: nothing is kept for recovery at ERL 0. */
	assert_int_equal(iscsi_get_be16(rx.bhs + 40), 0);
	assert_int_equal(iscsi_get_be16(rx.bhs + 42), 0);
	return rx.bhs[2];
}

static void test_close_connection(void **state)
{
	struct fx *f = *state;
	struct cl *cl = new_client(f, NULL);

	/* The harness logs in with CID 0. */
	send_logout(cl, CLOSE_CONNECTION, 0, 0x10);
	assert_int_equal(logout_response(cl, 0x10), 0);
	assert_int_equal(recv_pdu(cl, &rx), -1);
	assert_true(wait_sessions(f, 0, 2000));
	close(cl->fd);
}

static void test_close_connection_with_a_write_waiting(void **state)
{
	struct fx *f = *state;
	struct cl *cl = new_client(f, &(struct login_opts){ .initial_r2t = true, .first_burst = 4096 });
	static uint8_t out[8192];

	clear_ua(cl);
	/* §11.14: no new commands after the logout; the write that waits for
	 * data the initiator will not send ends, then the response goes. */
	write_until_r2t(cl, 0x20, 0, sizeof(out), out, 4096);
	send_logout(cl, CLOSE_CONNECTION, 0, 0x21);
	assert_int_equal(logout_response(cl, 0x21), 0);
	assert_int_equal(recv_pdu(cl, &rx), -1);
	assert_true(wait_sessions(f, 0, 2000));
	close(cl->fd);
}

static void test_unknown_cid(void **state)
{
	struct cl *cl = new_client(*state, NULL);

	send_logout(cl, CLOSE_CONNECTION, 5, 0x30);
	assert_int_equal(logout_response(cl, 0x30), 1);     /* CID not found */
	ping(cl, 0x31);
	close(cl->fd);
}

static void test_remove_for_recovery(void **state)
{
	struct cl *cl = new_client(*state, NULL);

	send_logout(cl, REMOVE_FOR_RECOVERY, 0, 0x40);
	assert_int_equal(logout_response(cl, 0x40), 2);     /* recovery not supported */
	ping(cl, 0x41);
	close(cl->fd);
}

static void test_unknown_reason(void **state)
{
	struct cl *cl = new_client(*state, NULL);

	send_logout(cl, 3, 0, 0x50);
	assert_int_equal(expect_reject(cl), ISCSI_REJECT_INVALID_PDU_FIELD);
	ping(cl, 0x51);
	close(cl->fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_close_connection, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_close_connection_with_a_write_waiting, fx_setup,
		                                fx_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_cid, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_remove_for_recovery, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_reason, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
