/* SPDX-License-Identifier: MIT */
/*
 * CRC32C (Castagnoli), vs_crc32c.h: polynomial 0x1EDC6F41, processed
 * reflected (0x82F63B78), register preset to all ones and inverted at the
 * end (RFC 3720 Appendix B.4).
 *
 * Three ways to the same value, each where it is fastest:
 *  - ISA-L's crc32_iscsi (Debian libisal-dev, what SPDK uses) for buffers
 *    of CRC_ISAL_MIN bytes and more: it runs three crc32 streams at once
 *    and folds them, 6-8x the single stream on 4 KiB-1 MiB here;
 *  - below that, where ISA-L's set-up costs more than it saves (a 48-byte
 *    header), x86-64's crc32 instruction in one stream (SSE4.2);
 *  - without SSE4.2, a slicing-by-8 table, eight bytes per step.
 * All keep the register un-inverted internally (crc32_iscsi takes and
 * returns it so); the public functions add the pre/post inversion so
 * results chain zlib style (vs_crc32c.h).  bench/crc32c measures the paths
 * on a machine, so the cut-over can be checked there.
 */
#include <isa-l/crc.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "vs_crc32c.h"

/* From this length ISA-L wins (bench/crc32c on the 2-vCPU Xeon of
 * bench/README.md: equal at 128-192 bytes, 2.6x at 256, 7x at 4 KiB). */
#define CRC_ISAL_MIN 256u

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

/* ISA-L takes an int length and a non-const buffer it only reads. */
static uint32_t crc_isal_update(uint32_t c, const uint8_t *p, size_t len)
{
	while (len) {
		size_t n = len < (size_t)INT_MAX ? len : (size_t)INT_MAX & ~(size_t)7;

		c = crc32_iscsi((unsigned char *)(uintptr_t)p, (int)n, c);
		p += n;
		len -= n;
	}
	return c;
}

static uint32_t crc_update(uint32_t c, const uint8_t *p, size_t len)
{
	if (len >= CRC_ISAL_MIN)
		return crc_isal_update(c, p, len);
#ifdef HAVE_HW_CRC
	if (use_hw_crc)
		return crc_hw_update(c, p, len);
#endif
	return crc_sw_update(c, p, len);
}

uint32_t vs_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	return ~crc_sw_update(~crc, buf, len);
}

uint32_t vs_crc32c_isal(uint32_t crc, const void *buf, size_t len)
{
	return ~crc_isal_update(~crc, buf, len);
}

uint32_t vs_crc32c_stream(uint32_t crc, const void *buf, size_t len)
{
#ifdef HAVE_HW_CRC
	if (use_hw_crc)
		return ~crc_hw_update(~crc, buf, len);
#endif
	return ~crc_sw_update(~crc, buf, len);
}

uint32_t vs_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return ~crc_update(~crc, buf, len);
}

uint32_t vs_crc32c_iov(const struct iovec *iov, int iovcnt, size_t len, uint32_t pad_bytes)
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

/* ---------------------------------------------------------------- combining */

/*
 * Polynomials modulo P in the reflected representation the register uses:
 * bit 31 is x^0, bit 0 is x^31.  a * b mod P, shifting b up one power of
 * x per bit of a (a shift right, reduced by P when x^32 falls out).
 */
static uint32_t gf_mul(uint32_t a, uint32_t b)
{
	uint32_t product = 0;

	for (uint32_t bit = 1u << 31; bit && a; bit >>= 1) {
		if (a & bit) {
			product ^= b;
			a &= ~bit;
		}
		b = (b & 1) ? (b >> 1) ^ CRC32C_POLY_REFLECTED : b >> 1;
	}
	return product;
}

/* x^(8 len) mod P, by squaring: x^8 (one byte), then x^16, x^32, ... for
 * the bits of len. */
static uint32_t x_pow_8len(uint64_t len)
{
	uint32_t result = 1u << 31;             /* x^0 */
	uint32_t power = 1u << (31 - 8);        /* x^8 */

	for (; len; len >>= 1) {
		if (len & 1)
			result = gf_mul(power, result);
		power = gf_mul(power, power);
	}
	return result;
}

uint32_t vs_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
	return gf_mul(x_pow_8len(len_b), crc_a) ^ crc_b;
}

/* Carrying a CRC over len_b bytes is linear in its bits, so the table
 * holds the image of each byte value in each byte position. */
void vs_crc32c_shift_init(struct vs_crc32c_shift *s, uint64_t len_b)
{
	uint32_t k = x_pow_8len(len_b);

	for (int pos = 0; pos < 4; pos++)
		for (uint32_t v = 0; v < 256; v++)
			s->t[pos][v] = gf_mul(k, v << (8 * pos));
}
