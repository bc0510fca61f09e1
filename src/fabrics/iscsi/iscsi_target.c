/* SPDX-License-Identifier: MIT */
/*
 * vs_iscsi: the public API of the iSCSI fabric.  Portals (listening
 * sockets on loop 0, connections handed round-robin to the loops), the
 * target registry with ACLs and CHAP, and the login environment callbacks
 * the login state machine (login.h) asks about targets.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vstor/miniport.h"
#include "../../util/vs_addr.h"
#include "iscsi_target.h"
#include "log.h"

/* ---------------------------------------------------------------- helpers */

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static void free_acl(struct iscsi_target *t)
{
	for (size_t i = 0; i < t->nacl; i++)
		free(t->acl[i]);
	free(t->acl);
	t->acl = NULL;
	t->nacl = 0;
}

static int copy_acl(struct iscsi_target *t, const char *const *acl, size_t n)
{
	char **v = NULL;

	if (n) {
		v = calloc(n, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			if (!acl[i] || !acl[i][0] || strlen(acl[i]) >= ISCSI_NAME_MAX) {
				for (size_t j = 0; j < i; j++)
					free(v[j]);
				free(v);
				vs_set_error("acl[%zu]: not an iSCSI name (1..223 bytes)", i);
				return -EINVAL;
			}
			v[i] = strdup(acl[i]);
			if (!v[i]) {
				for (size_t j = 0; j < i; j++)
					free(v[j]);
				free(v);
				return -ENOMEM;
			}
		}
	}
	free_acl(t);
	t->acl = v;
	t->nacl = n;
	return 0;
}

static int set_creds(struct iscsi_chap_creds *cr, bool *on, const struct vs_iscsi_chap *chap)
{
	if (!chap) {
		memset(cr, 0, sizeof(*cr));
		*on = false;
		return 0;
	}
	if (!chap->user || !chap->user[0] || !chap->secret || !chap->secret[0]) {
		vs_set_error("chap: user and secret are required");
		return -EINVAL;
	}
	if (strlen(chap->user) >= sizeof(cr->user) || strlen(chap->secret) >= sizeof(cr->secret) ||
	    (chap->mutual_user && strlen(chap->mutual_user) >= sizeof(cr->mutual_user)) ||
	    (chap->mutual_secret && strlen(chap->mutual_secret) >= sizeof(cr->mutual_secret))) {
		vs_set_error("chap: user/secret longer than 255 bytes");
		return -EINVAL;
	}
	if ((chap->mutual_user && chap->mutual_user[0]) != (chap->mutual_secret && chap->mutual_secret[0])) {
		vs_set_error("chap: mutual_user and mutual_secret go together");
		return -EINVAL;
	}
	memset(cr, 0, sizeof(*cr));
	copy_str(cr->user, sizeof(cr->user), chap->user);
	copy_str(cr->secret, sizeof(cr->secret), chap->secret);
	copy_str(cr->mutual_user, sizeof(cr->mutual_user), chap->mutual_user);
	copy_str(cr->mutual_secret, sizeof(cr->mutual_secret), chap->mutual_secret);
	*on = true;
	return 0;
}

/* The target (other than `except`) that receives `port`'s bus events. */
static struct iscsi_target *event_target_locked(struct vs_iscsi *is, struct vs_port *port,
                                                const struct iscsi_target *except)
{
	for (struct iscsi_target *t = is->targets; t; t = t->next)
		if (t != except && !t->removed && t->port == port)
			return t;
	return NULL;
}

static struct iscsi_target *find_target_locked(struct vs_iscsi *is, const char *iqn)
{
	for (struct iscsi_target *t = is->targets; t; t = t->next)
		if (!t->removed && strcasecmp(t->iqn, iqn) == 0)
			return t;
	return NULL;
}

/* ---------------------------------------------------------------- login env */

static void *env_find_target(void *ctx, const char *name)
{
	struct iscsi_conn *c = ctx;
	struct iscsi_target *t;

	if (!name)
		return NULL;
	pthread_mutex_lock(&c->is->lock);
	t = find_target_locked(c->is, name);
	pthread_mutex_unlock(&c->is->lock);
	return t;
}

static const char *env_target_name(void *ctx, void *target)
{
	(void)ctx;
	return target ? ((struct iscsi_target *)target)->iqn : NULL;
}

static const char *env_target_alias(void *ctx, void *target)
{
	struct iscsi_target *t = target;

	(void)ctx;
	return t && t->has_alias ? t->alias : NULL;
}

bool vs_iscsi_target_acl_lists_locked(const struct iscsi_target *t, const char *initiator)
{
	for (size_t i = 0; i < t->nacl && initiator; i++)
		if (strcasecmp(t->acl[i], initiator) == 0)
			return true;
	return false;
}

static bool env_initiator_allowed(void *ctx, void *target, const char *initiator)
{
	struct iscsi_conn *c = ctx;
	struct iscsi_target *t = target;
	bool ok;

	if (!t)
		return true;
	pthread_mutex_lock(&c->is->lock);
	ok = t->nacl == 0 || vs_iscsi_target_acl_lists_locked(t, initiator);
	pthread_mutex_unlock(&c->is->lock);
	return ok;
}

/* A copy under is->lock: vs_iscsi_set_chap rewrites the credentials in
 * place under it while logins on other threads use them. */
static bool env_chap_for(void *ctx, void *target, struct iscsi_chap_creds *out)
{
	struct iscsi_conn *c = ctx;
	struct iscsi_target *t = target;
	bool on;

	pthread_mutex_lock(&c->is->lock);
	on = t ? t->chap_on : c->is->disc_chap_on;
	if (on)
		*out = t ? t->chap : c->is->disc_chap;
	pthread_mutex_unlock(&c->is->lock);
	return on;
}

static void env_for_each_target(void *ctx, void (*emit)(void *ectx, void *target), void *ectx)
{
	struct iscsi_conn *c = ctx;
	struct iscsi_target *list[256];
	size_t n = 0;

	/* Targets are never freed before vs_iscsi_destroy, so the pointers stay
	 * valid after the lock is dropped; emit() may call back into us. */
	pthread_mutex_lock(&c->is->lock);
	for (struct iscsi_target *t = c->is->targets; t && n < 256; t = t->next)
		if (!t->removed)
			list[n++] = t;
	pthread_mutex_unlock(&c->is->lock);
	/* The registry is a LIFO list; report in the order targets were added. */
	while (n)
		emit(ectx, list[--n]);
}

void vs_iscsi_target_env_init(struct vs_iscsi *is, struct iscsi_conn *c)
{
	memset(&c->env, 0, sizeof(c->env));
	c->env.ctx = c;
	c->env.find_target = env_find_target;
	c->env.target_name = env_target_name;
	c->env.target_alias = env_target_alias;
	c->env.initiator_allowed = env_initiator_allowed;
	c->env.chap_for = env_chap_for;
	c->env.for_each_target = env_for_each_target;
	c->env.target_served = vs_iscsi_env_target_served;
	c->env.for_each_address = vs_iscsi_env_for_each_address;
	c->env.tpgt = ISCSI_TPGT;
	c->env.limits = &is->limits;
}

/* ---------------------------------------------------------------- portals */

/*
 * Socket options of an accepted connection.  TCP_NODELAY: a PDU goes out
 * whole at once.  The kernel's own dead-peer detection backs up the NOP-In
 * pings (nop.c), which need a free control slot and a readable answer:
 * TCP_USER_TIMEOUT closes the connection when sent data stays
 * unacknowledged (or cannot be sent into a zero window) for nop_timeout,
 * and keepalive probes a connection idle for nop_interval, nop_timeout/3
 * apart, three times.
 */
void vs_iscsi_socket_tune(int fd, const struct vs_iscsi_config *cfg)
{
	int one = 1;
	int idle = (int)(cfg->nop_interval_ms / 1000u), intvl = (int)(cfg->nop_timeout_ms / 3000u);
	int cnt = 3;
	unsigned int user_timeout = cfg->nop_timeout_ms;

	if (idle < 1)
		idle = 1;
	if (intvl < 1)
		intvl = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
}

/*
 * A place in the login budget for a connection from peer (admission.h), or
 * false (counted and logged).  A login connection whose place it took is
 * closed on its own loop.
 */
static bool admit_login(struct vs_iscsi *is, const struct sockaddr_storage *peer, const char *text,
                        int *slot)
{
	struct iscsi_adm_verdict v;
	char victim[64] = "";
	bool ok;

	pthread_mutex_lock(&is->lock);
	ok = vs_iscsi_adm_login_admit(&is->adm, peer, vs_loop_clock_ns(), &v);
	if (v.victim) {
		/* Bound connections are attached: accept runs on loop 0 only,
		 * and binds each one before it attaches it and takes the next. */
		struct iscsi_conn *old = v.victim;

		old->kill_reason = "evicted while logging in (its address holds the most logins)";
		vs_iscsi_conn_kill_async(old);
		copy_str(victim, sizeof(victim), old->peer);
	}
	pthread_mutex_unlock(&is->lock);
	*slot = v.slot;
	if (v.victim)
		vs_iscsi_adm_note(&is->adm, VS_ISCSI_DROPPED_LOGIN_EVICTED,
		               "conn from %s closed while logging in: max_login_connections (%u) "
		               "reached, its address holds the most, %s fewer",
		               victim, is->adm.lim.max_logins, text);
	if (!ok && v.refused == VS_ISCSI_REFUSED_LOGINS_PER_SOURCE)
		vs_iscsi_adm_note(&is->adm, v.refused,
		               "conn from %s refused: max_logins_per_source (%u) logging in from there",
		               text, is->adm.lim.logins_per_source);
	else if (!ok)
		vs_iscsi_adm_note(&is->adm, v.refused,
		               "conn from %s refused: max_login_connections (%u) logging in", text,
		               is->adm.lim.max_logins);
	return ok;
}

static void on_accept(struct vs_loop_fd *h, uint32_t events)
{
	struct iscsi_portal *pt = ISCSI_CONTAINER_OF(h, struct iscsi_portal, h);
	struct vs_iscsi *is = pt->is;

	(void)events;
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage peer, local;
		socklen_t plen = sizeof(peer), llen = sizeof(local);
		char pbuf[64], lbuf[64];
		struct iscsi_conn *c;
		int slot;
		int fd = accept4(pt->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			/* While stopping, vs_iscsi_stop shuts the listener down from its
			 * own thread, so an event already taken from epoll meets a dead
			 * socket (EINVAL): nothing to report. */
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && !is->stopping)
				vs_iscsi_log(ISCSI_LOG_WARN, "portal %s: accept: %s", pt->addr, strerror(errno));
			return;
		}
		vs_addr_format(&peer, pbuf, sizeof(pbuf));
		if (is->stopping) {
			close(fd);
			continue;
		}
		if (atomic_load(&is->nconns) >= is->cfg.max_connections) {
			vs_iscsi_adm_note(&is->adm, VS_ISCSI_REFUSED_MAX_CONNECTIONS,
			               "conn from %s refused: max_connections (%u) reached", pbuf,
			               is->cfg.max_connections);
			close(fd);
			continue;
		}
		if (!admit_login(is, &peer, pbuf, &slot)) {
			close(fd);
			continue;
		}
		vs_iscsi_socket_tune(fd, &is->cfg);
		if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0)
			vs_addr_format(&local, lbuf, sizeof(lbuf));
		else
			copy_str(lbuf, sizeof(lbuf), pt->addr);
		c = vs_iscsi_conn_create(is, fd, pbuf, lbuf);
		pthread_mutex_lock(&is->lock);
		if (c)
			vs_iscsi_adm_login_bind(&is->adm, slot, c);
		else
			vs_iscsi_adm_login_cancel(&is->adm, slot);
		pthread_mutex_unlock(&is->lock);
		if (!c) {
			vs_iscsi_log(ISCSI_LOG_WARN, "conn from %s refused: out of memory", pbuf);
			close(fd);
			continue;
		}
		c->login_budget = true;
		/* Which targets it may log in to (portal.c). */
		copy_str(c->portal, sizeof(c->portal), pt->text);
		c->portal_default = pt->is_default;
		/* The group's next loop in turn (other fabrics share the count). */
		vs_iscsi_conn_attach(c, &is->loops[vs_loop_index(vs_loop_group_pick(is->group,
		                                                                  VS_LOOP_PICK_NEXT))]);
	}
}

int vs_iscsi_portal_resolve(const char *addr_port, struct sockaddr_storage *ss)
{
	return vs_addr_parse(addr_port, ss);
}

static bool is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return ss->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

int vs_iscsi_portal_open_locked(struct vs_iscsi *is, const char *addr_port, bool is_default,
                             struct iscsi_portal **out)
{
	struct sockaddr_storage ss;
	struct iscsi_portal *pt = NULL;
	socklen_t len;
	int fd, one = 1, rc;

	if (vs_iscsi_portal_resolve(addr_port, &ss) < 0) {
		vs_set_error("'%s' is not ADDR:PORT or [V6ADDR]:PORT", addr_port ? addr_port : "");
		return -EINVAL;
	}
	for (unsigned i = 0; i < is->nportals && !pt; i++)
		if (is->portals[i].fd < 0 && !is->portals[i].closing)
			pt = &is->portals[i];
	if (!pt && is->nportals < ISCSI_MAX_PORTALS)
		pt = &is->portals[is->nportals];
	if (!pt) {
		vs_set_error("'%s': at most %d portals", addr_port, ISCSI_MAX_PORTALS);
		return -ENOSPC;
	}
	len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		vs_set_error("'%s': socket: %s", addr_port, strerror(-rc));
		return rc;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
		rc = -errno;
		close(fd);
		vs_set_error("'%s': %s", addr_port, strerror(-rc));
		return rc;
	}
	memset(pt, 0, sizeof(*pt));
	pt->is = is;
	pt->fd = fd;
	pt->h.fn = on_accept;
	pt->sa = ss;
	pt->wildcard = is_wildcard(&ss);
	pt->is_default = is_default;
	copy_str(pt->addr, sizeof(pt->addr), addr_port);
	vs_addr_format(&ss, pt->text, sizeof(pt->text));
	copy_str(pt->port, sizeof(pt->port), strrchr(pt->text, ':') + 1);
	if (pt == &is->portals[is->nportals])
		is->nportals++;
	vs_iscsi_log(ISCSI_LOG_INFO, "listening on %s", pt->text);
	*out = pt;
	return 0;
}

int vs_iscsi_portal_watch_locked(struct vs_iscsi *is, struct iscsi_portal *pt)
{
	if (!is->started || pt->registered)
		return 0;
	int rc = vs_loop_fd_add(is->loops[0].base, pt->fd, EPOLLIN, &pt->h);

	if (rc < 0) {
		vs_set_error("'%s': epoll: %s", pt->addr, strerror(-rc));
		return rc;
	}
	pt->registered = true;
	return 0;
}

int vs_iscsi_add_portal(struct vs_iscsi *is, const char *addr_port)
{
	struct iscsi_portal *pt;
	int rc;

	if (!is) {
		vs_set_error("portal: no fabric");
		return -EINVAL;
	}
	pthread_mutex_lock(&is->lock);
	rc = vs_iscsi_portal_open_locked(is, addr_port, true, &pt);
	if (rc == 0) {
		rc = vs_iscsi_portal_watch_locked(is, pt);
		if (rc < 0) {
			close(pt->fd);
			pt->fd = -1;
		}
	}
	pthread_mutex_unlock(&is->lock);
	if (rc < 0) {
		char why[256];
		copy_str(why, sizeof(why), vs_last_error());
		vs_set_error("portal: %s", why);
	}
	return rc;
}

/* ---------------------------------------------------------------- lifecycle */

/* One field of the configuration outside [lo, hi]: the error names it. */
static bool out_of_range(const char *field, uint32_t v, uint32_t lo, uint32_t hi)
{
	if (v >= lo && v <= hi)
		return false;
	vs_set_error("%s: must be %u-%u, got %u", field, lo, hi, v);
	return true;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* Defaults for the fields left 0, then the ranges of include/vstor/iscsi.h
 * (the configuration loader checks the same ones). */
static int resolve_config(struct vs_iscsi_config *c)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (!c->threads)
		c->threads = ncpu > 0 ? (uint32_t)ncpu : 1;
	if (c->threads > 256)
		c->threads = 256;
	if (!c->max_connections)
		c->max_connections = VS_ISCSI_DEFAULT_MAX_CONNECTIONS;
	if (!c->max_sessions)
		c->max_sessions = VS_ISCSI_DEFAULT_MAX_SESSIONS;
	if (!c->login_timeout_ms)
		c->login_timeout_ms = 15000;
	if (!c->nop_interval_ms)
		c->nop_interval_ms = 5000;
	if (!c->nop_timeout_ms)
		c->nop_timeout_ms = 15000;
	if (!c->queue_depth)
		c->queue_depth = 128;
	if (!c->max_recv_dsl)
		c->max_recv_dsl = 262144;
	if (!c->max_burst_length)
		c->max_burst_length = VS_ISCSI_DEFAULT_MAX_BURST;
	if (!c->first_burst_length)
		c->first_burst_length = c->max_burst_length < VS_ISCSI_DEFAULT_FIRST_BURST
		                        ? c->max_burst_length : VS_ISCSI_DEFAULT_FIRST_BURST;
	if (!c->max_outstanding_r2t)
		c->max_outstanding_r2t = 1;     /* RFC 7143 §13.17 default */
	if (!c->poll_us)
		c->poll_us = VS_ISCSI_DEFAULT_POLL_US;
	if (!c->max_login_connections)
		c->max_login_connections = min_u32(VS_ISCSI_DEFAULT_MAX_LOGINS, c->max_connections);
	if (!c->max_logins_per_source)
		c->max_logins_per_source = min_u32(VS_ISCSI_DEFAULT_LOGINS_PER_SOURCE,
		                                   c->max_login_connections);
	if (!c->reserved_sessions)
		c->reserved_sessions = c->max_sessions / 8;
	else if (c->reserved_sessions == VS_ISCSI_RESERVED_NONE)
		c->reserved_sessions = 0;
	if (!c->max_discovery_sessions)
		c->max_discovery_sessions = VS_ISCSI_DEFAULT_MAX_DISCOVERY;
	if (!c->discovery_idle_ms)
		c->discovery_idle_ms = VS_ISCSI_DEFAULT_DISCOVERY_IDLE_MS;
	/* RFC 7143 §13.12-13.14: 512 .. 2^24-1; our buffers are smaller. */
	if (out_of_range("max_connections", c->max_connections, 1, VS_ISCSI_MAX_CONNECTIONS_MAX) ||
	    out_of_range("max_sessions", c->max_sessions, 1, VS_ISCSI_MAX_SESSIONS_MAX) ||
	    out_of_range("login_timeout_ms", c->login_timeout_ms, VS_ISCSI_TIMER_MS_MIN,
	                 VS_ISCSI_TIMER_MS_MAX) ||
	    out_of_range("nop_interval_ms", c->nop_interval_ms, VS_ISCSI_TIMER_MS_MIN,
	                 VS_ISCSI_TIMER_MS_MAX) ||
	    out_of_range("nop_timeout_ms", c->nop_timeout_ms, VS_ISCSI_TIMER_MS_MIN,
	                 VS_ISCSI_TIMER_MS_MAX) ||
	    out_of_range("queue_depth", c->queue_depth, 1, VS_ISCSI_QUEUE_DEPTH_MAX) ||
	    out_of_range("max_recv_dsl", c->max_recv_dsl, VS_ISCSI_DSL_MIN, VS_ISCSI_MAX_RECV_DSL_MAX) ||
	    out_of_range("max_burst_length", c->max_burst_length, VS_ISCSI_DSL_MIN, VS_ISCSI_BURST_MAX) ||
	    out_of_range("first_burst_length", c->first_burst_length, VS_ISCSI_DSL_MIN,
	                 c->max_burst_length) ||
	    out_of_range("max_outstanding_r2t", c->max_outstanding_r2t, 1, VS_ISCSI_MAX_R2T_MAX) ||
	    out_of_range("max_login_connections", c->max_login_connections, 1,
	                 min_u32(VS_ISCSI_MAX_LOGINS_MAX, c->max_connections)) ||
	    out_of_range("max_logins_per_source", c->max_logins_per_source, 1,
	                 c->max_login_connections) ||
	    out_of_range("reserved_sessions", c->reserved_sessions, 0, c->max_sessions) ||
	    out_of_range("max_discovery_sessions", c->max_discovery_sessions, 1,
	                 VS_ISCSI_MAX_SESSIONS_MAX) ||
	    out_of_range("discovery_idle_ms", c->discovery_idle_ms, VS_ISCSI_TIMER_MS_MIN,
	                 VS_ISCSI_TIMER_MS_MAX) ||
	    (c->poll_us != VS_ISCSI_POLL_OFF &&
	     out_of_range("poll_us", c->poll_us, 1, VS_ISCSI_POLL_US_MAX)))
		return -EINVAL;
	return 0;
}

struct vs_iscsi *vs_iscsi_create(const struct vs_iscsi_config *cfg)
{
	struct vs_iscsi *is = calloc(1, sizeof(*is));

	if (!is) {
		vs_set_error("iscsi: out of memory");
		return NULL;
	}
	if (cfg)
		is->cfg = *cfg;
	if (resolve_config(&is->cfg) < 0) {
		free(is);
		return NULL;
	}
	if (vs_iscsi_adm_init(&is->adm, &(struct iscsi_adm_limits){
	            .max_logins = is->cfg.max_login_connections,
	            .logins_per_source = is->cfg.max_logins_per_source,
	            .max_sessions = is->cfg.max_sessions,
	            .reserved_sessions = is->cfg.reserved_sessions,
	            .max_discovery = is->cfg.max_discovery_sessions,
	            .discovery_replace_ns = ISCSI_DISCOVERY_REPLACE_MS * 1000000ull,
	    }) < 0) {
		vs_set_error("iscsi: out of memory");
		free(is);
		return NULL;
	}
	is->limits.max_recv_dsl = is->cfg.max_recv_dsl;
	is->limits.max_burst_length = is->cfg.max_burst_length;
	is->limits.first_burst_length = is->cfg.first_burst_length;
	is->limits.max_outstanding_r2t = is->cfg.max_outstanding_r2t;
	is->limits.max_connections = 1;
	is->limits.immediate_data = true;
	is->limits.initial_r2t = false;
	is->limits.allow_digests = true;
	pthread_mutex_init(&is->lock, NULL);
	pthread_cond_init(&is->cond, NULL);
	is->next_tsih = 1;
	return is;
}

/* Drop the fabric's loop state (and its own group): nothing of the fabric
 * is on any loop any more. */
static void release_loops(struct vs_iscsi *is)
{
	free(is->loops);
	is->loops = NULL;
	is->nloops = 0;
	if (is->own_group) {
		vs_loop_group_destroy(is->own_group);
		is->own_group = NULL;
	}
	is->group = NULL;
}

int vs_iscsi_start(struct vs_iscsi *is)
{
	uint32_t poll_ns;
	int rc;

	if (!is || is->started) {
		vs_set_error("iscsi: already started");
		return -EALREADY;
	}
	is->group = is->cfg.group;
	if (!is->group) {
		is->own_group = vs_loop_group_create(is->cfg.threads, "iscsi");
		if (!is->own_group) {
			char why[256];
			snprintf(why, sizeof(why), "%s", vs_last_error());
			vs_set_error("iscsi: %s", why);
			return -ENOMEM;
		}
		is->group = is->own_group;
	}
	is->nloops = vs_loop_group_size(is->group);
	is->loops = calloc(is->nloops, sizeof(*is->loops));
	if (!is->loops) {
		release_loops(is);
		vs_set_error("iscsi: out of memory");
		return -ENOMEM;
	}
	poll_ns = is->cfg.poll_us == VS_ISCSI_POLL_OFF ? 0 : is->cfg.poll_us * 1000u;
	for (unsigned i = 0; i < is->nloops; i++)
		vs_iscsi_loop_init(&is->loops[i], is, vs_loop_group_loop(is->group, i), i, poll_ns);
	if (is->own_group) {
		rc = vs_loop_group_start(is->own_group);
		if (rc < 0) {
			release_loops(is);
			return rc;
		}
	}
	/* Ticks and polling first: the loops take messages in order, so no
	 * connection arrives on a loop before them. */
	for (unsigned i = 0; i < is->nloops; i++)
		vs_iscsi_loop_attach(&is->loops[i]);
	pthread_mutex_lock(&is->lock);
	is->loops_detached = 0;
	is->started = true;
	for (unsigned i = 0; i < is->nportals; i++) {
		if (is->portals[i].fd >= 0 &&
		    vs_loop_fd_add(is->loops[0].base, is->portals[i].fd, EPOLLIN, &is->portals[i].h) == 0)
			is->portals[i].registered = true;
	}
	pthread_mutex_unlock(&is->lock);
	vs_iscsi_log(ISCSI_LOG_INFO, "started: %u event loops%s, %u portals", is->nloops,
	          is->own_group ? "" : " (shared)", is->nportals);
	return 0;
}

/*
 * The loops keep running (a shared group serves others), so the fabric
 * waits for its own work to end: first every connection (the graceful
 * stop runs on each loop's tick, see iscsi_loop.c; a connection is freed
 * only once its SRBs and messages are done), then each loop lets go of
 * the fabric's tick and polling hook after a pass in which nothing of the
 * fabric can be named any more (the listeners were taken out of epoll
 * before).
 */
void vs_iscsi_stop(struct vs_iscsi *is, uint32_t grace_ms)
{
	if (!is || !is->started)
		return;
	is->stop_deadline_ns = vs_loop_clock_ns() + (uint64_t)grace_ms * 1000000ull;
	is->stopping = true;
	pthread_mutex_lock(&is->lock);
	for (unsigned i = 0; i < is->nportals; i++) {
		struct iscsi_portal *pt = &is->portals[i];

		if (pt->fd < 0)
			continue;       /* a free slot */
		if (pt->registered) {
			vs_loop_fd_del(is->loops[0].base, pt->fd);
			pt->registered = false;
		}
		shutdown(pt->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&is->lock);
	for (unsigned i = 0; i < is->nloops; i++)
		vs_iscsi_loop_stop_now(&is->loops[i]);
	pthread_mutex_lock(&is->lock);
	while (atomic_load(&is->nconns))
		pthread_cond_wait(&is->cond, &is->lock);
	pthread_mutex_unlock(&is->lock);
	for (unsigned i = 0; i < is->nloops; i++)
		vs_iscsi_loop_detach(&is->loops[i]);
	pthread_mutex_lock(&is->lock);
	while (is->loops_detached < is->nloops)
		pthread_cond_wait(&is->cond, &is->lock);
	pthread_mutex_unlock(&is->lock);
	release_loops(is);
	for (unsigned i = 0; i < is->nportals; i++)
		if (is->portals[i].fd >= 0)
			close(is->portals[i].fd);
	is->nportals = 0;
	is->started = false;
	is->stopping = false;
	vs_iscsi_log(ISCSI_LOG_INFO, "stopped");
}

void vs_iscsi_destroy(struct vs_iscsi *is)
{
	if (!is)
		return;
	vs_iscsi_stop(is, 0);
	for (unsigned i = 0; i < is->nportals; i++)
		if (is->portals[i].fd >= 0)
			close(is->portals[i].fd);
	/* Ports outlive us (the caller destroys them next). */
	for (struct iscsi_target *t = is->targets; t; t = t->next)
		if (t->event_handler)
			vs_port_set_event_handler(t->port, NULL, NULL);
	while (is->targets) {
		struct iscsi_target *t = is->targets;

		is->targets = t->next;
		free_acl(t);
		free(t);
	}
	vs_iscsi_adm_fini(&is->adm);
	pthread_mutex_destroy(&is->lock);
	pthread_cond_destroy(&is->cond);
	free(is);
}

/* ---------------------------------------------------------------- targets */

int vs_iscsi_add_target(struct vs_iscsi *is, const struct vs_iscsi_target_config *tc)
{
	struct iscsi_target *t;
	int rc;

	if (!is || !tc) {
		vs_set_error("target: missing config");
		return -EINVAL;
	}
	if (!tc->iqn || !tc->iqn[0] || strlen(tc->iqn) >= ISCSI_NAME_MAX) {
		vs_set_error("target.iqn: must be 1..223 bytes");
		return -EINVAL;
	}
	if (strncasecmp(tc->iqn, "iqn.", 4) && strncasecmp(tc->iqn, "eui.", 4) &&
	    strncasecmp(tc->iqn, "naa.", 4)) {
		vs_set_error("target.iqn: '%s' is not an iqn./eui./naa. name (RFC 7143 §4.2.7)", tc->iqn);
		return -EINVAL;
	}
	if (!tc->port) {
		vs_set_error("target.port: missing");
		return -EINVAL;
	}
	if (tc->alias && strlen(tc->alias) >= 256) {
		vs_set_error("target.alias: longer than 255 bytes");
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		vs_set_error("target: out of memory");
		return -ENOMEM;
	}
	copy_str(t->iqn, sizeof(t->iqn), tc->iqn);
	if (tc->alias) {
		copy_str(t->alias, sizeof(t->alias), tc->alias);
		t->has_alias = true;
	}
	t->port = tc->port;
	t->is = is;
	rc = copy_acl(t, tc->acl, tc->acl ? tc->nacl : 0);
	if (rc == 0)
		rc = set_creds(&t->chap, &t->chap_on, tc->chap);
	if (rc < 0) {
		free_acl(t);
		free(t);
		return rc;
	}
	pthread_mutex_lock(&is->lock);
	if (find_target_locked(is, tc->iqn)) {
		pthread_mutex_unlock(&is->lock);
		free_acl(t);
		free(t);
		vs_set_error("target.iqn: '%s' already exists", tc->iqn);
		return -EEXIST;
	}
	/* Listening before the target is known: a login that comes in between
	 * finds no target, which is the truth at that moment. */
	rc = vs_iscsi_target_bind_portals_locked(is, t, tc->portals, tc->portals ? tc->nportals : 0);
	if (rc < 0) {
		pthread_mutex_unlock(&is->lock);
		free_acl(t);
		free(t);
		return rc;
	}
	/* One handler per port: the first target on it registers, and the
	 * handler tells every session on that port (async.c). */
	t->event_handler = event_target_locked(is, t->port, NULL) == NULL;
	t->next = is->targets;
	is->targets = t;
	pthread_mutex_unlock(&is->lock);
	/* Outside is->lock: the handler runs under the port's event lock and
	 * takes is->lock. */
	if (t->event_handler)
		vs_port_set_event_handler(t->port, vs_iscsi_async_port_event, t);
	vs_iscsi_log(ISCSI_LOG_INFO, "target %s added", t->iqn);
	return 0;
}

int vs_iscsi_remove_target(struct vs_iscsi *is, const char *iqn, bool force)
{
	struct iscsi_target *t, *next_handler;
	bool had_handler;

	if (!is || !iqn) {
		vs_set_error("target.iqn: missing");
		return -EINVAL;
	}
	pthread_mutex_lock(&is->lock);
	t = find_target_locked(is, iqn);
	if (!t) {
		pthread_mutex_unlock(&is->lock);
		vs_set_error("target.iqn: '%s' not found", iqn);
		return -ENOENT;
	}
	if (t->nsessions && !force) {
		pthread_mutex_unlock(&is->lock);
		vs_set_error("target '%s': %u sessions logged in", iqn, t->nsessions);
		return -EBUSY;
	}
	t->removed = true;
	for (struct iscsi_session *s = is->sessions; s; s = s->next)
		if (s->target == t && s->conn)
			vs_iscsi_conn_kill_async(s->conn);
	/* The caller may destroy the port next: wait until every session of
	 * this target has let go of its nexus. */
	while (t->nsessions && is->started)
		pthread_cond_wait(&is->cond, &is->lock);
	vs_iscsi_target_unbind_portals_locked(is, t);
	next_handler = NULL;
	had_handler = t->event_handler;
	t->event_handler = false;
	if (had_handler) {
		next_handler = event_target_locked(is, t->port, t);
		if (next_handler)
			next_handler->event_handler = true;
	}
	pthread_mutex_unlock(&is->lock);
	/* After this the port never calls us with the removed target. */
	if (had_handler)
		vs_port_set_event_handler(t->port, next_handler ? vs_iscsi_async_port_event : NULL,
		                          next_handler);
	vs_iscsi_log(ISCSI_LOG_INFO, "target %s removed", iqn);
	return 0;
}

int vs_iscsi_target_stats(struct vs_iscsi *is, const char *iqn, struct vs_iscsi_target_stats *out)
{
	struct iscsi_target *t;

	if (!is || !iqn || !out) {
		vs_set_error("target_stats: missing argument");
		return -EINVAL;
	}
	pthread_mutex_lock(&is->lock);
	t = find_target_locked(is, iqn);
	if (t)
		*out = (struct vs_iscsi_target_stats){
			.sessions = t->nsessions,
			.logins_refused_auth = atomic_load(&t->refused_auth),
			.logins_refused_acl = atomic_load(&t->refused_acl),
		};
	pthread_mutex_unlock(&is->lock);
	if (!t) {
		vs_set_error("target.iqn: '%s' not found", iqn);
		return -ENOENT;
	}
	return 0;
}

int vs_iscsi_admission_stats(struct vs_iscsi *is, struct vs_iscsi_admission_stats *out)
{
	if (!is || !out) {
		vs_set_error("admission_stats: missing argument");
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&is->lock);
	out->logins = is->adm.nlogins;
	out->sessions = is->adm.nsessions;
	out->discovery_sessions = is->adm.ndiscovery;
	pthread_mutex_unlock(&is->lock);
	out->connections = atomic_load(&is->nconns);
	for (int i = 0; i < VS_ISCSI_ADMISSION_EVENTS; i++)
		out->events[i] = atomic_load(&is->adm.events[i]);
	return 0;
}

const char *vs_iscsi_admission_event_name(int event)
{
	/* What refused: the configuration key of the limit; what dropped:
	 * what happened.  vstorctl stats and the metrics both use these. */
	static const char *const names[VS_ISCSI_ADMISSION_EVENTS] = {
		[VS_ISCSI_REFUSED_MAX_CONNECTIONS] = "max_connections",
		[VS_ISCSI_REFUSED_MAX_LOGINS] = "max_login_connections",
		[VS_ISCSI_REFUSED_LOGINS_PER_SOURCE] = "max_logins_per_source",
		[VS_ISCSI_REFUSED_MAX_SESSIONS] = "max_sessions",
		[VS_ISCSI_REFUSED_RESERVED] = "reserved_sessions",
		[VS_ISCSI_REFUSED_MAX_DISCOVERY] = "max_discovery_sessions",
		[VS_ISCSI_DROPPED_LOGIN_TIMEOUT] = "login_timeout",
		[VS_ISCSI_DROPPED_LOGIN_EVICTED] = "login_evicted",
		[VS_ISCSI_DROPPED_DISCOVERY_IDLE] = "discovery_idle",
		[VS_ISCSI_DROPPED_DISCOVERY_REPLACED] = "discovery_replaced",
	};

	return event >= 0 && event < VS_ISCSI_ADMISSION_EVENTS ? names[event] : NULL;
}

int vs_iscsi_set_acl(struct vs_iscsi *is, const char *iqn, const char *const *acl, size_t n)
{
	struct iscsi_target *t;
	int rc;

	if (!is || !iqn) {
		vs_set_error("target.iqn: missing");
		return -EINVAL;
	}
	pthread_mutex_lock(&is->lock);
	t = find_target_locked(is, iqn);
	rc = t ? copy_acl(t, acl, acl ? n : 0) : -ENOENT;
	pthread_mutex_unlock(&is->lock);
	if (rc == -ENOENT)
		vs_set_error("target.iqn: '%s' not found", iqn);
	return rc;
}

int vs_iscsi_set_chap(struct vs_iscsi *is, const char *iqn, const struct vs_iscsi_chap *chap)
{
	struct iscsi_target *t;
	int rc;

	if (!is || !iqn) {
		vs_set_error("target.iqn: missing");
		return -EINVAL;
	}
	pthread_mutex_lock(&is->lock);
	t = find_target_locked(is, iqn);
	rc = t ? set_creds(&t->chap, &t->chap_on, chap) : -ENOENT;
	pthread_mutex_unlock(&is->lock);
	if (rc == -ENOENT)
		vs_set_error("target.iqn: '%s' not found", iqn);
	return rc;
}

int vs_iscsi_set_discovery_chap(struct vs_iscsi *is, const struct vs_iscsi_chap *chap)
{
	int rc;

	if (!is)
		return -EINVAL;
	pthread_mutex_lock(&is->lock);
	rc = set_creds(&is->disc_chap, &is->disc_chap_on, chap);
	pthread_mutex_unlock(&is->lock);
	return rc;
}

size_t vs_iscsi_sessions(struct vs_iscsi *is, struct vs_iscsi_session_info *out, size_t max)
{
	size_t n = 0;

	if (!is)
		return 0;
	pthread_mutex_lock(&is->lock);
	for (struct iscsi_session *s = is->sessions; s && n < max; s = s->next) {
		struct vs_iscsi_session_info *o = &out[n++];

		memset(o, 0, sizeof(*o));
		copy_str(o->target, sizeof(o->target), s->target ? s->target->iqn : "");
		copy_str(o->initiator, sizeof(o->initiator), s->initiator);
		memcpy(o->isid, s->isid, 6);
		o->tsih = s->tsih;
		o->connections = s->conn ? 1 : 0;
		o->header_digest = s->params.header_digest;
		o->data_digest = s->params.data_digest;
		o->max_recv_dsl = s->params.max_recv_dsl;
		o->max_xmit_dsl = s->params.max_xmit_dsl;
		o->max_burst = s->params.max_burst_length;
		o->first_burst = s->params.first_burst_length;
		o->immediate_data = s->params.immediate_data;
		o->initial_r2t = s->params.initial_r2t;
		copy_str(o->peer, sizeof(o->peer), s->peer);
	}
	pthread_mutex_unlock(&is->lock);
	return n;
}
