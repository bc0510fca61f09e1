/* SPDX-License-Identifier: MIT */
/*
 * The iSCSI fabric on event loops it does not own (vs_iscsi_config.group,
 * as vstord runs it): connections are served on the group's loops, and
 * vs_iscsi_stop takes the fabric off them -- every connection closed, its
 * tick and polling hook gone -- while the loops keep running for whoever
 * else uses them; the fabric can start again on the same group.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <unistd.h>

#include "vstor/loop.h"
#include "vstor/scsi.h"
#include "fabrics/iscsi/iscsi_target.h"
#include "iscsi_harness.h"
#include "loop_sync.h"

#define CONTAINER(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Another user of the loops: a timer that re-arms itself every 2 ms. */
struct neighbour {
	struct vs_loop_timer t;
	struct vs_loop *loop;
	_Atomic bool stop;
	struct ls_counter ticks;
};

static void neighbour_fn(struct vs_loop_timer *t)
{
	struct neighbour *n = CONTAINER(t, struct neighbour, t);

	ls_counter_add(&n->ticks, 1);
	if (!n->stop)
		vs_loop_timer_arm_in(n->loop, t, 2000000ull);
}

static void neighbour_start(void *arg)
{
	struct neighbour *n = arg;

	vs_loop_timer_arm_in(n->loop, &n->t, 2000000ull);
}

static void read_ok(struct cl *cl)
{
	uint8_t cdb[10], buf[BLK];
	struct result r;

	rw10(cdb, READ_10, 0, 1);
	exec(cl, cdb, 10, ISCSI_CMD_READ, BLK, NULL, buf, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
}

static void nothing(void *arg)
{
	(void)arg;
}

static void test_stop_leaves_a_shared_group_running(void **state)
{
	struct vs_loop_group *g = ls_group(2);
	struct neighbour nb = { .loop = vs_loop_group_loop(g, 1) };
	void *fx_state = NULL;
	struct fx *f;
	struct cl *cl;
	uint64_t ticks;

	(void)state;
	vs_loop_timer_init(&nb.t, neighbour_fn);
	ls_counter_init(&nb.ticks);
	ls_run_on(nb.loop, neighbour_start, &nb);

	next_cfg = (struct vs_iscsi_config){ .group = g, .threads = 1, .queue_depth = 16,
	                                     .nop_interval_ms = 60000 };
	assert_int_equal(fx_setup(&fx_state), 0);
	f = fx_state;
	assert_int_equal(f->is->nloops, 2);         /* the group's size, not `threads` */
	assert_ptr_equal(f->is->group, g);
	cl = new_client(f, NULL);
	clear_ua(cl);
	read_ok(cl);

	vs_iscsi_stop(f->is, 1000);
	assert_int_equal(atomic_load(&f->is->nconns), 0);
	close(cl->fd);
	/* The loops are still there: both take a message, the neighbour's
	 * timer keeps running. */
	ls_run_on(vs_loop_group_loop(g, 0), nothing, NULL);
	ls_run_on(vs_loop_group_loop(g, 1), nothing, NULL);
	ticks = ls_counter_get(&nb.ticks);
	assert_true(ls_counter_wait(&nb.ticks, ticks + 5, 5000));

	/* And the fabric serves again on the same loops. */
	assert_int_equal(vs_iscsi_start(f->is), 0);
	cl = new_client(f, NULL);
	clear_ua(cl);
	read_ok(cl);
	close(cl->fd);
	fx_teardown(&fx_state);

	nb.stop = true;
	vs_loop_group_destroy(g);
	ls_counter_destroy(&nb.ticks);
}

/* Without a group the fabric runs `threads` loops of its own. */
static void test_own_group_has_threads_loops(void **state)
{
	void *fx_state = NULL;
	struct fx *f;
	struct cl *cl;

	(void)state;
	next_cfg = (struct vs_iscsi_config){ .threads = 3, .queue_depth = 16, .nop_interval_ms = 60000 };
	assert_int_equal(fx_setup(&fx_state), 0);
	f = fx_state;
	assert_int_equal(f->is->nloops, 3);
	assert_non_null(f->is->own_group);
	cl = new_client(f, NULL);
	clear_ua(cl);
	read_ok(cl);
	close(cl->fd);
	fx_teardown(&fx_state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stop_leaves_a_shared_group_running),
		cmocka_unit_test(test_own_group_has_threads_loops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
