/* SPDX-License-Identifier: MIT */
/*
 * The login phase (RFC 7143 §6, §11.12-11.13) and text negotiation
 * (§6.2, §13): a per-connection state machine that consumes Login Request
 * PDUs and produces Login Response PDUs, without doing any socket I/O.
 * The connection layer owns the socket and the session table; it calls in
 * here with each received login PDU and sends what comes back.
 */
#ifndef VSTOR_ISCSI_LOGIN_H
#define VSTOR_ISCSI_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pdu.h"

#define ISCSI_NAME_MAX 224          /* RFC 7143 §4.2.7.1: at most 223 bytes */
#define ISCSI_TEXT_MAX (64 * 1024)  /* our cap on one login/text exchange */

enum iscsi_session_type { ISCSI_SESSION_NORMAL = 0, ISCSI_SESSION_DISCOVERY = 1 };

/* Operational parameters in force after login (RFC 7143 §13). */
struct iscsi_params {
	bool header_digest;            /* CRC32C */
	bool data_digest;
	uint32_t max_connections;
	bool initial_r2t;
	bool immediate_data;
	uint32_t max_recv_dsl;          /* what WE accept in one PDU (we declared it) */
	uint32_t max_xmit_dsl;          /* what the initiator accepts (it declared it) */
	uint32_t max_burst_length;
	uint32_t first_burst_length;
	uint32_t default_time2wait;
	uint32_t default_time2retain;
	uint32_t max_outstanding_r2t;
	bool data_pdu_in_order;
	bool data_sequence_in_order;
	uint32_t error_recovery_level;
	enum iscsi_session_type session_type;
	char initiator_name[ISCSI_NAME_MAX];
	char initiator_alias[256];
	char target_name[ISCSI_NAME_MAX];
};

/* Our side's limits and offers, from the daemon config. */
struct iscsi_target_limits {
	uint32_t max_recv_dsl;          /* default 262144 */
	uint32_t max_burst_length;      /* default 1048576 */
	uint32_t first_burst_length;    /* default 262144 */
	uint32_t max_outstanding_r2t;   /* default 1 .. */
	uint32_t max_connections;       /* default 1 */
	bool     immediate_data;        /* default Yes */
	bool     initial_r2t;           /* default No is what we prefer */
	bool     allow_digests;         /* offer CRC32C when asked */
};

/* CHAP secrets (RFC 7143 §12.1.3; RFC 1994). */
struct iscsi_chap_creds {
	char user[256];           /* the initiator authenticates as user/secret */
	char secret[256];
	char mutual_user[256];    /* the target authenticates with these (mutual) */
	char mutual_secret[256];
};

/*
 * What the login machine needs to know about targets; supplied by the
 * connection/target layer.  All callbacks are called on the connection's
 * thread and must not block.
 */
struct iscsi_login_env {
	void *ctx;
	/* Does the target exist?  Returns an opaque target handle, NULL if not. */
	void *(*find_target)(void *ctx, const char *target_name);
	/* Is the portal of this connection one that serves the target?  A
	 * login elsewhere finds no target (0x0203).  NULL: every portal does. */
	bool (*target_served)(void *ctx, void *target);
	/* The IQN and alias of a handle. */
	const char *(*target_name)(void *ctx, void *target);
	const char *(*target_alias)(void *ctx, void *target);
	/* ACL: may this initiator see / log in to this target? */
	bool (*initiator_allowed)(void *ctx, void *target, const char *initiator_name);
	/* CHAP credentials required for this target: true and a copy in *out
	 * (the login works on its own copy, so the control plane may change
	 * them meanwhile), or false = CHAP not required, AuthMethod=None
	 * accepted.  For discovery sessions target is NULL. */
	bool (*chap_for)(void *ctx, void *target, struct iscsi_chap_creds *out);
	/* SendTargets: call emit(ectx, target_handle) for each target. */
	void (*for_each_target)(void *ctx, void (*emit)(void *ectx, void *target), void *ectx);
	/* SendTargets: call emit(ectx, addr) with the TargetAddress of each
	 * portal serving the target, e.g. "127.0.0.1:3260,1" (§13.8).  None:
	 * "the address of this discovery session". */
	void (*for_each_address)(void *ctx, void *target, void (*emit)(void *ectx, const char *addr),
	                         void *ectx);
	/* Target Portal Group Tag for this portal (§13.9) */
	uint16_t tpgt;
	const struct iscsi_target_limits *limits;
};

struct iscsi_login;   /* opaque */

struct iscsi_login *vs_iscsi_login_new(const struct iscsi_login_env *env);
void vs_iscsi_login_free(struct iscsi_login *l);

enum iscsi_login_result {
	ISCSI_LOGIN_CONTINUE_PHASE = 0,  /* send the response, read the next request */
	ISCSI_LOGIN_DONE,                /* response sent moves to full feature phase */
	ISCSI_LOGIN_FAILED,              /* send the response (status != 0), then close */
	ISCSI_LOGIN_PROTOCOL_ERROR,      /* close without response */
};

/*
 * Feed one Login Request (BHS + data segment).  Writes the Login Response
 * BHS into `rsp` and its data segment into `rsp_data` (capacity
 * rsp_data_cap, *rsp_data_len set).  StatSN / ExpCmdSN / MaxCmdSN in the
 * response are filled by the caller from `*stat_sn` etc. — the machine
 * fills ISID, TSIH (0 until the caller sets it with vs_iscsi_login_set_tsih
 * before the final response), ITT, flags, stage bits, status.
 *
 * On ISCSI_LOGIN_DONE for a normal session the caller must, BEFORE sending
 * the response, bind the connection to a session (new or existing per the
 * ISID/TSIH rules of §6.3 / reinstatement) and call vs_iscsi_login_set_tsih().
 */
enum iscsi_login_result vs_iscsi_login_handle(struct iscsi_login *l, const struct iscsi_bhs *req,
                                           const uint8_t *data, size_t data_len,
                                           struct iscsi_bhs *rsp, uint8_t *rsp_data,
                                           size_t rsp_data_cap, size_t *rsp_data_len);
void vs_iscsi_login_set_tsih(struct iscsi_login *l, struct iscsi_bhs *rsp, uint16_t tsih);
/* Valid once DONE (and for the caller's session binding as soon as the
 * first request is parsed). */
const struct iscsi_params *vs_iscsi_login_params(const struct iscsi_login *l);
void *vs_iscsi_login_target(const struct iscsi_login *l);  /* NULL for discovery */
const uint8_t *vs_iscsi_login_isid(const struct iscsi_login *l);  /* 6 bytes */
uint16_t vs_iscsi_login_tsih(const struct iscsi_login *l);        /* as requested by initiator */
uint16_t vs_iscsi_login_cid(const struct iscsi_login *l);
uint32_t vs_iscsi_login_cmdsn(const struct iscsi_login *l);       /* CmdSN of the first request */
uint32_t vs_iscsi_login_exp_statsn(const struct iscsi_login *l);
/* The initiator proved itself with the CHAP the target requires (§12.1.3). */
bool vs_iscsi_login_authenticated(const struct iscsi_login *l);

/*
 * Text Request in full feature phase (§11.10): SendTargets in discovery
 * (and normal) sessions, and renegotiation of the few keys allowed then.
 * Handles the C bit on both sides (continuation across PDUs, with TTT
 * bookkeeping inside `struct iscsi_text`).  Same calling style as login.
 */
struct iscsi_text;
struct iscsi_text *vs_iscsi_text_new(const struct iscsi_login_env *env, struct iscsi_params *params,
                                  void *session_target);
void vs_iscsi_text_free(struct iscsi_text *t);
/* Returns 0 = send response; <0 = protocol error (send Reject). */
int vs_iscsi_text_handle(struct iscsi_text *t, const struct iscsi_bhs *req,
                      const uint8_t *data, size_t data_len,
                      struct iscsi_bhs *rsp, uint8_t *rsp_data, size_t rsp_data_cap,
                      size_t *rsp_data_len);

#endif
