/* SPDX-License-Identifier: MIT */
/*
 * Text keys: parsing, response building, value encodings (RFC 7143 §6.1)
 * and the per-key negotiation rules of the operational keys (§6.2, §13).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

/* ---- parsing --------------------------------------------------------- */

static int fail(const char **why, const char *msg, int err)
{
	if (why)
		*why = msg;
	return err;
}

int vs_iscsi_kv_parse(const uint8_t *data, size_t len, struct iscsi_kvlist *out, const char **why)
{
	size_t npairs = 0, off;
	int err;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return 0;
	/* §6.2: every pair, the last one included, ends with a NUL. */
	if (data[len - 1] != '\0')
		return fail(why, "text: last key=value is not NUL-terminated", -EINVAL);
	for (size_t i = 0; i < len; i++)
		if (data[i] == '\0')
			npairs++;
	out->buf = malloc(len);
	out->kv = calloc(npairs, sizeof(*out->kv));
	if (!out->buf || !out->kv) {
		err = fail(why, "text: out of memory", -ENOMEM);
		goto bad;
	}
	memcpy(out->buf, data, len);

	for (off = 0; off < len;) {
		char *s = out->buf + off;
		size_t slen = strlen(s);   /* bounded: buf[len-1] is NUL */
		char *eq;
		size_t klen;

		off += slen + 1;
		if (slen == 0)
			continue;
		eq = memchr(s, '=', slen);
		if (!eq) {
			err = fail(why, "text: key without '='", -EINVAL);
			goto bad;
		}
		klen = (size_t)(eq - s);
		if (klen == 0) {
			err = fail(why, "text: empty key name", -EINVAL);
			goto bad;
		}
		if (klen > ISCSI_KEY_NAME_MAX) {
			err = fail(why, "text: key name longer than 63 bytes", -EINVAL);
			goto bad;
		}
		for (size_t k = 0; k < klen; k++) {
			unsigned char c = (unsigned char)s[k];
			if (c <= ' ' || c >= 0x7f) {
				err = fail(why, "text: key name with a control, space or non-ASCII byte", -EINVAL);
				goto bad;
			}
		}
		if (slen - klen - 1 > ISCSI_LARGE_VALUE_MAX) {
			err = fail(why, "text: value too long", -EINVAL);
			goto bad;
		}
		*eq = '\0';
		for (size_t k = 0; k < out->n; k++) {
			if (!strcmp(out->kv[k].key, s)) {
				err = fail(why, "text: the same key twice", -EEXIST);
				goto bad;
			}
		}
		out->kv[out->n].key = s;
		out->kv[out->n].value = eq + 1;
		out->n++;
	}
	return 0;
bad:
	vs_iscsi_kv_free(out);
	return err;
}

void vs_iscsi_kv_free(struct iscsi_kvlist *l)
{
	free(l->buf);
	free(l->kv);
	memset(l, 0, sizeof(*l));
}

const char *vs_iscsi_kv_find(const struct iscsi_kvlist *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->kv[i].key, key))
			return l->kv[i].value;
	return NULL;
}

/* ---- building --------------------------------------------------------- */

void vs_iscsi_textbuf_init(struct iscsi_textbuf *tb, size_t max)
{
	memset(tb, 0, sizeof(*tb));
	tb->max = max;
}

void vs_iscsi_textbuf_free(struct iscsi_textbuf *tb)
{
	free(tb->data);
	tb->data = NULL;
	tb->len = tb->cap = 0;
}

void vs_iscsi_textbuf_reset(struct iscsi_textbuf *tb)
{
	tb->len = 0;
}

static int tb_reserve(struct iscsi_textbuf *tb, size_t need)
{
	size_t ncap;
	uint8_t *n;

	if (need > tb->max)
		return -ENOSPC;
	if (need <= tb->cap)
		return 0;
	ncap = tb->cap ? tb->cap : 512;
	while (ncap < need)
		ncap *= 2;
	if (ncap > tb->max)
		ncap = tb->max;
	n = realloc(tb->data, ncap);
	if (!n)
		return -ENOMEM;
	tb->data = n;
	tb->cap = ncap;
	return 0;
}

int vs_iscsi_textbuf_add(struct iscsi_textbuf *tb, const char *key, const char *value)
{
	size_t kl = strlen(key), vl = strlen(value);
	int r = tb_reserve(tb, tb->len + kl + vl + 2);

	if (r)
		return r;
	memcpy(tb->data + tb->len, key, kl);
	tb->data[tb->len + kl] = '=';
	memcpy(tb->data + tb->len + kl + 1, value, vl);
	tb->data[tb->len + kl + 1 + vl] = '\0';
	tb->len += kl + vl + 2;
	return 0;
}

int vs_iscsi_textbuf_addf(struct iscsi_textbuf *tb, const char *key, const char *fmt, ...)
{
	char v[ISCSI_LARGE_VALUE_MAX + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(v))
		return -ENOSPC;
	return vs_iscsi_textbuf_add(tb, key, v);
}

/* ---- encodings ------------------------------------------------------ */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int vs_iscsi_parse_number(const char *v, uint64_t *out)
{
	uint64_t x = 0;

	if (!v || !*v)
		return -EINVAL;
	if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
		v += 2;
		if (!*v)
			return -EINVAL;
		for (; *v; v++) {
			int d = hexval((unsigned char)*v);
			if (d < 0 || x > (UINT64_MAX >> 4))
				return -EINVAL;
			x = x << 4 | (uint64_t)d;
		}
	} else {
		for (; *v; v++) {
			uint64_t d = (uint64_t)(*v - '0');
			if (*v < '0' || *v > '9')
				return -EINVAL;
			if (x > UINT64_MAX / 10 || (x == UINT64_MAX / 10 && d > UINT64_MAX % 10))
				return -EINVAL;
			x = x * 10 + d;
		}
	}
	*out = x;
	return 0;
}

int vs_iscsi_parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "Yes"))
		*out = true;
	else if (!strcmp(v, "No"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

bool vs_iscsi_list_contains(const char *list, const char *item)
{
	size_t il = strlen(item);

	for (const char *p = list;;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		if (n == il && !memcmp(p, item, il))
			return true;
		if (!c)
			return false;
		p = c + 1;
	}
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int decode_hex(const char *s, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t nd = strlen(s), n = (nd + 1) / 2, o = 0;

	if (nd == 0)
		return -EINVAL;
	if (n > cap)
		return -ENOSPC;
	/* An odd digit count is read as if a leading 0 were present. */
	if (nd % 2) {
		int d = hexval((unsigned char)*s++);
		if (d < 0)
			return -EINVAL;
		out[o++] = (uint8_t)d;
	}
	for (; *s; s += 2) {
		int hi = hexval((unsigned char)s[0]), lo = hexval((unsigned char)s[1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[o++] = (uint8_t)(hi << 4 | lo);
	}
	*outlen = o;
	return 0;
}

static int decode_b64(const char *s, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t nc = strlen(s), o = 0;

	if (nc == 0 || nc % 4)
		return -EINVAL;
	for (size_t i = 0; i < nc; i += 4) {
		int v[4], pad = 0;
		uint32_t w;

		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=') {
				/* padding only in the last quantum, only at its end */
				if (i + 4 != nc || k < 2)
					return -EINVAL;
				v[k] = 0;
				pad++;
			} else {
				if (pad)
					return -EINVAL;
				v[k] = b64val((unsigned char)s[i + k]);
				if (v[k] < 0)
					return -EINVAL;
			}
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		if (o + 3 - (size_t)pad > cap)
			return -ENOSPC;
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
	}
	*outlen = o;
	return 0;
}

int vs_iscsi_decode_binary(const char *v, uint8_t *out, size_t cap, size_t *outlen)
{
	if (v[0] != '0')
		return -EINVAL;
	if (v[1] == 'x' || v[1] == 'X')
		return decode_hex(v + 2, out, cap, outlen);
	if (v[1] == 'b' || v[1] == 'B')
		return decode_b64(v + 2, out, cap, outlen);
	return -EINVAL;
}

int vs_iscsi_encode_hex(const uint8_t *in, size_t n, char *out, size_t cap)
{
	static const char digits[] = "0123456789abcdef";

	if (cap < 2 * n + 3)
		return -ENOSPC;
	out[0] = '0';
	out[1] = 'x';
	for (size_t i = 0; i < n; i++) {
		out[2 + 2 * i] = digits[in[i] >> 4];
		out[3 + 2 * i] = digits[in[i] & 15];
	}
	out[2 + 2 * n] = '\0';
	return 0;
}

/* ---- operational negotiation ---------------------------------------- */

#define DSL_MIN 512u
#define DSL_MAX 16777215u   /* 2^24 - 1, §13.12-§13.14 */

void vs_iscsi_params_init(struct iscsi_params *p)
{
	memset(p, 0, sizeof(*p));
	p->header_digest = false;
	p->data_digest = false;
	p->max_connections = 1;
	p->initial_r2t = true;
	p->immediate_data = true;
	p->max_recv_dsl = 8192;
	p->max_xmit_dsl = 8192;
	p->max_burst_length = 262144;
	p->first_burst_length = 65536;
	p->default_time2wait = 2;
	p->default_time2retain = 20;
	p->max_outstanding_r2t = 1;
	p->data_pdu_in_order = true;
	p->data_sequence_in_order = true;
	p->error_recovery_level = 0;
	p->session_type = ISCSI_SESSION_NORMAL;
}

static uint32_t clamp_u32(uint32_t v, uint32_t def, uint32_t lo, uint32_t hi)
{
	if (v == 0)
		v = def;
	return v < lo ? lo : v > hi ? hi : v;
}

void vs_iscsi_limits_effective(const struct iscsi_target_limits *lim, struct iscsi_target_limits *out)
{
	static const struct iscsi_target_limits defaults = {
		.immediate_data = true, .initial_r2t = false, .allow_digests = true,
	};

	if (!lim)
		lim = &defaults;
	*out = *lim;
	out->max_recv_dsl = clamp_u32(lim->max_recv_dsl, 262144, DSL_MIN, DSL_MAX);
	out->max_burst_length = clamp_u32(lim->max_burst_length, 1048576, DSL_MIN, DSL_MAX);
	out->first_burst_length = clamp_u32(lim->first_burst_length, 262144, DSL_MIN, DSL_MAX);
	if (out->first_burst_length > out->max_burst_length)
		out->first_burst_length = out->max_burst_length;
	out->max_outstanding_r2t = clamp_u32(lim->max_outstanding_r2t, 1, 1, 65535);
	out->max_connections = clamp_u32(lim->max_connections, 1, 1, 65535);
}

void vs_iscsi_opneg_init(struct iscsi_opneg *n, struct iscsi_params *p,
                      const struct iscsi_target_limits *lim, bool leading)
{
	memset(n, 0, sizeof(*n));
	n->p = p;
	vs_iscsi_limits_effective(lim, &n->lim);
	n->leading = leading;
}

enum key_kind {
	K_NUM_MIN,      /* numerical, result = min(offer, ours)  §6.2.2 */
	K_NUM_MAX,      /* numerical, result = max(offer, ours) */
	K_DECL_NUM,     /* numerical declaration, no answer */
	K_BOOL_AND,     /* Boolean, result = offer AND ours */
	K_BOOL_OR,      /* Boolean, result = offer OR ours */
	K_LIST,         /* list: first value of the offer we support */
	K_MARKER,       /* obsolete IFMarker/OFMarker (§13.26): answer No */
	K_REJECT,       /* obsolete IFMarkInt/OFMarkInt (§13.26): answer Reject */
	K_DECL_IGNORE,  /* declaration we accept and do not use */
};

enum key_id {
	KEY_HEADER_DIGEST, KEY_DATA_DIGEST, KEY_MAX_CONNECTIONS, KEY_INITIAL_R2T,
	KEY_IMMEDIATE_DATA, KEY_MAX_RECV_DSL, KEY_MAX_BURST, KEY_FIRST_BURST,
	KEY_TIME2WAIT, KEY_TIME2RETAIN, KEY_MAX_R2T, KEY_PDU_IN_ORDER, KEY_SEQ_IN_ORDER,
	KEY_ERL, KEY_IFMARKER, KEY_OFMARKER, KEY_IFMARKINT, KEY_OFMARKINT,
	KEY_TASK_REPORTING, KEY_PROTOCOL_LEVEL, KEY_NODE_ARCH,
};

struct key_def {
	const char *name;
	enum key_id id;
	enum key_kind kind;
	uint64_t min, max;
	bool leading_only;      /* "LO" in §13: session-wide, leading login only */
};

static const struct key_def key_defs[] = {
	{ "HeaderDigest",             KEY_HEADER_DIGEST,  K_LIST,     0, 0, false },      /* §13.1 */
	{ "DataDigest",               KEY_DATA_DIGEST,    K_LIST,     0, 0, false },
	{ "MaxConnections",           KEY_MAX_CONNECTIONS, K_NUM_MIN, 1, 65535, true },   /* §13.2 */
	{ "InitialR2T",               KEY_INITIAL_R2T,    K_BOOL_OR,  0, 0, true },       /* §13.10 */
	{ "ImmediateData",            KEY_IMMEDIATE_DATA, K_BOOL_AND, 0, 0, true },       /* §13.11 */
	{ "MaxRecvDataSegmentLength", KEY_MAX_RECV_DSL,   K_DECL_NUM, DSL_MIN, DSL_MAX, false }, /* §13.12 */
	{ "MaxBurstLength",           KEY_MAX_BURST,      K_NUM_MIN,  DSL_MIN, DSL_MAX, true },  /* §13.13 */
	{ "FirstBurstLength",         KEY_FIRST_BURST,    K_NUM_MIN,  DSL_MIN, DSL_MAX, true },  /* §13.14 */
	{ "DefaultTime2Wait",         KEY_TIME2WAIT,      K_NUM_MAX,  0, 3600, true },    /* §13.15 */
	{ "DefaultTime2Retain",       KEY_TIME2RETAIN,    K_NUM_MIN,  0, 3600, true },    /* §13.16 */
	{ "MaxOutstandingR2T",        KEY_MAX_R2T,        K_NUM_MIN,  1, 65535, true },   /* §13.17 */
	{ "DataPDUInOrder",           KEY_PDU_IN_ORDER,   K_BOOL_OR,  0, 0, true },       /* §13.18 */
	{ "DataSequenceInOrder",      KEY_SEQ_IN_ORDER,   K_BOOL_OR,  0, 0, true },       /* §13.19 */
	{ "ErrorRecoveryLevel",       KEY_ERL,            K_NUM_MIN,  0, 2, true },       /* §13.20 */
	{ "IFMarker",                 KEY_IFMARKER,       K_MARKER,   0, 0, false },      /* §13.26 */
	{ "OFMarker",                 KEY_OFMARKER,       K_MARKER,   0, 0, false },
	{ "IFMarkInt",                KEY_IFMARKINT,      K_REJECT,   0, 0, false },
	{ "OFMarkInt",                KEY_OFMARKINT,      K_REJECT,   0, 0, false },
	{ "TaskReporting",            KEY_TASK_REPORTING, K_LIST,     0, 0, true },       /* §13.23 */
	{ "iSCSIProtocolLevel",       KEY_PROTOCOL_LEVEL, K_NUM_MIN,  0, 31, true },      /* §13.24 */
	{ "X#NodeArchitecture",       KEY_NODE_ARCH,      K_DECL_IGNORE, 0, 0, false },   /* §13.25 */
};

static const struct key_def *find_def(const char *key)
{
	for (size_t i = 0; i < sizeof(key_defs) / sizeof(key_defs[0]); i++)
		if (!strcmp(key_defs[i].name, key))
			return &key_defs[i];
	return NULL;
}

bool vs_iscsi_key_is_operational(const char *key)
{
	return find_def(key) != NULL;
}

/* Our value for each numerical or Boolean key. */
static uint64_t our_number(const struct iscsi_opneg *n, enum key_id id)
{
	switch (id) {
	case KEY_MAX_CONNECTIONS: return n->lim.max_connections;
	case KEY_MAX_BURST:       return n->lim.max_burst_length;
	case KEY_FIRST_BURST:     return n->lim.first_burst_length;
	case KEY_TIME2WAIT:       return 2;
	case KEY_TIME2RETAIN:     return 20;
	case KEY_MAX_R2T:         return n->lim.max_outstanding_r2t;
	case KEY_ERL:             return 0;   /* we implement ErrorRecoveryLevel 0 only */
	case KEY_PROTOCOL_LEVEL:  return 1;   /* RFC 7143 */
	case KEY_INITIAL_R2T:     return n->lim.initial_r2t;
	case KEY_IMMEDIATE_DATA:  return n->lim.immediate_data;
	/* Data-Out PDUs and sequences must arrive in order: saying Yes to an
	 * OR function makes the result Yes whatever the initiator offers. */
	case KEY_PDU_IN_ORDER:    return 1;
	case KEY_SEQ_IN_ORDER:    return 1;
	default:                  return 0;
	}
}

static void store_number(struct iscsi_params *p, enum key_id id, uint64_t v)
{
	switch (id) {
	case KEY_MAX_CONNECTIONS: p->max_connections = (uint32_t)v; break;
	case KEY_MAX_RECV_DSL:    p->max_xmit_dsl = (uint32_t)v; break;
	case KEY_MAX_BURST:       p->max_burst_length = (uint32_t)v; break;
	case KEY_FIRST_BURST:     p->first_burst_length = (uint32_t)v; break;
	case KEY_TIME2WAIT:       p->default_time2wait = (uint32_t)v; break;
	case KEY_TIME2RETAIN:     p->default_time2retain = (uint32_t)v; break;
	case KEY_MAX_R2T:         p->max_outstanding_r2t = (uint32_t)v; break;
	case KEY_ERL:             p->error_recovery_level = (uint32_t)v; break;
	case KEY_INITIAL_R2T:     p->initial_r2t = v; break;
	case KEY_IMMEDIATE_DATA:  p->immediate_data = v; break;
	case KEY_PDU_IN_ORDER:    p->data_pdu_in_order = v; break;
	case KEY_SEQ_IN_ORDER:    p->data_sequence_in_order = v; break;
	default: break;
	}
}

/* §6.2.1 list negotiation: the first value in the offer we support. */
static const char *pick_from_list(const struct iscsi_opneg *n, enum key_id id, const char *list)
{
	static const char *const digests[] = { "CRC32C", "None" };
	static const char *const reporting[] = { "RFC3720" };
	char item[ISCSI_VALUE_MAX + 1];

	for (const char *p = list;;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);

		if (len <= ISCSI_VALUE_MAX) {
			memcpy(item, p, len);
			item[len] = '\0';
			if (id == KEY_HEADER_DIGEST || id == KEY_DATA_DIGEST) {
				for (size_t i = 0; i < 2; i++)
					if (!strcmp(item, digests[i]) && (i == 1 || n->lim.allow_digests))
						return digests[i];
			} else {
				if (!strcmp(item, reporting[0]))
					return reporting[0];
			}
		}
		if (!c)
			return NULL;
		p = c + 1;
	}
}

/* 1 = key handled, or the error from appending its answer. */
static int done(int append_result)
{
	return append_result ? append_result : 1;
}

static int answer(struct iscsi_textbuf *rsp, const char *key, const char *value)
{
	return vs_iscsi_textbuf_add(rsp, key, value);
}

static int answer_num(struct iscsi_textbuf *rsp, const char *key, uint64_t v)
{
	return vs_iscsi_textbuf_addf(rsp, key, "%llu", (unsigned long long)v);
}

int vs_iscsi_opneg_key(struct iscsi_opneg *n, const char *key, const char *value,
                    struct iscsi_textbuf *rsp)
{
	const struct key_def *d = find_def(key);
	uint64_t v, ours, res;
	bool b;

	if (!d)
		return 0;
	/* §6.1: simple values are at most 255 bytes. */
	if (strlen(value) > ISCSI_VALUE_MAX)
		return done(answer(rsp, key, "Reject"));
	/* Session-wide keys on a connection joining an existing session do not
	 * apply there: the session keeps what its leading login agreed. */
	if (d->leading_only && !n->leading)
		return done(answer(rsp, key, "Irrelevant"));

	switch (d->kind) {
	case K_NUM_MIN:
	case K_NUM_MAX:
	case K_DECL_NUM:
		if (vs_iscsi_parse_number(value, &v) || v < d->min || v > d->max)
			return done(answer(rsp, key, "Reject"));
		if (d->kind == K_DECL_NUM) {
			/* §13.12: the initiator declares what it can receive;
			 * that is how much we may send in one PDU. */
			store_number(n->p, d->id, v);
			return 1;
		}
		ours = our_number(n, d->id);
		res = d->kind == K_NUM_MIN ? (v < ours ? v : ours) : (v > ours ? v : ours);
		if (d->id == KEY_FIRST_BURST) {
			n->fbl_pending = true;
			n->fbl_offer = (uint32_t)v;
			return 1;
		}
		store_number(n->p, d->id, res);
		return done(answer_num(rsp, key, res));
	case K_BOOL_AND:
	case K_BOOL_OR:
		if (vs_iscsi_parse_bool(value, &b))
			return done(answer(rsp, key, "Reject"));
		ours = our_number(n, d->id);
		res = d->kind == K_BOOL_AND ? (b && ours) : (b || ours);
		store_number(n->p, d->id, res);
		return done(answer(rsp, key, res ? "Yes" : "No"));
	case K_LIST: {
		const char *pick = pick_from_list(n, d->id, value);
		if (!pick)
			return done(answer(rsp, key, "Reject"));
		if (d->id == KEY_HEADER_DIGEST)
			n->p->header_digest = !strcmp(pick, "CRC32C");
		else if (d->id == KEY_DATA_DIGEST)
			n->p->data_digest = !strcmp(pick, "CRC32C");
		return done(answer(rsp, key, pick));
	}
	case K_MARKER:
		/* §13.26: SHOULD answer Reject, MAY answer No, MUST NOT answer
		 * NotUnderstood.  "No" is what RFC 3720 initiators expect. */
		if (vs_iscsi_parse_bool(value, &b))
			return done(answer(rsp, key, "Reject"));
		return done(answer(rsp, key, "No"));
	case K_REJECT:
		return done(answer(rsp, key, "Reject"));
	case K_DECL_IGNORE:
		return 1;
	}
	return 1;
}

int vs_iscsi_opneg_finish(struct iscsi_opneg *n, struct iscsi_textbuf *rsp)
{
	uint32_t res;

	if (!n->fbl_pending)
		return 0;
	n->fbl_pending = false;
	/* §13.14: irrelevant when no unsolicited data can be sent at all. */
	if (n->p->initial_r2t && !n->p->immediate_data)
		return vs_iscsi_textbuf_add(rsp, "FirstBurstLength", "Irrelevant");
	res = n->fbl_offer < n->lim.first_burst_length ? n->fbl_offer : n->lim.first_burst_length;
	/* §13.14: FirstBurstLength must not exceed MaxBurstLength. */
	if (res > n->p->max_burst_length)
		res = n->p->max_burst_length;
	n->p->first_burst_length = res;
	return vs_iscsi_textbuf_addf(rsp, "FirstBurstLength", "%u", res);
}

void vs_iscsi_params_finalize(struct iscsi_params *p)
{
	if (p->first_burst_length > p->max_burst_length)
		p->first_burst_length = p->max_burst_length;
}
