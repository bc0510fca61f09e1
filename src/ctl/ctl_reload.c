/* SPDX-License-Identifier: MIT */
/*
 * config.reload: make the running daemon what a (changed) configuration
 * file says, as the set of control-plane changes that turns one into the
 * other — the same methods vstorctl calls (target.add, lun.add, acl.add,
 * chap.set, lun.remove, target.remove ...), so the same validation and the
 * same refusals apply.  What vstord's systemd unit runs as ExecReload and
 * what SIGHUP does.
 *
 * A bad file changes nothing: it is loaded and checked in full first (the
 * loader's one-line error), then every removal is checked against use
 * before anything happens — a target with sessions, a LUN an initiator has
 * used (SAM-5's I_T nexus record, vs_port_lun_users) is refused unless
 * the file's "force_remove" names it.  Fields a running daemon cannot
 * change (portals, threads, iscsi, discovery_chap, metrics, and the nbd
 * section, whose exports only export.add/remove change) are refused
 * whole, and so is dropping a LUN an NBD export serves.  Then the changes run in an order that can be undone: additions
 * first (a LUN whose backend will not open undoes the additions before
 * it), then ACL and CHAP, then replacements and removals.  A replaced LUN
 * whose new definition fails to open is put back as it was.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_int.h"
#include "vstor/port.h"

struct reload {
	struct ctl_call *c;             /* the config.reload call: its error */
	const char *file;
	const struct vs_config *nc;     /* the file's configuration */
	json_t *changes;                /* what was done, one string each */
	json_t *undo;                   /* additions to take back on failure: [iqn, lun|null] */
};

/* ------------------------------------------------------------ comparing */

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool names_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static bool chap_eq(bool ha, const struct vs_config_chap *a, bool hb,
                    const struct vs_config_chap *b)
{
	return ha == hb && (!ha || (str_eq(a->user, b->user) && str_eq(a->secret, b->secret) &&
	                            str_eq(a->mutual_user, b->mutual_user) &&
	                            str_eq(a->mutual_secret, b->mutual_secret)));
}

/* Same name, alias and portals: the target can stay (its ACL, CHAP and
 * LUNs change in place); otherwise it is replaced. */
static bool target_same(const struct vs_config_target *a, const struct vs_config_target *b)
{
	return str_eq(a->alias, b->alias) && names_eq(a->portals, a->nportals, b->portals, b->nportals);
}

/* The object at path in a LUN's JSON ("", "filters[0]", "volume",
 * "volume.legs[1]", as ctl_layer.obj names it), or NULL. */
static json_t *json_at(json_t *root, const char *path)
{
	json_t *o = root;

	while (o && *path) {
		char name[CTL_FIELD_MAX];
		size_t n = strcspn(path, ".[");
		char *end;

		if (n >= sizeof(name))
			return NULL;
		memcpy(name, path, n);
		name[n] = 0;
		o = json_object_get(o, name);
		path += n;
		if (*path == '[') {
			unsigned long i = strtoul(path + 1, &end, 10);

			if (*end != ']')
				return NULL;
			o = json_array_get(o, i);
			path = end + 1;
		}
		if (*path == '.')
			path++;
	}
	return o;
}

struct unlearn {
	json_t *cur, *next;
};

/* A learned option of a layer of the running LUN (crypt's
 * key_fingerprint) that the new file does not name, out of cur's JSON. */
static int unlearn_layer(void *ctx, struct ctl_layer *l)
{
	struct unlearn *u = ctx;
	json_t *a = json_at(u->cur, l->obj), *b = json_at(u->next, l->obj);

	for (size_t i = 0; a && i < *l->n; i++) {
		const struct vs_config_kv *kv = &(*l->kv)[i];
		json_t *oa = kv->in_options ? json_object_get(a, "options") : a;
		json_t *ob = b && kv->in_options ? json_object_get(b, "options") : b;

		if (kv->learned && oa && !json_object_get(ob, kv->key))
			json_object_del(oa, kv->key);
	}
	return 0;
}

/* Both LUNs as config.save would write them, but for what a layer of the
 * running LUN learned at open and the new file leaves out: a file written
 * by hand (or saved before the LUN was added) names the same LUN, and
 * reloading it must not replace the LUN, which for a RAM disk would be a
 * new, empty one.  A learned option the file names with another value is
 * a change.  false: out of memory. */
static bool lun_json_pair(const struct vs_config_lun *cur, const struct vs_config_lun *next,
                          json_t **ja, json_t **jb)
{
	struct unlearn u;

	*ja = vs_config_lun_json(cur);
	*jb = vs_config_lun_json(next);
	if (!*ja || !*jb) {
		json_decref(*ja);
		json_decref(*jb);
		return false;
	}
	u = (struct unlearn){ *ja, *jb };
	/* the walk reads the model only */
	vs_ctl_stack_walk((struct vs_config_stack *)&cur->stack, true, unlearn_layer, &u);
	return true;
}

static bool lun_same(const struct vs_config_lun *cur, const struct vs_config_lun *next)
{
	json_t *ja, *jb;
	bool eq;

	if (!lun_json_pair(cur, next, &ja, &jb))
		return false;
	eq = json_equal(ja, jb);
	json_decref(ja);
	json_decref(jb);
	return eq;
}

static void drop_size(json_t *lun)
{
	json_object_del(lun, "size");
	json_object_del(json_object_get(lun, "options"), "size");
}

/* The new file differs from the running LUN in its own backend's size
 * alone, and larger: the LUN is grown in place (lun.resize: online, its
 * data kept, initiators told CAPACITY DATA HAS CHANGED) instead of being
 * replaced.  *size: the new size. */
static bool lun_grows(const struct vs_config_lun *cur, const struct vs_config_lun *next,
                      uint64_t *size)
{
	const char *a = vs_config_lun_opt(cur, "size"), *b = vs_config_lun_opt(next, "size");
	uint64_t na, nb;
	json_t *ja, *jb;
	bool eq;

	if (cur->volume || next->volume || !a || !b || vs_parse_size(a, &na) < 0 ||
	    vs_parse_size(b, &nb) < 0 || nb <= na || !lun_json_pair(cur, next, &ja, &jb))
		return false;
	drop_size(ja);
	drop_size(jb);
	eq = json_equal(ja, jb);
	json_decref(ja);
	json_decref(jb);
	if (eq)
		*size = nb;
	return eq;
}

static const struct vs_config_target *find_target(const struct vs_config *cfg, const char *iqn)
{
	for (size_t i = 0; i < cfg->ntargets; i++)
		if (strcasecmp(cfg->targets[i].iqn, iqn) == 0)
			return &cfg->targets[i];
	return NULL;
}

static const struct vs_config_lun *find_lun(const struct vs_config_target *t, uint64_t lun)
{
	ssize_t i = t ? vs_ctl_find_lun(t, lun) : -1;

	return i < 0 ? NULL : &t->luns[i];
}

static bool acl_has(const struct vs_config_target *t, const char *ini)
{
	for (size_t i = 0; i < t->nacl; i++)
		if (strcasecmp(t->acl[i], ini) == 0)
			return true;
	return false;
}

/* Does the file's force_remove name this target (lun < 0) or LUN? */
static bool forced(const struct vs_config *nc, const char *iqn, int64_t lun)
{
	for (size_t i = 0; i < nc->nforce_remove; i++) {
		const char *e = nc->force_remove[i], *slash = strrchr(e, '/');
		size_t n = slash ? (size_t)(slash - e) : strlen(e);

		if (strlen(iqn) != n || strncasecmp(e, iqn, n) != 0)
			continue;
		if (!slash || (lun >= 0 && strtoull(slash + 1, NULL, 10) == (uint64_t)lun))
			return true;
	}
	return false;
}

/* ------------------------------------------------------------ calling */

/*
 * Run one method as vstorctl would, under the lock we hold.  On failure
 * the reload fails with the method's message, its "params." prefix made
 * into where the file says it (`where`, e.g. "targets[1].luns[0]").
 */
static int call(struct reload *r, ctl_method_fn fn, const char *method, json_t *params,
                const char *where, const char *done)
{
	struct ctl_call sub = { .st = r->c->st, .method = method, .params = params };
	json_t *res;

	if (!params)
		return vs_ctl_bad(r->c, VS_CTL_INTERNAL, "config.reload: out of memory");
	res = fn(&sub);
	json_decref(params);
	if (!res) {
		const char *m = sub.msg[0] ? sub.msg : "out of memory";

		if (strncmp(m, "params.", 7) == 0 && where)
			return vs_ctl_bad(r->c, sub.code ? sub.code : VS_CTL_INTERNAL, "%s: %s.%s", r->file,
			               where, m + 7);
		return vs_ctl_bad(r->c, sub.code ? sub.code : VS_CTL_INTERNAL, "%s: %s: %s", r->file,
		               where ? where : method, m);
	}
	json_decref(res);
	if (done)
		json_array_append_new(r->changes, json_string(done));
	return 0;
}

static json_t *lun_params(const char *iqn, const struct vs_config_lun *l)
{
	json_t *p = vs_config_lun_json(l);

	if (p && json_object_set_new(p, "target", json_string(iqn)) < 0) {
		json_decref(p);
		return NULL;
	}
	return p;
}

static int add_lun(struct reload *r, const char *iqn, const struct vs_config_lun *l,
                   const char *where)
{
	char done[300];

	snprintf(done, sizeof(done), "lun.add %s/%" PRIu64, iqn, l->lun);
	return call(r, vs_ctl_lun_add, "lun.add", lun_params(iqn, l), where, done);
}

static int remove_lun(struct reload *r, const char *iqn, uint64_t lun, bool force)
{
	char done[300];

	snprintf(done, sizeof(done), "lun.remove %s/%" PRIu64 "%s", iqn, lun, force ? " (forced)" : "");
	return call(r, vs_ctl_lun_remove, "lun.remove",
	            json_pack("{s:s,s:I,s:b}", "target", iqn, "lun", (json_int_t)lun, "force", force),
	            NULL, done);
}

/* Its data kept; if it cannot grow (a RAM disk past its max_size), the
 * reload fails and says why rather than replace the LUN with an empty one. */
static int grow_lun(struct reload *r, const char *iqn, uint64_t lun, uint64_t size,
                    const struct vs_config_target *nt, const struct vs_config_lun *nl)
{
	char done[300], sz[32], where[64];

	vs_config_format_size(size, sz, sizeof(sz));
	snprintf(done, sizeof(done), "lun.resize %s/%" PRIu64 " %s", iqn, lun, sz);
	snprintf(where, sizeof(where), "targets[%zu].luns[%zu]", (size_t)(nt - r->nc->targets),
	         (size_t)(nl - nt->luns));
	return call(r, vs_ctl_lun_resize, "lun.resize",
	            json_pack("{s:s,s:I,s:I}", "target", iqn, "lun", (json_int_t)lun, "size",
	                      (json_int_t)size),
	            where, done);
}

static int set_chap(struct reload *r, const struct vs_config_target *t, const char *where)
{
	char done[300];

	snprintf(done, sizeof(done), "chap.%s %s", t->has_chap ? "set" : "clear", t->iqn);
	if (!t->has_chap)
		return call(r, vs_ctl_chap_clear, "chap.clear", json_pack("{s:s}", "target", t->iqn), where,
		            done);
	return call(r, vs_ctl_chap_set, "chap.set",
	            json_pack("{s:s,s:s,s:s,s:s*,s:s*}", "target", t->iqn, "user", t->chap.user,
	                      "secret", t->chap.secret, "mutual_user", t->chap.mutual_user,
	                      "mutual_secret", t->chap.mutual_secret),
	            where, done);
}

static int acl_change(struct reload *r, ctl_method_fn fn, const char *method, const char *iqn,
                      const char *ini, const char *where)
{
	char done[600];

	snprintf(done, sizeof(done), "%s %s %s", method, iqn, ini);
	return call(r, fn, method, json_pack("{s:s,s:s}", "target", iqn, "initiator", ini), where,
	            done);
}

/* A whole target of the file: target.add, its CHAP, ACL and LUNs. */
static int add_target(struct reload *r, size_t ti)
{
	const struct vs_config_target *t = &r->nc->targets[ti];
	char where[64], done[300];
	json_t *p = json_pack("{s:s,s:s*}", "iqn", t->iqn, "alias", t->alias);

	snprintf(where, sizeof(where), "targets[%zu]", ti);
	snprintf(done, sizeof(done), "target.add %s", t->iqn);
	if (p && t->nportals) {
		json_t *a = json_array();

		for (size_t i = 0; a && i < t->nportals; i++)
			json_array_append_new(a, json_string(t->portals[i]));
		json_object_set_new(p, "portals", a);
	}
	if (call(r, vs_ctl_target_add, "target.add", p, where, done) < 0)
		return -1;
	json_array_append_new(r->undo, json_pack("[s,n]", t->iqn));
	if (t->has_chap && set_chap(r, t, where) < 0)
		return -1;
	for (size_t i = 0; i < t->nacl; i++)
		if (acl_change(r, vs_ctl_acl_add, "acl.add", t->iqn, t->acl[i], where) < 0)
			return -1;
	for (size_t li = 0; li < t->nluns; li++) {
		snprintf(where, sizeof(where), "targets[%zu].luns[%zu]", ti, li);
		if (add_lun(r, t->iqn, &t->luns[li], where) < 0)
			return -1;
	}
	return 0;
}

/* Take back what phase 1 added (nothing uses it yet; force all the same:
 * an initiator may have been quick). */
static void undo_additions(struct reload *r)
{
	struct ctl_call saved = *r->c;
	size_t i;
	json_t *u;

	json_array_foreach(r->undo, i, u) {
		const char *iqn = json_string_value(json_array_get(u, 0));
		json_t *lun = json_array_get(u, 1);

		if (json_is_null(lun))
			call(r, vs_ctl_target_remove, "target.remove",
			     json_pack("{s:s,s:b}", "iqn", iqn, "force", true), NULL, NULL);
		else
			call(r, vs_ctl_lun_remove, "lun.remove",
			     json_pack("{s:s,s:O,s:b}", "target", iqn, "lun", lun, "force", true), NULL,
			     NULL);
	}
	*r->c = saved;          /* the error is the one that made us undo */
}

/* ------------------------------------------------------------ phases */

/* The NBD section (its exports change with export.add/remove, which a
 * reload does not make): the same as config.save would write it. */
static bool nbd_same(const struct vs_config_nbd *a, const struct vs_config_nbd *b)
{
	bool oom = false, eq;
	json_t *ja, *jb;

	if (!a || !b)
		return a == b;
	ja = vs_config_nbd_json(a, &oom);
	jb = vs_config_nbd_json(b, &oom);
	eq = !oom && json_equal(ja, jb);
	json_decref(ja);
	json_decref(jb);
	return eq;
}

/* An NBD export serves it: lun.remove and target.remove refuse that even
 * when forced, so the reload refuses it before changing anything. */
static int nbd_blocks(struct reload *r, const char *iqn, int64_t lun)
{
	struct ctl_call probe = { .st = r->c->st, .method = "config.reload" };

	if (!vs_ctl_nbd_in_use(&probe, iqn, lun))
		return 0;
	return vs_ctl_bad(r->c, VS_CTL_BUSY, "%s: %s; nothing was changed", r->file, probe.msg);
}

static int check_fixed(struct reload *r, const struct vs_config *cur)
{
	const struct vs_config *nc = r->nc;
	const char *field = NULL;

	if (!names_eq(cur->portals, cur->nportals, nc->portals, nc->nportals))
		field = "portals";
	else if (cur->threads != nc->threads)
		field = "threads";
	else if (memcmp(&cur->iscsi, &nc->iscsi, sizeof(nc->iscsi)) != 0)
		field = "iscsi";
	else if (!chap_eq(cur->has_discovery_chap, &cur->discovery_chap, nc->has_discovery_chap,
	                  &nc->discovery_chap))
		field = "discovery_chap";
	else if (!str_eq(cur->metrics_listen, nc->metrics_listen))
		field = "metrics";
	else if (!nbd_same(cur->nbd, nc->nbd))
		field = "nbd";
	if (field)
		return vs_ctl_bad(r->c, VS_CTL_FAILED, "%s: %s: differs from the running daemon's, and a "
		               "reload cannot change it; nothing was changed (restart vstord for it)",
		               r->file, field);
	return 0;
}

/* Every removal or replacement the file asks for is allowed: not in use,
 * or named in force_remove. */
static int check_use(struct reload *r, const struct vs_config *cur)
{
	struct vs_ctl_state *st = r->c->st;

	for (size_t ti = 0; ti < cur->ntargets; ti++) {
		const struct vs_config_target *t = &cur->targets[ti];
		const struct vs_config_target *nt = find_target(r->nc, t->iqn);

		if (!nt || !target_same(t, nt)) {
			size_t n = vs_ctl_sessions_on(st, t->iqn);

			if (nbd_blocks(r, t->iqn, -1) < 0)
				return -1;
			if (n && !forced(r->nc, t->iqn, -1))
				return vs_ctl_bad(r->c, VS_CTL_BUSY, "%s: target %s would be %s, but %zu "
				               "session%s logged in; nothing was changed (list \"%s\" in "
				               "force_remove to drop %s)", r->file, t->iqn,
				               nt ? "replaced (alias or portals changed)" : "removed", n,
				               n == 1 ? " is" : "s are", t->iqn, n == 1 ? "it" : "them");
			continue;
		}
		for (size_t li = 0; li < t->nluns; li++) {
			const struct vs_config_lun *l = &t->luns[li], *nl = find_lun(nt, l->lun);
			int users;

			uint64_t size;

			if (nl && (lun_same(l, nl) || lun_grows(l, nl, &size)))
				continue;       /* kept, or grown in place: no use check */
			if (nbd_blocks(r, t->iqn, (int64_t)l->lun) < 0)
				return -1;
			users = vs_port_lun_users(st->rt[ti].port, l->lun);
			if (users > 0 && !forced(r->nc, t->iqn, (int64_t)l->lun))
				return vs_ctl_bad(r->c, VS_CTL_BUSY, "%s: LUN %" PRIu64 " of %s would be %s, but "
				               "it is in use (%d logged-in initiator%s used it); nothing was "
				               "changed (list \"%s/%" PRIu64 "\" in force_remove to %s it "
				               "anyway)", r->file, l->lun, t->iqn,
				               nl ? "replaced" : "removed", users, users == 1 ? " has" : "s have",
				               t->iqn, l->lun, nl ? "replace" : "remove");
		}
	}
	return 0;
}

/* Phase 1: new targets, new LUNs of kept targets.  Undone on failure. */
static int additions(struct reload *r, const struct vs_config *cur)
{
	for (size_t ti = 0; ti < r->nc->ntargets; ti++) {
		const struct vs_config_target *nt = &r->nc->targets[ti];
		const struct vs_config_target *t = find_target(cur, nt->iqn);
		char where[64];

		if (!t) {
			if (add_target(r, ti) < 0)
				return -1;
			continue;
		}
		if (!target_same(t, nt))
			continue;       /* replaced in phase 3 */
		for (size_t li = 0; li < nt->nluns; li++) {
			if (find_lun(t, nt->luns[li].lun))
				continue;
			snprintf(where, sizeof(where), "targets[%zu].luns[%zu]", ti, li);
			if (add_lun(r, nt->iqn, &nt->luns[li], where) < 0)
				return -1;
			json_array_append_new(r->undo, json_pack("[s,I]", nt->iqn,
			                                         (json_int_t)nt->luns[li].lun));
		}
	}
	return 0;
}

/* Phase 2: ACL and CHAP of kept targets. */
static int access_changes(struct reload *r, const struct vs_config *cur)
{
	for (size_t ti = 0; ti < r->nc->ntargets; ti++) {
		const struct vs_config_target *nt = &r->nc->targets[ti];
		const struct vs_config_target *t = find_target(cur, nt->iqn);
		char where[64];

		if (!t || !target_same(t, nt))
			continue;
		snprintf(where, sizeof(where), "targets[%zu]", ti);
		for (size_t i = 0; i < nt->nacl; i++)
			if (!acl_has(t, nt->acl[i]) &&
			    acl_change(r, vs_ctl_acl_add, "acl.add", nt->iqn, nt->acl[i], where) < 0)
				return -1;
		/* t's ACL shrinks as we go: look again each time */
		for (size_t i = 0; i < t->nacl;) {
			if (acl_has(nt, t->acl[i])) {
				i++;
				continue;
			}
			char ini[VS_ISCSI_NAME_MAX + 1];

			snprintf(ini, sizeof(ini), "%s", t->acl[i]);
			if (acl_change(r, vs_ctl_acl_remove, "acl.remove", nt->iqn, ini, where) < 0)
				return -1;
		}
		if (!chap_eq(t->has_chap, &t->chap, nt->has_chap, &nt->chap) &&
		    set_chap(r, nt, where) < 0)
			return -1;
	}
	return 0;
}

/* A LUN whose definition changed: out, and in as the file says; if the
 * new one will not open, the old one goes back. */
/* A layer keeps its data in the process's memory (the ram backend): put
 * back from its definition, it is empty. */
static int has_ram(void *ctx, struct ctl_layer *l)
{
	if (l->kind == VS_LAYER_BACKEND && l->name && strcmp(l->name, "ram") == 0)
		*(bool *)ctx = true;
	return 0;
}

static int replace_lun(struct reload *r, size_t ti, size_t li, const struct vs_config_target *nt,
                       const struct vs_config_lun *nl)
{
	const struct vs_config_target *t = &r->c->st->cfg->targets[ti];
	uint64_t lun = t->luns[li].lun;
	char iqn[VS_ISCSI_NAME_MAX + 1], where[64];
	json_t *old = lun_params(t->iqn, &t->luns[li]);

	if (!old)
		return vs_ctl_bad(r->c, VS_CTL_INTERNAL, "config.reload: out of memory");
	bool in_memory = false;

	vs_ctl_stack_walk((struct vs_config_stack *)&t->luns[li].stack, true, has_ram, &in_memory);
	snprintf(iqn, sizeof(iqn), "%s", t->iqn);
	snprintf(where, sizeof(where), "targets[%zu].luns[%zu]", (size_t)(nt - r->nc->targets),
	         (size_t)(nl - nt->luns));
	if (remove_lun(r, iqn, lun, forced(r->nc, iqn, (int64_t)lun)) < 0) {
		json_decref(old);
		return -1;
	}
	if (add_lun(r, iqn, nl, where) == 0) {
		json_decref(old);
		return 0;
	}
	struct ctl_call failed = *r->c;

	if (call(r, vs_ctl_lun_add, "lun.add", old, NULL, NULL) == 0)
		snprintf(failed.msg + strlen(failed.msg), sizeof(failed.msg) - strlen(failed.msg),
		         " (LUN %" PRIu64 " of %s is back as it was%s)", lun, iqn,
		         in_memory ? ", but a RAM disk comes back empty" : "");
	else
		snprintf(failed.msg + strlen(failed.msg), sizeof(failed.msg) - strlen(failed.msg),
		         " (and LUN %" PRIu64 " of %s could not be put back: it is gone)", lun, iqn);
	*r->c = failed;
	return -1;
}

/* Phase 3: LUNs of kept targets that went or changed; targets that went or
 * changed.  Checked against use before phase 1. */
static int removals(struct reload *r, struct vs_config *cur)
{
	for (size_t ti = 0; ti < cur->ntargets;) {
		const struct vs_config_target *t = &cur->targets[ti];
		const struct vs_config_target *nt = find_target(r->nc, t->iqn);

		if (nt && target_same(t, nt)) {
			for (size_t li = 0; li < t->nluns;) {
				uint64_t lun = t->luns[li].lun;
				const struct vs_config_lun *nl = find_lun(nt, lun);

				uint64_t size;

				if (nl && lun_same(&t->luns[li], nl)) {
					li++;
					continue;
				}
				if (nl && lun_grows(&t->luns[li], nl, &size)) {
					if (grow_lun(r, t->iqn, lun, size, nt, nl) < 0)
						return -1;
					li++;
					continue;
				}
				if (!nl) {
					if (remove_lun(r, t->iqn, lun, forced(r->nc, t->iqn, (int64_t)lun)) < 0)
						return -1;
					continue;       /* t->luns moved down */
				}
				if (replace_lun(r, ti, li, nt, nl) < 0)
					return -1;
				li++;
			}
			ti++;
			continue;
		}
		char iqn[VS_ISCSI_NAME_MAX + 1], done[300];
		bool force = forced(r->nc, t->iqn, -1);

		snprintf(iqn, sizeof(iqn), "%s", t->iqn);
		snprintf(done, sizeof(done), "target.remove %s%s", iqn, force ? " (forced)" : "");
		if (call(r, vs_ctl_target_remove, "target.remove",
		         json_pack("{s:s,s:b}", "iqn", iqn, "force", force), NULL, done) < 0)
			return -1;
		/* cur->targets moved down; a replaced one comes back anew */
		if (nt && add_target(r, (size_t)(nt - r->nc->targets)) < 0)
			return -1;
	}
	return 0;
}

/* What was done before a failure, for its message. */
static void say_partial(struct reload *r)
{
	size_t n = json_array_size(r->changes), used = strlen(r->c->msg);

	if (!n)
		return;
	snprintf(r->c->msg + used, sizeof(r->c->msg) - used, "; done before it: ");
	for (size_t i = 0; i < n; i++) {
		used = strlen(r->c->msg);
		snprintf(r->c->msg + used, sizeof(r->c->msg) - used, "%s%s", i ? ", " : "",
		         json_string_value(json_array_get(r->changes, i)));
	}
}

json_t *vs_ctl_config_reload(struct ctl_call *c)
{
	struct vs_ctl_state *st = c->st;
	char err[VS_CONFIG_ERR_MAX];
	struct vs_config *nc;
	json_t *out = NULL;
	const char *path;

	if (vs_ctl_param_config_path(c, &path) < 0)
		return NULL;
	/* the whole file checked first: a bad one changes nothing */
	if (vs_config_load_file(path, &nc, err, sizeof(err)) < 0)
		return vs_ctl_fail(c, VS_CTL_INVALID_PARAMS, "%s", err);
	if (st->reload_adjust && st->reload_adjust(st->reload_adjust_ctx, nc, err, sizeof(err)) < 0) {
		vs_config_free(nc);
		return vs_ctl_fail(c, VS_CTL_INVALID_PARAMS, "%s: %s", path, err);
	}
	struct reload r = { .c = c, .file = path, .nc = nc, .changes = json_array(),
		            .undo = json_array() };

	if (!r.changes || !r.undo) {
		vs_ctl_fail(c, VS_CTL_INTERNAL, "config.reload: out of memory");
	} else if (check_fixed(&r, st->cfg) < 0 || check_use(&r, st->cfg) < 0) {
		/* refused before anything happened */
	} else if (additions(&r, st->cfg) < 0) {
		undo_additions(&r);
	} else if (access_changes(&r, st->cfg) < 0 || removals(&r, st->cfg) < 0) {
		say_partial(&r);
	} else {
		out = json_pack("{s:s,s:O}", "path", path, "changes", r.changes);
	}
	json_decref(r.changes);
	json_decref(r.undo);
	vs_config_free(nc);
	return out;
}
