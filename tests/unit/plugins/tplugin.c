/* SPDX-License-Identifier: MIT */
/*
 * Plugins for test_plugin.c, good and deliberately bad: one source, built
 * once per variant (-DTP_<VARIANT>, tests/unit/CMakeLists.txt) into a
 * shared object of that name.  The good ones serve a disk of zeroes.
 *
 *   good        backend "tgood"
 *   relative    backend "trel" (loaded by a name without '/')
 *   newer_zero  backend "tnewer" in a longer table from a newer header whose
 *               extra fields are zero: accepted
 *   newer_set   the same with an extra field set: refused
 *   bad_version backend with an API version this vstor does not take
 *   odd_size    struct_size that ends inside a pointer
 *   no_symbols  exports neither table
 *   empty       exports both, with no table in them
 *   clash       backend "ram": a built-in's name
 *   half_bad    a good backend and a filter without submit: neither registers
 *   dup         the same name twice
 *   bad_schema  an option whose default does not parse
 *   ctor        registers itself from a constructor
 *   undefined   calls a function vstor does not have: dlopen fails
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vstor/filter.h"

/* unused by the variants that export no backend */
#define UNUSED __attribute__((unused))

static UNUSED const struct vs_opt_desc zero_options[] = {
	{ .name = "size", .type = VS_OPT_SIZE, .flags = VS_OPT_REQUIRED, .help = "bytes" },
#ifdef TP_BAD_SCHEMA
	{ .name = "block", .type = VS_OPT_SIZE, .dflt = "lots", .help = "a default that is no size" },
#endif
	{ 0 }
};

static UNUSED void *zero_open(struct vs_backend_open_args *a)
{
	uint64_t *size = malloc(sizeof(*size));

	if (size)
		*size = vs_opt_u64(a->opts, "size");
	return size;
}

static UNUSED void zero_close(void *h) { free(h); }
static UNUSED uint64_t zero_size(void *h) { return *(uint64_t *)h; }
static UNUSED void zero_caps(void *h, struct vs_backend_caps *c) { (void)h; c->can_write = true; }

static UNUSED int zero_submit(void *h, struct vs_bio *bio, void *ctx)
{
	(void)ctx;
	if (bio->op != VS_BIO_FLUSH && bio->offset + bio->length > *(uint64_t *)h)
		return -EINVAL;
	if (bio->op == VS_BIO_READ)
		for (int i = 0; i < bio->iovcnt; i++)
			memset(bio->iov[i].iov_base, 0, bio->iov[i].iov_len);
	vs_bio_complete(bio, 0);
	return 0;
}

#define ZERO_OPS_AS(n, version, size) { .name = n, .api_version = version, \
	.struct_size = size, .description = "zeroes", \
	.options = zero_options, .open = zero_open, .close = zero_close, \
	.get_size = zero_size, .get_caps = zero_caps, .submit = zero_submit }
#define ZERO_OPS(n) ZERO_OPS_AS(n, VS_BACKEND_API_VERSION, sizeof(struct vs_backend_ops))

#if defined(TP_GOOD)
static const struct vs_backend_ops ops = ZERO_OPS("tgood");
const struct vs_backend_ops *const vs_plugin_backends[] = { &ops, NULL };

#elif defined(TP_RELATIVE)
static const struct vs_backend_ops ops = ZERO_OPS("trel");
const struct vs_backend_ops *const vs_plugin_backends[] = { &ops, NULL };

#elif defined(TP_NEWER_ZERO) || defined(TP_NEWER_SET)
/* as a newer vstor's header would lay it out: more callbacks at the end */
struct newer_ops {
	struct vs_backend_ops ops;
	void (*future)(void *h);
};
static void future_callback(void *h) { (void)h; }
static const struct newer_ops newer = {
	.ops = ZERO_OPS_AS("tnewer", VS_BACKEND_API_VERSION, sizeof(struct newer_ops)),
#ifdef TP_NEWER_SET
	.future = future_callback,
#endif
};
static UNUSED void (*keep)(void *) = future_callback;
const struct vs_backend_ops *const vs_plugin_backends[] = { &newer.ops, NULL };

#elif defined(TP_BAD_VERSION)
static const struct vs_backend_ops ops =
	ZERO_OPS_AS("tbadver", VS_BACKEND_API_VERSION + 1, sizeof(struct vs_backend_ops));
const struct vs_backend_ops *const vs_plugin_backends[] = { &ops, NULL };

#elif defined(TP_ODD_SIZE)
static const struct vs_backend_ops ops = ZERO_OPS_AS("todd", VS_BACKEND_API_VERSION,
	offsetof(struct vs_backend_ops, cancel) + 4);
const struct vs_backend_ops *const vs_plugin_backends[] = { &ops, NULL };

#elif defined(TP_NO_SYMBOLS)
int not_a_plugin(void);
int not_a_plugin(void) { return 42; }

#elif defined(TP_EMPTY)
const struct vs_backend_ops *const vs_plugin_backends[] = { NULL };
const struct vs_filter_ops *const vs_plugin_filters[] = { NULL };

#elif defined(TP_CLASH)
static const struct vs_backend_ops ops = ZERO_OPS("ram");
const struct vs_backend_ops *const vs_plugin_backends[] = { &ops, NULL };

#elif defined(TP_HALF_BAD)
static const struct vs_backend_ops ops = ZERO_OPS("thalf");
static void *filter_open(struct vs_filter_open_args *a) { return a->self; }
static void filter_close(void *h) { (void)h; }
static const struct vs_filter_ops no_submit = {
	.name = "thalf-filter", .api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops), .description = "lacks submit",
	.open = filter_open, .close = filter_close,
};
const struct vs_backend_ops *const vs_plugin_backends[] = { &ops, NULL };
const struct vs_filter_ops *const vs_plugin_filters[] = { &no_submit, NULL };

#elif defined(TP_DUP)
static const struct vs_backend_ops a = ZERO_OPS("tdup"), b = ZERO_OPS("tdup");
const struct vs_backend_ops *const vs_plugin_backends[] = { &a, &b, NULL };

#elif defined(TP_BAD_SCHEMA)
static const struct vs_backend_ops ops = ZERO_OPS("tschema");
const struct vs_backend_ops *const vs_plugin_backends[] = { &ops, NULL };

#elif defined(TP_CTOR)
/* the way a built-in registers: not allowed from a plugin */
static const struct vs_backend_ops self = ZERO_OPS("tctor");
VS_BACKEND_BUILTIN(self)
static const struct vs_backend_ops ops = ZERO_OPS("tctor2");
const struct vs_backend_ops *const vs_plugin_backends[] = { &ops, NULL };

#elif defined(TP_UNDEFINED)
void vs_no_such_function(void);
static void *undefined_open(struct vs_backend_open_args *a)
{
	vs_no_such_function();
	return zero_open(a);
}
static const struct vs_backend_ops ops = {
	.name = "tundef", .api_version = VS_BACKEND_API_VERSION,
	.struct_size = sizeof(struct vs_backend_ops), .description = "zeroes",
	.options = zero_options, .open = undefined_open, .close = zero_close,
	.get_size = zero_size, .get_caps = zero_caps, .submit = zero_submit,
};
const struct vs_backend_ops *const vs_plugin_backends[] = { &ops, NULL };

#else
#error "build with one -DTP_<VARIANT>"
#endif
