/* SPDX-License-Identifier: MIT */
/*
 * CHAP for iSCSI login (RFC 7143 §12.1.3, RFC 1994), target side:
 *   I->T  CHAP_A=<A1,A2,...>
 *   T->I  CHAP_A=<A> CHAP_I=<I> CHAP_C=<C>
 *   I->T  CHAP_N=<N> CHAP_R=<R> [CHAP_I=<I'> CHAP_C=<C'>   (mutual)]
 *   T->I  [CHAP_N=<N'> CHAP_R=<R'>]                        (mutual)
 * R = H(I || secret || C), H chosen by CHAP_A from the IANA "PPP
 * Authentication Algorithms" registry: 5 MD5, 6 SHA-1, 7 SHA-256,
 * 8 SHA3-256 (7 and 8 as registered for iSCSI after RFC 7143).
 */
#ifndef VSTOR_ISCSI_CHAP_H
#define VSTOR_ISCSI_CHAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "login.h"

#define ISCSI_CHAP_MD5      5
#define ISCSI_CHAP_SHA1     6
#define ISCSI_CHAP_SHA256   7
#define ISCSI_CHAP_SHA3_256 8

#define ISCSI_CHAP_DIGEST_MAX     32
#define ISCSI_CHAP_CHALLENGE_MAX  1024   /* longest initiator challenge we take */
#define ISCSI_CHAP_SECRET_MIN_RECOMMENDED 12  /* §12.1.3: at least 96 bits */

enum iscsi_chap_state {
	ISCSI_CHAP_WAIT_A = 0,   /* AuthMethod=CHAP agreed, expect CHAP_A */
	ISCSI_CHAP_WAIT_NR,      /* challenge sent, expect CHAP_N/CHAP_R */
	ISCSI_CHAP_DONE,         /* initiator authenticated (and target, if asked) */
	ISCSI_CHAP_FAILED,
};

struct iscsi_chap {
	enum iscsi_chap_state state;
	const struct iscsi_chap_creds *creds;
	int alg;
	size_t dlen;
	uint8_t id;
	uint8_t challenge[ISCSI_CHAP_DIGEST_MAX];
	size_t clen;
	bool mutual;             /* the initiator asked the target to prove itself */
};

void vs_iscsi_chap_init(struct iscsi_chap *c, const struct iscsi_chap_creds *creds);

/* Step 2: CHAP_A list -> CHAP_A, CHAP_I, CHAP_C appended to rsp.
 * 0; -ENOTSUP no algorithm in the list we support; -EPROTO wrong state;
 * -EIO random generator failure; -ENOSPC/-ENOMEM rsp full. */
int vs_iscsi_chap_challenge(struct iscsi_chap *c, const char *chap_a, struct iscsi_textbuf *rsp);

/* Step 3: check CHAP_N/CHAP_R; with ci/cc (both or neither) answer the
 * initiator's challenge with CHAP_N/CHAP_R appended to rsp.
 * 0 = authenticated; -EACCES wrong name or response, reflected challenge,
 * same secret both ways, or mutual asked without a mutual secret;
 * -EINVAL malformed value; -EPROTO wrong state. */
int vs_iscsi_chap_verify(struct iscsi_chap *c, const char *n, const char *r,
                      const char *ci, const char *cc, struct iscsi_textbuf *rsp);

/* H(id || secret || challenge) for algorithm alg; 0 or -ENOTSUP.
 * *outlen receives the digest length. */
int vs_iscsi_chap_compute(int alg, uint8_t id, const char *secret, const uint8_t *challenge,
                       size_t clen, uint8_t *out, size_t *outlen);

/* Zero a copy of credentials before its memory goes. */
void vs_iscsi_chap_creds_wipe(struct iscsi_chap_creds *creds);

/* Shorter than the 96 bits §12.1.3 asks for; the config layer may warn. */
bool vs_iscsi_chap_secret_weak(const char *secret);

#endif
