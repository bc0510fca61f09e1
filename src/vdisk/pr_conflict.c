/* SPDX-License-Identifier: MIT */
/*
 * The reservation check every command takes before it runs (SPC-4 5.13.1
 * and SBC-3 4.17 tables, SPC-2 5.5.1, SPC-4 5.13.3).  Once reservations are
 * active — clusters keep registrations all the time — this runs for every
 * READ and WRITE, so it takes no lock and compares no names: it reads the
 * published state word and the nexus's cached verdict (pr_internal.h says
 * why both are exact) and decides from the two.  Only a verdict whose
 * epoch has passed is recomputed, under the lock (pr_verdict.c).
 */
#include "pr_internal.h"

enum pr_access { PR_ACC_ALLOWED, PR_ACC_READ, PR_ACC_WRITE };

/*
 * How a command fares under a persistent reservation held by someone else
 * (SPC-4 5.13.1 Table 43 "SPC commands ... allowed in the presence of
 * various reservations", SBC-3 Table 13).  ALLOWED: never conflicts.  READ:
 * conflicts with the exclusive-access types only.  WRITE: conflicts with
 * every type.  Unknown commands are treated as WRITE, the safe side.
 */
static enum pr_access pr_classify(const uint8_t *cdb)
{
	switch (cdb[0]) {
	case INQUIRY:
	case REPORT_LUNS:
	case REQUEST_SENSE:
	case TEST_UNIT_READY:
	case LOG_SENSE:
	case READ_CAPACITY_10:
	case PERSISTENT_RESERVE_IN:
	case PERSISTENT_RESERVE_OUT:    /* checks its own rules (5.13.7 ..) */
		return PR_ACC_ALLOWED;
	case SERVICE_ACTION_IN_16:
		return (cdb[1] & 0x1f) == SAI_READ_CAPACITY_16 ? PR_ACC_ALLOWED : PR_ACC_READ;
	case MAINTENANCE_IN:
		switch (cdb[1] & 0x1f) {
		case MI_REPORT_SUPPORTED_OPCODES:
		case MI_REPORT_SUPPORTED_TMFS:
		case PR_MI_REPORT_TARGET_PGS:
		case PR_MI_REPORT_IDENTIFYING_INFO:
			return PR_ACC_ALLOWED;
		default:
			return PR_ACC_READ;
		}
	case PREVENT_ALLOW_MEDIUM_REMOVAL:
		/* SBC-3: allowed with PREVENT 00b only */
		return (cdb[4] & 0x3) == 0 ? PR_ACC_ALLOWED : PR_ACC_WRITE;
	case START_STOP_UNIT:
		/* SBC-3: allowed with START=1 and POWER CONDITION 0 only */
		return ((cdb[4] & 0x1) && (cdb[4] >> 4) == 0) ? PR_ACC_ALLOWED : PR_ACC_WRITE;
	case READ_6:
	case READ_10:
	case READ_12:
	case READ_16:
	case VERIFY_10:
	case VERIFY_12:
	case VERIFY_16:
	case PRE_FETCH_10:
	case PRE_FETCH_16:
	case MODE_SENSE_6:
	case MODE_SENSE_10:
	case READ_BUFFER:
	case PR_RECEIVE_DIAGNOSTIC:
	case PR_READ_DEFECT_DATA_10:
	case PR_READ_DEFECT_DATA_12:
	case PR_READ_ATTRIBUTE:
	case RECEIVE_COPY_RESULTS:
		return PR_ACC_READ;
	default:
		return PR_ACC_WRITE;
	}
}

/*
 * A persistent reservation of `type` held by another I_T nexus or by this
 * one (SPC-4 5.13.10, Table 43 / SBC-3 Table 13): with WRITE EXCLUSIVE and
 * EXCLUSIVE ACCESS only the holder is exempt; with the registrants-only and
 * all-registrants types every registered I_T nexus is (for all-registrants
 * each is a holder, 5.13.10), for registrants-only each has the access.
 */
static bool pr_persistent_conflict(uint8_t type, uint64_t v, const uint8_t *cdb)
{
	enum pr_access acc = pr_classify(cdb);
	if (acc == PR_ACC_ALLOWED)
		return false;
	bool reg = v & PR_V_REG, holder = v & PR_V_HOLDER;
	switch (type) {
	case PR_TYPE_WE:
		return !holder && acc == PR_ACC_WRITE;
	case PR_TYPE_EA:
		return !holder;
	case PR_TYPE_WE_RO:
	case PR_TYPE_WE_AR:
		return !reg && acc == PR_ACC_WRITE;
	case PR_TYPE_EA_RO:
	case PR_TYPE_EA_AR:
		return !reg;
	default:
		return true;
	}
}

/*
 * SPC-2 5.5.1: while another I_T nexus holds a RESERVE, only these
 * commands are executed; RELEASE from a non-holder completes GOOD without
 * releasing anything.
 */
static bool pr_spc2_allowed(const uint8_t *cdb)
{
	switch (cdb[0]) {
	case INQUIRY:
	case REPORT_LUNS:
	case REQUEST_SENSE:
	case LOG_SENSE:
	case RELEASE_6:
	case RELEASE_10:
		return true;
	case PREVENT_ALLOW_MEDIUM_REMOVAL:
		return (cdb[4] & 0x3) == 0;
	case MAINTENANCE_IN:
		return (cdb[1] & 0x1f) == PR_MI_REPORT_TARGET_PGS;
	default:
		return false;
	}
}

static bool pr_is_reserve_release(uint8_t op)
{
	return op == RESERVE_6 || op == RESERVE_10 || op == RELEASE_6 || op == RELEASE_10;
}

/* The verdict for one command from the state word `w` and its nexus's
 * verdict `v` of the same epoch. */
static bool pr_decide(uint64_t w, uint64_t v, const uint8_t *cdb)
{
	uint8_t op = cdb[0];

	if (w & PR_PUB_SPC2) {
		/* SPC-4 5.13.3: while a RESERVE is held, every PR IN and PR OUT
		 * conflicts, whoever sends it. */
		if (op == PERSISTENT_RESERVE_IN || op == PERSISTENT_RESERVE_OUT)
			return true;
		return !(v & PR_V_SPC2) && !pr_spc2_allowed(cdb);
	}
	if (pr_is_reserve_release(op))
		/* SPC-4 5.13.3: while any I_T nexus is registered, every
		 * RESERVE and RELEASE conflicts, whoever sends it; so does one
		 * that comes while a PR OUT is being applied. */
		return (w & (PR_PUB_REGS | PR_PUB_OUT_BUSY)) != 0;
	if (w & PR_PUB_RESERVED)
		return pr_persistent_conflict(PR_PUB_TYPE(w), v, cdb);
	return false;
}

bool vs_vdisk_pr_conflict(struct vdisk_pr *pr, struct vs_srb *srb)
{
	/* Acquire pairs with vs_pr_publish(): see there. */
	uint64_t w = atomic_load_explicit(&pr->pub, memory_order_acquire);
	uint64_t v = 0;

	if (!(w & PR_PUB_ACTIVE))
		return false;
	/*
	 * The verdict matters only with registrations or a RESERVE (without
	 * either, "not registered, not a holder" is the truth: v = 0), and it
	 * is fetched then even for a command it does not decide, so that a
	 * registrant's nexus is remembered for its unit attentions
	 * (vs_pr_verdict_refresh) however it starts.
	 */
	if (w & (PR_PUB_REGS | PR_PUB_SPC2)) {
		uint32_t slot = pr_verdict_slot(srb->nexus);

		if (slot < PR_VERDICT_SLOTS)
			v = atomic_load_explicit(&pr->verdict[slot], memory_order_relaxed);
		if (slot >= PR_VERDICT_SLOTS || (v ^ w) >> PR_EPOCH_SHIFT)
			v = vs_pr_verdict_refresh(pr, srb, &w);
	}
	if (!pr_decide(w, v, srb->cdb))
		return false;
	vs_srb_set_status(srb, SAM_STAT_RESERVATION_CONFLICT);
	return true;
}
