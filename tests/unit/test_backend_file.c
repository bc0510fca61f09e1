/* SPDX-License-Identifier: MIT */
/* file backend: io_uring I/O, completions from another thread, durability,
 * zeroing, resize, many requests in flight, bad options. */
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
#include <sys/vfs.h>
#include <unistd.h>

#include "vstor/backend.h"

#define DISK (8u << 20)

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
	int rc = b->ops->submit(b->h, &bio);
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
	struct vs_kv kv[3] = {{"path", path}};
	size_t n = 1;
	if (size)
		kv[n++] = (struct vs_kv){"size", size};
	if (extra_k)
		kv[n++] = (struct vs_kv){extra_k, extra_v};
	struct vs_bdev *b = vs_bdev_open("file", kv, n);
	if (!b)
		fail_msg("open %s: %s", path, vs_last_error());
	return b;
}

struct fixture {
	char path[64];
	struct vs_bdev *b;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	temp_path(f->path, sizeof(f->path), "/tmp");
	struct vs_kv kv[] = {{"path", f->path}, {"size", "8M"}, {"create", "1"}};
	f->b = vs_bdev_open("file", kv, 3);
	if (!f->b)
		fail_msg("open: %s", vs_last_error());
	*state = f;
	return 0;
}

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
	assert_int_equal(f->b->ops->get_size(f->b->h), DISK);
	struct vs_backend_caps c;
	f->b->ops->get_caps(f->b->h, &c);
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
	assert_int_equal(f->b->ops->block_status(f->b->h, 1 << 20, 65536, &mapped, &ext), 0);
	assert_true(mapped);
	assert_int_equal(ext, 65536);
	assert_int_equal(io(f->b, VS_BIO_UNMAP, 0, 1 << 20, NULL, 65536), 0);
	assert_int_equal(f->b->ops->block_status(f->b->h, 1 << 20, 65536, &mapped, &ext), 0);
	assert_false(mapped);
	assert_int_equal(ext, 65536);
	assert_int_equal(f->b->ops->block_status(f->b->h, 6 << 20, 1 << 20, &mapped, &ext), 0);
	assert_false(mapped);   /* never written */
}

/* tmpfs has no FALLOC_FL_ZERO_RANGE: write-zeroes must fall back. */
static void test_zeroing_fallback_tmpfs(void **state)
{
	(void)state;
	struct statfs sf;
	const char *dir = (statfs("/dev/shm", &sf) == 0 && sf.f_type == 0x01021994) ? "/dev/shm"
	                                                                            : "/tmp";
	char path[64];
	temp_path(path, sizeof(path), dir);
	struct vs_bdev *b = open_file(path, "1M", NULL, NULL);
	check_zeroing(b, VS_BIO_WRITE_ZEROES, 0);
	check_zeroing(b, VS_BIO_UNMAP, 0);
	vs_bdev_close(b);
	unlink(path);
}

static void test_flush_and_fua_durable(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(io(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), 0);
	uint8_t buf[8192], chk[8192];
	fill(buf, sizeof(buf), 77);
	assert_int_equal(io(f->b, VS_BIO_WRITE, VS_BIO_FUA, 3 << 20, buf, sizeof(buf)), 0);
	int fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, chk, sizeof(chk), 3 << 20), sizeof(chk));
	close(fd);
	assert_memory_equal(buf, chk, sizeof(buf));
	assert_int_equal(io(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), 0);
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
			assert_int_equal(f->b->ops->submit(f->b->h, &bios[i]), 0);
		}
		wait_total(INFLIGHT);
		usleep(20000);   /* a duplicate completion would show up now */
		for (int i = 0; i < INFLIGHT; i++)
			assert_int_equal(atomic_load(&done_count[i]), 1);
		assert_int_equal(atomic_load(&done_total), INFLIGHT);
		assert_int_equal(atomic_load(&done_errors), 0);
		assert_int_equal(atomic_load(&done_on_submitter), 0);
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
		if (mt_bdev->ops->submit(mt_bdev->h, &bios[id][i]) != 0)
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

/* close() waits for everything in flight. */
static void test_close_waits(void **state)
{
	(void)state;
	char path[64];
	temp_path(path, sizeof(path), "/tmp");
	struct vs_bdev *b = open_file(path, "4M", NULL, NULL);
	static struct vs_bio bios[64];
	static struct iovec v[64];
	static uint8_t buf[64][4096];
	submitter_thread = pthread_self();
	atomic_store(&done_total, 0);
	atomic_store(&done_errors, 0);
	for (int i = 0; i < 64; i++) {
		atomic_store(&done_count[i], 0);
		fill(buf[i], 4096, (uint64_t)i);
		v[i] = (struct iovec){buf[i], 4096};
		bios[i] = (struct vs_bio){.op = VS_BIO_WRITE, .offset = (uint64_t)i * 4096,
		                          .length = 4096, .iov = &v[i], .iovcnt = 1,
		                          .done = count_done, .ctx = (void *)(uintptr_t)i};
		assert_int_equal(b->ops->submit(b->h, &bios[i]), 0);
	}
	vs_bdev_close(b);
	assert_int_equal(atomic_load(&done_total), 64);
	assert_int_equal(atomic_load(&done_errors), 0);
	for (int i = 0; i < 64; i++)
		assert_int_equal(atomic_load(&done_count[i]), 1);
	/* and the data is in the file */
	int fd = open(path, O_RDONLY);
	uint8_t chk[4096];
	assert_int_equal(pread(fd, chk, 4096, 63 * 4096), 4096);
	close(fd);
	assert_memory_equal(chk, buf[63], 4096);
	unlink(path);
}

static void test_resize(void **state)
{
	struct fixture *f = *state;
	uint8_t pat[4096], out[4096];
	fill(pat, sizeof(pat), 3);
	assert_int_equal(io(f->b, VS_BIO_WRITE, 0, DISK - 4096, pat, 4096), 0);
	assert_int_equal(f->b->ops->resize(f->b->h, 2 * DISK), 0);
	assert_int_equal(f->b->ops->get_size(f->b->h), 2 * DISK);
	struct stat sb;
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_size, 2 * DISK);
	assert_int_equal(io(f->b, VS_BIO_READ, 0, DISK - 4096, out, 4096), 0);
	assert_memory_equal(out, pat, 4096);
	assert_int_equal(io(f->b, VS_BIO_READ, 0, 2 * DISK - 4096, out, 4096), 0);
	assert_true(all_zero(out, 4096));
	assert_int_equal(f->b->ops->resize(f->b->h, DISK / 2), 0);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_size, DISK / 2);
	assert_int_equal(io(f->b, VS_BIO_READ, 0, DISK - 4096, out, 4096), -EINVAL);
	assert_int_equal(f->b->ops->resize(f->b->h, 0), -EINVAL);
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
	assert_int_equal(b->ops->get_size(b->h), DISK);
	struct vs_backend_caps c;
	b->ops->get_caps(b->h, &c);
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
	assert_int_equal(b->ops->get_size(b->h), 16u << 20);
	assert_int_equal(io(b, VS_BIO_READ, 0, 8192, out, 4096), 0);
	assert_memory_equal(out, pat, 4096);
	vs_bdev_close(b);

	/* a missing file without size= is an error naming the path */
	char missing[64];
	temp_path(missing, sizeof(missing), "/tmp");
	struct vs_kv kv2[] = {{"path", missing}};
	assert_null(vs_bdev_open("file", kv2, 1));
	assert_non_null(strstr(vs_last_error(), "file: path"));
	assert_non_null(strstr(vs_last_error(), missing));

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
	struct vs_kv kv[] = {{"path", path}, {"size", "4M"}, {"direct", "1"}};
	struct vs_bdev *b = vs_bdev_open("file", kv, 3);
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
	vs_bdev_close(b);
	free(buf);
	free(out);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_sparse_and_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritten_reads_zero_and_completion_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_pattern, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_iov_trimmed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_and_write_zeroes, setup, teardown),
		cmocka_unit_test(test_zeroing_fallback_tmpfs),
		cmocka_unit_test_setup_teardown(test_flush_and_fua_durable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_threads_over_ring_size, setup, teardown),
		cmocka_unit_test(test_close_waits),
		cmocka_unit_test_setup_teardown(test_resize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_existing_and_readonly, setup, teardown),
		cmocka_unit_test(test_direct_io),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
