/* SPDX-License-Identifier: MIT */
/*
 * One request line → one reply line.  The request is checked before any
 * method runs: it must be a JSON object with a string "method", an
 * optional "id" (integer or string, echoed back) and an optional object
 * "params"; nothing else.  Methods run under the state lock, one at a time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_int.h"

static const struct {
	const char *name;
	ctl_method_fn fn;
} methods[] = {
	{ "target.add", vs_ctl_target_add },
	{ "target.remove", vs_ctl_target_remove },
	{ "target.list", vs_ctl_target_list },
	{ "lun.add", vs_ctl_lun_add },
	{ "lun.remove", vs_ctl_lun_remove },
	{ "lun.resize", vs_ctl_lun_resize },
	{ "lun.list", vs_ctl_lun_list },
	{ "lun.set_options", vs_ctl_lun_set_options },
	{ "lun.replace_leg", vs_ctl_lun_replace_leg },
	{ "layer.list", vs_ctl_layer_list },
	{ "acl.add", vs_ctl_acl_add },
	{ "acl.remove", vs_ctl_acl_remove },
	{ "acl.list", vs_ctl_acl_list },
	{ "chap.set", vs_ctl_chap_set },
	{ "chap.clear", vs_ctl_chap_clear },
	{ "session.list", vs_ctl_session_list },
	{ "export.add", vs_ctl_export_add },
	{ "export.remove", vs_ctl_export_remove },
	{ "export.list", vs_ctl_export_list },
	{ "stats", vs_ctl_stats },
	{ "config.save", vs_ctl_config_save },
	{ "config.reload", vs_ctl_config_reload },
	{ "service.list", vs_ctl_service_list },
};

static char *dump(json_t *reply)
{
	char *s = reply ? json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(reply);
	return s;
}

/* Replies are built without jansson where jansson itself may be what
 * failed (out of memory): the fixed text needs no allocation but strdup. */
/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF), 0 if there is none. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;       /* also stops at the terminating NUL */
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * Messages quote what the client sent, cut to a bounded length ("%.64s"),
 * which may split a multi-byte character or copy bytes that were never
 * UTF-8 (a JSON string may carry any code point).  A JSON reply must be
 * UTF-8 (RFC 8259 §8.1), so such bytes become '?' instead of costing the
 * client its answer.
 */
static void utf8_repair(char *msg)
{
	unsigned char *s = (unsigned char *)msg;

	while (*s) {
		size_t n = utf8_seq(s);
		if (n == 0) {
			*s++ = '?';
			continue;
		}
		s += n;
	}
}

static char *reply_error(json_t *id, int code, const char *text)
{
	char msg[VS_CTL_MSG_MAX];
	snprintf(msg, sizeof(msg), "%s", text);
	utf8_repair(msg);
	json_t *r = json_object();
	json_t *e = json_pack("{s:i,s:s}", "code", code, "message", msg);
	if (!r || !e) {
		json_decref(r);
		json_decref(e);
		return strdup("{\"id\":null,\"error\":{\"code\":-32603,\"message\":\"out of memory\"}}");
	}
	json_object_set(r, "id", id ? id : json_null());
	json_object_set_new(r, "error", e);
	char *s = dump(r);
	return s ? s : strdup("{\"id\":null,\"error\":{\"code\":-32603,\"message\":\"out of memory\"}}");
}

static char *reply_result(json_t *id, json_t *result)
{
	json_t *r = json_object();
	if (!r) {
		json_decref(result);
		return reply_error(id, VS_CTL_INTERNAL, "out of memory");
	}
	json_object_set(r, "id", id ? id : json_null());
	json_object_set_new(r, "result", result);
	char *s = dump(r);
	return s ? s : reply_error(id, VS_CTL_INTERNAL, "out of memory");
}

int vs_ctl_parse_request(const char *req, size_t len, struct ctl_request *out, char **reply)
{
	json_error_t jerr;
	char msg[VS_CTL_MSG_MAX];

	memset(out, 0, sizeof(*out));
	*reply = NULL;
	if (len > VS_CTL_MAX_REQUEST) {
		snprintf(msg, sizeof(msg), "request: longer than %d bytes", VS_CTL_MAX_REQUEST);
		*reply = reply_error(NULL, VS_CTL_INVALID_REQUEST, msg);
		return -1;
	}
	/* Duplicate keys refused: with two "size" keys one would be ignored. */
	json_t *root = json_loadb(req, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(msg, sizeof(msg), "request: not JSON: %s (column %d)", jerr.text, jerr.column);
		*reply = reply_error(NULL, VS_CTL_PARSE_ERROR, msg);
		return -1;
	}
	json_t *id = NULL;
	if (!json_is_object(root)) {
		*reply = reply_error(NULL, VS_CTL_INVALID_REQUEST, "request: must be a JSON object");
		goto fail;
	}
	id = json_object_get(root, "id");
	if (id && !json_is_integer(id) && !json_is_string(id) && !json_is_null(id)) {
		*reply = reply_error(NULL, VS_CTL_INVALID_REQUEST, "id: must be an integer or a string");
		goto fail;
	}
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		if (strcmp(key, "id") && strcmp(key, "method") && strcmp(key, "params")) {
			snprintf(msg, sizeof(msg), "%.64s: unknown key (a request has id, method, params)",
			         key);
			for (char *p = msg; *p; p++)
				if ((unsigned char)*p < 0x20)
					*p = '?';
			*reply = reply_error(id, VS_CTL_INVALID_REQUEST, msg);
			goto fail;
		}
	}
	json_t *m = json_object_get(root, "method");
	if (!m || !json_is_string(m)) {
		*reply = reply_error(id, VS_CTL_INVALID_REQUEST,
		                     m ? "method: must be a string" : "method: missing (required)");
		goto fail;
	}
	json_t *params = json_object_get(root, "params");
	if (params && !json_is_object(params)) {
		*reply = reply_error(id, VS_CTL_INVALID_PARAMS, "params: must be an object");
		goto fail;
	}
	out->root = root;
	out->id = id;
	out->method = json_string_value(m);
	out->params = params;
	return 0;
fail:
	json_decref(root);
	return -1;
}

char *vs_ctl_handle(struct vs_ctl_state *st, const char *req, size_t len)
{
	struct ctl_request rq;
	char *out = NULL, msg[VS_CTL_MSG_MAX];

	if (vs_ctl_parse_request(req, len, &rq, &out) < 0)
		return out;
	ctl_method_fn fn = NULL;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i].name, rq.method) == 0)
			fn = methods[i].fn;
	if (!fn) {
		snprintf(msg, sizeof(msg), "method: unknown method '%.64s'", rq.method);
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = '?';
		out = reply_error(rq.id, VS_CTL_METHOD_NOT_FOUND, msg);
		goto done;
	}

	json_t *empty = NULL, *params = rq.params;
	if (!params && !(params = empty = json_object())) {
		out = reply_error(rq.id, VS_CTL_INTERNAL, "out of memory");
		goto done;
	}
	struct ctl_call c = { .st = st, .method = rq.method, .params = params };
	pthread_mutex_lock(&st->lock);
	json_t *result = fn(&c);
	pthread_mutex_unlock(&st->lock);
	json_decref(empty);
	if (result)
		out = reply_result(rq.id, result);
	else
		out = reply_error(rq.id, c.code ? c.code : VS_CTL_INTERNAL,
		                  c.msg[0] ? c.msg : "out of memory");
done:
	json_decref(rq.root);
	return out;
}
