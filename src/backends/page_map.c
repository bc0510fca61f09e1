/* SPDX-License-Identifier: MIT */
/* One bit per page of a disk's memory: which pages were written (page_map.h). */
#include <errno.h>
#include <stdlib.h>

#include "page_map.h"

#define RELAXED memory_order_relaxed

int vs_page_map_init(struct page_map *m, uint64_t npages, unsigned shift)
{
	m->npages = npages;
	m->shift = shift;
	m->bits = calloc((size_t)((npages + 63) / 64) + 1, sizeof(*m->bits));
	return m->bits ? 0 : -ENOMEM;
}

void vs_page_map_free(struct page_map *m)
{
	free((void *)m->bits);
	m->bits = NULL;
}

void vs_page_map_update(struct page_map *m, uint64_t first, uint64_t n, bool set)
{
	while (n) {
		_Atomic uint64_t *w = &m->bits[first >> 6];
		unsigned b = (unsigned)(first & 63);
		uint64_t k = 64 - b < n ? 64 - b : n;
		uint64_t mask = (k == 64 ? ~0ULL : (1ULL << k) - 1) << b;
		uint64_t cur = atomic_load_explicit(w, RELAXED);

		if (set && (cur & mask) != mask)
			atomic_fetch_or_explicit(w, mask, RELAXED);
		else if (!set && (cur & mask))
			atomic_fetch_and_explicit(w, ~mask, RELAXED);
		first += k;
		n -= k;
	}
}

uint64_t vs_page_map_extent(const struct page_map *m, uint64_t off, uint64_t len, bool *set)
{
	uint64_t pg = off >> m->shift, last = (off + len - 1) >> m->shift, end;
	bool state = page_map_test(m, pg);
	uint64_t all = state ? ~0ULL : 0;

	for (pg++; pg <= last;) {
		if ((pg & 63) == 0 && last - pg >= 63 &&
		    atomic_load_explicit(&m->bits[pg >> 6], RELAXED) == all) {
			pg += 64;
			continue;
		}
		if (page_map_test(m, pg) != state)
			break;
		pg++;
	}
	end = pg << m->shift;
	*set = state;
	return (end < off + len ? end : off + len) - off;
}
