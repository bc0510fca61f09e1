/* SPDX-License-Identifier: MIT */
/*
 * stripe: one volume striped over several disks in chunks — Windows'
 * striped volume, md's raid0, SPDK's raid0.  Chunk k of the volume is on
 * leg k mod n, at chunk k div n of that leg, so a request longer than a
 * chunk is spread over the legs and they work on it at once.
 *
 *   chunk=   the stripe unit (a power of two, 4K to 1G; default 64K)
 *
 * A request is split at chunk boundaries (volume_split.c); the chunks a
 * request has on one leg are neighbours there, so each leg gets one
 * request whose iovec gathers them from the caller's buffer, no copy.
 * FLUSH goes to every leg, UNMAP and WRITE ZEROES are split as writes.
 * Capacity: the smallest leg, rounded down to whole chunks, times the
 * legs; OPTIMAL TRANSFER LENGTH is a full stripe (chunk x legs).  A leg's
 * lost or failed resource is the volume's: its events go on up.
 */
#include <errno.h>
#include <stdlib.h>

#include "vstor/filter.h"
#include "volume_split.h"

struct stripe {
	struct vsplit split;
	size_t nlegs;
	uint64_t chunk;
	unsigned shift;                 /* log2(chunk) */
	uint64_t size;
};

static const struct vs_opt_desc stripe_options[] = {
	{ .name = "chunk", .type = VS_OPT_SIZE, .dflt = "64K", .min = 4096, .max = 1u << 30,
	  .help = "stripe unit, a power of two (bytes, e.g. 64K)" },
	{ 0 }
};

static int stripe_check(const struct vs_opts *o)
{
	uint64_t chunk = vs_opt_u64(o, "chunk");

	if (chunk & (chunk - 1)) {
		vs_set_error("chunk: %llu is not a power of two", (unsigned long long)chunk);
		return -EINVAL;
	}
	return 0;
}

static void stripe_map(const void *vol, uint64_t off, struct vsplit_extent *out)
{
	const struct stripe *s = vol;
	uint64_t k = off >> s->shift, in = off & (s->chunk - 1);

	out->leg = (size_t)(k % s->nlegs);
	out->leg_offset = (k / s->nlegs << s->shift) + in;
	out->length = s->chunk - in;
}

static void *stripe_open(struct vs_filter_open_args *args)
{
	struct stripe *s = calloc(1, sizeof(*s));
	uint64_t per_leg = UINT64_MAX;

	if (!s) {
		vs_set_error("out of memory");
		return NULL;
	}
	s->nlegs = args->nlower;
	s->chunk = vs_opt_u64(args->opts, "chunk");
	while ((1ull << s->shift) < s->chunk)
		s->shift++;
	for (size_t i = 0; i < s->nlegs; i++) {
		uint64_t size = vs_layer_lower_size(args->self, i) / s->chunk * s->chunk;

		if (size < per_leg)
			per_leg = size;
	}
	if (per_leg == 0) {
		vs_set_error("chunk: a leg is smaller than one chunk (%llu bytes)",
		             (unsigned long long)s->chunk);
		free(s);
		return NULL;
	}
	s->size = per_leg * s->nlegs;
	s->split = (struct vsplit){ .self = args->self, .vol = s, .map = stripe_map,
	                            .nlegs = s->nlegs };
	args->ctx_size = vs_vsplit_init(&s->split, s->chunk);
	args->max_pieces = s->split.max_pieces;
	return s;
}

static void stripe_close(void *h)
{
	free(h);
}

static int stripe_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct stripe *s = h;

	if (bio->op != VS_BIO_FLUSH && (bio->offset > s->size || bio->length > s->size - bio->offset))
		return -EINVAL;
	return vs_vsplit_submit(&s->split, bio, ctx);
}

static uint64_t stripe_size(void *h)
{
	return ((struct stripe *)h)->size;
}

static void stripe_caps(void *h, struct vs_backend_caps *caps)
{
	struct stripe *s = h;

	vs_vsplit_caps(&s->split, caps);
	caps->optimal_io_size = (uint32_t)(s->chunk * s->nlegs <= UINT32_MAX ? s->chunk * s->nlegs
	                                                                     : 0);
}

static int stripe_resize(void *h, uint64_t new_size)
{
	(void)h;
	(void)new_size;
	vs_set_error("resize: a stripe volume cannot change size (its legs are fixed when it opens)");
	return -EOPNOTSUPP;
}

static int stripe_block_status(void *h, uint64_t off, uint64_t len, bool *mapped, uint64_t *ext)
{
	return vs_vsplit_block_status(&((struct stripe *)h)->split, off, len, mapped, ext);
}

static const struct vs_filter_ops stripe_ops = {
	.name = "stripe",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "one volume striped over several disks in chunks (raid0)",
	.options = stripe_options,
	.min_lower = 2,
	.max_lower = VSPLIT_MAX_LEGS,
	.check = stripe_check,
	.open = stripe_open,
	.close = stripe_close,
	.submit = stripe_submit,
	.get_size = stripe_size,
	.get_caps = stripe_caps,
	.resize = stripe_resize,
	.block_status = stripe_block_status,
};
VS_FILTER_BUILTIN(stripe_ops)
