#include "verify.h"

#include <string.h>

#define VERIFY_MAGIC 0x565354524c4f4144ull /* "VSTRLOAD" */

static inline uint64_t word_at(uint64_t lba, uint64_t gen, uint64_t i)
{
	uint64_t x = (lba * 0x9e3779b97f4a7c15ull) ^ gen ^ (i * 0xbf58476d1ce4e5b9ull);
	return x ^ (x >> 29);
}

static void fill_block(unsigned char *b, uint64_t lba, uint32_t block_size,
		       uint64_t gen)
{
	uint64_t hdr[3] = { VERIFY_MAGIC, lba, gen };
	memcpy(b, hdr, sizeof(hdr));
	for (uint32_t off = sizeof(hdr); off + 8 <= block_size; off += 8) {
		uint64_t w = word_at(lba, gen, off);
		memcpy(b + off, &w, 8);
	}
}

static int block_ok(const unsigned char *b, uint64_t lba, uint32_t block_size,
		    uint64_t gen)
{
	uint64_t hdr[3];
	memcpy(hdr, b, sizeof(hdr));
	if (hdr[0] != VERIFY_MAGIC || hdr[1] != lba || hdr[2] != gen)
		return 0;
	for (uint32_t off = sizeof(hdr); off + 8 <= block_size; off += 8) {
		uint64_t w;
		memcpy(&w, b + off, 8);
		if (w != word_at(lba, gen, off))
			return 0;
	}
	return 1;
}

void verify_fill(unsigned char *buf, uint64_t lba, uint32_t nblocks,
		 uint32_t block_size, uint64_t generation)
{
	for (uint32_t i = 0; i < nblocks; i++)
		fill_block(buf + (size_t)i * block_size, lba + i, block_size,
			   generation);
}

uint32_t verify_check(const unsigned char *buf, uint64_t lba, uint32_t nblocks,
		      uint32_t block_size, uint64_t generation)
{
	uint32_t bad = 0;
	for (uint32_t i = 0; i < nblocks; i++)
		bad += !block_ok(buf + (size_t)i * block_size, lba + i,
				 block_size, generation);
	return bad;
}
