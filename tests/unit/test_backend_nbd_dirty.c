/* SPDX-License-Identifier: MIT */
/* The nbd backend's dirty log (src/backends/nbd/nbd_dirty.c) on its own: what a
 * flush frees, ring space and its wrap, the record table running out,
 * replay order with overlapping records, records given up, and what counts
 * as acknowledged data lost. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "backends/nbd/nbd_dirty.h"

#define K 1024u

static struct nbd_dirty *mk(uint64_t ring, uint32_t recs, uint32_t window)
{
	static struct nbd_dirty d;

	assert_int_equal(vs_dlog_init(&d, ring, recs, window), 0);
	return &d;
}

/* A write of len bytes at off whose copy holds `fill`. */
static uint32_t put(struct nbd_dirty *d, uint64_t off, uint32_t len, int fill)
{
	uint32_t id = vs_dlog_add(d, 1, off, len, len, NULL);

	if (id != DIRTY_NONE)
		memset(vs_dlog_data(d, id), fill, len);
	return id;
}

static void test_flush_frees_only_what_it_covers(void **state)
{
	(void)state;
	struct nbd_dirty *d = mk(64 * K, 16, 4);
	uint32_t a = put(d, 0, 4 * K, 'a'), b = put(d, 8 * K, 4 * K, 'b');
	uint32_t c = put(d, 16 * K, 4 * K, 'c');

	assert_int_equal(dlog_count(d), 3);
	vs_dlog_acked(d, a);
	vs_dlog_acked(d, b);
	assert_int_equal(dlog_ack_bytes(d), 8 * K);
	uint64_t mark = dlog_flush_mark(d);    /* a flush goes out now */
	vs_dlog_acked(d, c);                      /* answered after: not covered */
	assert_int_equal(vs_dlog_flushed(d, mark), 2);
	assert_int_equal(dlog_count(d), 1);
	assert_int_equal(dlog_get(d, c)->state, DR_ACKED);
	assert_int_equal(dlog_ack_bytes(d), 4 * K);
	/* a record with no reply yet is never freed by a flush */
	uint32_t e = put(d, 32 * K, 4 * K, 'e');
	assert_int_equal(vs_dlog_flushed(d, dlog_flush_mark(d)), 1);
	assert_int_equal(dlog_get(d, e)->state, DR_SENT);
	assert_int_equal(dlog_count(d), 1);
	vs_dlog_fini(d);
}

static void test_ring_space_comes_back_in_order(void **state)
{
	(void)state;
	struct nbd_dirty *d = mk(16 * K, 16, 4);
	uint32_t a = put(d, 0, 8 * K, 'a'), b = put(d, 8 * K, 8 * K, 'b');

	assert_int_equal(dlog_ring_used(d), 16 * K);
	assert_int_equal(put(d, 0, 512, 'x'), DIRTY_NONE);     /* full */
	assert_true(dlog_want_flush(d));
	/* b flushed, a still waiting for its reply: a holds the ring */
	vs_dlog_acked(d, b);
	assert_int_equal(vs_dlog_flushed(d, dlog_flush_mark(d)), 1);
	assert_int_equal(dlog_ring_used(d), 16 * K);
	assert_int_equal(put(d, 0, 512, 'x'), DIRTY_NONE);
	vs_dlog_acked(d, a);
	assert_int_equal(vs_dlog_flushed(d, dlog_flush_mark(d)), 1);
	assert_int_equal(dlog_ring_used(d), 0);
	assert_false(dlog_want_flush(d));
	vs_dlog_fini(d);
}

static void test_ring_wraps_without_splitting_a_copy(void **state)
{
	(void)state;
	struct nbd_dirty *d = mk(16 * K, 16, 4);
	uint32_t a = put(d, 0, 6 * K, 'a'), b = put(d, 0, 6 * K, 'b');

	vs_dlog_acked(d, a);
	assert_int_equal(vs_dlog_flushed(d, dlog_flush_mark(d)), 1);
	/* 4 KiB left before the end, 6 KiB free at the start: 6 KiB does
	 * not fit after b, so it goes to the start and the tail is skipped */
	uint32_t c = put(d, 0, 6 * K, 'c');
	assert_int_not_equal(c, DIRTY_NONE);
	assert_ptr_equal(vs_dlog_data(d, c), d->ring);
	assert_int_equal(dlog_ring_used(d), 6 * K + 4 * K + 6 * K);
	assert_int_equal(put(d, 0, 512, 'x'), DIRTY_NONE);
	/* b's copy is intact under c's wrap */
	const uint8_t *pb = vs_dlog_data(d, b);
	for (unsigned i = 0; i < 6 * K; i++)
		assert_int_equal(pb[i], 'b');
	vs_dlog_acked(d, b);
	vs_dlog_acked(d, c);
	vs_dlog_flushed(d, dlog_flush_mark(d));
	assert_int_equal(dlog_ring_used(d), 0);
	/* bigger than the ring: never */
	assert_int_equal(put(d, 0, 17 * K, 'z'), DIRTY_NONE);
	vs_dlog_fini(d);
}

static void test_record_table_runs_out(void **state)
{
	(void)state;
	struct nbd_dirty *d = mk(0, 3, 4);      /* no copies: trims only */
	uint32_t ids[3];

	for (int i = 0; i < 3; i++) {
		ids[i] = vs_dlog_add(d, 2, (uint64_t)i * 4096, 4096, 0, NULL);
		assert_int_not_equal(ids[i], DIRTY_NONE);
	}
	assert_int_equal(vs_dlog_add(d, 2, 0, 4096, 0, NULL), DIRTY_NONE);
	assert_true(dlog_want_flush(d));
	vs_dlog_drop(d, ids[1]);
	assert_int_not_equal(vs_dlog_add(d, 2, 0, 4096, 0, NULL), DIRTY_NONE);
	vs_dlog_fini(d);
}

/* Replay everything and return the order, checking overlapping records
 * are never on their way at the same time. */
static unsigned replay_all(struct nbd_dirty *d, uint32_t *order, unsigned max)
{
	unsigned n = 0;

	while (!vs_dlog_replay_finished(d)) {
		uint32_t batch[DIRTY_MAX_WINDOW];
		unsigned nb = 0;
		uint32_t id;

		while ((id = vs_dlog_replay_next(d)) != DIRTY_NONE) {
			for (unsigned i = 0; i < nb; i++) {
				const struct dirty_rec *x = dlog_get(d, batch[i]), *y = dlog_get(d, id);
				assert_false(x->off < y->off + y->len && y->off < x->off + x->len);
			}
			batch[nb++] = id;
		}
		assert_true(nb > 0);    /* never stuck with nothing on its way */
		for (unsigned i = 0; i < nb; i++) {
			uint64_t lost;

			assert_true(n < max);
			order[n++] = batch[i];
			vs_dlog_replay_done(d, batch[i], true, &lost);
			assert_int_equal(lost, 0);
		}
	}
	return n;
}

static void test_replay_keeps_overlapping_writes_in_order(void **state)
{
	(void)state;
	struct nbd_dirty *d = mk(256 * K, 64, 8);
	/* 0: [0,8K)  1: [16K,20K)  2: [4K,12K) overlaps 0  3: [32K,36K)
	 * 4: [0,4K) overlaps 0 and not 2  5: [16K,17K) overlaps 1 */
	uint32_t r[6] = {
		put(d, 0, 8 * K, 1), put(d, 16 * K, 4 * K, 2), put(d, 4 * K, 8 * K, 3),
		put(d, 32 * K, 4 * K, 4), put(d, 0, 4 * K, 5), put(d, 16 * K, K, 6),
	};
	for (int i = 0; i < 4; i++)
		vs_dlog_acked(d, r[i]);   /* 4 and 5 were still on their way */

	vs_dlog_lost(d);
	uint32_t order[16];
	unsigned n = replay_all(d, order, 16);

	assert_int_equal(n, 6);
	/* every record once, and each after every earlier one it overlaps */
	for (unsigned i = 0; i < 6; i++) {
		unsigned pos_i = 99;

		for (unsigned k = 0; k < n; k++)
			if (order[k] == r[i])
				pos_i = k;
		assert_int_not_equal(pos_i, 99);
		for (unsigned j = 0; j < i; j++) {
			const struct dirty_rec *a = dlog_get(d, r[j]), *b = dlog_get(d, r[i]);
			unsigned pos_j = 99;

			if (!(a->off < b->off + b->len && b->off < a->off + a->len))
				continue;
			for (unsigned k = 0; k < n; k++)
				if (order[k] == r[j])
					pos_j = k;
			assert_true(pos_j < pos_i);
		}
	}
	/* replayed records are acknowledged again: the next flush frees all */
	assert_int_equal(vs_dlog_flushed(d, dlog_flush_mark(d)), 6);
	vs_dlog_fini(d);
}

static void test_replay_window_and_barrier(void **state)
{
	(void)state;
	struct nbd_dirty *d = mk(256 * K, 64, 2);
	uint32_t a = put(d, 0, K, 1), b = put(d, 8 * K, K, 2), c = put(d, 16 * K, K, 3);
	uint32_t e = put(d, 0, K, 4);   /* overlaps a */
	uint64_t lost;

	vs_dlog_lost(d);
	assert_int_equal(vs_dlog_replay_next(d), a);
	assert_int_equal(vs_dlog_replay_next(d), b);
	assert_int_equal(vs_dlog_replay_next(d), DIRTY_NONE);     /* window of 2 */
	vs_dlog_replay_done(d, b, true, &lost);
	assert_int_equal(vs_dlog_replay_next(d), c);
	assert_int_equal(vs_dlog_replay_next(d), DIRTY_NONE);     /* e waits for a */
	vs_dlog_replay_done(d, c, true, &lost);
	assert_int_equal(vs_dlog_replay_next(d), DIRTY_NONE);     /* still a */
	vs_dlog_replay_done(d, a, true, &lost);
	assert_int_equal(vs_dlog_replay_next(d), e);
	assert_false(vs_dlog_replay_finished(d));
	vs_dlog_replay_done(d, e, true, &lost);
	assert_true(vs_dlog_replay_finished(d));
	vs_dlog_fini(d);
}

static void test_replay_copies_survive_and_owner_returns(void **state)
{
	(void)state;
	struct nbd_dirty *d = mk(64 * K, 16, 4);
	int owner_a, owner_b;
	uint32_t a = vs_dlog_add(d, 1, 0, 4 * K, 4 * K, &owner_a);
	uint32_t b = vs_dlog_add(d, 1, 4 * K, 4 * K, 4 * K, &owner_b);
	uint64_t lost;

	memset(vs_dlog_data(d, a), 'A', 4 * K);
	memset(vs_dlog_data(d, b), 'B', 4 * K);
	assert_ptr_equal(vs_dlog_acked(d, a), &owner_a);  /* the caller completes it */
	vs_dlog_lost(d);
	assert_int_equal(vs_dlog_replay_next(d), a);
	assert_int_equal(vs_dlog_replay_next(d), b);
	assert_ptr_equal(vs_dlog_replay_done(d, a, true, &lost), NULL);  /* done before */
	assert_ptr_equal(vs_dlog_replay_done(d, b, true, &lost), &owner_b);
	assert_int_equal(((uint8_t *)vs_dlog_data(d, a))[4095], 'A');
	assert_int_equal(((uint8_t *)vs_dlog_data(d, b))[0], 'B');
	vs_dlog_fini(d);
}

static void test_failed_replay_counts_acknowledged_bytes_lost(void **state)
{
	(void)state;
	struct nbd_dirty *d = mk(64 * K, 16, 4);
	int owner;
	uint32_t a = put(d, 0, 4 * K, 'a');
	uint32_t b = vs_dlog_add(d, 1, 8 * K, 2 * K, 2 * K, &owner);
	uint64_t lost;

	vs_dlog_acked(d, a);
	vs_dlog_lost(d);
	assert_int_equal(vs_dlog_replay_next(d), a);
	assert_int_equal(vs_dlog_replay_next(d), b);
	/* a was acknowledged: its bytes are lost; b never was: its request fails */
	assert_ptr_equal(vs_dlog_replay_done(d, a, false, &lost), NULL);
	assert_int_equal(lost, 4 * K);
	assert_ptr_equal(vs_dlog_replay_done(d, b, false, &lost), &owner);
	assert_int_equal(lost, 0);
	assert_int_equal(dlog_count(d), 0);
	assert_true(vs_dlog_replay_finished(d));
	vs_dlog_fini(d);
}

static void test_lost_again_during_replay(void **state)
{
	(void)state;
	struct nbd_dirty *d = mk(64 * K, 16, 4);
	uint32_t a = put(d, 0, K, 1), b = put(d, K, K, 2);
	uint64_t lost;

	vs_dlog_acked(d, a);
	vs_dlog_acked(d, b);
	vs_dlog_lost(d);
	assert_int_equal(vs_dlog_replay_next(d), a);
	vs_dlog_replay_done(d, a, true, &lost);
	assert_int_equal(vs_dlog_replay_next(d), b);
	/* the new connection dies too: both go out again, a first */
	vs_dlog_lost(d);
	assert_int_equal(vs_dlog_replay_next(d), a);
	assert_int_equal(vs_dlog_replay_next(d), b);
	/* no flush may free a record acknowledged before the loss */
	assert_int_equal(vs_dlog_flushed(d, dlog_flush_mark(d)), 0);
	vs_dlog_fini(d);
}

static void test_drop_during_replay_and_give_up(void **state)
{
	(void)state;
	struct nbd_dirty *d = mk(64 * K, 16, 4);
	int owner;
	uint32_t a = put(d, 0, 4 * K, 1);
	uint32_t b = vs_dlog_add(d, 1, 4 * K, 4 * K, 4 * K, &owner);
	uint32_t c = put(d, 8 * K, 2 * K, 3);
	uint64_t recs;

	vs_dlog_acked(d, a);
	vs_dlog_acked(d, c);
	vs_dlog_lost(d);
	vs_dlog_drop(d, b);               /* its request was cancelled */
	assert_int_equal(vs_dlog_replay_next(d), a);
	assert_int_equal(vs_dlog_replay_next(d), c);
	assert_int_equal(vs_dlog_replay_next(d), DIRTY_NONE);
	/* the export changed: what was acknowledged is gone */
	assert_int_equal(vs_dlog_give_up(d, &recs), 6 * K);
	assert_int_equal(recs, 2);
	assert_int_equal(dlog_count(d), 0);
	assert_int_equal(dlog_ack_bytes(d), 0);
	assert_true(vs_dlog_replay_finished(d));
	assert_int_equal(dlog_ring_used(d), 0);
	vs_dlog_fini(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flush_frees_only_what_it_covers),
		cmocka_unit_test(test_ring_space_comes_back_in_order),
		cmocka_unit_test(test_ring_wraps_without_splitting_a_copy),
		cmocka_unit_test(test_record_table_runs_out),
		cmocka_unit_test(test_replay_keeps_overlapping_writes_in_order),
		cmocka_unit_test(test_replay_window_and_barrier),
		cmocka_unit_test(test_replay_copies_survive_and_owner_returns),
		cmocka_unit_test(test_failed_replay_counts_acknowledged_bytes_lost),
		cmocka_unit_test(test_lost_again_during_replay),
		cmocka_unit_test(test_drop_during_replay_and_give_up),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
