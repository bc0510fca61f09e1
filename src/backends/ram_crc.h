/* SPDX-License-Identifier: MIT */
/*
 * The RAM disk's checksums of its blocks (backend.h lent_crc32c): the
 * CRC32C of each 4 KiB block, taken the first time a stable loan asks for
 * it and kept until the block changes, so that iSCSI data digests of
 * reads the RAM disk lends cost no pass over data that is not in cache.
 *
 * One 8-byte word per block of the disk's reserve (max_size): 0 = not
 * known, else 1 << 32 | CRC.  The array is anonymous memory reserved at the
 * first request, so a disk never read with digests has none and its
 * writes pay one pointer test; afterwards its pages are touched only where
 * blocks were summed (2 MiB per GiB read with digests).
 *
 * Why it stays right: a sum is written only by a reader holding a stable
 * loan on the whole block (nothing changes its bytes meanwhile,
 * stable_loans.h), and every change forgets the sums of the blocks it
 * touched after it changed them, while it still keeps stable loans off
 * those bytes.  So a loan that begins after a change finds the sum gone,
 * and no loan can see the bytes change under a sum it uses.
 */
#ifndef VSTOR_RAM_CRC_H
#define VSTOR_RAM_CRC_H

#include <stdatomic.h>
#include <stdint.h>

#define RAM_CRC_BLOCK 4096u

struct ram_crc {
	_Atomic(_Atomic uint64_t *) sums;
	uint64_t nblocks;
};

void vs_ram_crc_init(struct ram_crc *c, uint64_t reserve);
void vs_ram_crc_destroy(struct ram_crc *c);
/* Bytes [off, off+len) changed: the sums of the blocks they touch go. */
void vs_ram_crc_forget(struct ram_crc *c, uint64_t off, uint64_t len);
/* The CRC32C of [off, off+len) of the disk at `base`, from the kept sums
 * of the whole blocks in it (missing ones taken and kept) and the bytes of
 * the partial blocks at its edges.  The caller keeps those bytes from
 * changing (a stable loan). */
uint32_t vs_ram_crc_get(struct ram_crc *c, const uint8_t *base, uint64_t off, uint64_t len);

#endif
