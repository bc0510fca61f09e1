/* SPDX-License-Identifier: MIT */
/* Stable loans under concurrent writes (stable_hammer.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "stable_hammer.h"
#include "util/vs_crc32c.h"

#define HAMMER_THREADS 2
#define HAMMER_WRITE   8192
#define HAMMER_MAX     (64u << 10)      /* the longest loan */

struct writer {
	struct vs_bdev *b;
	uint64_t size;
	atomic_bool *stop;
	unsigned seed;
	unsigned long writes;
	int err;
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void on_done_atomic(struct vs_bio *bio, int err)
{
	atomic_store((atomic_int *)bio->ctx, err);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t data[HAMMER_WRITE];
	uint64_t st = w->seed * 0x9E3779B97F4A7C15ULL + 1;

	while (!atomic_load(w->stop)) {
		uint64_t r = xorshift(&st);
		uint64_t off = ((r >> 8) % (w->size - sizeof(data))) & ~511ULL;
		struct iovec v = { data, sizeof(data) };
		atomic_int done = -1;
		struct vs_bio bio = { .op = VS_BIO_WRITE, .offset = off, .length = sizeof(data),
		                      .iov = &v, .iovcnt = 1, .done = on_done_atomic, .ctx = &done };

		memset(data, (int)(r & 0xff), sizeof(data));
		/* a write over a loan completes when the loan ends, on the
		 * thread that ends it */
		if (vs_bdev_submit(w->b, &bio) != 0) {
			w->err = -1;
			return NULL;
		}
		while (atomic_load(&done) < 0)
			sched_yield();
		if (atomic_load(&done) != 0) {
			w->err = atomic_load(&done);
			return NULL;
		}
		w->writes++;
	}
	return NULL;
}

void stable_hammer(struct vs_bdev *b, uint64_t size, unsigned loans)
{
	static uint8_t seen[HAMMER_MAX], buf[HAMMER_MAX];
	struct writer w[HAMMER_THREADS];
	pthread_t t[HAMMER_THREADS];
	atomic_bool stop = false;
	uint64_t st = 42;

	assert_true(size > HAMMER_MAX);
	for (int i = 0; i < HAMMER_THREADS; i++) {
		w[i] = (struct writer){ b, size, &stop, (unsigned)i + 1, 0, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	for (unsigned n = 0; n < loans; n++) {
		uint64_t r = xorshift(&st);
		uint64_t len = 4096 * (1 + r % (HAMMER_MAX / 4096));
		uint64_t off = ((r >> 16) % (size - len)) & ~4095ULL;
		struct iovec v = { buf, len };
		atomic_int done = -1;
		struct vs_bio loan = { .op = VS_BIO_READ, .flags = VS_BIO_MAY_LEND | VS_BIO_LEND_STABLE,
		                       .offset = off, .length = len, .iov = &v, .iovcnt = 1,
		                       .done = on_done_atomic, .ctx = &done };

		assert_int_equal(vs_bdev_submit(b, &loan), 0);
		while (atomic_load(&done) < 0)
			sched_yield();
		assert_int_equal(atomic_load(&done), 0);
		assert_non_null(loan.lent);
		memcpy(seen, loan.lent, len);
		for (int spin = 0; spin < 20; spin++)
			sched_yield();          /* the writers get their turn */
		if (memcmp(seen, loan.lent, len) != 0)
			fail_msg("loan %u [%" PRIu64 ", +%" PRIu64 "): its bytes changed while lent", n,
			         off, len);
		/* a backend that keeps checksums of its blocks (backend.h
		 * lent_crc32c) gives those of the bytes lent, never of what the
		 * writers put there before or after: the whole loan, and a
		 * piece that starts and ends inside blocks */
		for (int piece = 0; piece < 2; piece++) {
			uint64_t po = piece ? 1 + (r >> 40) % 4000 : 0;
			uint64_t pl = piece ? len - po - (r >> 50) % (len - po) / 2 : len;
			uint32_t crc;

			if (vs_bdev_lent_crc32c(b, &loan, po, pl, &crc) == 0 &&
			    crc != vs_crc32c_sw(0, seen + po, pl))
				fail_msg("loan %u [%" PRIu64 ", +%" PRIu64 "): the checksum of bytes %" PRIu64
				         "+%" PRIu64 " is not theirs", n, off, len, po, pl);
		}
		vs_bdev_lend_end(b, &loan);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < HAMMER_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].err, 0);
		assert_true(w[i].writes > 0);
	}
}
