/* SPDX-License-Identifier: MIT */
/*
 * config.save is durable: the new file is fsynced, renamed over the old
 * one, and then the directory holding it is fsynced, so that the rename
 * itself survives a crash.  fsync is wrapped (ld --wrap=fsync, see
 * CMakeLists.txt) to see what was synced and when, and to make the
 * directory sync fail.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/ctl.h"

/* ---------------------------------------------------------------- fsync log */

struct sync_rec {
	bool is_dir;
	dev_t dev;
	ino_t ino;
	bool file_there, tmp_there;     /* the saved file / its .tmp at that moment */
};

static struct sync_rec log_[16];
static size_t nlog;
static const char *watch_file, *watch_tmp;
static bool fail_dir_sync;

int __real_fsync(int fd);
int __wrap_fsync(int fd);

int __wrap_fsync(int fd)
{
	struct stat sb;
	if (fstat(fd, &sb) == 0 && nlog < sizeof(log_) / sizeof(log_[0])) {
		struct sync_rec *r = &log_[nlog++];
		r->is_dir = S_ISDIR(sb.st_mode);
		r->dev = sb.st_dev;
		r->ino = sb.st_ino;
		r->file_there = watch_file && access(watch_file, F_OK) == 0;
		r->tmp_there = watch_tmp && access(watch_tmp, F_OK) == 0;
		if (r->is_dir && fail_dir_sync) {
			errno = EIO;
			return -1;
		}
	}
	return __real_fsync(fd);
}

/* ---------------------------------------------------------------- fixture */

struct fx {
	char dir[64], file[96], tmp[112];
	struct vs_ctl_state *st;
};

static int setup(void **state)
{
	static const char cfg_json[] =
		"{\"portals\":[\"127.0.0.1:3390\"],\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:s\","
		"\"luns\":[{\"lun\":0,\"backend\":\"ram\",\"size\":\"1M\"}]}]}";
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/vstor-test-ctl-save.%d", (int)getpid());
	snprintf(f->file, sizeof(f->file), "%s/c.json", f->dir);
	snprintf(f->tmp, sizeof(f->tmp), "%s.tmp", f->file);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	struct vs_config *cfg = NULL;
	char err[VS_CONFIG_ERR_MAX];
	assert_int_equal(vs_config_load_buffer("t.json", cfg_json, strlen(cfg_json), &cfg, err,
	                                       sizeof(err)), 0);
	f->st = vs_ctl_state_create(cfg, "t.json", f->file, NULL, err, sizeof(err));
	assert_non_null(f->st);
	watch_file = f->file;
	watch_tmp = f->tmp;
	nlog = 0;
	fail_dir_sync = false;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	vs_ctl_state_destroy(f->st, NULL);
	unlink(f->file);
	unlink(f->tmp);
	rmdir(f->dir);
	watch_file = watch_tmp = NULL;
	free(f);
	return 0;
}

static json_t *save(struct fx *f)
{
	static const char req[] = "{\"id\":1,\"method\":\"config.save\"}";
	char *line = vs_ctl_handle(f->st, req, strlen(req));
	assert_non_null(line);
	json_t *r = json_loads(line, 0, NULL);
	free(line);
	assert_non_null(r);
	return r;
}

/* ---------------------------------------------------------------- tests */

static void test_save_syncs_file_then_directory(void **state)
{
	struct fx *f = *state;
	json_t *r = save(f);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"), "path")),
	                    f->file);
	json_decref(r);

	struct stat file_sb, dir_sb;
	assert_int_equal(stat(f->file, &file_sb), 0);
	assert_int_equal(stat(f->dir, &dir_sb), 0);
	/* The new file was synced under its temporary name, before the rename. */
	ssize_t file_sync = -1, dir_sync = -1;
	for (size_t i = 0; i < nlog; i++) {
		if (!log_[i].is_dir && log_[i].dev == file_sb.st_dev && log_[i].ino == file_sb.st_ino &&
		    file_sync < 0)
			file_sync = (ssize_t)i;
		if (log_[i].is_dir && log_[i].dev == dir_sb.st_dev && log_[i].ino == dir_sb.st_ino)
			dir_sync = (ssize_t)i;
	}
	assert_true(file_sync >= 0);
	assert_true(log_[file_sync].tmp_there);
	assert_false(log_[file_sync].file_there);
	/* Then the directory, after the rename. */
	assert_true(dir_sync > file_sync);
	assert_true(log_[dir_sync].file_there);
	assert_false(log_[dir_sync].tmp_there);
}

static void test_directory_sync_failure_is_reported(void **state)
{
	struct fx *f = *state;
	fail_dir_sync = true;
	json_t *r = save(f);
	json_t *e = json_object_get(r, "error");
	assert_non_null(e);
	assert_int_equal(json_integer_value(json_object_get(e, "code")), VS_CTL_FAILED);
	char want[256];
	snprintf(want, sizeof(want),
	         "params.path: wrote %s, but cannot fsync its directory %s: Input/output error", f->file,
	         f->dir);
	assert_string_equal(json_string_value(json_object_get(e, "message")), want);
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_save_syncs_file_then_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_sync_failure_is_reported, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
