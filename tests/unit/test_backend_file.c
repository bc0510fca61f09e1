/* SPDX-License-Identifier: MIT */
/* file backend: io_uring I/O, completions from another thread, inline
 * completion in submit() (RWF_NOWAIT page-cache hits, tmpfs copies) and its
 * fallback to io_uring, durability, zeroing, resize, many requests in
 * flight from many threads, bad options.  The data tests run three ways:
 * a file in /tmp (default options), the same with inline=0 (every request
 * through io_uring), and a file in /dev/shm (tmpfs: inline copies). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <liburing.h>

#include "vstor/backend.h"
#include "sys_trace.h"
#include "stable_hammer.h"

#define DISK (8u << 20)

/* What reaches the kernel for FLUSH and FUA: see lib/sys_trace.h (this
 * binary is linked with the --wrap options it needs). */

/* ---- helpers ---- */

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
	int err;
	pthread_t thread;   /* who called done() */
};

static void waiter_init(struct waiter *w)
{
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->calls = 0;
	w->err = 99;
}

static void on_done(struct vs_bio *bio, int err)
{
	struct waiter *w = bio->ctx;
	pthread_mutex_lock(&w->mu);
	w->calls++;
	w->err = err;
	w->thread = pthread_self();
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int wait_done(struct waiter *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->calls == 0)
		pthread_cond_wait(&w->cv, &w->mu);
	int err = w->err;
	pthread_mutex_unlock(&w->mu);
	return err;
}

/* Submit, wait for done(), check it ran exactly once. */
static int io_iov(struct vs_bdev *b, uint8_t op, uint32_t flags, uint64_t off,
                  struct iovec *v, int n, uint64_t len, pthread_t *done_thread)
{
	struct waiter w;
	waiter_init(&w);
	struct vs_bio bio = {.op = op, .flags = flags, .offset = off, .length = len,
	                     .iov = v, .iovcnt = n, .done = on_done, .ctx = &w};
	int rc = vs_bdev_submit(b, &bio);
	if (rc < 0) {
		assert_int_equal(w.calls, 0);
		return rc;
	}
	int err = wait_done(&w);
	usleep(0);
	pthread_mutex_lock(&w.mu);
	assert_int_equal(w.calls, 1);
	if (done_thread)
		*done_thread = w.thread;
	pthread_mutex_unlock(&w.mu);
	return err;
}

static int io(struct vs_bdev *b, uint8_t op, uint32_t flags, uint64_t off, void *buf,
              uint64_t len)
{
	struct iovec v = {buf, len};
	return io_iov(b, op, flags, off, buf ? &v : NULL, buf ? 1 : 0, len, NULL);
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((seed * 131 + i * 7 + (i >> 8)) ^ 0xa5);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* A fresh path under dir that does not exist yet. */
static void temp_path(char *out, size_t n, const char *dir)
{
	snprintf(out, n, "%s/vstor-test-file-XXXXXX", dir);
	int fd = mkstemp(out);
	assert_true(fd >= 0);
	close(fd);
	unlink(out);
}

static struct vs_bdev *open_file(const char *path, const char *size, const char *extra_k,
                                 const char *extra_v)
{
	struct vs_kv kv[4] = {{"path", path}};
	size_t n = 1;
	if (size) {
		/* a new file (or a larger size for an existing one) */
		kv[n++] = (struct vs_kv){"size", size};
		kv[n++] = (struct vs_kv){"create", "1"};
	}
	if (extra_k)
		kv[n++] = (struct vs_kv){extra_k, extra_v};
	struct vs_bdev *b = vs_bdev_open("file", kv, n);
	if (!b)
		fail_msg("open %s: %s", path, vs_last_error());
	return b;
}

#define TMPFS_MAGIC_ 0x01021994

static bool is_tmpfs(const char *dir)
{
	struct statfs sf;
	return statfs(dir, &sf) == 0 && sf.f_type == TMPFS_MAGIC_;
}

/* /dev/shm when it is tmpfs, else /tmp (the inline tests then still run,
 * on whatever /tmp is). */
static const char *shm_dir(void)
{
	return is_tmpfs("/dev/shm") ? "/dev/shm" : "/tmp";
}

struct fixture {
	char path[64];
	struct vs_bdev *b;
	bool ring_only;   /* inline=0: every completion from the backend thread */
	bool memfs;       /* tmpfs: every READ/WRITE completes inside submit() */
};

static int setup_in(void **state, const char *dir, bool ring_only)
{
	struct fixture *f = calloc(1, sizeof(*f));
	temp_path(f->path, sizeof(f->path), dir);
	struct vs_kv kv[] = {{"path", f->path}, {"size", "8M"}, {"create", "1"},
	                     {"inline", ring_only ? "0" : "1"}};
	f->b = vs_bdev_open("file", kv, 4);
	if (!f->b)
		fail_msg("open: %s", vs_last_error());
	f->ring_only = ring_only;
	f->memfs = !ring_only && is_tmpfs(dir);
	*state = f;
	return 0;
}

static int setup(void **state) { return setup_in(state, "/tmp", false); }
static int setup_ring(void **state) { return setup_in(state, "/tmp", true); }
static int setup_shm(void **state) { return setup_in(state, shm_dir(), false); }

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->b)
		vs_bdev_close(f->b);
	unlink(f->path);
	free(f);
	return 0;
}

/* ---- tests ---- */

static void test_create_sparse_and_caps(void **state)
{
	struct fixture *f = *state;
	struct stat sb;
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_size, DISK);
	assert_true(sb.st_blocks * 512 < 1 << 20);   /* sparse */
	assert_int_equal(vs_bdev_get_size(f->b), DISK);
	struct vs_backend_caps c;
	vs_bdev_get_caps(f->b, &c);
	assert_true(c.can_write);
	assert_true(c.can_flush);
	assert_true(c.can_fua);
	assert_true(c.can_zero);
	assert_true(c.unmap_zeroes);
	assert_true(c.can_resize);
	assert_true(c.has_write_cache);   /* the page cache is volatile */
	assert_true(c.can_unmap);         /* ext4/xfs/tmpfs punch holes */
}

static void test_unwritten_reads_zero_and_completion_thread(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = malloc(1 << 20);
	memset(buf, 0xee, 1 << 20);
	struct iovec v = {buf, 1 << 20};
	pthread_t who;
	assert_int_equal(io_iov(f->b, VS_BIO_READ, 0, DISK - (1 << 20), &v, 1, 1 << 20, &who), 0);
	assert_true(all_zero(buf, 1 << 20));
	/* completions come from the backend's own thread */
	assert_false(pthread_equal(who, pthread_self()));
	free(buf);
}

static void test_random_pattern(void **state)
{
	struct fixture *f = *state;
	uint8_t *shadow = calloc(1, DISK);
	uint8_t *buf = malloc(128 << 10);
	rng_state = 0xfeedbeef;
	for (int i = 0; i < 300; i++) {
		uint64_t len = 1 + rnd() % (128 << 10);
		uint64_t off = rnd() % (DISK - len + 1);
		fill(buf, len, (uint64_t)i);
		assert_int_equal(io(f->b, VS_BIO_WRITE, i % 4 == 0 ? VS_BIO_FUA : 0, off, buf, len), 0);
		memcpy(shadow + off, buf, len);
	}
	for (int i = 0; i < 300; i++) {
		uint64_t len = 1 + rnd() % (128 << 10);
		uint64_t off = rnd() % (DISK - len + 1);
		assert_int_equal(io(f->b, VS_BIO_READ, 0, off, buf, len), 0);
		assert_memory_equal(buf, shadow + off, len);
	}
	/* the file itself holds the same bytes */
	uint8_t *all = malloc(DISK);
	int fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, all, DISK, 0), DISK);
	close(fd);
	assert_memory_equal(all, shadow, DISK);
	free(all);
	free(buf);
	free(shadow);
}

static void test_multi_iov_trimmed(void **state)
{
	struct fixture *f = *state;
	uint8_t empty[1], a[100], d[5000], e[300];
	fill(a, sizeof(a), 1);
	fill(d, sizeof(d), 2);
	fill(e, sizeof(e), 3);
	/* leading and middle empty iovecs; iovec total 5400, request 5150 */
	struct iovec v[] = {{empty, 0}, {a, sizeof(a)}, {empty, 0}, {d, sizeof(d)}, {e, sizeof(e)}};
	assert_int_equal(io_iov(f->b, VS_BIO_WRITE, 0, 777, v, 5, 5150, NULL), 0);
	uint8_t out[6000];
	memset(out, 0xcc, sizeof(out));
	assert_int_equal(io(f->b, VS_BIO_READ, 0, 777, out, sizeof(out)), 0);
	assert_memory_equal(out, a, 100);
	assert_memory_equal(out + 100, d, 5000);
	assert_memory_equal(out + 5100, e, 50);
	assert_true(all_zero(out + 5150, sizeof(out) - 5150));

	/* read back through a scattered iovec */
	uint8_t r1[33], r2[4000], r3[2000];
	struct iovec rv[] = {{r1, sizeof(r1)}, {r2, sizeof(r2)}, {r3, sizeof(r3)}};
	assert_int_equal(io_iov(f->b, VS_BIO_READ, 0, 777, rv, 3, 5150, NULL), 0);
	assert_memory_equal(r1, out, 33);
	assert_memory_equal(r2, out + 33, 4000);
	assert_memory_equal(r3, out + 4033, 5150 - 4033);

	/* iovec shorter than length: refused before any I/O */
	assert_int_equal(io_iov(f->b, VS_BIO_WRITE, 0, 0, v, 2, 200, NULL), -EINVAL);
}

static void check_zeroing(struct vs_bdev *b, uint8_t op, uint32_t flags)
{
	size_t n = 5 * 4096;
	uint8_t *pat = malloc(n), *out = malloc(n);
	fill(pat, n, 9);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, 0, pat, n), 0);
	uint64_t zoff = 4096 + 100, zlen = 3 * 4096 - 150;
	assert_int_equal(io(b, op, flags, zoff, NULL, zlen), 0);
	assert_int_equal(io(b, VS_BIO_READ, 0, 0, out, n), 0);
	assert_memory_equal(out, pat, zoff);
	assert_true(all_zero(out + zoff, zlen));
	assert_memory_equal(out + zoff + zlen, pat + zoff + zlen, n - zoff - zlen);
	assert_int_equal(io(b, op, flags, 10, NULL, 20), 0);
	assert_int_equal(io(b, VS_BIO_READ, 0, 0, out, 4096), 0);
	assert_memory_equal(out, pat, 10);
	assert_true(all_zero(out + 10, 20));
	assert_memory_equal(out + 30, pat + 30, 4096 - 30);
	free(pat);
	free(out);
}

static void test_unmap_and_write_zeroes(void **state)
{
	struct fixture *f = *state;
	check_zeroing(f->b, VS_BIO_UNMAP, 0);
	check_zeroing(f->b, VS_BIO_WRITE_ZEROES, 0);
	check_zeroing(f->b, VS_BIO_WRITE_ZEROES, VS_BIO_MAY_TRIM);

	/* an aligned unmap leaves a hole that block_status reports */
	uint8_t buf[65536];
	fill(buf, sizeof(buf), 4);
	assert_int_equal(io(f->b, VS_BIO_WRITE, 0, 1 << 20, buf, sizeof(buf)), 0);
	bool mapped;
	uint64_t ext;
	assert_int_equal(vs_bdev_block_status(f->b, 1 << 20, 65536, &mapped, &ext), 0);
	assert_true(mapped);
	assert_int_equal(ext, 65536);
	assert_int_equal(io(f->b, VS_BIO_UNMAP, 0, 1 << 20, NULL, 65536), 0);
	assert_int_equal(vs_bdev_block_status(f->b, 1 << 20, 65536, &mapped, &ext), 0);
	assert_false(mapped);
	assert_int_equal(ext, 65536);
	assert_int_equal(vs_bdev_block_status(f->b, 6 << 20, 1 << 20, &mapped, &ext), 0);
	assert_false(mapped);   /* never written */
}

/* tmpfs has no FALLOC_FL_ZERO_RANGE: write-zeroes must fall back. */
static void test_zeroing_fallback_tmpfs(void **state)
{
	(void)state;
	const char *dir = shm_dir();
	char path[64];
	temp_path(path, sizeof(path), dir);
	struct vs_bdev *b = open_file(path, "1M", NULL, NULL);
	check_zeroing(b, VS_BIO_WRITE_ZEROES, 0);
	check_zeroing(b, VS_BIO_UNMAP, 0);
	vs_bdev_close(b);
	unlink(path);
}

/*
 * SBC-3 4.15 / 5.22: a FLUSH is an fdatasync of the file and a FUA write is
 * a write with RWF_DSYNC, and both reach the kernel before the bio
 * completes (proved through the wrapped calls above, not by reading the
 * page cache back).  On tmpfs (memfs) there is no device to be durable
 * on: the write is copied in submit(), and a FLUSH still syncs.
 */
static void test_flush_and_fua_durable(void **state)
{
	struct fixture *f = *state;
	int bfd = sys_fd_of(f->path);
	uint8_t buf[8192], chk[8192];

	assert_true(bfd >= 0);
	sys_clear();
	assert_int_equal(io(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), 0);
	assert_int_equal(sys_count(SYS_SQE, bfd, IORING_OP_FSYNC, IORING_FSYNC_DATASYNC, SYS_ANY_OFF),
	                 1);

	fill(buf, sizeof(buf), 77);
	sys_clear();
	assert_int_equal(io(f->b, VS_BIO_WRITE, VS_BIO_FUA, 3 << 20, buf, sizeof(buf)), 0);
	if (f->memfs) {
		assert_int_equal(sys_count(SYS_PWRITEV2, bfd, 0, 0, 3 << 20), 1);
	} else {
		/* one WRITE/WRITEV SQE at that offset, with RWF_DSYNC */
		assert_int_equal(sys_count(SYS_SQE, bfd, IORING_OP_WRITE, RWF_DSYNC, 3 << 20) +
		                 sys_count(SYS_SQE, bfd, IORING_OP_WRITEV, RWF_DSYNC, 3 << 20), 1);
	}
	/* a plain write carries no RWF_DSYNC, wherever it goes */
	sys_clear();
	assert_int_equal(io(f->b, VS_BIO_WRITE, 0, 4 << 20, buf, sizeof(buf)), 0);
	assert_int_equal(sys_count(SYS_SQE, bfd, IORING_OP_WRITE, RWF_DSYNC, SYS_ANY_OFF) +
	                 sys_count(SYS_SQE, bfd, IORING_OP_WRITEV, RWF_DSYNC, SYS_ANY_OFF) +
	                 sys_count(SYS_PWRITEV2, bfd, 0, RWF_DSYNC, SYS_ANY_OFF), 0);
	assert_int_equal(sys_count(SYS_SQE, bfd, IORING_OP_WRITE, 0, 4 << 20) +
	                 sys_count(SYS_SQE, bfd, IORING_OP_WRITEV, 0, 4 << 20) +
	                 sys_count(SYS_PWRITEV2, bfd, 0, 0, 4 << 20), 1);
	/* the data is in the file (through the page cache: a sanity check) */
	int fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, chk, sizeof(chk), 3 << 20), sizeof(chk));
	close(fd);
	assert_memory_equal(buf, chk, sizeof(buf));
	/* closing syncs what is still volatile */
	sys_clear();
	vs_bdev_close(f->b);
	f->b = NULL;
	assert_int_equal(sys_count(SYS_FDATASYNC, bfd, 0, 0, SYS_ANY_OFF), 1);
}

static void test_bad_requests(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[4096];
	assert_int_equal(io(f->b, VS_BIO_READ, 0, DISK - 4095, buf, 4096), -EINVAL);
	assert_int_equal(io(f->b, VS_BIO_WRITE, 0, UINT64_MAX - 5, buf, 4096), -EINVAL);
	assert_int_equal(io(f->b, VS_BIO_UNMAP, 0, DISK, NULL, 1), -EINVAL);
	assert_int_equal(io(f->b, 42, 0, 0, buf, 4096), -EINVAL);
	assert_int_equal(io(f->b, VS_BIO_READ, 0, 0, NULL, 4096), -EINVAL);
	assert_int_equal(io(f->b, VS_BIO_READ, 0, DISK, buf, 0), 0);
}

/* ---- many in flight ---- */

#define INFLIGHT 256
#define BLK 4096

static atomic_int done_count[INFLIGHT];
static atomic_int done_total;
static atomic_int done_errors;
static pthread_t submitter_thread;
static atomic_int done_on_submitter;

static void count_done(struct vs_bio *bio, int err)
{
	int i = (int)(uintptr_t)bio->ctx;
	atomic_fetch_add(&done_count[i], 1);
	if (err)
		atomic_fetch_add(&done_errors, 1);
	if (pthread_equal(pthread_self(), submitter_thread))
		atomic_fetch_add(&done_on_submitter, 1);
	atomic_fetch_add(&done_total, 1);
}

static void wait_total(int n)
{
	for (int spins = 0; atomic_load(&done_total) < n; spins++) {
		assert_true(spins < 20000);   /* 20 s */
		usleep(1000);
	}
}

static void test_many_in_flight(void **state)
{
	struct fixture *f = *state;
	static struct vs_bio bios[INFLIGHT];
	static uint8_t bufs[INFLIGHT][BLK];
	submitter_thread = pthread_self();
	for (int round = 0; round < 2; round++) {
		uint8_t op = round == 0 ? VS_BIO_WRITE : VS_BIO_READ;
		atomic_store(&done_total, 0);
		atomic_store(&done_errors, 0);
		atomic_store(&done_on_submitter, 0);
		for (int i = 0; i < INFLIGHT; i++) {
			atomic_store(&done_count[i], 0);
			if (op == VS_BIO_WRITE)
				fill(bufs[i], BLK, (uint64_t)i + 1000);
			else
				memset(bufs[i], 0, BLK);
		}
		/* all submitted before any is waited for */
		struct iovec v[INFLIGHT];
		for (int i = 0; i < INFLIGHT; i++) {
			v[i] = (struct iovec){bufs[i], BLK};
			bios[i] = (struct vs_bio){.op = op, .offset = (uint64_t)((i * 37) % INFLIGHT) * BLK * 3,
			                          .length = BLK, .iov = &v[i], .iovcnt = 1,
			                          .done = count_done, .ctx = (void *)(uintptr_t)i};
			assert_int_equal(vs_bdev_submit(f->b, &bios[i]), 0);
		}
		wait_total(INFLIGHT);
		usleep(20000);   /* a duplicate completion would show up now */
		for (int i = 0; i < INFLIGHT; i++)
			assert_int_equal(atomic_load(&done_count[i]), 1);
		assert_int_equal(atomic_load(&done_total), INFLIGHT);
		assert_int_equal(atomic_load(&done_errors), 0);
		if (f->ring_only)
			assert_int_equal(atomic_load(&done_on_submitter), 0);
		if (f->memfs)   /* tmpfs: each one completed inside its submit() */
			assert_int_equal(atomic_load(&done_on_submitter), INFLIGHT);
	}
	for (int i = 0; i < INFLIGHT; i++) {
		uint8_t want[BLK];
		fill(want, BLK, (uint64_t)i + 1000);
		assert_memory_equal(bufs[i], want, BLK);
	}
}

/* More than the ring's CQ holds, from several threads at once: the extra
 * requests wait in the backend's pending list and still complete once. */
#define MT_THREADS 4
#define MT_PER 600

static struct vs_bdev *mt_bdev;
static atomic_int mt_done;
static atomic_int mt_err;

static void mt_cb(struct vs_bio *bio, int err)
{
	(void)bio;
	if (err) {
		atomic_fetch_add(&mt_err, 1);
		fprintf(stderr, "mt err %d op %d\n", err, bio->op);
	}
	atomic_fetch_add(&mt_done, 1);
}

static void *mt_main(void *p)
{
	int id = (int)(uintptr_t)p;
	static struct vs_bio bios[MT_THREADS][MT_PER];
	static struct iovec iov[MT_THREADS][MT_PER];
	static uint8_t buf[MT_THREADS][4096];
	for (int i = 0; i < MT_PER; i++) {
		iov[id][i] = (struct iovec){buf[id], 512};
		bios[id][i] = (struct vs_bio){.op = (i & 1) ? VS_BIO_READ : VS_BIO_WRITE,
		                              .offset = (uint64_t)(id * MT_PER + i) * 512,
		                              .length = 512, .iov = &iov[id][i], .iovcnt = 1,
		                              .done = mt_cb};
		if (vs_bdev_submit(mt_bdev, &bios[id][i]) != 0)
			atomic_fetch_add(&mt_err, 1000);
	}
	return NULL;
}

static void test_many_threads_over_ring_size(void **state)
{
	struct fixture *f = *state;
	mt_bdev = f->b;
	atomic_store(&mt_done, 0);
	atomic_store(&mt_err, 0);
	pthread_t t[MT_THREADS];
	for (int i = 0; i < MT_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, mt_main, (void *)(uintptr_t)i), 0);
	for (int i = 0; i < MT_THREADS; i++)
		pthread_join(t[i], NULL);
	for (int spins = 0; atomic_load(&mt_done) < MT_THREADS * MT_PER; spins++) {
		assert_true(spins < 20000);
		usleep(1000);
	}
	usleep(20000);
	assert_int_equal(atomic_load(&mt_done), MT_THREADS * MT_PER);
	assert_int_equal(atomic_load(&mt_err), 0);
}

/* close() waits for everything in flight: 64 writes, then reads of the
 * first 32 and a flush, all submitted back to back, close at once. */
static void close_with_inflight(const char *dir, const char *use_inline)
{
	char path[64];
	temp_path(path, sizeof(path), dir);
	struct vs_bdev *b = open_file(path, "4M", "inline", use_inline);
	enum { NW = 64, NR = 32, N = NW + NR + 1 };
	static struct vs_bio bios[N];
	static struct iovec v[N];
	static uint8_t buf[NW + NR][4096];
	submitter_thread = pthread_self();
	atomic_store(&done_total, 0);
	atomic_store(&done_errors, 0);
	for (int i = 0; i < N; i++) {
		atomic_store(&done_count[i], 0);
		uint8_t op = i < NW ? VS_BIO_WRITE : i < NW + NR ? VS_BIO_READ : VS_BIO_FLUSH;
		if (op == VS_BIO_WRITE)
			fill(buf[i], 4096, (uint64_t)i);
		if (op != VS_BIO_FLUSH)
			v[i] = (struct iovec){buf[i], 4096};
		bios[i] = (struct vs_bio){.op = op, .offset = (uint64_t)(i % NW) * 4096,
		                          .length = op == VS_BIO_FLUSH ? 0 : 4096,
		                          .iov = op == VS_BIO_FLUSH ? NULL : &v[i],
		                          .iovcnt = op == VS_BIO_FLUSH ? 0 : 1,
		                          .done = count_done, .ctx = (void *)(uintptr_t)i};
		assert_int_equal(vs_bdev_submit(b, &bios[i]), 0);
	}
	vs_bdev_close(b);
	assert_int_equal(atomic_load(&done_total), N);
	assert_int_equal(atomic_load(&done_errors), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(atomic_load(&done_count[i]), 1);
	/* and the data is in the file */
	int fd = open(path, O_RDONLY);
	uint8_t chk[4096];
	for (int i = 0; i < NW; i++) {
		assert_int_equal(pread(fd, chk, 4096, (off_t)i * 4096), 4096);
		assert_memory_equal(chk, buf[i], 4096);
	}
	close(fd);
	unlink(path);
}

static void test_close_waits(void **state)
{
	(void)state;
	close_with_inflight("/tmp", "1");
	close_with_inflight("/tmp", "0");
	close_with_inflight(shm_dir(), "1");
	close_with_inflight(shm_dir(), "0");
}

/* ---- inline completion and its fallback ---- */

static atomic_bool in_submit;
static atomic_int inline_done, later_done, cb_errors;

/* Inline means: on the submitting thread, before submit() returned (the
 * completion thread may also finish a request before submit() returns). */
static void inline_cb(struct vs_bio *bio, int err)
{
	(void)bio;
	if (err)
		atomic_fetch_add(&cb_errors, 1);
	bool inl = atomic_load(&in_submit) && pthread_equal(pthread_self(), submitter_thread);
	atomic_fetch_add(inl ? &inline_done : &later_done, 1);
}

/* Submit and wait; true if done() ran inside submit(). */
static bool io_inline(struct vs_bdev *b, uint8_t op, uint32_t flags, uint64_t off,
                      struct iovec *v, int n, uint64_t len)
{
	atomic_store(&inline_done, 0);
	atomic_store(&later_done, 0);
	atomic_store(&cb_errors, 0);
	struct vs_bio bio = {.op = op, .flags = flags, .offset = off, .length = len,
	                     .iov = v, .iovcnt = n, .done = inline_cb};
	submitter_thread = pthread_self();
	atomic_store(&in_submit, true);
	assert_int_equal(vs_bdev_submit(b, &bio), 0);
	atomic_store(&in_submit, false);
	for (int spins = 0; atomic_load(&inline_done) + atomic_load(&later_done) == 0; spins++) {
		assert_true(spins < 20000);
		usleep(1000);
	}
	usleep(2000);   /* a second completion would show up now */
	assert_int_equal(atomic_load(&inline_done) + atomic_load(&later_done), 1);
	assert_int_equal(atomic_load(&cb_errors), 0);
	return atomic_load(&inline_done) == 1;
}

/* tmpfs: READ, WRITE and FUA WRITE complete inside submit() (the file is
 * memory); FLUSH still goes through io_uring; with inline=0 nothing
 * completes inline. */
static void test_inline_completion_tmpfs(void **state)
{
	(void)state;
	const char *dir = shm_dir();
	bool tmpfs = is_tmpfs(dir);
	for (int ring_only = 0; ring_only < 2; ring_only++) {
		char path[64];
		temp_path(path, sizeof(path), dir);
		struct vs_bdev *b = open_file(path, "1M", "inline", ring_only ? "0" : "1");
		bool expect = tmpfs && !ring_only;
		uint8_t w1[3000], w2[9000], r[12000];
		fill(w1, sizeof(w1), 5);
		fill(w2, sizeof(w2), 6);
		struct iovec wv[] = {{w1, sizeof(w1)}, {w2, sizeof(w2)}};
		assert_int_equal(io_inline(b, VS_BIO_WRITE, 0, 4095, wv, 2, 11000), expect);
		assert_int_equal(io_inline(b, VS_BIO_WRITE, VS_BIO_FUA, 65536, wv, 1, 3000), expect);
		memset(r, 0xcc, sizeof(r));
		struct iovec rv[] = {{r, 100}, {r + 100, sizeof(r) - 100}};
		assert_int_equal(io_inline(b, VS_BIO_READ, 0, 4095, rv, 2, sizeof(r)), expect);
		assert_memory_equal(r, w1, sizeof(w1));
		assert_memory_equal(r + 3000, w2, 8000);
		assert_true(all_zero(r + 11000, sizeof(r) - 11000));   /* never written */
		assert_int_equal(io_inline(b, VS_BIO_READ, 0, 65536, rv, 1, 100), expect);
		assert_memory_equal(r, w1, 100);
		assert_false(io_inline(b, VS_BIO_FLUSH, 0, 0, NULL, 0, 0));
		vs_bdev_close(b);
		unlink(path);
	}
}

/*
 * A page-cache file system (ext4/xfs/btrfs in /tmp): a read of cached data
 * completes inline with RWF_NOWAIT when the file system supports that; a
 * read whose second half was dropped from the cache is done partly inline
 * and finished through io_uring from where the inline copy stopped, across
 * a scattered iovec.  The data must be right either way.
 */
static void test_nowait_read_and_fallback(void **state)
{
	struct fixture *f = *state;
	enum { LEN = 64 << 10 };
	static uint8_t w[LEN], r[LEN];
	fill(w, LEN, 31);
	assert_int_equal(io(f->b, VS_BIO_WRITE, 0, 1 << 20, w, LEN), 0);
	assert_int_equal(io(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), 0);   /* pages now clean */

	int fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	struct iovec pv = {r, 4096};
	bool nowait_ok = preadv2(fd, &pv, 1, 1 << 20, RWF_NOWAIT) == 4096;

	struct iovec rv[] = {{r, 3000}, {r + 3000, 40000}, {r + 43000, LEN - 43000}};
	memset(r, 0xcc, LEN);
	bool inl = io_inline(f->b, VS_BIO_READ, 0, 1 << 20, rv, 3, LEN);
	if (f->ring_only)
		assert_false(inl);
	else if (nowait_ok)
		assert_true(inl);   /* all cached: no io_uring round trip */
	assert_memory_equal(r, w, LEN);

	/* Drop it all from the page cache, bring back only the first 16 KiB
	 * (random access: no readahead), then read it all: a short inline
	 * copy, then io_uring from there. */
	assert_int_equal(posix_fadvise(fd, 1 << 20, LEN, POSIX_FADV_DONTNEED), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM), 0);
	uint8_t first[16384];
	assert_int_equal(pread(fd, first, sizeof(first), 1 << 20), (ssize_t)sizeof(first));
	memset(r, 0xcc, LEN);
	(void)io_inline(f->b, VS_BIO_READ, 0, 1 << 20, rv, 3, LEN);
	assert_memory_equal(r, w, LEN);

	/* And all of it, with inline=0 reading the same bytes. */
	assert_int_equal(posix_fadvise(fd, 1 << 20, LEN, POSIX_FADV_DONTNEED), 0);
	memset(r, 0xcc, LEN);
	(void)io_inline(f->b, VS_BIO_READ, 0, 1 << 20, rv, 3, LEN);
	assert_memory_equal(r, w, LEN);
	close(fd);
}

/* Several threads, each with 8 requests in flight on its own quarter of
 * the disk: random offsets and lengths, every read checked against a
 * per-thread shadow, then the whole quarter read back. */
#define VT_THREADS 4
#define VT_QD      8
#define VT_ROUNDS  60
#define VT_SLOT    (16u << 10)
#define VT_REGION  (DISK / VT_THREADS)

struct vt_thread {
	int id;
	struct vs_bdev *b;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending, calls, errors;
	uint8_t *shadow;
	uint8_t buf[VT_QD][VT_SLOT];
	struct vs_bio bio[VT_QD];
	struct iovec iov[VT_QD][2];
	int failures;
};

static void vt_cb(struct vs_bio *bio, int err)
{
	struct vt_thread *t = bio->ctx;
	pthread_mutex_lock(&t->mu);
	t->calls++;
	if (err)
		t->errors++;
	if (--t->pending == 0)
		pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

/* Submit bio[0..n) and wait for all of them. */
static void vt_batch(struct vt_thread *t, int n)
{
	pthread_mutex_lock(&t->mu);
	t->pending += n;
	pthread_mutex_unlock(&t->mu);
	for (int i = 0; i < n; i++)
		if (vs_bdev_submit(t->b, &t->bio[i]) != 0)
			t->failures++, vt_cb(&t->bio[i], 0);
	pthread_mutex_lock(&t->mu);
	while (t->pending)
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
}

static void *vt_main(void *p)
{
	struct vt_thread *t = p;
	uint64_t rs = 0x9e3779b97f4a7c15ULL * (uint64_t)(t->id + 1);
	uint64_t base = (uint64_t)t->id * VT_REGION;
	uint64_t offs[VT_QD], lens[VT_QD];
	for (int round = 0; round < VT_ROUNDS; round++) {
		for (int op = 0; op < 2; op++) {
			for (int i = 0; i < VT_QD; i++) {
				if (op == 0) {
					/* distinct slots in this batch: slot i of an
					 * 8-slot group picked by the round */
					rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
					uint64_t group = rs % (VT_REGION / VT_SLOT / VT_QD);
					lens[i] = 1 + (rs >> 20) % VT_SLOT;
					offs[i] = base + (group * VT_QD + (uint64_t)i) * VT_SLOT +
					          (rs >> 40) % (VT_SLOT - lens[i] + 1);
					fill(t->buf[i], lens[i], rs);
					memcpy(t->shadow + offs[i] - base, t->buf[i], lens[i]);
				} else {
					memset(t->buf[i], 0xcc, VT_SLOT);
				}
				size_t cut = lens[i] / 3;
				t->iov[i][0] = (struct iovec){t->buf[i], cut};
				t->iov[i][1] = (struct iovec){t->buf[i] + cut, VT_SLOT - cut};
				t->bio[i] = (struct vs_bio){.op = op ? VS_BIO_READ : VS_BIO_WRITE,
				                            .flags = (op == 0 && i == 3) ? VS_BIO_FUA : 0,
				                            .offset = offs[i], .length = lens[i],
				                            .iov = t->iov[i], .iovcnt = 2,
				                            .done = vt_cb, .ctx = t};
			}
			vt_batch(t, VT_QD);
			if (op == 1)
				for (int i = 0; i < VT_QD; i++)
					if (memcmp(t->buf[i], t->shadow + offs[i] - base, lens[i]) != 0)
						t->failures++;
		}
	}
	return NULL;
}

static void test_many_threads_verify(void **state)
{
	struct fixture *f = *state;
	static struct vt_thread th[VT_THREADS];
	pthread_t tid[VT_THREADS];
	for (int i = 0; i < VT_THREADS; i++) {
		memset(&th[i], 0, sizeof(th[i]));
		th[i].id = i;
		th[i].b = f->b;
		pthread_mutex_init(&th[i].mu, NULL);
		pthread_cond_init(&th[i].cv, NULL);
		th[i].shadow = calloc(1, VT_REGION);
		assert_int_equal(pthread_create(&tid[i], NULL, vt_main, &th[i]), 0);
	}
	for (int i = 0; i < VT_THREADS; i++)
		pthread_join(tid[i], NULL);
	usleep(20000);   /* a duplicate completion would show up now */
	uint8_t *all = malloc(DISK);
	assert_int_equal(io(f->b, VS_BIO_READ, 0, 0, all, DISK), 0);
	for (int i = 0; i < VT_THREADS; i++) {
		assert_int_equal(th[i].failures, 0);
		assert_int_equal(th[i].errors, 0);
		assert_int_equal(th[i].calls, VT_ROUNDS * 2 * VT_QD);
		assert_memory_equal(all + (size_t)i * VT_REGION, th[i].shadow, VT_REGION);
		free(th[i].shadow);
		pthread_mutex_destroy(&th[i].mu);
		pthread_cond_destroy(&th[i].cv);
	}
	free(all);
}

static void test_resize(void **state)
{
	struct fixture *f = *state;
	uint8_t pat[4096], out[4096];
	fill(pat, sizeof(pat), 3);
	assert_int_equal(io(f->b, VS_BIO_WRITE, 0, DISK - 4096, pat, 4096), 0);
	assert_int_equal(vs_bdev_resize(f->b, 2 * DISK), 0);
	assert_int_equal(vs_bdev_get_size(f->b), 2 * DISK);
	struct stat sb;
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_size, 2 * DISK);
	assert_int_equal(io(f->b, VS_BIO_READ, 0, DISK - 4096, out, 4096), 0);
	assert_memory_equal(out, pat, 4096);
	assert_int_equal(io(f->b, VS_BIO_READ, 0, 2 * DISK - 4096, out, 4096), 0);
	assert_true(all_zero(out, 4096));
	assert_int_equal(vs_bdev_resize(f->b, DISK / 2), 0);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_size, DISK / 2);
	assert_int_equal(io(f->b, VS_BIO_READ, 0, DISK - 4096, out, 4096), -EINVAL);
	assert_int_equal(vs_bdev_resize(f->b, 0), -EINVAL);
}

static void test_reopen_existing_and_readonly(void **state)
{
	struct fixture *f = *state;
	uint8_t pat[4096], out[4096];
	fill(pat, sizeof(pat), 11);
	assert_int_equal(io(f->b, VS_BIO_WRITE, 0, 8192, pat, 4096), 0);
	vs_bdev_close(f->b);
	f->b = NULL;

	/* existing file, no size: its size is the disk size */
	struct vs_bdev *b = open_file(f->path, NULL, "readonly", "1");
	assert_int_equal(vs_bdev_get_size(b), DISK);
	struct vs_backend_caps c;
	vs_bdev_get_caps(b, &c);
	assert_false(c.can_write);
	assert_false(c.can_resize);
	assert_int_equal(io(b, VS_BIO_READ, 0, 8192, out, 4096), 0);
	assert_memory_equal(out, pat, 4096);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, 8192, out, 4096), -EROFS);
	assert_int_equal(io(b, VS_BIO_UNMAP, 0, 8192, NULL, 4096), -EROFS);
	vs_bdev_close(b);

	/* a size smaller than the file is refused (never shrink by option) */
	struct vs_kv kv[] = {{"path", f->path}, {"size", "1M"}};
	assert_null(vs_bdev_open("file", kv, 2));
	assert_non_null(strstr(vs_last_error(), "file: size"));

	/* a larger size extends it */
	b = open_file(f->path, "16M", NULL, NULL);
	assert_int_equal(vs_bdev_get_size(b), 16u << 20);
	assert_int_equal(io(b, VS_BIO_READ, 0, 8192, out, 4096), 0);
	assert_memory_equal(out, pat, 4096);
	vs_bdev_close(b);

	/* a missing file without create=1 is refused naming the path, with
	 * or without size= (only create=1 makes a new file) */
	char missing[64], want[160];
	temp_path(missing, sizeof(missing), "/tmp");
	snprintf(want, sizeof(want), "file: path: '%s' cannot be opened: it does not exist "
	         "(create=1 creates it)", missing);
	struct vs_kv kv2[] = {{"path", missing}, {"size", "1M"}};
	assert_null(vs_bdev_open("file", kv2, 1));
	assert_string_equal(vs_last_error(), want);
	assert_null(vs_bdev_open("file", kv2, 2));
	assert_string_equal(vs_last_error(), want);
	assert_int_equal(access(missing, F_OK), -1);       /* and none was made */

	/* an empty file is refused */
	int fd = open(missing, O_CREAT | O_RDWR, 0600);
	close(fd);
	assert_null(vs_bdev_open("file", kv2, 1));
	assert_non_null(strstr(vs_last_error(), "empty"));
	unlink(missing);
}

static void test_direct_io(void **state)
{
	(void)state;
	char path[64];
	temp_path(path, sizeof(path), "/tmp");
	struct vs_kv kv[] = {{"path", path}, {"size", "4M"}, {"direct", "1"}, {"create", "1"}};
	struct vs_bdev *b = vs_bdev_open("file", kv, 4);
	if (!b)
		fail_msg("direct open: %s", vs_last_error());
	uint8_t *buf = aligned_alloc(4096, 3 * 4096), *out = aligned_alloc(4096, 3 * 4096);
	fill(buf, 3 * 4096, 8);
	assert_int_equal(io(b, VS_BIO_WRITE, VS_BIO_FUA, 4096, buf, 3 * 4096), 0);
	memset(out, 0, 3 * 4096);
	assert_int_equal(io(b, VS_BIO_READ, 0, 4096, out, 3 * 4096), 0);
	assert_memory_equal(out, buf, 3 * 4096);
	/* misaligned buffer or offset: refused up front, not a kernel -EINVAL later */
	assert_int_equal(io(b, VS_BIO_READ, 0, 4096, out + 1, 4096), -EINVAL);
	assert_int_equal(io(b, VS_BIO_READ, 0, 100, out, 4096), -EINVAL);
	assert_int_equal(io(b, VS_BIO_WRITE_ZEROES, 0, 4096, NULL, 4096), 0);
	assert_int_equal(io(b, VS_BIO_READ, 0, 4096, out, 3 * 4096), 0);
	assert_true(all_zero(out, 4096));
	assert_memory_equal(out + 4096, buf + 4096, 2 * 4096);
	/* the unit offsets and lengths must come in: what the kernel says
	 * O_DIRECT needs on this file (4096 when it cannot say) */
	struct vs_backend_caps caps;
	struct statx sx;
	uint32_t want = 4096;
	vs_bdev_get_caps(b, &caps);
	if (statx(AT_FDCWD, path, 0, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN) &&
	    sx.stx_dio_offset_align)
		want = sx.stx_dio_offset_align;
	assert_int_equal(caps.logical_block_size, want);
	vs_bdev_close(b);
	/* buffered: any offset */
	struct vs_kv kv2[] = {{"path", path}};
	b = vs_bdev_open("file", kv2, 1);
	assert_non_null(b);
	vs_bdev_get_caps(b, &caps);
	assert_int_equal(caps.logical_block_size, 0);
	vs_bdev_close(b);
	free(buf);
	free(out);
	unlink(path);
}

/* ---- lending (bdev.h vs_bio.lent; file_map.c) ---- */

/* A READ that may be lent; waits for it; *bio stays for lend_end. */
static int lend_read(struct vs_bdev *b, struct vs_bio *bio, uint64_t off, void *buf,
                     uint64_t len)
{
	static struct iovec v;
	static struct waiter w;

	waiter_init(&w);
	v = (struct iovec){buf, len};
	*bio = (struct vs_bio){.op = VS_BIO_READ, .flags = VS_BIO_MAY_LEND, .offset = off,
	                       .length = len, .iov = &v, .iovcnt = 1, .done = on_done, .ctx = &w};
	assert_int_equal(vs_bdev_submit(b, bio), 0);
	return wait_done(&w);
}

static long blocks_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return (long)sb.st_blocks;
}

static bool untouched(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0xee)
			return false;
	return true;
}

/*
 * *loan is a stable loan of [65536, +len) showing a: a write and an unmap
 * over it are held back (the loan still shows a, a read sees a), and so is
 * a write beside it queued behind them; the loan's end makes all three, in
 * order, and completes them.  Leaves a[0..len) as the file now holds it.
 */
static void stable_loan_holds_changes(struct vs_bdev *b, struct vs_bio *loan, uint8_t *a,
                                      size_t len)
{
	static uint8_t w1[4096], w2[4096], out[16384];
	struct vs_bio bw, bu, bb;
	struct iovec vw, vb;
	struct waiter ww, wu, wb;

	fill(w1, sizeof(w1), 31);
	fill(w2, sizeof(w2), 32);
	waiter_init(&ww);
	waiter_init(&wu);
	waiter_init(&wb);
	vw = (struct iovec){ w1, sizeof(w1) };
	bw = (struct vs_bio){ .op = VS_BIO_WRITE, .offset = 65536 + 4096, .length = sizeof(w1),
	                      .iov = &vw, .iovcnt = 1, .done = on_done, .ctx = &ww };
	assert_int_equal(vs_bdev_submit(b, &bw), 0);
	bu = (struct vs_bio){ .op = VS_BIO_UNMAP, .offset = 65536, .length = 4096,
	                      .done = on_done, .ctx = &wu };
	assert_int_equal(vs_bdev_submit(b, &bu), 0);
	vb = (struct iovec){ w2, sizeof(w2) };
	bb = (struct vs_bio){ .op = VS_BIO_WRITE, .offset = 524288, .length = sizeof(w2),
	                      .iov = &vb, .iovcnt = 1, .done = on_done, .ctx = &wb };
	assert_int_equal(vs_bdev_submit(b, &bb), 0);
	assert_int_equal(ww.calls + wu.calls + wb.calls, 0);
	assert_memory_equal(loan->lent, a, len);
	assert_int_equal(io(b, VS_BIO_READ, 0, 65536, out, len), 0);
	assert_memory_equal(out, a, len);

	vs_bdev_lend_end(b, loan);
	assert_int_equal(ww.calls, 1);
	assert_int_equal(ww.err, 0);
	assert_int_equal(wu.calls, 1);
	assert_int_equal(wu.err, 0);
	assert_int_equal(wb.calls, 1);
	assert_int_equal(wb.err, 0);
	memset(a, 0, 4096);
	memcpy(a + 4096, w1, sizeof(w1));
	assert_int_equal(io(b, VS_BIO_READ, 0, 65536, out, len), 0);
	assert_memory_equal(out, a, len);
	assert_int_equal(io(b, VS_BIO_READ, 0, 524288, out, sizeof(w2)), 0);
	assert_memory_equal(out, w2, sizeof(w2));
	/* the pages are data again: written back, so lent again later */
	assert_int_equal(io(b, VS_BIO_WRITE, 0, 65536, a, 4096), 0);
}

/*
 * On tmpfs the file's pages that hold data are lent (no copy: the buffer
 * stays untouched, the loan shows the data and later writes): data there
 * before open, data written inline and through io_uring.  Holes are copied
 * (zeroes) and reading them allocates nothing; an UNMAP takes its pages out
 * of lending.  Elsewhere (a page-cache file system) nothing is lent.
 */
static void test_lend_memfs_pages(void **state)
{
	(void)state;
	const char *dir = shm_dir();
	bool tmpfs = is_tmpfs(dir);
	static uint8_t a[16384], c[4196], buf[16384];
	char path[64];
	struct vs_bio bio;

	temp_path(path, sizeof(path), dir);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	fill(a, sizeof(a), 1);
	assert_int_equal(pwrite(fd, a, sizeof(a), 65536), (ssize_t)sizeof(a));
	close(fd);

	for (int ring_only = 0; ring_only < 2; ring_only++) {
		struct vs_bdev *b = open_file(path, NULL, "inline", ring_only ? "0" : "1");

		/* there before open */
		memset(buf, 0xee, sizeof(buf));
		assert_int_equal(lend_read(b, &bio, 65536, buf, sizeof(a)), 0);
		assert_int_equal(bio.lent != NULL, tmpfs);
		if (bio.lent) {
			assert_memory_equal(bio.lent, a, sizeof(a));
			assert_true(untouched(buf, sizeof(a)));
			fill(c, 512, 9 + ring_only);
			assert_int_equal(io(b, VS_BIO_WRITE, 0, 65536, c, 512), 0);
			assert_memory_equal(bio.lent, c, 512);      /* the file's own page */
			vs_bdev_lend_end(b, &bio);
			memcpy(a, c, 512);
		} else {
			assert_memory_equal(buf, a, sizeof(a));
		}
		/* a stable loan (VS_BIO_LEND_STABLE): on tmpfs with inline
		 * copies it is lent, and changes over it wait for its end
		 * (file_stable.c); with inline=0 (changes through io_uring)
		 * it is copied */
		{
			static struct iovec v;
			static struct waiter w;

			waiter_init(&w);
			memset(buf, 0xee, sizeof(buf));
			v = (struct iovec){ buf, sizeof(a) };
			bio = (struct vs_bio){ .op = VS_BIO_READ,
			                       .flags = VS_BIO_MAY_LEND | VS_BIO_LEND_STABLE,
			                       .offset = 65536, .length = sizeof(a), .iov = &v,
			                       .iovcnt = 1, .done = on_done, .ctx = &w };
			assert_int_equal(vs_bdev_submit(b, &bio), 0);
			assert_int_equal(wait_done(&w), 0);
			if (tmpfs && !ring_only) {
				assert_non_null(bio.lent);
				assert_true(untouched(buf, sizeof(a)));
				stable_loan_holds_changes(b, &bio, a, sizeof(a));
			} else {
				assert_null(bio.lent);
				assert_memory_equal(buf, a, sizeof(a));
			}
		}
		/* a hole: copied as zeroes, and nothing allocated by reading it */
		long before = blocks_of(path);
		memset(buf, 0xee, sizeof(buf));
		assert_int_equal(lend_read(b, &bio, 0, buf, 8192), 0);
		assert_null(bio.lent);
		assert_true(all_zero(buf, 8192));
		assert_int_equal(blocks_of(path), before);
		/* data then a hole in one read: copied */
		assert_int_equal(lend_read(b, &bio, 65536 + 12288, buf, 8192), 0);
		assert_null(bio.lent);
		assert_memory_equal(buf, a + 12288, 4096);
		assert_true(all_zero(buf + 4096, 4096));
		/* written now (inline, or through io_uring with inline=0) */
		fill(c, sizeof(c), 20 + ring_only);
		assert_int_equal(io(b, VS_BIO_WRITE, 0, 262144, c, sizeof(c)), 0);
		assert_int_equal(lend_read(b, &bio, 262144, buf, 4096), 0);
		assert_int_equal(bio.lent != NULL, tmpfs);
		assert_memory_equal(bio.lent ? bio.lent : buf, c, 4096);
		vs_bdev_lend_end(b, &bio);
		/* unmapped: no longer lent, reads zeroes */
		assert_int_equal(io(b, VS_BIO_UNMAP, 0, 262144, NULL, 8192), 0);
		memset(buf, 0xee, sizeof(buf));
		assert_int_equal(lend_read(b, &bio, 262144, buf, 4096), 0);
		assert_null(bio.lent);
		assert_true(all_zero(buf, 4096));
		vs_bdev_close(b);
	}
	unlink(path);
}

/*
 * On tmpfs, stable loans hold under two threads writing all over the file
 * (stable_hammer.h; the writes are made in submit, file_stable.c).
 * Elsewhere nothing is lent, stably or not.
 */
static void test_stable_loans_under_concurrent_writes(void **state)
{
	(void)state;
	const char *dir = shm_dir();
	static uint8_t init[256 << 10];
	char path[64];
	struct vs_bdev *b;

	temp_path(path, sizeof(path), dir);
	b = open_file(path, "256K", NULL, NULL);
	fill(init, sizeof(init), 5);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, 0, init, sizeof(init)), 0);
	if (is_tmpfs(dir)) {
		stable_hammer(b, sizeof(init), 300);
	} else {
		struct vs_bio bio;

		assert_int_equal(lend_read(b, &bio, 0, init, 4096), 0);
		assert_null(bio.lent);
	}
	vs_bdev_close(b);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define EACH_FIXTURE(t)                                          \
		cmocka_unit_test_setup_teardown(t, setup, teardown),      \
		cmocka_unit_test_setup_teardown(t, setup_ring, teardown), \
		cmocka_unit_test_setup_teardown(t, setup_shm, teardown)
		EACH_FIXTURE(test_create_sparse_and_caps),
		cmocka_unit_test_setup_teardown(test_unwritten_reads_zero_and_completion_thread,
		                                setup_ring, teardown),
		EACH_FIXTURE(test_random_pattern),
		EACH_FIXTURE(test_multi_iov_trimmed),
		EACH_FIXTURE(test_unmap_and_write_zeroes),
		cmocka_unit_test(test_zeroing_fallback_tmpfs),
		EACH_FIXTURE(test_flush_and_fua_durable),
		EACH_FIXTURE(test_bad_requests),
		EACH_FIXTURE(test_many_in_flight),
		EACH_FIXTURE(test_many_threads_over_ring_size),
		EACH_FIXTURE(test_many_threads_verify),
		cmocka_unit_test(test_close_waits),
		cmocka_unit_test(test_inline_completion_tmpfs),
		cmocka_unit_test_setup_teardown(test_nowait_read_and_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nowait_read_and_fallback, setup_ring, teardown),
		cmocka_unit_test_setup_teardown(test_resize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_existing_and_readonly, setup, teardown),
		cmocka_unit_test(test_direct_io),
		cmocka_unit_test(test_lend_memfs_pages),
		cmocka_unit_test(test_stable_loans_under_concurrent_writes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
