/* SPDX-License-Identifier: MIT */
/* Reject PDU (RFC 7143 §11.17): reason code, the offending BHS as data. */
#include <string.h>

#include "conn.h"
#include "log.h"

void iscsi_send_reject(struct iscsi_conn *c, uint8_t reason, const struct iscsi_bhs *bad)
{
	struct iscsi_ctl_pdu *p = iscsi_ctl_get(c);

	if (!p) {
		/* dispatch() keeps a slot free for this; reaching here means the
		 * peer is flooding us with bad PDUs. */
		iscsi_log(ISCSI_LOG_WARN, "conn %llu %s: reject 0x%02x dropped (send queue full)",
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
	iscsi_ctl_send(c, p);
}
