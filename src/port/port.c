/* SPDX-License-Identifier: MIT */
/*
 * Adapter life cycle (Storport: HwFindAdapter, HwInitialize, ...
 * HwFreeAdapterResources), pause/resume, and the port's threads: the
 * request timer, the worker pool and the task management thread.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/vs_clock.h"
#include "../util/vs_cond.h"
#include "port_int.h"

static bool miniport_valid(const struct vs_miniport *mp)
{
	if (!mp) {
		vs_set_error("miniport: NULL");
		return false;
	}
	if (mp->api_version != VS_MINIPORT_API_VERSION) {
		vs_set_error("miniport.api_version: %u, expected %u", mp->api_version,
		             VS_MINIPORT_API_VERSION);
		return false;
	}
	if (mp->struct_size < offsetof(struct vs_miniport, free_adapter) + sizeof(mp->free_adapter)) {
		vs_set_error("miniport.struct_size: %u is too small", mp->struct_size);
		return false;
	}
	if (!mp->find_adapter || !mp->lun_attach || !mp->lun_detach || !mp->start_io) {
		vs_set_error("miniport: find_adapter, lun_attach, lun_detach and start_io are required");
		return false;
	}
	return true;
}

static void any_zombie(struct port_queue *q, void *held)
{
	*(bool *)held |= q->zombies.n > 0;
}

static void port_free(struct vs_port *port)
{
	if (port->luns) {
		uint32_t hi = atomic_load(&port->lun_hi);
		for (uint32_t i = 0; i < hi; i++) {
			struct vs_port_lun *lun = port_lun_slot(port, i);
			bool held = false;

			if (!lun)
				continue;
			vs_lun_each_queue(lun, any_zombie, &held);
			/* A miniport that never gave an SRB back (its backend
			 * stopped answering) may still complete it: that late
			 * vs_port_complete() uses the slot and its queues, so
			 * leave them. */
			if (!held)
				vs_port_lun_slot_free(lun);
		}
		free(port->luns);
	}
	vs_pool_destroy_all(port);
	free(port->nexus);
	free(port->nexus_closing);
	free(port->adapter_ext);
	for (uint32_t i = 1; i < port_nmp(port); i++)
		free(port->mps[i].adapter_ext);
	pthread_mutex_destroy(&port->lun_lock);
	pthread_mutex_destroy(&port->nexus_lock);
	pthread_mutex_destroy(&port->pool_lock);
	pthread_mutex_destroy(&port->event_lock);
	pthread_mutex_destroy(&port->timer_mu);
	pthread_cond_destroy(&port->timer_cv);
	free(port);
}

struct vs_port *vs_port_create(const struct vs_miniport *mp, const struct vs_port_config *cfg,
                               const void *adapter_config)
{
	static const struct vs_port_config defaults;
	struct vs_port *port;
	int rc;

	if (!miniport_valid(mp))
		return NULL;
	if (!cfg)
		cfg = &defaults;
	port = calloc(1, sizeof(*port));
	if (!port) {
		vs_set_error("port: out of memory");
		return NULL;
	}
	port->mp = mp;
	port->inner = cfg->flags & VS_PORT_INNER;
	snprintf(port->name, sizeof(port->name), "%s", cfg->name ? cfg->name : mp->name);
	pthread_mutex_init(&port->lun_lock, NULL);
	pthread_mutex_init(&port->nexus_lock, NULL);
	pthread_mutex_init(&port->pool_lock, NULL);
	pthread_mutex_init(&port->event_lock, NULL);
	pthread_mutex_init(&port->timer_mu, NULL);
	vs_cond_init_monotonic(&port->timer_cv);
	atomic_store(&port->tick_ms, vs_now_coarse_ms());

	port->adapter_ext = calloc(1, mp->adapter_extension_size ? mp->adapter_extension_size : 1);
	if (!port->adapter_ext) {
		vs_set_error("port: out of memory");
		port_free(port);
		return NULL;
	}
	rc = mp->find_adapter(port->adapter_ext, port, adapter_config, &port->caps);
	if (rc) {
		port_free(port);
		return NULL;
	}
	port->mps[0] = (struct port_mp){ .mp = mp, .adapter_ext = port->adapter_ext };

	port->max_luns = port->caps.max_luns && port->caps.max_luns < PORT_MAX_LUNS
	                 ? port->caps.max_luns : PORT_MAX_LUNS;
	port->queue_depth = cfg->queue_depth ? cfg->queue_depth
	                  : port->caps.default_queue_depth ? port->caps.default_queue_depth
	                  : PORT_DEFAULT_DEPTH;
	port->max_held = cfg->max_held ? cfg->max_held : 1024;
	port->max_xfer = port->caps.max_transfer_length ? port->caps.max_transfer_length : UINT32_MAX;
	port->max_sg = port->caps.max_sg_elements && port->caps.max_sg_elements < INT_MAX
	               ? (int)port->caps.max_sg_elements : INT_MAX;
	port->timeout_ms = cfg->default_timeout_ms ? cfg->default_timeout_ms : 30000;
	port->abort_timeout_ms = cfg->abort_timeout_ms ? cfg->abort_timeout_ms : 5000;

	port->luns = calloc(port->max_luns, sizeof(*port->luns));
	if (!port->luns) {
		vs_set_error("port: out of memory");
		goto fail_adapter;
	}
	rc = vs_workq_start(&port->workers, cfg->worker_threads ? cfg->worker_threads : 2,
	                 PORT_WORKQ_MAX);
	if (!rc)
		rc = vs_workq_start(&port->tmfq, 1, PORT_WORKQ_MAX);
	if (rc) {
		vs_set_error("port.worker_threads: cannot start threads (%d)", rc);
		goto fail_threads;
	}
	if (mp->initialize && (rc = mp->initialize(port->adapter_ext)) != 0)
		goto fail_threads;
	vs_adapter_control_query(port, &port->mps[0]);
	atomic_store(&port->nmp, 1);
	rc = pthread_create(&port->timer, NULL, vs_port_timer_main, port);
	if (rc) {
		vs_set_error("port: cannot start timer thread (%d)", rc);
		goto fail_threads;
	}
	port->timer_started = true;
	return port;

fail_threads:
	vs_workq_stop(&port->workers);
	vs_workq_stop(&port->tmfq);
fail_adapter:
	if (mp->free_adapter)
		mp->free_adapter(port->adapter_ext);
	port_free(port);
	return NULL;
}

void vs_port_destroy(struct vs_port *port)
{
	uint32_t hi;

	if (!port)
		return;
	/* TMFs in flight finish first (they may wait for SRBs) */
	vs_workq_stop(&port->tmfq);
	vs_nexus_close_all(port);
	hi = atomic_load(&port->lun_hi);
	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		if (lun && atomic_load(&lun->state) == LUN_ACTIVE)
			vs_port_lun_remove(port, i, true);
	}
	if (port->timer_started) {
		pthread_mutex_lock(&port->timer_mu);
		port->timer_stop = true;
		pthread_cond_broadcast(&port->timer_cv);
		pthread_mutex_unlock(&port->timer_mu);
		pthread_join(port->timer, NULL);
	}
	/* work the miniport queued may still reference the adapter */
	vs_workq_stop(&port->workers);
	for (uint32_t i = port_nmp(port); i-- > 0;)
		if (port->mps[i].mp->free_adapter)
			port->mps[i].mp->free_adapter(port->mps[i].adapter_ext);
	port_free(port);
}

/*
 * Another miniport on this adapter (see port.h).  Its find_adapter runs
 * here; what it reports must not make the adapter's limits, which the
 * fabrics have sized their buffers and lists by, any smaller.
 */
int vs_port_miniport_add(struct vs_port *port, const struct vs_miniport *mp,
                         const void *adapter_config)
{
	struct vs_adapter_caps caps = { 0 };
	struct port_mp *m;
	void *aext;
	int rc;

	if (!port_arg(port, "miniport_add: port") || !miniport_valid(mp))
		return -EINVAL;
	pthread_mutex_lock(&port->lun_lock);
	for (uint32_t i = 0; i < port_nmp(port); i++) {
		if (port->mps[i].mp == mp) {
			pthread_mutex_unlock(&port->lun_lock);
			vs_set_error("miniport_add: %s is already registered with %s", mp->name,
			             port->name);
			return -EEXIST;
		}
	}
	if (port_nmp(port) >= PORT_MAX_MINIPORTS) {
		pthread_mutex_unlock(&port->lun_lock);
		vs_set_error("miniport_add: %s has %u miniports already", port->name,
		             PORT_MAX_MINIPORTS);
		return -ENOSPC;
	}
	/* the SRB pools were sized for the adapter's own extension */
	if (mp->srb_extension_size > port->mp->srb_extension_size) {
		pthread_mutex_unlock(&port->lun_lock);
		vs_set_error("miniport_add: %s wants a %zu-byte SRB extension, the adapter has %zu",
		             mp->name, mp->srb_extension_size, port->mp->srb_extension_size);
		return -EINVAL;
	}
	aext = calloc(1, mp->adapter_extension_size ? mp->adapter_extension_size : 1);
	if (!aext) {
		pthread_mutex_unlock(&port->lun_lock);
		vs_set_error("miniport_add: out of memory");
		return -ENOMEM;
	}
	rc = mp->find_adapter(aext, port, adapter_config, &caps);
	if (rc == 0 && ((caps.max_transfer_length && caps.max_transfer_length < port->max_xfer) ||
	                (caps.max_sg_elements && caps.max_sg_elements < (uint32_t)port->max_sg))) {
		vs_set_error("miniport_add: %s moves at most %u bytes in %u iovec entries per SRB, "
		             "less than the adapter's %u in %d", mp->name, caps.max_transfer_length,
		             caps.max_sg_elements, port->max_xfer, port->max_sg);
		rc = -EINVAL;
		if (mp->free_adapter)
			mp->free_adapter(aext);
	} else if (rc == 0 && mp->initialize && (rc = mp->initialize(aext)) != 0) {
		if (mp->free_adapter)
			mp->free_adapter(aext);
	}
	if (rc) {
		free(aext);
		pthread_mutex_unlock(&port->lun_lock);
		return rc < 0 ? rc : -EIO;
	}
	m = &port->mps[port_nmp(port)];
	*m = (struct port_mp){ .mp = mp, .adapter_ext = aext };
	vs_adapter_control_query(port, m);
	atomic_store_explicit(&port->nmp, port_nmp(port) + 1, memory_order_release);
	pthread_mutex_unlock(&port->lun_lock);
	return 0;
}

void *vs_port_adapter_ext(struct vs_port *port)
{
	return port_arg(port, "adapter_ext: port") ? port->adapter_ext : NULL;
}

int vs_port_adapter_caps(struct vs_port *port, struct vs_adapter_caps *caps)
{
	if (!port_arg(port, "adapter_caps: port") || !port_arg(caps, "adapter_caps: caps"))
		return -EINVAL;
	*caps = port->caps;
	caps->max_luns = port->max_luns;
	caps->default_queue_depth = port->queue_depth;
	return 0;
}

/* StorPortPause: hold every new SRB; the timer resumes after timeout_ms. */
void vs_port_pause(struct vs_port *port, uint32_t timeout_ms)
{
	if (!port_arg(port, "pause: port"))
		return;
	atomic_store(&port->pause_until_ms, vs_now_coarse_ms() + timeout_ms);
	atomic_fetch_or(&port->hold, PORT_HOLD_PAUSED);
}

void vs_port_resume(struct vs_port *port)
{
	if (!port_arg(port, "resume: port"))
		return;
	if (!(atomic_fetch_and(&port->hold, ~(uint32_t)PORT_HOLD_PAUSED) & PORT_HOLD_PAUSED))
		return;
	vs_port_dispatch_all(port);
}
