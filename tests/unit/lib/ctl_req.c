/* SPDX-License-Identifier: MIT */
/* Control-plane requests for unit tests: see ctl_req.h. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_req.h"

struct vs_ctl_state *ctl_req_state(const char *json, struct vs_loop_group *loops)
{
	struct vs_config *cfg = NULL;
	char err[VS_CONFIG_ERR_MAX];
	struct vs_ctl_state *st;

	if (vs_config_load_buffer("test.json", json, strlen(json), &cfg, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	st = vs_ctl_state_create(cfg, "test.json", NULL, loops, err, sizeof(err));
	if (!st)
		fail_msg("state: %s", err);
	return st;
}

void ctl_req_load_fails(const char *json, const char *want)
{
	struct vs_config *cfg = NULL;
	char err[VS_CONFIG_ERR_MAX];

	assert_int_equal(vs_config_load_buffer("c.json", json, strlen(json), &cfg, err, sizeof(err)),
	                 -EINVAL);
	assert_null(cfg);
	if (strcmp(err, want) != 0)
		fail_msg("got  \"%s\"\nwant \"%s\"", err, want);
}

json_t *ctl_req(struct vs_ctl_state *st, const char *req)
{
	char *line = vs_ctl_handle(st, req, strlen(req));
	json_error_t jerr;
	json_t *r;

	assert_non_null(line);
	r = json_loads(line, 0, &jerr);
	if (!r)
		fail_msg("not JSON: %s", line);
	free(line);
	return r;
}

json_t *ctl_req_ok(struct vs_ctl_state *st, const char *req)
{
	json_t *r = ctl_req(st, req), *res = json_object_get(r, "result");

	if (!res)
		fail_msg("%s -> %s", req, json_dumps(r, 0));
	json_incref(res);
	json_decref(r);
	return res;
}

void ctl_req_refused(struct vs_ctl_state *st, const char *req, const char *msg)
{
	json_t *r = ctl_req(st, req), *e = json_object_get(r, "error");
	const char *got;

	if (!e)
		fail_msg("%s was accepted", req);
	got = json_string_value(json_object_get(e, "message"));
	if (strcmp(got, msg) != 0)
		fail_msg("got  \"%s\"\nwant \"%s\"", got, msg);
	json_decref(r);
}

char *ctl_req_saved(struct vs_ctl_state *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	assert_int_equal(vs_config_save(m, vs_ctl_state_config(st)), 0);
	fclose(m);
	return buf;
}
