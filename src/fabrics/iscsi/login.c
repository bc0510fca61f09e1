/* SPDX-License-Identifier: MIT */
/*
 * The login state machine (RFC 7143 §6.3, §11.12, §11.13), target side.
 *
 * One `struct iscsi_login` per connection.  Each Login Request is checked
 * (version, stage bits, fixed ISID/TSIH/CID), its text is accumulated
 * across C-bit PDUs, then every key is answered: identity declarations
 * (§13.3-13.8), AuthMethod and CHAP in the security stage (§12.1.3),
 * operational keys via keys.c (§13).  The response text is sent in chunks
 * of at most 8192 bytes with the C bit when it is longer (§11.13.2).
 *
 * Choices worth knowing:
 *  - The target never opens a negotiation of its own (RFC 7143 makes it
 *    optional): keys the initiator does not send keep their §13 defaults.
 *    Only declarations go out unasked -- TargetPortalGroupTag (and
 *    TargetAlias) in the first response of a normal session (§13.9), and
 *    our MaxRecvDataSegmentLength in the first operational-stage response
 *    (§13.12).  An initiator going straight from security to full feature
 *    never hears our declaration, so we accept the 8192 default then.
 *    (Opening negotiations would also force T=0 answers, and libiscsi
 *    answers those by resending every key.)
 *  - §6.2 forbids negotiating a key twice in one login: a repeat is an
 *    initiator error (0x0200).  The identity declarations InitiatorName,
 *    TargetName, SessionType and InitiatorAlias may be repeated with the
 *    same value, because libiscsi sends them again in the operational stage.
 *  - Operational keys sent in the security stage are answered there;
 *    security keys outside it are an initiator error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chap.h"
#include "keys.h"
#include "login.h"

#define LOGIN_PDU_TEXT_MAX 8192      /* §13.12 default, in force during login */
#define LOGIN_SEEN_MAX     1024

enum login_state { L_ACTIVE = 0, L_DONE, L_FAILED };
enum auth_state { AUTH_UNSET = 0, AUTH_NONE, AUTH_CHAP };

struct iscsi_login {
	const struct iscsi_login_env *env;
	enum login_state state;
	struct iscsi_params params;
	struct iscsi_opneg opneg;

	/* Fixed by the first request (§11.12: ISID, TSIH, CID do not change). */
	bool have_first;
	uint8_t isid[6];
	uint16_t tsih_req;
	uint16_t tsih;
	uint16_t cid;
	uint32_t cmdsn;
	uint32_t exp_statsn;
	int stage;                    /* the CSG the next request must carry */

	bool identity_done;           /* leading keys of the first text processed */
	void *target;

	/* Security stage */
	const struct iscsi_chap_creds *creds;    /* non-NULL: CHAP required (= &creds_copy) */
	struct iscsi_chap_creds creds_copy;
	enum auth_state auth;
	struct iscsi_chap chap;

	/* Declarations made */
	bool sent_first_decl;
	bool declared_mrdsl;

	/* Keys negotiated so far (§6.2: each only once per login). */
	char **seen;
	size_t nseen;

	/* Initiator's C bit: text accumulated across PDUs. */
	uint8_t *in;
	size_t in_len;

	/* Our C bit: response text still to send, and how it ends. */
	struct iscsi_textbuf out;
	size_t out_off;
	bool out_transit;
	int out_nsg;
};

struct iscsi_login *vs_iscsi_login_new(const struct iscsi_login_env *env)
{
	struct iscsi_login *l;

	if (!env)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->env = env;
	vs_iscsi_params_init(&l->params);
	vs_iscsi_opneg_init(&l->opneg, &l->params, env->limits, true);
	vs_iscsi_textbuf_init(&l->out, 2 * ISCSI_TEXT_MAX);
	return l;
}

void vs_iscsi_login_free(struct iscsi_login *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nseen; i++)
		free(l->seen[i]);
	free(l->seen);
	free(l->in);
	vs_iscsi_textbuf_free(&l->out);
	/* The CHAP challenge is no secret, but scrub state anyway; the
	 * copy of the secrets must not linger in freed memory. */
	memset(&l->chap, 0, sizeof(l->chap));
	vs_iscsi_chap_creds_wipe(&l->creds_copy);
	free(l);
}

const struct iscsi_params *vs_iscsi_login_params(const struct iscsi_login *l) { return &l->params; }
void *vs_iscsi_login_target(const struct iscsi_login *l) { return l->target; }
const uint8_t *vs_iscsi_login_isid(const struct iscsi_login *l) { return l->isid; }
uint16_t vs_iscsi_login_tsih(const struct iscsi_login *l) { return l->tsih_req; }
uint16_t vs_iscsi_login_cid(const struct iscsi_login *l) { return l->cid; }
uint32_t vs_iscsi_login_cmdsn(const struct iscsi_login *l) { return l->cmdsn; }
uint32_t vs_iscsi_login_exp_statsn(const struct iscsi_login *l) { return l->exp_statsn; }
bool vs_iscsi_login_authenticated(const struct iscsi_login *l)
{
	return l->creds && l->auth == AUTH_CHAP && l->chap.state == ISCSI_CHAP_DONE;
}

void vs_iscsi_login_set_tsih(struct iscsi_login *l, struct iscsi_bhs *rsp, uint16_t tsih)
{
	l->tsih = tsih;
	iscsi_put_be16(rsp->b + 14, tsih);
}

/* ---- response helpers ------------------------------------------------ */

static void init_rsp(const struct iscsi_bhs *req, struct iscsi_bhs *rsp, uint16_t tsih)
{
	memset(rsp, 0, sizeof(*rsp));
	rsp->b[0] = ISCSI_OP_LOGIN_RESP;
	rsp->b[1] = (uint8_t)(ISCSI_LOGIN_CSG(req->b[1]) << 2);
	rsp->b[2] = 0x00;   /* Version-max */
	rsp->b[3] = 0x00;   /* Version-active (§11.13.1: 0x00 for RFC 7143) */
	memcpy(rsp->b + 8, req->b + 8, 6);          /* ISID */
	iscsi_put_be16(rsp->b + 14, tsih);          /* TSIH */
	memcpy(rsp->b + 16, req->b + 16, 4);        /* ITT */
}

static enum iscsi_login_result fail(struct iscsi_login *l, struct iscsi_bhs *rsp,
                                    size_t *rsp_len, uint16_t status)
{
	/* §11.13.5: a reject carries no text; T, C and NSG are meaningless. */
	rsp->b[1] &= (uint8_t)(3 << 2);
	rsp->b[36] = (uint8_t)(status >> 8);
	rsp->b[37] = (uint8_t)status;
	bhs_set_dsl(rsp, 0);
	*rsp_len = 0;
	l->state = L_FAILED;
	vs_iscsi_textbuf_reset(&l->out);
	l->out_off = 0;
	return ISCSI_LOGIN_FAILED;
}

static enum iscsi_login_result send_chunk(struct iscsi_login *l, struct iscsi_bhs *rsp,
                                          bool req_transit, uint8_t *rsp_data,
                                          size_t rsp_data_cap, size_t *rsp_len)
{
	size_t cap = rsp_data_cap < LOGIN_PDU_TEXT_MAX ? rsp_data_cap : LOGIN_PDU_TEXT_MAX;
	size_t left = l->out.len - l->out_off;
	size_t n = left;

	if (left > cap) {
		const uint8_t *nul;

		if (cap == 0) {
			/* The caller gave no room at all: nothing sensible to send. */
			l->state = L_FAILED;
			return ISCSI_LOGIN_PROTOCOL_ERROR;
		}
		/* Pairs may span PDUs (§6.2), but initiators that parse each
		 * PDU on its own cope better when a part ends on a pair. */
		nul = memrchr(l->out.data + l->out_off, '\0', cap);
		n = nul ? (size_t)(nul - (l->out.data + l->out_off)) + 1 : cap;
	}
	if (n)
		memcpy(rsp_data, l->out.data + l->out_off, n);
	l->out_off += n;
	*rsp_len = n;
	bhs_set_dsl(rsp, (uint32_t)n);
	if (l->out_off < l->out.len) {
		/* §11.13.2: more text follows; the initiator answers with an
		 * empty Login Request and the stage does not change. */
		rsp->b[1] = (uint8_t)(ISCSI_LOGIN_CONTINUE | (l->stage << 2));
		return ISCSI_LOGIN_CONTINUE_PHASE;
	}
	vs_iscsi_textbuf_reset(&l->out);
	l->out_off = 0;
	/* The target may only transit when the request it answers has T=1. */
	if (!l->out_transit || !req_transit) {
		rsp->b[1] = (uint8_t)(l->stage << 2);
		return ISCSI_LOGIN_CONTINUE_PHASE;
	}
	rsp->b[1] = (uint8_t)(ISCSI_LOGIN_TRANSIT | (l->stage << 2) | l->out_nsg);
	l->stage = l->out_nsg;
	l->out_transit = false;
	if (l->stage == ISCSI_STAGE_FULL_FEATURE) {
		vs_iscsi_params_finalize(&l->params);
		l->state = L_DONE;
		return ISCSI_LOGIN_DONE;
	}
	return ISCSI_LOGIN_CONTINUE_PHASE;
}

/* ---- key bookkeeping -------------------------------------------------- */

static bool seen_before(const struct iscsi_login *l, const char *key)
{
	for (size_t i = 0; i < l->nseen; i++)
		if (!strcmp(l->seen[i], key))
			return true;
	return false;
}

static int remember(struct iscsi_login *l, const char *key)
{
	char **n;

	if (l->nseen >= LOGIN_SEEN_MAX)
		return -ENOSPC;
	n = realloc(l->seen, (l->nseen + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	l->seen = n;
	l->seen[l->nseen] = strdup(key);
	if (!l->seen[l->nseen])
		return -ENOMEM;
	l->nseen++;
	return 0;
}

static bool is_security_key(const char *key)
{
	return !strcmp(key, "AuthMethod") || !strncmp(key, "CHAP_", 5);
}

/* Copy a name, refusing empty or over-long ones (§4.2.7.1: 223 bytes). */
static bool copy_name(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n >= cap)
		return false;
	memcpy(dst, v, n + 1);
	return true;
}

/*
 * The leading keys of the first complete request (§13.3-§13.6): who the
 * initiator is, which session type, which target; then ACL and whether
 * CHAP is required.  Returns 0 or a login status.
 */
static uint16_t leading_keys(struct iscsi_login *l, const struct iscsi_kvlist *kv, int csg)
{
	const struct iscsi_login_env *env = l->env;
	const char *iname = vs_iscsi_kv_find(kv, "InitiatorName");
	const char *ialias = vs_iscsi_kv_find(kv, "InitiatorAlias");
	const char *stype = vs_iscsi_kv_find(kv, "SessionType");
	const char *tname = vs_iscsi_kv_find(kv, "TargetName");

	/* §13.5: InitiatorName MUST be in the first Login Request. */
	if (!iname)
		return ISCSI_LOGIN_STATUS_MISSING_FIELDS;
	if (!copy_name(l->params.initiator_name, sizeof(l->params.initiator_name), iname))
		return ISCSI_LOGIN_STATUS_INIT_ERR;
	if (ialias && strlen(ialias) < sizeof(l->params.initiator_alias))
		memcpy(l->params.initiator_alias, ialias, strlen(ialias) + 1);

	/* §13.3: SessionType defaults to Normal. */
	if (!stype || !strcmp(stype, "Normal"))
		l->params.session_type = ISCSI_SESSION_NORMAL;
	else if (!strcmp(stype, "Discovery"))
		l->params.session_type = ISCSI_SESSION_DISCOVERY;
	else
		return ISCSI_LOGIN_STATUS_SESSION_TYPE_UNSUPP;

	if (l->params.session_type == ISCSI_SESSION_NORMAL) {
		/* §13.4: TargetName is required in a normal session. */
		if (!tname)
			return ISCSI_LOGIN_STATUS_MISSING_FIELDS;
		if (!copy_name(l->params.target_name, sizeof(l->params.target_name), tname))
			return ISCSI_LOGIN_STATUS_TGT_NOT_FOUND;
		l->target = env->find_target ? env->find_target(env->ctx, tname) : NULL;
		if (!l->target)
			return ISCSI_LOGIN_STATUS_TGT_NOT_FOUND;
		/* A target exists only on the portals that serve it. */
		if (env->target_served && !env->target_served(env->ctx, l->target)) {
			l->target = NULL;
			return ISCSI_LOGIN_STATUS_TGT_NOT_FOUND;
		}
		if (env->initiator_allowed &&
		    !env->initiator_allowed(env->ctx, l->target, l->params.initiator_name))
			return ISCSI_LOGIN_STATUS_TGT_FORBIDDEN;
	}
	/* A TargetName in a discovery session names nothing we need: ignored. */

	l->creds = env->chap_for && env->chap_for(env->ctx, l->target, &l->creds_copy)
	           ? &l->creds_copy : NULL;
	/* Authentication required but the initiator skipped the security stage. */
	if (l->creds && csg != ISCSI_STAGE_SECURITY)
		return ISCSI_LOGIN_STATUS_AUTH_FAILED;

	vs_iscsi_opneg_init(&l->opneg, &l->params, env->limits, l->tsih_req == 0);
	l->identity_done = true;
	return 0;
}

/* A repeated identity declaration must say the same thing (see top). */
static uint16_t identity_key(struct iscsi_login *l, const char *key, const char *value)
{
	const char *have = NULL;

	if (!strcmp(key, "InitiatorName")) {
		have = l->params.initiator_name;
	} else if (!strcmp(key, "TargetName")) {
		if (l->params.session_type == ISCSI_SESSION_DISCOVERY)
			return 0;
		have = l->params.target_name;
	} else if (!strcmp(key, "SessionType")) {
		have = l->params.session_type == ISCSI_SESSION_DISCOVERY ? "Discovery" : "Normal";
	} else {    /* InitiatorAlias */
		if (!l->params.initiator_alias[0]) {
			if (strlen(value) >= sizeof(l->params.initiator_alias))
				return ISCSI_LOGIN_STATUS_INIT_ERR;
			memcpy(l->params.initiator_alias, value, strlen(value) + 1);
			return 0;
		}
		have = l->params.initiator_alias;
	}
	return strcmp(have, value) ? ISCSI_LOGIN_STATUS_INIT_ERR : 0;
}

static bool is_identity_key(const char *key)
{
	return !strcmp(key, "InitiatorName") || !strcmp(key, "TargetName") ||
	       !strcmp(key, "SessionType") || !strcmp(key, "InitiatorAlias");
}

/* §12.1 AuthMethod: a list; CHAP when required, else None. */
static uint16_t auth_method(struct iscsi_login *l, const char *value)
{
	int r;

	if (strlen(value) > ISCSI_VALUE_MAX)
		return ISCSI_LOGIN_STATUS_INIT_ERR;
	if (l->creds) {
		if (!vs_iscsi_list_contains(value, "CHAP"))
			return ISCSI_LOGIN_STATUS_AUTH_FAILED;
		l->auth = AUTH_CHAP;
		vs_iscsi_chap_init(&l->chap, l->creds);
		r = vs_iscsi_textbuf_add(&l->out, "AuthMethod", "CHAP");
	} else if (vs_iscsi_list_contains(value, "None")) {
		l->auth = AUTH_NONE;
		r = vs_iscsi_textbuf_add(&l->out, "AuthMethod", "None");
	} else {
		/* Only methods we cannot run (CHAP without a configured secret,
		 * SRP, Kerberos...): §6.2.1 answer; the initiator decides. */
		r = vs_iscsi_textbuf_add(&l->out, "AuthMethod", "Reject");
	}
	return r ? ISCSI_LOGIN_STATUS_NO_RESOURCES : 0;
}

struct chap_keys {
	const char *a, *i, *c, *n, *r;
	bool any;
};

static uint16_t handle_key(struct iscsi_login *l, const char *key, const char *value, int csg,
                           struct chap_keys *ck)
{
	int r;

	if (is_identity_key(key))
		return identity_key(l, key, value);

	if (seen_before(l, key))
		return ISCSI_LOGIN_STATUS_INIT_ERR;
	r = remember(l, key);
	if (r == -ENOSPC)
		return ISCSI_LOGIN_STATUS_INIT_ERR;
	if (r)
		return ISCSI_LOGIN_STATUS_NO_RESOURCES;

	if (is_security_key(key)) {
		/* §6.3.1: security keys belong to the security stage. */
		if (csg != ISCSI_STAGE_SECURITY)
			return ISCSI_LOGIN_STATUS_INIT_ERR;
		if (!strcmp(key, "AuthMethod"))
			return auth_method(l, value);
		ck->any = true;
		if (!strcmp(key, "CHAP_A")) ck->a = value;
		else if (!strcmp(key, "CHAP_I")) ck->i = value;
		else if (!strcmp(key, "CHAP_C")) ck->c = value;
		else if (!strcmp(key, "CHAP_N")) ck->n = value;
		else if (!strcmp(key, "CHAP_R")) ck->r = value;
		else
			return vs_iscsi_textbuf_add(&l->out, key, "NotUnderstood") ?
			       ISCSI_LOGIN_STATUS_NO_RESOURCES : 0;
		return 0;
	}

	r = vs_iscsi_opneg_key(&l->opneg, key, value, &l->out);
	if (r < 0)
		return ISCSI_LOGIN_STATUS_NO_RESOURCES;
	if (r > 0)
		return 0;

	/* Declarations only a target makes (§13.7-§13.9) mean nothing from an
	 * initiator; declarations get no answer, so they are dropped (an
	 * answer would also clash with our own TargetAlias declaration). */
	if (!strcmp(key, "TargetAlias") || !strcmp(key, "TargetAddress") ||
	    !strcmp(key, "TargetPortalGroupTag"))
		return 0;
	/* SendTargets belongs to the full feature phase (§13.21). */
	if (!strcmp(key, "SendTargets"))
		r = vs_iscsi_textbuf_add(&l->out, key, "Reject");
	else
		/* §6.2: unknown keys, including X- / X# extensions. */
		r = vs_iscsi_textbuf_add(&l->out, key, "NotUnderstood");
	return r ? ISCSI_LOGIN_STATUS_NO_RESOURCES : 0;
}

/* The CHAP step for this request, after all its keys were read. */
static uint16_t chap_step(struct iscsi_login *l, const struct chap_keys *ck, bool method_now)
{
	int r;

	if (l->auth != AUTH_CHAP)
		return ck->any ? ISCSI_LOGIN_STATUS_INIT_ERR : 0;
	switch (l->chap.state) {
	case ISCSI_CHAP_WAIT_A:
		if (!ck->a) {
			/* The request that agreed on CHAP need not carry CHAP_A yet. */
			return method_now && !ck->any ? 0 : ISCSI_LOGIN_STATUS_AUTH_FAILED;
		}
		if (ck->i || ck->c || ck->n || ck->r)
			return ISCSI_LOGIN_STATUS_AUTH_FAILED;
		r = vs_iscsi_chap_challenge(&l->chap, ck->a, &l->out);
		if (r == -ENOTSUP)
			return ISCSI_LOGIN_STATUS_AUTH_FAILED;
		if (r == -EIO)
			return ISCSI_LOGIN_STATUS_TARGET_ERROR;
		return r ? ISCSI_LOGIN_STATUS_NO_RESOURCES : 0;
	case ISCSI_CHAP_WAIT_NR:
		r = vs_iscsi_chap_verify(&l->chap, ck->n, ck->r, ck->i, ck->c, &l->out);
		if (r == -ENOMEM || r == -ENOSPC)
			return ISCSI_LOGIN_STATUS_NO_RESOURCES;
		return r ? ISCSI_LOGIN_STATUS_AUTH_FAILED : 0;
	case ISCSI_CHAP_DONE:
		return ck->any ? ISCSI_LOGIN_STATUS_AUTH_FAILED : 0;
	default:
		return ISCSI_LOGIN_STATUS_AUTH_FAILED;
	}
}

/* May the security stage end now? 0 = yes, 1 = not yet, else a status. */
static uint16_t security_ready(const struct iscsi_login *l)
{
	if (l->auth == AUTH_CHAP)
		return l->chap.state == ISCSI_CHAP_DONE ? 0 : 1;
	/* CHAP required but never agreed on: the initiator tried to leave the
	 * security stage unauthenticated. */
	return l->creds ? ISCSI_LOGIN_STATUS_AUTH_FAILED : 0;
}

static int declarations(struct iscsi_login *l, int csg)
{
	const struct iscsi_login_env *env = l->env;
	int r = 0;

	if (!l->sent_first_decl && l->params.session_type == ISCSI_SESSION_NORMAL) {
		/* §13.9: TargetPortalGroupTag in the first Login Response of a
		 * normal session; §13.7 TargetAlias alongside when configured. */
		const char *alias = env->target_alias ? env->target_alias(env->ctx, l->target) : NULL;
		r = vs_iscsi_textbuf_addf(&l->out, "TargetPortalGroupTag", "%u", env->tpgt);
		if (!r && alias && alias[0] && strlen(alias) <= ISCSI_VALUE_MAX)
			r = vs_iscsi_textbuf_add(&l->out, "TargetAlias", alias);
	}
	l->sent_first_decl = true;
	if (!r && csg == ISCSI_STAGE_OPERATIONAL && !l->declared_mrdsl) {
		/* §13.12: declare what we accept; from then on that is the limit. */
		r = vs_iscsi_textbuf_addf(&l->out, "MaxRecvDataSegmentLength", "%u",
		                       l->opneg.lim.max_recv_dsl);
		if (!r) {
			l->declared_mrdsl = true;
			l->params.max_recv_dsl = l->opneg.lim.max_recv_dsl;
		}
	}
	return r;
}

enum iscsi_login_result vs_iscsi_login_handle(struct iscsi_login *l, const struct iscsi_bhs *req,
                                           const uint8_t *data, size_t data_len,
                                           struct iscsi_bhs *rsp, uint8_t *rsp_data,
                                           size_t rsp_data_cap, size_t *rsp_data_len)
{
	uint8_t flags = req->b[1];
	bool transit = flags & ISCSI_LOGIN_TRANSIT;
	bool cont = flags & ISCSI_LOGIN_CONTINUE;
	int csg = ISCSI_LOGIN_CSG(flags), nsg = ISCSI_LOGIN_NSG(flags);
	struct iscsi_kvlist kv;
	struct chap_keys ck = { 0 };
	bool method_now;
	uint16_t st;

	*rsp_data_len = 0;
	if (l->state != L_ACTIVE || bhs_opcode(req) != ISCSI_OP_LOGIN_REQ) {
		l->state = L_FAILED;
		return ISCSI_LOGIN_PROTOCOL_ERROR;
	}
	if (!l->have_first) {
		memcpy(l->isid, req->b + 8, 6);
		l->tsih_req = iscsi_get_be16(req->b + 14);
		l->cid = iscsi_get_be16(req->b + 20);
		l->cmdsn = iscsi_get_be32(req->b + 24);
		l->stage = csg;
		l->have_first = true;
	}
	init_rsp(req, rsp, l->tsih ? l->tsih : l->tsih_req);
	l->exp_statsn = iscsi_get_be32(req->b + 28);

	/* §11.12.4: we speak version 0x00 only. */
	if (req->b[3] > 0x00 /* Version-min */)
		return fail(l, rsp, rsp_data_len, ISCSI_LOGIN_STATUS_NO_VERSION);
	/* §11.12: ISID, TSIH and CID stay the same for the whole login. */
	if (memcmp(l->isid, req->b + 8, 6) || l->tsih_req != iscsi_get_be16(req->b + 14) ||
	    l->cid != iscsi_get_be16(req->b + 20))
		return fail(l, rsp, rsp_data_len, ISCSI_LOGIN_STATUS_INIT_ERR);
	/* §11.12.1-3: stage 2 is reserved and full feature is never a current
	 * stage; T and C are exclusive; a transit goes forward only; the
	 * current stage is the one we agreed on. */
	if (csg != ISCSI_STAGE_SECURITY && csg != ISCSI_STAGE_OPERATIONAL)
		return fail(l, rsp, rsp_data_len, ISCSI_LOGIN_STATUS_INIT_ERR);
	if (transit && cont)
		return fail(l, rsp, rsp_data_len, ISCSI_LOGIN_STATUS_INIT_ERR);
	if (transit && (nsg == 2 || nsg <= csg))
		return fail(l, rsp, rsp_data_len, ISCSI_LOGIN_STATUS_INIT_ERR);
	if (csg != l->stage)
		return fail(l, rsp, rsp_data_len, ISCSI_LOGIN_STATUS_INIT_ERR);

	/* We are in the middle of a long response: the initiator acknowledges
	 * each part with an empty request (§11.13.2). */
	if (l->out_off < l->out.len) {
		if (data_len || cont)
			return fail(l, rsp, rsp_data_len, ISCSI_LOGIN_STATUS_INIT_ERR);
		return send_chunk(l, rsp, transit, rsp_data, rsp_data_cap, rsp_data_len);
	}

	/* Accumulate text; §11.12.3: with C=1 more follows, answer empty. */
	if (data_len) {
		uint8_t *n;
		if (data_len > ISCSI_TEXT_MAX - l->in_len)
			return fail(l, rsp, rsp_data_len, ISCSI_LOGIN_STATUS_INIT_ERR);
		n = realloc(l->in, l->in_len + data_len);
		if (!n)
			return fail(l, rsp, rsp_data_len, ISCSI_LOGIN_STATUS_NO_RESOURCES);
		l->in = n;
		memcpy(l->in + l->in_len, data, data_len);
		l->in_len += data_len;
	}
	if (cont)
		return ISCSI_LOGIN_CONTINUE_PHASE;

	{
		const char *why;
		int r = vs_iscsi_kv_parse(l->in, l->in_len, &kv, &why);
		free(l->in);
		l->in = NULL;
		l->in_len = 0;
		if (r == -ENOMEM)
			return fail(l, rsp, rsp_data_len, ISCSI_LOGIN_STATUS_NO_RESOURCES);
		if (r)
			return fail(l, rsp, rsp_data_len, ISCSI_LOGIN_STATUS_INIT_ERR);
	}

	vs_iscsi_textbuf_reset(&l->out);
	l->out_off = 0;
	st = 0;
	if (!l->identity_done)
		st = leading_keys(l, &kv, csg);
	method_now = !seen_before(l, "AuthMethod");
	for (size_t i = 0; !st && i < kv.n; i++)
		st = handle_key(l, kv.kv[i].key, kv.kv[i].value, csg, &ck);
	method_now = method_now && seen_before(l, "AuthMethod");
	if (!st && vs_iscsi_opneg_finish(&l->opneg, &l->out))
		st = ISCSI_LOGIN_STATUS_NO_RESOURCES;
	if (!st && csg == ISCSI_STAGE_SECURITY)
		st = chap_step(l, &ck, method_now);
	vs_iscsi_kv_free(&kv);
	if (st)
		return fail(l, rsp, rsp_data_len, st);

	l->out_transit = false;
	if (transit) {
		uint16_t ready = csg == ISCSI_STAGE_SECURITY ? security_ready(l) : 0;
		if (ready > 1)
			return fail(l, rsp, rsp_data_len, ready);
		if (ready == 0) {
			l->out_transit = true;
			l->out_nsg = nsg;
		}
	}
	if (declarations(l, csg))
		return fail(l, rsp, rsp_data_len, ISCSI_LOGIN_STATUS_NO_RESOURCES);
	return send_chunk(l, rsp, transit, rsp_data, rsp_data_cap, rsp_data_len);
}
