/* SPDX-License-Identifier: MIT */
/*
 * vcache, the volatile write cache of the power-loss tests: what it holds
 * is not below until a FLUSH; FUA goes through; reads see the newest data;
 * a full cache destages; a power failure loses exactly what was never made
 * durable, and the disk then fails requests until the power is back.
 * "Below" is a file read with pread, not through vstor.
 */
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
#include <unistd.h>

#include "vstor/filter.h"
#include "filters/vcache_filter.h"

struct fix {
	char path[64];
	struct vs_bdev *b;
	int fd;
};

static struct vs_bdev *open_stack(struct fix *f, const char *size)
{
	struct vs_kv fkv[] = { { "path", f->path }, { "size", "4M" }, { "create", "1" } };
	struct vs_kv ckv[] = { { "size", size } };
	struct vs_bdev_desc file = { .kind = VS_LAYER_BACKEND, .name = "file", .opts = fkv,
	                             .nopts = 3 };
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "vcache", .opts = ckv,
	                            .nopts = 1, .lower = &file, .nlower = 1 };
	struct vs_bdev *b = vs_bdev_open_stack(&top, NULL);

	if (!b)
		fail_msg("open: %s", vs_last_error());
	return b;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	snprintf(f->path, sizeof(f->path), "/tmp/vstor-vcache.%d.img", (int)getpid());
	unlink(f->path);
	f->b = open_stack(f, "64K");
	f->fd = open(f->path, O_RDONLY);
	assert_true(f->fd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	vs_bdev_close(f->b);
	close(f->fd);
	unlink(f->path);
	free(f);
	return 0;
}

struct done {
	_Atomic int calls;
	_Atomic int err;
};

static void on_done(struct vs_bio *bio, int err)
{
	struct done *d = bio->ctx;

	atomic_store(&d->err, err);
	atomic_fetch_add(&d->calls, 1);
}

/* One request, waited for (the file below may complete on its ring). */
static int io(struct vs_bdev *b, uint8_t op, uint32_t flags, uint64_t off, void *buf,
              uint64_t len)
{
	struct iovec v = { buf, len };
	struct done d = { 0, 0 };
	struct vs_bio bio = { .op = op, .flags = flags, .offset = off, .length = len,
	                      .iov = buf ? &v : NULL, .iovcnt = buf ? 1 : 0, .done = on_done,
	                      .ctx = &d };
	int rc = vs_bdev_submit(b, &bio);

	if (rc < 0)
		return rc;
	for (int i = 0; i < 10000 && !atomic_load(&d.calls); i++)
		usleep(100);
	assert_int_equal(atomic_load(&d.calls), 1);
	return atomic_load(&d.err);
}

static void below(struct fix *f, uint64_t off, void *buf, size_t len)
{
	assert_int_equal(pread(f->fd, buf, len, (off_t)off), (ssize_t)len);
}

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void set_power(struct fix *f, const char *v)
{
	assert_int_equal(vs_bdev_set_options(f->b, 0, (struct vs_kv[]){ { "power_fail", v } }, 1), 0);
}

static void test_cached_until_flush(void **state)
{
	struct fix *f = *state;
	uint8_t w[4096], r[4096];

	memset(w, 0xa1, sizeof(w));
	assert_int_equal(io(f->b, VS_BIO_WRITE, 0, 8192, w, sizeof(w)), 0);
	below(f, 8192, r, sizeof(r));
	assert_true(all(r, sizeof(r), 0));              /* not below yet */
	assert_int_equal(io(f->b, VS_BIO_READ, 0, 8192, r, sizeof(r)), 0);
	assert_true(all(r, sizeof(r), 0xa1));           /* but read through the cache */
	assert_int_equal(vs_vcache_cached(vs_bdev_filter_handle(f->b, 0, "vcache")), 8);
	assert_int_equal(io(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), 0);
	below(f, 8192, r, sizeof(r));
	assert_true(all(r, sizeof(r), 0xa1));
	assert_int_equal(vs_vcache_cached(vs_bdev_filter_handle(f->b, 0, "vcache")), 0);
}

static void test_fua_goes_through_and_wins(void **state)
{
	struct fix *f = *state;
	uint8_t w[1024], r[1024];

	/* an older cached version of the block, then a FUA write over it */
	memset(w, 0x11, sizeof(w));
	assert_int_equal(io(f->b, VS_BIO_WRITE, 0, 0, w, sizeof(w)), 0);
	memset(w, 0x22, 512);
	assert_int_equal(io(f->b, VS_BIO_WRITE, VS_BIO_FUA, 0, w, 512), 0);
	below(f, 0, r, 512);
	assert_true(all(r, 512, 0x22));
	assert_int_equal(io(f->b, VS_BIO_READ, 0, 0, r, sizeof(r)), 0);
	assert_true(all(r, 512, 0x22));                 /* the FUA data, not the stale cache */
	assert_true(all(r + 512, 512, 0x11));           /* the other block still cached */
	/* a flush must not bring the stale block back */
	assert_int_equal(io(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), 0);
	below(f, 0, r, sizeof(r));
	assert_true(all(r, 512, 0x22));
	assert_true(all(r + 512, 512, 0x11));
}

static void test_power_fail_loses_only_what_was_not_durable(void **state)
{
	struct fix *f = *state;
	uint8_t w[512], r[512];

	memset(w, 0x33, sizeof(w));
	assert_int_equal(io(f->b, VS_BIO_WRITE, 0, 4096, w, 512), 0);      /* flushed */
	assert_int_equal(io(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), 0);
	memset(w, 0x44, sizeof(w));
	assert_int_equal(io(f->b, VS_BIO_WRITE, VS_BIO_FUA, 5120, w, 512), 0);  /* FUA */
	memset(w, 0x55, sizeof(w));
	assert_int_equal(io(f->b, VS_BIO_WRITE, 0, 6144, w, 512), 0);      /* only cached */

	set_power(f, "1");
	assert_int_equal(io(f->b, VS_BIO_READ, 0, 4096, r, 512), -EIO);    /* dead disk */
	assert_int_equal(io(f->b, VS_BIO_WRITE, 0, 4096, w, 512), -EIO);
	set_power(f, "0");
	assert_int_equal(io(f->b, VS_BIO_READ, 0, 4096, r, 512), 0);
	assert_true(all(r, 512, 0x33));
	assert_int_equal(io(f->b, VS_BIO_READ, 0, 5120, r, 512), 0);
	assert_true(all(r, 512, 0x44));
	assert_int_equal(io(f->b, VS_BIO_READ, 0, 6144, r, 512), 0);
	assert_true(all(r, 512, 0));                    /* lost with the power */
}

static void test_full_cache_destages(void **state)
{
	struct fix *f = *state;
	static uint8_t w[65536], r[65536];
	struct vcache *vc = vs_bdev_filter_handle(f->b, 0, "vcache");

	/* 64K of cache: the second 48K write does not fit and destages first */
	memset(w, 0x66, sizeof(w));
	assert_int_equal(io(f->b, VS_BIO_WRITE, 0, 1 << 20, w, 49152), 0);
	memset(w, 0x77, sizeof(w));
	assert_int_equal(io(f->b, VS_BIO_WRITE, 0, 2 << 20, w, 49152), 0);
	assert_int_equal(vs_vcache_destaged(vc), 96);
	below(f, 1 << 20, r, 49152);
	assert_true(all(r, 49152, 0x66));
	below(f, 2 << 20, r, 49152);
	assert_true(all(r, 49152, 0));
	/* a write as big as the whole cache: everything destaged first */
	assert_int_equal(io(f->b, VS_BIO_WRITE, 0, 0, w, sizeof(w)), 0);
	assert_int_equal(io(f->b, VS_BIO_READ, 0, 0, r, sizeof(r)), 0);
	assert_true(all(r, sizeof(r), 0x77));
}

#define THREADS 4
#define PER 500

static void *writer(void *arg)
{
	struct fix *f = ((void **)arg)[0];
	uintptr_t id = (uintptr_t)((void **)arg)[1];
	uint8_t w[1024];

	for (int i = 0; i < PER; i++) {
		memset(w, (int)(id * 16 + (i & 15)), sizeof(w));
		if (io(f->b, VS_BIO_WRITE, (i % 7) ? 0 : VS_BIO_FUA,
		       (id * 64 + (uint64_t)(i % 64)) * 1024, w, sizeof(w)) != 0)
			return (void *)1;
		if (i % 50 == 0 && io(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0) != 0)
			return (void *)1;
	}
	return NULL;
}

/* Requests from several threads at once are served one at a time, each
 * exactly once, and the last write of each block is what is read. */
static void test_threads(void **state)
{
	struct fix *f = *state;
	pthread_t t[THREADS];
	void *args[THREADS][2];
	uint8_t r[1024];

	for (uintptr_t i = 0; i < THREADS; i++) {
		args[i][0] = f;
		args[i][1] = (void *)i;
		assert_int_equal(pthread_create(&t[i], NULL, writer, args[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		void *rv;

		pthread_join(t[i], &rv);
		assert_null(rv);
	}
	for (uintptr_t id = 0; id < THREADS; id++) {
		for (int blk = 0; blk < 64; blk++) {
			int last = PER - 1 - ((PER - 1 - blk) % 64 + 64) % 64;

			assert_int_equal(io(f->b, VS_BIO_READ, 0, (id * 64 + (uint64_t)blk) * 1024, r,
			                    sizeof(r)), 0);
			assert_true(all(r, sizeof(r), (uint8_t)(id * 16 + (last & 15))));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cached_until_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fua_goes_through_and_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_fail_loses_only_what_was_not_durable,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_cache_destages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
