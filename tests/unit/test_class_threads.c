/* SPDX-License-Identifier: MIT */
/*
 * The class layer across threads: several submitters share one disk while
 * the miniport completes SRBs on its own thread, answering some with BUSY
 * (back-off on the class layer's own timer thread) and some with unit
 * attentions (retried at once).  Every request completes exactly once,
 * with the data it should have; run under TSan it also proves the
 * locking.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "class_mock.h"
#include "vstor/scsi.h"

#define THREADS 3
#define ROUNDS  150
#define REGION  (96 * 512)      /* each thread's own part of the disk */

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int result;
};

struct worker {
	struct vs_disk *disk;
	int idx;
	int failures;
	int doubles;
	struct waiter w;
};

static void woke(struct vs_blk_request *req)
{
	struct waiter *w = req->ctx;

	pthread_mutex_lock(&w->mu);
	w->done++;
	w->result = req->result;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int run(struct worker *k, uint8_t op, uint64_t off, uint64_t len, void *buf)
{
	struct vs_blk_request *q = vs_disk_request_get(k->disk);
	struct iovec iov = { buf, len };
	int rc;

	if (!q)
		return -ENOMEM;
	k->w.done = 0;
	q->op = op;
	q->offset = off;
	q->length = len;
	q->iov = &iov;
	q->iovcnt = 1;
	q->done = woke;
	q->ctx = &k->w;
	vs_disk_submit(k->disk, q);
	pthread_mutex_lock(&k->w.mu);
	while (!k->w.done)
		pthread_cond_wait(&k->w.cv, &k->w.mu);
	rc = k->w.result;
	pthread_mutex_unlock(&k->w.mu);
	/* a second done() would come right behind the first: give it room */
	struct timespec ts = { 0, 20000 };
	nanosleep(&ts, NULL);
	pthread_mutex_lock(&k->w.mu);
	if (k->w.done != 1)
		k->doubles++;
	pthread_mutex_unlock(&k->w.mu);
	vs_disk_request_put(q);
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *k = arg;
	uint8_t *out = malloc(REGION), *in = malloc(REGION);
	unsigned seed = (unsigned)k->idx * 7919u + 1;

	for (int i = 0; i < ROUNDS; i++) {
		uint64_t blocks = 1 + rand_r(&seed) % 32;
		uint64_t at = rand_r(&seed) % (REGION / 512 - blocks + 1);
		uint64_t off = (uint64_t)k->idx * REGION + at * 512;

		for (uint64_t b = 0; b < blocks * 512; b++)
			out[b] = (uint8_t)(i + b * 31 + k->idx);
		if (run(k, VS_BLK_WRITE, off, blocks * 512, out) != 0)
			k->failures++;
		memset(in, 0, blocks * 512);
		if (run(k, VS_BLK_READ, off, blocks * 512, in) != 0 ||
		    memcmp(in, out, blocks * 512) != 0)
			k->failures++;
	}
	free(out);
	free(in);
	return NULL;
}

static void test_submitters_and_completions_on_other_threads(void **state)
{
	struct cm *m = cm_new();
	struct worker k[THREADS];
	pthread_t t[THREADS];
	(void)state;

	m->max_xfer = 4096;             /* most requests are split */
	m->data_blocks = m->blocks = THREADS * REGION / 512;
	assert_int_equal(cm_start(m), 0);
	struct vs_disk_config cfg = { .port = m->port, .nexus_name = "threads",
	                              .queue_depth = 8, .max_srbs = 4 };
	struct vs_disk *disk = vs_disk_create(&cfg);        /* the class layer's own timer */
	assert_non_null(disk);
	assert_int_equal(vs_disk_probe_sync(disk), 0);
	cm_async_start(m, 7);           /* every 7th answer: BUSY or a unit attention */
	for (int i = 0; i < THREADS; i++) {
		k[i] = (struct worker){ .disk = disk, .idx = i };
		pthread_mutex_init(&k[i].w.mu, NULL);
		pthread_cond_init(&k[i].w.cv, NULL);
		pthread_create(&t[i], NULL, worker_main, &k[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(k[i].failures, 0);
		assert_int_equal(k[i].doubles, 0);
		pthread_cond_destroy(&k[i].w.cv);
		pthread_mutex_destroy(&k[i].w.mu);
	}
	assert_true(m->answered > 7);
	assert_int_equal(vs_disk_busy(disk), 0);
	assert_int_equal(vs_disk_destroy(disk), 0);
	cm_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_submitters_and_completions_on_other_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
