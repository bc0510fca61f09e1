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

#include "ctl_int.h"
#include "vstor/port.h"

/* Parameters of lun.add besides the LUN object's own keys. */
static const char *const lun_param_names[] = { "lun", "backend", "path", "size", "block_size",
	                                       "create", "direct", "readonly", "serial",
	                                       "removable", "physical_block_size", NULL };

static bool is_lun_param(const char *s, size_t n)
{
	for (const char *const *k = lun_param_names; *k; k++)
		if (strlen(*k) == n && strncmp(*k, s, n) == 0)
			return true;
	return false;
}

/*
 * Backends and the port name the option that failed ("file: path: cannot
 * open ...", "lun: 1024 out of range ..."); say which field of the LUN's
 * description that is, so the user knows what to change: "path",
 * "options.KEY", or "backend" when the message names none.  *rest is the
 * message without the name.
 */
const char *ctl_lun_error_field(const struct vs_config_lun *l, const char *why, char *field,
                                size_t len, const char **rest)
{
	const char *p = why, *colon = strstr(p, ": ");
	/* Skip a leading "BACKEND: ". */
	if (colon && l && l->backend && (size_t)(colon - p) == strlen(l->backend) &&
	    strncmp(p, l->backend, (size_t)(colon - p)) == 0) {
		p = colon + 2;
		colon = strstr(p, ": ");
	}
	if (colon && is_lun_param(p, (size_t)(colon - p))) {
		snprintf(field, len, "%.*s", (int)(colon - p), p);
		*rest = colon + 2;
		return field;
	}
	for (size_t i = 0; colon && l && i < l->noptions; i++) {
		if (strlen(l->options[i].key) == (size_t)(colon - p) &&
		    strncmp(p, l->options[i].key, (size_t)(colon - p)) == 0) {
			snprintf(field, len, "options.%.*s", (int)(colon - p), p);
			*rest = colon + 2;
			return field;
		}
	}
	snprintf(field, len, "backend");
	*rest = why;
	return field;
}

static void field_error(struct ctl_call *c, int code, const struct vs_config_lun *l,
                        const char *why)
{
	char field[96];
	const char *rest;
	ctl_lun_error_field(l, why, field, sizeof(field), &rest);
	ctl_fail(c, code, "params.%s: %s", field, rest);
}

static int lun_query(struct vs_port *port, uint64_t lun, struct vs_lun_info *info)
{
	return vs_port_lun_control(port, lun, VS_LUN_QUERY, info);
}

static json_t *lun_json(const char *iqn, const struct vs_config_lun *l, struct vs_port *port)
{
	struct vs_lun_info info;
	char human[32];
	if (lun_query(port, l->lun, &info) < 0) {
		/* The model and the port always agree; say so if they do not. */
		memset(&info, 0, sizeof(info));
		snprintf(info.backend, sizeof(info.backend), "%s", l->backend);
	}
	vs_ctl_human_size(info.size_bytes, human, sizeof(human));
	return json_pack("{s:s,s:I,s:s,s:I,s:s,s:i,s:b,s:s,s:s?}", "target", iqn, "lun",
	                 (json_int_t)l->lun, "backend", l->backend, "size", (json_int_t)info.size_bytes,
	                 "size_human", human, "block_size", (int)info.block_size, "readonly",
	                 info.readonly, "serial", info.serial, "path", l->path);
}

json_t *ctl_lun_add(struct ctl_call *c)
{
	struct vs_ctl_state *st = c->st;
	size_t ti;
	if (ctl_find_target(c, "target", &ti) < 0)
		return NULL;

	/* The LUN object is checked by the config file's own rules. */
	json_t *obj = json_deep_copy(c->params);
	if (!obj)
		return ctl_fail(c, VS_CTL_INTERNAL, "lun.add: out of memory");
	json_object_del(obj, "target");
	struct vs_config_lun l;
	char err[VS_CTL_MSG_MAX];
	int rc = vs_config_parse_lun(obj, "params", &l, err, sizeof(err));
	json_decref(obj);
	if (rc < 0)
		return ctl_fail(c, VS_CTL_INVALID_PARAMS, "%s", err);
	if (ctl_check_abs_path(c, "path", l.path) < 0) {
		vs_config_lun_free(&l);
		return NULL;
	}

	struct vs_config_target *t = &st->cfg->targets[ti];
	if (ctl_find_lun(t, l.lun) >= 0) {
		ctl_fail(c, VS_CTL_EXISTS, "params.lun: LUN %" PRIu64 " already exists on %s", l.lun,
		         t->iqn);
		vs_config_lun_free(&l);
		return NULL;
	}
	/* Room in the model first, so nothing can fail after the LUN is live. */
	struct vs_config_lun *luns = realloc(t->luns, (t->nluns + 1) * sizeof(*luns));
	if (!luns) {
		vs_config_lun_free(&l);
		return ctl_fail(c, VS_CTL_INTERNAL, "lun.add: out of memory");
	}
	t->luns = luns;

	uint64_t bytes = 0;
	rc = ctl_lun_attach(st->rt[ti].port, &l, &bytes, err, sizeof(err));
	if (rc < 0) {
		field_error(c, rc == -EEXIST ? VS_CTL_EXISTS : rc == -ENOMEM ? VS_CTL_INTERNAL
		                                             : VS_CTL_FAILED,
		            &l, err);
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

/* params.lun of params.target → index in the model (NOT_FOUND if none). */
static int find_lun(struct ctl_call *c, size_t *ti, size_t *li)
{
	uint64_t lun = 0;
	if (ctl_find_target(c, "target", ti) < 0 || ctl_param_lun(c, "lun", true, NULL, &lun) < 0)
		return -1;
	const struct vs_config_target *t = &c->st->cfg->targets[*ti];
	ssize_t i = ctl_find_lun(t, lun);
	if (i < 0)
		return ctl_bad(c, VS_CTL_NOT_FOUND, "params.lun: no LUN %" PRIu64 " on %s (see lun.list)",
		               lun, t->iqn);
	*li = (size_t)i;
	return 0;
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
json_t *ctl_lun_remove(struct ctl_call *c)
{
	static const char *const keys[] = { "target", "lun", "force", NULL };
	struct vs_ctl_state *st = c->st;
	size_t ti, li;
	bool force = false;
	if (ctl_check_keys(c, keys) < 0 || find_lun(c, &ti, &li) < 0 ||
	    ctl_param_bool(c, "force", &force) < 0)
		return NULL;
	struct vs_config_target *t = &st->cfg->targets[ti];
	uint64_t lun = t->luns[li].lun;
	int users = vs_port_lun_users(st->rt[ti].port, lun);
	if (users > 0 && !force)
		return ctl_fail(c, VS_CTL_BUSY,
		                "lun.remove: LUN %" PRIu64 " of %s is in use (%d logged-in initiator%s "
		                "used it); use force",
		                lun, t->iqn, users, users == 1 ? " has" : "s have");
	int rc = vs_port_lun_remove(st->rt[ti].port, lun, force);
	if (rc == -EBUSY)
		return ctl_fail(c, VS_CTL_BUSY, "lun.remove: LUN %" PRIu64 " of %s is in use (%s); use force",
		                lun, t->iqn,
		                strstr(vs_last_error(), "reservation") ? "reservations held"
		                                                       : "commands in flight");
	if (rc < 0 && rc != -EIO)
		return ctl_fail(c, VS_CTL_FAILED, "lun.remove: LUN %" PRIu64 " of %s: %s", lun, t->iqn,
		                vs_last_error());
	/* -EIO: the LUN is gone all the same, so the model follows, but the
	 * caller must hear that what it wrote may not be on stable storage. */
	char why[VS_CTL_MSG_MAX] = "";
	if (rc == -EIO) {
		/* the port says "lun: N removed, but <what went wrong>" */
		const char *e = vs_last_error(), *but = strstr(e, "removed, but ");
		snprintf(why, sizeof(why), "%s", but ? but + 13 : e);
	}
	vs_config_lun_free(&t->luns[li]);
	memmove(&t->luns[li], &t->luns[li + 1], (t->nluns - li - 1) * sizeof(*t->luns));
	t->nluns--;
	if (rc == -EIO)
		return ctl_fail(c, VS_CTL_FAILED, "lun.remove: LUN %" PRIu64 " of %s was removed, but %s",
		                lun, t->iqn, why);
	return json_pack("{s:s,s:I,s:b}", "target", t->iqn, "lun", (json_int_t)lun, "forced", force);
}

json_t *ctl_lun_resize(struct ctl_call *c)
{
	static const char *const keys[] = { "target", "lun", "size", "force", NULL };
	struct vs_ctl_state *st = c->st;
	size_t ti, li;
	bool force = false;
	uint64_t size = 0;
	if (ctl_check_keys(c, keys) < 0 || find_lun(c, &ti, &li) < 0 ||
	    ctl_param_size(c, "size", true, &size) < 0 || ctl_param_bool(c, "force", &force) < 0)
		return NULL;
	struct vs_config_target *t = &st->cfg->targets[ti];
	struct vs_config_lun *l = &t->luns[li];
	struct vs_port *port = st->rt[ti].port;
	struct vs_lun_info info;
	if (lun_query(port, l->lun, &info) < 0)
		return ctl_fail(c, VS_CTL_FAILED, "lun.resize: LUN %" PRIu64 " of %s: %s", l->lun, t->iqn,
		                vs_last_error());
	if (size % info.block_size)
		return ctl_fail(c, VS_CTL_INVALID_PARAMS,
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
			return ctl_fail(c, VS_CTL_BUSY,
			                "params.size: shrinking from %s to %s: cannot tell whether data would "
			                "be cut off (%s); use --force",
			                from, to, vs_last_error());
		if (q.found)
			return ctl_fail(c, VS_CTL_BUSY,
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
				return ctl_fail(c, VS_CTL_FAILED, "params.size: %s", why + 8);
			field_error(c, VS_CTL_FAILED, l, why);
			if (strncmp(c->msg, "params.backend: ", 16) == 0)
				ctl_fail(c, VS_CTL_FAILED, "params.size: %s", why);
			return NULL;
		}
		/* A file LUN without a size takes the file's, which now is the new
		 * one; every other LUN records it. */
		if (l->size)
			l->size = size;
	}
	return json_pack("{s:s,s:I,s:I,s:I}", "target", t->iqn, "lun", (json_int_t)l->lun, "old_size",
	                 (json_int_t)info.size_bytes, "size", (json_int_t)size);
}

json_t *ctl_lun_list(struct ctl_call *c)
{
	static const char *const keys[] = { "target", NULL };
	struct vs_ctl_state *st = c->st;
	size_t only = 0;
	bool one = json_object_get(c->params, "target") != NULL;
	if (ctl_check_keys(c, keys) < 0 || (one && ctl_find_target(c, "target", &only) < 0))
		return NULL;
	json_t *arr = json_array();
	for (size_t ti = 0; arr && ti < st->cfg->ntargets; ti++) {
		if (one && ti != only)
			continue;
		const struct vs_config_target *t = &st->cfg->targets[ti];
		for (size_t li = 0; li < t->nluns; li++) {
			json_t *o = lun_json(t->iqn, &t->luns[li], st->rt[ti].port);
			if (!o || json_array_append_new(arr, o)) {
				json_decref(arr);
				return NULL;
			}
		}
	}
	return arr ? json_pack("{s:o}", "luns", arr) : NULL;
}
