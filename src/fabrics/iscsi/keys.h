/* SPDX-License-Identifier: MIT */
/*
 * iSCSI text keys (RFC 7143 §6, §13): parsing "key=value\0" data segments,
 * building responses, value encodings (§6.1), and the negotiation rules of
 * the operational keys (§6.2, §13).  Pure logic, no I/O; used by the login
 * machine (login.c), CHAP (chap.c) and Text requests (text.c).
 */
#ifndef VSTOR_ISCSI_KEYS_H
#define VSTOR_ISCSI_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "login.h"

#define ISCSI_KEY_NAME_MAX    63    /* §6.1: key names up to 63 bytes */
#define ISCSI_VALUE_MAX       255   /* §6.1: a simple value up to 255 bytes */
#define ISCSI_LARGE_VALUE_MAX 8192  /* encoded large-binary-value (CHAP_C/CHAP_R) */

/* ---- parsing --------------------------------------------------------- */

struct iscsi_kv {
	const char *key;
	const char *value;
};

struct iscsi_kvlist {
	char *buf;              /* owned, NUL-separated copy of the text */
	struct iscsi_kv *kv;    /* points into buf */
	size_t n;
};

/*
 * Parse one complete text (the concatenated data segments of a request,
 * §6.2: "key=value" pairs each terminated by NUL).  Empty strings between
 * NULs (padding some initiators add) are skipped.  Returns 0, or
 *   -EINVAL  malformed: last pair not NUL-terminated, no '=', empty key,
 *            key longer than 63 bytes or with control/space characters,
 *            value longer than ISCSI_LARGE_VALUE_MAX;
 *   -EEXIST  the same key twice in one text (§6.2: a key is negotiated once);
 *   -ENOMEM.
 * On error *why (if not NULL) names the problem; `out` is left empty.
 */
int vs_iscsi_kv_parse(const uint8_t *data, size_t len, struct iscsi_kvlist *out, const char **why);
void vs_iscsi_kv_free(struct iscsi_kvlist *l);
const char *vs_iscsi_kv_find(const struct iscsi_kvlist *l, const char *key);

/* ---- building a response text ------------------------------------------ */

struct iscsi_textbuf {
	uint8_t *data;
	size_t len, cap;
	size_t max;             /* hard cap; adding past it fails with -ENOSPC */
};

void vs_iscsi_textbuf_init(struct iscsi_textbuf *tb, size_t max);
void vs_iscsi_textbuf_free(struct iscsi_textbuf *tb);
void vs_iscsi_textbuf_reset(struct iscsi_textbuf *tb);
/* Append "key=value\0".  0, -ENOSPC (over max) or -ENOMEM. */
int vs_iscsi_textbuf_add(struct iscsi_textbuf *tb, const char *key, const char *value);
int vs_iscsi_textbuf_addf(struct iscsi_textbuf *tb, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- value encodings (§6.1) ------------------------------------------- */

/* numerical value: decimal, or hex with 0x/0X.  0, or -EINVAL. */
int vs_iscsi_parse_number(const char *v, uint64_t *out);
/* "Yes" / "No", exactly.  0, or -EINVAL. */
int vs_iscsi_parse_bool(const char *v, bool *out);
/* Does the comma-separated list contain `item` exactly? */
bool vs_iscsi_list_contains(const char *list, const char *item);
/* binary value: 0x/0X hex (odd digit count: leading zero implied) or
 * 0b/0B base64 (RFC 4648 with padding).  0, -EINVAL, or -ENOSPC. */
int vs_iscsi_decode_binary(const char *v, uint8_t *out, size_t cap, size_t *outlen);
/* "0x" + lower-case hex into out (needs 2 + 2n + 1 bytes).  0 or -ENOSPC. */
int vs_iscsi_encode_hex(const uint8_t *in, size_t n, char *out, size_t cap);

/* ---- operational key negotiation (§13) --------------------------------- */

/* RFC 7143 §13 defaults for every operational key. */
void vs_iscsi_params_init(struct iscsi_params *p);
/* Our offers with unset (0) limits replaced by the documented defaults
 * and everything clamped into the ranges of §13; lim may be NULL. */
void vs_iscsi_limits_effective(const struct iscsi_target_limits *lim, struct iscsi_target_limits *out);

struct iscsi_opneg {
	struct iscsi_params *p;
	struct iscsi_target_limits lim;     /* effective limits */
	bool leading;                       /* leading connection of the session */
	/* FirstBurstLength is answered after the other keys of the same text,
	 * because whether it is Irrelevant and its upper bound depend on
	 * InitialR2T, ImmediateData and MaxBurstLength (§13.14). */
	bool fbl_pending;
	uint32_t fbl_offer;
};

void vs_iscsi_opneg_init(struct iscsi_opneg *n, struct iscsi_params *p,
                      const struct iscsi_target_limits *lim, bool leading);
/*
 * Answer one key the initiator sent during login.  Returns 1 when the key is
 * an operational key of §13 (the answer, if one is due, appended to rsp), 0
 * when it is not (caller deals with it), negative errno when rsp is full.
 * Out of range or malformed values are answered key=Reject (§6.2.1);
 * obsolete marker keys are answered as §13.26 asks.
 */
int vs_iscsi_opneg_key(struct iscsi_opneg *n, const char *key, const char *value,
                    struct iscsi_textbuf *rsp);
/* Emit answers deferred to the end of one text (FirstBurstLength). */
int vs_iscsi_opneg_finish(struct iscsi_opneg *n, struct iscsi_textbuf *rsp);
/* Apply the cross-key rules at the end of login (FirstBurstLength <=
 * MaxBurstLength, §13.14). */
void vs_iscsi_params_finalize(struct iscsi_params *p);
/* Is `key` one of the login-time operational keys of §13? */
bool vs_iscsi_key_is_operational(const char *key);

#endif
