/* SPDX-License-Identifier: MIT */
/*
 * A connection's share of its loop's 100 ms tick (iscsi_loop.c): the login
 * timeout, idle discovery sessions, NOP-In pings and dead peers (nop.c),
 * asynchronous events that found no free control slot, and a receive
 * paused on SRB buffers the miniport released late.
 */
#include "conn.h"
#include "iscsi_target.h"

void vs_iscsi_conn_tick(struct iscsi_conn *c, uint64_t now)
{
	struct vs_iscsi *is = c->is;

	if (c->state == CONN_CLOSING)
		return;
	if ((c->state == CONN_LOGIN || c->state == CONN_LOGIN_WAIT) &&
	    now - c->created_ns > (uint64_t)is->cfg.login_timeout_ms * 1000000ull) {
		vs_iscsi_adm_note(&is->adm, VS_ISCSI_DROPPED_LOGIN_TIMEOUT,
		               "conn from %s closed: still logging in after login_timeout_ms (%u)",
		               c->peer, is->cfg.login_timeout_ms);
		vs_iscsi_conn_close(c, "login timeout");
		return;
	}
	/* A discovery session lives to ask (SendTargets) and leave; one that
	 * has asked nothing for discovery_idle_ms is holding a place. */
	if (c->state == CONN_FULL && c->sess && c->sess->discovery &&
	    now - c->disc_active_ns > (uint64_t)is->cfg.discovery_idle_ms * 1000000ull) {
		vs_iscsi_adm_note(&is->adm, VS_ISCSI_DROPPED_DISCOVERY_IDLE,
		               "discovery session of %s (%s) closed: no Text or Logout request for "
		               "discovery_idle_ms (%u)", c->peer, c->sess->initiator,
		               is->cfg.discovery_idle_ms);
		vs_iscsi_conn_close(c, "discovery session idle");
		return;
	}
	/* A logout waiting for its tasks' responses still needs an initiator
	 * that reads them (nop.c checks the send queue then, but never pings). */
	if (c->state == CONN_FULL || c->state == CONN_LOGOUT)
		vs_iscsi_nop_tick(c, now);
	if (c->state == CONN_FULL)
		vs_iscsi_async_flush(c);   /* events that found no free control slot */
	/* A pause waiting on SRB buffers that the miniport released late. */
	if (c->rx_paused && c->state == CONN_FULL)
		vs_iscsi_conn_resume_rx(c);
}
