/* SPDX-License-Identifier: MIT */
/* Backend registry: lookup, size parsing, option errors that name the field. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vstor/bdev.h"

static void assert_error_mentions(const char *a, const char *b)
{
	const char *msg = vs_last_error();
	assert_non_null(msg);
	if (!strstr(msg, a) || (b && !strstr(msg, b)))
		fail_msg("error '%s' does not mention '%s'%s%s", msg, a, b ? " and " : "",
		         b ? b : "");
	assert_null(strchr(msg, '\n'));   /* one line */
}

static void test_parse_size_valid(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{"0", 0},
		{"1", 1},
		{"4096", 4096},
		{"4096B", 4096},
		{"512K", 512ULL << 10},
		{"512k", 512ULL << 10},
		{"512KB", 512ULL << 10},
		{"512KiB", 512ULL << 10},
		{"1M", 1ULL << 20},
		{"1MB", 1ULL << 20},
		{"1MiB", 1ULL << 20},
		{"1G", 1ULL << 30},
		{"1g", 1ULL << 30},
		{"2GB", 2ULL << 30},
		{"10GiB", 10ULL << 30},
		{"1T", 1ULL << 40},
		{"1TB", 1ULL << 40},
		{"3TiB", 3ULL << 40},
		{"16777215T", 16777215ULL << 40},
		{"18446744073709551615", UINT64_MAX},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 12345;
		int rc = vs_parse_size(ok[i].s, &v);
		if (rc != 0 || v != ok[i].v)
			fail_msg("'%s': rc %d value %llu, want %llu", ok[i].s, rc,
			         (unsigned long long)v, (unsigned long long)ok[i].v);
	}
}

static void test_parse_size_invalid(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int rc;
	} bad[] = {
		{"", -EINVAL},      {"abc", -EINVAL},   {"-1", -EINVAL},
		{"+5", -EINVAL},    {" 1G", -EINVAL},   {"1G ", -EINVAL},
		{"1X", -EINVAL},    {"1.5G", -EINVAL},  {"1Gi", -EINVAL},
		{"G", -EINVAL},     {"1KiBx", -EINVAL}, {"0x10", -EINVAL},
		{"1BB", -EINVAL},   {"1KK", -EINVAL},   {"1 K", -EINVAL},
		{"18446744073709551616", -ERANGE},
		{"99999999999999999999999", -ERANGE},
		{"16777216T", -ERANGE},
		{"17179869184G", -ERANGE},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 777;
		int rc = vs_parse_size(bad[i].s, &v);
		if (rc != bad[i].rc || v != 777)
			fail_msg("'%s': rc %d (want %d), value %llu changed", bad[i].s, rc,
			         bad[i].rc, (unsigned long long)v);
	}
	uint64_t v;
	assert_int_equal(vs_parse_size(NULL, &v), -EINVAL);
}

static void test_kv_get(void **state)
{
	(void)state;
	struct vs_kv kv[] = {{"size", "1G"}, {"path", "/x"}};
	assert_string_equal(vs_kv_get(kv, 2, "size"), "1G");
	assert_string_equal(vs_kv_get(kv, 2, "path"), "/x");
	assert_null(vs_kv_get(kv, 2, "direct"));
	assert_null(vs_kv_get(kv, 1, "path"));   /* n bounds the search */
	assert_null(vs_kv_get(NULL, 0, "size"));
}

static void test_find(void **state)
{
	(void)state;
	struct vs_layer_type ram, file;

	assert_true(vs_layer_type_find(VS_LAYER_BACKEND, "ram", &ram));
	assert_true(vs_layer_type_find(VS_LAYER_BACKEND, "file", &file));
	assert_string_equal(ram.name, "ram");
	assert_string_equal(file.name, "file");
	assert_string_equal(ram.origin, "built-in");
	assert_non_null(ram.description);
	assert_non_null(file.description);
	assert_non_null(vs_layer_type_option(&ram, "size"));
	assert_non_null(vs_layer_type_option(&file, "path"));
	assert_null(vs_layer_type_option(&file, "bogus"));
	assert_false(vs_layer_type_find(VS_LAYER_BACKEND, "nope", NULL));
	assert_false(vs_layer_type_find(VS_LAYER_BACKEND, NULL, NULL));
	assert_false(vs_layer_type_find(VS_LAYER_FILTER, "ram", NULL));
}

static void test_open_unknown_backend(void **state)
{
	(void)state;
	assert_null(vs_bdev_open("floppy", NULL, 0));
	assert_error_mentions("floppy", NULL);
}

static void test_open_ram_ok(void **state)
{
	(void)state;
	struct vs_kv kv[] = {{"size", "1M"}};
	struct vs_bdev *b = vs_bdev_open("ram", kv, 1);
	assert_non_null(b);
	assert_string_equal(vs_bdev_backend_name(b), "ram");
	assert_int_equal(vs_bdev_get_size(b), 1 << 20);
	vs_bdev_close(b);
	vs_bdev_close(NULL);
}

static void test_ram_bad_options(void **state)
{
	(void)state;
	assert_null(vs_bdev_open("ram", NULL, 0));
	assert_error_mentions("ram", "size");

	struct vs_kv zero[] = {{"size", "0"}};
	assert_null(vs_bdev_open("ram", zero, 1));
	assert_error_mentions("ram: size", NULL);

	struct vs_kv junk[] = {{"size", "abc"}};
	assert_null(vs_bdev_open("ram", junk, 1));
	assert_error_mentions("ram: size", "'abc'");

	struct vs_kv unknown[] = {{"size", "1M"}, {"colour", "blue"}};
	assert_null(vs_bdev_open("ram", unknown, 2));
	assert_error_mentions("ram", "colour");

	struct vs_kv twice[] = {{"size", "1M"}, {"size", "2M"}};
	assert_null(vs_bdev_open("ram", twice, 2));
	assert_error_mentions("ram: size", "more than once");

	struct vs_kv noval[] = {{"size", NULL}};
	assert_null(vs_bdev_open("ram", noval, 1));
	assert_error_mentions("ram: size", NULL);

	struct vs_kv small_max[] = {{"size", "2M"}, {"max_size", "1M"}};
	assert_null(vs_bdev_open("ram", small_max, 2));
	assert_error_mentions("ram: max_size", NULL);

	struct vs_kv huge[] = {{"size", "99999999999999999999"}};
	assert_null(vs_bdev_open("ram", huge, 1));
	assert_error_mentions("ram: size", NULL);
}

static void test_file_bad_options(void **state)
{
	(void)state;
	struct vs_kv nopath[] = {{"size", "1M"}};
	assert_null(vs_bdev_open("file", nopath, 1));
	assert_error_mentions("file: path", NULL);

	struct vs_kv cannot[] = {{"path", "/nonexistent-dir-vstor/x.img"}};
	assert_null(vs_bdev_open("file", cannot, 1));
	assert_error_mentions("file: path", "/nonexistent-dir-vstor/x.img");

	struct vs_kv unknown[] = {{"path", "/tmp/x"}, {"sise", "1M"}};
	assert_null(vs_bdev_open("file", unknown, 2));
	assert_error_mentions("file", "sise");

	struct vs_kv badbool[] = {{"path", "/tmp/x"}, {"direct", "maybe"}};
	assert_null(vs_bdev_open("file", badbool, 2));
	assert_error_mentions("file: direct", "maybe");

	struct vs_kv badsize[] = {{"path", "/tmp/x"}, {"size", "12Q"}};
	assert_null(vs_bdev_open("file", badsize, 2));
	assert_error_mentions("file: size", "12Q");

	struct vs_kv zero[] = {{"path", "/tmp/x"}, {"size", "0"}};
	assert_null(vs_bdev_open("file", zero, 2));
	assert_error_mentions("file: size", NULL);

	struct vs_kv create_nosize[] = {{"path", "/tmp/x"}, {"create", "1"}};
	assert_null(vs_bdev_open("file", create_nosize, 2));
	assert_error_mentions("file: size", "create");

	struct vs_kv dir[] = {{"path", "/tmp"}, {"readonly", "1"}};
	assert_null(vs_bdev_open("file", dir, 2));
	assert_error_mentions("file: path", "/tmp");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size_valid),
		cmocka_unit_test(test_parse_size_invalid),
		cmocka_unit_test(test_kv_get),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_open_unknown_backend),
		cmocka_unit_test(test_open_ram_ok),
		cmocka_unit_test(test_ram_bad_options),
		cmocka_unit_test(test_file_bad_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
