/* SPDX-License-Identifier: MIT */
/*
 * The control socket in process: newline framing (several requests in one
 * write, answered in order), the request size limit, the client limit, the
 * socket's mode and owner, stale and live sockets, clean removal, and the
 * SO_PEERCRED check: the server's own uid and root are served, any other
 * uid gets one refusal line (that part needs root, to be another uid).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl/ctl.h"

struct fx {
	char dir[48], path[80];
	struct vs_ctl_state *st;
	struct vs_ctl_server *srv;
};

static int setup(void **state)
{
	static const char json[] = "{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:s\",\"luns\":"
	                           "[{\"lun\":0,\"backend\":\"ram\",\"size\":\"1M\"}]}]}";
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];
	snprintf(f->dir, sizeof(f->dir), "/tmp/vstor-test-ctl-server.%d", (int)getpid());
	/* the server makes the directory itself */
	snprintf(f->path, sizeof(f->path), "%s/vstord.sock", f->dir);
	struct vs_config *cfg = NULL;
	assert_int_equal(vs_config_load_buffer("t", json, strlen(json), &cfg, err, sizeof(err)), 0);
	f->st = vs_ctl_state_create(cfg, "t", NULL, NULL, err, sizeof(err));
	assert_non_null(f->st);
	/* Root with another gid: the socket must still be root's (root:root). */
	if (geteuid() == 0)
		assert_int_equal(setegid(65534), 0);
	f->srv = vs_ctl_server_create(f->path, err, sizeof(err));
	if (geteuid() == 0)
		assert_int_equal(setegid(0), 0);
	if (!f->srv)
		fail_msg("server: %s", err);
	assert_int_equal(vs_ctl_server_start(f->srv, f->st, err, sizeof(err)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	vs_ctl_server_destroy(f->srv);
	/* the socket goes with the server */
	assert_int_equal(access(f->path, F_OK), -1);
	vs_ctl_state_destroy(f->st, NULL);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Read one line (5 s limit); returns a malloc'd string without '\n', or
 * NULL on EOF. */
static char *read_line(int fd)
{
	char buf[8192];
	size_t n = 0;
	while (n + 1 < sizeof(buf)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 5000), 1);
		ssize_t r = read(fd, buf + n, 1);
		if (r <= 0)
			return NULL;
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return strdup(buf);
		}
		n++;
	}
	fail_msg("reply line too long");
	return NULL;
}

static void test_framing_and_mode(void **state)
{
	struct fx *f = *state;
	struct stat sb;
	assert_int_equal(stat(f->path, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_uid, geteuid());
	if (geteuid() == 0)
		assert_int_equal(sb.st_gid, 0);
	assert_int_equal(stat(f->dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0755);

	int fd = connect_to(f->path);
	/* two requests and a blank keep-alive line in one write: two replies, in order */
	const char *req = "{\"id\":1,\"method\":\"target.list\"}\n\r\n"
	                  "{\"id\":2,\"method\":\"nope\"}\r\n";
	ssize_t w = write(fd, req, strlen(req));
	assert_int_equal(w, (ssize_t)strlen(req));
	/* Our own uid is served, root or not. */
	char *a = read_line(fd);
	assert_non_null(a);
	char *b = read_line(fd);
	assert_non_null(b);
	assert_non_null(strstr(a, "{\"id\":1,\"result\":{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:s\""));
	assert_string_equal(b, "{\"id\":2,\"error\":{\"code\":-32601,\"message\":\"method: unknown method 'nope'\"}}");
	free(b);
	free(a);
	close(fd);
}

static void test_oversize_request(void **state)
{
	struct fx *f = *state;
	int fd = connect_to(f->path);
	size_t n = VS_CTL_MAX_REQUEST + 100;
	char *big = malloc(n);
	memset(big, ' ', n);
	/* the server may hang up before reading it all */
	ssize_t w = send(fd, big, n, MSG_NOSIGNAL);
	(void)w;
	free(big);
	char *line = read_line(fd);
	assert_non_null(line);
	assert_string_equal(line, "{\"id\":null,\"error\":{\"code\":-32600,\"message\":\"request: "
	                          "longer than 65536 bytes\"}}");
	free(line);
	assert_null(read_line(fd));     /* and the connection is closed */
	close(fd);
}

static void test_client_limit(void **state)
{
	struct fx *f = *state;
	int fds[VS_CTL_MAX_CLIENTS];
	for (int i = 0; i < VS_CTL_MAX_CLIENTS; i++) {
		fds[i] = connect_to(f->path);
		/* a round trip proves the server holds this client */
		assert_int_equal(write(fds[i], "{\"method\":\"lun.list\"}\n", 22), 22);
		char *l = read_line(fds[i]);
		assert_non_null(l);
		assert_non_null(strstr(l, "\"result\""));
		free(l);
	}
	int extra = connect_to(f->path);
	char *l = read_line(extra);
	assert_non_null(l);
	assert_string_equal(l, "{\"id\":null,\"error\":{\"code\":-32600,\"message\":\"server: too many "
	                       "clients (at most 16 at once)\"}}");
	free(l);
	close(extra);
	/* a slot frees up when a client leaves */
	close(fds[0]);
	usleep(50000);
	fds[0] = connect_to(f->path);
	assert_int_equal(write(fds[0], "{\"method\":\"lun.list\"}\n", 22), 22);
	l = read_line(fds[0]);
	assert_non_null(l);
	assert_non_null(strstr(l, "\"result\""));
	free(l);
	for (int i = 0; i < VS_CTL_MAX_CLIENTS; i++)
		close(fds[i]);
}

/*
 * Another uid gets one refusal line and the connection closes, even with
 * the socket's mode loosened.  Only root can be another uid; as anyone else
 * the daemon's own uid being served is what test_framing_and_mode proves,
 * and tests/e2e/ctl_nonroot.sh covers a daemon that is not root.
 */
static void test_other_uid_refused(void **state)
{
	struct fx *f = *state;
	if (geteuid() != 0) {
		/* Not root: no other uid to be.  Our own uid is served (above). */
		struct stat sb;
		assert_int_equal(stat(f->path, &sb), 0);
		assert_int_equal(sb.st_uid, geteuid());
		return;
	}
	assert_int_equal(chmod(f->path, 0666), 0);
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The child: uid 65534 asks, and reports the line it got. */
		close(pipefd[0]);
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(3);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			_exit(4);
		/* The refusal may come (and the server hang up) before the
		 * request is even sent: no SIGPIPE, and no check. */
		ssize_t w = send(fd, "{\"method\":\"lun.list\"}\n", 22, MSG_NOSIGNAL);
		(void)w;
		char buf[512];
		ssize_t n, got = 0;
		while ((n = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
			got += n;   /* until the server hangs up */
		if (write(pipefd[1], buf, (size_t)got) != got)
			_exit(6);
		_exit(0);
	}
	close(pipefd[1]);
	char buf[512] = "";
	ssize_t n, got = 0;
	while ((n = read(pipefd[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	buf[got] = '\0';
	close(pipefd[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st))
		fail_msg("child killed by signal %d", WTERMSIG(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_string_equal(buf, "{\"id\":null,\"error\":{\"code\":5,\"message\":\"peer: uid 65534 "
	                         "is not root; the control socket is for root only\"}}\n");
}

static void test_live_and_stale_sockets(void **state)
{
	struct fx *f = *state;
	char err[256];
	/* a second daemon on the same path is refused */
	assert_null(vs_ctl_server_create(f->path, err, sizeof(err)));
	char want[200];
	snprintf(want, sizeof(want), "%s: another vstord is listening there", f->path);
	assert_string_equal(err, want);

	/* a stale socket (nobody listening) is replaced */
	char stale[96];
	snprintf(stale, sizeof(stale), "%s/stale.sock", f->dir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", stale);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	struct vs_ctl_server *s2 = vs_ctl_server_create(stale, err, sizeof(err));
	assert_non_null(s2);
	vs_ctl_server_destroy(s2);      /* never started: still cleans up */
	assert_int_equal(access(stale, F_OK), -1);

	/* a regular file is not ours to remove */
	FILE *x = fopen(stale, "w");
	fclose(x);
	assert_null(vs_ctl_server_create(stale, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: exists and is not a socket", stale);
	assert_string_equal(err, want);
	unlink(stale);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_framing_and_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversize_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_uid_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_and_stale_sockets, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
