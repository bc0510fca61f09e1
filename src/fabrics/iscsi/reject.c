/* SPDX-License-Identifier: MIT */
/* Reject PDU (RFC 7143 §11.17): reason code, the offending BHS as data;
 * rejecting the PDU being received skips its data segment. */
#include <string.h>

#include "conn.h"
#include "log.h"

void vs_iscsi_send_reject(struct iscsi_conn *c, uint8_t reason, const struct iscsi_bhs *bad)
{
	struct iscsi_ctl_pdu *p = vs_iscsi_ctl_get(c);

	if (!p) {
		/* dispatch() keeps a slot free for this; reaching here means the
		 * peer is flooding us with bad PDUs. */
		vs_iscsi_log(ISCSI_LOG_WARN, "conn %llu %s: reject 0x%02x dropped (send queue full)",
		          (unsigned long long)c->id, c->peer, reason);
		return;
	}
	p->bhs.b[0] = ISCSI_OP_REJECT;
	p->bhs.b[1] = ISCSI_FLAG_FINAL;
	p->bhs.b[2] = reason;
	iscsi_put_be32(p->bhs.b + 16, ISCSI_RESERVED_TAG);
	memcpy(p->inline_data, bad->b, ISCSI_BHS_LEN);
	p->data = p->inline_data;
	p->dlen = ISCSI_BHS_LEN;
	p->statsn_mode = ISCSI_STATSN_ADVANCE;
	vs_iscsi_ctl_send(c, p);
}

/* The PDU is over once its data has been skipped. */
static void reject_complete(struct iscsi_conn *c)
{
	(void)c;
}

void vs_iscsi_reject_pdu(struct iscsi_conn *c, uint8_t reason)
{
	vs_iscsi_rx_sink_discard(c);
	c->rx_complete = reject_complete;
	vs_iscsi_send_reject(c, reason, &c->rx_bhs);
}

void vs_iscsi_reject_current(struct iscsi_conn *c, uint8_t reason, bool fatal, const char *why)
{
	vs_iscsi_reject_pdu(c, reason);
	if (why)
		vs_iscsi_log(fatal ? ISCSI_LOG_WARN : ISCSI_LOG_DEBUG, "conn %llu %s: %s (opcode 0x%02x)",
		          (unsigned long long)c->id, c->peer, why, bhs_opcode(&c->rx_bhs));
	if (fatal) {
		/* ERL 0: no recovery within the connection (§7.1.4). */
		c->close_reason = why ? why : "protocol error";
		c->close_after_tx = true;
		vs_iscsi_conn_pause_rx(c);
	}
}
