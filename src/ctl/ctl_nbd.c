/* SPDX-License-Identifier: MIT */
/*
 * The control plane's NBD part: exports at run time (export.add,
 * export.remove, export.list), NBD sessions in session.list, and the
 * rule that a target or LUN an export serves is not removed under it.
 * The model (cfg->nbd) changes only after the fabric took the change, so
 * config.save writes what runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_int.h"
#include "vstor/miniport.h"
#include "vstor/nbd.h"

static struct vs_port *port_of(struct vs_ctl_state *st, const char *iqn)
{
	for (size_t i = 0; i < st->cfg->ntargets; i++)
		if (!strcasecmp(st->cfg->targets[i].iqn, iqn))
			return st->rt[i].port;
	return NULL;
}

static int add_to_fabric(struct vs_ctl_state *st, const struct vs_config_nbd_export *e)
{
	struct vs_nbd_export_config ec = {
		.name = e->name, .description = e->description, .port = port_of(st, e->target),
		.lun = e->lun, .acl = (const char *const *)e->acl, .nacl = e->nacl,
		.no_multi_conn = e->no_multi_conn,
	};

	return vs_nbd_add_export(st->nbd, &ec);
}

int vs_ctl_state_attach_nbd(struct vs_ctl_state *st, struct vs_nbd *nbd, const char *cfg_name,
                            char *err, size_t errlen)
{
	const struct vs_config_nbd *n = st->cfg->nbd;

	pthread_mutex_lock(&st->lock);
	st->nbd = nbd;
	for (size_t i = 0; n && i < n->nexports; i++) {
		if (add_to_fabric(st, &n->exports[i]) < 0) {
			snprintf(err, errlen, "%s: nbd.exports[%zu]: %s", cfg_name, i, vs_last_error());
			pthread_mutex_unlock(&st->lock);
			return -EINVAL;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return 0;
}

static bool nbd_running(struct ctl_call *c)
{
	if (c->st->nbd && c->st->cfg->nbd)
		return true;
	vs_ctl_bad(c, VS_CTL_FAILED, "%s: no NBD server (the config has no \"nbd\" section)", c->method);
	return false;
}

json_t *vs_ctl_export_add(struct ctl_call *c)
{
	struct vs_ctl_state *st = c->st;
	struct vs_config_nbd *n = st->cfg->nbd;
	struct vs_config_nbd_export e, *grown;

	if (!nbd_running(c))
		return NULL;
	if (vs_config_nbd_parse_export(c->params, "params", st->cfg, &e, c->msg, sizeof(c->msg)) < 0) {
		c->code = strstr(c->msg, "exists") ? VS_CTL_EXISTS :
		          strstr(c->msg, "no target") || strstr(c->msg, "has no LUN") ? VS_CTL_NOT_FOUND
		                                                                  : VS_CTL_INVALID_PARAMS;
		return NULL;
	}
	grown = realloc(n->exports, (n->nexports + 1) * sizeof(*n->exports));
	if (!grown) {
		vs_config_nbd_export_free(&e);
		return NULL;
	}
	n->exports = grown;
	if (add_to_fabric(st, &e) < 0) {
		vs_ctl_bad(c, VS_CTL_FAILED, "export.add: %s", vs_last_error());
		vs_config_nbd_export_free(&e);
		return NULL;
	}
	n->exports[n->nexports++] = e;
	return json_pack("{s:s,s:s,s:I}", "name", e.name, "target", e.target, "lun",
	                 (json_int_t)e.lun);
}

json_t *vs_ctl_export_remove(struct ctl_call *c)
{
	static const char *const keys[] = { "name", "force", NULL };
	struct vs_ctl_state *st = c->st;
	struct vs_config_nbd *n = st->cfg->nbd;
	const char *name = NULL;
	bool force = false;
	size_t i;
	int rc;

	if (!nbd_running(c) || vs_ctl_check_keys(c, keys) < 0 ||
	    vs_ctl_param_str(c, "name", true, 4096, &name) < 0 || vs_ctl_param_bool(c, "force", &force) < 0)
		return NULL;
	for (i = 0; i < n->nexports && strcmp(n->exports[i].name, name); i++)
		;
	if (i == n->nexports)
		return vs_ctl_fail(c, VS_CTL_NOT_FOUND, "params.name: no export '%.64s'", name);
	/* may wait for its clients' commands (force): not for long */
	rc = vs_nbd_remove_export(st->nbd, name, force);
	if (rc == -EBUSY)
		return vs_ctl_fail(c, VS_CTL_BUSY, "params.name: %s", vs_last_error());
	if (rc < 0)
		return vs_ctl_fail(c, VS_CTL_FAILED, "export.remove: %s", vs_last_error());
	json_t *r = json_pack("{s:s,s:b}", "name", name, "forced", force);
	vs_config_nbd_export_free(&n->exports[i]);
	memmove(&n->exports[i], &n->exports[i + 1], (n->nexports - i - 1) * sizeof(*n->exports));
	n->nexports--;
	return r;
}

static json_t *strings(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *vs_ctl_export_list(struct ctl_call *c)
{
	static const char *const keys[] = { NULL };
	struct vs_ctl_state *st = c->st;
	const struct vs_config_nbd *n = st->cfg->nbd;
	struct vs_nbd_export_info *info = NULL;
	size_t ninfo = 0;
	json_t *arr;

	if (vs_ctl_check_keys(c, keys) < 0 || !(arr = json_array()))
		return NULL;
	if (st->nbd && n && n->nexports) {
		info = calloc(n->nexports, sizeof(*info));
		ninfo = info ? vs_nbd_exports(st->nbd, info, n->nexports) : 0;
	}
	for (size_t i = 0; n && i < n->nexports; i++) {
		const struct vs_config_nbd_export *e = &n->exports[i];
		json_int_t conns = 0;

		for (size_t k = 0; k < ninfo && k < n->nexports; k++)
			if (!strcmp(info[k].name, e->name))
				conns = info[k].connections;
		json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:o,s:b,s:I}", "name", e->name, "target",
		                      e->target, "lun", (json_int_t)e->lun, "description",
		                      e->description ? e->description : "", "acl",
		                      strings(e->acl, e->nacl), "multi_conn", !e->no_multi_conn,
		                      "connections", conns);
		if (!o || json_array_append_new(arr, o)) {
			free(info);
			json_decref(arr);
			return NULL;
		}
	}
	free(info);
	return json_pack("{s:o}", "exports", arr);
}

json_t *vs_ctl_nbd_sessions(struct vs_ctl_state *st)
{
	struct vs_nbd_session_info *s = NULL;
	size_t cap = 64, n = 0;
	json_t *arr = json_array();

	while (arr && st->nbd) {
		free(s);
		if (!(s = calloc(cap, sizeof(*s))))
			break;
		n = vs_nbd_sessions(st->nbd, s, cap);
		if (n < cap)
			break;
		cap *= 2;
	}
	for (size_t i = 0; arr && s && i < n; i++) {
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:b,s:b,s:b,s:I,s:I,s:I,s:I,s:I}", "export",
		                      s[i].export_name, "peer", s[i].peer, "nexus", s[i].nexus,
		                      "tls_identity", s[i].tls_identity, "tls", s[i].tls,
		                      "structured_replies", s[i].structured, "block_status",
		                      s[i].block_status, "in_flight", (json_int_t)s[i].in_flight,
		                      "reads", (json_int_t)s[i].reads, "writes", (json_int_t)s[i].writes,
		                      "read_bytes", (json_int_t)s[i].read_bytes, "write_bytes",
		                      (json_int_t)s[i].write_bytes);
		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	free(s);
	return arr;
}

bool vs_ctl_nbd_in_use(struct ctl_call *c, const char *iqn, int64_t lun)
{
	const struct vs_config_nbd_export *e = vs_config_nbd_user(c->st->cfg, iqn, lun);

	if (!e)
		return false;
	vs_ctl_bad(c, VS_CTL_BUSY, "%s: NBD export '%.64s' serves %s LUN %" PRIu64
	        "; remove the export first", c->method, e->name, e->target, e->lun);
	return true;
}
