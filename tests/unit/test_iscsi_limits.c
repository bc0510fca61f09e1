/* SPDX-License-Identifier: MIT */
/*
 * The limits that protect the daemon: max_sessions (one more login fails
 * with 0x0302 "out of resources", RFC 7143 §11.13.5, and is let in once a
 * session has gone), max_connections (counted from accept, logins in
 * progress included; a freed slot takes the next one), login_timeout (a
 * connection that starts logging in and stops is closed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fabrics/iscsi/iscsi_target.h"
#include "iscsi_harness.h"

static int setup_login_timeout(void **state, uint32_t login_timeout_ms)
{
	next_cfg = (struct vs_iscsi_config){ .threads = 2, .queue_depth = 8, .nop_interval_ms = 60000,
	                                     .max_sessions = 2, .max_connections = 3,
	                                     .login_timeout_ms = login_timeout_ms };
	return fx_setup(state);
}

static int setup_limits(void **state)
{
	return setup_login_timeout(state, 300);
}

/* Logins that do not time out during the test: only closing frees a slot. */
static int setup_slow_login(void **state)
{
	return setup_login_timeout(state, 60000);
}

static const uint8_t *isid(uint8_t n)
{
	static uint8_t v[8][6];

	v[n][0] = 0x80;
	v[n][5] = n;
	return v[n];
}

static void test_max_sessions(void **state)
{
	struct fx *f = *state;
	struct cl *a = new_client(f, &(struct login_opts){ .isid = isid(1) });
	struct cl *b = new_client(f, &(struct login_opts){ .isid = isid(2) });
	struct cl c = { .fd = connect_fx(f) };

	assert_int_equal(do_login(&c, &(struct login_opts){ .isid = isid(3), .expect_fail = true }),
	                 ISCSI_LOGIN_STATUS_NO_RESOURCES);
	assert_int_equal(recv_pdu(&c, &rx), -1);
	close(c.fd);
	ping(a, 0x10);
	ping(b, 0x11);
	/* One goes: the next login is let in. */
	close(a->fd);
	assert_true(wait_sessions(f, 1, 2000));
	c.fd = connect_fx(f);
	assert_int_equal(do_login(&c, &(struct login_opts){ .isid = isid(3) }), 0);
	ping(&c, 0x12);
	close(c.fd);
	close(b->fd);
}

static int connect_portal(const struct sockaddr_in *sa)
{
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (const struct sockaddr *)sa, sizeof(*sa)), 0);
	usleep(50000);      /* accepted (or refused) before the next one */
	return fd;
}

static void test_max_connections(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fds[4];
	uint8_t b;

	assert_int_equal(vs_iscsi_add_portal(f->is, "127.0.0.1:0"), 0);
	assert_int_equal(getsockname(f->is->portals[0].fd, (struct sockaddr *)&sa, &len), 0);
	/* Three connections that have not even started to log in fill it;
	 * the fourth is closed at once. */
	for (int i = 0; i < 4; i++)
		fds[i] = connect_portal(&sa);
	assert_int_equal(read(fds[3], &b, 1), 0);
	close(fds[3]);
	/* One of the three goes: its slot takes a new connection, which logs in. */
	close(fds[0]);
	usleep(100000);
	{
		struct cl cl = { .fd = connect_portal(&sa) };

		assert_int_equal(do_login(&cl, &(struct login_opts){ 0 }), 0);
		ping(&cl, 0x20);
		close(cl.fd);
	}
	close(fds[1]);
	close(fds[2]);
}

static void test_login_timeout_mid_login(void **state)
{
	struct cl cl = { .fd = connect_fx(*state) };
	uint8_t bhs[48] = { 0 };
	static const char text[] = "InitiatorName=" INI "\0TargetName=" TGT "\0AuthMethod=None";
	uint64_t t0;

	/* A first Login Request that does not ask to move on (T=0), then
	 * silence: the login never completes. */
	bhs[0] = ISCSI_OP_LOGIN_REQ | ISCSI_FLAG_IMMEDIATE;
	bhs[1] = ISCSI_STAGE_SECURITY << 2;
	bhs[8] = 0x80;
	iscsi_put_be32(bhs + 16, 1);
	send_pdu(&cl, bhs, text, sizeof(text));
	assert_int_equal(recv_pdu(&cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_LOGIN_RESP);
	assert_int_equal(rx.bhs[36], 0);
	t0 = now_ms();
	assert_int_equal(recv_pdu(&cl, &rx), -1);       /* EOF, not the 5 s timeout */
	assert_true(now_ms() - t0 < 3000);
	close(cl.fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_max_sessions, setup_limits, fx_teardown),
		cmocka_unit_test_setup_teardown(test_max_connections, setup_slow_login, fx_teardown),
		cmocka_unit_test_setup_teardown(test_login_timeout_mid_login, setup_limits, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
