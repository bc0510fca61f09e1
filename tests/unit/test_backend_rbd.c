/* SPDX-License-Identifier: MIT */
/*
 * The rbd backend without a cluster: its options are checked before
 * anything is opened, and every way of not reaching a cluster is refused
 * in one line naming the option to fix, in bounded time.  What it does
 * with a cluster is tested end to end against a real one
 * (tests/e2e/rbd_*.sh, tests/conformance/run.sh).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vstor/bdev.h"
#include "vstor/loop.h"

static char dir[] = "/tmp/vstor-test-rbd.XXXXXX";
static struct vs_loop_group *loops;

static void assert_error_starts(const char *prefix, const char *also)
{
	const char *msg = vs_last_error();

	if (strncmp(msg, prefix, strlen(prefix)) != 0 || (also && !strstr(msg, also)))
		fail_msg("error '%s' does not start with '%s'%s%s", msg, prefix,
		         also ? " or lacks " : "", also ? also : "");
	assert_null(strchr(msg, '\n'));
}

static int check(const struct vs_kv *kv, size_t n)
{
	return vs_layer_check(VS_LAYER_BACKEND, "rbd", kv, n);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_registered(void **state)
{
	struct vs_layer_type t;

	(void)state;
	assert_true(vs_layer_type_find(VS_LAYER_BACKEND, "rbd", &t));
	assert_non_null(vs_layer_type_option(&t, "image"));
	assert_non_null(vs_layer_type_option(&t, "op_timeout"));
}

static void test_option_rules(void **state)
{
	(void)state;
	struct vs_kv ok[] = { { "image", "a" }, { "create", "1" }, { "size", "1G" } };
	assert_int_equal(check(ok, N(ok)), 0);

	struct vs_kv no_image[] = { { "pool", "rbd" } };
	assert_int_equal(check(no_image, N(no_image)), -EINVAL);
	assert_error_starts("image:", "required");

	struct vs_kv create_no_size[] = { { "image", "a" }, { "create", "1" } };
	assert_int_equal(check(create_no_size, N(create_no_size)), -EINVAL);
	assert_error_starts("size: required with create=1", NULL);

	struct vs_kv short_timeout[] = { { "image", "a" }, { "op_timeout", "500ms" } };
	assert_int_equal(check(short_timeout, N(short_timeout)), -EINVAL);
	assert_error_starts("op_timeout: at least 1s", NULL);

	struct vs_kv no_timeout[] = { { "image", "a" }, { "op_timeout", "0" } };
	assert_int_equal(check(no_timeout, N(no_timeout)), 0);

	struct vs_kv empty_pool[] = { { "image", "a" }, { "pool", "" } };
	assert_int_equal(check(empty_pool, N(empty_pool)), -EINVAL);
	assert_error_starts("pool: must not be empty", NULL);

	struct vs_kv bad_bool[] = { { "image", "a" }, { "exclusive", "maybe" } };
	assert_int_equal(check(bad_bool, N(bad_bool)), -EINVAL);
	assert_error_starts("exclusive:", NULL);
}

static struct vs_bdev *open_rbd(const struct vs_kv *kv, size_t n, struct vs_loop_group *g)
{
	struct vs_bdev_desc desc = { .kind = VS_LAYER_BACKEND, .name = "rbd", .opts = kv,
	                             .nopts = n };
	struct vs_bdev_open_args args = { .loops = g };

	return vs_bdev_open_stack(&desc, &args);
}

static void test_needs_loops(void **state)
{
	(void)state;
	struct vs_kv kv[] = { { "image", "a" } };
	assert_null(open_rbd(kv, N(kv), NULL));
	assert_error_starts("backend: rbd needs the daemon's event loops", NULL);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_unreachable(void **state)
{
	char conf[128], nomon[128], keyring[128], missing[128];
	time_t t0;

	(void)state;
	snprintf(missing, sizeof(missing), "%s/missing.conf", dir);
	struct vs_kv no_file[] = { { "image", "a" }, { "conf", missing } };
	assert_null(open_rbd(no_file, N(no_file), loops));
	assert_error_starts("conf: cannot read", "missing.conf");

	snprintf(nomon, sizeof(nomon), "%s/nomon.conf", dir);
	write_file(nomon, "[global]\n");
	struct vs_kv no_mon[] = { { "image", "a" }, { "conf", nomon } };
	assert_null(open_rbd(no_mon, N(no_mon), loops));
	assert_error_starts("conf: no monitors to connect to: mon_host is not set", NULL);

	/* a monitor address nobody answers on (port 1 of loopback) */
	snprintf(conf, sizeof(conf), "%s/ceph.conf", dir);
	write_file(conf, "[global]\nmon host = 127.0.0.1:1\nauth client required = cephx\n");
	struct vs_kv no_key[] = { { "image", "a" }, { "conf", conf }, { "id", "nobody" },
	                          { "keyring", missing } };
	assert_null(open_rbd(no_key, N(no_key), loops));
	assert_error_starts("keyring: '", "holds no key for client.nobody");

	snprintf(keyring, sizeof(keyring), "%s/keyring", dir);
	write_file(keyring, "[client.admin]\n\tkey = AQBVNTNkAAAAABAA/7ZMLuQnSO2kVlbsD7H7sg==\n");
	struct vs_kv no_answer[] = { { "image", "a" }, { "conf", conf }, { "keyring", keyring },
	                             { "op_timeout", "1s" } };
	t0 = time(NULL);
	assert_null(open_rbd(no_answer, N(no_answer), loops));
	assert_error_starts("conf: no answer from the cluster's monitors as client.admin within "
	                    "1000 ms (op_timeout)", NULL);
	/* op_timeout bounds the connection (client_mount_timeout) */
	assert_true(time(NULL) - t0 <= 10);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	loops = vs_loop_group_create(1, "test-rbd");
	return loops && vs_loop_group_start(loops) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	vs_loop_group_destroy(loops);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	/* the cluster the tests must not find */
	unsetenv("CEPH_CONF");
	unsetenv("CEPH_ARGS");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registered),
		cmocka_unit_test(test_option_rules),
		cmocka_unit_test(test_needs_loops),
		cmocka_unit_test(test_unreachable),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
