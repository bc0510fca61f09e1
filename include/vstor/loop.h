/* SPDX-License-Identifier: MIT */
/*
 * Event loops shared by every layer: fabrics, backends and filters run on
 * the same few threads instead of starting threads of their own.
 *
 * A loop is one thread waiting in epoll(7).  What runs on it is the
 * callbacks of objects its users embed in their own structures (fd
 * handlers, messages, timers, spin hooks), so arming a timer or posting a
 * message never allocates.  Everything a loop runs, runs on its thread, one
 * callback at a time: state touched only from callbacks of one loop needs
 * no lock.
 *
 * A group is a fixed set of loops (vstord makes one, of `threads` loops,
 * and hands it to every fabric and backend).  New work picks a loop with
 * vs_loop_group_pick() and stays on it.
 *
 * Which thread may call what:
 *  - any thread: vs_loop_post, vs_loop_timer_post_arm, vs_loop_fd_add/mod/
 *    del, vs_loop_hold/release, vs_loop_clock_ns, vs_loop_current, the
 *    group calls (start/stop/join/destroy not from one of its own loops);
 *  - the loop's own thread only: vs_loop_post_late, vs_loop_timer_arm*,
 *    vs_loop_timer_cancel, vs_loop_spin_add/del, vs_loop_poller_add/del,
 *    vs_loop_now_ns.  While a loop is not running (before its group
 *    starts, after it has been joined) the thread that owns the group may
 *    call these too.
 *
 * Order of work in one pass of a loop: wait (epoll_wait, after the spin
 * hooks had their say and the pollers were looked at); read the clock
 * once (vs_loop_now_ns); run the handler of each fd that is ready, and
 * after each one the messages posted from the loop's own thread
 * meanwhile; run the timers that are due; then the late calls
 * (vs_loop_post_late) of the whole pass.
 */
#ifndef VSTOR_LOOP_H
#define VSTOR_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct vs_loop;
struct vs_loop_group;

/* ---------------------------------------------------------------- groups */

/* nthreads loops (0 = one per online CPU, at most VS_LOOP_GROUP_MAX),
 * threads named "<name>-<index>" (name: up to 10 characters are kept).
 * NULL with vs_set_error() when the kernel refuses an epoll, eventfd or
 * timerfd.  Nothing runs before vs_loop_group_start(). */
#define VS_LOOP_GROUP_MAX 256u
struct vs_loop_group *vs_loop_group_create(unsigned nthreads, const char *name);
/* Start one thread per loop.  0, or -errno with vs_set_error() (then no
 * thread of the group runs).  A group that was stopped and joined may be
 * started again. */
int  vs_loop_group_start(struct vs_loop_group *g);
/* Ask every loop to exit once nothing holds it (vs_loop_hold): a loop
 * asked to stop keeps serving its fds, messages and timers until the last
 * hold is released, then runs what was posted and exits.  Returns at once. */
void vs_loop_group_stop(struct vs_loop_group *g);
/* Wait for every loop's thread to exit (after vs_loop_group_stop). */
void vs_loop_group_join(struct vs_loop_group *g);
/* Stop and join if still running, then free.  Messages still queued are
 * dropped, timers still armed are disarmed without running. */
void vs_loop_group_destroy(struct vs_loop_group *g);

unsigned        vs_loop_group_size(const struct vs_loop_group *g);
struct vs_loop *vs_loop_group_loop(struct vs_loop_group *g, unsigned index);
/* The loop for new work: the same loop for the same hint (e.g. a LUN that
 * wants all its timers on one thread), or with VS_LOOP_PICK_NEXT the next
 * loop in turn (new connections spread evenly over the group). */
#define VS_LOOP_PICK_NEXT UINT64_MAX
struct vs_loop *vs_loop_group_pick(struct vs_loop_group *g, uint64_t hint);

/* The loop whose thread calls this, or NULL on any other thread. */
struct vs_loop *vs_loop_current(void);
unsigned        vs_loop_index(const struct vs_loop *loop);  /* in its group */

/*
 * Holds: a loop asked to stop does not exit while held.  Whoever has work
 * on a loop that must finish there (a connection that still has commands
 * in flight, a backend closing its socket) holds it until done.  Any thread.
 */
void vs_loop_hold(struct vs_loop *loop);
void vs_loop_release(struct vs_loop *loop);

/* ---------------------------------------------------------------- clocks */

/* CLOCK_MONOTONIC now, in ns (vDSO: not a system call).  Any thread. */
uint64_t vs_loop_clock_ns(void);
/* The loop's cached clock: CLOCK_MONOTONIC as read once when its
 * epoll_wait last returned (the start of this pass).  Every callback of a
 * pass sees the same value, so a burst of work reads the clock once.
 * Loop's thread only. */
uint64_t vs_loop_now_ns(const struct vs_loop *loop);

/* ---------------------------------------------------------------- fds */

/* The epoll(7) event bits (EPOLLIN, EPOLLOUT, EPOLLRDHUP, ...) under names
 * that need no <sys/epoll.h>; the values are epoll's own. */
#define VS_LOOP_IN    0x001u
#define VS_LOOP_OUT   0x004u
#define VS_LOOP_ERR   0x008u
#define VS_LOOP_HUP   0x010u
#define VS_LOOP_RDHUP 0x2000u

/* Something watched for readiness (level-triggered); fn runs on the loop's
 * thread with the events that are ready. */
struct vs_loop_fd {
	void (*fn)(struct vs_loop_fd *h, uint32_t events);
};

/* 0 or -errno (as epoll_ctl).  Any thread.  After vs_loop_fd_del the
 * handler may still run once for an event the loop had already taken out
 * of epoll: free its memory only from the loop's thread with
 * vs_loop_post_late(), or once the loop has stopped. */
int  vs_loop_fd_add(struct vs_loop *loop, int fd, uint32_t events, struct vs_loop_fd *h);
int  vs_loop_fd_mod(struct vs_loop *loop, int fd, uint32_t events, struct vs_loop_fd *h);
void vs_loop_fd_del(struct vs_loop *loop, int fd);

/* ---------------------------------------------------------------- messages */

/* A call to make on a loop's thread.  Embed it in the object it concerns;
 * one message may be posted again once its fn has started. */
struct vs_loop_msg {
	struct vs_loop_msg *next;       /* private to the loop */
	void (*fn)(struct vs_loop_msg *m);
};

/*
 * Any thread.  From another thread: queued (lock-free, many producers) and
 * the loop woken through an eventfd; messages from one thread run in the
 * order posted.  From the loop's own thread: deferred until the callback
 * now running returns (no handler is re-entered), in order.  A message
 * posted to a loop that has stopped runs if its group starts again, else
 * never.
 */
void vs_loop_post(struct vs_loop *loop, struct vs_loop_msg *m);
/* Loop's thread only: run m after everything of the current pass (every
 * fd event and timer of it), e.g. to free an object a later event of the
 * same epoll batch may still name. */
void vs_loop_post_late(struct vs_loop *loop, struct vs_loop_msg *m);

/* ---------------------------------------------------------------- timers */

/*
 * A one-shot timer with a deadline in CLOCK_MONOTONIC ns.  Armed timers of
 * a loop are kept in a pairing heap (arm O(1), cancel and expiry O(log n)
 * amortized, no allocation), and the loop's timerfd is set to the earliest
 * deadline, so any number of timers may be armed at once.  A periodic timer
 * re-arms itself from fn.  Timers with the same deadline run in the order
 * they were armed; a timer armed from a timer callback with a deadline
 * already past runs in the next pass, not in the same one.
 */
struct vs_loop_timer {
	void (*fn)(struct vs_loop_timer *t);
	/* private to the loop */
	struct vs_loop_timer *child, *sibling, *prev;
	struct vs_loop *loop;           /* armed on; NULL when not armed */
	uint64_t deadline_ns, seq;
	struct vs_loop_msg arm_msg;     /* vs_loop_timer_post_arm */
	uint64_t post_deadline_ns;
};

void vs_loop_timer_init(struct vs_loop_timer *t, void (*fn)(struct vs_loop_timer *t));
/* Loop's thread only.  Arm at an absolute deadline, or re-arm (an armed
 * timer moves to the new deadline).  A timer is armed on one loop at a
 * time: re-arming it on another loop first cancels it, which is allowed
 * only on the first loop's thread. */
void vs_loop_timer_arm(struct vs_loop *loop, struct vs_loop_timer *t, uint64_t deadline_ns);
/* The same, delay_ns after the loop's cached clock (vs_loop_now_ns): late
 * in a long pass it fires that much less than delay_ns after the call. */
void vs_loop_timer_arm_in(struct vs_loop *loop, struct vs_loop_timer *t, uint64_t delay_ns);
/* Loop's thread only.  True if it was armed (it will not run). */
bool vs_loop_timer_cancel(struct vs_loop_timer *t);
bool vs_loop_timer_armed(const struct vs_loop_timer *t);
/*
 * Any thread: post a message that arms t on loop at deadline_ns.  At most
 * one such request per timer may be outstanding (the timer's own message
 * carries it); the timer is armed when the message runs, so a cancel made
 * on the loop before then does not undo it.
 */
void vs_loop_timer_post_arm(struct vs_loop *loop, struct vs_loop_timer *t, uint64_t deadline_ns);

/* ---------------------------------------------------------------- spinning */

/*
 * A hook asked each time the loop is about to block in epoll_wait: how
 * long to check for events without sleeping first (0 = block at once).
 * The loop spins for the longest any hook asks; if nothing came in that
 * time, idle() of every hook that asked runs and the loop blocks.  The
 * policy (when spinning pays) is the user's; a spin ends at the first
 * event.  Loop's thread only.
 */
struct vs_loop_spin {
	uint64_t (*spin_ns)(struct vs_loop_spin *s);
	void (*idle)(struct vs_loop_spin *s);   /* may be NULL */
	struct vs_loop_spin *next;              /* private to the loop */
};
void vs_loop_spin_add(struct vs_loop *loop, struct vs_loop_spin *s);
void vs_loop_spin_del(struct vs_loop *loop, struct vs_loop_spin *s);

/* ---------------------------------------------------------------- pollers */

/*
 * Work that arrives without an fd event: memory another thread or process
 * writes, such as a shared completion ring whose writer rings an eventfd
 * doorbell only when asked to.  Each time the loop is about to wait it
 * calls poll() of every poller; while it spins (the longest spin_ns() of
 * its spin hooks and pollers) it calls poll() between looks at its fds;
 * and just before it blocks it calls arm() of every poller, which asks for
 * the doorbell again and looks once more.  So a poller may tell its writer
 * to skip the doorbell from the moment its spin_ns() asks for a spin until
 * its arm() runs: the loop does not sleep in between.  Work a poller does
 * runs between passes, as a handler's would (messages it posts run at the
 * start of the next pass).  Loop's thread only.
 */
struct vs_loop_poller {
	/* Take what has arrived; true if there was any. */
	bool (*poll)(struct vs_loop_poller *p);
	/* How long to keep looking without sleeping (0: no spin wanted). */
	uint64_t (*spin_ns)(struct vs_loop_poller *p);
	/* The loop is about to block: ask for the doorbell, look once more;
	 * true when work came meanwhile (the loop then does not block). */
	bool (*arm)(struct vs_loop_poller *p);
	struct vs_loop_poller *next;            /* private to the loop */
};
void vs_loop_poller_add(struct vs_loop *loop, struct vs_loop_poller *p);
/* A poller never added, or already deleted, is ignored. */
void vs_loop_poller_del(struct vs_loop *loop, struct vs_loop_poller *p);

#endif
