/* SPDX-License-Identifier: MIT */
/*
 * Each block request becomes the SBC-3 command it should: READ(16) /
 * WRITE(16) with FUA, SYNCHRONIZE CACHE(16), UNMAP, WRITE SAME(16) with
 * UNMAP / NDOB (and a zero block where NDOB is refused), GET LBA STATUS
 * into extents; and requests the disk cannot take are refused before any
 * SRB goes out.
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

static uint32_t cdb_count(const struct cm_cmd *c)
{
	return (uint32_t)c->cdb[10] << 24 | (uint32_t)c->cdb[11] << 16 | (uint32_t)c->cdb[12] << 8 |
	       c->cdb[13];
}

static uint64_t cdb_lba(const struct cm_cmd *c)
{
	uint64_t v = 0;

	for (int i = 2; i < 10; i++)
		v = v << 8 | c->cdb[i];
	return v;
}

static void test_read_write_round_trip_and_fua(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	uint8_t out[4096], in[4096];
	(void)state;

	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(ch_run(&h, VS_BLK_WRITE, 0, 8192, 4096, out), 0);
	const struct cm_cmd *w = cm_nth(m, WRITE_16, 0);
	assert_int_equal(cdb_lba(w), 16);
	assert_int_equal(cdb_count(w), 8);
	assert_int_equal(w->cdb[1] & 0x08, 0);          /* no FUA asked */
	assert_int_equal(ch_run(&h, VS_BLK_WRITE, VS_BLK_FUA, 0, 512, out), 0);
	assert_int_equal(cm_nth(m, WRITE_16, 1)->cdb[1] & 0x08, 0x08);
	memset(in, 0, sizeof(in));
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 8192, 4096, in), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(cm_nth(m, READ_16, 0)->cdb[0], READ_16);
	ch_close(&h);
	cm_free(m);
}

/*
 * class.h data_ref: a READ with VS_BLK_MAY_LEND that goes as one SRB takes
 * the device's bytes by reference (its buffer untouched) and holds the
 * loan until vs_disk_request_release, exactly once (also via put, and
 * when the request slot is reused); a split READ, or one without the
 * flag, copies as before.
 */
static void test_read_by_reference(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	uint8_t out[4096], in[4096];
	(void)state;

	m->lend = true;
	m->max_xfer = 8192;     /* 16 blocks per SRB: 8 KiB reads are one piece */
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 13 + 5);
	assert_int_equal(ch_run(&h, VS_BLK_WRITE, 0, 8192, 4096, out), 0);

	memset(in, 0xee, sizeof(in));
	struct ch_req *r = ch_submit(&h, VS_BLK_READ, VS_BLK_MAY_LEND, 8192, 4096, in);
	assert_int_equal(r->done, 1);
	assert_int_equal(r->result, 0);
	assert_non_null(r->req->data_ref);
	assert_memory_equal(r->req->data_ref, out, sizeof(out));
	for (size_t i = 0; i < sizeof(in); i++)
		assert_int_equal(in[i], 0xee);          /* nothing copied */
	assert_int_equal(m->lent, 1);
	assert_int_equal(m->lends_ended, 0);    /* held while the caller sends */
	vs_disk_request_release(r->req);
	assert_null(r->req->data_ref);
	assert_int_equal(m->lends_ended, 1);
	vs_disk_request_release(r->req);        /* nothing left to end */
	assert_int_equal(m->lends_ended, 1);
	ch_put(r);

	/* put without release ends the loan */
	r = ch_submit(&h, VS_BLK_READ, VS_BLK_MAY_LEND, 0, 512, in);
	assert_non_null(r->req->data_ref);
	ch_put(r);
	assert_int_equal(m->lends_ended, 2);

	/* without the flag: copied */
	memset(in, 0, sizeof(in));
	r = ch_submit(&h, VS_BLK_READ, 0, 8192, 4096, in);
	assert_null(r->req->data_ref);
	assert_memory_equal(in, out, sizeof(out));
	ch_put(r);

	/* split in two SRBs (16 KiB over an 8 KiB limit): copied */
	uint8_t big[16384];
	r = ch_submit(&h, VS_BLK_READ, VS_BLK_MAY_LEND, 8192, sizeof(big), big);
	assert_int_equal(r->result, 0);
	assert_null(r->req->data_ref);
	assert_memory_equal(big, out, sizeof(out));
	ch_put(r);
	assert_int_equal(m->lent, 2);
	assert_int_equal(m->lends_ended, 2);
	ch_close(&h);
	cm_free(m);
}

static void test_flush(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	(void)state;

	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	assert_int_equal(ch_run(&h, VS_BLK_FLUSH, 0, 0, 0, NULL), 0);
	const struct cm_cmd *c = cm_nth(m, SYNCHRONIZE_CACHE_16, 0);
	assert_non_null(c);
	/* the whole LUN: LBA 0, 0 blocks = to the end (SBC-3 5.26) */
	assert_int_equal(cdb_lba(c), 0);
	assert_int_equal(cdb_count(c), 0);
	ch_close(&h);
	cm_free(m);
}

static void test_unmap_and_block_status(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	uint8_t data[2048];
	(void)state;

	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	memset(data, 0x5a, sizeof(data));
	for (int i = 0; i < 2048 / 4; i++)
		assert_int_equal(ch_run(&h, VS_BLK_WRITE, 0, (uint64_t)i * 2048, 2048, data), 0);
	assert_int_equal(ch_run(&h, VS_BLK_UNMAP, 0, 10 * 512, 6 * 512, NULL), 0);
	const struct cm_cmd *u = cm_nth(m, UNMAP, 0);
	assert_non_null(u);
	assert_int_equal(u->param_len, 8 + 16);
	assert_int_equal(u->param[1], 8 + 16 - 2);      /* UNMAP DATA LENGTH */
	assert_int_equal(u->param[3], 16);              /* one descriptor */
	assert_int_equal(u->param[8 + 7], 10);          /* LBA */
	assert_int_equal(u->param[8 + 11], 6);          /* blocks */

	struct ch_req *r = ch_submit(&h, VS_BLK_BLOCK_STATUS, 0, 8 * 512, 12 * 512, NULL);
	assert_int_equal(r->done, 1);
	assert_int_equal(r->result, 0);
	assert_int_equal(r->req->nextents, 3);
	assert_int_equal(r->extents[0].offset, 8 * 512);
	assert_int_equal(r->extents[0].length, 2 * 512);
	assert_int_equal(r->extents[0].flags, 0);
	assert_int_equal(r->extents[1].offset, 10 * 512);
	assert_int_equal(r->extents[1].length, 6 * 512);
	/* deallocated, and LBPRZ says it reads as zeroes */
	assert_int_equal(r->extents[1].flags, VS_BLK_EXTENT_HOLE | VS_BLK_EXTENT_ZERO);
	assert_int_equal(r->extents[2].offset, 16 * 512);
	assert_int_equal(r->extents[2].length, 4 * 512);        /* clipped to the request */
	assert_int_equal(r->extents[2].flags, 0);
	ch_put(r);
	ch_close(&h);
	cm_free(m);
}

static void test_block_status_without_provisioning(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	(void)state;

	/* LBPME=0: fully provisioned; answered without a command */
	m->lbpme = false;
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	int before = cm_count(m, CM_ANY);
	struct ch_req *r = ch_submit(&h, VS_BLK_BLOCK_STATUS, 0, 0, 1 << 20, NULL);
	assert_int_equal(r->done, 1);
	assert_int_equal(r->result, 0);
	assert_int_equal(r->req->nextents, 1);
	assert_int_equal(r->extents[0].length, 1 << 20);
	assert_int_equal(r->extents[0].flags, 0);
	assert_int_equal(cm_count(m, CM_ANY), before);
	ch_put(r);
	ch_close(&h);
	cm_free(m);

	/* LBPME=1 but GET LBA STATUS refused as an unknown opcode: mapped */
	m = cm_new();
	m->no_lba_status = true;
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	r = ch_submit(&h, VS_BLK_BLOCK_STATUS, 0, 512, 4096, NULL);
	assert_int_equal(r->done, 1);
	assert_int_equal(r->result, 0);
	assert_int_equal(r->req->nextents, 1);
	assert_int_equal(r->extents[0].offset, 512);
	assert_int_equal(r->extents[0].length, 4096);
	assert_int_equal(cm_count(m, SERVICE_ACTION_IN_16), 2);    /* capacity + the refused one */
	ch_put(r);
	ch_close(&h);
	cm_free(m);
}

static void test_write_zeroes_flags(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	(void)state;

	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	/* may deallocate: UNMAP=1, NDOB=1 */
	assert_int_equal(ch_run(&h, VS_BLK_WRITE_ZEROES, 0, 0, 4096, NULL), 0);
	const struct cm_cmd *c = cm_nth(m, WRITE_SAME_16, 0);
	assert_int_equal(c->cdb[1], 0x08 | 0x01);
	assert_int_equal(c->data_length, 0);
	assert_int_equal(cdb_count(c), 8);
	/* NO_UNMAP: keep the blocks allocated */
	assert_int_equal(ch_run(&h, VS_BLK_WRITE_ZEROES, VS_BLK_NO_UNMAP, 0, 4096, NULL), 0);
	assert_int_equal(cm_nth(m, WRITE_SAME_16, 1)->cdb[1], 0x01);
	/* FAST_ZERO with a hole allowed: done by deallocation */
	assert_int_equal(ch_run(&h, VS_BLK_WRITE_ZEROES, VS_BLK_FAST_ZERO, 0, 4096, NULL), 0);
	/* FAST_ZERO + NO_UNMAP: only writing would do: refused, nothing sent */
	int before = cm_count(m, CM_ANY);
	assert_int_equal(ch_run(&h, VS_BLK_WRITE_ZEROES, VS_BLK_FAST_ZERO | VS_BLK_NO_UNMAP,
	                        0, 4096, NULL), -EOPNOTSUPP);
	assert_int_equal(cm_count(m, CM_ANY), before);
	/* FUA: WRITE SAME has no FUA bit, a SYNCHRONIZE CACHE over the range follows */
	assert_int_equal(ch_run(&h, VS_BLK_WRITE_ZEROES, VS_BLK_FUA, 4096, 8192, NULL), 0);
	c = cm_nth(m, CM_ANY, cm_count(m, CM_ANY) - 1);
	assert_int_equal(c->cdb[0], SYNCHRONIZE_CACHE_16);
	assert_int_equal(cdb_lba(c), 8);
	assert_int_equal(cdb_count(c), 16);
	/* so does UNMAP with FUA */
	assert_int_equal(ch_run(&h, VS_BLK_UNMAP, VS_BLK_FUA, 0, 512, NULL), 0);
	c = cm_nth(m, CM_ANY, cm_count(m, CM_ANY) - 1);
	assert_int_equal(c->cdb[0], SYNCHRONIZE_CACHE_16);
	assert_int_equal(cdb_count(c), 1);
	ch_close(&h);
	cm_free(m);

	/* without LBPRZ deallocation is not zeroing: FAST_ZERO refused */
	m = cm_new();
	m->lbprz = false;
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	assert_int_equal(ch_run(&h, VS_BLK_WRITE_ZEROES, VS_BLK_FAST_ZERO, 0, 512, NULL),
	                 -EOPNOTSUPP);
	ch_close(&h);
	cm_free(m);
}

static void test_ndob_refused_sends_zero_block(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	uint8_t data[4096], in[4096];
	(void)state;

	m->refuse_ndob = true;
	m->lbprz = false;               /* so the zeroes really come from writing */
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	memset(data, 0xee, sizeof(data));
	assert_int_equal(ch_run(&h, VS_BLK_WRITE, 0, 0, 4096, data), 0);
	assert_int_equal(ch_run(&h, VS_BLK_WRITE_ZEROES, VS_BLK_NO_UNMAP, 0, 4096, NULL), 0);
	assert_int_equal(cm_count(m, WRITE_SAME_16), 2);
	assert_int_equal(cm_nth(m, WRITE_SAME_16, 0)->cdb[1] & 0x01, 0x01);
	assert_int_equal(cm_nth(m, WRITE_SAME_16, 1)->cdb[1] & 0x01, 0);
	assert_int_equal(cm_nth(m, WRITE_SAME_16, 1)->data_length, 512);
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 0, 4096, in), 0);
	memset(data, 0, sizeof(data));
	assert_memory_equal(in, data, sizeof(in));
	/* remembered: the next one goes with the block at once */
	assert_int_equal(ch_run(&h, VS_BLK_WRITE_ZEROES, 0, 0, 512, NULL), 0);
	assert_int_equal(cm_count(m, WRITE_SAME_16), 3);
	ch_close(&h);
	cm_free(m);
}

static void test_refused_requests(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	uint8_t buf[8192];
	struct iovec iov[4] = { { buf, 512 }, { buf, 512 }, { buf, 512 }, { buf, 512 } };
	(void)state;

	assert_int_equal(ch_open(&h, m, 0, 0, 3), 0);
	int before = cm_count(m, CM_ANY);
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 100, 512, buf), -EINVAL);   /* misaligned */
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 0, 100, buf), -EINVAL);
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 0, 0, buf), -EINVAL);
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 2047 * 512, 1024, buf), -EINVAL); /* past end */
	assert_int_equal(ch_run(&h, VS_BLK_WRITE, 0, UINT64_MAX - 511, 512, buf), -EINVAL);
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 0, 512, NULL), -EINVAL);   /* no data */
	assert_int_equal(ch_run(&h, 77, 0, 0, 512, buf), -EINVAL);             /* no such op */
	struct ch_req *r = ch_submit_iov(&h, VS_BLK_READ, 0, 0, 2048, iov, 4);  /* > max_iov 3 */
	assert_int_equal(r->result, -EINVAL);
	ch_put(r);
	r = ch_submit_iov(&h, VS_BLK_READ, 0, 0, 2048, iov, 3);     /* 1536 bytes < length */
	assert_int_equal(r->result, -EINVAL);
	ch_put(r);
	r = ch_submit(&h, VS_BLK_BLOCK_STATUS, 0, 0, 512, NULL);
	r->req->max_extents = 0;
	vs_disk_submit(h.disk, r->req);                 /* nowhere to put the answer */
	assert_int_equal(r->result, -EINVAL);
	ch_put(r);
	assert_int_equal(cm_count(m, CM_ANY), before + 1);      /* only the first BLOCK_STATUS */
	/* the last block is fine */
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 2047 * 512, 512, buf), 0);
	ch_close(&h);
	cm_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_write_round_trip_and_fua),
		cmocka_unit_test(test_read_by_reference),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_unmap_and_block_status),
		cmocka_unit_test(test_block_status_without_provisioning),
		cmocka_unit_test(test_write_zeroes_flags),
		cmocka_unit_test(test_ndob_refused_sends_zero_block),
		cmocka_unit_test(test_refused_requests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
