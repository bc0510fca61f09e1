/* SPDX-License-Identifier: MIT */
/*
 * vdisk provisioning and atomic commands: UNMAP (SBC-3 5.28), WRITE SAME
 * (5.41/5.42), GET LBA STATUS (5.7), COMPARE AND WRITE (5.3).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_vdisk_helpers.h"

static void unmap_cdb(uint8_t *cdb, uint16_t plen)
{
	memset(cdb, 0, 10);
	cdb[0] = UNMAP;
	put_be(&cdb[7], plen, 2);
}

/* parameter list with n descriptors */
static uint16_t unmap_list(uint8_t *p, const uint64_t *lba, const uint32_t *cnt, int n)
{
	memset(p, 0, 8 + 16 * n);
	put_be(&p[0], 6 + 16 * n, 2);
	put_be(&p[2], 16 * n, 2);
	for (int i = 0; i < n; i++) {
		put_be(&p[8 + 16 * i], lba[i], 8);
		put_be(&p[8 + 16 * i + 8], cnt[i], 4);
	}
	return (uint16_t)(8 + 16 * n);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_unmap(void **state)
{
	(void)state;
	for (uint32_t bs = 512; bs <= 4096; bs *= 8) {
		struct vt t;
		struct tf_result r;
		uint8_t cdb[10], list[64], *data = malloc(64 * bs), *in = malloc(64 * bs);
		uint64_t lba[2] = { 0, 40 };
		uint32_t cnt[2] = { 16, 24 };
		uint16_t plen;

		vt_setup(&t, bs, "1M", false);
		memset(data, 0xab, 64 * bs);
		vt_write(&t, 0, 64, data);
		plen = unmap_list(list, lba, cnt, 2);
		unmap_cdb(cdb, plen);
		vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, list, plen, &r);
		assert_good(&r);
		vt_read(&t, 0, 64, in);
		assert_true(all_zero(in, 16 * bs));                  /* LBPRZ */
		assert_memory_equal(in + 16 * bs, data, 24 * bs);    /* untouched */
		assert_true(all_zero(in + 40 * bs, 24 * bs));

		/* zero parameter list length: nothing to do */
		unmap_cdb(cdb, 0);
		vt_exec(&t, cdb, 10, VS_DIR_NONE, NULL, 0, &r);
		assert_good(&r);
		/* shorter than the header */
		unmap_cdb(cdb, 4);
		vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, list, 4, &r);
		assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
		/* a descriptor past the end: nothing unmapped at all */
		vt_write(&t, 0, 1, data);
		lba[1] = t.nblocks - 2;
		cnt[1] = 3;
		plen = unmap_list(list, lba, cnt, 2);
		unmap_cdb(cdb, plen);
		vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, list, plen, &r);
		assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		vt_read(&t, 0, 1, in);
		assert_memory_equal(in, data, bs);
		/* more than MAXIMUM UNMAP LBA COUNT */
		lba[0] = 0;
		cnt[0] = (1u << 20) + 1;
		plen = unmap_list(list, lba, cnt, 1);
		unmap_cdb(cdb, plen);
		vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, list, plen, &r);
		if (t.nblocks > (1u << 20)) {
			assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
		} else {
			assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		}
		/* ANCHOR is not supported */
		plen = unmap_list(list, lba, (uint32_t[]){ 1 }, 1);
		unmap_cdb(cdb, plen);
		cdb[1] = 0x01;
		vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, list, plen, &r);
		assert_invalid_cdb(&r, 1, 0);
		vt_teardown(&t);
		free(data);
		free(in);
	}
}

static void ws_cdb(uint8_t *cdb, bool ws16, uint64_t lba, uint32_t n, uint8_t b1)
{
	memset(cdb, 0, 16);
	cdb[0] = ws16 ? WRITE_SAME_16 : WRITE_SAME_10;
	cdb[1] = b1;
	if (ws16) {
		put_be(&cdb[2], lba, 8);
		put_be(&cdb[10], n, 4);
	} else {
		put_be(&cdb[2], lba, 4);
		put_be(&cdb[7], n, 2);
	}
}

static void test_write_same(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[16], blk[512], *in = malloc(2048 * 512);
	(void)state;

	vt_setup(&t, 512, "2M", false);
	/* pattern over more than one engine buffer (1 MiB = 2048 blocks) */
	for (int i = 0; i < 512; i++)
		blk[i] = (uint8_t)(i ^ 0x5c);
	ws_cdb(cdb, true, 100, 2500, 0);
	vt_exec(&t, cdb, 16, VS_DIR_TO_DEVICE, blk, 512, &r);
	assert_good(&r);
	vt_read(&t, 100, 2048, in);
	for (int b = 0; b < 2048; b++)
		assert_memory_equal(in + b * 512, blk, 512);
	vt_read(&t, 2548, 52, in);
	for (int b = 0; b < 52; b++)
		assert_memory_equal(in + b * 512, blk, 512);
	vt_read(&t, 2600, 1, in);
	assert_true(all_zero(in, 512));
	/* zeroes with UNMAP=1 deallocate and read back as zeroes */
	memset(blk, 0, sizeof(blk));
	ws_cdb(cdb, false, 100, 16, 0x08);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, blk, 512, &r);
	assert_good(&r);
	vt_read(&t, 100, 17, in);
	assert_true(all_zero(in, 16 * 512));
	assert_false(all_zero(in + 16 * 512, 512));     /* block 116 keeps the pattern */
	/* UNMAP=1 deallocates even with a non-zero block (LBPRZ: reads zero) */
	memset(blk, 0xff, sizeof(blk));
	vt_write(&t, 300, 1, blk);
	ws_cdb(cdb, true, 300, 1, 0x08);
	vt_exec(&t, cdb, 16, VS_DIR_TO_DEVICE, blk, 512, &r);
	assert_good(&r);
	vt_read(&t, 300, 1, in);
	assert_true(all_zero(in, 512));
	memset(blk, 0, sizeof(blk));
	/* NDOB (WRITE SAME 16): no data-out, zeroes */
	ws_cdb(cdb, true, 200, 8, 0x01);
	vt_exec(&t, cdb, 16, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	vt_read(&t, 200, 8, in);
	assert_true(all_zero(in, 8 * 512));

	/* errors */
	ws_cdb(cdb, false, 0, 0, 0);       /* WSNZ=1 */
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, blk, 512, &r);
	assert_invalid_cdb(&r, 7, 7);
	ws_cdb(cdb, false, t.nblocks + 1, 0, 0);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, blk, 512, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	ws_cdb(cdb, true, t.nblocks - 1, 2, 0);
	vt_exec(&t, cdb, 16, VS_DIR_TO_DEVICE, blk, 512, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	ws_cdb(cdb, true, 0, (1u << 20) + 1, 0);
	vt_exec(&t, cdb, 16, VS_DIR_TO_DEVICE, blk, 512, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	ws_cdb(cdb, false, 0, 1, 0);       /* data-out too small / too big */
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, blk, 256, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, in, 1024, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	ws_cdb(cdb, false, 0, 1, 0x10);    /* ANCHOR */
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, blk, 512, &r);
	assert_invalid_cdb(&r, 1, 4);
	ws_cdb(cdb, false, 0, 1, 0x20);    /* WRPROTECT */
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, blk, 512, &r);
	assert_invalid_cdb(&r, 1, 7);
	vt_teardown(&t);
	free(in);
}

static void test_get_lba_status(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[16], d[8 + 16 * 8], data[4096 * 4];
	uint64_t lba[1] = { 4 };
	uint32_t cnt[1] = { 4 };
	uint8_t list[32];
	uint16_t plen;
	(void)state;

	vt_setup(&t, 4096, "1M", false);
	memset(data, 1, sizeof(data));
	vt_write(&t, 0, 4, data);
	vt_write(&t, 4, 4, data);
	plen = unmap_list(list, lba, cnt, 1);
	unmap_cdb(cdb, plen);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, list, plen, &r);
	assert_good(&r);

	vt_exec(&t, cdb, cdb_get_lba_status(cdb, 0, sizeof(d)), VS_DIR_FROM_DEVICE, d, sizeof(d),
	        &r);
	assert_good(&r);
	assert_true(get_be(&d[0], 4) >= 4 + 32);
	/* first extent: blocks 0..3 mapped; second: 4.. deallocated */
	assert_int_equal(get_be(&d[8], 8), 0);
	assert_int_equal(get_be(&d[16], 4), 4);
	assert_int_equal(d[20] & 0x0f, 0);
	assert_int_equal(get_be(&d[24], 8), 4);
	assert_true(get_be(&d[32], 4) >= 4);
	assert_int_equal(d[36] & 0x0f, 1);

	put_be(&cdb[2], t.nblocks, 8);
	vt_exec(&t, cdb, 16, VS_DIR_FROM_DEVICE, d, sizeof(d), &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	vt_teardown(&t);
}

static void caw_cdb(uint8_t *cdb, uint64_t lba, uint8_t n)
{
	memset(cdb, 0, 16);
	cdb[0] = COMPARE_AND_WRITE;
	put_be(&cdb[2], lba, 8);
	cdb[13] = n;
}

static void test_compare_and_write(void **state)
{
	(void)state;
	for (uint32_t bs = 512; bs <= 4096; bs *= 8) {
		struct vt t;
		struct tf_result r;
		uint8_t cdb[16], *buf = malloc(4 * bs), *in = malloc(2 * bs);

		vt_setup(&t, bs, "1M", false);
		memset(buf, 0x11, 2 * bs);
		vt_write(&t, 7, 2, buf);
		/* compare 0x11.., write 0x22.. */
		memset(buf + 2 * bs, 0x22, 2 * bs);
		caw_cdb(cdb, 7, 2);
		vt_exec(&t, cdb, 16, VS_DIR_TO_DEVICE, buf, 4 * bs, &r);
		assert_good(&r);
		vt_read(&t, 7, 2, in);
		assert_memory_equal(in, buf + 2 * bs, 2 * bs);
		/* again: the medium is 0x22 now, so comparing 0x11 fails at byte 0 */
		vt_exec(&t, cdb, 16, VS_DIR_TO_DEVICE, buf, 4 * bs, &r);
		assert_sense(&r, SENSE_MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY);
		assert_int_equal(sense_info(&r), 0);
		/* difference in the middle of block 1 */
		memset(buf, 0x22, 2 * bs);
		buf[bs + 100] = 0x23;
		memset(buf + 2 * bs, 0x33, 2 * bs);
		vt_exec(&t, cdb, 16, VS_DIR_TO_DEVICE, buf, 4 * bs, &r);
		assert_sense(&r, SENSE_MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY);
		assert_int_equal(sense_info(&r), bs + 100);
		vt_read(&t, 7, 2, in);
		memset(buf, 0x22, 2 * bs);
		assert_memory_equal(in, buf, 2 * bs);      /* nothing written */
		/* errors */
		caw_cdb(cdb, t.nblocks - 1, 2);
		vt_exec(&t, cdb, 16, VS_DIR_TO_DEVICE, buf, 4 * bs, &r);
		assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		caw_cdb(cdb, 0, 1);                        /* data-out of 4 blocks for 1 */
		vt_exec(&t, cdb, 16, VS_DIR_TO_DEVICE, buf, 4 * bs, &r);
		assert_invalid_cdb(&r, 13, 7);
		caw_cdb(cdb, 0, 0);                        /* zero blocks: nothing */
		vt_exec(&t, cdb, 16, VS_DIR_TO_DEVICE, NULL, 0, &r);
		assert_good(&r);
		vt_teardown(&t);
		free(buf);
		free(in);
	}
}

/* Many concurrent COMPARE AND WRITEs and WRITEs on the same block:
 * each CAW that succeeds saw exactly the value it compared. */
static void test_caw_concurrent(void **state)
{
	struct vt t;
	struct tf_result r;
	enum { N = 64 };
	struct tf_task *tasks[N];
	uint8_t (*bufs)[2 * 512] = malloc(N * sizeof(*bufs)), cdb[16];
	int good = 0;
	(void)state;

	vt_setup(&t, 512, "1M", false);
	memset(bufs[0], 0, 512);
	vt_write(&t, 3, 1, bufs[0]);
	/* CAW i compares value i and writes i+1: exactly all succeed in order
	 * only if each sees the previous one's write atomically */
	for (int i = 0; i < N; i++) {
		memset(bufs[i], i, 512);
		memset(bufs[i] + 512, i + 1, 512);
	}
	caw_cdb(cdb, 3, 1);
	for (int i = 0; i < N; i++) {
		tasks[i] = tf_submit(t.tf, t.n, 0, cdb, 16, VS_DIR_TO_DEVICE, bufs[i], 1024);
		assert_non_null(tasks[i]);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(tf_wait(tasks[i], &r), 0);
		if (r.status == SAM_STAT_GOOD)
			good++;
		else
			assert_sense(&r, SENSE_MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY);
	}
	assert_int_equal(good, N);
	vt_read(&t, 3, 1, bufs[0]);
	assert_int_equal(bufs[0][0], N);
	vt_teardown(&t);
	free(bufs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unmap),
		cmocka_unit_test(test_write_same),
		cmocka_unit_test(test_get_lba_status),
		cmocka_unit_test(test_compare_and_write),
		cmocka_unit_test(test_caw_concurrent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
