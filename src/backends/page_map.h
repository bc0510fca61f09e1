/* SPDX-License-Identifier: MIT */
/*
 * Which pages of a disk's memory hold data: one bit per page, for backends
 * whose data is memory (ram: its anonymous mapping; file on tmpfs: the
 * file's pages).  A set bit means the page was written, so it is there and
 * may be read or lent without the reader making it appear (a read fault on
 * a never-written page maps or allocates one).  Sized once for the most
 * pages the disk may ever have, so updates never allocate.
 *
 * Lock-free: any number of threads may set, clear and test at once.  A
 * set takes a relaxed load first and an atomic OR only if a bit is still
 * clear, so rewriting written pages costs one load per 64 pages.
 */
#ifndef VSTOR_BACKENDS_PAGE_MAP_H
#define VSTOR_BACKENDS_PAGE_MAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct page_map {
	_Atomic uint64_t *bits;
	uint64_t npages;
	unsigned shift;         /* log2 of the page size */
};

/* Bits for npages pages of 1 << shift bytes, all clear.  -ENOMEM or 0. */
int  vs_page_map_init(struct page_map *m, uint64_t npages, unsigned shift);
void vs_page_map_free(struct page_map *m);

/* Set or clear the bits of pages [first, first + n). */
void vs_page_map_update(struct page_map *m, uint64_t first, uint64_t n, bool set);

/* Set or clear the bits of every page that bytes [off, off + len) touch
 * (len > 0). */
static inline void page_map_bytes(struct page_map *m, uint64_t off, uint64_t len, bool set)
{
	uint64_t first = off >> m->shift;

	vs_page_map_update(m, first, ((off + len - 1) >> m->shift) - first + 1, set);
}

static inline bool page_map_test(const struct page_map *m, uint64_t pg)
{
	return (atomic_load_explicit(&m->bits[pg >> 6], memory_order_relaxed) >> (pg & 63)) & 1;
}

/* How far from byte `off` (within len > 0) the pages have the state of the
 * first one; *set says which. */
uint64_t vs_page_map_extent(const struct page_map *m, uint64_t off, uint64_t len, bool *set);

/* Every page bytes [off, off + len) touch is set (len > 0). */
static inline bool page_map_all_set(const struct page_map *m, uint64_t off, uint64_t len)
{
	bool set;

	if (off >> m->shift == (off + len - 1) >> m->shift)
		return page_map_test(m, off >> m->shift);
	return vs_page_map_extent(m, off, len, &set) == len && set;
}

#endif
