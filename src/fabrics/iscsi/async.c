/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous Message (RFC 7143 §11.9).  AsyncEvent 0 "SCSI asynchronous
 * event" (§11.9.1): when the port reports that the LUN inventory or a LUN's
 * capacity changed, every logged-in session on that port is told at once
 * with the unit attention's sense data (SPC-4 4.5.3 fixed format, UNIT
 * ATTENTION / 3F 0E REPORTED LUNS DATA HAS CHANGED or 2A 09 CAPACITY DATA
 * HAS CHANGED), instead of learning it on its next command.
 *
 * The port calls us on its caller's thread; the event is queued on each
 * connection (no allocation, is->lock) and the PDU is built and sent on
 * the connection's own loop.  The unit attention stays pending in the port,
 * so an initiator that ignores AsyncEvent 0 (libiscsi only logs it) still
 * gets it as CHECK CONDITION on its next command.  AsyncEvent 1 asks the
 * initiator to log out when the target stops (vs_iscsi_async_request_logout).
 */
#include <string.h>

#include "vstor/scsi.h"
#include "conn.h"
#include "iscsi_target.h"
#include "log.h"

#define ASYNC_EVENT_SCSI   0    /* §11.9.1 AsyncEvent */
#define ASYNC_EVENT_LOGOUT 1

static void async_msg(struct vs_loop_msg *m)
{
	struct iscsi_conn *c = ISCSI_CONTAINER_OF(m, struct iscsi_conn, async_msg);

	pthread_mutex_lock(&c->is->lock);
	c->async_posted = false;
	pthread_mutex_unlock(&c->is->lock);
	if (c->state == CONN_CLOSING) {
		vs_iscsi_conn_try_free(c);
		return;
	}
	vs_iscsi_async_flush(c);
}

/* is->lock held; any thread. */
static void queue_locked(struct iscsi_conn *c, uint64_t lun, uint16_t asc_ascq)
{
	for (uint32_t i = 0; i < c->async_n; i++)
		if (c->async_ev[i].lun == lun && c->async_ev[i].asc_ascq == asc_ascq)
			return;     /* already on its way */
	if (c->async_n == ISCSI_ASYNC_QUEUE)
		return;         /* the unit attention still reaches it */
	c->async_ev[c->async_n].lun = lun;
	c->async_ev[c->async_n].asc_ascq = asc_ascq;
	c->async_n++;
	if (!c->async_posted) {
		c->async_posted = true;
		c->async_msg.fn = async_msg;
		vs_loop_post(c->loop->base, &c->async_msg);
	}
}

/* vs_port_event_fn registered by vs_iscsi_add_target; ctx = the target. */
void vs_iscsi_async_port_event(void *ctx, uint64_t lun, uint16_t asc_ascq)
{
	struct iscsi_target *t = ctx;
	struct vs_iscsi *is = t->is;

	pthread_mutex_lock(&is->lock);
	for (struct iscsi_session *s = is->sessions; s; s = s->next)
		if (!s->discovery && s->target && s->target->port == t->port && s->conn && !s->dying)
			queue_locked(s->conn, lun, asc_ascq);
	pthread_mutex_unlock(&is->lock);
}

/* The unit attention's sense in the format the LUN's D_SENSE selects
 * (SPC-4 4.5.1), the same the port gives the command that reports it. */
static void fill_pdu(struct iscsi_conn *c, struct iscsi_ctl_pdu *p, uint64_t lun,
                     uint16_t asc_ascq)
{
	struct vs_sense s = { .key = SENSE_UNIT_ATTENTION, .asc_ascq = asc_ascq };
	bool desc = vs_port_lun_sense_descriptor(c->sess->target->port, lun);
	size_t n;

	p->bhs.b[0] = ISCSI_OP_ASYNC_MSG;
	p->bhs.b[1] = ISCSI_FLAG_FINAL;
	iscsi_put_be64(p->bhs.b + 8, vs_iscsi_scsi_to_lun(lun));
	iscsi_put_be32(p->bhs.b + 16, ISCSI_RESERVED_TAG);     /* §11.9: ITT reserved */
	p->bhs.b[36] = ASYNC_EVENT_SCSI;
	/* §11.9.4: SenseLength, then the sense data. */
	n = vs_sense_build(p->inline_data + 2, sizeof(p->inline_data) - 2, desc, &s);
	iscsi_put_be16(p->inline_data, (uint16_t)n);
	p->data = p->inline_data;
	p->dlen = (uint32_t)(2 + n);
	/* A status-bearing PDU: it takes a StatSN (§11.9, §4.2.2.2). */
	p->statsn_mode = ISCSI_STATSN_ADVANCE;
}

/* On the connection's loop: send what is queued, leaving the receive path
 * the two control slots it needs (conn_rx.c dispatch); the rest goes on a
 * later tick. */
void vs_iscsi_async_flush(struct iscsi_conn *c)
{
	for (;;) {
		struct iscsi_ctl_pdu *p;
		uint64_t lun;
		uint16_t asc;
		bool any;

		pthread_mutex_lock(&c->is->lock);
		any = c->async_n > 0;
		if (any && (c->state == CONN_CLOSING || c->state == CONN_LOGOUT)) {
			c->async_n = 0;     /* nobody to tell any more */
			any = false;
		}
		lun = c->async_ev[0].lun;
		asc = c->async_ev[0].asc_ascq;
		pthread_mutex_unlock(&c->is->lock);
		if (!any || c->state != CONN_FULL || !vs_iscsi_ctl_available(c, 3))
			return;
		p = vs_iscsi_ctl_get(c);
		fill_pdu(c, p, lun, asc);
		pthread_mutex_lock(&c->is->lock);
		c->async_n--;
		memmove(&c->async_ev[0], &c->async_ev[1], c->async_n * sizeof(c->async_ev[0]));
		pthread_mutex_unlock(&c->is->lock);
		vs_iscsi_log(ISCSI_LOG_DEBUG, "conn %llu: async event lun %llu sense 6/%02x/%02x",
		          (unsigned long long)c->id, (unsigned long long)lun, VS_ASC(asc), VS_ASCQ(asc));
		vs_iscsi_ctl_send(c, p);
	}
}

/*
 * §11.9.1 AsyncEvent 1: the target asks the initiator to log out within
 * Parameter3 seconds; the initiator should issue no new commands on the
 * connection, and the target may reject those it still gets with "Waiting
 * for Logout" (scsi_cmd.c does, once this went out).  Sent when the target
 * stops (iscsi_target.c).
 */
bool vs_iscsi_async_request_logout(struct iscsi_conn *c, uint16_t seconds)
{
	struct iscsi_ctl_pdu *p;

	if (c->state != CONN_FULL || !vs_iscsi_ctl_available(c, 3))
		return false;   /* keep the receive path's two slots */
	p = vs_iscsi_ctl_get(c);
	p->bhs.b[0] = ISCSI_OP_ASYNC_MSG;
	p->bhs.b[1] = ISCSI_FLAG_FINAL;
	iscsi_put_be32(p->bhs.b + 16, ISCSI_RESERVED_TAG);
	p->bhs.b[36] = ASYNC_EVENT_LOGOUT;
	iscsi_put_be16(p->bhs.b + 42, seconds);            /* Parameter3 */
	p->statsn_mode = ISCSI_STATSN_ADVANCE;
	c->logout_requested = true;
	vs_iscsi_log(ISCSI_LOG_DEBUG, "conn %llu: asking the initiator to log out within %u s",
	          (unsigned long long)c->id, seconds);
	vs_iscsi_ctl_send(c, p);
	return true;
}
