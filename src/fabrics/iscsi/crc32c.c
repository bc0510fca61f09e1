/* SPDX-License-Identifier: MIT */
/*
 * CRC32C (Castagnoli) for iSCSI header and data digests, RFC 7143 §13.1
 * and RFC 3720 Appendix B.4: polynomial 0x1EDC6F41, processed reflected
 * (0x82F63B78), register preset to all ones and inverted at the end.
 *
 * x86-64 CPUs with SSE4.2 have a crc32 instruction for exactly this
 * polynomial; elsewhere a slicing-by-8 table does eight bytes per step.
 * Both keep the register un-inverted internally; the public functions add
 * the pre/post inversion so results chain zlib style (see pdu.h).
 */
#include <stdint.h>
#include <string.h>

#include "pdu.h"

#define CRC32C_POLY_REFLECTED 0x82F63B78u

static uint32_t crc_table[8][256];

#if defined(__x86_64__)
#include <nmmintrin.h>
#define HAVE_HW_CRC 1
static int use_hw_crc;
#endif

/* Runs before main (and before any fuzzer or test code), so the table is
 * read-only afterwards and needs no locking. */
__attribute__((constructor)) static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
#ifdef HAVE_HW_CRC
	__builtin_cpu_init();
	use_hw_crc = __builtin_cpu_supports("sse4.2");
#endif
}

/* Register update without inversion. */
static uint32_t crc_sw_update(uint32_t c, const uint8_t *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		/* Assemble little-endian by hand: portable, and the compiler turns
		 * it into a single load on x86. */
		uint32_t lo = ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24) ^ c;
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
	return c;
}

#ifdef HAVE_HW_CRC
__attribute__((target("sse4.2")))
static uint32_t crc_hw_update(uint32_t c, const uint8_t *p, size_t len)
{
	uint64_t c64;

	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8(c, *p++);
		len--;
	}
	c64 = c;
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c64 = _mm_crc32_u64(c64, v);
		p += 8;
		len -= 8;
	}
	c = (uint32_t)c64;
	while (len--)
		c = _mm_crc32_u8(c, *p++);
	return c;
}
#endif

static uint32_t crc_update(uint32_t c, const uint8_t *p, size_t len)
{
#ifdef HAVE_HW_CRC
	if (use_hw_crc)
		return crc_hw_update(c, p, len);
#endif
	return crc_sw_update(c, p, len);
}

uint32_t iscsi_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	return ~crc_sw_update(~crc, buf, len);
}

uint32_t iscsi_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return ~crc_update(~crc, buf, len);
}

uint32_t iscsi_crc32c_iov(const struct iovec *iov, int iovcnt, size_t len, uint32_t pad_bytes)
{
	static const uint8_t zeros[16];
	uint32_t c = ~0u;

	for (int i = 0; i < iovcnt && len; i++) {
		size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;
		c = crc_update(c, iov[i].iov_base, n);
		len -= n;
	}
	while (pad_bytes) {
		uint32_t n = pad_bytes < sizeof(zeros) ? pad_bytes : (uint32_t)sizeof(zeros);
		c = crc_update(c, zeros, n);
		pad_bytes -= n;
	}
	return ~c;
}
