/* SPDX-License-Identifier: MIT */
/*
 * offset: an example filter plugin (doc/plugins.md).  Serves a window of
 * the disk below as a disk of its own, starting at byte 0 (as nbdkit's
 * offset filter), e.g. one partition of a whole-disk image.
 *
 *   offset=  first byte of the window (default 0)
 *   size=    bytes in the window (default 0: to the end of the disk below)
 *
 * It shows the per-request context: the request it sends down is its own
 * (`child`, in the context the block layer reserved at open), because the
 * caller's bio must come back with the offset the caller gave it; the
 * child's completion completes the caller's.
 *
 * Build:  cc -shared -fPIC -Wall -I/path/to/vstor/include -o offset.so offset.c
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "vstor/filter.h"

struct window {
	struct vs_layer *self;          /* to reach the layer below */
	uint64_t offset, size;
};

/* Per-request context: ctx_size bytes of it come with every submit. */
struct request {
	struct vs_bio child;
	struct vs_bio *parent;
};

static const struct vs_opt_desc offset_options[] = {
	{ .name = "offset", .type = VS_OPT_SIZE, .dflt = "0",
	  .help = "first byte of the window, e.g. 1M" },
	{ .name = "size", .type = VS_OPT_SIZE, .dflt = "0",
	  .help = "bytes in the window (0: to the end of the disk below)" },
	{ 0 }
};

static void *offset_open(struct vs_filter_open_args *args)
{
	struct window *w = calloc(1, sizeof(*w));
	uint64_t below;

	if (!w) {
		vs_set_error("out of memory");
		return NULL;
	}
	/* the layer below is open already: its size can be asked */
	w->self = args->self;
	w->offset = vs_opt_u64(args->opts, "offset");
	w->size = vs_opt_u64(args->opts, "size");
	below = vs_layer_lower_size(w->self, 0);
	if (w->offset >= below || w->size > below - w->offset) {
		vs_set_error("offset: the window is past the end of the disk below (%llu bytes)",
		             (unsigned long long)below);
		free(w);
		return NULL;
	}
	if (!w->size)
		w->size = below - w->offset;
	args->ctx_size = sizeof(struct request);
	return w;
}

static void offset_close(void *h)
{
	free(h);
}

static uint64_t offset_get_size(void *h)
{
	return ((struct window *)h)->size;
}

/* Done below: give the caller its own bio back with the child's result. */
static void child_done(struct vs_bio *child, int err)
{
	struct request *r = child->ctx;

	vs_bio_complete(r->parent, err);
}

static int offset_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct window *w = h;
	struct request *r = ctx;

	if (bio->op != VS_BIO_FLUSH &&
	    (bio->offset > w->size || bio->length > w->size - bio->offset))
		return -EINVAL;
	r->parent = bio;
	r->child = *bio;                /* same op, flags, length, data */
	if (bio->op != VS_BIO_FLUSH)
		r->child.offset += w->offset;
	r->child.done = child_done;
	r->child.ctx = r;
	/* refused below (-EAGAIN, ...): the child never completes, and
	 * neither does the caller's bio: return the error as is */
	return vs_layer_submit(w->self, 0, &r->child);
}

/* Without these the block layer would ask the layer below with the
 * caller's offsets: a filter that moves data answers them itself. */
static int offset_resize(void *h, uint64_t new_size)
{
	(void)h;
	(void)new_size;
	vs_set_error("size: the offset filter's window cannot change size while open");
	return -EOPNOTSUPP;
}

static int offset_block_status(void *h, uint64_t off, uint64_t len, bool *mapped,
                               uint64_t *extent_len)
{
	struct window *w = h;

	if (off > w->size || len > w->size - off) {
		vs_set_error("block_status: range outside the disk");
		return -EINVAL;
	}
	return vs_layer_lower_block_status(w->self, 0, off + w->offset, len, mapped, extent_len);
}

static void offset_get_caps(void *h, struct vs_backend_caps *caps)
{
	(void)h;
	/* arrives as the layer below reports it; the window is fixed */
	caps->can_resize = false;
}

static const struct vs_filter_ops offset_ops = {
	.name = "offset",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "a window of the disk below, served from byte 0",
	.options = offset_options,
	.open = offset_open,
	.close = offset_close,
	.submit = offset_submit,
	.get_size = offset_get_size,
	.get_caps = offset_get_caps,
	.resize = offset_resize,
	.block_status = offset_block_status,
};

const struct vs_filter_ops *const vs_plugin_filters[] = { &offset_ops, NULL };
