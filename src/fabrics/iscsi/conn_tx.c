/* SPDX-License-Identifier: MIT */
/*
 * The send path of a connection: the queue of items that build their PDUs
 * lazily (StatSN assigned in wire order), the sequence numbers every
 * target PDU carries (RFC 7143 §4.2.2), one sendmsg per batch of PDUs with
 * partial writes, and the socket's epoll interest.  It closes nothing
 * itself: vs_iscsi_tx_flush says why the connection must close, and its
 * caller (conn_event.c) closes it, so the send path calls no other part of
 * the connection.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "conn.h"
#include "iscsi_target.h"

/* ---------------------------------------------------------------- sequence numbers */

uint32_t vs_iscsi_conn_max_cmdsn(struct iscsi_conn *c)
{
	uint32_t qd = c->is->cfg.queue_depth;
	uint32_t free_slots = c->active_window < qd ? qd - c->active_window : 0;

	if (!c->sess)
		return c->login_exp_cmdsn + qd - 1;
	/* §4.2.2.1: the window is MaxCmdSN - ExpCmdSN + 1 commands; it only
	 * ever covers task slots we have, so an admitted command never waits. */
	return c->sess->exp_cmdsn + free_slots - 1;
}

void vs_iscsi_fill_sn(struct iscsi_conn *c, uint8_t *hdr, enum iscsi_statsn_mode mode)
{
	uint32_t exp = c->sess ? c->sess->exp_cmdsn : c->login_exp_cmdsn;
	uint32_t max = vs_iscsi_conn_max_cmdsn(c);

	if (c->sess) {
		/* The initiator ignores a MaxCmdSN below the last one it saw. */
		if ((int32_t)(max - c->sess->max_cmdsn_sent) < 0)
			max = c->sess->max_cmdsn_sent;
		c->sess->max_cmdsn_sent = max;
	}
	if (mode == ISCSI_STATSN_ADVANCE)
		iscsi_put_be32(hdr + 24, c->stat_sn++);
	else if (mode == ISCSI_STATSN_CURRENT)
		iscsi_put_be32(hdr + 24, c->stat_sn);
	iscsi_put_be32(hdr + 28, exp);
	iscsi_put_be32(hdr + 32, max);
}

/* ---------------------------------------------------------------- send queue */

static void tx_append(struct iscsi_conn *c, struct iscsi_tx *tx)
{
	tx->next = NULL;
	tx->prev = c->txq_tail;
	if (c->txq_tail)
		c->txq_tail->next = tx;
	else
		c->txq_head = tx;
	c->txq_tail = tx;
	tx->queued = true;
}

void vs_iscsi_tx_remove(struct iscsi_conn *c, struct iscsi_tx *tx)
{
	if (!tx->queued)
		return;
	if (tx->prev)
		tx->prev->next = tx->next;
	else
		c->txq_head = tx->next;
	if (tx->next)
		tx->next->prev = tx->prev;
	else
		c->txq_tail = tx->prev;
	tx->next = tx->prev = NULL;
	tx->queued = false;
}

void vs_iscsi_tx_queue(struct iscsi_conn *c, struct iscsi_tx *tx)
{
	if (c->state == CONN_CLOSING) {
		/* Nothing goes out any more; let the owner clean up at once. */
		if (!tx->queued && tx->finished)
			tx->finished(c, tx);
		return;
	}
	if (!tx->queued) {
		tx->built = false;
		tx_append(c, tx);
	}
	/* Deferred so that callers never see their item finish under them and
	 * the responses to every PDU of a receive burst go out in one sendmsg. */
	if (!c->flush_posted) {
		c->flush_posted = true;
		vs_loop_post(c->loop->base, &c->flush_msg);
	}
}

/* The connection is closing: whatever was not sent is dropped, and each
 * item's owner is told (finished) so it can let go. */
void vs_iscsi_tx_drop_all(struct iscsi_conn *c)
{
	while (c->txq_head) {
		struct iscsi_tx *tx = c->txq_head;

		vs_iscsi_tx_remove(c, tx);
		tx->built = false;
		if (tx->finished)
			tx->finished(c, tx);
	}
}

void vs_iscsi_tx_set_pdu(struct iscsi_conn *c, struct iscsi_tx *tx, const struct iovec *data,
                      int ndata, uint32_t dlen, bool digests)
{
	vs_iscsi_tx_set_pdu_crc(c, tx, data, ndata, dlen, digests, NULL);
}

void vs_iscsi_tx_set_pdu_crc(struct iscsi_conn *c, struct iscsi_tx *tx, const struct iovec *data,
                          int ndata, uint32_t dlen, bool digests, const uint32_t *data_crc)
{
	struct iscsi_bhs *h = (struct iscsi_bhs *)tx->hdr;
	uint32_t pad = iscsi_pad4(dlen) - dlen;
	size_t hlen = ISCSI_BHS_LEN;
	size_t tlen = 0;

	bhs_set_dsl(h, dlen);
	if (digests && c->hdigest) {
		uint32_t crc = vs_crc32c(0, tx->hdr, ISCSI_BHS_LEN);

		/* Digests go on the wire least significant byte first (§13.1 / B.4). */
		tx->hdr[48] = (uint8_t)crc;
		tx->hdr[49] = (uint8_t)(crc >> 8);
		tx->hdr[50] = (uint8_t)(crc >> 16);
		tx->hdr[51] = (uint8_t)(crc >> 24);
		hlen += ISCSI_DIGEST_LEN;
	}
	tx->iovcnt = 0;
	tx->iov[tx->iovcnt++] = (struct iovec){ tx->hdr, hlen };
	for (int i = 0; i < ndata && tx->iovcnt < 6; i++)
		if (data[i].iov_len)
			tx->iov[tx->iovcnt++] = data[i];
	if (dlen) {
		memset(tx->trailer, 0, 3);
		tlen = pad;
		if (digests && c->ddigest) {
			static const uint8_t zeros[3];
			uint32_t crc = data_crc ? vs_crc32c(*data_crc, zeros, pad)
			                        : vs_crc32c_iov(data, ndata, dlen, pad);

			tx->trailer[pad] = (uint8_t)crc;
			tx->trailer[pad + 1] = (uint8_t)(crc >> 8);
			tx->trailer[pad + 2] = (uint8_t)(crc >> 16);
			tx->trailer[pad + 3] = (uint8_t)(crc >> 24);
			tlen += ISCSI_DIGEST_LEN;
		}
		if (tlen)
			tx->iov[tx->iovcnt++] = (struct iovec){ tx->trailer, tlen };
	}
	tx->len = hlen + dlen + tlen;
	tx->sent = 0;
}

/* ---------------------------------------------------------------- epoll interest */

void vs_iscsi_conn_set_events(struct iscsi_conn *c, uint32_t events)
{
	if (c->fd < 0 || c->events == events)
		return;
	c->events = events;
	vs_loop_fd_mod(c->loop->base, c->fd, events, &c->h);
}

static void want_out(struct iscsi_conn *c, bool on)
{
	vs_iscsi_conn_set_events(c, on ? (c->events | EPOLLOUT) : (c->events & ~(uint32_t)EPOLLOUT));
}

/* ---------------------------------------------------------------- sending */

const char *vs_iscsi_tx_flush(struct iscsi_conn *c)
{
	/* Every PDU ready goes out in one sendmsg (up to ISCSI_TX_BATCH PDUs,
	 * well under IOV_MAX iovecs): Data-In and status of a whole burst of
	 * commands cost one system call and few TCP segments.  With data
	 * digests a batch ends after ISCSI_TX_DIGEST_BATCH_BYTES. */
	size_t max_bytes = c->ddigest ? ISCSI_TX_DIGEST_BATCH_BYTES : SIZE_MAX;

	while (c->txq_head && c->state != CONN_CLOSING) {
		struct iovec iov[ISCSI_TX_BATCH * 4];
		struct iscsi_tx *batch[ISCSI_TX_BATCH];
		int niov = 0, nb = 0;
		size_t bytes = 0;
		struct iscsi_tx *tx, *next;
		struct msghdr mh = { 0 };
		ssize_t n;

		for (tx = c->txq_head; tx && nb < (int)ISCSI_TX_BATCH && bytes < max_bytes &&
		     niov + (int)(sizeof(tx->iov) / sizeof(tx->iov[0])) <= (int)(sizeof(iov) / sizeof(iov[0]));
		     tx = next) {
			size_t skip;

			next = tx->next;
			if (!tx->built) {
				if (!tx->build(c, tx)) {
					vs_iscsi_tx_remove(c, tx);
					if (tx->finished)
						tx->finished(c, tx);
					if (c->state == CONN_CLOSING)
						return NULL;
					continue;
				}
				tx->built = true;
			}
			batch[nb++] = tx;
			bytes += tx->len - tx->sent;
			skip = tx->sent;
			for (int i = 0; i < tx->iovcnt; i++) {
				struct iovec v = tx->iov[i];

				if (skip >= v.iov_len) {
					skip -= v.iov_len;
					continue;
				}
				v.iov_base = (uint8_t *)v.iov_base + skip;
				v.iov_len -= skip;
				skip = 0;
				iov[niov++] = v;
			}
		}
		if (!nb)
			break;
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)niov;
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* nop.c drops a connection whose queue stays stuck. */
				if (!c->tx_stall_ns)
					c->tx_stall_ns = vs_loop_now_ns(c->loop->base);
				want_out(c, true);
				return NULL;
			}
			return errno == EPIPE || errno == ECONNRESET ? "peer reset" : "send failed";
		}
		c->tx_stall_ns = 0;
		for (int i = 0; i < nb; i++) {
			struct iscsi_tx *tx = batch[i];
			size_t left = tx->len - tx->sent;

			if ((size_t)n < left) {
				tx->sent += (size_t)n;
				break;
			}
			n -= (ssize_t)left;
			tx->built = false;
			tx->sent = 0;
			vs_iscsi_tx_remove(c, tx);
			if (tx->last) {
				/* Its final PDU is on the wire: let the owner go now,
				 * before the connection reads again.  The MaxCmdSN that
				 * PDU carried already counted a finished task's slot as
				 * free (see scsi_cmd.c), and the initiator may use it as
				 * soon as it has the PDU. */
				tx->last = false;
				if (tx->finished)
					tx->finished(c, tx);
				if (c->state == CONN_CLOSING)
					return NULL;
				continue;
			}
			/* PDU out: the item goes to the tail so its next PDU follows
			 * every PDU already built (wire order = StatSN order). */
			tx_append(c, tx);
		}
	}
	if (c->state == CONN_CLOSING)
		return NULL;
	want_out(c, false);
	if (!c->txq_head && c->close_after_tx)
		return c->close_reason ? c->close_reason : "logout";
	return NULL;
}
