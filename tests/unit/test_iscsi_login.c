/* SPDX-License-Identifier: MIT */
/* The login state machine (RFC 7143 §6.3, §11.12, §11.13) driven through
 * whole exchanges against a fake target environment. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fabrics/iscsi/keys.h"
#include "fabrics/iscsi/login.h"

#define INITIATOR "iqn.2024-01.test:host1"
#define DISK1 "iqn.2024-01.test:disk1"
#define DISK2 "iqn.2024-01.test:disk2"
#define SECURE "iqn.2024-01.test:secure"

/* Login Request byte 1 */
#define SEC_STAY   0x00
#define SEC_TO_OP  (ISCSI_LOGIN_TRANSIT | 0x01)
#define SEC_TO_FFP (ISCSI_LOGIN_TRANSIT | 0x03)
#define OP_STAY    0x04
#define OP_TO_FFP  (ISCSI_LOGIN_TRANSIT | 0x04 | 0x03)

#define TXT(s) (s), (sizeof(s) - 1)

/* ---- fake environment ---------------------------------------------------- */

static const char *const names[] = { NULL, DISK1, DISK2, SECURE };
static struct iscsi_chap_creds creds;
static bool discovery_chap;

static void *find_target(void *ctx, const char *n)
{
	(void)ctx;
	for (uintptr_t i = 1; i < 4; i++)
		if (!strcmp(names[i], n))
			return (void *)i;
	return NULL;
}
static const char *target_name(void *ctx, void *t) { (void)ctx; return names[(uintptr_t)t]; }
static const char *target_alias(void *ctx, void *t)
{
	(void)ctx;
	return (uintptr_t)t == 1 ? "Disk One" : NULL;
}
/* disk2 admits only host2 */
static bool initiator_allowed(void *ctx, void *t, const char *iname)
{
	(void)ctx;
	return (uintptr_t)t != 2 || !strcmp(iname, "iqn.2024-01.test:host2");
}
static bool chap_for(void *ctx, void *t, struct iscsi_chap_creds *out)
{
	bool on = t ? (uintptr_t)t == 3 : discovery_chap;

	(void)ctx;
	if (on)
		*out = creds;
	return on;
}

/* Per-target portals: when set, disk1 is not served on this connection's
 * portal (it exists, but only elsewhere). */
static bool disk1_elsewhere;
static bool target_served(void *ctx, void *t)
{
	(void)ctx;
	return !(disk1_elsewhere && (uintptr_t)t == 1);
}

static const struct iscsi_target_limits limits = {
	.max_recv_dsl = 262144, .max_burst_length = 1048576, .first_burst_length = 262144,
	.max_outstanding_r2t = 8, .max_connections = 1,
	.immediate_data = true, .initial_r2t = false, .allow_digests = true,
};

static const struct iscsi_login_env env = {
	.find_target = find_target, .target_name = target_name, .target_alias = target_alias,
	.initiator_allowed = initiator_allowed, .chap_for = chap_for, .target_served = target_served,
	.tpgt = 7, .limits = &limits,
};

static int setup(void **state)
{
	memset(&creds, 0, sizeof(creds));
	strcpy(creds.user, "alice");
	strcpy(creds.secret, "alice-secret-123");
	discovery_chap = false;
	disk1_elsewhere = false;
	*state = vs_iscsi_login_new(&env);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	vs_iscsi_login_free(*state);
	return 0;
}

/* ---- driving the machine -------------------------------------------------- */

static const uint8_t isid[6] = { 0x80, 0x12, 0x34, 0x56, 0x00, 0x01 };
static uint32_t next_itt = 0x100;

struct exch {
	struct iscsi_bhs req, rsp;
	uint8_t data[65536];
	size_t len;
	enum iscsi_login_result res;
	struct iscsi_kvlist kv;
};

static void mk_req(struct iscsi_bhs *h, uint8_t flags, size_t dsl)
{
	memset(h, 0, sizeof(*h));
	h->b[0] = ISCSI_FLAG_IMMEDIATE | ISCSI_OP_LOGIN_REQ;
	h->b[1] = flags;
	h->b[2] = 0x00;   /* Version-max */
	h->b[3] = 0x00;   /* Version-min */
	bhs_set_dsl(h, (uint32_t)dsl);
	memcpy(h->b + 8, isid, 6);
	iscsi_put_be32(h->b + 16, next_itt++);
	iscsi_put_be16(h->b + 20, 1);          /* CID */
	iscsi_put_be32(h->b + 24, 0x1000);     /* CmdSN */
	iscsi_put_be32(h->b + 28, 0x2000);     /* ExpStatSN */
}

static enum iscsi_login_result send_req(struct iscsi_login *l, struct iscsi_bhs *req,
                                        const char *text, size_t tlen, struct exch *x)
{
	vs_iscsi_kv_free(&x->kv);
	x->req = *req;
	x->res = vs_iscsi_login_handle(l, req, (const uint8_t *)text, tlen, &x->rsp, x->data,
	                            sizeof(x->data), &x->len);
	if (x->res != ISCSI_LOGIN_PROTOCOL_ERROR) {
		assert_int_equal(bhs_dsl(&x->rsp), x->len);
		/* the fields every Login Response echoes (§11.13) */
		assert_int_equal(x->rsp.b[0], ISCSI_OP_LOGIN_RESP);
		assert_memory_equal(x->rsp.b + 8, req->b + 8, 6);
		assert_int_equal(bhs_itt(&x->rsp), bhs_itt(req));
		assert_int_equal(x->rsp.b[3], 0x00);
		if (!(x->rsp.b[1] & ISCSI_LOGIN_CONTINUE))
			assert_int_equal(vs_iscsi_kv_parse(x->data, x->len, &x->kv, NULL), 0);
	}
	return x->res;
}

static enum iscsi_login_result send(struct iscsi_login *l, uint8_t flags, const char *text,
                                    size_t tlen, struct exch *x)
{
	struct iscsi_bhs req;

	mk_req(&req, flags, tlen);
	return send_req(l, &req, text, tlen, x);
}

static uint16_t status(const struct exch *x)
{
	return (uint16_t)(x->rsp.b[36] << 8 | x->rsp.b[37]);
}

static const char *val(const struct exch *x, const char *key)
{
	return vs_iscsi_kv_find(&x->kv, key);
}

static struct exch *new_exch(void)
{
	struct exch *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	return x;
}

static void free_exch(struct exch *x)
{
	vs_iscsi_kv_free(&x->kv);
	free(x);
}

static void expect_failure(struct iscsi_login *l, struct exch *x, uint16_t st)
{
	assert_int_equal(x->res, ISCSI_LOGIN_FAILED);
	assert_int_equal(status(x), st);
	assert_int_equal(x->len, 0);
	assert_int_equal(x->rsp.b[1] & (ISCSI_LOGIN_TRANSIT | ISCSI_LOGIN_CONTINUE), 0);
	/* after a failure nothing more is accepted */
	{
		struct exch *y = new_exch();
		assert_int_equal(send(l, OP_TO_FFP, TXT("A=1\0"), y), ISCSI_LOGIN_PROTOCOL_ERROR);
		free_exch(y);
	}
}

/* ---- successful logins ------------------------------------------------------ */

static void test_security_none_operational_ffp(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();
	const struct iscsi_params *p;

	assert_int_equal(send(l, SEC_TO_OP, TXT("InitiatorName=" INITIATOR "\0"
	                                          "InitiatorAlias=host one\0"
	                                          "TargetName=" DISK1 "\0"
	                                          "SessionType=Normal\0"
	                                          "AuthMethod=CHAP,None\0"), x),
	                 ISCSI_LOGIN_CONTINUE_PHASE);
	assert_int_equal(status(x), 0);
	/* T=1, CSG=0, NSG=1 */
	assert_int_equal(x->rsp.b[1], ISCSI_LOGIN_TRANSIT | 0x01);
	assert_int_equal(iscsi_get_be16(x->rsp.b + 14), 0);
	/* exact wire bytes of the first response text */
	{
		static const char want[] = "AuthMethod=None\0TargetPortalGroupTag=7\0TargetAlias=Disk One\0";
		assert_int_equal(x->len, sizeof(want) - 1);
		assert_memory_equal(x->data, want, sizeof(want) - 1);
	}
	assert_ptr_equal(vs_iscsi_login_target(l), (void *)1);
	assert_memory_equal(vs_iscsi_login_isid(l), isid, 6);
	assert_int_equal(vs_iscsi_login_cid(l), 1);
	assert_int_equal(vs_iscsi_login_cmdsn(l), 0x1000);
	assert_int_equal(vs_iscsi_login_exp_statsn(l), 0x2000);
	assert_int_equal(vs_iscsi_login_tsih(l), 0);

	assert_int_equal(send(l, OP_TO_FFP, TXT("HeaderDigest=CRC32C,None\0"
	                                          "DataDigest=None\0"
	                                          "MaxRecvDataSegmentLength=65536\0"
	                                          "MaxBurstLength=524288\0"
	                                          "FirstBurstLength=1048576\0"
	                                          "InitialR2T=No\0"
	                                          "ImmediateData=Yes\0"
	                                          "MaxOutstandingR2T=4\0"
	                                          "DefaultTime2Wait=0\0"
	                                          "DefaultTime2Retain=0\0"
	                                          "ErrorRecoveryLevel=2\0"
	                                          "MaxConnections=8\0"
	                                          "DataPDUInOrder=No\0"
	                                          "DataSequenceInOrder=Yes\0"
	                                          "IFMarker=No\0"
	                                          "OFMarker=No\0"
	                                          "X-com.example.magic=42\0"), x),
	                 ISCSI_LOGIN_DONE);
	assert_int_equal(status(x), 0);
	assert_int_equal(x->rsp.b[1], ISCSI_LOGIN_TRANSIT | 0x04 | 0x03);
	assert_string_equal(val(x, "HeaderDigest"), "CRC32C");
	assert_string_equal(val(x, "DataDigest"), "None");
	assert_null(val(x, "TargetPortalGroupTag"));       /* only in the first response */
	assert_string_equal(val(x, "MaxRecvDataSegmentLength"), "262144");   /* ours, declared */
	assert_string_equal(val(x, "MaxBurstLength"), "524288");
	assert_string_equal(val(x, "FirstBurstLength"), "262144");
	assert_string_equal(val(x, "InitialR2T"), "No");
	assert_string_equal(val(x, "ImmediateData"), "Yes");
	assert_string_equal(val(x, "MaxOutstandingR2T"), "4");
	assert_string_equal(val(x, "DefaultTime2Wait"), "2");
	assert_string_equal(val(x, "DefaultTime2Retain"), "0");
	assert_string_equal(val(x, "ErrorRecoveryLevel"), "0");
	assert_string_equal(val(x, "MaxConnections"), "1");
	assert_string_equal(val(x, "DataPDUInOrder"), "Yes");
	assert_string_equal(val(x, "DataSequenceInOrder"), "Yes");
	assert_string_equal(val(x, "IFMarker"), "No");
	assert_string_equal(val(x, "OFMarker"), "No");
	assert_string_equal(val(x, "X-com.example.magic"), "NotUnderstood");

	p = vs_iscsi_login_params(l);
	assert_true(p->header_digest);
	assert_false(p->data_digest);
	assert_int_equal(p->max_recv_dsl, 262144);
	assert_int_equal(p->max_xmit_dsl, 65536);
	assert_int_equal(p->max_burst_length, 524288);
	assert_int_equal(p->first_burst_length, 262144);
	assert_false(p->initial_r2t);
	assert_true(p->immediate_data);
	assert_int_equal(p->max_outstanding_r2t, 4);
	assert_int_equal(p->default_time2wait, 2);
	assert_int_equal(p->default_time2retain, 0);
	assert_int_equal(p->error_recovery_level, 0);
	assert_int_equal(p->max_connections, 1);
	assert_int_equal(p->session_type, ISCSI_SESSION_NORMAL);
	assert_string_equal(p->initiator_name, INITIATOR);
	assert_string_equal(p->initiator_alias, "host one");
	assert_string_equal(p->target_name, DISK1);

	/* the caller binds the session, then stamps the TSIH */
	vs_iscsi_login_set_tsih(l, &x->rsp, 0x1234);
	assert_int_equal(x->rsp.b[14], 0x12);
	assert_int_equal(x->rsp.b[15], 0x34);
	/* login is over */
	assert_int_equal(send(l, OP_TO_FFP, TXT(""), x), ISCSI_LOGIN_PROTOCOL_ERROR);
	free_exch(x);
}

static void test_direct_to_ffp(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();

	/* no security stage at all (§6.3): operational keys in the first PDU,
	 * the way libiscsi logs in without CHAP */
	assert_int_equal(send(l, OP_TO_FFP, TXT("InitiatorName=" INITIATOR "\0"
	                                          "TargetName=" DISK1 "\0"
	                                          "SessionType=Normal\0"
	                                          "HeaderDigest=None\0"
	                                          "MaxRecvDataSegmentLength=262144\0"), x),
	                 ISCSI_LOGIN_DONE);
	assert_int_equal(status(x), 0);
	assert_int_equal(x->rsp.b[1], OP_TO_FFP);
	{
		static const char want[] = "HeaderDigest=None\0TargetPortalGroupTag=7\0TargetAlias=Disk One\0"
		                           "MaxRecvDataSegmentLength=262144\0";
		assert_int_equal(x->len, sizeof(want) - 1);
		assert_memory_equal(x->data, want, sizeof(want) - 1);
	}
	/* keys never mentioned keep the §13 defaults */
	assert_int_equal(vs_iscsi_login_params(l)->max_burst_length, 262144);
	assert_int_equal(vs_iscsi_login_params(l)->first_burst_length, 65536);
	assert_true(vs_iscsi_login_params(l)->initial_r2t);
	free_exch(x);
}

static void test_security_straight_to_ffp(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();

	assert_int_equal(send(l, SEC_TO_FFP, TXT("InitiatorName=" INITIATOR "\0"
	                                           "TargetName=" DISK1 "\0"
	                                           "AuthMethod=None\0"), x),
	                 ISCSI_LOGIN_DONE);
	assert_int_equal(x->rsp.b[1], SEC_TO_FFP);
	/* we never got to declare ours: the initiator assumes the 8192 default */
	assert_int_equal(vs_iscsi_login_params(l)->max_recv_dsl, 8192);
	assert_null(val(x, "MaxRecvDataSegmentLength"));
	free_exch(x);
}

static void test_discovery_session(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();

	assert_int_equal(send(l, SEC_TO_OP, TXT("InitiatorName=" INITIATOR "\0"
	                                          "SessionType=Discovery\0"
	                                          "AuthMethod=None\0"), x),
	                 ISCSI_LOGIN_CONTINUE_PHASE);
	assert_int_equal(x->len, sizeof("AuthMethod=None"));   /* no TPGT in discovery */
	/* libiscsi repeats the identity keys in the operational stage */
	assert_int_equal(send(l, OP_TO_FFP, TXT("InitiatorName=" INITIATOR "\0"
	                                          "SessionType=Discovery\0"
	                                          "MaxRecvDataSegmentLength=8192\0"), x),
	                 ISCSI_LOGIN_DONE);
	assert_string_equal(val(x, "MaxRecvDataSegmentLength"), "262144");
	assert_null(vs_iscsi_login_target(l));
	assert_int_equal(vs_iscsi_login_params(l)->session_type, ISCSI_SESSION_DISCOVERY);
	free_exch(x);
}

/* ---- CHAP ----------------------------------------------------------------- */

static size_t md_response(const EVP_MD *md, uint8_t id, const char *secret, const uint8_t *c,
                          size_t clen, char *hex)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t d[64];
	unsigned int n;

	EVP_DigestInit_ex(ctx, md, NULL);
	EVP_DigestUpdate(ctx, &id, 1);
	EVP_DigestUpdate(ctx, secret, strlen(secret));
	EVP_DigestUpdate(ctx, c, clen);
	EVP_DigestFinal_ex(ctx, d, &n);
	EVP_MD_CTX_free(ctx);
	hex += sprintf(hex, "0x");
	for (unsigned int i = 0; i < n; i++)
		hex += sprintf(hex, "%02x", d[i]);
	return n;
}

/* Steps 1 and 2 against SECURE; returns the challenge. */
static void chap_start(struct iscsi_login *l, struct exch *x, const char *algs, uint8_t *id,
                       uint8_t *c, size_t *clen)
{
	char text[512];
	int n;
	uint64_t v;

	assert_int_equal(send(l, SEC_TO_OP, TXT("InitiatorName=" INITIATOR "\0"
	                                          "TargetName=" SECURE "\0"
	                                          "SessionType=Normal\0"
	                                          "AuthMethod=CHAP,None\0"), x),
	                 ISCSI_LOGIN_CONTINUE_PHASE);
	assert_int_equal(status(x), 0);
	/* cannot leave the security stage before CHAP is done: T=0 */
	assert_int_equal(x->rsp.b[1], 0x00);
	assert_string_equal(val(x, "AuthMethod"), "CHAP");
	assert_string_equal(val(x, "TargetPortalGroupTag"), "7");

	n = snprintf(text, sizeof(text), "CHAP_A=%s", algs);
	assert_int_equal(send(l, SEC_STAY, text, (size_t)n + 1, x), ISCSI_LOGIN_CONTINUE_PHASE);
	assert_int_equal(x->rsp.b[1], 0x00);
	assert_non_null(val(x, "CHAP_A"));
	assert_int_equal(vs_iscsi_parse_number(val(x, "CHAP_I"), &v), 0);
	*id = (uint8_t)v;
	assert_int_equal(vs_iscsi_decode_binary(val(x, "CHAP_C"), c, 64, clen), 0);
}

static void test_chap_md5_one_way(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();
	uint8_t id, c[64];
	size_t clen;
	char r[200], text[400];
	int n;

	chap_start(l, x, "5", &id, c, &clen);
	assert_string_equal(val(x, "CHAP_A"), "5");
	assert_int_equal(clen, 16);
	md_response(EVP_md5(), id, "alice-secret-123", c, clen, r);
	n = snprintf(text, sizeof(text), "CHAP_N=alice%cCHAP_R=%s", 0, r);
	assert_int_equal(send(l, SEC_TO_OP, text, (size_t)n + 1, x), ISCSI_LOGIN_CONTINUE_PHASE);
	assert_int_equal(status(x), 0);
	assert_int_equal(x->rsp.b[1], SEC_TO_OP);
	assert_int_equal(x->len, 0);
	assert_int_equal(send(l, OP_TO_FFP, TXT("MaxRecvDataSegmentLength=8192\0"), x),
	                 ISCSI_LOGIN_DONE);
	assert_int_equal(status(x), 0);
	free_exch(x);
}

static void test_chap_sha256_mutual(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();
	uint8_t id, c[64];
	const uint8_t ic[20] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 };
	size_t clen;
	char r[200], want[200], text[600];
	int n;

	strcpy(creds.mutual_user, SECURE);
	strcpy(creds.mutual_secret, "target-secret-456");
	chap_start(l, x, "7,5", &id, c, &clen);
	assert_string_equal(val(x, "CHAP_A"), "7");
	assert_int_equal(clen, 32);
	md_response(EVP_sha256(), id, "alice-secret-123", c, clen, r);
	n = snprintf(text, sizeof(text), "CHAP_N=alice%cCHAP_R=%s%cCHAP_I=33%cCHAP_C=0x"
	             "09080706050403020100" "0a0b0c0d0e0f10111213", 0, r, 0, 0);
	assert_int_equal(send(l, SEC_TO_OP, text, (size_t)n + 1, x), ISCSI_LOGIN_CONTINUE_PHASE);
	assert_int_equal(status(x), 0);
	assert_int_equal(x->rsp.b[1], SEC_TO_OP);
	/* the target proves itself with the mutual secret */
	assert_string_equal(val(x, "CHAP_N"), SECURE);
	md_response(EVP_sha256(), 33, "target-secret-456", ic, sizeof(ic), want);
	assert_string_equal(val(x, "CHAP_R"), want);
	assert_int_equal(send(l, OP_TO_FFP, TXT(""), x), ISCSI_LOGIN_DONE);
	free_exch(x);
}

static void test_chap_wrong_response(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();
	uint8_t id, c[64];
	size_t clen;
	char r[200], text[400];
	int n;

	chap_start(l, x, "5", &id, c, &clen);
	md_response(EVP_md5(), id, "not-the-secret!!", c, clen, r);
	n = snprintf(text, sizeof(text), "CHAP_N=alice%cCHAP_R=%s", 0, r);
	send(l, SEC_TO_OP, text, (size_t)n + 1, x);
	expect_failure(l, x, ISCSI_LOGIN_STATUS_AUTH_FAILED);
	free_exch(x);
}

static void test_chap_reflection(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();
	uint8_t id, c[64];
	size_t clen;
	char r[200], text[600];
	int n;

	strcpy(creds.mutual_user, SECURE);
	strcpy(creds.mutual_secret, "target-secret-456");
	chap_start(l, x, "5", &id, c, &clen);
	md_response(EVP_md5(), id, "alice-secret-123", c, clen, r);
	/* the initiator sends our own challenge back to have us answer it */
	n = snprintf(text, sizeof(text), "CHAP_N=alice%cCHAP_R=%s%cCHAP_I=%u%cCHAP_C=%s", 0, r, 0,
	             id, 0, "0x");
	for (size_t i = 0; i < clen; i++)
		n += sprintf(text + n, "%02x", c[i]);
	send(l, SEC_TO_OP, text, (size_t)n + 1, x);
	expect_failure(l, x, ISCSI_LOGIN_STATUS_AUTH_FAILED);
	assert_null(val(x, "CHAP_R"));
	free_exch(x);
}

static void test_chap_required_but_refused(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();

	send(l, SEC_TO_OP, TXT("InitiatorName=" INITIATOR "\0TargetName=" SECURE "\0AuthMethod=None\0"), x);
	expect_failure(l, x, ISCSI_LOGIN_STATUS_AUTH_FAILED);
	free_exch(x);
}

static void test_chap_required_security_skipped(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();

	send(l, OP_TO_FFP, TXT("InitiatorName=" INITIATOR "\0TargetName=" SECURE "\0"), x);
	expect_failure(l, x, ISCSI_LOGIN_STATUS_AUTH_FAILED);
	free_exch(x);
}

static void test_chap_required_no_authmethod(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();

	send(l, SEC_TO_OP, TXT("InitiatorName=" INITIATOR "\0TargetName=" SECURE "\0"), x);
	expect_failure(l, x, ISCSI_LOGIN_STATUS_AUTH_FAILED);
	free_exch(x);
}

static void test_chap_unsupported_algorithm(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();

	send(l, SEC_TO_OP, TXT("InitiatorName=" INITIATOR "\0TargetName=" SECURE "\0AuthMethod=CHAP\0"), x);
	assert_int_equal(x->res, ISCSI_LOGIN_CONTINUE_PHASE);
	send(l, SEC_STAY, TXT("CHAP_A=128,129\0"), x);
	expect_failure(l, x, ISCSI_LOGIN_STATUS_AUTH_FAILED);
	free_exch(x);
}

static void test_discovery_chap(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();

	discovery_chap = true;
	send(l, SEC_TO_OP, TXT("InitiatorName=" INITIATOR "\0SessionType=Discovery\0AuthMethod=None\0"), x);
	expect_failure(l, x, ISCSI_LOGIN_STATUS_AUTH_FAILED);
	free_exch(x);
}

/* ---- failures ------------------------------------------------------------- */

static void test_unknown_target(void **state)
{
	struct exch *x = new_exch();

	send(*state, SEC_TO_OP, TXT("InitiatorName=" INITIATOR "\0TargetName=iqn.2024-01.test:nope\0"), x);
	expect_failure(*state, x, ISCSI_LOGIN_STATUS_TGT_NOT_FOUND);
	free_exch(x);
}

/* A target that exists but is not served on this portal: RFC 7143
 * §11.13.5 "Not Found" (0x0203), as if it did not exist here. */
static void test_target_on_other_portal(void **state)
{
	struct exch *x = new_exch();

	disk1_elsewhere = true;
	send(*state, SEC_TO_OP, TXT("InitiatorName=" INITIATOR "\0TargetName=" DISK1 "\0"), x);
	expect_failure(*state, x, ISCSI_LOGIN_STATUS_TGT_NOT_FOUND);
	assert_null(vs_iscsi_login_target(*state));
	free_exch(x);
}

static void test_acl_denied(void **state)
{
	struct exch *x = new_exch();

	send(*state, OP_TO_FFP, TXT("InitiatorName=" INITIATOR "\0TargetName=" DISK2 "\0"), x);
	expect_failure(*state, x, ISCSI_LOGIN_STATUS_TGT_FORBIDDEN);
	free_exch(x);
}

static void test_acl_allowed(void **state)
{
	struct exch *x = new_exch();

	assert_int_equal(send(*state, OP_TO_FFP, TXT("InitiatorName=iqn.2024-01.test:host2\0"
	                                               "TargetName=" DISK2 "\0"), x),
	                 ISCSI_LOGIN_DONE);
	assert_null(val(x, "TargetAlias"));   /* disk2 has none */
	free_exch(x);
}

static void test_missing_initiator_name(void **state)
{
	struct exch *x = new_exch();

	send(*state, SEC_TO_OP, TXT("TargetName=" DISK1 "\0AuthMethod=None\0"), x);
	expect_failure(*state, x, ISCSI_LOGIN_STATUS_MISSING_FIELDS);
	free_exch(x);
}

static void test_missing_target_name(void **state)
{
	struct exch *x = new_exch();

	send(*state, SEC_TO_OP, TXT("InitiatorName=" INITIATOR "\0SessionType=Normal\0"), x);
	expect_failure(*state, x, ISCSI_LOGIN_STATUS_MISSING_FIELDS);
	free_exch(x);
}

static void test_bad_session_type(void **state)
{
	struct exch *x = new_exch();

	send(*state, SEC_TO_OP, TXT("InitiatorName=" INITIATOR "\0SessionType=Special\0"), x);
	expect_failure(*state, x, ISCSI_LOGIN_STATUS_SESSION_TYPE_UNSUPP);
	free_exch(x);
}

static void test_bad_version(void **state)
{
	struct exch *x = new_exch();
	struct iscsi_bhs req;

	mk_req(&req, SEC_TO_OP, 0);
	req.b[2] = 0x02;   /* Version-max */
	req.b[3] = 0x01;   /* Version-min: we only speak 0x00 */
	send_req(*state, &req, "", 0, x);
	expect_failure(*state, x, ISCSI_LOGIN_STATUS_NO_VERSION);
	free_exch(x);
}

static void test_stage_errors(void **state)
{
	static const uint8_t bad_flags[] = {
		ISCSI_LOGIN_TRANSIT | ISCSI_LOGIN_CONTINUE | 0x01,   /* T and C */
		ISCSI_LOGIN_TRANSIT | 0x02,                          /* NSG 2 reserved */
		ISCSI_LOGIN_TRANSIT | 0x00,                          /* NSG = CSG */
		ISCSI_LOGIN_TRANSIT | 0x04 | 0x01,                   /* CSG 1 -> NSG 1 */
		0x08,                                                /* CSG 2 */
		0x0c | 0x80 | 0x03,                                  /* CSG 3 */
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad_flags); i++) {
		struct iscsi_login *l = vs_iscsi_login_new(&env);
		struct exch *x = new_exch();

		send(l, bad_flags[i], TXT("InitiatorName=" INITIATOR "\0TargetName=" DISK1 "\0"), x);
		expect_failure(l, x, ISCSI_LOGIN_STATUS_INIT_ERR);
		free_exch(x);
		vs_iscsi_login_free(l);
	}
}

static void test_stage_mismatch_and_isid_change(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();
	struct iscsi_bhs req;

	assert_int_equal(send(l, SEC_STAY, TXT("InitiatorName=" INITIATOR "\0TargetName=" DISK1 "\0"), x),
	                 ISCSI_LOGIN_CONTINUE_PHASE);
	/* still in the security stage: a CSG=1 request is out of order */
	send(l, OP_TO_FFP, TXT(""), x);
	expect_failure(l, x, ISCSI_LOGIN_STATUS_INIT_ERR);

	l = vs_iscsi_login_new(&env);
	assert_int_equal(send(l, SEC_STAY, TXT("InitiatorName=" INITIATOR "\0TargetName=" DISK1 "\0"), x),
	                 ISCSI_LOGIN_CONTINUE_PHASE);
	mk_req(&req, SEC_TO_OP, 0);
	req.b[13] ^= 1;    /* ISID changes mid-login */
	send_req(l, &req, "", 0, x);
	expect_failure(l, x, ISCSI_LOGIN_STATUS_INIT_ERR);
	vs_iscsi_login_free(l);
	free_exch(x);
}

static void test_duplicate_keys(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();

	/* same key twice in one text */
	send(l, OP_TO_FFP, TXT("InitiatorName=" INITIATOR "\0TargetName=" DISK1 "\0"
	                       "MaxBurstLength=65536\0MaxBurstLength=65536\0"), x);
	expect_failure(l, x, ISCSI_LOGIN_STATUS_INIT_ERR);

	/* negotiated again in a later request (§6.2) */
	l = vs_iscsi_login_new(&env);
	assert_int_equal(send(l, OP_STAY, TXT("InitiatorName=" INITIATOR "\0TargetName=" DISK1 "\0"
	                                        "MaxBurstLength=65536\0"), x),
	                 ISCSI_LOGIN_CONTINUE_PHASE);
	assert_int_equal(x->rsp.b[1], 0x04);
	send(l, OP_TO_FFP, TXT("MaxBurstLength=65536\0"), x);
	expect_failure(l, x, ISCSI_LOGIN_STATUS_INIT_ERR);
	vs_iscsi_login_free(l);

	/* identity keys may be repeated with the same value, not changed */
	l = vs_iscsi_login_new(&env);
	assert_int_equal(send(l, OP_STAY, TXT("InitiatorName=" INITIATOR "\0TargetName=" DISK1 "\0"), x),
	                 ISCSI_LOGIN_CONTINUE_PHASE);
	assert_int_equal(send(l, OP_STAY, TXT("InitiatorName=" INITIATOR "\0TargetName=" DISK1 "\0"), x),
	                 ISCSI_LOGIN_CONTINUE_PHASE);
	send(l, OP_TO_FFP, TXT("TargetName=" DISK2 "\0"), x);
	expect_failure(l, x, ISCSI_LOGIN_STATUS_INIT_ERR);
	vs_iscsi_login_free(l);
	free_exch(x);
}

static void test_malformed_text(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();

	/* last pair not NUL-terminated */
	send(l, OP_TO_FFP, TXT("InitiatorName=" INITIATOR "\0TargetName=" DISK1), x);
	expect_failure(l, x, ISCSI_LOGIN_STATUS_INIT_ERR);
	/* a "key" without '=' */
	l = vs_iscsi_login_new(&env);
	send(l, OP_TO_FFP, TXT("InitiatorName=" INITIATOR "\0TargetName=" DISK1 "\0garbage\0"), x);
	expect_failure(l, x, ISCSI_LOGIN_STATUS_INIT_ERR);
	vs_iscsi_login_free(l);
	free_exch(x);
}

static void test_security_key_in_operational_stage(void **state)
{
	struct exch *x = new_exch();

	send(*state, OP_TO_FFP, TXT("InitiatorName=" INITIATOR "\0TargetName=" DISK1 "\0AuthMethod=None\0"), x);
	expect_failure(*state, x, ISCSI_LOGIN_STATUS_INIT_ERR);
	free_exch(x);
}

static void test_target_only_keys_rejected(void **state)
{
	struct exch *x = new_exch();

	assert_int_equal(send(*state, OP_TO_FFP, TXT("InitiatorName=" INITIATOR "\0TargetName=" DISK1 "\0"
	                                               "TargetAlias=mine\0SendTargets=All\0"), x),
	                 ISCSI_LOGIN_DONE);
	/* a target-side declaration from the initiator is dropped: the only
	 * TargetAlias in the answer is ours */
	assert_string_equal(val(x, "TargetAlias"), "Disk One");
	assert_string_equal(val(x, "SendTargets"), "Reject");
	free_exch(x);
}

/* ---- C bit, both directions ------------------------------------------------- */

static void test_continued_request_and_response(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();
	char *text = malloc(16384);
	uint8_t *all = malloc(65536);
	size_t tlen = 0, got = 0, cut1, cut2;
	struct iscsi_kvlist kv;
	int nunknown = 0;

	tlen += (size_t)sprintf(text + tlen, "InitiatorName=%s", INITIATOR) + 1;
	tlen += (size_t)sprintf(text + tlen, "TargetName=%s", DISK1) + 1;
	for (int i = 0; i < 300; i++)
		tlen += (size_t)sprintf(text + tlen, "X-org.example.vendor-key-%03d=some-value", i) + 1;
	assert_true(tlen > 12000);

	/* three PDUs, cut in the middle of pairs; C=1 on all but the last */
	cut1 = 5000;
	cut2 = 9999;
	assert_int_equal(send(l, OP_STAY | ISCSI_LOGIN_CONTINUE, text, cut1, x), ISCSI_LOGIN_CONTINUE_PHASE);
	assert_int_equal(status(x), 0);
	assert_int_equal(x->len, 0);
	assert_int_equal(x->rsp.b[1], 0x04);   /* CSG 1, T=0, C=0 */
	assert_int_equal(send(l, OP_STAY | ISCSI_LOGIN_CONTINUE, text + cut1, cut2 - cut1, x),
	                 ISCSI_LOGIN_CONTINUE_PHASE);
	assert_int_equal(x->len, 0);
	assert_int_equal(send(l, OP_TO_FFP, text + cut2, tlen - cut2, x), ISCSI_LOGIN_CONTINUE_PHASE);

	/* our answer is longer than 8192: sent in parts with C=1, T=0 */
	for (int part = 0;; part++) {
		assert_true(x->len <= 8192);
		memcpy(all + got, x->data, x->len);
		got += x->len;
		if (!(x->rsp.b[1] & ISCSI_LOGIN_CONTINUE))
			break;
		assert_int_equal(x->rsp.b[1], ISCSI_LOGIN_CONTINUE | 0x04);
		/* parts end on a pair boundary */
		assert_true(x->len > 8192 - 64);
		assert_int_equal(x->data[x->len - 1], '\0');
		assert_true(part < 3);
		/* the initiator acknowledges each part with an empty request */
		if (send(l, OP_TO_FFP, "", 0, x) == ISCSI_LOGIN_DONE)
			assert_false(x->rsp.b[1] & ISCSI_LOGIN_CONTINUE);
	}
	assert_int_equal(x->res, ISCSI_LOGIN_DONE);
	assert_int_equal(x->rsp.b[1], OP_TO_FFP);
	assert_true(got > 8192);

	assert_int_equal(vs_iscsi_kv_parse(all, got, &kv, NULL), 0);
	for (size_t i = 0; i < kv.n; i++)
		if (!strncmp(kv.kv[i].key, "X-org.example.vendor-key-", 25)) {
			assert_string_equal(kv.kv[i].value, "NotUnderstood");
			nunknown++;
		}
	assert_int_equal(nunknown, 300);
	assert_string_equal(vs_iscsi_kv_find(&kv, "TargetPortalGroupTag"), "7");
	assert_string_equal(vs_iscsi_kv_find(&kv, "MaxRecvDataSegmentLength"), "262144");
	vs_iscsi_kv_free(&kv);
	free(text);
	free(all);
	free_exch(x);
}

static void test_request_text_too_long(void **state)
{
	struct iscsi_login *l = *state;
	struct exch *x = new_exch();
	char *chunk = calloc(1, 8192);
	int i;

	memset(chunk, 'a', 8192);
	for (i = 0; i < 8; i++)
		assert_int_equal(send(l, OP_STAY | ISCSI_LOGIN_CONTINUE, chunk, 8192, x),
		                 ISCSI_LOGIN_CONTINUE_PHASE);
	/* past ISCSI_TEXT_MAX (64 KiB) */
	send(l, OP_STAY | ISCSI_LOGIN_CONTINUE, chunk, 1, x);
	expect_failure(l, x, ISCSI_LOGIN_STATUS_INIT_ERR);
	free(chunk);
	free_exch(x);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_security_none_operational_ffp),
		T(test_direct_to_ffp),
		T(test_security_straight_to_ffp),
		T(test_discovery_session),
		T(test_chap_md5_one_way),
		T(test_chap_sha256_mutual),
		T(test_chap_wrong_response),
		T(test_chap_reflection),
		T(test_chap_required_but_refused),
		T(test_chap_required_security_skipped),
		T(test_chap_required_no_authmethod),
		T(test_chap_unsupported_algorithm),
		T(test_discovery_chap),
		T(test_unknown_target),
		T(test_target_on_other_portal),
		T(test_acl_denied),
		T(test_acl_allowed),
		T(test_missing_initiator_name),
		T(test_missing_target_name),
		T(test_bad_session_type),
		T(test_bad_version),
		T(test_stage_errors),
		T(test_stage_mismatch_and_isid_change),
		T(test_duplicate_keys),
		T(test_malformed_text),
		T(test_security_key_in_operational_stage),
		T(test_target_only_keys_rejected),
		T(test_continued_request_and_response),
		T(test_request_text_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
