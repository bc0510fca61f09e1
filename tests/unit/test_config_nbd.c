/* SPDX-License-Identifier: MIT */
/*
 * The config file's "nbd" section: defaults, every field's one-line
 * error, exports checked against the targets and LUNs, and config save
 * writing back what was loaded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ctl/config.h"
#include "vstor/nbd.h"

#define TARGETS "\"targets\": [ { \"iqn\": \"iqn.2026-11.org.vstor:a\", \"luns\": [ " \
                "{ \"lun\": 0, \"backend\": \"ram\", \"size\": \"1M\" } ] } ]"

static int load(const char *nbd, struct vs_config **cfg, char *err, size_t len)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "{ " TARGETS ", \"nbd\": %s }", nbd);
	return vs_config_load_buffer("c.json", buf, strlen(buf), cfg, err, len);
}

static void expect_error(const char *nbd, const char *want)
{
	struct vs_config *cfg = NULL;
	char err[512] = "";

	if (load(nbd, &cfg, err, sizeof(err)) == 0)
		fail_msg("accepted: %s", nbd);
	assert_null(cfg);
	if (!strstr(err, want))
		fail_msg("%s\n  error: %s\n  want:  %s", nbd, err, want);
	assert_null(strchr(err, '\n'));
}

static void test_defaults_and_save(void **state)
{
	struct vs_config *cfg = NULL, *again = NULL;
	char err[512] = "", *text = NULL;
	size_t len = 0;
	(void)state;

	assert_int_equal(load("{ \"exports\": [ { \"name\": \"d\", \"target\": \"iqn.2026-11.org.vstor:a\", "
	                      "\"lun\": 0, \"acl\": [\"10.0.0.0/8\", \"tls:alice\"], "
	                      "\"multi_conn\": false } ], \"tls\": { \"mode\": \"require\", "
	                      "\"psk_file\": \"/k\" }, \"queue_depth\": 8 }", &cfg, err, sizeof(err)), 0);
	assert_non_null(cfg->nbd);
	assert_int_equal(cfg->nbd->nportals, 1);
	assert_string_equal(cfg->nbd->portals[0], VS_CONFIG_NBD_DEFAULT_PORTAL);
	assert_int_equal(cfg->nbd->queue_depth, 8);
	assert_int_equal(cfg->nbd->tls_mode, 2);
	assert_int_equal(cfg->nbd->nexports, 1);
	assert_string_equal(cfg->nbd->exports[0].name, "d");
	assert_int_equal(cfg->nbd->exports[0].nacl, 2);
	assert_true(cfg->nbd->exports[0].no_multi_conn);
	assert_non_null(vs_config_nbd_user(cfg, "iqn.2026-11.org.vstor:a", 0));
	assert_null(vs_config_nbd_user(cfg, "iqn.2026-11.org.vstor:a", 1));
	/* save, load again: the same section */
	FILE *f = open_memstream(&text, &len);
	assert_int_equal(vs_config_save(f, cfg), 0);
	fclose(f);
	assert_int_equal(vs_config_load_buffer("s.json", text, len, &again, err, sizeof(err)), 0);
	assert_non_null(again->nbd);
	assert_int_equal(again->nbd->queue_depth, 8);
	assert_int_equal(again->nbd->tls_mode, 2);
	assert_string_equal(again->nbd->tls_psk_file, "/k");
	assert_int_equal(again->nbd->exports[0].nacl, 2);
	assert_string_equal(again->nbd->exports[0].acl[1], "tls:alice");
	assert_true(again->nbd->exports[0].no_multi_conn);
	free(text);
	vs_config_free(cfg);
	vs_config_free(again);
	/* no section: no NBD */
	assert_int_equal(vs_config_load_buffer("n.json", "{}", 2, &cfg, err, sizeof(err)), 0);
	assert_null(cfg->nbd);
	vs_config_free(cfg);
}

/* poll_us: absent = the fabric's default (0 here), 0 = off (kept as such
 * through a save), otherwise the window in microseconds. */
static void test_poll_us(void **state)
{
	struct vs_config *cfg = NULL, *again = NULL;
	char err[512] = "", *text = NULL;
	size_t len = 0;
	(void)state;

	assert_int_equal(load("{}", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->nbd->poll_us, 0);
	vs_config_free(cfg);
	assert_int_equal(load("{ \"poll_us\": 20 }", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->nbd->poll_us, 20);
	vs_config_free(cfg);
	assert_int_equal(load("{ \"poll_us\": 0 }", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->nbd->poll_us, VS_NBD_POLL_OFF);
	FILE *f = open_memstream(&text, &len);
	assert_int_equal(vs_config_save(f, cfg), 0);
	fclose(f);
	assert_non_null(strstr(text, "\"poll_us\": 0"));
	assert_int_equal(vs_config_load_buffer("s.json", text, len, &again, err, sizeof(err)), 0);
	assert_int_equal(again->nbd->poll_us, VS_NBD_POLL_OFF);
	free(text);
	vs_config_free(cfg);
	vs_config_free(again);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("[]", "c.json: nbd: must be an object, got an array");
	expect_error("{ \"portal\": [] }", "c.json: nbd.portal: unknown key (did you mean \"portals\"?)");
	expect_error("{ \"portals\": [\"nowhere\"] }", "c.json: nbd.portals[0]");
	expect_error("{ \"queue_depth\": 0 }", "c.json: nbd.queue_depth: must be 1-1024, got 0");
	expect_error("{ \"max_payload\": 100 }", "nbd.max_payload: must be 4096-33554432, got 100");
	expect_error("{ \"poll_us\": 1001 }", "c.json: nbd.poll_us: must be 0-1000, got 1001");
	expect_error("{ \"tls\": { \"mode\": \"maybe\" } }",
	             "nbd.tls.mode: must be \"off\", \"on\" or \"require\", got \"maybe\"");
	expect_error("{ \"tls\": { \"mode\": \"on\" } }", "nbd.tls: needs cert and key, or psk_file");
	expect_error("{ \"tls\": { \"cert\": \"/c\" } }", "nbd.tls.key: missing (cert and key go together)");
	expect_error("{ \"tls\": { \"psk_file\": \"/k\", \"ca\": \"/ca\" } }", "nbd.tls.ca: needs cert and key");
	expect_error("{ \"exports\": [ { \"target\": \"iqn.2026-11.org.vstor:a\", \"lun\": 0 } ] }",
	             "nbd.exports[0].name: missing (required)");
	expect_error("{ \"exports\": [ { \"name\": \"d\", \"target\": \"iqn.2026-11.org.vstor:a\" } ] }",
	             "nbd.exports[0].lun: missing (required)");
	expect_error("{ \"exports\": [ { \"name\": \"d\", \"target\": \"iqn.2026-11.org.vstor:b\", "
	             "\"lun\": 0 } ] }", "nbd.exports[0].target: no target 'iqn.2026-11.org.vstor:b'");
	expect_error("{ \"exports\": [ { \"name\": \"d\", \"target\": \"iqn.2026-11.org.vstor:a\", "
	             "\"lun\": 7 } ] }",
	             "nbd.exports[0].lun: target 'iqn.2026-11.org.vstor:a' has no LUN 7");
	expect_error("{ \"exports\": [ { \"name\": \"d\", \"target\": \"iqn.2026-11.org.vstor:a\", "
	             "\"lun\": 0 }, { \"name\": \"d\", \"target\": \"iqn.2026-11.org.vstor:a\", \"lun\": 0 } ] }",
	             "nbd.exports[1].name: export 'd' exists");
	expect_error("{ \"exports\": [ { \"name\": \"d\", \"target\": \"iqn.2026-11.org.vstor:a\", "
	             "\"lun\": 0, \"acl\": [\"1.2.3.4/40\"] } ] }",
	             "nbd.exports[0].acl[0]: \"1.2.3.4/40\": prefix must be 0-32");
	expect_error("{ \"exports\": [ { \"name\": \"d\", \"target\": \"iqn.2026-11.org.vstor:a\", "
	             "\"lun\": 0, \"acl\": [\"tls:x\"] } ] }",
	             "nbd.exports[0].acl: only TLS identities, but nbd.tls is off");
	expect_error("{ \"exports\": [ { \"name\": \"d\", \"target\": \"iqn.2026-11.org.vstor:a\", "
	             "\"lun\": 0, \"multi_conn\": 1 } ] }",
	             "nbd.exports[0].multi_conn: must be true or false");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_save),
		cmocka_unit_test(test_poll_us),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
