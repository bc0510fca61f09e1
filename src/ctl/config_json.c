/* SPDX-License-Identifier: MIT */
/*
 * The pieces every part of the config loader reads JSON with: typed
 * getters whose failures become the one-line error "FILE: FIELD.PATH: what
 * is wrong" (or "FIELD.PATH: ..." for a control-plane request), and key
 * checks that suggest what a typo meant.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

/*
 * Copy src to dst escaping control bytes as \xNN: keys and values from the
 * file end up in messages, and an error must stay one line.
 */
void vs_cfg_one_line(char *dst, size_t dstlen, const char *src)
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

int vs_cfg_bad(struct vs_cfg_loader *L, const char *path, const char *fmt, ...)
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
		vs_cfg_one_line(L->err, L->errlen, line);
	}
	return -EINVAL;
}

/* snprintf into a VS_CFG_PATH_MAX buffer; a field path that long is cut, which
 * only shortens a message. */
void vs_cfg_pathf(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, VS_CFG_PATH_MAX, fmt, ap);
	va_end(ap);
}

void vs_cfg_join(char *out, const char *parent, const char *key)
{
	if (parent && *parent)
		vs_cfg_pathf(out, "%s.%s", parent, key);
	else
		vs_cfg_pathf(out, "%s", key);
}

void vs_cfg_index_path(char *out, const char *parent, const char *key, size_t i)
{
	char tmp[VS_CFG_PATH_MAX];
	vs_cfg_join(tmp, parent, key);
	vs_cfg_pathf(out, "%s[%zu]", tmp, i);
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
size_t vs_cfg_edit_distance(const char *a, const char *b)
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
int vs_cfg_check_keys(struct vs_cfg_loader *L, json_t *obj, const char *parent, const char *const *allowed)
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
			size_t d = vs_cfg_edit_distance(key, *a);
			if (d < best) {
				best = d;
				suggest = *a;
			}
		}
		if (ok)
			continue;
		char path[VS_CFG_PATH_MAX];
		vs_cfg_join(path, parent, key);
		if (suggest)
			return vs_cfg_bad(L, path, "unknown key (did you mean \"%s\"?)", suggest);
		return vs_cfg_bad(L, path, "unknown key");
	}
	return 0;
}

int vs_cfg_get_object(struct vs_cfg_loader *L, json_t *parent_obj, const char *parent, const char *key,
                      json_t **out)
{
	json_t *v = json_object_get(parent_obj, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_object(v)) {
		char path[VS_CFG_PATH_MAX];
		vs_cfg_join(path, parent, key);
		return vs_cfg_bad(L, path, "must be an object, got %s", vs_config_json_type(v));
	}
	*out = v;
	return 0;
}

int vs_cfg_get_array(struct vs_cfg_loader *L, json_t *obj, const char *parent, const char *key, json_t **out)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v)) {
		char path[VS_CFG_PATH_MAX];
		vs_cfg_join(path, parent, key);
		return vs_cfg_bad(L, path, "must be an array, got %s", vs_config_json_type(v));
	}
	*out = v;
	return 0;
}

/* Strings: printable, non-empty, at most maxlen bytes.  NULL if absent. */
int vs_cfg_get_string(struct vs_cfg_loader *L, json_t *obj, const char *parent, const char *key,
                      bool required, size_t maxlen, char **out)
{
	char path[VS_CFG_PATH_MAX];
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	vs_cfg_join(path, parent, key);
	if (!v) {
		if (required)
			return vs_cfg_bad(L, path, "missing (required)");
		return 0;
	}
	if (!json_is_string(v))
		return vs_cfg_bad(L, path, "must be a string, got %s", vs_config_json_type(v));
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n == 0)
		return vs_cfg_bad(L, path, "must not be empty");
	if (n > maxlen)
		return vs_cfg_bad(L, path, "longer than %zu bytes", maxlen);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return vs_cfg_bad(L, path, "contains a control character (byte 0x%02x)", (unsigned char)s[i]);
	*out = strdup(s);
	if (!*out)
		return vs_cfg_bad(L, path, "out of memory");
	return 0;
}

int vs_cfg_get_uint(struct vs_cfg_loader *L, json_t *obj, const char *parent, const char *key,
                    uint64_t min, uint64_t max, bool *present, uint64_t *out)
{
	char path[VS_CFG_PATH_MAX];
	json_t *v = json_object_get(obj, key);
	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	vs_cfg_join(path, parent, key);
	if (!json_is_integer(v))
		return vs_cfg_bad(L, path, "must be an integer, got %s", vs_config_json_type(v));
	json_int_t n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max)
		return vs_cfg_bad(L, path, "must be %" PRIu64 "-%" PRIu64 ", got %" JSON_INTEGER_FORMAT, min, max, n);
	*out = (uint64_t)n;
	return 0;
}

int vs_cfg_get_u32(struct vs_cfg_loader *L, json_t *obj, const char *parent, const char *key,
                   uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = *out;
	int rc = vs_cfg_get_uint(L, obj, parent, key, min, max, NULL, &v);
	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

int vs_cfg_get_bool(struct vs_cfg_loader *L, json_t *obj, const char *parent, const char *key,
                    bool *present, bool *out)
{
	json_t *v = json_object_get(obj, key);
	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		char path[VS_CFG_PATH_MAX];
		vs_cfg_join(path, parent, key);
		return vs_cfg_bad(L, path, "must be true or false, got %s", vs_config_json_type(v));
	}
	*out = json_is_true(v);
	return 0;
}

