/* SPDX-License-Identifier: MIT */
/*
 * CRC32C (Castagnoli): iSCSI's header and data digests (RFC 7143 §13.1,
 * RFC 3720 Appendix B.4), and the checksums a RAM disk keeps of its blocks
 * so that a digest of data it lends need not read the data
 * (backend.h lent_crc32c).
 *
 * Conventions: zlib style.  Start with crc = 0 and chain by passing the
 * previous result (vs_crc32c(vs_crc32c(0, a, n), b, m) == CRC of a||b);
 * the value returned is the finished CRC32C (register preset to all ones,
 * reflected, polynomial 0x1EDC6F41, inverted at the end), e.g. 32 zero
 * bytes -> 0x8a9136aa.
 */
#ifndef VSTOR_UTIL_CRC32C_H
#define VSTOR_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

uint32_t vs_crc32c(uint32_t crc, const void *buf, size_t len);
/* The first `len` bytes of the iovec followed by `pad_bytes` zero bytes
 * (an iSCSI data segment and its padding, RFC 7143 §11.2.3). */
uint32_t vs_crc32c_iov(const struct iovec *iov, int iovcnt, size_t len, uint32_t pad_bytes);

/* The paths vs_crc32c chooses from by length, exported so tests can check
 * they all give the same answer and bench/crc32c can time them: the
 * portable slicing-by-8 table, the one-stream crc32 instruction (the table
 * without SSE4.2), and ISA-L's crc32_iscsi. */
uint32_t vs_crc32c_sw(uint32_t crc, const void *buf, size_t len);
uint32_t vs_crc32c_stream(uint32_t crc, const void *buf, size_t len);
uint32_t vs_crc32c_isal(uint32_t crc, const void *buf, size_t len);

/*
 * The CRC of a||b from crc_a = CRC(a), crc_b = CRC(b) and the length of b,
 * without reading either: CRC(a) is carried over len_b bytes by
 * multiplying it by x^(8 len_b) modulo the polynomial (the preset and the
 * final inversion cancel out between the two pieces, as in zlib's
 * crc32_combine).  About 32 steps per set bit of len_b.
 */
uint32_t vs_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

/* The same for a length fixed in advance, by table: four lookups per
 * piece, for chaining the checksums of many blocks of one size. */
struct vs_crc32c_shift {
	uint32_t t[4][256];
};

void vs_crc32c_shift_init(struct vs_crc32c_shift *s, uint64_t len_b);

static inline uint32_t vs_crc32c_append(const struct vs_crc32c_shift *s, uint32_t crc_a,
                                        uint32_t crc_b)
{
	return s->t[0][crc_a & 0xff] ^ s->t[1][(crc_a >> 8) & 0xff] ^
	       s->t[2][(crc_a >> 16) & 0xff] ^ s->t[3][crc_a >> 24] ^ crc_b;
}

#endif
