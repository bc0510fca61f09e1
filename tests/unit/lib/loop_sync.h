/* SPDX-License-Identifier: MIT */
/*
 * Helpers for tests of the event loops (include/vstor/loop.h): run a
 * function on a loop's thread and wait for it, and a counter a loop's
 * callbacks bump while the test thread waits for it to reach a value.
 *
 *   struct ls_counter n;  ls_counter_init(&n);
 *   ... callbacks call ls_counter_add(&n, 1) ...
 *   assert_true(ls_counter_wait(&n, 10, 5000));    // false after 5 s
 *
 *   ls_run_on(loop, fn, arg);    // fn(arg) on the loop's thread; returns after it
 */
#ifndef VSTOR_TEST_LOOP_SYNC_H
#define VSTOR_TEST_LOOP_SYNC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vstor/loop.h"

struct ls_counter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t value;
};

void ls_counter_init(struct ls_counter *c);
void ls_counter_destroy(struct ls_counter *c);
void ls_counter_add(struct ls_counter *c, uint64_t n);
uint64_t ls_counter_get(struct ls_counter *c);
/* Wait until the value is at least `want`; false after timeout_ms. */
bool ls_counter_wait(struct ls_counter *c, uint64_t want, int timeout_ms);

/* Run fn(arg) on loop's thread (through a posted message) and wait for it. */
void ls_run_on(struct vs_loop *loop, void (*fn)(void *arg), void *arg);

/* A group of n loops, started; asserts on failure. */
struct vs_loop_group *ls_group(unsigned n);

void ls_sleep_ms(unsigned ms);

#endif
