/* SPDX-License-Identifier: MIT */
/*
 * Task sets per I_T nexus (SPC-4 7.5.7 control mode page TST 001b; the
 * port's per-nexus queues, src/port/queue.c): ORDERED and HEAD OF QUEUE
 * within each nexus, the LUN-wide depth shared between nexuses without one
 * starving another, resets, forced removal and nexus loss across several
 * nexuses with I/O in flight on each (every SRB completes exactly once),
 * and concurrent submit/complete from several threads on several nexuses
 * of one LUN.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_fabric.h"
#include "test_port_mock.h"

static const uint8_t tur[6] = { TEST_UNIT_READY };

static struct tf *mk(struct mock **m, enum mock_mode mode, uint32_t depth, uint32_t abort_ms)
{
	struct vs_port_config cfg = { .queue_depth = depth, .default_timeout_ms = 30000,
	                              .abort_timeout_ms = abort_ms };

	*m = mock_new(mode);
	struct tf *tf = tf_create(&mock_miniport, &cfg, *m);
	assert_non_null(tf);
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	return tf;
}

static void finish(struct tf *tf, struct mock *m)
{
	while (mock_complete_all(m))    /* late completions of zombies, the rest */
		;
	assert_int_equal(tf_double_completions(tf), 0);
	assert_int_equal(mock_read(m, &m->order_violations), 0);
	tf_destroy(tf);
	assert_int_equal(m->attached, m->detached);
	mock_free(m);
}

/* a nexus with its new-nexus unit attentions already eaten */
static struct vs_nexus *nexus_ready(struct tf *tf, struct mock *m, const char *name, int nluns)
{
	struct vs_nexus *n = tf_nexus(tf, name);
	enum mock_mode old = m->mode;

	assert_non_null(n);
	m->mode = MOCK_INLINE;
	for (int l = 0; l < nluns; l++)
		assert_int_equal(tf_clear_ua(tf, n, (uint64_t)l), 0);
	m->mode = old;
	return n;
}

static struct tf_task *sub(struct tf *tf, struct vs_nexus *n, uint64_t lun, uint8_t attr,
                           uint64_t tag)
{
	struct tf_task *t = tf_submit_ex(tf, n, lun, tur, 6, VS_DIR_NONE, NULL, 0, attr, tag, 0);

	assert_non_null(t);
	return t;
}

static uint64_t started_tag(struct mock *m, int i)
{
	pthread_mutex_lock(&m->mu);
	uint64_t t = i < m->nstarted ? m->started_tags[i] : UINT64_MAX;
	pthread_mutex_unlock(&m->mu);
	return t;
}

static void wait_status(struct tf_task *t, uint8_t srb_status, uint8_t status)
{
	struct tf_result r;

	assert_int_equal(tf_wait(t, &r), 0);
	assert_int_equal(r.srb_status, srb_status);
	assert_int_equal(r.status, status);
}

static void wait_good(struct tf_task *t)
{
	wait_status(t, VS_SRB_SUCCESS, SAM_STAT_GOOD);
}

/* SAM-5 8.6.3 within each task set: A's ORDERED task waits for A's older
 * task and holds back A's younger ones, and nothing of B. */
static void test_ordered_per_nexus(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, MOCK_MANUAL, 16, 50);
	(void)state;

	struct vs_nexus *a = nexus_ready(tf, m, "iqn.a", 1);
	struct vs_nexus *b = nexus_ready(tf, m, "iqn.b", 1);
	int base = mock_read(m, &m->nstarted);

	struct tf_task *a1 = sub(tf, a, 0, VS_TASK_SIMPLE, 1);
	struct tf_task *ao = sub(tf, a, 0, VS_TASK_ORDERED, 2);
	struct tf_task *b1 = sub(tf, b, 0, VS_TASK_SIMPLE, 11);
	struct tf_task *bo = sub(tf, b, 0, VS_TASK_ORDERED, 12);
	/* each ORDERED waits for its own nexus's older task only */
	assert_int_equal(mock_npending(m), 2);
	assert_int_equal(started_tag(m, base), 1);
	assert_int_equal(started_tag(m, base + 1), 11);
	assert_true(mock_complete_one(m));              /* a1 */
	wait_good(a1);
	assert_int_equal(started_tag(m, base + 2), 2);  /* A's ORDERED, B's still waits */
	assert_int_equal(mock_npending(m), 2);
	assert_true(mock_complete_one(m));              /* b1 */
	wait_good(b1);
	assert_int_equal(started_tag(m, base + 3), 12);
	/* both ORDERED tasks run at once: while each runs, its own nexus's
	 * younger tasks wait, whatever the other nexus does */
	struct tf_task *a2 = sub(tf, a, 0, VS_TASK_SIMPLE, 3);
	struct tf_task *b2 = sub(tf, b, 0, VS_TASK_SIMPLE, 13);
	assert_int_equal(mock_npending(m), 2);
	assert_true(mock_complete_one(m));              /* ao */
	wait_good(ao);
	assert_int_equal(started_tag(m, base + 4), 3);
	assert_int_equal(mock_npending(m), 2);
	assert_true(mock_complete_one(m));              /* bo */
	wait_good(bo);
	assert_int_equal(started_tag(m, base + 5), 13);
	mock_complete_all(m);
	wait_good(a2);
	wait_good(b2);
	finish(tf, m);
}

/* SAM-5 8.6.4 within each task set: HEAD OF QUEUE starts at once beyond
 * the LUN's depth, before its own nexus's held tasks; while the LUN is
 * busy it waits at the front of its own queue. */
static void test_head_of_queue_per_nexus(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, MOCK_MANUAL, 2, 50);
	struct tf_task *t[8];
	(void)state;

	struct vs_nexus *a = nexus_ready(tf, m, "iqn.a", 1);
	struct vs_nexus *b = nexus_ready(tf, m, "iqn.b", 1);
	int base = mock_read(m, &m->nstarted);

	t[0] = sub(tf, a, 0, VS_TASK_SIMPLE, 1);
	t[1] = sub(tf, a, 0, VS_TASK_SIMPLE, 2);
	t[2] = sub(tf, a, 0, VS_TASK_SIMPLE, 3);        /* held: the LUN is at depth */
	t[3] = sub(tf, b, 0, VS_TASK_SIMPLE, 11);       /* held too: the depth is shared */
	assert_int_equal(mock_npending(m), 2);
	t[4] = sub(tf, b, 0, VS_TASK_HEAD_OF_QUEUE, 12);
	t[5] = sub(tf, a, 0, VS_TASK_HEAD_OF_QUEUE, 4);
	assert_int_equal(mock_npending(m), 4);
	assert_int_equal(started_tag(m, base + 2), 12);
	assert_int_equal(started_tag(m, base + 3), 4);
	struct vs_lun_stats st;
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.in_flight, 4);
	assert_int_equal(st.held, 2);

	vs_port_busy(m->luns[0], 0);
	t[6] = sub(tf, b, 0, VS_TASK_HEAD_OF_QUEUE, 13);
	assert_int_equal(mock_npending(m), 4);
	vs_port_ready(m->luns[0]);
	assert_int_equal(mock_npending(m), 5);
	assert_int_equal(started_tag(m, base + 4), 13);

	/* each SIMPLE task done frees a slot for a held one (A's, then B's);
	 * a HEAD OF QUEUE one frees none: it never took one */
	for (int i = 0; i < 3; i++)
		assert_true(mock_complete_one(m));      /* 1, 2, 12 */
	assert_int_equal(mock_npending(m), 4);
	assert_int_equal(mock_read(m, &m->nstarted), base + 7);
	while (mock_complete_all(m))
		;
	for (int i = 0; i < 7; i++)
		wait_good(t[i]);
	assert_true(mock_read(m, &m->max_in_flight) <= 2 + 3);
	finish(tf, m);
}

/* The LUN-wide depth: never more than `depth` SIMPLE tasks in the
 * miniport whichever nexus sent them, and a nexus arriving at a full LUN
 * is not starved by one that keeps it full: freed slots go round robin
 * to the waiting nexuses (see src/port/depth.c). */
static void test_depth_shared_fairly(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, MOCK_MANUAL, 4, 50);
	struct tf_task *ta[20], *tb[4];
	(void)state;

	struct vs_nexus *a = nexus_ready(tf, m, "iqn.a", 1);
	struct vs_nexus *b = nexus_ready(tf, m, "iqn.b", 1);
	int base = mock_read(m, &m->nstarted);

	for (int i = 0; i < 20; i++)
		ta[i] = sub(tf, a, 0, VS_TASK_SIMPLE, 100 + i);
	for (int i = 0; i < 4; i++)
		tb[i] = sub(tf, b, 0, VS_TASK_SIMPLE, 200 + i);
	assert_int_equal(mock_npending(m), 4);
	struct vs_lun_stats st;
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.in_flight, 4);
	assert_int_equal(st.held, 20);
	assert_int_equal(st.queue_depth, 4);

	/* eight completions: four slots to A's held tasks, four to B's */
	for (int i = 0; i < 8; i++) {
		assert_true(mock_complete_one(m));
		assert_int_equal(mock_npending(m), 4);
	}
	int nb = 0;
	for (int i = 0; i < 12; i++)
		nb += started_tag(m, base + i) >= 200;
	assert_int_equal(nb, 4);
	while (mock_complete_all(m))
		;
	/* A's tasks in arrival order, B's too */
	uint64_t next_a = 100, next_b = 200;
	for (int i = 0; i < 24; i++) {
		uint64_t tag = started_tag(m, base + i);
		if (tag >= 200)
			assert_int_equal(tag, next_b++);
		else
			assert_int_equal(tag, next_a++);
	}
	assert_int_equal(mock_read(m, &m->max_in_flight), 4);
	for (int i = 0; i < 20; i++)
		wait_good(ta[i]);
	for (int i = 0; i < 4; i++)
		wait_good(tb[i]);
	finish(tf, m);
}

/*
 * Four nexuses, two LUNs, I/O in flight and held on each: a LOGICAL UNIT
 * RESET from one nexus takes every task of LUN 0 (SAM-5 6.3.3: all task
 * sets), the requester's without status and the others' with TASK
 * ABORTED (TAS=1), and leaves LUN 1 alone; a TARGET WARM RESET then takes
 * LUN 1's.  The miniport never gives them back itself: each completes
 * exactly once, and its late completions only release them.
 */
static void test_resets_across_nexuses(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, MOCK_MANUAL, 8, 50);
	struct vs_nexus *n[4];
	struct tf_task *l0[4][5], *l1[4][3];
	char name[16];
	(void)state;

	assert_int_equal(vs_port_lun_add(tf_port(tf), 1, NULL), 0);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "iqn.n%d", i);
		n[i] = nexus_ready(tf, m, name, 2);
	}
	uint64_t before = tf_done_calls(tf);
	for (int k = 0; k < 5; k++)
		for (int i = 0; i < 4; i++)
			l0[i][k] = sub(tf, n[i], 0, VS_TASK_SIMPLE, (uint64_t)(10 * i + k));
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 4; i++)
			l1[i][k] = sub(tf, n[i], 1, VS_TASK_SIMPLE, (uint64_t)(100 + 10 * i + k));
	assert_int_equal(mock_npending(m), 16);         /* 8 per LUN, the rest held */

	assert_int_equal(tf_tmf(tf, n[2], VS_TMF_LOGICAL_UNIT_RESET, 0, 0), VS_TMF_COMPLETE);
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 5; k++) {
			assert_int_equal(tf_task_done_count(l0[i][k]), 1);
			if (i == 2)
				wait_status(l0[i][k], VS_SRB_ABORTED, SAM_STAT_TASK_ABORTED);
			else
				wait_status(l0[i][k], VS_SRB_SUCCESS, SAM_STAT_TASK_ABORTED);
		}
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 3; k++)
			assert_false(tf_task_done(l1[i][k]));
	assert_int_equal(tf_done_calls(tf) - before, 20);
	/* every nexus hears of the reset on LUN 0, none on LUN 1 */
	struct tf_result r;
	enum mock_mode old = m->mode;
	m->mode = MOCK_INLINE;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(tf_exec(tf, n[i], 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
		assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);
		assert_int_equal(r.asc, 0x29);
		assert_int_equal(r.ascq, 0x03);
	}
	m->mode = old;

	assert_int_equal(tf_tmf(tf, n[0], VS_TMF_TARGET_WARM_RESET, 0, 0), VS_TMF_COMPLETE);
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 3; k++)
			wait_status(l1[i][k], i == 0 ? VS_SRB_ABORTED : VS_SRB_SUCCESS,
			            SAM_STAT_TASK_ABORTED);
	assert_int_equal(tf_done_calls(tf) - before, 20 + 4 + 12);
	/* the miniport's late completions: released, not completed again */
	assert_true(mock_complete_all(m) > 0);
	assert_int_equal(tf_done_calls(tf) - before, 36);
	struct vs_lun_stats st;
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.aborts, 20);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.held, 0);
	finish(tf, m);
}

/* Forced LUN removal with tasks active and held on three nexuses: each
 * completes once with LOGICAL UNIT NOT SUPPORTED; the LUN comes back with
 * fresh task sets (the queues are reused, their counts are not). */
static void test_forced_remove_across_nexuses(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, MOCK_MANUAL, 4, 30);
	struct vs_nexus *n[3];
	struct tf_task *t[3][6];
	struct tf_result r;
	char name[16];
	(void)state;

	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "iqn.r%d", i);
		n[i] = nexus_ready(tf, m, name, 1);
	}
	uint64_t before = tf_done_calls(tf);
	for (int k = 0; k < 6; k++)
		for (int i = 0; i < 3; i++)
			t[i][k] = sub(tf, n[i], 0, k == 3 ? VS_TASK_ORDERED : VS_TASK_SIMPLE,
			              (uint64_t)(10 * i + k));
	assert_int_equal(mock_npending(m), 4);
	assert_int_equal(vs_port_lun_users(tf_port(tf), 0), 3);
	assert_int_equal(vs_port_lun_remove(tf_port(tf), 0, false), -EBUSY);
	assert_int_equal(vs_port_lun_remove(tf_port(tf), 0, true), 0);
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 6; k++) {
			assert_int_equal(tf_task_done_count(t[i][k]), 1);
			assert_int_equal(tf_wait(t[i][k], &r), 0);
			assert_int_equal(r.srb_status, VS_SRB_NO_DEVICE);
			assert_int_equal(r.sense_key, SENSE_ILLEGAL_REQUEST);
			assert_int_equal(r.asc, 0x25);
		}
	assert_int_equal(tf_done_calls(tf) - before, 18);
	/* the four the miniport still had: its late completions only release */
	assert_int_equal(mock_complete_all(m), 4);
	assert_int_equal(tf_done_calls(tf) - before, 18);

	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	struct vs_lun_stats st;
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.in_flight + st.held + st.other_ops + st.aborts, 0);
	assert_int_equal(vs_port_lun_users(tf_port(tf), 0), 0);
	m->mode = MOCK_INLINE;
	for (int i = 0; i < 3; i++) {
		/* POWER ON first for each nexus on the new LUN (then REPORTED
		 * LUNS DATA HAS CHANGED), then the depth again */
		assert_int_equal(tf_exec(tf, n[i], 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
		assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);
		assert_int_equal(r.asc, 0x29);
		assert_int_equal(tf_clear_ua(tf, n[i], 0), 0);
	}
	m->mode = MOCK_MANUAL;
	struct tf_task *x[5];
	for (int k = 0; k < 5; k++)
		x[k] = sub(tf, n[k % 3], 0, VS_TASK_SIMPLE, (uint64_t)(500 + k));
	assert_int_equal(mock_npending(m), 4);
	while (mock_complete_all(m))
		;
	for (int k = 0; k < 5; k++)
		wait_good(x[k]);
	finish(tf, m);
}

/* A nexus that goes away with tasks active and held: its own complete
 * once, ABORTED; the depth slots they held go to the nexus that waits;
 * it no longer counts as a user of the LUN. */
static void test_nexus_close_hands_slots_on(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, MOCK_MANUAL, 2, 50);
	struct tf_task *ta[4], *tb[2];
	(void)state;

	struct vs_nexus *a = nexus_ready(tf, m, "iqn.a", 1);
	struct vs_nexus *b = nexus_ready(tf, m, "iqn.b", 1);
	m->abort_completes = true;
	for (int i = 0; i < 4; i++)
		ta[i] = sub(tf, a, 0, VS_TASK_SIMPLE, 1 + i);
	for (int i = 0; i < 2; i++)
		tb[i] = sub(tf, b, 0, VS_TASK_SIMPLE, 11 + i);
	assert_int_equal(mock_npending(m), 2);
	assert_int_equal(vs_port_lun_users(tf_port(tf), 0), 2);
	uint32_t a_id = a->id;
	vs_port_nexus_close(tf_port(tf), a);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(tf_task_done_count(ta[i]), 1);
		wait_status(ta[i], VS_SRB_ABORTED, SAM_STAT_TASK_ABORTED);
	}
	assert_int_equal(mock_npending(m), 2);          /* B's two got the slots */
	assert_int_equal(vs_port_lun_users(tf_port(tf), 0), 1);
	mock_complete_all(m);
	for (int i = 0; i < 2; i++)
		wait_good(tb[i]);
	/* a new nexus takes the freed id and queue, starting afresh */
	struct vs_nexus *c = tf_nexus(tf, "iqn.c");
	struct tf_result r;
	assert_int_equal(c->id, a_id);
	assert_int_equal(vs_port_lun_users(tf_port(tf), 0), 1);
	m->mode = MOCK_INLINE;
	assert_int_equal(tf_exec(tf, c, 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);
	assert_int_equal(r.asc, 0x29);
	assert_int_equal(vs_port_lun_users(tf_port(tf), 0), 2);
	finish(tf, m);
}

/* ---- several threads, one nexus each, one LUN ---- */

struct worker {
	struct tf *tf;
	struct vs_nexus *n;
	int rounds;
	int good;
	int hoq;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct tf_task *t[32];

	for (int round = 0; round < w->rounds; round++) {
		for (int i = 0; i < 32; i++) {
			uint8_t attr = (i % 11 == 5) ? VS_TASK_ORDERED
			             : (i % 13 == 7) ? VS_TASK_HEAD_OF_QUEUE : VS_TASK_SIMPLE;
			w->hoq += attr == VS_TASK_HEAD_OF_QUEUE;
			t[i] = tf_submit_ex(w->tf, w->n, 0, tur, 6, VS_DIR_NONE, NULL, 0, attr,
			                    (uint64_t)i, 0);
		}
		for (int i = 0; i < 32; i++) {
			struct tf_result r;
			if (t[i] && tf_wait(t[i], &r) == 0 && r.status == SAM_STAT_GOOD)
				w->good++;
		}
	}
	return NULL;
}

/* Submit and complete at once from four threads on four nexuses of one
 * LUN whose depth (3) makes them wait for each other's slots; the
 * miniport completes from its own thread, or inline (then a completion
 * starts another nexus's held task from inside start_io, the deferred
 * kick path).  Every task completes once, GOOD; ORDERED holds within
 * each nexus (the mock checks every start); the depth holds. */
static void threads_case(enum mock_mode mode)
{
	enum { T = 4, ROUNDS = 24 };
	struct mock *m;
	struct tf *tf = mk(&m, mode, 3, 50);
	struct worker w[T];
	pthread_t th[T];
	char name[16];
	int good = 0, hoq = 0;

	for (int i = 0; i < T; i++) {
		snprintf(name, sizeof(name), "iqn.t%d", i);
		w[i] = (struct worker){ tf, nexus_ready(tf, m, name, 1), ROUNDS, 0, 0 };
	}
	uint64_t before = tf_done_calls(tf);
	struct vs_lun_stats st0, st;
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st0), 0);
	for (int i = 0; i < T; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		good += w[i].good;
		hoq += w[i].hoq;
	}
	assert_int_equal(good, T * ROUNDS * 32);
	assert_int_equal(tf_done_calls(tf) - before, T * ROUNDS * 32);
	assert_int_equal(mock_read(m, &m->order_violations), 0);
	/* depth 3 plus at most the HEAD OF QUEUE ones, which take no slot */
	assert_true(mock_read(m, &m->max_in_flight) <= 3 + hoq);
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.other_ops - st0.other_ops, T * ROUNDS * 32);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.held, 0);
	finish(tf, m);
}

static void test_threads_many_nexuses(void **state)
{
	(void)state;
	threads_case(MOCK_THREAD);
	threads_case(MOCK_INLINE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ordered_per_nexus),
		cmocka_unit_test(test_head_of_queue_per_nexus),
		cmocka_unit_test(test_depth_shared_fairly),
		cmocka_unit_test(test_resets_across_nexuses),
		cmocka_unit_test(test_forced_remove_across_nexuses),
		cmocka_unit_test(test_nexus_close_hands_slots_on),
		cmocka_unit_test(test_threads_many_nexuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
