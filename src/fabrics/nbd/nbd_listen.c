/* SPDX-License-Identifier: MIT */
/*
 * NBD portals: listening sockets, bound when added (so a bad address
 * fails the configuration, not the first client) and watched by loop 0
 * once the fabric starts.  A listener is closed on loop 0, after the epoll
 * batch that may still hold an event for it (vs_loop_post_late).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../util/vs_addr.h"
#include "nbd_int.h"
#include "vstor/miniport.h"

/*
 * An accepted socket: TCP_NODELAY, a reply goes out at once (NBD is
 * request-response; Nagle would hold a small reply for the next ACK);
 * keepalive finds clients that vanished without a FIN.
 */
static void tune(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

static void on_accept(struct vs_loop_fd *h, uint32_t events)
{
	struct nbd_portal *pt = NBD_CONTAINER_OF(h, struct nbd_portal, h);

	(void)events;
	for (int i = 0; i < 64; i++) {          /* bounded: others get their turn */
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(pt->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				vs_nbd_log(NBD_LOG_WARN, "%s: accept: %s", pt->text, strerror(errno));
			return;
		}
		tune(fd);
		vs_nbd_conn_accept(pt->srv, fd, &peer);
	}
}

int vs_nbd_portal_open_locked(struct vs_nbd *srv, const char *addr_port)
{
	struct sockaddr_storage ss;
	struct nbd_portal *pt;
	int fd, one = 1, rc;

	if (!addr_port || vs_addr_parse(addr_port, &ss) < 0) {
		vs_set_error("portal: '%s' is not ADDR:PORT or [V6ADDR]:PORT",
		             addr_port ? addr_port : "");
		return -EINVAL;
	}
	if (srv->nportals == NBD_MAX_PORTALS) {
		vs_set_error("portal: at most %d", NBD_MAX_PORTALS);
		return -ENOSPC;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		vs_set_error("portal: '%s': socket: %s", addr_port, strerror(-rc));
		return rc;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, vs_addr_len(&ss)) < 0 || listen(fd, 128) < 0) {
		rc = -errno;
		close(fd);
		vs_set_error("portal: '%s': %s", addr_port, strerror(-rc));
		return rc;
	}
	pt = &srv->portals[srv->nportals++];
	memset(pt, 0, sizeof(*pt));
	pt->srv = srv;
	pt->fd = fd;
	pt->h.fn = on_accept;
	snprintf(pt->text, sizeof(pt->text), "%s", addr_port);
	return 0;
}

int vs_nbd_portals_watch(struct vs_nbd *srv)
{
	struct vs_loop *l0 = vs_loop_group_loop(srv->group, 0);

	for (unsigned i = 0; i < srv->nportals; i++) {
		struct nbd_portal *pt = &srv->portals[i];
		int rc = vs_loop_fd_add(l0, pt->fd, VS_LOOP_IN, &pt->h);

		if (rc < 0) {
			vs_set_error("portal: %s: %s", pt->text, strerror(-rc));
			return rc;
		}
		pt->registered = true;
		vs_nbd_log(NBD_LOG_INFO, "listening on %s", pt->text);
	}
	return 0;
}

static void close_late(struct vs_loop_msg *m)
{
	struct nbd_portal *pt = NBD_CONTAINER_OF(m, struct nbd_portal, close_msg);
	struct vs_nbd *srv = pt->srv;

	pthread_mutex_lock(&srv->lock);
	close(pt->fd);
	pt->fd = -1;
	pt->registered = false;
	pt->closing = false;
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
}

static void close_on_loop(struct vs_loop_msg *m)
{
	struct nbd_portal *pt = NBD_CONTAINER_OF(m, struct nbd_portal, close_msg);
	struct vs_loop *l0 = vs_loop_group_loop(pt->srv->group, 0);

	vs_loop_fd_del(l0, pt->fd);
	m->fn = close_late;
	vs_loop_post_late(l0, m);
}

void vs_nbd_portals_close(struct vs_nbd *srv)
{
	pthread_mutex_lock(&srv->lock);
	for (unsigned i = 0; i < srv->nportals; i++) {
		struct nbd_portal *pt = &srv->portals[i];

		if (pt->fd < 0)
			continue;
		if (!pt->registered) {
			close(pt->fd);
			pt->fd = -1;
			continue;
		}
		pt->closing = true;
		pt->close_msg.fn = close_on_loop;
		vs_loop_post(vs_loop_group_loop(srv->group, 0), &pt->close_msg);
		while (pt->closing)
			pthread_cond_wait(&srv->cond, &srv->lock);
		vs_nbd_log(NBD_LOG_INFO, "stopped listening on %s", pt->text);
	}
	srv->nportals = 0;
	pthread_mutex_unlock(&srv->lock);
}
