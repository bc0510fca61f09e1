/* SPDX-License-Identifier: MIT */
/*
 * file backend, several io_uring rings per file (src/backends/file_ring.c):
 * each submitting thread lands on a ring of its own and its data comes back
 * right; a FLUSH sent through one ring reaches the kernel as an fdatasync of
 * the descriptor the writes of the other rings used, after they completed;
 * a ring whose completion thread is stuck fills up (pending list) without
 * holding up the other rings or blocking its submitter; close waits for
 * requests held on every ring; a done() that submits again stays on its
 * ring; the rings= option.
 *
 * The files live in /var/tmp, which is on a disk (O_DIRECT needs a file
 * system that supports it; tmpfs may not).  Most tests run with direct=1
 * (every request through io_uring, to the device) and with inline=0
 * (buffered, every request through io_uring).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "vstor/backend.h"
#include "backends/file_ring.h"
#include "sys_trace.h"

#define DIR_     "/var/tmp"
#define BLK      4096u
#define TIMEOUT_S 20

/* The two ways every request goes through a ring. */
static const char *const modes[][2] = {{"direct", "1"}, {"inline", "0"}};
#define NMODES 2

static void make_path(char *out, size_t n)
{
	snprintf(out, n, DIR_ "/vstor-test-rings-XXXXXX");
	int fd = mkstemp(out);
	assert_true(fd >= 0);
	close(fd);
	unlink(out);
}

/* A new 16 MiB file with `rings` rings and one of modes[]. */
static struct vs_bdev *open_rings(const char *path, const char *rings, int mode)
{
	struct vs_kv kv[] = {{"path", path}, {"size", "16M"}, {"create", "1"},
	                     {"rings", rings}, {modes[mode][0], modes[mode][1]}};
	struct vs_bdev *b = vs_bdev_open("file", kv, 5);
	if (!b)
		fail_msg("open %s %s=%s: %s", path, modes[mode][0], modes[mode][1], vs_last_error());
	return b;
}

/* body(b, path) once per modes[] on a new file with `rings` rings; body
 * closes b, each_mode removes the file. */
static void each_mode(const char *rings, void (*body)(struct vs_bdev *b, const char *path))
{
	for (int mode = 0; mode < NMODES; mode++) {
		char path[64];
		make_path(path, sizeof(path));
		body(open_rings(path, rings, mode), path);
		unlink(path);
	}
}

static void stats(struct vs_bdev *b, unsigned i, struct file_ring_stats *s)
{
	vs_file_ring_get_stats(vs_bdev_backend_handle(b, "file"), i, s);
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((seed * 131 + i * 7 + (i >> 8)) ^ 0x5a);
}

static void *xalloc(size_t n)
{
	void *p = aligned_alloc(BLK, n);
	assert_non_null(p);
	return p;
}

/* ---- completions counted, waited for with a deadline ---- */

struct tally {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls, errors;
};

static void tally_init(struct tally *t)
{
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	t->calls = t->errors = 0;
}

static void tally_cb(struct vs_bio *bio, int err)
{
	struct tally *t = bio->ctx;
	pthread_mutex_lock(&t->mu);
	t->calls++;
	if (err)
		t->errors++;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

/* Wait until `n` calls (false after TIMEOUT_S). */
static bool tally_wait(struct tally *t, int n)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += TIMEOUT_S;
	pthread_mutex_lock(&t->mu);
	int rc = 0;
	while (t->calls < n && rc == 0)
		rc = pthread_cond_timedwait(&t->cv, &t->mu, &dl);
	bool ok = t->calls >= n;
	pthread_mutex_unlock(&t->mu);
	return ok;
}

static int tally_calls(struct tally *t)
{
	pthread_mutex_lock(&t->mu);
	int n = t->calls;
	pthread_mutex_unlock(&t->mu);
	return n;
}

static void bio_rw(struct vs_bio *bio, uint8_t op, uint64_t off, struct iovec *v, void *buf,
                   size_t len, struct tally *t)
{
	*v = (struct iovec){buf, len};
	*bio = (struct vs_bio){.op = op, .offset = off, .length = len, .iov = v, .iovcnt = 1,
	                       .done = tally_cb, .ctx = t};
}

/* cmocka's asserts belong to the main thread; elsewhere a request that
 * never comes back ends the test here, before its bio leaves scope. */
static void lost(const char *what)
{
	fprintf(stderr, "%s: no completion within %d s\n", what, TIMEOUT_S);
	abort();
}

/* One request, waited for; its error (-EPROTO: done() ran twice).  Any
 * thread. */
static int io1(struct vs_bdev *b, uint8_t op, uint64_t off, void *buf, size_t len)
{
	struct tally t;
	struct vs_bio bio;
	struct iovec v;
	tally_init(&t);
	bio_rw(&bio, op, off, &v, buf, len, &t);
	if (!buf)
		bio.iov = NULL, bio.iovcnt = 0;
	int rc = vs_bdev_submit(b, &bio);
	if (rc < 0)
		return rc;
	if (!tally_wait(&t, 1))
		lost("io1");
	usleep(1000);   /* a second completion would show up now */
	if (tally_calls(&t) != 1)
		return -EPROTO;
	return t.errors ? -EIO : 0;
}

/* ---- a gate: a done() that holds its completion thread until opened ---- */

struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered;     /* done() calls waiting at the gate */
	bool open;
	struct tally *t; /* counted once through */
};

static void gate_init(struct gate *g, struct tally *t)
{
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->entered = 0;
	g->open = false;
	g->t = t;
}

static void gate_cb(struct vs_bio *bio, int err)
{
	struct gate *g = bio->ctx;
	pthread_mutex_lock(&g->mu);
	g->entered++;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	bio->ctx = g->t;
	tally_cb(bio, err);
}

/* Wait until n done() calls wait at the gate; false after TIMEOUT_S. */
static bool gate_wait_entered(struct gate *g, int n)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += TIMEOUT_S;
	pthread_mutex_lock(&g->mu);
	int rc = 0;
	while (g->entered < n && rc == 0)
		rc = pthread_cond_timedwait(&g->cv, &g->mu, &dl);
	bool ok = g->entered == n;
	pthread_mutex_unlock(&g->mu);
	return ok;
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* ---- several threads, each on its own ring, data verified ---- */

#define OR_THREADS 4
#define OR_QD      8
#define OR_ROUNDS  25
#define OR_REGION  ((16u << 20) / OR_THREADS)
#define OR_SLOT    (OR_REGION / OR_QD)   /* one request in flight per slot */

struct or_thread {
	struct vs_bdev *b;
	int id;
	unsigned ring;
	int bios, failures;
	struct tally t;
	uint8_t *buf[OR_QD];
	uint8_t *shadow;   /* the region as it should be */
};

static void *or_main(void *p)
{
	struct or_thread *th = p;
	uint64_t rs = 0x9e3779b97f4a7c15ULL * (uint64_t)(th->id + 1);
	uint64_t base = (uint64_t)th->id * OR_REGION;
	th->ring = vs_file_ring_of_caller(vs_bdev_backend_handle(th->b, "file"));
	for (int round = 0; round < OR_ROUNDS; round++) {
		struct vs_bio bio[OR_QD];
		struct iovec v[OR_QD];
		uint64_t off[OR_QD], len[OR_QD];
		for (int op = 0; op < 2; op++) {
			int want = tally_calls(&th->t) + OR_QD;
			for (int i = 0; i < OR_QD; i++) {
				if (op == 0) {
					rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
					len[i] = BLK * (1 + rs % 8);
					off[i] = (uint64_t)i * OR_SLOT +
					         BLK * ((rs >> 8) % ((OR_SLOT - len[i]) / BLK + 1));
					fill(th->buf[i], len[i], rs);
					memcpy(th->shadow + off[i], th->buf[i], len[i]);
				} else {
					memset(th->buf[i], 0xcc, len[i]);
				}
				bio_rw(&bio[i], op ? VS_BIO_READ : VS_BIO_WRITE, base + off[i], &v[i],
				       th->buf[i], len[i], &th->t);
				if (op == 0 && i == 0)
					bio[i].flags = VS_BIO_FUA;
				if (vs_bdev_submit(th->b, &bio[i]) != 0)
					th->failures++, want--;
				th->bios++;
			}
			if (!tally_wait(&th->t, want))
				th->failures++;
			if (op == 1)
				for (int i = 0; i < OR_QD; i++)
					th->failures += memcmp(th->buf[i], th->shadow + off[i], len[i]) != 0;
		}
	}
	return NULL;
}

static void threads_on_own_rings(struct vs_bdev *b, const char *path)
{
	(void)path;
	assert_int_equal(vs_file_ring_count(vs_bdev_backend_handle(b, "file")), 4);
	struct file_ring_stats before[4], after[4];
	for (unsigned i = 0; i < 4; i++)
		stats(b, i, &before[i]);

	static struct or_thread th[OR_THREADS];
	pthread_t tid[OR_THREADS];
	for (int i = 0; i < OR_THREADS; i++) {
		th[i] = (struct or_thread){.b = b, .id = i};
		tally_init(&th[i].t);
		for (int q = 0; q < OR_QD; q++)
			th[i].buf[q] = xalloc(8 * BLK);
		th[i].shadow = calloc(1, OR_REGION);
		assert_int_equal(pthread_create(&tid[i], NULL, or_main, &th[i]), 0);
	}
	for (int i = 0; i < OR_THREADS; i++)
		pthread_join(tid[i], NULL);
	usleep(20000);   /* a duplicate completion would show up now */

	/* Threads that start submitting together take consecutive
	 * slots: with as many rings as threads, one ring each. */
	bool used[4] = {false};
	int expect[4] = {0};
	for (int i = 0; i < OR_THREADS; i++) {
		assert_int_equal(th[i].failures, 0);
		assert_int_equal(th[i].t.errors, 0);
		assert_int_equal(tally_calls(&th[i].t), th[i].bios);
		assert_true(th[i].ring < 4);
		assert_false(used[th[i].ring]);
		used[th[i].ring] = true;
		expect[th[i].ring] += th[i].bios;
	}
	/* every bio went to its thread's ring and was completed there */
	for (unsigned i = 0; i < 4; i++) {
		stats(b, i, &after[i]);
		assert_int_equal(after[i].bios - before[i].bios, expect[i]);
		assert_int_equal(after[i].completed - before[i].completed, expect[i]);
		assert_int_equal(after[i].pended - before[i].pended, 0);
	}
	/* and the file holds every thread's last writes */
	uint8_t *all = xalloc(OR_REGION);
	for (int i = 0; i < OR_THREADS; i++) {
		assert_int_equal(io1(b, VS_BIO_READ, (uint64_t)i * OR_REGION, all, OR_REGION), 0);
		assert_memory_equal(all, th[i].shadow, OR_REGION);
	}
	free(all);
	vs_bdev_close(b);
	for (int i = 0; i < OR_THREADS; i++) {
		for (int q = 0; q < OR_QD; q++)
			free(th[i].buf[q]);
		free(th[i].shadow);
	}
}

static void test_threads_on_own_rings(void **state)
{
	(void)state;
	each_mode("4", threads_on_own_rings);
}

/* ---- FLUSH through one ring after writes completed on others ---- */

struct fl_thread {
	struct vs_bdev *b;
	uint8_t op;
	uint64_t off;     /* writes: 8 blocks from here */
	unsigned ring;
	int rc;
	uint8_t *buf;
};

static void *fl_main(void *p)
{
	struct fl_thread *th = p;
	th->ring = vs_file_ring_of_caller(vs_bdev_backend_handle(th->b, "file"));
	if (th->op == VS_BIO_FLUSH) {
		th->rc = io1(th->b, VS_BIO_FLUSH, 0, NULL, 0);
		return NULL;
	}
	for (int i = 0; i < 8 && th->rc == 0; i++)
		th->rc = io1(th->b, VS_BIO_WRITE, th->off + (uint64_t)i * BLK, th->buf + i * BLK, BLK);
	return NULL;
}

static void fl_run(struct fl_thread *th)
{
	pthread_t tid;
	assert_int_equal(pthread_create(&tid, NULL, fl_main, th), 0);
	pthread_join(tid, NULL);
	assert_int_equal(th->rc, 0);
}

/*
 * SBC-3 5.22 (SYNCHRONIZE CACHE): the writes completed before the FLUSH
 * must be made durable, whichever ring carried them.  Two threads write
 * through two rings and see their writes complete; a third thread's FLUSH
 * goes through a third ring.  What reaches the kernel: the writes as SQEs
 * on the backend's descriptor through two io_urings, then (after all of
 * them) one IORING_OP_FSYNC with IORING_FSYNC_DATASYNC on the same
 * descriptor through the third io_uring -- an fdatasync of the file, which
 * covers its completed writes no matter how they were issued.
 */
static void flush_after_writes_on_other_rings(struct vs_bdev *b, const char *path)
{
	int bfd = sys_fd_of(path);
	assert_true(bfd >= 0);
	uint8_t *buf = xalloc(16 * BLK);
	fill(buf, 16 * BLK, 99);

	struct fl_thread w1 = {.b = b, .op = VS_BIO_WRITE, .off = 0, .buf = buf};
	struct fl_thread w2 = {.b = b, .op = VS_BIO_WRITE, .off = 1 << 20, .buf = buf + 8 * BLK};
	struct fl_thread fl = {.b = b, .op = VS_BIO_FLUSH};
	struct file_ring_stats s0[3], s1[3];
	for (unsigned i = 0; i < 3; i++)
		stats(b, i, &s0[i]);
	sys_clear();
	fl_run(&w1);   /* each thread exits only after its writes completed */
	fl_run(&w2);
	fl_run(&fl);
	assert_true(w1.ring != w2.ring && fl.ring != w1.ring && fl.ring != w2.ring);
	for (unsigned i = 0; i < 3; i++)
		stats(b, i, &s1[i]);
	assert_int_equal(s1[w1.ring].bios - s0[w1.ring].bios, 8);
	assert_int_equal(s1[w2.ring].bios - s0[w2.ring].bios, 8);
	assert_int_equal(s1[fl.ring].bios - s0[fl.ring].bios, 1);

	static struct sys_rec recs[256];
	int n = sys_records(recs, 256);
	const void *ring1 = NULL, *ring2 = NULL;
	int writes1 = 0, writes2 = 0, fsyncs = 0, last_write = -1;
	for (int i = 0; i < n; i++) {
		const struct sys_rec *r = &recs[i];
		if (r->kind != SYS_SQE || r->fd != bfd)
			continue;
		if (r->opcode == IORING_OP_WRITE || r->opcode == IORING_OP_WRITEV) {
			bool first = r->off < (1 << 20);
			const void **ring = first ? &ring1 : &ring2;
			if (!*ring)
				*ring = r->ring;
			assert_ptr_equal(r->ring, *ring);   /* one ring per thread */
			*(first ? &writes1 : &writes2) += 1;
			last_write = i;
			continue;
		}
		assert_int_equal(r->opcode, IORING_OP_FSYNC);
		assert_int_equal(r->flags & IORING_FSYNC_DATASYNC, IORING_FSYNC_DATASYNC);
		assert_true(i > last_write);       /* after every write ... */
		assert_true(r->ring != ring1 && r->ring != ring2);   /* ... through another ring */
		fsyncs++;
	}
	assert_int_equal(writes1, 8);
	assert_int_equal(writes2, 8);
	assert_true(ring1 != ring2);
	assert_int_equal(fsyncs, 1);

	vs_bdev_close(b);
	free(buf);
}

static void test_flush_after_writes_on_other_rings(void **state)
{
	(void)state;
	each_mode("3", flush_after_writes_on_other_rings);
}

/* ---- one ring stuck and full, the others unaffected ---- */

#define SF_N 1500   /* more than a ring's CQ (1024) holds in flight */

struct sf_sub {
	struct vs_bdev *b;
	struct gate *g;
	struct tally *t;
	struct vs_bio *bios;
	struct iovec *iov;
	uint8_t *buf;
	unsigned ring;
	int refused;
	uint64_t max_submit_ns;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The first read's done() holds the ring's completion thread at the gate;
 * then SF_N more reads go to the same ring while nothing is reaped. */
static void *sf_main(void *p)
{
	struct sf_sub *s = p;
	s->ring = vs_file_ring_of_caller(vs_bdev_backend_handle(s->b, "file"));
	bio_rw(&s->bios[0], VS_BIO_READ, 0, &s->iov[0], s->buf, BLK, NULL);
	s->bios[0].done = gate_cb;
	s->bios[0].ctx = s->g;
	s->refused += vs_bdev_submit(s->b, &s->bios[0]) != 0;
	if (!gate_wait_entered(s->g, 1))
		lost("the gated read");
	for (int i = 1; i <= SF_N; i++) {
		bio_rw(&s->bios[i], VS_BIO_READ, (uint64_t)(i % 4096) * BLK, &s->iov[i],
		       s->buf + (size_t)i * BLK, BLK, s->t);
		uint64_t t0 = now_ns();
		s->refused += vs_bdev_submit(s->b, &s->bios[i]) != 0;
		uint64_t dt = now_ns() - t0;
		if (dt > s->max_submit_ns)
			s->max_submit_ns = dt;
	}
	return NULL;
}

struct sf_other {
	struct vs_bdev *b;
	unsigned ring;
	int rc;
	uint8_t *buf;
};

static void *sf_other_main(void *p)
{
	struct sf_other *o = p;
	o->ring = vs_file_ring_of_caller(vs_bdev_backend_handle(o->b, "file"));
	fill(o->buf, BLK, 7);
	o->rc = io1(o->b, VS_BIO_WRITE, 8 << 20, o->buf, BLK);
	memset(o->buf, 0, BLK);
	if (o->rc == 0)
		o->rc = io1(o->b, VS_BIO_READ, 8 << 20, o->buf, BLK);
	return NULL;
}

static void one_ring_full_others_flow(struct vs_bdev *b, const char *path)
{
	(void)path;
	/* a known pattern over the whole disk, written through the backend */
	uint8_t *pat = xalloc(16 << 20);
	for (unsigned i = 0; i < 16; i++) {
		fill(pat + ((size_t)i << 20), 1 << 20, i);
		assert_int_equal(io1(b, VS_BIO_WRITE, (uint64_t)i << 20, pat + ((size_t)i << 20),
		                     1 << 20), 0);
	}

	struct tally t;
	struct gate g;
	tally_init(&t);
	gate_init(&g, &t);
	struct sf_sub s = {.b = b, .g = &g, .t = &t};
	s.bios = calloc(SF_N + 1, sizeof(*s.bios));
	s.iov = calloc(SF_N + 1, sizeof(*s.iov));
	s.buf = xalloc((size_t)(SF_N + 1) * BLK);
	struct file_ring_stats s0[2], s1[2];
	for (unsigned i = 0; i < 2; i++)
		stats(b, i, &s0[i]);

	pthread_t tid;
	assert_int_equal(pthread_create(&tid, NULL, sf_main, &s), 0);
	pthread_join(tid, NULL);
	assert_int_equal(s.refused, 0);
	/* submit never blocked, though its ring is stuck and full */
	assert_true(s.max_submit_ns < 1000000000ull);
	stats(b, s.ring, &s1[s.ring]);
	assert_int_equal(s1[s.ring].bios - s0[s.ring].bios, SF_N + 1);
	/* the CQ's worth went to the kernel, the rest waits in the list */
	assert_int_equal(s1[s.ring].pended - s0[s.ring].pended, SF_N - 1024);
	assert_int_equal(s1[s.ring].completed - s0[s.ring].completed, 1);   /* the gated one */
	assert_int_equal(tally_calls(&t), 0);

	/* the other ring serves a write and a read meanwhile */
	struct sf_other o = {.b = b, .buf = xalloc(BLK)};
	assert_int_equal(pthread_create(&tid, NULL, sf_other_main, &o), 0);
	pthread_join(tid, NULL);
	assert_int_equal(o.rc, 0);
	assert_int_not_equal(o.ring, s.ring);
	uint8_t want[BLK];
	fill(want, BLK, 7);
	assert_memory_equal(o.buf, want, BLK);
	stats(b, o.ring, &s1[o.ring]);
	assert_int_equal(s1[o.ring].pended - s0[o.ring].pended, 0);
	assert_int_equal(tally_calls(&t), 0);   /* the stuck ring still is */

	/* let it go: every read completes once, with the right data */
	gate_open(&g);
	assert_true(tally_wait(&t, SF_N + 1));
	usleep(20000);
	assert_int_equal(tally_calls(&t), SF_N + 1);
	assert_int_equal(t.errors, 0);
	for (int i = 1; i <= SF_N; i++)
		assert_memory_equal(s.buf + (size_t)i * BLK, pat + (size_t)(i % 4096) * BLK, BLK);
	free(pat);
	stats(b, s.ring, &s1[s.ring]);
	assert_int_equal(s1[s.ring].completed - s0[s.ring].completed, SF_N + 1);
	vs_bdev_close(b);
	free(o.buf);
	free(s.bios);
	free(s.iov);
	free(s.buf);
}

static void test_one_ring_full_others_flow(void **state)
{
	(void)state;
	each_mode("2", one_ring_full_others_flow);
}

/* ---- close waits for what every ring holds ---- */

#define CL_THREADS 4
#define CL_WRITES  32
#define CL_READS   1100   /* with the writes, more than a ring takes in flight */
#define CL_BIOS    (CL_WRITES + 1 + CL_READS)

struct cl_thread {
	struct vs_bdev *b;
	int id;
	unsigned ring;
	struct gate g;      /* this thread's ring's completion thread waits here */
	struct tally *t;
	struct vs_bio bios[CL_BIOS];
	struct iovec iov[CL_BIOS];
	uint8_t *buf;       /* CL_WRITES blocks written */
	uint8_t *scratch;   /* one block the reads land in */
	int refused;
};

/* A gated write (it holds this thread's ring's completion thread), then,
 * once it does, more writes, a flush and enough reads that some wait in
 * the ring's pending list, none waited for. */
static void *cl_main(void *p)
{
	struct cl_thread *c = p;
	c->ring = vs_file_ring_of_caller(vs_bdev_backend_handle(c->b, "file"));
	uint64_t base = (uint64_t)c->id * (CL_WRITES + 1) * BLK;
	for (int i = 0; i < CL_BIOS; i++) {
		struct vs_bio *bio = &c->bios[i];
		if (i < CL_WRITES)
			bio_rw(bio, VS_BIO_WRITE, base + (uint64_t)i * BLK, &c->iov[i],
			       c->buf + (size_t)i * BLK, BLK, c->t);
		else if (i == CL_WRITES)
			*bio = (struct vs_bio){.op = VS_BIO_FLUSH, .done = tally_cb, .ctx = c->t};
		else
			bio_rw(bio, VS_BIO_READ, (uint64_t)(i % 4096) * BLK, &c->iov[i], c->scratch,
			       BLK, c->t);
		if (i == 0) {
			bio->done = gate_cb;
			bio->ctx = &c->g;
		}
		c->refused += vs_bdev_submit(c->b, bio) != 0;
		if (i == 0 && !gate_wait_entered(&c->g, 1))
			lost("the gated write");
	}
	return NULL;
}

static atomic_bool closed;

static void *closer_main(void *p)
{
	vs_bdev_close(p);
	atomic_store(&closed, true);
	return NULL;
}

/*
 * Every ring holds requests when close is called: its completion thread
 * waits at the gate, CQEs wait behind it and more bios wait in its pending
 * list, not yet in the kernel.  close must wait for all of them on every
 * ring (a ring stopped early would lose the pending ones: they go to the
 * kernel only as CQEs are reaped), and each completes exactly once.
 */
static void close_waits_for_every_ring(struct vs_bdev *b, const char *path)
{
	struct tally t;
	tally_init(&t);
	static struct cl_thread c[CL_THREADS];
	pthread_t tid[CL_THREADS];
	for (int i = 0; i < CL_THREADS; i++) {
		c[i] = (struct cl_thread){.b = b, .id = i, .t = &t,
		                          .buf = xalloc(CL_WRITES * BLK), .scratch = xalloc(BLK)};
		gate_init(&c[i].g, &t);
		fill(c[i].buf, CL_WRITES * BLK, (uint64_t)i + 40);
		assert_int_equal(pthread_create(&tid[i], NULL, cl_main, &c[i]), 0);
	}
	for (int i = 0; i < CL_THREADS; i++)
		pthread_join(tid[i], NULL);
	/* every ring's completion thread now waits at its gate, with
	 * the CQ's worth in the kernel and the rest in the pending list */
	bool used[4] = {false};
	for (int i = 0; i < CL_THREADS; i++) {
		assert_int_equal(c[i].refused, 0);
		assert_false(used[c[i].ring]);
		used[c[i].ring] = true;
		struct file_ring_stats rs;
		stats(b, c[i].ring, &rs);
		assert_int_equal(rs.bios, CL_BIOS);
		assert_int_equal(rs.pended, CL_BIOS - 1 - 1024);
	}

	atomic_store(&closed, false);
	pthread_t closer;
	assert_int_equal(pthread_create(&closer, NULL, closer_main, b), 0);
	usleep(100000);
	assert_false(atomic_load(&closed));   /* close is waiting for them */
	assert_int_equal(tally_calls(&t), 0);
	/* let the rings go one by one: close waits for the last */
	for (unsigned ring = 0; ring < CL_THREADS; ring++) {
		for (int i = 0; i < CL_THREADS; i++)
			if (c[i].ring == ring)
				gate_open(&c[i].g);
		if (ring + 1 < CL_THREADS) {
			usleep(50000);
			assert_false(atomic_load(&closed));
		}
	}
	pthread_join(closer, NULL);
	/* close returned: nothing is outstanding, each completed once */
	int total = CL_THREADS * CL_BIOS;
	assert_int_equal(tally_calls(&t), total);
	usleep(20000);
	assert_int_equal(tally_calls(&t), total);
	assert_int_equal(t.errors, 0);

	/* and the data is in the file */
	struct vs_kv kv[] = {{"path", path}, {"direct", "1"}};
	b = vs_bdev_open("file", kv, 2);
	assert_non_null(b);
	uint8_t *chk = xalloc(CL_WRITES * BLK);
	for (int i = 0; i < CL_THREADS; i++) {
		uint64_t base = (uint64_t)i * (CL_WRITES + 1) * BLK;
		assert_int_equal(io1(b, VS_BIO_READ, base, chk, CL_WRITES * BLK), 0);
		assert_memory_equal(chk, c[i].buf, CL_WRITES * BLK);
		free(c[i].buf);
		free(c[i].scratch);
	}
	free(chk);
	vs_bdev_close(b);
}

static void test_close_waits_for_every_ring(void **state)
{
	(void)state;
	each_mode("4", close_waits_for_every_ring);
}

/* ---- a done() that submits again stays on its ring ---- */

#define CH_LEN 10

struct chain {
	struct vs_bdev *b;
	struct vs_bio bio;
	struct iovec v;
	uint8_t *buf;
	int left;
	struct tally t;
};

static void chain_cb(struct vs_bio *bio, int err)
{
	struct chain *c = bio->ctx;
	if (err || --c->left == 0) {
		bio->ctx = &c->t;
		tally_cb(bio, err);
		return;
	}
	/* from the ring's completion thread, as the port's next command would */
	if (vs_bdev_submit(c->b, bio) != 0) {
		bio->ctx = &c->t;
		tally_cb(bio, -EIO);
	}
}

static void resubmit_from_done_stays_on_ring(struct vs_bdev *b, const char *path)
{
	(void)path;
	struct chain c = {.b = b, .buf = xalloc(BLK), .left = CH_LEN};
	tally_init(&c.t);
	memset(c.buf, 0x11, BLK);
	unsigned mine = vs_file_ring_of_caller(vs_bdev_backend_handle(b, "file"));
	struct file_ring_stats s0[3], s1[3];
	for (unsigned i = 0; i < 3; i++)
		stats(b, i, &s0[i]);
	c.v = (struct iovec){c.buf, BLK};
	c.bio = (struct vs_bio){.op = VS_BIO_WRITE, .offset = 0, .length = BLK, .iov = &c.v,
	                        .iovcnt = 1, .done = chain_cb, .ctx = &c};
	assert_int_equal(vs_bdev_submit(b, &c.bio), 0);
	assert_true(tally_wait(&c.t, 1));
	assert_int_equal(c.t.errors, 0);
	for (unsigned i = 0; i < 3; i++) {
		stats(b, i, &s1[i]);
		assert_int_equal(s1[i].bios - s0[i].bios, i == mine ? CH_LEN : 0);
	}
	vs_bdev_close(b);
	free(c.buf);
}

static void test_resubmit_from_done_stays_on_ring(void **state)
{
	(void)state;
	each_mode("3", resubmit_from_done_stays_on_ring);
}

/* ---- the option ---- */

static void test_rings_option(void **state)
{
	(void)state;
	char path[64];
	make_path(path, sizeof(path));
	struct vs_kv kv[] = {{"path", path}, {"size", "1M"}, {"create", "1"}, {"rings", NULL}};

	static const char *const good[] = {"1", "5", "64"};
	for (size_t i = 0; i < 3; i++) {
		kv[3].value = good[i];
		struct vs_bdev *b = vs_bdev_open("file", kv, 4);
		assert_non_null(b);
		assert_int_equal(vs_file_ring_count(vs_bdev_backend_handle(b, "file")), (unsigned)atoi(good[i]));
		assert_true(vs_file_ring_of_caller(vs_bdev_backend_handle(b, "file")) < vs_file_ring_count(vs_bdev_backend_handle(b, "file")));
		uint8_t buf[512] = {1};
		assert_int_equal(io1(b, VS_BIO_WRITE, 0, buf, sizeof(buf)), 0);
		assert_int_equal(io1(b, VS_BIO_FLUSH, 0, NULL, 0), 0);
		vs_bdev_close(b);
	}
	/* default: one per online CPU, at most 8 */
	struct vs_bdev *b = vs_bdev_open("file", kv, 3);
	assert_non_null(b);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	assert_int_equal(vs_file_ring_count(vs_bdev_backend_handle(b, "file")), ncpu < 1 ? 1 : ncpu > 8 ? 8 : (unsigned)ncpu);
	vs_bdev_close(b);

	static const char *const bad[] = {"0", "65", "-1", "+2", " 2", "2x", "4k", "", "0x4",
	                                  "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kv[3].value = bad[i];
		assert_null(vs_bdev_open("file", kv, 4));
		char want[96];
		snprintf(want, sizeof(want), "file: rings: '%s' is not a whole number from 1 to 64",
		         bad[i]);
		assert_string_equal(vs_last_error(), want);
	}
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_on_own_rings),
		cmocka_unit_test(test_flush_after_writes_on_other_rings),
		cmocka_unit_test(test_one_ring_full_others_flow),
		cmocka_unit_test(test_close_waits_for_every_ring),
		cmocka_unit_test(test_resubmit_from_done_stays_on_ring),
		cmocka_unit_test(test_rings_option),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
