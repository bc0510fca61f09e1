/* SPDX-License-Identifier: MIT */
/*
 * One LUN object of the config (targets[].luns[], and lun.add's params):
 * the disk's own fields, and its block stack — a backend and its filters,
 * each checked against the schema the layer itself declares (vstor/bdev.h),
 * so no backend or filter is known here by name:
 *
 *   { "lun": 1, "backend": "file", "path": "/x.img", "create": true, "size": "10G",
 *     "block_size": 4096,
 *     "filters": [ { "name": "crypt", "key_file": "/etc/vstor/k1" },
 *                  { "name": "throttle", "iops": 5000 } ] }
 *
 * or, over a volume of several stacks (its legs, each the same shape as
 * a LUN's stack: a backend with its options, or a volume; and filters):
 *
 *   { "lun": 2, "volume": { "type": "mirror", "meta": "/var/lib/vstor/m2.map",
 *                           "legs": [ { "backend": "file", "path": "/a.img" },
 *                                     { "backend": "nbd", "uri": "nbd://h/x",
 *                                       "filters": [ { "name": "error" } ] } ] } }
 *
 * A backend's options sit on the LUN object itself (as "path" and "size"
 * always did) or, as strings, under "options"; a filter's beside its
 * "name", a volume's beside its "type".  Errors name the field:
 * targets[0].luns[1].filters[0].key_file, targets[0].luns[1].volume.legs[1].path.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "vstor/bdev.h"

/* The disk's (vdisk's) keys; everything else on a LUN is its backend's. */
static const char *const disk_keys[] = { "lun", "backend", "volume", "filters", "options",
	                                 "block_size", "readonly", "serial", "removable",
	                                 "physical_block_size", NULL };
/* A volume's leg: its stack's keys; everything else is its backend's. */
static const char *const leg_keys[] = { "backend", "volume", "filters", NULL };
/* A volume: everything but these is the volume filter's options. */
static const char *const volume_keys[] = { "type", "legs", NULL };

static bool in_list(const char *const *list, const char *k)
{
	for (; *list; list++)
		if (strcmp(*list, k) == 0)
			return true;
	return false;
}

static bool is_disk_key(const char *k)
{
	return in_list(disk_keys, k);
}

/* A key neither the object's own (`own`) nor the layer's: suggest what a
 * typo meant, else say what the layer takes. */
static int unknown_key(struct vs_cfg_loader *L, const char *p, const char *key,
                       const struct vs_layer_type *t, const char *const *own)
{
	const char *best = NULL;
	size_t dist = 3, used = 0;
	char known[240] = "";

	for (const char *const *o = own; *o; o++) {
		size_t e = vs_cfg_edit_distance(key, *o);

		if (e < dist) {
			dist = e;
			best = *o;
		}
	}
	for (const struct vs_opt_desc *o = t->options; o && o->name; o++) {
		size_t e = vs_cfg_edit_distance(key, o->name);
		int w = snprintf(known + used, sizeof(known) - used, "%s%s", used ? ", " : "", o->name);

		if (w > 0 && (size_t)w < sizeof(known) - used)
			used += (size_t)w;
		if (e < dist) {
			dist = e;
			best = o->name;
		}
	}
	if (best)
		return vs_cfg_bad(L, p, "unknown key (did you mean \"%s\"?)", best);
	return vs_cfg_bad(L, p, "unknown key (%s %s takes %s%s)",
	                  t->kind == VS_LAYER_BACKEND ? "backend" : "filter", t->name,
	                  used ? "" : "no options", known);
}

/* "unknown backend \"tape\" (known: file, ram)" */
static int unknown_type(struct vs_cfg_loader *L, const char *p, int kind, const char *name)
{
	struct vs_layer_type types[64];
	size_t n = vs_layer_types(kind, types, 64), used = 0;
	char known[240] = "";

	for (size_t i = 0; i < n && i < 64; i++) {
		int w = snprintf(known + used, sizeof(known) - used, "%s%s", used ? ", " : "",
		                 types[i].name);

		if (w > 0 && (size_t)w < sizeof(known) - used)
			used += (size_t)w;
	}
	return vs_cfg_bad(L, p, "unknown %s \"%s\" (known: %s)",
	                  kind == VS_LAYER_BACKEND ? "backend" : "filter", name, known);
}

/* ---- option lists ---- */

void vs_config_kv_free(struct vs_config_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static struct vs_config_kv *kv_find(struct vs_config_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return &kv[i];
	return NULL;
}

int vs_config_kv_add(struct vs_config_kv **kv, size_t *n, const char *key, const char *value,
                     bool in_options)
{
	struct vs_config_kv *grown;

	if (kv_find(*kv, *n, key))
		return 0;
	grown = realloc(*kv, (*n + 1) * sizeof(**kv));
	if (!grown)
		return -ENOMEM;
	*kv = grown;
	grown[*n] = (struct vs_config_kv){ strdup(key), strdup(value), in_options, false };
	if (!grown[*n].key || !grown[*n].value) {
		free(grown[*n].key);
		free(grown[*n].value);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

const char *vs_config_lun_opt(const struct vs_config_lun *l, const char *key)
{
	const struct vs_config_kv *o = kv_find(l->options, l->noptions, key);

	return o ? o->value : NULL;
}

int vs_config_lun_set_opt(struct vs_config_lun *l, const char *key, const char *value)
{
	return vs_config_kv_set(&l->options, &l->noptions, key, value);
}

int vs_config_kv_set(struct vs_config_kv **kv, size_t *n, const char *key, const char *value)
{
	struct vs_config_kv *o = kv_find(*kv, *n, key);
	char *v;

	if (!o)
		return vs_config_kv_add(kv, n, key, value, false);
	if (!(v = strdup(value)))
		return -ENOMEM;
	free(o->value);
	o->value = v;
	return 0;
}

/* ---- JSON values → option text ---- */

static const char *expected(uint8_t type)
{
	switch (type) {
	case VS_OPT_BOOL: return "true or false";
	case VS_OPT_UINT: return "a whole number";
	case VS_OPT_SIZE: return "a size like \"1G\" or a byte count";
	case VS_OPT_RATE: return "a rate like \"50M\" or a number";
	case VS_OPT_DURATION: return "a duration like \"20s\" or milliseconds";
	default: return "a string";
	}
}

/*
 * The schema decides what a value means; JSON only carries it.  Strings
 * are taken for every type (the layer parses them: "1G", "20s", "1"),
 * booleans for booleans, non-negative integers for numbers.
 */
static int value_text(struct vs_cfg_loader *L, const char *path, const struct vs_opt_desc *d,
                      json_t *v, char *out, size_t len)
{
	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		if (json_string_length(v) >= len)
			return vs_cfg_bad(L, path, "longer than %zu bytes", len - 1);
		for (const char *p = s; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return vs_cfg_bad(L, path, "contains a control character (byte 0x%02x)",
				                  (unsigned char)*p);
		snprintf(out, len, "%s", s);
		return 0;
	}
	if (json_is_boolean(v) && d->type == VS_OPT_BOOL) {
		snprintf(out, len, "%s", json_is_true(v) ? "1" : "0");
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    (d->type == VS_OPT_UINT || d->type == VS_OPT_SIZE || d->type == VS_OPT_RATE ||
	     d->type == VS_OPT_DURATION)) {
		snprintf(out, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return 0;
	}
	return vs_cfg_bad(L, path, "must be %s, got %s", expected(d->type), vs_config_json_type(v));
}

/* The field path of an option: LUN.key, or LUN.options.key */
static void opt_path(char *out, const char *lpath, const struct vs_config_kv *kv)
{
	if (kv->in_options)
		vs_cfg_pathf(out, "%s.options.%s", lpath, kv->key);
	else
		vs_cfg_join(out, lpath, kv->key);
}

/* Which field a layer's error line is about: an option it was given
 * (under "options." if it came from there), or one of its schema (e.g. a
 * required one that is missing); else the layer itself. */
static int layer_error(struct vs_cfg_loader *L, const char *lpath, const struct vs_layer_type *t,
                       const struct vs_config_kv *kv, size_t n, const char *why)
{
	const char *colon = strstr(why, ": ");
	char field[VS_CFG_PATH_MAX], p[VS_CFG_PATH_MAX];

	if (colon && (size_t)(colon - why) < 64) {
		snprintf(field, sizeof(field), "%.*s", (int)(colon - why), why);
		for (size_t i = 0; i < n; i++) {
			if (strcmp(kv[i].key, field) != 0)
				continue;
			opt_path(p, lpath, &kv[i]);
			return vs_cfg_bad(L, p, "%s", colon + 2);
		}
		if (t && vs_layer_type_option(t, field)) {
			vs_cfg_join(p, lpath, field);
			return vs_cfg_bad(L, p, "%s", colon + 2);
		}
	}
	return vs_cfg_bad(L, lpath, "%s", why);
}

/* Check a layer's options with its schema; errors name the field. */
static int check_layer(struct vs_cfg_loader *L, const char *lpath, int kind, const char *name,
                       const struct vs_config_kv *kv, size_t n)
{
	struct vs_layer_type t;
	struct vs_kv list[128];

	if (n > sizeof(list) / sizeof(list[0]))
		return vs_cfg_bad(L, lpath, "more than %zu options", sizeof(list) / sizeof(list[0]));
	for (size_t i = 0; i < n; i++)
		list[i] = (struct vs_kv){ kv[i].key, kv[i].value };
	if (vs_layer_check(kind, name, list, n) == 0)
		return 0;
	return layer_error(L, lpath, vs_layer_type_find(kind, name, &t) ? &t : NULL, kv, n,
	                   vs_last_error());
}

/*
 * The options of one layer from the keys of obj that are not in `skip`,
 * typed by the layer's schema.  An unknown key is refused here, with the
 * key's full path and what the layer does take.
 */
static int load_layer_keys(struct vs_cfg_loader *L, json_t *obj, const char *lpath,
                           const struct vs_layer_type *t, const char *const *own,
                           struct vs_config_kv **kv, size_t *n)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		char p[VS_CFG_PATH_MAX], text[4096];
		const struct vs_opt_desc *d;
		int rc;

		if (in_list(own, key))
			continue;
		vs_cfg_join(p, lpath, key);
		d = vs_layer_type_option(t, key);
		if (!d)
			return unknown_key(L, p, key, t, own);
		if ((rc = value_text(L, p, d, v, text, sizeof(text))))
			return rc;
		if (vs_config_kv_add(kv, n, key, text, false))
			return vs_cfg_bad(L, p, "out of memory");
	}
	return 0;
}

static const char *const filter_keys[] = { "name", NULL };

/* The legacy "options": { "key": "string" } of a LUN: backend options. */
static int load_options_obj(struct vs_cfg_loader *L, json_t *obj, const char *path,
                            struct vs_config_lun *l)
{
	json_t *opts, *v;
	const char *key;
	char op[VS_CFG_PATH_MAX];
	int rc;

	if ((rc = vs_cfg_get_object(L, obj, path, "options", &opts)) || !opts)
		return rc;
	vs_cfg_join(op, path, "options");
	json_object_foreach(opts, key, v) {
		char kp[VS_CFG_PATH_MAX];

		vs_cfg_join(kp, op, key);
		if (!*key)
			return vs_cfg_bad(L, kp, "option names must not be empty");
		if (is_disk_key(key) || json_object_get(obj, key))
			return vs_cfg_bad(L, kp, "set \"%s\" on the lun itself, not under options", key);
		if (!json_is_string(v))
			return vs_cfg_bad(L, kp, "must be a string, got %s", vs_config_json_type(v));
		if (vs_config_kv_add(&l->options, &l->noptions, key, json_string_value(v), true))
			return vs_cfg_bad(L, kp, "out of memory");
	}
	return 0;
}

static int load_filters(struct vs_cfg_loader *L, json_t *obj, const char *path,
                        struct vs_config_stack *l)
{
	json_t *arr;
	int rc;

	if ((rc = vs_cfg_get_array(L, obj, path, "filters", &arr)) || !arr)
		return rc;
	if (json_array_size(arr) > VS_CONFIG_MAX_FILTERS) {
		char p[VS_CFG_PATH_MAX];

		vs_cfg_join(p, path, "filters");
		return vs_cfg_bad(L, p, "at most %d filters", VS_CONFIG_MAX_FILTERS);
	}
	l->filters = calloc(json_array_size(arr) + 1, sizeof(*l->filters));
	if (!l->filters)
		return vs_cfg_bad(L, path, "out of memory");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *f = json_array_get(arr, i);
		struct vs_config_layer *fl = &l->filters[i];
		struct vs_layer_type t;
		char fp[VS_CFG_PATH_MAX], np[VS_CFG_PATH_MAX];

		vs_cfg_index_path(fp, path, "filters", i);
		l->nfilters = i + 1;
		if (!json_is_object(f))
			return vs_cfg_bad(L, fp, "must be an object like {\"name\": \"crypt\", ...}, got %s",
			                  vs_config_json_type(f));
		if ((rc = vs_cfg_get_string(L, f, fp, "name", true, 31, &fl->name)))
			return rc;
		vs_cfg_join(np, fp, "name");
		if (!vs_layer_type_find(VS_LAYER_FILTER, fl->name, &t))
			return unknown_type(L, np, VS_LAYER_FILTER, fl->name);
		if ((rc = load_layer_keys(L, f, fp, &t, filter_keys, &fl->opts, &fl->nopts)) ||
		    (rc = check_layer(L, fp, VS_LAYER_FILTER, fl->name, fl->opts, fl->nopts)))
			return rc;
	}
	return 0;
}

/* By convention a backend's "create" makes its resource: a read-only LUN
 * cannot (its stack is opened read-only). */
static int check_create(struct vs_cfg_loader *L, const char *path, struct vs_config_lun *l,
                        const struct vs_layer_type *t)
{
	const struct vs_opt_desc *d = vs_layer_type_option(t, "create");
	const char *v = vs_config_lun_opt(l, "create");
	char p[VS_CFG_PATH_MAX];

	if (!l->readonly || !d || d->type != VS_OPT_BOOL || !v || !strchr("1tTyYo", v[0]) ||
	    strcasecmp(v, "off") == 0)
		return 0;
	vs_cfg_join(p, path, "create");
	return vs_cfg_bad(L, p, "cannot create a readonly LUN");
}

/* By convention a backend's "size" is the LUN's capacity: whole blocks. */
static int check_size(struct vs_cfg_loader *L, const char *path, struct vs_config_lun *l,
                      const struct vs_layer_type *t)
{
	const struct vs_opt_desc *d = vs_layer_type_option(t, "size");
	const char *v = vs_config_lun_opt(l, "size");
	uint64_t bytes;
	char p[VS_CFG_PATH_MAX];

	if (!d || d->type != VS_OPT_SIZE || !v || vs_parse_size(v, &bytes) < 0 ||
	    bytes % l->block_size == 0)
		return 0;
	vs_cfg_join(p, path, "size");
	return vs_cfg_bad(L, p, "%" PRIu64 " bytes is not a multiple of block_size %" PRIu32, bytes,
	                  l->block_size);
}

static int load_stack(struct vs_cfg_loader *L, json_t *obj, const char *path, int depth,
                      const char *const *own, struct vs_config_stack *st,
                      struct vs_layer_type *backend_type);

/*
 * "volume": { "type": NAME, "legs": [ ... ], options... }: a filter that
 * takes several layers under it, each leg a stack of its own.
 */
static int load_volume(struct vs_cfg_loader *L, json_t *obj, const char *path, int depth,
                       struct vs_config_stack *st)
{
	struct vs_config_volume *v;
	struct vs_layer_type t;
	char p[VS_CFG_PATH_MAX], lp[VS_CFG_PATH_MAX];
	json_t *vo, *legs;
	int rc;

	if ((rc = vs_cfg_get_object(L, obj, path, "volume", &vo)))
		return rc;
	vs_cfg_join(p, path, "volume");
	if (depth >= VS_CONFIG_MAX_VOLUME_DEPTH)
		return vs_cfg_bad(L, p, "volumes nest at most %d deep", VS_CONFIG_MAX_VOLUME_DEPTH);
	if (!(v = st->volume = calloc(1, sizeof(*v))))
		return vs_cfg_bad(L, p, "out of memory");
	if ((rc = vs_cfg_get_string(L, vo, p, "type", true, 31, &v->type)))
		return rc;
	vs_cfg_join(lp, p, "type");
	if (!vs_layer_type_find(VS_LAYER_FILTER, v->type, &t))
		return unknown_type(L, lp, VS_LAYER_FILTER, v->type);
	if (t.max_lower < 2)
		return vs_cfg_bad(L, lp, "filter \"%s\" takes one layer under it, not legs (put it in "
		                  "\"filters\")", v->type);
	if ((rc = vs_cfg_get_array(L, vo, p, "legs", &legs)))
		return rc;
	vs_cfg_join(lp, p, "legs");
	if (!legs)
		return vs_cfg_bad(L, lp, "missing (required)");
	if (json_array_size(legs) < t.min_lower || json_array_size(legs) > t.max_lower)
		return vs_cfg_bad(L, lp, "%s takes %u to %u legs, got %zu", v->type, t.min_lower,
		                  t.max_lower, json_array_size(legs));
	if ((rc = load_layer_keys(L, vo, p, &t, volume_keys, &v->opts, &v->nopts)) ||
	    (rc = check_layer(L, p, VS_LAYER_FILTER, v->type, v->opts, v->nopts)))
		return rc;
	if (!(v->legs = calloc(json_array_size(legs), sizeof(*v->legs))))
		return vs_cfg_bad(L, lp, "out of memory");
	for (size_t i = 0; i < json_array_size(legs); i++) {
		json_t *leg = json_array_get(legs, i);
		char ip[VS_CFG_PATH_MAX];

		vs_cfg_index_path(ip, p, "legs", i);
		v->nlegs = i + 1;
		if (!json_is_object(leg))
			return vs_cfg_bad(L, ip, "must be an object like {\"backend\": \"file\", ...}, "
			                  "got %s", vs_config_json_type(leg));
		if ((rc = load_stack(L, leg, ip, depth + 1, leg_keys, &v->legs[i], NULL)))
			return rc;
	}
	return 0;
}

/*
 * A stack: "backend" and its options (the object's keys not in `own`),
 * or "volume"; then "filters".  backend_type: out, the backend's type
 * (unset over a volume).
 */
static int load_stack(struct vs_cfg_loader *L, json_t *obj, const char *path, int depth,
                      const char *const *own, struct vs_config_stack *st,
                      struct vs_layer_type *backend_type)
{
	struct vs_layer_type t;
	char p[VS_CFG_PATH_MAX];
	const char *key;
	json_t *v;
	int rc;

	if (json_object_get(obj, "volume")) {
		if (json_object_get(obj, "backend")) {
			vs_cfg_join(p, path, "volume");
			return vs_cfg_bad(L, p, "give either \"backend\" or \"volume\", not both");
		}
		/* over a volume, backend options have no backend to go to */
		json_object_foreach(obj, key, v) {
			if (in_list(own, key))
				continue;
			vs_cfg_join(p, path, key);
			return vs_cfg_bad(L, p, "unknown key (a stack over a volume takes its backends' "
			                  "options in volume.legs[])");
		}
		if ((rc = load_volume(L, obj, path, depth, st)))
			return rc;
		return load_filters(L, obj, path, st);
	}
	if ((rc = vs_cfg_get_string(L, obj, path, "backend", true, 31, &st->backend)))
		return rc;
	vs_cfg_join(p, path, "backend");
	if (!vs_layer_type_find(VS_LAYER_BACKEND, st->backend, &t))
		return unknown_type(L, p, VS_LAYER_BACKEND, st->backend);
	if (backend_type)
		*backend_type = t;
	if ((rc = load_layer_keys(L, obj, path, &t, own, &st->options, &st->noptions)))
		return rc;
	if (own == leg_keys &&
	    (rc = check_layer(L, path, VS_LAYER_BACKEND, st->backend, st->options, st->noptions)))
		return rc;
	return load_filters(L, obj, path, st);
}

int vs_cfg_load_leg(struct vs_cfg_loader *L, json_t *obj, const char *path,
                    struct vs_config_stack *st)
{
	if (!json_is_object(obj))
		return vs_cfg_bad(L, path, "must be an object like {\"backend\": \"file\", ...}, got %s",
		                  vs_config_json_type(obj));
	return load_stack(L, obj, path, 1, leg_keys, st, NULL);
}

int vs_cfg_load_lun(struct vs_cfg_loader *L, json_t *obj, const char *path,
                    struct vs_config_lun *l)
{
	struct vs_layer_type t;
	char p[VS_CFG_PATH_MAX];
	bool has_lun = false;
	json_t *bs;
	int rc;

	if (!json_is_object(obj))
		return vs_cfg_bad(L, path, "must be an object, got %s", vs_config_json_type(obj));
	/* What the vdisk miniport serves (see VS_CONFIG_MAX_LUN). */
	if ((rc = vs_cfg_get_uint(L, obj, path, "lun", 0, VS_CONFIG_MAX_LUN, &has_lun, &l->lun)))
		return rc;
	if (!has_lun) {
		vs_cfg_join(p, path, "lun");
		return vs_cfg_bad(L, p, "missing (required)");
	}

	l->block_size = 512;
	bs = json_object_get(obj, "block_size");
	if (bs) {
		vs_cfg_join(p, path, "block_size");
		if (!json_is_integer(bs))
			return vs_cfg_bad(L, p, "must be 512 or 4096, got %s", vs_config_json_type(bs));
		json_int_t n = json_integer_value(bs);
		if (n != 512 && n != 4096)
			return vs_cfg_bad(L, p, "must be 512 or 4096, got %" JSON_INTEGER_FORMAT, n);
		l->block_size = (uint32_t)n;
	}
	if ((rc = vs_cfg_get_bool(L, obj, path, "readonly", NULL, &l->readonly)) ||
	    /* VPD 0x80 is ASCII (SPC-4 4.4.1); the LUN info keeps 63 bytes. */
	    (rc = vs_cfg_get_string(L, obj, path, "serial", false, 63, &l->serial)) ||
	    (rc = vs_cfg_get_bool(L, obj, path, "removable", NULL, &l->removable)) ||
	    (rc = vs_cfg_get_u32(L, obj, path, "physical_block_size", 0, 1u << 24,
	                         &l->physical_block_size)))
		return rc;
	if (l->serial) {
		for (const char *s = l->serial; *s; s++) {
			if ((unsigned char)*s > 0x7e) {
				vs_cfg_join(p, path, "serial");
				return vs_cfg_bad(L, p, "must be printable ASCII (SPC-4 4.4.1)");
			}
		}
	}
	if (json_object_get(obj, "volume")) {
		if (json_object_get(obj, "options")) {
			vs_cfg_join(p, path, "options");
			return vs_cfg_bad(L, p, "a LUN over a volume has no backend of its own for "
			                  "options (give them in volume.legs[])");
		}
		return load_stack(L, obj, path, 0, disk_keys, &l->stack, NULL);
	}
	/* the backend's options: the LUN's other keys, then "options" */
	memset(&t, 0, sizeof(t));
	if ((rc = load_stack(L, obj, path, 0, disk_keys, &l->stack, &t)) ||
	    (rc = load_options_obj(L, obj, path, l)) ||
	    (rc = check_layer(L, path, VS_LAYER_BACKEND, l->backend, l->options, l->noptions)) ||
	    (rc = check_size(L, path, l, &t)) || (rc = check_create(L, path, l, &t)))
		return rc;
	return 0;
}

/* ---- relative file names ---- */

static int resolve(struct vs_cfg_loader *L, const char *dir, const char *lpath, int kind,
                   const char *name, struct vs_config_kv *kv, size_t n)
{
	struct vs_layer_type t;

	if (!vs_layer_type_find(kind, name, &t))
		return 0;
	for (size_t i = 0; i < n; i++) {
		const struct vs_opt_desc *d = vs_layer_type_option(&t, kv[i].key);
		char *abs = NULL, p[VS_CFG_PATH_MAX];

		if (!d || d->type != VS_OPT_PATH || kv[i].value[0] == '/')
			continue;
		if (asprintf(&abs, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
		             kv[i].value) < 0)
			return vs_cfg_bad(L, NULL, "out of memory");
		if (strlen(abs) >= PATH_MAX) {
			free(abs);
			opt_path(p, lpath, &kv[i]);
			return vs_cfg_bad(L, p, "longer than %d bytes once made absolute", PATH_MAX - 1);
		}
		free(kv[i].value);
		kv[i].value = abs;
	}
	return 0;
}

static int resolve_stack(struct vs_cfg_loader *L, const char *dir, const char *where,
                         struct vs_config_stack *st)
{
	int rc = 0;

	if (st->backend)
		rc = resolve(L, dir, where, VS_LAYER_BACKEND, st->backend, st->options, st->noptions);
	for (size_t i = 0; rc == 0 && i < st->nfilters; i++) {
		char fp[VS_CFG_PATH_MAX];

		vs_cfg_index_path(fp, where, "filters", i);
		rc = resolve(L, dir, fp, VS_LAYER_FILTER, st->filters[i].name, st->filters[i].opts,
		             st->filters[i].nopts);
	}
	if (rc == 0 && st->volume) {
		struct vs_config_volume *v = st->volume;
		char vp[VS_CFG_PATH_MAX];

		vs_cfg_join(vp, where, "volume");
		rc = resolve(L, dir, vp, VS_LAYER_FILTER, v->type, v->opts, v->nopts);
		for (size_t i = 0; rc == 0 && i < v->nlegs; i++) {
			char lp[VS_CFG_PATH_MAX];

			vs_cfg_index_path(lp, vp, "legs", i);
			rc = resolve_stack(L, dir, lp, &v->legs[i]);
		}
	}
	return rc;
}

int vs_cfg_lun_resolve_paths(struct vs_cfg_loader *L, const char *dir, const char *where,
                             struct vs_config_lun *l)
{
	return resolve_stack(L, dir, where, &l->stack);
}
