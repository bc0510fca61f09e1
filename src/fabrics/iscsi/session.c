/* SPDX-License-Identifier: MIT */
/*
 * Sessions (RFC 7143 §4.4, §6.3): the global session table keyed by
 * (InitiatorName, ISID, target), TSIH allocation, session and connection
 * reinstatement, the I_T nexus each session opens on its target's port,
 * and the CmdSN window checks (§4.2.2.1).
 *
 * The table is guarded by is->lock (taken at login and logout only); the
 * CmdSN fields are touched only on the session's connection's loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "iscsi_target.h"
#include "log.h"

static int32_t sn_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);      /* RFC 1982 serial arithmetic, 32 bits */
}

/* "iqn...,i,0x<ISID>" — the SCSI initiator port name (§13.1 / SPC-4). */
static void port_name(char *buf, size_t cap, const char *initiator, const uint8_t *isid)
{
	snprintf(buf, cap, "%s,i,0x%02x%02x%02x%02x%02x%02x", initiator, isid[0], isid[1], isid[2],
	         isid[3], isid[4], isid[5]);
}

/*
 * SPC-4 7.6.4.6 iSCSI TransportID, FORMAT CODE 01b (initiator port):
 * byte 0 = 01b << 6 | protocol identifier 5h, bytes 2-3 = additional
 * length, then the NUL-terminated "name,i,0xISID" padded to a multiple of 4.
 */
static uint16_t transport_id(uint8_t *tid, size_t cap, const char *pname)
{
	size_t n = strlen(pname) + 1;
	size_t padded = (n + 3) & ~(size_t)3;

	if (padded < 20)
		padded = 20;    /* the minimum TransportID is 24 bytes */
	if (4 + padded > cap)
		padded = (cap - 4) & ~(size_t)3;
	memset(tid, 0, 4 + padded);
	tid[0] = 0x40 | 0x05;
	tid[2] = (uint8_t)(padded >> 8);
	tid[3] = (uint8_t)padded;
	memcpy(tid + 4, pname, n < padded ? n : padded - 1);
	return (uint16_t)(4 + padded);
}

static uint16_t alloc_tsih_locked(struct vs_iscsi *is)
{
	for (unsigned tries = 0; tries < 65536; tries++) {
		uint16_t t = is->next_tsih++;
		bool used = false;

		if (t == 0)
			continue;
		for (struct iscsi_session *s = is->sessions; s; s = s->next)
			if (s->tsih == t)
				used = true;
		if (!used)
			return t;
	}
	return 0;
}

static struct iscsi_session *find_locked(struct vs_iscsi *is, const char *initiator,
                                         const uint8_t *isid, struct iscsi_target *target)
{
	for (struct iscsi_session *s = is->sessions; s; s = s->next)
		if (s->target == target && memcmp(s->isid, isid, 6) == 0 &&
		    strcasecmp(s->initiator, initiator) == 0)
			return s;
	return NULL;
}

/* Does any target keep out initiators it does not know (ACL or CHAP)?
 * Only then can anyone be vetted, and only then are slots reserved. */
static bool some_target_vets_locked(const struct vs_iscsi *is)
{
	for (const struct iscsi_target *t = is->targets; t; t = t->next)
		if (!t->removed && (t->nacl || t->chap_on))
			return true;
	return false;
}

/*
 * A place for the new session s in its budget (admission.h), or false
 * (counted and logged; the login fails with 0x0302, out of resources).
 * A normal session is vetted when its initiator authenticated with the
 * target's CHAP or is named in the target's ACL.  An ACL names initiators
 * by what they claim to be, so it keeps out a flood that does not know an
 * allowed name; CHAP also keeps out one that does.  A discovery session
 * may take the place of one idle for a while, which is then closed.
 * is->lock held.
 */
static bool admit_locked(struct iscsi_conn *c, struct iscsi_session *s)
{
	struct vs_iscsi *is = c->is;
	struct iscsi_adm_verdict v;

	if (s->discovery) {
		if (!vs_iscsi_adm_discovery_admit(&is->adm, s, vs_loop_clock_ns(), &v)) {
			vs_iscsi_adm_note(&is->adm, v.refused,
			               "discovery login from %s (%s) refused: max_discovery_sessions (%u) "
			               "in use, none idle for %u ms", c->peer, s->initiator,
			               is->adm.lim.max_discovery, ISCSI_DISCOVERY_REPLACE_MS);
			return false;
		}
		if (v.victim) {
			struct iscsi_session *old = v.victim;

			if (old->conn) {
				old->conn->kill_reason = "discovery session replaced (idle, budget full)";
				vs_iscsi_conn_kill_async(old->conn);
			}
			vs_iscsi_adm_note(&is->adm, VS_ISCSI_DROPPED_DISCOVERY_REPLACED,
			               "discovery session of %s (%s) closed: max_discovery_sessions (%u) "
			               "in use, it was the most idle, %s needs one", old->peer,
			               old->initiator, is->adm.lim.max_discovery, c->peer);
		}
		return true;
	}
	bool vetted = vs_iscsi_login_authenticated(c->login) ||
	              vs_iscsi_target_acl_lists_locked(s->target, s->initiator);

	if (vs_iscsi_adm_session_admit(&is->adm, vetted, some_target_vets_locked(is), &v))
		return true;
	if (v.refused == VS_ISCSI_REFUSED_RESERVED)
		vs_iscsi_adm_note(&is->adm, v.refused,
		               "login from %s (%s) refused: the last reserved_sessions (%u) of "
		               "max_sessions (%u) are for initiators that pass an ACL or CHAP",
		               c->peer, s->initiator, is->adm.lim.reserved_sessions,
		               is->adm.lim.max_sessions);
	else
		vs_iscsi_adm_note(&is->adm, v.refused, "login from %s (%s) refused: max_sessions (%u) reached",
		               c->peer, s->initiator, is->adm.lim.max_sessions);
	return false;
}

/* Create and insert a new session; opens its nexus.  Returns -login status. */
static int create_session(struct iscsi_conn *c, uint16_t want_tsih, uint32_t exp_cmdsn)
{
	struct vs_iscsi *is = c->is;
	const struct iscsi_params *p = vs_iscsi_login_params(c->login);
	struct iscsi_target *t = vs_iscsi_login_target(c->login);
	struct iscsi_session *s = calloc(1, sizeof(*s));
	char pname[sizeof(((struct vs_nexus *)0)->name)];
	uint8_t tid[256];
	uint16_t tidlen;

	if (!s)
		return -ISCSI_LOGIN_STATUS_NO_RESOURCES;
	s->is = is;
	s->discovery = p->session_type == ISCSI_SESSION_DISCOVERY;
	s->target = s->discovery ? NULL : t;
	s->conn = c;
	s->params = *p;
	snprintf(s->initiator, sizeof(s->initiator), "%s", p->initiator_name);
	snprintf(s->peer, sizeof(s->peer), "%s", c->peer);
	memcpy(s->isid, vs_iscsi_login_isid(c->login), 6);
	s->exp_cmdsn = exp_cmdsn;
	s->max_cmdsn_sent = exp_cmdsn + is->cfg.queue_depth - 1;

	pthread_mutex_lock(&is->lock);
	if (s->target && s->target->removed) {
		pthread_mutex_unlock(&is->lock);
		free(s);
		return -ISCSI_LOGIN_STATUS_TGT_REMOVED;
	}
	s->tsih = want_tsih ? want_tsih : alloc_tsih_locked(is);
	if (!s->tsih || !admit_locked(c, s)) {
		pthread_mutex_unlock(&is->lock);
		free(s);
		return -ISCSI_LOGIN_STATUS_NO_RESOURCES;
	}
	s->next = is->sessions;
	is->sessions = s;
	is->nsessions++;
	if (s->target)
		s->target->nsessions++;
	pthread_mutex_unlock(&is->lock);

	if (s->target) {
		port_name(pname, sizeof(pname), s->initiator, s->isid);
		tidlen = transport_id(tid, sizeof(tid), pname);
		s->nexus = vs_port_nexus_open(s->target->port, pname, s->initiator, tid, tidlen);
		if (!s->nexus) {
			vs_iscsi_log(ISCSI_LOG_ERROR, "login %s: nexus open failed: %s", pname, vs_last_error());
			c->sess = s;
			vs_iscsi_session_detach(c);
			return -ISCSI_LOGIN_STATUS_TARGET_ERROR;
		}
	}
	c->sess = s;
	return 0;
}

int vs_iscsi_session_bind(struct iscsi_conn *c)
{
	struct vs_iscsi *is = c->is;
	const struct iscsi_params *p = vs_iscsi_login_params(c->login);
	struct iscsi_target *t = vs_iscsi_login_target(c->login);
	const uint8_t *isid = vs_iscsi_login_isid(c->login);
	uint16_t tsih = vs_iscsi_login_tsih(c->login);
	struct iscsi_session *old;

	if (p->session_type == ISCSI_SESSION_DISCOVERY) {
		if (tsih)
			return -ISCSI_LOGIN_STATUS_NO_SESSION;
		return create_session(c, 0, vs_iscsi_login_cmdsn(c->login));
	}
	if (!t)
		return -ISCSI_LOGIN_STATUS_TGT_NOT_FOUND;

	pthread_mutex_lock(&is->lock);
	old = find_locked(is, p->initiator_name, isid, t);
	if (tsih == 0) {
		if (!old) {
			pthread_mutex_unlock(&is->lock);
			return create_session(c, 0, vs_iscsi_login_cmdsn(c->login));
		}
		if (old->dying || old->waiter) {
			pthread_mutex_unlock(&is->lock);
			return -ISCSI_LOGIN_STATUS_SVC_UNAVAILABLE;
		}
		/* §6.3.5 session reinstatement: same ISID + InitiatorName with
		 * TSIH 0 closes the old session (its tasks are aborted) before the
		 * new one is confirmed. */
		vs_iscsi_log(ISCSI_LOG_INFO, "login %s isid %02x%02x%02x%02x%02x%02x: reinstating session tsih %u",
		          p->initiator_name, isid[0], isid[1], isid[2], isid[3], isid[4], isid[5], old->tsih);
		old->dying = true;
		old->waiter = c;
		old->keep_for_waiter = false;
	} else {
		if (!old || old->tsih != tsih || old->dying || old->waiter) {
			pthread_mutex_unlock(&is->lock);
			return -ISCSI_LOGIN_STATUS_NO_SESSION;
		}
		if (!old->conn || old->conn->cid != vs_iscsi_login_cid(c->login)) {
			/* A second connection: MaxConnections is 1 (§13.2). */
			pthread_mutex_unlock(&is->lock);
			return -ISCSI_LOGIN_STATUS_TOO_MANY_CONN;
		}
		/* Connection reinstatement (§6.3.4): the old connection's tasks
		 * are terminated (ERL 0) and the session moves to this one. */
		vs_iscsi_log(ISCSI_LOG_INFO, "login %s tsih %u: reinstating connection cid %u",
		          p->initiator_name, tsih, c->cid);
		old->dying = true;
		old->waiter = c;
		old->keep_for_waiter = true;
	}
	c->pending_old = old;
	c->waiting_reinstate = true;
	if (old->conn)
		vs_iscsi_conn_kill_async(old->conn);
	pthread_mutex_unlock(&is->lock);
	return 1;
}

/* On the waiter's loop, once the old connection is gone.  0 or -status. */
int vs_iscsi_session_finish_bind(struct iscsi_conn *c)
{
	struct iscsi_session *old = c->pending_old;

	c->pending_old = NULL;
	if (old) {      /* set only when the old session was handed over */
		pthread_mutex_lock(&c->is->lock);
		old->conn = c;
		old->dying = false;
		old->waiter = NULL;
		old->keep_for_waiter = false;
		old->params = *vs_iscsi_login_params(c->login);
		snprintf(old->peer, sizeof(old->peer), "%s", c->peer);
		pthread_mutex_unlock(&c->is->lock);
		c->sess = old;
		if (c->state == CONN_CLOSING)
			return -ISCSI_LOGIN_STATUS_TARGET_ERROR;
		return 0;
	}
	if (c->state == CONN_CLOSING)
		return -ISCSI_LOGIN_STATUS_TARGET_ERROR;
	return create_session(c, 0, vs_iscsi_login_cmdsn(c->login));
}

void vs_iscsi_session_detach(struct iscsi_conn *c)
{
	struct iscsi_session *s = c->sess;
	struct vs_iscsi *is = c->is;
	struct iscsi_conn *waiter;
	bool keep;

	if (!s)
		return;
	c->sess = NULL;
	pthread_mutex_lock(&is->lock);
	keep = s->keep_for_waiter && s->waiter;
	pthread_mutex_unlock(&is->lock);
	/* Close the nexus before the session leaves the table: once a target
	 * shows no sessions its port may be destroyed. */
	if (!keep && s->nexus && s->target) {
		vs_port_nexus_close(s->target->port, s->nexus);
		s->nexus = NULL;
	}
	pthread_mutex_lock(&is->lock);
	waiter = s->waiter;
	if (keep) {
		s->conn = NULL;
	} else {
		struct iscsi_session **pp = &is->sessions;

		while (*pp && *pp != s)
			pp = &(*pp)->next;
		if (*pp)
			*pp = s->next;
		is->nsessions--;
		if (s->target)
			s->target->nsessions--;
		if (s->discovery)
			vs_iscsi_adm_discovery_release(&is->adm, s);
		else
			vs_iscsi_adm_session_release(&is->adm);
		pthread_cond_broadcast(&is->cond);
	}
	if (waiter) {
		/* Hand the session over (connection reinstatement) or tell the
		 * waiter it is gone; it must not look at a freed session. */
		waiter->pending_old = keep ? s : NULL;
		vs_iscsi_conn_post_reinstated(waiter);
	}
	pthread_mutex_unlock(&is->lock);
	if (!keep) {
		if (!s->discovery)
			vs_iscsi_log(ISCSI_LOG_INFO, "session %s tsih %u to %s ended", s->initiator, s->tsih,
			          s->target ? s->target->iqn : "-");
		free(s);
	}
}

/* A discovery session's Text or Logout request: the only activity that
 * keeps it from being closed as idle or replaced by a newcomer (answering
 * our NOP-In pings is not: a squatter does that too). */
void vs_iscsi_session_discovery_active(struct iscsi_conn *c)
{
	if (!c->sess || !c->sess->discovery)
		return;
	c->disc_active_ns = vs_loop_clock_ns();
	pthread_mutex_lock(&c->is->lock);
	vs_iscsi_adm_discovery_touch(&c->is->adm, c->sess, c->disc_active_ns);
	pthread_mutex_unlock(&c->is->lock);
}

/*
 * §3.2.2.1 / §4.2.2.1: a non-immediate command is accepted only with
 * ExpCmdSN <= CmdSN <= MaxCmdSN (serial arithmetic); outside the window it
 * is silently ignored.  Immediate commands are not ordered.
 * Returns 1 to process, 0 to drop.  Does not change state (see commit).
 */
int vs_iscsi_session_check_cmdsn(struct iscsi_conn *c, const struct iscsi_bhs *h)
{
	struct iscsi_session *s = c->sess;
	uint32_t cmdsn = bhs_be32(h, 24);

	if (bhs_immediate(h))
		return 1;
	if (sn_diff(cmdsn, s->exp_cmdsn) < 0 || sn_diff(cmdsn, s->max_cmdsn_sent) > 0) {
		vs_iscsi_log(ISCSI_LOG_DEBUG, "conn %llu: CmdSN %u outside [%u, %u]: ignored",
		          (unsigned long long)c->id, cmdsn, s->exp_cmdsn, s->max_cmdsn_sent);
		return 0;
	}
	return 1;
}

/*
 * ExpStatSN (RFC 7143 §4.2.2.2) acknowledges the status PDUs up to
 * ExpStatSN - 1; every initiator PDU carries it at offset 28.  At
 * ErrorRecoveryLevel 0 no status is kept for recovery, so nothing waits for
 * the acknowledgement and the field is checked for sanity only: a value
 * far beyond the next StatSN acknowledges status that was never sent, so
 * the initiator's numbering is broken and nothing it acknowledges can be
 * trusted (a protocol error, §11.17.1).  "Far" leaves room for two things
 * initiators do: R2T and NOP-In carry the next StatSN without advancing it
 * (§11.8, §11.19) and libiscsi 1.19 counts an R2T's value as received
 * (ExpStatSN one beyond); after a reconnection libiscsi numbers the
 * ExpStatSN of each command it resends one higher than the last, up to
 * one per outstanding command.  The bound is the most commands the window
 * admits; like the initiator's own check (§4.2.2.2) it is an
 * implementation-defined constant below 2**31.  A value behind is only an
 * initiator that has not read its status yet.
 */
bool vs_iscsi_session_exp_statsn_ok(const struct iscsi_conn *c, const struct iscsi_bhs *h)
{
	uint32_t slack = c->is->cfg.queue_depth + ISCSI_IMMEDIATE_TASKS;

	return sn_diff(bhs_be32(h, 28), c->stat_sn) <= (int32_t)slack;
}

void vs_iscsi_session_commit_cmdsn(struct iscsi_conn *c, const struct iscsi_bhs *h)
{
	struct iscsi_session *s = c->sess;
	uint32_t cmdsn = bhs_be32(h, 24);

	if (bhs_immediate(h))
		return;
	/* One connection delivers in order; a gap means the initiator skipped
	 * a number, and the skipped CmdSN will then be "too low". */
	if (sn_diff(cmdsn, s->exp_cmdsn) >= 0)
		s->exp_cmdsn = cmdsn + 1;
}
