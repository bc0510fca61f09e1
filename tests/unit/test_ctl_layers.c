/* SPDX-License-Identifier: MIT */
/*
 * One LUN schema in the control plane: a LUN's block stack — filters over
 * a backend — is loaded from the config file and from lun.add with the
 * layers' own schemas (no layer name is known to src/ctl), errors name the
 * field (targets[0].luns[1].filters[0].KEY), run-time options change with
 * lun.set_options, what a layer learns at open is saved, secrets are never
 * saved, layer.list describes every layer, and lun.list shows the stack
 * and its state.  The filter "tmark" is this test's own.
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
#include "ctl/ctl_int.h"
#include "ctl_req.h"
#include "layer_names.h"
#include "vstor/filter.h"

#define T0 "iqn.2026-11.org.vstor:t0"

/* ---- tmark: a filter with a run-time option, a path, a secret, and a
 * value it learns at open ---- */

struct tmark {
	struct vs_layer *self;
	unsigned level;
};

static struct tmark *last;
static int events_logged;
static char last_log[512];

static const struct vs_opt_desc tmark_options[] = {
	{ .name = "level", .type = VS_OPT_UINT, .flags = VS_OPT_RUNTIME, .min = 1, .max = 9,
	  .dflt = "1", .help = "how much" },
	{ .name = "note_file", .type = VS_OPT_PATH, .help = "a file" },
	{ .name = "token", .type = VS_OPT_STRING, .flags = VS_OPT_SECRET, .help = "a secret" },
	{ .name = "fast", .type = VS_OPT_BOOL, .dflt = "0", .help = "a flag" },
	{ 0 }
};

static void *tmark_open(struct vs_filter_open_args *a)
{
	struct tmark *m = calloc(1, sizeof(*m));

	m->self = a->self;
	m->level = (unsigned)vs_opt_u64(a->opts, "level");
	last = m;
	return m;
}

static void tmark_close(void *h)
{
	if (last == h)
		last = NULL;
	free(h);
}

static int tmark_submit(void *h, struct vs_bio *bio, void *ctx)
{
	(void)ctx;
	return vs_layer_submit(((struct tmark *)h)->self, 0, bio);
}

static int tmark_set(void *h, const struct vs_opts *o)
{
	((struct tmark *)h)->level = (unsigned)vs_opt_u64(o, "level");
	return 0;
}

static const struct vs_filter_ops tmark_ops = {
	.name = "tmark",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "test filter",
	.options = tmark_options,
	.open = tmark_open,
	.close = tmark_close,
	.submit = tmark_submit,
	.set_options = tmark_set,
};

/* A layer that learns a value at open (as crypt does its key's
 * fingerprint); what it learns is one of its own options, so the saved
 * config loads back. */
static const struct vs_opt_desc tstamp_options[] = {
	{ .name = "stamp", .type = VS_OPT_STRING, .help = "learned at open" },
	{ 0 }
};

static void *tstamp_open(struct vs_filter_open_args *a) { return a->self; }
static void tstamp_close(void *h) { (void)h; }
static int tstamp_submit(void *h, struct vs_bio *bio, void *ctx)
{
	(void)ctx;
	return vs_layer_submit(h, 0, bio);
}
static void tstamp_learned(void *h, void (*emit)(void *, const char *, const char *), void *ctx)
{
	(void)h;
	emit(ctx, "stamp", "abc123");
}

static const struct vs_filter_ops tstamp_ops = {
	.name = "tstamp",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "test filter that learns a stamp",
	.options = tstamp_options,
	.open = tstamp_open,
	.close = tstamp_close,
	.submit = tstamp_submit,
	.learned = tstamp_learned,
};

static void log_line(const char *line)
{
	events_logged++;
	snprintf(last_log, sizeof(last_log), "%s", line);
}

static int group_setup(void **state)
{
	(void)state;
	assert_int_equal(vs_filter_register(&tmark_ops, NULL), 0);
	assert_int_equal(vs_filter_register(&tstamp_ops, NULL), 0);
	vs_ctl_set_log(log_line);
	return 0;
}

/* ---- helpers ---- */

static struct vs_ctl_state *ctl_req_state_noloops(const char *json)
{
	return ctl_req_state(json, NULL);
}

/* "unknown filter \"NAME\" (known: ...)" as the registry says it: the test's
 * filters and whichever built-in ones this build has. */
static const char *unknown_filter(const char *prefix, const char *name)
{
	static char msg[640];

	snprintf(msg, sizeof(msg), "%sname: unknown filter \"%s\" (known: %s)", prefix, name,
	         layer_names(VS_LAYER_FILTER));
	return msg;
}

#define CFG(luns) "{\"portals\":[\"127.0.0.1:3388\"],\"targets\":[{\"iqn\":\"" T0 "\",\"luns\":[" \
	luns "]}]}"
#define RAM "\"backend\":\"ram\",\"size\":\"4M\""

/* ---- tests ---- */

static void test_file_errors_name_the_field(void **state)
{
	(void)state;
	ctl_req_load_fails(CFG("{\"lun\":0," RAM ",\"filters\":[{\"name\":\"tmark\",\"level\":12}]}"),
	           "c.json: targets[0].luns[0].filters[0].level: '12' is not a whole number from 1 "
	           "to 9");
	ctl_req_load_fails(CFG("{\"lun\":0," RAM ",\"filters\":[{\"name\":\"tmark\",\"levl\":2}]}"),
	           "c.json: targets[0].luns[0].filters[0].levl: unknown key (did you mean \"level\"?)");
	ctl_req_load_fails(CFG("{\"lun\":0," RAM ",\"filters\":[{\"name\":\"nope\"}]}"),
	           unknown_filter("c.json: targets[0].luns[0].filters[0].", "nope"));
	ctl_req_load_fails(CFG("{\"lun\":0," RAM ",\"filters\":[{\"level\":2}]}"),
	           "c.json: targets[0].luns[0].filters[0].name: missing (required)");
	ctl_req_load_fails(CFG("{\"lun\":0," RAM ",\"filters\":[{\"name\":\"tmark\",\"fast\":\"maybe\"}]}"),
	           "c.json: targets[0].luns[0].filters[0].fast: 'maybe' is not 0 or 1");
	ctl_req_load_fails(CFG("{\"lun\":0," RAM ",\"filters\":[{\"name\":\"tmark\",\"fast\":[]}]}"),
	           "c.json: targets[0].luns[0].filters[0].fast: must be true or false, got an array");
	ctl_req_load_fails(CFG("{\"lun\":0," RAM ",\"filters\":{\"name\":\"tmark\"}}"),
	           "c.json: targets[0].luns[0].filters: must be an array, got an object");
	ctl_req_load_fails(CFG("{\"lun\":0," RAM ",\"filters\":[7]}"),
	           "c.json: targets[0].luns[0].filters[0]: must be an object like {\"name\": \"crypt\", "
	           "...}, got an integer");
	/* backend options keep working as before, with the schema's checks */
	ctl_req_load_fails(CFG("{\"lun\":0,\"backend\":\"ram\",\"size\":\"4M\",\"max_size\":\"1M\"}"),
	           "c.json: targets[0].luns[0].max_size: must not be less than size");
	ctl_req_load_fails(CFG("{\"lun\":0," RAM ",\"options\":{\"max_size\":\"1M\"}}"),
	           "c.json: targets[0].luns[0].options.max_size: must not be less than size");
	ctl_req_load_fails(CFG("{\"lun\":0," RAM ",\"options\":{\"bogus\":\"1\"}}"),
	           "c.json: targets[0].luns[0].options.bogus: unknown option (known: size, max_size, overcommit, huge_pages)");
}

static void test_stack_from_file_and_save(void **state)
{
	(void)state;
	struct vs_ctl_state *st = ctl_req_state_noloops(CFG(
		"{\"lun\":0," RAM ",\"filters\":[{\"name\":\"tmark\",\"level\":3,\"fast\":true,"
		"\"token\":\"s3cret\"},{\"name\":\"tstamp\"}]}"));
	json_t *r = ctl_req_ok(st, "{\"method\":\"lun.list\"}");
	json_t *lun = json_array_get(json_object_get(r, "luns"), 0);
	char *text = ctl_req_saved(st);
	struct vs_config *back = NULL;
	char err[VS_CONFIG_ERR_MAX];

	assert_string_equal(json_string_value(json_object_get(lun, "stack")), "tmark/tstamp/ram");
	assert_string_equal(json_string_value(json_object_get(lun, "state")), "connected");
	assert_string_equal(json_string_value(json_object_get(lun, "backend")), "ram");
	assert_int_equal(json_array_size(json_object_get(lun, "filters")), 2);
	assert_int_equal(last->level, 3);
	json_decref(r);

	/* saved: typed, in order, the learned stamp kept, the secret not */
	assert_non_null(strstr(text, "\"filters\": ["));
	assert_non_null(strstr(text, "\"name\": \"tmark\""));
	assert_non_null(strstr(text, "\"level\": 3"));
	assert_non_null(strstr(text, "\"fast\": true"));
	assert_non_null(strstr(text, "\"stamp\": \"abc123\""));
	assert_null(strstr(text, "s3cret"));
	assert_null(strstr(text, "token"));
	assert_true(strstr(text, "tmark") < strstr(text, "tstamp"));
	/* and it loads back */
	assert_int_equal(vs_config_load_buffer("saved", text, strlen(text), &back, err,
	                                       sizeof(err)), 0);
	assert_int_equal(back->targets[0].luns[0].nfilters, 2);
	vs_config_free(back);
	free(text);
	assert_int_equal(vs_ctl_state_destroy(st, NULL), 0);
}

static void test_lun_add_with_filters(void **state)
{
	(void)state;
	struct vs_ctl_state *st = ctl_req_state_noloops(CFG("{\"lun\":0," RAM "}"));
	char *before = ctl_req_saved(st);
	char *after;
	json_t *r;

#define ADD(x) "{\"method\":\"lun.add\",\"params\":{\"target\":\"" T0 "\",\"lun\":1," RAM x "}}"
	ctl_req_refused(st, ADD(",\"filters\":[{\"name\":\"tmark\",\"level\":\"0\"}]"),
	        "params.filters[0].level: '0' is not a whole number from 1 to 9");
	ctl_req_refused(st, ADD(",\"filters\":[{\"name\":\"tmark\",\"note_file\":\"rel/x\"}]"),
	        "params.filters[0].note_file: must be an absolute path, got \"rel/x\" (vstord does "
	        "not resolve paths against its own working directory)");
	ctl_req_refused(st, ADD(",\"filters\":[{\"name\":\"tsplat\"}]"),
	        unknown_filter("params.filters[0].", "tsplat"));
	/* nothing changed by the refusals */
	after = ctl_req_saved(st);
	assert_string_equal(before, after);
	free(after);

	r = ctl_req_ok(st, ADD(",\"filters\":[{\"name\":\"tmark\",\"level\":\"5\"}]"));
	assert_string_equal(json_string_value(json_object_get(r, "stack")), "tmark/ram");
	json_decref(r);
	assert_int_equal(last->level, 5);
	free(before);
	assert_int_equal(vs_ctl_state_destroy(st, NULL), 0);
}

static void test_set_options(void **state)
{
	(void)state;
	struct vs_ctl_state *st = ctl_req_state_noloops(CFG(
		"{\"lun\":0," RAM ",\"filters\":[{\"name\":\"tmark\",\"level\":2}]}"));
	char *before, *after;
	json_t *r;

#define SET(x) "{\"method\":\"lun.set_options\",\"params\":{\"target\":\"" T0 "\",\"lun\":0," x "}}"
	before = ctl_req_saved(st);
	ctl_req_refused(st, SET("\"layer\":\"tmark\",\"options\":{\"level\":10}"),
	        "params.options.level: '10' is not a whole number from 1 to 9");
	ctl_req_refused(st, SET("\"layer\":\"tmark\",\"options\":{\"fast\":true}"),
	        "params.options.fast: cannot be changed while the LUN is open");
	ctl_req_refused(st, SET("\"layer\":\"throttle\",\"options\":{\"iops\":1}"),
	        "params.layer: LUN 0 has no filter \"throttle\" (its stack: tmark/ram)");
	ctl_req_refused(st, SET("\"layer\":\"backend\",\"options\":{\"size\":\"8M\"}"),
	        "params.options.size: cannot be changed while the LUN is open");
	ctl_req_refused(st, SET("\"layer\":\"tmark\",\"options\":{}"),
	        "params.options: must be an object with at least one option");
	ctl_req_refused(st, SET("\"layer\":\"tmark\",\"options\":{\"level\":[1]}"),
	        "params.options.level: must be a string, a number or true/false");
	assert_int_equal(last->level, 2);
	after = ctl_req_saved(st);
	assert_string_equal(before, after);
	free(after);

	r = ctl_req_ok(st, SET("\"layer\":\"tmark\",\"options\":{\"level\":7}"));
	json_decref(r);
	assert_int_equal(last->level, 7);
	after = ctl_req_saved(st);
	assert_non_null(strstr(after, "\"level\": 7"));
	free(after);
	free(before);
	assert_int_equal(vs_ctl_state_destroy(st, NULL), 0);
}

static void test_layer_list(void **state)
{
	(void)state;
	struct vs_ctl_state *st = ctl_req_state_noloops(CFG("{\"lun\":0," RAM "}"));
	json_t *r = ctl_req_ok(st, "{\"method\":\"layer.list\"}");
	json_t *b = json_object_get(r, "backends"), *f = json_object_get(r, "filters"), *t, *o;
	size_t i, k;
	bool saw_ram = false, saw_level = false;

	json_array_foreach(b, i, t)
		saw_ram |= strcmp(json_string_value(json_object_get(t, "name")), "ram") == 0;
	json_array_foreach(f, i, t) {
		if (strcmp(json_string_value(json_object_get(t, "name")), "tmark") != 0)
			continue;
		json_array_foreach(json_object_get(t, "options"), k, o) {
			if (strcmp(json_string_value(json_object_get(o, "name")), "level") != 0)
				continue;
			saw_level = json_is_true(json_object_get(o, "runtime")) &&
			            strcmp(json_string_value(json_object_get(o, "type")), "uint") == 0 &&
			            strcmp(json_string_value(json_object_get(o, "default")), "1") == 0;
		}
	}
	assert_true(saw_ram);
	assert_true(saw_level);
	json_decref(r);
	assert_int_equal(vs_ctl_state_destroy(st, NULL), 0);
}

/* Events of a LUN's stack reach lun.list and the log, one line each. */
static void test_state_and_log(void **state)
{
	(void)state;
	struct vs_ctl_state *st = ctl_req_state_noloops(CFG(
		"{\"lun\":0," RAM ",\"filters\":[{\"name\":\"tmark\"}]}"));
	struct vs_bdev_event lost = { .type = VS_BDEV_EV_LOST, .hold_ms = 0, .why = "unplugged" };
	json_t *r, *lun;

	events_logged = 0;
	vs_layer_event(last->self, &lost);
	assert_int_equal(events_logged, 1);
	assert_string_equal(last_log, T0 " LUN 0: resource lost: unplugged; answering NOT READY "
	                              "while it reconnects");
	r = ctl_req_ok(st, "{\"method\":\"lun.list\"}");
	lun = json_array_get(json_object_get(r, "luns"), 0);
	assert_string_equal(json_string_value(json_object_get(lun, "state")), "reconnecting");
	assert_string_equal(json_string_value(json_object_get(lun, "state_why")), "unplugged");
	assert_non_null(strstr(json_string_value(json_object_get(lun, "state_human")),
	                       "reconnecting since "));
	json_decref(r);
	vs_layer_event(last->self, &(struct vs_bdev_event){ .type = VS_BDEV_EV_BACK });
	assert_int_equal(events_logged, 2);
	assert_string_equal(last_log, T0 " LUN 0: resource back");
	assert_int_equal(vs_ctl_state_destroy(st, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_errors_name_the_field),
		cmocka_unit_test(test_stack_from_file_and_save),
		cmocka_unit_test(test_lun_add_with_filters),
		cmocka_unit_test(test_set_options),
		cmocka_unit_test(test_layer_list),
		cmocka_unit_test(test_state_and_log),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
