/* Data patterns for --verify.
 *
 * Every logical block written carries who it is and which write produced it:
 * a magic, its own LBA, and a 64-bit generation (run tag in the high half,
 * per-session write counter in the low half), followed by words derived from
 * all three. A read that returns a block from another LBA (misdirected I/O),
 * an older write (lost write) or another run fails the check. */
#ifndef ISCSI_LOAD_VERIFY_H
#define ISCSI_LOAD_VERIFY_H

#include <stddef.h>
#include <stdint.h>

void verify_fill(unsigned char *buf, uint64_t lba, uint32_t nblocks,
		 uint32_t block_size, uint64_t generation);
/* Number of blocks in buf that do not carry (lba + i, generation). */
uint32_t verify_check(const unsigned char *buf, uint64_t lba, uint32_t nblocks,
		      uint32_t block_size, uint64_t generation);

#endif
