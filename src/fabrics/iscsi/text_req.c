/* SPDX-License-Identifier: MIT */
/*
 * Text Request in full feature phase (RFC 7143 §11.10): SendTargets and
 * the few keys that may be renegotiated, handled by text.c; this file only
 * moves the PDUs.
 */
#include <string.h>

#include "conn.h"
#include "iscsi_target.h"
#include "log.h"

static void text_done(struct iscsi_conn *c)
{
	struct iscsi_ctl_pdu *p = c->rx_ctl;
	uint32_t cap = c->p.max_xmit_dsl < c->big_buf_len ? c->p.max_xmit_dsl : c->big_buf_len;
	size_t rlen = 0;

	c->rx_ctl = NULL;
	if (!p)
		return;
	if (vs_iscsi_text_handle(c->text, &c->rx_bhs, c->rx_buf, c->rx_dlen, &p->bhs, c->big_buf, cap,
	                      &rlen) < 0) {
		p->in_use = false;
		p->uses_big = false;
		c->big_busy = false;
		vs_iscsi_send_reject(c, ISCSI_REJECT_PROTOCOL_ERROR, &c->rx_bhs);
		return;
	}
	p->dlen = (uint32_t)rlen;
	p->statsn_mode = ISCSI_STATSN_ADVANCE;
	vs_iscsi_ctl_send(c, p);
}

int vs_iscsi_text_header(struct iscsi_conn *c)
{
	const struct iscsi_bhs *h = &c->rx_bhs;
	struct iscsi_ctl_pdu *p;

	if (!vs_iscsi_session_check_cmdsn(c, h)) {
		vs_iscsi_rx_sink_discard(c);
		return 0;
	}
	vs_iscsi_session_discovery_active(c);
	if (c->rx_dlen > c->rx_buf_len) {
		vs_iscsi_reject_current(c, ISCSI_REJECT_PROTOCOL_ERROR, true, "text request too long");
		return 0;
	}
	if (c->big_busy)
		return 1;
	p = vs_iscsi_ctl_get(c);
	if (!p)
		return 1;
	vs_iscsi_session_commit_cmdsn(c, h);
	p->data = c->big_buf;
	p->uses_big = true;
	c->big_busy = true;
	c->rx_ctl = p;
	vs_iscsi_rx_sink_buf(c);
	c->rx_complete = text_done;
	return 0;
}
