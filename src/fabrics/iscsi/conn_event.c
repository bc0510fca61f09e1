/* SPDX-License-Identifier: MIT */
/*
 * A connection on its event loop: attached to one loop (and its list of
 * connections) for its whole life; the socket's readiness drives the
 * receive state machine and the send queue; deferred work of its own --
 * the flush after a burst of responses, resuming a paused receive -- comes
 * back as messages posted to the loop.
 */
#include <sys/epoll.h>

#include "conn.h"
#include "iscsi_target.h"
#include "log.h"

/* Send what is queued; close the connection if the send path says so. */
static void flush(struct iscsi_conn *c)
{
	const char *why = vs_iscsi_tx_flush(c);

	if (why)
		vs_iscsi_conn_close(c, why);
}

static void flush_msg(struct vs_loop_msg *m)
{
	struct iscsi_conn *c = ISCSI_CONTAINER_OF(m, struct iscsi_conn, flush_msg);

	c->flush_posted = false;
	if (c->state == CONN_CLOSING)
		vs_iscsi_conn_try_free(c);
	else
		flush(c);
}

static void resume_msg(struct vs_loop_msg *m)
{
	struct iscsi_conn *c = ISCSI_CONTAINER_OF(m, struct iscsi_conn, resume_msg);

	c->resume_posted = false;
	if (c->state == CONN_CLOSING) {
		vs_iscsi_conn_try_free(c);
		return;
	}
	vs_iscsi_conn_rx(c);
}

static void conn_event(struct vs_loop_fd *h, uint32_t events)
{
	struct iscsi_conn *c = ISCSI_CONTAINER_OF(h, struct iscsi_conn, h);

	if (c->state == CONN_CLOSING)
		return;
	if (events & EPOLLOUT)
		flush(c);
	if (c->state == CONN_CLOSING)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		if (c->rx_paused) {
			/* Paused for resources; a hang-up still ends the connection. */
			if (events & (EPOLLHUP | EPOLLERR))
				vs_iscsi_conn_close(c, "peer closed the connection");
			return;
		}
		vs_iscsi_conn_rx(c);
	}
}

static void attach_msg(struct vs_loop_msg *m)
{
	struct iscsi_conn *c = ISCSI_CONTAINER_OF(m, struct iscsi_conn, attach_msg);
	struct iscsi_loop *loop = c->loop;

	c->lnext = loop->conns;
	if (c->lnext)
		c->lnext->lprev = c;
	loop->conns = c;
	loop->nconns++;
	c->events = EPOLLIN | EPOLLRDHUP;
	/* A group asked to stop keeps this loop until the connection is gone. */
	vs_loop_hold(loop->base);
	if (c->is->stopping) {
		vs_iscsi_conn_close(c, "target stopping");
		return;
	}
	if (vs_loop_fd_add(loop->base, c->fd, c->events, &c->h) < 0) {
		vs_iscsi_conn_close(c, "epoll registration failed");
		return;
	}
	vs_iscsi_log(ISCSI_LOG_DEBUG, "conn %llu from %s on loop %u", (unsigned long long)c->id, c->peer,
	          loop->idx);
}

void vs_iscsi_conn_attach(struct iscsi_conn *c, struct iscsi_loop *loop)
{
	c->loop = loop;
	/* Set once: the messages are posted again and again. */
	c->h.fn = conn_event;
	c->flush_msg.fn = flush_msg;
	c->resume_msg.fn = resume_msg;
	c->attach_msg.fn = attach_msg;
	vs_loop_post(loop->base, &c->attach_msg);
}
