/* SPDX-License-Identifier: MIT */
/*
 * vdisk's write gate (src/vdisk/vdisk_gate.c): a command that needs the
 * medium alone (COMPARE AND WRITE, SBC-3 5.3) waits for the writes in
 * flight and holds back the writes that arrive meanwhile, which resume
 * after it; and the lock-free way in for writes stays correct when
 * writes and COMPARE AND WRITEs come from several threads and nexuses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>

#include "test_vdisk_helpers.h"

static size_t caw_cdb(uint8_t *cdb, uint64_t lba)
{
	memset(cdb, 0, 16);
	cdb[0] = COMPARE_AND_WRITE;
	put_be(&cdb[2], lba, 8);
	cdb[13] = 1;
	return 16;
}

static struct tf_task *write_one(struct vt *t, struct vs_nexus *n, uint64_t lun, uint64_t lba,
                                 uint8_t *buf)
{
	uint8_t cdb[16];
	size_t l = cdb_rw(cdb, WRITE_16, lba, 1, 0);
	struct tf_task *task = tf_submit(t->tf, n, lun, cdb, l, VS_DIR_TO_DEVICE, buf, 512);

	assert_non_null(task);
	return task;
}

static void wait_good(struct tf_task *task)
{
	struct tf_result r;

	assert_int_equal(tf_wait(task, &r), 0);
	assert_good(&r);
}

/* The backend saw exactly these bios, in this order: {op, lba} pairs. */
static void expect_recs(struct spy *s, int n, const uint64_t (*want)[2])
{
	assert_int_equal(spy_nrecs(s), n);
	for (int i = 0; i < n; i++) {
		struct spy_rec rec = spy_rec(s, i);

		assert_int_equal(rec.op, want[i][0]);
		assert_int_equal(rec.offset, want[i][1] * 512);
	}
}

/*
 * A WRITE in flight (held by the backend), then a COMPARE AND WRITE: it
 * does not read before that write completed.  A WRITE arriving while it
 * waits or runs does not reach the backend until it is done, then goes
 * on.  Order at the backend: the first write, the CAW's read and write,
 * the late write.
 */
static void test_exclusive_waits_and_parks(void **state)
{
	struct vt t;
	uint8_t w1[512], w2[512], caw[1024], buf[512];
	uint8_t cdb[16];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	struct spy *s = vt_add_spy(&t, 1, "1M", 512, NULL);
	memset(w1, 0x11, sizeof(w1));
	memset(w2, 0x33, sizeof(w2));
	memset(caw, 0, 512);                    /* LBA 3 is zero: compare succeeds */
	memset(caw + 512, 0x22, 512);
	spy_clear(s);
	spy_hold_op(s, VS_BIO_WRITE);
	spy_hold(s, true);

	struct tf_task *a = write_one(&t, t.n, 1, 10, w1);
	assert_int_equal(spy_held(s), 1);
	size_t l = caw_cdb(cdb, 3);
	struct tf_task *c = tf_submit(t.tf, t.n2, 1, cdb, l, VS_DIR_TO_DEVICE, caw, sizeof(caw));
	assert_non_null(c);
	/* waits for the write in flight: no read yet */
	assert_int_equal(spy_count(s, VS_BIO_READ, 0), 0);
	struct tf_task *b = write_one(&t, t.n, 1, 20, w2);
	/* parked: it did not reach the backend */
	assert_int_equal(spy_nrecs(s), 1);
	assert_false(tf_task_done(b));
	assert_false(tf_task_done(c));

	/* the first write completes: the CAW runs (its write is held in
	 * turn and released by the same call), then the parked write */
	spy_release(s, 0);
	wait_good(a);
	wait_good(c);
	wait_good(b);
	expect_recs(s, 4, (const uint64_t[][2]){ { VS_BIO_WRITE, 10 }, { VS_BIO_READ, 3 },
	                                         { VS_BIO_WRITE, 3 }, { VS_BIO_WRITE, 20 } });
	spy_hold(s, false);

	struct tf_result r;
	uint8_t rd[16];
	size_t rl = cdb_rw(rd, READ_16, 3, 1, 0);
	vt_exec_on(&t, t.n, 1, rd, rl, VS_DIR_FROM_DEVICE, buf, 512, &r);
	assert_good(&r);
	assert_memory_equal(buf, caw + 512, 512);
	vt_teardown(&t);
	spy_free(s);
}

/* While the CAW's own read is in the backend, a WRITE from another nexus
 * parks, and starts once the CAW completed. */
static void test_write_parks_while_exclusive_runs(void **state)
{
	struct vt t;
	uint8_t w[512], caw[1024];
	uint8_t cdb[16];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	struct spy *s = vt_add_spy(&t, 1, "1M", 512, NULL);
	memset(caw, 0, 512);
	memset(caw + 512, 0x44, 512);
	memset(w, 0x55, sizeof(w));
	spy_clear(s);
	spy_hold_op(s, VS_BIO_READ);
	spy_hold(s, true);
	size_t l = caw_cdb(cdb, 5);
	struct tf_task *c = tf_submit(t.tf, t.n, 1, cdb, l, VS_DIR_TO_DEVICE, caw, sizeof(caw));
	assert_non_null(c);
	assert_int_equal(spy_held(s), 1);               /* the CAW's read */
	struct tf_task *b = write_one(&t, t.n2, 1, 6, w);
	assert_int_equal(spy_nrecs(s), 1);
	assert_false(tf_task_done(b));
	spy_hold(s, false);
	spy_release(s, 0);
	wait_good(c);
	wait_good(b);
	expect_recs(s, 3, (const uint64_t[][2]){ { VS_BIO_READ, 5 }, { VS_BIO_WRITE, 5 },
	                                         { VS_BIO_WRITE, 6 } });
	vt_teardown(&t);
	spy_free(s);
}

/* ---- threads ---- */

struct gate_worker {
	struct vt *t;
	struct vs_nexus *n;
	int id;
	int ok;                 /* CAW: increments that succeeded; writer: blocks verified */
};

enum { CAW_LBA = 1, INCREMENTS = 100, WRITES = 400 };

/* COMPARE AND WRITE steps of block CAW_LBA's byte value, taking turns
 * with the other CAW thread without reading the block: thread `id` moves
 * it from 2k + id to 2k + id + 1, and on MISCOMPARE (the other one's turn)
 * tries again.  Each success proves the CAW saw the other's last write. */
static void *caw_main(void *arg)
{
	struct gate_worker *w = arg;
	uint8_t cdb[16], caw[1024];
	struct tf_result r;
	long tries = 0;

	while (w->ok < INCREMENTS && tries++ < 10000000) {
		uint8_t from = (uint8_t)(2 * w->ok + w->id);

		memset(caw, from, 512);
		memset(caw + 512, (uint8_t)(from + 1), 512);
		size_t l = caw_cdb(cdb, CAW_LBA);
		if (tf_exec(w->t->tf, w->n, 0, cdb, l, VS_DIR_TO_DEVICE, caw, sizeof(caw), &r))
			return NULL;
		if (r.status == SAM_STAT_GOOD)
			w->ok++;
		else if (r.sense_key != SENSE_MISCOMPARE)
			return NULL;
	}
	return NULL;
}

/* WRITE then READ back its own blocks (never CAW_LBA). */
static void *writer_main(void *arg)
{
	struct gate_worker *w = arg;
	uint8_t cdb[16], data[512], back[512];
	struct tf_result r;

	for (int i = 0; i < WRITES; i++) {
		uint64_t lba = 100 + (uint64_t)w->id * 64 + (uint64_t)(i % 64);
		memset(data, (uint8_t)(i + w->id), sizeof(data));
		size_t l = cdb_rw(cdb, WRITE_16, lba, 1, 0);
		if (tf_exec(w->t->tf, w->n, 0, cdb, l, VS_DIR_TO_DEVICE, data, 512, &r) ||
		    r.status != SAM_STAT_GOOD)
			return NULL;
		l = cdb_rw(cdb, READ_16, lba, 1, 0);
		if (tf_exec(w->t->tf, w->n, 0, cdb, l, VS_DIR_FROM_DEVICE, back, 512, &r) ||
		    r.status != SAM_STAT_GOOD || memcmp(back, data, 512) != 0)
			return NULL;
		w->ok++;
	}
	return NULL;
}

/* Two threads step one block with COMPARE AND WRITE in turns while two
 * others write and read back their own blocks, from both nexuses: every
 * step lands (each CAW saw the block as the last one left it), every
 * write reads back. */
static void test_threads_writes_and_caw(void **state)
{
	struct vt t;
	struct gate_worker w[4];
	pthread_t th[4];
	uint8_t zero[512] = { 0 }, buf[512];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	vt_write(&t, CAW_LBA, 1, zero);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct gate_worker){ &t, (i & 1) ? t.n2 : t.n, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, i < 2 ? caw_main : writer_main, &w[i]),
		                 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(w[0].ok, INCREMENTS);
	assert_int_equal(w[1].ok, INCREMENTS);
	assert_int_equal(w[2].ok, WRITES);
	assert_int_equal(w[3].ok, WRITES);
	vt_read(&t, CAW_LBA, 1, buf);
	assert_int_equal(buf[0], (uint8_t)(2 * INCREMENTS));
	vt_teardown(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exclusive_waits_and_parks),
		cmocka_unit_test(test_write_parks_while_exclusive_runs),
		cmocka_unit_test(test_threads_writes_and_caw),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
