/* SPDX-License-Identifier: MIT */
/*
 * The block layer on its own (src/bdev): option schemas, opening a stack of
 * filters over backends, per-request contexts and completion routing,
 * cancel, reset, events and run-time options.  The layers are defined here:
 *
 *   "tmem"   a backend over a small array, completing inline, that can hold
 *            bios (and cancel or reset them) and raise events;
 *   "tpass"  a filter with per-request context and bounce memory that
 *            records its contexts and sends the same bio on;
 *   "tsplit" a filter that splits every READ/WRITE into 2 pieces it
 *            builds in its context (children), on two lower layers;
 *   "tkeep"  a filter that keeps the events of its lower layer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vstor/filter.h"

/* ------------------------------------------------------------ tmem */

#define TMEM_MAX_HELD 64

struct tmem {
	struct vs_layer *self;
	uint8_t *data;
	uint64_t size;
	pthread_mutex_t mu;
	bool hold;
	struct vs_bio *held[TMEM_MAX_HELD];
	int nheld;
	int resets;
};

static struct tmem *last_tmem;

static const struct vs_opt_desc tmem_options[] = {
	{ .name = "size", .type = VS_OPT_SIZE, .flags = VS_OPT_REQUIRED, .min = 512,
	  .max = 1u << 24, .help = "bytes" },
	{ .name = "mode", .type = VS_OPT_ENUM, .dflt = "fast",
	  .choices = (const char *const[]){ "fast", "slow", NULL }, .help = "how" },
	{ .name = "limit", .type = VS_OPT_RATE, .flags = VS_OPT_RUNTIME, .dflt = "1k",
	  .help = "a rate" },
	{ .name = "wait", .type = VS_OPT_DURATION, .min = 10, .max = 60000, .dflt = "20s",
	  .help = "a duration" },
	{ .name = "count", .type = VS_OPT_UINT, .min = 1, .max = 9, .flags = VS_OPT_RUNTIME,
	  .help = "a number" },
	{ .name = "label", .type = VS_OPT_STRING, .help = "free text" },
	{ 0 }
};

static int tmem_check(const struct vs_opts *o)
{
	if (strcmp(vs_opt_str(o, "mode"), "slow") == 0 && !vs_opt_given(o, "count")) {
		vs_set_error("count: required with mode=slow");
		return -EINVAL;
	}
	return 0;
}

static void *tmem_open(struct vs_backend_open_args *a)
{
	struct tmem *m = calloc(1, sizeof(*m));

	m->self = a->self;
	m->size = vs_opt_u64(a->opts, "size");
	m->data = calloc(1, m->size);
	pthread_mutex_init(&m->mu, NULL);
	last_tmem = m;
	return m;
}

static void tmem_close(void *h)
{
	struct tmem *m = h;

	assert_int_equal(m->nheld, 0);          /* everything completed before close */
	pthread_mutex_destroy(&m->mu);
	free(m->data);
	free(m);
	if (last_tmem == m)
		last_tmem = NULL;
}

static uint64_t tmem_size(void *h) { return ((struct tmem *)h)->size; }

static void tmem_caps(void *h, struct vs_backend_caps *c)
{
	(void)h;
	c->can_write = true;
	c->unmap_zeroes = true;
	c->can_unmap = true;
}

static void tmem_do(struct tmem *m, struct vs_bio *bio)
{
	uint64_t off = bio->offset;

	for (int i = 0; i < bio->iovcnt && (bio->op == VS_BIO_READ || bio->op == VS_BIO_WRITE); i++) {
		if (bio->op == VS_BIO_READ)
			memcpy(bio->iov[i].iov_base, m->data + off, bio->iov[i].iov_len);
		else
			memcpy(m->data + off, bio->iov[i].iov_base, bio->iov[i].iov_len);
		off += bio->iov[i].iov_len;
	}
	vs_bio_complete(bio, 0);
}

static int tmem_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct tmem *m = h;

	assert_null(ctx);
	if (bio->offset + bio->length > m->size)
		return -EINVAL;
	pthread_mutex_lock(&m->mu);
	if (m->hold) {
		if (m->nheld == TMEM_MAX_HELD) {
			pthread_mutex_unlock(&m->mu);
			return -EAGAIN;
		}
		m->held[m->nheld++] = bio;
		pthread_mutex_unlock(&m->mu);
		return 0;
	}
	pthread_mutex_unlock(&m->mu);
	tmem_do(m, bio);
	return 0;
}

static struct vs_bio *tmem_take(struct tmem *m, struct vs_bio *bio)
{
	struct vs_bio *got = NULL;

	pthread_mutex_lock(&m->mu);
	for (int i = 0; i < m->nheld; i++) {
		if (bio && m->held[i] != bio)
			continue;
		got = m->held[i];
		memmove(&m->held[i], &m->held[i + 1], (size_t)(m->nheld - i - 1) * sizeof(got));
		m->nheld--;
		break;
	}
	pthread_mutex_unlock(&m->mu);
	return got;
}

static bool tmem_cancel(void *h, struct vs_bio *bio)
{
	struct vs_bio *got = tmem_take(h, bio);

	if (got)
		vs_bio_complete(got, -ECANCELED);
	return got != NULL;
}

static void tmem_reset(void *h)
{
	struct tmem *m = h;
	struct vs_bio *b;

	m->resets++;
	while ((b = tmem_take(m, NULL)))
		vs_bio_complete(b, -ECANCELED);
}

/* release held bios: done with their data */
static void tmem_release(struct tmem *m)
{
	struct vs_bio *b;

	m->hold = false;
	while ((b = tmem_take(m, NULL)))
		tmem_do(m, b);
}

static int tmem_set_options(void *h, const struct vs_opts *o)
{
	(void)h;
	return vs_opt_u64(o, "count") == 7 ? (vs_set_error("count: 7 is unlucky"), -EINVAL) : 0;
}

static void tmem_learned(void *h, void (*emit)(void *, const char *, const char *), void *ctx)
{
	(void)h;
	emit(ctx, "serial", "T-1");
}

static const struct vs_backend_ops tmem_ops = {
	.name = "tmem",
	.api_version = VS_BACKEND_API_VERSION,
	.struct_size = sizeof(struct vs_backend_ops),
	.description = "test memory",
	.options = tmem_options,
	.check = tmem_check,
	.open = tmem_open,
	.close = tmem_close,
	.get_size = tmem_size,
	.get_caps = tmem_caps,
	.submit = tmem_submit,
	.cancel = tmem_cancel,
	.reset = tmem_reset,
	.set_options = tmem_set_options,
	.learned = tmem_learned,
};

/* tlend: tmem that says it lends (lend_end) but keeps no stable loans;
 * it records the flags each READ reached it with and lends nothing. */
static _Atomic uint32_t tlend_read_flags;

static int tlend_submit(void *h, struct vs_bio *bio, void *ctx)
{
	if (bio->op == VS_BIO_READ)
		atomic_store(&tlend_read_flags, bio->flags);
	return tmem_submit(h, bio, ctx);
}

static void tlend_lend_end(void *h, struct vs_bio *bio)
{
	(void)h;
	(void)bio;
}

/* ------------------------------------------------------------ tpass */

#define TPASS_CTX 48
#define TPASS_BOUNCE 5000

struct tpass {
	struct vs_layer *self;
	_Atomic int submits;
	bool clear_zeroes;
};

static void *tpass_open(struct vs_filter_open_args *a)
{
	struct tpass *p = calloc(1, sizeof(*p));

	p->self = a->self;
	a->ctx_size = TPASS_CTX;
	a->bounce_size = TPASS_BOUNCE;
	return p;
}

static void tpass_close(void *h) { free(h); }

static int tpass_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct tpass *p = h;
	uint8_t *bounce = vs_layer_bounce(p->self, ctx);

	assert_non_null(ctx);
	/* ASan: the context and the bounce memory really are that big, and
	 * 4096-aligned; another request's are elsewhere (TSan) */
	memset(ctx, 0xab, TPASS_CTX);
	assert_non_null(bounce);
	assert_int_equal((uintptr_t)bounce % 4096, 0);
	memset(bounce, 0xcd, TPASS_BOUNCE);
	atomic_fetch_add(&p->submits, 1);
	return vs_layer_submit(p->self, 0, bio);
}

static void tpass_caps(void *h, struct vs_backend_caps *c)
{
	if (((struct tpass *)h)->clear_zeroes)
		c->unmap_zeroes = false;
}

static const struct vs_filter_ops tpass_ops = {
	.name = "tpass",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "test pass-through with context",
	.open = tpass_open,
	.close = tpass_close,
	.submit = tpass_submit,
	.get_caps = tpass_caps,
};

/* ------------------------------------------------------------ tsplit */

struct split_ctx {
	struct vs_bio *parent;
	struct vs_bio child[2];
	struct iovec iov[2];
	_Atomic int left;
	_Atomic int err;
};

struct tsplit {
	struct vs_layer *self;
};

static void *tsplit_open(struct vs_filter_open_args *a)
{
	struct tsplit *t = calloc(1, sizeof(*t));

	t->self = a->self;
	a->ctx_size = sizeof(struct split_ctx);
	a->max_pieces = 2;
	return t;
}

static void tsplit_close(void *h) { free(h); }

static void child_done(struct vs_bio *bio, int err)
{
	struct split_ctx *c = bio->ctx;

	if (err)
		atomic_store(&c->err, err);
	if (atomic_fetch_sub(&c->left, 1) == 1)
		vs_bio_complete(c->parent, atomic_load(&c->err));
}

/* First half to lower 0, second half to lower 1 at the same offsets: a
 * toy mirror of halves, enough to see pieces and exactly-once. */
static int tsplit_submit(void *h, struct vs_bio *bio, void *ctxp)
{
	struct tsplit *t = h;
	struct split_ctx *c = ctxp;
	uint64_t half = bio->length / 2;

	if (bio->op != VS_BIO_READ && bio->op != VS_BIO_WRITE)
		return vs_layer_submit(t->self, 0, bio);
	assert_int_equal(bio->iovcnt, 1);
	c->parent = bio;
	atomic_store(&c->left, 2);
	atomic_store(&c->err, 0);
	for (int i = 0; i < 2; i++) {
		c->iov[i].iov_base = (uint8_t *)bio->iov[0].iov_base + i * half;
		c->iov[i].iov_len = half;
		c->child[i] = (struct vs_bio){ .op = bio->op, .offset = bio->offset + i * half,
		                               .length = half, .iov = &c->iov[i], .iovcnt = 1,
		                               .done = child_done, .ctx = c };
	}
	for (int i = 0; i < 2; i++) {
		int rc = vs_layer_submit(t->self, (size_t)i, &c->child[i]);

		if (rc < 0)
			child_done(&c->child[i], rc);
	}
	return 0;
}

static uint64_t tsplit_size(void *h)
{
	struct tsplit *t = h;
	uint64_t a = vs_layer_lower_size(t->self, 0), b = vs_layer_lower_size(t->self, 1);

	return a < b ? a : b;
}

static void tsplit_state(void *h, void (*emit)(void *, const char *, const char *), void *ctx)
{
	(void)h;
	emit(ctx, "state", "split in two");
}

/* what vs_bdev_replace_lower asked, in order: "C1:32768 D1 A1" */
static char replace_log[128];
static bool replace_refuse;

static int tsplit_replace(void *h, size_t lower, int step, uint64_t new_size)
{
	size_t n = strlen(replace_log);

	(void)h;
	if (step == VS_REPLACE_CHECK)
		snprintf(replace_log + n, sizeof(replace_log) - n, "C%zu:%llu ", lower,
		         (unsigned long long)new_size);
	else
		snprintf(replace_log + n, sizeof(replace_log) - n, "%c%zu ",
		         step == VS_REPLACE_DETACH ? 'D' : 'A', lower);
	if (step == VS_REPLACE_CHECK && replace_refuse) {
		vs_set_error("leg: too small");
		return -EINVAL;
	}
	return 0;
}

static const struct vs_filter_ops tsplit_ops = {
	.name = "tsplit",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "test split into two legs",
	.min_lower = 2,
	.max_lower = 2,
	.open = tsplit_open,
	.close = tsplit_close,
	.submit = tsplit_submit,
	.get_size = tsplit_size,
	.state = tsplit_state,
	.replace_lower = tsplit_replace,
};

/* ------------------------------------------------------------ tkeep */

static int kept_events;

static void *tkeep_open(struct vs_filter_open_args *a) { return a->self; }
static void tkeep_close(void *h) { (void)h; }
static int tkeep_submit(void *h, struct vs_bio *bio, void *ctx)
{
	(void)ctx;
	return vs_layer_submit(h, 0, bio);
}
static void tkeep_event(void *h, size_t lower, const struct vs_bdev_event *ev)
{
	(void)h;
	assert_int_equal(lower, 0);
	if (ev->type == VS_BDEV_EV_LOST)
		kept_events++;                  /* kept: a mirror would serve from the others */
	else
		vs_layer_event(h, ev);          /* the rest go on */
}

static const struct vs_filter_ops tkeep_ops = {
	.name = "tkeep",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "test: keeps LOST events",
	.open = tkeep_open,
	.close = tkeep_close,
	.submit = tkeep_submit,
	.event = tkeep_event,
};

static int group_setup(void **state)
{
	(void)state;
	assert_int_equal(vs_backend_register(&tmem_ops, "test"), 0);
	{
		static struct vs_backend_ops tlend_ops;

		tlend_ops = tmem_ops;
		tlend_ops.name = "tlend";
		tlend_ops.submit = tlend_submit;
		tlend_ops.lend_end = tlend_lend_end;
		assert_int_equal(vs_backend_register(&tlend_ops, "test"), 0);
	}
	assert_int_equal(vs_filter_register(&tpass_ops, "test"), 0);
	assert_int_equal(vs_filter_register(&tsplit_ops, "test"), 0);
	assert_int_equal(vs_filter_register(&tkeep_ops, "test"), 0);
	return 0;
}

/* ------------------------------------------------------------ helpers */

static const struct vs_kv mem_kv[] = { { "size", "64K" } };
static const struct vs_bdev_desc mem_desc = { .kind = VS_LAYER_BACKEND, .name = "tmem",
                                              .opts = mem_kv, .nopts = 1 };

struct req {
	struct vs_bio bio;
	struct iovec iov;
	uint8_t buf[4096];
	int done;
	int err;
	void *seen_ctx;
};

static void req_done(struct vs_bio *bio, int err)
{
	struct req *r = (struct req *)bio;

	r->done++;
	r->err = err;
	r->seen_ctx = bio->ctx;
}

static void req_init(struct req *r, uint8_t op, uint64_t off, uint32_t len)
{
	memset(&r->bio, 0, sizeof(r->bio));
	r->iov.iov_base = r->buf;
	r->iov.iov_len = len;
	r->bio = (struct vs_bio){ .op = op, .offset = off, .length = len, .iov = &r->iov,
	                          .iovcnt = 1, .done = req_done, .ctx = (void *)0x1234 };
	r->done = 0;
	r->err = 1;
}

static void expect_error(const char *prefix)
{
	const char *e = vs_last_error();

	if (strncmp(e, prefix, strlen(prefix)) != 0)
		fail_msg("error \"%s\" does not start with \"%s\"", e, prefix);
}

/* ------------------------------------------------------------ options */

static void check_fails(const struct vs_kv *kv, size_t n, const char *prefix)
{
	assert_int_equal(vs_layer_check(VS_LAYER_BACKEND, "tmem", kv, n), -EINVAL);
	expect_error(prefix);
}

static void test_options_checked_by_schema(void **state)
{
	(void)state;
	struct vs_kv ok[] = { { "size", "4K" }, { "mode", "slow" }, { "count", "3" },
	                      { "limit", "50M" }, { "wait", "1m" } };

	assert_int_equal(vs_layer_check(VS_LAYER_BACKEND, "tmem", ok, 5), 0);
	check_fails(NULL, 0, "size: missing (required");
	check_fails((struct vs_kv[]){ { "size", "4K" }, { "szie", "1" } }, 2,
	            "szie: unknown option (known: size, mode, limit, wait, count, label; did you "
	            "mean \"size\"?)");
	check_fails((struct vs_kv[]){ { "size", "4K" }, { "bogus", "1" } }, 2,
	            "bogus: unknown option (known: ");
	check_fails((struct vs_kv[]){ { "size", "4K" }, { "size", "8K" } }, 2,
	            "size: given more than once");
	check_fails((struct vs_kv[]){ { "size", "4Q" } }, 1, "size: '4Q' is not a size");
	check_fails((struct vs_kv[]){ { "size", "100" } }, 1, "size: '100' is out of range");
	check_fails((struct vs_kv[]){ { "size", "4K" }, { "mode", "medium" } }, 2,
	            "mode: 'medium' is not one of fast, slow");
	check_fails((struct vs_kv[]){ { "size", "4K" }, { "count", "10" } }, 2,
	            "count: '10' is not a whole number from 1 to 9");
	check_fails((struct vs_kv[]){ { "size", "4K" }, { "count", "-1" } }, 2,
	            "count: '-1' is not a whole number");
	check_fails((struct vs_kv[]){ { "size", "4K" }, { "limit", "5X" } }, 2,
	            "limit: '5X' is not a rate");
	check_fails((struct vs_kv[]){ { "size", "4K" }, { "wait", "5" } }, 2,
	            "wait: '5' is out of range (10ms to 60000ms)");
	check_fails((struct vs_kv[]){ { "size", "4K" }, { "wait", "1d" } }, 2,
	            "wait: '1d' is not a duration");
	check_fails((struct vs_kv[]){ { "size", "4K" }, { "mode", "slow" } }, 2,
	            "count: required with mode=slow");
	check_fails((struct vs_kv[]){ { "size", NULL } }, 1, "size: has no value");
	assert_int_equal(vs_layer_check(VS_LAYER_BACKEND, "nope", NULL, 0), -EINVAL);
	expect_error("backend: 'nope' is not a known backend (known: ");
	assert_non_null(strstr(vs_last_error(), "tmem"));
	assert_int_equal(vs_layer_check(VS_LAYER_FILTER, "tmem", NULL, 0), -EINVAL);
	expect_error("filter: 'tmem' is not a known filter");
}

/* Typed values as the layer reads them: defaults applied, units right. */
static struct vs_opts *seen_opts;
static uint64_t seen_limit, seen_wait, seen_size;
static bool seen_label;

static void *topts_open(struct vs_backend_open_args *a)
{
	seen_limit = vs_opt_u64(a->opts, "limit");
	seen_wait = vs_opt_u64(a->opts, "wait");
	seen_size = vs_opt_u64(a->opts, "size");
	seen_label = vs_opt_present(a->opts, "label");
	seen_opts = (struct vs_opts *)a->opts;
	return tmem_open(a);
}

static void test_typed_values_and_defaults(void **state)
{
	(void)state;
	struct vs_backend_ops ops = tmem_ops;
	struct vs_kv kv[] = { { "size", "2KiB" }, { "limit", "50M" } };
	struct vs_bdev_desc d = { .kind = VS_LAYER_BACKEND, .name = "topts", .opts = kv, .nopts = 2 };
	struct vs_bdev *b;

	ops.name = "topts";
	ops.open = topts_open;
	assert_int_equal(vs_backend_register(&ops, "test"), 0);
	b = vs_bdev_open_stack(&d, NULL);
	assert_non_null(b);
	assert_int_equal(seen_size, 2048);              /* sizes are binary */
	assert_int_equal(seen_limit, 50000000);         /* rates are decimal */
	assert_int_equal(seen_wait, 20000);             /* default "20s" in ms */
	assert_false(seen_label);                       /* no default, not given */
	assert_true(vs_opt_given(seen_opts, "limit"));
	assert_false(vs_opt_given(seen_opts, "wait"));
	assert_true(vs_opt_present(seen_opts, "wait"));
	assert_string_equal(vs_opt_str(seen_opts, "mode"), "fast");
	assert_int_equal(vs_opt_u64(seen_opts, "no-such"), 0);
	vs_bdev_close(b);
}

/* ------------------------------------------------------------ registry */

static void test_registry_refuses_bad_tables(void **state)
{
	(void)state;
	struct vs_backend_ops b = tmem_ops;
	struct vs_filter_ops f = tpass_ops;
	struct vs_layer_type t;

	assert_int_equal(vs_backend_register(&tmem_ops, NULL), -EEXIST);
	expect_error("backend 'tmem' is already registered");
	b.name = "tnew";
	b.api_version = 1;
	assert_int_equal(vs_backend_register(&b, NULL), -EPROTO);
	expect_error("backend 'tnew' has API version 1");
	b.api_version = VS_BACKEND_API_VERSION;
	b.struct_size = 8;
	assert_int_equal(vs_backend_register(&b, NULL), -EPROTO);
	b.struct_size = sizeof(b);
	b.submit = NULL;
	assert_int_equal(vs_backend_register(&b, NULL), -EINVAL);
	b.submit = tmem_submit;
	b.name = "Bad Name";
	assert_int_equal(vs_backend_register(&b, NULL), -EINVAL);
	f.name = "tf2";
	f.min_lower = 3;
	f.max_lower = 2;
	assert_int_equal(vs_filter_register(&f, NULL), -EINVAL);

	/* an older, shorter table: what it lacks reads as absent */
	b = tmem_ops;
	b.name = "told";
	b.struct_size = (uint32_t)offsetof(struct vs_backend_ops, cancel);
	assert_int_equal(vs_backend_register(&b, "old-plugin.so"), 0);
	assert_true(vs_layer_type_find(VS_LAYER_BACKEND, "told", &t));
	assert_string_equal(t.origin, "old-plugin.so");
	{
		struct vs_bdev_desc d = { .kind = VS_LAYER_BACKEND, .name = "told", .opts = mem_kv,
		                          .nopts = 1 };
		struct vs_bdev *s = vs_bdev_open_stack(&d, NULL);
		struct req r;

		assert_non_null(s);
		last_tmem->hold = true;
		req_init(&r, VS_BIO_READ, 0, 512);
		assert_int_equal(vs_bdev_submit(s, &r.bio), 0);
		/* its cancel lies past the old struct end: not called */
		assert_false(vs_bdev_cancel(s, &r.bio));
		tmem_release(last_tmem);
		assert_int_equal(r.done, 1);
		vs_bdev_close(s);
	}
}

static void test_listing(void **state)
{
	(void)state;
	struct vs_layer_type all[64];
	size_t n = vs_layer_types(0, all, 64);
	bool saw_tmem = false, saw_ram = false, backends_first = true;
	int last_kind = 0;

	assert_true(n >= 6 && n <= 64);
	for (size_t i = 0; i < n; i++) {
		saw_tmem |= strcmp(all[i].name, "tmem") == 0;
		saw_ram |= strcmp(all[i].name, "ram") == 0;
		if (all[i].kind < last_kind)
			backends_first = false;
		last_kind = all[i].kind;
	}
	assert_true(saw_tmem && saw_ram && backends_first);
	assert_int_equal(vs_layer_types(VS_LAYER_FILTER, NULL, 0),
	                 n - vs_layer_types(VS_LAYER_BACKEND, NULL, 0));
	assert_true(vs_layer_type_find(VS_LAYER_FILTER, "tsplit", &all[0]));
	assert_int_equal(all[0].min_lower, 2);
	assert_int_equal(all[0].max_lower, 2);
	assert_true(vs_layer_type_find(VS_LAYER_FILTER, "tpass", &all[0]));
	assert_int_equal(all[0].min_lower, 1);
	assert_int_equal(all[0].max_lower, 1);
}

/* ------------------------------------------------------------ opening */

static void test_open_errors_name_the_layer(void **state)
{
	(void)state;
	struct vs_kv bad[] = { { "size", "1" } };
	struct vs_bdev_desc mem_bad = { .kind = VS_LAYER_BACKEND, .name = "tmem", .opts = bad,
	                                .nopts = 1 };
	struct vs_bdev_desc pass = { .kind = VS_LAYER_FILTER, .name = "tpass", .lower = &mem_bad,
	                             .nlower = 1 };
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "tpass", .lower = &pass,
	                            .nlower = 1 };
	struct vs_bdev_open_args a = { 0 };

	assert_null(vs_bdev_open_stack(&top, &a));
	assert_int_equal(a.failed_layer, 2);
	expect_error("size: '1' is out of range");

	pass.name = "nofilter";
	assert_null(vs_bdev_open_stack(&top, &a));
	assert_int_equal(a.failed_layer, 1);
	expect_error("filter: 'nofilter' is not a known filter");

	/* a two-leg filter given one leg */
	pass.name = "tsplit";
	pass.lower = &mem_desc;
	assert_null(vs_bdev_open_stack(&top, &a));
	assert_int_equal(a.failed_layer, 1);
	expect_error("tsplit: takes 2 to 2 layers under it, got 1");

	/* a backend given a layer under it */
	mem_bad.lower = &mem_desc;
	mem_bad.nlower = 1;
	mem_bad.opts = mem_kv;
	assert_null(vs_bdev_open_stack(&mem_bad, &a));
	expect_error("tmem: a backend has no layers under it");

	/* the one-backend shortcut says whose option it is */
	assert_null(vs_bdev_open("tmem", bad, 1));
	expect_error("tmem: size: '1' is out of range");
	assert_null(vs_bdev_open("floppy", NULL, 0));
	expect_error("backend: 'floppy' is not a known backend");
}

static void test_stack_name_size_caps(void **state)
{
	(void)state;
	struct vs_kv small[] = { { "size", "32K" } };
	struct vs_bdev_desc legs[2] = { mem_desc, { .kind = VS_LAYER_BACKEND, .name = "tmem",
	                                            .opts = small, .nopts = 1 } };
	struct vs_bdev_desc split = { .kind = VS_LAYER_FILTER, .name = "tsplit", .lower = legs,
	                              .nlower = 2 };
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "tpass", .lower = &split,
	                            .nlower = 1 };
	struct vs_bdev *b = vs_bdev_open_stack(&top, NULL);
	struct vs_backend_caps caps;
	struct vs_layer_type t;

	assert_non_null(b);
	assert_string_equal(vs_bdev_name(b), "tpass/tsplit(tmem,tmem)");
	assert_string_equal(vs_bdev_backend_name(b), "tmem");
	assert_int_equal(vs_bdev_get_size(b), 32768);   /* the filter's own answer */
	vs_bdev_get_caps(b, &caps);
	assert_true(caps.can_write && caps.unmap_zeroes);
	assert_int_equal(vs_bdev_layer_count(b), 4);
	assert_true(vs_bdev_layer_type(b, 1, &t));
	assert_string_equal(t.name, "tsplit");
	assert_true(vs_bdev_layer_type(b, 3, &t));
	assert_string_equal(t.name, "tmem");
	assert_false(vs_bdev_layer_type(b, 4, &t));
	/* a volume does not pass resize or block status to one of its legs */
	assert_int_equal(vs_bdev_resize(b, 4096), -EOPNOTSUPP);
	assert_false(vs_bdev_has_block_status(b));
	vs_bdev_close(b);
}

/* ------------------------------------------------------------ requests */

static void test_context_routing_and_pool(void **state)
{
	(void)state;
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "tpass", .lower = &mem_desc,
	                            .nlower = 1 };
	struct vs_bdev_open_args a = { .max_requests = 4 };
	struct vs_bdev *b = vs_bdev_open_stack(&top, &a);
	struct req r[5];
	void *ctxs[4];

	assert_non_null(b);
	/* inline completion: the caller's ctx is back when done() runs */
	req_init(&r[0], VS_BIO_WRITE, 4096, 512);
	memset(r[0].buf, 0x5a, 512);
	assert_int_equal(vs_bdev_submit(b, &r[0].bio), 0);
	assert_int_equal(r[0].done, 1);
	assert_int_equal(r[0].err, 0);
	assert_ptr_equal(r[0].seen_ctx, (void *)0x1234);
	assert_ptr_equal(r[0].bio.done, req_done);
	assert_int_equal(last_tmem->data[4096 + 511], 0x5a);

	/* four held at once: four distinct contexts and bounce areas, the
	 * fifth is refused (-EAGAIN, done() not called) */
	last_tmem->hold = true;
	for (int i = 0; i < 4; i++) {
		req_init(&r[i], VS_BIO_READ, 0, 512);
		assert_int_equal(vs_bdev_submit(b, &r[i].bio), 0);
		ctxs[i] = r[i].bio.ctx;         /* the layer's, while submitted */
		assert_ptr_not_equal(ctxs[i], (void *)0x1234);
		for (int j = 0; j < i; j++)
			assert_ptr_not_equal(ctxs[i], ctxs[j]);
	}
	req_init(&r[4], VS_BIO_READ, 0, 512);
	assert_int_equal(vs_bdev_submit(b, &r[4].bio), -EAGAIN);
	assert_int_equal(r[4].done, 0);
	assert_ptr_equal(r[4].bio.ctx, (void *)0x1234);     /* given back untouched */
	assert_ptr_equal(r[4].bio.done, req_done);
	tmem_release(last_tmem);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r[i].done, 1);
		assert_ptr_equal(r[i].seen_ctx, (void *)0x1234);
	}
	/* every slot came back: four can be held again */
	last_tmem->hold = true;
	for (int i = 0; i < 4; i++) {
		req_init(&r[i], VS_BIO_READ, 0, 512);
		assert_int_equal(vs_bdev_submit(b, &r[i].bio), 0);
	}
	tmem_release(last_tmem);
	vs_bdev_close(b);
}

/* A layer that refuses a bio (negative return): the slot it took is given
 * back and the bio left as it was. */
static void test_refused_submit_undoes_context(void **state)
{
	(void)state;
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "tpass", .lower = &mem_desc,
	                            .nlower = 1 };
	struct vs_bdev_open_args a = { .max_requests = 1 };
	struct vs_bdev *b = vs_bdev_open_stack(&top, &a);
	struct req r;

	assert_non_null(b);
	for (int i = 0; i < 3; i++) {
		req_init(&r, VS_BIO_READ, 1u << 20, 512);       /* past the end: tmem says -EINVAL */
		assert_int_equal(vs_bdev_submit(b, &r.bio), -EINVAL);
		assert_int_equal(r.done, 0);
		assert_ptr_equal(r.bio.ctx, (void *)0x1234);
	}
	req_init(&r, VS_BIO_READ, 0, 512);      /* the single slot is still free */
	assert_int_equal(vs_bdev_submit(b, &r.bio), 0);
	assert_int_equal(r.done, 1);
	vs_bdev_close(b);
}

static void test_split_completes_once(void **state)
{
	(void)state;
	struct vs_bdev_desc legs[2] = { mem_desc, mem_desc };
	struct vs_bdev_desc split = { .kind = VS_LAYER_FILTER, .name = "tsplit", .lower = legs,
	                              .nlower = 2 };
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "tpass", .lower = &split,
	                            .nlower = 1 };
	struct vs_bdev_open_args a = { .max_requests = 2 };
	struct vs_bdev *b = vs_bdev_open_stack(&top, &a);
	struct req w, rd;

	assert_non_null(b);
	req_init(&w, VS_BIO_WRITE, 0, 1024);
	for (int i = 0; i < 1024; i++)
		w.buf[i] = (uint8_t)i;
	assert_int_equal(vs_bdev_submit(b, &w.bio), 0);
	assert_int_equal(w.done, 1);
	assert_int_equal(w.err, 0);
	req_init(&rd, VS_BIO_READ, 0, 1024);
	assert_int_equal(vs_bdev_submit(b, &rd.bio), 0);
	assert_int_equal(rd.done, 1);
	assert_memory_equal(rd.buf, w.buf, 1024);
	vs_bdev_close(b);
}

static void emit_kv(void *ctx, const char *key, const char *value)
{
	char *out = ctx;
	size_t n = strlen(out);

	snprintf(out + n, 128 - n, "%s=%s;", key, value);
}

/* A filter's run-time state, a reset of one lower layer, and a lower
 * layer replaced while the stack is open: the filter is asked (check,
 * detach, attach), the old layers close, the new one serves, the
 * pre-order numbering and the name follow, events of the old layer no
 * longer arrive. */
static void test_state_lower_reset_and_replace(void **state)
{
	(void)state;
	struct vs_kv small[] = { { "size", "32K" } }, bigger[] = { { "size", "48K" } };
	struct vs_bdev_desc legs[2] = { mem_desc, mem_desc };
	struct vs_bdev_desc split = { .kind = VS_LAYER_FILTER, .name = "tsplit", .lower = legs,
	                              .nlower = 2 };
	struct vs_bdev_desc fresh_leg = { .kind = VS_LAYER_BACKEND, .name = "tmem", .opts = bigger,
	                                  .nopts = 1 };
	struct vs_bdev_desc passed = { .kind = VS_LAYER_FILTER, .name = "tpass",
	                               .lower = &fresh_leg, .nlower = 1 };
	struct vs_bdev_desc bad = { .kind = VS_LAYER_BACKEND, .name = "tmem", .opts = small,
	                            .nopts = 0 };
	struct vs_bdev *b = vs_bdev_open_stack(&split, NULL);
	char out[128] = "";
	struct tmem *leg1;
	struct req r;
	int failed;

	assert_non_null(b);
	leg1 = last_tmem;
	vs_bdev_layer_state(b, 0, emit_kv, out);
	assert_string_equal(out, "state=split in two;");
	out[0] = 0;
	vs_bdev_layer_state(b, 1, emit_kv, out);        /* a backend: nothing */
	assert_string_equal(out, "");

	/* a reset of lower 1 gives back what it holds there */
	leg1->hold = true;
	req_init(&r, VS_BIO_WRITE, 0, 1024);
	assert_int_equal(vs_bdev_submit(b, &r.bio), 0);
	assert_int_equal(leg1->nheld, 1);
	vs_layer_lower_reset(((struct tsplit *)vs_bdev_filter_handle(b, 0, "tsplit"))->self, 1);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.err, -ECANCELED);
	leg1->hold = false;

	/* refused by the filter, by the new layer's options, for a backend */
	replace_log[0] = 0;
	replace_refuse = true;
	assert_int_equal(vs_bdev_replace_lower(b, 0, 1, &passed, &failed), -EINVAL);
	expect_error("leg: too small");
	assert_string_equal(replace_log, "C1:49152 ");
	replace_refuse = false;
	assert_int_equal(vs_bdev_replace_lower(b, 0, 1, &bad, &failed), -EINVAL);
	expect_error("size: missing");
	assert_int_equal(failed, 0);
	assert_int_equal(vs_bdev_replace_lower(b, 1, 0, &fresh_leg, NULL), -EINVAL);
	expect_error("leg: tmem has no layer 0 under it");
	assert_string_equal(vs_bdev_name(b), "tsplit(tmem,tmem)");

	replace_log[0] = 0;
	assert_int_equal(vs_bdev_replace_lower(b, 0, 1, &passed, &failed), 0);
	assert_string_equal(replace_log, "C1:49152 D1 A1 ");
	assert_string_equal(vs_bdev_name(b), "tsplit(tmem,tpass/tmem)");
	assert_int_equal(vs_bdev_layer_count(b), 4);
	struct vs_layer_type t;
	assert_true(vs_bdev_layer_type(b, 2, &t));
	assert_string_equal(t.name, "tpass");
	/* the new leg takes the second half of a write */
	req_init(&r, VS_BIO_WRITE, 0, 1024);
	memset(r.buf, 0x77, 1024);
	assert_int_equal(vs_bdev_submit(b, &r.bio), 0);
	assert_int_equal(r.done, 1);
	assert_int_equal(last_tmem->data[512], 0x77);
	assert_int_equal(vs_bdev_get_size(b), 49152);   /* the smaller: the new leg's 48K */
	vs_bdev_close(b);
}

/* ------------------------------------------------------------ cancel, reset */

static void test_cancel_reaches_the_holder(void **state)
{
	(void)state;
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "tpass", .lower = &mem_desc,
	                            .nlower = 1 };
	struct vs_bdev *b = vs_bdev_open_stack(&top, NULL);
	struct req r[3], never;

	assert_non_null(b);
	last_tmem->hold = true;
	for (int i = 0; i < 3; i++) {
		req_init(&r[i], VS_BIO_READ, 0, 512);
		assert_int_equal(vs_bdev_submit(b, &r[i].bio), 0);
	}
	/* tpass has no cancel: the question goes down to tmem, which has it */
	assert_true(vs_bdev_cancel(b, &r[1].bio));
	assert_int_equal(r[1].done, 1);
	assert_int_equal(r[1].err, -ECANCELED);
	assert_ptr_equal(r[1].seen_ctx, (void *)0x1234);
	assert_false(vs_bdev_cancel(b, &r[1].bio));     /* no second completion */
	assert_int_equal(r[1].done, 1);
	req_init(&never, VS_BIO_READ, 0, 512);
	assert_false(vs_bdev_cancel(b, &never.bio));    /* never submitted */
	assert_int_equal(never.done, 0);

	vs_bdev_reset(b);
	assert_int_equal(last_tmem->resets, 1);
	assert_int_equal(r[0].done, 1);
	assert_int_equal(r[0].err, -ECANCELED);
	assert_int_equal(r[2].done, 1);
	last_tmem->hold = false;
	vs_bdev_close(b);
}

/* ------------------------------------------------------------ events */

struct seen {
	int n;
	int type;
	uint32_t hold_ms;
};

static void on_event(void *ctx, const struct vs_bdev_event *ev)
{
	struct seen *s = ctx;

	s->n++;
	s->type = ev->type;
	s->hold_ms = ev->hold_ms;
}

static void test_events_travel_up(void **state)
{
	(void)state;
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "tpass", .lower = &mem_desc,
	                            .nlower = 1 };
	struct vs_bdev *b = vs_bdev_open_stack(&top, NULL);
	struct seen s = { 0 };
	struct vs_bdev_status st;
	struct tmem *m = last_tmem;

	assert_non_null(b);
	vs_bdev_get_status(b, &st);
	assert_int_equal(st.state, VS_BDEV_READY);
	assert_int_equal(st.since, 0);
	/* before a handler: the status still changes */
	vs_layer_event(m->self, &(struct vs_bdev_event){ .type = VS_BDEV_EV_LOST, .hold_ms = 5,
	                                                 .why = "cable" });
	vs_bdev_get_status(b, &st);
	assert_int_equal(st.state, VS_BDEV_LOST);
	assert_string_equal(st.why, "cable");
	assert_true(st.since > 0);

	vs_bdev_set_event_handler(b, on_event, &s);
	vs_layer_event(m->self, &(struct vs_bdev_event){ .type = VS_BDEV_EV_BACK });
	assert_int_equal(s.n, 1);
	assert_int_equal(s.type, VS_BDEV_EV_BACK);
	vs_bdev_get_status(b, &st);
	assert_int_equal(st.state, VS_BDEV_READY);
	vs_layer_event(m->self, &(struct vs_bdev_event){ .type = VS_BDEV_EV_LOST, .hold_ms = 700 });
	assert_int_equal(s.n, 2);
	assert_int_equal(s.hold_ms, 700);
	vs_layer_event(m->self, &(struct vs_bdev_event){ .type = VS_BDEV_EV_RESIZED });
	assert_int_equal(s.type, VS_BDEV_EV_RESIZED);
	vs_bdev_get_status(b, &st);
	assert_int_equal(st.state, VS_BDEV_LOST);       /* a resize is no state */
	/* failed is final */
	vs_layer_event(m->self, &(struct vs_bdev_event){ .type = VS_BDEV_EV_FAILED, .why = "x" });
	vs_layer_event(m->self, &(struct vs_bdev_event){ .type = VS_BDEV_EV_BACK });
	vs_bdev_get_status(b, &st);
	assert_int_equal(st.state, VS_BDEV_FAILED);
	assert_int_equal(s.n, 5);

	vs_bdev_set_event_handler(b, NULL, NULL);
	vs_layer_event(m->self, &(struct vs_bdev_event){ .type = VS_BDEV_EV_RESIZED });
	assert_int_equal(s.n, 5);
	vs_bdev_close(b);
}

static void test_filter_keeps_events(void **state)
{
	(void)state;
	struct vs_bdev_desc keep = { .kind = VS_LAYER_FILTER, .name = "tkeep", .lower = &mem_desc,
	                             .nlower = 1 };
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "tpass", .lower = &keep,
	                            .nlower = 1 };
	struct vs_bdev *b = vs_bdev_open_stack(&top, NULL);
	struct seen s = { 0 };
	struct vs_bdev_status st;

	assert_non_null(b);
	vs_bdev_set_event_handler(b, on_event, &s);
	kept_events = 0;
	vs_layer_event(last_tmem->self, &(struct vs_bdev_event){ .type = VS_BDEV_EV_LOST });
	assert_int_equal(kept_events, 1);
	assert_int_equal(s.n, 0);
	vs_bdev_get_status(b, &st);
	assert_int_equal(st.state, VS_BDEV_READY);
	vs_layer_event(last_tmem->self, &(struct vs_bdev_event){ .type = VS_BDEV_EV_RESIZED });
	assert_int_equal(s.n, 1);
	vs_bdev_close(b);
}

/* ------------------------------------------------------------ run-time options */

struct learned {
	char key[32], value[32];
};

static void emit(void *ctx, const char *k, const char *v)
{
	struct learned *l = ctx;

	snprintf(l->key, sizeof(l->key), "%s", k);
	snprintf(l->value, sizeof(l->value), "%s", v);
}

static void test_set_options(void **state)
{
	(void)state;
	struct vs_kv kv[] = { { "size", "64K" }, { "count", "2" } };
	struct vs_bdev_desc mem = { .kind = VS_LAYER_BACKEND, .name = "tmem", .opts = kv,
	                            .nopts = 2 };
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "tpass", .lower = &mem,
	                            .nlower = 1 };
	struct vs_bdev *b = vs_bdev_open_stack(&top, NULL);
	struct learned l = { "", "" };

	assert_non_null(b);
	assert_int_equal(vs_bdev_set_options(b, 1, (struct vs_kv[]){ { "count", "5" } }, 1), 0);
	assert_int_equal(vs_bdev_set_options(b, 1, (struct vs_kv[]){ { "limit", "2k" },
	                                                             { "count", "3" } }, 2), 0);
	/* not a run-time option */
	assert_int_equal(vs_bdev_set_options(b, 1, (struct vs_kv[]){ { "size", "8K" } }, 1), -EINVAL);
	expect_error("size: cannot be changed while the LUN is open");
	/* malformed, refused by the schema */
	assert_int_equal(vs_bdev_set_options(b, 1, (struct vs_kv[]){ { "count", "x" } }, 1), -EINVAL);
	expect_error("count: 'x' is not a whole number");
	/* refused by the layer: all or nothing */
	assert_int_equal(vs_bdev_set_options(b, 1, (struct vs_kv[]){ { "limit", "9k" },
	                                                             { "count", "7" } }, 2), -EINVAL);
	expect_error("count: 7 is unlucky");
	/* a layer without run-time options */
	assert_int_equal(vs_bdev_set_options(b, 0, (struct vs_kv[]){ { "x", "1" } }, 1), -EINVAL);
	assert_int_equal(vs_bdev_set_options(b, 9, NULL, 0), -EINVAL);
	expect_error("layer: no layer 9 in this stack");

	vs_bdev_layer_learned(b, 1, emit, &l);
	assert_string_equal(l.key, "serial");
	assert_string_equal(l.value, "T-1");
	l.key[0] = 0;
	vs_bdev_layer_learned(b, 0, emit, &l);          /* tpass learns nothing */
	assert_string_equal(l.key, "");
	vs_bdev_close(b);
}

/* ------------------------------------------------------------ threads */

#define THREADS 4
#define PER_THREAD 20000

static void count_done(struct vs_bio *bio, int err)
{
	assert_int_equal(err, 0);
	atomic_fetch_add((_Atomic int *)bio->ctx, 1);
}

struct worker {
	struct vs_bdev *b;
	_Atomic int done;
	int refused;
	unsigned index;         /* its own blocks: the data itself is not the test */
};

/* Each thread has a few bios in flight through a layer with context: the
 * pool's free list must neither lose nor hand out a slot twice (ASan and
 * the context stamp catch the second; a lost one ends as -EAGAIN). */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct vs_bio bios[4];
	struct iovec iov[4];
	uint8_t buf[4][512];

	for (int i = 0; i < PER_THREAD; i++) {
		int k = i % 4;

		iov[k] = (struct iovec){ buf[k], 512 };
		bios[k] = (struct vs_bio){ .op = (i & 1) ? VS_BIO_WRITE : VS_BIO_READ,
		                           .offset = (uint64_t)(w->index * 16 + i % 16) * 512,
		                           .length = 512,
		                           .iov = &iov[k], .iovcnt = 1, .done = count_done,
		                           .ctx = &w->done };
		if (vs_bdev_submit(w->b, &bios[k]) < 0)
			w->refused++;
	}
	return NULL;
}

/*
 * VS_BIO_MAY_LEND reaches a backend that lends; with VS_BIO_LEND_STABLE
 * only one that also keeps stable loans (backend.h lend_stable): a backend
 * without would let a write change bytes the caller has checksummed.
 */
static void test_stable_loans_only_where_kept(void **state)
{
	(void)state;
	struct vs_bdev_desc d = { .kind = VS_LAYER_BACKEND, .name = "tlend", .opts = mem_kv,
	                          .nopts = 1 };
	struct vs_bdev *b = vs_bdev_open_stack(&d, NULL);
	struct req r;

	assert_non_null(b);
	req_init(&r, VS_BIO_READ, 0, 512);
	r.bio.flags = VS_BIO_MAY_LEND;
	assert_int_equal(vs_bdev_submit(b, &r.bio), 0);
	assert_int_equal(r.done, 1);
	assert_true(atomic_load(&tlend_read_flags) & VS_BIO_MAY_LEND);

	req_init(&r, VS_BIO_READ, 0, 512);
	r.bio.flags = VS_BIO_MAY_LEND | VS_BIO_LEND_STABLE;
	assert_int_equal(vs_bdev_submit(b, &r.bio), 0);
	assert_int_equal(r.done, 1);
	assert_false(atomic_load(&tlend_read_flags) & VS_BIO_MAY_LEND);
	assert_null(r.bio.lent);
	vs_bdev_close(b);
}

static void test_threads_share_the_pool(void **state)
{
	(void)state;
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "tpass", .lower = &mem_desc,
	                            .nlower = 1 };
	struct vs_bdev_open_args a = { .max_requests = THREADS };
	struct vs_bdev *b = vs_bdev_open_stack(&top, &a);
	struct worker w[THREADS];
	pthread_t t[THREADS];
	struct req r[THREADS];

	assert_non_null(b);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .b = b, .index = (unsigned)i };
		atomic_init(&w[i].done, 0);
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		/* inline completions: each thread holds one slot at a time, and
		 * there are as many slots as threads */
		assert_int_equal(w[i].refused, 0);
		assert_int_equal(atomic_load(&w[i].done), PER_THREAD);
	}
	/* all THREADS slots are free again */
	last_tmem->hold = true;
	for (int i = 0; i < THREADS; i++) {
		req_init(&r[i], VS_BIO_READ, 0, 512);
		assert_int_equal(vs_bdev_submit(b, &r[i].bio), 0);
	}
	tmem_release(last_tmem);
	vs_bdev_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_checked_by_schema),
		cmocka_unit_test(test_typed_values_and_defaults),
		cmocka_unit_test(test_registry_refuses_bad_tables),
		cmocka_unit_test(test_listing),
		cmocka_unit_test(test_open_errors_name_the_layer),
		cmocka_unit_test(test_stack_name_size_caps),
		cmocka_unit_test(test_context_routing_and_pool),
		cmocka_unit_test(test_refused_submit_undoes_context),
		cmocka_unit_test(test_split_completes_once),
		cmocka_unit_test(test_state_lower_reset_and_replace),
		cmocka_unit_test(test_cancel_reaches_the_holder),
		cmocka_unit_test(test_events_travel_up),
		cmocka_unit_test(test_filter_keeps_events),
		cmocka_unit_test(test_set_options),
		cmocka_unit_test(test_threads_share_the_pool),
		cmocka_unit_test(test_stable_loans_only_where_kept),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
