/* SPDX-License-Identifier: MIT */
/*
 * Splitting one request over the legs of a volume (concat.c, stripe.c):
 * the volume says where each byte lies (a map function), this file cuts
 * the request at leg and chunk boundaries into requests for the legs,
 * built in the request's own context (no allocation), sends them and
 * completes the original exactly once when all are back.
 *
 * Pieces that continue each other on one leg are merged into one request
 * (a stripe's chunks k and k+n are neighbours on their leg), so a READ or
 * WRITE becomes at most one request per leg, its iovec gathering the
 * chunks from the caller's buffer.  A request too large for one context
 * (more than VSPLIT_PLAN_BYTES of chunks, or a caller's iovec with very
 * many entries) goes down in waves: the next wave is planned when the
 * previous one is back.  FLUSH goes to every leg; UNMAP and WRITE_ZEROES
 * are split as writes are, without data.
 */
#ifndef VSTOR_FILTERS_VOLUME_SPLIT_H
#define VSTOR_FILTERS_VOLUME_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "vstor/filter.h"

/* The largest READ/WRITE the disk above sends (vdisk's max_transfer_length,
 * VPD B0h): one context holds the pieces of a request this long, so every
 * request the disk sends goes down in one wave. */
#define VSPLIT_PLAN_BYTES (8u << 20)
/* Legs of one volume at most (a stack has at most 32 layers anyway). */
#define VSPLIT_MAX_LEGS   32u

/* Where one volume byte lies, and how far the volume continues on that
 * leg without a jump. */
struct vsplit_extent {
	size_t leg;
	uint64_t leg_offset;
	uint64_t length;        /* > 0 */
};

typedef void (*vsplit_map_fn)(const void *vol, uint64_t offset, struct vsplit_extent *out);

struct vsplit {
	struct vs_layer *self;
	const void *vol;                /* for map */
	vsplit_map_fn map;
	size_t nlegs;
	/* set by vs_vsplit_init */
	uint32_t block;                 /* cuts fall on multiples of this (bytes) */
	uint32_t max_pieces;            /* requests below per wave */
	uint32_t max_iov;               /* iovec entries per wave, all pieces together */
};

/* Size the context for a volume whose map jumps every `chunk` bytes at
 * most often (0: only at leg ends); fills block (from the legs' caps),
 * max_pieces and max_iov, and returns ctx_size for open. */
size_t vs_vsplit_init(struct vsplit *s, uint64_t chunk);
/* The filter's submit. */
int vs_vsplit_submit(struct vsplit *s, struct vs_bio *bio, void *ctx);
/* block_status through the map: the state of the first extent (a leg
 * that cannot tell counts as mapped, as a fully provisioned disk). */
int vs_vsplit_block_status(struct vsplit *s, uint64_t offset, uint64_t len, bool *mapped,
                        uint64_t *extent_len);
/* Capabilities of the legs together: what every leg can do, the largest
 * block, a write cache if any leg has one. */
void vs_vsplit_caps(struct vsplit *s, struct vs_backend_caps *caps);

#endif
