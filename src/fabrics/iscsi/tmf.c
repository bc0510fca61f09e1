/* SPDX-License-Identifier: MIT */
/*
 * Task Management Function requests (RFC 7143 §11.5, §11.6) → the port's
 * vs_port_task_mgmt.  The response goes out only after every affected task
 * has been settled (the port calls back after their done()); tasks still
 * collecting Data-Out are ours alone and are ended here.
 */
#include <string.h>

#include "conn.h"
#include "iscsi_target.h"
#include "log.h"

/* §11.6.1 response codes */
#define TMF_RSP_COMPLETE            0
#define TMF_RSP_NO_TASK             1
#define TMF_RSP_NO_LUN              2
#define TMF_RSP_REASSIGN_UNSUPP     4
#define TMF_RSP_NOT_SUPPORTED       5
#define TMF_RSP_REJECTED            255

/*
 * TARGET COLD RESET is a hard reset of the SCSI target device (SAM-5
 * 6.3.2): every I_T nexus to it is lost, not just the requester's.  RFC
 * 7143 §11.5.1: the target then closes all of its TCP connections to all
 * initiators.  The port already reset the LUNs for everyone; here every
 * other session on the same port is dropped (the requester's connection
 * closes once its TMF response is out).  Called on the requester's loop.
 */
static void cold_reset_drop_sessions(struct iscsi_conn *c)
{
	struct vs_iscsi *is = c->is;
	struct vs_port *port = c->sess->target->port;
	unsigned n = 0;

	pthread_mutex_lock(&is->lock);
	for (struct iscsi_session *s = is->sessions; s; s = s->next) {
		if (!s->target || s->target->port != port || !s->conn || s->conn == c)
			continue;
		s->conn->kill_reason = "target cold reset by another session";
		vs_iscsi_conn_kill_async(s->conn);
		n++;
	}
	pthread_mutex_unlock(&is->lock);
	vs_iscsi_log(ISCSI_LOG_INFO, "conn %llu %s: TARGET COLD RESET on %s: dropping %u other session(s)",
	          (unsigned long long)c->id, c->peer, c->sess->target->iqn, n);
}

static void tmf_respond(struct iscsi_conn *c, struct iscsi_tmf *m, uint8_t response)
{
	struct iscsi_ctl_pdu *p = &m->rsp;

	vs_iscsi_ctl_init_embedded(p);
	p->bhs.b[0] = ISCSI_OP_TASK_MGMT_RESP;
	p->bhs.b[1] = ISCSI_FLAG_FINAL;
	p->bhs.b[2] = response;
	iscsi_put_be32(p->bhs.b + 16, m->itt);
	p->statsn_mode = ISCSI_STATSN_ADVANCE;
	/* §11.5.1: after TARGET COLD RESET the target drops its connections. */
	if (m->function == ISCSI_TMF_TARGET_COLD_RESET && response == TMF_RSP_COMPLETE) {
		p->close_after = true;
		c->close_reason = "target cold reset";
		cold_reset_drop_sessions(c);
	}
	m->in_use = false;      /* the embedded PDU stays valid until sent */
	vs_iscsi_ctl_send(c, p);
}

static void tmf_done_msg(struct vs_loop_msg *msg)
{
	struct iscsi_tmf *m = ISCSI_CONTAINER_OF(msg, struct iscsi_tmf, done_msg);
	struct iscsi_conn *c = m->conn;
	uint8_t rsp = m->response;

	c->tmf_pending--;
	if (m->ref_task && m->ref_task->abort_tmf == m)
		m->ref_task->abort_tmf = NULL;
	if (c->state == CONN_CLOSING) {
		m->in_use = false;
		vs_iscsi_conn_try_free(c);
		return;
	}
	/* The port may report the abort done although the command finished
	 * normally first and its status went out (or is on its way): then,
	 * to the initiator, the task did not exist (one outcome per task). */
	if (m->function == ISCSI_TMF_ABORT_TASK && rsp == TMF_RSP_COMPLETE && m->ref_answered)
		rsp = TMF_RSP_NO_TASK;
	tmf_respond(c, m, rsp);
	vs_iscsi_logout_progress(c);
}

static void tmf_port_done(void *ctx, enum vs_tmf_response response)
{
	struct iscsi_tmf *m = ctx;

	m->response = (uint8_t)response;
	vs_loop_post(m->conn->loop->base, &m->done_msg);
}

/* End our own tasks still waiting for Data-Out in the scope of a TMF. */
static void abort_local_scope(struct iscsi_conn *c, bool all_luns, uint64_t lun)
{
	for (uint32_t i = 0; i < c->ntasks; i++) {
		struct iscsi_task *t = &c->tasks[i];

		if (t->state == TASK_DATA_OUT && (all_luns || t->lun == lun))
			vs_iscsi_task_abort_local(c, t);
	}
}

static struct iscsi_tmf *tmf_slot(struct iscsi_conn *c)
{
	for (unsigned i = 0; i < ISCSI_TMF_SLOTS; i++)
		if (!c->tmf[i].in_use && !c->tmf[i].rsp.in_use && !c->tmf[i].rsp.tx.queued)
			return &c->tmf[i];
	return NULL;
}

int vs_iscsi_tmf_header(struct iscsi_conn *c)
{
	const struct iscsi_bhs *h = &c->rx_bhs;
	uint8_t function = bhs_flags(h) & 0x7f;
	uint64_t lun = vs_iscsi_lun_to_scsi(bhs_lun(h));
	uint32_t ref_itt = bhs_be32(h, 20);
	uint32_t ref_cmdsn = bhs_be32(h, 32);
	struct iscsi_tmf *m;
	struct iscsi_task *t;
	enum vs_tmf fn;
	bool all_luns = false;

	vs_iscsi_rx_sink_discard(c);       /* a TMF request has no data */
	if (!vs_iscsi_session_check_cmdsn(c, h))
		return 0;
	m = tmf_slot(c);
	if (!m)
		return 1;
	vs_iscsi_session_commit_cmdsn(c, h);
	memset(&m->rsp, 0, sizeof(m->rsp));
	m->conn = c;
	m->in_use = true;
	m->function = function;
	m->itt = bhs_itt(h);
	m->ref_itt = ref_itt;
	m->ref_task = NULL;
	m->ref_answered = false;
	m->done_msg.fn = tmf_done_msg;
	vs_iscsi_log(ISCSI_LOG_DEBUG, "conn %llu: TMF function %u lun %llu ref itt 0x%x",
	          (unsigned long long)c->id, function, (unsigned long long)lun, ref_itt);

	switch (function) {
	case ISCSI_TMF_ABORT_TASK:
		t = vs_iscsi_task_find(c, ref_itt);
		if (!t) {
			/* §11.5.1: never received (RefCmdSN not below ExpCmdSN)
			 * → Function complete; otherwise it already finished. */
			bool never_seen = (int32_t)(ref_cmdsn - c->sess->exp_cmdsn) >= 0;

			tmf_respond(c, m, never_seen ? TMF_RSP_COMPLETE : TMF_RSP_NO_TASK);
			return 0;
		}
		if (t->state == TASK_DATA_OUT) {
			vs_iscsi_task_abort_local(c, t);
			tmf_respond(c, m, TMF_RSP_COMPLETE);
			return 0;
		}
		if (t->state != TASK_SUBMITTED) {
			tmf_respond(c, m, TMF_RSP_NO_TASK);
			return 0;
		}
		m->ref_task = t;
		t->abort_tmf = m;
		fn = VS_TMF_ABORT_TASK;
		lun = t->lun;
		break;
	case ISCSI_TMF_ABORT_TASK_SET:
		fn = VS_TMF_ABORT_TASK_SET;
		break;
	case ISCSI_TMF_CLEAR_TASK_SET:
		fn = VS_TMF_CLEAR_TASK_SET;
		break;
	case ISCSI_TMF_CLEAR_ACA:
		fn = VS_TMF_CLEAR_ACA;
		break;
	case ISCSI_TMF_LOGICAL_UNIT_RESET:
		fn = VS_TMF_LOGICAL_UNIT_RESET;
		break;
	case ISCSI_TMF_TARGET_WARM_RESET:
		fn = VS_TMF_TARGET_WARM_RESET;
		all_luns = true;
		break;
	case ISCSI_TMF_TARGET_COLD_RESET:
		fn = VS_TMF_TARGET_COLD_RESET;
		all_luns = true;
		break;
	case ISCSI_TMF_TASK_REASSIGN:
		/* ERL 0: no connection recovery, so no reassignment (§11.6.1). */
		tmf_respond(c, m, TMF_RSP_REASSIGN_UNSUPP);
		return 0;
	default:
		tmf_respond(c, m, TMF_RSP_NOT_SUPPORTED);
		return 0;
	}
	if (fn != VS_TMF_ABORT_TASK && fn != VS_TMF_CLEAR_ACA)
		abort_local_scope(c, all_luns, lun);
	c->tmf_pending++;
	vs_port_task_mgmt(c->sess->target->port, c->sess->nexus, fn, lun,
	                  fn == VS_TMF_ABORT_TASK ? ref_itt : 0, tmf_port_done, m);
	return 0;
}
