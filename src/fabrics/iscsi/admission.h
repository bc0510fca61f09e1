/* SPDX-License-Identifier: MIT */
/*
 * Admission: the budgets that keep anyone who reaches a portal from
 * locking initiators out.  Each kind of use has its own, so filling one
 * never takes another's place:
 *
 *  - connections still logging in: at most max_logins at once, at most
 *    logins_per_source of them from one address.  When the budget is full,
 *    a newcomer from an address holding at least two fewer than the
 *    busiest address takes the place of that address's oldest login (fair
 *    shares per address: one address, or a few, cannot hold the door shut
 *    with half-sent login headers);
 *  - normal sessions: max_sessions, of which reserved_sessions only for
 *    initiators that passed a target's ACL or CHAP ("vetted"), while the
 *    caller says some target has either (otherwise nobody could use them);
 *  - discovery sessions: max_discovery, outside max_sessions.  When full, a
 *    newcomer replaces the session idle longest (no Text or Logout request:
 *    answering pings is not activity), once that one has been idle for
 *    discovery_replace_ns; idle ones are also closed by the caller after
 *    discovery_idle.
 *
 * Pure accounting: no sockets, no threads.  The caller serialises every
 * call but vs_iscsi_adm_count (the fabric: under vs_iscsi.lock, which only
 * accept, login, logout and the control plane take).  Slots are scanned
 * linearly: max_logins is at most VS_ISCSI_MAX_LOGINS_MAX (4096), and a few
 * dozen in practice.
 */
#ifndef VSTOR_ISCSI_ADMISSION_H
#define VSTOR_ISCSI_ADMISSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vstor/iscsi.h"
#include "../../util/vs_log.h"

/* A discovery session idle at least this long gives way to a new one when
 * the budget is full: a SendTargets client logs in, asks and logs out
 * within milliseconds; one that holds on without asking is a squatter. */
#define ISCSI_DISCOVERY_REPLACE_MS 1000u

struct iscsi_adm_limits {
	uint32_t max_logins;
	uint32_t logins_per_source;
	uint32_t max_sessions;
	uint32_t reserved_sessions;
	uint32_t max_discovery;
	uint64_t discovery_replace_ns;
};

/* One place in the login budget. */
struct iscsi_adm_login {
	void *owner;            /* the connection; NULL while free or not yet bound */
	uint8_t addr[16];       /* source address, IPv4 as ::ffff:a.b.c.d */
	uint32_t same_source;   /* places its address holds, this one included */
	uint64_t since_ns;      /* admitted at */
	bool used;
};

/* One place in the discovery budget. */
struct iscsi_adm_discovery {
	void *owner;            /* the session; NULL = free */
	uint64_t active_ns;     /* login, or its last Text / Logout request */
};

struct iscsi_admission {
	struct iscsi_adm_limits lim;
	struct iscsi_adm_login *logins;         /* lim.max_logins */
	uint32_t nlogins;
	struct iscsi_adm_discovery *discovery;  /* lim.max_discovery */
	uint32_t ndiscovery;
	uint32_t nsessions;
	atomic_ullong events[VS_ISCSI_ADMISSION_EVENTS];
	struct vs_log_rate rate[VS_ISCSI_ADMISSION_EVENTS];    /* one limiter per reason */
};

/* What an admit call decided. */
struct iscsi_adm_verdict {
	int refused;            /* an enum vs_iscsi_admission_event, or -1: admitted */
	int slot;               /* logins: the place taken (bind it) */
	void *victim;           /* owner whose place the newcomer took: close it */
};

int  vs_iscsi_adm_init(struct iscsi_admission *a, const struct iscsi_adm_limits *lim);  /* 0, -ENOMEM */
void vs_iscsi_adm_fini(struct iscsi_admission *a);

/* A connection accepted from src.  Admitted: the place is v->slot (bind
 * the connection to it, or cancel), and v->victim, if set, is a login
 * connection that lost its place to it.  Refused: v->refused. */
bool vs_iscsi_adm_login_admit(struct iscsi_admission *a, const struct sockaddr_storage *src,
                           uint64_t now_ns, struct iscsi_adm_verdict *v);
void vs_iscsi_adm_login_bind(struct iscsi_admission *a, int slot, void *owner);
void vs_iscsi_adm_login_cancel(struct iscsi_admission *a, int slot);
/* Its login is over (full feature phase, or closed): the place is free.
 * Nothing when it holds none (never admitted here, or evicted). */
void vs_iscsi_adm_login_release(struct iscsi_admission *a, void *owner);

/* A normal session.  reserve_on: some target has an ACL or CHAP. */
bool vs_iscsi_adm_session_admit(struct iscsi_admission *a, bool vetted, bool reserve_on,
                             struct iscsi_adm_verdict *v);
void vs_iscsi_adm_session_release(struct iscsi_admission *a);

/* A discovery session (owner: the session).  v->victim: the discovery
 * session it replaced (close it). */
bool vs_iscsi_adm_discovery_admit(struct iscsi_admission *a, void *owner, uint64_t now_ns,
                               struct iscsi_adm_verdict *v);
/* A Text or Logout request: it is not idle. */
void vs_iscsi_adm_discovery_touch(struct iscsi_admission *a, void *owner, uint64_t now_ns);
void vs_iscsi_adm_discovery_release(struct iscsi_admission *a, void *owner);

/* Count a refusal or drop (any thread, no lock); note also logs it (a
 * warning, a few per reason and 10 s at most). */
void vs_iscsi_adm_count(struct iscsi_admission *a, int event);
void vs_iscsi_adm_note(struct iscsi_admission *a, int event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
