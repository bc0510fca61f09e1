/* SPDX-License-Identifier: MIT */
/*
 * Text Request / Text Response in the full feature phase (RFC 7143
 * §11.10, §11.11): SendTargets (§13.21, Appendix C) and the few keys that
 * may be declared after login.
 *
 * Continuation both ways (§11.10.2, §11.11.2):
 *  - a request with C=1 is accumulated; we answer each part with an empty
 *    response carrying a fresh Target Transfer Tag (F=0);
 *  - a response longer than the initiator's MaxRecvDataSegmentLength goes
 *    out in parts with C=1 and a TTT; the initiator fetches the next part
 *    with an empty request carrying that TTT.  Parts end on key=value
 *    boundaries when a whole pair fits.
 *  - a request with TTT 0xffffffff starts afresh and drops leftovers
 *    (§11.10.4).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "login.h"

#define TEXT_RESPONSE_MAX (1u << 20)   /* SendTargets of many targets */

struct iscsi_text {
	const struct iscsi_login_env *env;
	struct iscsi_params *params;
	void *session_target;

	/* request being accumulated (initiator C bit) */
	uint8_t *in;
	size_t in_len;
	bool in_active;
	uint32_t in_itt;

	/* response being sent in parts (our C bit) */
	struct iscsi_textbuf out;
	size_t out_off;
	bool out_active;
	uint32_t out_itt;

	uint32_t ttt;          /* tag of the exchange in progress */
	uint32_t next_ttt;
};

struct iscsi_text *vs_iscsi_text_new(const struct iscsi_login_env *env, struct iscsi_params *params,
                                  void *session_target)
{
	struct iscsi_text *t;

	if (!env || !params)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->env = env;
	t->params = params;
	t->session_target = session_target;
	t->ttt = ISCSI_RESERVED_TAG;
	t->next_ttt = 1;
	vs_iscsi_textbuf_init(&t->out, TEXT_RESPONSE_MAX);
	return t;
}

static void reset(struct iscsi_text *t)
{
	free(t->in);
	t->in = NULL;
	t->in_len = 0;
	t->in_active = false;
	vs_iscsi_textbuf_reset(&t->out);
	t->out_off = 0;
	t->out_active = false;
	t->ttt = ISCSI_RESERVED_TAG;
}

void vs_iscsi_text_free(struct iscsi_text *t)
{
	if (!t)
		return;
	reset(t);
	vs_iscsi_textbuf_free(&t->out);
	free(t);
}

static uint32_t new_ttt(struct iscsi_text *t)
{
	uint32_t v = t->next_ttt++;

	if (t->next_ttt == ISCSI_RESERVED_TAG)
		t->next_ttt = 1;
	t->ttt = v;
	return v;
}

/* ---- SendTargets (§13.21, Appendix C) --------------------------------- */

struct emit_ctx {
	struct iscsi_text *t;
	int err;
};

struct addr_ctx {
	struct iscsi_text *t;
	int err;
};

static void emit_address(void *ectx, const char *addr)
{
	struct addr_ctx *a = ectx;

	if (!a->err && addr && addr[0])
		a->err = vs_iscsi_textbuf_add(&a->t->out, "TargetAddress", addr);
}

static void add_target(struct iscsi_text *t, void *target, int *err)
{
	const struct iscsi_login_env *env = t->env;
	const char *name = env->target_name ? env->target_name(env->ctx, target) : NULL;
	size_t mark = t->out.len;

	if (*err || !name || !name[0])
		return;
	if (env->initiator_allowed &&
	    !env->initiator_allowed(env->ctx, target, t->params->initiator_name))
		return;
	*err = vs_iscsi_textbuf_add(&t->out, "TargetName", name);
	/* Every portal of this target and only those (Appendix C); none means
	 * "the address of this discovery session". */
	if (!*err && env->for_each_address) {
		struct addr_ctx a = { t, 0 };
		env->for_each_address(env->ctx, target, emit_address, &a);
		*err = a.err;
	}
	if (*err)
		t->out.len = mark;   /* never a name without its addresses */
}

static void emit_one(void *ectx, void *target)
{
	struct emit_ctx *e = ectx;

	add_target(e->t, target, &e->err);
}

static int send_targets(struct iscsi_text *t, const char *value)
{
	const struct iscsi_login_env *env = t->env;
	bool discovery = t->params->session_type == ISCSI_SESSION_DISCOVERY;
	int err = 0;

	if (!strcmp(value, "All")) {
		/* "All" is for discovery sessions; a normal session asks
		 * about its own target with an empty value. */
		if (!discovery)
			return vs_iscsi_textbuf_add(&t->out, "SendTargets", "Reject");
		if (env->for_each_target) {
			struct emit_ctx e = { t, 0 };
			env->for_each_target(env->ctx, emit_one, &e);
			err = e.err;
		}
	} else if (!value[0]) {
		if (discovery || !t->session_target)
			return vs_iscsi_textbuf_add(&t->out, "SendTargets", "Reject");
		add_target(t, t->session_target, &err);
	} else {
		void *target;

		if (strlen(value) >= ISCSI_NAME_MAX)
			return vs_iscsi_textbuf_add(&t->out, "SendTargets", "Reject");
		/* One named target; unknown or not visible: an empty answer. */
		target = env->find_target ? env->find_target(env->ctx, value) : NULL;
		if (target)
			add_target(t, target, &err);
	}
	/* Out of room: answer with the targets that fit. */
	return err == -ENOSPC ? 0 : err;
}

/* ---- keys -------------------------------------------------------------- */

static int text_key(struct iscsi_text *t, const char *key, const char *value)
{
	uint64_t v;

	if (!strcmp(key, "SendTargets"))
		return send_targets(t, value);
	if (!strcmp(key, "MaxRecvDataSegmentLength")) {
		/* §13.12 "Use: ALL": the initiator may declare a new limit at
		 * any time; it governs what we send from now on. */
		if (strlen(value) > ISCSI_VALUE_MAX || vs_iscsi_parse_number(value, &v) ||
		    v < 512 || v > 16777215)
			return vs_iscsi_textbuf_add(&t->out, key, "Reject");
		t->params->max_xmit_dsl = (uint32_t)v;
		return 0;
	}
	if (!strcmp(key, "InitiatorAlias")) {
		/* §13.6 "Use: ALL", a declaration: nothing to answer. */
		if (strlen(value) < sizeof(t->params->initiator_alias))
			memcpy(t->params->initiator_alias, value, strlen(value) + 1);
		return 0;
	}
	/* Login-only keys (§13: "LO", "IO") cannot be renegotiated now. */
	if (vs_iscsi_key_is_operational(key) || !strcmp(key, "InitiatorName") ||
	    !strcmp(key, "TargetName") || !strcmp(key, "SessionType") ||
	    !strcmp(key, "AuthMethod") || !strncmp(key, "CHAP_", 5) ||
	    !strcmp(key, "TargetAlias") || !strcmp(key, "TargetAddress") ||
	    !strcmp(key, "TargetPortalGroupTag"))
		return vs_iscsi_textbuf_add(&t->out, key, "Reject");
	return vs_iscsi_textbuf_add(&t->out, key, "NotUnderstood");
}

/* ---- the exchange ------------------------------------------------------ */

static void init_rsp(const struct iscsi_bhs *req, struct iscsi_bhs *rsp)
{
	memset(rsp, 0, sizeof(*rsp));
	rsp->b[0] = ISCSI_OP_TEXT_RESP;
	memcpy(rsp->b + 8, req->b + 8, 8);     /* LUN */
	memcpy(rsp->b + 16, req->b + 16, 4);   /* ITT */
	bhs_set_be32(rsp, 20, ISCSI_RESERVED_TAG);
}

static int send_part(struct iscsi_text *t, const struct iscsi_bhs *req, struct iscsi_bhs *rsp,
                     uint8_t *rsp_data, size_t rsp_data_cap, size_t *rsp_data_len)
{
	size_t cap = t->params->max_xmit_dsl < rsp_data_cap ? t->params->max_xmit_dsl : rsp_data_cap;
	size_t left = t->out.len - t->out_off, n = left;
	bool final_req = req->b[1] & ISCSI_FLAG_FINAL;

	if (left > cap) {
		/* End the part after the last complete key=value that fits. */
		const uint8_t *nul = cap ? memrchr(t->out.data + t->out_off, '\0', cap) : NULL;
		if (!cap)
			return -ENOSPC;
		n = nul ? (size_t)(nul - (t->out.data + t->out_off)) + 1 : cap;
	}
	if (n)
		memcpy(rsp_data, t->out.data + t->out_off, n);
	t->out_off += n;
	*rsp_data_len = n;
	bhs_set_dsl(rsp, (uint32_t)n);
	if (t->out_off < t->out.len) {
		t->out_active = true;
		t->out_itt = bhs_itt(req);
		rsp->b[1] = ISCSI_TEXT_CONTINUE;
		bhs_set_be32(rsp, 20, new_ttt(t));
		return 0;
	}
	vs_iscsi_textbuf_reset(&t->out);
	t->out_off = 0;
	t->out_active = false;
	if (final_req) {
		rsp->b[1] = ISCSI_FLAG_FINAL;
		t->ttt = ISCSI_RESERVED_TAG;
	} else {
		/* §11.11.4: the initiator wants to go on negotiating; keep a tag
		 * it can continue the exchange with. */
		bhs_set_be32(rsp, 20, new_ttt(t));
	}
	return 0;
}

int vs_iscsi_text_handle(struct iscsi_text *t, const struct iscsi_bhs *req,
                      const uint8_t *data, size_t data_len,
                      struct iscsi_bhs *rsp, uint8_t *rsp_data, size_t rsp_data_cap,
                      size_t *rsp_data_len)
{
	uint8_t flags = req->b[1];
	bool cont = flags & ISCSI_TEXT_CONTINUE;
	uint32_t itt = bhs_itt(req), ttt = bhs_be32(req, 20);
	struct iscsi_kvlist kv;
	int r;

	*rsp_data_len = 0;
	if (bhs_opcode(req) != ISCSI_OP_TEXT_REQ)
		return -EINVAL;
	/* §11.10.2: C=1 needs F=0. */
	if (cont && (flags & ISCSI_FLAG_FINAL))
		return -EPROTO;
	init_rsp(req, rsp);

	if (ttt != ISCSI_RESERVED_TAG) {
		/* Continuing an exchange: the tag and task must be ours. */
		if (ttt != t->ttt)
			return -EPROTO;
		if (t->out_active) {
			if (itt != t->out_itt || data_len || cont)
				return -EPROTO;
			return send_part(t, req, rsp, rsp_data, rsp_data_cap, rsp_data_len);
		}
		if (t->in_active && itt != t->in_itt)
			return -EPROTO;
	} else if (!(t->in_active && itt == t->in_itt)) {
		/* §11.10.4: a new request; whatever was pending is dropped. */
		reset(t);
	}
	if (t->out_active)
		reset(t);

	if (data_len) {
		uint8_t *n;
		if (data_len > ISCSI_TEXT_MAX - t->in_len)
			return -EMSGSIZE;
		n = realloc(t->in, t->in_len + data_len);
		if (!n)
			return -ENOMEM;
		t->in = n;
		memcpy(t->in + t->in_len, data, data_len);
		t->in_len += data_len;
	}
	if (cont) {
		/* More request text follows: empty answer, F=0, tag to go on with. */
		t->in_active = true;
		t->in_itt = itt;
		bhs_set_be32(rsp, 20, new_ttt(t));
		return 0;
	}

	r = vs_iscsi_kv_parse(t->in, t->in_len, &kv, NULL);
	free(t->in);
	t->in = NULL;
	t->in_len = 0;
	t->in_active = false;
	if (r)
		return r == -ENOMEM ? r : -EPROTO;
	vs_iscsi_textbuf_reset(&t->out);
	t->out_off = 0;
	for (size_t i = 0; !r && i < kv.n; i++)
		r = text_key(t, kv.kv[i].key, kv.kv[i].value);
	vs_iscsi_kv_free(&kv);
	if (r) {
		reset(t);
		return r;
	}
	r = send_part(t, req, rsp, rsp_data, rsp_data_cap, rsp_data_len);
	if (r)
		reset(t);
	return r;
}
