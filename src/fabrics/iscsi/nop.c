/* SPDX-License-Identifier: MIT */
/*
 * NOP-Out / NOP-In (RFC 7143 §11.18, §11.19): answer pings with an echo of
 * their data; ping idle connections ourselves and drop one that does not
 * answer within nop_timeout.
 */
#include <string.h>

#include "conn.h"
#include "iscsi_target.h"
#include "log.h"

static void nop_out_done(struct iscsi_conn *c)
{
	struct iscsi_ctl_pdu *p = c->rx_ctl;

	c->rx_ctl = NULL;
	if (p)
		iscsi_ctl_send(c, p);
}

int iscsi_nop_out_header(struct iscsi_conn *c)
{
	const struct iscsi_bhs *h = &c->rx_bhs;
	uint32_t itt = bhs_itt(h);
	uint32_t ttt = bhs_be32(h, 20);
	uint32_t dlen = c->rx_dlen;
	struct iscsi_ctl_pdu *p;

	if (itt == ISCSI_RESERVED_TAG) {
		/* §11.18.1: an answer to our ping (or a keepalive): must be
		 * immediate and gets no response. */
		if (!bhs_immediate(h)) {
			iscsi_reject_current(c, ISCSI_REJECT_PROTOCOL_ERROR, false,
			                     "NOP-Out with ITT 0xffffffff not immediate");
			return 0;
		}
		if (ttt == c->nop_ttt)
			c->nop_outstanding = false;
		iscsi_rx_sink_discard(c);
		return 0;
	}
	if (ttt != ISCSI_RESERVED_TAG) {
		iscsi_reject_current(c, ISCSI_REJECT_PROTOCOL_ERROR, false,
		                     "NOP-Out ping with a Target Transfer Tag");
		return 0;
	}
	if (!iscsi_session_check_cmdsn(c, h)) {
		iscsi_rx_sink_discard(c);
		return 0;
	}
	if (dlen > sizeof(p->inline_data) && c->big_busy)
		return 1;   /* wait for the big buffer */
	p = iscsi_ctl_get(c);
	if (!p)
		return 1;
	iscsi_session_commit_cmdsn(c, h);
	/* §11.19: NOP-In echoes ITT and LUN, TTT 0xffffffff, the ping data. */
	p->bhs.b[0] = ISCSI_OP_NOP_IN;
	p->bhs.b[1] = ISCSI_FLAG_FINAL;
	memcpy(p->bhs.b + 8, h->b + 8, 8);
	iscsi_put_be32(p->bhs.b + 16, itt);
	iscsi_put_be32(p->bhs.b + 20, ISCSI_RESERVED_TAG);
	if (dlen > sizeof(p->inline_data)) {
		p->data = c->big_buf;
		p->uses_big = true;
		c->big_busy = true;
	}
	p->dlen = dlen;
	p->statsn_mode = ISCSI_STATSN_ADVANCE;
	c->rx_ctl = p;      /* sent once the ping data is in */
	iscsi_rx_sink_seg(c, p->data, dlen, 0);
	c->rx_complete = nop_out_done;
	return 0;
}

void iscsi_nop_tick(struct iscsi_conn *c, uint64_t now)
{
	uint64_t interval = (uint64_t)c->is->cfg.nop_interval_ms * 1000000ull;
	uint64_t timeout = (uint64_t)c->is->cfg.nop_timeout_ms * 1000000ull;
	struct iscsi_ctl_pdu *p;

	if (c->nop_outstanding) {
		if (now - c->nop_sent_ns >= timeout && now - c->last_rx_ns >= timeout)
			iscsi_conn_close(c, "no answer to NOP-In ping");
		return;
	}
	if (now - c->last_rx_ns < interval || c->txq_head || c->active_tasks)
		return;
	p = iscsi_ctl_get(c);
	if (!p)
		return;
	/* §11.19.1: a ping carries a TTT != 0xffffffff and ITT 0xffffffff;
	 * StatSN is not advanced. */
	c->nop_ttt = (c->nop_ttt + 1) & 0x7fffffffu;
	if (!c->nop_ttt)
		c->nop_ttt = 1;
	p->bhs.b[0] = ISCSI_OP_NOP_IN;
	p->bhs.b[1] = ISCSI_FLAG_FINAL;
	iscsi_put_be32(p->bhs.b + 16, ISCSI_RESERVED_TAG);
	iscsi_put_be32(p->bhs.b + 20, c->nop_ttt);
	p->statsn_mode = ISCSI_STATSN_CURRENT;
	c->nop_outstanding = true;
	c->nop_sent_ns = now;
	iscsi_ctl_send(c, p);
}
