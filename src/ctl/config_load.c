/* SPDX-License-Identifier: MIT */
/*
 * JSON config → struct vs_config, validating as it goes.  The first problem
 * found becomes the one-line error "FILE: FIELD.PATH: what is wrong".
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"
#include "vstor/bdev.h"
#include "vstor/iscsi.h"

/* ---------------------------------------------------------------- chap */

static int load_chap(struct vs_cfg_loader *L, json_t *obj, const char *path, struct vs_config_chap *c)
{
	static const char *const keys[] = { "user", "secret", "mutual_user", "mutual_secret", NULL };
	int rc;
	if ((rc = vs_cfg_check_keys(L, obj, path, keys)) ||
	    (rc = vs_cfg_get_string(L, obj, path, "user", true, VS_CHAP_FIELD_MAX, &c->user)) ||
	    (rc = vs_cfg_get_string(L, obj, path, "secret", true, VS_CHAP_FIELD_MAX, &c->secret)) ||
	    (rc = vs_cfg_get_string(L, obj, path, "mutual_user", false, VS_CHAP_FIELD_MAX, &c->mutual_user)) ||
	    (rc = vs_cfg_get_string(L, obj, path, "mutual_secret", false, VS_CHAP_FIELD_MAX, &c->mutual_secret)))
		return rc;
	char p[VS_CFG_PATH_MAX];
	if (c->mutual_user && !c->mutual_secret) {
		vs_cfg_join(p, path, "mutual_secret");
		return vs_cfg_bad(L, p, "missing (required with mutual_user)");
	}
	if (c->mutual_secret && !c->mutual_user) {
		vs_cfg_join(p, path, "mutual_user");
		return vs_cfg_bad(L, p, "missing (required with mutual_secret)");
	}
	/* RFC 7143 §9.2.1: a secret used to authenticate initiators must not
	 * also authenticate the target. */
	if (c->mutual_secret && strcmp(c->mutual_secret, c->secret) == 0) {
		vs_cfg_join(p, path, "mutual_secret");
		return vs_cfg_bad(L, p, "must differ from secret (RFC 7143 9.2.1)");
	}
	return 0;
}

/* ---------------------------------------------------------------- target */

/*
 * An array of distinct strings that each pass check (ACL names, portals).
 * quote: the reason does not show the value, so the message quotes it.
 */
static int load_strings(struct vs_cfg_loader *L, json_t *arr, const char *path,
                        bool (*check)(const char *, char *, size_t), bool quote, char ***out,
                        size_t *np)
{
	size_t count = json_array_size(arr);
	*out = calloc(count ? count : 1, sizeof(char *));
	if (!*out)
		return vs_cfg_bad(L, path, "out of memory");
	for (size_t i = 0; i < count; i++) {
		char p[VS_CFG_PATH_MAX], why[160];
		json_t *v = json_array_get(arr, i);
		vs_cfg_pathf(p, "%s[%zu]", path, i);
		if (!json_is_string(v))
			return vs_cfg_bad(L, p, "must be a string, got %s", vs_config_json_type(v));
		const char *s = json_string_value(v);
		if (!check(s, why, sizeof(why)))
			return quote ? vs_cfg_bad(L, p, "\"%.64s\": %s", s, why) : vs_cfg_bad(L, p, "%s", why);
		for (size_t j = 0; j < i; j++)
			if (strcmp((*out)[j], s) == 0)
				return vs_cfg_bad(L, p, "duplicate of %s[%zu]", path, j);
		(*out)[i] = strdup(s);
		if (!(*out)[i])
			return vs_cfg_bad(L, p, "out of memory");
		*np = i + 1;
	}
	return 0;
}

static int load_names(struct vs_cfg_loader *L, json_t *arr, const char *path, char ***out, size_t *n)
{
	return load_strings(L, arr, path, vs_iscsi_name_valid, true, out, n);
}

/* ADDR:PORT strings, at least one, no duplicates (portals, targets[].portals). */
static int load_portals(struct vs_cfg_loader *L, json_t *arr, const char *path, char ***out, size_t *np)
{
	if (json_array_size(arr) == 0)
		return vs_cfg_bad(L, path, "must list at least one ADDR:PORT");
	return load_strings(L, arr, path, vs_portal_valid, false, out, np);
}

static int load_target(struct vs_cfg_loader *L, json_t *obj, const char *path, struct vs_config_target *t)
{
	static const char *const keys[] = { "iqn", "alias", "portals", "acl", "chap", "luns", NULL };
	int rc;
	char p[VS_CFG_PATH_MAX], why[160];

	if (!json_is_object(obj))
		return vs_cfg_bad(L, path, "must be an object, got %s", vs_config_json_type(obj));
	if ((rc = vs_cfg_check_keys(L, obj, path, keys)) ||
	    (rc = vs_cfg_get_string(L, obj, path, "iqn", true, VS_ISCSI_NAME_MAX + 64, &t->iqn)))
		return rc;
	vs_cfg_join(p, path, "iqn");
	if (!vs_iscsi_name_valid(t->iqn, why, sizeof(why)))
		return vs_cfg_bad(L, p, "\"%.64s\": %s", t->iqn, why);
	/* TargetAlias is human-readable text (RFC 7143 §13.6); 255 is our cap. */
	if ((rc = vs_cfg_get_string(L, obj, path, "alias", false, 255, &t->alias)))
		return rc;

	json_t *portals, *acl, *chap, *luns;
	/* Where this target is served; absent: on the daemon's portals. */
	if ((rc = vs_cfg_get_array(L, obj, path, "portals", &portals)))
		return rc;
	if (portals) {
		vs_cfg_join(p, path, "portals");
		if ((rc = load_portals(L, portals, p, &t->portals, &t->nportals)))
			return rc;
	}
	if ((rc = vs_cfg_get_array(L, obj, path, "acl", &acl)))
		return rc;
	if (acl) {
		vs_cfg_join(p, path, "acl");
		if ((rc = load_names(L, acl, p, &t->acl, &t->nacl)))
			return rc;
	}
	if ((rc = vs_cfg_get_object(L, obj, path, "chap", &chap)))
		return rc;
	if (chap) {
		t->has_chap = true;
		vs_cfg_join(p, path, "chap");
		if ((rc = load_chap(L, chap, p, &t->chap)))
			return rc;
	}
	if ((rc = vs_cfg_get_array(L, obj, path, "luns", &luns)))
		return rc;
	if (!luns)
		return 0;
	size_t n = json_array_size(luns);
	t->luns = calloc(n ? n : 1, sizeof(*t->luns));
	if (!t->luns)
		return vs_cfg_bad(L, path, "out of memory");
	for (size_t i = 0; i < n; i++) {
		vs_cfg_index_path(p, path, "luns", i);
		t->nluns = i + 1;
		if ((rc = vs_cfg_load_lun(L, json_array_get(luns, i), p, &t->luns[i])))
			return rc;
		for (size_t j = 0; j < i; j++) {
			if (t->luns[j].lun == t->luns[i].lun) {
				char lp[VS_CFG_PATH_MAX];
				vs_cfg_join(lp, p, "lun");
				return vs_cfg_bad(L, lp, "LUN %" PRIu64 " is already used by %s.luns[%zu]", t->luns[i].lun,
				           path, j);
			}
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- top */

/* The ranges are the fabric's own (vstor/iscsi.h): what loads here, the
 * fabric accepts at start-up. */
static int load_iscsi(struct vs_cfg_loader *L, json_t *obj, struct vs_config_iscsi *is)
{
	static const char *const keys[] = { "max_recv_data_segment_length", "max_burst_length",
		                            "first_burst_length", "queue_depth", "nop_interval_ms",
		                            "nop_timeout_ms", "max_outstanding_r2t", "max_connections",
		                            "max_sessions", "login_timeout_ms", "poll_us", NULL };
	const char *path = "iscsi";
	const uint32_t tmin = VS_ISCSI_TIMER_MS_MIN, tmax = VS_ISCSI_TIMER_MS_MAX;
	int rc;
	if ((rc = vs_cfg_check_keys(L, obj, path, keys)) ||
	    (rc = vs_cfg_get_u32(L, obj, path, "max_recv_data_segment_length", VS_ISCSI_DSL_MIN,
	                  VS_ISCSI_MAX_RECV_DSL_MAX, &is->max_recv_data_segment_length)) ||
	    (rc = vs_cfg_get_u32(L, obj, path, "max_burst_length", VS_ISCSI_DSL_MIN, VS_ISCSI_BURST_MAX,
	                  &is->max_burst_length)) ||
	    (rc = vs_cfg_get_u32(L, obj, path, "first_burst_length", VS_ISCSI_DSL_MIN, VS_ISCSI_BURST_MAX,
	                  &is->first_burst_length)) ||
	    (rc = vs_cfg_get_u32(L, obj, path, "queue_depth", 1, VS_ISCSI_QUEUE_DEPTH_MAX, &is->queue_depth)) ||
	    (rc = vs_cfg_get_u32(L, obj, path, "nop_interval_ms", tmin, tmax, &is->nop_interval_ms)) ||
	    (rc = vs_cfg_get_u32(L, obj, path, "nop_timeout_ms", tmin, tmax, &is->nop_timeout_ms)) ||
	    (rc = vs_cfg_get_u32(L, obj, path, "max_outstanding_r2t", 1, VS_ISCSI_MAX_R2T_MAX,
	                  &is->max_outstanding_r2t)) ||
	    (rc = vs_cfg_get_u32(L, obj, path, "max_connections", 1, VS_ISCSI_MAX_CONNECTIONS_MAX,
	                  &is->max_connections)) ||
	    (rc = vs_cfg_get_u32(L, obj, path, "max_sessions", 1, VS_ISCSI_MAX_SESSIONS_MAX,
	                  &is->max_sessions)) ||
	    (rc = vs_cfg_get_u32(L, obj, path, "login_timeout_ms", tmin, tmax, &is->login_timeout_ms)))
		return rc;
	/* "poll_us": 0 switches hybrid polling off; absent keeps the default. */
	const uint32_t absent = UINT32_MAX - 1;
	uint32_t poll = absent;
	if ((rc = vs_cfg_get_u32(L, obj, path, "poll_us", 0, VS_ISCSI_POLL_US_MAX, &poll)))
		return rc;
	if (poll != absent)
		is->poll_us = poll ? poll : VS_ISCSI_POLL_OFF;
	/* RFC 7143 §13.14: FirstBurstLength MUST NOT exceed MaxBurstLength. */
	uint32_t mbl = is->max_burst_length ? is->max_burst_length : VS_ISCSI_DEFAULT_MAX_BURST;
	if (is->first_burst_length > mbl)
		return vs_cfg_bad(L, "iscsi.first_burst_length",
		           "must not exceed max_burst_length (%" PRIu32 ", RFC 7143 13.14), got %" PRIu32,
		           mbl, is->first_burst_length);
	return 0;
}

/* force_remove[]: "IQN" (a target) or "IQN/LUN" (one of its LUNs). */
static bool force_entry_valid(const char *s, char *why, size_t whylen)
{
	const char *slash = strrchr(s, '/');
	char iqn[VS_ISCSI_NAME_MAX + 1];
	char *end;

	if (!slash)
		return vs_iscsi_name_valid(s, why, whylen);
	unsigned long lun = strtoul(slash + 1, &end, 10);
	if (slash[1] < '0' || slash[1] > '9' || *end || lun > VS_CONFIG_MAX_LUN) {
		snprintf(why, whylen, "must be IQN or IQN/LUN with LUN 0-" VS_CONFIG_MAX_LUN_STR);
		return false;
	}
	snprintf(iqn, sizeof(iqn), "%.*s", (int)(slash - s), s);
	return vs_iscsi_name_valid(iqn, why, whylen);
}

/* "metrics": {"listen": "ADDR:PORT"}, loopback unless told otherwise */
static int load_metrics(struct vs_cfg_loader *L, json_t *obj, struct vs_config *cfg)
{
	static const char *const keys[] = { "listen", NULL };
	char why[128];
	int rc;

	if ((rc = vs_cfg_check_keys(L, obj, "metrics", keys)) ||
	    (rc = vs_cfg_get_string(L, obj, "metrics", "listen", false, 64, &cfg->metrics_listen)))
		return rc;
	if (!cfg->metrics_listen && !(cfg->metrics_listen = strdup(VS_CONFIG_DEFAULT_METRICS)))
		return vs_cfg_bad(L, "metrics", "out of memory");
	if (!vs_portal_valid(cfg->metrics_listen, why, sizeof(why)))
		return vs_cfg_bad(L, "metrics.listen", "%s", why);
	return 0;
}

static int load_root(struct vs_cfg_loader *L, json_t *root, struct vs_config *cfg)
{
	static const char *const keys[] = { "portals", "threads", "iscsi", "discovery_chap", "targets",
		                            "nbd", "metrics", "force_remove", NULL };
	int rc;
	json_t *portals, *iscsi, *dchap, *targets, *metrics, *force;

	if (!json_is_object(root))
		return vs_cfg_bad(L, NULL, "the top level must be an object, got %s", vs_config_json_type(root));
	if ((rc = vs_cfg_check_keys(L, root, "", keys)) ||
	    (rc = vs_cfg_get_array(L, root, "", "portals", &portals)) ||
	    (rc = vs_cfg_get_u32(L, root, "", "threads", 0, 256, &cfg->threads)) ||
	    (rc = vs_cfg_get_object(L, root, "", "iscsi", &iscsi)) ||
	    (rc = vs_cfg_get_object(L, root, "", "discovery_chap", &dchap)) ||
	    (rc = vs_cfg_get_array(L, root, "", "targets", &targets)) ||
	    (rc = vs_cfg_get_object(L, root, "", "metrics", &metrics)) ||
	    (rc = vs_cfg_get_array(L, root, "", "force_remove", &force)))
		return rc;
	if (force && (rc = load_strings(L, force, "force_remove", force_entry_valid, true,
	                                &cfg->force_remove, &cfg->nforce_remove)))
		return rc;
	if (metrics && (rc = load_metrics(L, metrics, cfg)))
		return rc;
	if (portals) {
		if ((rc = load_portals(L, portals, "portals", &cfg->portals, &cfg->nportals)))
			return rc;
	} else {
		const char *def = VS_CONFIG_DEFAULT_PORTAL;
		if ((rc = vs_config_set_portals(cfg, &def, 1, L->err, L->errlen)))
			return rc;
	}
	if (iscsi && (rc = load_iscsi(L, iscsi, &cfg->iscsi)))
		return rc;
	if (dchap) {
		cfg->has_discovery_chap = true;
		if ((rc = load_chap(L, dchap, "discovery_chap", &cfg->discovery_chap)))
			return rc;
	}
	if (!targets)
		return 0;
	size_t n = json_array_size(targets);
	cfg->targets = calloc(n ? n : 1, sizeof(*cfg->targets));
	if (!cfg->targets)
		return vs_cfg_bad(L, "targets", "out of memory");
	for (size_t i = 0; i < n; i++) {
		char p[VS_CFG_PATH_MAX];
		vs_cfg_index_path(p, "", "targets", i);
		cfg->ntargets = i + 1;
		if ((rc = load_target(L, json_array_get(targets, i), p, &cfg->targets[i])))
			return rc;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(cfg->targets[j].iqn, cfg->targets[i].iqn) == 0) {
				char ip[VS_CFG_PATH_MAX];
				vs_cfg_join(ip, p, "iqn");
				return vs_cfg_bad(L, ip, "duplicate of targets[%zu].iqn", j);
			}
		}
	}
	return 0;
}

static int load_json(struct vs_cfg_loader *L, json_t *root, json_error_t *jerr, struct vs_config **out)
{
	*out = NULL;
	if (!root) {
		/* JSON syntax error: FILE:LINE:COLUMN like a compiler. */
		if (L->err && L->errlen) {
			char line[VS_CONFIG_ERR_MAX * 2];
			snprintf(line, sizeof(line), "%s:%d:%d: %s", L->file, jerr->line, jerr->column,
			         jerr->text);
			vs_cfg_one_line(L->err, L->errlen, line);
		}
		return -EINVAL;
	}
	struct vs_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		json_decref(root);
		return vs_cfg_bad(L, NULL, "out of memory");
	}
	int rc = load_root(L, root, cfg);
	/* after the targets: NBD exports name them (config_nbd.c) */
	json_t *nbd = rc ? NULL : json_object_get(root, "nbd");
	if (nbd)
		rc = vs_config_nbd_load(nbd, L->file, cfg, &cfg->nbd, L->err, L->errlen);
	json_decref(root);
	if (rc) {
		vs_config_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

/* Duplicate keys are refused: with two "size" keys one would be ignored. */
#define JSON_FLAGS JSON_REJECT_DUPLICATES

int vs_config_load_buffer(const char *name, const char *buf, size_t len, struct vs_config **out,
                          char *err, size_t errlen)
{
	struct vs_cfg_loader L = { .file = name ? name : "config", .err = err, .errlen = errlen };
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, JSON_FLAGS, &jerr);
	return load_json(&L, root, &jerr, out);
}

/*
 * A relative LUN path in a file means relative to that file, wherever
 * vstord was started from: the same file always names the same disks (a
 * path taken against the working directory would, after a restart from
 * elsewhere, quietly create a new empty image).  The model keeps the
 * absolute path, so config save writes it back that way.
 */
static int resolve_lun_paths(struct vs_cfg_loader *L, const char *file, struct vs_config *cfg)
{
	char part[PATH_MAX], dir[PATH_MAX];
	const char *slash = strrchr(file, '/');
	/* The file's directory as written ("." if none), then canonical: it
	 * exists, since the file was just read from it. */
	int n = snprintf(part, sizeof(part), "%.*s", slash ? (slash == file ? 1 : (int)(slash - file)) : 1,
	                 slash ? file : ".");
	if (n < 0 || (size_t)n >= sizeof(part) || !realpath(part, dir))
		return vs_cfg_bad(L, NULL, "cannot resolve relative LUN paths against '%s': %s", part,
		           n < 0 || (size_t)n >= sizeof(part) ? "name too long" : strerror(errno));
	for (size_t ti = 0; ti < cfg->ntargets; ti++) {
		struct vs_config_target *t = &cfg->targets[ti];
		for (size_t li = 0; li < t->nluns; li++) {
			char where[VS_CFG_PATH_MAX];
			int rc;

			vs_cfg_pathf(where, "targets[%zu].luns[%zu]", ti, li);
			if ((rc = vs_cfg_lun_resolve_paths(L, dir, where, &t->luns[li])))
				return rc;
		}
	}
	return 0;
}

int vs_config_load_file(const char *path, struct vs_config **out, char *err, size_t errlen)
{
	struct vs_cfg_loader L = { .file = path, .err = err, .errlen = errlen };
	*out = NULL;
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	json_error_t jerr;
	json_t *root = json_loadf(f, JSON_FLAGS, &jerr);
	fclose(f);
	int rc = load_json(&L, root, &jerr, out);
	if (rc == 0 && ((rc = resolve_lun_paths(&L, path, *out)) != 0 ||
	                ((*out)->nbd &&
	                 (rc = vs_config_nbd_resolve_paths((*out)->nbd, path, err, errlen)) != 0))) {
		vs_config_free(*out);
		*out = NULL;
	}
	return rc;
}

/* ---------------------------------------------------------------- pieces */

/* The control plane validates its requests with the file's own rules; the
 * errors then read "PATH.FIELD: what is wrong" without a file name. */
int vs_config_parse_lun(json_t *obj, const char *path, struct vs_config_lun *out, char *err,
                        size_t errlen)
{
	struct vs_cfg_loader L = { .file = NULL, .err = err, .errlen = errlen };
	memset(out, 0, sizeof(*out));
	int rc = vs_cfg_load_lun(&L, obj, path, out);
	if (rc)
		vs_config_lun_free(out);
	return rc;
}

int vs_config_parse_leg(json_t *obj, const char *path, struct vs_config_stack *out, char *err,
                        size_t errlen)
{
	struct vs_cfg_loader L = { .file = NULL, .err = err, .errlen = errlen };
	memset(out, 0, sizeof(*out));
	int rc = vs_cfg_load_leg(&L, obj, path, out);
	if (rc)
		vs_config_stack_free(out);
	return rc;
}

int vs_config_parse_portals(json_t *arr, const char *path, char ***out, size_t *n, char *err,
                            size_t errlen)
{
	struct vs_cfg_loader L = { .file = NULL, .err = err, .errlen = errlen };
	*out = NULL;
	*n = 0;
	if (!json_is_array(arr))
		return vs_cfg_bad(&L, path, "must be an array, got %s", vs_config_json_type(arr));
	int rc = load_portals(&L, arr, path, out, n);
	if (rc) {
		vs_config_names_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int vs_config_parse_chap(json_t *obj, const char *path, struct vs_config_chap *out, char *err,
                         size_t errlen)
{
	struct vs_cfg_loader L = { .file = NULL, .err = err, .errlen = errlen };
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return vs_cfg_bad(&L, path, "must be an object, got %s", vs_config_json_type(obj));
	int rc = load_chap(&L, obj, path, out);
	if (rc)
		vs_config_chap_free(out);
	return rc;
}
