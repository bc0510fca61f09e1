/* SPDX-License-Identifier: MIT */
/*
 * One iSCSI connection on its event loop: the PDU receive state machine
 * (BHS → AHS → header digest → data segment → data digest, RFC 7143
 * §11.2), the send queue (writev/sendmsg with partial writes), the login
 * phase glue to login.c, dispatch of full-feature PDUs, and teardown that
 * waits for every outstanding SRB before the memory goes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vstor/miniport.h"
#include "conn.h"
#include "iscsi_target.h"
#include "log.h"

#define RX_PDU_BUDGET 64

static void conn_rx(struct iscsi_conn *c);
static void conn_event(struct vs_loop_fd *h, uint32_t events);

/* ---------------------------------------------------------------- lifetime */

struct iscsi_conn *iscsi_conn_create(struct vs_iscsi *is, int fd, const char *peer,
                                     const char *local)
{
	struct iscsi_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->is = is;
	c->fd = fd;
	c->h.fn = conn_event;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	snprintf(c->local, sizeof(c->local), "%s", local);
	/* As if it came in on a default portal; on_accept names the real one. */
	c->portal_default = true;
	c->id = atomic_fetch_add(&is->next_conn_id, 1) + 1;
	c->created_ns = c->last_rx_ns = vs_loop_clock_ns();
	c->rx_need = ISCSI_BHS_LEN;
	c->rx_buf_len = is->cfg.max_recv_dsl > ISCSI_TEXT_MAX ? is->cfg.max_recv_dsl : ISCSI_TEXT_MAX;
	c->rx_buf = malloc(c->rx_buf_len);
	c->big_buf_len = c->rx_buf_len;
	c->big_buf = malloc(c->big_buf_len);
	c->rbuf = malloc(ISCSI_RBUF_LEN);
	iscsi_target_env_init(is, c);
	c->login = c->rx_buf && c->big_buf && c->rbuf ? iscsi_login_new(&c->env) : NULL;
	if (!c->login) {
		free(c->rx_buf);
		free(c->big_buf);
		free(c->rbuf);
		free(c);
		return NULL;
	}
	atomic_fetch_add(&is->nconns, 1);
	return c;
}

static void attach_msg(struct vs_loop_msg *m)
{
	struct iscsi_conn *c = ISCSI_CONTAINER_OF(m, struct iscsi_conn, attach_msg);
	struct iscsi_loop *loop = c->loop;

	c->lnext = loop->conns;
	if (c->lnext)
		c->lnext->lprev = c;
	loop->conns = c;
	loop->nconns++;
	c->events = EPOLLIN | EPOLLRDHUP;
	/* A group asked to stop keeps this loop until the connection is gone. */
	vs_loop_hold(loop->base);
	if (c->is->stopping) {
		iscsi_conn_close(c, "target stopping");
		return;
	}
	if (vs_loop_fd_add(loop->base, c->fd, c->events, &c->h) < 0) {
		iscsi_conn_close(c, "epoll registration failed");
		return;
	}
	iscsi_log(ISCSI_LOG_DEBUG, "conn %llu from %s on loop %u", (unsigned long long)c->id, c->peer,
	          loop->idx);
}

void iscsi_conn_attach(struct iscsi_conn *c, struct iscsi_loop *loop)
{
	c->loop = loop;
	c->attach_msg.fn = attach_msg;
	vs_loop_post(loop->base, &c->attach_msg);
}

static void conn_free(struct iscsi_conn *c)
{
	struct iscsi_loop *loop = c->loop;
	struct vs_iscsi *is = c->is;

	iscsi_session_detach(c);
	iscsi_tasks_fini(c);
	if (c->text)
		iscsi_text_free(c->text);
	if (c->login)
		iscsi_login_free(c->login);
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else if (loop->conns == c)
		loop->conns = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	loop->nconns--;
	free(c->rx_buf);
	free(c->big_buf);
	free(c->rbuf);
	free(c);
	vs_loop_release(loop->base);
	/* vs_iscsi_stop waits for the last one. */
	if (atomic_fetch_sub(&is->nconns, 1) == 1) {
		pthread_mutex_lock(&is->lock);
		pthread_cond_broadcast(&is->cond);
		pthread_mutex_unlock(&is->lock);
	}
}

static bool may_free(struct iscsi_conn *c)
{
	bool posted;

	if (c->state != CONN_CLOSING || c->outstanding_srbs || c->tmf_pending ||
	    c->waiting_reinstate || c->flush_posted || c->resume_posted || c->txq_head)
		return false;
	/* Messages other threads may have posted that still point at us. */
	pthread_mutex_lock(&c->is->lock);
	posted = c->kill_pending || c->async_posted;
	pthread_mutex_unlock(&c->is->lock);
	return !posted;
}

static void reap_msg(struct vs_loop_msg *m)
{
	struct iscsi_conn *c = ISCSI_CONTAINER_OF(m, struct iscsi_conn, reap_msg);

	c->reap_posted = false;
	if (may_free(c))
		conn_free(c);
}

/* Free the connection once nothing refers to it any more.  Never frees
 * synchronously: callers up the stack may still hold the pointer, and a
 * later event of the same epoll_wait batch may name this connection, so
 * the free runs only after the whole batch (iscsi_loop_post_late). */
void iscsi_conn_try_free(struct iscsi_conn *c)
{
	if (c->reap_posted || !may_free(c))
		return;
	c->reap_posted = true;
	c->reap_msg.fn = reap_msg;
	vs_loop_post_late(c->loop->base, &c->reap_msg);
}

void iscsi_conn_close(struct iscsi_conn *c, const char *reason)
{
	if (c->state == CONN_CLOSING)
		return;
	c->close_reason = reason;
	if (c->sess && !c->sess->discovery)
		iscsi_log(ISCSI_LOG_INFO, "conn %llu %s (%s, tsih %u) closed: %s", (unsigned long long)c->id,
		          c->peer, c->sess->initiator, c->sess->tsih, reason);
	else
		iscsi_log(ISCSI_LOG_INFO, "conn %llu %s closed: %s", (unsigned long long)c->id, c->peer,
		          reason);
	c->state = CONN_CLOSING;
	if (c->fd >= 0) {
		vs_loop_fd_del(c->loop->base, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	/* Drop whatever was not sent; items release their owners. */
	while (c->txq_head) {
		struct iscsi_tx *tx = c->txq_head;

		iscsi_tx_remove(c, tx);
		tx->built = false;
		if (tx->finished)
			tx->finished(c, tx);
	}
	iscsi_tasks_release_all_local(c);
	/* Connection loss (ERL 0): every task of the nexus is aborted; each
	 * SRB's done() still runs exactly once and we wait for all of them. */
	if (c->outstanding_srbs && c->sess && c->sess->nexus && c->sess->target)
		vs_port_nexus_abort_all(c->sess->target->port, c->sess->nexus);
	iscsi_conn_try_free(c);
}

static void kill_msg(struct vs_loop_msg *m)
{
	struct iscsi_conn *c = ISCSI_CONTAINER_OF(m, struct iscsi_conn, kill_msg);

	const char *reason;

	pthread_mutex_lock(&c->is->lock);
	c->kill_pending = false;
	reason = c->kill_reason;
	pthread_mutex_unlock(&c->is->lock);
	if (!reason)
		reason = c->sess && c->sess->dying ? "session reinstated or removed" : "closed by request";
	if (c->state != CONN_CLOSING)
		iscsi_conn_close(c, reason);
	else
		iscsi_conn_try_free(c);
}

/* Called with is->lock held, from any thread. */
void iscsi_conn_kill_async(struct iscsi_conn *c)
{
	if (c->kill_pending)
		return;
	c->kill_pending = true;
	c->kill_msg.fn = kill_msg;
	vs_loop_post(c->loop->base, &c->kill_msg);
}

/* ---------------------------------------------------------------- sequence numbers */

uint32_t iscsi_conn_max_cmdsn(struct iscsi_conn *c)
{
	uint32_t qd = c->is->cfg.queue_depth;
	uint32_t free_slots = c->active_window < qd ? qd - c->active_window : 0;

	if (!c->sess)
		return c->login_exp_cmdsn + qd - 1;
	/* §4.2.2.1: the window is MaxCmdSN - ExpCmdSN + 1 commands; it only
	 * ever covers task slots we have, so an admitted command never waits. */
	return c->sess->exp_cmdsn + free_slots - 1;
}

void iscsi_fill_sn(struct iscsi_conn *c, uint8_t *hdr, enum iscsi_statsn_mode mode)
{
	uint32_t exp = c->sess ? c->sess->exp_cmdsn : c->login_exp_cmdsn;
	uint32_t max = iscsi_conn_max_cmdsn(c);

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

static void flush_msg(struct vs_loop_msg *m)
{
	struct iscsi_conn *c = ISCSI_CONTAINER_OF(m, struct iscsi_conn, flush_msg);

	c->flush_posted = false;
	if (c->state == CONN_CLOSING)
		iscsi_conn_try_free(c);
	else
		iscsi_tx_flush(c);
}

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

void iscsi_tx_remove(struct iscsi_conn *c, struct iscsi_tx *tx)
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

void iscsi_tx_queue(struct iscsi_conn *c, struct iscsi_tx *tx)
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
		c->flush_msg.fn = flush_msg;
		vs_loop_post(c->loop->base, &c->flush_msg);
	}
}

void iscsi_tx_set_pdu(struct iscsi_conn *c, struct iscsi_tx *tx, const struct iovec *data,
                      int ndata, uint32_t dlen, bool digests)
{
	struct iscsi_bhs *h = (struct iscsi_bhs *)tx->hdr;
	uint32_t pad = iscsi_pad4(dlen) - dlen;
	size_t hlen = ISCSI_BHS_LEN;
	size_t tlen = 0;

	bhs_set_dsl(h, dlen);
	if (digests && c->hdigest) {
		uint32_t crc = iscsi_crc32c(0, tx->hdr, ISCSI_BHS_LEN);

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
			uint32_t crc = iscsi_crc32c_iov(data, ndata, dlen, pad);

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

static void set_events(struct iscsi_conn *c, uint32_t events)
{
	if (c->fd < 0 || c->events == events)
		return;
	c->events = events;
	vs_loop_fd_mod(c->loop->base, c->fd, events, &c->h);
}

static void want_out(struct iscsi_conn *c, bool on)
{
	set_events(c, on ? (c->events | EPOLLOUT) : (c->events & ~(uint32_t)EPOLLOUT));
}

void iscsi_tx_flush(struct iscsi_conn *c)
{
	/* Every PDU ready goes out in one sendmsg (up to ISCSI_TX_BATCH PDUs,
	 * well under IOV_MAX iovecs): Data-In and status of a whole burst of
	 * commands cost one system call and few TCP segments. */
	while (c->txq_head && c->state != CONN_CLOSING) {
		struct iovec iov[ISCSI_TX_BATCH * 4];
		struct iscsi_tx *batch[ISCSI_TX_BATCH];
		int niov = 0, nb = 0;
		struct iscsi_tx *tx, *next;
		struct msghdr mh = { 0 };
		ssize_t n;

		for (tx = c->txq_head; tx && nb < (int)ISCSI_TX_BATCH &&
		     niov + (int)(sizeof(tx->iov) / sizeof(tx->iov[0])) <= (int)(sizeof(iov) / sizeof(iov[0]));
		     tx = next) {
			size_t skip;

			next = tx->next;
			if (!tx->built) {
				if (!tx->build(c, tx)) {
					iscsi_tx_remove(c, tx);
					if (tx->finished)
						tx->finished(c, tx);
					if (c->state == CONN_CLOSING)
						return;
					continue;
				}
				tx->built = true;
			}
			batch[nb++] = tx;
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
				return;
			}
			iscsi_conn_close(c, errno == EPIPE || errno == ECONNRESET ? "peer reset" : "send failed");
			return;
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
			iscsi_tx_remove(c, tx);
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
					return;
				continue;
			}
			/* PDU out: the item goes to the tail so its next PDU follows
			 * every PDU already built (wire order = StatSN order). */
			tx_append(c, tx);
		}
	}
	if (c->state == CONN_CLOSING)
		return;
	want_out(c, false);
	if (!c->txq_head && c->close_after_tx)
		iscsi_conn_close(c, c->close_reason ? c->close_reason : "logout");
}

/* ---------------------------------------------------------------- control PDUs */

static bool ctl_build(struct iscsi_conn *c, struct iscsi_tx *tx)
{
	struct iscsi_ctl_pdu *p = ISCSI_CONTAINER_OF(tx, struct iscsi_ctl_pdu, tx);
	struct iovec data = { p->data, p->dlen };
	bool login = (p->bhs.b[0] & ISCSI_OPCODE_MASK) == ISCSI_OP_LOGIN_RESP;

	if (p->statsn_mode == 0xff)
		return false;       /* already went out */
	memcpy(tx->hdr, p->bhs.b, ISCSI_BHS_LEN);
	iscsi_fill_sn(c, tx->hdr, (enum iscsi_statsn_mode)p->statsn_mode);
	/* Login PDUs never carry digests (§13.1: they start after login). */
	iscsi_tx_set_pdu(c, tx, &data, 1, p->dlen, !login);
	p->statsn_mode = 0xff;
	tx->last = true;
	return true;
}

static void ctl_finished(struct iscsi_conn *c, struct iscsi_tx *tx)
{
	struct iscsi_ctl_pdu *p = ISCSI_CONTAINER_OF(tx, struct iscsi_ctl_pdu, tx);
	bool close_after = p->close_after && p->statsn_mode == 0xff;

	if (p->uses_big)
		c->big_busy = false;
	p->in_use = false;
	p->uses_big = false;
	if (c->state == CONN_CLOSING) {
		iscsi_conn_try_free(c);
		return;
	}
	if (close_after) {
		c->close_after_tx = true;
		if (!c->txq_head)
			iscsi_conn_close(c, c->close_reason ? c->close_reason : "logout");
		return;
	}
	iscsi_conn_resume_rx(c);
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

struct iscsi_ctl_pdu *iscsi_ctl_get(struct iscsi_conn *c)
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

bool iscsi_ctl_available(struct iscsi_conn *c, unsigned n)
{
	unsigned f = 0;

	for (unsigned i = 0; i < ISCSI_CTL_SLOTS; i++)
		f += !c->ctl[i].in_use;
	return f >= n;
}

void iscsi_ctl_send(struct iscsi_conn *c, struct iscsi_ctl_pdu *p)
{
	if (p->tx.build != ctl_build) {   /* a slot embedded elsewhere (TMF) */
		p->tx.build = ctl_build;
		p->tx.finished = ctl_finished;
	}
	iscsi_tx_queue(c, &p->tx);
}

void iscsi_ctl_init_embedded(struct iscsi_ctl_pdu *p)
{
	ctl_init(p);
}

/* ---------------------------------------------------------------- receive */

static void resume_msg(struct vs_loop_msg *m)
{
	struct iscsi_conn *c = ISCSI_CONTAINER_OF(m, struct iscsi_conn, resume_msg);

	c->resume_posted = false;
	if (c->state == CONN_CLOSING) {
		iscsi_conn_try_free(c);
		return;
	}
	conn_rx(c);
}

static void rx_kick(struct iscsi_conn *c)
{
	if (!c->resume_posted) {
		c->resume_posted = true;
		c->resume_msg.fn = resume_msg;
		vs_loop_post(c->loop->base, &c->resume_msg);
	}
}

void iscsi_conn_resume_rx(struct iscsi_conn *c)
{
	if (!c->rx_paused || c->state == CONN_CLOSING || c->state == CONN_LOGOUT ||
	    c->state == CONN_LOGIN_WAIT || c->close_after_tx)
		return;
	c->rx_paused = false;
	set_events(c, c->events | EPOLLIN);
	/* The PDU that paused may need no more bytes from the socket (or they
	 * are already in the receive buffer), so do not wait for EPOLLIN: kick
	 * the state machine. */
	rx_kick(c);
}

void iscsi_conn_pause_rx(struct iscsi_conn *c)
{
	c->rx_paused = true;
	set_events(c, c->events & ~(uint32_t)EPOLLIN);
}

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

static void rx_add_trailer(struct iscsi_conn *c)
{
	uint32_t pad = iscsi_pad4(c->rx_dlen) - c->rx_dlen;
	size_t tl = pad + (c->ddigest && c->rx_dlen ? ISCSI_DIGEST_LEN : 0);

	if (tl)
		c->rx_seg[c->rx_nseg++] = (struct iscsi_rx_seg){ c->rx_trailer, tl };
}

void iscsi_rx_sink_discard(struct iscsi_conn *c)
{
	c->rx_nseg = 0;
	if (c->rx_dlen)
		c->rx_seg[c->rx_nseg++] = (struct iscsi_rx_seg){ NULL, c->rx_dlen };
	rx_add_trailer(c);
	c->rx_discard_all = true;
}

void iscsi_rx_sink_buf(struct iscsi_conn *c)
{
	c->rx_nseg = 0;
	if (c->rx_dlen)
		c->rx_seg[c->rx_nseg++] = (struct iscsi_rx_seg){ c->rx_buf, c->rx_dlen };
	rx_add_trailer(c);
}

void iscsi_rx_sink_seg(struct iscsi_conn *c, uint8_t *base, size_t len, size_t discard_after)
{
	c->rx_nseg = 0;
	if (len)
		c->rx_seg[c->rx_nseg++] = (struct iscsi_rx_seg){ base, len };
	if (discard_after)
		c->rx_seg[c->rx_nseg++] = (struct iscsi_rx_seg){ NULL, discard_after };
	rx_add_trailer(c);
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
	crc = iscsi_crc32c_iov(iov, n, c->rx_dlen, pad);
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
		iscsi_log(ISCSI_LOG_WARN, "conn %llu %s: data digest error (opcode 0x%02x)",
		          (unsigned long long)c->id, c->peer, op);
		iscsi_send_reject(c, ISCSI_REJECT_DATA_DIGEST_ERROR, &c->rx_bhs);
		if (op == ISCSI_OP_SCSI_CMD || op == ISCSI_OP_DATA_OUT) {
			c->close_reason = "data digest error";
			c->close_after_tx = true;
			iscsi_conn_pause_rx(c);
		}
		if (c->rx_task && c->rx_task->state == TASK_DATA_OUT)
			iscsi_task_abort_local(c, c->rx_task);
		if (c->rx_ctl) {
			if (c->rx_ctl->uses_big)
				c->big_busy = false;
			c->rx_ctl->in_use = false;
			c->rx_ctl->uses_big = false;
		}
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

static void reject_complete(struct iscsi_conn *c)
{
	(void)c;
}

void iscsi_reject_current(struct iscsi_conn *c, uint8_t reason, bool fatal, const char *why)
{
	iscsi_rx_sink_discard(c);
	c->rx_complete = reject_complete;
	iscsi_send_reject(c, reason, &c->rx_bhs);
	if (why)
		iscsi_log(fatal ? ISCSI_LOG_WARN : ISCSI_LOG_DEBUG, "conn %llu %s: %s (opcode 0x%02x)",
		          (unsigned long long)c->id, c->peer, why, bhs_opcode(&c->rx_bhs));
	if (fatal) {
		/* ERL 0: no recovery within the connection (§7.1.4). */
		c->close_reason = why ? why : "protocol error";
		c->close_after_tx = true;
		iscsi_conn_pause_rx(c);
	}
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
			iscsi_conn_close(c, "non-login PDU during login (RFC 7143 §6)");
			return 0;
		}
		iscsi_conn_login_header(c);
		return 0;
	}
	if (c->state == CONN_LOGIN_WAIT || c->state == CONN_LOGOUT) {
		iscsi_conn_pause_rx(c);
		return 1;
	}
	/* Responses need a control slot; keep one spare for a Reject. */
	if (!iscsi_ctl_available(c, 2)) {
		iscsi_conn_pause_rx(c);
		return 1;
	}
	switch (op) {
	case ISCSI_OP_NOP_OUT:
		rc = iscsi_nop_out_header(c);
		break;
	case ISCSI_OP_SCSI_CMD:
		if (c->sess->discovery)
			goto protocol_error;
		rc = iscsi_scsi_cmd_header(c);
		break;
	case ISCSI_OP_DATA_OUT:
		if (c->sess->discovery)
			goto protocol_error;
		rc = iscsi_data_out_header(c);
		break;
	case ISCSI_OP_TASK_MGMT_REQ:
		if (c->sess->discovery)
			goto protocol_error;
		rc = iscsi_tmf_header(c);
		break;
	case ISCSI_OP_TEXT_REQ:
		rc = iscsi_text_header(c);
		break;
	case ISCSI_OP_LOGOUT_REQ:
		rc = iscsi_logout_header(c);
		break;
	case ISCSI_OP_SNACK_REQ:
		/* ERL 0: SNACK is not supported (§11.16, §7.1.4). */
		iscsi_rx_sink_discard(c);
		iscsi_send_reject(c, ISCSI_REJECT_SNACK_REJECT, h);
		c->rx_complete = reject_complete;
		return 0;
	default:
		goto protocol_error;
	}
	if (rc == 1)
		iscsi_conn_pause_rx(c);
	return rc;

protocol_error:
	iscsi_rx_sink_discard(c);
	iscsi_send_reject(c, ISCSI_REJECT_PROTOCOL_ERROR, h);
	c->rx_complete = reject_complete;
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
	rc = iscsi_bhs_validate(&c->rx_bhs, limit, c->state != CONN_LOGIN);
	if (rc < 0 || (rc > 0 && c->state == CONN_LOGIN)) {
		iscsi_log(ISCSI_LOG_WARN, "conn %llu %s: malformed PDU header (opcode 0x%02x, dsl %u)",
		          (unsigned long long)c->id, c->peer, bhs_opcode(&c->rx_bhs), c->rx_dlen);
		iscsi_conn_close(c, "malformed PDU header");
		return;
	}
	c->rx_state = RX_DISPATCH;
	if (rc == 0 && c->state != CONN_LOGIN && !iscsi_session_exp_statsn_ok(c, &c->rx_bhs)) {
		iscsi_reject_current(c, ISCSI_REJECT_PROTOCOL_ERROR, true,
		                     "ExpStatSN acknowledges status never sent");
		rc = -1;
	}
	if (rc != 0) {
		/* Structurally framed but invalid: reject it and skip its data. */
		if (rc > 0) {
			iscsi_rx_sink_discard(c);
			iscsi_send_reject(c, (uint8_t)rc, &c->rx_bhs);
			c->rx_complete = reject_complete;
		}
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
		uint32_t crc = iscsi_crc32c(0, c->rx_bhs.b, ISCSI_BHS_LEN);
		uint32_t got;

		if (bhs_ahs_len(&c->rx_bhs))
			crc = iscsi_crc32c(crc, c->rx_ahs, (size_t)bhs_ahs_len(&c->rx_bhs) * 4);
		got = (uint32_t)c->rx_hdig[0] | (uint32_t)c->rx_hdig[1] << 8 |
		      (uint32_t)c->rx_hdig[2] << 16 | (uint32_t)c->rx_hdig[3] << 24;
		if (crc != got) {
			/* §7.8: framing after a header digest error cannot be trusted. */
			iscsi_conn_close(c, "header digest error");
			return;
		}
	}
	on_header(c);
}

static void conn_rx(struct iscsi_conn *c)
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
				c->loop->pdus_in_wake++;
				pdu_done(c);
				continue;
			}
			rc = rx_read_data(c);
			break;
		}
		if (rc == 0)
			return;
		if (rc < 0) {
			iscsi_conn_close(c, rc == -2 ? "peer closed the connection" : "receive failed");
			return;
		}
	}
	/* Out of budget (fairness to the loop's other connections and to the
	 * responses just queued): bytes already buffered raise no EPOLLIN, so
	 * come back for them after the work this burst produced. */
	if (rbuf_avail(c) && c->state != CONN_CLOSING && !c->rx_paused)
		rx_kick(c);
}

static void conn_event(struct vs_loop_fd *h, uint32_t events)
{
	struct iscsi_conn *c = ISCSI_CONTAINER_OF(h, struct iscsi_conn, h);

	if (c->state == CONN_CLOSING)
		return;
	if (events & EPOLLOUT)
		iscsi_tx_flush(c);
	if (c->state == CONN_CLOSING)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		if (c->rx_paused) {
			/* Paused for resources; a hang-up still ends the connection. */
			if (events & (EPOLLHUP | EPOLLERR))
				iscsi_conn_close(c, "peer closed the connection");
			return;
		}
		conn_rx(c);
	}
}

/* ---------------------------------------------------------------- timers */

void iscsi_conn_tick(struct iscsi_conn *c, uint64_t now)
{
	if (c->state == CONN_CLOSING)
		return;
	if ((c->state == CONN_LOGIN || c->state == CONN_LOGIN_WAIT) &&
	    now - c->created_ns > (uint64_t)c->is->cfg.login_timeout_ms * 1000000ull) {
		iscsi_conn_close(c, "login timeout");
		return;
	}
	/* A logout waiting for its tasks' responses still needs an initiator
	 * that reads them (nop.c checks the send queue then, but never pings). */
	if (c->state == CONN_FULL || c->state == CONN_LOGOUT)
		iscsi_nop_tick(c, now);
	if (c->state == CONN_FULL)
		iscsi_async_flush(c);   /* events that found no free control slot */
	/* A pause waiting on SRB buffers that the miniport released late. */
	if (c->rx_paused && c->state == CONN_FULL)
		iscsi_conn_resume_rx(c);
}

