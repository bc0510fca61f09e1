/* SPDX-License-Identifier: MIT */
/*
 * One NBD connection's life on its loop: attach after accept, the socket
 * handler, graceful drain or hard close, and the free that waits until no
 * command, probe or message of another thread can still name it.
 *
 * Exactly once, also on connection loss: a hard close aborts the disk
 * (vs_disk_abort: every class request completes once, with -ECANCELED if
 * it had not finished) and the connection is freed only when the last of
 * them is back; nothing acknowledged is lost because a reply is only sent
 * for a command that completed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../util/vs_addr.h"
#include "nbd_int.h"

static void on_fd(struct vs_loop_fd *h, uint32_t events);

static void attach_on_loop(struct vs_loop_msg *m)
{
	struct nbd_conn *c = NBD_CONTAINER_OF(m, struct nbd_conn, attach_msg);
	int rc;

	atomic_fetch_sub(&c->posts, 1);
	c->fdh.fn = on_fd;
	c->events = VS_LOOP_IN;
	rc = vs_loop_fd_add(c->loop, c->fd, c->events, &c->fdh);
	if (rc < 0) {
		vs_nbd_conn_close(c, "cannot watch the socket");
		return;
	}
	c->registered = true;
	vs_nbd_log(NBD_LOG_DEBUG, "%s: connected", c->peer_text);
	vs_nbd_hs_conn_start(c);
	vs_nbd_conn_update_events(c);
}

void vs_nbd_conn_accept(struct vs_nbd *srv, int fd, const struct sockaddr_storage *peer)
{
	struct nbd_conn *c = calloc(1, sizeof(*c));
	char text[64];

	vs_addr_format(peer, text, sizeof(text));
	if (c)
		c->rbuf = malloc(NBD_RBUF_LEN);
	pthread_mutex_lock(&srv->lock);
	if (!c || !c->rbuf || atomic_load(&srv->stopping) ||
	    srv->nconns >= srv->cfg.max_connections) {
		bool full = c && c->rbuf && !atomic_load(&srv->stopping);

		pthread_mutex_unlock(&srv->lock);
		vs_nbd_log(NBD_LOG_WARN, "%s: refused: %s", text,
		        full ? "too many connections" :
		        atomic_load(&srv->stopping) ? "stopping" : "out of memory");
		if (c)
			free(c->rbuf);
		free(c);
		close(fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	c->peer = *peer;
	snprintf(c->peer_text, sizeof(c->peer_text), "%s", text);
	c->loop = vs_loop_group_pick(srv->group, VS_LOOP_PICK_NEXT);
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	atomic_fetch_add(&c->posts, 1);
	pthread_mutex_unlock(&srv->lock);
	/* a loop asked to stop waits for the connections it serves */
	vs_loop_hold(c->loop);
	c->attach_msg.fn = attach_on_loop;
	vs_loop_post(c->loop, &c->attach_msg);
}

/* ---------------------------------------------------------------- events */

void vs_nbd_conn_update_events(struct nbd_conn *c)
{
	uint32_t want = 0;

	if (!c->registered)
		return;
	switch (c->state) {
	case CONN_HANDSHAKE:
		want = VS_LOOP_IN;
		break;
	case CONN_TLS_HANDSHAKE:
		/* the ClientHello first, then whatever OpenSSL waits for */
		want = vs_nbd_io_tls_want(c) ? vs_nbd_io_tls_want(c) : VS_LOOP_IN;
		break;
	case CONN_TRANSMISSION:
		/* read while a slot is free (or a WRITE's payload is due):
		 * a full queue is back-pressure on the client */
		if (!c->disc && (c->free_slots || c->rx_slot))
			want = VS_LOOP_IN;
		break;
	case CONN_DRAIN:
		if (c->shutting_down && !c->disc && (c->free_slots || c->rx_slot))
			want = VS_LOOP_IN;
		break;
	default:
		break;
	}
	if (vs_nbd_io_want_write(c))
		want |= VS_LOOP_OUT;
	if (c->state != CONN_TLS_HANDSHAKE && vs_nbd_io_tls_want(c))
		want |= vs_nbd_io_tls_want(c);
	if (want != c->events) {
		c->events = want;
		vs_loop_fd_mod(c->loop, c->fd, want, &c->fdh);
	}
}

static void on_fd(struct vs_loop_fd *h, uint32_t events)
{
	struct nbd_conn *c = NBD_CONTAINER_OF(h, struct nbd_conn, fdh);

	if (c->state == CONN_DEAD)
		return;
	if ((events & (VS_LOOP_ERR | VS_LOOP_HUP)) && !(events & VS_LOOP_IN)) {
		vs_nbd_conn_close(c, "connection lost");
		return;
	}
	switch (c->state) {
	case CONN_HANDSHAKE:
	case CONN_TLS_HANDSHAKE:
	case CONN_LOOKUP:
		vs_nbd_hs_conn_input(c);
		break;
	default:
		vs_nbd_cmd_input(c);
		break;
	}
	if (c->state != CONN_DEAD)
		vs_nbd_conn_update_events(c);
}

/* ---------------------------------------------------------------- stop */

static void stop_on_loop(struct vs_loop_msg *m)
{
	struct nbd_conn *c = NBD_CONTAINER_OF(m, struct nbd_conn, stop_msg);
	bool hard = atomic_load(&c->hard_stop);

	atomic_store(&c->stop_posted, false);
	atomic_fetch_sub(&c->posts, 1);
	if (c->state == CONN_DEAD) {
		vs_nbd_conn_maybe_free(c);
		return;
	}
	if (hard || c->state < CONN_TRANSMISSION || (c->exp && atomic_load(&c->exp->removed))) {
		/* a removed export, the end of the grace period, or a client
		 * still haggling: nothing to wait for */
		vs_nbd_conn_close(c, hard ? "server stopped" : c->exp && atomic_load(&c->exp->removed)
		                                            ? "export removed" : "server stopping");
		return;
	}
	/* proto.md: serve what is in flight, answer the rest NBD_ESHUTDOWN */
	c->shutting_down = true;
	c->state = CONN_DRAIN;
	vs_nbd_cmd_input(c);
	if (c->state != CONN_DEAD)
		vs_nbd_conn_update_events(c);
}

void vs_nbd_conn_post_stop(struct nbd_conn *c)
{
	if (atomic_exchange(&c->stop_posted, true))
		return;         /* queued already; it reads hard_stop when it runs */
	atomic_fetch_add(&c->posts, 1);
	c->stop_msg.fn = stop_on_loop;
	vs_loop_post(c->loop, &c->stop_msg);
}

/* ---------------------------------------------------------------- close */

void vs_nbd_conn_close(struct nbd_conn *c, const char *why)
{
	if (c->state == CONN_DEAD) {
		vs_nbd_conn_maybe_free(c);
		return;
	}
	vs_nbd_log(c->exp ? NBD_LOG_INFO : NBD_LOG_DEBUG, "%s: %s%s%s", c->peer_text,
	        c->exp ? "closed: " : "closed during handshake: ", why,
	        c->in_flight ? " (commands in flight complete first)" : "");
	c->state = CONN_DEAD;
	c->closing = true;
	vs_loop_timer_cancel(&c->hs_timer);
	if (c->registered) {
		vs_loop_fd_del(c->loop, c->fd);
		c->registered = false;
	}
	/* the peer learns at once (TLS: close_notify first); the fd itself
	 * goes when the memory does */
	if (c->tls)
		vs_nbd_tls_shutdown(c->tls);
	shutdown(c->fd, SHUT_RDWR);
	vs_nbd_cmd_drop(c);
	if (c->disk && !c->abort_sent) {
		c->abort_sent = true;
		vs_disk_abort(c->disk);
	}
	vs_nbd_conn_maybe_free(c);
}

static void free_late(struct vs_loop_msg *m)
{
	struct nbd_conn *c = NBD_CONTAINER_OF(m, struct nbd_conn, free_msg);
	struct vs_loop *loop = c->loop;

	vs_nbd_out_free(&c->hout);
	free(c->opt_data);
	free(c->rbuf);
	free(c);
	vs_loop_release(loop);
}

void vs_nbd_conn_maybe_free(struct nbd_conn *c)
{
	if (!c->closing || c->in_flight || c->probing || c->flush_posted ||
	    atomic_load(&c->posts) || c->free_msg.fn)
		return;
	vs_loop_timer_cancel(&c->hs_timer);
	vs_loop_timer_cancel(&c->disk_timer);
	vs_nbd_cmd_free(c);
	vs_nbd_hs_conn_release(c);         /* the nexus closes while the port lives */
	vs_nbd_tls_session_free(c->tls);
	c->tls = NULL;
	close(c->fd);
	c->fd = -1;
	/* last: from here vs_nbd_stop may return and the fabric go away */
	vs_nbd_server_conn_gone(c->srv, c);
	/* a later event of this pass may still name it: free after the pass */
	c->free_msg.fn = free_late;
	vs_loop_post_late(c->loop, &c->free_msg);
}
