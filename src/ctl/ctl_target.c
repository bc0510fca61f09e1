/* SPDX-License-Identifier: MIT */
/*
 * target.add / target.remove / target.list, acl.add / acl.remove / acl.list,
 * chap.set / chap.clear.  Each validates everything first, then applies the
 * change to the port and the fabric, and only then to the model; a step
 * that fails undoes the ones before it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_int.h"
#include "vstor/iscsi.h"
#include "vstor/port.h"

/* TargetAlias is human-readable text (RFC 7143 §13.6); 255 is our cap, as
 * in the config file. */
#define ALIAS_MAX 255

/* params.portals: the config file's rules for targets[].portals. */
static int portals_param(struct ctl_call *c, struct vs_config_target *t)
{
	json_t *v = json_object_get(c->params, "portals");
	char err[VS_CTL_MSG_MAX];
	if (!v)
		return 0;
	if (vs_config_parse_portals(v, "params.portals", &t->portals, &t->nportals, err,
	                            sizeof(err)) < 0)
		return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS, "%s", err);
	return 0;
}

json_t *vs_ctl_target_add(struct ctl_call *c)
{
	static const char *const keys[] = { "iqn", "alias", "portals", NULL };
	struct vs_ctl_state *st = c->st;
	const char *iqn = NULL, *alias = NULL;

	if (vs_ctl_check_keys(c, keys) < 0 || vs_ctl_param_iqn(c, "iqn", true, &iqn) < 0 ||
	    vs_ctl_param_str(c, "alias", false, ALIAS_MAX, &alias) < 0)
		return NULL;
	for (size_t i = 0; i < st->cfg->ntargets; i++)
		if (strcasecmp(st->cfg->targets[i].iqn, iqn) == 0)
			return vs_ctl_fail(c, VS_CTL_EXISTS, "params.iqn: target %s already exists", iqn);

	struct vs_config_target t = { 0 };
	if (portals_param(c, &t) < 0)
		return NULL;
	if (vs_ctl_reserve_target(st) < 0 || !(t.iqn = strdup(iqn)) || (alias && !(t.alias = strdup(alias)))) {
		vs_config_target_free(&t);
		return vs_ctl_fail(c, VS_CTL_INTERNAL, "target.add: out of memory");
	}
	struct vs_port *port = vs_ctl_port_create(iqn);
	if (!port) {
		vs_config_target_free(&t);
		return vs_ctl_fail(c, VS_CTL_FAILED, "target.add: %s", vs_last_error());
	}
	if (st->is) {
		/* The fabric opens the listeners a new portal needs, or fails
		 * ("portals[1]: '...': Address already in use") changing nothing. */
		struct vs_iscsi_target_config itc = { .iqn = iqn, .alias = alias, .port = port,
			                              .portals = (const char *const *)t.portals,
			                              .nportals = t.nportals };
		if (vs_iscsi_add_target(st->is, &itc) < 0) {
			char why[VS_CTL_MSG_MAX];
			snprintf(why, sizeof(why), "%s", vs_last_error());
			vs_port_destroy(port);
			vs_config_target_free(&t);
			if (strncmp(why, "portals", 7) == 0)
				return vs_ctl_fail(c, VS_CTL_FAILED, "params.%s", why);
			return vs_ctl_fail(c, VS_CTL_FAILED, "params.iqn: %s", why);
		}
	}
	size_t i = st->cfg->ntargets++;
	st->cfg->targets[i] = t;
	st->rt[i] = (struct ctl_target_rt){ .port = port, .registered = st->is != NULL };
	return json_pack("{s:s}", "iqn", iqn);
}

json_t *vs_ctl_target_remove(struct ctl_call *c)
{
	static const char *const keys[] = { "iqn", "force", NULL };
	struct vs_ctl_state *st = c->st;
	size_t ti;
	bool force = false;

	if (vs_ctl_check_keys(c, keys) < 0 || vs_ctl_find_target(c, "iqn", &ti) < 0 ||
	    vs_ctl_param_bool(c, "force", &force) < 0)
		return NULL;
	struct vs_config_target *t = &st->cfg->targets[ti];
	struct ctl_target_rt *rt = &st->rt[ti];
	if (vs_ctl_nbd_in_use(c, t->iqn, -1))
		return NULL;
	size_t sessions = vs_ctl_sessions_on(st, t->iqn);
	if (sessions && !force)
		return vs_ctl_fail(c, VS_CTL_BUSY, "params.iqn: %s has %zu session%s logged in; use force",
		                t->iqn, sessions, sessions == 1 ? "" : "s");
	/* The fabric lets go first (dropping sessions with force), so no new
	 * command can reach the port while its LUNs leave. */
	int rc = rt->registered ? vs_iscsi_remove_target(st->is, t->iqn, force) : 0;
	if (rc < 0)
		return vs_ctl_fail(c, rc == -EBUSY ? VS_CTL_BUSY : VS_CTL_FAILED, "params.iqn: %s%s",
		                vs_last_error(), rc == -EBUSY ? "; use force" : "");
	uint64_t luns[256];
	size_t n, removed = 0;
	while ((n = vs_port_lun_list(rt->port, luns, sizeof(luns) / sizeof(luns[0]))) > 0)
		for (size_t i = 0; i < n; i++)
			if (vs_port_lun_remove(rt->port, luns[i], true) == 0)
				removed++;
	vs_port_destroy(rt->port);

	json_t *r = json_pack("{s:s,s:I}", "iqn", t->iqn, "luns_removed", (json_int_t)removed);
	vs_config_target_free(t);
	memmove(t, t + 1, (st->cfg->ntargets - ti - 1) * sizeof(*t));
	memmove(rt, rt + 1, (st->cfg->ntargets - ti - 1) * sizeof(*rt));
	st->cfg->ntargets--;
	memset(&st->cfg->targets[st->cfg->ntargets], 0, sizeof(*t));
	memset(&st->rt[st->cfg->ntargets], 0, sizeof(*rt));
	return r;
}

static json_t *names_json(char *const *names, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	return a;
}

static json_t *acl_json(const struct vs_config_target *t)
{
	return names_json(t->acl, t->nacl);
}

json_t *vs_ctl_target_list(struct ctl_call *c)
{
	static const char *const keys[] = { NULL };
	struct vs_ctl_state *st = c->st;
	if (vs_ctl_check_keys(c, keys) < 0)
		return NULL;
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < st->cfg->ntargets; i++) {
		const struct vs_config_target *t = &st->cfg->targets[i];
		/* Where it is served: its own portals, or the daemon's. */
		bool own = t->nportals > 0;
		json_t *portals = own ? names_json(t->portals, t->nportals)
		                      : names_json(st->cfg->portals, st->cfg->nportals);
		json_t *o = json_pack("{s:s,s:s?,s:o,s:b,s:I,s:o,s:b,s:b,s:I}", "iqn", t->iqn, "alias",
		                      t->alias, "portals", portals, "default_portals", !own, "luns",
		                      (json_int_t)t->nluns, "acl", acl_json(t), "chap", t->has_chap,
		                      "mutual_chap", t->has_chap && t->chap.mutual_user, "sessions",
		                      (json_int_t)vs_ctl_sessions_on(st, t->iqn));
		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr ? json_pack("{s:o}", "targets", arr) : NULL;
}

/* ---------------------------------------------------------------- ACL */

/* Apply a new ACL to the fabric, then adopt it in the model. */
static int acl_apply(struct ctl_call *c, size_t ti, char **acl, size_t n)
{
	struct vs_ctl_state *st = c->st;
	struct vs_config_target *t = &st->cfg->targets[ti];
	if (st->rt[ti].registered && vs_iscsi_set_acl(st->is, t->iqn, (const char *const *)acl, n) < 0)
		return vs_ctl_bad(c, VS_CTL_FAILED, "%s: %s", c->method, vs_last_error());
	/* The strings move to the new array; only the old array goes. */
	free(t->acl);
	t->acl = acl;
	t->nacl = n;
	return 0;
}

static json_t *acl_result(const struct vs_config_target *t)
{
	/* An empty ACL admits every initiator: say so, it is easy to miss. */
	return json_pack("{s:s,s:o,s:b}", "target", t->iqn, "acl", acl_json(t), "allow_all",
	                 t->nacl == 0);
}

json_t *vs_ctl_acl_add(struct ctl_call *c)
{
	static const char *const keys[] = { "target", "initiator", NULL };
	size_t ti;
	const char *ini = NULL;
	if (vs_ctl_check_keys(c, keys) < 0 || vs_ctl_find_target(c, "target", &ti) < 0 ||
	    vs_ctl_param_iqn(c, "initiator", true, &ini) < 0)
		return NULL;
	struct vs_config_target *t = &c->st->cfg->targets[ti];
	for (size_t i = 0; i < t->nacl; i++)
		if (strcasecmp(t->acl[i], ini) == 0)
			return vs_ctl_fail(c, VS_CTL_EXISTS, "params.initiator: %s is already in the ACL of %s",
			                ini, t->iqn);
	char **acl = calloc(t->nacl + 1, sizeof(char *));
	char *copy = strdup(ini);
	if (!acl || !copy) {
		free(acl);
		free(copy);
		return vs_ctl_fail(c, VS_CTL_INTERNAL, "acl.add: out of memory");
	}
	if (t->nacl)
		memcpy(acl, t->acl, t->nacl * sizeof(char *));
	acl[t->nacl] = copy;
	if (acl_apply(c, ti, acl, t->nacl + 1) < 0) {
		free(acl);
		free(copy);
		return NULL;
	}
	return acl_result(t);
}

json_t *vs_ctl_acl_remove(struct ctl_call *c)
{
	static const char *const keys[] = { "target", "initiator", NULL };
	size_t ti, at = 0;
	const char *ini = NULL;
	if (vs_ctl_check_keys(c, keys) < 0 || vs_ctl_find_target(c, "target", &ti) < 0 ||
	    vs_ctl_param_iqn(c, "initiator", true, &ini) < 0)
		return NULL;
	struct vs_config_target *t = &c->st->cfg->targets[ti];
	while (at < t->nacl && strcasecmp(t->acl[at], ini) != 0)
		at++;
	if (at == t->nacl)
		return vs_ctl_fail(c, VS_CTL_NOT_FOUND, "params.initiator: %s is not in the ACL of %s", ini,
		                t->iqn);
	char **acl = calloc(t->nacl, sizeof(char *));
	if (!acl)
		return vs_ctl_fail(c, VS_CTL_INTERNAL, "acl.remove: out of memory");
	size_t n = 0;
	for (size_t i = 0; i < t->nacl; i++)
		if (i != at)
			acl[n++] = t->acl[i];
	char *gone = t->acl[at];
	if (acl_apply(c, ti, acl, n) < 0) {
		free(acl);
		return NULL;
	}
	free(gone);
	return acl_result(t);
}

json_t *vs_ctl_acl_list(struct ctl_call *c)
{
	static const char *const keys[] = { "target", NULL };
	size_t ti;
	if (vs_ctl_check_keys(c, keys) < 0 || vs_ctl_find_target(c, "target", &ti) < 0)
		return NULL;
	return acl_result(&c->st->cfg->targets[ti]);
}

/* ---------------------------------------------------------------- CHAP */

json_t *vs_ctl_chap_set(struct ctl_call *c)
{
	static const char *const keys[] = { "target", "user", "secret", "mutual_user",
		                            "mutual_secret", NULL };
	size_t ti;
	if (vs_ctl_check_keys(c, keys) < 0 || vs_ctl_find_target(c, "target", &ti) < 0)
		return NULL;
	/* The config file's CHAP rules (both mutual fields or neither, secrets
	 * differ), applied to params without "target". */
	json_t *obj = json_deep_copy(c->params);
	if (!obj)
		return vs_ctl_fail(c, VS_CTL_INTERNAL, "chap.set: out of memory");
	json_object_del(obj, "target");
	struct vs_config_chap chap;
	char err[VS_CTL_MSG_MAX];
	int rc = vs_config_parse_chap(obj, "params", &chap, err, sizeof(err));
	json_decref(obj);
	if (rc < 0)
		return vs_ctl_fail(c, VS_CTL_INVALID_PARAMS, "%s", err);

	struct vs_ctl_state *st = c->st;
	struct vs_config_target *t = &st->cfg->targets[ti];
	if (st->rt[ti].registered) {
		struct vs_iscsi_chap ic = { chap.user, chap.secret, chap.mutual_user, chap.mutual_secret };
		if (vs_iscsi_set_chap(st->is, t->iqn, &ic) < 0) {
			vs_config_chap_free(&chap);
			return vs_ctl_fail(c, VS_CTL_FAILED, "chap.set: %s", vs_last_error());
		}
	}
	vs_config_chap_free(&t->chap);
	t->chap = chap;
	t->has_chap = true;
	/* Secrets never travel back. */
	return json_pack("{s:s,s:s,s:b}", "target", t->iqn, "user", chap.user, "mutual",
	                 chap.mutual_user != NULL);
}

json_t *vs_ctl_chap_clear(struct ctl_call *c)
{
	static const char *const keys[] = { "target", NULL };
	size_t ti;
	if (vs_ctl_check_keys(c, keys) < 0 || vs_ctl_find_target(c, "target", &ti) < 0)
		return NULL;
	struct vs_ctl_state *st = c->st;
	struct vs_config_target *t = &st->cfg->targets[ti];
	if (st->rt[ti].registered && vs_iscsi_set_chap(st->is, t->iqn, NULL) < 0)
		return vs_ctl_fail(c, VS_CTL_FAILED, "chap.clear: %s", vs_last_error());
	vs_config_chap_free(&t->chap);
	t->has_chap = false;
	return json_pack("{s:s,s:b}", "target", t->iqn, "chap", false);
}
