/* SPDX-License-Identifier: MIT */
/*
 * Exactly once: a split request completes once, when its last piece is
 * in, with the error of the first piece that failed, whatever order the
 * pieces finish in; nothing more of it starts after a failure; requests
 * that find no SRB wait in order; vs_disk_abort ends every request once,
 * wherever it is (queued, backing off, in the port).
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

static const struct cm_rule medium = { .status = SAM_STAT_CHECK_CONDITION,
                                       .key = SENSE_MEDIUM_ERROR,
                                       .asc_ascq = ASC_UNRECOVERED_READ_ERROR };
static const struct cm_rule protect = { .status = SAM_STAT_CHECK_CONDITION,
                                        .key = SENSE_DATA_PROTECT,
                                        .asc_ascq = ASC_WRITE_PROTECTED, .descriptor = true };
static const struct cm_rule busy = { .status = SAM_STAT_BUSY };

/* the held SRB carrying LBA `lba` */
static int held_index(struct cm *m, uint64_t lba)
{
	int idx = -1;

	pthread_mutex_lock(&m->mu);
	for (int i = 0; i < m->nheld; i++) {
		const uint8_t *c = m->held[i]->cdb;
		uint64_t v = 0;

		for (int k = 2; k < 10; k++)
			v = v << 8 | c[k];
		if (v == lba)
			idx = i;
	}
	pthread_mutex_unlock(&m->mu);
	return idx;
}

static void open_held(struct ch *h, struct cm **m, uint32_t max_srbs)
{
	*m = cm_new();
	(*m)->max_xfer = 1024;          /* two blocks per piece */
	assert_int_equal(ch_open(h, *m, 8, max_srbs, 0), 0);
	(*m)->hold = true;
}

static void next_perm(int *p, int n)
{
	int i = n - 2, j = n - 1;

	while (i >= 0 && p[i] >= p[i + 1])
		i--;
	if (i < 0) {
		for (int k = 0; k < n; k++)
			p[k] = k;
		return;
	}
	while (p[j] <= p[i])
		j--;
	int t = p[i]; p[i] = p[j]; p[j] = t;
	for (int a = i + 1, b = n - 1; a < b; a++, b--) {
		t = p[a]; p[a] = p[b]; p[b] = t;
	}
}

static void test_first_error_wins_in_every_order(void **state)
{
	int perm[4] = { 0, 1, 2, 3 };
	(void)state;

	/* pieces 1 and 3 fail (-EIO, -EROFS), 0 and 2 succeed; all 24 orders */
	for (int round = 0; round < 24; round++, next_perm(perm, 4)) {
		struct cm *m;
		struct ch h;
		uint8_t buf[4096];
		int first_fail = -1;

		open_held(&h, &m, 0);
		struct ch_req *r = ch_submit(&h, VS_BLK_READ, 0, 0, 8 * 512, buf);
		assert_int_equal(cm_held(m), 4);
		for (int k = 0; k < 4; k++) {
			int piece = perm[k];
			const struct cm_rule *how = piece == 1 ? &medium : piece == 3 ? &protect : NULL;

			if (how && first_fail < 0)
				first_fail = piece;
			assert_int_equal(r->done, 0);
			cm_finish(m, held_index(m, (uint64_t)piece * 2), how);
		}
		assert_int_equal(r->done, 1);
		assert_int_equal(r->result, first_fail == 1 ? -EIO : -EROFS);
		assert_int_equal(cm_count(m, READ_16), 4);
		ch_put(r);
		ch_close(&h);
		cm_free(m);
	}
}

static void test_nothing_more_starts_after_a_failure(void **state)
{
	struct cm *m;
	struct ch h;
	uint8_t buf[4096];
	(void)state;

	/* two SRBs: pieces go two at a time */
	open_held(&h, &m, 2);
	struct ch_req *r = ch_submit(&h, VS_BLK_WRITE, 0, 0, 8 * 512, buf);
	assert_int_equal(cm_held(m), 2);
	cm_finish(m, held_index(m, 2), &medium);        /* the second piece fails */
	assert_int_equal(cm_held(m), 1);                /* no third piece cut */
	assert_int_equal(r->done, 0);
	cm_finish(m, 0, NULL);
	assert_int_equal(r->done, 1);
	assert_int_equal(r->result, -EIO);
	assert_int_equal(cm_count(m, WRITE_16), 2);
	ch_put(r);
	ch_close(&h);
	cm_free(m);
}

static void test_failure_ends_a_piece_backing_off(void **state)
{
	struct cm *m;
	struct ch h;
	uint8_t buf[4096];
	(void)state;

	open_held(&h, &m, 0);
	struct ch_req *r = ch_submit(&h, VS_BLK_READ, 0, 0, 4 * 512, buf);
	cm_finish(m, held_index(m, 0), &busy);          /* piece 0 waits for a retry */
	assert_true(h.armed_ns != VS_DISK_TIMER_OFF);
	cm_finish(m, held_index(m, 2), &medium);        /* piece 1 fails */
	/* done now, not when the back-off ends */
	assert_int_equal(r->done, 1);
	assert_int_equal(r->result, -EIO);
	int sent = cm_count(m, READ_16);
	ch_fire(&h);
	assert_int_equal(cm_count(m, READ_16), sent);   /* the retry never goes */
	assert_int_equal(cm_held(m), 0);
	assert_int_equal(r->done, 1);
	ch_put(r);
	ch_close(&h);
	cm_free(m);
}

static void test_requests_wait_for_srbs_in_order(void **state)
{
	struct cm *m;
	struct ch h;
	uint8_t buf[8][512];
	struct ch_req *r[8];
	(void)state;

	open_held(&h, &m, 2);
	for (int i = 0; i < 8; i++) {
		r[i] = ch_submit(&h, VS_BLK_READ, 0, (uint64_t)i * 512, 512, buf[i]);
		assert_non_null(r[i]);
	}
	assert_null(vs_disk_request_get(h.disk));       /* depth 8: all slots out */
	assert_int_equal(cm_held(m), 2);
	for (int done = 0; done < 8; done++) {
		assert_int_equal(cm_held(m), done < 7 ? 2 : 1);
		cm_finish(m, 0, NULL);
	}
	for (int i = 0; i < 8; i++) {
		assert_int_equal(r[i]->done, 1);
		assert_int_equal(r[i]->result, 0);
		/* started in the order submitted */
		const struct cm_cmd *c = cm_nth(m, READ_16, i);
		assert_int_equal(c->cdb[9], i);
		ch_put(r[i]);
	}
	ch_close(&h);
	cm_free(m);
}

static void test_abort_ends_everything_once(void **state)
{
	struct cm *m;
	struct ch h;
	uint8_t buf[4][512];
	(void)state;

	open_held(&h, &m, 3);
	struct ch_req *z = ch_submit(&h, VS_BLK_WRITE, 0, 0, 512, buf[0]);
	struct ch_req *x = ch_submit(&h, VS_BLK_READ, 0, 512, 512, buf[1]);
	struct ch_req *y = ch_submit(&h, VS_BLK_READ, 0, 1024, 512, buf[2]);
	struct ch_req *w = ch_submit(&h, VS_BLK_READ, 0, 1536, 512, buf[3]);
	assert_int_equal(cm_held(m), 3);                /* z, x, y in the port */
	cm_finish(m, held_index(m, 0), &busy);          /* z backs off, keeping its piece */
	assert_int_equal(cm_held(m), 2);                /* x, y in the port; w queued */
	vs_disk_abort(h.disk);
	struct ch_req *all[4] = { z, x, y, w };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(all[i]->done, 1);
		assert_int_equal(all[i]->result, -ECANCELED);
	}
	assert_int_equal(cm_held(m), 0);
	ch_fire(&h);                                    /* a stale timer changes nothing */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(all[i]->done, 1);
		ch_put(all[i]);
	}
	/* new requests are refused */
	assert_int_equal(ch_run(&h, VS_BLK_FLUSH, 0, 0, 0, NULL), -ESHUTDOWN);
	ch_close(&h);
	cm_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_error_wins_in_every_order),
		cmocka_unit_test(test_nothing_more_starts_after_a_failure),
		cmocka_unit_test(test_failure_ends_a_piece_backing_off),
		cmocka_unit_test(test_requests_wait_for_srbs_in_order),
		cmocka_unit_test(test_abort_ends_everything_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
