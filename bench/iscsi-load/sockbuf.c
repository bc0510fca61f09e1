#include "sockbuf.h"
#include "ddigest.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* A receive takes in up to this much; a send leaves with up to this much. */
#define RX_CAP (256u * 1024u)
#define TX_CAP (256u * 1024u)
/* Transfers this large bypass the buffers (libiscsi's own buffers are the
 * destination or source: no copy for large I/O). */
#define DIRECT_MIN (64u * 1024u)
#define MAX_FD 4096
/* A basic header segment with a header digest: libiscsi's header reads
 * are never longer. */
#define ISCSI_BHS_MAX 52u
/* Small data reads in a row that end the unbuffered mode. */
#define SMALL_STREAK 16u
/* sockbuf_unregister waits at most this long for buffered sends. */
#define UNREGISTER_WAIT_MS 5000

struct sockbuf {
	uint8_t *rx;
	size_t rx_head, rx_tail;
	bool rx_empty_seen;      /* this pass already found the socket empty */
	bool rx_large;           /* PDUs carry large data: do not buffer */
	unsigned rx_small;       /* small data reads in a row while rx_large */
	bool draining;           /* unregistered: serve rx, then pass through */
	uint8_t *tx;
	size_t tx_len, tx_sent;
	int err;                 /* a failed real send, for libiscsi's next call */
};

static _Atomic(struct sockbuf *) table[MAX_FD];

static struct sockbuf *lookup(int fd)
{
	if (fd < 0 || fd >= MAX_FD)
		return NULL;
	return atomic_load_explicit(&table[fd], memory_order_relaxed);
}

static void release(int fd, struct sockbuf *b)
{
	atomic_store_explicit(&table[fd], NULL, memory_order_relaxed);
	free(b->rx);
	free(b->tx);
	free(b);
}

int sockbuf_register(int fd)
{
	if (fd < 0 || fd >= MAX_FD) {
		errno = EBADF;
		return -1;
	}
	struct sockbuf *b = calloc(1, sizeof(*b));
	if (b) {
		b->rx = malloc(RX_CAP);
		b->tx = malloc(TX_CAP);
	}
	if (!b || !b->rx || !b->tx) {
		if (b) {
			free(b->rx);
			free(b->tx);
			free(b);
		}
		errno = ENOMEM;
		return -1;
	}
	atomic_store_explicit(&table[fd], b, memory_order_relaxed);
	return 0;
}

/* The kernel's side, with data digests put in or taken out there when
 * --data-digest asks for them (ddigest.h). */
static ssize_t real_send(int fd, const struct iovec *iov, int n)
{
	return ddigest_send(fd, iov, n);
}

static ssize_t real_recv(int fd, const struct iovec *iov, int n)
{
	return ddigest_recv(fd, iov, n);
}

int sockbuf_flush(int fd)
{
	struct sockbuf *b = lookup(fd);
	if (!b)
		return 0;
	b->rx_empty_seen = false;       /* a new pass of the worker's loop */
	if (b->err) {
		errno = b->err;
		return -1;
	}
	while (b->tx_sent < b->tx_len) {
		struct iovec iov = { b->tx + b->tx_sent, b->tx_len - b->tx_sent };
		ssize_t n = real_send(fd, &iov, 1);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			b->err = errno;
			return -1;
		}
		b->tx_sent += (size_t)n;
	}
	b->tx_len = b->tx_sent = 0;
	return 0;
}

bool sockbuf_tx_pending(int fd)
{
	struct sockbuf *b = lookup(fd);
	return b && b->tx_sent < b->tx_len;
}

bool sockbuf_rx_pending(int fd)
{
	struct sockbuf *b = lookup(fd);
	return b && b->rx_head < b->rx_tail;
}

void sockbuf_unregister(int fd)
{
	struct sockbuf *b = lookup(fd);
	if (!b)
		return;
	for (int waited = 0; sockbuf_tx_pending(fd) && waited < UNREGISTER_WAIT_MS; waited += 10) {
		if (sockbuf_flush(fd) < 0)
			break;
		if (sockbuf_tx_pending(fd)) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			poll(&p, 1, 10);
		}
	}
	if (b->rx_head < b->rx_tail)
		b->draining = true;     /* libiscsi still has those bytes to read */
	else
		release(fd, b);
}

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;
	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* Copy buffered bytes into iov; returns how many. */
static size_t serve(struct sockbuf *b, const struct iovec *iov, int n)
{
	size_t done = 0;
	for (int i = 0; i < n && b->rx_head < b->rx_tail; i++) {
		size_t k = iov[i].iov_len;
		if (k > b->rx_tail - b->rx_head)
			k = b->rx_tail - b->rx_head;
		memcpy(iov[i].iov_base, b->rx + b->rx_head, k);
		b->rx_head += k;
		done += k;
	}
	return done;
}

static ssize_t rx_iov(int fd, const struct iovec *iov, int n)
{
	struct sockbuf *b = lookup(fd);
	if (!b)
		return real_recv(fd, iov, n);
	if (b->rx_head < b->rx_tail)
		return (ssize_t)serve(b, iov, n);
	if (b->draining) {
		release(fd, b);
		return real_recv(fd, iov, n);
	}
	if (b->err) {
		errno = b->err;
		return -1;
	}
	if (b->rx_empty_seen) {
		/* The last receive of this pass came back short: the socket was
		 * empty a moment ago.  Say so without asking the kernel again;
		 * poll() reports what arrives meanwhile. */
		errno = EAGAIN;
		return -1;
	}
	/* Large data segments (1 MiB reads) would be copied through the buffer
	 * whenever a header read brought their first part in with it; while
	 * libiscsi asks for large data, read exactly what it asks for. */
	size_t want = iov_total(iov, n);
	if (want >= DIRECT_MIN) {
		b->rx_large = true;
		b->rx_small = 0;
	} else if (want > ISCSI_BHS_MAX && b->rx_large && ++b->rx_small >= SMALL_STREAK) {
		/* Small data segments again (not just the tail of a large one
		 * that arrived in pieces): buffer. */
		b->rx_large = false;
	}
	if (b->rx_large)
		return real_recv(fd, iov, n);
	struct iovec into = { b->rx, RX_CAP };
	ssize_t got = real_recv(fd, &into, 1);
	if (got <= 0) {
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			b->rx_empty_seen = true;
		return got;
	}
	b->rx_head = 0;
	b->rx_tail = (size_t)got;
	b->rx_empty_seen = (size_t)got < RX_CAP;
	return (ssize_t)serve(b, iov, n);
}

static ssize_t tx_iov(int fd, const struct iovec *iov, int n)
{
	struct sockbuf *b = lookup(fd);
	if (!b || b->draining)
		return real_send(fd, iov, n);
	if (b->err) {
		errno = b->err;
		return -1;
	}
	size_t total = iov_total(iov, n);
	if (total >= DIRECT_MIN) {
		/* Large data: straight from libiscsi's buffer, in one sendmsg
		 * with the header(s) still buffered before it (byte order). */
		struct iovec v[9];
		size_t held = b->tx_len - b->tx_sent;
		int k = 0;
		if (held)
			v[k++] = (struct iovec){ b->tx + b->tx_sent, held };
		for (int i = 0; i < n && k < 9; i++)
			v[k++] = iov[i];
		ssize_t sent = real_send(fd, v, k);
		if (sent < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				b->err = errno;
			return -1;
		}
		if ((size_t)sent < held) {
			b->tx_sent += (size_t)sent;
			errno = EAGAIN;     /* none of libiscsi's bytes left yet */
			return -1;
		}
		b->tx_len = b->tx_sent = 0;
		return sent - (ssize_t)held;
	}
	if (b->tx_len + total > TX_CAP) {
		if (sockbuf_flush(fd) < 0)
			return -1;
		if (sockbuf_tx_pending(fd)) {
			errno = EAGAIN;     /* libiscsi retries on POLLOUT */
			return -1;
		}
	}
	for (int i = 0; i < n; i++) {
		memcpy(b->tx + b->tx_len, iov[i].iov_base, iov[i].iov_len);
		b->tx_len += iov[i].iov_len;
	}
	return (ssize_t)total;
}

/* ---- the interposed calls (libiscsi resolves these to ours) ---- */

/* Descriptors nobody registered (files, other sockets) go to the kernel
 * exactly as libc would send them. */

/* Descriptors nobody registered go to the kernel as libc would send them,
 * except that with --data-digest (ddigest.h) every socket's bytes pass
 * ddigest: login and the first commands of a session come before it is
 * registered.  Only iSCSI sockets are sent to or read from with these. */

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	struct iovec iov = { buf, len };

	if (!lookup(fd))
		return ddigest_enabled() && !flags ? ddigest_recv(fd, &iov, 1)
		                                   : recvfrom(fd, buf, len, flags, NULL, NULL);
	return rx_iov(fd, &iov, 1);   /* libiscsi passes no flags */
}

ssize_t readv(int fd, const struct iovec *iov, int n)
{
	if (!lookup(fd))
		return ddigest_enabled() ? ddigest_recv(fd, iov, n) : syscall(SYS_readv, fd, iov, n);
	return rx_iov(fd, iov, n);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	struct iovec iov = { (void *)buf, len };

	if (!lookup(fd))
		return ddigest_enabled() ? ddigest_send(fd, &iov, 1)
		                         : sendto(fd, buf, len, flags, NULL, 0);
	return tx_iov(fd, &iov, 1);   /* MSG_NOSIGNAL: real sends always use it */
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	if (!lookup(fd))
		return ddigest_enabled() ? ddigest_send(fd, iov, n) : syscall(SYS_writev, fd, iov, n);
	return tx_iov(fd, iov, n);
}
