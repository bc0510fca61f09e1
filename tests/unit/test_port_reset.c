/* SPDX-License-Identifier: MIT */
/*
 * Taking SRBs back: timeout escalation (abort → LUN reset → adapter
 * reset), task management (SAM-5 7), forced LUN removal, connection loss.
 * Every test proves each SRB's done() ran exactly once and that a late
 * completion by the miniport neither completes twice nor frees early.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>

#include "test_fabric.h"
#include "test_port_mock.h"

static const uint8_t tur[6] = { TEST_UNIT_READY };

static struct tf *mk(struct mock **m, uint32_t depth, uint32_t timeout_ms, uint32_t abort_ms)
{
	struct vs_port_config cfg = { .queue_depth = depth, .default_timeout_ms = timeout_ms,
	                              .abort_timeout_ms = abort_ms };
	*m = mock_new(MOCK_MANUAL);
	struct tf *tf = tf_create(&mock_miniport, &cfg, *m);
	assert_non_null(tf);
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	return tf;
}

static void finish(struct tf *tf, struct mock *m)
{
	mock_complete_all(m);           /* late completions of zombies */
	assert_int_equal(tf_double_completions(tf), 0);
	tf_destroy(tf);
	assert_int_equal(m->attached, m->detached);
	mock_free(m);
}

static struct tf_task *sub(struct tf *tf, struct vs_nexus *n, uint64_t lun, uint64_t tag,
                           uint32_t timeout_ms)
{
	struct tf_task *t = tf_submit_ex(tf, n, lun, tur, 6, VS_DIR_NONE, NULL, 0,
	                                 VS_TASK_SIMPLE, tag, timeout_ms);
	assert_non_null(t);
	return t;
}

/* clear the new-nexus UAs with an inline miniport */
static struct vs_nexus *nexus_ready(struct tf *tf, struct mock *m, const char *name, int nluns)
{
	struct vs_nexus *n = tf_nexus(tf, name);
	enum mock_mode old = m->mode;

	m->mode = MOCK_INLINE;
	for (int l = 0; l < nluns; l++)
		assert_int_equal(tf_clear_ua(tf, n, (uint64_t)l), 0);
	m->mode = old;
	return n;
}

static void expect_ua(struct tf *tf, struct mock *m, struct vs_nexus *n, uint64_t lun,
                      int asc, int ascq)
{
	struct tf_result r;
	enum mock_mode old = m->mode;

	m->mode = MOCK_INLINE;
	assert_int_equal(tf_exec(tf, n, lun, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	m->mode = old;
	if (asc < 0) {
		assert_int_equal(r.status, SAM_STAT_GOOD);
		return;
	}
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);
	assert_int_equal(r.asc, asc);
	assert_int_equal(r.ascq, ascq);
}

/* The port gives the SRBs back first and then calls the miniport's
 * reset (reset.c), so a test that saw the SRBs complete waits for it. */
static bool reset_seen(struct mock *m, void *kind)
{
	return mock_read(m, &m->resets[*(enum vs_reset_kind *)kind]) > 0;
}

static void wait_reset(struct mock *m, enum vs_reset_kind kind)
{
	assert_true(mock_wait_for(m, reset_seen, &kind, 5000));
}

static void test_timeout_escalation(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, 8, 100, 60);
	struct tf_result r;
	(void)state;

	assert_int_equal(vs_port_lun_add(tf_port(tf), 1, NULL), 0);
	struct vs_nexus *n = nexus_ready(tf, m, "iqn.a", 2);
	struct tf_task *late = sub(tf, n, 0, 1, 0);
	struct tf_task *other = sub(tf, n, 0, 2, 60000);
	struct tf_task *far = sub(tf, n, 1, 3, 60000);

	/* deadline → abort_srb → (still there) LUN reset */
	assert_int_equal(tf_wait_ms(late, &r, 5000), 0);
	assert_int_equal(r.srb_status, VS_SRB_TIMEOUT);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_ABORTED_COMMAND);
	assert_int_equal(r.asc, 0x2e);
	assert_int_equal(r.ascq, 0x02);
	assert_int_equal(tf_wait_ms(other, &r, 5000), 0);
	assert_int_equal(r.srb_status, VS_SRB_BUS_RESET);
	assert_int_equal(r.status, SAM_STAT_TASK_ABORTED);
	assert_true(mock_read(m, &m->aborts) >= 1);
	wait_reset(m, VS_RESET_LUN);
	assert_int_equal(mock_read(m, &m->resets[VS_RESET_LUN]), 1);

	/* the miniport never lets go → adapter reset takes LUN 1's SRB too */
	assert_int_equal(tf_wait_ms(far, &r, 5000), 0);
	assert_int_equal(r.srb_status, VS_SRB_BUS_RESET);
	wait_reset(m, VS_RESET_ADAPTER);
	assert_int_equal(mock_read(m, &m->resets[VS_RESET_ADAPTER]), 1);
	assert_int_equal(mock_read(m, &m->resets[VS_RESET_LUN]), 1);
	assert_int_equal(tf_done_calls(tf), 2 * 2 + 3);    /* UA clears + 3 tasks */

	struct vs_lun_stats st;
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.resets, 2);         /* LUN reset + adapter reset */
	assert_int_equal(st.in_flight, 0);
	/* initiators learn about the reset */
	expect_ua(tf, m, n, 0, 0x29, 0x03);
	expect_ua(tf, m, n, 1, 0x29, 0x00);
	assert_int_equal(mock_npending(m), 3);  /* zombies still held by the miniport */
	finish(tf, m);
}

static _Atomic int g_done;
static void count_done(struct vs_srb *srb)
{
	(void)srb;
	g_done++;
}

static void test_late_completion_returns_to_pool(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, 8, 50, 30);
	struct vs_srb_pool *pool = vs_srb_pool_create(tf_port(tf), 1, 512);
	(void)state;

	size_t blen;
	struct vs_srb *s = vs_srb_get(pool);
	assert_non_null(s);
	assert_non_null(vs_srb_buffer(s, &blen));
	assert_int_equal(blen, 512);
	assert_int_equal(s->iovcnt, 1);
	assert_ptr_equal(s->iov[0].iov_base, vs_srb_buffer(s, NULL));
	assert_int_equal((uintptr_t)s->ext % 16, 0);
	s->cdb[0] = TEST_UNIT_READY;
	s->cdb_len = 6;
	s->done = count_done;
	g_done = 0;
	vs_port_submit(tf_port(tf), s);
	for (int i = 0; i < 3000 && g_done == 0; i++)
		usleep(1000);
	assert_int_equal(g_done, 1);
	assert_int_equal(s->srb_status, VS_SRB_TIMEOUT);
	vs_srb_put(s);
	/* the miniport still holds it: not back in the pool yet */
	assert_null(vs_srb_get(pool));
	usleep(150 * 1000);                     /* let the adapter reset happen too */
	assert_int_equal(mock_complete_all(m), 1);
	assert_int_equal(g_done, 1);            /* the late completion completes nothing */
	struct vs_srb *again = vs_srb_get(pool);
	assert_ptr_equal(again, s);
	vs_srb_put(again);
	vs_srb_pool_destroy(pool);
	finish(tf, m);
}

static void test_abort_task(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, 1, 30000, 50);
	struct tf_result r;
	(void)state;

	struct vs_nexus *n = nexus_ready(tf, m, "iqn.a", 1);
	struct vs_nexus *o = nexus_ready(tf, m, "iqn.o", 1);
	m->abort_completes = true;
	struct tf_task *t1 = sub(tf, n, 0, 11, 0);
	struct tf_task *t2 = sub(tf, n, 0, 12, 0);
	struct tf_task *t3 = sub(tf, n, 0, 13, 0);
	int started = m->nstarted;

	assert_int_equal(tf_tmf(tf, n, VS_TMF_QUERY_TASK, 0, 12), VS_TMF_SUCCEEDED);
	assert_int_equal(tf_tmf(tf, n, VS_TMF_QUERY_TASK, 0, 99), VS_TMF_TASK_DOES_NOT_EXIST);
	/* same tag, other nexus: not that task */
	assert_int_equal(tf_tmf(tf, o, VS_TMF_ABORT_TASK, 0, 12), VS_TMF_TASK_DOES_NOT_EXIST);
	assert_int_equal(tf_tmf(tf, n, VS_TMF_ABORT_TASK, 7, 12), VS_TMF_LUN_DOES_NOT_EXIST);
	assert_int_equal(tf_tmf(tf, n, VS_TMF_CLEAR_ACA, 0, 0), VS_TMF_NOT_SUPPORTED);

	/* held: aborted without reaching the miniport */
	assert_int_equal(tf_tmf(tf, n, VS_TMF_ABORT_TASK, 0, 12), VS_TMF_COMPLETE);
	assert_int_equal(tf_wait(t2, &r), 0);
	assert_int_equal(r.srb_status, VS_SRB_ABORTED);
	assert_int_equal(r.status, SAM_STAT_TASK_ABORTED);
	assert_int_equal(m->nstarted, started);
	/* active: abort_srb; the miniport's completion reports ABORTED */
	assert_int_equal(tf_tmf(tf, n, VS_TMF_ABORT_TASK, 0, 11), VS_TMF_COMPLETE);
	assert_true(tf_task_done(t1));
	assert_int_equal(tf_wait(t1, &r), 0);
	assert_int_equal(r.srb_status, VS_SRB_ABORTED);
	assert_int_equal(m->aborts, 1);
	/* t3 started after t1 left */
	assert_int_equal(m->started_tags[m->nstarted - 1], 13);

	/* a miniport that ignores the abort: the port's escalation still ends it */
	m->abort_completes = false;
	assert_int_equal(tf_tmf(tf, n, VS_TMF_ABORT_TASK, 0, 13), VS_TMF_COMPLETE);
	assert_int_equal(tf_task_done_count(t3), 1);
	assert_int_equal(tf_wait(t3, &r), 0);
	assert_int_equal(r.srb_status, VS_SRB_ABORTED);
	struct vs_lun_stats st;
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.aborts, 3);
	finish(tf, m);
}

/* The miniport completes a task while ABORT TASK for it is on its way:
 * each task has one outcome (RFC 7143 §11.5.1, SAM-5 7.2).  Either the
 * abort took it (function complete, the task ends ABORTED without status)
 * or it had completed (task does not exist, its GOOD status stands); never
 * "function complete" for a task whose status went out.  Bounded: 1500
 * rounds, a completing thread racing the TMF thread in each. */
static bool pending_nonzero(struct mock *m, void *arg)
{
	(void)arg;
	return mock_npending(m) > 0;
}

static void *complete_soon(void *arg)
{
	struct mock *m = arg;

	for (int spin = 0; spin < 1000000 && !mock_complete_one(m); spin++)
		sched_yield();
	return NULL;
}

static void test_abort_task_racing_completion(void **state)
{
	struct mock *m;
	/* an abort timeout no completion here reaches: the port's own
	 * escalation (zombies) is test_timeout_escalation's */
	struct tf *tf = mk(&m, 8, 30000, 10000);
	unsigned aborted = 0, finished = 0;
	(void)state;

	struct vs_nexus *n = nexus_ready(tf, m, "iqn.race", 1);
	m->abort_completes = false;     /* a miniport that cannot take it back */
	for (uint64_t tag = 100; tag < 1600; tag++) {
		struct tf_result r;
		pthread_t th;
		struct tf_task *t = sub(tf, n, 0, tag, 0);

		assert_true(mock_wait_for(m, pending_nonzero, NULL, 5000));
		assert_int_equal(pthread_create(&th, NULL, complete_soon, m), 0);
		enum vs_tmf_response rsp = tf_tmf(tf, n, VS_TMF_ABORT_TASK, 0, tag);
		pthread_join(th, NULL);
		assert_int_equal(tf_wait(t, &r), 0);
		if (rsp == VS_TMF_COMPLETE) {
			assert_int_equal(r.srb_status, VS_SRB_ABORTED);
			aborted++;
		} else {
			assert_int_equal(rsp, VS_TMF_TASK_DOES_NOT_EXIST);
			assert_int_equal(r.srb_status, VS_SRB_SUCCESS);
			assert_int_equal(r.status, SAM_STAT_GOOD);
			finished++;
		}
	}
	print_message("abort won %u, completion won %u\n", aborted, finished);
	finish(tf, m);
}

/* ABORT TASK SET and CLEAR TASK SET act on the requester's own task set:
 * one task set per I_T nexus (control mode page TST 001b, SPC-4 7.5.7;
 * SAM-5 7.3, 7.5).  The other nexus's tasks go on untouched. */
static void test_abort_and_clear_task_set(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, 8, 30000, 50);
	struct tf_task *a[3], *b[3];
	struct tf_result r;
	(void)state;

	struct vs_nexus *na = nexus_ready(tf, m, "iqn.a", 1);
	struct vs_nexus *nb = nexus_ready(tf, m, "iqn.b", 1);
	m->abort_completes = true;
	uint64_t before = tf_done_calls(tf);
	for (int i = 0; i < 3; i++) {
		a[i] = sub(tf, na, 0, 100 + i, 0);
		b[i] = sub(tf, nb, 0, 100 + i, 0);
	}
	assert_int_equal(tf_tmf(tf, na, VS_TMF_ABORT_TASK_SET, 0, 0), VS_TMF_COMPLETE);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(tf_wait(a[i], &r), 0);
		assert_int_equal(r.srb_status, VS_SRB_ABORTED);
		assert_false(tf_task_done(b[i]));
	}
	assert_int_equal(mock_npending(m), 3);

	/* CLEAR TASK SET from a: a's new tasks end without status, b's are
	 * not in a's task set and are neither aborted nor told anything (no
	 * TASK ABORTED, no COMMANDS CLEARED BY ANOTHER INITIATOR) */
	for (int i = 0; i < 3; i++)
		a[i] = sub(tf, na, 0, 200 + i, 0);
	assert_int_equal(mock_npending(m), 6);
	assert_int_equal(tf_tmf(tf, na, VS_TMF_CLEAR_TASK_SET, 0, 0), VS_TMF_COMPLETE);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(tf_wait(a[i], &r), 0);
		assert_int_equal(r.srb_status, VS_SRB_ABORTED);
		assert_false(tf_task_done(b[i]));
	}
	assert_int_equal(mock_npending(m), 3);
	mock_complete_all(m);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(tf_wait(b[i], &r), 0);
		assert_int_equal(r.srb_status, VS_SRB_SUCCESS);
		assert_int_equal(r.status, SAM_STAT_GOOD);
	}
	assert_int_equal(tf_done_calls(tf) - before, 9);
	expect_ua(tf, m, nb, 0, -1, 0);
	expect_ua(tf, m, na, 0, -1, 0);
	struct vs_lun_stats st;
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.aborts, 6);
	finish(tf, m);
}

/* CLEAR TASK SET takes the requester's held and active tasks; the depth
 * slot its active task held goes to the other nexus's held task, which
 * then starts, and the other nexus's tasks all complete GOOD. */
static void test_clear_task_set_own_and_held(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, 2, 30000, 50);
	struct tf_task *t[6];
	struct tf_result r;
	(void)state;

	struct vs_nexus *na = nexus_ready(tf, m, "iqn.a", 1);
	struct vs_nexus *nb = nexus_ready(tf, m, "iqn.b", 1);
	m->abort_completes = true;
	for (int i = 0; i < 6; i++)         /* depth 2: four of them are held */
		t[i] = sub(tf, (i & 1) ? nb : na, 0, 10 + i, 0);
	assert_int_equal(mock_npending(m), 2);
	assert_int_equal(tf_tmf(tf, nb, VS_TMF_CLEAR_TASK_SET, 0, 0), VS_TMF_COMPLETE);
	for (int i = 1; i < 6; i += 2) {
		assert_int_equal(tf_wait(t[i], &r), 0);
		assert_int_equal(r.srb_status, VS_SRB_ABORTED);
	}
	/* a's first task still runs, its second got b's slot */
	assert_int_equal(mock_npending(m), 2);
	assert_false(tf_task_done(t[4]));
	while (mock_complete_all(m))
		;
	for (int i = 0; i < 6; i += 2) {
		assert_int_equal(tf_wait(t[i], &r), 0);
		assert_int_equal(r.srb_status, VS_SRB_SUCCESS);
		assert_int_equal(r.status, SAM_STAT_GOOD);
	}
	finish(tf, m);
}

/* vs_port_lun_abort_nexus (PREEMPT AND ABORT): only that nexus's tasks on
 * that LUN, all but `keep`; TASK ABORTED for another requester, no status
 * for its own. */
static void test_abort_nexus(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, 16, 30000, 50);
	struct tf_task *a[2], *b[3], *b1;
	struct tf_result r;
	(void)state;

	assert_int_equal(vs_port_lun_add(tf_port(tf), 1, NULL), 0);
	struct vs_nexus *na = nexus_ready(tf, m, "iqn.a", 2);
	struct vs_nexus *nb = nexus_ready(tf, m, "iqn.b", 2);
	m->abort_completes = true;
	for (int i = 0; i < 2; i++)
		a[i] = sub(tf, na, 0, 20 + i, 0);
	for (int i = 0; i < 3; i++)
		b[i] = sub(tf, nb, 0, 30 + i, 0);
	b1 = sub(tf, nb, 1, 40, 0);
	struct vs_port_lun *lun0 = m->luns[0];
	assert_int_equal(vs_port_lun_abort_nexus(lun0, nb, na, tf_task_srb(b[1])), 0);
	assert_int_equal(tf_wait(b[0], &r), 0);
	assert_int_equal(r.srb_status, VS_SRB_SUCCESS);
	assert_int_equal(r.status, SAM_STAT_TASK_ABORTED);
	assert_int_equal(tf_wait(b[2], &r), 0);
	assert_int_equal(r.status, SAM_STAT_TASK_ABORTED);
	assert_false(tf_task_done(b[1]));       /* kept */
	assert_false(tf_task_done(b1));         /* another LUN */
	assert_false(tf_task_done(a[0]));
	assert_false(tf_task_done(a[1]));
	/* on its own behalf: no status */
	assert_int_equal(vs_port_lun_abort_nexus(lun0, na, na, NULL), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(tf_wait(a[i], &r), 0);
		assert_int_equal(r.srb_status, VS_SRB_ABORTED);
	}
	assert_int_equal(vs_port_lun_abort_nexus(NULL, na, na, NULL), -EINVAL);
	assert_string_equal(vs_last_error(), "abort_nexus: lun is NULL");
	assert_int_equal(vs_port_lun_abort_nexus(lun0, NULL, na, NULL), -EINVAL);
	assert_string_equal(vs_last_error(), "abort_nexus: nexus is NULL");
	mock_complete_all(m);
	assert_int_equal(tf_wait(b[1], &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(tf_wait(b1, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	/* a closed nexus has nothing left to abort */
	vs_port_nexus_close(tf_port(tf), nb);
	finish(tf, m);
}

static void lun_reset_case(bool miniport_completes)
{
	struct mock *m;
	struct tf *tf = mk(&m, 16, 30000, 50);
	struct tf_task *t[40];
	struct tf_result r;

	struct vs_nexus *na = nexus_ready(tf, m, "iqn.a", 1);
	struct vs_nexus *nb = nexus_ready(tf, m, "iqn.b", 1);
	uint64_t before = tf_done_calls(tf);
	m->reset_completes = miniport_completes;
	for (int i = 0; i < 40; i++)
		t[i] = sub(tf, (i & 1) ? nb : na, 0, 1000 + i, 0);
	assert_int_equal(mock_npending(m), 16);
	assert_int_equal(tf_tmf(tf, na, VS_TMF_LOGICAL_UNIT_RESET, 0, 0), VS_TMF_COMPLETE);
	/* every task settled before the TMF response: the requester's
	 * without status, the other nexus's with TASK ABORTED (TAS=1) */
	for (int i = 0; i < 40; i++)
		assert_int_equal(tf_task_done_count(t[i]), 1);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(tf_wait(t[i], &r), 0);
		assert_int_equal(r.srb_status, (i & 1) ? VS_SRB_SUCCESS : VS_SRB_ABORTED);
		assert_int_equal(r.status, SAM_STAT_TASK_ABORTED);
	}
	assert_int_equal(tf_done_calls(tf) - before, 40);
	assert_int_equal(m->resets[VS_RESET_LUN], 1);
	assert_int_equal(mock_npending(m), miniport_completes ? 0 : 16);
	/* SAM-5 6.3.3: every nexus learns of the reset, the requester too */
	expect_ua(tf, m, nb, 0, 0x29, 0x03);
	expect_ua(tf, m, na, 0, 0x29, 0x03);
	expect_ua(tf, m, na, 0, -1, 0);
	finish(tf, m);
}

static void test_lun_reset_exactly_once(void **state)
{
	(void)state;
	lun_reset_case(true);
	lun_reset_case(false);
}

static void test_target_reset(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, 4, 30000, 50);
	struct tf_task *t[12];
	struct tf_result r;
	(void)state;

	assert_int_equal(vs_port_lun_add(tf_port(tf), 1, NULL), 0);
	struct vs_nexus *na = nexus_ready(tf, m, "iqn.a", 2);
	struct vs_nexus *nb = nexus_ready(tf, m, "iqn.b", 2);
	m->reset_completes = true;
	for (int i = 0; i < 12; i++)
		t[i] = sub(tf, (i & 2) ? nb : na, (uint64_t)(i & 1), 500 + i, 0);
	assert_int_equal(tf_tmf(tf, na, VS_TMF_TARGET_WARM_RESET, 0, 0), VS_TMF_COMPLETE);
	for (int i = 0; i < 12; i++) {
		assert_int_equal(tf_wait(t[i], &r), 0);
		assert_int_equal(r.srb_status, (i & 2) ? VS_SRB_SUCCESS : VS_SRB_ABORTED);
		assert_int_equal(r.status, SAM_STAT_TASK_ABORTED);
	}
	assert_int_equal(m->resets[VS_RESET_TARGET], 1);
	expect_ua(tf, m, nb, 0, 0x29, 0x03);
	expect_ua(tf, m, nb, 1, 0x29, 0x03);
	expect_ua(tf, m, na, 1, 0x29, 0x03);
	expect_ua(tf, m, na, 1, -1, 0);
	assert_int_equal(tf_tmf(tf, na, VS_TMF_TARGET_COLD_RESET, 0, 0), VS_TMF_COMPLETE);
	expect_ua(tf, m, nb, 1, 0x29, 0x01);
	expect_ua(tf, m, na, 1, 0x29, 0x01);
	finish(tf, m);
}

static void test_forced_removal(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, 16, 30000, 40);
	struct tf_task *t[26];
	struct tf_result r;
	(void)state;

	struct vs_nexus *n = nexus_ready(tf, m, "iqn.a", 1);
	for (int i = 0; i < 26; i++)
		t[i] = sub(tf, n, 0, 1 + i, 0);
	assert_int_equal(vs_port_lun_remove(tf_port(tf), 0, false), -EBUSY);
	assert_int_equal(vs_port_lun_remove(tf_port(tf), 0, true), 0);
	assert_int_equal(m->detached, 1);
	for (int i = 0; i < 26; i++) {
		assert_int_equal(tf_task_done_count(t[i]), 1);
		assert_int_equal(tf_wait(t[i], &r), 0);
		assert_int_equal(r.srb_status, VS_SRB_NO_DEVICE);
		assert_int_equal(r.sense_key, SENSE_ILLEGAL_REQUEST);
		assert_int_equal(r.asc, 0x25);
	}
	assert_int_equal(m->aborts, 16);
	assert_int_equal(m->resets[VS_RESET_LUN], 1);
	/* new commands: LOGICAL UNIT NOT SUPPORTED */
	assert_int_equal(tf_exec(tf, n, 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.asc, 0x25);
	/* the miniport's late completions complete nothing twice */
	assert_int_equal(mock_complete_all(m), 16);
	/* re-add works and the nexus sees it power on */
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	expect_ua(tf, m, n, 0, 0x29, 0x00);
	finish(tf, m);
}

static void test_forced_removal_completing_miniport(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, 16, 30000, 2000);
	struct tf_task *t[20];
	struct tf_result r;
	(void)state;

	m->abort_completes = true;
	for (int i = 0; i < 20; i++)
		t[i] = sub(tf, NULL, 0, 1 + i, 0);
	assert_int_equal(vs_port_lun_remove(tf_port(tf), 0, true), 0);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(tf_wait(t[i], &r), 0);
		assert_int_equal(r.srb_status, VS_SRB_NO_DEVICE);
	}
	assert_int_equal(m->resets[VS_RESET_LUN], 0);
	assert_int_equal(mock_npending(m), 0);
	finish(tf, m);
}

static void test_nexus_abort_all(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m, 4, 30000, 50);
	struct tf_task *a[6], *b;
	struct tf_result r;
	(void)state;

	struct vs_nexus *na = nexus_ready(tf, m, "iqn.a", 1);
	struct vs_nexus *nb = nexus_ready(tf, m, "iqn.b", 1);
	m->abort_completes = true;
	b = sub(tf, nb, 0, 1, 0);
	for (int i = 0; i < 6; i++)
		a[i] = sub(tf, na, 0, 10 + i, 0);
	vs_port_nexus_abort_all(tf_port(tf), na);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(tf_wait(a[i], &r), 0);
		assert_int_equal(r.srb_status, VS_SRB_ABORTED);
	}
	assert_false(tf_task_done(b));
	assert_true(mock_complete_one(m));
	assert_int_equal(tf_wait(b, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	/* closing a nexus with SRBs outstanding aborts them */
	b = sub(tf, nb, 0, 2, 0);
	vs_port_nexus_close(tf_port(tf), nb);
	assert_int_equal(tf_wait(b, &r), 0);
	assert_int_equal(r.srb_status, VS_SRB_ABORTED);
	finish(tf, m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timeout_escalation),
		cmocka_unit_test(test_late_completion_returns_to_pool),
		cmocka_unit_test(test_abort_task),
		cmocka_unit_test(test_abort_task_racing_completion),
		cmocka_unit_test(test_abort_and_clear_task_set),
		cmocka_unit_test(test_clear_task_set_own_and_held),
		cmocka_unit_test(test_abort_nexus),
		cmocka_unit_test(test_lun_reset_exactly_once),
		cmocka_unit_test(test_target_reset),
		cmocka_unit_test(test_forced_removal),
		cmocka_unit_test(test_forced_removal_completing_miniport),
		cmocka_unit_test(test_nexus_abort_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
