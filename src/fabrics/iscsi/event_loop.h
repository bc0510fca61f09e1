/* SPDX-License-Identifier: MIT */
/*
 * One epoll event loop per thread.  Every connection lives on exactly one
 * loop and its state is touched only from that loop's thread; other threads
 * talk to a loop only by posting messages (SRB completions, new
 * connections, "close this connection") onto its queue, which wakes the
 * loop through an eventfd.  Messages are intrusive (embedded in the task or
 * connection), so posting never allocates.
 */
#ifndef VSTOR_ISCSI_EVENT_LOOP_H
#define VSTOR_ISCSI_EVENT_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct iscsi_loop;

/* Something registered with epoll: the loop calls fn with the events. */
struct iscsi_handler {
	void (*fn)(struct iscsi_handler *h, uint32_t events);
};

/* A message for a loop; fn runs on the loop's thread. */
struct iscsi_msg {
	struct iscsi_msg *next;
	void (*fn)(struct iscsi_msg *m);
};

struct iscsi_loop_ops {
	/* Periodic tick (timers: login timeout, NOP, stop grace). */
	void (*tick)(struct iscsi_loop *loop, uint64_t now_ns);
	/* Return true when the loop may exit (after iscsi_loop_request_stop). */
	bool (*may_exit)(struct iscsi_loop *loop);
};

struct iscsi_loop {
	int epfd;
	int evfd;                       /* wakes the loop for posted messages */
	int tfd;                        /* timerfd: periodic tick */
	pthread_t thread;
	bool thread_started;
	unsigned idx;
	_Atomic bool stop_requested;    /* set by another thread */
	const struct iscsi_loop_ops *ops;
	void *owner;                    /* the struct vs_iscsi */

	/* Cross-thread queue (MPSC): a per-loop mutex, never shared. */
	pthread_mutex_t mq_lock;
	struct iscsi_msg *mq_head, *mq_tail;
	/* Same-thread deferred work (e.g. an SRB completed inline inside
	 * vs_port_submit): run after the current event, so no handler is
	 * re-entered. */
	struct iscsi_msg *local_head, *local_tail;
	/* Same-thread work that must wait until every event of the current
	 * epoll_wait batch has been handled (freeing a connection: a later
	 * event of the batch may still point at it). */
	struct iscsi_msg *late_head, *late_tail;

	struct iscsi_handler ev_handler, timer_handler;
	void *conns;                    /* list head of connections (conn.c) */
	uint32_t nconns;
	uint8_t *scratch;               /* discard buffer for unwanted data */
	/* Hybrid polling (event_loop.c): PDUs received in the current wake,
	 * and how many wakes in a row were shallow bursts. */
	uint32_t pdus_in_wake;
	uint32_t small_wakes;
	uint32_t poll_ns;               /* 0: never spin */
	size_t scratch_len;
	/* Passes so far (wake-ups, the tick's included): a watchdog sees a
	 * loop stuck in a callback as a count that stops moving.  Written by
	 * the loop only, read by anyone (vs_iscsi_loop_passes). */
	_Atomic uint64_t passes;
};

#define ISCSI_TICK_MS 100u
/* Hybrid polling: the most PDUs a wake-up may bring and still count as
 * request-response traffic at a shallow queue depth (event_loop.c). */
#define ISCSI_POLL_BURST_MAX 16u

int  iscsi_loop_init(struct iscsi_loop *loop, unsigned idx, const struct iscsi_loop_ops *ops,
                     void *owner);
void iscsi_loop_fini(struct iscsi_loop *loop);
int  iscsi_loop_start(struct iscsi_loop *loop);
void iscsi_loop_request_stop(struct iscsi_loop *loop);
void iscsi_loop_join(struct iscsi_loop *loop);

/* Post from any thread.  On the loop's own thread the message is deferred
 * to the end of the current event instead (no re-entrancy). */
void iscsi_loop_post(struct iscsi_loop *loop, struct iscsi_msg *m);
/* On the loop's own thread only: run m after the current epoll batch. */
void iscsi_loop_post_late(struct iscsi_loop *loop, struct iscsi_msg *m);
/* True when called on this loop's thread. */
bool iscsi_loop_is_current(const struct iscsi_loop *loop);

int  iscsi_loop_add_fd(struct iscsi_loop *loop, int fd, uint32_t events, struct iscsi_handler *h);
int  iscsi_loop_mod_fd(struct iscsi_loop *loop, int fd, uint32_t events, struct iscsi_handler *h);
void iscsi_loop_del_fd(struct iscsi_loop *loop, int fd);

uint64_t iscsi_now_ns(void);

/* Hybrid polling policy (event_loop.c): account the wake-up that just
 * ended (pdus_in_wake) and say whether the next wait spins first. */
bool iscsi_loop_should_spin(struct iscsi_loop *loop);

#endif
