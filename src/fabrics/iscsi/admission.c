/* SPDX-License-Identifier: MIT */
/* Admission accounting: see admission.h. */
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "log.h"

int vs_iscsi_adm_init(struct iscsi_admission *a, const struct iscsi_adm_limits *lim)
{
	memset(a, 0, sizeof(*a));
	a->lim = *lim;
	a->logins = calloc(lim->max_logins ? lim->max_logins : 1, sizeof(*a->logins));
	a->discovery = calloc(lim->max_discovery ? lim->max_discovery : 1, sizeof(*a->discovery));
	if (!a->logins || !a->discovery) {
		vs_iscsi_adm_fini(a);
		return -ENOMEM;
	}
	return 0;
}

void vs_iscsi_adm_fini(struct iscsi_admission *a)
{
	free(a->logins);
	free(a->discovery);
	a->logins = NULL;
	a->discovery = NULL;
}

void vs_iscsi_adm_count(struct iscsi_admission *a, int event)
{
	if (event >= 0 && event < VS_ISCSI_ADMISSION_EVENTS)
		atomic_fetch_add(&a->events[event], 1);
}

void vs_iscsi_adm_note(struct iscsi_admission *a, int event, const char *fmt, ...)
{
	va_list ap;

	vs_iscsi_adm_count(a, event);
	va_start(ap, fmt);
	vs_iscsi_log_vrated(&a->rate[event], ISCSI_LOG_WARN, fmt, ap);
	va_end(ap);
}

static bool refuse(struct iscsi_adm_verdict *v, int event)
{
	v->refused = event;
	return false;
}

/* ---------------------------------------------------------------- logins */

/* The address without the port; IPv4 in its IPv6-mapped form, so that
 * one host is one source whichever way it came. */
static void source_of(const struct sockaddr_storage *ss, uint8_t out[16])
{
	memset(out, 0, 16);
	if (ss->ss_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)(const void *)ss)->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr, 16);
	}
}

static uint32_t held_by(const struct iscsi_admission *a, const uint8_t addr[16])
{
	for (uint32_t i = 0; i < a->lim.max_logins; i++)
		if (a->logins[i].used && memcmp(a->logins[i].addr, addr, 16) == 0)
			return a->logins[i].same_source;
	return 0;
}

/* Every place of addr now says n. */
static void set_held(struct iscsi_admission *a, const uint8_t addr[16], uint32_t n)
{
	for (uint32_t i = 0; i < a->lim.max_logins; i++)
		if (a->logins[i].used && memcmp(a->logins[i].addr, addr, 16) == 0)
			a->logins[i].same_source = n;
}

static void free_place(struct iscsi_admission *a, struct iscsi_adm_login *l)
{
	uint8_t addr[16];

	memcpy(addr, l->addr, 16);
	memset(l, 0, sizeof(*l));
	a->nlogins--;
	set_held(a, addr, held_by(a, addr) - 1);
}

static void take_place(struct iscsi_admission *a, struct iscsi_adm_login *l, const uint8_t addr[16],
                       uint32_t had, uint64_t now_ns)
{
	memset(l, 0, sizeof(*l));
	memcpy(l->addr, addr, 16);
	l->used = true;
	l->since_ns = now_ns;
	a->nlogins++;
	set_held(a, addr, had + 1);
}

/*
 * The budget is full: the oldest bound login of the address holding the
 * most, if it holds at least two more than the newcomer's address (after
 * the exchange the newcomer's address still holds no more than it).
 */
static struct iscsi_adm_login *fair_share_victim(struct iscsi_admission *a, uint32_t had)
{
	struct iscsi_adm_login *victim = NULL;

	for (uint32_t i = 0; i < a->lim.max_logins; i++) {
		struct iscsi_adm_login *l = &a->logins[i];

		if (!l->used || !l->owner || l->same_source < had + 2)
			continue;
		if (!victim || l->same_source > victim->same_source ||
		    (l->same_source == victim->same_source && l->since_ns < victim->since_ns))
			victim = l;
	}
	return victim;
}

bool vs_iscsi_adm_login_admit(struct iscsi_admission *a, const struct sockaddr_storage *src,
                           uint64_t now_ns, struct iscsi_adm_verdict *v)
{
	struct iscsi_adm_login *place = NULL;
	uint8_t addr[16];
	uint32_t had;

	*v = (struct iscsi_adm_verdict){ .refused = -1, .slot = -1 };
	source_of(src, addr);
	had = held_by(a, addr);
	if (had >= a->lim.logins_per_source)
		return refuse(v, VS_ISCSI_REFUSED_LOGINS_PER_SOURCE);
	if (a->nlogins < a->lim.max_logins) {
		for (uint32_t i = 0; i < a->lim.max_logins && !place; i++)
			if (!a->logins[i].used)
				place = &a->logins[i];
	} else {
		place = fair_share_victim(a, had);
		if (!place)
			return refuse(v, VS_ISCSI_REFUSED_MAX_LOGINS);
		v->victim = place->owner;
		free_place(a, place);
	}
	take_place(a, place, addr, had, now_ns);
	v->slot = (int)(place - a->logins);
	return true;
}

void vs_iscsi_adm_login_bind(struct iscsi_admission *a, int slot, void *owner)
{
	if (slot >= 0 && (uint32_t)slot < a->lim.max_logins && a->logins[slot].used)
		a->logins[slot].owner = owner;
}

void vs_iscsi_adm_login_cancel(struct iscsi_admission *a, int slot)
{
	if (slot >= 0 && (uint32_t)slot < a->lim.max_logins && a->logins[slot].used &&
	    !a->logins[slot].owner)
		free_place(a, &a->logins[slot]);
}

void vs_iscsi_adm_login_release(struct iscsi_admission *a, void *owner)
{
	for (uint32_t i = 0; owner && i < a->lim.max_logins; i++)
		if (a->logins[i].used && a->logins[i].owner == owner) {
			free_place(a, &a->logins[i]);
			return;
		}
}

/* ---------------------------------------------------------------- sessions */

bool vs_iscsi_adm_session_admit(struct iscsi_admission *a, bool vetted, bool reserve_on,
                             struct iscsi_adm_verdict *v)
{
	uint32_t reserved = reserve_on && !vetted ? a->lim.reserved_sessions : 0;

	*v = (struct iscsi_adm_verdict){ .refused = -1, .slot = -1 };
	if (a->nsessions >= a->lim.max_sessions)
		return refuse(v, VS_ISCSI_REFUSED_MAX_SESSIONS);
	if (a->nsessions + reserved >= a->lim.max_sessions)
		return refuse(v, VS_ISCSI_REFUSED_RESERVED);
	a->nsessions++;
	return true;
}

void vs_iscsi_adm_session_release(struct iscsi_admission *a)
{
	if (a->nsessions)
		a->nsessions--;
}

static struct iscsi_adm_discovery *discovery_of(struct iscsi_admission *a, const void *owner)
{
	for (uint32_t i = 0; owner && i < a->lim.max_discovery; i++)
		if (a->discovery[i].owner == owner)
			return &a->discovery[i];
	return NULL;
}

bool vs_iscsi_adm_discovery_admit(struct iscsi_admission *a, void *owner, uint64_t now_ns,
                               struct iscsi_adm_verdict *v)
{
	struct iscsi_adm_discovery *place = NULL, *idlest = NULL;

	*v = (struct iscsi_adm_verdict){ .refused = -1, .slot = -1 };
	for (uint32_t i = 0; i < a->lim.max_discovery && !place; i++) {
		struct iscsi_adm_discovery *d = &a->discovery[i];

		if (!d->owner)
			place = d;
		else if (!idlest || d->active_ns < idlest->active_ns)
			idlest = d;
	}
	if (!place) {
		if (!idlest || now_ns - idlest->active_ns < a->lim.discovery_replace_ns)
			return refuse(v, VS_ISCSI_REFUSED_MAX_DISCOVERY);
		v->victim = idlest->owner;
		place = idlest;
	} else {
		a->ndiscovery++;
	}
	place->owner = owner;
	place->active_ns = now_ns;
	return true;
}

void vs_iscsi_adm_discovery_touch(struct iscsi_admission *a, void *owner, uint64_t now_ns)
{
	struct iscsi_adm_discovery *d = discovery_of(a, owner);

	if (d)
		d->active_ns = now_ns;
}

void vs_iscsi_adm_discovery_release(struct iscsi_admission *a, void *owner)
{
	struct iscsi_adm_discovery *d = discovery_of(a, owner);

	if (d) {
		d->owner = NULL;
		a->ndiscovery--;
	}
}
