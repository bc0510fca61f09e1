/* SPDX-License-Identifier: MIT */
/*
 * One event loop (include/vstor/loop.h): a thread in epoll_wait, its
 * passes, fd registration, spin hooks, pollers, holds and the stop
 * protocol.
 * Messages are loop_msg.c's, timers loop_timer.c's.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "vstor/miniport.h"
#include "loop_int.h"

_Static_assert(VS_LOOP_IN == EPOLLIN && VS_LOOP_OUT == EPOLLOUT && VS_LOOP_ERR == EPOLLERR &&
               VS_LOOP_HUP == EPOLLHUP && VS_LOOP_RDHUP == EPOLLRDHUP,
               "VS_LOOP_* are epoll's own bits");

#define LOOP_EVENTS 64
/* While pollers spin: how often the fds are looked at too */
#define LOOP_FD_LOOK_NS 4000u

uint64_t vs_loop_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t vs_loop_now_ns(const struct vs_loop *loop)
{
	return loop->now_ns;
}

unsigned vs_loop_index(const struct vs_loop *loop)
{
	return loop->idx;
}

/* ---------------------------------------------------------------- fds */

int vs_loop_fd_add(struct vs_loop *loop, int fd, uint32_t events, struct vs_loop_fd *h)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int vs_loop_fd_mod(struct vs_loop *loop, int fd, uint32_t events, struct vs_loop_fd *h)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void vs_loop_fd_del(struct vs_loop *loop, int fd)
{
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static void on_eventfd(struct vs_loop_fd *h, uint32_t events)
{
	struct vs_loop *loop = (struct vs_loop *)((char *)h - offsetof(struct vs_loop, ev_handler));
	uint64_t v;

	(void)events;
	/* Read first: a post after the drain below finds the stack empty and
	 * writes the eventfd again. */
	if (read(loop->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		fprintf(stderr, "vstor: %s: eventfd read: %s\n", loop->name, strerror(errno));
	vs_loop_msg_drain(loop);
}

static void on_timerfd(struct vs_loop_fd *h, uint32_t events)
{
	struct vs_loop *loop = (struct vs_loop *)((char *)h - offsetof(struct vs_loop, timer_handler));

	(void)events;
	/* The due timers run after the pass's fd events (loop_main). */
	vs_loop_timers_fired(loop);
}

/* ---------------------------------------------------------------- spinning */

void vs_loop_spin_add(struct vs_loop *loop, struct vs_loop_spin *s)
{
	s->next = loop->spins;
	loop->spins = s;
}

void vs_loop_spin_del(struct vs_loop *loop, struct vs_loop_spin *s)
{
	for (struct vs_loop_spin **p = &loop->spins; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			s->next = NULL;
			return;
		}
	}
}

void vs_loop_poller_add(struct vs_loop *loop, struct vs_loop_poller *p)
{
	p->next = loop->pollers;
	loop->pollers = p;
}

void vs_loop_poller_del(struct vs_loop *loop, struct vs_loop_poller *p)
{
	for (struct vs_loop_poller **q = &loop->pollers; *q; q = &(*q)->next) {
		if (*q == p) {
			*q = p->next;
			p->next = NULL;
			return;
		}
	}
}

/* Every hook and poller is asked once per wait (a hook's accounting of the
 * pass that just ended happens there); the longest answer wins. */
static uint64_t spin_budget(struct vs_loop *loop)
{
	uint64_t most = 0;

	for (struct vs_loop_spin *s = loop->spins; s; s = s->next) {
		uint64_t ns = s->spin_ns(s);

		if (ns > most)
			most = ns;
	}
	for (struct vs_loop_poller *p = loop->pollers; p; p = p->next) {
		uint64_t ns = p->spin_ns(p);

		if (ns > most)
			most = ns;
	}
	return most;
}

static void spin_idle(struct vs_loop *loop)
{
	for (struct vs_loop_spin *s = loop->spins; s; s = s->next)
		if (s->idle)
			s->idle(s);
}

/* What the pollers found runs with the clock of its own moment. */
static bool poll_all(struct vs_loop *loop)
{
	bool found = false;

	if (!loop->pollers)
		return false;
	loop->now_ns = vs_loop_clock_ns();
	for (struct vs_loop_poller *p = loop->pollers; p; p = p->next)
		found |= p->poll(p);
	return found;
}

static bool arm_all(struct vs_loop *loop)
{
	bool found = false;

	for (struct vs_loop_poller *p = loop->pollers; p; p = p->next)
		found |= p->arm(p);
	return found;
}

/* Ready events, or 0 when a poller did work instead (the pass goes on
 * without them: they are taken at the next wait). */
static int loop_wait(struct vs_loop *loop, struct epoll_event *evs)
{
	uint64_t spin = loop->spins || loop->pollers ? spin_budget(loop) : 0;

	if (vs_loop_timers_sync(loop))
		return epoll_wait(loop->epfd, evs, LOOP_EVENTS, 0);
	if (poll_all(loop))
		return epoll_wait(loop->epfd, evs, LOOP_EVENTS, 0);
	if (spin) {
		uint64_t now = vs_loop_clock_ns(), until = now + spin, next_look = now;

		do {
			/* A look at the fds is a system call, a look at a
			 * poller's memory is not: between looks at the fds,
			 * only the pollers are looked at. */
			if (now >= next_look) {
				int n = epoll_wait(loop->epfd, evs, LOOP_EVENTS, 0);

				if (n != 0)
					return n;
				next_look = now + (loop->pollers ? LOOP_FD_LOOK_NS : 0);
			}
			if (poll_all(loop))
				return 0;
			now = vs_loop_clock_ns();
		} while (now < until);
		/* Nothing came: the pattern the hooks saw is over. */
		spin_idle(loop);
	}
	if (arm_all(loop))
		return 0;
	return epoll_wait(loop->epfd, evs, LOOP_EVENTS, -1);
}

/* ---------------------------------------------------------------- holds, stop */

void vs_loop_hold(struct vs_loop *loop)
{
	atomic_fetch_add(&loop->holds, 1);
}

void vs_loop_release(struct vs_loop *loop)
{
	/* The last hold of a loop asked to stop: it may be asleep. */
	if (atomic_fetch_sub(&loop->holds, 1) == 1 && atomic_load(&loop->stop_requested) &&
	    vs_loop_msg_current != loop)
		vs_loop_msg_wake(loop);
}

static bool may_exit(struct vs_loop *loop)
{
	return atomic_load(&loop->stop_requested) && atomic_load(&loop->holds) == 0;
}

void vs_loop_request_stop(struct vs_loop *loop)
{
	atomic_store(&loop->stop_requested, true);
	vs_loop_msg_wake(loop);
}

/* ---------------------------------------------------------------- the thread */

static void *loop_main(void *arg)
{
	struct vs_loop *loop = arg;
	struct epoll_event evs[LOOP_EVENTS];

	vs_loop_msg_current = loop;
	loop->now_ns = vs_loop_clock_ns();
	for (;;) {
		int n, i;

		vs_loop_msg_run_local(loop);
		vs_loop_msg_run_late(loop);        /* the previous pass is over */
		if (may_exit(loop))
			break;
		n = loop_wait(loop, evs);
		loop->now_ns = vs_loop_clock_ns();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "vstor: %s: epoll_wait: %s\n", loop->name, strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			struct vs_loop_fd *h = evs[i].data.ptr;

			h->fn(h, evs[i].events);
			vs_loop_msg_run_local(loop);
		}
		vs_loop_timers_run(loop);
	}
	/* What was posted before the stop still runs (it may release memory
	 * its owner waits for); timers stay armed for a restart. */
	vs_loop_msg_drain(loop);
	vs_loop_msg_run_late(loop);
	vs_loop_msg_current = NULL;
	return NULL;
}

int vs_loop_init(struct vs_loop *loop, struct vs_loop_group *g, unsigned idx, const char *name)
{
	memset(loop, 0, sizeof(*loop));
	loop->group = g;
	loop->idx = idx;
	snprintf(loop->name, sizeof(loop->name), "%.10s-%u", name && name[0] ? name : "loop", idx);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	loop->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	loop->now_ns = vs_loop_clock_ns();
	loop->ev_handler.fn = on_eventfd;
	loop->timer_handler.fn = on_timerfd;
	if (loop->epfd < 0 || loop->evfd < 0 || loop->tfd < 0 ||
	    vs_loop_fd_add(loop, loop->evfd, EPOLLIN, &loop->ev_handler) < 0 ||
	    vs_loop_fd_add(loop, loop->tfd, EPOLLIN, &loop->timer_handler) < 0) {
		int err = errno ? errno : ENOMEM;

		vs_set_error("event loop %u: %s", idx, strerror(err));
		vs_loop_fini(loop);
		return -err;
	}
	return 0;
}

void vs_loop_fini(struct vs_loop *loop)
{
	vs_loop_msg_drop_all(loop);
	vs_loop_timers_drop_all(loop);
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->evfd >= 0)
		close(loop->evfd);
	if (loop->tfd >= 0)
		close(loop->tfd);
	loop->epfd = loop->evfd = loop->tfd = -1;
}

int vs_loop_start(struct vs_loop *loop)
{
	int rc;

	atomic_store(&loop->stop_requested, false);
	rc = pthread_create(&loop->thread, NULL, loop_main, loop);
	if (rc) {
		vs_set_error("event loop %u: pthread_create: %s", loop->idx, strerror(rc));
		return -rc;
	}
	pthread_setname_np(loop->thread, loop->name);
	loop->thread_started = true;
	return 0;
}

void vs_loop_join(struct vs_loop *loop)
{
	if (loop->thread_started) {
		pthread_join(loop->thread, NULL);
		loop->thread_started = false;
	}
}
