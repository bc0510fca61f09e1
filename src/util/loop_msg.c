/* SPDX-License-Identifier: MIT */
/*
 * Messages to a loop (include/vstor/loop.h).
 *
 * From other threads they go onto a lock-free stack (a Treiber push: one
 * compare-and-swap, ABA-safe because the loop only ever takes the whole
 * stack with one exchange), and the post that finds it empty wakes the loop
 * through its eventfd; the loop reverses what it took, so messages run in
 * the order they were posted.  No lock is shared by the producers and the
 * loop, and posting never allocates: the message is embedded in its object.
 *
 * From the loop's own thread a message is deferred to a local list that
 * runs once the current callback has returned, so no handler is re-entered
 * (an SRB completed inline inside the submit call, say).  Late calls wait
 * for the end of the whole pass.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "loop_int.h"

_Thread_local struct vs_loop *vs_loop_msg_current;

struct vs_loop *vs_loop_current(void)
{
	return vs_loop_msg_current;
}

void vs_loop_msg_wake(struct vs_loop *loop)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is at its maximum, so the loop is awake anyway. */
	if (write(loop->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		fprintf(stderr, "vstor: %s: eventfd write: %s\n", loop->name, strerror(errno));
}

static void append(struct vs_loop_msg **head, struct vs_loop_msg **tail, struct vs_loop_msg *m)
{
	m->next = NULL;
	if (*tail)
		(*tail)->next = m;
	else
		*head = m;
	*tail = m;
}

void vs_loop_post(struct vs_loop *loop, struct vs_loop_msg *m)
{
	struct vs_loop_msg *old;

	if (vs_loop_msg_current == loop) {
		append(&loop->local_head, &loop->local_tail, m);
		return;
	}
	old = atomic_load_explicit(&loop->mq, memory_order_relaxed);
	do
		m->next = old;
	while (!atomic_compare_exchange_weak_explicit(&loop->mq, &old, m, memory_order_release,
	                                              memory_order_relaxed));
	/* Only the post that made the stack non-empty wakes: the loop takes
	 * everything at once, and any later post finds it empty again. */
	if (!old)
		vs_loop_msg_wake(loop);
}

void vs_loop_post_late(struct vs_loop *loop, struct vs_loop_msg *m)
{
	append(&loop->late_head, &loop->late_tail, m);
}

static struct vs_loop_msg *pop(struct vs_loop_msg **head, struct vs_loop_msg **tail)
{
	struct vs_loop_msg *m = *head;

	*head = m->next;
	if (!*head)
		*tail = NULL;
	m->next = NULL;
	return m;
}

void vs_loop_msg_run_local(struct vs_loop *loop)
{
	while (loop->local_head) {
		struct vs_loop_msg *m = pop(&loop->local_head, &loop->local_tail);

		m->fn(m);
	}
}

void vs_loop_msg_run_late(struct vs_loop *loop)
{
	while (loop->late_head) {
		struct vs_loop_msg *m = pop(&loop->late_head, &loop->late_tail);

		m->fn(m);
		vs_loop_msg_run_local(loop);
	}
}

void vs_loop_msg_drain(struct vs_loop *loop)
{
	struct vs_loop_msg *list = atomic_exchange_explicit(&loop->mq, NULL, memory_order_acquire);
	struct vs_loop_msg *fifo = NULL;

	while (list) {          /* newest first: reverse into posting order */
		struct vs_loop_msg *m = list;

		list = m->next;
		m->next = fifo;
		fifo = m;
	}
	/* Local work the messages post (a flush per connection) runs once
	 * after all of them: completions that arrived together from another
	 * thread leave in one sendmsg. */
	while (fifo) {
		struct vs_loop_msg *m = fifo;

		fifo = m->next;
		m->next = NULL;
		m->fn(m);
	}
	vs_loop_msg_run_local(loop);
}

void vs_loop_msg_drop_all(struct vs_loop *loop)
{
	atomic_store(&loop->mq, NULL);
	loop->local_head = loop->local_tail = NULL;
	loop->late_head = loop->late_tail = NULL;
}
