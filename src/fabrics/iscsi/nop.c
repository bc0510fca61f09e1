/* SPDX-License-Identifier: MIT */
/*
 * NOP-Out / NOP-In (RFC 7143 §11.18, §11.19): answer pings with an echo of
 * their data; ping quiet connections ourselves and drop one that does not
 * answer within nop_timeout, or that stopped taking what we send.
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
		vs_iscsi_ctl_send(c, p);
}

int vs_iscsi_nop_out_header(struct iscsi_conn *c)
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
			vs_iscsi_reject_current(c, ISCSI_REJECT_PROTOCOL_ERROR, false,
			                     "NOP-Out with ITT 0xffffffff not immediate");
			return 0;
		}
		if (ttt == c->nop_ttt)
			c->nop_outstanding = false;
		vs_iscsi_rx_sink_discard(c);
		return 0;
	}
	if (ttt != ISCSI_RESERVED_TAG) {
		vs_iscsi_reject_current(c, ISCSI_REJECT_PROTOCOL_ERROR, false,
		                     "NOP-Out ping with a Target Transfer Tag");
		return 0;
	}
	if (!vs_iscsi_session_check_cmdsn(c, h)) {
		vs_iscsi_rx_sink_discard(c);
		return 0;
	}
	if (dlen > sizeof(p->inline_data) && c->big_busy)
		return 1;   /* wait for the big buffer */
	p = vs_iscsi_ctl_get(c);
	if (!p)
		return 1;
	vs_iscsi_session_commit_cmdsn(c, h);
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
	vs_iscsi_rx_sink_seg(c, p->data, dlen, 0);
	c->rx_complete = nop_out_done;
	return 0;
}

/* Bytes of a data segment are a sign of life too: a long segment on a slow
 * link brings no new header for a while. */
static bool rx_moved(struct iscsi_conn *c)
{
	bool moved = c->rx_state == RX_DATA &&
	             (c->rx_seg_idx != c->nop_seg_idx || c->rx_seg_off != c->nop_seg_off);

	c->nop_seg_idx = c->rx_seg_idx;
	c->nop_seg_off = c->rx_seg_off;
	return moved;
}

/*
 * Dead connections (RFC 7143 §11.19: the target may ping with NOP-In).
 * Whatever the connection is doing -- idle, waiting for Data-Out, sending
 * Data-In -- it is pinged once nothing has come from the initiator for
 * nop_interval, and dropped when the ping is not answered within
 * nop_timeout (any PDU counts as the answer: it proves the initiator is
 * there and reading nothing we need).  A send queue that has made no
 * progress for nop_timeout means an initiator that stopped reading its
 * socket, or vanished without RST behind a full window: dropped too.
 * While receiving is paused for our own resources an answer could not be
 * read, so the ping waits.
 */
void vs_iscsi_nop_tick(struct iscsi_conn *c, uint64_t now)
{
	uint64_t interval = (uint64_t)c->is->cfg.nop_interval_ms * 1000000ull;
	uint64_t timeout = (uint64_t)c->is->cfg.nop_timeout_ms * 1000000ull;
	struct iscsi_ctl_pdu *p;

	if (c->tx_stall_ns && now - c->tx_stall_ns >= timeout) {
		vs_iscsi_conn_close(c, "send queue made no progress (initiator not reading)");
		return;
	}
	if (c->state != CONN_FULL)
		return;     /* logout: only the send queue matters */
	if (c->rx_paused || rx_moved(c)) {
		c->last_rx_ns = now;
		c->nop_outstanding = false;
		return;
	}
	if (c->nop_outstanding) {
		if (now - c->nop_sent_ns >= timeout)
			vs_iscsi_conn_close(c, "no answer to NOP-In ping");
		return;
	}
	if (now - c->last_rx_ns < interval)
		return;
	p = vs_iscsi_ctl_get(c);
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
	vs_iscsi_ctl_send(c, p);
}
