/* SPDX-License-Identifier: MIT */
/*
 * concat and stripe (src/filters/concat.c, stripe.c, volume_split.c) over
 * test legs (lib/leg_mem.c):
 *  - offset translation: bytes written through the volume are where the
 *    layout puts them on each leg, and read back the same, for random
 *    requests across leg and chunk boundaries;
 *  - splitting: a stripe's chunks on one leg go down as one request
 *    gathering them (iovcnt = chunks), a concat request crossing a leg end
 *    as two; FLUSH reaches every leg once, UNMAP each leg's part once;
 *  - requests larger than one context (8 MiB of 4K chunks, a caller's
 *    iovec of thousands of entries) go down in waves and still land right;
 *  - every request completes exactly once, with the first error of its
 *    pieces, whatever order the legs answer in; a first piece refused
 *    with -EAGAIN refuses the request (no completion);
 *  - capacity from the legs, and bad options refused naming the field.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leg_mem.h"
#include "vstor/filter.h"

#define MAXLEGS 4

struct vol {
	struct vs_bdev *b;
	struct vs_bdev_desc legs[MAXLEGS];
	struct vs_kv leg_kv[MAXLEGS][3];
	char id[MAXLEGS][24];
	struct vs_kv top_kv[2];
	size_t nlegs;
};

/* `type` (concat/stripe) over n legs of the given sizes; chunk may be NULL */
static int vol_open(struct vol *v, const char *type, size_t n, const char *const *sizes,
                    const char *chunk, const char *lbs)
{
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = type, .lower = v->legs,
	                            .nlower = n };

	memset(v, 0, sizeof(*v));
	v->nlegs = n;
	for (size_t i = 0; i < n; i++) {
		snprintf(v->id[i], sizeof(v->id[i]), "%zu", i);
		v->leg_kv[i][0] = (struct vs_kv){ "id", v->id[i] };
		v->leg_kv[i][1] = (struct vs_kv){ "size", sizes[i] };
		v->leg_kv[i][2] = (struct vs_kv){ "lbs", lbs ? lbs : "0" };
		v->legs[i] = (struct vs_bdev_desc){ .kind = VS_LAYER_BACKEND, .name = "legmem",
		                                    .opts = v->leg_kv[i], .nopts = 3 };
	}
	if (chunk) {
		v->top_kv[0] = (struct vs_kv){ "chunk", chunk };
		top.opts = v->top_kv;
		top.nopts = 1;
	}
	v->b = vs_bdev_open_stack(&top, NULL);
	return v->b ? 0 : -1;
}

struct waiter {
	_Atomic int calls;
	int err;
};

static void wait_done(struct vs_bio *bio, int err)
{
	struct waiter *w = bio->ctx;

	w->err = err;
	atomic_fetch_add(&w->calls, 1);
}

static int io(struct vol *v, uint8_t op, uint64_t off, void *buf, uint64_t len)
{
	struct iovec iov = { buf, (size_t)len };
	struct waiter w = { 0 };
	struct vs_bio bio = { .op = op, .offset = off, .length = len, .iov = buf ? &iov : NULL,
	                      .iovcnt = buf ? 1 : 0, .done = wait_done, .ctx = &w };
	int rc = vs_bdev_submit(v->b, &bio);

	if (rc < 0)
		return rc;
	/* legs complete inline unless held */
	assert_int_equal(atomic_load(&w.calls), 1);
	return w.err;
}

static void fill_random(uint8_t *p, size_t n, uint64_t *seed)
{
	for (size_t i = 0; i < n; i++) {
		*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(*seed >> 56);
	}
}

/* Where the layouts put volume byte `off`: the test's own model. */
static void concat_where(const uint64_t *leg_sizes, size_t n, uint64_t off, size_t *leg,
                         uint64_t *loff)
{
	size_t i = 0;

	while (i + 1 < n && off >= leg_sizes[i]) {
		off -= leg_sizes[i];
		i++;
	}
	*leg = i;
	*loff = off;
}

static void stripe_where(uint64_t chunk, size_t n, uint64_t off, size_t *leg, uint64_t *loff)
{
	uint64_t k = off / chunk;

	*leg = (size_t)(k % n);
	*loff = (k / n) * chunk + off % chunk;
}

/* Random writes and reads through the volume agree with a flat model and
 * with the bytes on the legs where the layout says they are. */
static void check_layout(struct vol *v, bool stripe, uint64_t chunk, const uint64_t *leg_sizes)
{
	uint64_t size = vs_bdev_get_size(v->b), seed = 42;
	uint8_t *model = calloc(1, size), *buf = malloc(256 * 1024);

	for (int round = 0; round < 300; round++) {
		uint64_t off, len;

		fill_random((uint8_t *)&off, sizeof(off), &seed);
		fill_random((uint8_t *)&len, sizeof(len), &seed);
		len = (len % (256 * 1024 / 512) + 1) * 512;
		off = off % (size / 512) * 512;
		if (off + len > size)
			len = size - off;
		fill_random(buf, len, &seed);
		assert_int_equal(io(v, VS_BIO_WRITE, off, buf, len), 0);
		memcpy(model + off, buf, len);
	}
	for (uint64_t off = 0; off < size; off += 256 * 1024) {
		uint64_t len = size - off < 256 * 1024 ? size - off : 256 * 1024;

		assert_int_equal(io(v, VS_BIO_READ, off, buf, len), 0);
		assert_memory_equal(buf, model + off, len);
	}
	for (uint64_t off = 0; off < size; off += 512) {
		size_t leg;
		uint64_t loff;

		if (stripe)
			stripe_where(chunk, v->nlegs, off, &leg, &loff);
		else
			concat_where(leg_sizes, v->nlegs, off, &leg, &loff);
		if (memcmp(leg_mem(leg)->data + loff, model + off, 512) != 0)
			fail_msg("volume byte %llu is not at leg %zu offset %llu",
			         (unsigned long long)off, leg, (unsigned long long)loff);
	}
	free(model);
	free(buf);
}

static void test_concat_layout(void **state)
{
	static const char *const sizes[] = { "192K", "64K", "258K" };
	const uint64_t leg_sizes[] = { 192 << 10, 64 << 10, 256 << 10 };   /* 258K: 4K-rounded */
	struct vol v;

	(void)state;
	assert_int_equal(vol_open(&v, "concat", 3, sizes, NULL, NULL), 0);
	assert_int_equal(vs_bdev_get_size(v.b), 512 << 10);
	assert_string_equal(vs_bdev_name(v.b), "concat(legmem,legmem,legmem)");
	check_layout(&v, false, 0, leg_sizes);
	vs_bdev_close(v.b);
}

static void test_stripe_layout(void **state)
{
	static const char *const sizes[] = { "256K", "260K", "300K" };
	struct vs_backend_caps caps;
	struct vol v;

	(void)state;
	assert_int_equal(vol_open(&v, "stripe", 3, sizes, "16K", NULL), 0);
	/* the smallest leg in whole chunks, times the legs */
	assert_int_equal(vs_bdev_get_size(v.b), 3 * (256 << 10));
	vs_bdev_get_caps(v.b, &caps);
	assert_int_equal(caps.optimal_io_size, 3 * 16384);
	check_layout(&v, true, 16384, NULL);
	vs_bdev_close(v.b);
}

/* A stripe's chunks on one leg are one request there, gathered. */
static void test_stripe_merges_per_leg(void **state)
{
	static const char *const sizes[] = { "1M", "1M", "1M" };
	uint8_t *buf = calloc(1, 64 << 10);
	struct leg_rec r;
	struct vol v;

	(void)state;
	assert_int_equal(vol_open(&v, "stripe", 3, sizes, "4K", NULL), 0);
	for (size_t i = 0; i < 3; i++)
		leg_mem_clear(leg_mem(i));
	/* 64K from 2K: 17 chunk pieces (half, 15 whole, half) over 3 legs */
	assert_int_equal(io(&v, VS_BIO_WRITE, 2048, buf, 64 << 10), 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(leg_mem_count(leg_mem(i), VS_BIO_WRITE), 1);
	/* chunks 0,3,..,15 on leg 0 (first one half): 6 pieces from leg offset 2K */
	r = leg_mem_last(leg_mem(0), 0);
	assert_int_equal(r.offset, 2048);
	assert_int_equal(r.iovcnt, 6);
	assert_int_equal(r.length, 2048 + 5 * 4096);
	/* leg 1: chunks 1,4,..,16 (6 whole... the last one half) */
	r = leg_mem_last(leg_mem(1), 0);
	assert_int_equal(r.offset, 0);
	assert_int_equal(r.iovcnt, 6);
	assert_int_equal(r.length, 5 * 4096 + 2048);
	r = leg_mem_last(leg_mem(2), 0);
	assert_int_equal(r.offset, 0);
	assert_int_equal(r.iovcnt, 5);
	assert_int_equal(r.length, 5 * 4096);

	/* FLUSH: once to each leg; UNMAP of everything: once to each leg, all of it */
	assert_int_equal(io(&v, VS_BIO_FLUSH, 0, NULL, 0), 0);
	assert_int_equal(io(&v, VS_BIO_UNMAP, 0, NULL, 3 << 20), 0);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(leg_mem_count(leg_mem(i), VS_BIO_FLUSH), 1);
		assert_int_equal(leg_mem_count(leg_mem(i), VS_BIO_UNMAP), 1);
		r = leg_mem_last(leg_mem(i), 0);
		assert_int_equal(r.offset, 0);
		assert_int_equal(r.length, 1 << 20);
	}
	vs_bdev_close(v.b);
	free(buf);
}

static void test_concat_splits_at_leg_end(void **state)
{
	static const char *const sizes[] = { "64K", "64K" };
	uint8_t buf[8192] = { 0 };
	struct leg_rec r;
	struct vol v;

	(void)state;
	assert_int_equal(vol_open(&v, "concat", 2, sizes, NULL, NULL), 0);
	assert_int_equal(io(&v, VS_BIO_WRITE, (64 << 10) - 4096, buf, 8192), 0);
	r = leg_mem_last(leg_mem(0), 0);
	assert_int_equal(r.offset, (64 << 10) - 4096);
	assert_int_equal(r.length, 4096);
	r = leg_mem_last(leg_mem(1), 0);
	assert_int_equal(r.offset, 0);
	assert_int_equal(r.length, 4096);
	/* a write within one leg is not split */
	assert_int_equal(io(&v, VS_BIO_WRITE, 0, buf, 8192), 0);
	assert_int_equal(leg_mem_count(leg_mem(0), VS_BIO_WRITE), 2);
	assert_int_equal(leg_mem_count(leg_mem(1), VS_BIO_WRITE), 1);
	/* past the end: refused */
	assert_int_equal(io(&v, VS_BIO_READ, 128 << 10, buf, 512), -EINVAL);
	vs_bdev_close(v.b);
}

/* More chunks than one context plans, and a caller's iovec of thousands
 * of entries: waves, and the data still lands where it belongs. */
static void test_waves(void **state)
{
	static const char *const sizes[] = { "12M", "12M" };
	size_t len = 20u << 20, nent = 5000;
	uint8_t *buf = malloc(len), *back = malloc(len);
	struct iovec *iov = calloc(nent, sizeof(*iov));
	struct waiter w = { 0 };
	uint64_t seed = 7;
	struct vol v;

	(void)state;
	assert_int_equal(vol_open(&v, "stripe", 2, sizes, "4K", NULL), 0);
	leg_mem_clear(leg_mem(0));
	fill_random(buf, len, &seed);
	assert_int_equal(io(&v, VS_BIO_WRITE, 4096, buf, len), 0);
	/* 20 MiB of 4K chunks is more than one 8 MiB plan: several per leg */
	assert_true(leg_mem_count(leg_mem(0), VS_BIO_WRITE) >= 3);
	assert_int_equal(io(&v, VS_BIO_READ, 4096, back, len), 0);
	assert_memory_equal(buf, back, len);

	/* 5000 entries of 512 bytes (2.5 MB) read into pieces of the buffer */
	memset(back, 0, len);
	for (size_t i = 0; i < nent; i++)
		iov[i] = (struct iovec){ back + i * 512, 512 };
	struct vs_bio bio = { .op = VS_BIO_READ, .offset = 4096, .length = nent * 512, .iov = iov,
	                      .iovcnt = (int)nent, .done = wait_done, .ctx = &w };
	assert_int_equal(vs_bdev_submit(v.b, &bio), 0);
	assert_int_equal(atomic_load(&w.calls), 1);
	assert_int_equal(w.err, 0);
	assert_memory_equal(back, buf, nent * 512);
	vs_bdev_close(v.b);
	free(iov);
	free(buf);
	free(back);
}

/* Pieces answered late and out of order, one with an error: the request
 * completes once, after the last piece, with that error. */
static void test_exactly_once(void **state)
{
	static const char *const sizes[] = { "1M", "1M", "1M" };
	uint8_t buf[48 << 10] = { 0 };
	struct iovec iov = { buf, sizeof(buf) };
	struct waiter w = { 0 };
	struct vs_bio bio = { .op = VS_BIO_WRITE, .offset = 0, .length = sizeof(buf), .iov = &iov,
	                      .iovcnt = 1, .done = wait_done, .ctx = &w };
	struct vol v;

	(void)state;
	assert_int_equal(vol_open(&v, "stripe", 3, sizes, "4K", NULL), 0);
	for (size_t i = 0; i < 3; i++)
		leg_mem_hold(leg_mem(i), true);
	assert_int_equal(vs_bdev_submit(v.b, &bio), 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(leg_mem_held(leg_mem(i)), 1);
	leg_mem_release(leg_mem(2), 0);
	leg_mem_release(leg_mem(0), -EIO);
	assert_int_equal(atomic_load(&w.calls), 0);
	leg_mem_release(leg_mem(1), 0);
	assert_int_equal(atomic_load(&w.calls), 1);
	assert_int_equal(w.err, -EIO);
	/* the caller's fields are its own again */
	assert_ptr_equal(bio.ctx, &w);
	assert_ptr_equal(bio.done, wait_done);

	/* a flush held on every leg, then a reset: each comes back once */
	struct waiter w2 = { 0 };
	struct vs_bio fl = { .op = VS_BIO_FLUSH, .done = wait_done, .ctx = &w2 };
	assert_int_equal(vs_bdev_submit(v.b, &fl), 0);
	vs_bdev_reset(v.b);
	assert_int_equal(atomic_load(&w2.calls), 1);
	assert_int_equal(w2.err, -ECANCELED);
	for (size_t i = 0; i < 3; i++)
		leg_mem_hold(leg_mem(i), false);

	/* the first piece refused: the request is refused, never completed */
	struct waiter w3 = { 0 };
	bio.ctx = &w3;
	leg_mem_refuse(leg_mem(0), -EAGAIN);
	assert_int_equal(vs_bdev_submit(v.b, &bio), -EAGAIN);
	assert_int_equal(atomic_load(&w3.calls), 0);
	/* a later piece refused once others went down: completes with it */
	leg_mem_refuse(leg_mem(0), 0);
	leg_mem_refuse(leg_mem(1), -EAGAIN);
	assert_int_equal(vs_bdev_submit(v.b, &bio), 0);
	assert_int_equal(atomic_load(&w3.calls), 1);
	assert_int_equal(w3.err, -EAGAIN);
	leg_mem_refuse(leg_mem(1), 0);
	vs_bdev_close(v.b);
}

static void test_bad_options(void **state)
{
	static const char *const sizes[] = { "1M", "1M" };
	static const char *const tiny[] = { "1M", "2K" };
	struct vol v;

	(void)state;
	assert_int_equal(vol_open(&v, "stripe", 2, sizes, "12K", NULL), -1);
	assert_string_equal(vs_last_error(), "chunk: 12288 is not a power of two");
	assert_int_equal(vol_open(&v, "stripe", 2, sizes, "2K", NULL), -1);
	assert_non_null(strstr(vs_last_error(), "chunk: "));
	assert_int_equal(vol_open(&v, "stripe", 2, tiny, "4K", NULL), -1);
	assert_non_null(strstr(vs_last_error(), "smaller than one chunk"));
	assert_int_equal(vol_open(&v, "concat", 2, tiny, NULL, NULL), -1);
	assert_non_null(strstr(vs_last_error(), "legs: leg 1 has less than 4096 bytes"));
	assert_int_equal(vol_open(&v, "concat", 1, sizes, NULL, NULL), -1);
	assert_non_null(strstr(vs_last_error(), "takes 2 to 32 layers under it, got 1"));
	/* legs with 4096-byte blocks: the volume says so */
	assert_int_equal(vol_open(&v, "concat", 2, sizes, NULL, "4096"), 0);
	struct vs_backend_caps caps;
	vs_bdev_get_caps(v.b, &caps);
	assert_int_equal(caps.logical_block_size, 4096);
	assert_int_equal(vs_bdev_resize(v.b, 4 << 20), -EOPNOTSUPP);
	vs_bdev_close(v.b);
}

static int setup(void **state)
{
	(void)state;
	leg_mem_register();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concat_layout),
		cmocka_unit_test(test_stripe_layout),
		cmocka_unit_test(test_stripe_merges_per_leg),
		cmocka_unit_test(test_concat_splits_at_leg_end),
		cmocka_unit_test(test_waves),
		cmocka_unit_test(test_exactly_once),
		cmocka_unit_test(test_bad_options),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
