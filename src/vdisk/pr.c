/* SPDX-License-Identifier: MIT */
/*
 * Reservations of one vdisk LUN: life cycle, I_T nexus loss and SPC-2
 * RESERVE/RELEASE with the SPC-4 5.13.3 exceptions.  The per-command
 * conflict check is in pr_conflict.c and the state it reads without a lock
 * in pr_verdict.c; PR IN is in pr_in.c, PR OUT in pr_out.c, APTPL state
 * files in pr_persist.c.
 */
#include <stdlib.h>
#include <string.h>

#include "pr_internal.h"

static const struct vs_nexus pr_anon_nexus;    /* name "" , rtpi 0 */

const struct vs_nexus *vs_pr_nexus_of(const struct vs_srb *srb)
{
	return srb->nexus ? srb->nexus : &pr_anon_nexus;
}

int vs_pr_find_reg(const struct pr_state *st, const struct vs_nexus *nx)
{
	if (st->nregs == 0)
		return -1;
	uint32_t h = pr_name_hash(nx->name);
	for (int i = 0; i < VDISK_PR_MAX_REGS; i++) {
		const struct pr_reg *r = &st->regs[i];
		if (r->used && r->name_hash == h && strcmp(r->name, nx->name) == 0 &&
		    (r->all_tg_pt || r->rtpi == nx->rel_target_port_id))
			return i;
	}
	return -1;
}

bool vs_pr_is_holder(const struct pr_state *st, int idx, const struct vs_nexus *nx)
{
	if (!st->reserved || idx < 0)
		return false;
	/* SPC-4 5.13.10: with an all-registrants type every registered I_T
	 * nexus is a reservation holder. */
	if (pr_type_all_reg(st->type))
		return true;
	return idx == st->holder && nx->rel_target_port_id == st->holder_rtpi;
}

uint16_t vs_pr_transport_id(const struct vs_nexus *nx, uint8_t *tid)
{
	if (nx->transport_id_len > 0 && nx->transport_id_len <= PR_TID_MAX) {
		memcpy(tid, nx->transport_id, nx->transport_id_len);
		return nx->transport_id_len;
	}
	/*
	 * The fabric gave none: build an iSCSI TransportID (SPC-4 7.6.4.6)
	 * from the port name, format 01b (name,i,0xISID) when it has an ISID.
	 * The name is NUL terminated and padded to a multiple of 4, and the
	 * additional length is at least 20.
	 */
	size_t n = strnlen(nx->name, PR_TID_MAX - 8);
	size_t pad = (n + 1 + 3) & ~(size_t)3;
	if (pad < 20)
		pad = 20;
	memset(tid, 0, 4 + pad);
	tid[0] = (strstr(nx->name, ",i,0x") ? 0x40 : 0x00) | 0x05;
	pr_put_be16(tid + 2, (uint16_t)pad);
	memcpy(tid + 4, nx->name, n);
	return (uint16_t)(4 + pad);
}

struct vdisk_pr *vs_vdisk_pr_create(struct vs_port_lun *lun, const char *state_path)
{
	struct vdisk_pr *pr = calloc(1, sizeof(*pr));
	if (!pr) {
		vs_set_error("pr: out of memory");
		return NULL;
	}
	pr->lun = lun;
	pr->cur.holder = -1;
	if (state_path) {
		pr->state_path = strdup(state_path);
		if (!pr->state_path) {
			free(pr);
			vs_set_error("pr: out of memory");
			return NULL;
		}
		if (vs_pr_persist_load(state_path, &pr->cur) < 0) {
			free(pr->state_path);
			free(pr);
			return NULL;
		}
		pr->file_aptpl0 = !pr->cur.aptpl;
	}
	pthread_mutex_init(&pr->lock, NULL);
	pthread_mutex_init(&pr->out_lock, NULL);
	vs_pr_publish(pr);
	return pr;
}

void vs_vdisk_pr_destroy(struct vdisk_pr *pr)
{
	if (!pr)
		return;
	pthread_mutex_destroy(&pr->lock);
	pthread_mutex_destroy(&pr->out_lock);
	free(pr->state_path);
	free(pr);
}

bool vs_pr_spc2_is_holder(const struct pr_spc2 *s, const struct vs_nexus *nx)
{
	return s->held && strcmp(s->name, nx->name) == 0 && s->rtpi == nx->rel_target_port_id;
}

/* ---------------- SPC-2 RESERVE / RELEASE ---------------- */

/*
 * RESERVE(6)/(10) and RELEASE(6)/(10) byte 1: 3RDPTY (bit 4) asks for a
 * third-party reservation and, in RESERVE(6), bit 0 (EXTENT) for an extent
 * reservation; LONGID (bit 1) of the 10-byte forms only matters with 3RDPTY.
 * vdisk supports neither: INVALID FIELD IN CDB.
 */
static bool pr_spc2_cdb_ok(struct vs_srb *srb)
{
	uint8_t b1 = srb->cdb[1];
	if (b1 & 0x10) {
		vs_srb_set_invalid_field(srb, true, 1, 4);
		return false;
	}
	if ((srb->cdb[0] == RESERVE_6 || srb->cdb[0] == RELEASE_6) && (b1 & 0x01)) {
		vs_srb_set_invalid_field(srb, true, 1, 0);
		return false;
	}
	if ((srb->cdb[0] == RESERVE_10 || srb->cdb[0] == RELEASE_10) && (b1 & 0x02)) {
		vs_srb_set_invalid_field(srb, true, 1, 1);
		return false;
	}
	return true;
}

/* RESERVE and RELEASE answer alike: RESERVATION CONFLICT or GOOD, no data. */
static void pr_spc2_answer(struct vs_srb *srb, bool conflict)
{
	if (conflict)
		vs_srb_set_status(srb, SAM_STAT_RESERVATION_CONFLICT);
	else
		vs_srb_set_good(srb);
}

void vs_vdisk_pr_reserve(struct vdisk_pr *pr, struct vs_srb *srb)
{
	const struct vs_nexus *nx = vs_pr_nexus_of(srb);
	srb->xfer_len = 0;
	if (!pr_spc2_cdb_ok(srb))
		return;

	pthread_mutex_lock(&pr->lock);
	bool conflict = pr->cur.nregs > 0 || pr->out_busy ||           /* SPC-4 5.13.3 */
	                (pr->spc2.held && !vs_pr_spc2_is_holder(&pr->spc2, nx));
	if (!conflict) {
		/* A repeated RESERVE from the holder is not an error (SPC-2 7.21). */
		struct pr_spc2 *s = &pr->spc2;
		s->held = true;
		s->rtpi = nx->rel_target_port_id;
		s->nexus_ptr = nx;
		pr_copy_str(s->name, sizeof(s->name), nx->name);
		vs_pr_publish(pr);
	}
	pthread_mutex_unlock(&pr->lock);
	pr_spc2_answer(srb, conflict);
}

void vs_vdisk_pr_release(struct vdisk_pr *pr, struct vs_srb *srb)
{
	const struct vs_nexus *nx = vs_pr_nexus_of(srb);
	srb->xfer_len = 0;
	if (!pr_spc2_cdb_ok(srb))
		return;

	pthread_mutex_lock(&pr->lock);
	bool conflict = pr->cur.nregs > 0 || pr->out_busy;              /* SPC-4 5.13.3 */
	/* SPC-2 7.17: RELEASE from a non-holder is GOOD and changes nothing. */
	if (!conflict && vs_pr_spc2_is_holder(&pr->spc2, nx)) {
		pr->spc2.held = false;
		vs_pr_publish(pr);
	}
	pthread_mutex_unlock(&pr->lock);
	pr_spc2_answer(srb, conflict);
}

void vs_vdisk_pr_reset(struct vdisk_pr *pr)
{
	/* SPC-2 5.5.1: a LOGICAL UNIT RESET or a target reset releases the
	 * RESERVE; persistent reservations survive resets (SPC-4 5.13.1). */
	pthread_mutex_lock(&pr->lock);
	pr->spc2.held = false;
	vs_pr_publish(pr);
	pthread_mutex_unlock(&pr->lock);
}

void vs_vdisk_pr_nexus_loss(struct vdisk_pr *pr, const struct vs_nexus *nexus)
{
	bool changed = false;

	pthread_mutex_lock(&pr->lock);
	/* SPC-2 5.5.1 / SPC-4 5.13.3: the RESERVE of the lost I_T nexus goes.
	 * Matched by address: the port calls this before the nexus memory
	 * is reused, and the RESERVE remembers the nexus that made it. */
	if (pr->spc2.held && pr->spc2.nexus_ptr == nexus) {
		pr->spc2.held = false;
		pr->spc2.nexus_ptr = NULL;
		changed = true;
	}
	/* Registrations survive (SPC-4 5.13.1); their unit attentions wait
	 * for the next login of that initiator port, or go to another open
	 * nexus with the same name once it sends a command: the new epoch
	 * sends every nexus through vs_pr_verdict_refresh(), which claims the
	 * registration. */
	for (int i = 0; i < VDISK_PR_MAX_REGS; i++) {
		struct pr_reg *r = &pr->cur.regs[i];

		if (r->used && r->nexus_id == nexus->id && strcmp(r->name, nexus->name) == 0) {
			r->nexus_id = PR_NO_NEXUS;
			changed = true;
		}
	}
	/* The id's next nexus (not before this returns, miniport.h) may be
	 * another initiator port: it must not inherit this verdict. */
	vs_pr_verdict_forget(pr, nexus);
	if (changed)
		vs_pr_publish(pr);
	pthread_mutex_unlock(&pr->lock);
}

bool vs_vdisk_pr_in_use(struct vdisk_pr *pr)
{
	pthread_mutex_lock(&pr->lock);
	bool busy = pr->cur.nregs > 0 || pr->cur.reserved || pr->spc2.held;
	pthread_mutex_unlock(&pr->lock);
	return busy;
}
