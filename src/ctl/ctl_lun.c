/* SPDX-License-Identifier: MIT */
/*
 * lun.add / lun.remove / lun.resize / lun.list: LUN arrival and departure
 * at run time (Storport's BusChangeDetected).  The port raises REPORTED
 * LUNS DATA HAS CHANGED on every I_T nexus when the LUN set changes (SPC-4
 * 6.37 / SAM-5 5.14) and vdisk raises CAPACITY DATA HAS CHANGED on a resize
 * (SBC-3 4.6); this file only validates, applies and keeps the model.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_int.h"
#include "vstor/bdev.h"
#include "vstor/port.h"
#include "vstor/service_host.h"

/*
 * Which field of the LUN's description an error of layer `layer` (counted
 * from the top of the stack in pre-order: its filters, then the backend or
 * the volume and its legs) is about.  Layers name the option that failed
 * first ("path: cannot open ..."): "path", "options.KEY" for a backend
 * option given under "options", "filters[1].iops",
 * "volume.legs[1].path"; a message that names no option of that layer
 * points at the layer itself ("backend", "filters[1]", "volume",
 * "volume.legs[1].backend").
 */
const char *vs_ctl_lun_error_field(const struct vs_config_lun *l, int layer, const char *why,
                                char *field, size_t len, const char **rest)
{
	const char *colon = strstr(why, ": ");
	size_t flen = colon ? (size_t)(colon - why) : 0;
	struct vs_config_lun *ml = (struct vs_config_lun *)l;    /* the walk only reads */
	struct ctl_layer cl;
	struct vs_layer_type t;
	char name[64] = "";

	if (flen && flen < sizeof(name))
		snprintf(name, sizeof(name), "%.*s", (int)flen, why);
	if (layer < 0 && *name && (!strcmp(name, "block_size") || !strcmp(name, "serial") ||
	                           !strcmp(name, "physical_block_size") || !strcmp(name, "lun"))) {
		/* the disk's own fields, as vdisk and the port name them */
		snprintf(field, len, "%s", name);
		*rest = colon + 2;
		return field;
	}
	if (!vs_ctl_stack_layer(&ml->stack, true, layer < 0 ? l->nfilters : (size_t)layer, &cl)) {
		snprintf(field, len, "%s", l->volume ? "volume" : "backend");
		*rest = why;
		return field;
	}
	for (size_t i = 0; *name && i < *cl.n; i++) {
		if (strcmp((*cl.kv)[i].key, name) == 0) {
			vs_ctl_layer_option_field(&cl, name, (*cl.kv)[i].in_options, field, len);
			*rest = colon + 2;
			return field;
		}
	}
	if (*name && vs_layer_type_find(cl.kind, cl.name, &t) && vs_layer_type_option(&t, name)) {
		vs_ctl_layer_option_field(&cl, name, false, field, len);
		*rest = colon + 2;
		return field;
	}
	snprintf(field, len, "%s", cl.self);
	*rest = why;
	return field;
}

static void field_error(struct ctl_call *c, int code, const struct vs_config_lun *l, int layer,
                        const char *why)
{
	char field[160];
	const char *rest;
	vs_ctl_lun_error_field(l, layer, why, field, sizeof(field), &rest);
	vs_ctl_fail(c, code, "params.%s: %s", field, rest);
}

/* Every option of type path must be absolute (vs_ctl_check_abs_path). */
static int abs_path_layer(void *ctx, struct ctl_layer *cl)
{
	struct ctl_call *c = ctx;
	struct vs_layer_type t;

	if (!vs_layer_type_find(cl->kind, cl->name, &t))
		return 0;
	for (size_t k = 0; k < *cl->n; k++) {
		const struct vs_config_kv *kv = &(*cl->kv)[k];
		const struct vs_opt_desc *d = vs_layer_type_option(&t, kv->key);
		char field[2 * CTL_FIELD_MAX];

		if (!d || d->type != VS_OPT_PATH)
			continue;
		vs_ctl_layer_option_field(cl, kv->key, kv->in_options, field, sizeof(field));
		if (vs_ctl_check_abs_path(c, field, kv->value) < 0)
			return -1;
	}
	return 0;
}

static int check_abs_paths(struct ctl_call *c, struct vs_config_stack *st, bool lun)
{
	return vs_ctl_stack_walk(st, lun, abs_path_layer, c) ? -1 : 0;
}

static int lun_query(struct vs_port *port, uint64_t lun, struct vs_lun_info *info)
{
	return vs_port_lun_control(port, lun, VS_LUN_QUERY, info);
}

/* A layer's run-time state (vs_bdev_layer_state) as a JSON object. */
static void state_kv(void *ctx, const char *key, const char *value)
{
	json_object_set_new(ctx, key, json_string(value));
}

struct states {
	struct vs_bdev *bdev;
	json_t *arr;
};

static int layer_state(void *ctx, struct ctl_layer *cl)
{
	struct states *s = ctx;
	json_t *o = json_object();

	if (!o)
		return 0;
	vs_bdev_layer_state(s->bdev, cl->index, state_kv, o);
	if (json_object_size(o) == 0) {
		json_decref(o);
		return 0;
	}
	json_object_set_new(o, "layer", json_string(cl->self));
	json_object_set_new(o, "type", json_string(cl->name));
	json_array_append_new(s->arr, o);
	return 0;
}

/* "layers": the layers that tell a state of their own (a mirror: in sync,
 * degraded, resyncing N%; its legs), and the volume's in "volume_state". */
static void add_layer_states(json_t *o, const struct vs_config_lun *l)
{
	struct states s = { l->bdev, json_array() };

	if (!s.arr)
		return;
	vs_ctl_stack_walk((struct vs_config_stack *)&l->stack, true, layer_state, &s);
	for (size_t i = 0; i < json_array_size(s.arr); i++) {
		json_t *e = json_array_get(s.arr, i);

		if (!strcmp(json_string_value(json_object_get(e, "layer")), "volume") &&
		    json_object_get(e, "state"))
			json_object_set(o, "volume_state", json_object_get(e, "state"));
	}
	if (json_array_size(s.arr))
		json_object_set_new(o, "layers", s.arr);
	else
		json_decref(s.arr);
}

const char *vs_ctl_bdev_state_name(int state)
{
	static const char *const names[] = { "connected", "reconnecting", "failed" };

	return names[state >= 0 && state <= 2 ? state : 2];
}

static json_t *lun_json(const char *iqn, const struct vs_config_lun *l, struct vs_port *port)
{
	struct vs_lun_info info;
	char human[32];
	if (lun_query(port, l->lun, &info) < 0) {
		/* The model and the port always agree; say so if they do not. */
		memset(&info, 0, sizeof(info));
		snprintf(info.backend, sizeof(info.backend), "%s", l->backend ? l->backend : "");
	}
	vs_ctl_human_size(info.size_bytes, human, sizeof(human));
	/* over a volume: the first leg's backend, as vs_bdev_backend_name */
	json_t *o = json_pack("{s:s,s:I,s:s,s:I,s:s,s:i,s:b,s:s,s:s?}", "target", iqn, "lun",
	                      (json_int_t)l->lun, "backend", l->backend ? l->backend : info.backend,
	                      "size",
	                      (json_int_t)info.size_bytes, "size_human", human, "block_size",
	                      (int)info.block_size, "readonly", info.readonly, "serial", info.serial,
	                      "path", vs_config_lun_opt(l, "path"));
	json_t *filters = json_array();

	for (size_t i = 0; filters && i < l->nfilters; i++)
		json_array_append_new(filters, json_string(l->filters[i].name));
	if (!o || !filters) {
		json_decref(o);
		json_decref(filters);
		return NULL;
	}
	json_object_set_new(o, "filters", filters);
	if (l->volume)
		json_object_set_new(o, "volume", json_string(l->volume->type));
	if (l->bdev)
		add_layer_states(o, l);
	if (l->bdev) {
		/* what the stack's events made of the resource (vstor/bdev.h) */
		struct vs_bdev_status bs;

		vs_bdev_get_status(l->bdev, &bs);
		json_object_set_new(o, "stack", json_string(vs_bdev_name(l->bdev)));
		json_object_set_new(o, "state", json_string(vs_ctl_bdev_state_name(bs.state)));
		if (bs.since)
			json_object_set_new(o, "state_since", json_integer((json_int_t)bs.since));
		char human[64];
		if (bs.state == VS_BDEV_LOST) {
			struct tm tm;
			time_t since = (time_t)bs.since;

			localtime_r(&since, &tm);
			strftime(human, sizeof(human), "reconnecting since %H:%M:%S", &tm);
		} else {
			snprintf(human, sizeof(human), "%s", vs_ctl_bdev_state_name(bs.state));
		}
		json_object_set_new(o, "state_human", json_string(human));
		if (bs.why[0])
			json_object_set_new(o, "state_why", json_string(bs.why));
	}
	return o;
}

json_t *vs_ctl_lun_add(struct ctl_call *c)
{
	struct vs_ctl_state *st = c->st;
	size_t ti;
	if (vs_ctl_find_target(c, "target", &ti) < 0)
		return NULL;

	/* The LUN object is checked by the config file's own rules. */
	json_t *obj = json_deep_copy(c->params);
	if (!obj)
		return vs_ctl_fail(c, VS_CTL_INTERNAL, "lun.add: out of memory");
	json_object_del(obj, "target");
	struct vs_config_lun l;
	char err[VS_CTL_MSG_MAX];
	int rc = vs_config_parse_lun(obj, "params", &l, err, sizeof(err));
	json_decref(obj);
	if (rc < 0)
		return vs_ctl_fail(c, VS_CTL_INVALID_PARAMS, "%s", err);
	if (check_abs_paths(c, &l.stack, true) < 0) {
		vs_config_lun_free(&l);
		return NULL;
	}

	struct vs_config_target *t = &st->cfg->targets[ti];
	if (vs_ctl_find_lun(t, l.lun) >= 0) {
		vs_ctl_fail(c, VS_CTL_EXISTS, "params.lun: LUN %" PRIu64 " already exists on %s", l.lun,
		         t->iqn);
		vs_config_lun_free(&l);
		return NULL;
	}
	/* Room in the model first, so nothing can fail after the LUN is live. */
	struct vs_config_lun *luns = realloc(t->luns, (t->nluns + 1) * sizeof(*luns));
	if (!luns) {
		vs_config_lun_free(&l);
		return vs_ctl_fail(c, VS_CTL_INTERNAL, "lun.add: out of memory");
	}
	t->luns = luns;

	uint64_t bytes = 0;
	int layer;
	rc = vs_ctl_lun_attach(st, st->rt[ti].port, t->iqn, &l, &bytes, &layer, err, sizeof(err));
	if (rc < 0) {
		field_error(c, rc == -EEXIST ? VS_CTL_EXISTS : rc == -ENOMEM ? VS_CTL_INTERNAL
		                                             : VS_CTL_FAILED,
		            &l, layer, err);
		vs_config_lun_free(&l);
		return NULL;
	}
	/* Keep the model sorted by LUN number: lists and saved files read in
	 * order. */
	size_t at = 0;
	while (at < t->nluns && t->luns[at].lun < l.lun)
		at++;
	memmove(&t->luns[at + 1], &t->luns[at], (t->nluns - at) * sizeof(*luns));
	t->luns[at] = l;
	t->nluns++;
	return lun_json(t->iqn, &t->luns[at], st->rt[ti].port);
}

/* A LUN a service attached (not in the model), by target and number. */
static bool service_lun(struct vs_ctl_state *st, const char *iqn, uint64_t lun)
{
	size_t n = 0;
	struct vs_svc_lun_info *v = vs_ctl_service_luns(st, &n);
	bool found = false;

	for (size_t i = 0; i < n && !found; i++)
		found = v[i].lun == lun && strcasecmp(v[i].target, iqn) == 0;
	free(v);
	return found;
}

/* params.lun of params.target → index in the model (NOT_FOUND if none;
 * *li = SIZE_MAX and 0 returned for a service's LUN when svc_ok). */
static int find_lun_or_service(struct ctl_call *c, size_t *ti, size_t *li, bool svc_ok)
{
	uint64_t lun = 0;
	if (vs_ctl_find_target(c, "target", ti) < 0 || vs_ctl_param_lun(c, "lun", true, NULL, &lun) < 0)
		return -1;
	const struct vs_config_target *t = &c->st->cfg->targets[*ti];
	ssize_t i = vs_ctl_find_lun(t, lun);
	if (i < 0 && service_lun(c->st, t->iqn, lun)) {
		if (svc_ok) {
			*li = SIZE_MAX;
			return 0;
		}
		return vs_ctl_bad(c, VS_CTL_FAILED, "params.lun: LUN %" PRIu64 " of %s belongs to a "
		               "service; only its service changes it (see service.list)", lun, t->iqn);
	}
	if (i < 0)
		return vs_ctl_bad(c, VS_CTL_NOT_FOUND, "params.lun: no LUN %" PRIu64 " on %s (see lun.list)",
		               lun, t->iqn);
	*li = (size_t)i;
	return 0;
}

static int find_lun(struct ctl_call *c, size_t *ti, size_t *li)
{
	return find_lun_or_service(c, ti, li, false);
}

/*
 * Without force a LUN is refused while initiators are using it: a logged-in
 * initiator (I_T nexus) that has sent the LUN commands (the port keeps
 * that record per nexus; one that never touched the LUN does not hold it),
 * any command outstanding, or reservations held (the port asks the
 * miniport).  The message says which.  With force, new commands get
 * LOGICAL UNIT NOT SUPPORTED, outstanding ones are aborted and complete
 * exactly once, the backend is flushed and closed.
 */
json_t *vs_ctl_lun_remove(struct ctl_call *c)
{
	static const char *const keys[] = { "target", "lun", "force", NULL };
	struct vs_ctl_state *st = c->st;
	size_t ti, li;
	bool force = false;
	if (vs_ctl_check_keys(c, keys) < 0 || find_lun_or_service(c, &ti, &li, true) < 0 ||
	    vs_ctl_param_bool(c, "force", &force) < 0)
		return NULL;
	struct vs_config_target *t = &st->cfg->targets[ti];
	uint64_t lun = 0;
	if (li == SIZE_MAX)
		(void)vs_ctl_param_lun(c, "lun", true, NULL, &lun);        /* a service's */
	else
		lun = t->luns[li].lun;
	if (vs_ctl_nbd_in_use(c, t->iqn, (int64_t)lun))
		return NULL;
	int users = vs_port_lun_users(st->rt[ti].port, lun);
	if (users > 0 && !force)
		return vs_ctl_fail(c, VS_CTL_BUSY,
		                "lun.remove: LUN %" PRIu64 " of %s is in use (%d logged-in initiator%s "
		                "used it); use force",
		                lun, t->iqn, users, users == 1 ? " has" : "s have");
	int rc = vs_port_lun_remove(st->rt[ti].port, lun, force);
	if (rc == -EBUSY)
		return vs_ctl_fail(c, VS_CTL_BUSY, "lun.remove: LUN %" PRIu64 " of %s is in use (%s); use force",
		                lun, t->iqn,
		                strstr(vs_last_error(), "reservation") ? "reservations held"
		                                                       : "commands in flight");
	if (rc < 0 && rc != -EIO)
		return vs_ctl_fail(c, VS_CTL_FAILED, "lun.remove: LUN %" PRIu64 " of %s: %s", lun, t->iqn,
		                vs_last_error());
	/* -EIO: the LUN is gone all the same, so the model follows, but the
	 * caller must hear that what it wrote may not be on stable storage. */
	char why[VS_CTL_MSG_MAX] = "";
	if (rc == -EIO) {
		/* the port says "lun: N removed, but <what went wrong>" */
		const char *e = vs_last_error(), *but = strstr(e, "removed, but ");
		snprintf(why, sizeof(why), "%s", but ? but + 13 : e);
	}
	if (li != SIZE_MAX) {
		/* a service's LUN is not in the model; the proxy told its
		 * service it is gone */
		vs_config_lun_free(&t->luns[li]);
		memmove(&t->luns[li], &t->luns[li + 1], (t->nluns - li - 1) * sizeof(*t->luns));
		t->nluns--;
	}
	if (rc == -EIO)
		return vs_ctl_fail(c, VS_CTL_FAILED, "lun.remove: LUN %" PRIu64 " of %s was removed, but %s",
		                lun, t->iqn, why);
	return json_pack("{s:s,s:I,s:b}", "target", t->iqn, "lun", (json_int_t)lun, "forced", force);
}

json_t *vs_ctl_lun_resize(struct ctl_call *c)
{
	static const char *const keys[] = { "target", "lun", "size", "force", NULL };
	struct vs_ctl_state *st = c->st;
	size_t ti, li;
	bool force = false;
	uint64_t size = 0;
	if (vs_ctl_check_keys(c, keys) < 0 || find_lun(c, &ti, &li) < 0 ||
	    vs_ctl_param_size(c, "size", true, &size) < 0 || vs_ctl_param_bool(c, "force", &force) < 0)
		return NULL;
	struct vs_config_target *t = &st->cfg->targets[ti];
	struct vs_config_lun *l = &t->luns[li];
	struct vs_port *port = st->rt[ti].port;
	struct vs_lun_info info;
	if (lun_query(port, l->lun, &info) < 0)
		return vs_ctl_fail(c, VS_CTL_FAILED, "lun.resize: LUN %" PRIu64 " of %s: %s", l->lun, t->iqn,
		                vs_last_error());
	if (size % info.block_size)
		return vs_ctl_fail(c, VS_CTL_INVALID_PARAMS,
		                "params.size: %" PRIu64 " bytes is not a multiple of the block size (%" PRIu32
		                ")",
		                size, info.block_size);
	char from[32], to[32];
	vs_ctl_human_size(info.size_bytes, from, sizeof(from));
	vs_ctl_human_size(size, to, sizeof(to));
	/* Shrinking cuts off data an initiator may still use: without force
	 * only if nothing is stored past the new end (the backend's
	 * allocation map says so; one that cannot tell counts as data). */
	if (size < info.size_bytes && !force) {
		struct vs_lun_mapped q = { .from_lba = size / info.block_size };
		if (vs_port_lun_control(port, l->lun, VS_LUN_FIRST_MAPPED, &q) < 0)
			return vs_ctl_fail(c, VS_CTL_BUSY,
			                "params.size: shrinking from %s to %s: cannot tell whether data would "
			                "be cut off (%s); use --force",
			                from, to, vs_last_error());
		if (q.found)
			return vs_ctl_fail(c, VS_CTL_BUSY,
			                "params.size: shrinking from %s to %s would cut off data at LBA %" PRIu64
			                "; use --force",
			                from, to, q.lba);
	}
	if (size != info.size_bytes) {
		int rc = vs_port_lun_control(port, l->lun, VS_LUN_RESIZE, &size);
		if (rc < 0) {
			char why[VS_CTL_MSG_MAX];
			snprintf(why, sizeof(why), "%s", vs_last_error());
			/* "resize: backend ram cannot change size" and the like name
			 * no field of the request: the size is what was refused. */
			if (strncmp(why, "resize: ", 8) == 0)
				return vs_ctl_fail(c, VS_CTL_FAILED, "params.size: %s", why + 8);
			field_error(c, VS_CTL_FAILED, l, (int)l->nfilters, why);
			if (strncmp(c->msg, "params.backend: ", 16) == 0)
				vs_ctl_fail(c, VS_CTL_FAILED, "params.size: %s", why);
			return NULL;
		}
		/* A LUN without a size (a file's own) takes the resource's, which
		 * now is the new one; one that records its size records this. */
		if (vs_config_lun_opt(l, "size")) {
			char sz[32];

			vs_config_format_size(size, sz, sizeof(sz));
			if (vs_config_lun_set_opt(l, "size", sz) < 0)
				return vs_ctl_fail(c, VS_CTL_INTERNAL, "lun.resize: out of memory (the LUN "
				                "was resized; config.save would write the old size)");
		}
	}
	return json_pack("{s:s,s:I,s:I,s:I}", "target", t->iqn, "lun", (json_int_t)l->lun, "old_size",
	                 (json_int_t)info.size_bytes, "size", (json_int_t)size);
}

json_t *vs_ctl_lun_list(struct ctl_call *c)
{
	static const char *const keys[] = { "target", NULL };
	struct vs_ctl_state *st = c->st;
	size_t only = 0;
	bool one = json_object_get(c->params, "target") != NULL;
	if (vs_ctl_check_keys(c, keys) < 0 || (one && vs_ctl_find_target(c, "target", &only) < 0))
		return NULL;
	json_t *arr = json_array();
	size_t ns = 0;
	struct vs_svc_lun_info *svc = vs_ctl_service_luns(st, &ns);
	for (size_t ti = 0; arr && ti < st->cfg->ntargets; ti++) {
		if (one && ti != only)
			continue;
		const struct vs_config_target *t = &st->cfg->targets[ti];
		size_t li = 0, k = 0;

		/* the model's LUNs and those services attached (ctl_service.c),
		 * both in LUN order, merged */
		for (;;) {
			while (k < ns && strcasecmp(svc[k].target, t->iqn) != 0)
				k++;
			bool model = li < t->nluns && (k == ns || t->luns[li].lun < svc[k].lun);
			if (!model && k == ns)
				break;
			json_t *o = model ? lun_json(t->iqn, &t->luns[li++], st->rt[ti].port)
			                  : vs_ctl_service_lun_json(&svc[k++]);
			if (!o || json_array_append_new(arr, o)) {
				json_decref(arr);
				free(svc);
				return NULL;
			}
		}
	}
	free(svc);
	return arr ? json_pack("{s:o}", "luns", arr) : NULL;
}

/* A JSON value of a run-time option as the text the layer's schema parses. */
static int opt_text(json_t *v, char *out, size_t len)
{
	if (json_is_string(v))
		snprintf(out, len, "%s", json_string_value(v));
	else if (json_is_integer(v) && json_integer_value(v) >= 0)
		snprintf(out, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_boolean(v))
		snprintf(out, len, "%s", json_is_true(v) ? "1" : "0");
	else
		return -1;
	return 0;
}

/* The layer params.layer names: the first in pre-order whose filter type
 * it is, "backend" (the LUN's own), or a layer's field path
 * ("volume", "volume.legs[1].filters[0]", "volume.legs[0].backend"). */
struct by_name {
	const char *want;
	struct ctl_layer *out;
};

static int layer_named(void *ctx, struct ctl_layer *cl)
{
	struct by_name *b = ctx;

	if (strcmp(cl->self, b->want) != 0 &&
	    !(cl->kind == VS_LAYER_FILTER && strcmp(cl->name, b->want) == 0) &&
	    !(cl->lun_backend && strcmp(b->want, "backend") == 0))
		return 0;
	*b->out = *cl;
	return 1;
}

/*
 * lun.set_options: change run-time options of one layer of a LUN's stack
 * (a throttle's limits, an error filter switched off, a mirror's resync
 * rate) while initiators use it.  params.layer: a filter's name (its first
 * one in the stack), "backend", or a layer's field path such as
 * "volume.legs[1].filters[0]".  All or nothing, checked by the layer's
 * schema; the model follows, so config.save keeps the new values.
 */
json_t *vs_ctl_lun_set_options(struct ctl_call *c)
{
	static const char *const keys[] = { "target", "lun", "layer", "options", NULL };
	struct vs_ctl_state *st = c->st;
	const char *layer = NULL;
	struct vs_kv kv[64];
	char text[64][256];
	size_t ti, li, n = 0;
	const char *key;
	json_t *opts, *v;
	struct ctl_layer cl;
	struct by_name want = { NULL, &cl };

	if (vs_ctl_check_keys(c, keys) < 0 || find_lun(c, &ti, &li) < 0 ||
	    vs_ctl_param_str(c, "layer", true, CTL_FIELD_MAX - 1, &layer) < 0)
		return NULL;
	struct vs_config_lun *l = &st->cfg->targets[ti].luns[li];
	want.want = layer;
	if (vs_ctl_stack_walk(&l->stack, true, layer_named, &want) != 1)
		return vs_ctl_fail(c, VS_CTL_NOT_FOUND, "params.layer: LUN %" PRIu64 " has no filter "
		                "\"%s\" (its stack: %s)", l->lun, layer,
		                l->bdev ? vs_bdev_name(l->bdev) : l->backend ? l->backend : "volume");
	opts = json_object_get(c->params, "options");
	if (!json_is_object(opts) || json_object_size(opts) == 0)
		return vs_ctl_fail(c, VS_CTL_INVALID_PARAMS, "params.options: must be an object with at "
		                "least one option");
	if (json_object_size(opts) > sizeof(kv) / sizeof(kv[0]))
		return vs_ctl_fail(c, VS_CTL_INVALID_PARAMS, "params.options: too many");
	json_object_foreach(opts, key, v) {
		if (opt_text(v, text[n], sizeof(text[n])) < 0)
			return vs_ctl_fail(c, VS_CTL_INVALID_PARAMS, "params.options.%.64s: must be a string, "
			                "a number or true/false", key);
		kv[n] = (struct vs_kv){ key, text[n] };
		n++;
	}
	if (!l->bdev)
		return vs_ctl_fail(c, VS_CTL_INTERNAL, "lun.set_options: LUN %" PRIu64 " has no open stack",
		                l->lun);
	if (vs_bdev_set_options(l->bdev, cl.index, kv, n) < 0) {
		const char *why = vs_last_error(), *colon = strstr(why, ": ");

		/* the layer names the option first */
		if (colon && (size_t)(colon - why) < 64) {
			char field[64];

			snprintf(field, sizeof(field), "%.*s", (int)(colon - why), why);
			if (json_object_get(opts, field))
				return vs_ctl_fail(c, VS_CTL_INVALID_PARAMS, "params.options.%s: %s", field,
				                colon + 2);
		}
		return vs_ctl_fail(c, VS_CTL_INVALID_PARAMS, "params.layer: %s", why);
	}
	for (size_t i = 0; i < n; i++) {
		if (vs_config_kv_set(cl.kv, cl.n, kv[i].key, kv[i].value) < 0)
			return vs_ctl_fail(c, VS_CTL_INTERNAL, "lun.set_options: out of memory (the change "
			                "took effect; config.save would write the old values)");
	}
	return json_pack("{s:s,s:I,s:s,s:O}", "target", st->cfg->targets[ti].iqn, "lun",
	                 (json_int_t)l->lun, "layer", layer, "options", opts);
}

/* The first layer whose field path starts with `want`. */
struct prefix {
	char want[CTL_FIELD_MAX];
	size_t index;
};

static int first_with_prefix(void *ctx, struct ctl_layer *cl)
{
	struct prefix *p = ctx;

	if (strncmp(cl->self, p->want, strlen(p->want)) != 0)
		return 0;
	p->index = cl->index;
	return 1;
}

/*
 * lun.replace_leg: put a new stack in place of one leg of the LUN's
 * volume while initiators use it (params.leg: its index; params.stack: the
 * new leg, as in the config file).  The volume's filter decides whether it
 * can (a mirror copies the new leg in full, in the background; a leg that
 * is the only copy in sync is refused).  The model follows.
 */
json_t *vs_ctl_lun_replace_leg(struct ctl_call *c)
{
	static const char *const keys[] = { "target", "lun", "leg", "stack", NULL };
	struct vs_ctl_state *st = c->st;
	struct vs_config_stack leg;
	struct ctl_desc *desc;
	struct ctl_layer cl;
	char err[VS_CTL_MSG_MAX];
	size_t ti, li, vol;
	uint64_t idx = 0;
	bool has = false;
	int failed, rc;
	json_t *jleg;

	if (vs_ctl_check_keys(c, keys) < 0 || find_lun(c, &ti, &li) < 0 ||
	    vs_ctl_param_lun(c, "leg", true, &has, &idx) < 0)
		return NULL;
	struct vs_config_target *t = &st->cfg->targets[ti];
	struct vs_config_lun *l = &t->luns[li];
	if (!l->volume)
		return vs_ctl_fail(c, VS_CTL_INVALID_PARAMS, "params.lun: LUN %" PRIu64 " of %s is not "
		                "over a volume", l->lun, t->iqn);
	if (idx >= l->volume->nlegs)
		return vs_ctl_fail(c, VS_CTL_INVALID_PARAMS, "params.leg: the volume has %zu legs "
		                "(0-%zu)", l->volume->nlegs, l->volume->nlegs - 1);
	jleg = json_object_get(c->params, "stack");
	if (!jleg)
		return vs_ctl_fail(c, VS_CTL_INVALID_PARAMS, "params.stack: missing (required)");
	if (vs_config_parse_leg(jleg, "params.stack", &leg, err, sizeof(err)) < 0)
		return vs_ctl_fail(c, VS_CTL_INVALID_PARAMS, "%s", err);
	if (check_abs_paths(c, &leg, false) < 0) {
		vs_config_stack_free(&leg);
		return NULL;
	}
	if (!(desc = vs_ctl_stack_desc(&leg))) {
		vs_config_stack_free(&leg);
		return vs_ctl_fail(c, VS_CTL_INTERNAL, "lun.replace_leg: out of memory");
	}
	vol = l->nfilters;      /* the volume's layer: right under the LUN's filters */
	rc = l->bdev ? vs_bdev_replace_lower(l->bdev, vol, (size_t)idx, &desc->top, &failed)
	             : -ENODEV;
	vs_ctl_stack_desc_free(desc);
	if (rc < 0) {
		const char *why = l->bdev ? vs_last_error() : "the LUN has no open stack";

		if (failed >= 0 && vs_ctl_stack_layer(&leg, false, (size_t)failed, &cl)) {
			const char *colon = strstr(why, ": ");
			char name[64] = "", field[2 * CTL_FIELD_MAX];

			if (colon && colon - why < 64)
				snprintf(name, sizeof(name), "%.*s", (int)(colon - why), why);
			for (size_t i = 0; *name && i < *cl.n; i++)
				if (!strcmp((*cl.kv)[i].key, name)) {
					vs_ctl_layer_option_field(&cl, name, false, field, sizeof(field));
					vs_ctl_fail(c, VS_CTL_FAILED, "params.stack%s%s: %s", *field ? "." : "",
					         field, colon + 2);
					vs_config_stack_free(&leg);
					return NULL;
				}
			vs_ctl_fail(c, VS_CTL_FAILED, "params.stack.%s: %s", cl.self, why);
		} else {
			const char *colon = strstr(why, ": ");

			/* the volume's own refusal: "leg: ..." */
			if (colon && !strncmp(why, "leg: ", 5))
				vs_ctl_fail(c, rc == -EBUSY ? VS_CTL_BUSY : VS_CTL_FAILED, "params.%s", why);
			else
				vs_ctl_fail(c, rc == -EBUSY ? VS_CTL_BUSY : VS_CTL_FAILED, "params.leg: %s",
				         why);
		}
		vs_config_stack_free(&leg);
		return NULL;
	}
	/* the model follows: the new leg, and what its layers learned */
	vs_config_stack_free(&l->volume->legs[idx]);
	l->volume->legs[idx] = leg;
	struct prefix p = { .index = SIZE_MAX };
	snprintf(p.want, sizeof(p.want), "volume.legs[%" PRIu64 "].", idx);
	vs_ctl_stack_walk(&l->stack, true, first_with_prefix, &p);
	if (p.index != SIZE_MAX &&
	    vs_ctl_stack_learn(l->bdev, &l->volume->legs[idx], false, p.index) < 0)
		return vs_ctl_fail(c, VS_CTL_INTERNAL, "lun.replace_leg: out of memory (the leg was "
		                "replaced; config.save may miss what it learned)");
	return lun_json(t->iqn, l, st->rt[ti].port);
}

static const char *opt_type_name(uint8_t type)
{
	static const char *const names[] = { "", "string", "bool", "uint", "size", "rate",
	                                     "duration", "path", "enum" };

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

static json_t *type_json(const struct vs_layer_type *t)
{
	json_t *opts = json_array();
	json_t *o = json_pack("{s:s,s:s,s:s}", "name", t->name, "description", t->description,
	                      "origin", t->origin);

	for (const struct vs_opt_desc *d = t->options; opts && d && d->name; d++) {
		json_t *od = json_pack("{s:s,s:s,s:b,s:b,s:s}", "name", d->name, "type",
		                       opt_type_name(d->type), "required",
		                       (d->flags & VS_OPT_REQUIRED) != 0, "runtime",
		                       (d->flags & VS_OPT_RUNTIME) != 0, "help", d->help);

		if (od && d->dflt)
			json_object_set_new(od, "default", json_string(d->dflt));
		if (od && d->choices) {
			json_t *ch = json_array();

			for (const char *const *x = d->choices; ch && *x; x++)
				json_array_append_new(ch, json_string(*x));
			json_object_set_new(od, "choices", ch);
		}
		json_array_append_new(opts, od);
	}
	if (!o || !opts) {
		json_decref(o);
		json_decref(opts);
		return NULL;
	}
	json_object_set_new(o, "options", opts);
	return o;
}

/* layer.list: every backend and filter this daemon knows, with its options
 * as its schema says (built in or loaded from a plugin). */
json_t *vs_ctl_layer_list(struct ctl_call *c)
{
	static const char *const keys[] = { NULL };
	struct vs_layer_type types[64];
	size_t n;
	json_t *b = json_array(), *f = json_array();

	if (vs_ctl_check_keys(c, keys) < 0) {
		json_decref(b);
		json_decref(f);
		return NULL;
	}
	n = vs_layer_types(0, types, 64);
	for (size_t i = 0; b && f && i < n && i < 64; i++)
		json_array_append_new(types[i].kind == VS_LAYER_BACKEND ? b : f, type_json(&types[i]));
	return b && f ? json_pack("{s:o,s:o}", "backends", b, "filters", f) : NULL;
}
