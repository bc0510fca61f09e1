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

#include "config.h"
#include "vstor/bdev.h"
#include "vstor/iscsi.h"

struct loader {
	const char *file;
	char *err;
	size_t errlen;
};

#define PATH_MAX_LEN 160

/*
 * Copy src to dst escaping control bytes as \xNN: keys and values from the
 * file end up in messages, and an error must stay one line.
 */
static void one_line(char *dst, size_t dstlen, const char *src)
{
	size_t o = 0;
	for (; *src && o + 1 < dstlen; src++) {
		unsigned char c = (unsigned char)*src;
		if (c < 0x20 || c == 0x7f) {
			if (o + 5 >= dstlen)
				break;
			snprintf(dst + o, 5, "\\x%02x", c);
			o += 4;
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
}

static int bad(struct loader *L, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(struct loader *L, const char *path, const char *fmt, ...)
{
	char msg[VS_CONFIG_ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (L->err && L->errlen) {
		char line[VS_CONFIG_ERR_MAX * 2];
		/* No file name: a control-plane request ("params.size: ..."). */
		if (!L->file)
			snprintf(line, sizeof(line), "%s: %s", path && *path ? path : "params", msg);
		else if (path && *path)
			snprintf(line, sizeof(line), "%s: %s: %s", L->file, path, msg);
		else
			snprintf(line, sizeof(line), "%s: %s", L->file, msg);
		one_line(L->err, L->errlen, line);
	}
	return -EINVAL;
}

/* snprintf into a PATH_MAX_LEN buffer; a field path that long is cut, which
 * only shortens a message. */
static void pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pathf(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, PATH_MAX_LEN, fmt, ap);
	va_end(ap);
}

static void join(char *out, const char *parent, const char *key)
{
	if (parent && *parent)
		pathf(out, "%s.%s", parent, key);
	else
		pathf(out, "%s", key);
}

static void index_path(char *out, const char *parent, const char *key, size_t i)
{
	char tmp[PATH_MAX_LEN];
	join(tmp, parent, key);
	pathf(out, "%s[%zu]", tmp, i);
}

const char *vs_config_json_type(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "something else";
}


/* Levenshtein distance, to suggest the key a typo was meant to be. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40)
		return 99;
	size_t row[41];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = diag + cost;
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* Refuse keys that are not in `allowed` (NULL-terminated). */
static int check_keys(struct loader *L, json_t *obj, const char *parent, const char *const *allowed)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		bool ok = false;
		const char *suggest = NULL;
		size_t best = 3;
		for (const char *const *a = allowed; *a; a++) {
			if (strcmp(key, *a) == 0) {
				ok = true;
				break;
			}
			size_t d = edit_distance(key, *a);
			if (d < best) {
				best = d;
				suggest = *a;
			}
		}
		if (ok)
			continue;
		char path[PATH_MAX_LEN];
		join(path, parent, key);
		if (suggest)
			return bad(L, path, "unknown key (did you mean \"%s\"?)", suggest);
		return bad(L, path, "unknown key");
	}
	return 0;
}

static int get_object(struct loader *L, json_t *parent_obj, const char *parent, const char *key,
                      json_t **out)
{
	json_t *v = json_object_get(parent_obj, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_object(v)) {
		char path[PATH_MAX_LEN];
		join(path, parent, key);
		return bad(L, path, "must be an object, got %s", vs_config_json_type(v));
	}
	*out = v;
	return 0;
}

static int get_array(struct loader *L, json_t *obj, const char *parent, const char *key, json_t **out)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v)) {
		char path[PATH_MAX_LEN];
		join(path, parent, key);
		return bad(L, path, "must be an array, got %s", vs_config_json_type(v));
	}
	*out = v;
	return 0;
}

/* Strings: printable, non-empty, at most maxlen bytes.  NULL if absent. */
static int get_string(struct loader *L, json_t *obj, const char *parent, const char *key,
                      bool required, size_t maxlen, char **out)
{
	char path[PATH_MAX_LEN];
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	join(path, parent, key);
	if (!v) {
		if (required)
			return bad(L, path, "missing (required)");
		return 0;
	}
	if (!json_is_string(v))
		return bad(L, path, "must be a string, got %s", vs_config_json_type(v));
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n == 0)
		return bad(L, path, "must not be empty");
	if (n > maxlen)
		return bad(L, path, "longer than %zu bytes", maxlen);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return bad(L, path, "contains a control character (byte 0x%02x)", (unsigned char)s[i]);
	*out = strdup(s);
	if (!*out)
		return bad(L, path, "out of memory");
	return 0;
}

static int get_uint(struct loader *L, json_t *obj, const char *parent, const char *key,
                    uint64_t min, uint64_t max, bool *present, uint64_t *out)
{
	char path[PATH_MAX_LEN];
	json_t *v = json_object_get(obj, key);
	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	join(path, parent, key);
	if (!json_is_integer(v))
		return bad(L, path, "must be an integer, got %s", vs_config_json_type(v));
	json_int_t n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max)
		return bad(L, path, "must be %" PRIu64 "-%" PRIu64 ", got %" JSON_INTEGER_FORMAT, min, max, n);
	*out = (uint64_t)n;
	return 0;
}

static int get_u32(struct loader *L, json_t *obj, const char *parent, const char *key,
                   uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = *out;
	int rc = get_uint(L, obj, parent, key, min, max, NULL, &v);
	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

static int get_bool(struct loader *L, json_t *obj, const char *parent, const char *key,
                    bool *present, bool *out)
{
	json_t *v = json_object_get(obj, key);
	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		char path[PATH_MAX_LEN];
		join(path, parent, key);
		return bad(L, path, "must be true or false, got %s", vs_config_json_type(v));
	}
	*out = json_is_true(v);
	return 0;
}

/* ---------------------------------------------------------------- chap */

static int load_chap(struct loader *L, json_t *obj, const char *path, struct vs_config_chap *c)
{
	static const char *const keys[] = { "user", "secret", "mutual_user", "mutual_secret", NULL };
	int rc;
	if ((rc = check_keys(L, obj, path, keys)) ||
	    (rc = get_string(L, obj, path, "user", true, VS_CHAP_FIELD_MAX, &c->user)) ||
	    (rc = get_string(L, obj, path, "secret", true, VS_CHAP_FIELD_MAX, &c->secret)) ||
	    (rc = get_string(L, obj, path, "mutual_user", false, VS_CHAP_FIELD_MAX, &c->mutual_user)) ||
	    (rc = get_string(L, obj, path, "mutual_secret", false, VS_CHAP_FIELD_MAX, &c->mutual_secret)))
		return rc;
	char p[PATH_MAX_LEN];
	if (c->mutual_user && !c->mutual_secret) {
		join(p, path, "mutual_secret");
		return bad(L, p, "missing (required with mutual_user)");
	}
	if (c->mutual_secret && !c->mutual_user) {
		join(p, path, "mutual_user");
		return bad(L, p, "missing (required with mutual_secret)");
	}
	/* RFC 7143 §9.2.1: a secret used to authenticate initiators must not
	 * also authenticate the target. */
	if (c->mutual_secret && strcmp(c->mutual_secret, c->secret) == 0) {
		join(p, path, "mutual_secret");
		return bad(L, p, "must differ from secret (RFC 7143 9.2.1)");
	}
	return 0;
}

/* ---------------------------------------------------------------- lun */

static int load_size(struct loader *L, json_t *obj, const char *path, uint64_t *out)
{
	char p[PATH_MAX_LEN];
	json_t *v = json_object_get(obj, "size");
	if (!v)
		return 0;
	join(p, path, "size");
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);
		if (n <= 0)
			return bad(L, p, "must be greater than 0, got %" JSON_INTEGER_FORMAT, n);
		*out = (uint64_t)n;
		return 0;
	}
	if (!json_is_string(v))
		return bad(L, p, "must be a size like \"1G\" or a byte count, got %s", vs_config_json_type(v));
	const char *s = json_string_value(v);
	uint64_t n = 0;
	if (vs_parse_size(s, &n) < 0)
		return bad(L, p, "not a size: \"%.64s\" (use e.g. \"512M\", \"10G\" or a byte count)", s);
	if (n == 0)
		return bad(L, p, "must be greater than 0, got \"%.64s\"", s);
	*out = n;
	return 0;
}

/* Keys a lun object may hold; backend-specific extras go under "options". */
static const char *const lun_keys[] = { "lun", "backend", "path", "size", "block_size", "create",
	                                "direct", "readonly", "serial", "options", "removable",
	                                "physical_block_size", NULL };

static int load_options(struct loader *L, json_t *obj, const char *path, struct vs_config_lun *l)
{
	json_t *opts;
	int rc = get_object(L, obj, path, "options", &opts);
	if (rc || !opts)
		return rc;
	char op[PATH_MAX_LEN];
	join(op, path, "options");
	size_t n = json_object_size(opts);
	l->options = calloc(n ? n : 1, sizeof(*l->options));
	if (!l->options)
		return bad(L, op, "out of memory");
	const char *key;
	json_t *v;
	json_object_foreach(opts, key, v) {
		char kp[PATH_MAX_LEN];
		join(kp, op, key);
		for (const char *const *k = lun_keys; *k; k++)
			if (strcmp(key, *k) == 0)
				return bad(L, kp, "set \"%s\" on the lun itself, not under options", key);
		if (!*key)
			return bad(L, kp, "option names must not be empty");
		if (!json_is_string(v))
			return bad(L, kp, "must be a string, got %s", vs_config_json_type(v));
		struct vs_config_kv *kv = &l->options[l->noptions];
		kv->key = strdup(key);
		kv->value = strdup(json_string_value(v));
		l->noptions++;
		if (!kv->key || !kv->value)
			return bad(L, kp, "out of memory");
	}
	return 0;
}

static int load_lun(struct loader *L, json_t *obj, const char *path, struct vs_config_lun *l)
{
	int rc;
	char p[PATH_MAX_LEN];
	bool has_create = false, has_direct = false;

	if (!json_is_object(obj))
		return bad(L, path, "must be an object, got %s", vs_config_json_type(obj));
	if ((rc = check_keys(L, obj, path, lun_keys)))
		return rc;

	bool has_lun = false;
	/* What the vdisk miniport serves (see VS_CONFIG_MAX_LUN). */
	if ((rc = get_uint(L, obj, path, "lun", 0, VS_CONFIG_MAX_LUN, &has_lun, &l->lun)))
		return rc;
	if (!has_lun) {
		join(p, path, "lun");
		return bad(L, p, "missing (required)");
	}
	if ((rc = get_string(L, obj, path, "backend", true, 31, &l->backend)))
		return rc;
	join(p, path, "backend");
	if (!vs_layer_type_find(VS_LAYER_BACKEND, l->backend, NULL))
		return bad(L, p, "unknown backend \"%s\"", l->backend);

	l->block_size = 512;
	json_t *bs = json_object_get(obj, "block_size");
	if (bs) {
		join(p, path, "block_size");
		if (!json_is_integer(bs))
			return bad(L, p, "must be 512 or 4096, got %s", vs_config_json_type(bs));
		json_int_t n = json_integer_value(bs);
		if (n != 512 && n != 4096)
			return bad(L, p, "must be 512 or 4096, got %" JSON_INTEGER_FORMAT, n);
		l->block_size = (uint32_t)n;
	}

	if ((rc = load_size(L, obj, path, &l->size)) ||
	    (rc = get_string(L, obj, path, "path", false, 4095, &l->path)) ||
	    (rc = get_bool(L, obj, path, "create", &has_create, &l->create)) ||
	    (rc = get_bool(L, obj, path, "direct", &has_direct, &l->direct)) ||
	    (rc = get_bool(L, obj, path, "readonly", NULL, &l->readonly)) ||
	    /* VPD 0x80 is ASCII (SPC-4 4.4.1); the LUN info keeps 63 bytes. */
	    (rc = get_string(L, obj, path, "serial", false, 63, &l->serial)) ||
	    (rc = get_bool(L, obj, path, "removable", NULL, &l->removable)) ||
	    (rc = get_u32(L, obj, path, "physical_block_size", 0, 1u << 24,
	                  &l->physical_block_size)) ||
	    (rc = load_options(L, obj, path, l)))
		return rc;
	if (l->serial) {
		for (const char *s = l->serial; *s; s++) {
			if ((unsigned char)*s > 0x7e) {
				join(p, path, "serial");
				return bad(L, p, "must be printable ASCII (SPC-4 4.4.1)");
			}
		}
	}

	if (l->size && l->size % l->block_size) {
		join(p, path, "size");
		return bad(L, p, "%" PRIu64 " bytes is not a multiple of block_size %" PRIu32, l->size,
		           l->block_size);
	}

	if (strcmp(l->backend, "ram") == 0) {
		const char *extra = l->path ? "path" : has_create ? "create" : has_direct ? "direct" : NULL;
		if (extra) {
			join(p, path, extra);
			return bad(L, p, "not used by the ram backend");
		}
		if (!l->size) {
			join(p, path, "size");
			return bad(L, p, "missing (required for the ram backend)");
		}
	} else if (strcmp(l->backend, "file") == 0) {
		if (!l->path) {
			join(p, path, "path");
			return bad(L, p, "missing (required for the file backend)");
		}
		if (l->create && !l->size) {
			join(p, path, "size");
			return bad(L, p, "missing (required with \"create\": true)");
		}
		if (l->create && l->readonly) {
			join(p, path, "create");
			return bad(L, p, "cannot create a readonly LUN");
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- target */

/*
 * An array of distinct strings that each pass check (ACL names, portals).
 * quote: the reason does not show the value, so the message quotes it.
 */
static int load_strings(struct loader *L, json_t *arr, const char *path,
                        bool (*check)(const char *, char *, size_t), bool quote, char ***out,
                        size_t *np)
{
	size_t count = json_array_size(arr);
	*out = calloc(count ? count : 1, sizeof(char *));
	if (!*out)
		return bad(L, path, "out of memory");
	for (size_t i = 0; i < count; i++) {
		char p[PATH_MAX_LEN], why[160];
		json_t *v = json_array_get(arr, i);
		pathf(p, "%s[%zu]", path, i);
		if (!json_is_string(v))
			return bad(L, p, "must be a string, got %s", vs_config_json_type(v));
		const char *s = json_string_value(v);
		if (!check(s, why, sizeof(why)))
			return quote ? bad(L, p, "\"%.64s\": %s", s, why) : bad(L, p, "%s", why);
		for (size_t j = 0; j < i; j++)
			if (strcmp((*out)[j], s) == 0)
				return bad(L, p, "duplicate of %s[%zu]", path, j);
		(*out)[i] = strdup(s);
		if (!(*out)[i])
			return bad(L, p, "out of memory");
		*np = i + 1;
	}
	return 0;
}

static int load_names(struct loader *L, json_t *arr, const char *path, char ***out, size_t *n)
{
	return load_strings(L, arr, path, vs_iscsi_name_valid, true, out, n);
}

/* ADDR:PORT strings, at least one, no duplicates (portals, targets[].portals). */
static int load_portals(struct loader *L, json_t *arr, const char *path, char ***out, size_t *np)
{
	if (json_array_size(arr) == 0)
		return bad(L, path, "must list at least one ADDR:PORT");
	return load_strings(L, arr, path, vs_portal_valid, false, out, np);
}

static int load_target(struct loader *L, json_t *obj, const char *path, struct vs_config_target *t)
{
	static const char *const keys[] = { "iqn", "alias", "portals", "acl", "chap", "luns", NULL };
	int rc;
	char p[PATH_MAX_LEN], why[160];

	if (!json_is_object(obj))
		return bad(L, path, "must be an object, got %s", vs_config_json_type(obj));
	if ((rc = check_keys(L, obj, path, keys)) ||
	    (rc = get_string(L, obj, path, "iqn", true, VS_ISCSI_NAME_MAX + 64, &t->iqn)))
		return rc;
	join(p, path, "iqn");
	if (!vs_iscsi_name_valid(t->iqn, why, sizeof(why)))
		return bad(L, p, "\"%.64s\": %s", t->iqn, why);
	/* TargetAlias is human-readable text (RFC 7143 §13.6); 255 is our cap. */
	if ((rc = get_string(L, obj, path, "alias", false, 255, &t->alias)))
		return rc;

	json_t *portals, *acl, *chap, *luns;
	/* Where this target is served; absent: on the daemon's portals. */
	if ((rc = get_array(L, obj, path, "portals", &portals)))
		return rc;
	if (portals) {
		join(p, path, "portals");
		if ((rc = load_portals(L, portals, p, &t->portals, &t->nportals)))
			return rc;
	}
	if ((rc = get_array(L, obj, path, "acl", &acl)))
		return rc;
	if (acl) {
		join(p, path, "acl");
		if ((rc = load_names(L, acl, p, &t->acl, &t->nacl)))
			return rc;
	}
	if ((rc = get_object(L, obj, path, "chap", &chap)))
		return rc;
	if (chap) {
		t->has_chap = true;
		join(p, path, "chap");
		if ((rc = load_chap(L, chap, p, &t->chap)))
			return rc;
	}
	if ((rc = get_array(L, obj, path, "luns", &luns)))
		return rc;
	if (!luns)
		return 0;
	size_t n = json_array_size(luns);
	t->luns = calloc(n ? n : 1, sizeof(*t->luns));
	if (!t->luns)
		return bad(L, path, "out of memory");
	for (size_t i = 0; i < n; i++) {
		index_path(p, path, "luns", i);
		t->nluns = i + 1;
		if ((rc = load_lun(L, json_array_get(luns, i), p, &t->luns[i])))
			return rc;
		for (size_t j = 0; j < i; j++) {
			if (t->luns[j].lun == t->luns[i].lun) {
				char lp[PATH_MAX_LEN];
				join(lp, p, "lun");
				return bad(L, lp, "LUN %" PRIu64 " is already used by %s.luns[%zu]", t->luns[i].lun,
				           path, j);
			}
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- top */

/* The ranges are the fabric's own (vstor/iscsi.h): what loads here, the
 * fabric accepts at start-up. */
static int load_iscsi(struct loader *L, json_t *obj, struct vs_config_iscsi *is)
{
	static const char *const keys[] = { "max_recv_data_segment_length", "max_burst_length",
		                            "first_burst_length", "queue_depth", "nop_interval_ms",
		                            "nop_timeout_ms", "max_outstanding_r2t", "max_connections",
		                            "max_sessions", "login_timeout_ms", "poll_us", NULL };
	const char *path = "iscsi";
	const uint32_t tmin = VS_ISCSI_TIMER_MS_MIN, tmax = VS_ISCSI_TIMER_MS_MAX;
	int rc;
	if ((rc = check_keys(L, obj, path, keys)) ||
	    (rc = get_u32(L, obj, path, "max_recv_data_segment_length", VS_ISCSI_DSL_MIN,
	                  VS_ISCSI_MAX_RECV_DSL_MAX, &is->max_recv_data_segment_length)) ||
	    (rc = get_u32(L, obj, path, "max_burst_length", VS_ISCSI_DSL_MIN, VS_ISCSI_BURST_MAX,
	                  &is->max_burst_length)) ||
	    (rc = get_u32(L, obj, path, "first_burst_length", VS_ISCSI_DSL_MIN, VS_ISCSI_BURST_MAX,
	                  &is->first_burst_length)) ||
	    (rc = get_u32(L, obj, path, "queue_depth", 1, VS_ISCSI_QUEUE_DEPTH_MAX, &is->queue_depth)) ||
	    (rc = get_u32(L, obj, path, "nop_interval_ms", tmin, tmax, &is->nop_interval_ms)) ||
	    (rc = get_u32(L, obj, path, "nop_timeout_ms", tmin, tmax, &is->nop_timeout_ms)) ||
	    (rc = get_u32(L, obj, path, "max_outstanding_r2t", 1, VS_ISCSI_MAX_R2T_MAX,
	                  &is->max_outstanding_r2t)) ||
	    (rc = get_u32(L, obj, path, "max_connections", 1, VS_ISCSI_MAX_CONNECTIONS_MAX,
	                  &is->max_connections)) ||
	    (rc = get_u32(L, obj, path, "max_sessions", 1, VS_ISCSI_MAX_SESSIONS_MAX,
	                  &is->max_sessions)) ||
	    (rc = get_u32(L, obj, path, "login_timeout_ms", tmin, tmax, &is->login_timeout_ms)))
		return rc;
	/* "poll_us": 0 switches hybrid polling off; absent keeps the default. */
	const uint32_t absent = UINT32_MAX - 1;
	uint32_t poll = absent;
	if ((rc = get_u32(L, obj, path, "poll_us", 0, VS_ISCSI_POLL_US_MAX, &poll)))
		return rc;
	if (poll != absent)
		is->poll_us = poll ? poll : VS_ISCSI_POLL_OFF;
	/* RFC 7143 §13.14: FirstBurstLength MUST NOT exceed MaxBurstLength. */
	uint32_t mbl = is->max_burst_length ? is->max_burst_length : VS_ISCSI_DEFAULT_MAX_BURST;
	if (is->first_burst_length > mbl)
		return bad(L, "iscsi.first_burst_length",
		           "must not exceed max_burst_length (%" PRIu32 ", RFC 7143 13.14), got %" PRIu32,
		           mbl, is->first_burst_length);
	return 0;
}

static int load_root(struct loader *L, json_t *root, struct vs_config *cfg)
{
	static const char *const keys[] = { "portals", "threads", "iscsi", "discovery_chap", "targets",
		                            NULL };
	int rc;
	json_t *portals, *iscsi, *dchap, *targets;

	if (!json_is_object(root))
		return bad(L, NULL, "the top level must be an object, got %s", vs_config_json_type(root));
	if ((rc = check_keys(L, root, "", keys)) ||
	    (rc = get_array(L, root, "", "portals", &portals)) ||
	    (rc = get_u32(L, root, "", "threads", 0, 256, &cfg->threads)) ||
	    (rc = get_object(L, root, "", "iscsi", &iscsi)) ||
	    (rc = get_object(L, root, "", "discovery_chap", &dchap)) ||
	    (rc = get_array(L, root, "", "targets", &targets)))
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
		return bad(L, "targets", "out of memory");
	for (size_t i = 0; i < n; i++) {
		char p[PATH_MAX_LEN];
		index_path(p, "", "targets", i);
		cfg->ntargets = i + 1;
		if ((rc = load_target(L, json_array_get(targets, i), p, &cfg->targets[i])))
			return rc;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(cfg->targets[j].iqn, cfg->targets[i].iqn) == 0) {
				char ip[PATH_MAX_LEN];
				join(ip, p, "iqn");
				return bad(L, ip, "duplicate of targets[%zu].iqn", j);
			}
		}
	}
	return 0;
}

static int load_json(struct loader *L, json_t *root, json_error_t *jerr, struct vs_config **out)
{
	*out = NULL;
	if (!root) {
		/* JSON syntax error: FILE:LINE:COLUMN like a compiler. */
		if (L->err && L->errlen) {
			char line[VS_CONFIG_ERR_MAX * 2];
			snprintf(line, sizeof(line), "%s:%d:%d: %s", L->file, jerr->line, jerr->column,
			         jerr->text);
			one_line(L->err, L->errlen, line);
		}
		return -EINVAL;
	}
	struct vs_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		json_decref(root);
		return bad(L, NULL, "out of memory");
	}
	int rc = load_root(L, root, cfg);
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
	struct loader L = { .file = name ? name : "config", .err = err, .errlen = errlen };
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
static int resolve_lun_paths(struct loader *L, const char *file, struct vs_config *cfg)
{
	char part[PATH_MAX], dir[PATH_MAX];
	const char *slash = strrchr(file, '/');
	/* The file's directory as written ("." if none), then canonical: it
	 * exists, since the file was just read from it. */
	int n = snprintf(part, sizeof(part), "%.*s", slash ? (slash == file ? 1 : (int)(slash - file)) : 1,
	                 slash ? file : ".");
	if (n < 0 || (size_t)n >= sizeof(part) || !realpath(part, dir))
		return bad(L, NULL, "cannot resolve relative LUN paths against '%s': %s", part,
		           n < 0 || (size_t)n >= sizeof(part) ? "name too long" : strerror(errno));
	const char *sep = dir[strlen(dir) - 1] == '/' ? "" : "/";
	for (size_t ti = 0; ti < cfg->ntargets; ti++) {
		struct vs_config_target *t = &cfg->targets[ti];
		for (size_t li = 0; li < t->nluns; li++) {
			struct vs_config_lun *l = &t->luns[li];
			if (!l->path || l->path[0] == '/')
				continue;
			char *abs = NULL;
			if (asprintf(&abs, "%s%s%s", dir, sep, l->path) < 0)
				return bad(L, NULL, "out of memory");
			if (strlen(abs) >= PATH_MAX) {
				free(abs);
				char where[64];
				snprintf(where, sizeof(where), "targets[%zu].luns[%zu].path", ti, li);
				return bad(L, where, "longer than %d bytes once made absolute", PATH_MAX - 1);
			}
			free(l->path);
			l->path = abs;
		}
	}
	return 0;
}

int vs_config_load_file(const char *path, struct vs_config **out, char *err, size_t errlen)
{
	struct loader L = { .file = path, .err = err, .errlen = errlen };
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
	if (rc == 0 && (rc = resolve_lun_paths(&L, path, *out)) != 0) {
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
	struct loader L = { .file = NULL, .err = err, .errlen = errlen };
	memset(out, 0, sizeof(*out));
	int rc = load_lun(&L, obj, path, out);
	if (rc)
		vs_config_lun_free(out);
	return rc;
}

int vs_config_parse_portals(json_t *arr, const char *path, char ***out, size_t *n, char *err,
                            size_t errlen)
{
	struct loader L = { .file = NULL, .err = err, .errlen = errlen };
	*out = NULL;
	*n = 0;
	if (!json_is_array(arr))
		return bad(&L, path, "must be an array, got %s", vs_config_json_type(arr));
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
	struct loader L = { .file = NULL, .err = err, .errlen = errlen };
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return bad(&L, path, "must be an object, got %s", vs_config_json_type(obj));
	int rc = load_chap(&L, obj, path, out);
	if (rc)
		vs_config_chap_free(out);
	return rc;
}
