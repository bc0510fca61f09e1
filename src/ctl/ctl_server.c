/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a Unix stream socket served by one thread of its
 * own.  Requests are newline-delimited JSON objects, handled one at a time
 * (a blocking lun.remove holds up other clients, never the fabric), each
 * client's in its order.  No client can hold up the others beyond that:
 * the thread never blocks on a client's socket, takes one request per
 * client per turn, queues replies per client (ctl_client.h), closes a
 * client idle for the idle timeout, and gives a new client the slot of
 * the one idle longest when all VS_CTL_MAX_CLIENTS are taken.  Only root may talk to it: the socket is 0600, owned by root,
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
#include <time.h>
#include <unistd.h>

#include "ctl_client.h"
#include "ctl_int.h"
#include "../util/vs_unix.h"

struct vs_ctl_server {
	struct vs_unix_listener l;      /* the socket (util/vs_unix.h) */
	int wake[2];            /* pipe: destroy wakes the thread */
	char *path;
	struct vs_ctl_state *st;
	pthread_t thread;
	bool running;
	uint32_t idle_ms;       /* a client idle this long is closed */
	struct ctl_client clients[VS_CTL_MAX_CLIENTS];
};

struct vs_ctl_server *vs_ctl_server_create(const char *path, char *err, size_t errlen)
{
	struct vs_ctl_server *srv = calloc(1, sizeof(*srv));
	if (!srv || !(srv->path = strdup(path ? path : ""))) {
		free(srv);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->wake[0] = srv->wake[1] = -1;
	srv->idle_ms = VS_CTL_IDLE_TIMEOUT_MS;
	for (size_t i = 0; i < VS_CTL_MAX_CLIENTS; i++)
		srv->clients[i].fd = -1;
	if (vs_unix_listen(path, SOCK_STREAM, "--ctl-socket", &srv->l, err, errlen) < 0)
		goto fail;
	if (pipe2(srv->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		vs_unix_unlisten(srv->path, &srv->l);
		goto fail;
	}
	return srv;
fail:
	free(srv->path);
	free(srv);
	return NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * All slots are taken: the new client takes the place of the one that has
 * been idle longest -- a client that holds a slot without using it must
 * not lock everyone else out until its idle timeout.  A client the server
 * owes a turn (a request waiting) is never the one; if every client has
 * one, the newcomer is refused.
 */
static struct ctl_client *evict_for_newcomer(struct vs_ctl_server *srv)
{
	struct ctl_client *victim = NULL;

	for (size_t i = 0; i < VS_CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = &srv->clients[i];

		if (vs_ctl_client_has_request(c))
			continue;
		if (!victim || c->active_ms < victim->active_ms)
			victim = c;
	}
	if (victim) {
		vs_ctl_say_error_once(victim->fd, VS_CTL_INVALID_REQUEST,
		                   "server: closed to make room for a new client (this one was "
		                   "idle the longest)");
		vs_ctl_client_close(victim);
	}
	return victim;
}

static void accept_one(struct vs_ctl_server *srv, uint64_t now)
{
	int fd = accept4(srv->l.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct ctl_client *slot = NULL;
	if (fd < 0)
		return;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		vs_ctl_say_error_once(fd, VS_CTL_DENIED, "peer: cannot read the client's credentials");
		close(fd);
		return;
	}
	/* The 0600 mode keeps others out already; this holds even if someone
	 * loosens it, or passes the socket on. */
	if (cred.uid != 0 && cred.uid != srv->l.owner) {
		char msg[128];
		if (srv->l.owner == 0)
			snprintf(msg, sizeof(msg),
			         "peer: uid %u is not root; the control socket is for root only",
			         (unsigned)cred.uid);
		else
			snprintf(msg, sizeof(msg), "peer: uid %u is neither root nor vstord's uid %u",
			         (unsigned)cred.uid, (unsigned)srv->l.owner);
		vs_ctl_say_error_once(fd, VS_CTL_DENIED, msg);
		close(fd);
		return;
	}
	for (size_t i = 0; i < VS_CTL_MAX_CLIENTS && !slot; i++)
		if (srv->clients[i].fd < 0)
			slot = &srv->clients[i];
	if (!slot)
		slot = evict_for_newcomer(srv);
	if (!slot) {
		char msg[96];
		snprintf(msg, sizeof(msg), "server: too many clients (at most %d at once)",
		         VS_CTL_MAX_CLIENTS);
		vs_ctl_say_error_once(fd, VS_CTL_INVALID_REQUEST, msg);
		close(fd);
		return;
	}
	if (vs_ctl_client_open(slot, fd, now) < 0) {
		vs_ctl_say_error_once(fd, VS_CTL_INTERNAL, "out of memory");
		close(fd);
	}
}

/* Idle: no progress for the idle timeout, and not waiting on us (a
 * request of its own the server has not taken up yet).  A client that
 * stopped reading its replies is idle too. */
static bool idle_too_long(const struct vs_ctl_server *srv, const struct ctl_client *c,
                          uint64_t now)
{
	return !vs_ctl_client_has_request(c) && now - c->active_ms >= srv->idle_ms;
}

/* Poll timeout: 0 while some client has a request waiting, else until the
 * first idle deadline (-1: no client). */
static int next_timeout(const struct vs_ctl_server *srv, uint64_t now)
{
	int64_t t = -1;

	for (size_t i = 0; i < VS_CTL_MAX_CLIENTS; i++) {
		const struct ctl_client *c = &srv->clients[i];
		int64_t left;

		if (c->fd < 0)
			continue;
		if (vs_ctl_client_has_request(c))
			return 0;
		left = (int64_t)(c->active_ms + srv->idle_ms) - (int64_t)now;
		if (left < 0)
			left = 0;
		if (t < 0 || left < t)
			t = left;
	}
	return t > INT32_MAX ? INT32_MAX : (int)t;
}

/*
 * One turn of one client: send what it can take, read what it sent, and
 * handle at most one of its requests -- so a client that pipelines
 * thousands of requests gets one per turn like everyone else.  False:
 * close it.
 */
static bool client_turn(struct vs_ctl_server *srv, struct ctl_client *c, short revents,
                        uint64_t now)
{
	if ((revents & (POLLOUT | POLLERR | POLLHUP)) && vs_ctl_client_flush(c, now) < 0)
		return false;
	if ((revents & POLLIN) && vs_ctl_client_read(c, now) < 0)
		return false;
	if (vs_ctl_client_has_request(c) && vs_ctl_client_serve_one(c, srv->st, now) < 0)
		return false;
	if (vs_ctl_client_finished(c))
		return false;
	/* POLLHUP with nothing to send and no more to read: a peer gone */
	if ((revents & (POLLERR | POLLHUP)) && !(revents & POLLIN) && !ctl_client_pending_out(c) &&
	    !vs_ctl_client_has_request(c))
		return false;
	return true;
}

static void *server_main(void *arg)
{
	struct vs_ctl_server *srv = arg;
	struct pollfd pfd[VS_CTL_MAX_CLIENTS + 2];
	size_t first = 0;       /* round robin: who goes first this turn */
	for (;;) {
		size_t n = 0;
		uint64_t now = now_ms();
		pfd[n++] = (struct pollfd){ .fd = srv->wake[0], .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = srv->l.fd, .events = POLLIN };
		for (size_t i = 0; i < VS_CTL_MAX_CLIENTS; i++) {
			const struct ctl_client *c = &srv->clients[i];
			short ev = (short)((vs_ctl_client_wants_input(c) ? POLLIN : 0) |
			                   (ctl_client_pending_out(c) ? POLLOUT : 0));
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		if (poll(pfd, n, next_timeout(srv, now)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break;
		now = now_ms();
		for (size_t k = 0; k < VS_CTL_MAX_CLIENTS; k++) {
			size_t i = (first + k) % VS_CTL_MAX_CLIENTS;
			struct ctl_client *c = &srv->clients[i];
			if (c->fd < 0)
				continue;
			if (!client_turn(srv, c, pfd[2 + i].revents, now) || idle_too_long(srv, c, now))
				vs_ctl_client_close(c);
		}
		first = (first + 1) % VS_CTL_MAX_CLIENTS;
		if (pfd[1].revents & POLLIN)
			accept_one(srv, now);
	}
	return NULL;
}

void vs_ctl_server_set_idle_timeout(struct vs_ctl_server *srv, uint32_t ms)
{
	if (srv)
		srv->idle_ms = ms ? ms : VS_CTL_IDLE_TIMEOUT_MS;
}

int vs_ctl_server_start(struct vs_ctl_server *srv, struct vs_ctl_state *st, char *err,
                        size_t errlen)
{
	srv->st = st;
	int rc = pthread_create(&srv->thread, NULL, server_main, srv);
	if (rc) {
		snprintf(err, errlen, "control socket thread: %s", strerror(rc));
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
		if (srv->clients[i].fd >= 0)
			vs_ctl_client_close(&srv->clients[i]);
	vs_unix_unlisten(srv->path, &srv->l);
	close(srv->wake[0]);
	close(srv->wake[1]);
	free(srv->path);
	free(srv);
}
