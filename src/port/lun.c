/* SPDX-License-Identifier: MIT */
/*
 * LUN plug-and-play: arrival (lun_attach), departure (lun_detach, with or
 * without force), lun_control pass-through and the LUN inventory.
 *
 * A LUN slot (struct vs_port_lun) is allocated the first time its number is
 * used and lives until vs_port_destroy; only the miniport's extension comes
 * and goes.  So the lock-free lookup on the I/O path never sees freed memory,
 * and a miniport's late completion after a forced removal is still safe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/vs_cond.h"
#include "port_int.h"

static struct vs_port_lun *lun_slot_get_or_alloc(struct vs_port *port, uint64_t n)
{
	struct vs_port_lun *lun = port_lun_slot(port, n);

	if (lun)
		return lun;
	lun = calloc(1, sizeof(*lun));
	if (!lun)
		return NULL;
	pthread_mutex_init(&lun->lock, NULL);
	if (vs_cond_init_monotonic(&lun->drain_cv)) {
		pthread_mutex_destroy(&lun->lock);
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

void port_lun_slot_free(struct vs_port_lun *lun)
{
	pthread_cond_destroy(&lun->drain_cv);
	pthread_mutex_destroy(&lun->lock);
	free(lun->ua);
	free(lun);
}

int vs_port_lun_add(struct vs_port *port, uint64_t n, const void *lun_config)
{
	struct vs_port_lun *lun;
	void *ext;
	int rc;

	if (!port_arg(port, "lun_add: port"))
		return -EINVAL;
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
	ext = calloc(1, port->mp->lun_extension_size ? port->mp->lun_extension_size : 1);
	if (!ext) {
		pthread_mutex_unlock(&port->lun_lock);
		vs_set_error("lun: out of memory");
		return -ENOMEM;
	}
	rc = port->mp->lun_attach(port->adapter_ext, lun, ext, lun_config);
	if (rc) {
		free(ext);
		pthread_mutex_unlock(&port->lun_lock);
		return rc < 0 ? rc : -EIO;
	}

	/* Make it visible with every open nexus' POWER ON condition in place */
	pthread_mutex_lock(&port->nexus_lock);
	pthread_mutex_lock(&lun->lock);
	lun->ext = ext;
	lun->depth = port->queue_depth;
	lun->busy = false;
	lun->busy_remaining = 0;
	memset(&lun->st, 0, sizeof(lun->st));
	for (uint32_t i = 0; i < lun->ua_cap; i++) {
		lun->ua[i].n = 0;
		lun->ua[i].used = false;
	}
	lun->ua_nonempty = 0;
	for (uint32_t id = 0; id < port->nexus_cap; id++)
		if (port->nexus[id])
			ua_add_locked(lun, id, ASC_POWER_ON_RESET_OR_BUS_RESET);
	atomic_store(&lun->state, LUN_ACTIVE);
	pthread_mutex_unlock(&lun->lock);
	pthread_mutex_unlock(&port->nexus_lock);
	pthread_mutex_unlock(&port->lun_lock);

	vs_port_bus_changed(port);
	return 0;
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
	lun_force_complete(lun, FORCE_HELD, NULL, NULL, VS_SRB_NO_DEVICE);
	/* 2. ask the miniport to abort what it has */
	if (lun_mark_abort(lun, filter_all, NULL, SRBF_GONE, MARK_CALL_ABORT_SRB) == 0)
		return;
	if (lun_wait_abort(lun, t))
		return;
	/* 3. still there: LUN reset */
	if (port->mp->reset)
		port->mp->reset(port->adapter_ext, lun->ext, VS_RESET_LUN);
	pthread_mutex_lock(&lun->lock);
	lun->st.resets++;
	pthread_mutex_unlock(&lun->lock);
	if (lun_wait_abort(lun, t))
		return;
	/* 4. give them back to the initiator now; the miniport's late
	 * completions only release them */
	lun_force_complete(lun, FORCE_ACTIVE, NULL, NULL, VS_SRB_NO_DEVICE);
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

		if (port->mp->lun_control &&
		    port->mp->lun_control(port->adapter_ext, lun->ext, VS_LUN_IN_USE, &in_use) == 0 &&
		    in_use) {
			pthread_mutex_unlock(&port->lun_lock);
			vs_set_error("lun: %llu is in use (reservation held)", (unsigned long long)n);
			return -EBUSY;
		}
		pthread_mutex_lock(&lun->lock);
		if (lun->in_flight || lun->held.n || lun->zombies.n) {
			pthread_mutex_unlock(&lun->lock);
			pthread_mutex_unlock(&port->lun_lock);
			vs_set_error("lun: %llu has outstanding commands", (unsigned long long)n);
			return -EBUSY;
		}
		atomic_store(&lun->state, LUN_REMOVING);
		pthread_mutex_unlock(&lun->lock);
	} else {
		pthread_mutex_lock(&lun->lock);
		atomic_store(&lun->state, LUN_REMOVING);  /* new SRBs: LOGICAL UNIT NOT SUPPORTED */
		pthread_mutex_unlock(&lun->lock);
		lun_drain_forced(port, lun);
		/* the miniport should now let go of what it still holds */
		lun_wait_zombies(lun, port->abort_timeout_ms);
	}

	ext = lun->ext;
	if (VS_MINIPORT_HAS(port->mp, lun_detach_checked)) {
		detach_rc = port->mp->lun_detach_checked(port->adapter_ext, ext);
		if (detach_rc < 0)
			snprintf(why, sizeof(why), "%s", vs_last_error());
	} else {
		port->mp->lun_detach(port->adapter_ext, ext);
	}
	pthread_mutex_lock(&lun->lock);
	lun->ext = NULL;
	for (uint32_t i = 0; i < lun->ua_cap; i++) {
		lun->ua[i].n = 0;
		lun->ua[i].used = false;
	}
	lun->ua_nonempty = 0;
	atomic_store(&lun->state, LUN_ABSENT);
	pthread_mutex_unlock(&lun->lock);
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
	if (!port->mp->lun_control) {
		pthread_mutex_unlock(&port->lun_lock);
		vs_set_error("lun_control: not supported by miniport %s", port->mp->name);
		return -EOPNOTSUPP;
	}
	rc = port->mp->lun_control(port->adapter_ext, lun->ext, type, arg);
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
	pthread_mutex_lock(&lun->lock);
	for (uint32_t id = 0; id < port->nexus_cap && id < lun->ua_cap; id++)
		users += port->nexus[id] && lun->ua[id].used;
	pthread_mutex_unlock(&lun->lock);
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
	pthread_mutex_lock(&lun->lock);
	lun->busy = true;
	lun->busy_remaining = requests_to_complete;
	pthread_mutex_unlock(&lun->lock);
}

void vs_port_ready(struct vs_port_lun *lun)
{
	if (!port_arg(lun, "ready: lun"))
		return;
	pthread_mutex_lock(&lun->lock);
	lun->busy = false;
	lun->busy_remaining = 0;
	pthread_mutex_unlock(&lun->lock);
	lun_dispatch(lun);
}
