/* SPDX-License-Identifier: MIT */
/*
 * The "nbd" section of the configuration: the NBD fabric's portals,
 * limits, TLS and exports (a name for one LUN of a target):
 *
 *   "nbd": { "portals": ["127.0.0.1:10809"], "queue_depth": 64,
 *            "max_payload": 33554432, "max_connections": 256,
 *            "handshake_timeout_ms": 15000, "poll_us": 50,
 *            "tls": { "mode": "off|on|require", "cert": F, "key": F, "ca": F,
 *                     "psk_file": F },
 *            "exports": [ { "name": "disk", "target": IQN, "lun": 0,
 *                           "description": "...", "acl": ["127.0.0.1", "tls:alice"],
 *                           "multi_conn": true } ] }
 *
 * Loaded after the targets, so an export naming a target or LUN that does
 * not exist is an error of the file, not of the first client.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "vstor/nbd.h"

#define NBD_NAME_MAX 4096       /* proto.md "Conventions": strings */

static const char *const tls_modes[] = { "off", "on", "require" };

void vs_config_nbd_export_free(struct vs_config_nbd_export *e)
{
	free(e->name);
	free(e->target);
	free(e->description);
	vs_config_names_free(e->acl, e->nacl);
	memset(e, 0, sizeof(*e));
}

void vs_config_nbd_free(struct vs_config_nbd *n)
{
	if (!n)
		return;
	vs_config_names_free(n->portals, n->nportals);
	free(n->tls_cert);
	free(n->tls_key);
	free(n->tls_ca);
	free(n->tls_psk_file);
	for (size_t i = 0; i < n->nexports; i++)
		vs_config_nbd_export_free(&n->exports[i]);
	free(n->exports);
	free(n);
}

static const struct vs_config_target *find_target(const struct vs_config *cfg, const char *iqn)
{
	for (size_t i = 0; i < cfg->ntargets; i++)
		if (!strcasecmp(cfg->targets[i].iqn, iqn))
			return &cfg->targets[i];
	return NULL;
}

static bool has_lun(const struct vs_config_target *t, uint64_t lun)
{
	for (size_t i = 0; i < t->nluns; i++)
		if (t->luns[i].lun == lun)
			return true;
	return false;
}

/* acl: distinct strings, each an address, a network or tls:IDENTITY */
static int load_acl(struct vs_cfg_loader *L, json_t *arr, const char *path,
                    struct vs_config_nbd_export *e)
{
	size_t count = json_array_size(arr);

	e->acl = calloc(count ? count : 1, sizeof(char *));
	if (!e->acl)
		return vs_cfg_bad(L, path, "out of memory");
	for (size_t i = 0; i < count; i++) {
		char p[VS_CFG_PATH_MAX], why[160];
		json_t *v = json_array_get(arr, i);
		const char *s = json_string_value(v);

		vs_cfg_pathf(p, "%s.acl[%zu]", path, i);
		if (!s)
			return vs_cfg_bad(L, p, "must be a string, got %s", vs_config_json_type(v));
		if (!vs_nbd_acl_entry_valid(s, why, sizeof(why)))
			return vs_cfg_bad(L, p, "\"%.64s\": %s", s, why);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(e->acl[j], s))
				return vs_cfg_bad(L, p, "duplicate of %s.acl[%zu]", path, j);
		if (!(e->acl[i] = strdup(s)))
			return vs_cfg_bad(L, p, "out of memory");
		e->nacl = i + 1;
	}
	return 0;
}

static int parse_export(struct vs_cfg_loader *L, json_t *obj, const char *path,
                        const struct vs_config *cfg, struct vs_config_nbd_export *e)
{
	static const char *const keys[] = { "name", "target", "lun", "description", "acl",
		                            "multi_conn", NULL };
	const struct vs_config_target *t;
	bool multi = true, have_lun;
	json_t *acl;
	char p[VS_CFG_PATH_MAX];
	int rc;

	memset(e, 0, sizeof(*e));
	if (!json_is_object(obj))
		return vs_cfg_bad(L, path, "must be an object, got %s", vs_config_json_type(obj));
	if ((rc = vs_cfg_check_keys(L, obj, path, keys)) ||
	    (rc = vs_cfg_get_string(L, obj, path, "name", true, NBD_NAME_MAX, &e->name)) ||
	    (rc = vs_cfg_get_string(L, obj, path, "target", true, VS_ISCSI_NAME_MAX, &e->target)) ||
	    (rc = vs_cfg_get_uint(L, obj, path, "lun", 0, VS_CONFIG_MAX_LUN, &have_lun, &e->lun)) ||
	    (rc = vs_cfg_get_string(L, obj, path, "description", false, 255, &e->description)) ||
	    (rc = vs_cfg_get_array(L, obj, path, "acl", &acl)) ||
	    (rc = vs_cfg_get_bool(L, obj, path, "multi_conn", NULL, &multi)))
		return rc;
	e->no_multi_conn = !multi;
	vs_cfg_join(p, path, "lun");
	if (!have_lun)
		return vs_cfg_bad(L, p, "missing (required)");
	t = find_target(cfg, e->target);
	if (!t) {
		vs_cfg_join(p, path, "target");
		return vs_cfg_bad(L, p, "no target '%.64s'", e->target);
	}
	if (!has_lun(t, e->lun))
		return vs_cfg_bad(L, p, "target '%.64s' has no LUN %" PRIu64, t->iqn, e->lun);
	if (acl && (rc = load_acl(L, acl, path, e)))
		return rc;
	for (size_t i = 0; cfg->nbd && i < cfg->nbd->nexports; i++)
		if (!strcmp(cfg->nbd->exports[i].name, e->name)) {
			vs_cfg_join(p, path, "name");
			return vs_cfg_bad(L, p, "export '%.64s' exists", e->name);
		}
	return 0;
}

int vs_config_nbd_parse_export(json_t *obj, const char *path, const struct vs_config *cfg,
                               struct vs_config_nbd_export *out, char *err, size_t errlen)
{
	struct vs_cfg_loader L = { .err = err, .errlen = errlen };
	int rc = parse_export(&L, obj, path, cfg, out);

	if (rc)
		vs_config_nbd_export_free(out);
	return rc;
}

static bool only_tls_identities(const struct vs_config_nbd_export *e)
{
	for (size_t i = 0; i < e->nacl; i++)
		if (strncmp(e->acl[i], "tls:", 4))
			return false;
	return e->nacl > 0;
}

static int load_tls(struct vs_cfg_loader *L, json_t *obj, struct vs_config_nbd *n)
{
	static const char *const keys[] = { "mode", "cert", "key", "ca", "psk_file", NULL };
	char *mode = NULL;
	int rc;

	if ((rc = vs_cfg_check_keys(L, obj, "nbd.tls", keys)) ||
	    (rc = vs_cfg_get_string(L, obj, "nbd.tls", "mode", false, 16, &mode)) ||
	    (rc = vs_cfg_get_string(L, obj, "nbd.tls", "cert", false, PATH_MAX - 1, &n->tls_cert)) ||
	    (rc = vs_cfg_get_string(L, obj, "nbd.tls", "key", false, PATH_MAX - 1, &n->tls_key)) ||
	    (rc = vs_cfg_get_string(L, obj, "nbd.tls", "ca", false, PATH_MAX - 1, &n->tls_ca)) ||
	    (rc = vs_cfg_get_string(L, obj, "nbd.tls", "psk_file", false, PATH_MAX - 1, &n->tls_psk_file))) {
		free(mode);
		return rc;
	}
	n->tls_mode = mode ? -1 : VS_NBD_TLS_ON;        /* a tls block means TLS, unless said */
	for (int i = 0; mode && i < 3; i++)
		if (!strcmp(mode, tls_modes[i]))
			n->tls_mode = i;
	if (n->tls_mode < 0) {
		rc = vs_cfg_bad(L, "nbd.tls.mode", "must be \"off\", \"on\" or \"require\", got \"%.16s\"", mode);
		free(mode);
		return rc;
	}
	free(mode);
	if (!n->tls_cert != !n->tls_key)
		return vs_cfg_bad(L, n->tls_cert ? "nbd.tls.key" : "nbd.tls.cert",
		           "missing (cert and key go together)");
	if (n->tls_ca && !n->tls_cert)
		return vs_cfg_bad(L, "nbd.tls.ca", "needs cert and key (the server proves itself first)");
	if (n->tls_mode != VS_NBD_TLS_OFF && !n->tls_cert && !n->tls_psk_file)
		return vs_cfg_bad(L, "nbd.tls", "needs cert and key, or psk_file");
	return 0;
}

static int load_exports(struct vs_cfg_loader *L, json_t *arr, const struct vs_config *cfg,
                        struct vs_config_nbd *n)
{
	size_t count = json_array_size(arr);
	struct vs_config fake = *cfg;   /* sees the exports loaded so far */

	n->exports = calloc(count ? count : 1, sizeof(*n->exports));
	if (!n->exports)
		return vs_cfg_bad(L, "nbd.exports", "out of memory");
	for (size_t i = 0; i < count; i++) {
		char p[VS_CFG_PATH_MAX];
		int rc;

		vs_cfg_index_path(p, "nbd", "exports", i);
		fake.nbd = n;
		rc = parse_export(L, json_array_get(arr, i), p, &fake, &n->exports[i]);
		n->nexports = i + 1;
		if (rc)
			return rc;
		if (only_tls_identities(&n->exports[i]) && n->tls_mode == VS_NBD_TLS_OFF) {
			char ap[VS_CFG_PATH_MAX];

			vs_cfg_join(ap, p, "acl");
			return vs_cfg_bad(L, ap, "only TLS identities, but nbd.tls is off");
		}
	}
	return 0;
}

/* "poll_us": 0 switches hybrid polling off; absent keeps the default. */
static int get_poll_us(struct vs_cfg_loader *L, json_t *obj, uint32_t *out)
{
	const uint32_t absent = UINT32_MAX - 1;
	uint32_t v = absent;
	int rc = vs_cfg_get_u32(L, obj, "nbd", "poll_us", 0, VS_NBD_POLL_US_MAX, &v);

	if (!rc && v != absent)
		*out = v ? v : VS_NBD_POLL_OFF;
	return rc;
}

int vs_config_nbd_load(json_t *obj, const char *file, const struct vs_config *cfg,
                       struct vs_config_nbd **out, char *err, size_t errlen)
{
	static const char *const keys[] = { "portals", "queue_depth", "max_payload", "max_connections",
		                            "handshake_timeout_ms", "poll_us", "tls", "exports", NULL };
	struct vs_cfg_loader L = { .file = file, .err = err, .errlen = errlen };
	struct vs_config_nbd *n;
	json_t *portals, *tls, *exports;
	int rc;

	*out = NULL;
	if (!json_is_object(obj))
		return vs_cfg_bad(&L, "nbd", "must be an object, got %s", vs_config_json_type(obj));
	n = calloc(1, sizeof(*n));
	if (!n)
		return vs_cfg_bad(&L, "nbd", "out of memory");
	if ((rc = vs_cfg_check_keys(&L, obj, "nbd", keys)) ||
	    (rc = vs_cfg_get_array(&L, obj, "nbd", "portals", &portals)) ||
	    (rc = vs_cfg_get_u32(&L, obj, "nbd", "queue_depth", 1, VS_NBD_QUEUE_DEPTH_MAX, &n->queue_depth)) ||
	    (rc = vs_cfg_get_u32(&L, obj, "nbd", "max_payload", 4096, VS_NBD_MAX_PAYLOAD_MAX,
	                  &n->max_payload)) ||
	    (rc = vs_cfg_get_u32(&L, obj, "nbd", "max_connections", 1, VS_NBD_CONNECTIONS_MAX,
	                  &n->max_connections)) ||
	    (rc = vs_cfg_get_u32(&L, obj, "nbd", "handshake_timeout_ms", 100, 3600000,
	                  &n->handshake_timeout_ms)) ||
	    (rc = get_poll_us(&L, obj, &n->poll_us)) ||
	    (rc = vs_cfg_get_object(&L, obj, "nbd", "tls", &tls)) ||
	    (rc = vs_cfg_get_array(&L, obj, "nbd", "exports", &exports)))
		goto fail;
	if (portals) {
		char why[VS_CONFIG_ERR_MAX];

		rc = vs_config_parse_portals(portals, "nbd.portals", &n->portals, &n->nportals, why,
		                             sizeof(why));
		if (rc)
			snprintf(err, errlen, "%s%s%s", file ? file : "", file ? ": " : "", why);
	} else if (!(n->portals = calloc(1, sizeof(char *))) ||
	         !(n->portals[0] = strdup(VS_CONFIG_NBD_DEFAULT_PORTAL)))
		rc = vs_cfg_bad(&L, "nbd.portals", "out of memory");
	else
		n->nportals = 1;
	if (rc || (tls && (rc = load_tls(&L, tls, n))) ||
	    (exports && (rc = load_exports(&L, exports, cfg, n))))
		goto fail;
	*out = n;
	return 0;
fail:
	vs_config_nbd_free(n);
	return rc;
}

int vs_config_nbd_resolve_paths(struct vs_config_nbd *n, const char *file, char *err,
                                size_t errlen)
{
	char *files[] = { n->tls_cert, n->tls_key, n->tls_ca, n->tls_psk_file };
	char **slots[] = { &n->tls_cert, &n->tls_key, &n->tls_ca, &n->tls_psk_file };
	char part[PATH_MAX], dir[PATH_MAX];
	const char *slash = strrchr(file, '/');

	snprintf(part, sizeof(part), "%.*s", slash ? (slash == file ? 1 : (int)(slash - file)) : 1,
	         slash ? file : ".");
	if (!realpath(part, dir)) {
		snprintf(err, errlen, "%s: cannot resolve nbd.tls paths against '%s': %s", file, part,
		         strerror(errno));
		return -EINVAL;
	}
	for (int i = 0; i < 4; i++) {
		char *abs = NULL;

		if (!files[i] || files[i][0] == '/')
			continue;
		if (asprintf(&abs, "%s/%s", dir, files[i]) < 0)
			return -ENOMEM;
		free(*slots[i]);
		*slots[i] = abs;
	}
	return 0;
}

const struct vs_config_nbd_export *vs_config_nbd_user(const struct vs_config *cfg, const char *iqn,
                                                      int64_t lun)
{
	for (size_t i = 0; cfg->nbd && i < cfg->nbd->nexports; i++) {
		const struct vs_config_nbd_export *e = &cfg->nbd->exports[i];

		if (!strcasecmp(e->target, iqn) && (lun < 0 || e->lun == (uint64_t)lun))
			return e;
	}
	return NULL;
}

static json_t *strings_json(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *vs_config_nbd_json(const struct vs_config_nbd *n, bool *oom)
{
	json_t *o = json_object(), *ex = json_array();

	if (!o || !ex) {
		*oom = true;
		json_decref(ex);
		return o;
	}
	json_object_set_new(o, "portals", strings_json(n->portals, n->nportals));
	if (n->queue_depth)
		json_object_set_new(o, "queue_depth", json_integer(n->queue_depth));
	if (n->max_payload)
		json_object_set_new(o, "max_payload", json_integer(n->max_payload));
	if (n->max_connections)
		json_object_set_new(o, "max_connections", json_integer(n->max_connections));
	if (n->handshake_timeout_ms)
		json_object_set_new(o, "handshake_timeout_ms", json_integer(n->handshake_timeout_ms));
	if (n->poll_us)
		json_object_set_new(o, "poll_us",
		                    json_integer(n->poll_us == VS_NBD_POLL_OFF ? 0 : n->poll_us));
	if (n->tls_mode != VS_NBD_TLS_OFF || n->tls_cert || n->tls_psk_file) {
		json_t *t = json_pack("{s:s}", "mode", tls_modes[n->tls_mode]);

		if (t && n->tls_cert)
			json_object_set_new(t, "cert", json_string(n->tls_cert));
		if (t && n->tls_key)
			json_object_set_new(t, "key", json_string(n->tls_key));
		if (t && n->tls_ca)
			json_object_set_new(t, "ca", json_string(n->tls_ca));
		if (t && n->tls_psk_file)
			json_object_set_new(t, "psk_file", json_string(n->tls_psk_file));
		*oom |= !t;
		json_object_set_new(o, "tls", t);
	}
	for (size_t i = 0; i < n->nexports; i++) {
		const struct vs_config_nbd_export *e = &n->exports[i];
		json_t *x = json_pack("{s:s,s:s,s:I}", "name", e->name, "target", e->target, "lun",
		                      (json_int_t)e->lun);

		if (x && e->description)
			json_object_set_new(x, "description", json_string(e->description));
		if (x && e->nacl)
			json_object_set_new(x, "acl", strings_json(e->acl, e->nacl));
		if (x && e->no_multi_conn)
			json_object_set_new(x, "multi_conn", json_false());
		*oom |= !x || json_array_append_new(ex, x);
	}
	json_object_set_new(o, "exports", ex);
	return o;
}
