/* SPDX-License-Identifier: MIT */
/*
 * I_T nexuses.  Each gets a small id (lowest free), which indexes its
 * queue (task set) on every LUN (queue.c).  SAM-5 5.14 / SPC-4 5.14: a new
 * I_T nexus starts with POWER ON, RESET, OR BUS DEVICE RESET OCCURRED
 * pending on every logical unit.
 *
 * An id is free again only once the miniport's nexus_lost for its last
 * nexus has returned, not when that nexus leaves the table: a miniport may
 * keep per-nexus state by id (vdisk caches each nexus's reservation
 * verdict) and drops it in nexus_lost, so a new nexus must not start
 * commands on that id while the old state is still there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "port_int.h"

static int nexus_table_grow(struct vs_port *port)
{
	uint32_t cap = port->nexus_cap ? port->nexus_cap * 2 : 16;
	struct nexus_priv **n = realloc(port->nexus, cap * sizeof(*n));
	bool *closing;

	if (!n)
		return -ENOMEM;
	memset(&n[port->nexus_cap], 0, (cap - port->nexus_cap) * sizeof(*n));
	port->nexus = n;
	closing = realloc(port->nexus_closing, cap * sizeof(*closing));
	if (!closing)
		return -ENOMEM;     /* the larger table stays; cap does not move */
	memset(&closing[port->nexus_cap], 0, (cap - port->nexus_cap) * sizeof(*closing));
	port->nexus_closing = closing;
	port->nexus_cap = cap;
	return 0;
}

struct vs_nexus *vs_port_nexus_open(struct vs_port *port, const char *name,
                                    const char *initiator_name,
                                    const uint8_t *transport_id, uint16_t transport_id_len)
{
	struct nexus_priv *np;
	uint32_t id, hi;

	if (!port) {
		vs_set_error("nexus: port is NULL");
		return NULL;
	}
	if (transport_id_len > sizeof(np->pub.transport_id)) {
		vs_set_error("nexus.transport_id: %u bytes, at most %zu", transport_id_len,
		             sizeof(np->pub.transport_id));
		return NULL;
	}
	np = calloc(1, sizeof(*np));
	if (!np) {
		vs_set_error("nexus: out of memory");
		return NULL;
	}
	np->port = port;
	np->pub.port_private = np;
	snprintf(np->pub.name, sizeof(np->pub.name), "%s", name ? name : "");
	snprintf(np->pub.initiator_name, sizeof(np->pub.initiator_name), "%s",
	         initiator_name ? initiator_name : (name ? name : ""));
	if (transport_id && transport_id_len) {
		memcpy(np->pub.transport_id, transport_id, transport_id_len);
		np->pub.transport_id_len = transport_id_len;
	}

	pthread_mutex_lock(&port->nexus_lock);
	for (id = 0; id < port->nexus_cap && (port->nexus[id] || port->nexus_closing[id]); id++)
		;
	if (id == port->nexus_cap && nexus_table_grow(port)) {
		pthread_mutex_unlock(&port->nexus_lock);
		free(np);
		vs_set_error("nexus: out of memory");
		return NULL;
	}
	np->pub.id = id;
	/* A queue on every LUN slot first, so the nexus is never half set up
	 * (a queue made for nothing stays for the next nexus with this id). */
	hi = atomic_load(&port->lun_hi);
	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		if (lun && vs_lun_queue_ensure(lun, id)) {
			pthread_mutex_unlock(&port->nexus_lock);
			free(np);
			vs_set_error("nexus: out of memory");
			return NULL;
		}
	}
	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		struct port_queue *q = lun ? lun_queue(lun, id + 1) : NULL;

		if (!q)
			continue;
		pthread_mutex_lock(&q->lock);
		/* what the last nexus with this id left */
		vs_ua_forget_locked(q);
		if (atomic_load(&lun->state) == LUN_ACTIVE && !port->inner)
			vs_ua_add_locked(q, ASC_POWER_ON_RESET_OR_BUS_RESET);
		pthread_mutex_unlock(&q->lock);
	}
	port->nexus[id] = np;
	pthread_mutex_unlock(&port->nexus_lock);
	return &np->pub;
}

void vs_port_nexus_close(struct vs_port *port, struct vs_nexus *nexus)
{
	struct nexus_priv *np;
	uint32_t hi;
	bool hold_id = false;

	if (!port_arg(port, "nexus_close: port") || !port_arg(nexus, "nexus_close: nexus"))
		return;
	np = nexus->port_private;
	/* Connection gone: nothing of this nexus may stay queued (SAM-5 6.3.4) */
	vs_port_nexus_abort_all(port, nexus);
	pthread_mutex_lock(&port->nexus_lock);
	if (nexus->id < port->nexus_cap && port->nexus[nexus->id] == np) {
		port->nexus[nexus->id] = NULL;
		port->nexus_closing[nexus->id] = true;
		hold_id = true;
	}
	hi = atomic_load(&port->lun_hi);
	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		struct port_queue *q = lun ? lun_queue(lun, nexus->id + 1) : NULL;

		if (!q)
			continue;
		pthread_mutex_lock(&q->lock);
		vs_ua_forget_locked(q);
		pthread_mutex_unlock(&q->lock);
	}
	pthread_mutex_unlock(&port->nexus_lock);
	/* I_T nexus loss for the miniport (SPC-4 5.13.3, SBC-3 5.12), outside
	 * the nexus lock (it may look nexuses up), while `nexus` is still
	 * valid memory so it can be matched by address. */
	for (uint32_t i = 0; i < port_nmp(port); i++)
		if (VS_MINIPORT_HAS(port->mps[i].mp, nexus_lost))
			port->mps[i].mp->nexus_lost(port->mps[i].adapter_ext, nexus);
	if (hold_id) {
		/* only now may a new nexus get this id (see the top) */
		pthread_mutex_lock(&port->nexus_lock);
		port->nexus_closing[nexus->id] = false;
		pthread_mutex_unlock(&port->nexus_lock);
	}
	free(np);
}

const struct vs_nexus *vs_port_nexus_by_id(struct vs_port *port, uint32_t id)
{
	const struct vs_nexus *n = NULL;

	if (!port_arg(port, "nexus_by_id: port"))
		return NULL;
	pthread_mutex_lock(&port->nexus_lock);
	if (id < port->nexus_cap && port->nexus[id])
		n = &port->nexus[id]->pub;
	pthread_mutex_unlock(&port->nexus_lock);
	return n;
}

void vs_nexus_close_all(struct vs_port *port)
{
	for (;;) {
		struct vs_nexus *n = NULL;

		pthread_mutex_lock(&port->nexus_lock);
		for (uint32_t id = 0; id < port->nexus_cap && !n; id++)
			if (port->nexus[id])
				n = &port->nexus[id]->pub;
		pthread_mutex_unlock(&port->nexus_lock);
		if (!n)
			break;
		vs_port_nexus_close(port, n);
	}
}
