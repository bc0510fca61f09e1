/* SPDX-License-Identifier: MIT */
/* Text Request in full feature phase (RFC 7143 §11.10, §11.11): SendTargets
 * (§13.21, Appendix C), continuation in both directions with the Target
 * Transfer Tag, and keys allowed or refused after login. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fabrics/iscsi/keys.h"
#include "fabrics/iscsi/login.h"

#define INITIATOR "iqn.2024-01.test:host1"
#define TXT(s) (s), (sizeof(s) - 1)

/* ---- fake environment: ntargets targets, tgt03 hidden from host1 ------- */

static int ntargets = 4;
static char tnames[64][64];

static void *find_target(void *ctx, const char *n)
{
	(void)ctx;
	for (int i = 0; i < ntargets; i++)
		if (!strcmp(tnames[i], n))
			return (void *)(uintptr_t)(i + 1);
	return NULL;
}
static const char *target_name(void *ctx, void *t) { (void)ctx; return tnames[(uintptr_t)t - 1]; }
static bool initiator_allowed(void *ctx, void *t, const char *iname)
{
	(void)ctx;
	return (uintptr_t)t != 4 || strcmp(iname, INITIATOR) != 0;
}
static void for_each_target(void *ctx, void (*emit)(void *, void *), void *ectx)
{
	(void)ctx;
	for (int i = 0; i < ntargets; i++)
		emit(ectx, (void *)(uintptr_t)(i + 1));
}
static void for_each_address(void *ctx, void *t, void (*emit)(void *, const char *), void *ectx)
{
	(void)ctx;
	/* the second target has no explicit portal, the third has two */
	if ((uintptr_t)t == 2)
		return;
	emit(ectx, "127.0.0.1:3260,1");
	if ((uintptr_t)t == 3)
		emit(ectx, "[::1]:3391,1");
}

static const struct iscsi_login_env env = {
	.find_target = find_target, .target_name = target_name,
	.initiator_allowed = initiator_allowed, .for_each_target = for_each_target,
	.for_each_address = for_each_address, .tpgt = 1,
};

struct fixture {
	struct iscsi_params p;
	struct iscsi_text *t;
};

static int setup_with(void **state, enum iscsi_session_type st, void *session_target)
{
	struct fixture *f = calloc(1, sizeof(*f));

	ntargets = 4;
	for (int i = 0; i < 64; i++)
		snprintf(tnames[i], sizeof(tnames[i]), "iqn.2024-01.test:tgt%02d", i);
	vs_iscsi_params_init(&f->p);
	f->p.session_type = st;
	f->p.max_xmit_dsl = 8192;
	strcpy(f->p.initiator_name, INITIATOR);
	f->t = vs_iscsi_text_new(&env, &f->p, session_target);
	*state = f;
	return f->t ? 0 : -1;
}
static int setup_discovery(void **state) { return setup_with(state, ISCSI_SESSION_DISCOVERY, NULL); }
static int setup_normal(void **state) { return setup_with(state, ISCSI_SESSION_NORMAL, (void *)(uintptr_t)1); }

static int teardown(void **state)
{
	struct fixture *f = *state;
	vs_iscsi_text_free(f->t);
	free(f);
	return 0;
}

struct exch {
	struct iscsi_bhs rsp;
	uint8_t data[70000];
	size_t len;
	int ret;
};

static void mk_req(struct iscsi_bhs *h, uint8_t flags, uint32_t itt, uint32_t ttt, size_t dsl)
{
	memset(h, 0, sizeof(*h));
	h->b[0] = ISCSI_OP_TEXT_REQ;
	h->b[1] = flags;
	bhs_set_dsl(h, (uint32_t)dsl);
	h->b[9] = 0;
	iscsi_put_be32(h->b + 16, itt);
	iscsi_put_be32(h->b + 20, ttt);
	iscsi_put_be32(h->b + 24, 7);   /* CmdSN */
}

static int send(struct fixture *f, uint8_t flags, uint32_t itt, uint32_t ttt, const char *text,
                size_t len, struct exch *x)
{
	struct iscsi_bhs req;

	mk_req(&req, flags, itt, ttt, len);
	x->ret = vs_iscsi_text_handle(f->t, &req, (const uint8_t *)text, len, &x->rsp, x->data,
	                           sizeof(x->data), &x->len);
	if (x->ret == 0) {
		assert_int_equal(x->rsp.b[0], ISCSI_OP_TEXT_RESP);
		assert_int_equal(bhs_itt(&x->rsp), itt);
		assert_int_equal(bhs_dsl(&x->rsp), x->len);
	}
	return x->ret;
}

static uint32_t rsp_ttt(const struct exch *x) { return bhs_be32(&x->rsp, 20); }

/* ---- SendTargets -------------------------------------------------------- */

static void test_send_targets_all(void **state)
{
	struct fixture *f = *state;
	struct exch *x = calloc(1, sizeof(*x));
	static const char want[] =
		"TargetName=iqn.2024-01.test:tgt00\0TargetAddress=127.0.0.1:3260,1\0"
		"TargetName=iqn.2024-01.test:tgt01\0"
		"TargetName=iqn.2024-01.test:tgt02\0TargetAddress=127.0.0.1:3260,1\0"
		"TargetAddress=[::1]:3391,1\0";

	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 0x11, ISCSI_RESERVED_TAG, TXT("SendTargets=All\0"), x), 0);
	/* tgt03 is not visible to this initiator; tgt01 has no portal of its
	 * own; tgt02 is served on two, each its own TargetAddress (§13.8) */
	assert_int_equal(x->len, sizeof(want) - 1);
	assert_memory_equal(x->data, want, sizeof(want) - 1);
	assert_int_equal(x->rsp.b[1], ISCSI_FLAG_FINAL);
	assert_int_equal(rsp_ttt(x), ISCSI_RESERVED_TAG);
	free(x);
}

static void test_send_targets_named(void **state)
{
	struct fixture *f = *state;
	struct exch *x = calloc(1, sizeof(*x));
	static const char want[] = "TargetName=iqn.2024-01.test:tgt02\0TargetAddress=127.0.0.1:3260,1\0"
	                           "TargetAddress=[::1]:3391,1\0";

	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 1, ISCSI_RESERVED_TAG,
	                      TXT("SendTargets=iqn.2024-01.test:tgt02\0"), x), 0);
	assert_int_equal(x->len, sizeof(want) - 1);
	assert_memory_equal(x->data, want, sizeof(want) - 1);
	/* unknown or hidden: nothing */
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 2, ISCSI_RESERVED_TAG,
	                      TXT("SendTargets=iqn.2024-01.test:nope\0"), x), 0);
	assert_int_equal(x->len, 0);
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 3, ISCSI_RESERVED_TAG,
	                      TXT("SendTargets=iqn.2024-01.test:tgt03\0"), x), 0);
	assert_int_equal(x->len, 0);
	/* an empty value names the session's target: none in discovery */
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 4, ISCSI_RESERVED_TAG, TXT("SendTargets=\0"), x), 0);
	assert_memory_equal(x->data, "SendTargets=Reject\0", x->len);
	free(x);
}

static void test_send_targets_normal_session(void **state)
{
	struct fixture *f = *state;
	struct exch *x = calloc(1, sizeof(*x));
	static const char want[] = "TargetName=iqn.2024-01.test:tgt00\0TargetAddress=127.0.0.1:3260,1\0";

	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 1, ISCSI_RESERVED_TAG, TXT("SendTargets=\0"), x), 0);
	assert_int_equal(x->len, sizeof(want) - 1);
	assert_memory_equal(x->data, want, sizeof(want) - 1);
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 2, ISCSI_RESERVED_TAG, TXT("SendTargets=All\0"), x), 0);
	assert_int_equal(x->len, sizeof("SendTargets=Reject"));
	assert_memory_equal(x->data, "SendTargets=Reject\0", x->len);
	free(x);
}

static void test_send_targets_continuation(void **state)
{
	struct fixture *f = *state;
	struct exch *x = calloc(1, sizeof(*x));
	uint8_t *all = malloc(65536);
	size_t got = 0;
	uint32_t ttt = ISCSI_RESERVED_TAG, prev_ttt = 0;
	int parts = 0;
	struct iscsi_kvlist kv;

	ntargets = 40;
	f->p.max_xmit_dsl = 512;   /* the initiator declared a small MaxRecvDataSegmentLength */
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 0x77, ISCSI_RESERVED_TAG, TXT("SendTargets=All\0"), x), 0);
	for (;;) {
		parts++;
		assert_true(x->len <= 512);
		memcpy(all + got, x->data, x->len);
		got += x->len;
		if (!(x->rsp.b[1] & ISCSI_TEXT_CONTINUE))
			break;
		/* C=1, F=0 and a real TTT to continue with */
		assert_int_equal(x->rsp.b[1], ISCSI_TEXT_CONTINUE);
		ttt = rsp_ttt(x);
		assert_int_not_equal(ttt, ISCSI_RESERVED_TAG);
		assert_int_not_equal(ttt, prev_ttt);
		prev_ttt = ttt;
		/* each part ends on a key=value boundary */
		assert_int_equal(x->data[x->len - 1], '\0');
		assert_int_equal(send(f, ISCSI_FLAG_FINAL, 0x77, ttt, "", 0, x), 0);
	}
	assert_true(parts > 4);
	assert_int_equal(x->rsp.b[1], ISCSI_FLAG_FINAL);
	assert_int_equal(rsp_ttt(x), ISCSI_RESERVED_TAG);

	/* the pieces put together: 39 visible targets, 38 with an address and
	 * one of those with a second */
	assert_int_equal(vs_iscsi_kv_parse(all, got, &kv, NULL) , -EEXIST);  /* TargetName repeats */
	{
		int names = 0, addrs = 0;
		for (size_t off = 0; off < got; off += strlen((char *)all + off) + 1) {
			if (!strncmp((char *)all + off, "TargetName=", 11))
				names++;
			else if (!strcmp((char *)all + off, "TargetAddress=127.0.0.1:3260,1") ||
			         !strcmp((char *)all + off, "TargetAddress=[::1]:3391,1"))
				addrs++;
			else
				fail_msg("unexpected pair %s", (char *)all + off);
		}
		assert_int_equal(names, 39);
		assert_int_equal(addrs, 39);
	}
	/* the exchange is over: the old TTT is no longer valid */
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 0x77, ttt, "", 0, x), -EPROTO);
	free(all);
	free(x);
}

static void test_continuation_errors_and_reset(void **state)
{
	struct fixture *f = *state;
	struct exch *x = calloc(1, sizeof(*x));
	uint32_t ttt;

	ntargets = 40;
	f->p.max_xmit_dsl = 512;
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 0x10, ISCSI_RESERVED_TAG, TXT("SendTargets=All\0"), x), 0);
	assert_true(x->rsp.b[1] & ISCSI_TEXT_CONTINUE);
	ttt = rsp_ttt(x);
	/* a wrong tag, a wrong ITT, or data in the continuation request */
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 0x10, ttt + 1000, "", 0, x), -EPROTO);
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 0x11, ttt, "", 0, x), -EPROTO);
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 0x10, ttt, TXT("A=1\0"), x), -EPROTO);
	/* TTT 0xffffffff starts over (§11.10.4) */
	f->p.max_xmit_dsl = 8192;
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 0x12, ISCSI_RESERVED_TAG,
	                      TXT("SendTargets=iqn.2024-01.test:tgt05\0"), x), 0);
	assert_int_equal(x->rsp.b[1], ISCSI_FLAG_FINAL);
	assert_memory_equal(x->data, "TargetName=iqn.2024-01.test:tgt05\0", sizeof("TargetName=iqn.2024-01.test:tgt05"));
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 0x10, ttt, "", 0, x), -EPROTO);
	free(x);
}

static void test_continued_request(void **state)
{
	struct fixture *f = *state;
	struct exch *x = calloc(1, sizeof(*x));
	uint32_t ttt;

	/* the request itself split over two PDUs, mid-key */
	assert_int_equal(send(f, ISCSI_TEXT_CONTINUE, 0x20, ISCSI_RESERVED_TAG, "SendTar", 7, x), 0);
	assert_int_equal(x->len, 0);
	assert_int_equal(x->rsp.b[1], 0);          /* F=0, C=0 */
	ttt = rsp_ttt(x);
	assert_int_not_equal(ttt, ISCSI_RESERVED_TAG);
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 0x20, ttt, TXT("gets=iqn.2024-01.test:tgt00\0"), x), 0);
	assert_int_equal(x->rsp.b[1], ISCSI_FLAG_FINAL);
	assert_memory_equal(x->data, "TargetName=iqn.2024-01.test:tgt00\0TargetAddress=127.0.0.1:3260,1\0",
	                    x->len);
	free(x);
}

static void test_other_keys(void **state)
{
	struct fixture *f = *state;
	struct exch *x = calloc(1, sizeof(*x));
	static const char want[] = "MaxBurstLength=Reject\0HeaderDigest=Reject\0X-com.example.q=NotUnderstood\0";

	/* §13.12: MaxRecvDataSegmentLength may be declared again (no answer);
	 * login-only keys are refused; unknown keys not understood */
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 1, ISCSI_RESERVED_TAG,
	                      TXT("MaxRecvDataSegmentLength=16384\0MaxBurstLength=4096\0"
	                          "HeaderDigest=CRC32C\0X-com.example.q=1\0InitiatorAlias=renamed\0"), x), 0);
	assert_int_equal(x->len, sizeof(want) - 1);
	assert_memory_equal(x->data, want, sizeof(want) - 1);
	assert_int_equal(f->p.max_xmit_dsl, 16384);
	assert_string_equal(f->p.initiator_alias, "renamed");
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 2, ISCSI_RESERVED_TAG,
	                      TXT("MaxRecvDataSegmentLength=100\0"), x), 0);
	assert_memory_equal(x->data, "MaxRecvDataSegmentLength=Reject\0", x->len);
	assert_int_equal(f->p.max_xmit_dsl, 16384);

	/* F=0: the initiator means to go on; the answer keeps a tag */
	assert_int_equal(send(f, 0, 3, ISCSI_RESERVED_TAG, TXT("X-a=1\0"), x), 0);
	assert_int_equal(x->rsp.b[1], 0);
	assert_int_not_equal(rsp_ttt(x), ISCSI_RESERVED_TAG);
	free(x);
}

static void test_malformed_requests(void **state)
{
	struct fixture *f = *state;
	struct exch *x = calloc(1, sizeof(*x));
	struct iscsi_bhs req;

	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 1, ISCSI_RESERVED_TAG, "SendTargets=All", 15, x), -EPROTO);
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 1, ISCSI_RESERVED_TAG, TXT("NoEquals\0"), x), -EPROTO);
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 1, ISCSI_RESERVED_TAG, TXT("A=1\0A=2\0"), x), -EPROTO);
	assert_int_equal(send(f, ISCSI_FLAG_FINAL | ISCSI_TEXT_CONTINUE, 1, ISCSI_RESERVED_TAG,
	                      TXT("A=1\0"), x), -EPROTO);
	mk_req(&req, ISCSI_FLAG_FINAL, 1, ISCSI_RESERVED_TAG, 0);
	req.b[0] = ISCSI_OP_NOP_OUT;
	assert_int_equal(vs_iscsi_text_handle(f->t, &req, NULL, 0, &x->rsp, x->data, sizeof(x->data), &x->len),
	                 -EINVAL);
	/* after errors it still works */
	assert_int_equal(send(f, ISCSI_FLAG_FINAL, 2, ISCSI_RESERVED_TAG,
	                      TXT("SendTargets=iqn.2024-01.test:tgt00\0"), x), 0);
	assert_true(x->len > 0);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_send_targets_all, setup_discovery, teardown),
		cmocka_unit_test_setup_teardown(test_send_targets_named, setup_discovery, teardown),
		cmocka_unit_test_setup_teardown(test_send_targets_normal_session, setup_normal, teardown),
		cmocka_unit_test_setup_teardown(test_send_targets_continuation, setup_discovery, teardown),
		cmocka_unit_test_setup_teardown(test_continuation_errors_and_reset, setup_discovery, teardown),
		cmocka_unit_test_setup_teardown(test_continued_request, setup_discovery, teardown),
		cmocka_unit_test_setup_teardown(test_other_keys, setup_normal, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_requests, setup_discovery, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
