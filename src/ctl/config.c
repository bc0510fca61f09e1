/* SPDX-License-Identifier: MIT */
/*
 * The config model: the built-in default, freeing, and writing it back in
 * the file format (vs_config_save), so "load, change, save" round-trips.
 */
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "vstor/bdev.h"
#include "vstor/iscsi.h"

void vs_config_chap_free(struct vs_config_chap *c)
{
	free(c->user);
	free(c->secret);
	free(c->mutual_user);
	free(c->mutual_secret);
	memset(c, 0, sizeof(*c));
}

/* The LUN's named stack fields and l->stack are the same memory. */
_Static_assert(offsetof(struct vs_config_lun, backend) ==
               offsetof(struct vs_config_lun, stack) + offsetof(struct vs_config_stack, backend) &&
               offsetof(struct vs_config_lun, volume) ==
               offsetof(struct vs_config_lun, stack) + offsetof(struct vs_config_stack, volume) &&
               offsetof(struct vs_config_lun, nfilters) ==
               offsetof(struct vs_config_lun, stack) + offsetof(struct vs_config_stack, nfilters),
               "vs_config_lun's stack fields alias struct vs_config_stack");

void vs_config_stack_free(struct vs_config_stack *st)
{
	free(st->backend);
	vs_config_kv_free(st->options, st->noptions);
	for (size_t i = 0; i < st->nfilters; i++) {
		free(st->filters[i].name);
		vs_config_kv_free(st->filters[i].opts, st->filters[i].nopts);
	}
	free(st->filters);
	if (st->volume) {
		free(st->volume->type);
		vs_config_kv_free(st->volume->opts, st->volume->nopts);
		for (size_t i = 0; i < st->volume->nlegs; i++)
			vs_config_stack_free(&st->volume->legs[i]);
		free(st->volume->legs);
		free(st->volume);
	}
	memset(st, 0, sizeof(*st));
}

void vs_config_lun_free(struct vs_config_lun *l)
{
	vs_config_stack_free(&l->stack);
	free(l->serial);
	memset(l, 0, sizeof(*l));
}

void vs_config_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

void vs_config_target_free(struct vs_config_target *t)
{
	free(t->iqn);
	free(t->alias);
	vs_config_names_free(t->portals, t->nportals);
	for (size_t i = 0; i < t->nacl; i++)
		free(t->acl[i]);
	free(t->acl);
	vs_config_chap_free(&t->chap);
	for (size_t i = 0; i < t->nluns; i++)
		vs_config_lun_free(&t->luns[i]);
	free(t->luns);
	memset(t, 0, sizeof(*t));
}

static void portals_free(struct vs_config *cfg)
{
	vs_config_names_free(cfg->portals, cfg->nportals);
	cfg->portals = NULL;
	cfg->nportals = 0;
}

void vs_config_free(struct vs_config *cfg)
{
	if (!cfg)
		return;
	portals_free(cfg);
	vs_config_chap_free(&cfg->discovery_chap);
	for (size_t i = 0; i < cfg->ntargets; i++)
		vs_config_target_free(&cfg->targets[i]);
	free(cfg->targets);
	free(cfg->metrics_listen);
	vs_config_names_free(cfg->force_remove, cfg->nforce_remove);
	vs_config_nbd_free(cfg->nbd);
	free(cfg);
}

int vs_config_set_portals(struct vs_config *cfg, const char *const *portals, size_t n, char *err,
                          size_t errlen)
{
	char why[160];
	if (n == 0) {
		snprintf(err, errlen, "portals: must list at least one ADDR:PORT");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!vs_portal_valid(portals[i], why, sizeof(why))) {
			snprintf(err, errlen, "%s", why);
			return -EINVAL;
		}
	}
	char **copy = calloc(n, sizeof(char *));
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		copy[i] = strdup(portals[i]);
		if (!copy[i]) {
			while (i--)
				free(copy[i]);
			free(copy);
			return -ENOMEM;
		}
	}
	portals_free(cfg);
	cfg->portals = copy;
	cfg->nportals = n;
	return 0;
}

struct vs_config *vs_config_default(const char *backend)
{
	struct vs_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return NULL;
	char err[VS_CONFIG_ERR_MAX];
	const char *portal = VS_CONFIG_DEFAULT_PORTAL;
	if (vs_config_set_portals(cfg, &portal, 1, err, sizeof(err)))
		goto fail;
	cfg->targets = calloc(1, sizeof(*cfg->targets));
	if (!cfg->targets)
		goto fail;
	cfg->ntargets = 1;
	struct vs_config_target *t = &cfg->targets[0];
	t->iqn = strdup(VS_CONFIG_DEFAULT_IQN);
	t->luns = calloc(1, sizeof(*t->luns));
	if (!t->iqn || !t->luns)
		goto fail;
	t->nluns = 1;
	t->luns[0].lun = 0;
	t->luns[0].backend = strdup(backend);
	t->luns[0].block_size = 512;
	char size[32];
	vs_config_format_size(VS_CONFIG_DEFAULT_SIZE, size, sizeof(size));
	if (!t->luns[0].backend || vs_config_lun_set_opt(&t->luns[0], "size", size))
		goto fail;
	return cfg;
fail:
	vs_config_free(cfg);
	return NULL;
}

/* ---------------------------------------------------------------- save */

/* json_object_set_new that tolerates a NULL value (out of memory) by
 * remembering the failure. */
static void put(json_t *obj, const char *key, json_t *v, bool *oom)
{
	if (!v || json_object_set_new(obj, key, v))
		*oom = true;
}

static void put_str(json_t *obj, const char *key, const char *s, bool *oom)
{
	if (s)
		put(obj, key, json_string(s), oom);
}

static void put_u(json_t *obj, const char *key, uint64_t v, bool *oom)
{
	if (v)
		put(obj, key, json_integer((json_int_t)v), oom);
}

static json_t *chap_json(const struct vs_config_chap *c, bool *oom)
{
	json_t *o = json_object();
	if (!o) {
		*oom = true;
		return NULL;
	}
	put_str(o, "user", c->user, oom);
	put_str(o, "secret", c->secret, oom);
	put_str(o, "mutual_user", c->mutual_user, oom);
	put_str(o, "mutual_secret", c->mutual_secret, oom);
	return o;
}

/*
 * One option as its schema types it: booleans and whole numbers as JSON
 * booleans and integers, sizes as "10G", the rest as the text given.
 * Secrets are never written back.
 */
static void put_opt(json_t *o, int kind, const char *layer, const struct vs_config_kv *kv,
                    bool *oom)
{
	struct vs_layer_type t;
	const struct vs_opt_desc *d = vs_layer_type_find(kind, layer, &t)
	                              ? vs_layer_type_option(&t, kv->key) : NULL;
	uint64_t n;

	if (d && (d->flags & VS_OPT_SECRET))
		return;
	if (!d || kv->in_options) {
		put_str(o, kv->key, kv->value, oom);
		return;
	}
	switch (d->type) {
	case VS_OPT_BOOL:
		put(o, kv->key, json_boolean((kv->value[0] && strchr("1tTyY", kv->value[0])) ||
		                             strcasecmp(kv->value, "on") == 0), oom);
		return;
	case VS_OPT_UINT:
		put(o, kv->key, json_integer((json_int_t)strtoull(kv->value, NULL, 10)), oom);
		return;
	case VS_OPT_SIZE:
		if (vs_parse_size(kv->value, &n) == 0) {
			char size[32];

			vs_config_format_size(n, size, sizeof(size));
			put_str(o, kv->key, size, oom);
			return;
		}
		break;
	default:
		break;
	}
	put_str(o, kv->key, kv->value, oom);
}

static json_t *filters_json(const struct vs_config_stack *st, bool *oom)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < st->nfilters; i++) {
		const struct vs_config_layer *f = &st->filters[i];
		json_t *fo = json_object();

		if (!fo) {
			*oom = true;
			continue;
		}
		put_str(fo, "name", f->name, oom);
		for (size_t k = 0; k < f->nopts; k++)
			put_opt(fo, VS_LAYER_FILTER, f->name, &f->opts[k], oom);
		if (json_array_append_new(arr, fo))
			*oom = true;
	}
	return arr;
}

static json_t *volume_json(const struct vs_config_volume *v, bool *oom);

/* A stack's keys into o: "backend" and its options (those given under
 * "options" into opts_out, when there is one), or "volume"; "filters"
 * is added by the caller, after the LUN's own keys. */
static void stack_keys(json_t *o, const struct vs_config_stack *st, json_t **opts_out,
                       bool *oom)
{
	if (st->volume) {
		put(o, "volume", volume_json(st->volume, oom), oom);
		return;
	}
	put_str(o, "backend", st->backend, oom);
	for (size_t i = 0; i < st->noptions; i++) {
		if (!st->options[i].in_options || !opts_out) {
			put_opt(o, VS_LAYER_BACKEND, st->backend, &st->options[i], oom);
		} else {
			if (!*opts_out && !(*opts_out = json_object()))
				*oom = true;
			else
				put_opt(*opts_out, VS_LAYER_BACKEND, st->backend, &st->options[i], oom);
		}
	}
}

static json_t *leg_json(const struct vs_config_stack *st, bool *oom)
{
	json_t *o = json_object();

	if (!o) {
		*oom = true;
		return NULL;
	}
	stack_keys(o, st, NULL, oom);
	if (st->nfilters)
		put(o, "filters", filters_json(st, oom), oom);
	return o;
}

static json_t *volume_json(const struct vs_config_volume *v, bool *oom)
{
	json_t *o = json_object(), *legs = json_array();

	if (!o || !legs) {
		json_decref(o);
		json_decref(legs);
		*oom = true;
		return NULL;
	}
	put_str(o, "type", v->type, oom);
	for (size_t k = 0; k < v->nopts; k++)
		put_opt(o, VS_LAYER_FILTER, v->type, &v->opts[k], oom);
	for (size_t i = 0; i < v->nlegs; i++)
		if (json_array_append_new(legs, leg_json(&v->legs[i], oom)))
			*oom = true;
	put(o, "legs", legs, oom);
	return o;
}

static json_t *lun_json(const struct vs_config_lun *l, bool *oom)
{
	json_t *o = json_object(), *opts = NULL;
	if (!o) {
		*oom = true;
		return NULL;
	}
	put(o, "lun", json_integer((json_int_t)l->lun), oom);
	stack_keys(o, &l->stack, &opts, oom);
	if (l->block_size != 512)
		put_u(o, "block_size", l->block_size, oom);
	if (l->readonly)
		put(o, "readonly", json_true(), oom);
	put_str(o, "serial", l->serial, oom);
	if (l->removable)
		put(o, "removable", json_true(), oom);
	if (l->physical_block_size)
		put_u(o, "physical_block_size", l->physical_block_size, oom);
	if (opts)
		put(o, "options", opts, oom);
	if (l->nfilters)
		put(o, "filters", filters_json(&l->stack, oom), oom);
	return o;
}

json_t *vs_config_lun_json(const struct vs_config_lun *l)
{
	bool oom = false;
	json_t *o = lun_json(l, &oom);

	if (oom) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *strings_json(char *const *s, size_t n, bool *oom)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(s[i])))
			*oom = true;
	return a;
}

static json_t *target_json(const struct vs_config_target *t, bool *oom)
{
	json_t *o = json_object();
	if (!o) {
		*oom = true;
		return NULL;
	}
	put_str(o, "iqn", t->iqn, oom);
	put_str(o, "alias", t->alias, oom);
	if (t->nportals)
		put(o, "portals", strings_json(t->portals, t->nportals, oom), oom);
	if (t->nacl)
		put(o, "acl", strings_json(t->acl, t->nacl, oom), oom);
	if (t->has_chap)
		put(o, "chap", chap_json(&t->chap, oom), oom);
	json_t *luns = json_array();
	for (size_t i = 0; luns && i < t->nluns; i++)
		if (json_array_append_new(luns, lun_json(&t->luns[i], oom)))
			*oom = true;
	put(o, "luns", luns, oom);
	return o;
}

static json_t *config_json(const struct vs_config *cfg, bool *oom)
{
	json_t *root = json_object();
	if (!root) {
		*oom = true;
		return NULL;
	}
	put(root, "portals", strings_json(cfg->portals, cfg->nportals, oom), oom);
	put_u(root, "threads", cfg->threads, oom);

	const struct vs_config_iscsi *is = &cfg->iscsi;
	json_t *iscsi = json_object();
	if (iscsi) {
		put_u(iscsi, "max_recv_data_segment_length", is->max_recv_data_segment_length, oom);
		put_u(iscsi, "max_burst_length", is->max_burst_length, oom);
		put_u(iscsi, "first_burst_length", is->first_burst_length, oom);
		put_u(iscsi, "queue_depth", is->queue_depth, oom);
		put_u(iscsi, "nop_interval_ms", is->nop_interval_ms, oom);
		put_u(iscsi, "nop_timeout_ms", is->nop_timeout_ms, oom);
		put_u(iscsi, "max_outstanding_r2t", is->max_outstanding_r2t, oom);
		put_u(iscsi, "max_connections", is->max_connections, oom);
		put_u(iscsi, "max_sessions", is->max_sessions, oom);
		put_u(iscsi, "login_timeout_ms", is->login_timeout_ms, oom);
		if (is->poll_us == VS_ISCSI_POLL_OFF)
			put(iscsi, "poll_us", json_integer(0), oom);
		else
			put_u(iscsi, "poll_us", is->poll_us, oom);
	}
	if (iscsi && json_object_size(iscsi) == 0)
		json_decref(iscsi);
	else
		put(root, "iscsi", iscsi, oom);

	if (cfg->has_discovery_chap)
		put(root, "discovery_chap", chap_json(&cfg->discovery_chap, oom), oom);
	json_t *targets = json_array();
	for (size_t i = 0; targets && i < cfg->ntargets; i++)
		if (json_array_append_new(targets, target_json(&cfg->targets[i], oom)))
			*oom = true;
	put(root, "targets", targets, oom);
	if (cfg->metrics_listen) {
		json_t *m = json_object();

		put_str(m, "listen", cfg->metrics_listen, oom);
		put(root, "metrics", m, oom);
	}
	if (cfg->nbd)
		put(root, "nbd", vs_config_nbd_json(cfg->nbd, oom), oom);
	return root;
}

int vs_config_save(FILE *f, const struct vs_config *cfg)
{
	bool oom = false;
	json_t *root = config_json(cfg, &oom);
	if (oom) {
		json_decref(root);
		return -ENOMEM;
	}
	int rc = json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (rc || fputc('\n', f) == EOF)
		return -EIO;
	return 0;
}
