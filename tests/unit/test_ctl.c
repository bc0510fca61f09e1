/* SPDX-License-Identifier: MIT */
/*
 * The control protocol in process, no daemon: request lines go to the
 * dispatcher (vs_ctl_handle) against a small running state with RAM LUNs
 * (and, for ACL/CHAP/target tests, a fabric that is never started).  Every
 * refusal must be one line naming the field, with the state unchanged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "layer_names.h"
#include "spy_bdev.h"
#include "test_fabric.h"
#include "vstor/iscsi.h"
#include "vstor/port.h"
#include "vstor/vdisk.h"

#define T0 "iqn.2026-11.org.vstor:t0"

static const char base_config[] =
	"{\"portals\":[\"127.0.0.1:3388\"],\"targets\":[{\"iqn\":\"" T0 "\",\"luns\":["
	"{\"lun\":0,\"backend\":\"ram\",\"size\":\"16M\"}]}]}";

struct fx {
	struct vs_ctl_state *st;
	struct vs_iscsi *is;
	char path[64];
};

static struct vs_ctl_state *state_from(const char *json, const char *config_path)
{
	struct vs_config *cfg = NULL;
	char err[VS_CONFIG_ERR_MAX];
	if (vs_config_load_buffer("test.json", json, strlen(json), &cfg, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	struct vs_ctl_state *st = vs_ctl_state_create(cfg, "test.json", config_path, NULL, err, sizeof(err));
	if (!st)
		fail_msg("state: %s", err);
	return st;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "/tmp/vstor-test-ctl.%d.json", (int)getpid());
	f->st = state_from(base_config, f->path);
	*state = f;
	return 0;
}

/* With a fabric that is created but never started: targets, ACLs and CHAP
 * reach it, no portal is bound. */
static int setup_fabric(void **state)
{
	setup(state);
	struct fx *f = *state;
	struct vs_iscsi_config ic = { .threads = 1 };
	char err[256];
	f->is = vs_iscsi_create(&ic);
	assert_non_null(f->is);
	assert_int_equal(vs_ctl_state_attach_fabric(f->st, f->is, "test.json", err, sizeof(err)), 0);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->is)
		vs_iscsi_destroy(f->is);
	assert_int_equal(vs_ctl_state_destroy(f->st, NULL), 0);
	unlink(f->path);
	free(f);
	return 0;
}

/* Send one request; return the parsed reply (which must be one line). */
static json_t *call(struct fx *f, const char *req)
{
	char *line = vs_ctl_handle(f->st, req, strlen(req));
	assert_non_null(line);
	assert_null(strchr(line, '\n'));
	json_error_t jerr;
	json_t *r = json_loads(line, 0, &jerr);
	if (!r)
		fail_msg("reply is not JSON: %s", line);
	free(line);
	return r;
}

static json_t *ok(struct fx *f, const char *req)
{
	json_t *r = call(f, req);
	json_t *res = json_object_get(r, "result");
	if (!res) {
		char *s = json_dumps(r, 0);
		fail_msg("%s -> %s", req, s);
	}
	json_incref(res);
	json_decref(r);
	return res;
}

/* What the running model would save: the state's fingerprint. */
static char *saved(struct fx *f)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	assert_int_equal(vs_config_save(m, vs_ctl_state_config(f->st)), 0);
	fclose(m);
	return buf;
}

static size_t port_luns(struct fx *f, size_t ti, uint64_t *luns)
{
	return vs_port_lun_list(vs_ctl_state_port(f->st, ti), luns, 64);
}

/* The request fails with this code and exactly this message, and neither
 * the model nor the port changed. */
static void refused(struct fx *f, const char *req, int code, const char *msg)
{
	char *before = saved(f);
	uint64_t l1[64], l2[64];
	size_t n1 = port_luns(f, 0, l1);
	json_t *r = call(f, req);
	json_t *e = json_object_get(r, "error");
	if (!e) {
		char *s = json_dumps(r, 0);
		fail_msg("%s was accepted: %s", req, s);
	}
	assert_null(json_object_get(r, "result"));
	assert_int_equal(json_integer_value(json_object_get(e, "code")), code);
	assert_string_equal(json_string_value(json_object_get(e, "message")), msg);
	json_decref(r);
	char *after = saved(f);
	assert_string_equal(before, after);
	size_t n2 = port_luns(f, 0, l2);
	assert_int_equal(n1, n2);
	assert_memory_equal(l1, l2, n1 * sizeof(l1[0]));
	free(before);
	free(after);
}

/* ---------------------------------------------------------------- framing */

static void test_request_shape(void **state)
{
	struct fx *f = *state;
	refused(f, "not json", VS_CTL_PARSE_ERROR,
	        "request: not JSON: '[' or '{' expected near 'not' (column 3)");
	refused(f, "[1]", VS_CTL_INVALID_REQUEST, "request: must be a JSON object");
	refused(f, "{\"id\":1}", VS_CTL_INVALID_REQUEST, "method: missing (required)");
	refused(f, "{\"id\":1,\"method\":7}", VS_CTL_INVALID_REQUEST, "method: must be a string");
	refused(f, "{\"id\":{},\"method\":\"lun.list\"}", VS_CTL_INVALID_REQUEST,
	        "id: must be an integer or a string");
	refused(f, "{\"id\":1,\"method\":\"lun.list\",\"param\":{}}", VS_CTL_INVALID_REQUEST,
	        "param: unknown key (a request has id, method, params)");
	refused(f, "{\"id\":1,\"method\":\"lun.list\",\"params\":[]}", VS_CTL_INVALID_PARAMS,
	        "params: must be an object");
	refused(f, "{\"id\":1,\"method\":\"lun.explode\"}", VS_CTL_METHOD_NOT_FOUND,
	        "method: unknown method 'lun.explode'");
	refused(f, "{\"id\":1,\"method\":\"lun.list\",\"params\":{\"targett\":\"x\"}}",
	        VS_CTL_INVALID_PARAMS, "params.targett: unknown parameter for lun.list");
	refused(f, "{\"id\":1,\"method\":\"lun.list\",\"params\":{\"target\":\"a\",\"target\":\"b\"}}",
	        VS_CTL_PARSE_ERROR,
	        "request: not JSON: duplicate object key near '\"target\"' (column 59)");

	/* Quoted input is cut at 64 bytes: a character split there (é, C3 A9,
	 * on bytes 64-65) becomes '?', and the reply stays valid JSON with its
	 * message instead of collapsing into "out of memory". */
	refused(f, "{\"id\":1,\"method\":\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\xc3\xa9\"}",
	        VS_CTL_METHOD_NOT_FOUND,
	        "method: unknown method '"
	        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?'");

	/* The id comes back as given: integer or string. */
	json_t *r = call(f, "{\"id\":\"abc\",\"method\":\"target.list\"}");
	assert_string_equal(json_string_value(json_object_get(r, "id")), "abc");
	json_decref(r);
	r = call(f, "{\"id\":42,\"method\":\"lun.list\",\"params\":{}}");
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 42);
	json_decref(r);

	/* Over the size limit: refused before parsing. */
	size_t big = VS_CTL_MAX_REQUEST + 10;
	char *s = malloc(big + 1);
	memset(s, ' ', big);
	s[big] = '\0';
	memcpy(s, "{\"id\":1,\"method\":\"lun.list\"}", 28);
	char *line = vs_ctl_handle(f->st, s, big);
	assert_non_null(strstr(line, "\"request: longer than 65536 bytes\""));
	free(line);
	free(s);
}

/* ---------------------------------------------------------------- LUNs */

static void test_lun_add_list_remove(void **state)
{
	struct fx *f = *state;
	json_t *r = ok(f, "{\"id\":1,\"method\":\"lun.add\",\"params\":{\"target\":\"" T0 "\","
	                  "\"lun\":3,\"backend\":\"ram\",\"size\":\"8M\",\"block_size\":4096,"
	                  "\"serial\":\"S3\",\"readonly\":true}}");
	assert_int_equal(json_integer_value(json_object_get(r, "lun")), 3);
	assert_int_equal(json_integer_value(json_object_get(r, "size")), 8 << 20);
	assert_int_equal(json_integer_value(json_object_get(r, "block_size")), 4096);
	assert_true(json_is_true(json_object_get(r, "readonly")));
	assert_string_equal(json_string_value(json_object_get(r, "serial")), "S3");
	json_decref(r);
	/* The port has it at once. */
	uint64_t luns[64];
	assert_int_equal(port_luns(f, 0, luns), 2);
	assert_int_equal(luns[0], 0);
	assert_int_equal(luns[1], 3);

	/* LUN 1 lands between 0 and 3 in the list and in the model. */
	json_decref(ok(f, "{\"method\":\"lun.add\",\"params\":{\"target\":\"" T0 "\",\"lun\":1,"
	                  "\"backend\":\"ram\",\"size\":1048576}}"));
	r = ok(f, "{\"method\":\"lun.list\",\"params\":{\"target\":\"" T0 "\"}}");
	json_t *arr = json_object_get(r, "luns");
	assert_int_equal(json_array_size(arr), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "lun")), 0);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "lun")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 2), "lun")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "size")), 1048576);
	json_decref(r);
	char *s = saved(f);
	assert_non_null(strstr(s, "\"lun\": 3,\n          \"backend\": \"ram\",\n          \"size\": \"8M\","
	                          "\n          \"block_size\": 4096,\n          \"readonly\": true,\n"
	                          "          \"serial\": \"S3\""));
	free(s);

	/* No session is logged in (no fabric): removal without force is fine. */
	r = ok(f, "{\"method\":\"lun.remove\",\"params\":{\"target\":\"" T0 "\",\"lun\":3}}");
	assert_false(json_is_true(json_object_get(r, "forced")));
	json_decref(r);
	assert_int_equal(port_luns(f, 0, luns), 2);
	refused(f, "{\"method\":\"lun.remove\",\"params\":{\"target\":\"" T0 "\",\"lun\":3}}",
	        VS_CTL_NOT_FOUND, "params.lun: no LUN 3 on " T0 " (see lun.list)");
	json_decref(ok(f, "{\"method\":\"lun.remove\",\"params\":{\"target\":\"" T0 "\",\"lun\":1,"
	                  "\"force\":true}}"));
	assert_int_equal(port_luns(f, 0, luns), 1);
}

static void test_lun_add_bad_input(void **state)
{
	struct fx *f = *state;
#define ADD(body) "{\"id\":1,\"method\":\"lun.add\",\"params\":{" body "}}"
#define TGT "\"target\":\"" T0 "\","
	refused(f, ADD(TGT "\"lun\":1,\"backend\":\"ram\",\"size\":\"12x\""), VS_CTL_INVALID_PARAMS,
	        "params.size: '12x' is not a size (e.g. 4096, 512K, 1G, 10GiB)");
	refused(f, ADD(TGT "\"lun\":1,\"backend\":\"ram\",\"size\":1000"), VS_CTL_INVALID_PARAMS,
	        "params.size: 1000 bytes is not a multiple of block_size 512");
	refused(f, ADD(TGT "\"lun\":0,\"backend\":\"ram\",\"size\":\"1M\""), VS_CTL_EXISTS,
	        "params.lun: LUN 0 already exists on " T0);
	char unknown[640];

	snprintf(unknown, sizeof(unknown), "params.backend: unknown backend \"tape\" (known: %s)",
	         layer_names(VS_LAYER_BACKEND));
	refused(f, ADD(TGT "\"lun\":1,\"backend\":\"tape\",\"size\":\"1M\""), VS_CTL_INVALID_PARAMS,
	        unknown);
	refused(f, ADD(TGT "\"lun\":\"1\",\"backend\":\"ram\",\"size\":\"1M\""), VS_CTL_INVALID_PARAMS,
	        "params.lun: must be an integer, got a string");
	refused(f, ADD(TGT "\"backend\":\"ram\",\"size\":\"1M\""), VS_CTL_INVALID_PARAMS,
	        "params.lun: missing (required)");
	refused(f, ADD(TGT "\"lun\":1,\"backend\":\"ram\""), VS_CTL_INVALID_PARAMS,
	        "params.size: missing (required: capacity, e.g. 1G)");
	refused(f, ADD(TGT "\"lun\":1,\"backend\":\"ram\",\"size\":\"1M\",\"block_size\":1024"),
	        VS_CTL_INVALID_PARAMS, "params.block_size: must be 512 or 4096, got 1024");
	refused(f, ADD(TGT "\"lun\":1,\"backend\":\"ram\",\"size\":\"1M\",\"force\":true"),
	        VS_CTL_INVALID_PARAMS, "params.force: unknown key (backend ram takes size, max_size, overcommit, huge_pages)");
	refused(f, ADD(TGT "\"lun\":1,\"backend\":\"file\",\"path\":\"/nonexistent/dir/x.img\""),
	        VS_CTL_FAILED,
	        "params.path: '/nonexistent/dir/x.img' cannot be opened: it does not exist (create=1 "
	        "creates it)");
	/* vdisk has 1024 LUN slots: refused by the daemon's own check */
	refused(f, ADD(TGT "\"lun\":1024,\"backend\":\"ram\",\"size\":\"1M\""),
	        VS_CTL_INVALID_PARAMS, "params.lun: must be 0-1023, got 1024");
	refused(f, ADD("\"lun\":1,\"backend\":\"ram\",\"size\":\"1M\""), VS_CTL_INVALID_PARAMS,
	        "params.target: missing (required)");
	refused(f, ADD("\"target\":\"IQN.2026-11.x:y\",\"lun\":1,\"backend\":\"ram\",\"size\":\"1M\""),
	        VS_CTL_INVALID_PARAMS,
	        "params.target: \"IQN.2026-11.x:y\": must start with \"iqn.\", \"eui.\" or \"naa.\" "
	        "(RFC 7143 4.2.7)");
	refused(f, ADD("\"target\":\"iqn.2026-13.org.x:y\",\"lun\":1,\"backend\":\"ram\",\"size\":\"1M\""),
	        VS_CTL_INVALID_PARAMS,
	        "params.target: \"iqn.2026-13.org.x:y\": iqn date month must be 01-12, got 13");
	refused(f, ADD("\"target\":\"iqn.2026-11.org.vstor:nope\",\"lun\":1,\"backend\":\"ram\","
	               "\"size\":\"1M\""),
	        VS_CTL_NOT_FOUND, "params.target: no target iqn.2026-11.org.vstor:nope (see target.list)");
	refused(f, ADD(TGT "\"lun\":1,\"backend\":\"ram\",\"size\":\"1M\",\"serial\":\"a\\nb\""),
	        VS_CTL_INVALID_PARAMS, "params.serial: contains a control character (byte 0x0a)");

	/* Relative paths would be resolved against vstord's working directory
	 * and saved as given: refused, and nothing is created. */
	refused(f, ADD(TGT "\"lun\":1,\"backend\":\"file\",\"path\":\"vstor-test-rel.img\","
	               "\"size\":\"1M\",\"create\":true"),
	        VS_CTL_INVALID_PARAMS,
	        "params.path: must be an absolute path, got \"vstor-test-rel.img\" (vstord does not "
	        "resolve paths against its own working directory)");
	assert_int_equal(access("vstor-test-rel.img", F_OK), -1);

	/* An existing file whose size is no multiple of the block size: the
	 * message names the file and its field, not the backend. */
	char odd[64], req[256], msg[256];
	snprintf(odd, sizeof(odd), "/tmp/vstor-test-ctl-odd.%d.img", (int)getpid());
	FILE *fp = fopen(odd, "w");
	assert_non_null(fp);
	for (int i = 0; i < 631; i++)
		fputc('x', fp);
	fclose(fp);
	snprintf(req, sizeof(req), ADD(TGT "\"lun\":1,\"backend\":\"file\",\"path\":\"%s\""), odd);
	snprintf(msg, sizeof(msg),
	         "params.path: '%s' is 631 bytes, not a non-zero multiple of block_size 512", odd);
	refused(f, req, VS_CTL_FAILED, msg);
	unlink(odd);
#undef ADD
#undef TGT
}

/* The LUN limit the daemon checks is exactly what vdisk serves: the
 * highest number works end to end, and the port itself refuses the next. */
static void test_lun_limit_matches_vdisk(void **state)
{
	struct fx *f = *state;
	assert_int_equal(atoi(VS_CONFIG_MAX_LUN_STR), VS_CONFIG_MAX_LUN);
	json_t *r = ok(f, "{\"method\":\"lun.add\",\"params\":{\"target\":\"" T0 "\",\"lun\":"
	                  VS_CONFIG_MAX_LUN_STR ",\"backend\":\"ram\",\"size\":\"1M\"}}");
	assert_int_equal(json_integer_value(json_object_get(r, "lun")), VS_CONFIG_MAX_LUN);
	json_decref(r);
	struct vs_config_kv size = { .key = "size", .value = "1M" };
	struct vs_config_lun l = { .lun = VS_CONFIG_MAX_LUN + 1, .backend = "ram", .options = &size,
		                   .noptions = 1, .block_size = 512 };
	char err[VS_CTL_MSG_MAX];
	int layer;
	assert_int_not_equal(vs_ctl_lun_attach(f->st, vs_ctl_state_port(f->st, 0), T0, &l, NULL, &layer, err,
	                                    sizeof(err)), 0);
	assert_int_equal(layer, -1);
	assert_string_equal(err, "lun: 1024 out of range (max 1023)");
}

static void test_lun_resize(void **state)
{
	struct fx *f = *state;
#define RESIZE(body) "{\"method\":\"lun.resize\",\"params\":{\"target\":\"" T0 "\",\"lun\":0," body "}}"
	json_t *r = ok(f, RESIZE("\"size\":\"32M\""));
	assert_int_equal(json_integer_value(json_object_get(r, "old_size")), 16 << 20);
	assert_int_equal(json_integer_value(json_object_get(r, "size")), 32 << 20);
	json_decref(r);
	struct vs_lun_info info;
	assert_int_equal(vs_port_lun_control(vs_ctl_state_port(f->st, 0), 0, VS_LUN_QUERY, &info), 0);
	assert_int_equal(info.size_bytes, 32 << 20);
	char *s = saved(f);
	assert_non_null(strstr(s, "\"size\": \"32M\""));
	free(s);

	/* data at LBA 20000 (about 9.8 MiB): shrinking to 8 MiB would cut it
	 * off, to 12 MiB not */
	struct vs_port *p = vs_ctl_state_port(f->st, 0);
	struct vs_srb_pool *pool = vs_srb_pool_create(p, 1, 512);
	static const uint8_t wr[10] = { WRITE_10, 0, 0, 0, 0x4e, 0x20, 0, 0, 1, 0 };
	uint8_t blk[512];
	struct tf_pio io;
	struct tf_result wres;
	memset(blk, 0xa5, sizeof(blk));
	tf_pio_submit(p, pool, NULL, 0, wr, sizeof(wr), VS_DIR_TO_DEVICE, blk, 512, &io);
	assert_int_equal(tf_pio_wait(&io, 1000, &wres), 0);
	assert_int_equal(wres.status, SAM_STAT_GOOD);
	vs_srb_pool_destroy(pool);
	refused(f, RESIZE("\"size\":\"8M\""), VS_CTL_BUSY,
	        "params.size: shrinking from 32 MiB to 8 MiB would cut off data at LBA 20000; use "
	        "--force");
	r = ok(f, RESIZE("\"size\":\"12M\""));
	assert_int_equal(json_integer_value(json_object_get(r, "size")), 12 << 20);
	json_decref(r);
	struct vs_lun_mapped q = { .from_lba = 0 };
	assert_int_equal(vs_port_lun_control(p, 0, VS_LUN_FIRST_MAPPED, &q), 0);
	assert_true(q.found);
	assert_int_equal(q.lba, 20000);
	/* the RAM disk maps 4 KiB pages: the page after the written block is
	 * empty to the end */
	q.from_lba = 20008;
	assert_int_equal(vs_port_lun_control(p, 0, VS_LUN_FIRST_MAPPED, &q), 0);
	assert_false(q.found);
	refused(f, RESIZE("\"size\":1000"), VS_CTL_INVALID_PARAMS,
	        "params.size: 1000 bytes is not a multiple of the block size (512)");
	refused(f, RESIZE("\"size\":\"lots\""), VS_CTL_INVALID_PARAMS,
	        "params.size: not a size: \"lots\" (use e.g. \"512M\", \"10G\" or a byte count)");
	refused(f, RESIZE("\"size\":\"32M\",\"force\":1"), VS_CTL_INVALID_PARAMS,
	        "params.force: must be true or false, got an integer");
	/* the RAM disk reserved 4 x its opening size */
	refused(f, RESIZE("\"size\":\"1G\""), VS_CTL_FAILED,
	        "params.size: 1073741824 bytes exceeds max_size (67108864 bytes reserved at open)");
	refused(f, "{\"method\":\"lun.resize\",\"params\":{\"target\":\"" T0 "\",\"lun\":9,\"size\":\"1M\"}}",
	        VS_CTL_NOT_FOUND, "params.lun: no LUN 9 on " T0 " (see lun.list)");

	refused(f, RESIZE("\"size\":\"8M\""), VS_CTL_BUSY,
	        "params.size: shrinking from 12 MiB to 8 MiB would cut off data at LBA 20000; use "
	        "--force");
	json_decref(ok(f, RESIZE("\"size\":\"8M\",\"force\":true")));
	assert_int_equal(vs_port_lun_control(vs_ctl_state_port(f->st, 0), 0, VS_LUN_QUERY, &info), 0);
	assert_int_equal(info.size_bytes, 8 << 20);
#undef RESIZE
}

/* ---------------------------------------------------------------- targets */

static void test_targets_acl_chap(void **state)
{
	struct fx *f = *state;
#define T1 "iqn.2026-11.org.vstor:t1"
	json_decref(ok(f, "{\"method\":\"target.add\",\"params\":{\"iqn\":\"" T1 "\",\"alias\":\"one\"}}"));
	refused(f, "{\"method\":\"target.add\",\"params\":{\"iqn\":\"" T1 "\"}}", VS_CTL_EXISTS,
	        "params.iqn: target " T1 " already exists");
	refused(f, "{\"method\":\"target.add\",\"params\":{\"iqn\":\"iqn.x\"}}", VS_CTL_INVALID_PARAMS,
	        "params.iqn: \"iqn.x\": iqn name needs a date yyyy-mm after \"iqn.\"");

	json_t *r = ok(f, "{\"method\":\"target.list\"}");
	json_t *t = json_array_get(json_object_get(r, "targets"), 1);
	assert_string_equal(json_string_value(json_object_get(t, "iqn")), T1);
	assert_string_equal(json_string_value(json_object_get(t, "alias")), "one");
	assert_int_equal(json_integer_value(json_object_get(t, "luns")), 0);
	json_decref(r);

	/* ACL */
	r = ok(f, "{\"method\":\"acl.add\",\"params\":{\"target\":\"" T1 "\","
	          "\"initiator\":\"iqn.1993-08.org.debian:01:abc\"}}");
	assert_int_equal(json_array_size(json_object_get(r, "acl")), 1);
	assert_false(json_is_true(json_object_get(r, "allow_all")));
	json_decref(r);
	refused(f, "{\"method\":\"acl.add\",\"params\":{\"target\":\"" T1 "\","
	           "\"initiator\":\"iqn.1993-08.org.debian:01:abc\"}}",
	        VS_CTL_EXISTS, "params.initiator: iqn.1993-08.org.debian:01:abc is already in the ACL of " T1);
	refused(f, "{\"method\":\"acl.add\",\"params\":{\"target\":\"" T1 "\",\"initiator\":\"bob\"}}",
	        VS_CTL_INVALID_PARAMS,
	        "params.initiator: \"bob\": must start with \"iqn.\", \"eui.\" or \"naa.\" (RFC 7143 4.2.7)");
	refused(f, "{\"method\":\"acl.remove\",\"params\":{\"target\":\"" T1 "\","
	           "\"initiator\":\"iqn.1993-08.org.debian:01:xyz\"}}",
	        VS_CTL_NOT_FOUND, "params.initiator: iqn.1993-08.org.debian:01:xyz is not in the ACL of " T1);
	char *s = saved(f);
	assert_non_null(strstr(s, "\"acl\": [\n        \"iqn.1993-08.org.debian:01:abc\"\n      ]"));
	free(s);
	r = ok(f, "{\"method\":\"acl.remove\",\"params\":{\"target\":\"" T1 "\","
	          "\"initiator\":\"iqn.1993-08.org.debian:01:abc\"}}");
	assert_true(json_is_true(json_object_get(r, "allow_all")));
	json_decref(r);

	/* CHAP: the config file's rules */
	refused(f, "{\"method\":\"chap.set\",\"params\":{\"target\":\"" T1 "\",\"user\":\"u\"}}",
	        VS_CTL_INVALID_PARAMS, "params.secret: missing (required)");
	refused(f, "{\"method\":\"chap.set\",\"params\":{\"target\":\"" T1 "\",\"user\":\"u\","
	           "\"secret\":\"s\",\"mutual_user\":\"m\",\"mutual_secret\":\"s\"}}",
	        VS_CTL_INVALID_PARAMS, "params.mutual_secret: must differ from secret (RFC 7143 9.2.1)");
	r = ok(f, "{\"method\":\"chap.set\",\"params\":{\"target\":\"" T1 "\",\"user\":\"u\","
	          "\"secret\":\"secret1\",\"mutual_user\":\"m\",\"mutual_secret\":\"secret2\"}}");
	assert_null(json_object_get(r, "secret"));      /* secrets never travel back */
	assert_true(json_is_true(json_object_get(r, "mutual")));
	json_decref(r);
	s = saved(f);
	assert_non_null(strstr(s, "\"chap\": {\n        \"user\": \"u\",\n        \"secret\": \"secret1\""));
	free(s);
	json_decref(ok(f, "{\"method\":\"chap.clear\",\"params\":{\"target\":\"" T1 "\"}}"));
	s = saved(f);
	assert_null(strstr(s, "\"chap\""));
	free(s);

	/* A LUN on the new target, then the target goes with it. */
	json_decref(ok(f, "{\"method\":\"lun.add\",\"params\":{\"target\":\"" T1 "\",\"lun\":0,"
	                  "\"backend\":\"ram\",\"size\":\"1M\"}}"));
	r = ok(f, "{\"method\":\"target.remove\",\"params\":{\"iqn\":\"" T1 "\"}}");
	assert_int_equal(json_integer_value(json_object_get(r, "luns_removed")), 1);
	json_decref(r);
	refused(f, "{\"method\":\"acl.list\",\"params\":{\"target\":\"" T1 "\"}}", VS_CTL_NOT_FOUND,
	        "params.target: no target " T1 " (see target.list)");
	/* and the same IQN can come back */
	json_decref(ok(f, "{\"method\":\"target.add\",\"params\":{\"iqn\":\"" T1 "\"}}"));
	r = ok(f, "{\"method\":\"session.list\"}");
	assert_int_equal(json_array_size(json_object_get(r, "sessions")), 0);
	json_decref(r);
#undef T1
}

/* ---------------------------------------------------------------- portals */

/* n distinct loopback ports nobody listens on right now (the kernel picks
 * them; all held until all are picked). */
static void free_ports(int *out, int n)
{
	int fds[8];
	for (int i = 0; i < n; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
			                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(sa);
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(bind(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(getsockname(fds[i], (struct sockaddr *)&sa, &len), 0);
		out[i] = ntohs(sa.sin_port);
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* Does something accept TCP connections on 127.0.0.1:port? */
static bool listening(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static json_t *find_target_json(json_t *list, const char *iqn)
{
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(list, "targets"), i, t)
		if (!strcmp(json_string_value(json_object_get(t, "iqn")), iqn))
			return t;
	fail_msg("%s not in target.list", iqn);
	return NULL;
}

static void expect_portals(struct fx *f, const char *iqn, const char *want_json, bool is_default)
{
	json_t *r = ok(f, "{\"method\":\"target.list\"}");
	json_t *t = find_target_json(r, iqn);
	json_t *want = json_loads(want_json, 0, NULL);
	assert_non_null(want);
	if (!json_equal(json_object_get(t, "portals"), want)) {
		char *s = json_dumps(json_object_get(t, "portals"), 0);
		fail_msg("%s portals %s, want %s", iqn, s, want_json);
	}
	assert_int_equal(json_is_true(json_object_get(t, "default_portals")), is_default);
	json_decref(want);
	json_decref(r);
}

/*
 * target.add with portals: each listed address is listened on while a
 * target lists it (shared between targets), closed with the last one; bad
 * or busy portals are refused by name and leave nothing behind.  Run with
 * the fabric stopped and running (closing then happens on loop 0).
 */
static void check_target_portals(struct fx *f)
{
#define T1 "iqn.2026-11.org.vstor:p1"
#define T2 "iqn.2026-11.org.vstor:p2"
	int ports[4];
	free_ports(ports, 4);
	int p1 = ports[0], p2 = ports[1], p3 = ports[2], p4 = ports[3];
	char req[512], want[256];

	snprintf(req, sizeof(req), "{\"method\":\"target.add\",\"params\":{\"iqn\":\"" T1 "\","
	         "\"portals\":[\"127.0.0.1:%d\",\"127.0.0.1:%d\"]}}", p1, p2);
	json_decref(ok(f, req));
	assert_true(listening(p1));
	assert_true(listening(p2));
	snprintf(want, sizeof(want), "[\"127.0.0.1:%d\",\"127.0.0.1:%d\"]", p1, p2);
	expect_portals(f, T1, want, false);
	/* a target without portals of its own: the daemon's */
	expect_portals(f, T0, "[\"127.0.0.1:3388\"]", true);

	/* T2 shares p1 (spelt differently: one address, one listener) */
	snprintf(req, sizeof(req), "{\"method\":\"target.add\",\"params\":{\"iqn\":\"" T2 "\","
	         "\"portals\":[\"127.0.0.1:0%d\"]}}", p1);
	json_decref(ok(f, req));
	char *s = saved(f);
	snprintf(want, sizeof(want), "\"portals\": [\n        \"127.0.0.1:%d\",\n        \"127.0.0.1:%d\"\n      ]",
	         p1, p2);
	assert_non_null(strstr(s, want));
	free(s);

	/* refused by name, nothing changes, nothing is left listening */
	refused(f, "{\"method\":\"target.add\",\"params\":{\"iqn\":\"iqn.2026-11.org.vstor:p3\","
	           "\"portals\":[]}}",
	        VS_CTL_INVALID_PARAMS, "params.portals: must list at least one ADDR:PORT");
	refused(f, "{\"method\":\"target.add\",\"params\":{\"iqn\":\"iqn.2026-11.org.vstor:p3\","
	           "\"portals\":\"127.0.0.1:3260\"}}",
	        VS_CTL_INVALID_PARAMS, "params.portals: must be an array, got a string");
	refused(f, "{\"method\":\"target.add\",\"params\":{\"iqn\":\"iqn.2026-11.org.vstor:p3\","
	           "\"portals\":[\"localhost:3260\"]}}",
	        VS_CTL_INVALID_PARAMS, "params.portals[0]: \"localhost\" is not an IPv4 address");
	int busy = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p3),
		                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(busy, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(busy, 1), 0);
	snprintf(req, sizeof(req), "{\"method\":\"target.add\",\"params\":{\"iqn\":\"iqn.2026-11.org.vstor:p3\","
	         "\"portals\":[\"127.0.0.1:%d\",\"127.0.0.1:%d\"]}}", p4, p3);
	snprintf(want, sizeof(want), "params.portals[1]: '127.0.0.1:%d': Address already in use", p3);
	refused(f, req, VS_CTL_FAILED, want);
	close(busy);
	assert_false(listening(p4));    /* all or nothing */

	/* T1 goes: p2 closes, p1 stays for T2; then T2 goes and p1 closes */
	json_decref(ok(f, "{\"method\":\"target.remove\",\"params\":{\"iqn\":\"" T1 "\"}}"));
	assert_false(listening(p2));
	assert_true(listening(p1));
	json_decref(ok(f, "{\"method\":\"target.remove\",\"params\":{\"iqn\":\"" T2 "\"}}"));
	assert_false(listening(p1));
	/* and the address can be used again */
	snprintf(req, sizeof(req), "{\"method\":\"target.add\",\"params\":{\"iqn\":\"" T1 "\","
	         "\"portals\":[\"127.0.0.1:%d\"]}}", p2);
	json_decref(ok(f, req));
	assert_true(listening(p2));
#undef T1
#undef T2
}

static void test_target_portals(void **state)
{
	check_target_portals(*state);
}

static void test_target_portals_running(void **state)
{
	struct fx *f = *state;
	assert_int_equal(vs_iscsi_start(f->is), 0);
	check_target_portals(f);
	vs_iscsi_stop(f->is, 0);
}

/* A config's targets[].portals are listened on when the state meets the
 * fabric; one that cannot be is a start-up error naming it. */
static void test_config_target_portals(void **state)
{
	(void)state;
	int ports[2];
	free_ports(ports, 2);
	char json[512], err[256], want[256];
	snprintf(json, sizeof(json),
	         "{\"targets\":[{\"iqn\":\"" T0 "\",\"portals\":[\"127.0.0.1:%d\"]},"
	         "{\"iqn\":\"iqn.2026-11.org.vstor:t1\",\"portals\":[\"127.0.0.1:%d\"]}]}",
	         ports[0], ports[1]);
	struct vs_iscsi_config ic = { .threads = 1 };

	struct vs_ctl_state *st = state_from(json, NULL);
	struct vs_iscsi *is = vs_iscsi_create(&ic);
	assert_int_equal(vs_ctl_state_attach_fabric(st, is, "test.json", err, sizeof(err)), 0);
	assert_true(listening(ports[0]));
	assert_true(listening(ports[1]));
	vs_iscsi_destroy(is);
	assert_int_equal(vs_ctl_state_destroy(st, NULL), 0);
	assert_false(listening(ports[0]));

	int busy = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)ports[1]),
		                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(busy, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(busy, 1), 0);
	st = state_from(json, NULL);
	is = vs_iscsi_create(&ic);
	assert_int_not_equal(vs_ctl_state_attach_fabric(st, is, "test.json", err, sizeof(err)), 0);
	snprintf(want, sizeof(want),
	         "test.json: targets[1]: portals[0]: '127.0.0.1:%d': Address already in use", ports[1]);
	assert_string_equal(err, want);
	vs_iscsi_destroy(is);
	assert_int_equal(vs_ctl_state_destroy(st, NULL), 0);
	close(busy);
}

/* ---------------------------------------------------------------- stats, save */

static void test_stats(void **state)
{
	struct fx *f = *state;
	json_t *r = ok(f, "{\"method\":\"stats\",\"params\":{\"target\":\"" T0 "\",\"lun\":0}}");
	json_t *s = json_array_get(json_object_get(r, "luns"), 0);
	assert_non_null(s);
	assert_int_equal(json_integer_value(json_object_get(s, "ops")), 0);
	assert_int_equal(json_integer_value(json_object_get(s, "errors")), 0);
	assert_int_equal(json_integer_value(json_object_get(s, "queue_depth_in_use")), 0);
	assert_int_equal(json_integer_value(json_object_get(s, "held")), 0);
	assert_true(json_integer_value(json_object_get(s, "queue_depth_limit")) > 0);
	assert_non_null(json_object_get(json_object_get(s, "latency_us"), "p99_9"));
	json_decref(r);
	refused(f, "{\"method\":\"stats\",\"params\":{\"lun\":0}}", VS_CTL_INVALID_PARAMS,
	        "params.target: missing (required with lun)");
	refused(f, "{\"method\":\"stats\",\"params\":{\"target\":\"" T0 "\",\"lun\":7}}", VS_CTL_NOT_FOUND,
	        "params.lun: no LUN 7 on " T0 " (see lun.list)");
}

static void test_config_save_round_trip(void **state)
{
	struct fx *f = *state;
	json_decref(ok(f, "{\"method\":\"lun.add\",\"params\":{\"target\":\"" T0 "\",\"lun\":2,"
	                  "\"backend\":\"ram\",\"size\":\"4M\",\"block_size\":4096,\"serial\":\"X2\"}}"));
	json_decref(ok(f, "{\"method\":\"lun.resize\",\"params\":{\"target\":\"" T0 "\",\"lun\":0,"
	                  "\"size\":\"20M\"}}"));
	json_t *r = ok(f, "{\"method\":\"config.save\"}");      /* default: the -c file */
	assert_string_equal(json_string_value(json_object_get(r, "path")), f->path);
	json_decref(r);
	json_t *before = ok(f, "{\"method\":\"lun.list\"}");

	/* "vstord -c saved" builds the same state */
	struct vs_config *cfg = NULL;
	char err[VS_CONFIG_ERR_MAX];
	assert_int_equal(vs_config_load_file(f->path, &cfg, err, sizeof(err)), 0);
	struct fx g = { .st = vs_ctl_state_create(cfg, f->path, NULL, NULL, err, sizeof(err)) };
	assert_non_null(g.st);
	json_t *after = ok(&g, "{\"method\":\"lun.list\"}");
	assert_true(json_equal(before, after));
	json_decref(before);
	json_decref(after);
	/* no -c, no path: the error names the field */
	r = call(&g, "{\"method\":\"config.save\"}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
	                    "params.path: missing (vstord was started without -c, so there is no "
	                    "default file)");
	json_decref(r);
	r = call(&g, "{\"method\":\"config.save\",\"params\":{\"path\":\"c.json\"}}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
	                    "params.path: must be an absolute path, got \"c.json\" (vstord does not "
	                    "resolve paths against its own working directory)");
	json_decref(r);
	r = call(&g, "{\"method\":\"config.save\",\"params\":{\"path\":\"/nonexistent/dir/c.json\"}}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
	                    "params.path: cannot create /nonexistent/dir/c.json.tmp: No such file or "
	                    "directory");
	json_decref(r);
	assert_int_equal(vs_ctl_state_destroy(g.st, NULL), 0);
}

/* The control plane's targets are iSCSI targets: their LUNs say so in
 * the standard INQUIRY version descriptors (SPC-4 Table 144). */
static void test_luns_report_iscsi_version(void **state)
{
	struct fx *f = *state;
	struct vs_port *p = vs_ctl_state_port(f->st, 0);
	struct vs_srb_pool *pool = vs_srb_pool_create(p, 1, 96);
	static const uint8_t inq[6] = { INQUIRY, 0, 0, 0, 96, 0 };
	struct tf_pio io;
	struct tf_result r;
	size_t len;

	assert_non_null(pool);
	tf_pio_submit(p, pool, NULL, 0, inq, sizeof(inq), VS_DIR_FROM_DEVICE, NULL, 96, &io);
	assert_int_equal(io.done, 1);          /* INQUIRY completes inline */
	uint8_t *d = vs_srb_buffer(io.srb, &len);
	uint16_t v[4];
	for (int i = 0; i < 4; i++)
		v[i] = (uint16_t)(d[58 + 2 * i] << 8 | d[59 + 2 * i]);
	assert_int_equal(tf_pio_wait(&io, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(v[3], VS_ISCSI_VERSION_DESCRIPTOR);
	assert_int_equal(v[0], 0x00a0);
	vs_srb_pool_destroy(pool);
}

/*
 * Put a spy backend with a volatile write cache under LUN 0 of target 0,
 * behind the control plane's back (the model still says ram): what the
 * control plane does to the LUN's backend becomes visible.
 */
static struct spy *spy_under_lun0(struct fx *f)
{
	struct vs_port *p = vs_ctl_state_port(f->st, 0);
	struct spy *s = spy_new("16M");
	struct vs_backend_caps caps;

	assert_non_null(s);
	vs_bdev_get_caps(spy_bdev(s), &caps);
	caps.can_flush = caps.has_write_cache = true;
	spy_set_caps(s, &caps);
	assert_int_equal(vs_port_lun_remove(p, 0, true), 0);
	struct vs_vdisk_lun_config lc = { .bdev = spy_bdev(s), .block_size = 512 };
	assert_int_equal(vs_port_lun_add(p, 0, &lc), 0);
	return s;
}

/* The LUN goes, but a flush that failed is reported, not swallowed. */
static void test_lun_remove_reports_flush_failure(void **state)
{
	struct fx *f = *state;
	struct spy *s = spy_under_lun0(f);
	uint64_t luns[64];

	spy_fail_op(s, VS_BIO_FLUSH, -EIO);
	json_t *r = call(f, "{\"method\":\"lun.remove\",\"params\":{\"target\":\"" T0 "\",\"lun\":0,"
	                    "\"force\":true}}");
	json_t *e = json_object_get(r, "error");
	assert_non_null(e);
	assert_int_equal(json_integer_value(json_object_get(e, "code")), VS_CTL_FAILED);
	assert_string_equal(json_string_value(json_object_get(e, "message")),
	                    "lun.remove: LUN 0 of " T0 " was removed, but flush failed: backend spy/ram: "
	                    "Input/output error");
	json_decref(r);
	assert_int_equal(port_luns(f, 0, luns), 0);
	r = ok(f, "{\"method\":\"lun.list\"}");
	assert_int_equal(json_array_size(json_object_get(r, "luns")), 0);
	json_decref(r);
	assert_true(spy_closed(s));
	spy_free(s);
}

static char shutdown_log[1024];
static void log_line(const char *line)
{
	size_t n = strlen(shutdown_log);

	snprintf(shutdown_log + n, sizeof(shutdown_log) - n, "%s%s", n ? "|" : "", line);
}

/* Shutdown stops each adapter (HwAdapterControl stop: the write cache is
 * flushed) before its LUNs are removed, and says so when that fails. */
static void test_shutdown_stops_adapter(void **state)
{
	struct fx *f = *state;
	struct spy *s = spy_under_lun0(f);

	shutdown_log[0] = '\0';
	assert_int_equal(vs_ctl_state_destroy(f->st, log_line), 0);
	assert_string_equal(shutdown_log, "");
	f->st = NULL;
	/* the adapter stop's flush, then the removal's own */
	assert_int_equal(spy_count(s, VS_BIO_FLUSH, 0), 2);
	assert_true(spy_closed(s));
	spy_free(s);

	f->st = state_from(base_config, f->path);
	s = spy_under_lun0(f);
	spy_fail_op(s, VS_BIO_FLUSH, -EIO);
	shutdown_log[0] = '\0';
	assert_int_equal(vs_ctl_state_destroy(f->st, log_line), -EIO);
	f->st = NULL;
	/* the stop's flush failed, then the removal's */
	assert_string_equal(shutdown_log, T0 ": flush failed: stop: LUN 0: flush failed: backend spy/ram: "
	                                  "Input/output error|"
	                                  T0 ": LUN 0: remove failed: lun: 0 removed, but flush "
	                                  "failed: backend spy/ram: Input/output error");
	assert_int_equal(spy_count(s, VS_BIO_FLUSH, 0), 2);
	spy_free(s);
}

/*
 * lun.remove without force is refused only while the LUN is really in use:
 * a logged-in initiator that has sent it commands (not one that merely
 * logged in to the target), a command in flight, a reservation; and the
 * message says which.
 */
static void test_lun_remove_in_use(void **state)
{
	struct fx *f = *state;
	struct vs_port *p = vs_ctl_state_port(f->st, 0);
	static const uint8_t tur[6] = { TEST_UNIT_READY };
	struct vs_srb_pool *pool = vs_srb_pool_create(p, 2, 512);
	struct tf_pio io;
	struct tf_result r;

	assert_non_null(pool);
	json_decref(ok(f, "{\"method\":\"lun.add\",\"params\":{\"target\":\"" T0 "\",\"lun\":1,"
	                  "\"backend\":\"ram\",\"size\":\"1M\"}}"));
	/* two initiators logged in; one of them has used LUN 0 */
	struct vs_nexus *a = vs_port_nexus_open(p, "iqn.a,i,0x1", "iqn.a", NULL, 0);
	struct vs_nexus *b = vs_port_nexus_open(p, "iqn.b,i,0x2", "iqn.b", NULL, 0);
	assert_non_null(a);
	assert_non_null(b);
	tf_pio_submit(p, pool, a, 0, tur, 6, VS_DIR_NONE, NULL, 0, &io);
	assert_int_equal(tf_pio_wait(&io, 1000, &r), 0);
	refused(f, "{\"method\":\"lun.remove\",\"params\":{\"target\":\"" T0 "\",\"lun\":0}}",
	        VS_CTL_BUSY, "lun.remove: LUN 0 of " T0 " is in use (1 logged-in initiator has used "
	        "it); use force");
	tf_pio_submit(p, pool, b, 0, tur, 6, VS_DIR_NONE, NULL, 0, &io);
	assert_int_equal(tf_pio_wait(&io, 1000, &r), 0);
	refused(f, "{\"method\":\"lun.remove\",\"params\":{\"target\":\"" T0 "\",\"lun\":0}}",
	        VS_CTL_BUSY, "lun.remove: LUN 0 of " T0 " is in use (2 logged-in initiators have used "
	        "it); use force");
	/* LUN 1 was never touched: logged-in sessions do not hold it */
	json_decref(ok(f, "{\"method\":\"lun.remove\",\"params\":{\"target\":\"" T0 "\","
	                  "\"lun\":1}}"));
	/* once they log out, LUN 0 goes too */
	vs_port_nexus_close(p, a);
	vs_port_nexus_close(p, b);
	vs_srb_pool_destroy(pool);
	json_decref(ok(f, "{\"method\":\"lun.remove\",\"params\":{\"target\":\"" T0 "\","
	                  "\"lun\":0}}"));
}

/* A command in flight (from a submitter without a nexus) holds the LUN. */
static void test_lun_remove_command_in_flight(void **state)
{
	struct fx *f = *state;
	struct spy *s = spy_under_lun0(f);
	struct vs_port *p = vs_ctl_state_port(f->st, 0);
	struct vs_srb_pool *pool = vs_srb_pool_create(p, 1, 512);
	static const uint8_t rd[10] = { READ_10, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	struct tf_pio io;
	struct tf_result r;

	assert_non_null(pool);
	spy_hold(s, true);
	tf_pio_submit(p, pool, NULL, 0, rd, sizeof(rd), VS_DIR_FROM_DEVICE, NULL, 512, &io);
	assert_int_equal(spy_held(s), 1);
	refused(f, "{\"method\":\"lun.remove\",\"params\":{\"target\":\"" T0 "\",\"lun\":0}}",
	        VS_CTL_BUSY, "lun.remove: LUN 0 of " T0 " is in use (commands in flight); use force");
	spy_hold(s, false);
	spy_release(s, 0);
	assert_int_equal(tf_pio_wait(&io, 1000, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	vs_srb_pool_destroy(pool);
	json_decref(ok(f, "{\"method\":\"lun.remove\",\"params\":{\"target\":\"" T0 "\","
	                  "\"lun\":0}}"));
	spy_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lun_add_list_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lun_add_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lun_limit_matches_vdisk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lun_resize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_targets_acl_chap, setup_fabric, teardown),
		cmocka_unit_test_setup_teardown(test_target_portals, setup_fabric, teardown),
		cmocka_unit_test_setup_teardown(test_target_portals_running, setup_fabric, teardown),
		cmocka_unit_test(test_config_target_portals),
		cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_save_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lun_remove_reports_flush_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_luns_report_iscsi_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lun_remove_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lun_remove_command_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_stops_adapter, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
