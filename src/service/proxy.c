/* SPDX-License-Identifier: MIT */
/*
 * The proxy miniport: a LUN served by another process, registered with a
 * target's port next to its virtual disks (vs_port_miniport_add).  To the
 * port it is a miniport like any other; each command it is given becomes
 * an entry of its service's submission ring (ring.c), and comes back
 * through the completion ring.
 *
 * The port keeps its duties whatever the service does: queue depth,
 * timeouts and their escalation, TMFs, unit attentions and REPORT LUNS.
 * The proxy only passes aborts and resets on (the service may end the
 * commands sooner) and, as the LUN's buffer provider, lends the fabric
 * memory of the service's shared area, so a command's data is received
 * into and sent from memory the service reads and writes: no copy between
 * the processes.
 *
 * While the LUN's service is away (dead, hung, not yet back), commands get
 * NOT READY, LOGICAL UNIT IS IN PROCESS OF BECOMING READY (SPC-4 Annex D
 * 04h/01h), which Linux and Windows initiators retry.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "svc_int.h"

#define ASC_LUN_BECOMING_READY 0x0401

void vs_proxy_not_ready(struct vs_srb *srb)
{
	vs_srb_set_sense(srb, SENSE_NOT_READY, ASC_LUN_BECOMING_READY);
	vs_port_complete(srb);
}

static int proxy_find_adapter(void *aext, struct vs_port *port, const void *cfg,
                              struct vs_adapter_caps *caps)
{
	struct proxy_adapter *a = aext;

	a->host = (struct vs_svc_host *)cfg;
	a->port = port;
	caps->max_transfer_length = VS_SVC_MAX_TRANSFER;
	return 0;
}

struct proxy_lun {
	struct svc_lun *l;
};

static int proxy_lun_attach(void *aext, struct vs_port_lun *plun, void *lext, const void *cfg)
{
	struct proxy_adapter *a = aext;
	struct proxy_lun *pl = lext;
	struct svc_lun *l = (struct svc_lun *)cfg;

	l->plun = plun;
	l->port = a->port;
	pl->l = l;
	return 0;
}

static void proxy_lun_detach(void *aext, void *lext)
{
	struct proxy_adapter *a = aext;

	vs_host_lun_detached(a->host, ((struct proxy_lun *)lext)->l);
}

static int proxy_lun_control(void *aext, void *lext, enum vs_lun_control_type type, void *arg)
{
	struct svc_lun *l = ((struct proxy_lun *)lext)->l;

	(void)aext;
	switch (type) {
	case VS_LUN_QUERY: {
		struct vs_lun_info *info = arg;

		memset(info, 0, sizeof(*info));
		info->size_bytes = l->size_bytes;
		info->block_size = l->block_size;
		info->readonly = l->readonly;
		snprintf(info->backend, sizeof(info->backend), "service");
		return 0;
	}
	case VS_LUN_IN_USE:
		*(bool *)arg = false;
		return 0;
	case VS_LUN_FLUSH:
		/* The service keeps its data; what it acknowledged as durable
		 * (FUA, SYNCHRONIZE CACHE) it made durable itself. */
		return 0;
	default:
		vs_set_error("lun_control: a service's LUN is changed by its service");
		return -EOPNOTSUPP;
	}
}

/*
 * fn(c, arg, &ring) with the LUN's connection locked, if it has one that
 * is alive; then its submission doorbell if fn wrote entries (`soon`: at
 * the end of this loop's pass).  False when there is none (the service is
 * away).
 */
static bool with_live_conn(struct svc_lun *l, void (*fn)(struct svc_conn *c, void *arg,
                                                         bool *ring), void *arg, bool soon)
{
	struct svc_conn *c;
	bool ring = false, live = false;

	pthread_mutex_lock(&l->mu);
	c = l->conn;
	if (c) {
		pthread_mutex_lock(&c->lock);
		live = c->state == CONN_ALIVE;
		if (live)
			fn(c, arg, &ring);
		if (ring)
			vs_conn_get(c);
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&l->mu);
	if (ring) {
		if (soon)
			vs_ring_doorbell_soon(c);
		else
			vs_ring_doorbell(c);
		vs_conn_put(c);
	}
	return live;
}

struct submit_arg {
	struct vs_srb *srb;
	struct vs_port_lun *plun;
	int status;
};

static void submit_fn(struct svc_conn *c, void *arg, bool *ring)
{
	struct submit_arg *a = arg;

	a->status = vs_ring_submit_locked(c, a->srb, a->plun, ring);
}

static void proxy_start_io(void *aext, void *lext, struct vs_srb *srb)
{
	struct svc_lun *l = ((struct proxy_lun *)lext)->l;
	struct submit_arg a = { srb, l->plun, 0 };

	(void)aext;
	/* commands: one doorbell for all those of this loop's pass */
	if (!with_live_conn(l, submit_fn, &a, true)) {
		vs_proxy_not_ready(srb);           /* its service is away */
		return;
	}
	if (a.status) {
		/* no room in the ring or the data area: the initiator retries
		 * (SAM-5 5.3.1) */
		vs_srb_set_status(srb, (uint8_t)a.status);
		vs_port_complete(srb);
	}
}

struct abort_arg {
	const struct vs_srb *srb;
	bool posted;
};

static void abort_fn(struct svc_conn *c, void *arg, bool *ring)
{
	struct abort_arg *a = arg;

	a->posted = vs_ring_abort_locked(c, a->srb, ring);
}

/* Ask the service to end one command soon; the port reports it ABORTED
 * once it has completed. */
static bool proxy_abort_srb(void *aext, void *lext, struct vs_srb *srb)
{
	struct abort_arg a = { srb, false };

	(void)aext;
	with_live_conn(((struct proxy_lun *)lext)->l, abort_fn, &a, false);
	return a.posted;
}

static void target_reset_fn(struct svc_conn *c, void *arg, bool *ring)
{
	(void)arg;
	vs_ring_target_reset_locked(c, ring);
}

static void lun_reset_fn(struct svc_conn *c, void *arg, bool *ring)
{
	vs_ring_lun_reset_locked(c, ((struct svc_lun *)arg)->number, ring);
}

static int proxy_reset(void *aext, void *lext, enum vs_reset_kind kind)
{
	struct proxy_adapter *a = aext;

	if (!lext || kind != VS_RESET_LUN) {
		vs_host_each_conn_of_port(a->host, a->port, target_reset_fn, NULL);
		return 0;
	}
	struct svc_lun *l = ((struct proxy_lun *)lext)->l;
	with_live_conn(l, lun_reset_fn, l, false);
	return 0;
}

static void nexus_lost_fn(struct svc_conn *c, void *arg, bool *ring)
{
	vs_ring_nexus_lost_locked(c, *(const uint32_t *)arg, ring);
}

static void proxy_nexus_lost(void *aext, const struct vs_nexus *nexus)
{
	struct proxy_adapter *a = aext;
	uint32_t id = nexus->id;

	vs_host_each_conn_of_port(a->host, a->port, nexus_lost_fn, &id);
}

static void area_buffer_release(void *cookie, void *buf)
{
	struct svc_area *area = cookie;

	vs_area_free(area, buf);
	vs_area_put(area);
}

/* The LUN's buffer provider: memory of its service's shared area. */
static void *proxy_buffer_get(void *aext, void *lext, const struct vs_srb *srb, size_t len,
                              void (**release)(void *cookie, void *buf), void **cookie)
{
	struct svc_lun *l = ((struct proxy_lun *)lext)->l;
	struct svc_area *area = NULL;
	void *buf;

	(void)aext;
	(void)srb;
	pthread_mutex_lock(&l->mu);
	if (l->conn && l->conn->area) {
		area = l->conn->area;
		vs_area_get(area);
	}
	pthread_mutex_unlock(&l->mu);
	if (!area)
		return NULL;
	buf = vs_area_alloc(area, len);
	if (!buf) {
		vs_area_put(area);
		return NULL;
	}
	*release = area_buffer_release;
	*cookie = area;
	return buf;
}

const struct vs_miniport vs_svc_proxy_miniport = {
	.name = "service",
	.api_version = VS_MINIPORT_API_VERSION,
	.struct_size = sizeof(struct vs_miniport),
	.adapter_extension_size = sizeof(struct proxy_adapter),
	.lun_extension_size = sizeof(struct proxy_lun),
	.srb_extension_size = sizeof(struct proxy_srb),
	.find_adapter = proxy_find_adapter,
	.lun_attach = proxy_lun_attach,
	.lun_detach = proxy_lun_detach,
	.lun_control = proxy_lun_control,
	.start_io = proxy_start_io,
	.abort_srb = proxy_abort_srb,
	.reset = proxy_reset,
	.nexus_lost = proxy_nexus_lost,
	.buffer_get = proxy_buffer_get,
};
