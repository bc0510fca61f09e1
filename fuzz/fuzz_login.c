/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the login state machine and, once a login completes,
 * Text requests (SendTargets, continuation) on the same connection.
 *
 * Input: a sequence of PDUs, each a 48-byte BHS followed by
 * DataSegmentLength bytes (clamped to what is left).  The opcode is forced
 * to Login Request / Text Request so the fuzzer spends its time on the
 * stage bits and the text.  Byte 47 of each BHS picks the response buffer
 * size, so short buffers and C-bit continuation get exercised too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fabrics/iscsi/login.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = { NULL, "iqn.2024-01.fuzz:open", "iqn.2024-01.fuzz:chap",
                                     "iqn.2024-01.fuzz:acl", "iqn.2024-01.fuzz:elsewhere" };
static const struct iscsi_chap_creds creds = {
	.user = "user", .secret = "secret-0123456789",
	.mutual_user = "target", .mutual_secret = "mutual-0123456789",
};

static void *find_target(void *ctx, const char *n)
{
	(void)ctx;
	for (uintptr_t i = 1; i < 5; i++)
		if (!strcmp(names[i], n))
			return (void *)i;
	return NULL;
}
static const char *target_name(void *ctx, void *t) { (void)ctx; return names[(uintptr_t)t]; }
static const char *target_alias(void *ctx, void *t) { (void)ctx; return (uintptr_t)t == 1 ? "Open" : NULL; }
static bool allowed(void *ctx, void *t, const char *iname)
{
	(void)ctx;
	return (uintptr_t)t != 3 || strcmp(iname, "iqn.2024-01.fuzz:bad") != 0;
}
static bool chap_for(void *ctx, void *t, struct iscsi_chap_creds *out)
{
	(void)ctx;
	if ((uintptr_t)t != 2)
		return false;
	*out = creds;
	return true;
}
static void for_each(void *ctx, void (*emit)(void *, void *), void *ectx)
{
	(void)ctx;
	for (uintptr_t i = 1; i < 5; i++)
		emit(ectx, (void *)i);
}
static void addresses(void *ctx, void *t, void (*emit)(void *, const char *), void *ectx)
{
	(void)ctx;
	if ((uintptr_t)t != 2)
		emit(ectx, "127.0.0.1:3260,1");
}
/* The fourth target exists but is not served on this connection's portal. */
static bool served(void *ctx, void *t) { (void)ctx; return (uintptr_t)t != 4; }

static const struct iscsi_target_limits limits = {
	.max_recv_dsl = 65536, .max_burst_length = 262144, .first_burst_length = 65536,
	.max_outstanding_r2t = 4, .max_connections = 2, .immediate_data = true, .allow_digests = true,
};
static const struct iscsi_login_env env = {
	.find_target = find_target, .target_name = target_name, .target_alias = target_alias,
	.initiator_allowed = allowed, .chap_for = chap_for, .for_each_target = for_each,
	.for_each_address = addresses, .target_served = served, .tpgt = 1, .limits = &limits,
};

static uint8_t rsp_data[2 * ISCSI_TEXT_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct iscsi_login *l = vs_iscsi_login_new(&env);
	struct iscsi_text *t = NULL;
	struct iscsi_params params;
	bool ffp = false;

	if (!l)
		return 0;
	while (size >= ISCSI_BHS_LEN) {
		struct iscsi_bhs req, rsp;
		size_t dsl, len = 0, cap;

		memcpy(req.b, data, ISCSI_BHS_LEN);
		data += ISCSI_BHS_LEN;
		size -= ISCSI_BHS_LEN;
		dsl = bhs_dsl(&req);
		if (dsl > size)
			dsl = size;
		bhs_set_dsl(&req, (uint32_t)dsl);
		cap = req.b[47] ? (size_t)req.b[47] * 257 : sizeof(rsp_data);
		req.b[0] = (uint8_t)((req.b[0] & ISCSI_FLAG_IMMEDIATE) |
		                     (ffp ? ISCSI_OP_TEXT_REQ : ISCSI_OP_LOGIN_REQ));
		if (!ffp) {
			enum iscsi_login_result r =
				vs_iscsi_login_handle(l, &req, data, dsl, &rsp, rsp_data, cap, &len);
			if (len > cap || bhs_dsl(&rsp) != len)
				abort();
			if (r == ISCSI_LOGIN_FAILED || r == ISCSI_LOGIN_PROTOCOL_ERROR)
				break;
			if (r == ISCSI_LOGIN_DONE) {
				vs_iscsi_login_set_tsih(l, &rsp, 1);
				params = *vs_iscsi_login_params(l);
				t = vs_iscsi_text_new(&env, &params, vs_iscsi_login_target(l));
				if (!t)
					break;
				ffp = true;
			}
		} else {
			int r = vs_iscsi_text_handle(t, &req, data, dsl, &rsp, rsp_data, cap, &len);
			if (r == 0 && (len > cap || len > params.max_xmit_dsl || bhs_dsl(&rsp) != len))
				abort();
		}
		data += dsl;
		size -= dsl;
	}
	vs_iscsi_text_free(t);
	vs_iscsi_login_free(l);
	return 0;
}
