/* SPDX-License-Identifier: MIT */
/*
 * Timers of a loop (include/vstor/loop.h): a pairing heap of intrusive
 * one-shot timers, and the loop's timerfd set to the earliest deadline.
 *
 * Why a pairing heap: arming is O(1), cancelling and taking the earliest
 * O(log n) amortized, and it needs no array that grows: a delay filter
 * arms one timer per request, so the number armed at once is the queue
 * depth of every LUN on the loop, and the I/O path must not allocate.
 * Ties are broken by arming order (seq), so equal deadlines run FIFO.
 *
 * The timerfd (absolute CLOCK_MONOTONIC) is set only when the earliest
 * deadline moves earlier than what it holds; a timer cancelled or moved
 * later costs nothing until the fd goes off early and is set again.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "loop_int.h"

/* ---------------------------------------------------------------- heap */

static bool before(const struct vs_loop_timer *a, const struct vs_loop_timer *b)
{
	return a->deadline_ns < b->deadline_ns || (a->deadline_ns == b->deadline_ns && a->seq < b->seq);
}

/* Two heap roots (no siblings) into one: the later becomes the first
 * child of the earlier.  `prev` of a node is its parent when it is the
 * first child, else its left sibling. */
static struct vs_loop_timer *meld(struct vs_loop_timer *a, struct vs_loop_timer *b)
{
	if (before(b, a)) {
		struct vs_loop_timer *x = a;

		a = b;
		b = x;
	}
	b->prev = a;
	b->sibling = a->child;
	if (a->child)
		a->child->prev = b;
	a->child = b;
	a->prev = NULL;
	return a;
}

/* The children of a removed node into one heap: meld them in pairs left to
 * right, then the pairs right to left (the two passes that give the
 * amortized bound).  Iterative: no recursion however many children. */
static struct vs_loop_timer *merge_pairs(struct vs_loop_timer *first)
{
	struct vs_loop_timer *pairs = NULL, *root;

	while (first) {
		struct vs_loop_timer *a = first, *b = a->sibling;

		if (!b) {
			a->prev = NULL;
			a->sibling = pairs;
			pairs = a;
			break;
		}
		first = b->sibling;
		a->sibling = b->sibling = NULL;
		a = meld(a, b);
		a->sibling = pairs;     /* pairs: a stack, the last pair on top */
		pairs = a;
	}
	if (!pairs)
		return NULL;
	root = pairs;
	pairs = pairs->sibling;
	root->sibling = NULL;
	while (pairs) {
		struct vs_loop_timer *next = pairs->sibling;

		pairs->sibling = NULL;
		root = meld(root, pairs);
		pairs = next;
	}
	return root;
}

static void heap_insert(struct vs_loop *loop, struct vs_loop_timer *t)
{
	t->child = t->sibling = t->prev = NULL;
	loop->timers = loop->timers ? meld(loop->timers, t) : t;
}

static void heap_remove(struct vs_loop *loop, struct vs_loop_timer *t)
{
	struct vs_loop_timer *sub;

	if (t == loop->timers) {
		loop->timers = merge_pairs(t->child);
	} else {
		/* Unlink t with its subtree, then put its children back. */
		if (t->prev->child == t)
			t->prev->child = t->sibling;
		else
			t->prev->sibling = t->sibling;
		if (t->sibling)
			t->sibling->prev = t->prev;
		sub = merge_pairs(t->child);
		if (sub)
			loop->timers = meld(loop->timers, sub);
	}
	t->child = t->sibling = t->prev = NULL;
}

/* ---------------------------------------------------------------- API */

void vs_loop_timer_init(struct vs_loop_timer *t, void (*fn)(struct vs_loop_timer *t))
{
	memset(t, 0, sizeof(*t));
	t->fn = fn;
}

bool vs_loop_timer_armed(const struct vs_loop_timer *t)
{
	return t->loop != NULL;
}

bool vs_loop_timer_cancel(struct vs_loop_timer *t)
{
	if (!t->loop)
		return false;
	heap_remove(t->loop, t);
	t->loop = NULL;
	return true;
}

void vs_loop_timer_arm(struct vs_loop *loop, struct vs_loop_timer *t, uint64_t deadline_ns)
{
	vs_loop_timer_cancel(t);
	t->deadline_ns = deadline_ns;
	t->seq = loop->timer_seq++;
	t->loop = loop;
	heap_insert(loop, t);
}

void vs_loop_timer_arm_in(struct vs_loop *loop, struct vs_loop_timer *t, uint64_t delay_ns)
{
	vs_loop_timer_arm(loop, t, loop->now_ns + delay_ns);
}

static void post_arm_msg(struct vs_loop_msg *m)
{
	struct vs_loop_timer *t = (struct vs_loop_timer *)((char *)m - offsetof(struct vs_loop_timer, arm_msg));

	vs_loop_timer_arm(vs_loop_msg_current, t, t->post_deadline_ns);
}

void vs_loop_timer_post_arm(struct vs_loop *loop, struct vs_loop_timer *t, uint64_t deadline_ns)
{
	t->post_deadline_ns = deadline_ns;
	t->arm_msg.fn = post_arm_msg;
	vs_loop_post(loop, &t->arm_msg);
}

/* ---------------------------------------------------------------- the loop's side */

void vs_loop_timers_run(struct vs_loop *loop)
{
	/* Timers armed from here on (by the callbacks below) wait for the
	 * next pass, even if already due: a timer that re-arms itself at
	 * "now" cannot keep the loop from its fds. */
	uint64_t pass = loop->timer_seq;
	struct vs_loop_timer *t;

	while ((t = loop->timers) && t->deadline_ns <= loop->now_ns && t->seq < pass) {
		heap_remove(loop, t);
		t->loop = NULL;
		t->fn(t);
		vs_loop_msg_run_local(loop);
	}
}

void vs_loop_timers_fired(struct vs_loop *loop)
{
	loop->tfd_fired = true;
	loop->tfd_deadline = 0;
}

bool vs_loop_timers_sync(struct vs_loop *loop)
{
	struct vs_loop_timer *t = loop->timers;
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };

	if (t && t->deadline_ns <= loop->now_ns)
		return true;
	if (!t) {
		/* Nothing armed: a timerfd that went off must stop being
		 * readable (one set in the future just wakes us once). */
		if (loop->tfd_fired) {
			uint64_t ticks;

			if (read(loop->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				fprintf(stderr, "vstor: %s: timerfd read: %s\n", loop->name, strerror(errno));
			loop->tfd_fired = false;
		}
		return false;
	}
	if (loop->tfd_deadline && loop->tfd_deadline <= t->deadline_ns)
		return false;   /* goes off in time (maybe early: then set again) */
	/* Setting the timerfd also clears a past expiry (its count restarts). */
	its.it_value.tv_sec = (time_t)(t->deadline_ns / 1000000000ull);
	its.it_value.tv_nsec = (long)(t->deadline_ns % 1000000000ull);
	if (timerfd_settime(loop->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		fprintf(stderr, "vstor: %s: timerfd_settime: %s\n", loop->name, strerror(errno));
		return true;    /* poll rather than miss the timer */
	}
	loop->tfd_deadline = t->deadline_ns;
	loop->tfd_fired = false;
	return false;
}

void vs_loop_timers_drop_all(struct vs_loop *loop)
{
	while (loop->timers) {
		struct vs_loop_timer *t = loop->timers;

		heap_remove(loop, t);
		t->loop = NULL;
	}
}
