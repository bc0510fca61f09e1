/* SPDX-License-Identifier: MIT */
/* The RAM disk's block checksums: see ram_crc.h. */
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>

#include "ram_crc.h"
#include "../util/vs_crc32c.h"

#define SUM_KNOWN (1ULL << 32)

/* Carrying a CRC over one block: the same table for every disk. */
static struct vs_crc32c_shift block_shift;
static pthread_once_t block_shift_once = PTHREAD_ONCE_INIT;

static void block_shift_init(void)
{
	vs_crc32c_shift_init(&block_shift, RAM_CRC_BLOCK);
}

void vs_ram_crc_init(struct ram_crc *c, uint64_t reserve)
{
	atomic_init(&c->sums, NULL);
	c->nblocks = (reserve + RAM_CRC_BLOCK - 1) / RAM_CRC_BLOCK;
	pthread_once(&block_shift_once, block_shift_init);
}

void vs_ram_crc_destroy(struct ram_crc *c)
{
	_Atomic uint64_t *s = atomic_load(&c->sums);

	if (s)
		munmap((void *)s, c->nblocks * sizeof(*s));
}

/* The array, reserved at the first request; NULL when there is no memory
 * for it (the caller reads the bytes instead). */
static _Atomic uint64_t *sums_get(struct ram_crc *c)
{
	_Atomic uint64_t *s = atomic_load_explicit(&c->sums, memory_order_acquire);
	void *m;

	if (s)
		return s;
	m = mmap(NULL, c->nblocks * sizeof(*s), PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (!atomic_compare_exchange_strong(&c->sums, &s, (_Atomic uint64_t *)m)) {
		munmap(m, c->nblocks * sizeof(*s));     /* another reader was first */
		return s;
	}
	return m;
}

void vs_ram_crc_forget(struct ram_crc *c, uint64_t off, uint64_t len)
{
	_Atomic uint64_t *s = atomic_load_explicit(&c->sums, memory_order_acquire);
	uint64_t last;

	if (!s || len == 0)
		return;
	last = (off + len - 1) / RAM_CRC_BLOCK;
	if (last >= c->nblocks)
		last = c->nblocks - 1;
	/* a load first: blocks never summed stay untouched pages */
	for (uint64_t b = off / RAM_CRC_BLOCK; b <= last; b++)
		if (atomic_load_explicit(&s[b], memory_order_relaxed))
			atomic_store_explicit(&s[b], 0, memory_order_relaxed);
}

static uint32_t block_sum(_Atomic uint64_t *s, const uint8_t *base, uint64_t b)
{
	uint64_t v = atomic_load_explicit(&s[b], memory_order_relaxed);
	uint32_t crc;

	if (v & SUM_KNOWN)
		return (uint32_t)v;
	crc = vs_crc32c(0, base + b * RAM_CRC_BLOCK, RAM_CRC_BLOCK);
	atomic_store_explicit(&s[b], SUM_KNOWN | crc, memory_order_relaxed);
	return crc;
}

uint32_t vs_ram_crc_get(struct ram_crc *c, const uint8_t *base, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	uint64_t b = (off + RAM_CRC_BLOCK - 1) / RAM_CRC_BLOCK * RAM_CRC_BLOCK;
	_Atomic uint64_t *s;
	uint32_t crc = 0;

	if (b + RAM_CRC_BLOCK > end || !(s = sums_get(c)))
		return vs_crc32c(0, base + off, len);   /* no whole block in it */
	if (off < b)
		crc = vs_crc32c(0, base + off, b - off);
	for (; b + RAM_CRC_BLOCK <= end; b += RAM_CRC_BLOCK)
		crc = vs_crc32c_append(&block_shift, crc, block_sum(s, base, b / RAM_CRC_BLOCK));
	if (b < end)
		crc = vs_crc32c(crc, base + b, end - b);
	return crc;
}
