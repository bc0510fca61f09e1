/* SPDX-License-Identifier: MIT */
/*
 * Taking SRBs back from the miniport: abort requests, forced completion at
 * resets, and the timer thread's escalation (Storport's request timer):
 *
 *   deadline passed, held  → completed TIMEOUT at once (it never reached
 *                            the miniport; the deadline runs from submit)
 *   deadline passed        → abort_srb (SRB marked TIMED_OUT)
 *   + abort_timeout_ms     → LUN reset: the port completes every SRB of the
 *                            LUN (TIMEOUT for the late one, BUS_RESET for the
 *                            rest) and calls miniport reset(LUN)
 *   + abort_timeout_ms and the miniport still has not released one of
 *     them                 → adapter reset: every SRB on every LUN
 *
 * Every SRB is completed to the fabric exactly once: the transition out of
 * HELD/ACTIVE happens under the LUN lock, and a SRB taken back while the
 * miniport still holds it becomes a ZOMBIE whose late vs_port_complete()
 * only drops the miniport's reference.
 */
#include <errno.h>

#include "../util/vs_clock.h"
#include "port_int.h"

#define BATCH 64

static uint64_t tick_now(struct vs_port *port)
{
	return atomic_load_explicit(&port->tick_ms, memory_order_relaxed);
}

void lun_force_complete(struct vs_port_lun *lun, unsigned what, srb_filter_fn filter,
                        const void *arg, uint8_t default_status)
{
	struct vs_port *port = lun->port;
	struct vs_srb *batch[BATCH], *s, *next;
	unsigned n;

	do {
		uint64_t now_ns = vs_now_ns();
		uint32_t settled = 0;
		n = 0;
		pthread_mutex_lock(&lun->lock);
		if (what & FORCE_HELD) {
			for (s = lun->held.head; s && n < BATCH; s = next) {
				next = s->priv.next;
				if (filter && !filter(s, arg))
					continue;
				srb_list_remove(&lun->held, s);
				srb_apply_verdict(s, default_status);
				lun_account_locked(lun, s, now_ns);
				s->priv.state = SRB_DONE;
				batch[n++] = s;
			}
		}
		if (what & FORCE_ACTIVE) {
			for (s = lun->active.head; s && n < BATCH; s = next) {
				next = s->priv.next;
				if (filter && !filter(s, arg))
					continue;
				srb_list_remove(&lun->active, s);
				lun->in_flight--;
				if (s->priv.flags & SRBF_ORDERED)
					lun->ordered_active--;
				if (s->priv.flags & SRBF_ABORT_REQ)
					settled++;      /* counted down after done() */
				srb_apply_verdict(s, default_status);
				lun_account_locked(lun, s, now_ns);
				/* the miniport still holds it: park until its late completion */
				s->priv.state = SRB_ZOMBIE;
				s->priv.escalation = ESC_LUN_RESET;
				s->priv.deadline_ns = tick_now(port) + port->abort_timeout_ms;
				srb_list_append(&lun->zombies, s);
				batch[n++] = s;
			}
		}
		if (lun->waiters)
			pthread_cond_broadcast(&lun->drain_cv);
		pthread_mutex_unlock(&lun->lock);
		/* the fabric's reference keeps each SRB alive until its done() */
		for (unsigned i = 0; i < n; i++)
			batch[i]->done(batch[i]);
		if (settled)
			lun_abort_settled(lun, settled);
	} while (n == BATCH);
}

uint32_t lun_mark_abort(struct vs_port_lun *lun, srb_filter_fn filter, const void *arg,
                        uint8_t flag, unsigned how)
{
	struct vs_port *port = lun->port;
	bool call_abort_srb = how & MARK_CALL_ABORT_SRB;
	/* the timer escalates a marked SRB still there at its deadline */
	uint64_t deadline = (how & MARK_NO_ESCALATION) ? UINT64_MAX
	                  : tick_now(port) + port->abort_timeout_ms;
	struct vs_srb *batch[BATCH], *s;
	uint32_t total = 0;
	unsigned n;
	void *lext;

	do {
		n = 0;
		pthread_mutex_lock(&lun->lock);
		lext = lun->ext;
		for (s = lun->active.head; s && n < BATCH; s = s->priv.next) {
			if (s->priv.flags & SRBF_ABORT_REQ)
				continue;       /* already being taken back */
			if (filter && !filter(s, arg))
				continue;
			s->priv.flags |= SRBF_ABORT_REQ | flag;
			s->priv.escalation = ESC_ABORT_SENT;
			s->priv.deadline_ns = deadline;
			lun->abort_pending++;
			total++;
			if (call_abort_srb && port->mp->abort_srb) {
				srb_ref(s);     /* keep it valid while unlocked */
				batch[n++] = s;
			}
		}
		pthread_mutex_unlock(&lun->lock);
		for (unsigned i = 0; i < n; i++) {
			/* may race with the SRB's normal completion; the miniport
			 * must treat an SRB it no longer has as a no-op */
			port->mp->abort_srb(port->adapter_ext, lext, batch[i]);
			srb_unref(batch[i]);
		}
	} while (n == BATCH);
	return total;
}

enum wait_for { WAIT_ABORTS, WAIT_ZOMBIES, WAIT_IDLE };

/* lun->lock held */
static bool lun_settled(const struct vs_port_lun *lun, enum wait_for what)
{
	switch (what) {
	case WAIT_ABORTS:  return lun->abort_pending == 0;
	case WAIT_ZOMBIES: return lun->zombies.n == 0;
	default:           return lun->active.n == 0;
	}
}

static bool lun_wait_cond(struct vs_port_lun *lun, uint32_t ms, enum wait_for what)
{
	struct timespec dl = vs_deadline_after_ms(ms);
	bool ok;

	pthread_mutex_lock(&lun->lock);
	lun->waiters++;
	while (!(ok = lun_settled(lun, what)))
		if (pthread_cond_timedwait(&lun->drain_cv, &lun->lock, &dl) == ETIMEDOUT) {
			ok = lun_settled(lun, what);
			break;
		}
	lun->waiters--;
	pthread_mutex_unlock(&lun->lock);
	return ok;
}

bool lun_wait_abort(struct vs_port_lun *lun, uint32_t ms)
{
	return lun_wait_cond(lun, ms, WAIT_ABORTS);
}

bool lun_wait_zombies(struct vs_port_lun *lun, uint32_t ms)
{
	return lun_wait_cond(lun, ms, WAIT_ZOMBIES);
}

bool lun_wait_idle(struct vs_port_lun *lun, uint32_t ms)
{
	return lun_wait_cond(lun, ms, WAIT_IDLE);
}

uint32_t port_takeback_ms(const struct vs_port *port)
{
	return port->timeout_ms + 2 * port->abort_timeout_ms + 4 * PORT_TICK_MS;
}

/* ---------------- timer ---------------- */

static bool filter_expired(const struct vs_srb *s, const void *arg)
{
	return s->priv.escalation == ESC_NONE && s->priv.deadline_ns <= *(const uint64_t *)arg;
}

/* lun_lock held */
static void timer_lun_reset(struct vs_port *port, struct vs_port_lun *lun)
{
	if (atomic_load(&lun->state) != LUN_ACTIVE)
		return;
	lun_force_complete(lun, FORCE_HELD | FORCE_ACTIVE, NULL, NULL, VS_SRB_BUS_RESET);
	pthread_mutex_lock(&lun->lock);
	lun->st.resets++;
	pthread_mutex_unlock(&lun->lock);
	if (port->mp->reset)
		port->mp->reset(port->adapter_ext, lun->ext, VS_RESET_LUN);
	/* SAM-5 6.3.3: the reset is visible to every initiator */
	ua_all_nexus(lun, ASC_TARGET_RESET_OCCURRED, UINT32_MAX);
}

void port_adapter_reset(struct vs_port *port)
{
	uint32_t hi = atomic_load(&port->lun_hi);

	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		if (!lun || atomic_load(&lun->state) != LUN_ACTIVE)
			continue;
		lun_force_complete(lun, FORCE_HELD | FORCE_ACTIVE, NULL, NULL, VS_SRB_BUS_RESET);
		pthread_mutex_lock(&lun->lock);
		lun->st.resets++;
		/* nothing left to escalate to */
		for (struct vs_srb *s = lun->zombies.head; s; s = s->priv.next)
			s->priv.escalation = ESC_FINAL;
		pthread_mutex_unlock(&lun->lock);
	}
	if (port->mp->reset)
		port->mp->reset(port->adapter_ext, NULL, VS_RESET_ADAPTER);
	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		if (lun && atomic_load(&lun->state) == LUN_ACTIVE)
			ua_all_nexus(lun, ASC_POWER_ON_RESET_OR_BUS_RESET, UINT32_MAX);
	}
}

/* An aborted SRB still ACTIVE past its abort deadline */
static bool lun_needs_reset(struct vs_port_lun *lun, uint64_t now)
{
	bool reset = false;

	pthread_mutex_lock(&lun->lock);
	for (struct vs_srb *s = lun->active.head; s && !reset; s = s->priv.next)
		reset = s->priv.escalation == ESC_ABORT_SENT && s->priv.deadline_ns <= now;
	pthread_mutex_unlock(&lun->lock);
	return reset;
}

static void timer_scan(struct vs_port *port, uint64_t now)
{
	uint32_t hi = atomic_load(&port->lun_hi);
	bool adapter = false;

	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		bool expired = false, reset = false, held_expired = false;

		if (!lun || atomic_load(&lun->state) != LUN_ACTIVE)
			continue;
		pthread_mutex_lock(&lun->lock);
		for (struct vs_srb *s = lun->held.head; s && !held_expired; s = s->priv.next)
			held_expired = s->priv.deadline_ns <= now;
		for (struct vs_srb *s = lun->active.head; s; s = s->priv.next) {
			if (s->priv.deadline_ns > now)
				continue;
			if (s->priv.escalation == ESC_NONE)
				expired = true;
			else if (s->priv.escalation == ESC_ABORT_SENT)
				reset = true;
		}
		for (struct vs_srb *s = lun->zombies.head; s; s = s->priv.next)
			if (s->priv.escalation == ESC_LUN_RESET && s->priv.deadline_ns <= now)
				adapter = true;
		pthread_mutex_unlock(&lun->lock);

		/* never reached the miniport: nothing to abort, answer now */
		if (held_expired)
			lun_force_complete(lun, FORCE_HELD, filter_expired, &now, VERDICT_TIMEOUT_HELD);
		if (expired)
			lun_mark_abort(lun, filter_expired, &now, SRBF_TIMED_OUT, MARK_CALL_ABORT_SRB);
		if (reset) {
			pthread_mutex_lock(&port->lun_lock);
			/* a TMF holding lun_lock may have taken them back while we
			 * waited: a reset nobody needs would abort everyone's tasks */
			if (lun_needs_reset(lun, now))
				timer_lun_reset(port, lun);
			pthread_mutex_unlock(&port->lun_lock);
			lun_dispatch(lun);
		}
	}
	if (adapter) {
		pthread_mutex_lock(&port->lun_lock);
		port_adapter_reset(port);
		pthread_mutex_unlock(&port->lun_lock);
		port_dispatch_all(port);
	}
}

void *port_timer_main(void *arg)
{
	struct vs_port *port = arg;

	pthread_mutex_lock(&port->timer_mu);
	while (!port->timer_stop) {
		struct timespec dl = vs_deadline_after_ms(PORT_TICK_MS);
		pthread_cond_timedwait(&port->timer_cv, &port->timer_mu, &dl);
		if (port->timer_stop)
			break;
		pthread_mutex_unlock(&port->timer_mu);

		uint64_t now = vs_now_coarse_ms();
		atomic_store(&port->tick_ms, now);
		if ((atomic_load(&port->hold) & PORT_HOLD_PAUSED) &&
		    now >= atomic_load(&port->pause_until_ms))
			vs_port_resume(port);
		timer_scan(port, now);

		pthread_mutex_lock(&port->timer_mu);
	}
	pthread_mutex_unlock(&port->timer_mu);
	return NULL;
}
