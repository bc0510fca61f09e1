/* SPDX-License-Identifier: MIT */
/*
 * The fabric instance (struct vs_iscsi): configuration, portals, the target
 * registry with ACLs and CHAP, the global session table, and its state on
 * each event loop.  The registry and the session table are behind one mutex that only
 * login, logout and the control plane take — never the I/O path.
 */
#ifndef VSTOR_ISCSI_TARGET_H
#define VSTOR_ISCSI_TARGET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vstor/iscsi.h"
#include "admission.h"
#include "conn.h"
#include "iscsi_loop.h"
#include "login.h"

#define ISCSI_MAX_PORTALS 16
#define ISCSI_PORTAL_TEXT 64    /* "ADDR:PORT" / "[V6ADDR]:PORT" */
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
	/* Logins refused (conn_login.c, on the connection's loop; read by
	 * vs_iscsi_target_stats on any thread). */
	atomic_ullong refused_auth, refused_acl;
	struct vs_iscsi *is;
	bool event_handler;     /* registered as the port's event handler (async.c) */
	/* Its own portals as their listeners' text (struct iscsi_portal.text);
	 * none: the default portals.  Fixed while the target is registered. */
	char portals[ISCSI_MAX_PORTALS][ISCSI_PORTAL_TEXT];
	size_t nportals;
};

/*
 * A listening socket.  Default portals (vs_iscsi_add_portal) serve every
 * target that has no portals of its own; the others are opened for the
 * targets that list them and closed when the last of those goes (portal.c).
 * Slots below vs_iscsi.nportals with fd -1 are free.
 */
struct iscsi_portal {
	struct vs_loop_fd h;
	struct vs_iscsi *is;
	int fd;
	bool registered;        /* watched by loop 0 */
	char addr[64];          /* as given */
	char text[ISCSI_PORTAL_TEXT];   /* the bound address, numeric: what targets list */
	char port[8];
	struct sockaddr_storage sa;
	bool wildcard;          /* 0.0.0.0 / [::]: SendTargets names the address reached */
	bool is_default;
	unsigned refs;          /* targets listing it */
	bool closing;           /* loop 0 is closing it (portal.c) */
	struct vs_loop_msg close_msg;
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
	uint32_t nsessions;                     /* normal and discovery */
	uint16_t next_tsih;
	struct iscsi_admission adm;             /* budgets (is->lock), counters (any thread) */
	/* Lines anyone who reaches a portal can cause, each kind rate
	 * limited: connections without a normal session closed, logins
	 * refused, discovery sessions opened. */
	struct vs_log_rate close_log_rate, login_log_rate, discovery_log_rate;

	struct iscsi_portal portals[ISCSI_MAX_PORTALS];
	unsigned nportals;

	/* The event loops it runs on: the caller's (vs_iscsi_config.group) or
	 * its own, made at start and freed at stop.  loops[i] is its state on
	 * loop i of the group. */
	struct vs_loop_group *group;
	struct vs_loop_group *own_group;
	struct iscsi_loop *loops;
	unsigned nloops;
	unsigned loops_detached;                /* is->lock; see vs_iscsi_stop */
	atomic_uint nconns;
	atomic_ullong next_conn_id;
	bool started;
	_Atomic bool stopping;          /* set by vs_iscsi_stop's thread, read by the loops */
	uint64_t stop_deadline_ns;
};

/* TCP options of an accepted connection: no delay, keepalive and
 * TCP_USER_TIMEOUT from the NOP timing (see iscsi_target.c). */
void vs_iscsi_socket_tune(int fd, const struct vs_iscsi_config *cfg);

/* Does the target's ACL name this initiator?  false for an empty ACL
 * (everyone may log in, nobody is named).  is->lock held. */
bool vs_iscsi_target_acl_lists_locked(const struct iscsi_target *t, const char *initiator);

/* Login environment for one connection (ctx = the connection). */
void vs_iscsi_target_env_init(struct vs_iscsi *is, struct iscsi_conn *c);

/* ---- portals (iscsi_target.c opens sockets; portal.c binds targets) */

/* Bind and listen on addr_port in a free slot, not yet watched by loop 0.
 * is->lock held.  0 or -errno with vs_set_error("'ADDR': why"). */
int vs_iscsi_portal_open_locked(struct vs_iscsi *is, const char *addr_port, bool is_default,
                             struct iscsi_portal **out);
/* Start accepting on it (loop 0), if the fabric runs.  0 or -errno. */
int vs_iscsi_portal_watch_locked(struct vs_iscsi *is, struct iscsi_portal *pt);
/* Resolve "ADDR:PORT" to a socket address.  0 or -EINVAL. */
int vs_iscsi_portal_resolve(const char *addr_port, struct sockaddr_storage *ss);

/*
 * The target's own portals (is->lock held; may wait for loop 0 with it
 * released): bind reuses the listener on the same address or opens one,
 * all or nothing, errors "portals[I]: 'ADDR': why"; unbind lets go, and a
 * listener no target needs any more (not a default one) is closed before
 * it returns.
 */
int  vs_iscsi_target_bind_portals_locked(struct vs_iscsi *is, struct iscsi_target *t,
                                      const char *const *portals, size_t n);
void vs_iscsi_target_unbind_portals_locked(struct vs_iscsi *is, struct iscsi_target *t);
/* Login environment: does the connection's portal serve the target, and
 * the TargetAddress values of every portal that does. */
bool vs_iscsi_env_target_served(void *ctx, void *target);
void vs_iscsi_env_for_each_address(void *ctx, void *target,
                                void (*emit)(void *ectx, const char *addr), void *ectx);

#endif
