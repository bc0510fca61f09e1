/* SPDX-License-Identifier: MIT */
/*
 * Helpers for tests of filters that hold requests (delay, throttle): one
 * filter over a RAM disk with a running loop group, requests that record
 * when and how often and on which thread they completed, and a closed-loop
 * load that measures a rate.
 *
 *   struct fl_stack s;
 *   fl_open(&s, "throttle", (struct vs_kv[]){ { "iops", "1000" } }, 1);
 *   struct fl_req r;  fl_req_init(&r, VS_BIO_READ, 0, 4096, NULL);
 *   fl_submit(&s, &r);  ...  fl_wait_done(&r, 1000);
 *   double per_s = fl_rate(&s, 16, VS_BIO_READ, 4096, 200, 1000);
 *   fl_close(&s);
 */
#ifndef VSTOR_TEST_FILTER_LOAD_H
#define VSTOR_TEST_FILTER_LOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "loop_sync.h"
#include "vstor/bdev.h"

#define FL_DISK_SIZE (16u << 20)

struct fl_stack {
	struct vs_loop_group *loops;
	struct vs_bdev *bdev;
};

/* `filter` with its options over ram (FL_DISK_SIZE) on a new group of two
 * loops; asserts it opens. */
void fl_open(struct fl_stack *s, const char *filter, const struct vs_kv *kv, size_t n);
/* The same without asserting: NULL (vs_last_error() says why) if refused;
 * loops NULL opens without a loop group. */
struct vs_bdev *fl_try_open(struct vs_loop_group *loops, const char *filter,
                            const struct vs_kv *kv, size_t n);
void fl_close(struct fl_stack *s);
/* vs_bdev_set_options on the filter (layer 0); returns its result. */
int fl_set(struct fl_stack *s, const struct vs_kv *kv, size_t n);

struct fl_req {
	struct vs_bio bio;
	struct iovec iov;
	uint8_t *buf;
	struct ls_counter *counter;     /* bumped at each completion, if set */
	uint64_t submitted_ns;
	_Atomic uint64_t done_ns;
	_Atomic int done;               /* completions: must end at exactly 1 */
	_Atomic int err;
	struct vs_loop *_Atomic done_on;  /* the loop whose thread completed it */
};

void fl_req_init(struct fl_req *r, uint8_t op, uint64_t off, uint32_t len,
                 struct ls_counter *counter);
void fl_req_fini(struct fl_req *r);
/* Submit; asserts the stack took it (0). */
void fl_submit(struct fl_stack *s, struct fl_req *r);
/* Wait until it completed; false after timeout_ms. */
bool fl_wait_done(struct fl_req *r, unsigned timeout_ms);
/* Submit to done, in ms (the request has completed). */
double fl_latency_ms(const struct fl_req *r);

/* n requests of op submitted one after another: 4 KiB each at 4 KiB
 * steps in an area of their own per op (op x 1 MiB; a flush has no
 * data); returns how many completed inside submit. */
int  fl_submit_n(struct fl_stack *s, struct fl_req *r, int n, uint8_t op);
int  fl_done_n(struct fl_req *r, int n);           /* completions of r[0..n) */
void fl_fini_n(struct fl_req *r, int n);

/*
 * `threads` submitters at once, each keeping 8 requests in flight
 * (reads and writes in turn, each thread on blocks of its own) until it
 * has sent per_thread; every request must complete exactly once, without
 * error.
 */
void fl_threads(struct fl_stack *s, unsigned threads, unsigned per_thread);

/* vs_last_error() starts with prefix. */
void fl_expect_error(const char *prefix);
/* vs_layer_check refuses these options of filter with an error that
 * starts with prefix. */
void fl_check_fails(const char *filter, const struct vs_kv *kv, size_t n, const char *prefix);

/*
 * Keep qd requests of op/len in flight for warm_ms + window_ms and return
 * how many completed per second during the window (after warm_ms).  Every
 * request is waited for before it returns; any error fails the test.
 */
double fl_rate(struct fl_stack *s, unsigned qd, uint8_t op, uint32_t len, unsigned warm_ms,
               unsigned window_ms);

/*
 * fl_rate (x len when `bytes`: bytes per second) within pct percent of
 * want, in one of three runs.  A loaded machine stalls the submitting
 * thread or a loop now and then, and a run it hit may come out low; a
 * throttle that is wrong is wrong in every run.  Prints each run.
 */
void fl_expect_rate(struct fl_stack *s, const char *what, unsigned qd, uint8_t op, uint32_t len,
                    bool bytes, unsigned warm_ms, unsigned window_ms, double want, double pct);

#endif
