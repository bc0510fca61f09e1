/* SPDX-License-Identifier: MIT */
/*
 * Bytes in and out of an NBD connection, over the socket or over TLS.
 * Receiving goes through a buffer (a burst of small requests is one read);
 * a WRITE's payload beyond what the buffer holds is read straight into
 * its slot.  Replies are queued in completion order and sent with one
 * sendmsg for as many as fit (header and data of each, never copied).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "nbd_int.h"

uint32_t vs_nbd_io_tls_want(const struct nbd_conn *c)
{
	return c->tls ? c->tls_want : 0;
}

static ssize_t raw_read(struct nbd_conn *c, void *buf, size_t len)
{
	ssize_t n;

	if (c->tls) {
		n = vs_nbd_tls_read(c->tls, buf, len, &c->tls_want);
		if (n > 0)
			c->tls_want = 0;
		return n == -EAGAIN ? -EAGAIN : n < 0 ? -EIO : n;
	}
	n = read(c->fd, buf, len);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
	return n;
}

static ssize_t raw_writev(struct nbd_conn *c, const struct iovec *iov, int n)
{
	ssize_t w;

	if (c->tls) {
		w = vs_nbd_tls_writev(c->tls, iov, n, &c->tls_want);
		if (w > 0)
			c->tls_want = 0;
		return w;
	}
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
	w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0)
		return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
	return w;
}

int vs_nbd_io_fill(struct nbd_conn *c)
{
	ssize_t n;

	if (c->rstart == c->rend) {
		c->rstart = c->rend = 0;
	} else if (c->rstart > NBD_RBUF_LEN / 2) {
		memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
		c->rend -= c->rstart;
		c->rstart = 0;
	}
	if (c->rend == NBD_RBUF_LEN)
		return 0;               /* full: the caller consumes first */
	n = raw_read(c, c->rbuf + c->rend, NBD_RBUF_LEN - c->rend);
	if (n == -EAGAIN)
		return 0;
	if (n <= 0)
		return -1;
	c->rend += (size_t)n;
	return (int)n;
}

int vs_nbd_io_need(struct nbd_conn *c, size_t need)
{
	while (c->rend - c->rstart < need) {
		int n = vs_nbd_io_fill(c);

		if (n <= 0)
			return n < 0 ? -1 : 0;
	}
	return 1;
}

ssize_t vs_nbd_io_read_into(struct nbd_conn *c, void *buf, size_t len)
{
	size_t have = c->rend - c->rstart;
	ssize_t n;

	if (have) {
		size_t take = have < len ? have : len;

		memcpy(buf, c->rbuf + c->rstart, take);
		c->rstart += take;
		return (ssize_t)take;
	}
	n = raw_read(c, buf, len);
	if (n == -EAGAIN)
		return 0;
	return n <= 0 ? -1 : n;
}

int vs_nbd_io_read_rest(struct nbd_conn *c, uint8_t *buf, uint32_t want, uint32_t *got)
{
	while (*got < want) {
		ssize_t n = vs_nbd_io_read_into(c, buf + *got, want - *got);

		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		*got += (uint32_t)n;
	}
	return 1;
}

int vs_nbd_io_flush_hout(struct nbd_conn *c)
{
	while (c->hout_sent < c->hout.len) {
		struct iovec iov = { c->hout.buf + c->hout_sent, c->hout.len - c->hout_sent };
		ssize_t w = raw_writev(c, &iov, 1);

		if (w == -EAGAIN)
			return 0;
		if (w <= 0)
			return -1;
		c->hout_sent += (size_t)w;
	}
	c->hout.len = c->hout_sent = 0;
	return 1;
}

bool vs_nbd_io_buffered(const struct nbd_conn *c)
{
	return c->rstart != c->rend || vs_nbd_tls_pending(c->tls);
}

bool vs_nbd_io_want_write(const struct nbd_conn *c)
{
	return c->hout_sent < c->hout.len || c->sq_head != NULL;
}

int vs_nbd_io_queue_reply(struct nbd_conn *c, struct nbd_slot *s)
{
	s->next = NULL;
	if (c->sq_tail)
		c->sq_tail->next = s;
	else
		c->sq_head = s;
	c->sq_tail = s;
	return 0;
}

/* The unsent part of the queue as one iovec array (from sq_off). */
static int gather(struct nbd_conn *c, struct iovec *iov)
{
	size_t skip = c->sq_off;
	int n = 0;

	for (struct nbd_slot *s = c->sq_head; s && n < NBD_SEND_IOV; s = s->next) {
		for (int i = 0; i < s->outcnt && n < NBD_SEND_IOV; i++) {
			size_t l = s->out[i].iov_len;

			if (skip >= l) {
				skip -= l;
				continue;
			}
			iov[n].iov_base = (uint8_t *)s->out[i].iov_base + skip;
			iov[n].iov_len = l - skip;
			skip = 0;
			n++;
		}
	}
	return n;
}

static size_t slot_len(const struct nbd_slot *s)
{
	size_t t = 0;

	for (int i = 0; i < s->outcnt; i++)
		t += s->out[i].iov_len;
	return t;
}

int vs_nbd_io_flush_replies(struct nbd_conn *c, void (*done)(struct nbd_slot *s))
{
	struct iovec iov[NBD_SEND_IOV];

	while (c->sq_head) {
		int n = gather(c, iov);
		ssize_t w = raw_writev(c, iov, n);

		if (w == -EAGAIN)
			return 0;
		if (w <= 0)
			return -1;
		c->sq_off += (size_t)w;
		while (c->sq_head && c->sq_off >= slot_len(c->sq_head)) {
			struct nbd_slot *s = c->sq_head;

			c->sq_off -= slot_len(s);
			c->sq_head = s->next;
			if (!c->sq_head)
				c->sq_tail = NULL;
			done(s);
		}
	}
	return 1;
}
