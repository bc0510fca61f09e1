/* SPDX-License-Identifier: MIT */
/*
 * Dead connections (RFC 7143 §11.19): a connection from which nothing has
 * come for nop_interval gets a NOP-In ping whatever it is doing, and goes
 * when the ping stays unanswered for nop_timeout -- also while the target
 * waits for that initiator's Data-Out; a connection whose send queue makes
 * no progress for nop_timeout (an initiator that stopped reading) goes too.
 * A live initiator is never dropped: answered pings and data still
 * arriving keep it.  Accepted sockets get keepalive and TCP_USER_TIMEOUT.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vstor/scsi.h"
#include "fabrics/iscsi/iscsi_target.h"
#include "iscsi_harness.h"

#define INTERVAL_MS 200
#define TIMEOUT_MS  600

static int setup_timers(void **state)
{
	next_cfg = (struct vs_iscsi_config){ .threads = 1, .queue_depth = 8,
	                                     .nop_interval_ms = INTERVAL_MS, .nop_timeout_ms = TIMEOUT_MS };
	return fx_setup(state);
}

static bool is_target_ping(const struct pdu *p)
{
	return (p->bhs[0] & 0x3f) == ISCSI_OP_NOP_IN && be32(p->bhs + 16) == ISCSI_RESERVED_TAG &&
	       be32(p->bhs + 20) != ISCSI_RESERVED_TAG;
}

/* §11.18: the answer echoes the TTT, ITT reserved, immediate. */
static void answer_ping(struct cl *cl, uint32_t ttt)
{
	uint8_t bhs[48];

	nop_header(cl, bhs, ISCSI_RESERVED_TAG);
	iscsi_put_be32(bhs + 20, ttt);
	send_pdu(cl, bhs, NULL, 0);
}

static struct cl *client(void **state, bool initial_r2t)
{
	struct login_opts o = { .initial_r2t = initial_r2t };
	struct cl *cl = new_client(*state, &o);

	clear_ua(cl);
	return cl;
}

static void test_unanswered_ping_while_waiting_for_data(void **state)
{
	struct fx *f = *state;
	struct cl *cl = client(state, true);
	uint64_t t0;

	write_until_r2t(cl, 0x10, 0, 8192, NULL, 0);
	/* The initiator goes silent (no RST, the socket stays open): pinged
	 * although a task is active ... */
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_true(is_target_ping(&rx));
	assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);    /* StatSN not advanced */
	/* ... and dropped once the ping went unanswered for nop_timeout,
	 * long before the 5 s the harness waits (so this is EOF). */
	t0 = now_ms();
	assert_int_equal(recv_pdu(cl, &rx), -1);
	assert_true(now_ms() - t0 < 3000);
	assert_true(wait_sessions(f, 0, 2000));
	close(cl->fd);
}

static void test_answered_pings_keep_a_waiting_write(void **state)
{
	struct cl *cl = client(state, true);
	static uint8_t out[8192];
	uint64_t until;
	uint32_t ttt = write_until_r2t(cl, 0x20, 0, 8192, NULL, 0);
	unsigned pings = 0;

	/* Think for well over nop_interval + nop_timeout, answering pings. */
	until = now_ms() + 3 * (INTERVAL_MS + TIMEOUT_MS);
	while (now_ms() < until) {
		assert_int_equal(recv_pdu(cl, &rx), 0);
		assert_true(is_target_ping(&rx));
		answer_ping(cl, be32(rx.bhs + 20));
		pings++;
	}
	assert_true(pings >= 2);
	fill(out, sizeof(out), 3);
	send_data_out(cl, 0x20, ttt, 0, 0, out, sizeof(out), true);
	for (;;) {
		assert_int_equal(recv_pdu(cl, &rx), 0);
		if (!is_target_ping(&rx))
			break;
		answer_ping(cl, be32(rx.bhs + 20));
	}
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_SCSI_RESP);
	assert_int_equal(rx.bhs[3], SAM_STAT_GOOD);
	close(cl->fd);
}

static void test_slow_data_segment_is_alive(void **state)
{
	struct cl *cl = client(state, false);
	static uint8_t out[64 * 1024];
	uint8_t bhs[48], cdb[10];

	/* 64 KiB of immediate data dribbled in 4 KiB every 100 ms: no header
	 * for 1.6 s, but the segment keeps coming, so no ping goes out and
	 * the connection stays. */
	fill(out, sizeof(out), 4);
	rw10(cdb, WRITE_10, 0, sizeof(out) / BLK);
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, sizeof(out), true, 0x30);
	bhs[5] = (uint8_t)(sizeof(out) >> 16); bhs[6] = (uint8_t)(sizeof(out) >> 8); bhs[7] = 0;
	write_all(cl->fd, bhs, 48);
	for (size_t off = 0; off < sizeof(out); off += 4096) {
		write_all(cl->fd, out + off, 4096);
		usleep(100 * 1000);
	}
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_SCSI_RESP);
	assert_int_equal(rx.bhs[3], SAM_STAT_GOOD);
	close(cl->fd);
}

static void test_initiator_stops_reading(void **state)
{
	struct fx *f = *state;
	struct cl *cl = client(state, false);
	uint8_t bhs[48], cdb[10];

	/* 8 MiB of Data-In for an initiator that never reads: the socket
	 * fills and the send queue stops moving. */
	rw10(cdb, READ_10, 0, (8u << 20) / BLK);
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_READ, 8u << 20, true, 0x40);
	send_pdu(cl, bhs, NULL, 0);
	usleep(TIMEOUT_MS / 2 * 1000);
	assert_true(wait_sessions(f, 1, 0));        /* not before nop_timeout */
	assert_true(wait_sessions(f, 0, 3000));     /* but soon after */
	close(cl->fd);
}

static int getopt_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

static void test_accepted_socket_options(void **state)
{
	struct vs_iscsi_config cfg = { .nop_interval_ms = 30000, .nop_timeout_ms = 120000 };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd = socket(AF_INET, SOCK_STREAM, 0), afd;

	(void)state;
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	vs_iscsi_socket_tune(afd, &cfg);
	assert_int_equal(getopt_int(afd, IPPROTO_TCP, TCP_NODELAY), 1);
	assert_int_equal(getopt_int(afd, SOL_SOCKET, SO_KEEPALIVE), 1);
	assert_int_equal(getopt_int(afd, IPPROTO_TCP, TCP_KEEPIDLE), 30);
	assert_int_equal(getopt_int(afd, IPPROTO_TCP, TCP_KEEPINTVL), 40);
	assert_int_equal(getopt_int(afd, IPPROTO_TCP, TCP_KEEPCNT), 3);
	assert_int_equal(getopt_int(afd, IPPROTO_TCP, TCP_USER_TIMEOUT), 120000);
	close(afd);
	close(cfd);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unanswered_ping_while_waiting_for_data, setup_timers,
		                                fx_teardown),
		cmocka_unit_test_setup_teardown(test_answered_pings_keep_a_waiting_write, setup_timers,
		                                fx_teardown),
		cmocka_unit_test_setup_teardown(test_slow_data_segment_is_alive, setup_timers, fx_teardown),
		cmocka_unit_test_setup_teardown(test_initiator_stops_reading, setup_timers, fx_teardown),
		cmocka_unit_test(test_accepted_socket_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
