/* SPDX-License-Identifier: MIT */
/*
 * The login phase on a connection: feed Login Requests to the login state
 * machine (login.c), send its responses, bind the connection to a session
 * when login completes (holding the final response while an old session is
 * being reinstated, RFC 7143 §6.3.5), and enter full feature phase.
 */
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "iscsi_target.h"
#include "log.h"

/* Initiators accept 8192 bytes per login response until they say more
 * (§13.12: MaxRecvDataSegmentLength default, valid during login). */
#define LOGIN_RSP_MAX 8192u

/* A target's refused logins, for its metrics: authentication (CHAP) and
 * authorization (ACL) failures, RFC 7143 §11.13.5.  A login that named no
 * target, or one that does not exist, belongs to none. */
static void count_refusal(void *target, uint16_t status)
{
	struct iscsi_target *t = target;

	if (!t)
		return;
	if (status == ISCSI_LOGIN_STATUS_AUTH_FAILED)
		atomic_fetch_add(&t->refused_auth, 1);
	else if (status == ISCSI_LOGIN_STATUS_TGT_FORBIDDEN)
		atomic_fetch_add(&t->refused_acl, 1);
}

static void login_complete(struct iscsi_conn *c);

void vs_iscsi_conn_login_header(struct iscsi_conn *c)
{
	if (c->rx_dlen > c->rx_buf_len) {
		vs_iscsi_conn_close(c, "login request too long");
		return;
	}
	vs_iscsi_rx_sink_buf(c);
	c->rx_complete = login_complete;
}

static void fail_response(struct iscsi_ctl_pdu *p, int status)
{
	/* §11.13: a failed response has T=0, no data, Status-Class/Detail. */
	p->bhs.b[1] &= (uint8_t)~(ISCSI_LOGIN_TRANSIT | 0x03);
	p->bhs.b[36] = (uint8_t)(status >> 8);
	p->bhs.b[37] = (uint8_t)status;
	bhs_set_dsl(&p->bhs, 0);
	p->dlen = 0;
	p->close_after = true;
}

static void sanitize_params(struct iscsi_params *p)
{
	if (p->max_xmit_dsl < 512)
		p->max_xmit_dsl = 8192;
	if (p->max_xmit_dsl > 16777215)
		p->max_xmit_dsl = 16777215;
	if (p->max_burst_length < 512 || p->max_burst_length > ISCSI_MAX_XFER)
		p->max_burst_length = p->max_burst_length < 512 ? 262144 : ISCSI_MAX_XFER;
	if (p->first_burst_length < 512)
		p->first_burst_length = 65536;
	if (p->first_burst_length > p->max_burst_length)
		p->first_burst_length = p->max_burst_length;
	if (p->max_outstanding_r2t < 1)
		p->max_outstanding_r2t = 1;
	if (p->max_outstanding_r2t > ISCSI_MAX_R2T)
		p->max_outstanding_r2t = ISCSI_MAX_R2T;
}

int vs_iscsi_conn_enter_full_feature(struct iscsi_conn *c)
{
	struct iscsi_session *s = c->sess;

	c->p = *vs_iscsi_login_params(c->login);
	sanitize_params(&c->p);
	if (!c->p.max_recv_dsl || c->p.max_recv_dsl > c->rx_buf_len)
		c->p.max_recv_dsl = c->is->cfg.max_recv_dsl;
	if (!s->discovery) {
		vs_iscsi_tasks_init(c, c->is->cfg.queue_depth);
		if (!c->tasks || !c->pool)
			return -ISCSI_LOGIN_STATUS_NO_RESOURCES;
	}
	c->text = vs_iscsi_text_new(&c->env, &c->p, s->target);
	if (!c->text)
		return -ISCSI_LOGIN_STATUS_NO_RESOURCES;
	c->hdigest = c->p.header_digest;
	c->ddigest = c->p.data_digest;
	c->state = CONN_FULL;
	c->last_rx_ns = c->disc_active_ns = vs_loop_clock_ns();
	vs_iscsi_conn_login_over(c);
	if (s->discovery)
		vs_iscsi_log_rated(&c->is->discovery_log_rate, ISCSI_LOG_INFO,
		                "conn %llu %s: discovery session for %s", (unsigned long long)c->id,
		                c->peer, s->initiator);
	else
		vs_iscsi_log(ISCSI_LOG_INFO,
		          "login: %s isid %02x%02x%02x%02x%02x%02x -> %s (tsih %u, conn %llu %s, "
		          "hd=%s dd=%s mrdsl=%u mxdsl=%u burst=%u/%u imm=%d r2t=%d)",
		          s->initiator, s->isid[0], s->isid[1], s->isid[2], s->isid[3], s->isid[4],
		          s->isid[5], s->target->iqn, s->tsih, (unsigned long long)c->id, c->peer,
		          c->hdigest ? "crc32c" : "none", c->ddigest ? "crc32c" : "none",
		          c->p.max_recv_dsl, c->p.max_xmit_dsl, c->p.first_burst_length,
		          c->p.max_burst_length, c->p.immediate_data, c->p.initial_r2t);
	return 0;
}

/* Bound (or failed): finish and send the held final response. */
static void send_final(struct iscsi_conn *c, struct iscsi_ctl_pdu *p, int rc)
{
	if (rc == 0)
		rc = vs_iscsi_conn_enter_full_feature(c);
	if (rc < 0) {
		vs_iscsi_log_rated(&c->is->login_log_rate, ISCSI_LOG_WARN,
		                "login from %s (%s) failed: status 0x%04x", c->peer,
		                vs_iscsi_login_params(c->login)->initiator_name, -rc);
		fail_response(p, -rc);
		c->close_reason = "login failed";
		c->state = CONN_LOGIN;
	} else {
		vs_iscsi_login_set_tsih(c->login, &p->bhs, c->sess->tsih);
	}
	vs_iscsi_ctl_send(c, p);
	vs_iscsi_conn_resume_rx(c);
}

static void login_complete(struct iscsi_conn *c)
{
	struct iscsi_ctl_pdu *p;
	enum iscsi_login_result res;
	size_t rlen = 0;
	bool first = c->login_rsp_count++ == 0;
	int rc;

	if (c->big_busy || !(p = vs_iscsi_ctl_get(c))) {
		vs_iscsi_conn_close(c, "login request before the previous response (RFC 7143 §6)");
		return;
	}
	p->data = c->big_buf;
	p->uses_big = true;
	c->big_busy = true;
	res = vs_iscsi_login_handle(c->login, &c->rx_bhs, c->rx_buf, c->rx_dlen, &p->bhs, c->big_buf,
	                         c->big_buf_len < LOGIN_RSP_MAX ? c->big_buf_len : LOGIN_RSP_MAX, &rlen);
	p->dlen = (uint32_t)rlen;
	if (first) {
		/* §11.13.4: the first response sets the connection's StatSN. */
		c->stat_sn = vs_iscsi_login_exp_statsn(c->login);
	}
	c->login_exp_cmdsn = vs_iscsi_login_cmdsn(c->login);
	c->cid = vs_iscsi_login_cid(c->login);
	switch (res) {
	case ISCSI_LOGIN_CONTINUE_PHASE:
		vs_iscsi_ctl_send(c, p);
		return;
	case ISCSI_LOGIN_FAILED:
		vs_iscsi_log_rated(&c->is->login_log_rate, ISCSI_LOG_WARN,
		                "login from %s (%s) rejected: status 0x%02x%02x", c->peer,
		                vs_iscsi_login_params(c->login)->initiator_name, p->bhs.b[36], p->bhs.b[37]);
		count_refusal(vs_iscsi_login_target(c->login), (uint16_t)(p->bhs.b[36] << 8 | p->bhs.b[37]));
		p->close_after = true;
		c->close_reason = "login failed";
		vs_iscsi_ctl_send(c, p);
		return;
	case ISCSI_LOGIN_PROTOCOL_ERROR:
		p->in_use = false;
		p->uses_big = false;
		c->big_busy = false;
		vs_iscsi_conn_close(c, "login protocol error");
		return;
	case ISCSI_LOGIN_DONE:
		break;
	}
	rc = vs_iscsi_session_bind(c);
	if (rc == 1) {
		/* Hold the response until the old session is gone. */
		c->held_login_rsp = p;
		vs_iscsi_conn_pause_rx(c);
		c->state = CONN_LOGIN_WAIT;
		return;
	}
	send_final(c, p, rc);
}

static void reinstated_msg(struct vs_loop_msg *m)
{
	struct iscsi_conn *c = ISCSI_CONTAINER_OF(m, struct iscsi_conn, reinstated_msg);
	struct iscsi_ctl_pdu *p = c->held_login_rsp;
	int rc;

	c->held_login_rsp = NULL;
	rc = vs_iscsi_session_finish_bind(c);
	c->waiting_reinstate = false;
	if (c->state == CONN_CLOSING) {
		vs_iscsi_conn_try_free(c);
		return;
	}
	c->state = CONN_LOGIN;
	send_final(c, p, rc);
}

void vs_iscsi_conn_post_reinstated(struct iscsi_conn *w)
{
	w->reinstated_msg.fn = reinstated_msg;
	vs_loop_post(w->loop->base, &w->reinstated_msg);
}
