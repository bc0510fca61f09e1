/* SPDX-License-Identifier: MIT */
/* CHAP, target side (RFC 7143 §12.1.3, RFC 1994): algorithm choice,
 * challenge format, response verification with responses computed here
 * with OpenSSL, mutual CHAP and the reflection / same-secret rules. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "fabrics/iscsi/chap.h"

static const struct iscsi_chap_creds one_way = {
	.user = "alice", .secret = "alice-secret-123",
};
static const struct iscsi_chap_creds mutual = {
	.user = "alice", .secret = "alice-secret-123",
	.mutual_user = "iqn.2024-01.test:target", .mutual_secret = "target-secret-456",
};

/* H(id || secret || challenge), straight from OpenSSL. */
static size_t digest(const EVP_MD *md, uint8_t id, const char *secret, const uint8_t *c,
                     size_t clen, uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, md, NULL), 1);
	EVP_DigestUpdate(ctx, &id, 1);
	EVP_DigestUpdate(ctx, secret, strlen(secret));
	EVP_DigestUpdate(ctx, c, clen);
	EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
	return n;
}

static void to_hex(const uint8_t *b, size_t n, char *out)
{
	out += sprintf(out, "0x");
	for (size_t i = 0; i < n; i++)
		out += sprintf(out, "%02X", b[i]);
}

/* Parsed step-2 answer. */
struct challenge {
	int alg;
	uint8_t id;
	uint8_t c[64];
	size_t clen;
};

static void read_challenge(const struct iscsi_textbuf *tb, struct challenge *ch)
{
	struct iscsi_kvlist kv;
	uint64_t v;

	assert_int_equal(vs_iscsi_kv_parse(tb->data, tb->len, &kv, NULL), 0);
	assert_int_equal(kv.n, 3);
	assert_string_equal(kv.kv[0].key, "CHAP_A");
	assert_string_equal(kv.kv[1].key, "CHAP_I");
	assert_string_equal(kv.kv[2].key, "CHAP_C");
	assert_int_equal(vs_iscsi_parse_number(kv.kv[0].value, &v), 0);
	ch->alg = (int)v;
	assert_int_equal(vs_iscsi_parse_number(kv.kv[1].value, &v), 0);
	assert_true(v <= 255);
	ch->id = (uint8_t)v;
	/* hex encoded, as every initiator understands */
	assert_int_equal(strncmp(kv.kv[2].value, "0x", 2), 0);
	assert_int_equal(vs_iscsi_decode_binary(kv.kv[2].value, ch->c, sizeof(ch->c), &ch->clen), 0);
	vs_iscsi_kv_free(&kv);
}

static void test_compute_matches_openssl(void **state)
{
	const uint8_t chal[5] = { 1, 2, 3, 4, 5 };
	uint8_t a[64], b[64];
	size_t n;
	(void)state;

	assert_int_equal(vs_iscsi_chap_compute(ISCSI_CHAP_MD5, 7, "s3cr3t", chal, 5, a, &n), 0);
	assert_int_equal(n, 16);
	assert_int_equal(digest(EVP_md5(), 7, "s3cr3t", chal, 5, b), 16);
	assert_memory_equal(a, b, 16);
	assert_int_equal(vs_iscsi_chap_compute(ISCSI_CHAP_SHA1, 7, "s3cr3t", chal, 5, a, &n), 0);
	assert_int_equal(n, 20);
	digest(EVP_sha1(), 7, "s3cr3t", chal, 5, b);
	assert_memory_equal(a, b, 20);
	assert_int_equal(vs_iscsi_chap_compute(ISCSI_CHAP_SHA256, 7, "s3cr3t", chal, 5, a, &n), 0);
	assert_int_equal(n, 32);
	digest(EVP_sha256(), 7, "s3cr3t", chal, 5, b);
	assert_memory_equal(a, b, 32);
	assert_int_equal(vs_iscsi_chap_compute(ISCSI_CHAP_SHA3_256, 7, "s3cr3t", chal, 5, a, &n), 0);
	digest(EVP_sha3_256(), 7, "s3cr3t", chal, 5, b);
	assert_memory_equal(a, b, 32);
	assert_int_equal(vs_iscsi_chap_compute(4, 7, "s3cr3t", chal, 5, a, &n), -ENOTSUP);
}

static void test_algorithm_choice(void **state)
{
	struct iscsi_chap c;
	struct iscsi_textbuf tb;
	struct challenge ch;
	(void)state;

	vs_iscsi_textbuf_init(&tb, 1024);
	/* the first algorithm of the initiator's list we support */
	vs_iscsi_chap_init(&c, &one_way);
	assert_int_equal(vs_iscsi_chap_challenge(&c, "99,7,5", &tb), 0);
	read_challenge(&tb, &ch);
	assert_int_equal(ch.alg, 7);
	assert_int_equal(ch.clen, 32);
	assert_int_equal(c.state, ISCSI_CHAP_WAIT_NR);
	/* a second CHAP_A is out of sequence */
	assert_int_equal(vs_iscsi_chap_challenge(&c, "5", &tb), -EPROTO);

	vs_iscsi_textbuf_reset(&tb);
	vs_iscsi_chap_init(&c, &one_way);
	assert_int_equal(vs_iscsi_chap_challenge(&c, "5", &tb), 0);
	read_challenge(&tb, &ch);
	assert_int_equal(ch.alg, 5);
	assert_int_equal(ch.clen, 16);

	/* nothing we support (4 is not an algorithm; 128 is MS-CHAP) */
	vs_iscsi_textbuf_reset(&tb);
	vs_iscsi_chap_init(&c, &one_way);
	assert_int_equal(vs_iscsi_chap_challenge(&c, "4,128,junk,", &tb), -ENOTSUP);
	assert_int_equal(tb.len, 0);
	assert_int_equal(c.state, ISCSI_CHAP_FAILED);
	vs_iscsi_textbuf_free(&tb);
}

static void test_challenges_are_fresh(void **state)
{
	struct iscsi_chap a, b;
	struct iscsi_textbuf tb;
	(void)state;

	vs_iscsi_textbuf_init(&tb, 1024);
	vs_iscsi_chap_init(&a, &one_way);
	vs_iscsi_chap_init(&b, &one_way);
	assert_int_equal(vs_iscsi_chap_challenge(&a, "5", &tb), 0);
	assert_int_equal(vs_iscsi_chap_challenge(&b, "5", &tb), 0);
	assert_memory_not_equal(a.challenge, b.challenge, 16);
	vs_iscsi_textbuf_free(&tb);
}

/* >= 0: run() flips the low bit of the response byte this many bytes from
 * its end (0: the last byte) before sending it. */
static int flip_from_end = -1;

/* Run steps 2 and 3 with a given response; returns verify's result. */
static int run(const struct iscsi_chap_creds *cr, const char *alg, const char *name,
               const char *secret, bool base64, const char *ci, const char *cc,
               struct iscsi_textbuf *out, struct challenge *ch)
{
	struct iscsi_chap c;
	struct iscsi_textbuf tb;
	uint8_t r[64];
	char rs[200];
	size_t n;
	const EVP_MD *md;
	int ret;

	vs_iscsi_textbuf_init(&tb, 1024);
	vs_iscsi_chap_init(&c, cr);
	assert_int_equal(vs_iscsi_chap_challenge(&c, alg, &tb), 0);
	read_challenge(&tb, ch);
	md = ch->alg == 5 ? EVP_md5() : ch->alg == 6 ? EVP_sha1() : ch->alg == 7 ? EVP_sha256() : EVP_sha3_256();
	n = digest(md, ch->id, secret, ch->c, ch->clen, r);
	if (flip_from_end >= 0)
		r[n - 1 - (size_t)flip_from_end] ^= 0x01;
	if (base64) {
		char b64[100];
		EVP_EncodeBlock((unsigned char *)b64, r, (int)n);
		snprintf(rs, sizeof(rs), "0b%s", b64);
	} else {
		to_hex(r, n, rs);
	}
	/* a reflected challenge: the test passes the magic string "ours" */
	if (cc && !strcmp(cc, "ours")) {
		static char mine[200];
		to_hex(c.challenge, c.clen, mine);
		cc = mine;
	}
	ret = vs_iscsi_chap_verify(&c, name, rs, ci, cc, out);
	assert_int_equal(c.state, ret ? ISCSI_CHAP_FAILED : ISCSI_CHAP_DONE);
	vs_iscsi_textbuf_free(&tb);
	return ret;
}

static void test_verify_one_way(void **state)
{
	struct iscsi_textbuf out;
	struct challenge ch;
	(void)state;

	vs_iscsi_textbuf_init(&out, 1024);
	assert_int_equal(run(&one_way, "5", "alice", "alice-secret-123", false, NULL, NULL, &out, &ch), 0);
	assert_int_equal(out.len, 0);   /* nothing to say back without mutual CHAP */
	assert_int_equal(run(&one_way, "6", "alice", "alice-secret-123", true, NULL, NULL, &out, &ch), 0);
	assert_int_equal(run(&one_way, "7", "alice", "alice-secret-123", false, NULL, NULL, &out, &ch), 0);
	assert_int_equal(run(&one_way, "8", "alice", "alice-secret-123", true, NULL, NULL, &out, &ch), 0);
	/* wrong secret, wrong name */
	assert_int_equal(run(&one_way, "5", "alice", "wrong-secret-000", false, NULL, NULL, &out, &ch), -EACCES);
	assert_int_equal(run(&one_way, "5", "bob", "alice-secret-123", false, NULL, NULL, &out, &ch), -EACCES);
	/* the target has no mutual secret but the initiator asks for one */
	assert_int_equal(run(&one_way, "5", "alice", "alice-secret-123", false, "1", "0x0102030405060708",
	                     &out, &ch), -EACCES);
	assert_int_equal(out.len, 0);
	vs_iscsi_textbuf_free(&out);
}

/*
 * Responses right in every byte but one, with the right secret and name:
 * the last byte, the first, one in the middle, in every algorithm and both
 * encodings.  A comparison of a prefix only (or that stops early) would let
 * them through; wrong secrets differ everywhere and would not show it.
 */
static void test_verify_near_miss(void **state)
{
	static const char *const algs[] = { "5", "6", "7", "8" };
	static const int from_end[] = { 0, 15, 7 };
	struct iscsi_textbuf out;
	struct challenge ch;
	(void)state;

	vs_iscsi_textbuf_init(&out, 1024);
	for (size_t a = 0; a < 4; a++) {
		for (size_t i = 0; i < 3; i++) {
			flip_from_end = from_end[i];
			assert_int_equal(run(&one_way, algs[a], "alice", "alice-secret-123", a & 1, NULL,
			                     NULL, &out, &ch), -EACCES);
			assert_int_equal(run(&mutual, algs[a], "alice", "alice-secret-123", !(a & 1), NULL,
			                     NULL, &out, &ch), -EACCES);
		}
		/* and untouched, the same response is accepted */
		flip_from_end = -1;
		assert_int_equal(run(&one_way, algs[a], "alice", "alice-secret-123", a & 1, NULL, NULL,
		                     &out, &ch), 0);
	}
	vs_iscsi_textbuf_free(&out);
}

static void test_verify_malformed(void **state)
{
	struct iscsi_chap c;
	struct iscsi_textbuf tb;
	struct iscsi_chap_creds empty = { .user = "alice" };
	(void)state;

	vs_iscsi_textbuf_init(&tb, 1024);
	/* response of the wrong length, not binary, missing */
	vs_iscsi_chap_init(&c, &one_way);
	assert_int_equal(vs_iscsi_chap_challenge(&c, "5", &tb), 0);
	assert_int_equal(vs_iscsi_chap_verify(&c, "alice", "0x0102", NULL, NULL, &tb), -EACCES);
	vs_iscsi_chap_init(&c, &one_way);
	assert_int_equal(vs_iscsi_chap_challenge(&c, "5", &tb), 0);
	assert_int_equal(vs_iscsi_chap_verify(&c, "alice", "hello", NULL, NULL, &tb), -EACCES);
	vs_iscsi_chap_init(&c, &one_way);
	assert_int_equal(vs_iscsi_chap_challenge(&c, "5", &tb), 0);
	assert_int_equal(vs_iscsi_chap_verify(&c, "alice", NULL, NULL, NULL, &tb), -EINVAL);
	/* CHAP_I without CHAP_C */
	vs_iscsi_chap_init(&c, &mutual);
	assert_int_equal(vs_iscsi_chap_challenge(&c, "5", &tb), 0);
	assert_int_equal(vs_iscsi_chap_verify(&c, "alice", "0x00", "3", NULL, &tb), -EINVAL);
	/* verify before a challenge */
	vs_iscsi_chap_init(&c, &one_way);
	assert_int_equal(vs_iscsi_chap_verify(&c, "alice", "0x00", NULL, NULL, &tb), -EPROTO);
	/* an empty secret never authenticates: H(I||C) is computable by anyone */
	vs_iscsi_chap_init(&c, &empty);
	assert_int_equal(vs_iscsi_chap_challenge(&c, "5", &tb), 0);
	{
		uint8_t r[16];
		char rs[64];
		digest(EVP_md5(), c.id, "", c.challenge, c.clen, r);
		to_hex(r, 16, rs);
		assert_int_equal(vs_iscsi_chap_verify(&c, "alice", rs, NULL, NULL, &tb), -EACCES);
	}
	vs_iscsi_textbuf_free(&tb);
}

static void test_mutual(void **state)
{
	struct iscsi_textbuf out;
	struct challenge ch;
	struct iscsi_kvlist kv;
	const uint8_t ic[16] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	char ichex[64];
	uint8_t expect[16];
	char expect_hex[64];
	(void)state;

	to_hex(ic, sizeof(ic), ichex);
	vs_iscsi_textbuf_init(&out, 1024);
	assert_int_equal(run(&mutual, "5", "alice", "alice-secret-123", false, "200", ichex, &out, &ch), 0);
	assert_int_equal(vs_iscsi_kv_parse(out.data, out.len, &kv, NULL), 0);
	assert_int_equal(kv.n, 2);
	assert_string_equal(kv.kv[0].key, "CHAP_N");
	assert_string_equal(kv.kv[0].value, "iqn.2024-01.test:target");
	assert_string_equal(kv.kv[1].key, "CHAP_R");
	digest(EVP_md5(), 200, "target-secret-456", ic, sizeof(ic), expect);
	to_hex(expect, 16, expect_hex);
	/* we send lower-case hex; compare case-insensitively */
	assert_int_equal(strcasecmp(kv.kv[1].value, expect_hex), 0);
	vs_iscsi_kv_free(&kv);

	/* §12.1.3: the initiator reflecting our own challenge back */
	vs_iscsi_textbuf_reset(&out);
	assert_int_equal(run(&mutual, "5", "alice", "alice-secret-123", false, "9", "ours", &out, &ch), -EACCES);
	assert_int_equal(out.len, 0);
	/* bad CHAP_I */
	assert_int_equal(run(&mutual, "5", "alice", "alice-secret-123", false, "256", ichex, &out, &ch), -EINVAL);
	vs_iscsi_textbuf_free(&out);
}

static void test_same_secret_both_ways(void **state)
{
	struct iscsi_chap_creds same = mutual;
	struct iscsi_textbuf out;
	struct challenge ch;
	(void)state;

	/* §12.1.3: a response equal to the one we would compute with our own
	 * (target) secret means one secret serves both directions: refused */
	strcpy(same.mutual_secret, same.secret);
	vs_iscsi_textbuf_init(&out, 1024);
	assert_int_equal(run(&same, "5", "alice", "alice-secret-123", false, NULL, NULL, &out, &ch), -EACCES);
	vs_iscsi_textbuf_free(&out);
}

static void test_secret_strength(void **state)
{
	(void)state;
	assert_true(vs_iscsi_chap_secret_weak("short"));
	assert_true(vs_iscsi_chap_secret_weak("elevenchars"));
	assert_false(vs_iscsi_chap_secret_weak("twelve-chars"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compute_matches_openssl),
		cmocka_unit_test(test_algorithm_choice),
		cmocka_unit_test(test_challenges_are_fresh),
		cmocka_unit_test(test_verify_one_way),
		cmocka_unit_test(test_verify_near_miss),
		cmocka_unit_test(test_verify_malformed),
		cmocka_unit_test(test_mutual),
		cmocka_unit_test(test_same_secret_both_ways),
		cmocka_unit_test(test_secret_strength),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
