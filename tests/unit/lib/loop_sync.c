/* SPDX-License-Identifier: MIT */
/* Test helpers for the event loops (loop_sync.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <time.h>

#include "loop_sync.h"
#include "util/vs_clock.h"
#include "util/vs_cond.h"

void ls_counter_init(struct ls_counter *c)
{
	pthread_mutex_init(&c->lock, NULL);
	vs_cond_init_monotonic(&c->cond);
	c->value = 0;
}

void ls_counter_destroy(struct ls_counter *c)
{
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
}

void ls_counter_add(struct ls_counter *c, uint64_t n)
{
	pthread_mutex_lock(&c->lock);
	c->value += n;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

uint64_t ls_counter_get(struct ls_counter *c)
{
	uint64_t v;

	pthread_mutex_lock(&c->lock);
	v = c->value;
	pthread_mutex_unlock(&c->lock);
	return v;
}

bool ls_counter_wait(struct ls_counter *c, uint64_t want, int timeout_ms)
{
	struct timespec ts = vs_deadline_after_ms((uint64_t)timeout_ms);
	bool ok;

	pthread_mutex_lock(&c->lock);
	while (c->value < want)
		if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT)
			break;
	ok = c->value >= want;
	pthread_mutex_unlock(&c->lock);
	return ok;
}

struct run_on {
	struct vs_loop_msg msg;
	void (*fn)(void *arg);
	void *arg;
	struct ls_counter done;
};

static void run_on_msg(struct vs_loop_msg *m)
{
	struct run_on *r = (struct run_on *)m;

	r->fn(r->arg);
	ls_counter_add(&r->done, 1);
}

void ls_run_on(struct vs_loop *loop, void (*fn)(void *arg), void *arg)
{
	struct run_on r = { .msg.fn = run_on_msg, .fn = fn, .arg = arg };

	ls_counter_init(&r.done);
	vs_loop_post(loop, &r.msg);
	assert_true(ls_counter_wait(&r.done, 1, 10000));
	ls_counter_destroy(&r.done);
}

struct vs_loop_group *ls_group(unsigned n)
{
	struct vs_loop_group *g = vs_loop_group_create(n, "test");

	assert_non_null(g);
	assert_int_equal(vs_loop_group_start(g), 0);
	return g;
}

void ls_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
