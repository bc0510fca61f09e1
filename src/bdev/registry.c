/* SPDX-License-Identifier: MIT */
/*
 * The types of layers a stack can be built from: built-in backends and
 * filters register themselves when the program starts (a constructor in
 * their own file, so adding one touches nothing else), plugins when they
 * are loaded (plugin.c).  Only control paths look types up.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_int.h"

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct layer_type types[BDEV_MAX_TYPES];
static size_t ntypes;
/* Each type's ops table as this build knows it: a plugin's shorter table
 * (older header) is copied and the fields it does not have read as NULL,
 * so no caller ever looks past the end of what the plugin gave. */
static union {
	struct vs_backend_ops b;
	struct vs_filter_ops f;
} ops_copy[BDEV_MAX_TYPES];

static int kind_of(const struct layer_type *t)
{
	return t->backend ? VS_LAYER_BACKEND : VS_LAYER_FILTER;
}

static const struct layer_type *find_locked(int kind, const char *name)
{
	for (size_t i = 0; i < ntypes; i++)
		if (kind_of(&types[i]) == kind && strcmp(type_name(&types[i]), name) == 0)
			return &types[i];
	return NULL;
}

const struct layer_type *registry_find(int kind, const char *name)
{
	const struct layer_type *t;

	if (!name)
		return NULL;
	/* entries are never removed or moved, so the pointer stays good */
	pthread_mutex_lock(&reg_lock);
	t = find_locked(kind, name);
	pthread_mutex_unlock(&reg_lock);
	return t;
}

/* Names are what the config and vstorctl write: keep them plain. */
static bool name_ok(const char *name)
{
	if (!name || !*name || strlen(name) > 31)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return false;
	return true;
}

/* A schema the loader could not apply consistently is refused at
 * registration, not discovered when a user first sets the option. */
static int schema_ok(const char *type, const struct vs_opt_desc *o)
{
	for (; o && o->name; o++) {
		if (!name_ok(o->name) || o->type < VS_OPT_STRING || o->type > VS_OPT_ENUM ||
		    (o->type == VS_OPT_ENUM && !o->choices) || !o->help) {
			vs_set_error("%s: option '%s': malformed description", type, o->name);
			return -EINVAL;
		}
	}
	return 0;
}

static int add(struct layer_type t, size_t size, int kind, const char *name,
               const struct vs_opt_desc *opts)
{
	int rc = 0;

	if (!name_ok(name)) {
		vs_set_error("name: '%s' is not a layer name (a-z, 0-9, '_', '-', at most 31)",
		             name ? name : "(null)");
		return -EINVAL;
	}
	if ((rc = schema_ok(name, opts)) < 0)
		return rc;
	pthread_mutex_lock(&reg_lock);
	if (find_locked(kind, name)) {
		vs_set_error("%s: a %s of that name is already registered", name,
		             kind == VS_LAYER_BACKEND ? "backend" : "filter");
		rc = -EEXIST;
	} else if (ntypes == BDEV_MAX_TYPES) {
		vs_set_error("%s: too many layer types (at most %u)", name, BDEV_MAX_TYPES);
		rc = -ENOSPC;
	} else {
		if (t.backend) {
			memset(&ops_copy[ntypes].b, 0, sizeof(ops_copy[ntypes].b));
			memcpy(&ops_copy[ntypes].b, t.backend, size);
			t.backend = &ops_copy[ntypes].b;
		} else {
			memset(&ops_copy[ntypes].f, 0, sizeof(ops_copy[ntypes].f));
			memcpy(&ops_copy[ntypes].f, t.filter, size);
			t.filter = &ops_copy[ntypes].f;
		}
		types[ntypes++] = t;
	}
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

static const char *ops_name(const char *name)
{
	return name ? name : "(unnamed)";
}

/* What a table must be to be registered; the name may still be taken by
 * the time add() runs, which checks again under the lock. */
int registry_check_backend(const struct vs_backend_ops *ops)
{
	if (!ops) {
		vs_set_error("backend_register: ops is NULL");
		return -EINVAL;
	}
	/* an ops table from another ABI would be read past its end */
	if (ops->api_version != VS_BACKEND_API_VERSION ||
	    ops->struct_size < offsetof(struct vs_backend_ops, cancel)) {
		vs_set_error("backend '%s' has API version %u (struct size %u); this vstor takes "
		             "version %u", ops_name(ops->name), ops->api_version, ops->struct_size,
		             VS_BACKEND_API_VERSION);
		return -EPROTO;
	}
	if (!ops->open || !ops->close || !ops->get_size || !ops->get_caps || !ops->submit ||
	    !ops->description) {
		vs_set_error("backend '%s' lacks a required callback or its description",
		             ops_name(ops->name));
		return -EINVAL;
	}
	if (registry_find(VS_LAYER_BACKEND, ops->name)) {
		vs_set_error("backend '%s' is already registered", ops->name);
		return -EEXIST;
	}
	return 0;
}

int registry_check_filter(const struct vs_filter_ops *ops)
{
	if (!ops) {
		vs_set_error("filter_register: ops is NULL");
		return -EINVAL;
	}
	if (ops->api_version != VS_FILTER_API_VERSION ||
	    ops->struct_size < offsetof(struct vs_filter_ops, get_size)) {
		vs_set_error("filter '%s' has API version %u (struct size %u); this vstor takes "
		             "version %u", ops_name(ops->name), ops->api_version, ops->struct_size,
		             VS_FILTER_API_VERSION);
		return -EPROTO;
	}
	if (!ops->open || !ops->close || !ops->submit || !ops->description) {
		vs_set_error("filter '%s' lacks a required callback or its description",
		             ops_name(ops->name));
		return -EINVAL;
	}
	if (ops->min_lower > ops->max_lower || ops->max_lower > BDEV_MAX_LAYERS) {
		vs_set_error("filter '%s': min_lower/max_lower out of range", ops_name(ops->name));
		return -EINVAL;
	}
	if (registry_find(VS_LAYER_FILTER, ops->name)) {
		vs_set_error("filter '%s' is already registered", ops->name);
		return -EEXIST;
	}
	return 0;
}

int vs_backend_register(const struct vs_backend_ops *ops, const char *origin)
{
	int rc = registry_check_backend(ops);

	if (rc < 0)
		return rc;
	return add((struct layer_type){ .backend = ops, .origin = origin ? origin : "built-in" },
	           ops->struct_size < sizeof(*ops) ? ops->struct_size : sizeof(*ops),
	           VS_LAYER_BACKEND, ops->name, ops->options);
}

int vs_filter_register(const struct vs_filter_ops *ops, const char *origin)
{
	int rc = registry_check_filter(ops);

	if (rc < 0)
		return rc;
	return add((struct layer_type){ .filter = ops, .origin = origin ? origin : "built-in" },
	           ops->struct_size < sizeof(*ops) ? ops->struct_size : sizeof(*ops),
	           VS_LAYER_FILTER, ops->name, ops->options);
}

void vs_backend_register_builtin(const struct vs_backend_ops *ops)
{
	if (vs_backend_register(ops, NULL) < 0) {
		fprintf(stderr, "vstor: built-in backend: %s\n", vs_last_error());
		abort();
	}
}

void vs_filter_register_builtin(const struct vs_filter_ops *ops)
{
	if (vs_filter_register(ops, NULL) < 0) {
		fprintf(stderr, "vstor: built-in filter: %s\n", vs_last_error());
		abort();
	}
}

void registry_public(const struct layer_type *t, struct vs_layer_type *out)
{
	memset(out, 0, sizeof(*out));
	out->name = type_name(t);
	out->kind = kind_of(t);
	out->options = type_options(t);
	out->origin = t->origin;
	if (t->backend) {
		out->description = t->backend->description;
	} else {
		out->description = t->filter->description;
		out->min_lower = t->filter->max_lower ? t->filter->min_lower : 1;
		out->max_lower = t->filter->max_lower ? t->filter->max_lower : 1;
	}
}

bool vs_layer_type_find(int kind, const char *name, struct vs_layer_type *out)
{
	const struct layer_type *t = registry_find(kind, name);

	if (t && out)
		registry_public(t, out);
	return t != NULL;
}

static int cmp_type(const void *a, const void *b)
{
	const struct vs_layer_type *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind - y->kind;
	return strcmp(x->name, y->name);
}

size_t vs_layer_types(int kind, struct vs_layer_type *out, size_t max)
{
	struct vs_layer_type all[BDEV_MAX_TYPES];
	size_t n = 0;

	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < ntypes; i++)
		if (kind == 0 || kind_of(&types[i]) == kind)
			registry_public(&types[i], &all[n++]);
	pthread_mutex_unlock(&reg_lock);
	qsort(all, n, sizeof(all[0]), cmp_type);
	for (size_t i = 0; i < n && i < max && out; i++)
		out[i] = all[i];
	return n;
}

const struct vs_opt_desc *vs_layer_type_option(const struct vs_layer_type *t, const char *key)
{
	if (!t || !key)
		return NULL;
	for (const struct vs_opt_desc *o = t->options; o && o->name; o++)
		if (strcmp(o->name, key) == 0)
			return o;
	return NULL;
}

void registry_unknown(int kind, const char *name)
{
	struct vs_layer_type list[BDEV_MAX_TYPES];
	char known[256] = "";
	size_t n = vs_layer_types(kind, list, BDEV_MAX_TYPES), used = 0;
	const char *what = kind == VS_LAYER_BACKEND ? "backend" : "filter";

	for (size_t i = 0; i < n && used < sizeof(known); i++) {
		int w = snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "",
		                 list[i].name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	vs_set_error("%s: '%s' is not a known %s (known: %s)", what, name ? name : "(null)", what,
	             known);
}

int vs_layer_check(int kind, const char *name, const struct vs_kv *opts, size_t nopts)
{
	const struct layer_type *t = registry_find(kind, name);
	struct vs_opts *o;

	if (!t) {
		registry_unknown(kind, name);
		return -EINVAL;
	}
	o = opts_parse(t, opts, nopts);
	if (!o)
		return -EINVAL;
	opts_free(o);
	return 0;
}
