/* SPDX-License-Identifier: MIT */
/* Hybrid polling policy of the fabrics' event loops (util/vs_poll_policy.h):
 * spin only after a run of wake-ups that each brought PDUs, however many;
 * a spin that saw nothing ends the run; never spin when disabled; ignore
 * wake-ups that carried no PDU. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "fabrics/iscsi/iscsi_loop.h"
#include "util/vs_poll_policy.h"

/* End a wake-up that received `pdus` PDUs; return the policy's answer. */
static bool wake(struct vs_poll_policy *loop, uint32_t pdus)
{
	loop->in_wake = pdus;
	return vs_poll_should_spin(loop);
}

/* A policy as vs_iscsi_loop_init leaves it, with `poll_ns` of spinning. */
static void loop_with_poll(struct vs_poll_policy *loop, uint32_t poll_ns)
{
	struct iscsi_loop il;

	vs_iscsi_loop_init(&il, NULL, NULL, 0, poll_ns);
	*loop = il.poll;
}

static void test_spins_after_a_run_of_busy_wakes(void **state)
{
	struct vs_poll_policy loop;
	(void)state;

	loop_with_poll(&loop, 50000);
	for (int i = 0; i < 7; i++)
		assert_false(wake(&loop, i % 2 ? 1 : 2));
	assert_true(wake(&loop, 1));            /* the 8th in a row */
	assert_true(wake(&loop, 1));
	assert_int_equal(loop.in_wake, 0);  /* consumed */
}

/* A spin that saw nothing (the client went quiet) ends the run: the next
 * waits sleep until another full run of busy wakes. */
static void test_an_idle_spin_ends_the_run(void **state)
{
	struct vs_poll_policy loop;
	(void)state;

	loop_with_poll(&loop, 50000);
	for (int i = 0; i < 8; i++)
		wake(&loop, 1);
	assert_true(wake(&loop, 1));
	vs_poll_spin_idle(&loop);
	for (int i = 0; i < 7; i++)
		assert_false(wake(&loop, 1));
	assert_true(wake(&loop, 1));
}

/* Queue depth 8, 32 or several sessions arrive as bursts of that many
 * commands: the client still answers our replies within a round trip, and
 * sleeping between bursts leaves both sides waiting on a wake-up (4 KiB at
 * QD 32 on 2 vCPUs: reads 12-18 % more IOPS with the spin, writes more;
 * iscsi_loop.c). */
static void test_deep_bursts_spin(void **state)
{
	struct vs_poll_policy loop;
	(void)state;

	loop_with_poll(&loop, 50000);
	for (int i = 0; i < 7; i++)
		assert_false(wake(&loop, i % 2 ? 8 : 32));
	assert_true(wake(&loop, 32));
	for (int i = 0; i < 20; i++)
		assert_true(wake(&loop, i % 2 ? 128 : 32));
}

static void test_empty_wakes_are_neutral(void **state)
{
	struct vs_poll_policy loop;
	(void)state;

	loop_with_poll(&loop, 50000);
	for (int i = 0; i < 4; i++)
		wake(&loop, 1);
	assert_false(wake(&loop, 0));           /* timer tick */
	for (int i = 0; i < 3; i++)
		assert_false(wake(&loop, 1));
	assert_true(wake(&loop, 1));            /* 8 PDU wakes, the tick ignored */
	assert_true(wake(&loop, 0));            /* still in the pattern */
}

static void test_disabled_never_spins(void **state)
{
	struct vs_poll_policy loop;
	(void)state;

	loop_with_poll(&loop, 0);
	for (int i = 0; i < 100; i++)
		assert_false(wake(&loop, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spins_after_a_run_of_busy_wakes),
		cmocka_unit_test(test_an_idle_spin_ends_the_run),
		cmocka_unit_test(test_deep_bursts_spin),
		cmocka_unit_test(test_empty_wakes_are_neutral),
		cmocka_unit_test(test_disabled_never_spins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
