/* SPDX-License-Identifier: MIT */
/*
 * The mirror's per-region state (see mirror_int.h): the in-flight bits
 * and the legs' behind bits (words of the map file's image, changed with
 * atomic OR/AND so the I/O path needs no lock), and the counters a write
 * holds while it is in flight.
 *
 * Two races are decided by the order of two seq_cst operations on each
 * side (Dekker's pattern), so neither side takes a lock:
 *  - a write takes `pending` and then looks at `copying`; the resync sets
 *    `copying` and then looks at `pending`: a region is never copied while
 *    a write is in it, and a write never starts in a region being copied;
 *  - a write takes `pending` and then looks at `wstate`; the cleaner sets
 *    `wstate` to CLEAN and then looks at `pending`: an in-flight bit is
 *    never cleared under a write that relied on it.
 */
#include <string.h>

#include "mirror_int.h"

bool vs_map_test(_Atomic uint64_t *bits, uint64_t r)
{
	return atomic_load_explicit(&bits[r / 64], memory_order_acquire) >> (r % 64) & 1;
}

bool vs_map_set(_Atomic uint64_t *bits, uint64_t r)
{
	uint64_t bit = 1ull << (r % 64);

	return !(atomic_fetch_or(&bits[r / 64], bit) & bit);
}

bool vs_map_clear(_Atomic uint64_t *bits, uint64_t r)
{
	uint64_t bit = 1ull << (r % 64);

	return atomic_fetch_and(&bits[r / 64], ~bit) & bit;
}

void vs_map_behind(struct mirror *m, size_t leg, uint64_t r0, uint64_t r1)
{
	struct mleg *l = &m->leg[leg];

	for (uint64_t r = r0; r <= r1 && r < m->nregions; r++)
		if (vs_map_set(l->bits, r)) {
			/* the total first: a reader of behind, then the
			 * total, never sees more behind than in all */
			atomic_fetch_add(&l->rs_total, 1);
			atomic_fetch_add(&l->behind, 1);
		}
}

void vs_map_behind_all(struct mirror *m, size_t leg)
{
	vs_map_behind(m, leg, 0, m->nregions - 1);
}

void vs_map_behind_clear(struct mirror *m, size_t leg, uint64_t r)
{
	if (vs_map_clear(m->leg[leg].bits, r))
		atomic_fetch_sub(&m->leg[leg].behind, 1);
}

uint64_t vs_map_count(const struct mirror *m, _Atomic uint64_t *bits)
{
	uint64_t n = 0;

	for (uint64_t w = 0; w < m->words; w++)
		n += (uint64_t)__builtin_popcountll(atomic_load_explicit(&bits[w],
		                                                         memory_order_relaxed));
	return n;
}

uint64_t vs_map_next_behind(struct mirror *m, uint32_t legs, uint64_t from)
{
	for (uint64_t w = from / 64; w < m->words; w++) {
		uint64_t any = 0;

		for (size_t i = 0; i < m->nlegs; i++)
			if (legs & (1u << i))
				any |= atomic_load_explicit(&m->leg[i].bits[w], memory_order_acquire);
		if (w == from / 64)
			any &= ~0ull << (from % 64);
		if (any) {
			uint64_t r = w * 64 + (uint64_t)__builtin_ctzll(any);

			return r < m->nregions ? r : m->nregions;
		}
	}
	return m->nregions;
}

bool vs_map_take(struct mirror *m, uint64_t r0, uint64_t r1)
{
	for (uint64_t r = r0; r <= r1; r++)
		atomic_fetch_add(&m->pending[r], 1);
	for (uint64_t r = r0; r <= r1; r++) {
		if (atomic_load(&m->copying[r])) {
			vs_map_give(m, r0, r1);
			return false;
		}
	}
	for (uint64_t r = r0; r <= r1; r++)
		if (!atomic_load_explicit(&m->touched[r], memory_order_relaxed))
			atomic_store_explicit(&m->touched[r], 1, memory_order_relaxed);
	return true;
}

void vs_map_give(struct mirror *m, uint64_t r0, uint64_t r1)
{
	bool copy_waits = false;

	for (uint64_t r = r0; r <= r1; r++)
		if (atomic_fetch_sub(&m->pending[r], 1) == 1 && atomic_load(&m->copying[r]))
			copy_waits = true;
	if (copy_waits)
		m->kick_resync(m);
}

bool vs_map_durable(struct mirror *m, uint64_t r0, uint64_t r1)
{
	for (uint64_t r = r0; r <= r1; r++)
		if (atomic_load(&m->wstate[r]) != W_DURABLE)
			return false;
	return true;
}

bool vs_map_want(struct mirror *m, uint64_t r0, uint64_t r1)
{
	bool need = false;

	for (uint64_t r = r0; r <= r1; r++) {
		switch (atomic_load(&m->wstate[r])) {
		case W_CLEAN:
			atomic_store(&m->wstate[r], W_SET);
			vs_map_set(m->wbits, r);
			m->meta.set_list[m->meta.nset++] = r;
			need = true;
			break;
		case W_SET:
			need = true;
			break;
		default:
			break;          /* FLUSHING: the update in flight carries it */
		}
	}
	return need;
}

bool vs_map_clean(struct mirror *m, bool all)
{
	bool changed = false;

	for (uint64_t r = 0; r < m->nregions; r++) {
		if (atomic_load_explicit(&m->wstate[r], memory_order_relaxed) != W_DURABLE)
			continue;
		if (!all && atomic_exchange_explicit(&m->touched[r], 0, memory_order_relaxed))
			continue;       /* written since the last look: next time */
		atomic_store(&m->wstate[r], W_CLEAN);
		if (atomic_load(&m->pending[r])) {
			/* a write came in meanwhile and relies on the bit */
			atomic_store(&m->wstate[r], W_DURABLE);
			continue;
		}
		vs_map_clear(m->wbits, r);
		changed = true;
	}
	return changed;
}
