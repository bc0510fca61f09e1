/* SPDX-License-Identifier: MIT */
/*
 * CHAP, target side (RFC 7143 §12.1.3, RFC 1994 §4.1): pick the
 * algorithm, issue a random challenge, verify the initiator's response in
 * constant time, and answer the initiator's challenge for mutual CHAP.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "chap.h"

static const EVP_MD *chap_md(int alg)
{
	switch (alg) {
	case ISCSI_CHAP_MD5:      return EVP_md5();
	case ISCSI_CHAP_SHA1:     return EVP_sha1();
	case ISCSI_CHAP_SHA256:   return EVP_sha256();
	case ISCSI_CHAP_SHA3_256: return EVP_sha3_256();
	default:                  return NULL;
	}
}

void vs_iscsi_chap_init(struct iscsi_chap *c, const struct iscsi_chap_creds *creds)
{
	memset(c, 0, sizeof(*c));
	c->creds = creds;
	c->state = ISCSI_CHAP_WAIT_A;
}

void vs_iscsi_chap_creds_wipe(struct iscsi_chap_creds *creds)
{
	OPENSSL_cleanse(creds, sizeof(*creds));     /* not optimised away like memset */
}

bool vs_iscsi_chap_secret_weak(const char *secret)
{
	return strlen(secret) < ISCSI_CHAP_SECRET_MIN_RECOMMENDED;
}

int vs_iscsi_chap_compute(int alg, uint8_t id, const char *secret, const uint8_t *challenge,
                       size_t clen, uint8_t *out, size_t *outlen)
{
	const EVP_MD *md = chap_md(alg);
	EVP_MD_CTX *ctx;
	unsigned int len = 0;
	int ok;

	if (!md)
		return -ENOTSUP;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	/* RFC 1994 §4.1: Identifier, then the secret, then the challenge. */
	ok = EVP_DigestInit_ex(ctx, md, NULL) &&
	     EVP_DigestUpdate(ctx, &id, 1) &&
	     EVP_DigestUpdate(ctx, secret, strlen(secret)) &&
	     EVP_DigestUpdate(ctx, challenge, clen) &&
	     EVP_DigestFinal_ex(ctx, out, &len);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -ENOTSUP;
	*outlen = len;
	return 0;
}

int vs_iscsi_chap_challenge(struct iscsi_chap *c, const char *chap_a, struct iscsi_textbuf *rsp)
{
	char hex[2 * ISCSI_CHAP_DIGEST_MAX + 3];
	int alg = 0, r;

	if (c->state != ISCSI_CHAP_WAIT_A)
		return -EPROTO;
	/* §6.2.1: the first algorithm of the initiator's list we support. */
	for (const char *p = chap_a; *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char item[16];
		uint64_t v;

		if (len < sizeof(item)) {
			memcpy(item, p, len);
			item[len] = '\0';
			if (!vs_iscsi_parse_number(item, &v) && v <= 255 && chap_md((int)v)) {
				alg = (int)v;
				break;
			}
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	if (!alg) {
		c->state = ISCSI_CHAP_FAILED;
		return -ENOTSUP;
	}
	c->alg = alg;
	c->dlen = (size_t)EVP_MD_get_size(chap_md(alg));
	/* A challenge as long as the digest (16 bytes for MD5, as common
	 * initiators expect), fresh from the CSPRNG for every login. */
	c->clen = c->dlen;
	if (RAND_bytes(&c->id, 1) != 1 || RAND_bytes(c->challenge, (int)c->clen) != 1) {
		c->state = ISCSI_CHAP_FAILED;
		return -EIO;
	}
	if (vs_iscsi_encode_hex(c->challenge, c->clen, hex, sizeof(hex)))
		return -ENOSPC;
	if ((r = vs_iscsi_textbuf_addf(rsp, "CHAP_A", "%d", alg)) ||
	    (r = vs_iscsi_textbuf_addf(rsp, "CHAP_I", "%u", c->id)) ||
	    (r = vs_iscsi_textbuf_add(rsp, "CHAP_C", hex)))
		return r;
	c->state = ISCSI_CHAP_WAIT_NR;
	return 0;
}

int vs_iscsi_chap_verify(struct iscsi_chap *c, const char *n, const char *r,
                      const char *ci, const char *cc, struct iscsi_textbuf *rsp)
{
	uint8_t got[ISCSI_CHAP_DIGEST_MAX + 1], want[ISCSI_CHAP_DIGEST_MAX];
	uint8_t ichal[ISCSI_CHAP_CHALLENGE_MAX];
	size_t glen = 0, wlen = 0, iclen = 0;
	uint64_t iid = 0;
	bool have_mutual_secret;
	int err;

	if (c->state != ISCSI_CHAP_WAIT_NR)
		return -EPROTO;
	c->state = ISCSI_CHAP_FAILED;   /* until proven otherwise */
	if (!n || !r || (!ci != !cc))
		return -EINVAL;
	/* An empty secret would let anyone compute the response. */
	if (!c->creds->secret[0])
		return -EACCES;
	if (vs_iscsi_decode_binary(r, got, sizeof(got), &glen) || glen != c->dlen)
		return -EACCES;
	if (cc) {
		if (vs_iscsi_parse_number(ci, &iid) || iid > 255)
			return -EINVAL;
		err = vs_iscsi_decode_binary(cc, ichal, sizeof(ichal), &iclen);
		if (err == -ENOSPC)
			return -EACCES;
		if (err || iclen == 0)
			return -EINVAL;
	}

	/* The user name is not secret; the response is compared in constant
	 * time so timing does not leak how much of it matched. */
	err = vs_iscsi_chap_compute(c->alg, c->id, c->creds->secret, c->challenge, c->clen, want, &wlen);
	if (err)
		return err;
	if (strcmp(n, c->creds->user) != 0 || CRYPTO_memcmp(got, want, wlen) != 0)
		return -EACCES;

	have_mutual_secret = c->creds->mutual_secret[0] != '\0';
	/*
	 * §12.1.3: a response equal to the one this end would itself compute
	 * for the same challenge means the same secret is configured in both
	 * directions -- treated as an authentication failure.
	 */
	if (have_mutual_secret) {
		err = vs_iscsi_chap_compute(c->alg, c->id, c->creds->mutual_secret, c->challenge,
		                         c->clen, want, &wlen);
		if (err)
			return err;
		if (CRYPTO_memcmp(got, want, wlen) == 0)
			return -EACCES;
	}

	if (cc) {
		char hex[2 * ISCSI_CHAP_DIGEST_MAX + 3];

		/* The initiator wants the target to prove itself. */
		if (!have_mutual_secret)
			return -EACCES;
		/* §12.1.3: a challenge equal to ours is a reflection attempt. */
		if (iclen == c->clen && !memcmp(ichal, c->challenge, iclen))
			return -EACCES;
		err = vs_iscsi_chap_compute(c->alg, (uint8_t)iid, c->creds->mutual_secret, ichal, iclen,
		                         want, &wlen);
		if (err)
			return err;
		if (vs_iscsi_encode_hex(want, wlen, hex, sizeof(hex)))
			return -ENOSPC;
		if ((err = vs_iscsi_textbuf_add(rsp, "CHAP_N", c->creds->mutual_user)) ||
		    (err = vs_iscsi_textbuf_add(rsp, "CHAP_R", hex)))
			return err;
		c->mutual = true;
	}
	c->state = ISCSI_CHAP_DONE;
	return 0;
}
