/* SPDX-License-Identifier: MIT */
/*
 * The nbd backend's internals, shared by its files.  Nothing here is API.
 *
 * Files, each calling only those below it (what goes up, goes through the
 * function pointers in struct nbd_be):
 *   nbd.c          the ops table: options, open/close, caps, submit,
 *                  cancel/reset, block status
 *   nbd_recover.c  losing the server and getting it back: reconnect with
 *                  back-off, hold timeout, the same-export check, replay,
 *                  giving up
 *   nbd_io.c       requests on the wire: issue, completion, the held
 *                  queue, flushes, the dirty log's use
 *   nbd_conn.c     one libnbd handle: connect, the loop's fd, the export's
 *                  size and flags
 *   nbd_dirty.c    the dirty log (bookkeeping only)
 *   nbd_extent.c   reading a base:allocation reply
 *
 * Threads: one event loop (picked at open) owns every libnbd handle, the
 * dirty log and the request lists; submit() posts each request to it as a
 * message embedded in the request's context, so the hot path shares no
 * lock.  cancel() and reset() run on any thread and only look through the
 * held queue, under held_lock, which the loop takes only to change it.
 */
#ifndef VSTOR_BACKEND_NBD_INT_H
#define VSTOR_BACKEND_NBD_INT_H

#include <libnbd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vstor/backend.h"
#include "vstor/loop.h"
#include "nbd_stats.h"
#include "nbd_dirty.h"
#include "nbd_extent.h"

#define NBD_MAX_CONNS        16u
#define NBD_REPLAY_WINDOW    32u      /* replayed records on their way at once */
/* Most payload one NBD request carries when the server names no maximum:
 * the NBD protocol's advice (32 MiB), below libnbd's own 64 MiB cap. */
#define NBD_DEFAULT_MAX_PAYLOAD (32u << 20)
/* Trims and zeroings are cut to this (the request's length is 32 bits). */
#define NBD_MAX_RANGE        (1u << 30)
#define NBD_BACKOFF_FIRST_MS 50u
#define NBD_BACKOFF_MAX_MS   1000u
/* Closing with request_timeout=0 still waits no longer for the last flush. */
#define NBD_CLOSE_FLUSH_MAX_NS (30ull * 1000000000ull)

/* What the server said about the export; compared after every reconnect. */
struct nbd_export {
	uint64_t size;
	bool read_only, can_flush, can_fua, can_trim, can_zero, can_multi_conn;
	bool rotational, has_alloc;     /* base:allocation for block status */
	uint32_t block_min, block_pref, block_max;
};

enum nbd_cmd_kind {
	CMD_REQ = 1,    /* a bio (struct nbd_req) */
	CMD_REPLAY,     /* a dirty-log record sent again (struct nbd_replay) */
	CMD_FLUSH,      /* the backend's own flush: the dirty budget */
	CMD_STATUS,     /* a block-status query (struct nbd_status_call) */
};

/* Something sent to the server as one or more NBD requests. */
struct nbd_cmd {
	struct nbd_cmd *next, *prev;    /* a connection's in-flight list, the held queue */
	struct nbd_conn *conn;          /* in flight there; NULL when not */
	uint64_t sent_ns;
	uint32_t pieces;                /* NBD requests not yet answered */
	int err;                        /* first error a reply carried (-errno) */
	bool lost;                      /* a reply said the connection went away */
	uint8_t kind;                   /* enum nbd_cmd_kind */
};

/* A bio's context (ctx_size). */
struct nbd_req {
	struct nbd_cmd cmd;             /* first */
	struct vs_loop_msg msg;         /* submit → the loop */
	struct vs_bio *bio;
	struct nbd_be *be;
	uint32_t rec;                   /* its dirty-log record, or DIRTY_NONE */
	uint64_t mark;                  /* FLUSH: the dirty log's mark when sent */
	bool held;                      /* in the held queue */
	bool then_flush;                /* FUA by a flush after the write (no native FUA) */
	bool flushing;                  /* ... which is on its way */
	bool cancelled;                 /* cancel/reset asked (under held_lock) */
};

struct nbd_replay {
	struct nbd_cmd cmd;
	uint32_t rec;
	bool busy;
};

struct nbd_status_call {
	struct nbd_cmd cmd;
	struct vs_loop_msg msg;
	struct nbd_be *be;
	uint64_t off, len;
	bool mapped, done;
	uint64_t ext;
	int rc;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

struct nbd_conn {
	struct vs_loop_fd fdh;          /* first: the loop's handler finds us */
	struct nbd_be *be;
	struct nbd_handle *h;           /* NULL: none (a dead handle is closed at once) */
	int fd;                         /* registered with the loop; -1: none */
	uint32_t events;                /* what the loop watches fd for */
	unsigned index;
	bool ready;                     /* connected, export checked */
	bool broken;                    /* a send or reply said it is gone */
	bool go_sent;                   /* negotiation: NBD_OPT_GO asked */
	int go_err;                     /* ... and refused with this errno */
	uint64_t deadline_ns;           /* connecting: give up then */
	struct nbd_cmd *head, *tail;    /* in flight, oldest first */
	uint32_t ninflight;
	char why[128];                  /* why the last attempt failed */
};

enum nbd_be_state {
	BE_READY = 0,
	BE_RECOVERING,                  /* connections lost; reconnecting */
	BE_REPLAYING,                   /* connected again; the log goes out first */
	BE_FAILED,                      /* a different export: nothing more is sent */
	BE_CLOSING,
};

struct nbd_be {
	/* ---- set at open, read-only after ---- */
	struct vs_layer *self;
	struct vs_loop *loop;
	char *uri, *export_name;        /* export_name NULL: the URI's */
	unsigned nconns;                /* in use (1 unless the server has multi-conn) */
	uint64_t connect_timeout_ns, request_timeout_ns;
	uint32_t hold_ms;
	bool readonly;
	bool keep_copies;               /* cache=on over a server that can flush */
	bool fua_always;                /* cache=off: every change with FUA */
	uint32_t max_payload;
	struct nbd_export ref;          /* the export as first opened */

	/* ---- the loop's ---- */
	int state;                      /* enum nbd_be_state (atomic: read anywhere) */
	struct nbd_conn conns[NBD_MAX_CONNS];
	struct nbd_dirty log;
	struct nbd_cmd *done_head, *done_tail;  /* answered, to finish after notify */
	struct nbd_cmd flush;           /* CMD_FLUSH */
	uint64_t flush_mark;
	bool flush_busy;
	int flush_err;                  /* the last budget flush failed with this */
	struct nbd_replay replay[NBD_REPLAY_WINDOW];
	uint64_t lost_ns;               /* when the server went away */
	bool hold_over;                 /* hold_timeout passed: answer NOT READY */
	uint32_t backoff_ms;
	bool data_lost;                 /* acknowledged writes given up: the next FLUSH fails */
	uint64_t replay_recs, replay_bytes;     /* of the current recovery */
	struct vs_loop_timer hold_timer, reconnect_timer, tick_timer;
	struct vs_loop_msg adopt_msg, close_msg;
	bool closing_flush;             /* close: the last flush is on its way */
	bool finished;                  /* closed: no timer is armed again */
	uint64_t close_deadline_ns;     /* the last flush gets no longer than this */

	/* ---- the held queue: changed by the loop, searched by cancel/reset ---- */
	pthread_mutex_t held_lock;
	struct nbd_cmd *held_head, *held_tail;
	uint32_t nheld;                 /* the loop's; no lock needed to read it there */
	struct vs_loop_msg cancel_msg;
	atomic_bool cancel_posted;

	/* ---- closing: the caller waits for the loop ---- */
	pthread_mutex_t close_mu;
	pthread_cond_t close_cv;
	bool closed;

	/* ---- up-call (set by nbd_recover.c): an fd event was handled on
	 * connection c (replies came, or connecting moved on) ---- */
	void (*on_conn_event)(struct nbd_conn *c);

	struct nbd_stats stats;         /* atomics */
};

static inline int be_state(const struct nbd_be *be)
{
	return __atomic_load_n(&be->state, __ATOMIC_ACQUIRE);
}
static inline void be_set_state(struct nbd_be *be, int s)
{
	__atomic_store_n(&be->state, s, __ATOMIC_RELEASE);
}
static inline void stat_add(_Atomic uint64_t *s, uint64_t n)
{
	atomic_fetch_add_explicit(s, n, memory_order_relaxed);
}

/* The periodic check of request and connect timeouts (nbd_recover.c runs
 * it): armed while something is in flight or connecting.  Loop only. */
static inline void tick_arm(struct nbd_be *be)
{
	uint64_t t = be->request_timeout_ns < be->connect_timeout_ns ? be->request_timeout_ns
	                                                              : be->connect_timeout_ns;

	t /= 4;
	if (t < 50000000ull)
		t = 50000000ull;
	if (t > 1000000000ull)
		t = 1000000000ull;
	if (!be->finished && !vs_loop_timer_armed(&be->tick_timer))
		vs_loop_timer_arm_in(be->loop, &be->tick_timer, t);
}

/* ---- nbd_conn.c ---- */
/* A new handle for c, connecting (asynchronous).  0, or -errno with c->why. */
int  vs_nbdbe_conn_start(struct nbd_conn *c);
/* Drive c's handle on this thread with poll() until it is ready, dead or
 * deadline_ns passes (open, before the loop takes over).  0 or -errno with c->why. */
int  vs_nbdbe_conn_wait_ready(struct nbd_conn *c, uint64_t deadline_ns);
/* Connecting: move negotiation on (the export name, then "go").  Returns 1
 * when ready, 0 while still connecting, -1 when it failed (c->why). */
int  vs_nbdbe_conn_progress(struct nbd_conn *c);
/* Register / update the loop's watch of c's fd to what libnbd needs now. */
void vs_nbdbe_conn_watch(struct nbd_conn *c);
/* Close the handle (no callback of it runs after this) and forget the fd. */
void vs_nbdbe_conn_close(struct nbd_conn *c);
void vs_nbdbe_conn_export(struct nbd_conn *c, struct nbd_export *e);
/* 0 if e is the same export as ref, else -1 with a line in why. */
int  vs_nbdbe_export_compare(const struct nbd_export *ref, const struct nbd_export *e, char *why,
                    size_t whylen);
bool vs_nbdbe_conn_dead(struct nbd_conn *c);

/* ---- nbd_io.c ---- */
/* A bio reached the loop: send it, or hold it. */
void vs_nbdbe_io_dispatch(struct nbd_req *r);
/* Finish what the server answered (after notify or issuing). */
void vs_nbdbe_io_process_done(struct nbd_be *be);
/* READY: send what is held, in order, as far as the dirty budget allows. */
void vs_nbdbe_io_drain_held(struct nbd_be *be);
/* Start the backend's own flush if the dirty log wants one. */
void vs_nbdbe_io_maybe_flush(struct nbd_be *be, bool force);
/* The connections are gone: everything in flight comes back to the held
 * queue (or, for replays and the budget flush, is forgotten). */
void vs_nbdbe_io_requeue_inflight(struct nbd_be *be);
/* Complete every held request with err (dropping their log records). */
void vs_nbdbe_io_fail_held(struct nbd_be *be, int err);
/* Send the next replay records; true when the replay has finished. */
bool vs_nbdbe_io_replay_pump(struct nbd_be *be);
/* The oldest request in flight on any connection was sent before this. */
uint64_t vs_nbdbe_io_oldest_sent(struct nbd_be *be);
/* Block status on the loop: issue (or fail at once) call. */
void vs_nbdbe_io_block_status(struct nbd_status_call *call);
/* Cancelled requests: take them out of the held queue and complete them. */
void vs_nbdbe_io_cancel_msg(struct vs_loop_msg *m);
void vs_nbdbe_io_hold(struct nbd_be *be, struct nbd_req *r, bool front);
struct nbd_conn *vs_nbdbe_io_pick_conn(struct nbd_be *be);

/* ---- nbd_recover.c ---- */
void vs_nbdbe_recover_init(struct nbd_be *be);
/* The end of every callback on the loop: finish what was answered, notice
 * a broken connection, send what may go now. */
void vs_nbdbe_recover_kick(struct nbd_be *be);
/* Close: flush what is dirty if the server is there, then stop; runs on
 * the loop and signals close_cv when the caller may free. */
void vs_nbdbe_recover_close_msg(struct vs_loop_msg *m);
void vs_nbdbe_recover_adopt_msg(struct vs_loop_msg *m);


#endif
