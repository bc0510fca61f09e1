/* SPDX-License-Identifier: MIT */
/*
 * Inside the event loops of include/vstor/loop.h.  The work is split by
 * job, and the calls go one way:
 *
 *   loop_group.c  the group: threads, stop, pick        → loop.c
 *   loop.c        one loop: epoll, its pass, fds, spin  → loop_msg.c, loop_timer.c
 *   loop_timer.c  timers: pairing heap, timerfd         → loop_msg.c
 *   loop_msg.c    messages: cross-thread queue, deferred and late calls
 */
#ifndef VSTOR_UTIL_LOOP_INT_H
#define VSTOR_UTIL_LOOP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vstor/loop.h"

struct vs_loop {
	struct vs_loop_group *group;
	unsigned idx;
	int epfd;
	int evfd;                       /* wakes the loop for posted messages */
	int tfd;                        /* timerfd: the earliest timer */
	pthread_t thread;
	bool thread_started;
	char name[16];                  /* thread name */
	_Atomic bool stop_requested;
	atomic_uint holds;              /* vs_loop_hold */
	uint64_t now_ns;                /* vs_loop_now_ns */

	/* Cross-thread messages: a lock-free stack, newest first (loop_msg.c). */
	_Atomic(struct vs_loop_msg *) mq;
	/* Posted from the loop's own thread: run after the current callback. */
	struct vs_loop_msg *local_head, *local_tail;
	/* vs_loop_post_late: run after the current pass. */
	struct vs_loop_msg *late_head, *late_tail;

	/* Timers (loop_timer.c). */
	struct vs_loop_timer *timers;   /* heap root: the earliest deadline */
	uint64_t timer_seq;             /* arming order, ties between deadlines */
	uint64_t tfd_deadline;          /* what the timerfd is set to; 0 = nothing pending */
	bool tfd_fired;                 /* readable until set again or read */

	struct vs_loop_spin *spins;
	struct vs_loop_poller *pollers;
	struct vs_loop_fd ev_handler, timer_handler;
};

struct vs_loop_group {
	struct vs_loop *loops;
	unsigned n;
	atomic_uint next;               /* VS_LOOP_PICK_NEXT */
	bool started;
};

/* ---- loop.c */
int  vs_loop_init(struct vs_loop *loop, struct vs_loop_group *g, unsigned idx, const char *name);
void vs_loop_fini(struct vs_loop *loop);
int  vs_loop_start(struct vs_loop *loop);
void vs_loop_request_stop(struct vs_loop *loop);
void vs_loop_join(struct vs_loop *loop);

/* ---- loop_msg.c */
/* The loop whose thread this is (set by loop.c while a loop runs). */
extern _Thread_local struct vs_loop *vs_loop_msg_current;
void vs_loop_msg_wake(struct vs_loop *loop);
/* Run the messages posted from the loop's thread so far (and any they post). */
void vs_loop_msg_run_local(struct vs_loop *loop);
/* The same for late calls, each followed by the local ones it posted. */
void vs_loop_msg_run_late(struct vs_loop *loop);
/* Take every message other threads posted and run them, then the local ones. */
void vs_loop_msg_drain(struct vs_loop *loop);
/* Forget whatever is still queued (the loop is being freed). */
void vs_loop_msg_drop_all(struct vs_loop *loop);

/* ---- loop_timer.c */
/* Run the timers due at loop->now_ns that were armed before this call. */
void vs_loop_timers_run(struct vs_loop *loop);
/* Before blocking: set the timerfd to the earliest deadline if it is not
 * already set at or before it.  Returns true when a timer is already due
 * (the loop must not block). */
bool vs_loop_timers_sync(struct vs_loop *loop);
/* The timerfd went off (loop.c's fd handler). */
void vs_loop_timers_fired(struct vs_loop *loop);
/* Disarm every timer without running it (the loop is being freed). */
void vs_loop_timers_drop_all(struct vs_loop *loop);

#endif
