/* SPDX-License-Identifier: MIT */
/*
 * Loadable backends and filters (src/bdev/plugin.c, doc/plugins.md).  The
 * guide's examples (doc/examples/pattern.c and offset.c) and deliberately
 * bad objects (plugins/tplugin.c) are built as shared objects under
 * PLUGINS/{examples,mixed,single}:
 *  - a directory of plugins loads, listings show each type's file, and a
 *    stack of the example filter over the example backend does I/O;
 *  - a plugin is refused, whole and without a crash, for: an API version
 *    or struct size this vstor does not take, fields of a newer header set,
 *    no exported tables or empty ones, a name taken (a built-in's, its own
 *    twice), a missing callback, a malformed option schema, registering
 *    from a constructor, an undefined symbol; and what is not a plugin at
 *    all (no file, a directory, a text file);
 *  - a name without '/' is the file in the current directory, never one
 *    from the system's library path.
 * Types are never unregistered, so each good plugin is loaded once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vstor/filter.h"

#define EXAMPLES PLUGINS "/examples"
#define MIXED    PLUGINS "/mixed"
#define SINGLE   PLUGINS "/single"

static void expect_error(const char *prefix, const char *part)
{
	const char *e = vs_last_error();

	if (strncmp(e, prefix, strlen(prefix)) != 0 || (part && !strstr(e, part)))
		fail_msg("error \"%s\" does not start with \"%s\"%s%s", e, prefix,
		         part ? " and contain " : "", part ? part : "");
	assert_null(strchr(e, '\n'));
}

static void expect_origin(int kind, const char *name, const char *origin)
{
	struct vs_layer_type t;

	if (!vs_layer_type_find(kind, name, &t))
		fail_msg("%s is not registered", name);
	assert_string_equal(t.origin, origin);
}

static void expect_absent(int kind, const char *name)
{
	if (vs_layer_type_find(kind, name, NULL))
		fail_msg("%s is registered", name);
}

struct report {
	int calls, ok;
	char paths[16][PATH_MAX];
	int rc[16];
	char errors[16][512];
};

static void record(void *ctx, const char *path, int rc, const char *error)
{
	struct report *r = ctx;

	assert_true(r->calls < 16);
	snprintf(r->paths[r->calls], sizeof(r->paths[0]), "%s", path);
	snprintf(r->errors[r->calls], sizeof(r->errors[0]), "%s", error ? error : "");
	assert_true((rc == 0) == (error == NULL));
	r->rc[r->calls++] = rc;
	r->ok += rc == 0;
}

/* ------------------------------------------------------------ the examples */

static void test_load_a_directory(void **state)
{
	struct vs_layer_type all[64];
	struct report r = { 0 };
	size_t n;
	int seen = 0;

	(void)state;
	expect_absent(VS_LAYER_BACKEND, "pattern");
	assert_int_equal(vs_plugin_load_dir_report(EXAMPLES, record, &r), 0);
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.ok, 2);
	assert_string_equal(r.paths[0], EXAMPLES "/offset.so");     /* name order */
	assert_string_equal(r.paths[1], EXAMPLES "/pattern.so");
	expect_origin(VS_LAYER_BACKEND, "pattern", EXAMPLES "/pattern.so");
	expect_origin(VS_LAYER_FILTER, "offset", EXAMPLES "/offset.so");
	expect_origin(VS_LAYER_BACKEND, "ram", "built-in");

	/* listings: the plugins' types among the built-ins, with their schema */
	n = vs_layer_types(0, all, 64);
	assert_true(n <= 64);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(all[i].name, "pattern") == 0) {
			assert_int_equal(all[i].kind, VS_LAYER_BACKEND);
			assert_string_equal(all[i].origin, EXAMPLES "/pattern.so");
			assert_non_null(vs_layer_type_option(&all[i], "size"));
			assert_true(vs_layer_type_option(&all[i], "size")->flags & VS_OPT_REQUIRED);
			seen++;
		} else if (strcmp(all[i].name, "offset") == 0) {
			assert_int_equal(all[i].kind, VS_LAYER_FILTER);
			assert_int_equal(all[i].min_lower, 1);
			assert_int_equal(all[i].max_lower, 1);
			seen++;
		}
	}
	assert_int_equal(seen, 2);

	/* once loaded, the same file again is a name clash, refused */
	assert_int_equal(vs_plugin_load(EXAMPLES "/pattern.so"), -EEXIST);
	expect_error(EXAMPLES "/pattern.so: backend 'pattern' is already registered ("
	             EXAMPLES "/pattern.so)", NULL);
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void bio_done(struct vs_bio *bio, int err)
{
	*(int *)bio->ctx = err;
}

/* One request on b; its result (the examples complete inline). */
static int io(struct vs_bdev *b, int op, uint64_t off, void *buf, size_t len)
{
	struct iovec iov = { buf, len };
	int err = 1, rc;
	struct vs_bio bio = { .op = (uint8_t)op, .offset = off, .length = len, .iov = &iov,
	                      .iovcnt = 1, .done = bio_done, .ctx = &err };

	rc = vs_bdev_submit(b, &bio);
	if (rc < 0)
		return rc;
	assert_int_not_equal(err, 1);
	return err;
}

static struct vs_bdev *open_window(const char *backend, const struct vs_kv *bk, size_t nbk,
                                   const struct vs_kv *win, size_t nwin)
{
	struct vs_bdev_desc low = { .kind = VS_LAYER_BACKEND, .name = backend, .opts = bk,
	                            .nopts = nbk };
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "offset", .opts = win,
	                            .nopts = nwin, .lower = &low, .nlower = 1 };

	return vs_bdev_open_stack(&top, NULL);
}

static void test_io_through_plugins(void **state)
{
	static const struct vs_kv size[] = { { "size", "1M" } };
	static const struct vs_kv win[] = { { "offset", "4096" }, { "size", "64K" } };
	struct vs_backend_caps caps;
	uint8_t buf[4096], data[4096];
	struct vs_bdev *b;
	bool mapped;
	uint64_t ext;

	(void)state;
	/* the filter over the backend: the window starts 4096 bytes in */
	b = open_window("pattern", size, 1, win, 2);
	assert_non_null(b);
	assert_string_equal(vs_bdev_name(b), "offset/pattern");
	assert_string_equal(vs_bdev_backend_name(b), "pattern");
	assert_int_equal(vs_bdev_get_size(b), 64 << 10);
	vs_bdev_get_caps(b, &caps);
	assert_false(caps.can_write);
	assert_false(caps.can_resize);
	assert_int_equal(io(b, VS_BIO_READ, 512, buf, 512), 0);
	assert_int_equal(be64(buf), 4096 + 512);
	assert_int_equal(be64(buf + 504), 4096 + 512 + 504);
	assert_int_equal(io(b, VS_BIO_READ, (64 << 10) - 8, buf, 8), 0);
	assert_int_equal(be64(buf), 4096 + (64 << 10) - 8);
	/* past the window: refused, never completed */
	assert_int_equal(io(b, VS_BIO_READ, 64 << 10, buf, 8), -EINVAL);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, buf, 512), -EROFS);
	assert_int_equal(io(b, VS_BIO_FLUSH, 0, NULL, 0), 0);
	assert_int_equal(vs_bdev_resize(b, 1 << 20), -EOPNOTSUPP);
	vs_bdev_close(b);

	/* over ram: written data comes back, and block status is the window's */
	b = open_window("ram", size, 1, win, 2);
	assert_non_null(b);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 1);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, data, sizeof(data)), 0);
	assert_int_equal(io(b, VS_BIO_READ, 0, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, data, sizeof(buf));
	assert_true(vs_bdev_has_block_status(b));
	assert_int_equal(vs_bdev_block_status(b, 0, 8192, &mapped, &ext), 0);
	assert_true(mapped);
	assert_int_equal(ext, 4096);
	assert_int_equal(vs_bdev_block_status(b, 4096, 4096, &mapped, &ext), 0);
	assert_false(mapped);
	vs_bdev_close(b);

	/* the plugins' options are checked by their schema and their open */
	assert_int_equal(vs_layer_check(VS_LAYER_FILTER, "offset",
	                                (struct vs_kv[]){ { "offset", "x" } }, 1), -EINVAL);
	expect_error("offset: 'x' is not a size", NULL);
	assert_int_equal(vs_layer_check(VS_LAYER_BACKEND, "pattern", NULL, 0), -EINVAL);
	expect_error("size: missing", NULL);
	assert_null(open_window("pattern", size, 1, (struct vs_kv[]){ { "offset", "1M" } }, 1));
	expect_error("offset: the window is past the end of the disk below", NULL);
}

/* ------------------------------------------------------------ refused */

static void test_bad_plugins_refused_whole(void **state)
{
	static const struct {
		const char *file;
		int rc;
		const char *error;      /* after "PATH: " */
		const char *names[2];   /* not registered afterwards */
	} bad[] = {
		{ "bad_version.so", -EPROTO, "backend 'tbadver' has API version 3", { "tbadver" } },
		{ "odd_size.so", -EPROTO, "backend 'todd' has API version 2 (struct size", { "todd" } },
		{ "newer_set.so", -EPROTO, "backend 'tnewer' was built for a newer vstor", { "tnewer" } },
		{ "no_symbols.so", -ENOEXEC, "exports neither vs_plugin_backends nor "
		  "vs_plugin_filters", { NULL } },
		{ "empty.so", -ENOEXEC, "vs_plugin_backends and vs_plugin_filters are empty",
		  { NULL } },
		{ "clash.so", -EEXIST, "backend 'ram' is already registered (built-in)", { NULL } },
		{ "half_bad.so", -EINVAL, "filter 'thalf-filter' lacks a required callback",
		  { "thalf", "thalf-filter" } },
		{ "dup.so", -EEXIST, "backend 'tdup' is already registered (" MIXED "/dup.so)",
		  { "tdup" } },
		{ "bad_schema.so", -EINVAL, "tschema: bad default (block: 'lots' is not a size",
		  { "tschema" } },
		{ "ctor.so", -EPERM, "registers layers from its own code", { "tctor", "tctor2" } },
		{ "undefined.so", -ENOEXEC, "cannot load: undefined symbol: vs_no_such_function",
		  { "tundef" } },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[PATH_MAX], prefix[PATH_MAX + 2];
		int rc;

		snprintf(path, sizeof(path), "%s/%s", MIXED, bad[i].file);
		snprintf(prefix, sizeof(prefix), "%s: ", path);
		rc = vs_plugin_load(path);
		if (rc != bad[i].rc)
			fail_msg("%s: rc %d, want %d (%s)", bad[i].file, rc, bad[i].rc, vs_last_error());
		expect_error(prefix, bad[i].error);
		for (int k = 0; k < 2 && bad[i].names[k]; k++) {
			expect_absent(VS_LAYER_BACKEND, bad[i].names[k]);
			expect_absent(VS_LAYER_FILTER, bad[i].names[k]);
		}
	}
	/* the built-in whose name the clash took is still the built-in */
	expect_origin(VS_LAYER_BACKEND, "ram", "built-in");
}

/* A directory of good and bad ones: the good load, each bad one is told. */
static void test_mixed_directory(void **state)
{
	struct report r = { 0 };
	int rc;

	(void)state;
	rc = vs_plugin_load_dir_report(MIXED, record, &r);
	assert_int_equal(r.calls, 12);
	assert_int_equal(r.ok, 1);
	/* the first failure in name order is the one returned */
	assert_string_equal(r.paths[0], MIXED "/bad_schema.so");
	assert_int_equal(rc, r.rc[0]);
	expect_error(MIXED "/bad_schema.so: tschema: bad default", NULL);
	for (int i = 0; i < r.calls; i++) {
		if (r.rc[i] == 0) {
			assert_string_equal(r.paths[i], MIXED "/good.so");
			continue;
		}
		if (strncmp(r.errors[i], r.paths[i], strlen(r.paths[i])) != 0)
			fail_msg("'%s' does not name %s", r.errors[i], r.paths[i]);
	}
	expect_origin(VS_LAYER_BACKEND, "tgood", MIXED "/good.so");
	/* vs_plugin_load_dir is the same without the report */
	assert_int_equal(vs_plugin_load_dir(MIXED), rc);
}

/* Not plugins at all: no file, a directory, a text file, no path. */
static void test_not_plugins(void **state)
{
	char dir[] = "/tmp/vstor-plugin-XXXXXX", path[PATH_MAX];
	struct report r = { 0 };
	FILE *f;

	(void)state;
	assert_int_equal(vs_plugin_load(PLUGINS "/no-such.so"), -ENOENT);
	expect_error(PLUGINS "/no-such.so: cannot load: No such file or directory", NULL);
	assert_int_equal(vs_plugin_load(NULL), -EINVAL);
	assert_int_equal(vs_plugin_load(""), -EINVAL);
	assert_int_equal(vs_plugin_load_dir(NULL), -EINVAL);

	assert_non_null(mkdtemp(dir));
	/* an empty directory, and a missing one, load nothing and are fine */
	assert_int_equal(vs_plugin_load_dir_report(dir, record, &r), 0);
	assert_int_equal(r.calls, 0);
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(vs_plugin_load_dir(path), 0);

	snprintf(path, sizeof(path), "%s/text.so", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("not an ELF object\n", f);
	fclose(f);
	assert_int_equal(vs_plugin_load(path), -ENOEXEC);
	expect_error(path, ": cannot load: ");
	/* not a directory */
	assert_int_equal(vs_plugin_load_dir(path), -ENOTDIR);
	expect_error(path, NULL);

	snprintf(path, sizeof(path), "%s/sub.so", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(vs_plugin_load(path), -EISDIR);
	expect_error(path, ": cannot load: not a regular file");
	/* both are tried and told when the directory is loaded */
	assert_int_equal(vs_plugin_load_dir_report(dir, record, &r), -EISDIR);
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.ok, 0);
	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/text.so", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* ------------------------------------------------------------ single files */

static void test_newer_header_and_relative_names(void **state)
{
	static const struct vs_kv size[] = { { "size", "64K" } };
	char cwd[PATH_MAX], dir[] = "/tmp/vstor-plugin-XXXXXX";
	uint8_t buf[512];
	struct vs_bdev *b;
	FILE *f;

	(void)state;
	/* a newer header's longer table whose extra fields are zero loads */
	assert_int_equal(vs_plugin_load(SINGLE "/newer_zero.so"), 0);
	expect_origin(VS_LAYER_BACKEND, "tnewer", SINGLE "/newer_zero.so");
	b = vs_bdev_open("tnewer", size, 1);
	assert_non_null(b);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(io(b, VS_BIO_READ, 0, buf, sizeof(buf)), 0);
	assert_int_equal(buf[0] | buf[511], 0);
	vs_bdev_close(b);

	/* a name without '/' is the file in the current directory */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(SINGLE), 0);
	assert_int_equal(vs_plugin_load("relative.so"), 0);
	expect_origin(VS_LAYER_BACKEND, "trel", "relative.so");
	/* ... never one in the system's library path: here "libc.so.6" is a
	 * text file, not the C library dlopen would otherwise hand back */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chdir(dir), 0);
	f = fopen("libc.so.6", "w");
	assert_non_null(f);
	fputs("junk\n", f);
	fclose(f);
	assert_int_equal(vs_plugin_load("libc.so.6"), -ENOEXEC);
	expect_error("libc.so.6: cannot load: ", NULL);
	assert_int_equal(unlink("libc.so.6"), 0);
	assert_int_equal(vs_plugin_load("libc.so.6"), -ENOENT);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_a_directory),
		cmocka_unit_test(test_io_through_plugins),
		cmocka_unit_test(test_bad_plugins_refused_whole),
		cmocka_unit_test(test_mixed_directory),
		cmocka_unit_test(test_not_plugins),
		cmocka_unit_test(test_newer_header_and_relative_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
