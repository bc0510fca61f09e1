/* SPDX-License-Identifier: MIT */
/*
 * The NBD fabric: its life (create, start, graceful stop, destroy), the
 * export table with access lists, and what the control plane lists.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../util/vs_clock.h"
#include "../../util/vs_cond.h"
#include "nbd_int.h"
#include "vstor/miniport.h"

/* ---------------------------------------------------------------- create */

static int check_config(const struct vs_nbd_config *in, struct vs_nbd_config *out)
{
	*out = *in;
	if (!out->max_connections)
		out->max_connections = NBD_DEFAULT_CONNS;
	if (!out->queue_depth)
		out->queue_depth = NBD_DEFAULT_DEPTH;
	if (!out->max_payload)
		out->max_payload = VS_NBD_MAX_PAYLOAD_MAX;
	if (!out->handshake_timeout_ms)
		out->handshake_timeout_ms = NBD_DEFAULT_HS_MS;
	if (!out->poll_us)
		out->poll_us = VS_NBD_DEFAULT_POLL_US;
	if (out->poll_us != VS_NBD_POLL_OFF && out->poll_us > VS_NBD_POLL_US_MAX) {
		vs_set_error("nbd.poll_us: 0-%u, got %u", VS_NBD_POLL_US_MAX, out->poll_us);
		return -EINVAL;
	}
	if (out->queue_depth > VS_NBD_QUEUE_DEPTH_MAX) {
		vs_set_error("nbd.queue_depth: 1-%u, got %u", VS_NBD_QUEUE_DEPTH_MAX, out->queue_depth);
		return -EINVAL;
	}
	/* proto.md "Size constraints": at least the preferred block (4096),
	 * 2^25 is what every client may send */
	if (out->max_payload < 4096 || out->max_payload > VS_NBD_MAX_PAYLOAD_MAX) {
		vs_set_error("nbd.max_payload: 4096-%u, got %u", VS_NBD_MAX_PAYLOAD_MAX,
		             out->max_payload);
		return -EINVAL;
	}
	if (out->max_connections > VS_NBD_CONNECTIONS_MAX) {
		vs_set_error("nbd.max_connections: 1-%u, got %u", VS_NBD_CONNECTIONS_MAX,
		             out->max_connections);
		return -EINVAL;
	}
	return 0;
}

struct vs_nbd *vs_nbd_create(const struct vs_nbd_config *cfg)
{
	struct vs_nbd *srv;

	if (!cfg) {
		vs_set_error("nbd: config is NULL");
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		vs_set_error("nbd: out of memory");
		return NULL;
	}
	pthread_mutex_init(&srv->lock, NULL);
	vs_cond_init_monotonic(&srv->cond);
	if (check_config(cfg, &srv->cfg) < 0)
		goto fail;
	if (srv->cfg.tls.mode != VS_NBD_TLS_OFF) {
		srv->tls = vs_nbd_tls_create(&srv->cfg.tls);
		if (!srv->tls)
			goto fail;
	}
	srv->group = cfg->group;
	if (!srv->group) {
		srv->group = vs_loop_group_create(cfg->threads ? cfg->threads : 1, "nbd");
		if (!srv->group)
			goto fail;
		srv->own_group = true;
	}
	return srv;
fail:
	vs_nbd_destroy(srv);
	return NULL;
}

int vs_nbd_add_portal(struct vs_nbd *srv, const char *addr_port)
{
	int rc;

	if (!srv) {
		vs_set_error("nbd: NULL");
		return -EINVAL;
	}
	pthread_mutex_lock(&srv->lock);
	rc = srv->started ? -EBUSY : vs_nbd_portal_open_locked(srv, addr_port);
	if (rc == -EBUSY)
		vs_set_error("portal: add portals before the fabric starts");
	pthread_mutex_unlock(&srv->lock);
	return rc;
}

/* ---------------------------------------------------------------- exports */

static struct nbd_export *find_locked(struct vs_nbd *srv, const char *name)
{
	for (struct nbd_export *e = srv->exports; e; e = e->next)
		if (!atomic_load(&e->removed) && !strcmp(e->name, name))
			return e;
	return NULL;
}

static void export_free(struct nbd_export *e)
{
	if (!e)
		return;
	free(e->name);
	free(e->description);
	free(e->acl);
	free(e);
}

int vs_nbd_add_export(struct vs_nbd *srv, const struct vs_nbd_export_config *ec)
{
	struct nbd_export *e;
	char why[128];

	if (!srv || !ec || !ec->port || !ec->name) {
		vs_set_error("export: %s is NULL", !srv ? "nbd" : !ec ? "config" :
		             !ec->port ? "port" : "name");
		return -EINVAL;
	}
	if (!vs_nbd_string_ok((const uint8_t *)ec->name, (uint32_t)strlen(ec->name))) {
		vs_set_error("export.name: at most %u bytes", NBD_STRING_MAX);
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->name = strdup(ec->name);
	e->description = ec->description ? strdup(ec->description) : NULL;
	e->acl = ec->nacl ? calloc(ec->nacl, sizeof(*e->acl)) : NULL;
	if (!e->name || (ec->description && !e->description) || (ec->nacl && !e->acl)) {
		export_free(e);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ec->nacl; i++) {
		if (!vs_nbd_acl_parse(ec->acl[i], &e->acl[i], why, sizeof(why))) {
			vs_set_error("export.acl[%zu]: %s: %s", i, ec->acl[i] ? ec->acl[i] : "", why);
			export_free(e);
			return -EINVAL;
		}
	}
	e->nacl = ec->nacl;
	e->tls_only = vs_nbd_acl_tls_only(e->acl, e->nacl);
	e->port = ec->port;
	e->lun = ec->lun;
	e->no_multi_conn = ec->no_multi_conn;
	pthread_mutex_lock(&srv->lock);
	if (find_locked(srv, ec->name)) {
		pthread_mutex_unlock(&srv->lock);
		vs_set_error("export.name: '%s' exists", ec->name);
		export_free(e);
		return -EEXIST;
	}
	if (e->tls_only && !srv->tls) {
		pthread_mutex_unlock(&srv->lock);
		vs_set_error("export.acl: only TLS identities, but TLS is off");
		export_free(e);
		return -EINVAL;
	}
	e->next = srv->exports;
	srv->exports = e;
	pthread_mutex_unlock(&srv->lock);
	vs_nbd_log(NBD_LOG_INFO, "export '%s' added (LUN %llu%s)", e->name,
	        (unsigned long long)e->lun, e->nacl ? ", access list" : "");
	return 0;
}

/* srv->lock held: close every connection using e, wait until they went */
static void drop_users_locked(struct vs_nbd *srv, struct nbd_export *e)
{
	for (struct nbd_conn *c = srv->conns; c; c = c->next)
		if (c->exp == e)
			vs_nbd_conn_post_stop(c);
	while (e->conns)
		pthread_cond_wait(&srv->cond, &srv->lock);
}

int vs_nbd_remove_export(struct vs_nbd *srv, const char *name, bool force)
{
	struct nbd_export *e, **pp;

	if (!srv || !name) {
		vs_set_error("export: %s is NULL", srv ? "name" : "nbd");
		return -EINVAL;
	}
	pthread_mutex_lock(&srv->lock);
	e = find_locked(srv, name);
	if (!e) {
		pthread_mutex_unlock(&srv->lock);
		vs_set_error("export '%s': no such export", name);
		return -ENOENT;
	}
	if (e->conns && !force) {
		pthread_mutex_unlock(&srv->lock);
		vs_set_error("export '%s': %u connections use it (force closes them)", name, e->conns);
		return -EBUSY;
	}
	atomic_store(&e->removed, true);
	drop_users_locked(srv, e);
	for (pp = &srv->exports; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	pthread_mutex_unlock(&srv->lock);
	vs_nbd_log(NBD_LOG_INFO, "export '%s' removed", name);
	export_free(e);
	return 0;
}

enum nbd_lookup vs_nbd_export_get(struct vs_nbd *srv, const char *name,
                               const struct sockaddr_storage *peer, const char *tls_identity,
                               bool tls, struct nbd_export **out)
{
	enum nbd_lookup rc = NBD_LOOKUP_OK;
	struct nbd_export *e;

	*out = NULL;
	pthread_mutex_lock(&srv->lock);
	e = find_locked(srv, name);
	if (atomic_load(&srv->stopping))
		rc = NBD_LOOKUP_SHUTDOWN;
	else if (!e)
		rc = NBD_LOOKUP_UNKNOWN;
	else if (e->tls_only && !tls)
		rc = NBD_LOOKUP_TLS_REQD;
	else if (!vs_nbd_acl_allows(e->acl, e->nacl, peer, tls ? tls_identity : NULL))
		rc = NBD_LOOKUP_DENIED;
	if (rc == NBD_LOOKUP_OK) {
		e->conns++;
		*out = e;
	}
	pthread_mutex_unlock(&srv->lock);
	return rc;
}

void vs_nbd_export_put(struct vs_nbd *srv, struct nbd_export **e)
{
	if (!*e)
		return;
	pthread_mutex_lock(&srv->lock);
	(*e)->conns--;
	*e = NULL;              /* under the lock: the session list reads it */
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
}

bool vs_nbd_export_visible(struct vs_nbd *srv, size_t i, const struct sockaddr_storage *peer,
                        const char *tls_identity, bool tls, char *name, size_t nlen,
                        char *desc, size_t dlen)
{
	bool found = false;

	pthread_mutex_lock(&srv->lock);
	for (struct nbd_export *e = srv->exports; e && !found; e = e->next) {
		/* SELECTIVETLS may leave TLS-only exports out of a plain LIST;
		 * nobody sees what their access list would refuse them */
		if (atomic_load(&e->removed) || (e->tls_only && !tls) ||
		    !vs_nbd_acl_allows(e->acl, e->nacl, peer, tls ? tls_identity : NULL))
			continue;
		if (i-- == 0) {
			snprintf(name, nlen, "%s", e->name);
			snprintf(desc, dlen, "%s", e->description ? e->description : "");
			found = true;
		}
	}
	pthread_mutex_unlock(&srv->lock);
	return found;
}

size_t vs_nbd_exports(struct vs_nbd *srv, struct vs_nbd_export_info *out, size_t max)
{
	size_t n = 0;

	if (!srv)
		return 0;
	pthread_mutex_lock(&srv->lock);
	for (struct nbd_export *e = srv->exports; e; e = e->next) {
		if (atomic_load(&e->removed))
			continue;
		if (n < max && out) {
			struct vs_nbd_export_info *x = &out[n];

			memset(x, 0, sizeof(*x));
			snprintf(x->name, sizeof(x->name), "%s", e->name);
			snprintf(x->description, sizeof(x->description), "%s",
			         e->description ? e->description : "");
			x->lun = e->lun;
			x->connections = e->conns;
			x->nacl = e->nacl;
		}
		n++;
	}
	pthread_mutex_unlock(&srv->lock);
	return n;
}

size_t vs_nbd_sessions(struct vs_nbd *srv, struct vs_nbd_session_info *out, size_t max)
{
	size_t n = 0;

	if (!srv)
		return 0;
	pthread_mutex_lock(&srv->lock);
	for (struct nbd_conn *c = srv->conns; c; c = c->next) {
		if (!c->exp || !atomic_load_explicit(&c->listed, memory_order_acquire))
			continue;
		if (n < max && out) {
			struct vs_nbd_session_info *x = &out[n];

			memset(x, 0, sizeof(*x));
			snprintf(x->export_name, sizeof(x->export_name), "%s", c->exp->name);
			snprintf(x->peer, sizeof(x->peer), "%s", c->peer_text);
			snprintf(x->tls_identity, sizeof(x->tls_identity), "%s", c->tls_identity);
			snprintf(x->nexus, sizeof(x->nexus), "%s", c->nexus_name);
			x->tls = c->tls_on;
			x->structured = c->tx.structured;
			x->block_status = c->tx.meta_allocation;
			x->in_flight = atomic_load_explicit(&c->in_flight_pub, memory_order_relaxed);
			x->reads = atomic_load_explicit(&c->reads, memory_order_relaxed);
			x->writes = atomic_load_explicit(&c->writes, memory_order_relaxed);
			x->other = atomic_load_explicit(&c->other, memory_order_relaxed);
			x->read_bytes = atomic_load_explicit(&c->read_bytes, memory_order_relaxed);
			x->write_bytes = atomic_load_explicit(&c->write_bytes, memory_order_relaxed);
		}
		n++;
	}
	pthread_mutex_unlock(&srv->lock);
	return n;
}

void vs_nbd_server_conn_gone(struct vs_nbd *srv, struct nbd_conn *c)
{
	pthread_mutex_lock(&srv->lock);
	if (c->exp) {
		c->exp->conns--;
		c->exp = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else if (srv->conns == c)
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	srv->nconns--;
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
}

/* ---------------------------------------------------------------- life */

int vs_nbd_start(struct vs_nbd *srv)
{
	int rc;

	if (!srv) {
		vs_set_error("nbd: NULL");
		return -EINVAL;
	}
	if (srv->own_group && (rc = vs_loop_group_start(srv->group)) < 0)
		return rc;
	rc = vs_nbd_portals_watch(srv);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&srv->lock);
	srv->started = true;
	pthread_mutex_unlock(&srv->lock);
	return 0;
}

/* Wait (srv->lock held) until no connection is left or the deadline. */
static bool wait_conns_locked(struct vs_nbd *srv, uint64_t ms)
{
	struct timespec ts = vs_deadline_after_ms(ms);

	while (srv->nconns)
		if (pthread_cond_timedwait(&srv->cond, &srv->lock, &ts) == ETIMEDOUT)
			break;
	return srv->nconns == 0;
}

void vs_nbd_stop(struct vs_nbd *srv, uint32_t grace_ms)
{
	if (!srv)
		return;
	pthread_mutex_lock(&srv->lock);
	if (!srv->started) {
		pthread_mutex_unlock(&srv->lock);
		vs_nbd_portals_close(srv);
		return;
	}
	atomic_store(&srv->stopping, true);
	pthread_mutex_unlock(&srv->lock);
	vs_nbd_portals_close(srv);

	/* proto.md "Terminating the transmission phase": serve what is in
	 * flight, answer new requests NBD_ESHUTDOWN, then disconnect */
	pthread_mutex_lock(&srv->lock);
	for (struct nbd_conn *c = srv->conns; c; c = c->next)
		vs_nbd_conn_post_stop(c);
	if (!wait_conns_locked(srv, grace_ms)) {
		vs_nbd_log(NBD_LOG_WARN, "stop: grace period over, %u connections closed hard",
		        srv->nconns);
		for (struct nbd_conn *c = srv->conns; c; c = c->next) {
			atomic_store(&c->hard_stop, true);      /* abort, do not wait */
			vs_nbd_conn_post_stop(c);
		}
		while (srv->nconns)
			pthread_cond_wait(&srv->cond, &srv->lock);
	}
	srv->started = false;
	pthread_mutex_unlock(&srv->lock);
	if (srv->own_group) {
		vs_loop_group_stop(srv->group);
		vs_loop_group_join(srv->group);
	}
}

void vs_nbd_destroy(struct vs_nbd *srv)
{
	if (!srv)
		return;
	if (srv->started)
		vs_nbd_stop(srv, 0);
	vs_nbd_portals_close(srv);
	while (srv->exports) {
		struct nbd_export *e = srv->exports;

		srv->exports = e->next;
		export_free(e);
	}
	if (srv->own_group)
		vs_loop_group_destroy(srv->group);
	vs_nbd_tls_destroy(srv->tls);
	pthread_cond_destroy(&srv->cond);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}
