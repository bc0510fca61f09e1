/* SPDX-License-Identifier: MIT */
/*
 * The service socket (doc/service-protocol.md, "Control messages"): one
 * thread of the host's own accepts services, checks their credentials,
 * answers HELLO with the shared memory and doorbells, and carries out
 * ATTACH and DETACH through the control plane (which may block: never on
 * a fabric's loop).  Completions never pass here; they are on the
 * connection's loop (ring.c).
 *
 * What a service can make us hold is bounded: SVC_MAX_CONNS connections
 * (one more is told so and closed), a HELLO within SVC_HELLO_TIMEOUT_MS,
 * messages of at most VS_SVC_MSG_MAX bytes with no file descriptors,
 * SVC_MAX_LUNS_PER_CONN LUNs each and SVC_MAX_LUNS in all, and the sizes
 * HELLO may ask for.  Anything else ends the connection with an ERROR
 * message naming the field.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "svc_int.h"
#include "../util/vs_unix.h"

#define ASC_POWER_ON_OR_RESET 0x2900

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall_s(void)
{
	return (uint64_t)time(NULL);
}

void vs_host_log(struct vs_svc_host *h, int level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!h->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	h->cfg.log(level, line);
}

/* ---------------------------------------------------------------- connections */

void vs_conn_get(struct svc_conn *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

int vs_conn_state(struct svc_conn *c)
{
	int state;

	pthread_mutex_lock(&c->lock);
	state = c->state;
	pthread_mutex_unlock(&c->lock);
	return state;
}

void vs_conn_put(struct svc_conn *c)
{
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (c->sock >= 0)
		close(c->sock);
	if (c->sq_efd >= 0)
		close(c->sq_efd);
	if (c->cq_efd >= 0)
		close(c->cq_efd);
	vs_area_put(c->area);
	free(c->slots);
	free(c->nexus_gen);
	free(c->lost_pending);
	free(c->reset_pending);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->send_lock);
	pthread_mutex_destroy(&c->reap_lock);
	free(c);
}

int vs_conn_send(struct svc_conn *c, const void *msg, size_t len, const int *fds, int nfds)
{
	ssize_t n;
	int rc = 0;

	pthread_mutex_lock(&c->send_lock);
	if (c->sock < 0)
		rc = -ENOTCONN;
	else if ((n = vs_unix_send_fds(c->sock, msg, len, fds, nfds, MSG_DONTWAIT)) != (ssize_t)len)
		rc = n < 0 ? (int)n : -EIO;
	pthread_mutex_unlock(&c->send_lock);
	return rc;
}

static void send_error(struct svc_conn *c, const char *why)
{
	struct vs_svc_error m = { .hdr = { VS_SVC_MSG_ERROR, sizeof(m), 0 } };

	snprintf(m.message, sizeof(m.message), "%s", why);
	(void)vs_conn_send(c, &m, sizeof(m), NULL, 0);
}

static void reply(struct svc_conn *c, uint64_t request_id, uint64_t lun, int status,
                  uint32_t flags, const char *message)
{
	struct vs_svc_reply m = { .hdr = { VS_SVC_MSG_REPLY, sizeof(m), request_id },
	                          .status = status, .flags = flags, .lun = lun };

	snprintf(m.message, sizeof(m.message), "%s", message ? message : "");
	(void)vs_conn_send(c, &m, sizeof(m), NULL, 0);
}

void vs_host_reap(struct vs_svc_host *h, struct svc_conn *c)
{
	pthread_mutex_lock(&h->lock);
	h->reap[h->nreap++] = c;
	pthread_mutex_unlock(&h->lock);
	ssize_t w = eventfd_write(h->wake_fd, 1);
	(void)w;
}

/* Host thread: the connection is finished everywhere else. */
static void conn_close(struct vs_svc_host *h, struct svc_conn *c)
{
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, c->sock, NULL);
	if (c->violation)
		send_error(c, c->why);
	pthread_mutex_lock(&c->send_lock);
	shutdown(c->sock, SHUT_RDWR);
	close(c->sock);
	c->sock = -1;
	pthread_mutex_unlock(&c->send_lock);
	pthread_mutex_lock(&h->lock);
	for (struct svc_conn **pp = &h->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			h->nconns--;
			break;
		}
	}
	/* its regions are unmapped with its area, once the last command
	 * using them is done: a bounded wait, no longer counted here */
	h->lent -= c->region_bytes;
	c->region_bytes = 0;
	pthread_mutex_unlock(&h->lock);
	vs_conn_put(c);            /* the host's */
}

static void reap_all(struct vs_svc_host *h)
{
	struct svc_conn *list[SVC_MAX_CONNS * 2];
	uint32_t n;
	eventfd_t v;

	(void)eventfd_read(h->wake_fd, &v);
	pthread_mutex_lock(&h->lock);
	n = h->nreap;
	memcpy(list, h->reap, n * sizeof(list[0]));
	h->nreap = 0;
	pthread_mutex_unlock(&h->lock);
	for (uint32_t i = 0; i < n; i++)
		conn_close(h, list[i]);
}

/* ---------------------------------------------------------------- LUNs */

void vs_host_luns_orphan(struct vs_svc_host *h, struct svc_conn *c, const char *why)
{
	pthread_mutex_lock(&h->lock);
	for (struct svc_lun *l = h->luns; l; l = l->next) {
		pthread_mutex_lock(&l->mu);
		if (l->conn == c) {
			l->conn = NULL;
			l->gone_since = wall_s();
			snprintf(l->gone_why, sizeof(l->gone_why), "%s", why);
		}
		pthread_mutex_unlock(&l->mu);
	}
	c->nluns = 0;
	pthread_mutex_unlock(&h->lock);
}

/* Take l off the host's list (h->lock held). */
static void lun_unlink_locked(struct vs_svc_host *h, struct svc_lun *l)
{
	for (struct svc_lun **pp = &h->luns; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			h->nluns--;
			return;
		}
	}
}

void vs_host_lun_detached(struct vs_svc_host *h, struct svc_lun *l)
{
	struct svc_conn *tell = NULL;

	pthread_mutex_lock(&h->lock);
	lun_unlink_locked(h, l);
	pthread_mutex_lock(&l->mu);
	if (l->conn) {
		if (l->conn->nluns)
			l->conn->nluns--;
		if (!l->leaving_by_request) {
			tell = l->conn;
			vs_conn_get(tell);
		}
		l->conn = NULL;
	}
	pthread_mutex_unlock(&l->mu);
	pthread_mutex_unlock(&h->lock);
	vs_host_log(h, 2, "service %s: %s LUN %llu removed", l->service, l->target,
	         (unsigned long long)l->number);
	if (tell) {
		struct vs_svc_lun_gone m = { .hdr = { VS_SVC_MSG_LUN_GONE, sizeof(m), 0 },
		                             .lun = l->number };

		(void)vs_conn_send(tell, &m, sizeof(m), NULL, 0);
		vs_conn_put(tell);
	}
	pthread_mutex_destroy(&l->mu);
	free(l);
}

void vs_host_each_conn_of_port(struct vs_svc_host *h, struct vs_port *port,
                            void (*fn)(struct svc_conn *c, void *arg, bool *ring), void *arg)
{
	pthread_mutex_lock(&h->lock);
	for (struct svc_conn *c = h->conns; c; c = c->next) {
		bool ring = false;

		if (c->port != port)
			continue;
		pthread_mutex_lock(&c->lock);
		if (c->state == CONN_ALIVE)
			fn(c, arg, &ring);
		pthread_mutex_unlock(&c->lock);
		if (ring)
			vs_ring_doorbell(c);       /* the host's reference keeps c */
	}
	pthread_mutex_unlock(&h->lock);
}

static struct svc_lun *lun_find(struct vs_svc_host *h, const char *target, uint64_t n)
{
	for (struct svc_lun *l = h->luns; l; l = l->next)
		if (l->number == n && strcmp(l->target, target) == 0)
			return l;
	return NULL;
}

/* ---------------------------------------------------------------- messages */

static bool name_ok(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n == 0 || n == max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* HELLO's fields; NULL or what is wrong. */
static const char *hello_invalid(const struct vs_svc_hello *m, char *why, size_t len)
{
	if (m->magic != VS_SVC_HELLO_MAGIC)
		return "HELLO: magic is not \"STORSVC1\"";
	if (m->version_major != VS_SVC_PROTO_MAJOR) {
		snprintf(why, len, "HELLO: version_major %u, this vstord speaks %u", m->version_major,
		         VS_SVC_PROTO_MAJOR);
		return why;
	}
	if (!name_ok(m->name, sizeof(m->name)))
		return "HELLO: name must be 1-63 characters of [A-Za-z0-9._-], NUL-terminated";
	if (strnlen(m->target, sizeof(m->target)) == 0 ||
	    strnlen(m->target, sizeof(m->target)) == sizeof(m->target))
		return "HELLO: target must be 1-223 bytes, NUL-terminated";
	if (m->ring_entries && (m->ring_entries < VS_SVC_RING_MIN ||
	                        m->ring_entries > VS_SVC_RING_MAX ||
	                        (m->ring_entries & (m->ring_entries - 1)))) {
		snprintf(why, len, "HELLO: ring_entries %u is not a power of two in %u..%u",
		         m->ring_entries, VS_SVC_RING_MIN, VS_SVC_RING_MAX);
		return why;
	}
	if (m->nexus_entries && (m->nexus_entries < VS_SVC_NEXUS_MIN ||
	                         m->nexus_entries > VS_SVC_NEXUS_MAX || m->nexus_entries % 64)) {
		snprintf(why, len, "HELLO: nexus_entries %u is not a multiple of 64 in %u..%u",
		         m->nexus_entries, VS_SVC_NEXUS_MIN, VS_SVC_NEXUS_MAX);
		return why;
	}
	if (m->data_bytes && (m->data_bytes < VS_SVC_DATA_MIN || m->data_bytes > VS_SVC_DATA_MAX ||
	                      m->data_bytes % VS_SVC_MAX_TRANSFER)) {
		snprintf(why, len, "HELLO: data_bytes %llu is not a multiple of 8 MiB in 16 MiB..4 GiB",
		         (unsigned long long)m->data_bytes);
		return why;
	}
	return NULL;
}

/* false: the connection is to go (already told why) */
static bool on_hello(struct vs_svc_host *h, struct svc_conn *c, const struct vs_svc_hello *m)
{
	char why[VS_SVC_TEXT_MAX], err[160];
	const char *bad = hello_invalid(m, why, sizeof(why));
	uint32_t entries = m->ring_entries ? m->ring_entries : SVC_DEFAULT_ENTRIES;
	uint32_t nexus = m->nexus_entries ? m->nexus_entries : SVC_DEFAULT_NEXUS;
	uint64_t data = m->data_bytes ? m->data_bytes : SVC_DEFAULT_DATA;

	if (bad) {
		vs_conn_kill(c, true, "%s", bad);
		return false;
	}
	memcpy(c->name, m->name, sizeof(c->name));
	memcpy(c->target, m->target, sizeof(c->target));
	pthread_mutex_lock(&h->lock);
	for (struct svc_conn *o = h->conns; o; o = o->next) {
		bool alive;

		if (o == c)
			continue;
		alive = vs_conn_state(o) == CONN_ALIVE;
		if (alive && !atomic_load(&o->dying) && strcmp(o->name, c->name) == 0 &&
		    strcmp(o->target, c->target) == 0) {
			pid_t pid = o->pid;

			pthread_mutex_unlock(&h->lock);
			vs_conn_kill(c, true, "HELLO: service %s is already connected for %s (pid %d)",
			          c->name, c->target, (int)pid);
			return false;
		}
	}
	pthread_mutex_unlock(&h->lock);
	c->features = m->features & VS_SVC_F_ALL;
	c->area = vs_area_create(c->name, entries, nexus, data, err, sizeof(err));
	c->sq_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->cq_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!c->area || c->sq_efd < 0 || c->cq_efd < 0) {
		vs_conn_kill(c, true, "HELLO: %s", c->area ? strerror(errno) : err);
		return false;
	}
	pthread_mutex_lock(&c->lock);
	c->state = CONN_ALIVE;
	pthread_mutex_unlock(&c->lock);
	int started = vs_ring_start(c, h->loops);
	if (started < 0) {
		vs_conn_kill(c, true, "HELLO: cannot start: %s", strerror(-started));
		return false;
	}
	struct svc_area *a = c->area;
	struct vs_svc_welcome w = {
		.hdr = { VS_SVC_MSG_WELCOME, sizeof(w), m->hdr.request_id },
		.version_major = VS_SVC_PROTO_MAJOR,
		.version_minor = VS_SVC_PROTO_MINOR,
		.features = c->features,
		.ring_entries = entries,
		.nexus_entries = nexus,
		.area_bytes = a->bytes,
		.sq_offset = a->sq_offset,
		.cq_offset = a->cq_offset,
		.nexus_offset = a->nexus_offset,
		.data_offset = a->data_offset,
		.data_bytes = a->data_bytes,
		.max_transfer = VS_SVC_MAX_TRANSFER,
		.rel_target_port_id = h->cfg.rel_target_port_id,
		.transport_version = h->cfg.transport_version,
	};
	int fds[3] = { a->fd, c->sq_efd, c->cq_efd };
	int rc = vs_conn_send(c, &w, sizeof(w), fds, 3);
	if (rc < 0) {
		vs_conn_kill(c, false, "WELCOME: %s", strerror(-rc));
		return false;
	}
	vs_host_log(h, 2, "service %s (pid %d, uid %u) connected for %s: %u ring entries, %llu MiB of "
	         "shared data", c->name, (int)c->pid, (unsigned)c->uid, c->target, entries,
	         (unsigned long long)(data >> 20));
	return true;
}

static void on_attach(struct vs_svc_host *h, struct svc_conn *c, const struct vs_svc_attach *m)
{
	uint64_t id = m->hdr.request_id, n = m->lun;
	char err[VS_SVC_TEXT_MAX];
	struct svc_lun *l;
	int rc;

	if (n >= SVC_MAX_LUN_NUMBER) {
		reply(c, id, n, -EINVAL, 0, "lun: must be below 16384 (SAM-5 flat space)");
		return;
	}
	if (m->peripheral_type > 0x1f || (m->flags & ~VS_SVC_ATTACH_READONLY) ||
	    strnlen(m->description, sizeof(m->description)) == sizeof(m->description)) {
		reply(c, id, n, -EINVAL, 0,
		      "peripheral_type must be 0-31, flags only READONLY, description NUL-terminated");
		return;
	}
	pthread_mutex_lock(&h->lock);
	l = lun_find(h, c->target, n);
	if (l) {
		const char *busy = NULL;
		bool again = false;

		if (!l->in_port)
			busy = "is being attached";
		else if (strcmp(l->service, c->name) != 0 || l->uid != c->uid)
			busy = "is served by another service";
		else if (c->port && c->port != l->port)
			busy = "is in another target's port";
		else if (c->nluns >= SVC_MAX_LUNS_PER_CONN)
			busy = "is one LUN too many for a service (256)";
		pthread_mutex_lock(&l->mu);
		if (!busy && l->conn == c)
			busy = "is attached already";
		else if (!busy && l->conn) {
			busy = "is still served by the previous instance, which is being disconnected";
			again = atomic_load(&l->conn->dying);
		}
		if (!busy) {
			l->conn = c;
			l->size_bytes = m->size_bytes;
			l->block_size = m->block_size;
			l->peripheral_type = m->peripheral_type;
			l->readonly = m->flags & VS_SVC_ATTACH_READONLY;
			snprintf(l->description, sizeof(l->description), "%s", m->description);
		}
		pthread_mutex_unlock(&l->mu);
		if (busy) {
			snprintf(err, sizeof(err), "LUN %llu %s (service %.64s)", (unsigned long long)n,
			         busy, l->service);
			pthread_mutex_unlock(&h->lock);
			reply(c, id, n, again ? -EAGAIN : -EEXIST, 0, err);
			return;
		}
		c->nluns++;
		c->port = l->port;
		/* The device behind the LUN started afresh: what it kept in
		 * memory (reservations, mode pages, a prevented removal) is gone,
		 * as after a power on (SPC-4 6.37: POWER ON, RESET, OR BUS DEVICE
		 * RESET OCCURRED).  The LUN itself never left: no REPORTED LUNS
		 * DATA HAS CHANGED, no new login. */
		vs_port_lun_unit_attention(l->plun, ASC_POWER_ON_OR_RESET, NULL);
		pthread_mutex_unlock(&h->lock);
		vs_host_log(h, 2, "service %s: %s LUN %llu attached again", c->name, c->target,
		         (unsigned long long)n);
		reply(c, id, n, 0, VS_SVC_REPLY_REATTACHED, NULL);
		return;
	}
	if (c->nluns >= SVC_MAX_LUNS_PER_CONN || h->nluns >= SVC_MAX_LUNS) {
		pthread_mutex_unlock(&h->lock);
		reply(c, id, n, -ENOSPC, 0, c->nluns >= SVC_MAX_LUNS_PER_CONN
		      ? "a service serves at most 256 LUNs" : "vstord serves at most 4096 service LUNs");
		return;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		pthread_mutex_unlock(&h->lock);
		reply(c, id, n, -ENOMEM, 0, "out of memory");
		return;
	}
	l->host = h;
	memcpy(l->target, c->target, sizeof(l->target));
	l->number = n;
	memcpy(l->service, c->name, sizeof(l->service));
	l->uid = c->uid;
	pthread_mutex_init(&l->mu, NULL);
	l->conn = c;
	l->size_bytes = m->size_bytes;
	l->block_size = m->block_size;
	l->peripheral_type = m->peripheral_type;
	l->readonly = m->flags & VS_SVC_ATTACH_READONLY;
	snprintf(l->description, sizeof(l->description), "%s", m->description);
	/* listed before it is in the port, so a death meanwhile finds it */
	l->next = h->luns;
	h->luns = l;
	h->nluns++;
	c->nluns++;
	pthread_mutex_unlock(&h->lock);

	err[0] = '\0';
	rc = h->targets ? h->targets->lun_add(h->targets_ctx, c->target, &vs_svc_proxy_miniport, h, n,
	                                      l, err, sizeof(err))
	                : -ENODEV;
	pthread_mutex_lock(&h->lock);
	if (rc == 0) {
		/* (unless removed again meanwhile, which freed it) */
		if (lun_find(h, c->target, n) == l) {
			l->in_port = true;
			if (!c->port)
				c->port = l->port;
		}
	} else {
		lun_unlink_locked(h, l);
		pthread_mutex_lock(&l->mu);
		if (l->conn == c && c->nluns)
			c->nluns--;
		pthread_mutex_unlock(&l->mu);
	}
	pthread_mutex_unlock(&h->lock);
	if (rc < 0) {
		pthread_mutex_destroy(&l->mu);
		free(l);
		reply(c, id, n, rc, 0, err[0] ? err : strerror(-rc));
		return;
	}
	vs_host_log(h, 2, "service %s: %s LUN %llu attached (%s)", c->name, c->target,
	         (unsigned long long)n, m->description[0] ? m->description : "no description");
	reply(c, id, n, 0, 0, NULL);
}

static void on_detach(struct vs_svc_host *h, struct svc_conn *c, const struct vs_svc_detach *m)
{
	uint64_t id = m->hdr.request_id, n = m->lun;
	char err[VS_SVC_TEXT_MAX] = "";
	struct svc_lun *l;
	bool mine = false;
	int rc;

	if (m->flags & ~VS_SVC_DETACH_FORCE) {
		reply(c, id, n, -EINVAL, 0, "flags: only FORCE is defined");
		return;
	}
	pthread_mutex_lock(&h->lock);
	l = lun_find(h, c->target, n);
	if (l && l->in_port) {
		pthread_mutex_lock(&l->mu);
		mine = l->conn == c;
		pthread_mutex_unlock(&l->mu);
	}
	if (!mine) {
		pthread_mutex_unlock(&h->lock);
		reply(c, id, n, -ENOENT, 0, "no such LUN of this service");
		return;
	}
	l->leaving_by_request = true;
	pthread_mutex_unlock(&h->lock);
	/* the port removes it; its lun_detach frees l (vs_host_lun_detached) */
	rc = h->targets->lun_remove(h->targets_ctx, c->target, n, m->flags & VS_SVC_DETACH_FORCE,
	                            err, sizeof(err));
	if (rc < 0) {
		pthread_mutex_lock(&h->lock);
		l = lun_find(h, c->target, n);
		if (l)
			l->leaving_by_request = false;
		pthread_mutex_unlock(&h->lock);
	}
	reply(c, id, n, rc, 0, rc < 0 ? (err[0] ? err : strerror(-rc)) : NULL);
}

/* One message from a service; false when it is to go. */
/* REGION: memory the service lends (region.c); refused ones are answered,
 * the connection stays.  All services together map at most lend_max
 * bytes: address space is vstord's to keep. */
static void on_region(struct vs_svc_host *h, struct svc_conn *c, const struct vs_svc_region *m,
                      int fd)
{
	char why[VS_SVC_TEXT_MAX] = "";
	bool room;
	int rc;

	pthread_mutex_lock(&h->lock);
	room = m->size_bytes <= h->lend_max - h->lent;
	if (room)
		h->lent += m->size_bytes;       /* taken back below if refused */
	pthread_mutex_unlock(&h->lock);
	if (!(c->features & VS_SVC_F_LEND)) {
		snprintf(why, sizeof(why), "region: feature LEND was not offered in HELLO");
		rc = -EINVAL;
	} else if (m->flags) {
		snprintf(why, sizeof(why), "flags: 0x%x (none are defined)", m->flags);
		rc = -EINVAL;
	} else if (!room) {
		snprintf(why, sizeof(why), "size_bytes: %llu more would pass the %llu bytes services "
		         "may lend in all", (unsigned long long)m->size_bytes,
		         (unsigned long long)h->lend_max);
		rc = -ENOSPC;
	} else {
		rc = vs_region_add(c->area, m->region, fd, m->size_bytes, why, sizeof(why));
	}
	pthread_mutex_lock(&h->lock);
	if (rc == 0)
		c->region_bytes += m->size_bytes;
	else if (room)
		h->lent -= m->size_bytes;
	pthread_mutex_unlock(&h->lock);
	if (rc == 0)
		vs_host_log(c->host, 2, "service %s lent region %u: %llu MiB", c->name, m->region,
		            (unsigned long long)(m->size_bytes >> 20));
	reply(c, m->hdr.request_id, m->region, rc, 0, why);
}


/* One packet of n bytes carrying nfds descriptors (fd: the first). */
static bool on_packet(struct vs_svc_host *h, struct svc_conn *c, const struct vs_svc_msg_hdr *hdr,
                      ssize_t n, int nfds, int flags, int fd)
{
	const void *m = hdr;

	if (n == -EAGAIN || n == -EINTR)
		return true;
	if (n <= 0) {
		vs_conn_kill(c, false, n == 0 ? "closed the connection" : "socket: %s", strerror((int)-n));
		return false;
	}
	if (flags & (MSG_TRUNC | MSG_CTRUNC)) {
		vs_conn_kill(c, true, (flags & MSG_TRUNC) ? "a message is over %u bytes"
		                                          : "a message carried more than one file "
		                                            "descriptor", VS_SVC_MSG_MAX);
		return false;
	}
	if ((size_t)n < sizeof(*hdr) || hdr->length != (uint32_t)n) {
		vs_conn_kill(c, true, "message of %zd bytes says length %u", n,
		          (size_t)n >= sizeof(*hdr) ? hdr->length : 0);
		return false;
	}
	size_t want = hdr->type == VS_SVC_MSG_HELLO ? sizeof(struct vs_svc_hello)
	            : hdr->type == VS_SVC_MSG_ATTACH ? sizeof(struct vs_svc_attach)
	            : hdr->type == VS_SVC_MSG_DETACH ? sizeof(struct vs_svc_detach)
	            : hdr->type == VS_SVC_MSG_REGION ? sizeof(struct vs_svc_region) : 0;
	if (!want) {
		vs_conn_kill(c, true, "message type %u is not one a service sends", hdr->type);
		return false;
	}
	if ((size_t)n != want) {
		vs_conn_kill(c, true, "message type %u of %zd bytes, want %zu", hdr->type, n, want);
		return false;
	}
	if (nfds != (hdr->type == VS_SVC_MSG_REGION)) {
		vs_conn_kill(c, true, "message type %u carried %d file descriptors", hdr->type, nfds);
		return false;
	}
	if (vs_conn_state(c) == CONN_HELLO) {
		if (hdr->type != VS_SVC_MSG_HELLO) {
			vs_conn_kill(c, true, "the first message must be HELLO (type 1), got type %u",
			          hdr->type);
			return false;
		}
		return on_hello(h, c, m);
	}
	switch (hdr->type) {
	case VS_SVC_MSG_ATTACH:
		on_attach(h, c, m);
		return true;
	case VS_SVC_MSG_DETACH:
		on_detach(h, c, m);
		return true;
	case VS_SVC_MSG_REGION:
		on_region(h, c, m, fd);
		return true;
	default:
		vs_conn_kill(c, true, "HELLO again");
		return false;
	}
}

static bool on_message(struct vs_svc_host *h, struct svc_conn *c)
{
	union {
		struct vs_svc_msg_hdr hdr;
		struct vs_svc_hello hello;
		struct vs_svc_attach attach;
		struct vs_svc_detach detach;
		struct vs_svc_region region;
		uint8_t raw[VS_SVC_MSG_MAX + 1];
	} m;
	int fds, nfd = 0, fd = -1, flags = 0;
	/* one descriptor, for REGION; any other (or more) is closed unread */
	ssize_t n = vs_unix_recv_fds(c->sock, &m, sizeof(m), &fd, 1, &nfd, &fds, &flags);
	bool ok = on_packet(h, c, &m.hdr, n, fds + nfd, flags, fd);

	if (nfd)
		close(fd);      /* mapped by now, or refused */
	return ok;
}
static void accept_one(struct vs_svc_host *h)
{
	int fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct svc_conn *c;
	uid_t uid = 0;
	pid_t pid = 0;

	if (fd < 0)
		return;
	if (!vs_unix_peer_allowed(fd, h->owner, &uid, &pid)) {
		struct vs_svc_error m = { .hdr = { VS_SVC_MSG_ERROR, sizeof(m), 0 } };

		snprintf(m.message, sizeof(m.message),
		         "peer: uid %u may not serve LUNs here (root or uid %u only)", (unsigned)uid,
		         (unsigned)h->owner);
		(void)send(fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL);
		vs_host_log(h, 1, "service socket: uid %u (pid %d) refused", (unsigned)uid, (int)pid);
		close(fd);
		return;
	}
	pthread_mutex_lock(&h->lock);
	if (h->nconns >= SVC_MAX_CONNS) {
		pthread_mutex_unlock(&h->lock);
		struct vs_svc_error m = { .hdr = { VS_SVC_MSG_ERROR, sizeof(m), 0 } };
		snprintf(m.message, sizeof(m.message), "too many services (%u) connected",
		         SVC_MAX_CONNS);
		(void)send(fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		pthread_mutex_unlock(&h->lock);
		close(fd);
		return;
	}
	c->host = h;
	atomic_store(&c->refs, 1);      /* the host's */
	c->sock = fd;
	c->sq_efd = c->cq_efd = -1;
	c->uid = uid;
	c->pid = pid;
	c->state = CONN_HELLO;
	c->hello_deadline_ms = mono_ms() + SVC_HELLO_TIMEOUT_MS;
	c->connected_at = wall_s();
	snprintf(c->name, sizeof(c->name), "(pid %d)", (int)pid);
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->send_lock, NULL);
	pthread_mutex_init(&c->reap_lock, NULL);
	c->next = h->conns;
	h->conns = c;
	h->nconns++;
	pthread_mutex_unlock(&h->lock);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		vs_conn_kill(c, false, "epoll: %s", strerror(errno));
}

/* Services still saying nothing after SVC_HELLO_TIMEOUT_MS; the wait
 * until the next such deadline. */
static int hello_timeouts(struct vs_svc_host *h)
{
	uint64_t now = mono_ms(), next = UINT64_MAX;
	struct svc_conn *late[SVC_MAX_CONNS];
	uint32_t n = 0;

	pthread_mutex_lock(&h->lock);
	for (struct svc_conn *c = h->conns; c; c = c->next) {
		if (vs_conn_state(c) != CONN_HELLO || atomic_load(&c->dying))
			continue;
		if (c->hello_deadline_ms <= now && n < SVC_MAX_CONNS)
			late[n++] = c;
		else if (c->hello_deadline_ms < next)
			next = c->hello_deadline_ms;
	}
	pthread_mutex_unlock(&h->lock);
	for (uint32_t i = 0; i < n; i++)
		vs_conn_kill(late[i], true, "no HELLO within %u ms", SVC_HELLO_TIMEOUT_MS);
	return next == UINT64_MAX ? -1 : (int)(next - now + 1);
}

static void *host_main(void *arg)
{
	struct vs_svc_host *h = arg;
	struct epoll_event ev[32];

	for (;;) {
		pthread_mutex_lock(&h->lock);
		bool done = atomic_load(&h->stop) && h->nconns == 0;
		pthread_mutex_unlock(&h->lock);
		if (done)
			break;
		int timeout = hello_timeouts(h);
		int n = epoll_wait(h->epfd, ev, 32, timeout < 0 || timeout > 1000 ? 1000 : timeout);

		bool wake = false;

		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;

			if (p == &h->lfd) {
				if (!atomic_load(&h->stop))
					accept_one(h);
			} else if (p == &h->wake_fd) {
				wake = true;    /* last: a later event of this batch may name one */
			} else {
				struct svc_conn *c = p;

				if (atomic_load(&c->dying))
					epoll_ctl(h->epfd, EPOLL_CTL_DEL, c->sock, NULL);
				else if (!on_message(h, c))
					epoll_ctl(h->epfd, EPOLL_CTL_DEL, c->sock, NULL);
			}
		}
		if (wake)
			reap_all(h);
	}
	return NULL;
}

/* ---------------------------------------------------------------- life */

struct vs_svc_host *vs_svc_host_create(const struct vs_svc_host_config *cfg, char *err,
                                       size_t errlen)
{
	struct vs_svc_host *h = calloc(1, sizeof(*h));
	struct vs_unix_listener l;
	const char *path = cfg->socket_path ? cfg->socket_path : VS_SVC_DEFAULT_SOCKET;

	if (!h || !(h->path = strdup(path))) {
		free(h);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->cfg = *cfg;
	h->hang_ms = cfg->hang_timeout_ms ? cfg->hang_timeout_ms : SVC_HANG_DEFAULT_MS;
	h->poll_ns = cfg->poll_us == VS_SVC_POLL_OFF ? 0
	             : 1000ull * (cfg->poll_us ? cfg->poll_us : VS_SVC_POLL_US_DEFAULT);
	h->lend_max = cfg->lend_max_bytes ? cfg->lend_max_bytes : SVC_LEND_DEFAULT_MAX;
	h->wake_fd = h->epfd = -1;
	pthread_mutex_init(&h->lock, NULL);
	if (vs_unix_listen(path, SOCK_SEQPACKET, "--service-socket", &l, err, errlen) < 0) {
		h->lfd = -1;
		vs_svc_host_destroy(h);
		return NULL;
	}
	h->lfd = l.fd;
	h->owner = l.owner;
	h->dev = l.dev;
	h->ino = l.ino;
	h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->wake_fd < 0 || h->epfd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		vs_svc_host_destroy(h);
		return NULL;
	}
	struct epoll_event e1 = { .events = EPOLLIN, .data.ptr = &h->lfd };
	struct epoll_event e2 = { .events = EPOLLIN, .data.ptr = &h->wake_fd };
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->lfd, &e1) < 0 ||
	    epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->wake_fd, &e2) < 0) {
		snprintf(err, errlen, "%s: epoll: %s", path, strerror(errno));
		vs_svc_host_destroy(h);
		return NULL;
	}
	return h;
}

int vs_svc_host_start(struct vs_svc_host *h, struct vs_loop_group *loops,
                      const struct vs_svc_host_targets *targets, void *targets_ctx, char *err,
                      size_t errlen)
{
	int rc;

	h->targets = targets;
	h->targets_ctx = targets_ctx;
	h->loops = loops;
	if (!loops || !targets) {
		snprintf(err, errlen, "service socket: no event loops or no targets");
		return -EINVAL;
	}
	rc = pthread_create(&h->thread, NULL, host_main, h);
	if (rc) {
		snprintf(err, errlen, "service socket thread: %s", strerror(rc));
		return -rc;
	}
	h->running = true;
	return 0;
}

const char *vs_svc_host_socket(const struct vs_svc_host *h)
{
	return h ? h->path : NULL;
}

void vs_svc_host_stop(struct vs_svc_host *h)
{
	if (!h || !h->running)
		return;
	/* every service goes; the thread ends once they are closed */
	pthread_mutex_lock(&h->lock);
	struct svc_conn *list[SVC_MAX_CONNS];
	uint32_t n = 0;
	for (struct svc_conn *c = h->conns; c && n < SVC_MAX_CONNS; c = c->next)
		list[n++] = c;
	for (uint32_t i = 0; i < n; i++)
		vs_conn_get(list[i]);
	pthread_mutex_unlock(&h->lock);
	for (uint32_t i = 0; i < n; i++) {
		vs_conn_kill(list[i], false, "vstord is stopping");
		vs_conn_put(list[i]);
	}
	atomic_store(&h->stop, true);
	ssize_t w = eventfd_write(h->wake_fd, 1);
	(void)w;
	pthread_join(h->thread, NULL);
	h->running = false;
}

void vs_svc_host_destroy(struct vs_svc_host *h)
{
	if (!h)
		return;
	vs_svc_host_stop(h);
	/* LUNs left (their ports were destroyed first, which detached them) */
	while (h->luns) {
		struct svc_lun *l = h->luns;
		h->luns = l->next;
		pthread_mutex_destroy(&l->mu);
		free(l);
	}
	if (h->lfd >= 0) {
		struct vs_unix_listener l = { .fd = h->lfd, .dev = h->dev, .ino = h->ino,
		                              .owner = h->owner };
		vs_unix_unlisten(h->path, &l);
	}
	if (h->wake_fd >= 0)
		close(h->wake_fd);
	if (h->epfd >= 0)
		close(h->epfd);
	pthread_mutex_destroy(&h->lock);
	free(h->path);
	free(h);
}

/* ---------------------------------------------------------------- listings */

size_t vs_svc_host_services(struct vs_svc_host *h, struct vs_svc_info *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&h->lock);
	for (struct svc_conn *c = h->conns; c; c = c->next) {
		if (vs_conn_state(c) == CONN_HELLO)
			continue;
		if (n < max) {
			struct vs_svc_info *i = &out[n];

			memset(i, 0, sizeof(*i));
			snprintf(i->name, sizeof(i->name), "%s", c->name);
			snprintf(i->target, sizeof(i->target), "%s", c->target);
			i->state = atomic_load(&c->dying) ? VS_SVC_GONE : VS_SVC_CONNECTED;
			i->pid = c->pid;
			i->uid = c->uid;
			i->since = c->connected_at;
			i->luns = c->nluns;
			pthread_mutex_lock(&c->lock);
			i->in_flight = c->outstanding;
			pthread_mutex_unlock(&c->lock);
			i->commands = atomic_load(&c->commands);
			i->bytes_shared = atomic_load(&c->bytes_shared);
			i->bytes_copied = atomic_load(&c->bytes_copied);
			i->bytes_lent = atomic_load(&c->bytes_lent);
			i->data_bytes = c->area ? c->area->data_bytes : 0;
			if (atomic_load(&c->dying))
				snprintf(i->why, sizeof(i->why), "%s", c->why);
		}
		n++;
	}
	/* services that are away, by the LUNs that wait for them */
	for (struct svc_lun *l = h->luns; l; l = l->next) {
		bool away, listed = false;

		pthread_mutex_lock(&l->mu);
		away = l->conn == NULL;
		pthread_mutex_unlock(&l->mu);
		if (!away)
			continue;
		for (size_t k = 0; k < n && k < max; k++) {
			if (out[k].state == VS_SVC_GONE && strcmp(out[k].name, l->service) == 0 &&
			    strcmp(out[k].target, l->target) == 0) {
				out[k].luns++;
				listed = true;
			}
		}
		if (listed)
			continue;
		if (n < max) {
			struct vs_svc_info *i = &out[n];

			memset(i, 0, sizeof(*i));
			snprintf(i->name, sizeof(i->name), "%s", l->service);
			snprintf(i->target, sizeof(i->target), "%s", l->target);
			i->state = VS_SVC_GONE;
			i->uid = l->uid;
			i->since = l->gone_since;
			i->luns = 1;
			snprintf(i->why, sizeof(i->why), "%s", l->gone_why);
		}
		n++;
	}
	pthread_mutex_unlock(&h->lock);
	return n;
}

size_t vs_svc_host_luns(struct vs_svc_host *h, struct vs_svc_lun_info *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&h->lock);
	for (struct svc_lun *l = h->luns; l; l = l->next) {
		if (!l->in_port)
			continue;
		if (n < max) {
			struct vs_svc_lun_info *i = &out[n];

			memset(i, 0, sizeof(*i));
			snprintf(i->target, sizeof(i->target), "%s", l->target);
			i->lun = l->number;
			snprintf(i->service, sizeof(i->service), "%s", l->service);
			pthread_mutex_lock(&l->mu);
			i->state = l->conn && !atomic_load(&l->conn->dying) ? VS_SVC_CONNECTED : VS_SVC_GONE;
			pthread_mutex_unlock(&l->mu);
			i->size_bytes = l->size_bytes;
			i->block_size = l->block_size;
			i->peripheral_type = l->peripheral_type;
			i->readonly = l->readonly;
			snprintf(i->description, sizeof(i->description), "%s", l->description);
		}
		n++;
	}
	pthread_mutex_unlock(&h->lock);
	return n;
}
