/* SPDX-License-Identifier: MIT */
/*
 * Splitting: a block request becomes as many commands as the adapter and
 * the LUN's Block Limits VPD page (SBC-3 6.6.4) require, each within its
 * limit, together covering exactly the request, and the data lands where
 * it belongs.
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

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* the LBA and block count of the i-th logged command with `op` */
static void cmd_range(struct cm *m, uint8_t op, int i, uint64_t *lba, uint32_t *n)
{
	const struct cm_cmd *c = cm_nth(m, op, i);

	assert_non_null(c);
	*lba = be64(&c->cdb[2]);
	*n = be32(&c->cdb[10]);
}

static void fill(uint8_t *b, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed + i * 13 + (i >> 9));
}

static void test_rw_split_by_adapter_limit(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	uint8_t out[20480], in[20480];
	uint64_t lba;
	uint32_t n;
	(void)state;

	m->max_xfer = 4096;
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	fill(out, sizeof(out), 3);
	assert_int_equal(ch_run(&h, VS_BLK_WRITE, VS_BLK_FUA, 3 * 512, sizeof(out), out), 0);
	assert_int_equal(cm_count(m, WRITE_16), 5);
	for (int i = 0; i < 5; i++) {
		cmd_range(m, WRITE_16, i, &lba, &n);
		assert_int_equal(lba, 3 + 8 * i);
		assert_int_equal(n, 8);
		assert_int_equal(cm_nth(m, WRITE_16, i)->data_length, 4096);
		assert_int_equal(cm_nth(m, WRITE_16, i)->cdb[1] & 0x08, 0x08);  /* FUA on every piece */
	}
	memset(in, 0, sizeof(in));
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 3 * 512, sizeof(in), in), 0);
	assert_int_equal(cm_count(m, READ_16), 5);
	assert_memory_equal(in, out, sizeof(in));
	ch_close(&h);
	cm_free(m);
}

static void test_rw_split_by_block_limits_vpd(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	uint8_t out[10 * 512], in[10 * 512];
	uint64_t lba;
	uint32_t n;
	const uint32_t want[] = { 3, 3, 3, 1 };
	(void)state;

	m->b0_max_xfer = 3;             /* MAXIMUM TRANSFER LENGTH: 3 blocks */
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	fill(out, sizeof(out), 9);
	assert_int_equal(ch_run(&h, VS_BLK_WRITE, 0, 100 * 512, sizeof(out), out), 0);
	assert_int_equal(cm_count(m, WRITE_16), 4);
	for (int i = 0; i < 4; i++) {
		cmd_range(m, WRITE_16, i, &lba, &n);
		assert_int_equal(lba, 100 + 3 * i);
		assert_int_equal(n, want[i]);
	}
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 100 * 512, sizeof(in), in), 0);
	assert_memory_equal(in, out, sizeof(in));
	ch_close(&h);
	cm_free(m);
}

static void test_rw_split_by_sg_limit(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	uint8_t out[3072], in[3072];
	/* entries that do not end on block boundaries */
	struct iovec iov[4] = { { out, 300 }, { out + 300, 900 }, { out + 1200, 812 },
	                        { out + 2012, 1060 } };
	uint64_t lba;
	uint32_t n;
	(void)state;

	m->max_sg = 2;
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	fill(out, sizeof(out), 77);
	struct ch_req *r = ch_submit_iov(&h, VS_BLK_WRITE, 0, 0, sizeof(out), iov, 4);
	assert_int_equal(r->done, 1);
	assert_int_equal(r->result, 0);
	ch_put(r);
	/* 300+900 → 2 blocks; 176+812 → 1 block; 476+1060 → 3 blocks */
	assert_int_equal(cm_count(m, WRITE_16), 3);
	const uint32_t want_lba[] = { 0, 2, 3 }, want_n[] = { 2, 1, 3 };
	for (int i = 0; i < 3; i++) {
		cmd_range(m, WRITE_16, i, &lba, &n);
		assert_int_equal(lba, want_lba[i]);
		assert_int_equal(n, want_n[i]);
		assert_true(cm_nth(m, WRITE_16, i)->iovcnt <= 2);
	}
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 0, sizeof(in), in), 0);
	assert_memory_equal(in, out, sizeof(in));

	/* an entry too small to make one block within the limit: refused */
	struct iovec bad[3] = { { out, 100 }, { out + 100, 100 }, { out + 200, 312 } };
	r = ch_submit_iov(&h, VS_BLK_READ, 0, 0, 512, bad, 3);
	assert_int_equal(r->done, 1);
	assert_int_equal(r->result, -EINVAL);
	ch_put(r);
	ch_close(&h);
	cm_free(m);
}

static void test_unmap_split_by_max_lba_count(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	(void)state;

	m->b0_max_unmap = 100;
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	assert_int_equal(ch_run(&h, VS_BLK_UNMAP, 0, 7 * 512, 250 * 512, NULL), 0);
	assert_int_equal(cm_count(m, UNMAP), 3);
	const uint32_t want[] = { 100, 100, 50 };
	for (int i = 0; i < 3; i++) {
		const struct cm_cmd *c = cm_nth(m, UNMAP, i);
		assert_int_equal(be64(&c->param[8]), 7 + 100 * i);
		assert_int_equal(be32(&c->param[16]), want[i]);
	}
	ch_close(&h);
	cm_free(m);
}

static void test_unmap_split_on_granules(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	const uint64_t want_lba[] = { 3, 16, 32, 48 };
	const uint32_t want_n[] = { 13, 16, 16, 5 };
	(void)state;

	/* at most 20 blocks per command, deallocated in granules of 8 from
	 * LBA 0: split points fall on granule boundaries */
	m->b0_max_unmap = 20;
	m->b0_gran = 8;
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	assert_int_equal(ch_run(&h, VS_BLK_UNMAP, 0, 3 * 512, 50 * 512, NULL), 0);
	assert_int_equal(cm_count(m, UNMAP), 4);
	for (int i = 0; i < 4; i++) {
		const struct cm_cmd *c = cm_nth(m, UNMAP, i);
		assert_int_equal(be64(&c->param[8]), want_lba[i]);
		assert_int_equal(be32(&c->param[16]), want_n[i]);
	}
	ch_close(&h);
	cm_free(m);
}

static void test_unmap_split_by_descriptor_count(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	const uint64_t blocks = (2ull << 32) + 10;      /* over two full descriptors */
	(void)state;

	m->blocks = 1ull << 34;                         /* 8 TiB, nothing of it in RAM */
	m->data_blocks = 16;
	m->b0_max_unmap = 0xffffffffu;                  /* no LBA limit per command */
	m->b0_max_desc = 2;
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	assert_int_equal(ch_run(&h, VS_BLK_UNMAP, 0, 0, blocks * 512, NULL), 0);
	assert_int_equal(cm_count(m, UNMAP), 2);
	const struct cm_cmd *c = cm_nth(m, UNMAP, 0);
	assert_int_equal(c->param_len, 8 + 2 * 16);
	assert_int_equal(be64(&c->param[8]), 0);
	assert_int_equal(be32(&c->param[16]), 0xffffffffu);
	assert_int_equal(be64(&c->param[24]), 0xffffffffull);
	assert_int_equal(be32(&c->param[32]), 0xffffffffu);
	c = cm_nth(m, UNMAP, 1);
	assert_int_equal(c->param_len, 8 + 16);
	assert_int_equal(be64(&c->param[8]), 2 * 0xffffffffull);
	assert_int_equal(be32(&c->param[16]), 12);
	ch_close(&h);
	cm_free(m);
}

static void test_write_zeroes_split_by_max_write_same(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	uint8_t data[20 * 512], in[20 * 512], zero[20 * 512] = {0};
	uint64_t lba;
	uint32_t n;
	const uint32_t want[] = { 7, 7, 6 };
	(void)state;

	m->b0_max_ws = 7;
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	memset(data, 0x33, sizeof(data));
	assert_int_equal(ch_run(&h, VS_BLK_WRITE, 0, 0, sizeof(data), data), 0);
	assert_int_equal(ch_run(&h, VS_BLK_WRITE_ZEROES, VS_BLK_NO_UNMAP, 0, sizeof(data), NULL), 0);
	assert_int_equal(cm_count(m, WRITE_SAME_16), 3);
	for (int i = 0; i < 3; i++) {
		cmd_range(m, WRITE_SAME_16, i, &lba, &n);
		assert_int_equal(lba, 7 * i);
		assert_int_equal(n, want[i]);
	}
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 0, sizeof(in), in), 0);
	assert_memory_equal(in, zero, sizeof(in));
	ch_close(&h);
	cm_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rw_split_by_adapter_limit),
		cmocka_unit_test(test_rw_split_by_block_limits_vpd),
		cmocka_unit_test(test_rw_split_by_sg_limit),
		cmocka_unit_test(test_unmap_split_by_max_lba_count),
		cmocka_unit_test(test_unmap_split_on_granules),
		cmocka_unit_test(test_unmap_split_by_descriptor_count),
		cmocka_unit_test(test_write_zeroes_split_by_max_write_same),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
