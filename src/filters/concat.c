/* SPDX-License-Identifier: MIT */
/*
 * concat: one volume made of several disks end to end — Windows' spanned
 * volume, md's linear, SPDK's concat.  Volume offsets run through leg 0,
 * then leg 1, and so on; a request that crosses from one leg to the next
 * is split there (volume_split.c), FLUSH goes to every leg.
 *
 * Each leg counts with its size rounded down to 4 KiB, so a logical
 * block of the disk above (512 or 4096 bytes) never straddles two legs
 * in an odd place, and the capacity is their sum.  The sizes are taken
 * when the volume opens: a leg that grows later does not grow the volume
 * (a concat cannot be resized).  A leg's lost or failed resource is the
 * volume's: its events go on up.
 */
#include <errno.h>
#include <stdlib.h>

#include "vstor/filter.h"
#include "volume_split.h"

#define LEG_ALIGN 4096u

struct concat {
	struct vsplit split;
	size_t nlegs;
	uint64_t start[VSPLIT_MAX_LEGS + 1];    /* where leg i begins; start[n]: the size */
};

static const struct vs_opt_desc concat_options[] = { { 0 } };

static void concat_map(const void *vol, uint64_t off, struct vsplit_extent *out)
{
	const struct concat *c = vol;
	size_t i = 0;

	/* few legs: a linear walk beats a search */
	while (i + 1 < c->nlegs && off >= c->start[i + 1])
		i++;
	out->leg = i;
	out->leg_offset = off - c->start[i];
	out->length = c->start[i + 1] - off;
}

static void *concat_open(struct vs_filter_open_args *args)
{
	struct concat *c = calloc(1, sizeof(*c));

	if (!c) {
		vs_set_error("out of memory");
		return NULL;
	}
	c->nlegs = args->nlower;
	for (size_t i = 0; i < c->nlegs; i++) {
		uint64_t size = vs_layer_lower_size(args->self, i) / LEG_ALIGN * LEG_ALIGN;

		if (size == 0) {
			vs_set_error("legs: leg %zu has less than %u bytes", i, LEG_ALIGN);
			free(c);
			return NULL;
		}
		c->start[i + 1] = c->start[i] + size;
	}
	c->split = (struct vsplit){ .self = args->self, .vol = c, .map = concat_map,
	                            .nlegs = c->nlegs };
	args->ctx_size = vs_vsplit_init(&c->split, 0);
	args->max_pieces = c->split.max_pieces;
	return c;
}

static void concat_close(void *h)
{
	free(h);
}

static int concat_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct concat *c = h;

	if (bio->op != VS_BIO_FLUSH &&
	    (bio->offset > c->start[c->nlegs] || bio->length > c->start[c->nlegs] - bio->offset))
		return -EINVAL;
	return vs_vsplit_submit(&c->split, bio, ctx);
}

static uint64_t concat_size(void *h)
{
	struct concat *c = h;

	return c->start[c->nlegs];
}

static void concat_caps(void *h, struct vs_backend_caps *caps)
{
	struct concat *c = h;

	vs_vsplit_caps(&c->split, caps);
}

static int concat_resize(void *h, uint64_t new_size)
{
	(void)h;
	(void)new_size;
	vs_set_error("resize: a concat volume cannot change size (its legs are fixed when it opens)");
	return -EOPNOTSUPP;
}

static int concat_block_status(void *h, uint64_t off, uint64_t len, bool *mapped,
                               uint64_t *ext)
{
	struct concat *c = h;

	return vs_vsplit_block_status(&c->split, off, len, mapped, ext);
}

static const struct vs_filter_ops concat_ops = {
	.name = "concat",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "one volume of several disks end to end (spanned); capacity: their sum",
	.options = concat_options,
	.min_lower = 2,
	.max_lower = VSPLIT_MAX_LEGS,
	.open = concat_open,
	.close = concat_close,
	.submit = concat_submit,
	.get_size = concat_size,
	.get_caps = concat_caps,
	.resize = concat_resize,
	.block_status = concat_block_status,
};
VS_FILTER_BUILTIN(concat_ops)
