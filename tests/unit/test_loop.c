/* SPDX-License-Identifier: MIT */
/*
 * The shared event loops (include/vstor/loop.h), everything but timers
 * (test_loop_timer.c): fd handlers, messages from many threads, deferred
 * and late calls, the cached clock, the group, holds and the stop
 * protocol, spin hooks, pollers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vstor/loop.h"
#include "loop_sync.h"

#define CONTAINER(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static void make_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

static void put_byte(int fd)
{
	assert_int_equal(write(fd, "x", 1), 1);
}

/* ---------------------------------------------------------------- fds */

struct fd_watch {
	struct vs_loop_fd h;
	struct vs_loop *loop;
	int fd;
	struct ls_counter calls;
	_Atomic bool on_loop, saw_in;
};

static void fd_watch_fn(struct vs_loop_fd *h, uint32_t events)
{
	struct fd_watch *w = CONTAINER(h, struct fd_watch, h);
	char c;

	w->on_loop = vs_loop_current() == w->loop;
	w->saw_in = (events & VS_LOOP_IN) != 0;
	(void)!read(w->fd, &c, 1);
	ls_counter_add(&w->calls, 1);
}

static void test_fd_handler_sees_its_events_on_the_loop(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	struct fd_watch w = { .h.fn = fd_watch_fn, .loop = vs_loop_group_loop(g, 0) };
	int p[2];

	(void)state;
	make_pipe(p);
	w.fd = p[0];
	ls_counter_init(&w.calls);
	assert_int_equal(vs_loop_fd_add(w.loop, p[0], VS_LOOP_IN, &w.h), 0);
	put_byte(p[1]);
	assert_true(ls_counter_wait(&w.calls, 1, 5000));
	assert_true(w.on_loop);
	assert_true(w.saw_in);

	/* No events wanted: a readable fd stays quiet... */
	assert_int_equal(vs_loop_fd_mod(w.loop, p[0], 0, &w.h), 0);
	put_byte(p[1]);
	ls_sleep_ms(50);
	assert_int_equal(ls_counter_get(&w.calls), 1);
	/* ...until asked for again (level-triggered: the byte is still there). */
	assert_int_equal(vs_loop_fd_mod(w.loop, p[0], VS_LOOP_IN, &w.h), 0);
	assert_true(ls_counter_wait(&w.calls, 2, 5000));

	/* Removed: nothing more. */
	vs_loop_fd_del(w.loop, p[0]);
	put_byte(p[1]);
	ls_sleep_ms(50);
	assert_int_equal(ls_counter_get(&w.calls), 2);
	/* A bad fd is refused with epoll's errno. */
	assert_int_equal(vs_loop_fd_add(w.loop, -1, VS_LOOP_IN, &w.h), -EBADF);

	vs_loop_group_destroy(g);
	close(p[0]);
	close(p[1]);
	ls_counter_destroy(&w.calls);
}

/* ---------------------------------------------------------------- messages */

#define PRODUCERS 4
#define PER_PRODUCER 5000

struct seq_msg {
	struct vs_loop_msg m;
	int producer, seq;
};

struct mt_state {
	struct vs_loop *loop;
	struct seq_msg *msgs;           /* PRODUCERS x PER_PRODUCER */
	int last_seq[PRODUCERS];        /* touched on the loop thread only */
	int out_of_order, off_loop;     /* likewise */
	struct ls_counter ran;
};

static struct mt_state *mt;

static void seq_msg_fn(struct vs_loop_msg *m)
{
	struct seq_msg *s = CONTAINER(m, struct seq_msg, m);

	if (s->seq != mt->last_seq[s->producer] + 1)
		mt->out_of_order++;
	mt->last_seq[s->producer] = s->seq;
	if (vs_loop_current() != mt->loop)
		mt->off_loop++;
	ls_counter_add(&mt->ran, 1);
}

static void *producer(void *arg)
{
	int id = (int)(intptr_t)arg;

	for (int i = 0; i < PER_PRODUCER; i++) {
		struct seq_msg *s = &mt->msgs[id * PER_PRODUCER + i];

		s->m.fn = seq_msg_fn;
		s->producer = id;
		s->seq = i;
		vs_loop_post(mt->loop, &s->m);
		if (i % 512 == 0)
			sched_yield();      /* let the loop drain mid-stream too */
	}
	return NULL;
}

static void read_results(void *arg)
{
	int *out = arg;

	out[0] = mt->out_of_order;
	out[1] = mt->off_loop;
}

static void test_posts_from_many_threads_all_run_in_order(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	struct mt_state s = { .loop = vs_loop_group_loop(g, 0) };
	pthread_t th[PRODUCERS];
	int res[2];

	(void)state;
	mt = &s;
	s.msgs = calloc(PRODUCERS * PER_PRODUCER, sizeof(*s.msgs));
	assert_non_null(s.msgs);
	for (int i = 0; i < PRODUCERS; i++)
		s.last_seq[i] = -1;
	ls_counter_init(&s.ran);
	for (int i = 0; i < PRODUCERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, producer, (void *)(intptr_t)i), 0);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(th[i], NULL);
	assert_true(ls_counter_wait(&s.ran, PRODUCERS * PER_PRODUCER, 20000));
	ls_run_on(s.loop, read_results, res);
	assert_int_equal(res[0], 0);    /* each producer's messages in its order */
	assert_int_equal(res[1], 0);    /* all on the loop's thread */
	for (int i = 0; i < PRODUCERS; i++)
		assert_int_equal(s.last_seq[i], PER_PRODUCER - 1);
	/* Exactly once each: nothing more turns up. */
	ls_sleep_ms(20);
	assert_int_equal(ls_counter_get(&s.ran), PRODUCERS * PER_PRODUCER);
	vs_loop_group_destroy(g);
	ls_counter_destroy(&s.ran);
	free(s.msgs);
	mt = NULL;
}

/* A message posted from the loop's own thread waits for the running
 * callback to return, and such messages run in the order posted. */
struct deferred {
	struct vs_loop *loop;
	struct vs_loop_msg m[3];
	bool caller_returned;
	int order[3], n;
	bool ran_early;
	struct ls_counter done;
};

static struct deferred *df;

static void deferred_fn(struct vs_loop_msg *m)
{
	if (!df->caller_returned)
		df->ran_early = true;
	df->order[df->n++] = (int)(m - df->m);
	ls_counter_add(&df->done, 1);
}

static void post_three(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3; i++) {
		df->m[i].fn = deferred_fn;
		vs_loop_post(df->loop, &df->m[i]);
	}
	df->caller_returned = true;
}

static void test_post_from_the_loop_thread_is_deferred(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	struct deferred d = { .loop = vs_loop_group_loop(g, 0) };

	(void)state;
	df = &d;
	ls_counter_init(&d.done);
	ls_run_on(d.loop, post_three, NULL);
	assert_true(ls_counter_wait(&d.done, 3, 5000));
	vs_loop_group_destroy(g);
	assert_false(d.ran_early);
	assert_int_equal(d.order[0], 0);
	assert_int_equal(d.order[1], 1);
	assert_int_equal(d.order[2], 2);
	ls_counter_destroy(&d.done);
	df = NULL;
}

/*
 * Two fds made ready together come back in one epoll batch.  A late call
 * posted by the first handler runs only after the second; a plain post
 * from the first runs before the second (after its own callback).  Both
 * handlers see the same cached clock although the first takes 5 ms.
 */
struct batch {
	struct vs_loop *loop;
	int p1[2], p2[2];
	struct vs_loop_fd h1, h2;
	struct vs_loop_msg late, local, kick;
	int handled;                    /* fd events handled so far */
	int handled_at_late, handled_at_local;
	uint64_t now1, now2, clock_after_first;
	struct ls_counter done;
};

static struct batch *bt;

static void late_fn(struct vs_loop_msg *m)
{
	(void)m;
	bt->handled_at_late = bt->handled;
	ls_counter_add(&bt->done, 1);
}

static void local_fn(struct vs_loop_msg *m)
{
	(void)m;
	bt->handled_at_local = bt->handled;
}

static void batch_fd(struct vs_loop_fd *h, uint32_t events)
{
	char c;
	uint64_t t0;

	(void)events;
	(void)!read(h == &bt->h1 ? bt->p1[0] : bt->p2[0], &c, 1);
	if (bt->handled++ == 0) {
		bt->now1 = vs_loop_now_ns(bt->loop);
		bt->late.fn = late_fn;
		vs_loop_post_late(bt->loop, &bt->late);
		bt->local.fn = local_fn;
		vs_loop_post(bt->loop, &bt->local);
		t0 = vs_loop_clock_ns();
		while (vs_loop_clock_ns() - t0 < 5000000ull)
			;
		bt->clock_after_first = vs_loop_clock_ns();
	} else {
		bt->now2 = vs_loop_now_ns(bt->loop);
	}
}

/* On the loop: both fds become readable before the next epoll_wait. */
static void kick_fn(struct vs_loop_msg *m)
{
	(void)m;
	put_byte(bt->p1[1]);
	put_byte(bt->p2[1]);
}

static void test_late_calls_and_the_clock_follow_the_batch(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	struct batch b = { .loop = vs_loop_group_loop(g, 0) };

	(void)state;
	bt = &b;
	ls_counter_init(&b.done);
	make_pipe(b.p1);
	make_pipe(b.p2);
	b.h1.fn = b.h2.fn = batch_fd;
	assert_int_equal(vs_loop_fd_add(b.loop, b.p1[0], VS_LOOP_IN, &b.h1), 0);
	assert_int_equal(vs_loop_fd_add(b.loop, b.p2[0], VS_LOOP_IN, &b.h2), 0);
	b.kick.fn = kick_fn;
	vs_loop_post(b.loop, &b.kick);
	assert_true(ls_counter_wait(&b.done, 1, 5000));
	vs_loop_group_destroy(g);
	assert_int_equal(b.handled_at_late, 2);     /* after the whole batch */
	assert_int_equal(b.handled_at_local, 1);    /* right after its own callback */
	assert_true(b.now1 != 0);
	assert_true(b.now1 == b.now2);              /* one clock read per pass */
	assert_true(b.clock_after_first >= b.now1 + 5000000ull);
	for (int i = 0; i < 2; i++) {
		close(b.p1[i]);
		close(b.p2[i]);
	}
	ls_counter_destroy(&b.done);
	bt = NULL;
}

/* The next pass reads the clock again. */
static void read_now(void *arg)
{
	uint64_t *out = arg;

	out[0] = vs_loop_now_ns(vs_loop_current());
	out[1] = vs_loop_clock_ns();
}

static void test_cached_clock_moves_between_passes(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	uint64_t a[2], b[2];

	(void)state;
	ls_run_on(vs_loop_group_loop(g, 0), read_now, a);
	ls_sleep_ms(5);
	ls_run_on(vs_loop_group_loop(g, 0), read_now, b);
	assert_true(a[0] <= a[1]);
	assert_true(b[0] <= b[1]);
	assert_true(b[0] >= a[0] + 5000000ull);
	vs_loop_group_destroy(g);
}

/* ---------------------------------------------------------------- group */

struct where {
	struct vs_loop *current;
};

static void record_current(void *arg)
{
	((struct where *)arg)->current = vs_loop_current();
}

static void test_group_pick_and_current(void **state)
{
	struct vs_loop_group *g = ls_group(3);
	bool seen[3] = { false };
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct vs_loop_group *all;

	(void)state;
	assert_int_equal(vs_loop_group_size(g), 3);
	assert_null(vs_loop_group_loop(g, 3));
	assert_null(vs_loop_current());
	for (unsigned i = 0; i < 3; i++) {
		struct where w = { 0 };
		struct vs_loop *l = vs_loop_group_loop(g, i);

		assert_int_equal(vs_loop_index(l), i);
		ls_run_on(l, record_current, &w);
		assert_ptr_equal(w.current, l);
	}
	/* In turn: three picks, three different loops. */
	for (int i = 0; i < 3; i++)
		seen[vs_loop_index(vs_loop_group_pick(g, VS_LOOP_PICK_NEXT))] = true;
	assert_true(seen[0] && seen[1] && seen[2]);
	/* By hint: always the same one. */
	assert_ptr_equal(vs_loop_group_pick(g, 7), vs_loop_group_pick(g, 7));
	assert_ptr_equal(vs_loop_group_pick(g, 7), vs_loop_group_loop(g, 7 % 3));
	vs_loop_group_destroy(g);

	all = vs_loop_group_create(0, "test");   /* 0: one per CPU */
	assert_non_null(all);
	assert_int_equal(vs_loop_group_size(all), (unsigned)(ncpu > 0 ? ncpu : 1));
	vs_loop_group_destroy(all);              /* never started: fine */
}

/* ---------------------------------------------------------------- stop */

struct counted_msg {
	struct vs_loop_msg m;
	struct ls_counter *ran;
};

static void counted_fn(struct vs_loop_msg *m)
{
	ls_counter_add(CONTAINER(m, struct counted_msg, m)->ran, 1);
}

struct joiner {
	struct vs_loop_group *g;
	_Atomic bool joined;
};

static void *join_thread(void *arg)
{
	struct joiner *j = arg;

	vs_loop_group_join(j->g);
	j->joined = true;
	return NULL;
}

static void test_stop_waits_for_holds_and_runs_what_was_posted(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	struct vs_loop *loop = vs_loop_group_loop(g, 0);
	struct counted_msg msgs[101];
	struct ls_counter ran;
	struct joiner j = { .g = g };
	pthread_t th;

	(void)state;
	ls_counter_init(&ran);
	for (int i = 0; i < 101; i++)
		msgs[i] = (struct counted_msg){ .m.fn = counted_fn, .ran = &ran };
	vs_loop_hold(loop);
	vs_loop_group_stop(g);
	assert_int_equal(pthread_create(&th, NULL, join_thread, &j), 0);
	/* Held: still serving its messages, not gone. */
	vs_loop_post(loop, &msgs[0].m);
	assert_true(ls_counter_wait(&ran, 1, 5000));
	ls_sleep_ms(50);
	assert_false(j.joined);
	/* Posted before the last release: run before it exits. */
	for (int i = 1; i < 101; i++)
		vs_loop_post(loop, &msgs[i].m);
	vs_loop_release(loop);
	pthread_join(th, NULL);
	assert_true(j.joined);
	assert_int_equal(ls_counter_get(&ran), 101);
	vs_loop_group_destroy(g);
	ls_counter_destroy(&ran);
}

/* ---------------------------------------------------------------- spinning */

struct spinner {
	struct vs_loop_spin s;
	struct vs_loop *loop;
	_Atomic uint64_t spin_for;
	atomic_int asked, idles;
	int idles_when_m2_ran;
	struct vs_loop_msg m1, m2;
	struct ls_counter ran;
};

static uint64_t spinner_ns(struct vs_loop_spin *s)
{
	struct spinner *sp = CONTAINER(s, struct spinner, s);

	sp->asked++;
	return sp->spin_for;
}

static void spinner_idle(struct vs_loop_spin *s)
{
	CONTAINER(s, struct spinner, s)->idles++;
}

static struct spinner *spn;

static void spin_install(void *arg)
{
	(void)arg;
	vs_loop_spin_add(spn->loop, &spn->s);
}

static void spin_remove(void *arg)
{
	(void)arg;
	vs_loop_spin_del(spn->loop, &spn->s);
}

static void m1_fn(struct vs_loop_msg *m)
{
	(void)m;
	ls_counter_add(&spn->ran, 1);
}

static void m2_fn(struct vs_loop_msg *m)
{
	(void)m;
	spn->idles_when_m2_ran = spn->idles;
	ls_counter_add(&spn->ran, 1);
}

static void test_spin_hook_polls_before_blocking(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	struct spinner sp = { .s = { .spin_ns = spinner_ns, .idle = spinner_idle },
	                      .loop = vs_loop_group_loop(g, 0), .m1.fn = m1_fn, .m2.fn = m2_fn };
	uint64_t t0;
	int asked;

	(void)state;
	spn = &sp;
	ls_counter_init(&sp.ran);
	sp.spin_for = 400000000ull;     /* 400 ms: longer than the test waits below */
	ls_run_on(sp.loop, spin_install, NULL);
	/* The loop now spins before it would block; a message posted during
	 * the spin ends it at once and the spin does not count as idle. */
	ls_sleep_ms(20);
	t0 = vs_loop_clock_ns();
	vs_loop_post(sp.loop, &sp.m2);
	assert_true(ls_counter_wait(&sp.ran, 1, 5000));
	assert_true(vs_loop_clock_ns() - t0 < 300000000ull);
	assert_int_equal(sp.idles_when_m2_ran, 0);
	assert_true(sp.asked >= 1);
	/* A spin that sees nothing: idle() runs, then the loop blocks. */
	sp.spin_for = 1000000ull;
	vs_loop_post(sp.loop, &sp.m1);
	assert_true(ls_counter_wait(&sp.ran, 2, 5000));
	for (int i = 0; i < 500 && sp.idles == 0; i++)
		ls_sleep_ms(10);
	assert_true(sp.idles >= 1);
	/* Asking for nothing: no spin, so no idle either. */
	sp.spin_for = 0;
	vs_loop_post(sp.loop, &sp.m1);
	assert_true(ls_counter_wait(&sp.ran, 3, 5000));
	ls_sleep_ms(20);
	{
		int idles = sp.idles;

		vs_loop_post(sp.loop, &sp.m1);
		assert_true(ls_counter_wait(&sp.ran, 4, 5000));
		ls_sleep_ms(20);
		assert_int_equal(sp.idles, idles);
	}
	/* Removed: never asked again. */
	ls_run_on(sp.loop, spin_remove, NULL);
	asked = sp.asked;
	vs_loop_post(sp.loop, &sp.m1);
	assert_true(ls_counter_wait(&sp.ran, 5, 5000));
	ls_sleep_ms(20);
	assert_int_equal(sp.asked, asked);
	vs_loop_group_destroy(g);
	ls_counter_destroy(&sp.ran);
	spn = NULL;
}

/* ---------------------------------------------------------------- pollers */

/*
 * A mailbox another thread fills without telling the loop, as a service
 * fills its completion ring: `posted` counts what it put in, `taken` what
 * the loop took.  The producer rings the eventfd only when bell_wanted is
 * set, as the protocol's cq_flags WAKE says; the poller clears it while
 * the loop spins and sets it in arm(), before the loop blocks.
 */
struct mailbox {
	struct vs_loop_poller p;
	struct vs_loop_fd h;
	struct vs_loop *loop;
	int efd;
	_Atomic uint64_t posted, taken;
	atomic_bool bell_wanted;
	_Atomic uint64_t spin;
	atomic_int polls_found, bell_takes, arms, bells, wrong_thread;
	struct ls_counter got;
};

static struct mailbox *mbx;

/* by_bell: counted in bell_takes, else in polls_found (before the
 * counter says it is taken) */
static bool mbx_take(struct mailbox *b, bool by_bell)
{
	uint64_t posted = atomic_load(&b->posted), taken = atomic_load(&b->taken);

	if (vs_loop_current() != b->loop)
		b->wrong_thread++;
	if (posted == taken)
		return false;
	atomic_store(&b->taken, posted);
	if (by_bell)
		b->bell_takes++;
	else
		b->polls_found++;
	ls_counter_add(&b->got, posted - taken);
	return true;
}

static bool mbx_poll(struct vs_loop_poller *p)
{
	return mbx_take(CONTAINER(p, struct mailbox, p), false);
}

static uint64_t mbx_spin_ns(struct vs_loop_poller *p)
{
	struct mailbox *b = CONTAINER(p, struct mailbox, p);
	uint64_t spin = atomic_load(&b->spin);

	if (spin)
		atomic_store(&b->bell_wanted, false);
	return spin;
}

static bool mbx_arm(struct vs_loop_poller *p)
{
	struct mailbox *b = CONTAINER(p, struct mailbox, p);

	b->arms++;
	atomic_store(&b->bell_wanted, true);        /* seq_cst: the fence */
	return atomic_load(&b->posted) != atomic_load(&b->taken);
}

static void mbx_bell(struct vs_loop_fd *h, uint32_t events)
{
	struct mailbox *b = CONTAINER(h, struct mailbox, h);
	eventfd_t v;

	(void)events;
	(void)eventfd_read(b->efd, &v);
	mbx_take(b, true);
}

static void mbx_post(struct mailbox *b, uint64_t n)
{
	atomic_fetch_add(&b->posted, n);            /* seq_cst: the fence */
	if (atomic_load(&b->bell_wanted)) {
		b->bells++;
		(void)eventfd_write(b->efd, 1);
	}
}

static void mbx_nothing(void *arg)
{
	(void)arg;
}

static void mbx_install(void *arg)
{
	(void)arg;
	vs_loop_poller_add(mbx->loop, &mbx->p);
}

static void mbx_remove(void *arg)
{
	(void)arg;
	vs_loop_poller_del(mbx->loop, &mbx->p);
	vs_loop_poller_del(mbx->loop, &mbx->p);     /* twice: ignored */
}

static void test_poller_takes_what_no_doorbell_announced(void **state)
{
	struct vs_loop_group *g = ls_group(1);
	struct mailbox b = { .p = { .poll = mbx_poll, .spin_ns = mbx_spin_ns, .arm = mbx_arm },
	                     .h.fn = mbx_bell, .loop = vs_loop_group_loop(g, 0) };
	int bells, polls, bell_takes;

	(void)state;
	mbx = &b;
	ls_counter_init(&b.got);
	b.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(b.efd >= 0);
	atomic_store(&b.bell_wanted, true);
	assert_int_equal(vs_loop_fd_add(b.loop, b.efd, VS_LOOP_IN, &b.h), 0);
	ls_run_on(b.loop, mbx_install, NULL);

	/* No spin asked: arm() runs before every block, so whatever the
	 * producer posts is taken, by the bell or by a look (none lost). */
	for (int i = 0; i < 2000; i++) {
		mbx_post(&b, 1);
		if (i % 100 == 0)
			ls_sleep_ms(1);
	}
	assert_true(ls_counter_wait(&b.got, 2000, 5000));
	assert_true(b.arms >= 1);

	/* A long spin asked: the bell is not wanted while the loop spins, and
	 * posts without one are taken by poll(), promptly. */
	atomic_store(&b.spin, 400000000ull);            /* 400 ms */
	mbx_post(&b, 1);                                /* wakes it: then it spins */
	assert_true(ls_counter_wait(&b.got, 2001, 5000));
	for (int i = 0; i < 200 && atomic_load(&b.bell_wanted); i++)
		ls_sleep_ms(1);
	assert_false(atomic_load(&b.bell_wanted));
	bells = b.bells;
	polls = b.polls_found;
	bell_takes = b.bell_takes;
	for (int i = 0; i < 50; i++) {
		uint64_t t0 = vs_loop_clock_ns();

		mbx_post(&b, 1);
		assert_true(ls_counter_wait(&b.got, 2002 + (uint64_t)i, 5000));
		assert_true(vs_loop_clock_ns() - t0 < 300000000ull);   /* not the spin's end */
	}
	assert_int_equal(b.bells, bells);
	/* each taken by a look, but one: a bell of the post that started
	 * the spin may be seen after its post was taken, and take the next */
	assert_int_equal(b.polls_found - polls + b.bell_takes - bell_takes, 50);
	assert_true(b.bell_takes - bell_takes <= 1);

	/* An fd event during the spin is still served promptly. */
	{
		uint64_t t0 = vs_loop_clock_ns();

		ls_run_on(b.loop, mbx_nothing, NULL);
		assert_true(vs_loop_clock_ns() - t0 < 300000000ull);
	}

	/* The spin over: arm() asks for the bell again before the loop
	 * blocks, and a post then rings it. */
	atomic_store(&b.spin, 1000000ull);              /* 1 ms */
	for (int i = 0; i < 500 && !atomic_load(&b.bell_wanted); i++)
		ls_sleep_ms(1);
	assert_true(atomic_load(&b.bell_wanted));
	atomic_store(&b.spin, 0);
	ls_sleep_ms(5);
	bells = b.bells;
	mbx_post(&b, 1);
	assert_true(ls_counter_wait(&b.got, 2052, 5000));
	assert_int_equal(b.bells, bells + 1);

	/* Removed: never looked at again, so a post without a bell stays. */
	ls_run_on(b.loop, mbx_remove, NULL);
	atomic_store(&b.bell_wanted, false);
	atomic_fetch_add(&b.posted, 1);
	ls_run_on(b.loop, mbx_nothing, NULL);
	ls_sleep_ms(20);
	assert_int_equal(atomic_load(&b.taken), 2052);
	assert_int_equal(b.wrong_thread, 0);
	vs_loop_group_destroy(g);
	close(b.efd);
	ls_counter_destroy(&b.got);
	mbx = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_handler_sees_its_events_on_the_loop),
		cmocka_unit_test(test_posts_from_many_threads_all_run_in_order),
		cmocka_unit_test(test_post_from_the_loop_thread_is_deferred),
		cmocka_unit_test(test_late_calls_and_the_clock_follow_the_batch),
		cmocka_unit_test(test_cached_clock_moves_between_passes),
		cmocka_unit_test(test_group_pick_and_current),
		cmocka_unit_test(test_stop_waits_for_holds_and_runs_what_was_posted),
		cmocka_unit_test(test_spin_hook_polls_before_blocking),
		cmocka_unit_test(test_poller_takes_what_no_doorbell_announced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
