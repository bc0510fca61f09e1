/* SPDX-License-Identifier: MIT */
/*
 * Timers of the shared event loops (include/vstor/loop.h): deadline order
 * with ties in arming order, never early, cancel, re-arm both ways (the
 * timerfd follows an earlier deadline), many timers at once, timers armed
 * from timer callbacks (periodic; already due: next pass, so fds are not
 * starved), arming from other threads, and timers on a loop that is not
 * running.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vstor/loop.h"
#include "loop_sync.h"

#define MS 1000000ull
#define CONTAINER(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* A timer that records when and in which order it ran. */
struct rec_timer {
	struct vs_loop_timer t;
	int id;
	uint64_t deadline;
	uint64_t ran_at;
	int runs;
};

struct recorder {
	struct vs_loop *loop;
	int *order;                     /* ids in the order they ran */
	int n;
	int early, off_loop;            /* ran before its deadline / off the loop */
	struct ls_counter ran;
};

static struct recorder *rec;

static void rec_fn(struct vs_loop_timer *t)
{
	struct rec_timer *r = CONTAINER(t, struct rec_timer, t);

	r->ran_at = vs_loop_clock_ns();
	if (r->ran_at < r->deadline)
		rec->early++;
	if (vs_loop_current() != rec->loop)
		rec->off_loop++;
	r->runs++;
	rec->order[rec->n++] = r->id;
	ls_counter_add(&rec->ran, 1);
}

static struct recorder *recorder_new(struct vs_loop *loop, int max)
{
	struct recorder *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->loop = loop;
	r->order = calloc((size_t)max, sizeof(int));
	assert_non_null(r->order);
	ls_counter_init(&r->ran);
	rec = r;
	return r;
}

static void recorder_free(struct recorder *r)
{
	ls_counter_destroy(&r->ran);
	free(r->order);
	free(r);
	rec = NULL;
}

static void arm_rec(struct vs_loop *loop, struct rec_timer *r, int id, uint64_t deadline)
{
	if (!r->t.fn)
		vs_loop_timer_init(&r->t, rec_fn);
	r->id = id;
	r->deadline = deadline;
	vs_loop_timer_arm(loop, &r->t, deadline);
}

/* ---------------------------------------------------------------- order */

#define NORDER 64
static struct rec_timer order_t[NORDER];

static void arm_order(void *arg)
{
	struct vs_loop *loop = arg;
	uint64_t base = vs_loop_now_ns(loop) + 20 * MS;

	/* Deadlines in a scrambled order, eight timers on each of eight
	 * deadlines. */
	for (int i = 0; i < NORDER; i++)
		arm_rec(loop, &order_t[i], i, base + (uint64_t)((i * 5) % 8) * MS);
}

static void test_timers_run_in_deadline_order_ties_as_armed(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	struct vs_loop *loop = vs_loop_group_loop(g, 0);
	struct recorder *r = recorder_new(loop, NORDER);

	(void)state;
	memset(order_t, 0, sizeof(order_t));
	ls_run_on(loop, arm_order, loop);
	assert_true(ls_counter_wait(&r->ran, NORDER, 5000));
	vs_loop_group_destroy(g);
	assert_int_equal(r->n, NORDER);
	assert_int_equal(r->early, 0);
	assert_int_equal(r->off_loop, 0);
	for (int i = 1; i < NORDER; i++) {
		const struct rec_timer *a = &order_t[r->order[i - 1]], *b = &order_t[r->order[i]];

		assert_true(a->deadline <= b->deadline);
		if (a->deadline == b->deadline)
			assert_true(a->id < b->id);     /* armed first, runs first */
	}
	recorder_free(r);
}

/* ---------------------------------------------------------------- cancel */

#define NCANCEL 50
static struct rec_timer cancel_t[NCANCEL];
static int cancel_results[4];

static void arm_and_cancel(void *arg)
{
	struct vs_loop *loop = arg;
	uint64_t base = vs_loop_now_ns(loop) + 10 * MS;

	for (int i = 0; i < NCANCEL; i++)
		arm_rec(loop, &cancel_t[i], i, base + (uint64_t)i * MS / 10);
	/* Even ones go: the earliest (the heap's root), inner ones, the last. */
	for (int i = 0; i < NCANCEL; i += 2)
		cancel_results[0] += vs_loop_timer_cancel(&cancel_t[i].t);
	for (int i = 0; i < NCANCEL; i += 2)
		cancel_results[1] += vs_loop_timer_cancel(&cancel_t[i].t);   /* again: no-op */
	cancel_results[2] = vs_loop_timer_armed(&cancel_t[0].t);
	cancel_results[3] = vs_loop_timer_armed(&cancel_t[1].t);
}

static void test_cancelled_timers_never_run(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	struct vs_loop *loop = vs_loop_group_loop(g, 0);
	struct recorder *r = recorder_new(loop, NCANCEL);

	(void)state;
	memset(cancel_t, 0, sizeof(cancel_t));
	memset(cancel_results, 0, sizeof(cancel_results));
	ls_run_on(loop, arm_and_cancel, loop);
	assert_int_equal(cancel_results[0], NCANCEL / 2);
	assert_int_equal(cancel_results[1], 0);
	assert_false(cancel_results[2]);
	assert_true(cancel_results[3]);
	assert_true(ls_counter_wait(&r->ran, NCANCEL / 2, 5000));
	ls_sleep_ms(30);
	vs_loop_group_destroy(g);
	assert_int_equal(r->n, NCANCEL / 2);
	for (int i = 0; i < NCANCEL; i++)
		assert_int_equal(cancel_t[i].runs, i % 2);
	for (int i = 1; i < r->n; i++)
		assert_true(r->order[i - 1] < r->order[i]);
	recorder_free(r);
}

/* A timer cancelled by the callback of another that is due in the same
 * pass (same deadline, armed earlier) does not run either. */
static struct rec_timer pair_t[2];

static void cancel_other_fn(struct vs_loop_timer *t)
{
	(void)t;
	vs_loop_timer_cancel(&pair_t[1].t);
	rec_fn(&pair_t[0].t);
}

static void arm_pair(void *arg)
{
	struct vs_loop *loop = arg;
	uint64_t when = vs_loop_now_ns(loop) + 5 * MS;

	vs_loop_timer_init(&pair_t[0].t, cancel_other_fn);
	pair_t[0].deadline = when;
	vs_loop_timer_arm(loop, &pair_t[0].t, when);
	arm_rec(loop, &pair_t[1], 1, when);
}

static void test_cancel_from_a_timer_due_in_the_same_pass(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	struct vs_loop *loop = vs_loop_group_loop(g, 0);
	struct recorder *r = recorder_new(loop, 2);

	(void)state;
	memset(pair_t, 0, sizeof(pair_t));
	ls_run_on(loop, arm_pair, loop);
	assert_true(ls_counter_wait(&r->ran, 1, 5000));
	ls_sleep_ms(30);
	vs_loop_group_destroy(g);
	assert_int_equal(pair_t[0].runs, 1);
	assert_int_equal(pair_t[1].runs, 0);
	recorder_free(r);
}

/* ---------------------------------------------------------------- re-arm */

static struct rec_timer rearm_t[2];

static void arm_far(void *arg)
{
	struct vs_loop *loop = arg;
	uint64_t now = vs_loop_now_ns(loop);

	/* 0: armed 10 s out; the loop sets its timerfd to that before it
	 * blocks, then (next message) the timer moves to 5 ms: it runs only
	 * if the timerfd follows the earlier deadline. */
	arm_rec(loop, &rearm_t[0], 0, now + 10000 * MS);
}

static void move_both(void *arg)
{
	struct vs_loop *loop = arg;
	uint64_t now = vs_loop_now_ns(loop);

	arm_rec(loop, &rearm_t[0], 0, now + 5 * MS);
	/* 1: armed at 5 ms, then moved later, to 300 ms. */
	arm_rec(loop, &rearm_t[1], 1, now + 5 * MS);
	arm_rec(loop, &rearm_t[1], 1, now + 300 * MS);
}

static void test_rearm_moves_the_deadline_both_ways(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	struct vs_loop *loop = vs_loop_group_loop(g, 0);
	struct recorder *r = recorder_new(loop, 4);
	uint64_t t0 = vs_loop_clock_ns();

	(void)state;
	memset(rearm_t, 0, sizeof(rearm_t));
	ls_run_on(loop, arm_far, loop);
	ls_run_on(loop, move_both, loop);
	assert_true(ls_counter_wait(&r->ran, 1, 5000));
	assert_int_equal(r->order[0], 0);
	/* Well before 300 ms, the later one has not run. */
	if (vs_loop_clock_ns() - t0 < 200 * MS)
		assert_int_equal(ls_counter_get(&r->ran), 1);
	assert_true(ls_counter_wait(&r->ran, 2, 5000));
	ls_sleep_ms(30);
	vs_loop_group_destroy(g);
	assert_int_equal(rearm_t[0].runs, 1);       /* once, at the new deadline */
	assert_int_equal(rearm_t[1].runs, 1);
	assert_int_equal(r->early, 0);              /* timer 1 not at its old 5 ms */
	recorder_free(r);
}

/* ---------------------------------------------------------------- many */

#define NMANY 20000
static struct rec_timer *many_t;
static int many_expected;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void arm_many(void *arg)
{
	struct vs_loop *loop = arg;
	uint64_t now = vs_loop_now_ns(loop), seed = 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < NMANY; i++)
		arm_rec(loop, &many_t[i], i, now + 5 * MS + rnd(&seed) % (50 * MS));
	/* A third cancelled, a third moved (earlier or later). */
	many_expected = NMANY;
	for (int i = 0; i < NMANY; i++) {
		if (i % 3 == 0) {
			vs_loop_timer_cancel(&many_t[i].t);
			many_expected--;
		} else if (i % 3 == 1) {
			arm_rec(loop, &many_t[i], i, now + 5 * MS + rnd(&seed) % (50 * MS));
		}
	}
}

static void test_many_timers_at_once(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	struct vs_loop *loop = vs_loop_group_loop(g, 0);
	struct recorder *r = recorder_new(loop, NMANY);

	(void)state;
	many_t = calloc(NMANY, sizeof(*many_t));
	assert_non_null(many_t);
	ls_run_on(loop, arm_many, loop);
	assert_true(ls_counter_wait(&r->ran, (uint64_t)many_expected, 10000));
	ls_sleep_ms(30);
	vs_loop_group_destroy(g);
	assert_int_equal(r->n, many_expected);
	assert_int_equal(r->early, 0);
	for (int i = 0; i < NMANY; i++)
		assert_int_equal(many_t[i].runs, i % 3 == 0 ? 0 : 1);
	for (int i = 1; i < r->n; i++)
		assert_true(many_t[r->order[i - 1]].deadline <= many_t[r->order[i]].deadline);
	free(many_t);
	many_t = NULL;
	recorder_free(r);
}

/* ---------------------------------------------------------------- from callbacks */

struct periodic {
	struct vs_loop_timer t;
	struct vs_loop *loop;
	int runs;
	uint64_t due;                   /* the deadline it was armed for */
	int too_soon;
	struct ls_counter done;
};

static void periodic_fn(struct vs_loop_timer *t)
{
	struct periodic *p = CONTAINER(t, struct periodic, t);

	if (vs_loop_clock_ns() < p->due)
		p->too_soon++;
	if (++p->runs < 10) {
		p->due = vs_loop_now_ns(p->loop) + 2 * MS;
		vs_loop_timer_arm_in(p->loop, t, 2 * MS);
	}
	ls_counter_add(&p->done, 1);
}

static void arm_periodic(void *arg)
{
	struct periodic *p = arg;

	p->due = vs_loop_now_ns(p->loop) + 2 * MS;
	vs_loop_timer_arm_in(p->loop, &p->t, 2 * MS);
}

static void test_periodic_timer_rearms_from_its_callback(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	struct periodic p = { .loop = vs_loop_group_loop(g, 0) };

	(void)state;
	vs_loop_timer_init(&p.t, periodic_fn);
	ls_counter_init(&p.done);
	ls_run_on(p.loop, arm_periodic, &p);
	assert_true(ls_counter_wait(&p.done, 10, 5000));
	ls_sleep_ms(20);
	vs_loop_group_destroy(g);
	assert_int_equal(p.runs, 10);
	assert_int_equal(p.too_soon, 0);
	assert_false(vs_loop_timer_armed(&p.t));
	ls_counter_destroy(&p.done);
}

/*
 * A timer that re-arms itself already due (deadline 0) runs again in the
 * next pass, never twice in one: so the loop still gets to its fds.  The
 * pipe's handler ends the game.
 */
struct greedy {
	struct vs_loop_timer t;
	struct vs_loop *loop;
	struct vs_loop_fd h;
	struct vs_loop_msg kick;
	int p[2];
	bool fd_seen;
	int runs, runs_at_fd;
	struct ls_counter done;
};

static struct greedy *gr;

static void greedy_fn(struct vs_loop_timer *t)
{
	gr->runs++;
	if (!gr->fd_seen)
		vs_loop_timer_arm(gr->loop, t, 0);
}

static void greedy_fd(struct vs_loop_fd *h, uint32_t events)
{
	char c;

	(void)h;
	(void)events;
	(void)!read(gr->p[0], &c, 1);
	gr->fd_seen = true;
	gr->runs_at_fd = gr->runs;
	ls_counter_add(&gr->done, 1);
}

static void greedy_start(struct vs_loop_msg *m)
{
	(void)m;
	vs_loop_timer_arm(gr->loop, &gr->t, 0);
	(void)!write(gr->p[1], "x", 1);
}

static void test_due_timer_armed_from_a_callback_waits_for_the_next_pass(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	struct greedy s = { .loop = vs_loop_group_loop(g, 0), .h.fn = greedy_fd };

	(void)state;
	gr = &s;
	ls_counter_init(&s.done);
	assert_int_equal(pipe2(s.p, O_NONBLOCK | O_CLOEXEC), 0);
	vs_loop_timer_init(&s.t, greedy_fn);
	assert_int_equal(vs_loop_fd_add(s.loop, s.p[0], VS_LOOP_IN, &s.h), 0);
	s.kick.fn = greedy_start;
	vs_loop_post(s.loop, &s.kick);
	assert_true(ls_counter_wait(&s.done, 1, 5000));
	vs_loop_group_destroy(g);
	assert_true(s.fd_seen);
	assert_true(s.runs_at_fd >= 1);     /* it ran, and the fd still got its turn */
	close(s.p[0]);
	close(s.p[1]);
	ls_counter_destroy(&s.done);
	gr = NULL;
}

/* ---------------------------------------------------------------- other threads */

#define NPOSTERS 4
static struct rec_timer posted_t[NPOSTERS];
static struct vs_loop *post_loop;

static void *post_arm_thread(void *arg)
{
	int i = (int)(intptr_t)arg;

	vs_loop_timer_init(&posted_t[i].t, rec_fn);
	posted_t[i].id = i;
	posted_t[i].deadline = vs_loop_clock_ns() + 2 * MS;
	vs_loop_timer_post_arm(post_loop, &posted_t[i].t, posted_t[i].deadline);
	return NULL;
}

static void test_timers_armed_from_other_threads(void **state)
{
	struct vs_loop_group *g = ls_group(2);
	struct recorder *r;
	pthread_t th[NPOSTERS];

	(void)state;
	post_loop = vs_loop_group_loop(g, 1);
	r = recorder_new(post_loop, NPOSTERS);
	memset(posted_t, 0, sizeof(posted_t));
	for (int i = 0; i < NPOSTERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, post_arm_thread, (void *)(intptr_t)i), 0);
	for (int i = 0; i < NPOSTERS; i++)
		pthread_join(th[i], NULL);
	assert_true(ls_counter_wait(&r->ran, NPOSTERS, 5000));
	vs_loop_group_destroy(g);
	assert_int_equal(r->off_loop, 0);
	assert_int_equal(r->early, 0);
	for (int i = 0; i < NPOSTERS; i++)
		assert_int_equal(posted_t[i].runs, 1);
	recorder_free(r);
}

/* ---------------------------------------------------------------- stopped loops */

static void test_timers_on_a_loop_that_is_not_running(void **state)
{
	struct vs_loop_group *g = vs_loop_group_create(1, "test");
	struct vs_loop *loop;
	struct recorder *r;
	struct rec_timer t[3];

	(void)state;
	assert_non_null(g);
	loop = vs_loop_group_loop(g, 0);
	r = recorder_new(loop, 3);
	memset(t, 0, sizeof(t));
	/* Before start: armed by the owning thread, runs once the loop runs. */
	arm_rec(loop, &t[0], 0, vs_loop_clock_ns() + 1 * MS);
	ls_sleep_ms(20);
	assert_int_equal(ls_counter_get(&r->ran), 0);
	assert_int_equal(vs_loop_group_start(g), 0);
	assert_true(ls_counter_wait(&r->ran, 1, 5000));

	/* Stopped and joined: a due timer waits, armed, for a restart. */
	vs_loop_group_stop(g);
	vs_loop_group_join(g);
	arm_rec(loop, &t[1], 1, vs_loop_clock_ns());
	ls_sleep_ms(20);
	assert_int_equal(ls_counter_get(&r->ran), 1);
	assert_true(vs_loop_timer_armed(&t[1].t));
	assert_int_equal(vs_loop_group_start(g), 0);
	assert_true(ls_counter_wait(&r->ran, 2, 5000));

	/* Destroyed with a timer armed: it is disarmed, never run. */
	vs_loop_group_stop(g);
	vs_loop_group_join(g);
	arm_rec(loop, &t[2], 2, vs_loop_clock_ns());
	vs_loop_group_destroy(g);
	assert_false(vs_loop_timer_armed(&t[2].t));
	assert_int_equal(t[2].runs, 0);
	assert_int_equal(r->n, 2);
	recorder_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_run_in_deadline_order_ties_as_armed),
		cmocka_unit_test(test_cancelled_timers_never_run),
		cmocka_unit_test(test_cancel_from_a_timer_due_in_the_same_pass),
		cmocka_unit_test(test_rearm_moves_the_deadline_both_ways),
		cmocka_unit_test(test_many_timers_at_once),
		cmocka_unit_test(test_periodic_timer_rearms_from_its_callback),
		cmocka_unit_test(test_due_timer_armed_from_a_callback_waits_for_the_next_pass),
		cmocka_unit_test(test_timers_armed_from_other_threads),
		cmocka_unit_test(test_timers_on_a_loop_that_is_not_running),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
