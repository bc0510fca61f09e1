/* SPDX-License-Identifier: MIT */
/*
 * Logout (RFC 7143 §11.14, §11.15): close the session or this connection
 * once its tasks are settled, answer, then close.  Removing a connection
 * for recovery needs ERL 2 and is answered "not supported".
 */
#include <string.h>

#include "conn.h"
#include "iscsi_target.h"
#include "log.h"

/* §11.15.1 response codes */
#define LOGOUT_RSP_OK               0
#define LOGOUT_RSP_CID_NOT_FOUND    1
#define LOGOUT_RSP_NO_RECOVERY      2

#define LOGOUT_CLOSE_SESSION        0
#define LOGOUT_CLOSE_CONNECTION     1
#define LOGOUT_REMOVE_FOR_RECOVERY  2

static void fill_response(struct iscsi_ctl_pdu *p, uint32_t itt, uint8_t response)
{
	p->bhs.b[0] = ISCSI_OP_LOGOUT_RESP;
	p->bhs.b[1] = ISCSI_FLAG_FINAL;
	p->bhs.b[2] = response;
	iscsi_put_be32(p->bhs.b + 16, itt);
	/* §11.15.2-3: Time2Wait / Time2Retain 0 — nothing is kept for
	 * recovery at ERL 0. */
	iscsi_put_be16(p->bhs.b + 40, 0);
	iscsi_put_be16(p->bhs.b + 42, 0);
	p->statsn_mode = ISCSI_STATSN_ADVANCE;
}

static void logout_complete(struct iscsi_conn *c)
{
	vs_iscsi_conn_pause_rx(c);
	vs_iscsi_logout_progress(c);
}

int vs_iscsi_logout_header(struct iscsi_conn *c)
{
	const struct iscsi_bhs *h = &c->rx_bhs;
	uint8_t reason = bhs_flags(h) & 0x7f;
	uint16_t cid = iscsi_get_be16(h->b + 20);
	struct iscsi_ctl_pdu *p;

	vs_iscsi_rx_sink_discard(c);
	if (!vs_iscsi_session_check_cmdsn(c, h))
		return 0;
	vs_iscsi_session_discovery_active(c);
	if (reason > LOGOUT_REMOVE_FOR_RECOVERY) {
		vs_iscsi_reject_current(c, ISCSI_REJECT_INVALID_PDU_FIELD, false, "unknown logout reason");
		return 0;
	}
	p = vs_iscsi_ctl_get(c);
	if (!p)
		return 1;
	vs_iscsi_session_commit_cmdsn(c, h);
	if (reason == LOGOUT_REMOVE_FOR_RECOVERY) {
		fill_response(p, bhs_itt(h), LOGOUT_RSP_NO_RECOVERY);
		vs_iscsi_ctl_send(c, p);
		return 0;
	}
	if (reason == LOGOUT_CLOSE_CONNECTION && cid != c->cid) {
		fill_response(p, bhs_itt(h), LOGOUT_RSP_CID_NOT_FOUND);
		vs_iscsi_ctl_send(c, p);
		return 0;
	}
	fill_response(p, bhs_itt(h), LOGOUT_RSP_OK);
	p->close_after = true;
	c->close_reason = reason == LOGOUT_CLOSE_SESSION ? "logout (close session)"
	                                                 : "logout (close connection)";
	/* No new commands after a logout (§11.14): stop reading, end tasks
	 * still waiting for Data-Out, let the submitted ones finish, answer. */
	c->state = CONN_LOGOUT;
	c->rx_complete = logout_complete;
	for (uint32_t i = 0; c->tasks && i < c->ntasks; i++)
		if (c->tasks[i].state == TASK_DATA_OUT)
			vs_iscsi_task_abort_local(c, &c->tasks[i]);
	return 0;
}

/* Called when a task goes away in CONN_LOGOUT (and once after the header). */
void vs_iscsi_logout_progress(struct iscsi_conn *c)
{
	struct iscsi_ctl_pdu *p;

	if (c->state != CONN_LOGOUT || c->active_tasks || c->tmf_pending)
		return;
	for (unsigned i = 0; i < ISCSI_CTL_SLOTS; i++) {
		p = &c->ctl[i];
		if (p->in_use && p->close_after && !p->tx.queued &&
		    (p->bhs.b[0] & ISCSI_OPCODE_MASK) == ISCSI_OP_LOGOUT_RESP) {
			vs_iscsi_ctl_send(c, p);
			return;
		}
	}
}
