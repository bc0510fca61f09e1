/* SPDX-License-Identifier: MIT */
/*
 * A buddy allocator over units (the data area of a service's shared
 * memory, in 4 KiB units): a request of n units takes the smallest
 * power-of-two block that holds it, split from a larger free block; a
 * freed block merges with its free buddy.  O(log n) per call, no
 * allocation after init, every block contiguous.  Its bookkeeping lives in
 * our own memory, never in the shared area, so a service cannot corrupt
 * it.  Not thread safe: the caller locks.
 */
#ifndef VSTOR_SERVICE_BUDDY_H
#define VSTOR_SERVICE_BUDDY_H

#include <stdbool.h>
#include <stdint.h>

#define BUDDY_MAX_ORDERS 16

struct buddy {
	uint32_t nunits;                /* a multiple of 1 << max_order */
	unsigned max_order;             /* the largest block: 1 << max_order units */
	uint32_t head[BUDDY_MAX_ORDERS];    /* free lists, UINT32_MAX = empty */
	uint32_t *next, *prev;          /* free-list links of free block heads */
	uint8_t *state;                 /* per unit: block head (order | BUDDY_FREE), else BUDDY_NONE */
	uint32_t free_units;
};

/* 0, or -ENOMEM / -EINVAL (nunits not a non-zero multiple of 1 << max_order). */
int  vs_buddy_init(struct buddy *b, uint32_t nunits, unsigned max_order);
void vs_buddy_fini(struct buddy *b);
/* The order that holds n units (n >= 1); > max_order if none does. */
unsigned vs_buddy_order_for(uint32_t n);
/* The first unit of a free block of 1 << order units, or -1. */
int64_t vs_buddy_alloc(struct buddy *b, unsigned order);
/* Give back the block that starts at unit (as vs_buddy_alloc returned it);
 * false if no allocated block starts there (nothing changes). */
bool vs_buddy_free(struct buddy *b, uint32_t unit);

#endif
