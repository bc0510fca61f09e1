/* SPDX-License-Identifier: MIT */
/*
 * Request parameters: typed getters whose errors name the field
 * ("params.size: '12x' is not a size"), so every refusal is one line a
 * user can act on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl_int.h"
#include "vstor/bdev.h"

/* Messages stay one line: control bytes from the request become \xNN. */
static void one_line(char *s)
{
	char tmp[VS_CTL_MSG_MAX];
	size_t o = 0;
	for (const char *p = s; *p && o + 5 < sizeof(tmp); p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch < 0x20 || ch == 0x7f) {
			snprintf(tmp + o, 5, "\\x%02x", ch);
			o += 4;
		} else {
			tmp[o++] = (char)ch;
		}
	}
	tmp[o] = '\0';
	memcpy(s, tmp, o + 1);
}

static void vfail(struct ctl_call *c, int code, const char *fmt, va_list ap)
{
	c->code = code;
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	one_line(c->msg);
}

json_t *vs_ctl_fail(struct ctl_call *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(c, code, fmt, ap);
	va_end(ap);
	return NULL;
}

int vs_ctl_bad(struct ctl_call *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(c, code, fmt, ap);
	va_end(ap);
	return -1;
}

int vs_ctl_check_keys(struct ctl_call *c, const char *const *allowed)
{
	const char *key;
	json_t *v;
	json_object_foreach(c->params, key, v) {
		const char *const *a;
		for (a = allowed; *a; a++)
			if (strcmp(key, *a) == 0)
				break;
		if (!*a)
			return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS, "params.%.64s: unknown parameter for %s",
			               key, c->method);
	}
	return 0;
}

int vs_ctl_param_str(struct ctl_call *c, const char *key, bool required, size_t maxlen,
                  const char **out)
{
	json_t *v = json_object_get(c->params, key);
	if (!v) {
		if (required)
			return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS, "params.%s: missing (required)", key);
		return 0;
	}
	if (!json_is_string(v))
		return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS, "params.%s: must be a string, got %s", key,
		               vs_config_json_type(v));
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n == 0)
		return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS, "params.%s: must not be empty", key);
	if (n > maxlen)
		return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS, "params.%s: longer than %zu bytes", key, maxlen);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS,
			               "params.%s: contains a control character (byte 0x%02x)", key,
			               (unsigned char)s[i]);
	*out = s;
	return 0;
}

int vs_ctl_param_bool(struct ctl_call *c, const char *key, bool *out)
{
	json_t *v = json_object_get(c->params, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS, "params.%s: must be true or false, got %s", key,
		               vs_config_json_type(v));
	*out = json_is_true(v);
	return 0;
}

int vs_ctl_param_lun(struct ctl_call *c, const char *key, bool required, bool *present, uint64_t *out)
{
	json_t *v = json_object_get(c->params, key);
	if (present)
		*present = v != NULL;
	if (!v) {
		if (required)
			return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS, "params.%s: missing (required)", key);
		return 0;
	}
	if (!json_is_integer(v))
		return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS, "params.%s: must be an integer, got %s", key,
		               vs_config_json_type(v));
	json_int_t n = json_integer_value(v);
	/* The config file's limit: what the vdisk miniport serves. */
	if (n < 0 || n > VS_CONFIG_MAX_LUN)
		return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS,
		               "params.%s: must be 0-" VS_CONFIG_MAX_LUN_STR ", got %" JSON_INTEGER_FORMAT,
		               key, n);
	*out = (uint64_t)n;
	return 0;
}

int vs_ctl_param_size(struct ctl_call *c, const char *key, bool required, uint64_t *out)
{
	json_t *v = json_object_get(c->params, key);
	if (!v) {
		if (required)
			return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS, "params.%s: missing (required)", key);
		return 0;
	}
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);
		if (n <= 0)
			return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS,
			               "params.%s: must be greater than 0, got %" JSON_INTEGER_FORMAT, key, n);
		*out = (uint64_t)n;
		return 0;
	}
	if (!json_is_string(v))
		return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS,
		               "params.%s: must be a size like \"1G\" or a byte count, got %s", key,
		               vs_config_json_type(v));
	uint64_t n;
	const char *s = json_string_value(v);
	if (vs_parse_size(s, &n) < 0)
		return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS,
		               "params.%s: not a size: \"%.64s\" (use e.g. \"512M\", \"10G\" or a byte count)",
		               key, s);
	if (n == 0)
		return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS, "params.%s: must be greater than 0", key);
	*out = n;
	return 0;
}

int vs_ctl_param_iqn(struct ctl_call *c, const char *key, bool required, const char **out)
{
	const char *s = NULL;
	char why[160];
	/* Room for a too-long name to reach the validator's precise message. */
	if (vs_ctl_param_str(c, key, required, VS_ISCSI_NAME_MAX + 64, &s) < 0)
		return -1;
	if (!s)
		return 0;
	if (!vs_iscsi_name_valid(s, why, sizeof(why)))
		return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS, "params.%s: \"%.64s\": %s", key, s, why);
	*out = s;
	return 0;
}

int vs_ctl_check_abs_path(struct ctl_call *c, const char *key, const char *path)
{
	if (!path || path[0] == '/')
		return 0;
	return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS,
	               "params.%s: must be an absolute path, got \"%.64s\" (vstord does not resolve "
	               "paths against its own working directory)",
	               key, path);
}

int vs_ctl_find_target(struct ctl_call *c, const char *key, size_t *index)
{
	const char *iqn = NULL;
	if (vs_ctl_param_iqn(c, key, true, &iqn) < 0)
		return -1;
	const struct vs_config *cfg = c->st->cfg;
	for (size_t i = 0; i < cfg->ntargets; i++) {
		/* iSCSI names compare case-insensitively (RFC 3722). */
		if (strcasecmp(cfg->targets[i].iqn, iqn) == 0) {
			*index = i;
			return 0;
		}
	}
	return vs_ctl_bad(c, VS_CTL_NOT_FOUND, "params.%s: no target %s (see target.list)", key, iqn);
}

ssize_t vs_ctl_find_lun(const struct vs_config_target *t, uint64_t lun)
{
	for (size_t i = 0; i < t->nluns; i++)
		if (t->luns[i].lun == lun)
			return (ssize_t)i;
	return -1;
}

int vs_ctl_param_config_path(struct ctl_call *c, const char **path)
{
	static const char *const keys[] = { "path", NULL };

	*path = NULL;
	if (vs_ctl_check_keys(c, keys) < 0 || vs_ctl_param_str(c, "path", false, 4000, path) < 0 ||
	    vs_ctl_check_abs_path(c, "path", *path) < 0)
		return -1;
	if (!*path)
		*path = c->st->config_path;
	if (!*path)
		return vs_ctl_bad(c, VS_CTL_INVALID_PARAMS,
		               "params.path: missing (vstord was started without -c, so there is no "
		               "default file)");
	return 0;
}
