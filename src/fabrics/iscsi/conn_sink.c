/* SPDX-License-Identifier: MIT */
/*
 * What the PDU handlers ask of a connection's receive side: where the data
 * segment of the PDU being received goes (a buffer, the SRB's memory, or
 * nowhere), and pausing receive while a resource is short and resuming it
 * once one is free.  The receive state machine (conn_rx.c) calls the
 * handlers; the handlers call this, never conn_rx.c.
 */
#include <sys/epoll.h>

#include "conn.h"

/* ---------------------------------------------------------------- pause, resume */

void vs_iscsi_conn_rx_kick(struct iscsi_conn *c)
{
	if (!c->resume_posted) {
		c->resume_posted = true;
		vs_loop_post(c->loop->base, &c->resume_msg);
	}
}

void vs_iscsi_conn_resume_rx(struct iscsi_conn *c)
{
	if (!c->rx_paused || c->state == CONN_CLOSING || c->state == CONN_LOGOUT ||
	    c->state == CONN_LOGIN_WAIT || c->close_after_tx)
		return;
	c->rx_paused = false;
	vs_iscsi_conn_set_events(c, c->events | EPOLLIN);
	/* The PDU that paused may need no more bytes from the socket (or they
	 * are already in the receive buffer), so do not wait for EPOLLIN: kick
	 * the state machine. */
	vs_iscsi_conn_rx_kick(c);
}

void vs_iscsi_conn_pause_rx(struct iscsi_conn *c)
{
	c->rx_paused = true;
	vs_iscsi_conn_set_events(c, c->events & ~(uint32_t)EPOLLIN);
}

/* ---------------------------------------------------------------- data sinks */

static void rx_add_trailer(struct iscsi_conn *c)
{
	uint32_t pad = iscsi_pad4(c->rx_dlen) - c->rx_dlen;
	size_t tl = pad + (c->ddigest && c->rx_dlen ? ISCSI_DIGEST_LEN : 0);

	if (tl)
		c->rx_seg[c->rx_nseg++] = (struct iscsi_rx_seg){ c->rx_trailer, tl };
}

void vs_iscsi_rx_sink_discard(struct iscsi_conn *c)
{
	c->rx_nseg = 0;
	if (c->rx_dlen)
		c->rx_seg[c->rx_nseg++] = (struct iscsi_rx_seg){ NULL, c->rx_dlen };
	rx_add_trailer(c);
	c->rx_discard_all = true;
}

void vs_iscsi_rx_sink_buf(struct iscsi_conn *c)
{
	c->rx_nseg = 0;
	if (c->rx_dlen)
		c->rx_seg[c->rx_nseg++] = (struct iscsi_rx_seg){ c->rx_buf, c->rx_dlen };
	rx_add_trailer(c);
}

void vs_iscsi_rx_sink_seg(struct iscsi_conn *c, uint8_t *base, size_t len, size_t discard_after)
{
	c->rx_nseg = 0;
	if (len)
		c->rx_seg[c->rx_nseg++] = (struct iscsi_rx_seg){ base, len };
	if (discard_after)
		c->rx_seg[c->rx_nseg++] = (struct iscsi_rx_seg){ NULL, discard_after };
	rx_add_trailer(c);
}
