/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a Unix stream socket served by one thread of its
 * own.  Requests are newline-delimited JSON objects, handled one at a time
 * in arrival order (a blocking lun.remove holds up other clients, never the
 * fabric).  Only root may talk to it: the socket is 0600, owned by root,
 * and every peer's SO_PEERCRED uid is checked.  A vstord that is not root
 * owns its socket itself; then its own uid may talk to it too (and root,
 * whom no file mode keeps out), nobody else.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_int.h"

struct ctl_client {
	int fd;                 /* -1: slot free */
	char *buf;              /* VS_CTL_MAX_REQUEST + 1 bytes */
	size_t len;
};

struct vs_ctl_server {
	int lfd;
	int wake[2];            /* pipe: destroy wakes the thread */
	char *path;
	dev_t dev;              /* the socket we created, so we remove only it */
	ino_t ino;
	uid_t owner;            /* our euid: besides root, the only uid served */
	struct vs_ctl_state *st;
	pthread_t thread;
	bool running;
	struct ctl_client clients[VS_CTL_MAX_CLIENTS];
};

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Is a daemon answering at this path?  A socket nobody listens on is what
 * a killed vstord leaves behind. */
static bool socket_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool alive = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN;
	close(fd);
	return alive;
}

struct vs_ctl_server *vs_ctl_server_create(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path)) {
		errf(err, errlen, "--ctl-socket: path must be 1-%zu bytes", sizeof(sa.sun_path) - 1);
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);

	char *dup = strdup(path);
	if (!dup) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	char *dir = dirname(dup);
	struct stat sb;
	if (stat(dir, &sb) != 0) {
		/* /run/vstor on a fresh boot: make it (not its parents). */
		if (errno != ENOENT || mkdir(dir, 0755) != 0) {
			errf(err, errlen, "%s: cannot create the socket's directory %s: %s", path, dir,
			     strerror(errno));
			free(dup);
			return NULL;
		}
	}
	free(dup);

	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			errf(err, errlen, "%s: exists and is not a socket", path);
			return NULL;
		}
		if (socket_alive(&sa)) {
			errf(err, errlen, "%s: another vstord is listening there", path);
			return NULL;
		}
		unlink(path);
	}

	struct vs_ctl_server *srv = calloc(1, sizeof(*srv));
	if (!srv || !(srv->path = strdup(path))) {
		free(srv);
		errf(err, errlen, "out of memory");
		return NULL;
	}
	srv->wake[0] = srv->wake[1] = -1;
	for (size_t i = 0; i < VS_CTL_MAX_CLIENTS; i++)
		srv->clients[i].fd = -1;
	srv->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv->lfd < 0) {
		errf(err, errlen, "%s: socket: %s", path, strerror(errno));
		goto fail;
	}
	/* 0600 from the start: no window in which others could connect. */
	mode_t old = umask(0177);
	int rc = bind(srv->lfd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	umask(old);
	if (rc != 0) {
		errf(err, errlen, "%s: bind: %s", path, strerror(e));
		goto fail;
	}
	srv->owner = geteuid();
	/* Root's socket is root's whatever our gid happens to be. */
	if ((srv->owner == 0 && lchown(path, 0, 0) != 0) || chmod(path, 0600) != 0 ||
	    lstat(path, &sb) != 0 || listen(srv->lfd, 16) != 0) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	if (sb.st_uid != srv->owner || (sb.st_mode & 0777) != 0600) {
		errf(err, errlen, "%s: socket is uid %u mode %03o, want uid %u mode 600", path,
		     (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 0777), (unsigned)srv->owner);
		unlink(path);
		goto fail;
	}
	srv->dev = sb.st_dev;
	srv->ino = sb.st_ino;
	if (pipe2(srv->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		errf(err, errlen, "pipe: %s", strerror(errno));
		unlink(path);
		goto fail;
	}
	return srv;
fail:
	if (srv->lfd >= 0)
		close(srv->lfd);
	free(srv->path);
	free(srv);
	return NULL;
}

/* Write all of buf, waiting at most a few seconds for a slow reader. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			if (poll(&p, 1, 5000) == 1)
				continue;
		}
		return -1;
	}
	return 0;
}

static int send_line(int fd, char *line)
{
	if (!line)
		return -1;
	size_t n = strlen(line);
	int rc = write_all(fd, line, n);
	if (rc == 0)
		rc = write_all(fd, "\n", 1);
	return rc;
}

static void send_error(int fd, int code, const char *msg)
{
	json_t *r = json_pack("{s:n,s:{s:i,s:s}}", "id", "error", "code", code, "message", msg);
	char *s = r ? json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(r);
	send_line(fd, s);
	free(s);
}

static void client_close(struct ctl_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
	c->len = 0;
}

static void accept_one(struct vs_ctl_server *srv)
{
	int fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		send_error(fd, VS_CTL_DENIED, "peer: cannot read the client's credentials");
		close(fd);
		return;
	}
	/* The 0600 mode keeps others out already; this holds even if someone
	 * loosens it, or passes the socket on. */
	if (cred.uid != 0 && cred.uid != srv->owner) {
		char msg[128];
		if (srv->owner == 0)
			snprintf(msg, sizeof(msg),
			         "peer: uid %u is not root; the control socket is for root only",
			         (unsigned)cred.uid);
		else
			snprintf(msg, sizeof(msg), "peer: uid %u is neither root nor vstord's uid %u",
			         (unsigned)cred.uid, (unsigned)srv->owner);
		send_error(fd, VS_CTL_DENIED, msg);
		close(fd);
		return;
	}
	for (size_t i = 0; i < VS_CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = &srv->clients[i];
		if (c->fd >= 0)
			continue;
		if (!(c->buf = malloc(VS_CTL_MAX_REQUEST + 1))) {
			send_error(fd, VS_CTL_INTERNAL, "out of memory");
			close(fd);
			return;
		}
		c->fd = fd;
		c->len = 0;
		return;
	}
	char msg[96];
	snprintf(msg, sizeof(msg), "server: too many clients (at most %d at once)", VS_CTL_MAX_CLIENTS);
	send_error(fd, VS_CTL_INVALID_REQUEST, msg);
	close(fd);
}

/* Read what is there; answer every complete line.  False: close it. */
static bool serve_client(struct vs_ctl_server *srv, struct ctl_client *c)
{
	ssize_t n = recv(c->fd, c->buf + c->len, VS_CTL_MAX_REQUEST + 1 - c->len, 0);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	c->len += (size_t)n;
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (!nl)
			break;
		size_t line = (size_t)(nl - c->buf);
		size_t body = line && c->buf[line - 1] == '\r' ? line - 1 : line;
		/* Blank lines are keep-alives; ignore them. */
		if (body) {
			char *reply = vs_ctl_handle(srv->st, c->buf, body);
			int rc = send_line(c->fd, reply);
			free(reply);
			if (rc < 0)
				return false;
		}
		memmove(c->buf, nl + 1, c->len - line - 1);
		c->len -= line + 1;
	}
	if (c->len > VS_CTL_MAX_REQUEST) {
		/* No newline within the limit: the framing is lost, so refuse and
		 * hang up rather than guess where the next request starts. */
		char msg[96];
		snprintf(msg, sizeof(msg), "request: longer than %d bytes", VS_CTL_MAX_REQUEST);
		send_error(c->fd, VS_CTL_INVALID_REQUEST, msg);
		return false;
	}
	return true;
}

static void *server_main(void *arg)
{
	struct vs_ctl_server *srv = arg;
	struct pollfd pfd[VS_CTL_MAX_CLIENTS + 2];
	for (;;) {
		size_t n = 0;
		pfd[n++] = (struct pollfd){ .fd = srv->wake[0], .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = srv->lfd, .events = POLLIN };
		for (size_t i = 0; i < VS_CTL_MAX_CLIENTS; i++)
			pfd[n++] = (struct pollfd){ .fd = srv->clients[i].fd, .events = POLLIN };
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break;
		for (size_t i = 0; i < VS_CTL_MAX_CLIENTS; i++) {
			struct ctl_client *c = &srv->clients[i];
			if (c->fd >= 0 && pfd[2 + i].revents && !serve_client(srv, c))
				client_close(c);
		}
		if (pfd[1].revents & POLLIN)
			accept_one(srv);
	}
	return NULL;
}

int vs_ctl_server_start(struct vs_ctl_server *srv, struct vs_ctl_state *st, char *err,
                        size_t errlen)
{
	srv->st = st;
	int rc = pthread_create(&srv->thread, NULL, server_main, srv);
	if (rc) {
		errf(err, errlen, "control socket thread: %s", strerror(rc));
		return -rc;
	}
	srv->running = true;
	return 0;
}

void vs_ctl_server_destroy(struct vs_ctl_server *srv)
{
	if (!srv)
		return;
	if (srv->running) {
		ssize_t w = write(srv->wake[1], "x", 1);
		(void)w;
		pthread_join(srv->thread, NULL);
	}
	for (size_t i = 0; i < VS_CTL_MAX_CLIENTS; i++)
		client_close(&srv->clients[i]);
	close(srv->lfd);
	close(srv->wake[0]);
	close(srv->wake[1]);
	/* Remove the socket only if it is still ours (not a successor's). */
	struct stat sb;
	if (lstat(srv->path, &sb) == 0 && sb.st_dev == srv->dev && sb.st_ino == srv->ino)
		unlink(srv->path);
	free(srv->path);
	free(srv);
}
