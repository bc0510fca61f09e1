/* SPDX-License-Identifier: MIT */
/*
 * nbd-load: a lean NBD load generator (what iscsi-load is for iSCSI).
 *
 * Raw protocol, no client library: each connection does the fixed newstyle
 * handshake (NBD_OPT_GO, no structured replies: simple replies are the
 * cheapest to parse), then keeps --qd requests in flight.  A thread drives
 * its connections with one poll() loop; requests are written with writev
 * straight from a shared payload, replies read in large chunks and parsed
 * in place, READ data skipped without a copy.  The latency histogram is
 * iscsi-load's (no allocation per I/O).
 *
 *   nbd-load -u nbd://127.0.0.1:10809/disk --rw read --pattern random \
 *            --bs 4k --qd 32 --conns 1 --threads 1 -t 10 [--json] [--target-pid PID]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "histogram.h"
#include "proc_cpu.h"

#define MAX_CONNS 64
#define MAX_QD 256
#define RBUF (512u * 1024u)

struct opts {
	char host[256], port[16], export_name[256];
	bool write, mixed, seq, json;
	uint32_t bs;
	unsigned qd, conns, threads;
	double duration, warmup;
	uint64_t size;
	int target_pid;
};

struct slot {
	uint64_t t0;
	uint64_t off;
	bool write;
	uint8_t hdr[28];
};

struct conn {
	int fd;
	uint64_t export_size, span, next_seq;
	unsigned seed;
	struct slot slot[MAX_QD];
	/* tx: request indices waiting to go out, and how much of the first is sent */
	uint16_t txq[MAX_QD];
	unsigned txh, txn;
	size_t txoff;
	/* rx */
	uint8_t *rbuf;
	size_t rlen;
	uint64_t skip;          /* READ data still to skip */
	uint64_t reads, writes, bytes;
	unsigned inflight;
	struct hist lat;
	bool dead;
};

struct thread {
	pthread_t t;
	struct conn *c[MAX_CONNS];
	unsigned n;
};

static struct opts O = { .port = "10809", .bs = 4096, .qd = 1, .conns = 1, .threads = 1,
	                 .duration = 10, .warmup = 1 };
static const uint8_t *payload;
static atomic_int phase;        /* 0 warm-up, 1 measure, 2 stop */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)(v >> 32)); put32(p + 4, (uint32_t)v); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

static int64_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	int64_t m = 1;

	switch (*end) {
	case 'k': case 'K': m = 1 << 10; end++; break;
	case 'm': case 'M': m = 1 << 20; end++; break;
	case 'g': case 'G': m = 1ll << 30; end++; break;
	default: break;
	}
	return *end || v < 0 ? -1 : (int64_t)(v * (double)m);
}

static void die(const char *what)
{
	fprintf(stderr, "nbd-load: %s\n", what);
	exit(1);
}

/* ---- handshake (blocking) ---- */

static void xfer(int fd, void *p, size_t n, bool out)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = out ? send(fd, b, n, MSG_NOSIGNAL) : recv(fd, b, n, 0);

		if (r <= 0)
			die(out ? "send failed during the handshake" : "server closed during the handshake");
		b += r;
		n -= (size_t)r;
	}
}

static int connect_one(uint64_t *size)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	uint8_t g[18], h[16], r[20], d[600];
	size_t nl = strlen(O.export_name);
	int fd, one = 1;

	if (getaddrinfo(O.host, O.port, &hints, &ai))
		die("cannot resolve the host");
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		die("cannot connect");
	freeaddrinfo(ai);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	xfer(fd, g, sizeof(g), false);
	if (get64(g) != 0x4e42444d41474943ull || get64(g + 8) != 0x49484156454f5054ull)
		die("not an NBD server (fixed newstyle)");
	put32(h, 3);            /* FIXED_NEWSTYLE | NO_ZEROES */
	xfer(fd, h, 4, true);
	put64(h, 0x49484156454f5054ull);
	put32(h + 8, 7);        /* NBD_OPT_GO */
	put32(h + 12, (uint32_t)(6 + nl));
	put32(d, (uint32_t)nl);
	memcpy(d + 4, O.export_name, nl);
	put16(d + 4 + nl, 0);
	xfer(fd, h, 16, true);
	xfer(fd, d, 6 + nl, true);
	for (;;) {
		uint32_t type, len;

		xfer(fd, r, sizeof(r), false);
		type = get32(r + 12);
		len = get32(r + 16);
		if (len > sizeof(d))
			die("option reply too long");
		xfer(fd, d, len, false);
		if (type == 1)
			break;                  /* NBD_REP_ACK */
		if (type & 0x80000000u)
			die("the server refused the export");
		if (type == 3 && len >= 12 && d[0] == 0 && d[1] == 0)
			*size = get64(d + 2);   /* NBD_INFO_EXPORT */
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* ---- I/O ---- */

static void issue(struct conn *c, unsigned i)
{
	struct slot *s = &c->slot[i];
	uint64_t blocks = c->span / O.bs;

	s->write = O.write || (O.mixed && (rand_r(&c->seed) & 1));
	if (O.seq) {
		s->off = (c->next_seq % blocks) * O.bs;
		c->next_seq++;
	} else {
		s->off = ((uint64_t)rand_r(&c->seed) << 31 ^ (uint64_t)rand_r(&c->seed)) % blocks * O.bs;
	}
	put32(s->hdr, 0x25609513u);
	put16(s->hdr + 4, 0);
	put16(s->hdr + 6, s->write ? 1 : 0);
	put64(s->hdr + 8, i);
	put64(s->hdr + 16, s->off);
	put32(s->hdr + 24, O.bs);
	s->t0 = now_ns();
	c->inflight++;
	c->txq[(c->txh + c->txn++) % MAX_QD] = (uint16_t)i;
}

static void send_some(struct conn *c)
{
	while (c->txn) {
		struct iovec iov[2 * MAX_QD];
		int n = 0;
		size_t skip = c->txoff;

		for (unsigned k = 0; k < c->txn && n < 2 * MAX_QD - 1; k++) {
			struct slot *s = &c->slot[c->txq[(c->txh + k) % MAX_QD]];
			struct iovec parts[2] = { { s->hdr, 28 }, { (void *)payload, s->write ? O.bs : 0 } };

			for (int p = 0; p < 2; p++) {
				if (!parts[p].iov_len)
					continue;
				if (skip >= parts[p].iov_len) {
					skip -= parts[p].iov_len;
					continue;
				}
				iov[n].iov_base = (uint8_t *)parts[p].iov_base + skip;
				iov[n++].iov_len = parts[p].iov_len - skip;
				skip = 0;
			}
		}
		ssize_t w = writev(c->fd, iov, n);
		if (w < 0) {
			if (errno != EAGAIN)
				c->dead = true;
			return;
		}
		c->txoff += (size_t)w;
		while (c->txn) {
			struct slot *s = &c->slot[c->txq[c->txh]];
			size_t len = 28 + (s->write ? O.bs : 0);

			if (c->txoff < len)
				break;
			c->txoff -= len;
			c->txh = (c->txh + 1) % MAX_QD;
			c->txn--;
		}
	}
}

static void complete(struct conn *c, unsigned i, uint32_t err)
{
	struct slot *s = &c->slot[i];

	c->inflight--;
	if (err) {
		fprintf(stderr, "nbd-load: error %u at offset %llu\n", err, (unsigned long long)s->off);
		c->dead = true;
		return;
	}
	if (atomic_load_explicit(&phase, memory_order_relaxed) == 1) {
		hist_record(&c->lat, now_ns() - s->t0);
		if (s->write)
			c->writes++;
		else
			c->reads++;
		c->bytes += O.bs;
	}
	if (atomic_load_explicit(&phase, memory_order_relaxed) < 2)
		issue(c, i);
}

static void recv_some(struct conn *c)
{
	for (;;) {
		ssize_t r = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
		size_t at = 0;

		if (r == 0 || (r < 0 && errno != EAGAIN)) {
			c->dead = true;
			return;
		}
		if (r < 0)
			return;
		c->rlen += (size_t)r;
		while (at < c->rlen) {
			if (c->skip) {
				size_t k = c->rlen - at < c->skip ? c->rlen - at : c->skip;
				at += k;
				c->skip -= k;
				continue;
			}
			if (c->rlen - at < 16)
				break;
			const uint8_t *h = c->rbuf + at;
			if (get32(h) != 0x67446698u) {
				c->dead = true;
				return;
			}
			uint64_t i = get64(h + 8);
			uint32_t err = get32(h + 4);
			at += 16;
			if (i >= O.qd) {
				c->dead = true;
				return;
			}
			if (!err && !c->slot[i].write)
				c->skip = O.bs;
			complete(c, (unsigned)i, err);
		}
		memmove(c->rbuf, c->rbuf + at, c->rlen - at);
		c->rlen -= at;
	}
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;
	struct pollfd pfd[MAX_CONNS];

	for (unsigned k = 0; k < t->n; k++)
		for (unsigned i = 0; i < O.qd; i++)
			issue(t->c[k], i);
	/* after the window: no new requests, the ones in flight come back
	 * (bounded), then NBD_CMD_DISC, so the server sees a clean end */
	uint64_t drain_end = 0;

	for (;;) {
		unsigned busy = 0;

		for (unsigned k = 0; k < t->n; k++)
			busy += t->c[k]->inflight;
		if (atomic_load(&phase) == 2) {
			if (!drain_end)
				drain_end = now_ns() + 3000000000ull;
			if (!busy || now_ns() > drain_end)
				break;
		}
		for (unsigned k = 0; k < t->n; k++) {
			send_some(t->c[k]);
			pfd[k] = (struct pollfd){ t->c[k]->fd,
			                          (short)(POLLIN | (t->c[k]->txn ? POLLOUT : 0)), 0 };
		}
		if (poll(pfd, t->n, 100) < 0)
			break;
		for (unsigned k = 0; k < t->n; k++) {
			if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
				recv_some(t->c[k]);
			if (t->c[k]->dead) {
				fprintf(stderr, "nbd-load: a connection failed\n");
				exit(1);
			}
		}
	}
	for (unsigned k = 0; k < t->n; k++) {
		uint8_t disc[28] = { 0x25, 0x60, 0x95, 0x13, 0, 0, 0, 2 };

		fcntl(t->c[k]->fd, F_SETFL, 0);
		(void)!write(t->c[k]->fd, disc, sizeof(disc));
		close(t->c[k]->fd);
	}
	return NULL;
}

/* ---- main ---- */

static void usage(void)
{
	printf("usage: nbd-load -u nbd://HOST[:PORT]/EXPORT [--rw read|write|mixed] "
	       "[--pattern random|seq]\n  [--bs SIZE] [--qd N] [--conns N] [--threads N] "
	       "[-t SECONDS] [--warmup SECONDS]\n  [--size SIZE] [--json] [--target-pid PID]\n");
}

static void parse_uri(const char *u)
{
	const char *p = u, *slash, *colon;

	if (strncmp(p, "nbd://", 6))
		die("-u: only nbd://HOST[:PORT]/EXPORT");
	p += 6;
	slash = strchr(p, '/');
	if (!slash)
		slash = p + strlen(p);
	colon = memchr(p, ':', (size_t)(slash - p));
	snprintf(O.host, sizeof(O.host), "%.*s", (int)((colon ? colon : slash) - p), p);
	if (colon)
		snprintf(O.port, sizeof(O.port), "%.*s", (int)(slash - colon - 1), colon + 1);
	snprintf(O.export_name, sizeof(O.export_name), "%s", *slash ? slash + 1 : "");
}

static void parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "uri", 1, 0, 'u' }, { "rw", 1, 0, 'r' }, { "pattern", 1, 0, 'p' }, { "bs", 1, 0, 'b' },
		{ "qd", 1, 0, 'q' }, { "conns", 1, 0, 'c' }, { "threads", 1, 0, 'j' },
		{ "time", 1, 0, 't' }, { "warmup", 1, 0, 'w' }, { "size", 1, 0, 's' },
		{ "json", 0, 0, 'J' }, { "target-pid", 1, 0, 'P' }, { "help", 0, 0, 'h' }, { 0 } };
	int ch;
	bool have_uri = false;

	while ((ch = getopt_long(argc, argv, "u:r:p:b:q:c:j:t:w:s:JP:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'u': parse_uri(optarg); have_uri = true; break;
		case 'r':
			O.write = !strcmp(optarg, "write");
			O.mixed = !strcmp(optarg, "mixed");
			if (!O.write && !O.mixed && strcmp(optarg, "read"))
				die("--rw: read, write or mixed");
			break;
		case 'p': O.seq = !strcmp(optarg, "seq"); break;
		case 'b': O.bs = (uint32_t)parse_size(optarg); break;
		case 'q': O.qd = (unsigned)atoi(optarg); break;
		case 'c': O.conns = (unsigned)atoi(optarg); break;
		case 'j': O.threads = (unsigned)atoi(optarg); break;
		case 't': O.duration = atof(optarg); break;
		case 'w': O.warmup = atof(optarg); break;
		case 's': O.size = (uint64_t)parse_size(optarg); break;
		case 'J': O.json = true; break;
		case 'P': O.target_pid = atoi(optarg); break;
		case 'h': usage(); exit(0);
		default: usage(); exit(2);
		}
	}
	if (!have_uri)
		die("-u nbd://HOST[:PORT]/EXPORT is required");
	if (!O.bs || O.bs % 512 || !O.qd || O.qd > MAX_QD || !O.conns || O.conns > MAX_CONNS ||
	    !O.threads || O.threads > O.conns)
		die("bad --bs (multiple of 512), --qd (1-256), --conns (1-64) or --threads (1-conns)");
}

static double cpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	static struct conn conns[MAX_CONNS];
	static struct thread threads[MAX_CONNS];
	static struct hist all;
	uint64_t size = 0, reads = 0, writes = 0, bytes = 0;
	double c0, c1, t0c = -1, t1c = -1, w;
	uint64_t t0, t1;

	parse(argc, argv);
	payload = aligned_alloc(4096, O.bs);
	memset((void *)payload, 0x5a, O.bs);
	for (unsigned k = 0; k < O.conns; k++) {
		struct conn *c = &conns[k];

		c->fd = connect_one(&size);
		c->export_size = size;
		c->span = O.size && O.size < size ? O.size : size;
		c->seed = 12345u + k * 7919u;
		c->next_seq = k * (c->span / O.bs / O.conns);
		c->rbuf = malloc(RBUF);
		hist_reset(&c->lat);
		if (c->span < O.bs)
			die("the export is smaller than one block");
		threads[k % O.threads].c[threads[k % O.threads].n++] = c;
	}
	for (unsigned j = 0; j < O.threads; j++)
		pthread_create(&threads[j].t, NULL, thread_main, &threads[j]);
	usleep((useconds_t)(O.warmup * 1e6));
	c0 = cpu_self();
	if (O.target_pid)
		t0c = proc_cpu_seconds(O.target_pid);
	t0 = now_ns();
	atomic_store(&phase, 1);
	usleep((useconds_t)(O.duration * 1e6));
	atomic_store(&phase, 2);
	t1 = now_ns();
	c1 = cpu_self();
	if (O.target_pid)
		t1c = proc_cpu_seconds(O.target_pid);
	for (unsigned j = 0; j < O.threads; j++)
		pthread_join(threads[j].t, NULL);
	hist_reset(&all);
	for (unsigned k = 0; k < O.conns; k++) {
		reads += conns[k].reads;
		writes += conns[k].writes;
		bytes += conns[k].bytes;
		hist_merge(&all, &conns[k].lat);
	}
	w = (double)(t1 - t0) / 1e9;
	double iops = (double)(reads + writes) / w, mbs = (double)bytes / 1e6 / w;
	double tcpu = t0c >= 0 && t1c >= 0 ? (t1c - t0c) / w * 100 : -1;
	if (O.json)
		printf("{\"tool\":\"nbd-load\",\"rw\":\"%s\",\"pattern\":\"%s\",\"bs\":%u,\"qd\":%u,"
		       "\"conns\":%u,\"window_s\":%.3f,\"ios\":%llu,\"iops\":%.1f,\"mb_s\":%.2f,"
		       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"mean_us\":%.1f,"
		       "\"client_cpu_pct\":%.1f,\"target_cpu_pct\":%.1f}\n",
		       O.write ? "write" : O.mixed ? "mixed" : "read", O.seq ? "seq" : "random", O.bs,
		       O.qd, O.conns, w, (unsigned long long)(reads + writes), iops, mbs,
		       hist_quantile(&all, 0.5) / 1e3, hist_quantile(&all, 0.99) / 1e3,
		       hist_quantile(&all, 0.999) / 1e3, hist_mean(&all) / 1e3, (c1 - c0) / w * 100,
		       tcpu);
	else
		printf("nbd-load: %s %s bs=%u qd=%u conns=%u: %.0f IOPS, %.1f MB/s, p50 %.1f us, "
		       "p99 %.1f us, client CPU %.0f%%%s\n",
		       O.write ? "write" : O.mixed ? "mixed" : "read", O.seq ? "seq" : "random", O.bs,
		       O.qd, O.conns, iops, mbs, hist_quantile(&all, 0.5) / 1e3,
		       hist_quantile(&all, 0.99) / 1e3, (c1 - c0) / w * 100, "");
	return 0;
}
