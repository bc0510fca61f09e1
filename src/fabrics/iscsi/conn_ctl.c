/* SPDX-License-Identifier: MIT */
/*
 * Control PDUs of a connection, those that belong to no task: NOP-In,
 * Reject, TMF / Logout / Text / Login responses, Async messages.  Each
 * lives in one of a few slots per connection (or embedded in its owner,
 * as a TMF's response is) and goes out through the send queue.
 */
#include <string.h>

#include "conn.h"

static bool ctl_build(struct iscsi_conn *c, struct iscsi_tx *tx)
{
	struct iscsi_ctl_pdu *p = ISCSI_CONTAINER_OF(tx, struct iscsi_ctl_pdu, tx);
	struct iovec data = { p->data, p->dlen };
	bool login = (p->bhs.b[0] & ISCSI_OPCODE_MASK) == ISCSI_OP_LOGIN_RESP;

	if (p->statsn_mode == 0xff)
		return false;       /* already went out */
	memcpy(tx->hdr, p->bhs.b, ISCSI_BHS_LEN);
	vs_iscsi_fill_sn(c, tx->hdr, (enum iscsi_statsn_mode)p->statsn_mode);
	/* Login PDUs never carry digests (§13.1: they start after login). */
	vs_iscsi_tx_set_pdu(c, tx, &data, 1, p->dlen, !login);
	p->statsn_mode = 0xff;
	tx->last = true;
	return true;
}

/* Give a slot back (also one whose PDU never went out). */
void vs_iscsi_ctl_put(struct iscsi_conn *c, struct iscsi_ctl_pdu *p)
{
	if (p->uses_big)
		c->big_busy = false;
	p->in_use = false;
	p->uses_big = false;
}

static void ctl_finished(struct iscsi_conn *c, struct iscsi_tx *tx)
{
	struct iscsi_ctl_pdu *p = ISCSI_CONTAINER_OF(tx, struct iscsi_ctl_pdu, tx);
	bool close_after = p->close_after && p->statsn_mode == 0xff;

	vs_iscsi_ctl_put(c, p);
	if (c->state == CONN_CLOSING) {
		vs_iscsi_conn_try_free(c);
		return;
	}
	if (close_after) {
		c->close_after_tx = true;
		if (!c->txq_head)
			vs_iscsi_conn_close(c, c->close_reason ? c->close_reason : "logout");
		return;
	}
	vs_iscsi_conn_resume_rx(c);
}

static void ctl_init(struct iscsi_ctl_pdu *p)
{
	memset(&p->bhs, 0, sizeof(p->bhs));
	p->in_use = true;
	p->uses_big = false;
	p->close_after = false;
	p->login_final = false;
	p->statsn_mode = ISCSI_STATSN_ADVANCE;
	p->data = p->inline_data;
	p->dlen = 0;
	p->tx.build = ctl_build;
	p->tx.finished = ctl_finished;
}

struct iscsi_ctl_pdu *vs_iscsi_ctl_get(struct iscsi_conn *c)
{
	for (unsigned i = 0; i < ISCSI_CTL_SLOTS; i++) {
		struct iscsi_ctl_pdu *p = &c->ctl[i];

		if (!p->in_use) {
			ctl_init(p);
			return p;
		}
	}
	return NULL;
}

/* Asked before every PDU is handled: stop at the n-th free slot (usually
 * the first few are free), not after counting all of them. */
bool vs_iscsi_ctl_available(struct iscsi_conn *c, unsigned n)
{
	unsigned f = 0;

	for (unsigned i = 0; i < ISCSI_CTL_SLOTS && f < n; i++)
		f += !c->ctl[i].in_use;
	return f >= n;
}

void vs_iscsi_ctl_send(struct iscsi_conn *c, struct iscsi_ctl_pdu *p)
{
	if (p->tx.build != ctl_build) {   /* a slot embedded elsewhere (TMF) */
		p->tx.build = ctl_build;
		p->tx.finished = ctl_finished;
	}
	vs_iscsi_tx_queue(c, &p->tx);
}

void vs_iscsi_ctl_init_embedded(struct iscsi_ctl_pdu *p)
{
	ctl_init(p);
}
