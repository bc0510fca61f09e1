/* SPDX-License-Identifier: MIT */
/*
 * The connection to vstord: HELLO / WELCOME, mapping the shared area,
 * control messages (ATTACH, DETACH and their REPLY, LUN_GONE, ERROR).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib_int.h"
#include "../../util/vs_unix.h"

const char *vs_svc_error(void)
{
	return vs_last_error();
}

/* One message from vstord within timeout_ms (-ETIMEDOUT if none), with up
 * to 3 descriptors (*nfds of them, ours to close). */
static int recv_msg(struct vs_svc *s, void *buf, size_t len, int *fds, int *nfds, int timeout_ms)
{
	struct pollfd p = { s->sock, POLLIN, 0 };
	ssize_t n;
	int rc;

	rc = poll(&p, 1, timeout_ms);
	if (rc == 0)
		return -ETIMEDOUT;
	if (rc < 0)
		return -errno;
	n = vs_unix_recv_fds(s->sock, buf, len, fds, fds ? 3 : 0, nfds, NULL, NULL);
	if (n == -EAGAIN)
		return -ETIMEDOUT;
	if (n == 0)
		return -ECONNRESET;
	return (int)n;
}

static void set_fatal(struct vs_svc *s, int rc, const char *why)
{
	int zero = 0;

	if (atomic_compare_exchange_strong(&s->fatal, &zero, rc))
		snprintf(s->fatal_why, sizeof(s->fatal_why), "%s", why);
	s->stopping = true;
	pthread_cond_broadcast(&s->rx_cv);
}

/* A LUN is no longer ours (DETACH answered, LUN_GONE): no new command
 * finds it; it goes when its last one has completed. */
static void lun_forget(struct vs_svc *s, uint64_t lun)
{
	struct lib_lun *l;

	pthread_mutex_lock(&s->lun_lock);
	l = s->luns[lun];
	s->luns[lun] = NULL;
	pthread_mutex_unlock(&s->lun_lock);
	if (!l)
		return;
	if (!l->raw)
		lib_disk_detach(s, l);
	lib_lun_put(s, l);
}

int lib_rx_one(struct vs_svc *s, int timeout_ms)
{
	union {
		struct vs_svc_msg_hdr hdr;
		struct vs_svc_reply reply;
		struct vs_svc_lun_gone gone;
		struct vs_svc_error error;
		uint8_t raw[VS_SVC_MSG_MAX];
	} m;
	int nfds = 0;
	int n;

	if (atomic_load(&s->fatal))
		return atomic_load(&s->fatal);
	n = recv_msg(s, &m, sizeof(m), NULL, &nfds, timeout_ms);
	if (n == -ETIMEDOUT)
		return 0;
	if (n < 0) {
		set_fatal(s, -ECONNRESET, n == -ECONNRESET ? "vstord closed the connection"
		                                           : strerror(-n));
		return -ECONNRESET;
	}
	if ((size_t)n < sizeof(m.hdr) || m.hdr.length != (uint32_t)n) {
		set_fatal(s, -EPROTO, "vstord sent a malformed message");
		return -EPROTO;
	}
	switch (m.hdr.type) {
	case VS_SVC_MSG_REPLY:
		if ((size_t)n == sizeof(m.reply) && s->pending.request_id == m.hdr.request_id) {
			s->pending.r = m.reply;
			s->pending.r.message[sizeof(s->pending.r.message) - 1] = '\0';
			s->pending.have = true;
			pthread_cond_broadcast(&s->rx_cv);
		}
		return 0;
	case VS_SVC_MSG_LUN_GONE:
		if ((size_t)n == sizeof(m.gone) && m.gone.lun < LIB_MAX_LUN)
			lun_forget(s, m.gone.lun);
		return 0;
	case VS_SVC_MSG_ERROR:
		m.error.message[sizeof(m.error.message) - 1] = '\0';
		set_fatal(s, -EPROTO, (size_t)n == sizeof(m.error) ? m.error.message : "ERROR");
		return -EPROTO;
	default:
		return 0;       /* a later minor version's message: not for us */
	}
}

int lib_request(struct vs_svc *s, void *msg, size_t len, int fd, struct vs_svc_reply *out)
{
	struct vs_svc_msg_hdr *h = msg;
	int rc = 0, waited = 0;

	pthread_mutex_lock(&s->req_lock);
	pthread_mutex_lock(&s->rx_lock);
	h->request_id = ++s->next_request;
	s->pending.request_id = h->request_id;
	s->pending.have = false;
	pthread_mutex_unlock(&s->rx_lock);
	pthread_mutex_lock(&s->tx_lock);
	ssize_t sent = vs_unix_send_fds(s->sock, msg, len, &fd, fd >= 0 ? 1 : 0, 0);
	if (sent != (ssize_t)len)
		rc = sent < 0 ? (int)sent : -EIO;
	pthread_mutex_unlock(&s->tx_lock);
	if (rc) {
		pthread_mutex_unlock(&s->req_lock);
		vs_set_error("sending to vstord: %s", strerror(-rc));
		return rc;
	}
	/* The serving loop may be reading the socket; whoever holds rx_lock
	 * reads, and the reply lands in s->pending either way. */
	pthread_mutex_lock(&s->rx_lock);
	while (!s->pending.have && !atomic_load(&s->fatal) && waited < LIB_REQUEST_MS) {
		rc = lib_rx_one(s, 100);
		waited += 100;
		if (rc < 0)
			break;
	}
	if (s->pending.have) {
		*out = s->pending.r;
		rc = out->status;
		if (rc)
			vs_set_error("%s", out->message[0] ? out->message : strerror(-rc));
	} else if (atomic_load(&s->fatal)) {
		rc = atomic_load(&s->fatal);
		vs_set_error("%s", s->fatal_why);
	} else {
		rc = -ETIMEDOUT;
		vs_set_error("vstord did not answer within %d ms", LIB_REQUEST_MS);
	}
	s->pending.request_id = 0;
	pthread_mutex_unlock(&s->rx_lock);
	pthread_mutex_unlock(&s->req_lock);
	return rc;
}

static void svc_free(struct vs_svc *s)
{
	lib_mem_free_all(s);
	if (s->area && s->area != MAP_FAILED)
		munmap(s->area, s->area_bytes);
	for (uint32_t i = 0; s->nexus && i < s->nexus_entries; i++)
		free(s->nexus[i]);
	free(s->nexus);
	free(s->cmds);
	for (uint32_t i = 0; i < LIB_MAX_LUN; i++)
		free(s->luns[i]);       /* the inner port is gone: nothing is in flight */
	if (s->sock >= 0)
		close(s->sock);
	if (s->sq_efd >= 0)
		close(s->sq_efd);
	if (s->cq_efd >= 0)
		close(s->cq_efd);
	if (s->stop_efd >= 0)
		close(s->stop_efd);
	free(s);
}

/* WELCOME's layout against the memfd it came with. */
static int map_area(struct vs_svc *s, const struct vs_svc_welcome *w, int memfd)
{
	struct stat st;
	uint64_t e = w->ring_entries;

	if (fstat(memfd, &st) < 0 || (uint64_t)st.st_size != w->area_bytes ||
	    w->ring_entries < VS_SVC_RING_MIN || w->ring_entries > VS_SVC_RING_MAX ||
	    w->sq_offset + e * sizeof(struct vs_svc_sqe) > w->area_bytes ||
	    w->cq_offset + e * sizeof(struct vs_svc_cqe) > w->area_bytes ||
	    w->nexus_offset + (uint64_t)w->nexus_entries * sizeof(struct vs_svc_nexus_rec) >
	            w->area_bytes ||
	    w->data_offset + w->data_bytes > w->area_bytes) {
		vs_set_error("WELCOME: the shared area's layout does not fit its memfd");
		return -EPROTO;
	}
	s->area_bytes = w->area_bytes;
	s->area = mmap(NULL, s->area_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (s->area == MAP_FAILED) {
		vs_set_error("mapping the shared area: %s", strerror(errno));
		return -errno;
	}
	/* as vstord advises its own mapping (doc/services.md "Huge pages") */
	(void)madvise(s->area, s->area_bytes, MADV_HUGEPAGE);
	s->hdr = (struct vs_svc_area_hdr *)s->area;
	s->sq = (struct vs_svc_sqe *)(s->area + w->sq_offset);
	s->cq = (struct vs_svc_cqe *)(s->area + w->cq_offset);
	s->nexus_rec = (const struct vs_svc_nexus_rec *)(s->area + w->nexus_offset);
	s->data = s->area + w->data_offset;
	s->data_bytes = w->data_bytes;
	s->entries = w->ring_entries;
	s->nexus_entries = w->nexus_entries;
	s->features = w->features;
	s->max_transfer = w->max_transfer;
	s->rel_target_port_id = w->rel_target_port_id;
	s->transport_version = w->transport_version;
	if (s->hdr->magic != VS_SVC_AREA_MAGIC) {
		vs_set_error("the shared area has no header");
		return -EPROTO;
	}
	/* we pick up where the ring is (a fresh area starts at 0) */
	s->sq_head = __atomic_load_n(&s->hdr->sq_head, __ATOMIC_ACQUIRE);
	s->cq_tail = __atomic_load_n(&s->hdr->cq_tail, __ATOMIC_ACQUIRE);
	return 0;
}

struct vs_svc *vs_svc_open(const struct vs_svc_options *o)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path;
	struct vs_svc *s;
	struct vs_svc_hello hello = { .hdr = { VS_SVC_MSG_HELLO, sizeof(hello), 1 } };
	union {
		struct vs_svc_msg_hdr hdr;
		struct vs_svc_welcome w;
		struct vs_svc_error e;
		uint8_t raw[VS_SVC_MSG_MAX];
	} m;
	int fds[3] = { -1, -1, -1 }, nfds = 0, n;

	if (!o || !o->name || !o->target) {
		vs_set_error("options: name and target are required");
		return NULL;
	}
	if (strlen(o->name) >= sizeof(hello.name) || strlen(o->target) >= sizeof(hello.target)) {
		vs_set_error("options: name is at most 63 bytes, target 223");
		return NULL;
	}
	path = o->socket_path ? o->socket_path : getenv("VSTOR_SERVICE_SOCKET");
	if (!path || !*path)
		path = VS_SVC_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		vs_set_error("socket_path: too long");
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = calloc(1, sizeof(*s));
	if (!s) {
		vs_set_error("out of memory");
		return NULL;
	}
	s->sock = s->sq_efd = s->cq_efd = s->stop_efd = -1;
	s->area = MAP_FAILED;
	pthread_mutex_init(&s->cq_lock, NULL);
	pthread_mutex_init(&s->lun_lock, NULL);
	pthread_mutex_init(&s->tx_lock, NULL);
	pthread_mutex_init(&s->rx_lock, NULL);
	pthread_mutex_init(&s->req_lock, NULL);
	pthread_mutex_init(&s->inner_lock, NULL);
	pthread_mutex_init(&s->mem_lock, NULL);
	pthread_cond_init(&s->rx_cv, NULL);
	snprintf(s->name, sizeof(s->name), "%s", o->name);
	snprintf(s->target, sizeof(s->target), "%s", o->target);
	s->threads = o->threads ? o->threads : 4;
	s->poll_us = o->poll_us;
	s->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	s->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->sock < 0 || s->stop_efd < 0) {
		vs_set_error("socket: %s", strerror(errno));
		goto fail;
	}
	if (connect(s->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		vs_set_error("%s: %s (is vstord running with --service-socket?)", path, strerror(errno));
		goto fail;
	}
	hello.magic = VS_SVC_HELLO_MAGIC;
	hello.version_major = VS_SVC_PROTO_MAJOR;
	hello.version_minor = VS_SVC_PROTO_MINOR;
	hello.features = VS_SVC_F_ALL;
	hello.ring_entries = o->ring_entries;
	hello.data_bytes = o->data_bytes;
	snprintf(hello.name, sizeof(hello.name), "%s", o->name);
	snprintf(hello.target, sizeof(hello.target), "%s", o->target);
	if (send(s->sock, &hello, sizeof(hello), MSG_NOSIGNAL) != (ssize_t)sizeof(hello)) {
		vs_set_error("%s: %s", path, strerror(errno));
		goto fail;
	}
	n = recv_msg(s, &m, sizeof(m), fds, &nfds, 10000);
	if (n < 0) {
		vs_set_error("%s: no WELCOME: %s", path, strerror(-n));
		goto fail_fds;
	}
	if ((size_t)n == sizeof(m.e) && m.hdr.type == VS_SVC_MSG_ERROR) {
		m.e.message[sizeof(m.e.message) - 1] = '\0';
		vs_set_error("vstord: %s", m.e.message);
		goto fail_fds;
	}
	if ((size_t)n != sizeof(m.w) || m.hdr.type != VS_SVC_MSG_WELCOME || nfds != 3) {
		vs_set_error("%s: expected WELCOME with 3 descriptors", path);
		goto fail_fds;
	}
	s->sq_efd = fds[1];
	s->cq_efd = fds[2];
	fds[1] = fds[2] = -1;
	if (map_area(s, &m.w, fds[0]) < 0)
		goto fail_fds;
	close(fds[0]);
	s->cmds = calloc(s->entries, sizeof(*s->cmds));
	s->nexus = calloc(s->nexus_entries, sizeof(*s->nexus));
	if (!s->cmds || !s->nexus) {
		vs_set_error("out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < s->entries; i++) {
		s->cmds[i].s = s;
		s->cmds[i].next_free = i + 1 < s->entries ? &s->cmds[i + 1] : NULL;
	}
	s->free_local = &s->cmds[0];
	return s;
fail_fds:
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
fail:
	svc_free(s);
	return NULL;
}

static int attach(struct vs_svc *s, uint64_t lun, uint8_t type, uint64_t size, uint32_t bs,
                  bool ro, const char *desc)
{
	struct vs_svc_attach m = { .hdr = { VS_SVC_MSG_ATTACH, sizeof(m), 0 }, .lun = lun,
	                           .size_bytes = size, .block_size = bs, .peripheral_type = type,
	                           .flags = ro ? VS_SVC_ATTACH_READONLY : 0 };
	struct vs_svc_reply r;
	int rc;

	snprintf(m.description, sizeof(m.description), "%s", desc ? desc : "");
	/* the previous instance of us may still be on its way out */
	for (int tries = 0; tries < 50; tries++) {
		rc = lib_request(s, &m, sizeof(m), -1, &r);
		if (rc != -EAGAIN)
			break;
		usleep(100000);
	}
	return rc;
}

static struct lib_lun *lun_new(struct vs_svc *s, uint64_t lun)
{
	struct lib_lun *l;

	if (lun >= LIB_MAX_LUN) {
		vs_set_error("lun: must be below %d", LIB_MAX_LUN);
		return NULL;
	}
	pthread_mutex_lock(&s->lun_lock);
	l = s->luns[lun];
	pthread_mutex_unlock(&s->lun_lock);
	if (l) {
		vs_set_error("lun: %llu is attached already", (unsigned long long)lun);
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		vs_set_error("out of memory");
	} else {
		l->number = lun;
		atomic_store(&l->refs, 1);
	}
	return l;
}

void lib_lun_put(struct vs_svc *s, struct lib_lun *l)
{
	(void)s;
	if (atomic_fetch_sub(&l->refs, 1) == 1)
		free(l);
}

static void lun_publish(struct vs_svc *s, struct lib_lun *l)
{
	pthread_mutex_lock(&s->lun_lock);
	s->luns[l->number] = l;
	pthread_mutex_unlock(&s->lun_lock);
}

static void lun_unpublish(struct vs_svc *s, struct lib_lun *l)
{
	pthread_mutex_lock(&s->lun_lock);
	if (s->luns[l->number] == l)
		s->luns[l->number] = NULL;
	pthread_mutex_unlock(&s->lun_lock);
}

int vs_svc_attach_raw(struct vs_svc *s, uint64_t lun, const struct vs_svc_raw_lun *info,
                      const struct vs_svc_raw_ops *ops, void *ctx)
{
	struct lib_lun *l;
	int rc;

	if (!s || !info || !ops || !ops->command) {
		vs_set_error("attach_raw: service, info and ops.command are required");
		return -EINVAL;
	}
	if (!(l = lun_new(s, lun)))
		return -EINVAL;
	l->raw = true;
	l->raw_ops = ops;
	l->ctx = ctx;
	/* in place before vstord sends its first command */
	lun_publish(s, l);
	rc = attach(s, lun, info->peripheral_type, info->size_bytes, info->block_size,
	            info->readonly, info->description);
	if (rc < 0) {
		lun_unpublish(s, l);
		free(l);
	}
	return rc;
}

int vs_svc_attach_disk(struct vs_svc *s, uint64_t lun, const struct vs_svc_disk *d,
                       const struct vs_svc_disk_ops *ops, void *ctx)
{
	struct lib_lun *l;
	int rc;

	if (!s || !d || !ops || !ops->read || (!ops->write && !d->readonly)) {
		vs_set_error("attach_disk: service, disk, ops.read and ops.write are required");
		return -EINVAL;
	}
	if (!(l = lun_new(s, lun)))
		return -EINVAL;
	rc = lib_disk_attach(s, l, d, ops, ctx);
	if (rc < 0) {
		free(l);
		return rc;
	}
	lun_publish(s, l);
	rc = attach(s, lun, 0x00, d->size_bytes, d->block_size ? d->block_size : 512, d->readonly,
	            d->description ? d->description : "disk");
	if (rc < 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", vs_last_error());
		lun_unpublish(s, l);
		lib_disk_detach(s, l);
		free(l);
		vs_set_error("%s", why);
	}
	return rc;
}

int vs_svc_detach(struct vs_svc *s, uint64_t lun, bool force)
{
	struct vs_svc_detach m = { .hdr = { VS_SVC_MSG_DETACH, sizeof(m), 0 }, .lun = lun,
	                           .flags = force ? VS_SVC_DETACH_FORCE : 0 };
	struct vs_svc_reply r;
	int rc;

	if (!s || lun >= LIB_MAX_LUN) {
		vs_set_error("detach: no such LUN");
		return -EINVAL;
	}
	rc = lib_request(s, &m, sizeof(m), -1, &r);
	if (rc < 0)
		return rc;
	lun_forget(s, lun);
	return 0;
}

void vs_svc_stop(struct vs_svc *s)
{
	if (!s)
		return;
	s->stopping = true;
	ssize_t w = eventfd_write(s->stop_efd, 1);
	(void)w;
}

void vs_svc_close(struct vs_svc *s)
{
	if (!s)
		return;
	/* vstord first: it completes what we still had (NOT READY) and the
	 * LUNs wait for us */
	shutdown(s->sock, SHUT_RDWR);
	lib_disk_close(s);
	svc_free(s);
}
