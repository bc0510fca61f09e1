/* SPDX-License-Identifier: MIT */
/* ram backend: data integrity, zeroes, inline completion, resize, threads. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "vstor/backend.h"
#include "stable_hammer.h"
#include "util/vs_crc32c.h"

#define DISK (16u << 20)

struct waiter {
	int calls;
	int err;
};

static void on_done(struct vs_bio *bio, int err)
{
	struct waiter *w = bio->ctx;
	w->calls++;
	w->err = err;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
	/* xorshift64*: deterministic across runs */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static struct vs_bdev *open_ram(const char *size)
{
	struct vs_kv kv[] = {{"size", size}};
	struct vs_bdev *b = vs_bdev_open("ram", kv, 1);
	if (!b)
		fail_msg("open: %s", vs_last_error());
	return b;
}

/* Submit one request and check it completed inline, exactly once. */
static int io(struct vs_bdev *b, uint8_t op, uint32_t flags, uint64_t off, void *buf,
              uint64_t len)
{
	struct iovec v = {buf, len};
	struct waiter w = {0, 99};
	struct vs_bio bio = {.op = op, .flags = flags, .offset = off, .length = len,
	                     .iov = buf ? &v : NULL, .iovcnt = buf ? 1 : 0,
	                     .done = on_done, .ctx = &w};
	int rc = vs_bdev_submit(b, &bio);
	if (rc < 0) {
		assert_int_equal(w.calls, 0);
		return rc;
	}
	assert_int_equal(w.calls, 1);   /* inline: done() already ran */
	return w.err;
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((seed * 131 + i * 7 + (i >> 8)) ^ 0x5a);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_caps_and_size(void **state)
{
	(void)state;
	struct vs_bdev *b = open_ram("16M");
	struct vs_backend_caps c;
	vs_bdev_get_caps(b, &c);
	assert_true(c.can_write);
	assert_false(c.can_flush);
	assert_true(c.can_fua);
	assert_true(c.can_unmap);
	assert_true(c.can_zero);
	assert_true(c.unmap_zeroes);
	assert_false(c.is_rotational);
	assert_true(c.can_resize);
	assert_false(c.has_write_cache);
	assert_int_equal(vs_bdev_get_size(b), DISK);
	vs_bdev_close(b);
}

static void test_unwritten_reads_zero(void **state)
{
	(void)state;
	struct vs_bdev *b = open_ram("16M");
	uint8_t *buf = malloc(1 << 20);
	memset(buf, 0xee, 1 << 20);
	assert_int_equal(io(b, VS_BIO_READ, 0, 0, buf, 1 << 20), 0);
	assert_true(all_zero(buf, 1 << 20));
	memset(buf, 0xee, 4096);
	assert_int_equal(io(b, VS_BIO_READ, 0, DISK - 4096, buf, 4096), 0);
	assert_true(all_zero(buf, 4096));
	free(buf);
	vs_bdev_close(b);
}

static void test_random_pattern(void **state)
{
	(void)state;
	struct vs_bdev *b = open_ram("16M");
	uint8_t *shadow = calloc(1, DISK);
	uint8_t *buf = malloc(256 << 10);
	rng_state = 0x1234567;
	for (int i = 0; i < 400; i++) {
		uint64_t len = 1 + rnd() % (256 << 10);
		uint64_t off = rnd() % (DISK - len + 1);
		fill(buf, len, (uint64_t)i);
		uint32_t flags = (i % 3 == 0) ? VS_BIO_FUA : 0;
		assert_int_equal(io(b, VS_BIO_WRITE, flags, off, buf, len), 0);
		memcpy(shadow + off, buf, len);
	}
	for (int i = 0; i < 400; i++) {
		uint64_t len = 1 + rnd() % (256 << 10);
		uint64_t off = rnd() % (DISK - len + 1);
		assert_int_equal(io(b, VS_BIO_READ, 0, off, buf, len), 0);
		assert_memory_equal(buf, shadow + off, len);
	}
	/* whole-disk compare */
	uint8_t *all = malloc(DISK);
	assert_int_equal(io(b, VS_BIO_READ, 0, 0, all, DISK), 0);
	assert_memory_equal(all, shadow, DISK);
	free(all);
	free(buf);
	free(shadow);
	vs_bdev_close(b);
}

static void test_multi_iov_trimmed(void **state)
{
	(void)state;
	struct vs_bdev *b = open_ram("1M");
	uint8_t a[100], c[1], d[5000], e[300];
	fill(a, sizeof(a), 1);
	fill(d, sizeof(d), 2);
	fill(e, sizeof(e), 3);
	/* iovec total 5400 but the request is 5150 bytes: only that is used */
	struct iovec v[] = {{a, sizeof(a)}, {c, 0}, {d, sizeof(d)}, {e, sizeof(e)}};
	struct waiter w = {0, 99};
	struct vs_bio bio = {.op = VS_BIO_WRITE, .offset = 777, .length = 5150, .iov = v,
	                     .iovcnt = 4, .done = on_done, .ctx = &w};
	assert_int_equal(vs_bdev_submit(b, &bio), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.err, 0);
	uint8_t out[6000];
	assert_int_equal(io(b, VS_BIO_READ, 0, 777, out, sizeof(out)), 0);
	assert_memory_equal(out, a, 100);
	assert_memory_equal(out + 100, d, 5000);
	assert_memory_equal(out + 5100, e, 50);
	assert_true(all_zero(out + 5150, sizeof(out) - 5150));

	/* iovec shorter than the length: refused, nothing written */
	struct vs_bio shortb = {.op = VS_BIO_WRITE, .offset = 0, .length = 200, .iov = v,
	                        .iovcnt = 1, .done = on_done, .ctx = &w};
	assert_int_equal(vs_bdev_submit(b, &shortb), -EINVAL);
	assert_int_equal(w.calls, 1);
	assert_int_equal(io(b, VS_BIO_READ, 0, 0, out, 200), 0);
	assert_true(all_zero(out, 200));
	vs_bdev_close(b);
}

static void check_zeroing(uint8_t op, uint32_t flags)
{
	struct vs_bdev *b = open_ram("1M");
	size_t n = 5 * 4096;
	uint8_t *pat = malloc(n), *out = malloc(n);
	fill(pat, n, 9);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, 0, pat, n), 0);
	/* partial page at both ends, two whole pages in the middle */
	uint64_t zoff = 4096 + 100, zlen = 3 * 4096 - 150;
	assert_int_equal(io(b, op, flags, zoff, NULL, zlen), 0);
	assert_int_equal(io(b, VS_BIO_READ, 0, 0, out, n), 0);
	assert_memory_equal(out, pat, zoff);
	assert_true(all_zero(out + zoff, zlen));
	assert_memory_equal(out + zoff + zlen, pat + zoff + zlen, n - zoff - zlen);
	/* within one page */
	assert_int_equal(io(b, op, flags, 10, NULL, 20), 0);
	assert_int_equal(io(b, VS_BIO_READ, 0, 0, out, 4096), 0);
	assert_memory_equal(out, pat, 10);
	assert_true(all_zero(out + 10, 20));
	assert_memory_equal(out + 30, pat + 30, 4096 - 30);
	/* the zeroed range can be written again */
	assert_int_equal(io(b, VS_BIO_WRITE, 0, zoff, pat, zlen), 0);
	assert_int_equal(io(b, VS_BIO_READ, 0, zoff, out, zlen), 0);
	assert_memory_equal(out, pat, zlen);
	free(pat);
	free(out);
	vs_bdev_close(b);
}

static void test_unmap_reads_zero(void **state)
{
	(void)state;
	check_zeroing(VS_BIO_UNMAP, 0);
}

static void test_write_zeroes(void **state)
{
	(void)state;
	check_zeroing(VS_BIO_WRITE_ZEROES, 0);
	check_zeroing(VS_BIO_WRITE_ZEROES, VS_BIO_MAY_TRIM);
}

static void test_flush_and_bad_requests(void **state)
{
	(void)state;
	struct vs_bdev *b = open_ram("1M");
	uint8_t buf[4096] = {1};
	assert_int_equal(io(b, VS_BIO_FLUSH, 0, 0, NULL, 0), 0);
	assert_int_equal(io(b, VS_BIO_WRITE, VS_BIO_FUA, 4096, buf, 4096), 0);
	/* out of range, overflowing, unknown op: refused without done() */
	assert_int_equal(io(b, VS_BIO_READ, 0, (1 << 20) - 4095, buf, 4096), -EINVAL);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, UINT64_MAX - 10, buf, 4096), -EINVAL);
	assert_int_equal(io(b, VS_BIO_UNMAP, 0, 1 << 20, NULL, 1), -EINVAL);
	assert_int_equal(io(b, 77, 0, 0, buf, 4096), -EINVAL);
	assert_int_equal(io(b, VS_BIO_READ, 0, 0, NULL, 4096), -EINVAL);
	/* zero length at the very end is fine */
	assert_int_equal(io(b, VS_BIO_READ, 0, 1 << 20, buf, 0), 0);
	vs_bdev_close(b);
}

static void test_resize(void **state)
{
	(void)state;
	struct vs_kv kv[] = {{"size", "1M"}, {"max_size", "4M"}};
	struct vs_bdev *b = vs_bdev_open("ram", kv, 2);
	assert_non_null(b);
	uint8_t pat[8192], out[8192];
	fill(pat, sizeof(pat), 5);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, (1 << 20) - 8192, pat, 8192), 0);

	assert_int_equal(vs_bdev_resize(b, 3 << 20), 0);
	assert_int_equal(vs_bdev_get_size(b), 3 << 20);
	assert_int_equal(io(b, VS_BIO_READ, 0, (1 << 20) - 8192, out, 8192), 0);
	assert_memory_equal(out, pat, 8192);     /* kept */
	assert_int_equal(io(b, VS_BIO_READ, 0, (3 << 20) - 8192, out, 8192), 0);
	assert_true(all_zero(out, 8192));        /* new space is zero */
	assert_int_equal(io(b, VS_BIO_WRITE, 0, (3 << 20) - 8192, pat, 8192), 0);

	/* shrink (not page aligned) then grow: the cut-off bytes are gone */
	assert_int_equal(vs_bdev_resize(b, (1 << 20) - 100), 0);
	assert_int_equal(io(b, VS_BIO_READ, 0, (1 << 20) - 4096, out, 4096), -EINVAL);
	assert_int_equal(vs_bdev_resize(b, 3 << 20), 0);
	assert_int_equal(io(b, VS_BIO_READ, 0, (1 << 20) - 8192, out, 8192), 0);
	assert_memory_equal(out, pat, 8192 - 100);
	assert_true(all_zero(out + 8192 - 100, 100));
	assert_int_equal(io(b, VS_BIO_READ, 0, (3 << 20) - 8192, out, 8192), 0);
	assert_true(all_zero(out, 8192));

	assert_int_equal(vs_bdev_resize(b, 5 << 20), -ENOSPC);
	assert_non_null(strstr(vs_last_error(), "max_size"));
	assert_int_equal(vs_bdev_resize(b, 0), -EINVAL);
	assert_int_equal(vs_bdev_get_size(b), 3 << 20);
	vs_bdev_close(b);
}

static void test_block_status(void **state)
{
	(void)state;
	/* Checks stay 2 MiB apart so the result does not depend on whether
	 * the host backs the mapping with transparent huge pages. */
	struct vs_bdev *b = open_ram("16M");
	bool mapped = true;
	uint64_t ext = 0;
	assert_int_equal(vs_bdev_block_status(b, 0, 16 << 20, &mapped, &ext), 0);
	assert_false(mapped);
	assert_int_equal(ext, 16 << 20);
	uint8_t buf[4096];
	fill(buf, sizeof(buf), 1);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, 8 << 20, buf, 4096), 0);
	assert_int_equal(vs_bdev_block_status(b, 8 << 20, 4096, &mapped, &ext), 0);
	assert_true(mapped);
	assert_int_equal(ext, 4096);
	assert_int_equal(vs_bdev_block_status(b, 0, 4 << 20, &mapped, &ext), 0);
	assert_false(mapped);
	assert_int_equal(ext, 4 << 20);
	assert_int_equal(vs_bdev_block_status(b, 12 << 20, 4 << 20, &mapped, &ext), 0);
	assert_false(mapped);
	/* extents are clipped to the request */
	assert_int_equal(vs_bdev_block_status(b, (8 << 20) + 100, 50, &mapped, &ext), 0);
	assert_true(mapped);
	assert_int_equal(ext, 50);
	assert_int_equal(io(b, VS_BIO_UNMAP, 0, 8 << 20, NULL, 4096), 0);
	assert_int_equal(vs_bdev_block_status(b, 8 << 20, 4096, &mapped, &ext), 0);
	assert_false(mapped);
	assert_int_equal(vs_bdev_block_status(b, 16 << 20, 1, &mapped, &ext), -EINVAL);
	assert_int_equal(vs_bdev_block_status(b, 0, 0, &mapped, &ext), -EINVAL);
	vs_bdev_close(b);
}

/* The allocation bitmap: reads never allocate, writes map exactly the pages
 * they touch, unmap / write-zeroes deallocate whole pages only. */
static void expect_status(struct vs_bdev *b, uint64_t off, uint64_t len, bool want_mapped,
                          uint64_t want_ext)
{
	bool mapped = !want_mapped;
	uint64_t ext = 0, size = vs_bdev_get_size(b);

	if (len > size - off)
		len = size - off;       /* "to the end of the disk" */
	assert_int_equal(vs_bdev_block_status(b, off, len, &mapped, &ext), 0);
	assert_int_equal(mapped, want_mapped);
	assert_int_equal(ext, want_ext);
}

static void test_block_status_bitmap(void **state)
{
	(void)state;
	struct vs_kv kv[] = {{"size", "8M"}, {"max_size", "16M"}};
	struct vs_bdev *b = vs_bdev_open("ram", kv, 2);
	static uint8_t buf[2 << 20];
	const uint64_t pg = 4096;

	assert_non_null(b);
	/* a read of never-written memory stays deallocated */
	assert_int_equal(io(b, VS_BIO_READ, 0, 0, buf, sizeof(buf)), 0);
	assert_true(all_zero(buf, sizeof(buf)));
	expect_status(b, 0, 8 << 20, false, 8 << 20);

	/* 512 bytes inside page 1 map page 1 only */
	fill(buf, 512, 3);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, pg + 100, buf, 512), 0);
	expect_status(b, 0, 8 << 20, false, pg);
	expect_status(b, pg, 8 << 20, true, pg);
	expect_status(b, pg + 600, 10, true, 10);               /* clipped to the request */
	expect_status(b, 2 * pg, (8 << 20) - 2 * pg, false, (8 << 20) - 2 * pg);
	/* a write across a page boundary maps both pages */
	assert_int_equal(io(b, VS_BIO_WRITE, 0, 3 * pg - 10, buf, 20), 0);
	expect_status(b, pg, 8 << 20, true, 3 * pg);

	/* a long extent across many bitmap words: pages 16..(16+300) */
	fill(buf, 301 * pg, 4);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, 16 * pg, buf, 301 * pg), 0);
	expect_status(b, 16 * pg, 8 << 20, true, 301 * pg);
	expect_status(b, 4 * pg, 8 << 20, false, 12 * pg);
	expect_status(b, 317 * pg, 4096, false, 4096);

	/* unmapping part of a page keeps it mapped; whole pages go */
	assert_int_equal(io(b, VS_BIO_UNMAP, 0, 16 * pg + 512, NULL, 1024), 0);
	expect_status(b, 16 * pg, pg, true, pg);
	assert_int_equal(io(b, VS_BIO_UNMAP, 0, 20 * pg + 1, NULL, 3 * pg), 0);
	expect_status(b, 20 * pg, 8 << 20, true, pg);           /* head partial page */
	expect_status(b, 21 * pg, 8 << 20, false, 2 * pg);
	expect_status(b, 23 * pg, 8 << 20, true, (317 - 23) * pg); /* tail partial page */
	/* write-zeroes of whole pages deallocates too, and reads back zero */
	assert_int_equal(io(b, VS_BIO_WRITE_ZEROES, VS_BIO_MAY_TRIM, 100 * pg, NULL, 50 * pg), 0);
	expect_status(b, 100 * pg, 8 << 20, false, 50 * pg);
	assert_int_equal(io(b, VS_BIO_READ, 0, 100 * pg, buf, 50 * pg), 0);
	assert_true(all_zero(buf, 50 * pg));
	expect_status(b, 100 * pg, 8 << 20, false, 50 * pg);   /* the read did not map it */
	/* rewriting maps again */
	assert_int_equal(io(b, VS_BIO_WRITE, 0, 100 * pg, buf, pg), 0);
	expect_status(b, 100 * pg, pg, true, pg);

	/* unmap of the whole disk (SANITIZE BLOCK ERASE) leaves nothing mapped */
	assert_int_equal(io(b, VS_BIO_UNMAP, 0, 0, NULL, 8 << 20), 0);
	expect_status(b, 0, 8 << 20, false, 8 << 20);

	/* space added by a resize starts deallocated; the map already covers it */
	assert_int_equal(io(b, VS_BIO_WRITE, 0, (8 << 20) - pg, buf, pg), 0);
	assert_int_equal(vs_bdev_resize(b, 16 << 20), 0);
	expect_status(b, (8 << 20) - pg, 8 << 20, true, pg);
	expect_status(b, 8 << 20, 8 << 20, false, 8 << 20);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, (16 << 20) - pg, buf, pg), 0);
	expect_status(b, (16 << 20) - pg, pg, true, pg);
	vs_bdev_close(b);
}

struct thr_arg {
	struct vs_bdev *b;
	int id;
	int errors;
};

#define THREADS 4
#define REGION (1u << 20)

static void *thr_main(void *p)
{
	struct thr_arg *a = p;
	uint8_t wbuf[4096], rbuf[4096], sbuf[4096];
	uint64_t base = (uint64_t)a->id * REGION;
	for (int i = 0; i < 2000; i++) {
		uint64_t off = base + (uint64_t)((i * 7919) % (REGION / 4096)) * 4096;
		fill(wbuf, sizeof(wbuf), (uint64_t)(a->id * 100000 + i));
		if (io(a->b, VS_BIO_WRITE, 0, off, wbuf, 4096) != 0)
			a->errors++;
		if (io(a->b, VS_BIO_READ, 0, off, rbuf, 4096) != 0 ||
		    memcmp(wbuf, rbuf, 4096) != 0)
			a->errors++;
		/* everybody also hammers one shared block: memory-safe, and
		 * whatever lands there is one of the 4 KiB patterns */
		if (io(a->b, VS_BIO_WRITE, 0, 12 << 20, wbuf, 4096) != 0 ||
		    io(a->b, VS_BIO_READ, 0, 12 << 20, sbuf, 4096) != 0)
			a->errors++;
	}
	return NULL;
}

static long minor_faults(void)
{
	struct rusage ru;

	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_minflt;
}

/*
 * Reading never-written blocks answers zeroes without touching the disk's
 * memory: reading 64 MiB of a fresh disk takes (nearly) no page faults,
 * where touching it would fault each of its 16384 pages in.  Reads that
 * straddle written and unwritten pages, in odd iovec pieces, still see
 * exactly what was written.
 */
static void test_reads_do_not_touch_unwritten_memory(void **state)
{
	(void)state;
	struct vs_bdev *b = open_ram("64M");
	static uint8_t buf[1 << 20], data[3 * 4096 + 100];
	long f0;

	/* the destination's own pages (and a sanitizer's shadow of them) are
	 * faulted in first: what is counted is the disk's memory */
	memset(buf, 1, sizeof(buf));
	assert_int_equal(io(b, VS_BIO_READ, 0, 0, buf, sizeof(buf)), 0);
	f0 = minor_faults();
	for (uint64_t off = 0; off < (64u << 20); off += sizeof(buf))
		assert_int_equal(io(b, VS_BIO_READ, 0, off, buf, sizeof(buf)), 0);
	assert_true(all_zero(buf, sizeof(buf)));
	assert_true(minor_faults() - f0 < 1000);

	/* written: 100 bytes into page 2 up to a few bytes into page 5 */
	fill(data, sizeof(data), 7);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, 2 * 4096 + 100, data, sizeof(data)), 0);
	{
		uint8_t out[8 * 4096];
		struct iovec v[3] = { { out, 777 }, { out + 777, 4096 * 5 }, { out + 777 + 4096 * 5,
		                                                                sizeof(out) - 777 - 4096 * 5 } };
		struct waiter w = { 0, 99 };
		struct vs_bio bio = { .op = VS_BIO_READ, .offset = 0, .length = sizeof(out), .iov = v,
		                      .iovcnt = 3, .done = on_done, .ctx = &w };

		memset(out, 0xee, sizeof(out));
		assert_int_equal(vs_bdev_submit(b, &bio), 0);
		assert_int_equal(w.err, 0);
		assert_true(all_zero(out, 2 * 4096 + 100));
		assert_memory_equal(out + 2 * 4096 + 100, data, sizeof(data));
		assert_true(all_zero(out + 2 * 4096 + 100 + sizeof(data),
		                     sizeof(out) - 2 * 4096 - 100 - sizeof(data)));
	}
	vs_bdev_close(b);
}

/* RAM disks together are not promised more memory than the process may
 * use, unless a disk says overcommit=1. */
static void test_memory_admission(void **state)
{
	(void)state;
	struct vs_kv huge[] = { { "size", "1T" } };
	struct vs_bdev *b, *c;
	char half[32], twice[32];
	uint64_t total = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "MemTotal: %" SCNu64 " kB", &total), 1);
	fclose(f);
	total *= 1024;
	assert_true(total < (1ULL << 40));      /* this test needs a machine under 1 TiB */

	assert_null(vs_bdev_open("ram", huge, 1));
	assert_non_null(strstr(vs_last_error(), "ram: size: 1048576 MiB more of RAM disks would "
	                                        "exceed the memory vstord may use"));
	assert_non_null(strstr(vs_last_error(), "give overcommit=1 to allow it"));
	/* overcommit lets a disk past the limit: twice the machine, not 1 TiB,
	 * whose mapping ThreadSanitizer's address-space layout cannot always
	 * place */
	snprintf(twice, sizeof(twice), "%lluM", (unsigned long long)(total * 2 >> 20));
	b = vs_bdev_open("ram", (struct vs_kv[]){ { "size", twice }, { "overcommit", "1" } }, 2);
	if (!b)
		fail_msg("overcommit=1 of %s: %s", twice, vs_last_error());
	vs_bdev_close(b);

	/* two disks of 60 %: the second does not fit while the first is open */
	snprintf(half, sizeof(half), "%lluM", (unsigned long long)(total / 10 * 6 >> 20));
	b = vs_bdev_open("ram", (struct vs_kv[]){ { "size", half } }, 1);
	assert_non_null(b);
	assert_null(vs_bdev_open("ram", (struct vs_kv[]){ { "size", half } }, 1));
	/* nor may the first grow past it */
	assert_int_equal(vs_bdev_resize(b, total / 10 * 12), -ENOSPC);
	vs_bdev_close(b);
	c = vs_bdev_open("ram", (struct vs_kv[]){ { "size", half } }, 1);
	assert_non_null(c);                     /* the first gave its promise back */
	vs_bdev_close(c);
}

static void test_concurrent_threads(void **state)
{
	(void)state;
	struct vs_bdev *b = open_ram("16M");
	pthread_t t[THREADS];
	struct thr_arg a[THREADS];
	for (int i = 0; i < THREADS; i++) {
		a[i] = (struct thr_arg){b, i, 0};
		assert_int_equal(pthread_create(&t[i], NULL, thr_main, &a[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].errors, 0);
	}
	vs_bdev_close(b);
}

/* ---- lending (bdev.h vs_bio.lent) ---- */

/* A READ with VS_BIO_MAY_LEND; the bio comes back for lend_end. */
static int lend_read(struct vs_bdev *b, struct vs_bio *bio, struct iovec *v, uint64_t off,
                     void *buf, uint64_t len)
{
	static struct waiter w;

	w = (struct waiter){0, 99};
	*v = (struct iovec){buf, len};
	*bio = (struct vs_bio){.op = VS_BIO_READ, .flags = VS_BIO_MAY_LEND, .offset = off,
	                       .length = len, .iov = v, .iovcnt = 1, .done = on_done, .ctx = &w,
	                       .lent = (const void *)0x1};    /* the layer must clear it */
	int rc = vs_bdev_submit(b, bio);
	assert_int_equal(rc, 0);
	assert_int_equal(w.calls, 1);
	return w.err;
}

/* Written pages are lent, not copied: the caller's buffer stays untouched,
 * the loan shows the data, and a later write shows through it. */
static void test_lend_written_range(void **state)
{
	(void)state;
	struct vs_bdev *b = open_ram("16M");
	static uint8_t data[256 << 10], buf[256 << 10];
	struct vs_bio bio;
	struct iovec v;
	static const struct { uint64_t off, len; } cases[] = {
		{ 0, 4096 }, { 4096 * 3 + 512, 512 }, { 64 << 10, 256 << 10 },
		{ DISK - 8192, 8192 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t off = cases[i].off, len = cases[i].len;

		fill(data, len, i + 1);
		assert_int_equal(io(b, VS_BIO_WRITE, 0, off, data, len), 0);
		memset(buf, 0xee, len);
		assert_int_equal(lend_read(b, &bio, &v, off, buf, len), 0);
		assert_non_null(bio.lent);
		assert_memory_equal(bio.lent, data, len);
		assert_true(bio.flags & VS_BIO_MAY_LEND);
		for (size_t k = 0; k < len; k++)
			if (buf[k] != 0xee)
				fail_msg("case %zu: the lent read copied into the buffer at %zu", i, k);
		/* the loan is the disk's memory itself */
		fill(data, 512, i + 100);
		assert_int_equal(io(b, VS_BIO_WRITE, 0, off, data, 512), 0);
		assert_memory_equal(bio.lent, data, 512);
		vs_bdev_lend_end(b, &bio);
		assert_null(bio.lent);
		vs_bdev_lend_end(b, &bio);      /* nothing lent: nothing to do */
	}
	vs_bdev_close(b);
}

/* ---- stable loans (VS_BIO_LEND_STABLE, stable_loans.c) ---- */

/* A change submitted without waiting: *w counts its completion. */
static void change_async(struct vs_bdev *b, struct vs_bio *bio, struct iovec *v, uint8_t op,
                         uint64_t off, void *buf, uint64_t len, struct waiter *w)
{
	*w = (struct waiter){ 0, 99 };
	*v = (struct iovec){ buf, len };
	*bio = (struct vs_bio){ .op = op, .offset = off, .length = len, .iov = buf ? v : NULL,
	                        .iovcnt = buf ? 1 : 0, .done = on_done, .ctx = w };
	assert_int_equal(vs_bdev_submit(b, bio), 0);
}

static int stable_lend_read(struct vs_bdev *b, struct vs_bio *bio, struct iovec *v, uint64_t off,
                            void *buf, uint64_t len)
{
	static struct waiter w;

	w = (struct waiter){ 0, 99 };
	*v = (struct iovec){ buf, len };
	*bio = (struct vs_bio){ .op = VS_BIO_READ, .flags = VS_BIO_MAY_LEND | VS_BIO_LEND_STABLE,
	                        .offset = off, .length = len, .iov = v, .iovcnt = 1,
	                        .done = on_done, .ctx = &w };
	assert_int_equal(vs_bdev_submit(b, bio), 0);
	assert_int_equal(w.calls, 1);
	return w.err;
}

/*
 * While a stable loan is out, a write, unmap or write-zeroes over its
 * bytes is held back (the loan keeps showing what was lent) and so is
 * every change after it, in order; the loan's end applies and completes
 * them.  A change elsewhere with nothing held goes at once.
 */
static void test_stable_loan_holds_overlapping_changes(void **state)
{
	(void)state;
	struct vs_bdev *b = open_ram("16M");
	static uint8_t a[64 << 10], wb[4096], wc[4096], wd[4096], buf[64 << 10], out[64 << 10];
	struct vs_bio loan, bw, bc, bz, bd;
	struct iovec vl, vw, vc, vz, vd;
	struct waiter ww, wcw, wz, wdw;

	fill(a, sizeof(a), 1);
	fill(wb, sizeof(wb), 2);
	fill(wc, sizeof(wc), 3);
	fill(wd, sizeof(wd), 4);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, 0, a, sizeof(a)), 0);

	/* nothing held: a change beside the loan is not delayed */
	assert_int_equal(stable_lend_read(b, &loan, &vl, 0, buf, 16 << 10), 0);
	assert_non_null(loan.lent);
	change_async(b, &bd, &vd, VS_BIO_WRITE, 1 << 20, wd, sizeof(wd), &wdw);
	assert_int_equal(wdw.calls, 1);

	/* over the loan: held, and the loan still shows what was lent */
	change_async(b, &bw, &vw, VS_BIO_WRITE, 8192, wb, sizeof(wb), &ww);
	assert_int_equal(ww.calls, 0);
	change_async(b, &bz, &vz, VS_BIO_UNMAP, 0, NULL, 4096, &wz);
	assert_int_equal(wz.calls, 0);
	/* beside it, but behind held changes: held too (order kept) */
	change_async(b, &bc, &vc, VS_BIO_WRITE, 32 << 10, wc, sizeof(wc), &wcw);
	assert_int_equal(wcw.calls, 0);
	assert_memory_equal(loan.lent, a, 16 << 10);
	assert_int_equal(io(b, VS_BIO_READ, 0, 0, out, sizeof(out)), 0);
	assert_memory_equal(out, a, sizeof(out));      /* not applied yet */

	vs_bdev_lend_end(b, &loan);
	assert_int_equal(ww.calls, 1);
	assert_int_equal(ww.err, 0);
	assert_int_equal(wz.calls, 1);
	assert_int_equal(wcw.calls, 1);
	assert_int_equal(io(b, VS_BIO_READ, 0, 0, out, sizeof(out)), 0);
	assert_true(all_zero(out, 4096));
	assert_memory_equal(out + 4096, a + 4096, 4096);
	assert_memory_equal(out + 8192, wb, sizeof(wb));
	assert_memory_equal(out + (32 << 10), wc, sizeof(wc));
	assert_memory_equal(out + (36 << 10), a + (36 << 10), sizeof(out) - (36 << 10));

	/* a plain loan holds nothing back */
	assert_int_equal(lend_read(b, &loan, &vl, 8192, buf, 4096), 0);
	assert_non_null(loan.lent);
	change_async(b, &bw, &vw, VS_BIO_WRITE, 8192, wd, sizeof(wd), &ww);
	assert_int_equal(ww.calls, 1);
	assert_memory_equal(loan.lent, wd, sizeof(wd));
	vs_bdev_lend_end(b, &loan);

	/* two stable loans over the same bytes: the change waits for both */
	{
		struct vs_bio l2;
		struct iovec v2;
		static uint8_t buf2[4096];

		assert_int_equal(stable_lend_read(b, &loan, &vl, 8192, buf, 4096), 0);
		assert_int_equal(stable_lend_read(b, &l2, &v2, 8192, buf2, 4096), 0);
		change_async(b, &bw, &vw, VS_BIO_WRITE, 8192, wb, sizeof(wb), &ww);
		vs_bdev_lend_end(b, &loan);
		assert_int_equal(ww.calls, 0);
		assert_memory_equal(l2.lent, wd, sizeof(wd));
		vs_bdev_lend_end(b, &l2);
		assert_int_equal(ww.calls, 1);
	}
	vs_bdev_close(b);
}

/* Threads write all over a small disk while this one takes stable loans
 * of random ranges: a loan's bytes never change while it is out
 * (stable_hammer.h). */
static void test_stable_loans_under_concurrent_writes(void **state)
{
	(void)state;
	struct vs_bdev *b = open_ram("256K");
	static uint8_t init[256 << 10];

	fill(init, sizeof(init), 5);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, 0, init, sizeof(init)), 0);
	stable_hammer(b, sizeof(init), 300);
	vs_bdev_close(b);
}

/* What the fabric asks of a stable loan for a data digest
 * (vs_bdev_lent_crc32c) is the CRC of the bytes the loan shows. */
static void expect_lent_crc(struct vs_bdev *b, const struct vs_bio *loan, uint64_t off,
                            uint64_t len)
{
	uint32_t crc = 0;

	assert_int_equal(vs_bdev_lent_crc32c(b, loan, off, len, &crc), 0);
	assert_int_equal(crc, vs_crc32c_sw(0, (const uint8_t *)loan->lent + off, len));
}

/*
 * The RAM disk keeps the CRC32C of each 4 KiB block a stable loan asked
 * for (ram_crc.h), and forgets it when the block changes: a write of part
 * of a block, a write-zeroes of a few bytes.  Ranges that start and end
 * inside blocks, span several, or hold no whole block all come out as the
 * CRC of their bytes.
 */
static void test_lent_crc32c_follows_changes(void **state)
{
	(void)state;
	struct vs_bdev *b = open_ram("16M");
	static uint8_t a[64 << 10], w[512], buf[64 << 10];
	const uint64_t ranges[][2] = { { 0, sizeof(a) }, { 0, 4096 }, { 100, 4096 }, { 4096, 8192 },
	                               { 1, sizeof(a) - 2 }, { 5000, 300 }, { 4095, 4098 } };
	struct vs_bio loan;
	struct iovec v;
	uint32_t crc;

	fill(a, sizeof(a), 7);
	fill(w, sizeof(w), 8);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, 0, a, sizeof(a)), 0);
	for (int round = 0; round < 3; round++) {
		if (round == 1)         /* 512 bytes inside the third block */
			assert_int_equal(io(b, VS_BIO_WRITE, 0, 8192 + 512, w, sizeof(w)), 0);
		if (round == 2)         /* a few bytes of the fifth zeroed by hand */
			assert_int_equal(io(b, VS_BIO_WRITE_ZEROES, 0, 16384 + 1000, NULL, 24), 0);
		/* twice each: taken from the bytes, then from what was kept */
		for (int again = 0; again < 2; again++) {
			assert_int_equal(stable_lend_read(b, &loan, &v, 0, buf, sizeof(a)), 0);
			assert_non_null(loan.lent);
			for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
				expect_lent_crc(b, &loan, ranges[i][0], ranges[i][1]);
			vs_bdev_lend_end(b, &loan);
		}
	}
	/* what is not a stable loan, or not inside it, gets no checksum */
	assert_int_equal(lend_read(b, &loan, &v, 0, buf, 4096), 0);
	assert_non_null(loan.lent);
	assert_int_not_equal(vs_bdev_lent_crc32c(b, &loan, 0, 4096, &crc), 0);
	vs_bdev_lend_end(b, &loan);
	assert_int_equal(stable_lend_read(b, &loan, &v, 0, buf, 8192), 0);
	assert_int_not_equal(vs_bdev_lent_crc32c(b, &loan, 4096, 8192, &crc), 0);
	vs_bdev_lend_end(b, &loan);
	vs_bdev_close(b);
}

/*
 * The VmFlags and AnonHugePages (kB) of the mapping that holds addr, from
 * /proc/self/smaps; false if no mapping holds it.
 */
static bool smaps_of(const void *addr, char *flags, size_t flags_len, unsigned long *huge_kb)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false, found = false;
	uintptr_t a = (uintptr_t)addr;

	assert_non_null(f);
	*huge_kb = 0;
	flags[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		uintptr_t lo, hi;
		unsigned long kb;

		/* a mapping's line starts "lo-hi perms"; its keys' lines with
		 * "Name:" (none of which is hex digits and a dash) */
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2) {
			if (found)
				break;
			in = a >= lo && a < hi;
			found = in;
		} else if (in && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1) {
			*huge_kb = kb;
		} else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			size_t n = strlen(line + 8);

			if (n >= flags_len)
				n = flags_len - 1;      /* the flags we look for come first */
			memcpy(flags, line + 8, n);
			flags[n] = '\0';
		}
	}
	fclose(f);
	return found;
}

/* huge_pages=1 (the default) asks the kernel for transparent huge pages on
 * the disk's memory and gets them when THP is not off; huge_pages=0 asks
 * for none (a kernel with THP "always" would otherwise use them). */
static void test_huge_pages_advice(void **state)
{
	(void)state;
	static uint8_t data[8 << 20], one[4096];
	char thp[128] = "", flags[256];
	unsigned long huge_kb;
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	bool thp_on = false;

	if (f) {
		thp_on = fgets(thp, sizeof(thp), f) && !strstr(thp, "[never]");
		fclose(f);
	}
	for (int huge = 0; huge <= 1; huge++) {
		struct vs_kv kv[] = { { "size", "16M" }, { "huge_pages", huge ? "1" : "0" } };
		struct vs_bdev *b = vs_bdev_open("ram", kv, 2);
		struct vs_bio bio;
		struct iovec v;

		assert_non_null(b);
		fill(data, sizeof(data), 5);
		/* 8 MiB written from 0 covers whole 2 MiB-aligned regions
		 * wherever the mapping starts */
		assert_int_equal(io(b, VS_BIO_WRITE, 0, 0, data, sizeof(data)), 0);
		assert_int_equal(lend_read(b, &bio, &v, 4 << 20, one, sizeof(one)), 0);
		assert_non_null(bio.lent);
		assert_true(smaps_of(bio.lent, flags, sizeof(flags), &huge_kb));
		if (huge) {
			if (!strstr(flags, " hg"))
				fail_msg("huge_pages=1: no MADV_HUGEPAGE on the mapping (VmFlags:%s)", flags);
			if (thp_on && huge_kb == 0)
				fail_msg("huge_pages=1 with THP %s: no huge page after 8 MiB written", thp);
		} else {
			if (!strstr(flags, " nh"))
				fail_msg("huge_pages=0: no MADV_NOHUGEPAGE on the mapping (VmFlags:%s)", flags);
			assert_int_equal(huge_kb, 0);
		}
		assert_memory_equal(bio.lent, data + (4 << 20), sizeof(one));
		vs_bdev_lend_end(b, &bio);
		vs_bdev_close(b);
	}
}

/* A range with a page never written is copied (zeroes and data): lending it
 * would have the reader fault the page in. */
static void test_lend_declined_for_unwritten(void **state)
{
	(void)state;
	struct vs_bdev *b = open_ram("16M");
	static uint8_t data[8192], buf[16384];
	struct vs_bio bio;
	struct iovec v;

	fill(data, sizeof(data), 7);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, 1 << 20, data, sizeof(data)), 0);
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(lend_read(b, &bio, &v, 1 << 20, buf, sizeof(buf)), 0);
	assert_null(bio.lent);
	assert_memory_equal(buf, data, sizeof(data));
	assert_true(all_zero(buf + sizeof(data), sizeof(buf) - sizeof(data)));
	memset(buf, 0xee, 4096);
	assert_int_equal(lend_read(b, &bio, &v, 4 << 20, buf, 4096), 0);
	assert_null(bio.lent);
	assert_true(all_zero(buf, 4096));
	vs_bdev_close(b);
}

/* With a filter over the disk nothing is lent, whatever the filter: the
 * flag never reaches the backend (it is cleared) and the data is copied. */
static void test_lend_not_under_a_filter(void **state)
{
	(void)state;
	struct vs_kv ram_kv[] = {{"size", "16M"}};
	struct vs_kv err_kv[] = {{"enabled", "0"}};
	struct vs_bdev_desc ram = {.kind = VS_LAYER_BACKEND, .name = "ram", .opts = ram_kv,
	                           .nopts = 1};
	struct vs_bdev_desc top = {.kind = VS_LAYER_FILTER, .name = "error", .opts = err_kv,
	                           .nopts = 1, .lower = &ram, .nlower = 1};
	struct vs_bdev_open_args args = {0};
	struct vs_bdev *b = vs_bdev_open_stack(&top, &args);
	static uint8_t data[4096], buf[4096];
	struct vs_bio bio;
	struct iovec v;

	if (!b)
		fail_msg("open: %s", vs_last_error());
	fill(data, sizeof(data), 3);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, 8192, data, sizeof(data)), 0);
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(lend_read(b, &bio, &v, 8192, buf, sizeof(buf)), 0);
	assert_false(bio.flags & VS_BIO_MAY_LEND);
	assert_null(bio.lent);
	assert_memory_equal(buf, data, sizeof(data));
	vs_bdev_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps_and_size),
		cmocka_unit_test(test_unwritten_reads_zero),
		cmocka_unit_test(test_random_pattern),
		cmocka_unit_test(test_multi_iov_trimmed),
		cmocka_unit_test(test_unmap_reads_zero),
		cmocka_unit_test(test_write_zeroes),
		cmocka_unit_test(test_flush_and_bad_requests),
		cmocka_unit_test(test_resize),
		cmocka_unit_test(test_block_status),
		cmocka_unit_test(test_block_status_bitmap),
		cmocka_unit_test(test_concurrent_threads),
		cmocka_unit_test(test_reads_do_not_touch_unwritten_memory),
		cmocka_unit_test(test_memory_admission),
		cmocka_unit_test(test_lend_written_range),
		cmocka_unit_test(test_lend_declined_for_unwritten),
		cmocka_unit_test(test_lend_not_under_a_filter),
		cmocka_unit_test(test_huge_pages_advice),
		cmocka_unit_test(test_stable_loan_holds_overlapping_changes),
		cmocka_unit_test(test_stable_loans_under_concurrent_writes),
		cmocka_unit_test(test_lent_crc32c_follows_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
