/* SPDX-License-Identifier: MIT */
/* A service that speaks the protocol by hand: see svc_raw.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "svc_raw.h"
#include "util/vs_unix.h"

void svc_raw_hello_init(struct vs_svc_hello *h, const char *name, const char *target,
                        uint32_t entries)
{
	memset(h, 0, sizeof(*h));
	h->hdr = (struct vs_svc_msg_hdr){ VS_SVC_MSG_HELLO, sizeof(*h), 1 };
	h->magic = VS_SVC_HELLO_MAGIC;
	h->version_major = VS_SVC_PROTO_MAJOR;
	h->features = VS_SVC_F_ALL;
	h->ring_entries = entries;
	h->data_bytes = 16 << 20;
	h->nexus_entries = 64;
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->target, sizeof(h->target), "%s", target);
}

/* One message within ms (0 if none; -1 when vstord closed), up to 3
 * descriptors with it (*nfds, ours to close). */
static int recv_fds(int sock, void *buf, size_t len, int *fds, int *nfds, int ms)
{
	struct pollfd p = { sock, POLLIN, 0 };
	ssize_t n;

	*nfds = 0;
	if (poll(&p, 1, ms) <= 0)
		return 0;
	n = vs_unix_recv_fds(sock, buf, len, fds, 3, nfds, NULL, NULL);
	if (n <= 0)
		return n == 0 ? -1 : 0;
	return (int)n;
}

struct svc_raw *svc_raw_connect_hello(const char *path, const struct vs_svc_hello *hello,
                                      char *error_out, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct svc_raw *r = calloc(1, sizeof(*r));
	union {
		struct vs_svc_msg_hdr hdr;
		struct vs_svc_welcome w;
		struct vs_svc_error e;
		uint8_t raw[VS_SVC_MSG_MAX];
	} m;
	int fds[3], nfds, n;

	if (error_out)
		error_out[0] = '\0';
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	r->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	r->sq_efd = r->cq_efd = -1;
	if (connect(r->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(r->sock, hello, sizeof(*hello), MSG_NOSIGNAL) != (ssize_t)sizeof(*hello))
		goto fail;
	n = recv_fds(r->sock, &m, sizeof(m), fds, &nfds, 5000);
	if (n == (int)sizeof(m.e) && m.hdr.type == VS_SVC_MSG_ERROR) {
		if (error_out)
			snprintf(error_out, len, "%.*s", (int)sizeof(m.e.message), m.e.message);
		goto fail;
	}
	if (n != (int)sizeof(m.w) || m.hdr.type != VS_SVC_MSG_WELCOME || nfds != 3) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		goto fail;
	}
	r->w = m.w;
	r->sq_efd = fds[1];
	r->cq_efd = fds[2];
	r->area_bytes = m.w.area_bytes;
	r->area = mmap(NULL, r->area_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	close(fds[0]);
	if (r->area == MAP_FAILED)
		goto fail;
	r->hdr = (struct vs_svc_area_hdr *)r->area;
	r->sq = (struct vs_svc_sqe *)(r->area + m.w.sq_offset);
	r->cq = (struct vs_svc_cqe *)(r->area + m.w.cq_offset);
	r->nexus = (struct vs_svc_nexus_rec *)(r->area + m.w.nexus_offset);
	r->data = r->area + m.w.data_offset;
	/* always wake us: simplest, as the protocol allows */
	__atomic_store_n(&r->hdr->sq_flags, VS_SVC_WAKE, __ATOMIC_SEQ_CST);
	r->next_id = 10;
	return r;
fail:
	if (r->area && r->area != MAP_FAILED)
		munmap(r->area, r->area_bytes);
	r->area = NULL;
	svc_raw_close(r);
	return NULL;
}

struct svc_raw *svc_raw_connect(const char *path, const char *name, const char *target,
                                uint32_t entries)
{
	struct vs_svc_hello h;

	svc_raw_hello_init(&h, name, target, entries);
	return svc_raw_connect_hello(path, &h, NULL, 0);
}

void svc_raw_close(struct svc_raw *r)
{
	if (!r)
		return;
	if (r->area)
		munmap(r->area, r->area_bytes);
	if (r->sock >= 0)
		close(r->sock);
	if (r->sq_efd >= 0)
		close(r->sq_efd);
	if (r->cq_efd >= 0)
		close(r->cq_efd);
	free(r);
}

int svc_raw_send(struct svc_raw *r, const void *buf, size_t len)
{
	return send(r->sock, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

int svc_raw_recv(struct svc_raw *r, void *buf, size_t len, int ms)
{
	int fds[3], nfds, n = recv_fds(r->sock, buf, len, fds, &nfds, ms);

	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (n < 0)
		return -1;
	if (n < (int)sizeof(struct vs_svc_msg_hdr))
		return 0;
	if (((struct vs_svc_msg_hdr *)buf)->type == VS_SVC_MSG_ERROR)
		snprintf(r->error, sizeof(r->error), "%.*s", (int)sizeof(r->error),
		         ((struct vs_svc_error *)buf)->message);
	return (int)((struct vs_svc_msg_hdr *)buf)->type;
}

static int wait_reply(struct svc_raw *r, uint64_t id, struct vs_svc_reply *out)
{
	union {
		struct vs_svc_reply reply;
		uint8_t raw[VS_SVC_MSG_MAX];
	} m;

	for (int i = 0; i < 100; i++) {
		int t = svc_raw_recv(r, &m, sizeof(m), 100);

		if (t < 0)
			return -1;
		if (t == VS_SVC_MSG_REPLY && m.reply.hdr.request_id == id) {
			if (out)
				*out = m.reply;
			return 0;
		}
	}
	return -1;
}

int svc_raw_attach(struct svc_raw *r, uint64_t lun, struct vs_svc_reply *out)
{
	struct vs_svc_attach m = { .hdr = { VS_SVC_MSG_ATTACH, sizeof(m), r->next_id++ },
	                           .lun = lun, .size_bytes = 1 << 20, .block_size = 512 };

	snprintf(m.description, sizeof(m.description), "raw test LUN");
	if (svc_raw_send(r, &m, sizeof(m)) < 0)
		return -1;
	return wait_reply(r, m.hdr.request_id, out);
}

int svc_raw_detach(struct svc_raw *r, uint64_t lun, bool force, struct vs_svc_reply *out)
{
	struct vs_svc_detach m = { .hdr = { VS_SVC_MSG_DETACH, sizeof(m), r->next_id++ },
	                           .lun = lun, .flags = force ? VS_SVC_DETACH_FORCE : 0 };

	if (svc_raw_send(r, &m, sizeof(m)) < 0)
		return -1;
	return wait_reply(r, m.hdr.request_id, out);
}

int svc_raw_region(struct svc_raw *r, uint32_t id, int fd, uint64_t bytes,
                   struct vs_svc_reply *out)
{
	struct vs_svc_region m = { .hdr = { VS_SVC_MSG_REGION, sizeof(m), r->next_id++ },
	                           .region = id, .size_bytes = bytes };

	if (vs_unix_send_fds(r->sock, &m, sizeof(m), &fd, fd >= 0 ? 1 : 0, 0) != (ssize_t)sizeof(m))
		return -1;
	return wait_reply(r, m.hdr.request_id, out);
}

bool svc_raw_take(struct svc_raw *r, struct vs_svc_sqe *e, int ms)
{
	for (int waited = 0;; waited += 10) {
		uint32_t tail = __atomic_load_n(&r->hdr->sq_tail, __ATOMIC_ACQUIRE);

		if (tail != r->sq_head) {
			memcpy(e, &r->sq[r->sq_head % r->w.ring_entries], sizeof(*e));
			r->sq_head++;
			__atomic_store_n(&r->hdr->sq_head, r->sq_head, __ATOMIC_RELEASE);
			return true;
		}
		if (waited >= ms)
			return false;
		struct pollfd p = { r->sq_efd, POLLIN, 0 };
		if (poll(&p, 1, 10) > 0) {
			eventfd_t v;
			(void)eventfd_read(r->sq_efd, &v);
		}
	}
}

void svc_raw_complete_quiet(struct svc_raw *r, const struct vs_svc_cqe *c)
{
	memcpy(&r->cq[r->cq_tail % r->w.ring_entries], c, sizeof(*c));
	r->cq_tail++;
	__atomic_store_n(&r->hdr->cq_tail, r->cq_tail, __ATOMIC_RELEASE);
}

void svc_raw_complete(struct svc_raw *r, const struct vs_svc_cqe *c)
{
	svc_raw_complete_quiet(r, c);
	(void)eventfd_write(r->cq_efd, 1);
}

void svc_raw_complete_good(struct svc_raw *r, const struct vs_svc_sqe *e)
{
	struct vs_svc_cqe c = { .tag = e->tag };

	if (e->data_dir == VS_SVC_DIR_FROM_DEVICE)
		c.xfer_len = e->data_length;
	svc_raw_complete(r, &c);
}

bool svc_raw_closed(struct svc_raw *r, int ms)
{
	uint8_t buf[VS_SVC_MSG_MAX];

	int waited = 0;

	do {
		if (svc_raw_recv(r, buf, sizeof(buf), ms < 50 ? ms : 50) < 0)
			return true;
		waited += 50;
	} while (waited < ms);
	return false;
}
