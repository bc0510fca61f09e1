/* SPDX-License-Identifier: MIT */
/*
 * The reservation state as the per-command check sees it: the published
 * word (pr->pub) and each I_T nexus's cached verdict (pr->verdict[]); the
 * rules that make both exact are in pr_internal.h.  Everything here runs
 * under pr->lock; only vs_vdisk_pr_conflict() (pr_conflict.c) reads the words
 * without it.
 */
#include "pr_internal.h"

#define PR_EPOCH_MASK (~(uint64_t)0 << PR_EPOCH_SHIFT)

void vs_pr_publish(struct vdisk_pr *pr)
{
	uint64_t w = 0;

	if (pr->cur.nregs > 0)
		w |= PR_PUB_REGS;
	if (pr->cur.reserved)
		w |= PR_PUB_RESERVED | (uint64_t)pr->cur.type << 8;
	if (pr->spc2.held)
		w |= PR_PUB_SPC2;
	if (pr->out_busy)
		w |= PR_PUB_OUT_BUSY;
	if (w)
		w |= PR_PUB_ACTIVE;
	/* Every publication a new epoch, even one that changes no flag: the
	 * registrations or holders behind the flags may have changed.  The
	 * stamp 0 is skipped, so a cleared slot (0) never passes for current,
	 * not even after the 48-bit epoch wraps. */
	if (((++pr->epoch << PR_EPOCH_SHIFT) & PR_EPOCH_MASK) == 0)
		pr->epoch++;
	/*
	 * Release: the caller answers GOOD only after this, and a command the
	 * initiator sends after seeing that status reaches the loads in
	 * vs_vdisk_pr_conflict() through the completion path's own
	 * synchronisation, so it reads this word or a later one (SPC-4 5.13:
	 * a reservation is in force once PERSISTENT RESERVE OUT completed).
	 */
	atomic_store_explicit(&pr->pub, (pr->epoch << PR_EPOCH_SHIFT) | w, memory_order_release);
}

uint64_t vs_pr_verdict_refresh(struct vdisk_pr *pr, const struct vs_srb *srb, uint64_t *pub)
{
	const struct vs_nexus *nx = vs_pr_nexus_of(srb);
	uint32_t slot = pr_verdict_slot(srb->nexus);

	pthread_mutex_lock(&pr->lock);
	uint64_t w = atomic_load_explicit(&pr->pub, memory_order_relaxed);   /* lock: current */
	uint64_t v = w & PR_EPOCH_MASK;
	int idx = vs_pr_find_reg(&pr->cur, nx);
	if (idx >= 0) {
		v |= PR_V_REG;
		/*
		 * Remember the registrant's current nexus, so unit attentions
		 * reach it after a re-login (its id changes).  Once per nexus
		 * and epoch, not per command: a new nexus has no verdict yet,
		 * and whatever moves a registration to PR_NO_NEXUS or to other
		 * data (a PR OUT commit, the loss of its nexus) publishes a
		 * new epoch, so every nexus with that name comes here again.
		 */
		if (srb->nexus)
			pr->cur.regs[idx].nexus_id = nx->id;
	}
	if (vs_pr_is_holder(&pr->cur, idx, nx))
		v |= PR_V_HOLDER;
	if (vs_pr_spc2_is_holder(&pr->spc2, nx))
		v |= PR_V_SPC2;
	/* Relaxed is enough: the word carries its own epoch, and a reader
	 * trusts it only if that is the epoch it read from pub. */
	if (slot < PR_VERDICT_SLOTS)
		atomic_store_explicit(&pr->verdict[slot], v, memory_order_relaxed);
	pthread_mutex_unlock(&pr->lock);
	*pub = w;
	return v;
}

void vs_pr_verdict_forget(struct vdisk_pr *pr, const struct vs_nexus *nexus)
{
	uint32_t slot = pr_verdict_slot(nexus);

	if (slot < PR_VERDICT_SLOTS)
		atomic_store_explicit(&pr->verdict[slot], 0, memory_order_relaxed);
}
