/* SPDX-License-Identifier: MIT */
/*
 * A connection's share of its loop's 100 ms tick (iscsi_loop.c): the login
 * timeout, NOP-In pings and dead peers (nop.c), asynchronous events that
 * found no free control slot, and a receive paused on SRB buffers the
 * miniport released late.
 */
#include "conn.h"
#include "iscsi_target.h"

void iscsi_conn_tick(struct iscsi_conn *c, uint64_t now)
{
	if (c->state == CONN_CLOSING)
		return;
	if ((c->state == CONN_LOGIN || c->state == CONN_LOGIN_WAIT) &&
	    now - c->created_ns > (uint64_t)c->is->cfg.login_timeout_ms * 1000000ull) {
		iscsi_conn_close(c, "login timeout");
		return;
	}
	/* A logout waiting for its tasks' responses still needs an initiator
	 * that reads them (nop.c checks the send queue then, but never pings). */
	if (c->state == CONN_FULL || c->state == CONN_LOGOUT)
		iscsi_nop_tick(c, now);
	if (c->state == CONN_FULL)
		iscsi_async_flush(c);   /* events that found no free control slot */
	/* A pause waiting on SRB buffers that the miniport released late. */
	if (c->rx_paused && c->state == CONN_FULL)
		iscsi_conn_resume_rx(c);
}
