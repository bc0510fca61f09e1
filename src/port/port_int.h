/* SPDX-License-Identifier: MIT */
/*
 * Port internals shared by the files of src/port/.  Nothing here is API.
 *
 * Task sets and queues (SAM-5 4.6.23, SPC-4 7.5.7 control mode page TST
 * 001b: "separate task set for each I_T nexus"):
 *  - every LUN has one queue per I_T nexus (struct port_queue), plus a
 *    default queue for SRBs submitted without a nexus.  A queue is that
 *    nexus's task set on the LUN: its held and active lists, its ORDERED
 *    bookkeeping, its unit attentions, whether the nexus used the LUN, and
 *    its shard of the LUN's statistics.  Task attributes (SAM-5 8.6) apply
 *    within the queue.
 *  - the LUN-wide queue depth (Storport's per-LUN depth, what a miniport
 *    may size its resources by) is one atomic slot counter (depth.c).
 *
 * Locking (no lock shared by all connections on the I/O path):
 *  - q->lock guards one queue.  Submit and complete take only the lock of
 *    the SRB's own queue; one nexus is one connection, so that lock is
 *    never contended across connections (only with the backend's
 *    completion thread and the port's timer).  No lock is held while
 *    calling the miniport, because start_io may complete inline.
 *  - never two queue locks at once, except vs_lun_lock_all(), which takes
 *    every queue lock of one LUN in index order (control path only, with
 *    nexus_lock held so the set of queues does not change meanwhile).
 *  - port->lun_lock serialises LUN add/remove (control path only).  LUN
 *    slot structs and their queues are allocated on first use and never
 *    freed before vs_port_destroy, so the I/O path reads port->luns[] and
 *    the queue tables without a lock (queue.c).
 *  - port->nexus_lock guards the nexus table and the creation of queues.
 *    Order: lun_lock -> nexus_lock -> q->lock.
 *
 * SRB life (srb->priv.state):
 *   OWNED (fabric filling it) -> HELD (waiting in its queue) -> ACTIVE (the
 *   miniport has it) -> DONE.  A reset/removal that gives an ACTIVE SRB back
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
#define PORT_MAX_MINIPORTS  4       /* the adapter's own and those vs_port_miniport_add adds */

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
#define SRBF_ORDERED     0x01   /* counted in q->ordered_active while ACTIVE */
#define SRBF_ABORT_REQ   0x02   /* the port wants it back: counted in q->abort_pending */
#define SRBF_TMF_ABORTED 0x04   /* final status ABORTED */
#define SRBF_GONE        0x08   /* final status NO_DEVICE (LUN removed) */
#define SRBF_TIMED_OUT   0x10   /* final status TIMEOUT */
#define SRBF_TAS_ABORTED 0x20   /* aborted for another nexus: TASK ABORTED status (TAS=1) */
#define SRBF_SLOT        0x40   /* holds one of the LUN's depth slots while ACTIVE */

/* vs_srb_apply_verdict's defaults besides the VS_SRB_* values: complete with
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

/* Unit attention conditions of one (LUN, I_T nexus), q->lock */
struct ua_slot {
	uint16_t q[PORT_UA_QMAX];   /* ASC/ASCQ, q[0] reported first */
	uint8_t  n;
	bool     used;              /* the nexus has sent this LUN a command */
};

struct vs_port_lun;

/*
 * One task set: the SRBs one I_T nexus (or, for the default queue, every
 * submitter without a nexus) has on one LUN.  Cache-line aligned so that
 * two connections' queues never share a line.
 */
struct port_queue {
	pthread_mutex_t lock;
	pthread_cond_t  drain_cv;       /* signalled when waiters > 0 and the lists shrink */
	struct vs_port_lun *lun;
	uint32_t nkey;                  /* SRB_NEXUS_KEY of its SRBs: nexus id + 1, 0 = none */
	uint32_t in_flight;             /* ACTIVE SRBs of this queue */
	uint32_t ordered_active;
	uint32_t abort_pending;         /* SRBs with SRBF_ABORT_REQ whose done() has not run yet */
	uint32_t waiters;
	uint32_t credits;               /* depth slots handed to it while starved (depth.c) */
	bool dispatching;               /* a thread runs this queue's dispatch loop */
	bool kick_queued;               /* on some thread's deferred kick list (dispatch.c) */
	_Atomic bool starved;           /* its head waits for a depth slot; counted in
	                                 * lun->starved; written under lock, read as a hint */
	struct port_queue *kick_next;
	struct srb_list held, active, zombies;
	struct ua_slot ua;
	struct vs_lun_stats st;         /* this queue's shard of the LUN's statistics */
} __attribute__((aligned(64)));

/* The queues of one LUN by nexus id.  Grown (copied) on nexus open; an
 * outgrown table stays allocated (->older) so a reader holding it never
 * sees freed memory.  All freed at vs_port_destroy. */
struct queue_table {
	uint32_t cap;
	struct queue_table *older;
	_Atomic(struct port_queue *) q[];
};

struct vs_port_lun {
	/* read-mostly */
	struct vs_port *port;
	uint64_t number;
	/* The miniport that serves the LUN and its adapter extension: the
	 * adapter's own, or one vs_port_miniport_add added.  Set at lun_add
	 * under vs_lun_lock_all and kept after removal (both live until
	 * vs_port_destroy), so a late path still finds them. */
	const struct vs_miniport *mp;
	void *aext;
	_Atomic int state;              /* enum lun_state; changed under vs_lun_lock_all */
	void *ext;                      /* miniport lun extension; changed under vs_lun_lock_all */
	uint32_t depth;                 /* changed under vs_lun_lock_all */
	_Atomic(struct queue_table *) qt;
	struct port_queue *defq;        /* SRBs without a nexus */
	_Atomic bool busy;              /* vs_port_busy */
	_Atomic uint32_t busy_remaining;
	/* vs_port_lun_pause: new SRBs wait and the timer leaves the LUN's
	 * SRBs alone until resume or pause_until_ms */
	_Atomic bool paused;
	_Atomic uint64_t pause_until_ms;
	_Atomic uint64_t resets;        /* statistics: LUN, target and adapter resets */
	_Atomic bool sense_desc;        /* D_SENSE: descriptor-format sense (sense_format.c) */
	/* mp provides buffers (buffer_get): read without a lock so the
	 * common LUN skips the queue lock in vs_port_srb_buffer; set with mp */
	_Atomic bool has_buffer_get;

	/* written by every SRB that takes a depth slot: its own line (depth.c) */
	_Atomic uint32_t slots __attribute__((aligned(64)));  /* depth slots in use */
	_Atomic uint32_t starved;       /* queues whose head waits for a slot */
	_Atomic uint32_t kick_cursor;   /* round robin among starved queues */
} __attribute__((aligned(64)));

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

/* One miniport registered with the port (mps[0]: the adapter's own). */
struct port_mp {
	const struct vs_miniport *mp;
	void *adapter_ext;
	bool ac_supported[VS_ADAPTER_CONTROL_MAX];  /* its adapter_control types */
};

struct vs_port {
	const struct vs_miniport *mp;           /* = mps[0].mp */
	void *adapter_ext;                      /* = mps[0].adapter_ext */
	/* Every miniport of the adapter; entries are added (under lun_lock)
	 * and never removed before vs_port_destroy, so a reader that loaded
	 * nmp sees complete entries. */
	struct port_mp mps[PORT_MAX_MINIPORTS];
	_Atomic uint32_t nmp;
	bool inner;                             /* VS_PORT_INNER: no UA of its own */
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
	/* [nexus_cap]: the id's nexus left the table but its miniport
	 * nexus_lost has not returned yet, so the id is not handed out */
	bool *nexus_closing;
	uint32_t nexus_cap;

	_Atomic uint64_t tick_ms;               /* coarse clock, refreshed by the timer */
	_Atomic uint32_t hold;                  /* PORT_HOLD_*: new SRBs wait (one load per start) */
	_Atomic uint64_t pause_until_ms;
	bool ac_supported[VS_ADAPTER_CONTROL_MAX]; /* some miniport supports the type */

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

/* The miniports registered so far (mps[0 .. n-1] are complete). */
static inline uint32_t port_nmp(const struct vs_port *port)
{
	return atomic_load_explicit(&port->nmp, memory_order_acquire);
}

/* --- lists (their queue's lock held) --- */
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

/* queue.c: the queues of a LUN (lock-free lookup, creation on the control
 * path, walks) */
static inline struct port_queue *lun_queue(struct vs_port_lun *lun, uint32_t nkey)
{
	struct queue_table *t;

	if (nkey == 0)
		return lun->defq;
	t = atomic_load_explicit(&lun->qt, memory_order_acquire);
	return t && nkey - 1 < t->cap ? atomic_load_explicit(&t->q[nkey - 1], memory_order_acquire)
	                              : NULL;
}
/* Walk: index 0 is the default queue, i > 0 nexus i - 1; a NULL entry is
 * a nexus id that never had a queue here. */
uint32_t vs_lun_queue_count(struct vs_port_lun *lun);
static inline struct port_queue *lun_queue_at(struct vs_port_lun *lun, uint32_t i)
{
	return lun_queue(lun, i);
}
/* fn(q, arg) for every queue of the LUN, each under its own lock */
void vs_lun_each_queue(struct vs_port_lun *lun, void (*fn)(struct port_queue *q, void *arg),
                    void *arg);
/* nexus_lock held: make sure nexus `id` has a queue on `lun` */
int  vs_lun_queue_ensure(struct vs_port_lun *lun, uint32_t id);
int  vs_lun_queues_init(struct vs_port_lun *lun);          /* the default queue */
void vs_lun_queues_free(struct vs_port_lun *lun);
/* Every queue lock of the LUN, in index order (control path, nexus_lock
 * held): a state change then orders against every submit and completion
 * of the LUN. */
void vs_lun_lock_all(struct vs_port_lun *lun);
void vs_lun_unlock_all(struct vs_port_lun *lun);

/* depth.c: the LUN-wide depth slots (q->lock held unless noted); the
 * fast paths, slot_take and slot_release, are inline in start.h */
/* the head of q waits for a slot: mark q starved; true if a slot was
 * taken after all (the caller starts the head) */
bool vs_slot_starve(struct port_queue *q);
/* q no longer waits for a slot: returns the credits to give back */
uint32_t vs_slot_unstarve(struct port_queue *q);
/* slot_release while queues are starved (no queue lock held); `released`:
 * the n slots are already back in the counter */
void vs_slot_release_slow(struct vs_port_lun *lun, uint32_t n, bool released);

/* dispatch.c: starting held SRBs (when one may start: start.h) */
enum start_verdict { START_NOW, START_WAIT, START_NEED_SLOT };
/* q->lock held on entry, released on return: start what can start */
void vs_queue_run_unlock(struct port_queue *q);
/* start what can start in q, now or (inside a dispatch loop) when the
 * outermost loop of this thread ends; no queue lock held */
void vs_queue_kick(struct port_queue *q);
void vs_lun_dispatch(struct vs_port_lun *lun);             /* every queue */
void vs_port_dispatch_all(struct vs_port *port);

/* pool.c */
/* One more reference (srb.priv.refs); inline: start_io takes one per SRB */
static inline void vs_srb_ref(struct vs_srb *srb)
{
	__atomic_fetch_add(&srb->priv.refs, 1, __ATOMIC_RELAXED);
}
void vs_srb_unref(struct vs_srb *srb);
/* End a data-in loan still attached to the SRB (srb.h data_ref). */
void vs_srb_release_data_ref(struct vs_srb *srb);
void vs_pool_destroy_all(struct vs_port *port);

/* io.c */
void vs_port_finish_local(struct vs_srb *srb);
void vs_queue_account_locked(struct port_queue *q, struct vs_srb *srb, uint64_t now_ns);
void vs_queue_abort_settled(struct port_queue *q, uint32_t n);
void vs_srb_apply_verdict(struct vs_srb *srb, uint8_t default_status);

/* local_cmds.c: commands the port answers itself */
void vs_port_report_luns(struct vs_port *port, struct vs_srb *srb);
void vs_port_absent_lun(struct vs_srb *srb);
void vs_port_sense_as_data(struct vs_srb *srb, uint8_t key, uint16_t asc_ascq);

/* sense_format.c: the LUN's sense format (D_SENSE); false for NULL or an
 * absent LUN */
/* sense_format.c: the LUN's D_SENSE, read once per SRB at submit (inline:
 * it is on every command's path) */
static inline bool port_lun_sense_desc(const struct vs_port_lun *lun)
{
	return lun && atomic_load_explicit(&lun->state, memory_order_relaxed) != LUN_ABSENT &&
	       atomic_load_explicit(&lun->sense_desc, memory_order_relaxed);
}

/* ua.c (q->lock held unless noted) */
void vs_ua_add_locked(struct port_queue *q, uint16_t asc_ascq);
bool vs_ua_pop_locked(struct port_queue *q, uint16_t *asc_ascq);
/* the nexus id starts or ends: no UA pending, not a user of the LUN */
void vs_ua_forget_locked(struct port_queue *q);
void vs_ua_remove_locked(struct port_queue *q, uint16_t asc_ascq);
/* takes nexus_lock and queue locks: UA for every open nexus except `except_id` (UINT32_MAX: none) */
void vs_ua_all_nexus(struct vs_port_lun *lun, uint16_t asc_ascq, uint32_t except_id);
void vs_ua_clear_nexus_everywhere(struct vs_port *port, uint32_t nexus_id, uint16_t asc_ascq);

/* reset.c.  `only` NULL: every queue of the LUN; else that queue alone. */
#define FORCE_HELD    0x1
#define FORCE_ACTIVE  0x2
typedef bool (*srb_filter_fn)(const struct vs_srb *srb, const void *arg);
/* Returns how many SRBs it completed. */
uint32_t vs_lun_force_complete(struct vs_port_lun *lun, struct port_queue *only, unsigned what,
                        srb_filter_fn filter, const void *arg, uint8_t default_status);
/* vs_lun_mark_abort `how` */
#define MARK_CALL_ABORT_SRB  0x1    /* ask the miniport (abort_srb) */
#define MARK_NO_ESCALATION   0x2    /* the caller waits and takes them back itself: the
                                     * timer must not LUN-reset for them (the caller may
                                     * be a command on the same LUN) */
uint32_t vs_lun_mark_abort(struct vs_port_lun *lun, struct port_queue *only, srb_filter_fn filter,
                        const void *arg, uint8_t flag, unsigned how);
bool vs_lun_wait_abort(struct vs_port_lun *lun, struct port_queue *only, uint32_t ms);
bool vs_lun_wait_zombies(struct vs_port_lun *lun, uint32_t ms);
bool vs_lun_wait_idle(struct vs_port_lun *lun, uint32_t ms);     /* nothing ACTIVE */
/* How long the port may need to take back an SRB the miniport has: its
 * timeout, then the abort and LUN reset steps, with slack for the timer. */
uint32_t vs_port_takeback_ms(const struct vs_port *port);
void *vs_port_timer_main(void *arg);
void vs_port_adapter_reset(struct vs_port *port);

/* work.c */
int  vs_workq_start(struct workq *q, uint32_t nthreads, uint32_t max);
int  vs_workq_push(struct workq *q, struct vs_work *w);
void vs_workq_stop(struct workq *q);

/* adapter_control.c: ask a miniport what it supports (when it is
 * registered); the port's ac_supported is what any of them supports */
void vs_adapter_control_query(struct vs_port *port, struct port_mp *m);
/* every miniport's reset(kind) with lun_ext NULL (TARGET / ADAPTER) */
void vs_port_reset_all(struct vs_port *port, enum vs_reset_kind kind);

/* nexus.c */
void vs_nexus_close_all(struct vs_port *port);

/* event.c: tell the fabric about a unit attention raised on every nexus */
void vs_port_event_notify(struct vs_port *port, uint64_t lun, uint16_t asc_ascq);

/* lun.c */
void vs_port_lun_slot_free(struct vs_port_lun *lun);
/* the timer: end a LUN pause whose time is up */
void vs_lun_pause_expire(struct vs_port_lun *lun, uint64_t now_ms);

/* stats */
void vs_stats_account(struct vs_lun_stats *st, const struct vs_srb *srb, uint64_t lat_ns);

#endif
