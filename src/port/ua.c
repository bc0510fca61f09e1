/* SPDX-License-Identifier: MIT */
/*
 * Unit attention conditions, kept per LUN per I_T nexus (SAM-5 5.14,
 * SPC-4 5.14) in that nexus's queue on the LUN (its task set, queue.c), so
 * the I/O path checks them under the lock it holds anyway.  Each (LUN,
 * nexus) has a short list of conditions; the first entry is
 * reported next.  A power-on / reset condition (ASC 29h) outranks the
 * others and, when established, clears them (SPC-4 5.14: the reset made
 * the older conditions moot); other conditions are reported oldest first.
 */
#include <stdlib.h>
#include <string.h>

#include "port_int.h"

static bool is_reset_ua(uint16_t a)
{
	return VS_ASC(a) == 0x29;
}

void vs_ua_add_locked(struct port_queue *q, uint16_t a)
{
	struct ua_slot *s = &q->ua;

	if (is_reset_ua(a)) {
		/* one reset condition replaces everything pending */
		if (s->n && is_reset_ua(s->q[0]))
			return;         /* keep the one already there */
		s->q[0] = a;
		s->n = 1;
		return;
	}
	for (uint8_t i = 0; i < s->n; i++)
		if (s->q[i] == a)
			return;         /* already pending */
	if (s->n < PORT_UA_QMAX)
		s->q[s->n++] = a;
	/* queue full: the oldest conditions are reported first and the
	 * initiator rereads state after them; dropping the newest is safe. */
}

bool vs_ua_pop_locked(struct port_queue *q, uint16_t *a)
{
	struct ua_slot *s = &q->ua;

	if (s->n == 0)
		return false;
	*a = s->q[0];
	memmove(&s->q[0], &s->q[1], (size_t)(s->n - 1) * sizeof(s->q[0]));
	s->n--;
	return true;
}

void vs_ua_remove_locked(struct port_queue *q, uint16_t a)
{
	struct ua_slot *s = &q->ua;

	for (uint8_t i = 0; i < s->n; i++) {
		if (s->q[i] != a)
			continue;
		memmove(&s->q[i], &s->q[i + 1], (size_t)(s->n - i - 1) * sizeof(s->q[0]));
		s->n--;
		return;
	}
}

void vs_ua_forget_locked(struct port_queue *q)
{
	q->ua.n = 0;
	q->ua.used = false;
}

/* Every open nexus's queue on the LUN; nexus_lock keeps the set of open
 * nexuses (and so of queues to reach) still. */
void vs_ua_all_nexus(struct vs_port_lun *lun, uint16_t a, uint32_t except_id)
{
	struct vs_port *port = lun->port;

	pthread_mutex_lock(&port->nexus_lock);
	for (uint32_t id = 0; id < port->nexus_cap; id++) {
		struct port_queue *q;

		if (!port->nexus[id] || id == except_id || !(q = lun_queue(lun, id + 1)))
			continue;
		pthread_mutex_lock(&q->lock);
		vs_ua_add_locked(q, a);
		pthread_mutex_unlock(&q->lock);
	}
	pthread_mutex_unlock(&port->nexus_lock);
}

void vs_ua_clear_nexus_everywhere(struct vs_port *port, uint32_t nexus_id, uint16_t a)
{
	uint32_t hi = atomic_load(&port->lun_hi);

	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		struct port_queue *q = lun ? lun_queue(lun, nexus_id + 1) : NULL;

		if (!q)
			continue;
		pthread_mutex_lock(&q->lock);
		vs_ua_remove_locked(q, a);
		pthread_mutex_unlock(&q->lock);
	}
}

/* ---- port services for miniports ---- */

void vs_port_lun_unit_attention(struct vs_port_lun *lun, uint16_t asc_ascq,
                                const struct vs_nexus *except)
{
	if (!port_arg(lun, "lun_unit_attention: lun"))
		return;
	vs_ua_all_nexus(lun, asc_ascq, except ? except->id : UINT32_MAX);
	if (!except && asc_ascq == ASC_CAPACITY_DATA_HAS_CHANGED)
		vs_port_event_notify(lun->port, lun->number, asc_ascq);
}

void vs_port_nexus_unit_attention(struct vs_port_lun *lun, const struct vs_nexus *nexus,
                                  uint16_t asc_ascq)
{
	struct port_queue *q;

	if (!port_arg(lun, "nexus_unit_attention: lun") ||
	    !port_arg(nexus, "nexus_unit_attention: nexus"))
		return;
	q = lun_queue(lun, nexus->id + 1);
	if (!q)
		return;                 /* not a nexus of this LUN's port */
	pthread_mutex_lock(&q->lock);
	vs_ua_add_locked(q, asc_ascq);
	pthread_mutex_unlock(&q->lock);
}

void vs_port_bus_changed(struct vs_port *port)
{
	uint32_t hi;
	uint64_t first = UINT64_MAX;

	if (!port_arg(port, "bus_changed: port"))
		return;
	hi = atomic_load(&port->lun_hi);
	/* SPC-4 5.14 / 6.33: every I_T nexus learns the inventory changed; the
	 * condition is established on every LUN so whichever LUN the initiator
	 * talks to next reports it. */
	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);
		if (lun && atomic_load(&lun->state) == LUN_ACTIVE) {
			if (!port->inner)
				vs_ua_all_nexus(lun, ASC_REPORTED_LUNS_DATA_HAS_CHANGED, UINT32_MAX);
			if (first == UINT64_MAX)
				first = i;
		}
	}
	vs_port_event_notify(port, first == UINT64_MAX ? 0 : first, ASC_REPORTED_LUNS_DATA_HAS_CHANGED);
}
