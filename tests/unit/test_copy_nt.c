/* SPDX-License-Identifier: MIT */
/*
 * vs_copy_nt (util/vs_copy.h): the same bytes as memcpy for every length
 * around the 64-byte steps and every alignment of source and destination,
 * and not a byte written outside [dst, dst + n).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "util/vs_copy.h"

#define AREA 8192
#define GUARD 0xa5

static void test_same_as_memcpy(void **state)
{
	(void)state;
	static uint8_t src[AREA], dst[AREA + 64], want[AREA + 64];
	const size_t lens[] = { 0, 1, 15, 16, 17, 63, 64, 65, 79, 80, 127, 128, 129,
	                        191, 255, 4095, 4096, 4097, AREA - 64 };

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 131 + 7);
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
		for (size_t so = 0; so < 17; so++)
			for (size_t dof = 0; dof < 17; dof++) {
				size_t n = lens[li];

				memset(dst, GUARD, sizeof(dst));
				memset(want, GUARD, sizeof(want));
				memcpy(want + dof, src + so, n);
				vs_copy_nt(dst + dof, src + so, n);
				vs_copy_nt_fence();
				if (memcmp(dst, want, sizeof(dst)) != 0)
					fail_msg("length %zu, source +%zu, destination +%zu", n, so, dof);
			}
}

/* A whole megabyte, as a 1 MiB WRITE to a RAM disk copies it. */
static void test_large(void **state)
{
	(void)state;
	static uint8_t src[1 << 20], dst[(1 << 20) + 32];

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i ^ (i >> 9));
	memset(dst, GUARD, sizeof(dst));
	vs_copy_nt(dst + 16, src, sizeof(src));
	vs_copy_nt_fence();
	assert_memory_equal(dst + 16, src, sizeof(src));
	for (size_t i = 0; i < 16; i++) {
		assert_int_equal(dst[i], GUARD);
		assert_int_equal(dst[16 + sizeof(src) + i], GUARD);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_memcpy),
		cmocka_unit_test(test_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
