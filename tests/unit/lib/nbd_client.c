/* SPDX-License-Identifier: MIT */
/* A tiny blocking NBD client: see nbd_client.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nbd_client.h"
#include "fabrics/nbd/nbd_proto.h"

int nc_send(struct nc *c, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int nc_recv(struct nc *c, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 5000) <= 0)
			return -ETIMEDOUT;
		r = recv(c->fd, b, n, 0);
		if (r == 0)
			return -ECONNRESET;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

bool nc_closed(struct nc *c, int ms)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	uint8_t b[256];

	for (int t = 0; t < ms; t += 10) {
		if (poll(&pfd, 1, 10) == 1) {
			ssize_t r = recv(c->fd, b, sizeof(b), MSG_DONTWAIT);

			if (r == 0 || (r < 0 && errno == ECONNRESET))
				return true;
		}
	}
	return false;
}

int nc_connect(struct nc *c, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	uint8_t g[NBD_GREETING_LEN];
	int one = 1;

	memset(c, 0, sizeof(*c));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -errno;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(c->fd);
		c->fd = -1;
		return e;
	}
	if (nc_recv(c, g, sizeof(g)) < 0 || vs_get64(g) != NBD_MAGIC_INIT ||
	    vs_get64(g + 8) != NBD_MAGIC_OPT)
		return -EPROTO;
	return 0;
}

void nc_close(struct nc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int nc_flags(struct nc *c, uint32_t flags)
{
	uint8_t b[4];

	vs_put32(b, flags);
	return nc_send(c, b, 4);
}

int nc_option(struct nc *c, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t h[NBD_OPT_HDR_LEN];
	int rc;

	vs_put64(h, NBD_MAGIC_OPT);
	vs_put32(h + 8, opt);
	vs_put32(h + 12, len);
	rc = nc_send(c, h, sizeof(h));
	return rc ? rc : len ? nc_send(c, data, len) : 0;
}

int nc_opt_reply(struct nc *c, uint32_t *opt, uint32_t *type, void *data, uint32_t cap,
                 uint32_t *len)
{
	uint8_t h[NBD_OPT_REPLY_HDR_LEN], junk[256];
	uint32_t n, keep;
	int rc = nc_recv(c, h, sizeof(h));

	if (rc)
		return rc;
	if (vs_get64(h) != NBD_MAGIC_OPT_REPLY)
		return -EPROTO;
	*opt = vs_get32(h + 8);
	*type = vs_get32(h + 12);
	n = vs_get32(h + 16);
	if (len)
		*len = n;
	keep = n < cap ? n : cap;
	if (keep && (rc = nc_recv(c, data, keep)))
		return rc;
	for (n -= keep; n;) {
		uint32_t k = n < sizeof(junk) ? n : (uint32_t)sizeof(junk);

		if ((rc = nc_recv(c, junk, k)))
			return rc;
		n -= k;
	}
	return 0;
}

/* Read replies to opt until a final one; 0 if it was ACK, else the type. */
static int until_final(struct nc *c, uint32_t want_opt, uint8_t *info_out)
{
	for (;;) {
		uint8_t d[512];
		uint32_t opt, type, len;
		int rc = nc_opt_reply(c, &opt, &type, d, sizeof(d), &len);

		if (rc)
			return rc;
		if (opt != want_opt)
			return -EPROTO;
		if (type == NBD_REP_ACK)
			return 0;
		if (type & (1u << 31))
			return (int)(type & 0x7fffffff);
		if (type == NBD_REP_INFO && info_out) {
			uint16_t it = vs_get16(d);

			if (it == NBD_INFO_EXPORT) {
				struct nc *x = (struct nc *)info_out;
				x->size = vs_get64(d + 2);
				x->tflags = vs_get16(d + 10);
			} else if (it == NBD_INFO_BLOCK_SIZE) {
				struct nc *x = (struct nc *)info_out;
				x->min_block = vs_get32(d + 2);
				x->pref_block = vs_get32(d + 6);
				x->max_payload = vs_get32(d + 10);
			}
		}
	}
}

int nc_go(struct nc *c, const char *name, bool structured, bool meta)
{
	uint8_t d[600];
	size_t n = strlen(name);
	int rc;

	if (structured) {
		if ((rc = nc_option(c, NBD_OPT_STRUCTURED_REPLY, NULL, 0)) ||
		    (rc = until_final(c, NBD_OPT_STRUCTURED_REPLY, NULL)))
			return rc;
		c->structured = true;
	}
	if (meta) {
		static const char q[] = "base:allocation";

		vs_put32(d, (uint32_t)n);
		memcpy(d + 4, name, n);
		vs_put32(d + 4 + n, 1);
		vs_put32(d + 8 + n, sizeof(q) - 1);
		memcpy(d + 12 + n, q, sizeof(q) - 1);
		if ((rc = nc_option(c, NBD_OPT_SET_META_CONTEXT, d, (uint32_t)(12 + n + sizeof(q) - 1))) ||
		    (rc = until_final(c, NBD_OPT_SET_META_CONTEXT, NULL)))
			return rc;
	}
	vs_put32(d, (uint32_t)n);
	memcpy(d + 4, name, n);
	vs_put16(d + 4 + n, 1);
	vs_put16(d + 6 + n, NBD_INFO_BLOCK_SIZE);
	if ((rc = nc_option(c, NBD_OPT_GO, d, (uint32_t)(8 + n))))
		return rc;
	return until_final(c, NBD_OPT_GO, (uint8_t *)c);
}

int nc_request(struct nc *c, uint16_t type, uint16_t flags, uint64_t handle, uint64_t off,
               uint32_t len, const void *payload)
{
	uint8_t h[NBD_REQUEST_LEN];
	int rc;

	vs_put32(h, NBD_MAGIC_REQUEST);
	vs_put16(h + 4, flags);
	vs_put16(h + 6, type);
	vs_put64(h + 8, handle);
	vs_put64(h + 16, off);
	vs_put32(h + 24, len);
	rc = nc_send(c, h, sizeof(h));
	return rc ? rc : payload ? nc_send(c, payload, len) : 0;
}

int nc_reply(struct nc *c, uint64_t *handle, uint32_t *error, void *buf, uint32_t len,
             uint32_t *desc, uint32_t *ndesc)
{
	uint8_t h[NBD_CHUNK_HDR_LEN];
	int rc;

	*error = 0;
	if ((rc = nc_recv(c, h, 4)))
		return rc;
	if (vs_get32(h) == NBD_MAGIC_SIMPLE_REPLY) {
		if ((rc = nc_recv(c, h + 4, 12)))
			return rc;
		*error = vs_get32(h + 4);
		*handle = vs_get64(h + 8);
		/* the caller knows whether this was a READ (buf != NULL) */
		return !*error && buf ? nc_recv(c, buf, len) : 0;
	}
	if (vs_get32(h) != NBD_MAGIC_STRUCTURED_REPLY)
		return -EPROTO;
	for (;;) {
		uint16_t flags, type;
		uint32_t plen;

		if ((rc = nc_recv(c, h + 4, NBD_CHUNK_HDR_LEN - 4)))
			return rc;
		flags = vs_get16(h + 4);
		type = vs_get16(h + 6);
		*handle = vs_get64(h + 8);
		plen = vs_get32(h + 16);
		if (type == NBD_REPLY_TYPE_OFFSET_DATA && plen >= 8 && plen - 8 <= len) {
			uint8_t off[8];
			if ((rc = nc_recv(c, off, 8)) || (rc = nc_recv(c, buf, plen - 8)))
				return rc;
		} else if (type == NBD_REPLY_TYPE_BLOCK_STATUS && desc && plen >= 4 && plen <= 4 + 8 * 64) {
			uint8_t d[4 + 8 * 64];
			if ((rc = nc_recv(c, d, plen)))
				return rc;
			*ndesc = (plen - 4) / 8;
			for (uint32_t i = 0; i < *ndesc; i++) {
				desc[2 * i] = vs_get32(d + 4 + 8 * i);
				desc[2 * i + 1] = vs_get32(d + 8 + 8 * i);
			}
		} else if (type & 0x8000) {
			uint8_t d[1024];
			if (plen > sizeof(d) || (rc = nc_recv(c, d, plen)))
				return rc ? rc : -EPROTO;
			*error = vs_get32(d);
		} else if (plen) {
			return -EPROTO;
		}
		if (flags & NBD_REPLY_FLAG_DONE)
			return 0;
		if ((rc = nc_recv(c, h, 4)))
			return rc;
		if (vs_get32(h) != NBD_MAGIC_STRUCTURED_REPLY)
			return -EPROTO;
	}
}

int nc_cmd(struct nc *c, uint16_t type, uint16_t flags, uint64_t off, uint32_t len, void *buf,
           uint32_t *error)
{
	static uint64_t next = 1;
	uint64_t h = next++, got = 0;
	int rc = nc_request(c, type, flags, h, off, len, type == NBD_CMD_WRITE ? buf : NULL);

	if (rc)
		return rc;
	rc = nc_reply(c, &got, error, type == NBD_CMD_READ ? buf : NULL, len, NULL, NULL);
	if (!rc && got != h)
		return -EPROTO;
	return rc;
}
