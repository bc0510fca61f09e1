/* SPDX-License-Identifier: MIT */
/*
 * The mirror filter (src/filters/mirror*.c) over test legs (lib/leg_mem.c)
 * and file legs:
 *  - writes reach every leg, reads are spread over the legs in sync;
 *  - a leg whose write or read fails is degraded, the request succeeds
 *    from the other; the last leg in sync is never degraded (its error is
 *    the request's); what the degraded leg missed is counted in regions,
 *    and when it returns exactly those are copied (bytes copied <= regions
 *    x region size) and the legs end identical;
 *  - a lost leg (LOST event) is not read from; after leg_timeout it is
 *    degraded, reset, and the writes it held complete from the other leg;
 *    the LOST goes up only when no other leg is in sync;
 *  - writes during the copy are never overwritten by it;
 *  - the map file: a degraded leg's regions survive a close, and after a
 *    crash in sync the regions with writes in flight (and only those) are
 *    copied from the first leg;
 *  - a leg replaced while open is copied in full;
 *  - every request completes exactly once; a reset gives back what waits.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "leg_mem.h"
#include "loop_sync.h"
#include "vstor/filter.h"

#define REGION  (64u << 10)
#define LEGSIZE (4u << 20)

static struct vs_loop_group *loops;
static char dir[64];

struct mir {
	struct vs_bdev *b;
	struct vs_bdev_desc legs[3];
	struct vs_kv leg_kv[3][4];
	char id[3][24];
	struct vs_kv kv[8];
	size_t nkv;
	char meta[128];
	/* events that reached the top */
	pthread_mutex_t mu;
	int lost, back, state_lines;
	char last_line[256];
};

static void on_event(void *ctx, const struct vs_bdev_event *ev)
{
	struct mir *x = ctx;

	pthread_mutex_lock(&x->mu);
	if (ev->type == VS_BDEV_EV_LOST)
		x->lost++;
	else if (ev->type == VS_BDEV_EV_BACK)
		x->back++;
	else if (ev->type == VS_BDEV_EV_STATE) {
		x->state_lines++;
		snprintf(x->last_line, sizeof(x->last_line), "%s", ev->why);
	}
	pthread_mutex_unlock(&x->mu);
}

static int events(struct mir *x, const int *counter)
{
	int n;

	pthread_mutex_lock(&x->mu);
	n = *counter;
	pthread_mutex_unlock(&x->mu);
	return n;
}

/* The last log line (an EV_STATE) contains `text`, within a second: the
 * line follows the state change it tells of. */
static bool logged(struct mir *x, const char *text)
{
	bool yes = false;

	for (int i = 0; i < 1000 && !yes; i++) {
		pthread_mutex_lock(&x->mu);
		yes = strstr(x->last_line, text) != NULL;
		pthread_mutex_unlock(&x->mu);
		if (!yes)
			usleep(1000);
	}
	return yes;
}

static void mir_init(struct mir *x, const char *meta_name)
{
	memset(x, 0, sizeof(*x));
	pthread_mutex_init(&x->mu, NULL);
	snprintf(x->meta, sizeof(x->meta), "%s/%s", dir, meta_name);
	x->kv[x->nkv++] = (struct vs_kv){ "meta", x->meta };
	x->kv[x->nkv++] = (struct vs_kv){ "region", "64K" };
	x->kv[x->nkv++] = (struct vs_kv){ "resync_rate", "0" };
}

static void mir_opt(struct mir *x, const char *k, const char *v)
{
	x->kv[x->nkv++] = (struct vs_kv){ k, v };
}

static void leg_legmem(struct mir *x, size_t i, unsigned id)
{
	snprintf(x->id[i], sizeof(x->id[i]), "%u", id);
	x->leg_kv[i][0] = (struct vs_kv){ "id", x->id[i] };
	x->leg_kv[i][1] = (struct vs_kv){ "size", "4M" };
	x->legs[i] = (struct vs_bdev_desc){ .kind = VS_LAYER_BACKEND, .name = "legmem",
	                                    .opts = x->leg_kv[i], .nopts = 2 };
}

static void leg_file(struct mir *x, size_t i, const char *path)
{
	x->leg_kv[i][0] = (struct vs_kv){ "path", path };
	x->leg_kv[i][1] = (struct vs_kv){ "size", "4M" };
	x->leg_kv[i][2] = (struct vs_kv){ "create", "1" };
	x->legs[i] = (struct vs_bdev_desc){ .kind = VS_LAYER_BACKEND, .name = "file",
	                                    .opts = x->leg_kv[i], .nopts = 3 };
}

static int mir_open(struct mir *x, size_t nlegs)
{
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "mirror", .opts = x->kv,
	                            .nopts = x->nkv, .lower = x->legs, .nlower = nlegs };
	struct vs_bdev_open_args a = { .loops = loops };

	x->b = vs_bdev_open_stack(&top, &a);
	if (x->b)
		vs_bdev_set_event_handler(x->b, on_event, x);
	return x->b ? 0 : -1;
}

/* two legmem legs 0 and 1, a new map file */
static void mir_two(struct mir *x, const char *meta)
{
	mir_init(x, meta);
	unlink(x->meta);
	leg_legmem(x, 0, 0);
	leg_legmem(x, 1, 1);
	mir_opt(x, "assume_clean", "1");
	assert_int_equal(mir_open(x, 2), 0);
}

static void mir_close(struct mir *x)
{
	vs_bdev_close(x->b);
	x->b = NULL;
	pthread_mutex_destroy(&x->mu);
}

/* ---- I/O ---- */

struct waiter {
	_Atomic int calls;
	_Atomic int err;
};

static void wait_done(struct vs_bio *bio, int err)
{
	struct waiter *w = bio->ctx;

	atomic_store(&w->err, err);
	atomic_fetch_add(&w->calls, 1);
}

static bool wait_calls(struct waiter *w, int n, int ms)
{
	for (int i = 0; i < ms && atomic_load(&w->calls) < n; i++)
		usleep(1000);
	return atomic_load(&w->calls) >= n;
}

static int io(struct vs_bdev *b, uint8_t op, uint64_t off, void *buf, uint64_t len)
{
	struct iovec iov = { buf, (size_t)len };
	struct waiter w = { 0 };
	struct vs_bio bio = { .op = op, .offset = off, .length = len, .iov = buf ? &iov : NULL,
	                      .iovcnt = buf ? 1 : 0, .done = wait_done, .ctx = &w };
	int rc = vs_bdev_submit(b, &bio);

	if (rc < 0)
		return rc;
	assert_true(wait_calls(&w, 1, 10000));
	usleep(1000);
	assert_int_equal(atomic_load(&w.calls), 1);         /* once */
	return atomic_load(&w.err);
}

static int write_pattern(struct vs_bdev *b, uint64_t off, uint64_t len, uint8_t v)
{
	uint8_t *buf = malloc(len);
	int rc;

	memset(buf, v, len);
	rc = io(b, VS_BIO_WRITE, off, buf, len);
	free(buf);
	return rc;
}

/* ---- the mirror's state ---- */

struct kvs {
	char text[2048];
};

static void collect(void *ctx, const char *key, const char *value)
{
	struct kvs *k = ctx;
	size_t n = strlen(k->text);

	snprintf(k->text + n, sizeof(k->text) - n, "%s=%s\n", key, value);
}

/* The value of `key` in the mirror's state, in buf. */
static const char *state(struct vs_bdev *b, const char *key, char *buf, size_t len)
{
	struct kvs k = { "" };
	char want[64];
	const char *p, *e;

	vs_bdev_layer_state(b, 0, collect, &k);
	snprintf(want, sizeof(want), "%s=", key);
	for (p = k.text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, want, strlen(want)) == 0) {
			p += strlen(want);
			e = strchr(p, '\n');
			snprintf(buf, len, "%.*s", (int)(e - p), p);
			return buf;
		}
	}
	buf[0] = 0;
	return buf;
}

static uint64_t state_u64(struct vs_bdev *b, const char *key)
{
	char buf[64];

	return strtoull(state(b, key, buf, sizeof(buf)), NULL, 10);
}

static bool wait_state(struct vs_bdev *b, const char *want, int ms)
{
	char buf[128];

	for (int i = 0; i < ms; i += 5) {
		if (strcmp(state(b, "state", buf, sizeof(buf)), want) == 0)
			return true;
		usleep(5000);
	}
	fail_msg("state '%s', want '%s'", state(b, "state", buf, sizeof(buf)), want);
	return false;
}

static void expect_prefix(struct vs_bdev *b, const char *key, const char *prefix)
{
	char buf[256];

	state(b, key, buf, sizeof(buf));
	if (strncmp(buf, prefix, strlen(prefix)) != 0)
		fail_msg("%s = '%s', want it to start with '%s'", key, buf, prefix);
}

static void legs_identical(void)
{
	assert_memory_equal(leg_mem(0)->data, leg_mem(1)->data, LEGSIZE);
}

/* ---------------------------------------------------------------- tests */

static void test_writes_everywhere_reads_spread(void **state_)
{
	struct mir x;
	uint8_t buf[4096];

	(void)state_;
	mir_two(&x, "spread.meta");
	assert_int_equal(vs_bdev_get_size(x.b), LEGSIZE);
	assert_string_equal(vs_bdev_name(x.b), "mirror(legmem,legmem)");
	expect_prefix(x.b, "state", "in sync");
	assert_int_equal(write_pattern(x.b, 0, 2 * REGION, 0xab), 0);
	legs_identical();
	assert_int_equal(leg_mem(0)->data[REGION + 5], 0xab);
	leg_mem_clear(leg_mem(0));
	leg_mem_clear(leg_mem(1));
	/* region 0 from one leg, region 1 from the other */
	assert_int_equal(io(x.b, VS_BIO_READ, 0, buf, sizeof(buf)), 0);
	assert_int_equal(io(x.b, VS_BIO_READ, REGION, buf, sizeof(buf)), 0);
	assert_int_equal(leg_mem_count(leg_mem(0), VS_BIO_READ), 1);
	assert_int_equal(leg_mem_count(leg_mem(1), VS_BIO_READ), 1);
	assert_int_equal(buf[0], 0xab);
	/* FLUSH and FUA reach both legs */
	assert_int_equal(io(x.b, VS_BIO_FLUSH, 0, NULL, 0), 0);
	assert_int_equal(leg_mem_count(leg_mem(0), VS_BIO_FLUSH), 1);
	assert_int_equal(leg_mem_count(leg_mem(1), VS_BIO_FLUSH), 1);
	mir_close(&x);
}

/* A leg whose writes fail: the write succeeds from the other, the leg is
 * degraded and behind where it missed writes; back, only those regions
 * are copied, and the legs end identical. */
static void test_failed_leg_and_resync(void **state_)
{
	struct mir x;
	uint8_t buf[4096];

	(void)state_;
	mir_two(&x, "fail.meta");
	assert_int_equal(write_pattern(x.b, 0, LEGSIZE, 0x11), 0);
	leg_mem_fail(leg_mem(1), VS_BIO_WRITE, -EIO);
	assert_int_equal(write_pattern(x.b, 3 * REGION, 4096, 0x22), 0);
	expect_prefix(x.b, "state", "degraded");
	expect_prefix(x.b, "leg1", "degraded since");
	assert_true(logged(&x, "leg 1 degraded"));
	/* later writes skip it: regions 3, 7, 8 and 20 are behind */
	leg_mem_clear(leg_mem(1));
	assert_int_equal(write_pattern(x.b, 7 * REGION + 512, REGION, 0x33), 0);
	assert_int_equal(write_pattern(x.b, 20 * REGION, 512, 0x44), 0);
	assert_int_equal(leg_mem_count(leg_mem(1), VS_BIO_WRITE), 0);
	expect_prefix(x.b, "leg1", "degraded since");
	assert_non_null(strstr(state(x.b, "leg1", (char[256]){ 0 }, 256), "4 regions behind"));
	/* reads only from the leg in sync */
	for (int r = 0; r < 8; r++)
		assert_int_equal(io(x.b, VS_BIO_READ, (uint64_t)r * REGION, buf, 512), 0);
	assert_int_equal(leg_mem_count(leg_mem(1), VS_BIO_READ), 0);

	leg_mem_fail(leg_mem(1), 0, 0);
	leg_mem_event(leg_mem(1), VS_BDEV_EV_BACK, 0);
	assert_true(wait_state(x.b, "in sync", 5000));
	assert_int_equal(state_u64(x.b, "resync_regions"), 4);
	assert_true(state_u64(x.b, "resync_copied") <= 4 * REGION);
	legs_identical();
	assert_true(logged(&x, "leg 1 is in sync again"));
	/* nothing went up: the LUN never saw the leg come and go */
	assert_int_equal(events(&x, &x.lost), 0);
	assert_int_equal(events(&x, &x.back), 0);
	mir_close(&x);
}

/* While a leg is being copied, a region it is still behind on is never
 * read from it. */
static void test_no_read_from_a_leg_behind(void **state_)
{
	struct mir x;
	uint8_t buf[512];

	(void)state_;
	mir_init(&x, "behind.meta");
	unlink(x.meta);
	leg_legmem(&x, 0, 0);
	leg_legmem(&x, 1, 1);
	mir_opt(&x, "assume_clean", "1");
	x.kv[2].value = "1000";                 /* resync_rate: a region, then a long wait */
	assert_int_equal(mir_open(&x, 2), 0);
	leg_mem_fail(leg_mem(1), VS_BIO_WRITE, -EIO);
	for (int r = 0; r < 8; r++)
		assert_int_equal(write_pattern(x.b, (uint64_t)r * REGION, REGION, 0xc0), 0);
	leg_mem_fail(leg_mem(1), 0, 0);
	leg_mem_clear(leg_mem(1));
	leg_mem_event(leg_mem(1), VS_BDEV_EV_BACK, 0);
	usleep(50000);
	expect_prefix(x.b, "state", "resyncing");
	assert_true(state_u64(x.b, "resync_regions") <= 1);
	for (int k = 0; k < 64; k++) {
		assert_int_equal(io(x.b, VS_BIO_READ, (uint64_t)(k % 8) * REGION, buf, 512), 0);
		assert_int_equal(buf[0], 0xc0);
	}
	assert_int_equal(leg_mem_count(leg_mem(1), VS_BIO_READ), 0);
	mir_close(&x);
}

/* The last leg in sync is never degraded: its error is the request's. */
static void test_last_leg_in_sync_keeps_its_error(void **state_)
{
	struct mir x;
	uint8_t buf[512];

	(void)state_;
	mir_two(&x, "last.meta");
	leg_mem_fail(leg_mem(1), VS_BIO_WRITE, -EIO);
	assert_int_equal(write_pattern(x.b, 0, 512, 1), 0);
	leg_mem_fail(leg_mem(0), VS_BIO_WRITE, -EIO);
	assert_int_equal(write_pattern(x.b, 0, 512, 2), -EIO);
	expect_prefix(x.b, "leg0", "in sync");
	leg_mem_fail(leg_mem(0), VS_BIO_READ, -EIO);
	assert_int_equal(io(x.b, VS_BIO_READ, 0, buf, 512), -EIO);
	leg_mem_fail(leg_mem(0), 0, 0);
	leg_mem_fail(leg_mem(1), 0, 0);
	mir_close(&x);
}

/* A read that fails on one leg is served by the other; that leg is
 * degraded and behind there. */
static void test_read_error_tries_the_other_leg(void **state_)
{
	struct mir x;
	uint8_t buf[512];

	(void)state_;
	mir_two(&x, "read.meta");
	assert_int_equal(write_pattern(x.b, 0, 2 * REGION, 0x5a), 0);
	/* region 1 is read from leg 1: make that fail */
	leg_mem_fail(leg_mem(1), VS_BIO_READ, -EIO);
	assert_int_equal(io(x.b, VS_BIO_READ, REGION, buf, 512), 0);
	assert_int_equal(buf[0], 0x5a);
	expect_prefix(x.b, "leg1", "degraded since");
	assert_non_null(strstr(state(x.b, "leg1", (char[256]){ 0 }, 256), "1 regions behind"));
	leg_mem_fail(leg_mem(1), 0, 0);
	mir_close(&x);
}

/* A lost leg: not read from; its held writes come back when it is given
 * up on after leg_timeout, and complete from the other leg; the LUN never
 * hears of it.  When it is the only leg in sync, LOST and BACK go up. */
static void test_lost_leg(void **state_)
{
	struct mir x;
	struct waiter w = { 0 };
	uint8_t data[4096], buf[512];
	struct iovec iov = { data, sizeof(data) };
	struct vs_bio bio = { .op = VS_BIO_WRITE, .offset = 5 * REGION, .length = sizeof(data),
	                      .iov = &iov, .iovcnt = 1, .done = wait_done, .ctx = &w };

	(void)state_;
	mir_init(&x, "lost.meta");
	unlink(x.meta);
	leg_legmem(&x, 0, 0);
	leg_legmem(&x, 1, 1);
	mir_opt(&x, "assume_clean", "1");
	mir_opt(&x, "leg_timeout", "300ms");
	assert_int_equal(mir_open(&x, 2), 0);
	memset(data, 0x66, sizeof(data));

	leg_mem_hold(leg_mem(1), true);
	leg_mem_event(leg_mem(1), VS_BDEV_EV_LOST, 0);
	expect_prefix(x.b, "leg1", "in sync, resource lost");
	assert_int_equal(vs_bdev_submit(x.b, &bio), 0);
	/* (after the map update for region 5) */
	for (int i = 0; i < 1000 && leg_mem_held(leg_mem(1)) < 1; i++)
		usleep(1000);
	assert_int_equal(leg_mem_held(leg_mem(1)), 1);
	/* reads avoid it at once (region 1 would be its) */
	assert_int_equal(io(x.b, VS_BIO_READ, REGION, buf, sizeof(buf)), 0);
	assert_int_equal(leg_mem_held(leg_mem(1)), 1);
	/* given up on after leg_timeout: reset, the write completes */
	assert_true(wait_calls(&w, 1, 5000));
	assert_int_equal(atomic_load(&w.err), 0);
	assert_int_equal(leg_mem_held(leg_mem(1)), 0);
	assert_true(leg_mem_resets(leg_mem(1)) >= 1);
	expect_prefix(x.b, "leg1", "degraded since");
	assert_int_equal(events(&x, &x.lost), 0);

	/* leg 1 degraded, leg 0 lost: nowhere else to go, the LOST goes up */
	leg_mem_hold(leg_mem(1), false);
	leg_mem_event(leg_mem(0), VS_BDEV_EV_LOST, 2000);
	assert_int_equal(events(&x, &x.lost), 1);
	leg_mem_event(leg_mem(0), VS_BDEV_EV_BACK, 0);
	assert_int_equal(events(&x, &x.back), 1);
	/* leg 1 comes back: copied, in sync */
	leg_mem_event(leg_mem(1), VS_BDEV_EV_BACK, 0);
	assert_true(wait_state(x.b, "in sync", 5000));
	assert_int_equal(events(&x, &x.back), 1);
	legs_identical();
	mir_close(&x);
}

/* A leg that stops answering (no event: a wedged device) is degraded by
 * the watchdog after leg_timeout and reset; the write it held completes
 * from the other leg. */
static void test_silent_leg(void **state_)
{
	struct mir x;
	struct waiter w = { 0 };
	uint8_t data[4096] = { 0 };
	struct iovec iov = { data, sizeof(data) };
	struct vs_bio bio = { .op = VS_BIO_WRITE, .offset = 0, .length = sizeof(data),
	                      .iov = &iov, .iovcnt = 1, .done = wait_done, .ctx = &w };

	(void)state_;
	mir_init(&x, "silent.meta");
	unlink(x.meta);
	leg_legmem(&x, 0, 0);
	leg_legmem(&x, 1, 1);
	mir_opt(&x, "assume_clean", "1");
	mir_opt(&x, "leg_timeout", "300ms");
	assert_int_equal(mir_open(&x, 2), 0);
	assert_int_equal(write_pattern(x.b, 0, 512, 1), 0);     /* region 0's bit durable */
	leg_mem_hold(leg_mem(1), true);
	assert_int_equal(vs_bdev_submit(x.b, &bio), 0);
	usleep(100000);
	assert_int_equal(atomic_load(&w.calls), 0);             /* waiting for leg 1 */
	assert_true(wait_calls(&w, 1, 5000));
	assert_int_equal(atomic_load(&w.err), 0);
	expect_prefix(x.b, "leg1", "degraded since");
	assert_non_null(strstr(state(x.b, "leg1", (char[256]){ 0 }, 256), "(it stopped answering)"));
	assert_true(leg_mem_resets(leg_mem(1)) >= 1);
	assert_int_equal(events(&x, &x.lost), 0);
	leg_mem_hold(leg_mem(1), false);
	mir_close(&x);
}

/* A leg's first request, still out when the mirror's timer first looks,
 * is not taken for silence: leg_timeout counts from the open. */
static void test_no_timeout_before_leg_timeout(void **state_)
{
	struct mir x;
	struct waiter w = { 0 };
	uint8_t data[512] = { 0 };
	struct iovec iov = { data, sizeof(data) };
	struct vs_bio bio = { .op = VS_BIO_READ, .offset = 0, .length = sizeof(data),
	                      .iov = &iov, .iovcnt = 1, .done = wait_done, .ctx = &w };

	(void)state_;
	mir_init(&x, "first.meta");
	unlink(x.meta);
	leg_legmem(&x, 0, 0);
	leg_legmem(&x, 1, 1);
	mir_opt(&x, "assume_clean", "1");
	assert_int_equal(mir_open(&x, 2), 0);
	leg_mem_hold(leg_mem(0), true);
	leg_mem_hold(leg_mem(1), true);
	assert_int_equal(vs_bdev_submit(x.b, &bio), 0);         /* region 0: leg 0 */
	usleep(3 * 100000);                                     /* three ticks */
	expect_prefix(x.b, "leg0", "in sync");
	assert_int_equal(atomic_load(&w.calls), 0);
	leg_mem_hold(leg_mem(0), false);
	leg_mem_hold(leg_mem(1), false);
	leg_mem_release(leg_mem(0), 0);
	assert_true(wait_calls(&w, 1, 2000));
	assert_int_equal(atomic_load(&w.err), 0);
	mir_close(&x);
}

/* Writes keep coming while a leg is copied: none is lost to the copy. */
struct load {
	struct vs_bdev *b;
	uint8_t *model;
	_Atomic bool stop;
	int writes;
};

static void *writer(void *arg)
{
	struct load *l = arg;
	uint64_t seed = 99;
	uint8_t *buf = malloc(8192);

	while (!atomic_load(&l->stop) && l->writes < 3000) {
		uint64_t off, len = 8192;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		off = (seed >> 20) % (LEGSIZE / 512 - 16) * 512;
		memset(buf, (int)(seed >> 56), len);
		assert_int_equal(io(l->b, VS_BIO_WRITE, off, buf, len), 0);
		memcpy(l->model + off, buf, len);
		l->writes++;
	}
	free(buf);
	return NULL;
}

static void test_writes_during_resync(void **state_)
{
	struct mir x;
	struct load l = { 0 };
	pthread_t t;

	(void)state_;
	mir_init(&x, "busy.meta");
	unlink(x.meta);
	leg_legmem(&x, 0, 0);
	leg_legmem(&x, 1, 1);
	mir_opt(&x, "assume_clean", "1");
	x.kv[2].value = "20M";                  /* resync_rate */
	assert_int_equal(mir_open(&x, 2), 0);
	l.b = x.b;
	l.model = calloc(1, LEGSIZE);
	/* leg 1 misses half the disk */
	leg_mem_fail(leg_mem(1), VS_BIO_WRITE, -EIO);
	assert_int_equal(write_pattern(x.b, 0, LEGSIZE / 2, 0x77), 0);
	memset(l.model, 0x77, LEGSIZE / 2);
	leg_mem_fail(leg_mem(1), 0, 0);
	/* copied at 20 MB/s (about 100 ms) while 8K writes keep coming */
	assert_int_equal(pthread_create(&t, NULL, writer, &l), 0);
	usleep(20000);
	leg_mem_event(leg_mem(1), VS_BDEV_EV_BACK, 0);
	assert_true(wait_state(x.b, "in sync", 10000));
	atomic_store(&l.stop, true);
	pthread_join(t, NULL);
	assert_true(l.writes > 10);
	legs_identical();
	assert_memory_equal(leg_mem(0)->data, l.model, LEGSIZE);
	free(l.model);
	mir_close(&x);
}

/* The copy of a region waits for the writes already in it: a write that
 * reached the leg being copied but not yet the source is never undone by
 * a copy of the source's older data. */
static void test_copy_waits_for_writes_in_its_region(void **state_)
{
	struct mir x;
	struct waiter w = { 0 };
	uint8_t data[4096];
	struct iovec iov = { data, sizeof(data) };
	struct vs_bio bio = { .op = VS_BIO_WRITE, .offset = 6 * REGION, .length = sizeof(data),
	                      .iov = &iov, .iovcnt = 1, .done = wait_done, .ctx = &w };
	struct vs_kv fast = { "resync_rate", "0" };

	(void)state_;
	mir_init(&x, "order.meta");
	unlink(x.meta);
	leg_legmem(&x, 0, 0);
	leg_legmem(&x, 1, 1);
	mir_opt(&x, "assume_clean", "1");
	x.kv[2].value = "1000";         /* resync_rate: region 2 now, region 6 much later */
	assert_int_equal(mir_open(&x, 2), 0);
	leg_mem_fail(leg_mem(1), VS_BIO_WRITE, -EIO);
	assert_int_equal(write_pattern(x.b, 2 * REGION, 512, 0x01), 0);
	assert_int_equal(write_pattern(x.b, 6 * REGION, 512, 0x01), 0);
	leg_mem_fail(leg_mem(1), 0, 0);
	leg_mem_event(leg_mem(1), VS_BDEV_EV_BACK, 0);
	for (int i = 0; i < 1000 && state_u64(x.b, "resync_regions") < 1; i++)
		usleep(1000);
	/* a write to region 6: done on leg 1, held on leg 0 */
	leg_mem_hold_op(leg_mem(0), VS_BIO_WRITE);
	leg_mem_hold(leg_mem(0), true);
	memset(data, 0x02, sizeof(data));
	assert_int_equal(vs_bdev_submit(x.b, &bio), 0);
	for (int i = 0; i < 1000 && leg_mem_held(leg_mem(0)) < 1; i++)
		usleep(1000);
	assert_int_equal(leg_mem_held(leg_mem(0)), 1);
	assert_int_equal(leg_mem(1)->data[6 * REGION], 0x02);
	/* the copy may go now: it must wait for that write */
	assert_int_equal(vs_bdev_set_options(x.b, 0, &fast, 1), 0);
	usleep(50000);
	leg_mem_hold(leg_mem(0), false);
	leg_mem_release(leg_mem(0), 0);
	assert_true(wait_calls(&w, 1, 2000));
	assert_true(wait_state(x.b, "in sync", 5000));
	assert_int_equal(leg_mem(1)->data[6 * REGION], 0x02);
	legs_identical();
	mir_close(&x);
}

/* The map survives a close: a degraded leg's regions are still behind
 * when the mirror opens again (file legs), and are copied then. */
static void test_map_survives_close(void **state_)
{
	char a[96], b[96];
	struct mir x;
	uint8_t *da = malloc(LEGSIZE), *db = malloc(LEGSIZE);
	struct vs_bdev_desc errf;
	struct vs_kv err_kv[] = { { "ops", "write" } };
	int fd;

	(void)state_;
	snprintf(a, sizeof(a), "%s/keep-a.img", dir);
	snprintf(b, sizeof(b), "%s/keep-b.img", dir);
	unlink(a);
	unlink(b);
	mir_init(&x, "keep.meta");
	unlink(x.meta);
	leg_file(&x, 0, a);
	leg_file(&x, 1, b);
	/* leg 1 under an error filter that fails its writes */
	errf = (struct vs_bdev_desc){ .kind = VS_LAYER_FILTER, .name = "error", .opts = err_kv,
	                              .nopts = 1, .lower = &x.legs[2], .nlower = 1 };
	x.legs[2] = x.legs[1];
	x.legs[1] = errf;
	mir_opt(&x, "assume_clean", "1");
	assert_int_equal(mir_open(&x, 2), 0);
	assert_int_equal(write_pattern(x.b, 2 * REGION, 3 * REGION, 0x99), 0);
	assert_int_equal(write_pattern(x.b, 40 * REGION, 512, 0x98), 0);
	expect_prefix(x.b, "leg1", "degraded since");
	mir_close(&x);

	/* again, without the error filter: the 4 regions are copied */
	mir_init(&x, "keep.meta");
	leg_file(&x, 0, a);
	leg_file(&x, 1, b);
	assert_int_equal(mir_open(&x, 2), 0);
	assert_true(wait_state(x.b, "in sync", 5000));
	assert_int_equal(state_u64(x.b, "resync_regions"), 4);
	mir_close(&x);
	fd = open(a, O_RDONLY);
	assert_int_equal(pread(fd, da, LEGSIZE, 0), LEGSIZE);
	close(fd);
	fd = open(b, O_RDONLY);
	assert_int_equal(pread(fd, db, LEGSIZE, 0), LEGSIZE);
	close(fd);
	assert_memory_equal(da, db, LEGSIZE);
	assert_int_equal(db[2 * REGION], 0x99);
	free(da);
	free(db);
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

static void poke(const char *path, uint64_t off, uint8_t v, size_t len)
{
	uint8_t buf[4096];
	int fd = open(path, O_WRONLY);

	memset(buf, v, len);
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* A crash while in sync: the map file as it was with writes in flight
 * (their regions' bits durable) brings exactly those regions back from
 * the first leg at the next open; other regions are not touched. */
static void test_crash_in_sync_copies_inflight_regions(void **state_)
{
	char a[96], b[96], snap[128];
	struct mir x;
	uint8_t va, vb;
	int fd;

	(void)state_;
	snprintf(a, sizeof(a), "%s/crash-a.img", dir);
	snprintf(b, sizeof(b), "%s/crash-b.img", dir);
	unlink(a);
	unlink(b);
	mir_init(&x, "crash.meta");
	unlink(x.meta);
	leg_file(&x, 0, a);
	leg_file(&x, 1, b);
	mir_opt(&x, "assume_clean", "1");
	assert_int_equal(mir_open(&x, 2), 0);
	assert_int_equal(write_pattern(x.b, 3 * REGION, 4096, 0x31), 0);
	assert_int_equal(write_pattern(x.b, 5 * REGION, 4096, 0x51), 0);
	/* the map now says regions 3 and 5 have writes in flight (cleared
	 * only after a second idle): what a crash would leave */
	snprintf(snap, sizeof(snap), "%s/crash.snap", dir);
	copy_file(x.meta, snap);
	mir_close(&x);
	/* the crash: leg 1 never got the write to region 5, and (not in
	 * flight) region 9 differs too */
	poke(b, 5 * REGION, 0x00, 4096);
	poke(b, 9 * REGION, 0xee, 512);
	copy_file(snap, x.meta);

	mir_init(&x, "crash.meta");
	leg_file(&x, 0, a);
	leg_file(&x, 1, b);
	assert_int_equal(mir_open(&x, 2), 0);
	assert_true(wait_state(x.b, "in sync", 5000));
	assert_int_equal(state_u64(x.b, "resync_regions"), 2);
	assert_int_equal(state_u64(x.b, "resync_copied"), 2 * REGION);
	mir_close(&x);
	fd = open(b, O_RDONLY);
	assert_int_equal(pread(fd, &vb, 1, 5 * REGION), 1);
	assert_int_equal(vb, 0x51);             /* copied from leg 0 */
	assert_int_equal(pread(fd, &vb, 1, 9 * REGION), 1);
	assert_int_equal(vb, 0xee);             /* not in flight: not copied */
	close(fd);
	fd = open(a, O_RDONLY);
	assert_int_equal(pread(fd, &va, 1, 9 * REGION), 1);
	assert_int_equal(va, 0);
	close(fd);
}

/* A map of another mirror is refused naming the field; a clean close
 * leaves nothing to copy. */
static void test_map_shape_and_clean_close(void **state_)
{
	struct mir x;

	(void)state_;
	mir_two(&x, "shape.meta");
	assert_int_equal(write_pattern(x.b, 0, 512, 1), 0);
	mir_close(&x);
	mir_init(&x, "shape.meta");
	leg_legmem(&x, 0, 0);
	leg_legmem(&x, 1, 1);
	assert_int_equal(mir_open(&x, 2), 0);
	expect_prefix(x.b, "state", "in sync");
	assert_int_equal(state_u64(x.b, "resync_regions"), 0);
	mir_close(&x);
	mir_init(&x, "shape.meta");
	x.kv[1].value = "128K";
	leg_legmem(&x, 0, 0);
	leg_legmem(&x, 1, 1);
	assert_int_equal(mir_open(&x, 2), -1);
	assert_non_null(strstr(vs_last_error(), "meta: '"));
	assert_non_null(strstr(vs_last_error(), "is the map of another mirror"));
	pthread_mutex_destroy(&x.mu);
	/* without event loops, read-only, bad region */
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "mirror", .opts = x.kv,
	                            .nopts = 1, .lower = x.legs, .nlower = 2 };
	assert_null(vs_bdev_open_stack(&top, NULL));
	assert_non_null(strstr(vs_last_error(), "needs the daemon's event loops"));
	struct vs_kv bad[] = { { "meta", x.meta }, { "region", "12K" } };
	top.opts = bad;
	top.nopts = 2;
	struct vs_bdev_open_args args = { .loops = loops };
	assert_null(vs_bdev_open_stack(&top, &args));
	assert_string_equal(vs_last_error(), "region: 12288 is not a power of two from 4K");
}

/* A new map without assume_clean: leg 0 is copied to leg 1 in full. */
static void test_new_map_copies_leg0(void **state_)
{
	char a[96], b[96];
	uint8_t *da = malloc(LEGSIZE), *db = malloc(LEGSIZE);
	struct mir x;
	int fd;

	(void)state_;
	snprintf(a, sizeof(a), "%s/new-a.img", dir);
	snprintf(b, sizeof(b), "%s/new-b.img", dir);
	unlink(b);
	memset(da, 0x42, LEGSIZE);              /* an existing disk */
	fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(write(fd, da, LEGSIZE), LEGSIZE);
	close(fd);
	mir_init(&x, "new.meta");
	unlink(x.meta);
	leg_file(&x, 0, a);
	leg_file(&x, 1, b);
	assert_int_equal(mir_open(&x, 2), 0);
	assert_true(wait_state(x.b, "in sync", 5000));
	assert_int_equal(state_u64(x.b, "resync_copied"), LEGSIZE);
	mir_close(&x);
	fd = open(b, O_RDONLY);
	assert_int_equal(pread(fd, db, LEGSIZE, 0), LEGSIZE);
	close(fd);
	assert_memory_equal(da, db, LEGSIZE);
	free(da);
	free(db);
}

/* A leg replaced while open is copied in full; the only leg in sync
 * cannot be replaced. */
static void test_replace_leg(void **state_)
{
	struct mir x;
	struct vs_kv kv[] = { { "id", "2" }, { "size", "8M" } }, small[] = { { "id", "3" },
	                                                                     { "size", "1M" } };
	struct vs_kv kv3[] = { { "id", "3" }, { "size", "4M" } };
	struct vs_bdev_desc other = { .kind = VS_LAYER_BACKEND, .name = "legmem", .opts = kv3,
	                              .nopts = 2 };
	struct vs_bdev_desc fresh = { .kind = VS_LAYER_BACKEND, .name = "legmem", .opts = kv,
	                              .nopts = 2 };
	struct vs_bdev_desc tiny = { .kind = VS_LAYER_BACKEND, .name = "legmem", .opts = small,
	                             .nopts = 2 };

	(void)state_;
	mir_two(&x, "replace.meta");
	assert_int_equal(write_pattern(x.b, 0, LEGSIZE, 0x12), 0);
	assert_int_equal(vs_bdev_replace_lower(x.b, 0, 1, &tiny, NULL), -EINVAL);
	assert_non_null(strstr(vs_last_error(), "leg: the new leg has 1048576 bytes"));
	assert_int_equal(vs_bdev_replace_lower(x.b, 0, 1, &fresh, NULL), 0);
	assert_string_equal(vs_bdev_name(x.b), "mirror(legmem,legmem)");
	assert_null(leg_mem(1));                /* the old one is closed */
	assert_true(wait_state(x.b, "in sync", 5000));
	assert_int_equal(state_u64(x.b, "resync_copied"), LEGSIZE);
	assert_memory_equal(leg_mem(0)->data, leg_mem(2)->data, LEGSIZE);
	/* leg 1 (now id 2) fails; leg 0 is the only one in sync */
	leg_mem_fail(leg_mem(2), VS_BIO_WRITE, -EIO);
	assert_int_equal(write_pattern(x.b, 0, 512, 1), 0);
	assert_int_equal(vs_bdev_replace_lower(x.b, 0, 0, &other, NULL), -EBUSY);
	assert_non_null(strstr(vs_last_error(), "only one in sync"));
	mir_close(&x);
}

/* Children held on both legs: the write completes once, when both are
 * back.  A write waiting for its region's map update is given back by a
 * reset. */
static void test_exactly_once_and_reset(void **state_)
{
	struct mir x;
	struct waiter w = { 0 };
	uint8_t data[512] = { 0 };
	struct iovec iov = { data, sizeof(data) };
	struct vs_bio bio = { .op = VS_BIO_WRITE, .offset = 0, .length = 512, .iov = &iov,
	                      .iovcnt = 1, .done = wait_done, .ctx = &w };

	(void)state_;
	mir_two(&x, "once.meta");
	assert_int_equal(write_pattern(x.b, 0, 512, 1), 0);     /* region 0's bit durable */
	leg_mem_hold(leg_mem(0), true);
	leg_mem_hold(leg_mem(1), true);
	assert_int_equal(vs_bdev_submit(x.b, &bio), 0);
	assert_int_equal(leg_mem_held(leg_mem(0)), 1);
	assert_int_equal(leg_mem_held(leg_mem(1)), 1);
	leg_mem_release(leg_mem(1), 0);
	usleep(20000);
	assert_int_equal(atomic_load(&w.calls), 0);
	leg_mem_release(leg_mem(0), 0);
	assert_true(wait_calls(&w, 1, 2000));
	usleep(20000);
	assert_int_equal(atomic_load(&w.calls), 1);
	assert_ptr_equal(bio.ctx, &w);
	/* a reset: held children come back cancelled, the write once */
	w.calls = 0;
	assert_int_equal(vs_bdev_submit(x.b, &bio), 0);
	vs_bdev_reset(x.b);
	assert_true(wait_calls(&w, 1, 2000));
	usleep(20000);
	assert_int_equal(atomic_load(&w.calls), 1);
	assert_int_equal(atomic_load(&w.err), -ECANCELED);
	leg_mem_hold(leg_mem(0), false);
	leg_mem_hold(leg_mem(1), false);
	leg_mem_release(leg_mem(0), 0);         /* the copy's, if it came meanwhile */
	leg_mem_release(leg_mem(1), 0);
	/* both legs were told "maybe": they are copied level again */
	assert_true(wait_state(x.b, "in sync", 5000));
	mir_close(&x);
}

static int setup(void **state)
{
	(void)state;
	leg_mem_register();
	loops = ls_group(2);
	snprintf(dir, sizeof(dir), "/tmp/vstor-mirror-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	vs_loop_group_destroy(loops);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_everywhere_reads_spread),
		cmocka_unit_test(test_failed_leg_and_resync),
		cmocka_unit_test(test_no_read_from_a_leg_behind),
		cmocka_unit_test(test_last_leg_in_sync_keeps_its_error),
		cmocka_unit_test(test_read_error_tries_the_other_leg),
		cmocka_unit_test(test_lost_leg),
		cmocka_unit_test(test_silent_leg),
		cmocka_unit_test(test_no_timeout_before_leg_timeout),
		cmocka_unit_test(test_writes_during_resync),
		cmocka_unit_test(test_copy_waits_for_writes_in_its_region),
		cmocka_unit_test(test_map_survives_close),
		cmocka_unit_test(test_crash_in_sync_copies_inflight_regions),
		cmocka_unit_test(test_map_shape_and_clean_close),
		cmocka_unit_test(test_new_map_copies_leg0),
		cmocka_unit_test(test_replace_leg),
		cmocka_unit_test(test_exactly_once_and_reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
