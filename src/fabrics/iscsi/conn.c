/* SPDX-License-Identifier: MIT */
/*
 * The lifetime of one iSCSI connection: created when a portal accepts it,
 * closed (socket gone, unsent PDUs dropped, tasks aborted) on error, logout
 * or request from any thread, and freed only once nothing refers to it any
 * more -- every SRB's done(), every TMF, every message posted to its loop.
 *
 * The other jobs of a connection have a file each.  Calls go one way
 * between them (→: calls), so no file is both the hub that calls every
 * PDU handler and a callee of the handlers:
 *   conn_event.c  on its loop: attach, readiness, deferred flush and resume
 *                 → conn_rx.c, conn_tx.c, conn.c
 *   conn_rx.c     the receive state machine; dispatch to the handlers (the
 *                 hub; only conn_event.c calls it)
 *                 → handlers, reject.c, conn_ctl.c, conn_sink.c, conn.c
 *   handlers      conn_login.c, scsi_cmd.c, nop.c, tmf.c, text_req.c, logout.c
 *                 → reject.c, conn_ctl.c, conn_sink.c, conn_tx.c, conn.c
 *   reject.c      Reject PDUs → conn_ctl.c, conn_sink.c
 *   conn_ctl.c    control PDU slots → conn_tx.c, conn_sink.c, conn.c
 *   conn_sink.c   the receive side as handlers drive it → conn_tx.c
 *   conn_timer.c  the 100 ms tick → nop.c, async.c, conn_sink.c, conn.c
 *   conn_tx.c     the send queue and epoll interest → none of these
 *   conn.c        lifetime → conn_tx.c; and the teardown of what the
 *                 connection owns: its tasks (scsi_cmd.c) and its session
 *                 (session.c), both of which close or free connections.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "vstor/miniport.h"
#include "conn.h"
#include "iscsi_target.h"
#include "log.h"

struct iscsi_conn *vs_iscsi_conn_create(struct vs_iscsi *is, int fd, const char *peer,
                                     const char *local)
{
	struct iscsi_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->is = is;
	c->fd = fd;
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
	vs_iscsi_target_env_init(is, c);
	c->login = c->rx_buf && c->big_buf && c->rbuf ? vs_iscsi_login_new(&c->env) : NULL;
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

static void conn_free(struct iscsi_conn *c)
{
	struct iscsi_loop *loop = c->loop;
	struct vs_iscsi *is = c->is;

	vs_iscsi_session_detach(c);
	vs_iscsi_tasks_fini(c);
	if (c->text)
		vs_iscsi_text_free(c->text);
	if (c->login)
		vs_iscsi_login_free(c->login);
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
void vs_iscsi_conn_try_free(struct iscsi_conn *c)
{
	if (c->reap_posted || !may_free(c))
		return;
	c->reap_posted = true;
	c->reap_msg.fn = reap_msg;
	vs_loop_post_late(c->loop->base, &c->reap_msg);
}

void vs_iscsi_conn_login_over(struct iscsi_conn *c)
{
	if (!c->login_budget)
		return;
	c->login_budget = false;
	pthread_mutex_lock(&c->is->lock);
	vs_iscsi_adm_login_release(&c->is->adm, c);
	pthread_mutex_unlock(&c->is->lock);
}

void vs_iscsi_conn_close(struct iscsi_conn *c, const char *reason)
{
	if (c->state == CONN_CLOSING)
		return;
	c->close_reason = reason;
	if (c->sess && !c->sess->discovery)
		vs_iscsi_log(ISCSI_LOG_INFO, "conn %llu %s (%s, tsih %u) closed: %s", (unsigned long long)c->id,
		          c->peer, c->sess->initiator, c->sess->tsih, reason);
	else    /* anyone can open and drop these at will: rate limited */
		vs_iscsi_log_rated(&c->is->close_log_rate, ISCSI_LOG_INFO, "conn %llu %s closed: %s",
		                (unsigned long long)c->id, c->peer, reason);
	c->state = CONN_CLOSING;
	vs_iscsi_conn_login_over(c);
	if (c->fd >= 0) {
		vs_loop_fd_del(c->loop->base, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	/* Drop whatever was not sent; items release their owners. */
	vs_iscsi_tx_drop_all(c);
	vs_iscsi_tasks_release_all_local(c);
	/* Connection loss (ERL 0): every task of the nexus is aborted; each
	 * SRB's done() still runs exactly once and we wait for all of them. */
	if (c->outstanding_srbs && c->sess && c->sess->nexus && c->sess->target)
		vs_port_nexus_abort_all(c->sess->target->port, c->sess->nexus);
	vs_iscsi_conn_try_free(c);
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
		vs_iscsi_conn_close(c, reason);
	else
		vs_iscsi_conn_try_free(c);
}

/* Called with is->lock held, from any thread. */
void vs_iscsi_conn_kill_async(struct iscsi_conn *c)
{
	if (c->kill_pending)
		return;
	c->kill_pending = true;
	c->kill_msg.fn = kill_msg;
	vs_loop_post(c->loop->base, &c->kill_msg);
}
