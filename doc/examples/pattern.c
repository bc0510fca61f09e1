/* SPDX-License-Identifier: MIT */
/*
 * pattern: an example backend plugin (doc/plugins.md).  A read-only disk
 * whose every 8-byte word holds its own byte offset, big-endian (as
 * nbdkit's pattern plugin), so whoever reads it can tell where any data
 * came from.  It keeps nothing, so it costs no memory at any size.
 *
 *   size=  (required) capacity, e.g. 1G
 *
 * Build:  cc -shared -fPIC -Wall -I/path/to/vstor/include -o pattern.so pattern.c
 * Use:    vstord --plugin-dir DIR   (DIR holding pattern.so)
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "vstor/backend.h"

struct pattern {
	uint64_t size;
};

/* The block layer checks every key=value against this before open(). */
static const struct vs_opt_desc pattern_options[] = {
	{ .name = "size", .type = VS_OPT_SIZE, .flags = VS_OPT_REQUIRED, .min = 512,
	  .help = "capacity, e.g. 1G" },
	{ 0 }
};

static void *pattern_open(struct vs_backend_open_args *args)
{
	struct pattern *p = calloc(1, sizeof(*p));

	if (!p) {
		vs_set_error("out of memory");
		return NULL;
	}
	p->size = vs_opt_u64(args->opts, "size");
	return p;
}

static void pattern_close(void *h)
{
	free(h);
}

static uint64_t pattern_get_size(void *h)
{
	return ((struct pattern *)h)->size;
}

static void pattern_get_caps(void *h, struct vs_backend_caps *caps)
{
	(void)h;
	/* arrives zeroed: read-only, no cache, nothing to unmap */
	caps->can_fua = true;           /* nothing is ever volatile */
}

/* The byte at offset `off`: one byte of the big-endian offset of its word. */
static uint8_t pattern_byte(uint64_t off)
{
	return (uint8_t)((off & ~(uint64_t)7) >> (56 - 8 * (off & 7)));
}

static int pattern_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct pattern *p = h;
	uint64_t off = bio->offset, left = bio->length;

	(void)ctx;                      /* no per-request context asked for */
	if (bio->op == VS_BIO_FLUSH) {
		vs_bio_complete(bio, 0);
		return 0;
	}
	/* refused before it started: return the error, done() does not run */
	if (bio->offset > p->size || bio->length > p->size - bio->offset)
		return -EINVAL;
	if (bio->op != VS_BIO_READ) {
		vs_bio_complete(bio, -EROFS);
		return 0;
	}
	for (int i = 0; i < bio->iovcnt && left; i++) {
		uint8_t *buf = bio->iov[i].iov_base;
		uint64_t n = bio->iov[i].iov_len < left ? bio->iov[i].iov_len : left;

		for (uint64_t k = 0; k < n; k++)
			buf[k] = pattern_byte(off++);
		left -= n;
	}
	/* accepted: complete exactly once (here inline; any thread will do) */
	vs_bio_complete(bio, left ? -EINVAL : 0);
	return 0;
}

static const struct vs_backend_ops pattern_ops = {
	.name = "pattern",
	.api_version = VS_BACKEND_API_VERSION,
	.struct_size = sizeof(struct vs_backend_ops),
	.description = "read-only disk whose every 8-byte word holds its own offset",
	.options = pattern_options,
	.open = pattern_open,
	.close = pattern_close,
	.get_size = pattern_get_size,
	.get_caps = pattern_get_caps,
	.submit = pattern_submit,
};

/* What vs_plugin_load looks for. */
const struct vs_backend_ops *const vs_plugin_backends[] = { &pattern_ops, NULL };
