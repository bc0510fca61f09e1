/* SPDX-License-Identifier: MIT */
/*
 * Port queueing: per-LUN queue depth and hold-off in arrival order, TASK
 * SET FULL, task attributes (SAM-5 8.6), StorPortBusy/Ready, pause/resume,
 * inline completion without unbounded recursion, and a concurrent stress.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_fabric.h"
#include "test_port_mock.h"

static const uint8_t tur[6] = { TEST_UNIT_READY };

static void count_done(struct vs_srb *srb)
{
	(*(int *)srb->done_ctx)++;
}

static struct tf *mk(struct mock **m, enum mock_mode mode, uint32_t depth, uint32_t max_held)
{
	struct vs_port_config cfg = { .queue_depth = depth, .max_held = max_held,
	                              .default_timeout_ms = 20000 };
	*m = mock_new(mode);
	struct tf *tf = tf_create(&mock_miniport, &cfg, *m);
	assert_non_null(tf);
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	return tf;
}

static void done_tf(struct tf *tf, struct mock *m)
{
	assert_int_equal(tf_double_completions(tf), 0);
	tf_destroy(tf);
	mock_free(m);
}

static struct tf_task *sub(struct tf *tf, struct vs_nexus *n, uint8_t attr, uint64_t tag)
{
	struct tf_task *t = tf_submit_ex(tf, n, 0, tur, 6, VS_DIR_NONE, NULL, 0, attr, tag, 0);
	assert_non_null(t);
	return t;
}

static void wait_good(struct tf_task *t)
{
	struct tf_result r;
	assert_int_equal(tf_wait(t, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
}

static void test_depth_and_order(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, MOCK_MANUAL, 4, 0);
	struct tf_task *t[20];
	struct vs_lun_stats st;
	(void)state;

	struct vs_nexus *n = tf_nexus(tf, "iqn.a");
	m->mode = MOCK_INLINE;
	assert_int_equal(tf_clear_ua(tf, n, 0), 0);
	m->mode = MOCK_MANUAL;
	m->nstarted = 0;
	m->max_in_flight = 0;

	for (int i = 0; i < 20; i++)
		t[i] = sub(tf, n, VS_TASK_SIMPLE, 1000 + i);
	assert_int_equal(mock_npending(m), 4);
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.in_flight, 4);
	assert_int_equal(st.held, 16);
	assert_int_equal(st.queue_depth, 4);
	for (int i = 0; i < 20; i++) {
		assert_true(mock_complete_one(m));
		assert_true(mock_npending(m) <= 4);
	}
	for (int i = 0; i < 20; i++)
		wait_good(t[i]);
	assert_int_equal(m->max_in_flight, 4);
	assert_int_equal(m->nstarted, 20);
	for (int i = 0; i < 20; i++)
		assert_int_equal(m->started_tags[i], 1000 + i);     /* arrival order */
	done_tf(tf, m);
}

static void test_task_set_full(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, MOCK_MANUAL, 2, 4);
	struct tf_task *t[6];
	struct tf_result r;
	struct vs_lun_stats st;
	(void)state;

	for (int i = 0; i < 6; i++)
		t[i] = sub(tf, NULL, VS_TASK_SIMPLE, i + 1);
	struct tf_task *x = sub(tf, NULL, VS_TASK_SIMPLE, 99);
	assert_int_equal(tf_wait(x, &r), 0);           /* answered at once */
	assert_int_equal(r.status, SAM_STAT_TASK_SET_FULL);
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.task_set_full, 1);
	assert_int_equal(st.held, 4);
	mock_complete_all(m);
	while (mock_complete_all(m))
		;
	for (int i = 0; i < 6; i++)
		wait_good(t[i]);
	done_tf(tf, m);
}

static bool pending_is(struct mock *m, int n)
{
	return mock_npending(m) == n;
}

static void test_ordered(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, MOCK_MANUAL, 8, 0);
	(void)state;

	struct tf_task *s1 = sub(tf, NULL, VS_TASK_SIMPLE, 1);
	struct tf_task *s2 = sub(tf, NULL, VS_TASK_SIMPLE, 2);
	struct tf_task *o3 = sub(tf, NULL, VS_TASK_ORDERED, 3);
	struct tf_task *s4 = sub(tf, NULL, VS_TASK_SIMPLE, 4);
	/* ORDERED waits for older tasks; younger ones wait behind it */
	assert_true(pending_is(m, 2));
	assert_true(mock_complete_one(m));
	wait_good(s1);
	assert_true(pending_is(m, 1));
	assert_true(mock_complete_one(m));
	wait_good(s2);
	assert_true(pending_is(m, 1));
	assert_int_equal(m->started_tags[2], 3);
	/* while ORDERED runs, nothing else starts */
	struct tf_task *s5 = sub(tf, NULL, VS_TASK_SIMPLE, 5);
	assert_true(pending_is(m, 1));
	assert_true(mock_complete_one(m));
	wait_good(o3);
	assert_true(pending_is(m, 2));
	assert_int_equal(m->started_tags[3], 4);
	assert_int_equal(m->started_tags[4], 5);
	mock_complete_all(m);
	wait_good(s4);
	wait_good(s5);
	done_tf(tf, m);
}

static void test_head_of_queue(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, MOCK_MANUAL, 2, 0);
	struct tf_task *t[8];
	(void)state;

	t[0] = sub(tf, NULL, VS_TASK_SIMPLE, 1);
	t[1] = sub(tf, NULL, VS_TASK_SIMPLE, 2);
	t[2] = sub(tf, NULL, VS_TASK_SIMPLE, 3);
	t[3] = sub(tf, NULL, VS_TASK_ORDERED, 4);
	/* HEAD OF QUEUE starts before the held ones, beyond the depth limit */
	t[4] = sub(tf, NULL, VS_TASK_HEAD_OF_QUEUE, 5);
	assert_true(pending_is(m, 3));
	assert_int_equal(m->started_tags[2], 5);

	/* while busy, a HEAD OF QUEUE task waits at the front */
	vs_port_busy(m->luns[0], 0);
	t[5] = sub(tf, NULL, VS_TASK_HEAD_OF_QUEUE, 6);
	assert_true(pending_is(m, 3));
	struct vs_lun_stats st;
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.held, 3);
	vs_port_ready(m->luns[0]);
	assert_true(pending_is(m, 4));
	assert_int_equal(m->started_tags[3], 6);
	/* drain: then 3, then ORDERED 4 alone */
	for (int i = 0; i < 4; i++)
		assert_true(mock_complete_one(m));
	assert_true(pending_is(m, 1));
	assert_int_equal(m->started_tags[4], 3);
	assert_true(mock_complete_one(m));
	assert_true(pending_is(m, 1));
	assert_int_equal(m->started_tags[5], 4);
	assert_true(mock_complete_one(m));
	for (int i = 0; i < 6; i++)
		wait_good(t[i]);
	done_tf(tf, m);
}

static void test_busy_requests_to_complete(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, MOCK_MANUAL, 8, 2);
	struct tf_result r;
	(void)state;

	struct tf_task *a = sub(tf, NULL, VS_TASK_SIMPLE, 1);
	struct tf_task *b = sub(tf, NULL, VS_TASK_SIMPLE, 2);
	vs_port_busy(m->luns[0], 1);            /* one completion releases it */
	struct tf_task *c = sub(tf, NULL, VS_TASK_SIMPLE, 3);
	struct tf_task *d = sub(tf, NULL, VS_TASK_SIMPLE, 4);
	assert_true(pending_is(m, 2));
	/* over max_held while busy: BUSY status */
	struct tf_task *e = sub(tf, NULL, VS_TASK_SIMPLE, 5);
	assert_int_equal(tf_wait(e, &r), 0);
	assert_int_equal(r.status, SAM_STAT_BUSY);
	assert_true(mock_complete_one(m));
	assert_true(pending_is(m, 3));
	mock_complete_all(m);
	wait_good(a);
	wait_good(b);
	wait_good(c);
	wait_good(d);
	struct vs_lun_stats st;
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.busy, 1);

	/* the miniport calls busy from inside start_io */
	m->busy_once = true;
	a = sub(tf, NULL, VS_TASK_SIMPLE, 6);
	b = sub(tf, NULL, VS_TASK_SIMPLE, 7);
	assert_true(pending_is(m, 1));
	vs_port_ready(m->luns[0]);
	assert_true(pending_is(m, 2));
	mock_complete_all(m);
	wait_good(a);
	wait_good(b);
	done_tf(tf, m);
}

static void test_pause_resume(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, MOCK_INLINE, 8, 0);
	(void)state;

	vs_port_pause(tf_port(tf), 60000);
	struct tf_task *a = sub(tf, NULL, VS_TASK_SIMPLE, 1);
	assert_false(tf_task_done(a));
	vs_port_resume(tf_port(tf));
	wait_good(a);

	/* auto-resume after the timeout (timer thread) */
	vs_port_pause(tf_port(tf), 60);
	a = sub(tf, NULL, VS_TASK_SIMPLE, 2);
	assert_false(tf_task_done(a));
	struct tf_result r;
	assert_int_equal(tf_wait_ms(a, &r, 3000), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	done_tf(tf, m);
}

/* Held SRBs have a deadline too, from submit: behind a full queue or a LUN
 * left busy they time out (ABORTED COMMAND, COMMAND TIMEOUT BEFORE
 * PROCESSING, SPC-5 2Eh/01h) without reaching the miniport, once each;
 * the time spent held counts against an SRB that does get started. */
static void test_held_srbs_time_out(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, MOCK_MANUAL, 1, 0);
	struct tf_result r;
	(void)state;

	struct tf_task *a = tf_submit_ex(tf, NULL, 0, tur, 6, VS_DIR_NONE, NULL, 0,
	                                 VS_TASK_SIMPLE, 1, 60000);
	struct tf_task *b = tf_submit_ex(tf, NULL, 0, tur, 6, VS_DIR_NONE, NULL, 0,
	                                 VS_TASK_SIMPLE, 2, 100);
	assert_true(pending_is(m, 1));
	assert_int_equal(tf_wait_ms(b, &r, 3000), 0);
	assert_int_equal(r.srb_status, VS_SRB_TIMEOUT);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_ABORTED_COMMAND);
	assert_int_equal(r.asc, 0x2e);
	assert_int_equal(r.ascq, 0x01);
	assert_int_equal(mock_read(m, &m->nstarted), 1);   /* b never started */

	/* a LUN left busy: the held SRB still comes back */
	vs_port_busy(m->luns[0], 0);
	assert_true(mock_complete_one(m));
	wait_good(a);
	struct tf_task *c = tf_submit_ex(tf, NULL, 0, tur, 6, VS_DIR_NONE, NULL, 0,
	                                 VS_TASK_SIMPLE, 3, 100);
	assert_int_equal(tf_wait_ms(c, &r, 3000), 0);
	assert_int_equal(r.srb_status, VS_SRB_TIMEOUT);
	assert_int_equal(r.ascq, 0x01);

	/* held 300 ms of its 600: started once ready, it times out 600 ms
	 * after submit, not 600 ms after start (the mock gives it back as
	 * soon as the port asks) */
	m->abort_completes = true;
	struct tf_task *d = tf_submit_ex(tf, NULL, 0, tur, 6, VS_DIR_NONE, NULL, 0,
	                                 VS_TASK_SIMPLE, 4, 600);
	usleep(300000);
	vs_port_ready(m->luns[0]);
	assert_true(pending_is(m, 1));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(tf_wait_ms(d, &r, 3000), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(r.srb_status, VS_SRB_TIMEOUT);
	assert_int_equal(r.ascq, 0x02);                 /* during processing */
	long waited = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(waited < 550);
	struct vs_lun_stats st;
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.timeouts, 3);
	assert_int_equal(tf_double_completions(tf), 0);
	mock_complete_all(m);
	done_tf(tf, m);
}

/* 1000 held SRBs dispatched by an inline-completing miniport: the dispatch
 * loop must run them iteratively (ASan would catch a stack overflow). */
static void test_inline_no_recursion(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, MOCK_MANUAL, 1, 2000);
	struct vs_srb_pool *pool = vs_srb_pool_create(tf_port(tf), 1000, 0);
	struct vs_srb *s[1000];
	static int done_count;
	(void)state;

	done_count = 0;
	for (int i = 0; i < 1000; i++) {
		s[i] = vs_srb_get(pool);
		assert_non_null(s[i]);
		s[i]->cdb[0] = TEST_UNIT_READY;
		s[i]->cdb_len = 6;
		s[i]->tag = (uint64_t)i;
		s[i]->done = count_done;
		s[i]->done_ctx = &done_count;
		vs_port_submit(tf_port(tf), s[i]);
	}
	assert_null(vs_srb_get(pool));          /* get never allocates */
	assert_true(pending_is(m, 1));
	m->mode = MOCK_INLINE;
	assert_true(mock_complete_one(m));
	assert_int_equal(done_count, 1000);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(s[i]->scsi_status, SAM_STAT_GOOD);
		vs_srb_put(s[i]);
	}
	vs_srb_pool_destroy(pool);
	done_tf(tf, m);
}

struct stress {
	struct tf *tf;
	int n;
	int good;
};

static void *stress_main(void *arg)
{
	struct stress *s = arg;
	struct tf_task *t[32];

	for (int round = 0; round < s->n / 32; round++) {
		for (int i = 0; i < 32; i++) {
			uint8_t attr = (i % 11 == 5) ? VS_TASK_ORDERED
			             : (i % 13 == 7) ? VS_TASK_HEAD_OF_QUEUE : VS_TASK_SIMPLE;
			t[i] = tf_submit_ex(s->tf, NULL, 0, tur, 6, VS_DIR_NONE, NULL, 0, attr, 0, 0);
		}
		for (int i = 0; i < 32; i++) {
			struct tf_result r;
			if (t[i] && tf_wait(t[i], &r) == 0 && r.status == SAM_STAT_GOOD)
				s->good++;
		}
	}
	return NULL;
}

static void test_concurrent_stress(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, MOCK_THREAD, 4, 0);
	struct stress s[2] = { { tf, 2048, 0 }, { tf, 2048, 0 } };
	pthread_t th[2];
	(void)state;

	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, stress_main, &s[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(s[0].good + s[1].good, 4096);
	assert_int_equal(tf_done_calls(tf), 4096);
	/* depth 4 plus at most the HEAD OF QUEUE ones that bypass it */
	assert_true(m->max_in_flight <= 4 + 64);
	struct vs_lun_stats st;
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.other_ops, 4096);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.held, 0);
	done_tf(tf, m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_depth_and_order),
		cmocka_unit_test(test_task_set_full),
		cmocka_unit_test(test_ordered),
		cmocka_unit_test(test_head_of_queue),
		cmocka_unit_test(test_busy_requests_to_complete),
		cmocka_unit_test(test_pause_resume),
		cmocka_unit_test(test_held_srbs_time_out),
		cmocka_unit_test(test_inline_no_recursion),
		cmocka_unit_test(test_concurrent_stress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
