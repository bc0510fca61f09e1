/* SPDX-License-Identifier: MIT */
/*
 * LUN plug-and-play: arrival (lun_attach), departure (lun_detach, with or
 * without force), lun_control pass-through and the LUN inventory.
 *
 * A LUN slot (struct vs_port_lun) and its queues (queue.c) are allocated
 * the first time its number is used and live until vs_port_destroy; only
 * the miniport's extension comes and goes.  So the lock-free lookup on the
 * I/O path never sees freed memory, and a miniport's late completion after
 * a forced removal is still safe.
 *
 * A LUN changes state with every queue lock of it held (vs_lun_lock_all), so
 * a submit that saw it ACTIVE under its queue lock has queued its SRB
 * before the change, and every one after it sees the new state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/vs_clock.h"
#include "port_int.h"

static struct vs_port_lun *lun_slot_get_or_alloc(struct vs_port *port, uint64_t n)
{
	struct vs_port_lun *lun = port_lun_slot(port, n);

	if (lun)
		return lun;
	if (posix_memalign((void **)&lun, 64, sizeof(*lun)))
		return NULL;
	memset(lun, 0, sizeof(*lun));
	if (vs_lun_queues_init(lun)) {
		free(lun);
		return NULL;
	}
	lun->port = port;
	lun->number = n;
	atomic_store(&lun->state, LUN_ABSENT);
	atomic_store_explicit(&port->luns[n], lun, memory_order_release);
	if (n + 1 > atomic_load(&port->lun_hi))
		atomic_store(&port->lun_hi, (uint32_t)(n + 1));
	return lun;
}

void vs_port_lun_slot_free(struct vs_port_lun *lun)
{
	vs_lun_queues_free(lun);
	free(lun);
}

/* Every open nexus has a queue on the LUN (nexus_lock held). */
static int lun_queues_for_open_nexuses(struct vs_port *port, struct vs_port_lun *lun)
{
	for (uint32_t id = 0; id < port->nexus_cap; id++)
		if (port->nexus[id] && vs_lun_queue_ensure(lun, id))
			return -ENOMEM;
	return 0;
}

/* All queue locks held: a fresh LUN, no unit attention, no user, no
 * statistics yet. */
static void lun_reset_queues_locked(struct vs_port_lun *lun)
{
	uint32_t nq = vs_lun_queue_count(lun);

	for (uint32_t i = 0; i < nq; i++) {
		struct port_queue *q = lun_queue_at(lun, i);

		if (!q)
			continue;
		vs_ua_forget_locked(q);
		memset(&q->st, 0, sizeof(q->st));
	}
}

static int lun_add(struct vs_port *port, const struct port_mp *m, uint64_t n,
                   const void *lun_config)
{
	struct vs_port_lun *lun;
	void *ext;
	int rc;

	if (n >= port->max_luns) {
		vs_set_error("lun: %llu out of range (max %u)", (unsigned long long)n,
		             port->max_luns - 1);
		return -EINVAL;
	}
	pthread_mutex_lock(&port->lun_lock);
	lun = lun_slot_get_or_alloc(port, n);
	if (!lun) {
		pthread_mutex_unlock(&port->lun_lock);
		vs_set_error("lun: out of memory");
		return -ENOMEM;
	}
	if (atomic_load(&lun->state) != LUN_ABSENT) {
		pthread_mutex_unlock(&port->lun_lock);
		vs_set_error("lun: %llu already exists", (unsigned long long)n);
		return -EEXIST;
	}
	/* Queues for the nexuses already open come first: once the miniport
	 * attached, nothing may fail. */
	pthread_mutex_lock(&port->nexus_lock);
	rc = lun_queues_for_open_nexuses(port, lun);
	pthread_mutex_unlock(&port->nexus_lock);
	if (rc) {
		pthread_mutex_unlock(&port->lun_lock);
		vs_set_error("lun: out of memory");
		return rc;
	}
	ext = calloc(1, m->mp->lun_extension_size ? m->mp->lun_extension_size : 1);
	if (!ext) {
		pthread_mutex_unlock(&port->lun_lock);
		vs_set_error("lun: out of memory");
		return -ENOMEM;
	}
	/* a new logical unit: D_SENSE 0 until its miniport says otherwise
	 * (SPC-4 7.5.8 default), whatever the LUN of this number had */
	atomic_store(&lun->sense_desc, false);
	rc = m->mp->lun_attach(m->adapter_ext, lun, ext, lun_config);
	if (rc) {
		free(ext);
		pthread_mutex_unlock(&port->lun_lock);
		return rc < 0 ? rc : -EIO;
	}

	/* Make it visible with every open nexus' POWER ON condition in place
	 * (a nexus opened since the queues were made has its queue: nexus
	 * open makes one on every LUN slot) */
	pthread_mutex_lock(&port->nexus_lock);
	vs_lun_lock_all(lun);
	lun->ext = ext;
	lun->mp = m->mp;
	atomic_store_explicit(&lun->has_buffer_get, VS_MINIPORT_HAS(m->mp, buffer_get),
	                      memory_order_relaxed);
	lun->aext = m->adapter_ext;
	lun->depth = port->queue_depth;
	atomic_store(&lun->busy, false);
	atomic_store(&lun->busy_remaining, 0);
	atomic_store(&lun->paused, false);
	atomic_store(&lun->resets, 0);
	lun_reset_queues_locked(lun);
	for (uint32_t id = 0; id < port->nexus_cap; id++) {
		struct port_queue *q = port->nexus[id] ? lun_queue(lun, id + 1) : NULL;
		if (q && !port->inner)
			vs_ua_add_locked(q, ASC_POWER_ON_RESET_OR_BUS_RESET);
	}
	atomic_store(&lun->state, LUN_ACTIVE);
	vs_lun_unlock_all(lun);
	pthread_mutex_unlock(&port->nexus_lock);
	pthread_mutex_unlock(&port->lun_lock);

	vs_port_bus_changed(port);
	return 0;
}

int vs_port_lun_add(struct vs_port *port, uint64_t n, const void *lun_config)
{
	if (!port_arg(port, "lun_add: port"))
		return -EINVAL;
	return lun_add(port, &port->mps[0], n, lun_config);
}

int vs_port_lun_add_to(struct vs_port *port, const struct vs_miniport *mp, uint64_t n,
                       const void *lun_config)
{
	if (!port_arg(port, "lun_add: port") || !port_arg(mp, "lun_add: miniport"))
		return -EINVAL;
	for (uint32_t i = 0; i < port_nmp(port); i++)
		if (port->mps[i].mp == mp)
			return lun_add(port, &port->mps[i], n, lun_config);
	vs_set_error("lun_add: miniport %s is not registered with %s", mp->name, port->name);
	return -ENOENT;
}

/* All queue locks held: an SRB held, active or not yet released by the
 * miniport anywhere on the LUN */
static bool lun_outstanding_locked(struct vs_port_lun *lun)
{
	uint32_t nq = vs_lun_queue_count(lun);

	for (uint32_t i = 0; i < nq; i++) {
		struct port_queue *q = lun_queue_at(lun, i);

		if (q && (q->in_flight || q->held.n || q->zombies.n))
			return true;
	}
	return false;
}

static bool filter_all(const struct vs_srb *srb, const void *arg)
{
	(void)srb;
	(void)arg;
	return true;
}

static void lun_drain_forced(struct vs_port *port, struct vs_port_lun *lun)
{
	uint32_t t = port->abort_timeout_ms;

	/* 1. what never reached the miniport is answered at once */
	vs_lun_force_complete(lun, NULL, FORCE_HELD, NULL, NULL, VS_SRB_NO_DEVICE);
	/* 2. ask the miniport to abort what it has */
	if (vs_lun_mark_abort(lun, NULL, filter_all, NULL, SRBF_GONE, MARK_CALL_ABORT_SRB) == 0)
		return;
	if (vs_lun_wait_abort(lun, NULL, t))
		return;
	/* 3. still there: LUN reset */
	if (lun->mp->reset)
		lun->mp->reset(lun->aext, lun->ext, VS_RESET_LUN);
	atomic_fetch_add(&lun->resets, 1);
	if (vs_lun_wait_abort(lun, NULL, t))
		return;
	/* 4. give them back to the initiator now; the miniport's late
	 * completions only release them */
	vs_lun_force_complete(lun, NULL, FORCE_ACTIVE, NULL, NULL, VS_SRB_NO_DEVICE);
}

int vs_port_lun_remove(struct vs_port *port, uint64_t n, bool force)
{
	struct vs_port_lun *lun;
	char why[200] = "";
	int detach_rc = 0;
	void *ext;

	if (!port_arg(port, "lun_remove: port"))
		return -EINVAL;
	pthread_mutex_lock(&port->lun_lock);
	lun = port_lun_slot(port, n);
	if (!lun || atomic_load(&lun->state) != LUN_ACTIVE) {
		pthread_mutex_unlock(&port->lun_lock);
		vs_set_error("lun: %llu does not exist", (unsigned long long)n);
		return -ENOENT;
	}
	if (!force) {
		bool in_use = false;

		if (lun->mp->lun_control &&
		    lun->mp->lun_control(lun->aext, lun->ext, VS_LUN_IN_USE, &in_use) == 0 &&
		    in_use) {
			pthread_mutex_unlock(&port->lun_lock);
			vs_set_error("lun: %llu is in use (reservation held)", (unsigned long long)n);
			return -EBUSY;
		}
		/* checked and changed with every queue held still: no SRB can
		 * slip in between */
		pthread_mutex_lock(&port->nexus_lock);
		vs_lun_lock_all(lun);
		if (lun_outstanding_locked(lun)) {
			vs_lun_unlock_all(lun);
			pthread_mutex_unlock(&port->nexus_lock);
			pthread_mutex_unlock(&port->lun_lock);
			vs_set_error("lun: %llu has outstanding commands", (unsigned long long)n);
			return -EBUSY;
		}
		atomic_store(&lun->state, LUN_REMOVING);
		vs_lun_unlock_all(lun);
		pthread_mutex_unlock(&port->nexus_lock);
	} else {
		pthread_mutex_lock(&port->nexus_lock);
		vs_lun_lock_all(lun);
		atomic_store(&lun->state, LUN_REMOVING);  /* new SRBs: LOGICAL UNIT NOT SUPPORTED */
		vs_lun_unlock_all(lun);
		pthread_mutex_unlock(&port->nexus_lock);
		lun_drain_forced(port, lun);
		/* the miniport should now let go of what it still holds */
		vs_lun_wait_zombies(lun, port->abort_timeout_ms);
	}

	ext = lun->ext;
	if (VS_MINIPORT_HAS(lun->mp, lun_detach_checked)) {
		detach_rc = lun->mp->lun_detach_checked(lun->aext, ext);
		if (detach_rc < 0)
			snprintf(why, sizeof(why), "%s", vs_last_error());
	} else {
		lun->mp->lun_detach(lun->aext, ext);
	}
	pthread_mutex_lock(&port->nexus_lock);
	vs_lun_lock_all(lun);
	lun->ext = NULL;
	lun_reset_queues_locked(lun);
	atomic_store(&lun->state, LUN_ABSENT);
	vs_lun_unlock_all(lun);
	pthread_mutex_unlock(&port->nexus_lock);
	free(ext);
	pthread_mutex_unlock(&port->lun_lock);

	vs_port_bus_changed(port);
	if (detach_rc < 0) {
		/* gone all the same; the caller learns the data may not be safe */
		vs_set_error("lun: %llu removed, but %s", (unsigned long long)n, why);
		return -EIO;
	}
	return 0;
}

int vs_port_lun_control(struct vs_port *port, uint64_t n, enum vs_lun_control_type type,
                        void *arg)
{
	struct vs_port_lun *lun;
	int rc;

	if (!port_arg(port, "lun_control: port"))
		return -EINVAL;
	pthread_mutex_lock(&port->lun_lock);
	lun = port_lun_slot(port, n);
	if (!lun || atomic_load(&lun->state) != LUN_ACTIVE) {
		pthread_mutex_unlock(&port->lun_lock);
		vs_set_error("lun: %llu does not exist", (unsigned long long)n);
		return -ENOENT;
	}
	if (!lun->mp->lun_control) {
		pthread_mutex_unlock(&port->lun_lock);
		vs_set_error("lun_control: not supported by miniport %s", lun->mp->name);
		return -EOPNOTSUPP;
	}
	rc = lun->mp->lun_control(lun->aext, lun->ext, type, arg);
	pthread_mutex_unlock(&port->lun_lock);
	return rc;
}

int vs_port_lun_users(struct vs_port *port, uint64_t n)
{
	struct vs_port_lun *lun;
	int users = 0;

	if (!port_arg(port, "lun_users: port"))
		return -EINVAL;
	lun = port_lun_slot(port, n);
	if (!lun || atomic_load(&lun->state) != LUN_ACTIVE) {
		vs_set_error("lun: %llu does not exist", (unsigned long long)n);
		return -ENOENT;
	}
	pthread_mutex_lock(&port->nexus_lock);
	for (uint32_t id = 0; id < port->nexus_cap; id++) {
		struct port_queue *q = port->nexus[id] ? lun_queue(lun, id + 1) : NULL;

		if (!q)
			continue;
		pthread_mutex_lock(&q->lock);
		users += q->ua.used;
		pthread_mutex_unlock(&q->lock);
	}
	pthread_mutex_unlock(&port->nexus_lock);
	return users;
}

size_t vs_port_lun_list(struct vs_port *port, uint64_t *luns, size_t max)
{
	uint32_t hi;
	size_t n = 0;

	if (!port_arg(port, "lun_list: port") || (max && !port_arg(luns, "lun_list: luns")))
		return 0;
	hi = atomic_load(&port->lun_hi);
	for (uint32_t i = 0; i < hi && n < max; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		if (lun && atomic_load(&lun->state) == LUN_ACTIVE)
			luns[n++] = i;
	}
	return n;
}

uint64_t vs_port_lun_number(const struct vs_port_lun *lun)
{
	return port_arg(lun, "lun_number: lun") ? lun->number : UINT64_MAX;
}

struct vs_port *vs_port_lun_port(const struct vs_port_lun *lun)
{
	return port_arg(lun, "lun_port: lun") ? lun->port : NULL;
}

/* StorPortBusy: hold new SRBs until `requests_to_complete` outstanding ones
 * complete (0: until vs_port_ready). */
void vs_port_busy(struct vs_port_lun *lun, uint32_t requests_to_complete)
{
	if (!port_arg(lun, "busy: lun"))
		return;
	/* the count first: a completion that sees busy counts it down */
	atomic_store(&lun->busy_remaining, requests_to_complete);
	atomic_store(&lun->busy, true);
}

/*
 * StorPortPauseDevice / StorPortResumeDevice: the resource behind one LUN
 * is away (a remote server restarting).  New SRBs wait in their queues,
 * and the SRBs already with the miniport are not timed out into aborts
 * and LUN and adapter resets while the LUN is paused: the miniport keeps
 * them and answers them once the resource is back, or when its own hold
 * ends.  The pause ends by resume or after timeout_ms, whichever comes
 * first; every SRB of the LUN then gets its full timeout again, counted
 * from that moment (time spent paused is not the command's fault).
 */
void vs_port_lun_pause(struct vs_port_lun *lun, uint32_t timeout_ms)
{
	if (!port_arg(lun, "lun_pause: lun"))
		return;
	atomic_store(&lun->pause_until_ms, vs_now_coarse_ms() + timeout_ms);
	atomic_store(&lun->paused, true);
}

/* Every held and active SRB of q: a fresh deadline from now. */
static void refresh_deadlines(struct port_queue *q, void *arg)
{
	uint64_t dl = *(const uint64_t *)arg;
	struct srb_list *lists[] = { &q->held, &q->active };

	for (size_t i = 0; i < 2; i++)
		for (struct vs_srb *s = lists[i]->head; s; s = s->priv.next)
			if (s->priv.escalation == ESC_NONE && s->priv.deadline_ns < dl)
				s->priv.deadline_ns = dl;
}

static void lun_unpause(struct vs_port_lun *lun)
{
	uint64_t dl;

	if (!atomic_exchange(&lun->paused, false))
		return;
	/* the shortest timeout any SRB can have is the port's default; a
	 * command with its own longer one keeps whatever is later */
	dl = vs_now_coarse_ms() + lun->port->timeout_ms;
	vs_lun_each_queue(lun, refresh_deadlines, &dl);
	vs_lun_dispatch(lun);
}

void vs_port_lun_resume(struct vs_port_lun *lun)
{
	if (port_arg(lun, "lun_resume: lun"))
		lun_unpause(lun);
}

void vs_lun_pause_expire(struct vs_port_lun *lun, uint64_t now_ms)
{
	if (atomic_load(&lun->paused) && now_ms >= atomic_load(&lun->pause_until_ms))
		lun_unpause(lun);
}

bool vs_port_lun_paused(const struct vs_port_lun *lun)
{
	return lun && atomic_load(&lun->paused);
}

void vs_port_ready(struct vs_port_lun *lun)
{
	if (!port_arg(lun, "ready: lun"))
		return;
	atomic_store(&lun->busy, false);
	atomic_store(&lun->busy_remaining, 0);
	vs_lun_dispatch(lun);
}
