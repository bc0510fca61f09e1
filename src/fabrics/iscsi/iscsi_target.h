/* SPDX-License-Identifier: MIT */
/*
 * The fabric instance (struct vs_iscsi): configuration, portals, the target
 * registry with ACLs and CHAP, the global session table, and the event
 * loops.  The registry and the session table are behind one mutex that only
 * login, logout and the control plane take — never the I/O path.
 */
#ifndef VSTOR_ISCSI_TARGET_H
#define VSTOR_ISCSI_TARGET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vstor/iscsi.h"
#include "conn.h"
#include "event_loop.h"
#include "login.h"

#define ISCSI_MAX_PORTALS 16
#define ISCSI_TPGT 1

struct iscsi_target {
	struct iscsi_target *next;
	char iqn[ISCSI_NAME_MAX];
	char alias[256];
	bool has_alias;
	struct vs_port *port;
	char **acl;
	size_t nacl;
	struct iscsi_chap_creds chap;
	bool chap_on;
	bool removed;           /* no new logins; kept until destroy */
	uint32_t nsessions;
	struct vs_iscsi *is;
	bool event_handler;     /* registered as the port's event handler (async.c) */
};

struct iscsi_portal {
	struct iscsi_handler h;
	struct vs_iscsi *is;
	int fd;
	bool registered;
	char addr[64];
};

struct vs_iscsi {
	struct vs_iscsi_config cfg;             /* defaults resolved */
	struct iscsi_target_limits limits;

	pthread_mutex_t lock;                   /* targets, sessions, kill flags */
	pthread_cond_t cond;                    /* a session went away */
	struct iscsi_target *targets;
	struct iscsi_chap_creds disc_chap;
	bool disc_chap_on;
	struct iscsi_session *sessions;
	uint32_t nsessions;
	uint16_t next_tsih;

	struct iscsi_portal portals[ISCSI_MAX_PORTALS];
	unsigned nportals;

	struct iscsi_loop *loops;
	unsigned nloops;
	atomic_uint rr;
	atomic_uint nconns;
	atomic_ullong next_conn_id;
	bool started;
	volatile bool stopping;
	uint64_t stop_deadline_ns;
};

/* TCP options of an accepted connection: no delay, keepalive and
 * TCP_USER_TIMEOUT from the NOP timing (see iscsi_target.c). */
void iscsi_socket_tune(int fd, const struct vs_iscsi_config *cfg);

/* Login environment for one connection (ctx = the connection). */
void iscsi_target_env_init(struct vs_iscsi *is, struct iscsi_conn *c);

#endif
