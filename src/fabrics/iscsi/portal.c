/* SPDX-License-Identifier: MIT */
/*
 * Per-target portals.  A target with portals of its own is served only on
 * those; the others on the default portals.  A listener is shared by every
 * target that lists its address and closed when the last of them is
 * removed (default portals stay for the daemon's life).  What a target's
 * portals mean to an initiator:
 *  - login: a TargetName not served on the portal the connection came in
 *    on is "not found" (RFC 7143 §11.13.5, status 0x0203), as if the target
 *    did not exist there;
 *  - SendTargets: each target is listed with a TargetAddress for every
 *    portal serving it, and no other (§13.8, Appendix C).
 *
 * Listeners are watched by loop 0, so one is closed on loop 0: the control
 * thread posts the close and waits (on is->cond) until it is done, after
 * the epoll batch that may still hold an event for it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vstor/miniport.h"
#include "conn.h"
#include "iscsi_target.h"
#include "log.h"

/* ---------------------------------------------------------------- lookup */

static bool same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* The live listener bound to this address: "127.0.0.1:3260" and
 * "127.0.0.1:03260" are one portal. */
static struct iscsi_portal *find_listener_locked(struct vs_iscsi *is,
                                                 const struct sockaddr_storage *ss)
{
	for (unsigned i = 0; i < is->nportals; i++) {
		struct iscsi_portal *pt = &is->portals[i];
		if (pt->fd >= 0 && !pt->closing && same_address(&pt->sa, ss))
			return pt;
	}
	return NULL;
}

static struct iscsi_portal *find_text_locked(struct vs_iscsi *is, const char *text)
{
	for (unsigned i = 0; i < is->nportals; i++) {
		struct iscsi_portal *pt = &is->portals[i];
		if (pt->fd >= 0 && !pt->closing && strcmp(pt->text, text) == 0)
			return pt;
	}
	return NULL;
}

static bool lists_portal(const struct iscsi_target *t, const char *text)
{
	for (size_t i = 0; i < t->nportals; i++)
		if (strcmp(t->portals[i], text) == 0)
			return true;
	return false;
}

/* ---------------------------------------------------------------- closing */

static void close_late(struct vs_loop_msg *m)
{
	struct iscsi_portal *pt = ISCSI_CONTAINER_OF(m, struct iscsi_portal, close_msg);
	struct vs_iscsi *is = pt->is;

	pthread_mutex_lock(&is->lock);
	vs_iscsi_log(ISCSI_LOG_INFO, "stopped listening on %s", pt->text);
	close(pt->fd);
	pt->fd = -1;
	pt->registered = false;
	pt->closing = false;
	pthread_cond_broadcast(&is->cond);
	pthread_mutex_unlock(&is->lock);
}

/* On loop 0: no more events for it, then close once this batch is over. */
static void close_on_loop(struct vs_loop_msg *m)
{
	struct iscsi_portal *pt = ISCSI_CONTAINER_OF(m, struct iscsi_portal, close_msg);

	vs_loop_fd_del(pt->is->loops[0].base, pt->fd);
	m->fn = close_late;
	vs_loop_post_late(pt->is->loops[0].base, m);
}

/* is->lock held; released while loop 0 does the work. */
static void close_listener_locked(struct vs_iscsi *is, struct iscsi_portal *pt)
{
	if (!pt->registered) {
		vs_iscsi_log(ISCSI_LOG_INFO, "stopped listening on %s", pt->text);
		close(pt->fd);
		pt->fd = -1;
		return;
	}
	pt->closing = true;
	pt->close_msg.fn = close_on_loop;
	vs_loop_post(is->loops[0].base, &pt->close_msg);
	while (pt->closing)
		pthread_cond_wait(&is->cond, &is->lock);
}

/* ---------------------------------------------------------------- binding */

int vs_iscsi_target_bind_portals_locked(struct vs_iscsi *is, struct iscsi_target *t,
                                     const char *const *portals, size_t n)
{
	struct iscsi_portal *use[ISCSI_MAX_PORTALS];
	bool opened[ISCSI_MAX_PORTALS] = { false };
	size_t i, nuse = 0;
	int rc = 0;

	t->nportals = 0;
	if (n > ISCSI_MAX_PORTALS) {
		vs_set_error("portals: at most %d", ISCSI_MAX_PORTALS);
		return -ENOSPC;
	}
	/* Every address first, so that a bad one changes nothing. */
	for (i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		struct iscsi_portal *pt;

		if (!portals[i] || vs_iscsi_portal_resolve(portals[i], &ss) < 0) {
			vs_set_error("portals[%zu]: '%s' is not ADDR:PORT or [V6ADDR]:PORT", i,
			             portals[i] ? portals[i] : "");
			rc = -EINVAL;
			goto undo;
		}
		pt = find_listener_locked(is, &ss);
		if (!pt) {
			rc = vs_iscsi_portal_open_locked(is, portals[i], false, &pt);
			if (rc < 0) {
				char why[256];
				snprintf(why, sizeof(why), "%s", vs_last_error());
				vs_set_error("portals[%zu]: %s", i, why);
				goto undo;
			}
			opened[nuse] = true;
		}
		use[nuse++] = pt;
	}
	for (i = 0; i < nuse; i++) {
		if (!opened[i])
			continue;
		rc = vs_iscsi_portal_watch_locked(is, use[i]);
		if (rc < 0) {
			char why[256];
			snprintf(why, sizeof(why), "%s", vs_last_error());
			vs_set_error("portals[%zu]: %s", i, why);
			goto undo;
		}
	}
	for (i = 0; i < nuse; i++) {
		if (lists_portal(t, use[i]->text))
			continue;       /* two spellings of one address */
		use[i]->refs++;
		snprintf(t->portals[t->nportals++], ISCSI_PORTAL_TEXT, "%s", use[i]->text);
	}
	return 0;
undo:
	for (i = 0; i < nuse; i++)
		if (opened[i])
			close_listener_locked(is, use[i]);
	t->nportals = 0;
	return rc;
}

void vs_iscsi_target_unbind_portals_locked(struct vs_iscsi *is, struct iscsi_target *t)
{
	for (size_t i = 0; i < t->nportals; i++) {
		struct iscsi_portal *pt = find_text_locked(is, t->portals[i]);

		if (!pt)
			continue;       /* the fabric stopped: every listener is gone */
		if (pt->refs)
			pt->refs--;
		if (pt->refs == 0 && !pt->is_default)
			close_listener_locked(is, pt);
	}
	t->nportals = 0;
}

/* ---------------------------------------------------------------- login env */

bool vs_iscsi_env_target_served(void *ctx, void *target)
{
	const struct iscsi_conn *c = ctx;
	const struct iscsi_target *t = target;

	/* t->portals is fixed while the target is registered: no lock. */
	return t->nportals ? lists_portal(t, c->portal) : c->portal_default;
}

/* "ADDR:PORT,TPGT" for one listener as this connection's initiator should
 * dial it: a wildcard listener is reached at the address this connection
 * reached (its host part) on the listener's port. */
static void address_text(const struct iscsi_conn *c, const struct iscsi_portal *pt, char *out,
                         size_t len)
{
	if (!pt->wildcard) {
		snprintf(out, len, "%s,%d", pt->text, ISCSI_TPGT);
		return;
	}
	const char *colon = strrchr(c->local, ':');
	int hostlen = colon ? (int)(colon - c->local) : (int)strlen(c->local);
	snprintf(out, len, "%.*s:%s,%d", hostlen, c->local, pt->port, ISCSI_TPGT);
}

void vs_iscsi_env_for_each_address(void *ctx, void *target,
                                void (*emit)(void *ectx, const char *addr), void *ectx)
{
	const struct iscsi_conn *c = ctx;
	const struct iscsi_target *t = target;
	char addrs[ISCSI_MAX_PORTALS][ISCSI_PORTAL_TEXT + 8];
	size_t n = 0;

	pthread_mutex_lock(&c->is->lock);
	if (t->nportals) {
		/* In the order the target lists them. */
		for (size_t i = 0; i < t->nportals; i++) {
			const struct iscsi_portal *pt = find_text_locked(c->is, t->portals[i]);
			if (pt)
				address_text(c, pt, addrs[n++], sizeof(addrs[0]));
		}
	} else {
		for (unsigned i = 0; i < c->is->nportals; i++) {
			const struct iscsi_portal *pt = &c->is->portals[i];
			if (pt->fd >= 0 && !pt->closing && pt->is_default)
				address_text(c, pt, addrs[n++], sizeof(addrs[0]));
		}
	}
	pthread_mutex_unlock(&c->is->lock);
	/* emit() writes the response; it never calls back into the fabric,
	 * but keep the lock out of it anyway. */
	for (size_t i = 0; i < n; i++)
		emit(ectx, addrs[i]);
}
