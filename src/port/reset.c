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
 * HELD/ACTIVE happens under its queue's lock, and a SRB taken back while
 * the miniport still holds it becomes a ZOMBIE whose late
 * vs_port_complete() only drops the miniport's reference.
 *
 * A LUN-wide step walks the LUN's queues one at a time, each under its own
 * lock (queue.c); a step for one nexus's tasks touches that nexus's queue
 * alone (`only`).  The timer looks at every queue each tick.
 */
#include <errno.h>

#include "../util/vs_clock.h"
#include "port_int.h"
#include "start.h"

#define BATCH 64

static uint64_t tick_now(struct vs_port *port)
{
	return atomic_load_explicit(&port->tick_ms, memory_order_relaxed);
}

/* One queue: see vs_lun_force_complete.  Kicks the queue afterwards when it
 * took held SRBs (the head changed; a starved queue may be empty now). */
static uint32_t queue_force_complete(struct port_queue *q, unsigned what, srb_filter_fn filter,
                                     const void *arg, uint8_t default_status)
{
	struct vs_port *port = q->lun->port;
	struct vs_srb *batch[BATCH], *s, *next;
	unsigned n;
	uint32_t total = 0;
	bool took_held = false;

	do {
		uint64_t now_ns = vs_now_ns();
		uint32_t settled = 0, slots = 0;
		n = 0;
		pthread_mutex_lock(&q->lock);
		if (what & FORCE_HELD) {
			for (s = q->held.head; s && n < BATCH; s = next) {
				next = s->priv.next;
				if (filter && !filter(s, arg))
					continue;
				srb_list_remove(&q->held, s);
				vs_srb_apply_verdict(s, default_status);
				vs_queue_account_locked(q, s, now_ns);
				s->priv.state = SRB_DONE;
				batch[n++] = s;
				took_held = true;
			}
		}
		if (what & FORCE_ACTIVE) {
			for (s = q->active.head; s && n < BATCH; s = next) {
				next = s->priv.next;
				if (filter && !filter(s, arg))
					continue;
				srb_list_remove(&q->active, s);
				q->in_flight--;
				if (s->priv.flags & SRBF_ORDERED)
					q->ordered_active--;
				if (s->priv.flags & SRBF_ABORT_REQ)
					settled++;      /* counted down after done() */
				if (s->priv.flags & SRBF_SLOT)
					slots++;        /* the depth slot goes with it */
				s->priv.flags &= (uint8_t)~SRBF_SLOT;
				vs_srb_apply_verdict(s, default_status);
				vs_queue_account_locked(q, s, now_ns);
				/* the miniport still holds it: park until its late completion */
				s->priv.state = SRB_ZOMBIE;
				s->priv.escalation = ESC_LUN_RESET;
				s->priv.deadline_ns = tick_now(port) + port->abort_timeout_ms;
				srb_list_append(&q->zombies, s);
				batch[n++] = s;
			}
		}
		if (q->waiters)
			pthread_cond_broadcast(&q->drain_cv);
		pthread_mutex_unlock(&q->lock);
		/* the fabric's reference keeps each SRB alive until its done() */
		for (unsigned i = 0; i < n; i++)
			batch[i]->done(batch[i]);
		total += n;
		if (settled)
			vs_queue_abort_settled(q, settled);
		if (slots)
			slot_release(q->lun, slots);
	} while (n == BATCH);
	if (took_held)
		vs_queue_kick(q);
	return total;
}

uint32_t vs_lun_force_complete(struct vs_port_lun *lun, struct port_queue *only, unsigned what,
                            srb_filter_fn filter, const void *arg, uint8_t default_status)
{
	uint32_t nq = only ? 1 : vs_lun_queue_count(lun), total = 0;

	for (uint32_t i = 0; i < nq; i++) {
		struct port_queue *q = only ? only : lun_queue_at(lun, i);
		if (q)
			total += queue_force_complete(q, what, filter, arg, default_status);
	}
	return total;
}

static uint32_t queue_mark_abort(struct port_queue *q, srb_filter_fn filter, const void *arg,
                                 uint8_t flag, unsigned how, uint64_t deadline)
{
	const struct vs_miniport *mp = q->lun->mp;
	bool call_abort_srb = how & MARK_CALL_ABORT_SRB;
	struct vs_srb *batch[BATCH], *s;
	uint32_t total = 0;
	unsigned n;
	void *lext;

	do {
		n = 0;
		pthread_mutex_lock(&q->lock);
		lext = q->lun->ext;
		for (s = q->active.head; s && n < BATCH; s = s->priv.next) {
			if (s->priv.flags & SRBF_ABORT_REQ)
				continue;       /* already being taken back */
			if (filter && !filter(s, arg))
				continue;
			s->priv.flags |= SRBF_ABORT_REQ | flag;
			s->priv.escalation = ESC_ABORT_SENT;
			s->priv.deadline_ns = deadline;
			q->abort_pending++;
			total++;
			if (call_abort_srb && mp->abort_srb) {
				vs_srb_ref(s);     /* keep it valid while unlocked */
				batch[n++] = s;
			}
		}
		pthread_mutex_unlock(&q->lock);
		for (unsigned i = 0; i < n; i++) {
			/* may race with the SRB's normal completion; the miniport
			 * must treat an SRB it no longer has as a no-op */
			mp->abort_srb(q->lun->aext, lext, batch[i]);
			vs_srb_unref(batch[i]);
		}
	} while (n == BATCH);
	return total;
}

uint32_t vs_lun_mark_abort(struct vs_port_lun *lun, struct port_queue *only, srb_filter_fn filter,
                        const void *arg, uint8_t flag, unsigned how)
{
	/* the timer escalates a marked SRB still there at its deadline */
	uint64_t deadline = (how & MARK_NO_ESCALATION) ? UINT64_MAX
	                  : tick_now(lun->port) + lun->port->abort_timeout_ms;
	uint32_t nq = only ? 1 : vs_lun_queue_count(lun), total = 0;

	for (uint32_t i = 0; i < nq; i++) {
		struct port_queue *q = only ? only : lun_queue_at(lun, i);
		if (q)
			total += queue_mark_abort(q, filter, arg, flag, how, deadline);
	}
	return total;
}

enum wait_for { WAIT_ABORTS, WAIT_ZOMBIES, WAIT_IDLE };

/* q->lock held */
static bool queue_settled(const struct port_queue *q, enum wait_for what)
{
	switch (what) {
	case WAIT_ABORTS:  return q->abort_pending == 0;
	case WAIT_ZOMBIES: return q->zombies.n == 0;
	default:           return q->active.n == 0;
	}
}

static bool queue_wait_cond(struct port_queue *q, const struct timespec *dl, enum wait_for what)
{
	bool ok;

	pthread_mutex_lock(&q->lock);
	q->waiters++;
	while (!(ok = queue_settled(q, what)))
		if (pthread_cond_timedwait(&q->drain_cv, &q->lock, dl) == ETIMEDOUT) {
			ok = queue_settled(q, what);
			break;
		}
	q->waiters--;
	pthread_mutex_unlock(&q->lock);
	return ok;
}

/*
 * Wait until each queue in scope has settled, all within one deadline.
 * Queue by queue: what the caller waits for (its own marks, or a drain
 * with new SRBs held off) cannot come back to a queue once it settled.
 */
static bool lun_wait_cond(struct vs_port_lun *lun, struct port_queue *only, uint32_t ms,
                          enum wait_for what)
{
	struct timespec dl = vs_deadline_after_ms(ms);
	uint32_t nq = only ? 1 : vs_lun_queue_count(lun);
	bool ok = true;

	for (uint32_t i = 0; i < nq; i++) {
		struct port_queue *q = only ? only : lun_queue_at(lun, i);
		if (q)
			ok &= queue_wait_cond(q, &dl, what);
	}
	return ok;
}

bool vs_lun_wait_abort(struct vs_port_lun *lun, struct port_queue *only, uint32_t ms)
{
	return lun_wait_cond(lun, only, ms, WAIT_ABORTS);
}

bool vs_lun_wait_zombies(struct vs_port_lun *lun, uint32_t ms)
{
	return lun_wait_cond(lun, NULL, ms, WAIT_ZOMBIES);
}

bool vs_lun_wait_idle(struct vs_port_lun *lun, uint32_t ms)
{
	return lun_wait_cond(lun, NULL, ms, WAIT_IDLE);
}

uint32_t vs_port_takeback_ms(const struct vs_port *port)
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
	/* SAM-5 6.3.3: the reset is visible to every initiator.  Raised
	 * before any task comes back, so an initiator that sees its task end
	 * BUS RESET hears of the reset on its next command. */
	if (!port->inner)
		vs_ua_all_nexus(lun, ASC_TARGET_RESET_OCCURRED, UINT32_MAX);
	vs_lun_force_complete(lun, NULL, FORCE_HELD | FORCE_ACTIVE, NULL, NULL, VS_SRB_BUS_RESET);
	atomic_fetch_add(&lun->resets, 1);
	if (lun->mp->reset)
		lun->mp->reset(lun->aext, lun->ext, VS_RESET_LUN);
}

/* after an adapter reset there is nothing left to escalate to */
static void zombies_final(struct port_queue *q, void *arg)
{
	(void)arg;
	for (struct vs_srb *s = q->zombies.head; s; s = s->priv.next)
		s->priv.escalation = ESC_FINAL;
}

void vs_port_adapter_reset(struct vs_port *port)
{
	uint32_t hi = atomic_load(&port->lun_hi);

	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);

		if (!lun || atomic_load(&lun->state) != LUN_ACTIVE)
			continue;
		/* first, as for a LUN reset (timer_lun_reset) */
		if (!port->inner)
			vs_ua_all_nexus(lun, ASC_POWER_ON_RESET_OR_BUS_RESET, UINT32_MAX);
		vs_lun_force_complete(lun, NULL, FORCE_HELD | FORCE_ACTIVE, NULL, NULL, VS_SRB_BUS_RESET);
		atomic_fetch_add(&lun->resets, 1);
		vs_lun_each_queue(lun, zombies_final, NULL);
	}
	vs_port_reset_all(port, VS_RESET_ADAPTER);
}

/* What the timer found in one queue at `now`. */
struct scan {
	bool held_expired;      /* a held SRB's deadline passed */
	bool expired;           /* an ACTIVE one's: abort it */
	bool reset;             /* an aborted one's abort deadline passed: LUN reset */
	bool adapter;           /* a zombie's LUN reset deadline passed: adapter reset */
};

static void scan_queue(struct port_queue *q, uint64_t now, struct scan *sc)
{
	pthread_mutex_lock(&q->lock);
	for (struct vs_srb *s = q->held.head; s && !sc->held_expired; s = s->priv.next)
		sc->held_expired = s->priv.deadline_ns <= now;
	for (struct vs_srb *s = q->active.head; s; s = s->priv.next) {
		if (s->priv.deadline_ns > now)
			continue;
		if (s->priv.escalation == ESC_NONE)
			sc->expired = true;
		else if (s->priv.escalation == ESC_ABORT_SENT)
			sc->reset = true;
	}
	for (struct vs_srb *s = q->zombies.head; s; s = s->priv.next)
		if (s->priv.escalation == ESC_LUN_RESET && s->priv.deadline_ns <= now)
			sc->adapter = true;
	pthread_mutex_unlock(&q->lock);
}

/* An aborted SRB still ACTIVE past its abort deadline, in any queue */
static bool lun_needs_reset(struct vs_port_lun *lun, uint64_t now)
{
	uint32_t nq = vs_lun_queue_count(lun);
	bool reset = false;

	for (uint32_t k = 0; k < nq && !reset; k++) {
		struct port_queue *q = lun_queue_at(lun, k);
		struct scan sc = { false, false, false, false };

		if (!q)
			continue;
		scan_queue(q, now, &sc);
		reset = sc.reset;
	}
	return reset;
}

static void timer_scan(struct vs_port *port, uint64_t now)
{
	uint32_t hi = atomic_load(&port->lun_hi);
	bool adapter = false;

	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		bool reset = false;
		uint32_t nq;

		if (!lun || atomic_load(&lun->state) != LUN_ACTIVE)
			continue;
		/* paused for a lost resource: nothing of it times out meanwhile */
		vs_lun_pause_expire(lun, now);
		if (atomic_load(&lun->paused))
			continue;
		nq = vs_lun_queue_count(lun);
		for (uint32_t k = 0; k < nq; k++) {
			struct port_queue *q = lun_queue_at(lun, k);
			struct scan sc = { false, false, false, false };

			if (!q)
				continue;
			scan_queue(q, now, &sc);
			/* never reached the miniport: nothing to abort, answer now */
			if (sc.held_expired)
				vs_lun_force_complete(lun, q, FORCE_HELD, filter_expired, &now,
				                   VERDICT_TIMEOUT_HELD);
			if (sc.expired)
				vs_lun_mark_abort(lun, q, filter_expired, &now, SRBF_TIMED_OUT,
				               MARK_CALL_ABORT_SRB);
			reset |= sc.reset;
			adapter |= sc.adapter;
		}
		if (reset) {
			pthread_mutex_lock(&port->lun_lock);
			/* a TMF holding lun_lock may have taken them back while we
			 * waited: a reset nobody needs would abort everyone's tasks */
			if (lun_needs_reset(lun, now))
				timer_lun_reset(port, lun);
			pthread_mutex_unlock(&port->lun_lock);
			vs_lun_dispatch(lun);
		}
	}
	if (adapter) {
		pthread_mutex_lock(&port->lun_lock);
		vs_port_adapter_reset(port);
		pthread_mutex_unlock(&port->lun_lock);
		vs_port_dispatch_all(port);
	}
}

void *vs_port_timer_main(void *arg)
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
