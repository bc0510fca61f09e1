/* SPDX-License-Identifier: MIT */
/*
 * Volumes in the control plane's one LUN schema: "volume": {"type", "legs",
 * options} in place of "backend", each leg a stack of the LUN's shape.
 *  - the loader checks a volume and its legs with the layers' schemas,
 *    errors name the field (targets[0].luns[0].volume.legs[1].path), and
 *    so does opening (an option a leg's layer refuses at open);
 *  - config.save writes volumes and legs back, and they load again;
 *  - lun.add takes a volume; lun.list shows the stack and the volume's
 *    own state (a mirror's: in sync, degraded, resyncing N%, its legs);
 *  - lun.set_options reaches a layer inside a leg by its field path, and a
 *    volume by its type; lun.replace_leg swaps a mirror's leg (copied in
 *    full) and the model follows, and refuses what the volume refuses.
 * No layer is known to src/ctl by name: the names here are the test's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl_req.h"
#include "loop_sync.h"

#define T0 "iqn.2026-11.org.vstor:t0"

static struct vs_loop_group *loops;
static char dir[64];

static void state_fails(const char *json, const char *want)
{
	struct vs_config *cfg = NULL;
	char err[VS_CONFIG_ERR_MAX];

	assert_int_equal(vs_config_load_buffer("c.json", json, strlen(json), &cfg, err, sizeof(err)),
	                 0);
	assert_null(vs_ctl_state_create(cfg, "c.json", NULL, loops, err, sizeof(err)));
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got  \"%s\"\nwant \"%s...\"", err, want);
}

static json_t *lun0(struct vs_ctl_state *st)
{
	json_t *r = ctl_req_ok(st, "{\"method\":\"lun.list\"}");
	json_t *l = json_array_get(json_object_get(r, "luns"), 0);

	json_incref(l);
	json_decref(r);
	return l;
}

#define CFG(luns) "{\"portals\":[\"127.0.0.1:3388\"],\"targets\":[{\"iqn\":\"" T0 "\",\"luns\":[" \
	luns "]}]}"
#define RAM(s) "{\"backend\":\"ram\",\"size\":\"" s "\"}"

static char meta[128];

/* ---- tests ---- */

static void test_loader_names_the_field(void **state)
{
	(void)state;
	ctl_req_load_fails(CFG("{\"lun\":0,\"volume\":{\"type\":\"stripe\",\"legs\":[" RAM("4M") ","
	               "{\"backend\":\"ram\",\"sise\":\"4M\"}]}}"),
	           "c.json: targets[0].luns[0].volume.legs[1].sise: unknown key (did you mean "
	           "\"size\"?)");
	ctl_req_load_fails(CFG("{\"lun\":0,\"volume\":{\"type\":\"stripe\",\"chunk\":\"3K\",\"legs\":["
	               RAM("4M") "," RAM("4M") "]}}"),
	           "c.json: targets[0].luns[0].volume.chunk: '3K' is out of range (4K to 1G)");
	ctl_req_load_fails(CFG("{\"lun\":0,\"volume\":{\"type\":\"stripe\",\"legs\":[" RAM("4M") "]}}"),
	           "c.json: targets[0].luns[0].volume.legs: stripe takes 2 to 32 legs, got 1");
	ctl_req_load_fails(CFG("{\"lun\":0,\"volume\":{\"type\":\"error\",\"legs\":[" RAM("4M") "]}}"),
	           "c.json: targets[0].luns[0].volume.type: filter \"error\" takes one layer under "
	           "it, not legs (put it in \"filters\")");
	ctl_req_load_fails(CFG("{\"lun\":0,\"backend\":\"ram\",\"size\":\"4M\",\"volume\":{}}"),
	           "c.json: targets[0].luns[0].volume: give either \"backend\" or \"volume\", not "
	           "both");
	ctl_req_load_fails(CFG("{\"lun\":0,\"size\":\"4M\",\"volume\":{\"type\":\"concat\",\"legs\":["
	               RAM("4M") "," RAM("4M") "]}}"),
	           "c.json: targets[0].luns[0].size: unknown key (a stack over a volume takes its "
	           "backends' options in volume.legs[])");
	ctl_req_load_fails(CFG("{\"lun\":0,\"volume\":{\"type\":\"concat\",\"legs\":[" RAM("4M") ","
	               "{\"backend\":\"ram\",\"size\":\"4M\",\"filters\":[{\"name\":\"error\","
	               "\"rate\":\"2\"}]}]}}"),
	           "c.json: targets[0].luns[0].volume.legs[1].filters[0].rate: '2' is not a "
	           "probability from 0 to 1 (e.g. 1, 0.5, 0.001)");
	ctl_req_load_fails(CFG("{\"lun\":0,\"volume\":{\"type\":\"concat\",\"legs\":[" RAM("4M") ",7]}}"),
	           "c.json: targets[0].luns[0].volume.legs[1]: must be an object like "
	           "{\"backend\": \"file\", ...}, got an integer");
	ctl_req_load_fails(CFG("{\"lun\":0,\"volume\":{\"type\":\"concat\"}}"),
	           "c.json: targets[0].luns[0].volume.legs: missing (required)");
	ctl_req_load_fails(CFG("{\"lun\":0,\"volume\":{\"type\":\"mirror\",\"legs\":[" RAM("4M") ","
	               RAM("4M") "]}}"),
	           "c.json: targets[0].luns[0].volume.meta: missing (required: map file: leg states, "
	           "regions behind and in flight (made if missing))");
	/* opening: the leg's own option is named */
	state_fails(CFG("{\"lun\":0,\"volume\":{\"type\":\"concat\",\"legs\":[" RAM("4M") ","
	                "{\"backend\":\"file\",\"path\":\"/nonexistent/x.img\"}]}}"),
	            "c.json: targets[0].luns[0].volume.legs[1].path: ");
	state_fails(CFG("{\"lun\":0,\"volume\":{\"type\":\"stripe\",\"chunk\":\"1M\",\"legs\":["
	                RAM("4M") "," RAM("512K") "]}}"),
	            "c.json: targets[0].luns[0].volume.chunk: a leg is smaller than one chunk");
}

/* A stripe of a mirror and a plain leg, filters inside and above:
 * opened, listed, saved, loaded back the same. */
static void test_nested_save_and_list(void **state)
{
	char json[2048], *text, *again;
	struct vs_config *back = NULL;
	char err[VS_CONFIG_ERR_MAX];
	struct vs_ctl_state *st;
	json_t *l, *layers;

	(void)state;
	unlink(meta);
	snprintf(json, sizeof(json), CFG("{\"lun\":0,\"filters\":[{\"name\":\"error\","
	                                 "\"enabled\":false}],\"volume\":{\"type\":\"stripe\","
	                                 "\"chunk\":\"64K\",\"legs\":[{\"volume\":{\"type\":"
	                                 "\"mirror\",\"meta\":\"%s\",\"assume_clean\":true,"
	                                 "\"legs\":[" RAM("4M") "," RAM("4M") "]}},{\"backend\":"
	                                 "\"ram\",\"size\":\"4M\",\"filters\":[{\"name\":\"error\","
	                                 "\"ops\":\"read\",\"enabled\":false}]}]}}"), meta);
	st = ctl_req_state(json, loops);
	l = lun0(st);
	assert_string_equal(json_string_value(json_object_get(l, "stack")),
	                    "error/stripe(mirror(ram,ram),error/ram)");
	assert_string_equal(json_string_value(json_object_get(l, "volume")), "stripe");
	assert_string_equal(json_string_value(json_object_get(l, "backend")), "ram");
	assert_int_equal(json_integer_value(json_object_get(l, "size")), 8 << 20);
	layers = json_object_get(l, "layers");
	assert_int_equal(json_array_size(layers), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(layers, 0), "layer")),
	                    "volume.legs[0].volume");
	assert_string_equal(json_string_value(json_object_get(json_array_get(layers, 0), "state")),
	                    "in sync");
	json_decref(l);
	text = ctl_req_saved(st);
	assert_non_null(strstr(text, "\"volume\": {\n            \"type\": \"stripe\""));
	assert_non_null(strstr(text, "\"type\": \"mirror\""));
	assert_non_null(strstr(text, "\"assume_clean\": true"));
	assert_non_null(strstr(text, "\"ops\": \"read\""));
	assert_int_equal(vs_config_load_buffer("saved", text, strlen(text), &back, err,
	                                       sizeof(err)), 0);
	assert_int_equal(back->targets[0].luns[0].volume->nlegs, 2);
	assert_non_null(back->targets[0].luns[0].volume->legs[0].volume);
	assert_int_equal(vs_ctl_state_destroy(st, NULL), 0);
	st = vs_ctl_state_create(back, "saved", NULL, loops, err, sizeof(err));
	assert_non_null(st);
	again = ctl_req_saved(st);
	assert_string_equal(text, again);
	free(text);
	free(again);
	assert_int_equal(vs_ctl_state_destroy(st, NULL), 0);
}

/* lun.add with a volume; set_options by field path and by type; the
 * mirror degraded through a leg's error filter, shown in lun.list;
 * replace_leg: refused and accepted. */
static void test_run_time(void **state)
{
	char req[1024];
	struct vs_ctl_state *st;
	json_t *l, *r;
	const char *vs;

	(void)state;
	unlink(meta);
	st = ctl_req_state(CFG(""), loops);
	ctl_req_refused(st, "{\"method\":\"lun.add\",\"params\":{\"target\":\"" T0 "\",\"lun\":0,"
	            "\"volume\":{\"type\":\"mirror\",\"meta\":\"rel.map\",\"legs\":[" RAM("4M") ","
	            RAM("4M") "]}}}",
	        "params.volume.meta: must be an absolute path, got \"rel.map\" (vstord does not "
	        "resolve paths against its own working directory)");
	snprintf(req, sizeof(req), "{\"method\":\"lun.add\",\"params\":{\"target\":\"" T0 "\","
	         "\"lun\":0,\"volume\":{\"type\":\"mirror\",\"meta\":\"%s\",\"assume_clean\":true,"
	         "\"legs\":[" RAM("4M") ",{\"backend\":\"ram\",\"size\":\"4M\",\"filters\":["
	         "{\"name\":\"error\",\"enabled\":false}]}]}}}", meta);
	json_decref(ctl_req_ok(st, req));
	l = lun0(st);
	assert_string_equal(json_string_value(json_object_get(l, "volume_state")), "in sync");
	json_decref(l);
	/* and in the metrics: the state as a label, numbers as values, the
	 * volume's type as the LUN's backend label */
	size_t mlen;
	char *metrics = vs_ctl_metrics(st, &mlen);
	assert_non_null(strstr(metrics, "vstor_lun_layer_state{target=\"" T0 "\",lun=\"0\","
	                                "backend=\"mirror\",layer=\"volume\",type=\"mirror\","
	                                "state=\"in sync\"} 1\n"));
	assert_non_null(strstr(metrics, ",layer=\"volume\",type=\"mirror\",key=\"region\"} "
	                                "65536\n"));
	assert_null(strstr(metrics, "key=\"leg0\""));
	free(metrics);

	/* the leg's error filter, by path; the mirror by its type */
	ctl_req_refused(st, "{\"method\":\"lun.set_options\",\"params\":{\"target\":\"" T0 "\",\"lun\":0,"
	            "\"layer\":\"volume.legs[0].filters[0]\",\"options\":{\"enabled\":true}}}",
	        "params.layer: LUN 0 has no filter \"volume.legs[0].filters[0]\" (its stack: "
	        "mirror(ram,error/ram))");
	json_decref(ctl_req_ok(st, "{\"method\":\"lun.set_options\",\"params\":{\"target\":\"" T0 "\","
	                   "\"lun\":0,\"layer\":\"mirror\",\"options\":{\"resync_rate\":\"5M\"}}}"));
	json_decref(ctl_req_ok(st, "{\"method\":\"lun.set_options\",\"params\":{\"target\":\"" T0 "\","
	                   "\"lun\":0,\"layer\":\"volume.legs[1].filters[0]\",\"options\":"
	                   "{\"enabled\":true}}}"));
	char *text = ctl_req_saved(st);
	assert_non_null(strstr(text, "\"resync_rate\": \"5M\""));
	free(text);
	/* a write through the LUN's port would degrade it; here the leg is
	 * replaced: refusals first */
	snprintf(req, sizeof(req), "{\"method\":\"lun.replace_leg\",\"params\":{\"target\":\"" T0
	         "\",\"lun\":0,\"leg\":1,\"stack\":" RAM("1M") "}}");
	json_decref(ctl_req_ok(st, "{\"method\":\"lun.set_options\",\"params\":{\"target\":\"" T0
	                           "\",\"lun\":0,\"layer\":\"mirror\",\"options\":{\"resync_rate\":"
	                           "\"1000\"}}}"));
	ctl_req_refused(st, req, "params.leg: the new leg has 1048576 bytes; the mirror needs 4194304");
	ctl_req_refused(st, "{\"method\":\"lun.replace_leg\",\"params\":{\"target\":\"" T0 "\",\"lun\":0,"
	            "\"leg\":2,\"stack\":" RAM("4M") "}}",
	        "params.leg: the volume has 2 legs (0-1)");
	ctl_req_refused(st, "{\"method\":\"lun.replace_leg\",\"params\":{\"target\":\"" T0 "\",\"lun\":0,"
	            "\"leg\":1,\"stack\":{\"backend\":\"ram\",\"sise\":1}}}",
	        "params.stack.sise: unknown key (did you mean \"size\"?)");
	ctl_req_refused(st, "{\"method\":\"lun.replace_leg\",\"params\":{\"target\":\"" T0 "\",\"lun\":0,"
	            "\"leg\":1,\"stack\":{\"backend\":\"file\",\"path\":\"/nonexistent/q\"}}}",
	        "params.stack.path: '/nonexistent/q' cannot be opened: it does not exist (create=1 "
	        "creates it)");
	json_decref(ctl_req_ok(st, "{\"method\":\"lun.replace_leg\",\"params\":{\"target\":\"" T0 "\","
	                   "\"lun\":0,\"leg\":1,\"stack\":{\"backend\":\"ram\",\"size\":\"8M\"}}}"));
	/* copied at 1000 bytes a second: a region, then a long wait */
	/* (up to 10 s: a loaded machine may take long to copy the first) */
	for (int i = 0;; i++) {
		l = lun0(st);
		vs = json_string_value(json_object_get(l, "volume_state"));
		assert_non_null(vs);
		if (strcmp(vs, "resyncing 0%") != 0 || i == 1000)
			break;
		json_decref(l);
		usleep(10000);
	}
	assert_string_equal(vs, "resyncing 1%");
	json_decref(l);
	metrics = vs_ctl_metrics(st, &mlen);
	assert_non_null(strstr(metrics, "type=\"mirror\",state=\"resyncing\"} 1\n"));
	assert_non_null(strstr(metrics, "vstor_lun_layer_progress_percent{target=\"" T0 "\","
	                                "lun=\"0\",backend=\"mirror\",layer=\"volume\","
	                                "type=\"mirror\"} 1\n"));
	free(metrics);
	json_decref(ctl_req_ok(st, "{\"method\":\"lun.set_options\",\"params\":{\"target\":\"" T0
	                           "\",\"lun\":0,\"layer\":\"mirror\",\"options\":{\"resync_rate\":0}}}"));
	for (int i = 0; i < 500; i++) {
		l = lun0(st);
		vs = json_string_value(json_object_get(l, "volume_state"));
		if (!strcmp(vs, "in sync"))
			break;
		json_decref(l);
		l = NULL;
		usleep(10000);
	}
	assert_non_null(l);
	assert_string_equal(json_string_value(json_object_get(l, "stack")), "mirror(ram,ram)");
	json_decref(l);
	text = ctl_req_saved(st);
	assert_non_null(strstr(text, "\"size\": \"8M\""));
	assert_null(strstr(text, "\"name\": \"error\""));       /* the old leg is gone */
	free(text);
	/* a LUN not over a volume */
	r = ctl_req_ok(st, "{\"method\":\"lun.add\",\"params\":{\"target\":\"" T0 "\",\"lun\":1,"
	           "\"backend\":\"ram\",\"size\":\"4M\"}}");
	json_decref(r);
	ctl_req_refused(st, "{\"method\":\"lun.replace_leg\",\"params\":{\"target\":\"" T0 "\",\"lun\":1,"
	            "\"leg\":0,\"stack\":" RAM("4M") "}}",
	        "params.lun: LUN 1 of " T0 " is not over a volume");
	assert_int_equal(vs_ctl_state_destroy(st, NULL), 0);
}

static int setup(void **state)
{
	(void)state;
	loops = ls_group(1);
	snprintf(dir, sizeof(dir), "/tmp/vstor-ctl-volume.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(meta, sizeof(meta), "%s/m.map", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	vs_loop_group_destroy(loops);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loader_names_the_field),
		cmocka_unit_test(test_nested_save_and_list),
		cmocka_unit_test(test_run_time),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
