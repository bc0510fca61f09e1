/* SPDX-License-Identifier: MIT */
/*
 * The JSON config loader: every bad config gets exactly one line naming the
 * file, the field and the problem; good configs load into the model the
 * file describes; save() writes a file that loads back into the same model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/config.h"
#include "layer_names.h"
#include "vstor/bdev.h"
#include "vstor/iscsi.h"
#include "vstor/miniport.h"

static struct vs_config *load_ok(const char *json)
{
	struct vs_config *cfg = NULL;
	char err[VS_CONFIG_ERR_MAX] = "";
	int rc = vs_config_load_buffer("config.json", json, strlen(json), &cfg, err, sizeof(err));
	if (rc != 0)
		fail_msg("expected success, got %d: %s", rc, err);
	assert_non_null(cfg);
	return cfg;
}

/* A LUN's capacity as its backend's "size" option says (0: none). */
static uint64_t lun_size(const struct vs_config_lun *l)
{
	const char *v = vs_config_lun_opt(l, "size");
	uint64_t n = 0;

	if (v)
		assert_int_equal(vs_parse_size(v, &n), 0);
	return n;
}

/* Option texts that mean the same: "10G" and "10737418240", "1" and "true". */
static bool same_value(const char *a, const char *b)
{
	uint64_t x, y;

	if (strcmp(a, b) == 0)
		return true;
	if (vs_parse_size(a, &x) == 0 && vs_parse_size(b, &y) == 0)
		return x == y;
	return (strchr("1tTyY", a[0]) != NULL) == (strchr("1tTyY", b[0]) != NULL) &&
	       strchr("01tTfFyYnN", a[0]) && strchr("01tTfFyYnN", b[0]);
}

static void expect_error(const char *json, const char *expected)
{
	struct vs_config *cfg = (struct vs_config *)1;
	char err[VS_CONFIG_ERR_MAX] = "";
	int rc = vs_config_load_buffer("config.json", json, strlen(json), &cfg, err, sizeof(err));
	if (rc == 0)
		fail_msg("expected error \"%s\" but the config loaded: %s", expected, json);
	assert_int_equal(rc, -22 /* -EINVAL */);
	assert_null(cfg);
	assert_null(strchr(err, '\n'));
	assert_string_equal(err, expected);
}

/* A target with one LUN, with `lun` spliced in as the LUN object body. */
#define LUN(body) "{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:t\",\"luns\":[{" body "}]}]}"
#define RAM "\"lun\":0,\"backend\":\"ram\",\"size\":\"1M\""

static void test_syntax_errors(void **state)
{
	(void)state;
	expect_error("{\n  \"threads\": 2,\n  \"portals\": [\"127.0.0.1:3260\",]\n}",
	             "config.json:3:32: unexpected token near ']'");
	expect_error("", "config.json:1:0: '[' or '{' expected near end of file");
	expect_error("[1, 2]", "config.json: the top level must be an object, got an array");
	expect_error("{\"threads\": 1, \"threads\": 2}",
	             "config.json:1:24: duplicate object key near '\"threads\"'");
}

static void test_unknown_keys(void **state)
{
	(void)state;
	expect_error("{\"portal\": []}", "config.json: portal: unknown key (did you mean \"portals\"?)");
	expect_error("{\"colour\": 1}", "config.json: colour: unknown key");
	/* a key with a newline must not split the message */
	expect_error("{\"a\\nb\": 1}", "config.json: a\\x0ab: unknown key");
	expect_error(LUN(RAM ",\"blocksize\":512"),
	             "config.json: targets[0].luns[0].blocksize: unknown key (did you mean \"block_size\"?)");
	expect_error("{\"iscsi\":{\"max_burst\":65536}}",
	             "config.json: iscsi.max_burst: unknown key");
	expect_error("{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:t\",\"chap\":{\"user\":\"u\",\"secret\":\"s\",\"mutal_user\":\"x\"}}]}",
	             "config.json: targets[0].chap.mutal_user: unknown key (did you mean \"mutual_user\"?)");
	expect_error("{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:t\",\"lun\":[]}]}",
	             "config.json: targets[0].lun: unknown key (did you mean \"luns\"?)");
}

static void test_types(void **state)
{
	(void)state;
	expect_error("{\"threads\": \"2\"}", "config.json: threads: must be an integer, got a string");
	expect_error("{\"threads\": 1.5}",
	             "config.json: threads: must be an integer, got a number with a fraction");
	expect_error("{\"threads\": 300}", "config.json: threads: must be 0-256, got 300");
	expect_error("{\"portals\": \"127.0.0.1:3260\"}",
	             "config.json: portals: must be an array, got a string");
	expect_error("{\"iscsi\": []}", "config.json: iscsi: must be an object, got an array");
	expect_error("{\"targets\": [1]}", "config.json: targets[0]: must be an object, got an integer");
	expect_error(LUN(RAM ",\"readonly\":\"yes\""),
	             "config.json: targets[0].luns[0].readonly: must be true or false, got a string");
	expect_error(LUN(RAM ",\"serial\":\"\""),
	             "config.json: targets[0].luns[0].serial: must not be empty");
	expect_error(LUN(RAM ",\"serial\":\"a\\tb\""),
	             "config.json: targets[0].luns[0].serial: contains a control character (byte 0x09)");
	expect_error(LUN(RAM ",\"serial\":\"0123456789012345678901234567890123456789012345678901234567890123\""),
	             "config.json: targets[0].luns[0].serial: longer than 63 bytes");
}

static void test_iscsi_limits(void **state)
{
	(void)state;
	/* The fabric's own ranges (vstor/iscsi.h): what loads here starts. */
	expect_error("{\"iscsi\":{\"max_recv_data_segment_length\":100}}",
	             "config.json: iscsi.max_recv_data_segment_length: must be 512-1048576, got 100");
	expect_error("{\"iscsi\":{\"max_recv_data_segment_length\":16777215}}",
	             "config.json: iscsi.max_recv_data_segment_length: must be 512-1048576, got 16777215");
	expect_error("{\"iscsi\":{\"max_burst_length\":8388609}}",
	             "config.json: iscsi.max_burst_length: must be 512-8388608, got 8388609");
	expect_error("{\"iscsi\":{\"queue_depth\":0}}",
	             "config.json: iscsi.queue_depth: must be 1-1024, got 0");
	expect_error("{\"iscsi\":{\"queue_depth\":4096}}",
	             "config.json: iscsi.queue_depth: must be 1-1024, got 4096");
	expect_error("{\"iscsi\":{\"nop_interval_ms\":-5}}",
	             "config.json: iscsi.nop_interval_ms: must be 100-3600000, got -5");
	expect_error("{\"iscsi\":{\"max_burst_length\":65536,\"first_burst_length\":262144}}",
	             "config.json: iscsi.first_burst_length: must not exceed max_burst_length (65536, RFC 7143 13.14), got 262144");
	expect_error("{\"iscsi\":{\"first_burst_length\":2097152}}",
	             "config.json: iscsi.first_burst_length: must not exceed max_burst_length (1048576, RFC 7143 13.14), got 2097152");
	expect_error("{\"iscsi\":{\"max_outstanding_r2t\":0}}",
	             "config.json: iscsi.max_outstanding_r2t: must be 1-4, got 0");
	expect_error("{\"iscsi\":{\"max_outstanding_r2t\":16}}",
	             "config.json: iscsi.max_outstanding_r2t: must be 1-4, got 16");
	expect_error("{\"iscsi\":{\"max_connections\":0}}",
	             "config.json: iscsi.max_connections: must be 1-65535, got 0");
	expect_error("{\"iscsi\":{\"max_sessions\":65536}}",
	             "config.json: iscsi.max_sessions: must be 1-65535, got 65536");
	expect_error("{\"iscsi\":{\"login_timeout_ms\":50}}",
	             "config.json: iscsi.login_timeout_ms: must be 100-3600000, got 50");
	expect_error("{\"iscsi\":{\"max_r2t\":2}}", "config.json: iscsi.max_r2t: unknown key");
	expect_error("{\"iscsi\":{\"poll_us\":1001}}",
	             "config.json: iscsi.poll_us: must be 0-1000, got 1001");
}

/* The admission limits: each out of its range, and each above the limit it
 * is a part of (that limit's default when it is absent). */
static void test_admission_limits(void **state)
{
	(void)state;
	expect_error("{\"iscsi\":{\"max_login_connections\":0}}",
	             "config.json: iscsi.max_login_connections: must be 1-4096, got 0");
	expect_error("{\"iscsi\":{\"max_login_connections\":4097}}",
	             "config.json: iscsi.max_login_connections: must be 1-4096, got 4097");
	expect_error("{\"iscsi\":{\"max_login_connections\":257}}",
	             "config.json: iscsi.max_login_connections: must not exceed max_connections (256), got 257");
	expect_error("{\"iscsi\":{\"max_connections\":8,\"max_login_connections\":9}}",
	             "config.json: iscsi.max_login_connections: must not exceed max_connections (8), got 9");
	expect_error("{\"iscsi\":{\"max_logins_per_source\":0}}",
	             "config.json: iscsi.max_logins_per_source: must be 1-4096, got 0");
	expect_error("{\"iscsi\":{\"max_logins_per_source\":65}}",
	             "config.json: iscsi.max_logins_per_source: must not exceed max_login_connections (64), got 65");
	expect_error("{\"iscsi\":{\"max_connections\":10,\"max_logins_per_source\":11}}",
	             "config.json: iscsi.max_logins_per_source: must not exceed max_login_connections (10), got 11");
	expect_error("{\"iscsi\":{\"max_login_connections\":4,\"max_logins_per_source\":5}}",
	             "config.json: iscsi.max_logins_per_source: must not exceed max_login_connections (4), got 5");
	expect_error("{\"iscsi\":{\"reserved_sessions\":129}}",
	             "config.json: iscsi.reserved_sessions: must not exceed max_sessions (128), got 129");
	expect_error("{\"iscsi\":{\"max_sessions\":4,\"reserved_sessions\":5}}",
	             "config.json: iscsi.reserved_sessions: must not exceed max_sessions (4), got 5");
	expect_error("{\"iscsi\":{\"reserved_sessions\":-1}}",
	             "config.json: iscsi.reserved_sessions: must be 0-65535, got -1");
	expect_error("{\"iscsi\":{\"max_discovery_sessions\":0}}",
	             "config.json: iscsi.max_discovery_sessions: must be 1-65535, got 0");
	expect_error("{\"iscsi\":{\"discovery_idle_ms\":99}}",
	             "config.json: iscsi.discovery_idle_ms: must be 100-3600000, got 99");
	expect_error("{\"iscsi\":{\"discovery_idle_ms\":\"30s\"}}",
	             "config.json: iscsi.discovery_idle_ms: must be an integer, got a string");
}

static struct vs_config *save_and_reload(const struct vs_config *cfg, char **text);

/* reserved_sessions: absent = the fabric's default (max_sessions / 8), 0 =
 * none (kept as such through a save), otherwise that many. */
static void test_reserved_sessions(void **state)
{
	(void)state;
	struct vs_config *cfg = load_ok("{}");
	assert_int_equal(cfg->iscsi.reserved_sessions, 0);
	vs_config_free(cfg);
	cfg = load_ok("{\"iscsi\":{\"max_sessions\":4,\"reserved_sessions\":4}}");
	assert_int_equal(cfg->iscsi.reserved_sessions, 4);
	vs_config_free(cfg);

	cfg = load_ok("{\"iscsi\":{\"reserved_sessions\":0}}");
	assert_int_equal(cfg->iscsi.reserved_sessions, VS_ISCSI_RESERVED_NONE);
	char *text;
	struct vs_config *back = save_and_reload(cfg, &text);
	assert_non_null(strstr(text, "\"reserved_sessions\": 0"));
	assert_int_equal(back->iscsi.reserved_sessions, VS_ISCSI_RESERVED_NONE);
	free(text);
	vs_config_free(back);
	vs_config_free(cfg);
}

/* poll_us: absent = the fabric's default, 0 = off (kept as such through a
 * save), otherwise the window in microseconds. */
static void test_poll_us(void **state)
{
	(void)state;
	struct vs_config *cfg = load_ok("{}");
	assert_int_equal(cfg->iscsi.poll_us, 0);
	vs_config_free(cfg);
	cfg = load_ok("{\"iscsi\":{\"poll_us\":20}}");
	assert_int_equal(cfg->iscsi.poll_us, 20);
	vs_config_free(cfg);

	cfg = load_ok("{\"iscsi\":{\"poll_us\":0}}");
	assert_int_equal(cfg->iscsi.poll_us, VS_ISCSI_POLL_OFF);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(vs_config_save(f, cfg), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\"poll_us\": 0"));
	struct vs_config *back = load_ok(buf);
	assert_int_equal(back->iscsi.poll_us, VS_ISCSI_POLL_OFF);
	free(buf);
	vs_config_free(back);
	vs_config_free(cfg);
}

/* Every value the loader takes, the fabric takes too (one source of
 * truth): the extremes of each range create a fabric, and a max_burst_length
 * below the default first burst is not a start-up failure. */
static void test_iscsi_limits_agree_with_fabric(void **state)
{
	static const char *const ok[] = {
		"{\"iscsi\":{\"max_recv_data_segment_length\":1048576,\"max_burst_length\":8388608,"
		"\"first_burst_length\":8388608,\"queue_depth\":1024,\"max_outstanding_r2t\":4,"
		"\"max_connections\":65535,\"max_sessions\":65535,\"login_timeout_ms\":3600000,"
		"\"nop_interval_ms\":3600000,\"nop_timeout_ms\":3600000,\"poll_us\":1000,"
		"\"max_login_connections\":4096,\"max_logins_per_source\":4096,"
		"\"reserved_sessions\":65535,\"max_discovery_sessions\":65535,"
		"\"discovery_idle_ms\":3600000}}",
		"{\"iscsi\":{\"max_recv_data_segment_length\":512,\"max_burst_length\":512,"
		"\"queue_depth\":1,\"max_outstanding_r2t\":1,\"max_connections\":1,\"max_sessions\":1,"
		"\"login_timeout_ms\":100,\"nop_interval_ms\":100,\"nop_timeout_ms\":100,\"poll_us\":0,"
		"\"max_login_connections\":1,\"max_logins_per_source\":1,\"reserved_sessions\":0,"
		"\"max_discovery_sessions\":1,\"discovery_idle_ms\":100}}",
		/* the defaults of the admission limits follow smaller limits */
		"{\"iscsi\":{\"max_connections\":3,\"max_sessions\":2}}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct vs_config *cfg = load_ok(ok[i]);
		const struct vs_config_iscsi *c = &cfg->iscsi;
		struct vs_iscsi_config ic = {
			.threads = 1, .max_connections = c->max_connections, .max_sessions = c->max_sessions,
			.login_timeout_ms = c->login_timeout_ms, .nop_interval_ms = c->nop_interval_ms,
			.nop_timeout_ms = c->nop_timeout_ms, .queue_depth = c->queue_depth,
			.max_recv_dsl = c->max_recv_data_segment_length,
			.max_burst_length = c->max_burst_length, .first_burst_length = c->first_burst_length,
			.max_outstanding_r2t = c->max_outstanding_r2t, .poll_us = c->poll_us,
			.max_login_connections = c->max_login_connections,
			.max_logins_per_source = c->max_logins_per_source,
			.reserved_sessions = c->reserved_sessions,
			.max_discovery_sessions = c->max_discovery_sessions,
			.discovery_idle_ms = c->discovery_idle_ms,
		};
		struct vs_iscsi *is = vs_iscsi_create(&ic);

		if (!is)
			fail_msg("config %zu loads but the fabric refuses it: %s", i, vs_last_error());
		vs_iscsi_destroy(is);
		vs_config_free(cfg);
	}
}

static void test_portals(void **state)
{
	(void)state;
	expect_error("{\"portals\": []}", "config.json: portals: must list at least one ADDR:PORT");
	expect_error("{\"portals\": [\"127.0.0.1\"]}",
	             "config.json: portals[0]: must be ADDR:PORT or [IPv6]:PORT, got \"127.0.0.1\"");
	expect_error("{\"portals\": [\"127.0.0.1:3260\", \"127.0.0.1:70000\"]}",
	             "config.json: portals[1]: port must be 1-65535, got 70000");
	expect_error("{\"portals\": [\"127.0.0.1:0\"]}", "config.json: portals[0]: port must be 1-65535, got 0");
	expect_error("{\"portals\": [\"127.0.0.1:32a\"]}",
	             "config.json: portals[0]: port must be a number 1-65535, got \"32a\"");
	expect_error("{\"portals\": [\"::1:3260\"]}",
	             "config.json: portals[0]: IPv6 addresses need brackets: [ADDR]:PORT, got \"::1:3260\"");
	expect_error("{\"portals\": [\"[::1]3260\"]}",
	             "config.json: portals[0]: must be [IPv6]:PORT, got \"[::1]3260\"");
	expect_error("{\"portals\": [\"[fe80::zz]:3260\"]}",
	             "config.json: portals[0]: \"fe80::zz\" is not an IPv6 address");
	expect_error("{\"portals\": [\"localhost:3260\"]}",
	             "config.json: portals[0]: \"localhost\" is not an IPv4 address");
	expect_error("{\"portals\": [\"127.0.0.1:3260\", \"127.0.0.1:3260\"]}",
	             "config.json: portals[1]: duplicate of portals[0]");
	expect_error("{\"portals\": [3260]}", "config.json: portals[0]: must be a string, got an integer");

	/* A target's own portals follow the same rules, named by their path. */
#define TP(list) "{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:t\",\"portals\":" list "}]}"
	expect_error(TP("[]"), "config.json: targets[0].portals: must list at least one ADDR:PORT");
	expect_error(TP("\"127.0.0.1:3260\""),
	             "config.json: targets[0].portals: must be an array, got a string");
	expect_error(TP("[\"127.0.0.1:3260\", 7]"),
	             "config.json: targets[0].portals[1]: must be a string, got an integer");
	expect_error(TP("[\"127.0.0.1:99999\"]"),
	             "config.json: targets[0].portals[0]: port must be 1-65535, got 99999");
	expect_error(TP("[\"[::1]:3260\", \"[::1]:3260\"]"),
	             "config.json: targets[0].portals[1]: duplicate of targets[0].portals[0]");
	expect_error("{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:t\",\"portal\":[]}]}",
	             "config.json: targets[0].portal: unknown key (did you mean \"portals\"?)");
#undef TP
}

static void test_names(void **state)
{
	(void)state;
	expect_error("{\"targets\":[{}]}", "config.json: targets[0].iqn: missing (required)");
	expect_error("{\"targets\":[{\"iqn\":\"disk1\"}]}",
	             "config.json: targets[0].iqn: \"disk1\": must start with \"iqn.\", \"eui.\" or \"naa.\" (RFC 7143 4.2.7)");
	expect_error("{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:Disk1\"}]}",
	             "config.json: targets[0].iqn: \"iqn.2026-11.org.vstor:Disk1\": must be lowercase (RFC 7143 4.2.7.2), got 'D'");
	expect_error("{\"targets\":[{\"iqn\":\"iqn.2026-13.org.vstor:d\"}]}",
	             "config.json: targets[0].iqn: \"iqn.2026-13.org.vstor:d\": iqn date month must be 01-12, got 13");
	expect_error("{\"targets\":[{\"iqn\":\"iqn.26-11.org.vstor:d\"}]}",
	             "config.json: targets[0].iqn: \"iqn.26-11.org.vstor:d\": iqn name needs a date yyyy-mm after \"iqn.\"");
	expect_error("{\"targets\":[{\"iqn\":\"iqn.2026-11:d\"}]}",
	             "config.json: targets[0].iqn: \"iqn.2026-11:d\": iqn name needs '.' and a reversed domain name after the date");
	expect_error("{\"targets\":[{\"iqn\":\"iqn.2026-11.org..vstor\"}]}",
	             "config.json: targets[0].iqn: \"iqn.2026-11.org..vstor\": iqn naming authority has an empty domain label");
	expect_error("{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:a b\"}]}",
	             "config.json: targets[0].iqn: \"iqn.2026-11.org.vstor:a b\": may hold only lowercase letters, digits, '-', '.' and ':' (RFC 7143 4.2.7.2), got byte 0x20");
	expect_error("{\"targets\":[{\"iqn\":\"eui.02004567A42567\"}]}",
	             "config.json: targets[0].iqn: \"eui.02004567A42567\": eui name must be \"eui.\" and 16 hex digits");
	expect_error("{\"targets\":[{\"iqn\":\"naa.52004567BA64678DX\"}]}",
	             "config.json: targets[0].iqn: \"naa.52004567BA64678DX\": naa name must be \"naa.\" and 16 or 32 hex digits");
	expect_error("{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:a\"},{\"iqn\":\"iqn.2026-11.org.vstor:b\"},"
	             "{\"iqn\":\"iqn.2026-11.org.vstor:a\"}]}",
	             "config.json: targets[2].iqn: duplicate of targets[0].iqn");
	expect_error("{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:a\",\"acl\":[\"iqn.1993-08.org.debian:01:abc\",\"Host\"]}]}",
	             "config.json: targets[0].acl[1]: \"Host\": must start with \"iqn.\", \"eui.\" or \"naa.\" (RFC 7143 4.2.7)");
	expect_error("{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:a\",\"acl\":[\"eui.0123456789ABCDEF\",\"eui.0123456789ABCDEF\"]}]}",
	             "config.json: targets[0].acl[1]: duplicate of targets[0].acl[0]");

	/* 224 bytes: one more than RFC 7143 §4.2.7.1 allows */
	char json[512], name[232];
	memset(name, 'a', sizeof(name));
	memcpy(name, "iqn.2026-11.org.vstor:", 22);
	name[224] = '\0';
	snprintf(json, sizeof(json), "{\"targets\":[{\"iqn\":\"%s\"}]}", name);
	char expected[512];
	snprintf(expected, sizeof(expected),
	         "config.json: targets[0].iqn: \"%.64s\": longer than 223 bytes (RFC 7143 4.2.7.1)", name);
	expect_error(json, expected);
	name[223] = '\0';
	snprintf(json, sizeof(json), "{\"targets\":[{\"iqn\":\"%s\"}]}", name);
	vs_config_free(load_ok(json));
}

static void test_name_validator(void **state)
{
	(void)state;
	char why[160];
	assert_true(vs_iscsi_name_valid("iqn.2026-11.org.vstor:default", why, sizeof(why)));
	assert_true(vs_iscsi_name_valid("iqn.1993-08.org.debian:01:abc", why, sizeof(why)));
	assert_true(vs_iscsi_name_valid("iqn.1991-05.com.microsoft:host-1.example.com", why, sizeof(why)));
	assert_true(vs_iscsi_name_valid("iqn.2001-04.com.example", why, sizeof(why)));
	assert_true(vs_iscsi_name_valid("eui.02004567A425678D", why, sizeof(why)));
	assert_true(vs_iscsi_name_valid("naa.52004567BA64678D", why, sizeof(why)));
	assert_true(vs_iscsi_name_valid("naa.62004567BA64678D0123456789ABCDEF", why, sizeof(why)));
	assert_false(vs_iscsi_name_valid("iqn.2001-04.com.", why, sizeof(why)));
	assert_string_equal(why, "iqn naming authority (reversed domain name) is missing or ends in '.'");
	assert_false(vs_iscsi_name_valid("iqn.2001-00.com.example", why, sizeof(why)));
	assert_false(vs_iscsi_name_valid("", why, sizeof(why)));
	assert_string_equal(why, "must not be empty");
	assert_false(vs_iscsi_name_valid("iqn.2001-04.com_x.example", why, sizeof(why)));
	assert_string_equal(why, "may hold only lowercase letters, digits, '-', '.' and ':' (RFC 7143 4.2.7.2), got byte 0x5f");
	assert_false(vs_iscsi_name_valid("iqn.2001-04.-:x", why, sizeof(why)));
	assert_true(vs_iscsi_name_valid("iqn.2001-04.a-b:x", why, sizeof(why)));
}

static void test_luns(void **state)
{
	(void)state;
	expect_error(LUN("\"lun\":0,\"backend\":\"ram\",\"size\":\"1M\",\"block_size\":1000"),
	             "config.json: targets[0].luns[0].block_size: must be 512 or 4096, got 1000");
	expect_error(LUN("\"lun\":0,\"backend\":\"ram\",\"size\":\"1M\",\"block_size\":\"4k\""),
	             "config.json: targets[0].luns[0].block_size: must be 512 or 4096, got a string");
	expect_error(LUN("\"backend\":\"ram\",\"size\":\"1M\""),
	             "config.json: targets[0].luns[0].lun: missing (required)");
	/* vdisk serves LUNs 0-1023: a larger number is refused by name */
	expect_error(LUN("\"lun\":1024,\"backend\":\"ram\",\"size\":\"1M\""),
	             "config.json: targets[0].luns[0].lun: must be 0-1023, got 1024");
	expect_error(LUN("\"lun\":0,\"size\":\"1M\""),
	             "config.json: targets[0].luns[0].backend: missing (required)");
	char unknown[640];

	snprintf(unknown, sizeof(unknown),
	         "config.json: targets[0].luns[0].backend: unknown backend \"tape\" (known: %s)",
	         layer_names(VS_LAYER_BACKEND));
	expect_error(LUN("\"lun\":0,\"backend\":\"tape\",\"size\":\"1M\""), unknown);
	expect_error(LUN("\"lun\":0,\"backend\":\"ram\",\"size\":\"lots\""),
	             "config.json: targets[0].luns[0].size: 'lots' is not a size (e.g. 4096, 512K, 1G, 10GiB)");
	expect_error(LUN("\"lun\":0,\"backend\":\"ram\",\"size\":0"),
	             "config.json: targets[0].luns[0].size: '0' is out of range (1 to 64T)");
	expect_error(LUN("\"lun\":0,\"backend\":\"ram\",\"size\":true"),
	             "config.json: targets[0].luns[0].size: must be a size like \"1G\" or a byte count, got true");
	expect_error(LUN("\"lun\":0,\"backend\":\"ram\",\"size\":1000"),
	             "config.json: targets[0].luns[0].size: 1000 bytes is not a multiple of block_size 512");
	expect_error(LUN("\"lun\":0,\"backend\":\"ram\",\"size\":\"1536\",\"block_size\":4096"),
	             "config.json: targets[0].luns[0].size: 1536 bytes is not a multiple of block_size 4096");
	expect_error(LUN("\"lun\":0,\"backend\":\"ram\""),
	             "config.json: targets[0].luns[0].size: missing (required: capacity, e.g. 1G)");
	expect_error(LUN(RAM ",\"path\":\"/tmp/x\""),
	             "config.json: targets[0].luns[0].path: unknown key (backend ram takes size, max_size, overcommit, huge_pages)");
	expect_error(LUN(RAM ",\"direct\":true"),
	             "config.json: targets[0].luns[0].direct: unknown key (backend ram takes size, max_size, overcommit, huge_pages)");
	expect_error(LUN("\"lun\":0,\"backend\":\"file\",\"size\":\"1M\""),
	             "config.json: targets[0].luns[0].path: missing (required: file or block device, e.g. /var/lib/vstor/disk0.img)");
	expect_error(LUN("\"lun\":0,\"backend\":\"file\",\"path\":\"/tmp/x\",\"create\":true"),
	             "config.json: targets[0].luns[0].size: required with create=1");
	expect_error(LUN("\"lun\":0,\"backend\":\"file\",\"path\":\"/tmp/x\",\"size\":\"1M\",\"create\":true,\"readonly\":true"),
	             "config.json: targets[0].luns[0].create: cannot create a readonly LUN");
	expect_error(LUN(RAM ",\"options\":{\"size\":\"2M\"}"),
	             "config.json: targets[0].luns[0].options.size: set \"size\" on the lun itself, not under options");
	expect_error(LUN(RAM ",\"options\":{\"numa\":1}"),
	             "config.json: targets[0].luns[0].options.numa: must be a string, got an integer");
	expect_error(LUN(RAM ",\"options\":[]"),
	             "config.json: targets[0].luns[0].options: must be an object, got an array");
	expect_error("{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:t\",\"luns\":["
	             "{" RAM "},{\"lun\":1,\"backend\":\"ram\",\"size\":\"1M\"},{" RAM "}]}]}",
	             "config.json: targets[0].luns[2].lun: LUN 0 is already used by targets[0].luns[0]");
}

static void test_chap(void **state)
{
	(void)state;
	expect_error("{\"discovery_chap\":{\"user\":\"u\"}}", "config.json: discovery_chap.secret: missing (required)");
	expect_error("{\"discovery_chap\":{\"secret\":\"s\"}}", "config.json: discovery_chap.user: missing (required)");
	expect_error("{\"discovery_chap\":{\"user\":\"u\",\"secret\":\"s\",\"mutual_user\":\"t\"}}",
	             "config.json: discovery_chap.mutual_secret: missing (required with mutual_user)");
	expect_error("{\"discovery_chap\":{\"user\":\"u\",\"secret\":\"s\",\"mutual_secret\":\"t\"}}",
	             "config.json: discovery_chap.mutual_user: missing (required with mutual_secret)");
	expect_error("{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:t\",\"chap\":{\"user\":\"u\",\"secret\":\"samesecret12\","
	             "\"mutual_user\":\"t\",\"mutual_secret\":\"samesecret12\"}}]}",
	             "config.json: targets[0].chap.mutual_secret: must differ from secret (RFC 7143 9.2.1)");
	expect_error("{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:t\",\"chap\":\"u:s\"}]}",
	             "config.json: targets[0].chap: must be an object, got a string");
}

static const char full_example[] =
	"{ \"portals\": [\"127.0.0.1:3260\", \"[::1]:3261\"],\n"
	"  \"threads\": 2,\n"
	"  \"iscsi\": { \"max_recv_data_segment_length\": 262144, \"max_burst_length\": 1048576,\n"
	"             \"first_burst_length\": 262144, \"queue_depth\": 128, \"nop_interval_ms\": 5000,\n"
	"             \"nop_timeout_ms\": 15000, \"max_outstanding_r2t\": 2, \"max_connections\": 64,\n"
	"             \"max_sessions\": 32, \"login_timeout_ms\": 10000, \"max_login_connections\": 24,\n"
	"             \"max_logins_per_source\": 6, \"reserved_sessions\": 8,\n"
	"             \"max_discovery_sessions\": 4, \"discovery_idle_ms\": 30000 },\n"
	"  \"discovery_chap\": { \"user\": \"disc\", \"secret\": \"discsecret12\" },\n"
	"  \"targets\": [ { \"iqn\": \"iqn.2026-11.org.vstor:disk1\", \"alias\": \"disk1\",\n"
	"      \"portals\": [\"127.0.0.1:3262\", \"[::1]:3263\"],\n"
	"      \"acl\": [\"iqn.1993-08.org.debian:01:abc\"],\n"
	"      \"chap\": { \"user\": \"u\", \"secret\": \"s\", \"mutual_user\": \"t\", \"mutual_secret\": \"ms\" },\n"
	"      \"luns\": [ { \"lun\": 0, \"backend\": \"ram\", \"size\": \"1G\", \"block_size\": 512 },\n"
	"                { \"lun\": 1, \"backend\": \"file\", \"path\": \"/var/lib/vstor/d1.img\", \"size\": \"10G\",\n"
	"                  \"create\": true, \"direct\": false, \"readonly\": false, \"serial\": \"D1\",\n"
	"                  \"block_size\": 4096, \"options\": { \"dsync\": \"1\" } } ] },\n"
	"    { \"iqn\": \"eui.02004567A425678D\", \"luns\": [ { \"lun\": 7, \"backend\": \"ram\", \"size\": 1048576 } ] } ] }\n";

static void test_full_example(void **state)
{
	(void)state;
	struct vs_config *cfg = load_ok(full_example);
	assert_int_equal(cfg->nportals, 2);
	assert_string_equal(cfg->portals[0], "127.0.0.1:3260");
	assert_string_equal(cfg->portals[1], "[::1]:3261");
	assert_int_equal(cfg->threads, 2);
	assert_int_equal(cfg->iscsi.max_recv_data_segment_length, 262144);
	assert_int_equal(cfg->iscsi.max_burst_length, 1048576);
	assert_int_equal(cfg->iscsi.first_burst_length, 262144);
	assert_int_equal(cfg->iscsi.queue_depth, 128);
	assert_int_equal(cfg->iscsi.nop_interval_ms, 5000);
	assert_int_equal(cfg->iscsi.nop_timeout_ms, 15000);
	assert_int_equal(cfg->iscsi.max_outstanding_r2t, 2);
	assert_int_equal(cfg->iscsi.max_connections, 64);
	assert_int_equal(cfg->iscsi.max_sessions, 32);
	assert_int_equal(cfg->iscsi.login_timeout_ms, 10000);
	assert_int_equal(cfg->iscsi.max_login_connections, 24);
	assert_int_equal(cfg->iscsi.max_logins_per_source, 6);
	assert_int_equal(cfg->iscsi.reserved_sessions, 8);
	assert_int_equal(cfg->iscsi.max_discovery_sessions, 4);
	assert_int_equal(cfg->iscsi.discovery_idle_ms, 30000);
	assert_true(cfg->has_discovery_chap);
	assert_string_equal(cfg->discovery_chap.user, "disc");
	assert_null(cfg->discovery_chap.mutual_user);
	assert_int_equal(cfg->ntargets, 2);

	struct vs_config_target *t = &cfg->targets[0];
	assert_string_equal(t->iqn, "iqn.2026-11.org.vstor:disk1");
	assert_string_equal(t->alias, "disk1");
	assert_int_equal(t->nportals, 2);
	assert_string_equal(t->portals[0], "127.0.0.1:3262");
	assert_string_equal(t->portals[1], "[::1]:3263");
	assert_int_equal(t->nacl, 1);
	assert_string_equal(t->acl[0], "iqn.1993-08.org.debian:01:abc");
	assert_true(t->has_chap);
	assert_string_equal(t->chap.mutual_secret, "ms");
	assert_int_equal(t->nluns, 2);
	assert_int_equal(t->luns[0].lun, 0);
	assert_string_equal(t->luns[0].backend, "ram");
	assert_int_equal(lun_size(&t->luns[0]), 1ULL << 30);
	assert_int_equal(t->luns[0].block_size, 512);
	assert_null(vs_config_lun_opt(&t->luns[0], "path"));
	assert_int_equal(t->luns[1].lun, 1);
	assert_string_equal(vs_config_lun_opt(&t->luns[1], "path"), "/var/lib/vstor/d1.img");
	assert_int_equal(lun_size(&t->luns[1]), 10ULL << 30);
	/* the backend's booleans, as its schema reads them */
	assert_string_equal(vs_config_lun_opt(&t->luns[1], "create"), "1");
	assert_string_equal(vs_config_lun_opt(&t->luns[1], "direct"), "0");
	assert_false(t->luns[1].readonly);
	assert_string_equal(t->luns[1].serial, "D1");
	assert_int_equal(t->luns[1].block_size, 4096);
	/* path, size, create, direct on the LUN; dsync under "options" */
	assert_int_equal(t->luns[1].noptions, 5);
	assert_string_equal(t->luns[1].options[4].key, "dsync");
	assert_string_equal(t->luns[1].options[4].value, "1");
	assert_true(t->luns[1].options[4].in_options);
	assert_false(t->luns[1].options[0].in_options);

	t = &cfg->targets[1];
	assert_string_equal(t->iqn, "eui.02004567A425678D");
	assert_false(t->has_chap);
	assert_int_equal(t->nacl, 0);
	assert_int_equal(t->nportals, 0);     /* served on the daemon's portals */
	assert_int_equal(t->luns[0].lun, 7);
	assert_int_equal(lun_size(&t->luns[0]), 1048576);
	vs_config_free(cfg);
}

static void test_empty_is_defaults(void **state)
{
	(void)state;
	struct vs_config *cfg = load_ok("{}");
	assert_int_equal(cfg->nportals, 1);
	assert_string_equal(cfg->portals[0], VS_CONFIG_DEFAULT_PORTAL);
	assert_int_equal(cfg->threads, 0);
	assert_int_equal(cfg->iscsi.queue_depth, 0);
	assert_false(cfg->has_discovery_chap);
	assert_int_equal(cfg->ntargets, 0);
	vs_config_free(cfg);
}

static void test_builtin_default(void **state)
{
	(void)state;
	struct vs_config *cfg = vs_config_default("ram");
	assert_non_null(cfg);
	assert_int_equal(cfg->nportals, 1);
	assert_string_equal(cfg->portals[0], "127.0.0.1:3260");
	assert_int_equal(cfg->ntargets, 1);
	assert_string_equal(cfg->targets[0].iqn, "iqn.2026-11.org.vstor:default");
	assert_int_equal(cfg->targets[0].nluns, 1);
	assert_int_equal(cfg->targets[0].luns[0].lun, 0);
	assert_string_equal(cfg->targets[0].luns[0].backend, "ram");
	assert_int_equal(lun_size(&cfg->targets[0].luns[0]), 1ULL << 30);
	assert_int_equal(cfg->targets[0].luns[0].block_size, 512);

	const char *portals[] = { "[::1]:3262", "0.0.0.0:3263" };
	char err[VS_CONFIG_ERR_MAX];
	assert_int_equal(vs_config_set_portals(cfg, portals, 2, err, sizeof(err)), 0);
	assert_int_equal(cfg->nportals, 2);
	assert_string_equal(cfg->portals[1], "0.0.0.0:3263");
	const char *bad_portal = "1.2.3.4";
	assert_int_equal(vs_config_set_portals(cfg, &bad_portal, 1, err, sizeof(err)), -22);
	assert_string_equal(err, "must be ADDR:PORT or [IPv6]:PORT, got \"1.2.3.4\"");
	assert_int_equal(cfg->nportals, 2);   /* unchanged on error */
	vs_config_free(cfg);
}

/* ---------------------------------------------------------- round trip */

static void assert_str_eq_or_null(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_chap_equal(const struct vs_config_chap *a, const struct vs_config_chap *b)
{
	assert_str_eq_or_null(a->user, b->user);
	assert_str_eq_or_null(a->secret, b->secret);
	assert_str_eq_or_null(a->mutual_user, b->mutual_user);
	assert_str_eq_or_null(a->mutual_secret, b->mutual_secret);
}

static void assert_config_equal(const struct vs_config *a, const struct vs_config *b)
{
	assert_int_equal(a->nportals, b->nportals);
	for (size_t i = 0; i < a->nportals; i++)
		assert_string_equal(a->portals[i], b->portals[i]);
	assert_int_equal(a->threads, b->threads);
	assert_memory_equal(&a->iscsi, &b->iscsi, sizeof(a->iscsi));
	assert_int_equal(a->has_discovery_chap, b->has_discovery_chap);
	assert_chap_equal(&a->discovery_chap, &b->discovery_chap);
	assert_int_equal(a->ntargets, b->ntargets);
	for (size_t i = 0; i < a->ntargets; i++) {
		const struct vs_config_target *ta = &a->targets[i], *tb = &b->targets[i];
		assert_string_equal(ta->iqn, tb->iqn);
		assert_str_eq_or_null(ta->alias, tb->alias);
		assert_int_equal(ta->nportals, tb->nportals);
		for (size_t j = 0; j < ta->nportals; j++)
			assert_string_equal(ta->portals[j], tb->portals[j]);
		assert_int_equal(ta->nacl, tb->nacl);
		for (size_t j = 0; j < ta->nacl; j++)
			assert_string_equal(ta->acl[j], tb->acl[j]);
		assert_int_equal(ta->has_chap, tb->has_chap);
		assert_chap_equal(&ta->chap, &tb->chap);
		assert_int_equal(ta->nluns, tb->nluns);
		for (size_t j = 0; j < ta->nluns; j++) {
			const struct vs_config_lun *la = &ta->luns[j], *lb = &tb->luns[j];
			assert_int_equal(la->lun, lb->lun);
			assert_string_equal(la->backend, lb->backend);
			assert_int_equal(lun_size(la), lun_size(lb));
			assert_int_equal(la->block_size, lb->block_size);
			assert_int_equal(la->readonly, lb->readonly);
			assert_str_eq_or_null(la->serial, lb->serial);
			/* the same options with the same meaning (a saved size is
			 * written "10G", a boolean true, whatever the input said) */
			assert_int_equal(la->noptions, lb->noptions);
			for (size_t k = 0; k < la->noptions; k++) {
				const char *vb = vs_config_lun_opt(lb, la->options[k].key);

				assert_non_null(vb);
				assert_true(same_value(la->options[k].value, vb));
			}
			assert_int_equal(la->nfilters, lb->nfilters);
			for (size_t k = 0; k < la->nfilters; k++) {
				assert_string_equal(la->filters[k].name, lb->filters[k].name);
				assert_int_equal(la->filters[k].nopts, lb->filters[k].nopts);
				for (size_t m = 0; m < la->filters[k].nopts; m++) {
					assert_string_equal(la->filters[k].opts[m].key,
					                    lb->filters[k].opts[m].key);
					assert_true(same_value(la->filters[k].opts[m].value,
					                       lb->filters[k].opts[m].value));
				}
			}
		}
	}
}

static struct vs_config *save_and_reload(const struct vs_config *cfg, char **text)
{
	size_t len = 0;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(vs_config_save(f, cfg), 0);
	fclose(f);
	struct vs_config *back = load_ok(buf);
	*text = buf;
	return back;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct vs_config *cfg = load_ok(full_example);
	char *text1, *text2;
	struct vs_config *back = save_and_reload(cfg, &text1);
	assert_config_equal(cfg, back);
	/* Saving again gives the same bytes: the format is canonical. */
	struct vs_config *again = save_and_reload(back, &text2);
	assert_string_equal(text1, text2);
	/* Sizes are written the way people write them. */
	assert_non_null(strstr(text1, "\"size\": \"10G\""));
	assert_non_null(strstr(text1, "\"size\": \"1M\""));
	free(text1);
	free(text2);
	vs_config_free(cfg);
	vs_config_free(back);
	vs_config_free(again);

	cfg = vs_config_default("ram");
	back = save_and_reload(cfg, &text1);
	assert_config_equal(cfg, back);
	free(text1);
	vs_config_free(cfg);
	vs_config_free(back);
}

static void test_load_file(void **state)
{
	(void)state;
	char path[] = "/tmp/vstor-test-config-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *json = "{\n  \"targets\": [ { \"iqn\": \"iqn.2026-11.org.vstor:t\",\n"
	                   "    \"luns\": [ { \"lun\": 0, \"backend\": \"ram\", \"size\": \"1M\", \"block_size\": 1000 } ] } ]\n}\n";
	assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
	close(fd);

	struct vs_config *cfg = NULL;
	char err[VS_CONFIG_ERR_MAX], expected[VS_CONFIG_ERR_MAX];
	assert_int_equal(vs_config_load_file(path, &cfg, err, sizeof(err)), -22);
	snprintf(expected, sizeof(expected), "%s: targets[0].luns[0].block_size: must be 512 or 4096, got 1000",
	         path);
	assert_string_equal(err, expected);
	unlink(path);

	assert_int_equal(vs_config_load_file(path, &cfg, err, sizeof(err)), -2 /* -ENOENT */);
	snprintf(expected, sizeof(expected), "%s: cannot open: No such file or directory", path);
	assert_string_equal(err, expected);
	assert_null(cfg);
}

/* A relative LUN path in a file is taken from the file's own directory,
 * not from wherever vstord runs; absolute paths stay as they are. */
static void test_relative_lun_paths(void **state)
{
	(void)state;
	char dir[] = "/tmp/vstor-test-cfgdir-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char file[PATH_MAX], expected[PATH_MAX + 32], cwd[PATH_MAX];
	snprintf(file, sizeof(file), "%s/c.json", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs("{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:t\",\"luns\":["
	      "{\"lun\":0,\"backend\":\"file\",\"path\":\"d0.img\"},"
	      "{\"lun\":1,\"backend\":\"file\",\"path\":\"sub/d1.img\"},"
	      "{\"lun\":2,\"backend\":\"file\",\"path\":\"/abs/d2.img\"},"
	      "{\"lun\":3,\"backend\":\"ram\",\"size\":\"1M\"}]}]}", f);
	fclose(f);

	struct vs_config *cfg = NULL;
	char err[VS_CONFIG_ERR_MAX];
	assert_int_equal(vs_config_load_file(file, &cfg, err, sizeof(err)), 0);
	snprintf(expected, sizeof(expected), "%s/d0.img", dir);
	assert_string_equal(vs_config_lun_opt(&cfg->targets[0].luns[0], "path"), expected);
	snprintf(expected, sizeof(expected), "%s/sub/d1.img", dir);
	assert_string_equal(vs_config_lun_opt(&cfg->targets[0].luns[1], "path"), expected);
	assert_string_equal(vs_config_lun_opt(&cfg->targets[0].luns[2], "path"), "/abs/d2.img");
	assert_null(vs_config_lun_opt(&cfg->targets[0].luns[3], "path"));
	vs_config_free(cfg);

	/* The file named relative to the working directory: the same disks. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/tmp"), 0);
	assert_int_equal(vs_config_load_file(file + strlen("/tmp/"), &cfg, err, sizeof(err)), 0);
	snprintf(expected, sizeof(expected), "%s/d0.img", dir);
	assert_string_equal(vs_config_lun_opt(&cfg->targets[0].luns[0], "path"), expected);
	vs_config_free(cfg);
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(vs_config_load_file("c.json", &cfg, err, sizeof(err)), 0);
	assert_string_equal(vs_config_lun_opt(&cfg->targets[0].luns[0], "path"), expected);
	vs_config_free(cfg);
	assert_int_equal(chdir(cwd), 0);
	unlink(file);
	rmdir(dir);
}

static void test_format_size(void **state)
{
	(void)state;
	char buf[32];
	vs_config_format_size(1ULL << 30, buf, sizeof(buf));
	assert_string_equal(buf, "1G");
	vs_config_format_size(3ULL << 29, buf, sizeof(buf));
	assert_string_equal(buf, "1536M");
	vs_config_format_size(4096, buf, sizeof(buf));
	assert_string_equal(buf, "4K");
	vs_config_format_size(1000, buf, sizeof(buf));
	assert_string_equal(buf, "1000");
	vs_config_format_size(2ULL << 40, buf, sizeof(buf));
	assert_string_equal(buf, "2T");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syntax_errors),   cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_types),           cmocka_unit_test(test_iscsi_limits),
		cmocka_unit_test(test_iscsi_limits_agree_with_fabric),
		cmocka_unit_test(test_portals),         cmocka_unit_test(test_names),
		cmocka_unit_test(test_name_validator),  cmocka_unit_test(test_luns),
		cmocka_unit_test(test_chap),            cmocka_unit_test(test_full_example),
		cmocka_unit_test(test_empty_is_defaults), cmocka_unit_test(test_builtin_default),
		cmocka_unit_test(test_poll_us),
		cmocka_unit_test(test_admission_limits), cmocka_unit_test(test_reserved_sessions),
		cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_relative_lun_paths),
		cmocka_unit_test(test_format_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
