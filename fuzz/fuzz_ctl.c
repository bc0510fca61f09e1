/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the control protocol's request parser and method
 * dispatcher.  Any input line gets exactly one reply line that is a JSON
 * object with the request's id and either "result" or "error" (code and a
 * one-line message); never a crash, leak or hang.
 *
 * The dispatcher runs against a small in-process state (one target, one
 * 1 MiB RAM LUN, no fabric).  To stay harmless and bounded, requests that
 * would touch the file system (config.save, non-RAM backends, a "path"),
 * make big RAM disks or grow the state past a few targets/LUNs are only
 * parsed, not run.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_int.h"
#include "vstor/backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vs_ctl_state *state;

static void make_state(void)
{
	static const char cfg_json[] =
		"{\"targets\":[{\"iqn\":\"iqn.2026-11.org.vstor:f\",\"luns\":"
		"[{\"lun\":0,\"backend\":\"ram\",\"size\":\"1M\"}]}]}";
	struct vs_config *cfg = NULL;
	char err[VS_CONFIG_ERR_MAX];
	if (vs_config_load_buffer("fuzz", cfg_json, strlen(cfg_json), &cfg, err, sizeof(err)) != 0)
		abort();
	state = vs_ctl_state_create(cfg, "fuzz", NULL, NULL, err, sizeof(err));
	if (!state)
		abort();
}

/* Is running this request safe and bounded? */
static bool runnable(const struct ctl_request *rq)
{
	const struct vs_config *cfg = vs_ctl_state_config(state);
	json_t *p = rq->params;
	if (!strcmp(rq->method, "config.save"))
		return false;
	if (p && json_object_get(p, "path"))
		return false;
	json_t *backend = p ? json_object_get(p, "backend") : NULL;
	if (backend && !(json_is_string(backend) && !strcmp(json_string_value(backend), "ram")))
		return false;
	json_t *size = p ? json_object_get(p, "size") : NULL;
	if (size) {
		uint64_t n = 0;
		if (json_is_string(size) && vs_parse_size(json_string_value(size), &n) == 0 && n > (8u << 20))
			return false;
		if (json_is_integer(size) && json_integer_value(size) > (8 << 20))
			return false;
	}
	if (!strcmp(rq->method, "target.add") && cfg->ntargets >= 4)
		return false;
	if (!strcmp(rq->method, "lun.add"))
		for (size_t i = 0; i < cfg->ntargets; i++)
			if (cfg->targets[i].nluns >= 8)
				return false;
	if (p && json_object_get(p, "options"))
		return false;
	return true;
}

static void check_reply(const char *line, const struct ctl_request *rq)
{
	if (!line || strchr(line, '\n'))
		abort();
	json_error_t jerr;
	json_t *r = json_loads(line, 0, &jerr);
	if (!r || !json_is_object(r))
		abort();
	json_t *res = json_object_get(r, "result"), *e = json_object_get(r, "error");
	if (!!res == !!e)
		abort();
	if (e && (!json_is_integer(json_object_get(e, "code")) ||
	          !json_is_string(json_object_get(e, "message")) ||
	          json_string_length(json_object_get(e, "message")) == 0))
		abort();
	/* The id comes back as sent. */
	if (rq && rq->id && !json_equal(rq->id, json_object_get(r, "id")))
		abort();
	json_decref(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!state)
		make_state();
	struct ctl_request rq;
	char *reply = NULL;
	if (vs_ctl_parse_request((const char *)data, size, &rq, &reply) < 0) {
		check_reply(reply, NULL);
		free(reply);
		return 0;
	}
	if (runnable(&rq)) {
		char *line = vs_ctl_handle(state, (const char *)data, size);
		check_reply(line, &rq);
		free(line);
	}
	json_decref(rq.root);
	return 0;
}
