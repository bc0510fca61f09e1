/* SPDX-License-Identifier: MIT */
/*
 * PERSISTENT RESERVE OUT (SPC-4 6.16, behaviour in 5.13.7 - 5.13.11).
 *
 * A PR OUT runs on the port's worker pool and may block: it copies the
 * current state into pr->work (under pr->lock), applies the service action
 * there without the lock, writes the APTPL state file if needed, and only
 * then publishes pr->work and raises the unit attentions.  A failed file
 * write therefore leaves the old state in force, and vs_vdisk_pr_conflict()
 * never waits for the disk.  pr->out_lock keeps PR OUTs one at a time.
 */
#include <string.h>
#include <strings.h>

#include "pr_internal.h"

enum pr_result { PR_OK_CHANGED, PR_OK_SAME, PR_FAILED };

struct pr_out_req {
	const struct vs_nexus *nx;
	uint8_t  sa, scope, type;
	uint64_t rk, sark;
	bool     all_tg_pt, aptpl;
	/* REGISTER AND MOVE (SPC-4 6.16.4) */
	bool     unreg;
	uint16_t dest_rtpi;
	uint32_t tid_len;
	const uint8_t *tid;
};

static enum pr_result pr_conflict(struct vs_srb *srb)
{
	vs_srb_set_status(srb, SAM_STAT_RESERVATION_CONFLICT);
	return PR_FAILED;
}

static void pr_queue_ua(struct vdisk_pr *pr, const struct pr_reg *r, uint16_t asc_ascq)
{
	if (pr->nua >= sizeof(pr->ua) / sizeof(pr->ua[0]) || r->nexus_id == PR_NO_NEXUS)
		return;
	struct pr_ua *u = &pr->ua[pr->nua++];
	memcpy(u->name, r->name, sizeof(u->name));
	u->nexus_id = r->nexus_id;
	u->asc_ascq = asc_ascq;
}

/* UA for every registrant except `skip` (-1: none). */
static void pr_queue_ua_all(struct vdisk_pr *pr, const struct pr_state *st, int skip,
                            uint16_t asc_ascq)
{
	for (int i = 0; i < VDISK_PR_MAX_REGS; i++)
		if (st->regs[i].used && i != skip)
			pr_queue_ua(pr, &st->regs[i], asc_ascq);
}

/*
 * Unit attentions go to the nexus the registration was last seen on, if
 * it is still open under the same name (its id may have been reused).  An
 * initiator that is not logged in gets POWER ON/RESET at its next login.
 */
static void pr_raise_uas(struct vdisk_pr *pr)
{
	if (!pr->lun)
		return;
	struct vs_port *port = vs_port_lun_port(pr->lun);
	for (unsigned i = 0; i < pr->nua; i++) {
		const struct vs_nexus *n = vs_port_nexus_by_id(port, pr->ua[i].nexus_id);
		if (n && strcmp(n->name, pr->ua[i].name) == 0)
			vs_port_nexus_unit_attention(pr->lun, n, pr->ua[i].asc_ascq);
	}
}

static void pr_release_resv(struct pr_state *st)
{
	st->reserved = false;
	st->type = 0;
	st->holder = -1;
	st->holder_rtpi = 0;
}

static void pr_take_resv(struct pr_state *st, int idx, const struct vs_nexus *nx, uint8_t type)
{
	st->reserved = true;
	st->type = type;
	st->holder = pr_type_all_reg(type) ? -1 : idx;
	st->holder_rtpi = nx->rel_target_port_id;
}

/*
 * Remove registration idx.  Losing the holder's registration releases a
 * reservation that is not all-registrants; the last registrant leaving
 * releases an all-registrants one (SPC-4 5.13.10, 5.13.11.3).  With notify,
 * a registrants-only reservation released this way tells the remaining
 * registrants RESERVATIONS RELEASED (SPC-4 5.13.11.3, unregistering).
 */
static void pr_drop_reg(struct vdisk_pr *pr, struct pr_state *st, int idx, bool notify)
{
	if (st->reserved) {
		if (pr_type_all_reg(st->type)) {
			if (st->nregs == 1)
				pr_release_resv(st);
		} else if (st->holder == idx) {
			uint8_t t = st->type;
			pr_release_resv(st);
			if (notify && pr_type_reg_only(t))
				pr_queue_ua_all(pr, st, idx, ASC_RESERVATIONS_RELEASED);
		}
	}
	memset(&st->regs[idx], 0, sizeof(st->regs[idx]));
	st->nregs--;
}

static int pr_new_reg(struct pr_state *st)
{
	for (int i = 0; i < VDISK_PR_MAX_REGS; i++)
		if (!st->regs[i].used)
			return i;
	return -1;
}

static void pr_fill_reg(struct pr_reg *r, const struct vs_nexus *nx, uint64_t key, bool all_tg_pt)
{
	memset(r, 0, sizeof(*r));
	r->used = true;
	r->key = key;
	r->all_tg_pt = all_tg_pt;
	r->rtpi = nx->rel_target_port_id;
	r->nexus_id = nx->id;
	pr_copy_str(r->name, sizeof(r->name), nx->name);
	pr_copy_str(r->initiator_name, sizeof(r->initiator_name), nx->initiator_name);
	r->name_hash = pr_name_hash(r->name);
	r->tid_len = vs_pr_transport_id(nx, r->tid);
}

/* SPC-4 5.13.7 REGISTER and REGISTER AND IGNORE EXISTING KEY */
static enum pr_result pr_out_register(struct vdisk_pr *pr, struct pr_state *st,
                                      const struct pr_out_req *q, struct vs_srb *srb)
{
	bool ignore = q->sa == PROUT_REGISTER_AND_IGNORE;
	int idx = vs_pr_find_reg(st, q->nx);

	if (idx < 0) {
		if (!ignore && q->rk != 0)
			return pr_conflict(srb);
		if (q->sark != 0) {
			idx = pr_new_reg(st);
			if (idx < 0) {
				vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST,
				                 ASC_INSUFFICIENT_REGISTRATION_RESOURCES);
				return PR_FAILED;
			}
			pr_fill_reg(&st->regs[idx], q->nx, q->sark, q->all_tg_pt);
			st->nregs++;
			st->aptpl = q->aptpl;
		}
		/* Unregistered with SARK 0: nothing to do, still GOOD. */
	} else {
		if (!ignore && q->rk != st->regs[idx].key)
			return pr_conflict(srb);
		if (q->sark == 0) {
			pr_drop_reg(pr, st, idx, true);
		} else {
			st->regs[idx].key = q->sark;
			st->regs[idx].nexus_id = q->nx->id;
			st->aptpl = q->aptpl;
		}
	}
	st->generation++;
	return PR_OK_CHANGED;
}

/* Checks every service action but the REGISTERs shares: the I_T nexus is
 * registered and quotes its own key (SPC-4 5.13.9, 5.13.11). */
static int pr_registered_caller(const struct pr_state *st, const struct pr_out_req *q,
                                struct vs_srb *srb)
{
	int idx = vs_pr_find_reg(st, q->nx);
	if (idx < 0 || st->regs[idx].key != q->rk) {
		pr_conflict(srb);
		return -1;
	}
	return idx;
}

/* SPC-4 5.13.9 RESERVE */
static enum pr_result pr_out_reserve(struct pr_state *st, const struct pr_out_req *q,
                                     struct vs_srb *srb)
{
	int idx = pr_registered_caller(st, q, srb);
	if (idx < 0)
		return PR_FAILED;
	if (st->reserved) {
		/* The holder may repeat its reservation; any change of type or
		 * scope, or anyone else, conflicts. */
		if (vs_pr_is_holder(st, idx, q->nx) && st->type == q->type)
			return PR_OK_SAME;
		return pr_conflict(srb);
	}
	pr_take_resv(st, idx, q->nx, q->type);
	return PR_OK_CHANGED;
}

/* SPC-4 5.13.11.2 RELEASE */
static enum pr_result pr_out_release(struct vdisk_pr *pr, struct pr_state *st,
                                     const struct pr_out_req *q, struct vs_srb *srb)
{
	int idx = pr_registered_caller(st, q, srb);
	if (idx < 0)
		return PR_FAILED;
	/* No reservation, or not the holder: GOOD, nothing released. */
	if (!vs_pr_is_holder(st, idx, q->nx))
		return PR_OK_SAME;
	if (q->type != st->type || q->scope != PR_SCOPE_LU) {
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST,
		                 ASC_INVALID_RELEASE_OF_PERSISTENT_RESERVATION);
		return PR_FAILED;
	}
	uint8_t t = st->type;
	pr_release_resv(st);
	/* Others lose access rights they had as registrants: tell them. */
	if (pr_type_reg_only(t) || pr_type_all_reg(t))
		pr_queue_ua_all(pr, st, idx, ASC_RESERVATIONS_RELEASED);
	return PR_OK_CHANGED;
}

/* SPC-4 5.13.11.5 CLEAR */
static enum pr_result pr_out_clear(struct vdisk_pr *pr, struct pr_state *st,
                                   const struct pr_out_req *q, struct vs_srb *srb)
{
	int idx = pr_registered_caller(st, q, srb);
	if (idx < 0)
		return PR_FAILED;
	pr_queue_ua_all(pr, st, idx, ASC_RESERVATIONS_PREEMPTED);
	memset(st->regs, 0, sizeof(st->regs));
	st->nregs = 0;
	pr_release_resv(st);
	st->generation++;
	return PR_OK_CHANGED;
}

/* PREEMPT AND ABORT: remember registration r's I_T nexus for the abort. */
static void pr_queue_abort(struct vdisk_pr *pr, const struct pr_reg *r)
{
	if (pr->nabort >= sizeof(pr->abort) / sizeof(pr->abort[0]) || r->nexus_id == PR_NO_NEXUS)
		return;
	struct pr_ua *a = &pr->abort[pr->nabort++];
	memcpy(a->name, r->name, sizeof(a->name));
	a->nexus_id = r->nexus_id;
	a->asc_ascq = 0;
}

/*
 * Remove the registrations holding `key` (all but the caller's own when
 * key is 0 and `all` is set), each told REGISTRATIONS PREEMPTED; with
 * `abort` (PREEMPT AND ABORT) their I_T nexuses' tasks are to be aborted,
 * and the caller's own other tasks too when its key is the one preempted.
 * Returns how many registrations (the caller's included) matched.
 */
static int pr_preempt_regs(struct vdisk_pr *pr, struct pr_state *st, int self,
                           uint64_t key, bool all, bool abort)
{
	int matched = 0;
	for (int i = 0; i < VDISK_PR_MAX_REGS; i++) {
		struct pr_reg *r = &st->regs[i];
		if (!r->used || !(all || r->key == key))
			continue;
		matched++;
		if (abort && (i != self || !all))
			pr_queue_abort(pr, r);
		if (i == self)
			continue;
		pr_queue_ua(pr, r, ASC_REGISTRATIONS_PREEMPTED);
		memset(r, 0, sizeof(*r));
		st->nregs--;
	}
	return matched;
}

/*
 * SPC-4 5.13.11.2.4 PREEMPT and 5.13.11.2.5 PREEMPT AND ABORT: the same
 * change of registrations and reservation; PREEMPT AND ABORT also aborts
 * every task of the preempted I_T nexuses (all but this PERSISTENT RESERVE
 * OUT), done by vs_vdisk_pr_out once the new state is in force.
 */
static enum pr_result pr_out_preempt(struct vdisk_pr *pr, struct pr_state *st,
                                     const struct pr_out_req *q, struct vs_srb *srb)
{
	int self = pr_registered_caller(st, q, srb);
	bool abort = q->sa == PROUT_PREEMPT_AND_ABORT;
	if (self < 0)
		return PR_FAILED;

	if (st->reserved && pr_type_all_reg(st->type) && q->sark == 0) {
		/* SARK 0 preempts an all-registrants reservation:
		 * everyone else loses the registration, the caller reserves. */
		pr_preempt_regs(pr, st, self, 0, true, abort);
		pr_release_resv(st);
		pr_take_resv(st, self, q->nx, q->type);
	} else if (st->reserved && !pr_type_all_reg(st->type) &&
	           q->sark == st->regs[st->holder].key) {
		/* Preempt the holder: remove the registrations with that key
		 * and take the reservation (type/scope from the CDB); if the type
		 * changed the remaining registrants hear RESERVATIONS RELEASED. */
		uint8_t old_type = st->type;
		pr_preempt_regs(pr, st, self, q->sark, false, abort);
		pr_release_resv(st);
		pr_take_resv(st, self, q->nx, q->type);
		if (old_type != q->type)
			pr_queue_ua_all(pr, st, self, ASC_RESERVATIONS_RELEASED);
	} else {
		/* No reservation to preempt: just remove the registrations with
		 * SARK; SARK 0 names nobody here. */
		if (q->sark == 0) {
			vs_srb_set_invalid_field(srb, false, 8, -1);
			return PR_FAILED;
		}
		if (pr_preempt_regs(pr, st, self, q->sark, false, abort) == 0)
			return pr_conflict(srb);
	}
	st->generation++;
	return PR_OK_CHANGED;
}

/*
 * The initiator port name a TransportID names.  iSCSI (protocol 5) format
 * 01b carries "name,i,0xISID", exactly an I_T nexus's initiator port name.
 * Anything else is matched byte for byte against registrations' TransportIDs.
 */
static bool pr_tid_to_name(const uint8_t *tid, uint32_t len, char *name, size_t size)
{
	if ((tid[0] & 0x0f) != 0x05 || (tid[0] >> 6) != 0x01 || len < 5)
		return false;
	uint32_t n = pr_get_be16(tid + 2);
	if (n + 4 > len || n == 0)
		return false;
	size_t sl = strnlen((const char *)tid + 4, n);
	if (sl == n || sl >= size)     /* must be NUL terminated */
		return false;
	memcpy(name, tid + 4, sl);
	name[sl] = '\0';
	return strstr(name, ",i,0x") != NULL;
}

/* SPC-4 5.13.8 REGISTER AND MOVE */
static enum pr_result pr_out_register_move(struct pr_state *st, const struct pr_out_req *q,
                                           struct vs_srb *srb)
{
	int self = pr_registered_caller(st, q, srb);
	if (self < 0)
		return PR_FAILED;
	/* Only the holder of a reservation that is not all-registrants can
	 * move it. */
	if (!vs_pr_is_holder(st, self, q->nx) || pr_type_all_reg(st->type))
		return pr_conflict(srb);
	if (q->sark == 0) {
		vs_srb_set_invalid_field(srb, false, 8, -1);
		return PR_FAILED;
	}

	struct vs_nexus dest;
	memset(&dest, 0, sizeof(dest));
	dest.rel_target_port_id = q->dest_rtpi;
	dest.id = PR_NO_NEXUS;
	int didx = -1;
	if (pr_tid_to_name(q->tid, q->tid_len, dest.name, sizeof(dest.name))) {
		for (int i = 0; i < VDISK_PR_MAX_REGS; i++) {
			const struct pr_reg *r = &st->regs[i];
			if (r->used && strcasecmp(r->name, dest.name) == 0 &&
			    (r->all_tg_pt || r->rtpi == dest.rel_target_port_id)) {
				didx = i;
				break;
			}
		}
		char *sep = strstr(dest.name, ",i,0x");
		size_t il = (size_t)(sep - dest.name);
		if (il >= sizeof(dest.initiator_name))
			il = sizeof(dest.initiator_name) - 1;
		memcpy(dest.initiator_name, dest.name, il);
	} else {
		for (int i = 0; i < VDISK_PR_MAX_REGS; i++) {
			const struct pr_reg *r = &st->regs[i];
			if (r->used && r->tid_len == q->tid_len &&
			    memcmp(r->tid, q->tid, q->tid_len) == 0 &&
			    (r->all_tg_pt || r->rtpi == q->dest_rtpi)) {
				didx = i;
				break;
			}
		}
		if (didx < 0) {
			vs_srb_set_invalid_field(srb, false, 24, -1);
			return PR_FAILED;
		}
	}
	/* Moving to oneself is an error (SPC-4 5.13.8). */
	if (didx == self || (strcasecmp(dest.name, q->nx->name) == 0 &&
	                     q->dest_rtpi == q->nx->rel_target_port_id)) {
		vs_srb_set_invalid_field(srb, false, 24, -1);
		return PR_FAILED;
	}
	if (didx < 0) {
		didx = pr_new_reg(st);
		if (didx < 0) {
			vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST,
			                 ASC_INSUFFICIENT_REGISTRATION_RESOURCES);
			return PR_FAILED;
		}
		dest.transport_id_len = (uint16_t)q->tid_len;
		memcpy(dest.transport_id, q->tid, q->tid_len);
		pr_fill_reg(&st->regs[didx], &dest, q->sark, false);
		st->nregs++;
	} else {
		st->regs[didx].key = q->sark;
	}
	/* The reservation moves with its type and scope. */
	st->holder = didx;
	st->holder_rtpi = q->dest_rtpi;
	if (q->unreg) {
		memset(&st->regs[self], 0, sizeof(st->regs[self]));
		st->nregs--;
	}
	st->aptpl = q->aptpl;
	st->generation++;
	return PR_OK_CHANGED;
}

/* Decode and validate the CDB and parameter list (SPC-4 6.16.1 - 6.16.4).
 * Returns false with sense set. */
static bool pr_out_parse(struct vdisk_pr *pr, struct vs_srb *srb, struct pr_out_req *q,
                         uint8_t *param, size_t param_size)
{
	const uint8_t *cdb = srb->cdb;
	uint32_t plen = pr_get_be32(cdb + 5);

	memset(q, 0, sizeof(*q));
	q->nx = vs_pr_nexus_of(srb);
	q->sa = cdb[1] & 0x1f;
	q->scope = cdb[2] >> 4;
	q->type = cdb[2] & 0x0f;
	if (q->sa > PROUT_REGISTER_AND_MOVE) {
		vs_srb_set_invalid_field(srb, true, 1, 4);
		return false;
	}
	/* SCOPE and TYPE matter for these; the others ignore them (6.16.2). */
	if (q->sa == PROUT_RESERVE || q->sa == PROUT_RELEASE ||
	    q->sa == PROUT_PREEMPT || q->sa == PROUT_PREEMPT_AND_ABORT) {
		if (q->scope != PR_SCOPE_LU) {
			vs_srb_set_invalid_field(srb, true, 2, 7);
			return false;
		}
		if (!pr_type_valid(q->type)) {
			vs_srb_set_invalid_field(srb, true, 2, 3);
			return false;
		}
	}
	if (plen < 24) {
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
		return false;
	}
	size_t want = plen < param_size ? plen : param_size;
	if (vs_srb_copy_from_iov(srb, 0, param, want) < want) {
		/* Less data-out than the CDB announces. */
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
		return false;
	}
	srb->xfer_len = (uint32_t)want;    /* data-out bytes consumed */
	q->rk = pr_get_be64(param);
	q->sark = pr_get_be64(param + 8);

	if (q->sa != PROUT_REGISTER_AND_MOVE) {
		uint8_t flags = param[20];
		/* SPEC_I_PT unsupported (REPORT CAPABILITIES SIP_C=0). */
		if (flags & 0x08) {
			vs_srb_set_invalid_field(srb, false, 20, 3);
			return false;
		}
		if (plen != 24) {
			vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
			return false;
		}
		q->all_tg_pt = flags & 0x04;
		q->aptpl = flags & 0x01;
	} else {
		q->unreg = param[17] & 0x02;
		q->aptpl = param[17] & 0x01;
		q->dest_rtpi = pr_get_be16(param + 18);
		q->tid_len = pr_get_be32(param + 20);
		/* A TransportID is at least 24 bytes (SPC-4 7.6.4.1). */
		if (q->tid_len < 24 || q->tid_len > PR_TID_MAX) {
			vs_srb_set_invalid_field(srb, false, 20, -1);
			return false;
		}
		if (plen != 24 + q->tid_len) {
			vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
			return false;
		}
		q->tid = param + 24;
	}

	/* APTPL needs somewhere to persist to; it only counts for the service
	 * actions that register (SPC-4 6.16.3). */
	bool registers = q->sa == PROUT_REGISTER_AND_MOVE ||
	                 ((q->sa == PROUT_REGISTER || q->sa == PROUT_REGISTER_AND_IGNORE) &&
	                  q->sark != 0);
	if (!registers)
		q->aptpl = false;
	else if (q->aptpl && !pr->state_path) {
		vs_srb_set_invalid_field(srb, false, q->sa == PROUT_REGISTER_AND_MOVE ? 17 : 20, 0);
		return false;
	}
	return true;
}

/*
 * PREEMPT AND ABORT, after the new state is in force and out_lock let go
 * (the aborted tasks may include PR OUTs waiting for it): each preempted
 * nexus still open under the registration's name loses its tasks on this
 * LUN, all but `srb`; the port completes them with TASK ABORTED status
 * (TAS=1), or without status for the caller's own (SAM-5 5.6).
 */
static void pr_abort_tasks(struct vdisk_pr *pr, const struct pr_ua *ab, unsigned n,
                           struct vs_srb *srb)
{
	struct vs_port *port = vs_port_lun_port(pr->lun);

	for (unsigned i = 0; i < n; i++) {
		const struct vs_nexus *nx = vs_port_nexus_by_id(port, ab[i].nexus_id);
		if (nx && strcmp(nx->name, ab[i].name) == 0)
			vs_port_lun_abort_nexus(pr->lun, nx, srb->nexus, srb);
	}
}

void vs_vdisk_pr_out(struct vdisk_pr *pr, struct vs_srb *srb)
{
	struct pr_out_req q;
	uint8_t param[24 + PR_TID_MAX];
	struct pr_ua ab[VDISK_PR_MAX_REGS];
	unsigned nab = 0;
	srb->xfer_len = 0;
	if (!pr_out_parse(pr, srb, &q, param, sizeof(param)))
		return;

	pthread_mutex_lock(&pr->out_lock);
	pthread_mutex_lock(&pr->lock);
	if (pr->spc2.held) {
		/* SPC-4 5.13.3: no PR OUT while a RESERVE(6/10) is held. */
		pthread_mutex_unlock(&pr->lock);
		pthread_mutex_unlock(&pr->out_lock);
		pr_conflict(srb);
		return;
	}
	pr->out_busy = true;         /* RESERVE/RELEASE now conflict (5.13.3) */
	vs_pr_publish(pr);
	memcpy(&pr->work, &pr->cur, sizeof(pr->work));
	pthread_mutex_unlock(&pr->lock);

	struct pr_state *st = &pr->work;
	enum pr_result r;
	pr->nua = 0;
	pr->nabort = 0;
	int self = vs_pr_find_reg(st, q.nx);
	if (self >= 0 && srb->nexus)
		st->regs[self].nexus_id = q.nx->id;
	switch (q.sa) {
	case PROUT_REGISTER:
	case PROUT_REGISTER_AND_IGNORE:
		r = pr_out_register(pr, st, &q, srb);
		break;
	case PROUT_RESERVE:
		r = pr_out_reserve(st, &q, srb);
		break;
	case PROUT_RELEASE:
		r = pr_out_release(pr, st, &q, srb);
		break;
	case PROUT_CLEAR:
		r = pr_out_clear(pr, st, &q, srb);
		break;
	case PROUT_PREEMPT:
	case PROUT_PREEMPT_AND_ABORT:
		r = pr_out_preempt(pr, st, &q, srb);
		break;
	default:
		r = pr_out_register_move(st, &q, srb);
		break;
	}

	/* Persist before anyone can see the new state: an acknowledged APTPL
	 * change must survive power loss.  "Not persistent" is written once. */
	if (r == PR_OK_CHANGED && pr->state_path && (st->aptpl || !pr->file_aptpl0)) {
		if (vs_pr_persist_save(pr->state_path, st) < 0) {
			vs_srb_set_sense(srb, SENSE_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE);
			r = PR_FAILED;
		} else {
			pr->file_aptpl0 = !st->aptpl;
		}
	}

	pthread_mutex_lock(&pr->lock);
	if (r == PR_OK_CHANGED)
		memcpy(&pr->cur, st, sizeof(pr->cur));
	pr->out_busy = false;
	vs_pr_publish(pr);
	pthread_mutex_unlock(&pr->lock);

	if (r != PR_FAILED)
		pr_raise_uas(pr);
	if (r == PR_OK_CHANGED && pr->lun) {
		nab = pr->nabort;
		memcpy(ab, pr->abort, nab * sizeof(ab[0]));
	}
	pthread_mutex_unlock(&pr->out_lock);
	if (nab)
		pr_abort_tasks(pr, ab, nab, srb);
	if (r != PR_FAILED)
		vs_srb_set_good(srb);
}
