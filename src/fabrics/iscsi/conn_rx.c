/* SPDX-License-Identifier: MIT */
/*
 * The receive state machine of a connection (RFC 7143 §11.2: BHS → AHS →
 * header digest → data segment → data digest), parsed from a receive
 * buffer filled in bursts, and the dispatch of each PDU to its handler
 * (login, SCSI Command, Data-Out, NOP-Out, TMF, Text, Logout, SNACK).
 * The handlers say where the data goes through conn_sink.c; nothing here
 * is called by a handler.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "conn.h"
#include "log.h"

#define RX_PDU_BUDGET 64

static void rx_reset(struct iscsi_conn *c)
{
	c->rx_state = RX_BHS;
	c->rx_got = 0;
	c->rx_need = ISCSI_BHS_LEN;
	c->rx_nseg = 0;
	c->rx_seg_idx = 0;
	c->rx_seg_off = 0;
	c->rx_complete = NULL;
	c->rx_discard_all = false;
}

/* Verify the data digest over what landed in memory (§13.1). */
static bool rx_data_digest_ok(struct iscsi_conn *c)
{
	struct iovec iov[4];
	int n = 0;
	uint32_t pad = iscsi_pad4(c->rx_dlen) - c->rx_dlen;
	uint32_t got, crc;
	const uint8_t *d;

	if (!c->ddigest || !c->rx_dlen)
		return true;
	for (int i = 0; i < c->rx_nseg; i++) {
		if (c->rx_seg[i].base == c->rx_trailer)
			break;
		if (!c->rx_seg[i].base)
			return true;    /* data thrown away: nothing to protect */
		iov[n++] = (struct iovec){ c->rx_seg[i].base, c->rx_seg[i].len };
	}
	crc = vs_crc32c_iov(iov, n, c->rx_dlen, pad);
	d = c->rx_trailer + pad;
	got = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
	return crc == got;
}

static void pdu_done(struct iscsi_conn *c)
{
	void (*complete)(struct iscsi_conn *) = c->rx_complete;
	uint8_t op = bhs_opcode(&c->rx_bhs);

	if (!rx_data_digest_ok(c)) {
		/* §7.8: a data digest error gets a Reject carrying the header.  At
		 * ERL 0 a command whose data was damaged cannot be recovered
		 * (no recovery R2T / SNACK), so those connections are closed. */
		vs_iscsi_log(ISCSI_LOG_WARN, "conn %llu %s: data digest error (opcode 0x%02x)",
		          (unsigned long long)c->id, c->peer, op);
		vs_iscsi_send_reject(c, ISCSI_REJECT_DATA_DIGEST_ERROR, &c->rx_bhs);
		if (op == ISCSI_OP_SCSI_CMD || op == ISCSI_OP_DATA_OUT) {
			c->close_reason = "data digest error";
			c->close_after_tx = true;
			vs_iscsi_conn_pause_rx(c);
		}
		if (c->rx_task && c->rx_task->state == TASK_DATA_OUT)
			vs_iscsi_task_abort_local(c, c->rx_task);
		if (c->rx_ctl)
			vs_iscsi_ctl_put(c, c->rx_ctl);
		c->rx_task = NULL;
		c->rx_ctl = NULL;
		rx_reset(c);
		return;
	}
	rx_reset(c);
	if (complete)
		complete(c);
	c->rx_task = NULL;
	c->rx_ctl = NULL;
}

/* A PDU arrived whose header is complete: decide where its data goes. */
static int dispatch(struct iscsi_conn *c)
{
	const struct iscsi_bhs *h = &c->rx_bhs;
	uint8_t op = bhs_opcode(h);
	int rc;

	c->rx_complete = NULL;
	if (c->state == CONN_LOGIN) {
		if (op != ISCSI_OP_LOGIN_REQ) {
			vs_iscsi_conn_close(c, "non-login PDU during login (RFC 7143 §6)");
			return 0;
		}
		vs_iscsi_conn_login_header(c);
		return 0;
	}
	if (c->state == CONN_LOGIN_WAIT || c->state == CONN_LOGOUT) {
		vs_iscsi_conn_pause_rx(c);
		return 1;
	}
	/* Responses need a control slot; keep one spare for a Reject. */
	if (!vs_iscsi_ctl_available(c, 2)) {
		vs_iscsi_conn_pause_rx(c);
		return 1;
	}
	switch (op) {
	case ISCSI_OP_NOP_OUT:
		rc = vs_iscsi_nop_out_header(c);
		break;
	case ISCSI_OP_SCSI_CMD:
		if (c->sess->discovery)
			goto protocol_error;
		rc = vs_iscsi_scsi_cmd_header(c);
		break;
	case ISCSI_OP_DATA_OUT:
		if (c->sess->discovery)
			goto protocol_error;
		rc = vs_iscsi_data_out_header(c);
		break;
	case ISCSI_OP_TASK_MGMT_REQ:
		if (c->sess->discovery)
			goto protocol_error;
		rc = vs_iscsi_tmf_header(c);
		break;
	case ISCSI_OP_TEXT_REQ:
		rc = vs_iscsi_text_header(c);
		break;
	case ISCSI_OP_LOGOUT_REQ:
		rc = vs_iscsi_logout_header(c);
		break;
	case ISCSI_OP_SNACK_REQ:
		/* ERL 0: SNACK is not supported (§11.16, §7.1.4). */
		vs_iscsi_reject_pdu(c, ISCSI_REJECT_SNACK_REJECT);
		return 0;
	default:
		goto protocol_error;
	}
	if (rc == 1)
		vs_iscsi_conn_pause_rx(c);
	return rc;

protocol_error:
	vs_iscsi_reject_pdu(c, ISCSI_REJECT_PROTOCOL_ERROR);
	return 0;
}

static void on_header(struct iscsi_conn *c)
{
	uint32_t limit;
	int rc;

	c->last_rx_ns = c->rx_now_ns;
	c->nop_outstanding = false;
	c->rx_dlen = bhs_dsl(&c->rx_bhs);
	limit = c->state == CONN_LOGIN ? c->rx_buf_len : c->p.max_recv_dsl;
	rc = vs_iscsi_bhs_validate(&c->rx_bhs, limit, c->state != CONN_LOGIN);
	if (rc < 0 || (rc > 0 && c->state == CONN_LOGIN)) {
		vs_iscsi_log(ISCSI_LOG_WARN, "conn %llu %s: malformed PDU header (opcode 0x%02x, dsl %u)",
		          (unsigned long long)c->id, c->peer, bhs_opcode(&c->rx_bhs), c->rx_dlen);
		vs_iscsi_conn_close(c, "malformed PDU header");
		return;
	}
	c->rx_state = RX_DISPATCH;
	if (rc == 0 && c->state != CONN_LOGIN && !vs_iscsi_session_exp_statsn_ok(c, &c->rx_bhs)) {
		vs_iscsi_reject_current(c, ISCSI_REJECT_PROTOCOL_ERROR, true,
		                     "ExpStatSN acknowledges status never sent");
		rc = -1;
	}
	if (rc != 0) {
		/* Structurally framed but invalid: reject it and skip its data. */
		if (rc > 0)
			vs_iscsi_reject_pdu(c, (uint8_t)rc);
		c->rx_state = RX_DATA;
		c->rx_seg_idx = 0;
		c->rx_seg_off = 0;
		return;
	}
	if (dispatch(c) == 0 && c->state != CONN_CLOSING) {
		c->rx_state = RX_DATA;
		c->rx_seg_idx = 0;
		c->rx_seg_off = 0;
	}
}

static bool rx_data_done(struct iscsi_conn *c)
{
	return c->rx_seg_idx >= c->rx_nseg;
}

/*
 * Receiving (RFC 7143 §11.2 framing is parsed from memory).
 *
 * Bytes come off the socket in bursts into c->rbuf and the state machine
 * takes them from there: a header is a memcpy out of the buffer, and a
 * small data segment a memcpy into the SRB buffer, both of memory that is
 * already in cache.  A data segment with ISCSI_RX_DIRECT_MIN or more still
 * to come is read straight into its destination instead.  The reading
 * helpers return >0 progress, 0 would block, -1 receive error, -2 closed.
 */
static uint32_t rbuf_avail(const struct iscsi_conn *c)
{
	return c->rbuf_tail - c->rbuf_head;
}

static int rx_result(ssize_t got)
{
	if (got < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	return got == 0 ? -2 : 1;
}

/*
 * The buffer is empty: refill it with whatever the socket holds.  Once a
 * recv() of this burst came back short the socket was empty a moment ago;
 * rather than ask again at once (another system call, and on TCP another
 * ACK), the burst ends: the responses it produced go out first, and the
 * level-triggered EPOLLIN brings us back for what arrived meanwhile, by
 * then a larger batch.
 */
static int rbuf_fill(struct iscsi_conn *c)
{
	ssize_t got;
	int rc;

	if (c->rx_drained)
		return 0;
	got = recv(c->fd, c->rbuf, ISCSI_RBUF_LEN, 0);
	rc = rx_result(got);
	c->rbuf_head = 0;
	c->rbuf_tail = rc > 0 ? (uint32_t)got : 0;
	c->rx_drained = rc > 0 && (size_t)got < ISCSI_RBUF_LEN;
	return rc;
}

/* Account `n` bytes placed into (or skipped for) the data segments. */
static void rx_seg_advance(struct iscsi_conn *c, size_t n)
{
	while (n > 0 && c->rx_seg_idx < c->rx_nseg) {
		struct iscsi_rx_seg *s = &c->rx_seg[c->rx_seg_idx];
		size_t left = s->len - c->rx_seg_off;

		if (n < left) {
			c->rx_seg_off += n;
			return;
		}
		n -= left;
		c->rx_seg_idx++;
		c->rx_seg_off = 0;
	}
}

/* Large remainder: readv into the segments' own memory, then the receive
 * buffer for whatever follows the PDU. */
static int rx_read_direct(struct iscsi_conn *c)
{
	struct iovec iov[5];
	int n = 0;
	size_t off = c->rx_seg_off, want = 0;
	ssize_t got;
	int i;

	for (i = c->rx_seg_idx; i < c->rx_nseg && n < 4 && c->rx_seg[i].base; i++) {
		iov[n++] = (struct iovec){ c->rx_seg[i].base + off, c->rx_seg[i].len - off };
		want += c->rx_seg[i].len - off;
		off = 0;
	}
	if (i == c->rx_nseg)
		iov[n++] = (struct iovec){ c->rbuf, ISCSI_RBUF_LEN };
	got = readv(c->fd, iov, n);
	if (got <= 0)
		return rx_result(got);
	c->rbuf_head = 0;
	c->rbuf_tail = (size_t)got > want ? (uint32_t)((size_t)got - want) : 0;
	rx_seg_advance(c, (size_t)got > want ? want : (size_t)got);
	return 1;
}

static int rx_read_data(struct iscsi_conn *c)
{
	struct iscsi_rx_seg *s = &c->rx_seg[c->rx_seg_idx];
	uint32_t avail = rbuf_avail(c);
	size_t left = s->len - c->rx_seg_off;

	if (!avail) {
		size_t rest = left;

		for (int i = c->rx_seg_idx + 1; i < c->rx_nseg; i++)
			rest += c->rx_seg[i].len;
		if (s->base && rest >= ISCSI_RX_DIRECT_MIN)
			return rx_read_direct(c);
		int rc = rbuf_fill(c);

		if (rc <= 0)
			return rc;
		avail = rbuf_avail(c);
	}
	if (left > avail)
		left = avail;
	if (s->base)        /* NULL: data to skip */
		memcpy(s->base + c->rx_seg_off, c->rbuf + c->rbuf_head, left);
	c->rbuf_head += (uint32_t)left;
	rx_seg_advance(c, left);
	return 1;
}

static int rx_read_hdr(struct iscsi_conn *c, uint8_t *buf)
{
	size_t n = c->rx_need - c->rx_got;

	if (!rbuf_avail(c)) {
		int rc = rbuf_fill(c);

		if (rc <= 0)
			return rc;
	}
	if (n > rbuf_avail(c))
		n = rbuf_avail(c);
	memcpy(buf + c->rx_got, c->rbuf + c->rbuf_head, n);
	c->rbuf_head += (uint32_t)n;
	c->rx_got += n;
	return 1;
}

static void after_bhs_parts(struct iscsi_conn *c)
{
	if (c->rx_state == RX_BHS && bhs_ahs_len(&c->rx_bhs)) {
		c->rx_state = RX_AHS;
		c->rx_got = 0;
		c->rx_need = (size_t)bhs_ahs_len(&c->rx_bhs) * 4;
		return;
	}
	if ((c->rx_state == RX_BHS || c->rx_state == RX_AHS) && c->hdigest) {
		c->rx_state = RX_HDIG;
		c->rx_got = 0;
		c->rx_need = ISCSI_DIGEST_LEN;
		return;
	}
	if (c->rx_state == RX_HDIG) {
		uint32_t crc = vs_crc32c(0, c->rx_bhs.b, ISCSI_BHS_LEN);
		uint32_t got;

		if (bhs_ahs_len(&c->rx_bhs))
			crc = vs_crc32c(crc, c->rx_ahs, (size_t)bhs_ahs_len(&c->rx_bhs) * 4);
		got = (uint32_t)c->rx_hdig[0] | (uint32_t)c->rx_hdig[1] << 8 |
		      (uint32_t)c->rx_hdig[2] << 16 | (uint32_t)c->rx_hdig[3] << 24;
		if (crc != got) {
			/* §7.8: framing after a header digest error cannot be trusted. */
			vs_iscsi_conn_close(c, "header digest error");
			return;
		}
	}
	on_header(c);
}

void vs_iscsi_conn_rx(struct iscsi_conn *c)
{
	int budget = RX_PDU_BUDGET;

	c->rx_now_ns = vs_loop_now_ns(c->loop->base);
	c->rx_drained = false;
	while (budget > 0) {
		int rc = 1;

		if (c->state == CONN_CLOSING || c->rx_paused)
			return;
		switch (c->rx_state) {
		case RX_BHS:
			rc = rx_read_hdr(c, c->rx_bhs.b);
			if (rc > 0 && c->rx_got == c->rx_need)
				after_bhs_parts(c);
			break;
		case RX_AHS:
			rc = rx_read_hdr(c, c->rx_ahs);
			if (rc > 0 && c->rx_got == c->rx_need)
				after_bhs_parts(c);
			break;
		case RX_HDIG:
			rc = rx_read_hdr(c, c->rx_hdig);
			if (rc > 0 && c->rx_got == c->rx_need)
				after_bhs_parts(c);
			break;
		case RX_DISPATCH:
			if (dispatch(c) == 0 && c->state != CONN_CLOSING) {
				c->rx_state = RX_DATA;
				c->rx_seg_idx = 0;
				c->rx_seg_off = 0;
			}
			break;
		case RX_DATA:
			if (rx_data_done(c)) {
				budget--;
				c->loop->poll.in_wake++;
				pdu_done(c);
				continue;
			}
			rc = rx_read_data(c);
			break;
		}
		if (rc == 0)
			return;
		if (rc < 0) {
			vs_iscsi_conn_close(c, rc == -2 ? "peer closed the connection" : "receive failed");
			return;
		}
	}
	/* Out of budget (fairness to the loop's other connections and to the
	 * responses just queued): bytes already buffered raise no EPOLLIN, so
	 * come back for them after the work this burst produced. */
	if (rbuf_avail(c) && c->state != CONN_CLOSING && !c->rx_paused)
		vs_iscsi_conn_rx_kick(c);
}
