/* SPDX-License-Identifier: MIT */
/*
 * util/vs_crc32c.c: combining CRCs of pieces without reading them, by the
 * general combine and by a shift table for a fixed length, checked
 * against the CRC of the whole buffer read byte by byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/vs_crc32c.h"

static uint8_t *random_buf(size_t len, uint32_t seed)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (uint8_t)(seed >> 16);
	}
	return b;
}

static void test_combine_any_cut(void **state)
{
	size_t len = 3 * 4096 + 77;
	uint8_t *b = random_buf(len, 7);
	uint32_t whole = vs_crc32c_sw(0, b, len);

	(void)state;
	/* empty pieces, one byte, odd lengths, a piece longer than 2^12 */
	size_t cuts[] = { 0, 1, 3, 511, 512, 4095, 4096, 4097, 9000, len - 1, len };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		size_t cut = cuts[i];
		uint32_t a = vs_crc32c(0, b, cut), c = vs_crc32c(0, b + cut, len - cut);

		assert_int_equal(vs_crc32c_combine(a, c, len - cut), whole);
	}
	/* with nothing after it a CRC stays as it is */
	assert_int_equal(vs_crc32c_combine(whole, 0, 0), whole);
	free(b);
}

/* Blocks of one size chained through a shift table: what the RAM disk does
 * with its blocks' checksums (backends/ram_crc.c). */
static void test_shift_table_chains_blocks(void **state)
{
	const size_t blk = 4096, n = 64;
	uint8_t *b = random_buf(blk * n, 99);
	struct vs_crc32c_shift *s = malloc(sizeof(*s));
	uint32_t crc = 0;

	(void)state;
	assert_non_null(s);
	vs_crc32c_shift_init(s, blk);
	for (size_t i = 0; i < n; i++)
		crc = vs_crc32c_append(s, crc, vs_crc32c(0, b + i * blk, blk));
	assert_int_equal(crc, vs_crc32c_sw(0, b, blk * n));
	/* and after a piece of another length, as a read that starts inside
	 * a block does */
	crc = vs_crc32c(0, b + 100, blk - 100);
	for (size_t i = 1; i < n; i++)
		crc = vs_crc32c_append(s, crc, vs_crc32c(0, b + i * blk, blk));
	assert_int_equal(crc, vs_crc32c_sw(0, b + 100, blk * n - 100));
	/* a table for another length does not chain these blocks */
	vs_crc32c_shift_init(s, 512);
	assert_int_not_equal(vs_crc32c_append(s, vs_crc32c(0, b, blk), vs_crc32c(0, b + blk, blk)),
	                     vs_crc32c_sw(0, b, 2 * blk));
	free(s);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_combine_any_cut),
		cmocka_unit_test(test_shift_table_chains_blocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
