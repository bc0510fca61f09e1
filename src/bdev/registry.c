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

const struct layer_type *vs_registry_find(int kind, const char *name)
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

static const char *ops_name(const char *name)
{
	return name ? name : "(unnamed)";
}

static const char *kind_name(int kind)
{
	return kind == VS_LAYER_BACKEND ? "backend" : "filter";
}

/*
 * The table's header (name, api_version, struct_size: the same in every
 * version) says which ABI it was built for.  Older and shorter is fine:
 * the fields it lacks read as absent (add_locked copies what it has).  Newer
 * and longer is fine as long as everything this build does not know is
 * zero, so a plugin that sets a callback this vstor would never call is
 * refused, not silently half-served (the rule Linux applies to grown
 * syscall structs).  The size must end on a field: a copy that ends
 * inside a pointer would make half a callback.
 */
static int abi_ok(int kind, const void *ops, const char *name, uint32_t version,
                  uint32_t want_version, uint32_t size, size_t min_size, size_t our_size)
{
	const unsigned char *extra = (const unsigned char *)ops + our_size;

	if (version != want_version || size < min_size || size > 64 * our_size ||
	    size % _Alignof(void *)) {
		vs_set_error("%s '%s' has API version %u (struct size %u); this vstor takes "
		             "version %u (struct size %zu or more, a multiple of %zu)", kind_name(kind),
		             ops_name(name), version, size, want_version, min_size,
		             _Alignof(void *));
		return -EPROTO;
	}
	for (size_t i = 0; size > our_size && i < size - our_size; i++) {
		if (extra[i]) {
			vs_set_error("%s '%s' was built for a newer vstor: it sets fields past the %zu "
			             "bytes of the ops table this vstor knows", kind_name(kind),
			             ops_name(name), our_size);
			return -EPROTO;
		}
	}
	return 0;
}

/* What a table must be to be registered, apart from its name being free. */
static int table_ok(const struct layer_type *t)
{
	const struct vs_backend_ops *b = t->backend;
	const struct vs_filter_ops *f = t->filter;
	int kind = b ? VS_LAYER_BACKEND : VS_LAYER_FILTER;
	const char *name;
	int rc;

	name = b ? b->name : f->name;
	/* the fields up to the first optional callback are required */
	rc = b ? abi_ok(kind, b, name, b->api_version, VS_BACKEND_API_VERSION, b->struct_size,
	                offsetof(struct vs_backend_ops, cancel), sizeof(*b))
	       : abi_ok(kind, f, name, f->api_version, VS_FILTER_API_VERSION, f->struct_size,
	                offsetof(struct vs_filter_ops, get_size), sizeof(*f));
	if (rc < 0)
		return rc;
	if (b ? !b->open || !b->close || !b->get_size || !b->get_caps || !b->submit ||
	        !b->description
	      : !f->open || !f->close || !f->submit || !f->description) {
		vs_set_error("%s '%s' lacks a required callback or its description", kind_name(kind),
		             ops_name(name));
		return -EINVAL;
	}
	if (f && (f->min_lower > f->max_lower || f->max_lower > BDEV_MAX_LAYERS)) {
		vs_set_error("filter '%s': min_lower/max_lower out of range", ops_name(name));
		return -EINVAL;
	}
	if (!vs_opts_name_ok(name)) {
		vs_set_error("name: '%s' is not a layer name (a-z, 0-9, '_', '-', at most 31)",
		             name ? name : "(null)");
		return -EINVAL;
	}
	/* a schema the loader could not apply consistently is refused now,
	 * not discovered when a user first sets the option */
	return vs_opts_schema_check(name, b ? b->options : f->options);
}

/* Enter types[ntypes] as a copy of t's table as this build knows it. */
static void add_locked(struct layer_type t)
{
	if (t.backend) {
		const struct vs_backend_ops *b = t.backend;

		memset(&ops_copy[ntypes].b, 0, sizeof(ops_copy[ntypes].b));
		memcpy(&ops_copy[ntypes].b, b, b->struct_size < sizeof(*b) ? b->struct_size
		                                                            : sizeof(*b));
		t.backend = &ops_copy[ntypes].b;
	} else {
		const struct vs_filter_ops *f = t.filter;

		memset(&ops_copy[ntypes].f, 0, sizeof(ops_copy[ntypes].f));
		memcpy(&ops_copy[ntypes].f, f, f->struct_size < sizeof(*f) ? f->struct_size
		                                                            : sizeof(*f));
		t.filter = &ops_copy[ntypes].f;
	}
	types[ntypes++] = t;
}

int vs_registry_add(const struct layer_type *batch, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		if ((rc = table_ok(&batch[i])) < 0)
			return rc;
	/* checked and entered under one lock: two loads racing for a name
	 * cannot both win, and a batch is entered whole or not at all */
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < n && rc == 0; i++) {
		int kind = kind_of(&batch[i]);
		const char *name = type_name(&batch[i]);
		const struct layer_type *old = find_locked(kind, name);

		for (size_t j = 0; j < i && !old; j++)
			if (kind_of(&batch[j]) == kind && strcmp(type_name(&batch[j]), name) == 0)
				old = &batch[j];
		if (old) {
			vs_set_error("%s '%s' is already registered (%s)", kind_name(kind), name,
			             old->origin);
			rc = -EEXIST;
		}
	}
	if (rc == 0 && ntypes + n > BDEV_MAX_TYPES) {
		vs_set_error("%s: too many layer types (at most %u)", type_name(&batch[0]),
		             BDEV_MAX_TYPES);
		rc = -ENOSPC;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		add_locked(batch[i]);
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

/*
 * While a plugin is being loaded on this thread (plugin.c), its
 * constructors run: a registration from inside one would be entered as
 * "built-in", escape the all-or-nothing check, and stay behind if the
 * object is unloaded.  It is refused (without the abort a built-in's
 * refusal gets), noted, and the load fails.
 */
static _Thread_local bool in_plugin_load;
static _Thread_local bool plugin_self_registered;

void vs_registry_plugin_load_begin(void)
{
	in_plugin_load = true;
	plugin_self_registered = false;
}

bool vs_registry_plugin_load_end(void)
{
	in_plugin_load = false;
	return plugin_self_registered;
}

static int register_one(struct layer_type t, const char *origin)
{
	if (!t.backend && !t.filter) {
		vs_set_error("register: ops is NULL");
		return -EINVAL;
	}
	if (in_plugin_load) {
		plugin_self_registered = true;
		vs_set_error("register: refused while a plugin is being loaded");
		return -EPERM;
	}
	t.origin = origin ? origin : "built-in";
	return vs_registry_add(&t, 1);
}

int vs_backend_register(const struct vs_backend_ops *ops, const char *origin)
{
	return register_one((struct layer_type){ .backend = ops }, origin);
}

int vs_filter_register(const struct vs_filter_ops *ops, const char *origin)
{
	return register_one((struct layer_type){ .filter = ops }, origin);
}

/* A built-in table the registry refuses is a bug in the program: abort.
 * Not from inside a plugin being loaded: that plugin is refused instead. */
void vs_backend_register_builtin(const struct vs_backend_ops *ops)
{
	if (vs_backend_register(ops, NULL) < 0 && !in_plugin_load) {
		fprintf(stderr, "vstor: built-in backend: %s\n", vs_last_error());
		abort();
	}
}

void vs_filter_register_builtin(const struct vs_filter_ops *ops)
{
	if (vs_filter_register(ops, NULL) < 0 && !in_plugin_load) {
		fprintf(stderr, "vstor: built-in filter: %s\n", vs_last_error());
		abort();
	}
}

void vs_registry_public(const struct layer_type *t, struct vs_layer_type *out)
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
	const struct layer_type *t = vs_registry_find(kind, name);

	if (t && out)
		vs_registry_public(t, out);
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
			vs_registry_public(&types[i], &all[n++]);
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

void vs_registry_unknown(int kind, const char *name)
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
	const struct layer_type *t = vs_registry_find(kind, name);
	struct vs_opts *o;

	if (!t) {
		vs_registry_unknown(kind, name);
		return -EINVAL;
	}
	o = vs_opts_parse(t, opts, nopts);
	if (!o)
		return -EINVAL;
	vs_opts_free(o);
	return 0;
}
