#include "ddigest.h"

#include <errno.h>
#include <isa-l/crc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_FD 4096
#define BHS_LEN 48u
#define OP_LOGIN_REQ 0x03
#define OP_LOGIN_RSP 0x23
#define TEXT_KEEP 2048u         /* login response text kept to find the keys */

enum part { P_BHS = 0, P_REST, P_DATA, P_DIG };

/* What is known of one connection's received byte stream. */
struct dd_conn {
	uint8_t part;           /* enum part */
	uint32_t need;          /* bytes left of this part */
	uint8_t bhs[BHS_LEN];
	uint32_t bhs_got;
	uint32_t data_len;      /* this PDU's data segment with its padding */
	bool full;              /* the login is over: digests as negotiated */
	bool hd, dd;            /* header / data digests on the wire */
	bool final_login;       /* this PDU is the last Login Response */
	uint32_t crc;           /* running CRC32C register of the data segment */
	uint8_t dig[4];
	uint32_t dig_got;
	char text[TEXT_KEEP];   /* the final Login Response's keys */
	uint32_t text_len;
};

static bool enabled, want_hd;
static _Atomic(struct dd_conn *) conns[MAX_FD];
static _Atomic uint64_t errors, checked;

void ddigest_enable(bool header_digest)
{
	enabled = true;
	want_hd = header_digest;
}

bool ddigest_enabled(void)
{
	return enabled;
}

uint64_t ddigest_errors(void)
{
	return atomic_load(&errors);
}

uint64_t ddigest_checked(void)
{
	return atomic_load(&checked);
}

static ssize_t kernel_recv(int fd, const struct iovec *iov, int n)
{
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
	return recvmsg(fd, &mh, 0);
}

static ssize_t kernel_send(int fd, const struct iovec *iov, int n)
{
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
	return sendmsg(fd, &mh, MSG_NOSIGNAL);
}

/* A connection's state, new at its first Login Request (reset = true). */
static struct dd_conn *conn_of(int fd, bool reset)
{
	struct dd_conn *c;

	if (fd < 0 || fd >= MAX_FD)
		return NULL;
	c = atomic_load_explicit(&conns[fd], memory_order_relaxed);
	if (!c && reset) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		atomic_store_explicit(&conns[fd], c, memory_order_relaxed);
	}
	if (c && reset) {
		memset(c, 0, sizeof(*c));
		c->part = P_BHS;
		c->need = BHS_LEN;
	}
	return c;
}

static bool has_key(const struct dd_conn *c, const char *kv)
{
	size_t n = strlen(kv);

	for (uint32_t i = 0; i + n <= c->text_len; i++)
		if ((i == 0 || c->text[i - 1] == '\0') && !memcmp(c->text + i, kv, n) &&
		    (i + n == c->text_len || c->text[i + n] == '\0'))
			return true;
	return false;
}

/* The part just ended: on to the next one. */
static void next_part(struct dd_conn *c)
{
	switch (c->part) {
	case P_BHS: {
		uint32_t ahs = (uint32_t)c->bhs[4] * 4;
		uint32_t dlen = (uint32_t)c->bhs[5] << 16 | (uint32_t)c->bhs[6] << 8 | c->bhs[7];
		uint32_t rest = ahs + (c->full && c->hd ? 4 : 0);

		c->data_len = (dlen + 3) & ~3u;
		c->final_login = (c->bhs[0] & 0x3f) == OP_LOGIN_RSP && (c->bhs[1] & 0x80) &&
		                 (c->bhs[1] & 0x03) == 3;
		c->crc = ~0u;
		if (rest) {
			c->part = P_REST;
			c->need = rest;
			return;
		}
		/* no AHS, no header digest: the data segment is next */
	}
		/* fall through */
	case P_REST:
		if (c->data_len) {
			c->part = P_DATA;
			c->need = c->data_len;
			return;
		}
		break;
	case P_DATA:
		if (c->full && c->dd) {
			c->part = P_DIG;
			c->need = 4;
			c->dig_got = 0;
			return;
		}
		break;
	case P_DIG: {
		uint32_t got = (uint32_t)c->dig[0] | (uint32_t)c->dig[1] << 8 |
		               (uint32_t)c->dig[2] << 16 | (uint32_t)c->dig[3] << 24;

		atomic_fetch_add(&checked, 1);
		if (got != ~c->crc)
			atomic_fetch_add(&errors, 1);
		break;
	}
	}
	/* The PDU is over. */
	if (c->final_login) {
		c->full = true;
		c->dd = has_key(c, "DataDigest=CRC32C");
		c->hd = want_hd && has_key(c, "HeaderDigest=CRC32C");
		c->final_login = false;
	}
	c->part = P_BHS;
	c->need = BHS_LEN;
	c->bhs_got = 0;
}

/* k bytes of the current part (not a digest) passed by, at p. */
static void saw(struct dd_conn *c, const uint8_t *p, uint32_t k)
{
	if (c->part == P_BHS) {
		memcpy(c->bhs + c->bhs_got, p, k);
		c->bhs_got += k;
	} else if (c->part == P_DATA) {
		if (c->full && c->dd)
			c->crc = crc32_iscsi((unsigned char *)(uintptr_t)p, (int)k, c->crc);
		if (c->final_login) {
			uint32_t keep = k < TEXT_KEEP - c->text_len ? k : TEXT_KEEP - c->text_len;

			memcpy(c->text + c->text_len, p, keep);
			c->text_len += keep;
		}
	}
	c->need -= k;
	if (!c->need)
		next_part(c);
}

/* Follow r bytes just read into one buffer, taking digests out; the bytes
 * that are left. */
static size_t follow_flat(struct dd_conn *c, uint8_t *buf, size_t r)
{
	size_t rp = 0, wp = 0;

	while (rp < r) {
		uint32_t k = c->need < r - rp ? c->need : (uint32_t)(r - rp);

		if (c->part == P_DIG) {
			memcpy(c->dig + c->dig_got, buf + rp, k);
			c->dig_got += k;
			rp += k;
			c->need -= k;
			if (!c->need)
				next_part(c);
			continue;
		}
		if (wp != rp)
			memmove(buf + wp, buf + rp, k);
		saw(c, buf + wp, k);
		rp += k;
		wp += k;
	}
	return wp;
}

/* Read the rest of a digest that is next on the wire: 1 done, 0 EOF, -1. */
static int read_digest(int fd, struct dd_conn *c)
{
	while (c->part == P_DIG) {
		struct iovec v = { c->dig + c->dig_got, c->need };
		ssize_t r = kernel_recv(fd, &v, 1);

		if (r <= 0)
			return (int)r;
		c->dig_got += (uint32_t)r;
		c->need -= (uint32_t)r;
		if (!c->need)
			next_part(c);
	}
	return 1;
}

ssize_t ddigest_recv(int fd, const struct iovec *iov, int n)
{
	struct dd_conn *c = enabled ? conn_of(fd, false) : NULL;

	if (!c)
		return kernel_recv(fd, iov, n);
	for (;;) {
		int d = read_digest(fd, c);

		if (d <= 0)
			return d;
		if (n == 1) {
			/* One buffer (sockbuf's, or a header): read all there is
			 * and take the digests out in place. */
			ssize_t r = kernel_recv(fd, iov, 1);

			if (r <= 0)
				return r;
			size_t left = follow_flat(c, iov[0].iov_base, (size_t)r);

			if (left)
				return (ssize_t)left;
			continue;       /* only a digest came: read on */
		}
		/* Scattered (a data segment into libiscsi's buffers): never past
		 * the end of the current part, so no digest lands in them. */
		struct iovec v[16];
		int k = 0;
		size_t room = c->need;

		for (int i = 0; i < n && k < 16 && room; i++) {
			v[k] = iov[i];
			if (v[k].iov_len > room)
				v[k].iov_len = room;
			room -= v[k].iov_len;
			k++;
		}
		ssize_t r = kernel_recv(fd, v, k);

		if (r <= 0)
			return r;
		for (int i = 0, left = (int)r; i < k && left > 0; i++) {
			uint32_t m = v[i].iov_len < (size_t)left ? (uint32_t)v[i].iov_len : (uint32_t)left;

			saw(c, v[i].iov_base, m);
			left -= (int)m;
		}
		return r;
	}
}

/* A Login Request that says DataDigest=None, sent saying DataDigest=CRC32C:
 * the bytes to send instead in out (NULL if it is not one). */
static uint8_t *rewrite_login(const struct iovec *iov, int n, size_t *out_len)
{
	static const char from[] = "DataDigest=None", to[] = "DataDigest=CRC32C";
	const uint8_t *p = iov[0].iov_base;
	size_t total = 0, dlen, at;
	uint8_t *buf, *out;

	if (iov[0].iov_len < BHS_LEN || (p[0] & 0x3f) != OP_LOGIN_REQ)
		return NULL;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	buf = malloc(total + sizeof(to) + 4);
	if (!buf)
		return NULL;
	total = 0;
	for (int i = 0; i < n; i++) {
		memcpy(buf + total, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	dlen = (size_t)buf[5] << 16 | (size_t)buf[6] << 8 | buf[7];
	if (BHS_LEN + dlen > total)
		goto no;
	for (at = BHS_LEN; at + sizeof(from) <= BHS_LEN + dlen; at++)
		if (!memcmp(buf + at, from, sizeof(from)) && (at == BHS_LEN || buf[at - 1] == '\0'))
			break;
	if (at + sizeof(from) > BHS_LEN + dlen)
		goto no;
	out = calloc(1, BHS_LEN + dlen + sizeof(to) + 4);
	if (!out)
		goto no;
	memcpy(out, buf, at);
	memcpy(out + at, to, sizeof(to));
	memcpy(out + at + sizeof(to), buf + at + sizeof(from), BHS_LEN + dlen - at - sizeof(from));
	dlen += sizeof(to) - sizeof(from);
	out[5] = (uint8_t)(dlen >> 16);
	out[6] = (uint8_t)(dlen >> 8);
	out[7] = (uint8_t)dlen;
	*out_len = BHS_LEN + ((dlen + 3) & ~(size_t)3);     /* padding: zeroes (calloc) */
	free(buf);
	return out;
no:
	free(buf);
	return NULL;
}

ssize_t ddigest_send(int fd, const struct iovec *iov, int n)
{
	if (!enabled || n < 1)
		return kernel_send(fd, iov, n);
	if (iov[0].iov_len >= BHS_LEN && (((const uint8_t *)iov[0].iov_base)[0] & 0x3f) == OP_LOGIN_REQ) {
		size_t total = 0, len = 0;
		uint8_t *out = rewrite_login(iov, n, &len);

		/* A Login Request starts a connection (or the next step of its
		 * login, the last response fully read): follow the replies. */
		conn_of(fd, true);
		if (!out)
			return kernel_send(fd, iov, n);
		for (int i = 0; i < n; i++)
			total += iov[i].iov_len;
		struct iovec v = { out, len };
		ssize_t r = kernel_send(fd, &v, 1);

		free(out);
		if (r < 0)
			return r;
		if ((size_t)r != len) {
			/* A login PDU is a few hundred bytes into an empty socket;
			 * half of a rewritten one cannot be resumed. */
			errno = EIO;
			return -1;
		}
		return (ssize_t)total;
	}
	return kernel_send(fd, iov, n);
}
