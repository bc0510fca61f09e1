/* SPDX-License-Identifier: MIT */
/* Test helpers for filters that hold requests (filter_load.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter_load.h"
#include "vstor/loop.h"

struct vs_bdev *fl_try_open(struct vs_loop_group *loops, const char *filter,
                            const struct vs_kv *kv, size_t n)
{
	static const struct vs_kv ram_kv[] = { { "size", "16M" } };
	struct vs_bdev_desc ram = { .kind = VS_LAYER_BACKEND, .name = "ram", .opts = ram_kv,
	                            .nopts = 1 };
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = filter, .opts = kv,
	                            .nopts = n, .lower = &ram, .nlower = 1 };
	struct vs_bdev_open_args a = { .max_requests = 256, .loops = loops };

	return vs_bdev_open_stack(&top, &a);
}

void fl_open(struct fl_stack *s, const char *filter, const struct vs_kv *kv, size_t n)
{
	s->loops = ls_group(2);
	s->bdev = fl_try_open(s->loops, filter, kv, n);
	if (!s->bdev)
		fail_msg("%s: %s", filter, vs_last_error());
}

void fl_close(struct fl_stack *s)
{
	vs_bdev_close(s->bdev);
	vs_loop_group_destroy(s->loops);
	s->bdev = NULL;
	s->loops = NULL;
}

int fl_set(struct fl_stack *s, const struct vs_kv *kv, size_t n)
{
	return vs_bdev_set_options(s->bdev, 0, kv, n);
}

static void req_done(struct vs_bio *bio, int err)
{
	struct fl_req *r = bio->ctx;

	atomic_store(&r->done_ns, vs_loop_clock_ns());
	atomic_store(&r->err, err);
	atomic_store(&r->done_on, vs_loop_current());
	if (r->counter)
		ls_counter_add(r->counter, 1);
	/* last: once it shows, the test may reuse or free r */
	atomic_fetch_add(&r->done, 1);
}

void fl_req_init(struct fl_req *r, uint8_t op, uint64_t off, uint32_t len,
                 struct ls_counter *counter)
{
	memset(r, 0, sizeof(*r));
	r->buf = len ? calloc(1, len) : NULL;
	assert_true(!len || r->buf);
	r->iov = (struct iovec){ r->buf, len };
	r->bio = (struct vs_bio){ .op = op, .offset = off, .length = len, .iov = &r->iov,
	                          .iovcnt = len ? 1 : 0, .done = req_done, .ctx = r };
	r->counter = counter;
	atomic_init(&r->err, 1);
}

void fl_req_fini(struct fl_req *r)
{
	free(r->buf);
	r->buf = NULL;
}

void fl_submit(struct fl_stack *s, struct fl_req *r)
{
	int rc;

	atomic_store(&r->done, 0);
	atomic_store(&r->err, 1);
	r->submitted_ns = vs_loop_clock_ns();
	rc = vs_bdev_submit(s->bdev, &r->bio);
	if (rc != 0)
		fail_msg("submit: %d", rc);
}

bool fl_wait_done(struct fl_req *r, unsigned timeout_ms)
{
	uint64_t until = vs_loop_clock_ns() + (uint64_t)timeout_ms * 1000000u;

	while (!atomic_load(&r->done)) {
		if (vs_loop_clock_ns() > until)
			return false;
		ls_sleep_ms(1);
	}
	return true;
}

double fl_latency_ms(const struct fl_req *r)
{
	return (double)(atomic_load(&r->done_ns) - r->submitted_ns) / 1e6;
}

int fl_submit_n(struct fl_stack *s, struct fl_req *r, int n, uint8_t op)
{
	bool data = op == VS_BIO_READ || op == VS_BIO_WRITE;
	int inline_done = 0;

	for (int i = 0; i < n; i++) {
		fl_req_init(&r[i], op, ((uint64_t)op << 20) + (uint64_t)i * 4096,
		            op == VS_BIO_FLUSH ? 0 : 4096, NULL);
		if (!data)
			r[i].bio.iovcnt = 0;
		fl_submit(s, &r[i]);
		inline_done += atomic_load(&r[i].done);
	}
	return inline_done;
}

int fl_done_n(struct fl_req *r, int n)
{
	int d = 0;

	for (int i = 0; i < n; i++)
		d += atomic_load(&r[i].done);
	return d;
}

void fl_fini_n(struct fl_req *r, int n)
{
	for (int i = 0; i < n; i++)
		fl_req_fini(&r[i]);
}

/* A request of the load came back: check it, count it if in the window. */
static uint64_t reap(struct fl_req *r, uint64_t from, uint64_t to)
{
	uint64_t at = atomic_load(&r->done_ns);

	assert_int_equal(atomic_load(&r->err), 0);
	assert_int_equal(atomic_load(&r->done), 1);
	return at >= from && at < to;
}

double fl_rate(struct fl_stack *s, unsigned qd, uint8_t op, uint32_t len, unsigned warm_ms,
               unsigned window_ms)
{
	struct fl_req *r = calloc(qd, sizeof(*r));
	bool *busy = calloc(qd, sizeof(*busy));        /* submitted, not reaped */
	struct ls_counter c;
	uint64_t from, to, counted = 0;

	assert_true(r && busy);
	ls_counter_init(&c);
	for (unsigned i = 0; i < qd; i++)
		fl_req_init(&r[i], op, (uint64_t)i * len % FL_DISK_SIZE, len, &c);
	from = vs_loop_clock_ns() + (uint64_t)warm_ms * 1000000u;
	to = from + (uint64_t)window_ms * 1000000u;
	for (;;) {
		uint64_t now = vs_loop_clock_ns(), seen = ls_counter_get(&c);

		for (unsigned i = 0; i < qd; i++) {
			if (busy[i]) {
				if (!atomic_load(&r[i].done))
					continue;
				counted += reap(&r[i], from, to);
				busy[i] = false;
			}
			if (now < to) {
				fl_submit(s, &r[i]);
				busy[i] = true;
			}
		}
		if (now >= to)
			break;
		ls_counter_wait(&c, seen + 1, 5);
	}
	/* the last ones still in flight */
	for (unsigned i = 0; i < qd; i++) {
		if (!busy[i])
			continue;
		assert_true(fl_wait_done(&r[i], 10000));
		counted += reap(&r[i], from, to);
	}
	for (unsigned i = 0; i < qd; i++)
		fl_req_fini(&r[i]);
	free(r);
	free(busy);
	ls_counter_destroy(&c);
	return (double)counted * 1000.0 / window_ms;
}

void fl_expect_rate(struct fl_stack *s, const char *what, unsigned qd, uint8_t op, uint32_t len,
                    bool bytes, unsigned warm_ms, unsigned window_ms, double want, double pct)
{
	double dev = 0;

	for (int run = 1; run <= 3; run++) {
		double x = fl_rate(s, qd, op, len, warm_ms, window_ms) * (bytes ? len : 1);

		dev = (x - want) / want * 100.0;
		printf("    %s: %.1f (want %.1f +- %.0f %%: %+.2f %%)\n", what, x, want, pct, dev);
		if (dev <= pct && dev >= -pct)
			return;
	}
	fail_msg("%s: %+.2f %% off %.1f in each of 3 runs (tolerance %.0f %%)", what, dev, want, pct);
}

struct fl_worker {
	struct fl_stack *s;
	unsigned index;         /* its own blocks: the data is not the test */
	unsigned count;
	pthread_t thread;
};

static void *worker_main(void *arg)
{
	struct fl_worker *w = arg;
	struct fl_req r[8];

	for (unsigned i = 0; i < 8; i++)
		fl_req_init(&r[i], (i & 1) ? VS_BIO_WRITE : VS_BIO_READ,
		            (uint64_t)(w->index * 8 + i) * 4096 % FL_DISK_SIZE, 4096, NULL);
	for (unsigned n = 0; n < w->count + 8; n++) {
		struct fl_req *x = &r[n % 8];

		if (n >= 8) {
			assert_true(fl_wait_done(x, 10000));
			assert_int_equal(atomic_load(&x->done), 1);
			assert_int_equal(atomic_load(&x->err), 0);
		}
		if (n < w->count)
			fl_submit(w->s, x);
	}
	fl_fini_n(r, 8);
	return NULL;
}

void fl_threads(struct fl_stack *s, unsigned threads, unsigned per_thread)
{
	struct fl_worker *w = calloc(threads, sizeof(*w));

	assert_non_null(w);
	for (unsigned i = 0; i < threads; i++) {
		w[i] = (struct fl_worker){ .s = s, .index = i, .count = per_thread };
		assert_int_equal(pthread_create(&w[i].thread, NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < threads; i++)
		pthread_join(w[i].thread, NULL);
	free(w);
}

void fl_expect_error(const char *prefix)
{
	const char *e = vs_last_error();

	if (strncmp(e, prefix, strlen(prefix)) != 0)
		fail_msg("error \"%s\" does not start with \"%s\"", e, prefix);
}

void fl_check_fails(const char *filter, const struct vs_kv *kv, size_t n, const char *prefix)
{
	assert_int_equal(vs_layer_check(VS_LAYER_FILTER, filter, kv, n), -EINVAL);
	fl_expect_error(prefix);
}
