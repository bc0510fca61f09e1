/* SPDX-License-Identifier: MIT */
/* Text keys: parsing edge cases, value encodings (RFC 7143 §6.1) and the
 * negotiation result of every operational key (§6.2, §13). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fabrics/iscsi/keys.h"

#define T(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

static void test_parse_ok(void **state)
{
	struct iscsi_kvlist kv;
	(void)state;

	assert_int_equal(vs_iscsi_kv_parse(T("A=1\0B=two\0Empty=\0"), &kv, NULL), 0);
	assert_int_equal(kv.n, 3);
	assert_string_equal(kv.kv[0].key, "A");
	assert_string_equal(kv.kv[0].value, "1");
	assert_string_equal(kv.kv[1].key, "B");
	assert_string_equal(kv.kv[1].value, "two");
	assert_string_equal(vs_iscsi_kv_find(&kv, "Empty"), "");
	assert_null(vs_iscsi_kv_find(&kv, "C"));
	vs_iscsi_kv_free(&kv);

	/* '=' inside the value belongs to the value; padding NULs skipped */
	assert_int_equal(vs_iscsi_kv_parse(T("K=a=b\0\0\0\0"), &kv, NULL), 0);
	assert_int_equal(kv.n, 1);
	assert_string_equal(kv.kv[0].value, "a=b");
	vs_iscsi_kv_free(&kv);

	assert_int_equal(vs_iscsi_kv_parse(NULL, 0, &kv, NULL), 0);
	assert_int_equal(kv.n, 0);
	vs_iscsi_kv_free(&kv);
}

static void test_parse_malformed(void **state)
{
	struct iscsi_kvlist kv;
	const char *why = NULL;
	char buf[ISCSI_LARGE_VALUE_MAX + 100];
	(void)state;

	/* no NUL terminator on the last pair */
	assert_int_equal(vs_iscsi_kv_parse(T("A=1\0B=2"), &kv, &why), -EINVAL);
	assert_non_null(strstr(why, "NUL"));
	/* no '=' */
	assert_int_equal(vs_iscsi_kv_parse(T("A=1\0Bogus\0"), &kv, &why), -EINVAL);
	assert_non_null(strstr(why, "'='"));
	/* empty key */
	assert_int_equal(vs_iscsi_kv_parse(T("=1\0"), &kv, NULL), -EINVAL);
	/* space / control characters in a key */
	assert_int_equal(vs_iscsi_kv_parse(T("A B=1\0"), &kv, NULL), -EINVAL);
	assert_int_equal(vs_iscsi_kv_parse(T("A\x01=1\0"), &kv, NULL), -EINVAL);
	/* duplicate key in one text */
	assert_int_equal(vs_iscsi_kv_parse(T("A=1\0B=2\0A=1\0"), &kv, &why), -EEXIST);
	assert_int_equal(kv.n, 0);

	/* key of 63 bytes is fine, 64 is not */
	memset(buf, 'k', 63);
	memcpy(buf + 63, "=v", 3);
	assert_int_equal(vs_iscsi_kv_parse((uint8_t *)buf, 66, &kv, NULL), 0);
	assert_int_equal(strlen(kv.kv[0].key), 63);
	vs_iscsi_kv_free(&kv);
	memset(buf, 'k', 64);
	memcpy(buf + 64, "=v", 3);
	assert_int_equal(vs_iscsi_kv_parse((uint8_t *)buf, 67, &kv, NULL), -EINVAL);

	/* value of 8192 bytes is parsed, 8193 is not */
	memcpy(buf, "CHAP_C=", 7);
	memset(buf + 7, 'a', ISCSI_LARGE_VALUE_MAX);
	buf[7 + ISCSI_LARGE_VALUE_MAX] = '\0';
	assert_int_equal(vs_iscsi_kv_parse((uint8_t *)buf, 8 + ISCSI_LARGE_VALUE_MAX, &kv, NULL), 0);
	vs_iscsi_kv_free(&kv);
	memset(buf + 7, 'a', ISCSI_LARGE_VALUE_MAX + 1);
	buf[8 + ISCSI_LARGE_VALUE_MAX] = '\0';
	assert_int_equal(vs_iscsi_kv_parse((uint8_t *)buf, 9 + ISCSI_LARGE_VALUE_MAX, &kv, &why), -EINVAL);
	assert_non_null(strstr(why, "value"));
}

static void test_textbuf(void **state)
{
	struct iscsi_textbuf tb;
	(void)state;

	vs_iscsi_textbuf_init(&tb, 24);
	assert_int_equal(vs_iscsi_textbuf_add(&tb, "A", "1"), 0);
	assert_int_equal(vs_iscsi_textbuf_addf(&tb, "Num", "%u", 42u), 0);
	assert_int_equal(tb.len, 11);
	assert_memory_equal(tb.data, "A=1\0Num=42\0", 11);
	/* 11 + 14 > 24: refused, contents unchanged */
	assert_int_equal(vs_iscsi_textbuf_add(&tb, "Longer", "abcdef"), -ENOSPC);
	assert_int_equal(tb.len, 11);
	vs_iscsi_textbuf_reset(&tb);
	assert_int_equal(tb.len, 0);
	vs_iscsi_textbuf_free(&tb);
}

static void test_numbers_bools_lists(void **state)
{
	uint64_t v;
	bool b;
	(void)state;

	assert_int_equal(vs_iscsi_parse_number("8192", &v), 0);
	assert_int_equal(v, 8192);
	assert_int_equal(vs_iscsi_parse_number("0x2000", &v), 0);
	assert_int_equal(v, 8192);
	assert_int_equal(vs_iscsi_parse_number("0XfF", &v), 0);
	assert_int_equal(v, 255);
	assert_int_equal(vs_iscsi_parse_number("18446744073709551615", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(vs_iscsi_parse_number("18446744073709551616", &v), -EINVAL);
	assert_int_equal(vs_iscsi_parse_number("0x10000000000000000", &v), -EINVAL);
	assert_int_equal(vs_iscsi_parse_number("", &v), -EINVAL);
	assert_int_equal(vs_iscsi_parse_number("0x", &v), -EINVAL);
	assert_int_equal(vs_iscsi_parse_number("12a", &v), -EINVAL);
	assert_int_equal(vs_iscsi_parse_number("-1", &v), -EINVAL);

	assert_int_equal(vs_iscsi_parse_bool("Yes", &b), 0);
	assert_true(b);
	assert_int_equal(vs_iscsi_parse_bool("No", &b), 0);
	assert_false(b);
	assert_int_equal(vs_iscsi_parse_bool("yes", &b), -EINVAL);

	assert_true(vs_iscsi_list_contains("CHAP,None", "None"));
	assert_true(vs_iscsi_list_contains("CHAP,None", "CHAP"));
	assert_false(vs_iscsi_list_contains("CHAPX,None", "CHAP"));
	assert_false(vs_iscsi_list_contains("", "CHAP"));
}

static void test_binary_encodings(void **state)
{
	uint8_t out[16];
	size_t n;
	char hex[64];
	(void)state;

	assert_int_equal(vs_iscsi_decode_binary("0x0aFf10", out, sizeof(out), &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "\x0a\xff\x10", 3);
	/* odd digit count: leading zero implied */
	assert_int_equal(vs_iscsi_decode_binary("0xabc", out, sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "\x0a\xbc", 2);
	/* base64 ("0b"), with and without padding */
	assert_int_equal(vs_iscsi_decode_binary("0bAQID", out, sizeof(out), &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "\x01\x02\x03", 3);
	assert_int_equal(vs_iscsi_decode_binary("0BAQI=", out, sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(vs_iscsi_decode_binary("0b/w==", out, sizeof(out), &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 0xff);
	/* malformed */
	assert_int_equal(vs_iscsi_decode_binary("0x", out, sizeof(out), &n), -EINVAL);
	assert_int_equal(vs_iscsi_decode_binary("0xzz", out, sizeof(out), &n), -EINVAL);
	assert_int_equal(vs_iscsi_decode_binary("1234", out, sizeof(out), &n), -EINVAL);
	assert_int_equal(vs_iscsi_decode_binary("0bAQI", out, sizeof(out), &n), -EINVAL);
	assert_int_equal(vs_iscsi_decode_binary("0bA===", out, sizeof(out), &n), -EINVAL);
	assert_int_equal(vs_iscsi_decode_binary("0b=AAA", out, sizeof(out), &n), -EINVAL);
	assert_int_equal(vs_iscsi_decode_binary("0bAA*A", out, sizeof(out), &n), -EINVAL);
	/* too long for the output */
	assert_int_equal(vs_iscsi_decode_binary("0x000102030405060708090a0b0c0d0e0f10", out, 16, &n), -ENOSPC);

	assert_int_equal(vs_iscsi_encode_hex((const uint8_t *)"\x00\xab\x10", 3, hex, sizeof(hex)), 0);
	assert_string_equal(hex, "0x00ab10");
	assert_int_equal(vs_iscsi_encode_hex((const uint8_t *)"\x00\xab\x10", 3, hex, 8), -ENOSPC);
}

/* ---- negotiation ------------------------------------------------------ */

struct neg {
	struct iscsi_params p;
	struct iscsi_opneg n;
	struct iscsi_textbuf rsp;
};

static const struct iscsi_target_limits test_limits = {
	.max_recv_dsl = 262144, .max_burst_length = 1048576, .first_burst_length = 262144,
	.max_outstanding_r2t = 8, .max_connections = 1,
	.immediate_data = true, .initial_r2t = false, .allow_digests = true,
};

static void neg_start(struct neg *g, const struct iscsi_target_limits *lim, bool leading)
{
	vs_iscsi_params_init(&g->p);
	vs_iscsi_opneg_init(&g->n, &g->p, lim, leading);
	vs_iscsi_textbuf_init(&g->rsp, 4096);
}

/* Feed one key and return the answer text ("" if none). */
static const char *ask(struct neg *g, const char *key, const char *value)
{
	static char out[512];

	vs_iscsi_textbuf_reset(&g->rsp);
	assert_int_equal(vs_iscsi_opneg_key(&g->n, key, value, &g->rsp), 1);
	assert_int_equal(vs_iscsi_opneg_finish(&g->n, &g->rsp), 0);
	assert_true(g->rsp.len < sizeof(out));
	if (g->rsp.len)
		memcpy(out, g->rsp.data, g->rsp.len);
	out[g->rsp.len] = '\0';
	/* one pair at most, and the answer echoes the key */
	if (g->rsp.len) {
		assert_int_equal(strlen(out) + 1, g->rsp.len);
		assert_int_equal(strncmp(out, key, strlen(key)), 0);
		return out + strlen(key) + 1;
	}
	return "";
}

static void test_defaults(void **state)
{
	struct iscsi_params p;
	(void)state;

	/* RFC 7143 §13 defaults */
	vs_iscsi_params_init(&p);
	assert_false(p.header_digest);
	assert_false(p.data_digest);
	assert_int_equal(p.max_connections, 1);
	assert_true(p.initial_r2t);
	assert_true(p.immediate_data);
	assert_int_equal(p.max_recv_dsl, 8192);
	assert_int_equal(p.max_xmit_dsl, 8192);
	assert_int_equal(p.max_burst_length, 262144);
	assert_int_equal(p.first_burst_length, 65536);
	assert_int_equal(p.default_time2wait, 2);
	assert_int_equal(p.default_time2retain, 20);
	assert_int_equal(p.max_outstanding_r2t, 1);
	assert_true(p.data_pdu_in_order);
	assert_true(p.data_sequence_in_order);
	assert_int_equal(p.error_recovery_level, 0);
}

static void test_numeric_keys(void **state)
{
	struct neg g;
	(void)state;

	neg_start(&g, &test_limits, true);
	/* min functions */
	assert_string_equal(ask(&g, "MaxBurstLength", "524288"), "524288");
	assert_int_equal(g.p.max_burst_length, 524288);
	assert_string_equal(ask(&g, "MaxBurstLength", "16777215"), "1048576");
	assert_int_equal(g.p.max_burst_length, 1048576);
	assert_string_equal(ask(&g, "MaxOutstandingR2T", "4"), "4");
	assert_int_equal(g.p.max_outstanding_r2t, 4);
	assert_string_equal(ask(&g, "MaxOutstandingR2T", "100"), "8");
	assert_string_equal(ask(&g, "MaxConnections", "8"), "1");
	assert_int_equal(g.p.max_connections, 1);
	assert_string_equal(ask(&g, "DefaultTime2Retain", "0"), "0");
	assert_int_equal(g.p.default_time2retain, 0);
	assert_string_equal(ask(&g, "DefaultTime2Retain", "60"), "20");
	assert_string_equal(ask(&g, "ErrorRecoveryLevel", "2"), "0");
	assert_int_equal(g.p.error_recovery_level, 0);
	assert_string_equal(ask(&g, "iSCSIProtocolLevel", "2"), "1");
	/* max function */
	assert_string_equal(ask(&g, "DefaultTime2Wait", "0"), "2");
	assert_string_equal(ask(&g, "DefaultTime2Wait", "10"), "10");
	assert_int_equal(g.p.default_time2wait, 10);
	/* hex is a numerical value too */
	assert_string_equal(ask(&g, "MaxBurstLength", "0x10000"), "65536");
	/* out of range or malformed: Reject, value unchanged */
	assert_string_equal(ask(&g, "MaxBurstLength", "511"), "Reject");
	assert_string_equal(ask(&g, "MaxBurstLength", "16777216"), "Reject");
	assert_string_equal(ask(&g, "MaxBurstLength", "lots"), "Reject");
	assert_int_equal(g.p.max_burst_length, 65536);
	assert_string_equal(ask(&g, "ErrorRecoveryLevel", "3"), "Reject");
	assert_string_equal(ask(&g, "DefaultTime2Wait", "3601"), "Reject");
	assert_string_equal(ask(&g, "MaxConnections", "0"), "Reject");
	assert_string_equal(ask(&g, "MaxOutstandingR2T", "65536"), "Reject");
	vs_iscsi_textbuf_free(&g.rsp);
}

static void test_declarative_mrdsl(void **state)
{
	struct neg g;
	(void)state;

	neg_start(&g, &test_limits, true);
	/* §13.12: a declaration: no answer, it limits what we send */
	assert_string_equal(ask(&g, "MaxRecvDataSegmentLength", "65536"), "");
	assert_int_equal(g.p.max_xmit_dsl, 65536);
	assert_int_equal(g.p.max_recv_dsl, 8192);
	assert_string_equal(ask(&g, "MaxRecvDataSegmentLength", "511"), "Reject");
	assert_string_equal(ask(&g, "MaxRecvDataSegmentLength", "16777216"), "Reject");
	assert_int_equal(g.p.max_xmit_dsl, 65536);
	vs_iscsi_textbuf_free(&g.rsp);
}

static void test_boolean_keys(void **state)
{
	struct neg g;
	struct iscsi_target_limits lim = test_limits;
	(void)state;

	neg_start(&g, &lim, true);
	/* InitialR2T = OR; we offer No */
	assert_string_equal(ask(&g, "InitialR2T", "No"), "No");
	assert_false(g.p.initial_r2t);
	assert_string_equal(ask(&g, "InitialR2T", "Yes"), "Yes");
	assert_true(g.p.initial_r2t);
	/* ImmediateData = AND; we offer Yes */
	assert_string_equal(ask(&g, "ImmediateData", "Yes"), "Yes");
	assert_string_equal(ask(&g, "ImmediateData", "No"), "No");
	assert_false(g.p.immediate_data);
	/* DataPDUInOrder / DataSequenceInOrder = OR; we insist on Yes */
	assert_string_equal(ask(&g, "DataPDUInOrder", "No"), "Yes");
	assert_true(g.p.data_pdu_in_order);
	assert_string_equal(ask(&g, "DataSequenceInOrder", "No"), "Yes");
	assert_true(g.p.data_sequence_in_order);
	assert_string_equal(ask(&g, "InitialR2T", "maybe"), "Reject");
	vs_iscsi_textbuf_free(&g.rsp);

	/* the other way round: target wants InitialR2T=Yes, ImmediateData=No */
	lim.initial_r2t = true;
	lim.immediate_data = false;
	neg_start(&g, &lim, true);
	assert_string_equal(ask(&g, "InitialR2T", "No"), "Yes");
	assert_string_equal(ask(&g, "ImmediateData", "Yes"), "No");
	vs_iscsi_textbuf_free(&g.rsp);
}

static void test_list_keys(void **state)
{
	struct neg g;
	struct iscsi_target_limits lim = test_limits;
	(void)state;

	neg_start(&g, &lim, true);
	/* §6.2.1: the first value of the offer we support */
	assert_string_equal(ask(&g, "HeaderDigest", "CRC32C,None"), "CRC32C");
	assert_true(g.p.header_digest);
	assert_string_equal(ask(&g, "DataDigest", "None,CRC32C"), "None");
	assert_false(g.p.data_digest);
	assert_string_equal(ask(&g, "HeaderDigest", "MD5,None"), "None");
	assert_false(g.p.header_digest);
	assert_string_equal(ask(&g, "DataDigest", "MD5"), "Reject");
	assert_string_equal(ask(&g, "TaskReporting", "FastAbort,RFC3720"), "RFC3720");
	assert_string_equal(ask(&g, "TaskReporting", "FastAbort"), "Reject");
	vs_iscsi_textbuf_free(&g.rsp);

	lim.allow_digests = false;
	neg_start(&g, &lim, true);
	assert_string_equal(ask(&g, "HeaderDigest", "CRC32C,None"), "None");
	assert_string_equal(ask(&g, "DataDigest", "CRC32C"), "Reject");
	assert_false(g.p.data_digest);
	vs_iscsi_textbuf_free(&g.rsp);
}

static void test_obsolete_and_other_keys(void **state)
{
	struct neg g;
	char big[300];
	(void)state;

	neg_start(&g, &test_limits, true);
	/* §13.26: markers: No (never NotUnderstood); marker intervals: Reject */
	assert_string_equal(ask(&g, "IFMarker", "Yes"), "No");
	assert_string_equal(ask(&g, "OFMarker", "No"), "No");
	assert_string_equal(ask(&g, "OFMarker", "perhaps"), "Reject");
	assert_string_equal(ask(&g, "IFMarkInt", "2048~8192"), "Reject");
	assert_string_equal(ask(&g, "OFMarkInt", "2048"), "Reject");
	/* §13.25 declaration, nothing to answer */
	assert_string_equal(ask(&g, "X#NodeArchitecture", "ExampleOS/v1"), "");
	/* §6.1: simple values are at most 255 bytes */
	memset(big, '1', 256);
	big[256] = '\0';
	assert_string_equal(ask(&g, "MaxBurstLength", big), "Reject");
	/* not an operational key: the caller decides */
	vs_iscsi_textbuf_reset(&g.rsp);
	assert_int_equal(vs_iscsi_opneg_key(&g.n, "X-com.example.thing", "1", &g.rsp), 0);
	assert_int_equal(vs_iscsi_opneg_key(&g.n, "InitiatorName", "iqn.x", &g.rsp), 0);
	assert_int_equal(g.rsp.len, 0);
	assert_true(vs_iscsi_key_is_operational("MaxBurstLength"));
	assert_false(vs_iscsi_key_is_operational("SendTargets"));
	vs_iscsi_textbuf_free(&g.rsp);
}

static void test_first_burst_rules(void **state)
{
	struct neg g;
	(void)state;

	/* §13.14: min with ours (262144) */
	neg_start(&g, &test_limits, true);
	assert_string_equal(ask(&g, "FirstBurstLength", "1048576"), "262144");
	assert_int_equal(g.p.first_burst_length, 262144);
	assert_string_equal(ask(&g, "FirstBurstLength", "4096"), "4096");
	assert_string_equal(ask(&g, "FirstBurstLength", "100"), "Reject");
	vs_iscsi_textbuf_free(&g.rsp);

	/* FirstBurstLength never above MaxBurstLength, even when MaxBurstLength
	 * comes later in the same text */
	neg_start(&g, &test_limits, true);
	assert_int_equal(vs_iscsi_opneg_key(&g.n, "FirstBurstLength", "65536", &g.rsp), 1);
	assert_int_equal(vs_iscsi_opneg_key(&g.n, "MaxBurstLength", "8192", &g.rsp), 1);
	assert_int_equal(vs_iscsi_opneg_finish(&g.n, &g.rsp), 0);
	assert_int_equal(g.rsp.len, sizeof("MaxBurstLength=8192\0FirstBurstLength=8192"));
	assert_memory_equal(g.rsp.data, "MaxBurstLength=8192\0FirstBurstLength=8192\0", g.rsp.len);
	assert_int_equal(g.p.first_burst_length, 8192);
	vs_iscsi_textbuf_free(&g.rsp);

	/* Irrelevant with InitialR2T=Yes and ImmediateData=No */
	neg_start(&g, &test_limits, true);
	assert_int_equal(vs_iscsi_opneg_key(&g.n, "FirstBurstLength", "65536", &g.rsp), 1);
	assert_int_equal(vs_iscsi_opneg_key(&g.n, "InitialR2T", "Yes", &g.rsp), 1);
	assert_int_equal(vs_iscsi_opneg_key(&g.n, "ImmediateData", "No", &g.rsp), 1);
	assert_int_equal(vs_iscsi_opneg_finish(&g.n, &g.rsp), 0);
	assert_memory_equal(g.rsp.data, "InitialR2T=Yes\0ImmediateData=No\0FirstBurstLength=Irrelevant\0",
	                    g.rsp.len);
	vs_iscsi_textbuf_free(&g.rsp);

	/* end-of-login rule */
	{
		struct iscsi_params p;
		vs_iscsi_params_init(&p);
		p.first_burst_length = 100000;
		p.max_burst_length = 65536;
		vs_iscsi_params_finalize(&p);
		assert_int_equal(p.first_burst_length, 65536);
	}
}

static void test_non_leading_connection(void **state)
{
	struct neg g;
	(void)state;

	/* session-wide (LO) keys do not apply to a connection joining a session */
	neg_start(&g, &test_limits, false);
	assert_string_equal(ask(&g, "MaxBurstLength", "65536"), "Irrelevant");
	assert_int_equal(g.p.max_burst_length, 262144);
	assert_string_equal(ask(&g, "InitialR2T", "No"), "Irrelevant");
	/* connection-scoped keys still negotiate */
	assert_string_equal(ask(&g, "HeaderDigest", "CRC32C"), "CRC32C");
	assert_string_equal(ask(&g, "MaxRecvDataSegmentLength", "4096"), "");
	assert_int_equal(g.p.max_xmit_dsl, 4096);
	vs_iscsi_textbuf_free(&g.rsp);
}

static void test_effective_limits(void **state)
{
	struct iscsi_target_limits e, in = { 0 };
	(void)state;

	vs_iscsi_limits_effective(NULL, &e);
	assert_int_equal(e.max_recv_dsl, 262144);
	assert_int_equal(e.max_burst_length, 1048576);
	assert_int_equal(e.first_burst_length, 262144);
	assert_int_equal(e.max_outstanding_r2t, 1);
	assert_int_equal(e.max_connections, 1);
	assert_true(e.immediate_data);
	assert_false(e.initial_r2t);

	in.max_recv_dsl = 100;            /* below 512 */
	in.max_burst_length = 1u << 30;   /* above 2^24-1 */
	in.first_burst_length = 1u << 29;
	vs_iscsi_limits_effective(&in, &e);
	assert_int_equal(e.max_recv_dsl, 512);
	assert_int_equal(e.max_burst_length, 16777215);
	assert_int_equal(e.first_burst_length, 16777215);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_textbuf),
		cmocka_unit_test(test_numbers_bools_lists),
		cmocka_unit_test(test_binary_encodings),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_numeric_keys),
		cmocka_unit_test(test_declarative_mrdsl),
		cmocka_unit_test(test_boolean_keys),
		cmocka_unit_test(test_list_keys),
		cmocka_unit_test(test_obsolete_and_other_keys),
		cmocka_unit_test(test_first_burst_rules),
		cmocka_unit_test(test_non_leading_connection),
		cmocka_unit_test(test_effective_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
