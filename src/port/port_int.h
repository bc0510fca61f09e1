/* SPDX-License-Identifier: MIT */
/*
 * Port internals shared by the files of src/port/.  Nothing here is API.
 *
 * Locking (no global lock on the I/O path):
 *  - lun->lock guards everything of one LUN: its queues (held, active,
 *    zombies), counters, unit attentions and statistics.  Submit and
 *    complete take only this lock.  No port lock is ever held while calling
 *    the miniport, because start_io may complete inline.
 *  - port->lun_lock serialises LUN add/remove (control path only).  LUN
 *    slot structs are allocated on first use and never freed before
 *    vs_port_destroy, so the I/O path can read port->luns[] without a lock.
 *  - port->nexus_lock guards the nexus table.  Order: nexus_lock → lun->lock.
 *
 * SRB life (srb->priv.state):
 *   OWNED (fabric filling it) → HELD (waiting in the port) → ACTIVE (the
 *   miniport has it) → DONE.  A reset/removal that gives an ACTIVE SRB back
 *   to the fabric before the miniport completed it parks it as a ZOMBIE:
 *   done() already ran, and the miniport's late vs_port_complete() only
 *   drops its reference.  srb->priv.refs counts the fabric (until
 *   vs_srb_put) and the miniport (from start_io until vs_port_complete);
 *   the SRB returns to its pool at zero.
 */
#ifndef VSTOR_PORT_INT_H
#define VSTOR_PORT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vstor/port.h"

#define PORT_TICK_MS        20      /* timer resolution */
#define PORT_MAX_LUNS       16384   /* SAM-5 flat space addressing: 14 bits */
#define PORT_UA_QMAX        8       /* pending unit attentions per nexus per LUN */
#define PORT_DEFAULT_DEPTH  32
#define PORT_WORKQ_MAX      4096    /* queued work items before -ENOMEM */

/* port->hold bits */
#define PORT_HOLD_PAUSED    0x1     /* vs_port_pause, until resume or its timeout */
#define PORT_HOLD_STOPPED   0x2     /* vs_port_stop, until vs_port_restart */

enum srb_state {
	SRB_FREE = 0,
	SRB_OWNED,
	SRB_HELD,
	SRB_ACTIVE,
	SRB_ZOMBIE,
	SRB_DONE,
};

/* srb->priv.flags */
#define SRBF_ORDERED     0x01   /* counted in lun->ordered_active while ACTIVE */
#define SRBF_ABORT_REQ   0x02   /* the port wants it back: counted in lun->abort_pending */
#define SRBF_TMF_ABORTED 0x04   /* final status ABORTED */
#define SRBF_GONE        0x08   /* final status NO_DEVICE (LUN removed) */
#define SRBF_TIMED_OUT   0x10   /* final status TIMEOUT */
#define SRBF_TAS_ABORTED 0x20   /* aborted for another nexus: TASK ABORTED status (TAS=1) */

/* srb_apply_verdict's defaults besides the VS_SRB_* values: complete with
 * TASK ABORTED status (SAM-5 5.6, TAS=1); timed out while still held,
 * before the miniport saw it (VS_SRB_TIMEOUT, 2Eh/01h) */
#define VERDICT_TASK_ABORTED 0x80
#define VERDICT_TIMEOUT_HELD 0x81

/* srb->priv.escalation (SRB timeout handling, see reset.c) */
enum {
	ESC_NONE = 0,
	ESC_ABORT_SENT,         /* abort_srb called; deadline = abort deadline */
	ESC_LUN_RESET,          /* zombie after a LUN reset; deadline = adapter reset */
	ESC_FINAL,              /* adapter reset done; nothing more to try */
};

enum lun_state {
	LUN_ABSENT = 0,
	LUN_ACTIVE,
	LUN_REMOVING,
};

struct srb_list {
	struct vs_srb *head, *tail;
	uint32_t n;
};

/* Per (LUN, I_T nexus) state, lun->lock */
struct ua_slot {
	uint16_t q[PORT_UA_QMAX];   /* ASC/ASCQ, q[0] reported first */
	uint8_t  n;
	bool     used;              /* the nexus has sent this LUN a command */
};

struct vs_port_lun {
	pthread_mutex_t lock;
	pthread_cond_t  drain_cv;       /* signalled when waiters > 0 and queues shrink */
	struct vs_port *port;
	uint64_t number;
	_Atomic int state;              /* enum lun_state */
	void *ext;                      /* miniport lun extension */
	uint32_t depth;
	uint32_t in_flight;             /* ACTIVE SRBs (occupying queue slots) */
	uint32_t ordered_active;
	uint32_t abort_pending;         /* SRBs with SRBF_ABORT_REQ whose done() has not run yet */
	uint32_t waiters;
	bool dispatching;               /* a thread runs the dispatch loop */
	bool busy;                      /* vs_port_busy */
	uint32_t busy_remaining;
	struct srb_list held, active, zombies;
	struct ua_slot *ua;             /* indexed by nexus id */
	uint32_t ua_cap;
	uint32_t ua_nonempty;           /* slots with n > 0: fast path check */
	struct vs_lun_stats st;
};

struct nexus_priv {
	struct vs_nexus pub;
	struct vs_port *port;
};

struct workq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct vs_work *head, *tail;
	uint32_t n, max;
	pthread_t *threads;
	uint32_t nthreads;
	bool stop;
};

struct vs_port {
	const struct vs_miniport *mp;
	void *adapter_ext;
	struct vs_adapter_caps caps;
	char name[64];
	uint32_t queue_depth, max_held, timeout_ms, abort_timeout_ms;
	uint32_t max_luns;
	uint32_t max_xfer;                      /* caps.max_transfer_length, 0 → UINT32_MAX */
	int max_sg;                             /* caps.max_sg_elements, 0 → INT_MAX */

	_Atomic(struct vs_port_lun *) *luns;    /* [max_luns] */
	_Atomic uint32_t lun_hi;                /* 1 + highest slot ever allocated */
	pthread_mutex_t lun_lock;

	pthread_mutex_t nexus_lock;
	struct nexus_priv **nexus;              /* [nexus_cap], indexed by id */
	uint32_t nexus_cap;

	_Atomic uint64_t tick_ms;               /* coarse clock, refreshed by the timer */
	_Atomic uint32_t hold;                  /* PORT_HOLD_*: new SRBs wait (one load in can_start) */
	_Atomic uint64_t pause_until_ms;
	bool ac_supported[VS_ADAPTER_CONTROL_MAX]; /* the miniport's adapter_control types */

	pthread_t timer;
	pthread_mutex_t timer_mu;
	pthread_cond_t timer_cv;
	bool timer_stop;
	bool timer_started;

	struct workq workers;
	struct workq tmfq;                      /* one thread: TMFs run in order */

	pthread_mutex_t pool_lock;
	struct vs_srb_pool *pools;

	/* vs_port_set_event_handler (event.c): fn runs under event_lock, so
	 * once the handler is replaced the old one is never running. */
	pthread_mutex_t event_lock;
	vs_port_event_fn event_fn;
	void *event_ctx;
};

/* --- lists (lun->lock held) --- */
static inline void srb_list_append(struct srb_list *l, struct vs_srb *s)
{
	s->priv.next = NULL;
	s->priv.prev = l->tail;
	if (l->tail)
		l->tail->priv.next = s;
	else
		l->head = s;
	l->tail = s;
	l->n++;
}

static inline void srb_list_push_front(struct srb_list *l, struct vs_srb *s)
{
	s->priv.prev = NULL;
	s->priv.next = l->head;
	if (l->head)
		l->head->priv.prev = s;
	else
		l->tail = s;
	l->head = s;
	l->n++;
}

static inline void srb_list_remove(struct srb_list *l, struct vs_srb *s)
{
	if (s->priv.prev)
		s->priv.prev->priv.next = s->priv.next;
	else
		l->head = s->priv.next;
	if (s->priv.next)
		s->priv.next->priv.prev = s->priv.prev;
	else
		l->tail = s->priv.prev;
	s->priv.next = s->priv.prev = NULL;
	l->n--;
}

static inline struct vs_port_lun *port_lun_slot(struct vs_port *port, uint64_t lun)
{
	if (lun >= port->max_luns)
		return NULL;
	return atomic_load_explicit(&port->luns[lun], memory_order_acquire);
}

/*
 * Public entry points check their pointers: a NULL one is the caller's
 * bug, answered with an error (and "<what> is NULL" as the error line,
 * e.g. "lun_add: port is NULL"), never a crash.
 */
static inline bool port_arg(const void *p, const char *what)
{
	if (p)
		return true;
	vs_set_error("%s is NULL", what);
	return false;
}

/* nexus key kept in the SRB at submit (so the port never dereferences a
 * nexus after submit): id + 1, 0 = no nexus */
#define SRB_NEXUS_KEY(srb) ((srb)->priv.seq)

/* pool.c */
void srb_ref(struct vs_srb *srb);
void srb_unref(struct vs_srb *srb);
void pool_destroy_all(struct vs_port *port);

/* io.c */
void lun_dispatch(struct vs_port_lun *lun);
void port_finish_local(struct vs_srb *srb);
void lun_account_locked(struct vs_port_lun *lun, struct vs_srb *srb, uint64_t now_ns);
void port_dispatch_all(struct vs_port *port);
void lun_abort_settled(struct vs_port_lun *lun, uint32_t n);
void srb_apply_verdict(struct vs_srb *srb, uint8_t default_status);

/* local_cmds.c: commands the port answers itself */
void port_report_luns(struct vs_port *port, struct vs_srb *srb);
void port_absent_lun(struct vs_srb *srb);
void port_sense_as_data(struct vs_srb *srb, uint8_t key, uint16_t asc_ascq);

/* ua.c (lun->lock held unless noted) */
void ua_add_locked(struct vs_port_lun *lun, uint32_t nexus_id, uint16_t asc_ascq);
bool ua_pop_locked(struct vs_port_lun *lun, uint32_t nexus_id, uint16_t *asc_ascq);
void ua_clear_locked(struct vs_port_lun *lun, uint32_t nexus_id);
/* a nexus id starts or ends: no UA pending, not a user of the LUN */
void ua_forget_locked(struct vs_port_lun *lun, uint32_t nexus_id);
void ua_remove_locked(struct vs_port_lun *lun, uint32_t nexus_id, uint16_t asc_ascq);
int  ua_reserve_locked(struct vs_port_lun *lun, uint32_t nexus_id);
/* takes nexus_lock and lun locks: UA for every open nexus except `except_id` (UINT32_MAX: none) */
void ua_all_nexus(struct vs_port_lun *lun, uint16_t asc_ascq, uint32_t except_id);
void ua_clear_nexus_everywhere(struct vs_port *port, uint32_t nexus_id, uint16_t asc_ascq);

/* reset.c */
#define FORCE_HELD    0x1
#define FORCE_ACTIVE  0x2
typedef bool (*srb_filter_fn)(const struct vs_srb *srb, const void *arg);
void lun_force_complete(struct vs_port_lun *lun, unsigned what, srb_filter_fn filter,
                        const void *arg, uint8_t default_status);
/* lun_mark_abort `how` */
#define MARK_CALL_ABORT_SRB  0x1    /* ask the miniport (abort_srb) */
#define MARK_NO_ESCALATION   0x2    /* the caller waits and takes them back itself: the
                                     * timer must not LUN-reset for them (the caller may
                                     * be a command on the same LUN) */
uint32_t lun_mark_abort(struct vs_port_lun *lun, srb_filter_fn filter, const void *arg,
                        uint8_t flag, unsigned how);
bool lun_wait_abort(struct vs_port_lun *lun, uint32_t ms);
bool lun_wait_zombies(struct vs_port_lun *lun, uint32_t ms);
bool lun_wait_idle(struct vs_port_lun *lun, uint32_t ms);     /* nothing ACTIVE */
/* How long the port may need to take back an SRB the miniport has: its
 * timeout, then the abort and LUN reset steps, with slack for the timer. */
uint32_t port_takeback_ms(const struct vs_port *port);
void *port_timer_main(void *arg);
void port_adapter_reset(struct vs_port *port);

/* work.c */
int  workq_start(struct workq *q, uint32_t nthreads, uint32_t max);
int  workq_push(struct workq *q, struct vs_work *w);
void workq_stop(struct workq *q);

/* adapter_control.c: ask the miniport what it supports (at create) */
void adapter_control_query(struct vs_port *port);

/* nexus.c */
void nexus_close_all(struct vs_port *port);

/* event.c: tell the fabric about a unit attention raised on every nexus */
void port_event_notify(struct vs_port *port, uint64_t lun, uint16_t asc_ascq);

/* lun.c */
void port_lun_slot_free(struct vs_port_lun *lun);

/* stats */
void stats_account(struct vs_lun_stats *st, const struct vs_srb *srb, uint64_t lat_ns);

#endif
