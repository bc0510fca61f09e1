/* SPDX-License-Identifier: MIT */
/*
 * The two floods of issue 12 from raw sockets, bounded in count and time,
 * from source addresses other than the legitimate client's (127.0.0.1):
 *
 *   flood_client discovery PORT COUNT SOURCES SECONDS
 *       COUNT discovery sessions without CHAP (RFC 7143 §13.3) from
 *       127.0.0.2 .. 127.0.0.(1+SOURCES) (half of them from 127.0.0.2, a
 *       heavy attacker, the others in turn), each answering the target's
 *       NOP-In pings (§11.18) and asking nothing; one refused or closed
 *       logs in again.
 *   flood_client login PORT COUNT SOURCES SECONDS
 *       COUNT connections from the same addresses that each send the first 20 bytes of a Login
 *       Request header (§11.12) and then nothing; one closed connects
 *       again.
 *
 * A connection refused or closed waits RETRY_MS before it tries again, so
 * the flood keeps pushing at the door without taking the CPU the test
 * shares.  At the end it prints one line,
 *   "attempts A held_max H pings P closed C"
 * (connections tried, the most held at once, pings answered, connections
 * the target closed) and exits 0; 2 on a local error (socket, bind).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/raw_iscsi.h"

#define MAX_COUNT 512
#define RETRY_MS  200
#define BATCH     16      /* logins tried per pass: the rest wait for the next */

struct slot {
	struct raw_conn c;
	int state;          /* IDLE: waits for retry_at; CONNECTING; UP */
	uint64_t retry_at;
};

enum { IDLE = 0, CONNECTING, UP };

static struct slot slots[MAX_COUNT];
static unsigned long attempts, pings, closed_by_target;
static int held, held_max;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Half of the connections come from the first address (one heavy
 * attacker), the others from the rest in turn. */
static void source(int i, int sources, char *out, size_t cap)
{
	int n = sources == 1 || i % 2 == 0 ? 0 : 1 + (i / 2) % (sources - 1);

	snprintf(out, cap, "127.0.0.%d", 2 + n);
}

static void lost(struct slot *s, bool by_target)
{
	if (s->state == UP)
		held--;
	raw_close(&s->c);
	s->state = IDLE;
	s->retry_at = now_ms() + RETRY_MS;
	if (by_target)
		closed_by_target++;
}

static void up(struct slot *s)
{
	s->state = UP;
	if (++held > held_max)
		held_max = held;
}

/* ---------------------------------------------------------------- discovery */

static int discovery_login(int i, int port, int sources)
{
	struct slot *s = &slots[i];
	char src[32], name[96];

	source(i, sources, src, sizeof(src));
	attempts++;
	if (raw_connect_from(&s->c, src, port, 2000)) {
		if (errno == EADDRNOTAVAIL || strstr(s->c.err, "bind")) {
			fprintf(stderr, "flood_client: %s\n", s->c.err);
			return -1;
		}
		lost(s, false);
		return 0;
	}
	s->c.isid[0] = 0x80;
	s->c.isid[4] = (uint8_t)(i >> 8);
	s->c.isid[5] = (uint8_t)i;
	snprintf(name, sizeof(name), "iqn.2026-11.org.vstor:flood-%d", i);
	if (raw_login(&s->c, name, NULL)) {
		lost(s, true);
		return 0;
	}
	up(s);
	return 0;
}

/* One PDU from the target: a ping gets its answer (§11.18: ITT
 * 0xffffffff, the TTT echoed, immediate); anything else is ignored.
 * false: the target closed the connection. */
static bool take_pdu(struct slot *s)
{
	static struct raw_pdu p;

	if (raw_recv_exact(&s->c, p.h.b, ISCSI_BHS_LEN) != 1)
		return false;
	p.len = bhs_dsl(&p.h);
	if (p.len > RAW_MAX_RECV_DSL || bhs_ahs_len(&p.h) ||
	    (p.len && raw_recv_exact(&s->c, p.data, iscsi_pad4(p.len)) != 1))
		return false;
	if (raw_advances_statsn(&p.h))
		s->c.exp_statsn = bhs_be32(&p.h, 24) + 1;
	if (bhs_opcode(&p.h) == ISCSI_OP_NOP_IN && bhs_itt(&p.h) == ISCSI_RESERVED_TAG &&
	    bhs_be32(&p.h, 20) != ISCSI_RESERVED_TAG) {
		struct iscsi_bhs o = { { 0 } };

		o.b[0] = ISCSI_OP_NOP_OUT | ISCSI_FLAG_IMMEDIATE;
		o.b[1] = ISCSI_FLAG_FINAL;
		memcpy(o.b + 8, p.h.b + 8, 8);
		bhs_set_be32(&o, 16, ISCSI_RESERVED_TAG);
		bhs_set_be32(&o, 20, bhs_be32(&p.h, 20));
		bhs_set_be32(&o, 24, s->c.cmdsn);
		bhs_set_be32(&o, 28, s->c.exp_statsn);
		if (raw_send_pdu(&s->c, &o, NULL, 0))
			return false;
		pings++;
	}
	return true;
}

/* ---------------------------------------------------------------- login */

/* A non-blocking connect from the slot's source address. */
static int start_connect(int i, int port, int sources)
{
	struct slot *s = &slots[i];
	struct sockaddr_in from = { .sin_family = AF_INET };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char src[32];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		perror("flood_client: socket");
		return -1;
	}
	source(i, sources, src, sizeof(src));
	inet_pton(AF_INET, src, &from.sin_addr);
	if (bind(fd, (struct sockaddr *)&from, sizeof(from))) {
		fprintf(stderr, "flood_client: bind %s: %s\n", src, strerror(errno));
		close(fd);
		return -1;
	}
	attempts++;
	s->c.fd = fd;
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) && errno != EINPROGRESS) {
		lost(s, false);
		return 0;
	}
	s->state = CONNECTING;
	return 0;
}

/* Connected: the first 20 bytes of a Login Request header, and no more. */
static void send_partial_header(struct slot *s)
{
	struct iscsi_bhs h = { { 0 } };
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(s->c.fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		lost(s, false);
		return;
	}
	h.b[0] = ISCSI_OP_LOGIN_REQ | ISCSI_FLAG_IMMEDIATE;
	h.b[1] = ISCSI_LOGIN_TRANSIT | ISCSI_STAGE_SECURITY << 2 | ISCSI_STAGE_OPERATIONAL;
	h.b[8] = 0x80;
	if (send(s->c.fd, h.b, 20, MSG_NOSIGNAL) != 20) {
		lost(s, true);
		return;
	}
	up(s);
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	static struct pollfd pfd[MAX_COUNT];
	static int who[MAX_COUNT];
	bool discovery;
	int port, count, sources;
	uint64_t end;

	if (argc != 6 || (strcmp(argv[1], "discovery") && strcmp(argv[1], "login"))) {
		fprintf(stderr, "usage: flood_client discovery|login PORT COUNT SOURCES SECONDS\n");
		return 2;
	}
	discovery = strcmp(argv[1], "discovery") == 0;
	port = atoi(argv[2]);
	count = atoi(argv[3]);
	sources = atoi(argv[4]);
	end = now_ms() + (uint64_t)atoi(argv[5]) * 1000u;
	if (count < 1 || count > MAX_COUNT || sources < 1 || sources > 250 || port < 1) {
		fprintf(stderr, "flood_client: COUNT 1-%d, SOURCES 1-250\n", MAX_COUNT);
		return 2;
	}
	for (int i = 0; i < count; i++)
		slots[i].c.fd = -1;
	while (now_ms() < end) {
		int tried = 0, n = 0;
		uint64_t now = now_ms();

		for (int i = 0; i < count && tried < BATCH; i++) {
			if (slots[i].state != IDLE || now < slots[i].retry_at)
				continue;
			tried++;
			if ((discovery ? discovery_login(i, port, sources) : start_connect(i, port, sources)))
				return 2;
		}
		for (int i = 0; i < count; i++) {
			if (slots[i].state == IDLE)
				continue;
			pfd[n].fd = slots[i].c.fd;
			pfd[n].events = slots[i].state == CONNECTING ? POLLOUT : POLLIN;
			who[n++] = i;
		}
		if (poll(pfd, (nfds_t)n, 20) < 0 && errno != EINTR) {
			perror("flood_client: poll");
			return 2;
		}
		for (int k = 0; k < n; k++) {
			struct slot *s = &slots[who[k]];

			if (!pfd[k].revents)
				continue;
			if (s->state == CONNECTING) {
				send_partial_header(s);
			} else if (discovery) {
				if (!take_pdu(s))
					lost(s, true);
			} else {
				uint8_t b[64];

				/* The target sends nothing to a login it never read:
				 * readable means it closed the connection. */
				ssize_t got = recv(s->c.fd, b, sizeof(b), MSG_DONTWAIT);

				if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
					lost(s, true);
			}
		}
	}
	for (int i = 0; i < count; i++)
		raw_close(&slots[i].c);
	printf("attempts %lu held_max %d pings %lu closed %lu\n", attempts, held_max, pings,
	       closed_by_target);
	return 0;
}
