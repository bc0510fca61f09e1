/* SPDX-License-Identifier: MIT */
/*
 * The iSCSI fabric (RFC 7143) as the daemon wires it: portals to listen on,
 * targets (each an IQN over one vs_port), ACLs and CHAP, event-loop threads.
 */
#ifndef VSTOR_ISCSI_H
#define VSTOR_ISCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vs_port;
struct vs_iscsi;
struct vs_loop_group;

/* SPC-4 Table 144 version descriptor of iSCSI (no version claimed), for
 * the standard INQUIRY data of LUNs exported over this fabric. */
#define VS_ISCSI_VERSION_DESCRIPTOR 0x0960

struct vs_iscsi_config {
	/* The event loops (include/vstor/loop.h) to serve connections on,
	 * shared with other fabrics and backends; not owned, and it must run
	 * from vs_iscsi_start until vs_iscsi_stop has returned.  NULL: the
	 * fabric makes a group of its own of `threads` loops at start and
	 * frees it at stop. */
	struct vs_loop_group *group;
	uint32_t threads;               /* own event loops if no group; 0 = number of CPUs */
	uint32_t max_connections;       /* whole daemon; 0 = 256 */
	uint32_t max_sessions;          /* whole daemon; 0 = 128 */
	uint32_t login_timeout_ms;      /* 0 = 15000 */
	uint32_t nop_interval_ms;       /* ping a connection quiet this long; 0 = 5000 */
	uint32_t nop_timeout_ms;        /* drop if no answer / no send progress; 0 = 15000 */
	uint32_t queue_depth;           /* per session CmdSN window; 0 = 128 */
	uint32_t max_recv_dsl;          /* 0 = 262144 */
	uint32_t max_burst_length;      /* 0 = 1048576 */
	uint32_t first_burst_length;    /* 0 = 262144, at most max_burst_length */
	uint32_t max_outstanding_r2t;   /* offered MaxOutstandingR2T; 0 = 1 (RFC 7143 §13.17) */
	/* Hybrid polling: a loop serving request-response traffic (one or two
	 * PDUs per wake-up) checks its sockets for up to this long before it
	 * sleeps.  0 = 50 us; VS_ISCSI_POLL_OFF = always sleep. */
	uint32_t poll_us;
};
#define VS_ISCSI_POLL_OFF UINT32_MAX

/*
 * The ranges vs_iscsi_create accepts for each field (0 = the default, as
 * above).  The configuration loader checks against the same constants, so
 * a file that validates always starts.
 */
#define VS_ISCSI_DSL_MIN                512u                  /* RFC 7143 §13.12-13.14 */
#define VS_ISCSI_MAX_RECV_DSL_MAX       (1024u * 1024u)       /* receive buffer per connection */
#define VS_ISCSI_BURST_MAX              (8u * 1024u * 1024u)  /* largest transfer of a command */
#define VS_ISCSI_QUEUE_DEPTH_MAX        1024u
#define VS_ISCSI_MAX_R2T_MAX            4u                    /* R2Ts tracked per task */
#define VS_ISCSI_MAX_CONNECTIONS_MAX    65535u
#define VS_ISCSI_MAX_SESSIONS_MAX       65535u                /* TSIH is 16 bits, 0 reserved */
#define VS_ISCSI_TIMER_MS_MIN           100u                  /* login, NOP interval / timeout */
#define VS_ISCSI_TIMER_MS_MAX           3600000u
#define VS_ISCSI_DEFAULT_MAX_BURST      1048576u
#define VS_ISCSI_DEFAULT_FIRST_BURST    262144u   /* or max_burst_length if that is less */
#define VS_ISCSI_DEFAULT_POLL_US        50u
#define VS_ISCSI_POLL_US_MAX            1000u     /* a longer spin is a sleep that burns a core */

struct vs_iscsi_chap {
	const char *user, *secret;                  /* one-way: initiator proves itself */
	const char *mutual_user, *mutual_secret;    /* mutual: target proves itself (may be NULL) */
};

struct vs_iscsi_target_config {
	const char *iqn;
	const char *alias;              /* may be NULL */
	struct vs_port *port;           /* the LUNs; not owned */
	const char *const *acl;         /* allowed initiator IQNs; NULL/empty = all */
	size_t nacl;
	const struct vs_iscsi_chap *chap;   /* NULL = no CHAP */
	/* Where it is served: "ADDR:PORT" listened on as long as a target
	 * lists it (opened at once if the fabric runs).  NULL/empty = on the
	 * default portals (vs_iscsi_add_portal).  Logins on other portals find
	 * no target; SendTargets names each target's own portals. */
	const char *const *portals;
	size_t nportals;
};

struct vs_iscsi *vs_iscsi_create(const struct vs_iscsi_config *cfg);
/* A default portal ("ADDR:PORT", "[v6]:PORT"): serves every target that
 * has no portals of its own.  Returns 0 or -errno with vs_set_error(). */
int  vs_iscsi_add_portal(struct vs_iscsi *is, const char *addr_port);
int  vs_iscsi_add_target(struct vs_iscsi *is, const struct vs_iscsi_target_config *t);
/* Refuses (-EBUSY) while sessions are logged in unless force (then they are
 * dropped).  Its portals no other target lists are closed before it returns. */
int  vs_iscsi_remove_target(struct vs_iscsi *is, const char *iqn, bool force);
int  vs_iscsi_set_acl(struct vs_iscsi *is, const char *iqn, const char *const *acl, size_t n);
int  vs_iscsi_set_chap(struct vs_iscsi *is, const char *iqn, const struct vs_iscsi_chap *chap);
/* Discovery-session CHAP (NULL = none required). */
int  vs_iscsi_set_discovery_chap(struct vs_iscsi *is, const struct vs_iscsi_chap *chap);
/* Serve on the group's loops (or start loops of its own). */
int  vs_iscsi_start(struct vs_iscsi *is);
/* Stop accepting, let in-flight commands finish (up to grace_ms, then
 * abort), close every connection.  Blocks until the fabric is off every
 * loop (a group of its own is stopped and freed; a shared one runs on). */
void vs_iscsi_stop(struct vs_iscsi *is, uint32_t grace_ms);
void vs_iscsi_destroy(struct vs_iscsi *is);

/* A target's figures for monitoring (Prometheus metrics): sessions logged
 * in now, and logins refused since it was added, by reason.  0 or -ENOENT. */
struct vs_iscsi_target_stats {
	uint32_t sessions;
	uint64_t logins_refused_auth;   /* CHAP failed: login status 0x0201 (RFC 7143 §11.13.5) */
	uint64_t logins_refused_acl;    /* initiator not in the ACL: 0x0202 */
};
int vs_iscsi_target_stats(struct vs_iscsi *is, const char *iqn, struct vs_iscsi_target_stats *out);

/* Session listing for the control plane. */
struct vs_iscsi_session_info {
	char target[224];
	char initiator[224];
	uint8_t isid[6];
	uint16_t tsih;
	uint32_t connections;
	bool header_digest, data_digest;
	uint32_t max_recv_dsl, max_xmit_dsl, max_burst, first_burst;
	bool immediate_data, initial_r2t;
	char peer[64];
};
size_t vs_iscsi_sessions(struct vs_iscsi *is, struct vs_iscsi_session_info *out, size_t max);

/* Log threshold for the iSCSI fabric's one-line event log on stderr:
 * 0 error, 1 warn, 2 info (default: logins, logouts, drops), 3 debug. */
void vs_iscsi_set_log_level(int level);
/* Lines for systemd's journal: a syslog priority prefix ("<6>", as
 * sd-daemon(3)) instead of the fabric's own timestamp. */
void vs_iscsi_set_log_journal(bool on);

#endif
