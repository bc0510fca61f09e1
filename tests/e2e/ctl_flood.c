/* SPDX-License-Identifier: MIT */
/*
 * ctl_flood: control-socket clients that misbehave, and one that measures,
 * for tests/e2e/ctl_misbehaving.sh.
 *
 *   ctl_flood SOCK pipeline SECONDS
 *       one connection that writes lun.list requests as fast as the socket
 *       takes them for SECONDS and never reads a reply; prints the request
 *       bytes the daemon took.
 *   ctl_flood SOCK idle N SECONDS
 *       N connections that send nothing for SECONDS; prints how many of
 *       them the daemon had closed by then ("closed K of N").
 *   ctl_flood SOCK time COUNT MAX_MS
 *       COUNT times: connect, lun.list, read the reply (a result); prints
 *       the slowest in ms; exit 1 if one took longer than MAX_MS or failed.
 *
 * Exit 0 = done, 1 = a check failed, 2 = bad usage or no daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_IDLE 64

static const char req[] = "{\"method\":\"lun.list\"}\n";

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "ctl_flood: connect %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return fd;
}

static int pipeline(const char *path, int seconds)
{
	enum { BATCH = 1000 };
	static char batch[BATCH * (sizeof(req) - 1)];
	size_t off = 0, taken = 0;
	uint64_t end = now_ms() + (uint64_t)seconds * 1000u;
	int fd = connect_to(path);

	for (size_t i = 0; i < BATCH; i++)
		memcpy(batch + i * (sizeof(req) - 1), req, sizeof(req) - 1);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (now_ms() < end) {
		ssize_t n = send(fd, batch + off, sizeof(batch) - off, MSG_NOSIGNAL);

		if (n > 0) {
			taken += (size_t)n;
			off = (off + (size_t)n) % sizeof(batch);
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;          /* closed by the daemon */
		usleep(1000);
	}
	printf("pipeline: the daemon took %zu request bytes\n", taken);
	close(fd);
	return 0;
}

/* True once the daemon has closed fd (it may have sent a line first). */
static int closed_by_daemon(int fd)
{
	char buf[512];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0)
			return 1;
		if (n < 0)
			return errno != EAGAIN && errno != EINTR;
	}
}

static int idle(const char *path, int n, int seconds)
{
	int fds[MAX_IDLE], closed = 0;

	if (n < 1 || n > MAX_IDLE)
		return 2;
	for (int i = 0; i < n; i++)
		fds[i] = connect_to(path);
	sleep((unsigned)seconds);
	for (int i = 0; i < n; i++) {
		closed += closed_by_daemon(fds[i]);
		close(fds[i]);
	}
	printf("idle: closed %d of %d\n", closed, n);
	return 0;
}

/* connect, lun.list, one reply line; -1 on failure, else ms */
static long one_lun_list(const char *path)
{
	char buf[65536];
	size_t got = 0;
	uint64_t t0 = now_ms();
	int fd = connect_to(path);

	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1))
		goto bad;
	while (got < sizeof(buf) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 5000) != 1)
			goto bad;
		n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			goto bad;
		got += (size_t)n;
		if (memchr(buf, '\n', got))
			break;
	}
	buf[got] = '\0';
	close(fd);
	if (!strstr(buf, "\"result\"")) {
		fprintf(stderr, "ctl_flood: lun.list answered: %s", buf);
		return -1;
	}
	return (long)(now_ms() - t0);
bad:
	fprintf(stderr, "ctl_flood: lun.list: no reply (%s)\n", strerror(errno));
	close(fd);
	return -1;
}

static int timed(const char *path, int count, long max_ms)
{
	long worst = 0;

	for (int i = 0; i < count; i++) {
		long ms = one_lun_list(path);

		if (ms < 0)
			return 1;
		if (ms > worst)
			worst = ms;
		usleep(20000);
	}
	printf("time: %d lun.list, the slowest answered in %ld ms\n", count, worst);
	if (worst > max_ms) {
		fprintf(stderr, "ctl_flood: a lun.list took %ld ms, more than %ld\n", worst, max_ms);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[2], "pipeline"))
		return pipeline(argv[1], atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[2], "idle"))
		return idle(argv[1], atoi(argv[3]), atoi(argv[4]));
	if (argc == 5 && !strcmp(argv[2], "time"))
		return timed(argv[1], atoi(argv[3]), atol(argv[4]));
	fprintf(stderr, "usage: ctl_flood SOCK pipeline SECONDS | idle N SECONDS | time COUNT MAX_MS\n");
	return 2;
}
