/* SPDX-License-Identifier: MIT */
/*
 * vdisk data path: READ/WRITE 6/10/12/16 round trips at 512 and 4096-byte
 * blocks, range and protection errors, residuals (SAM-5 5.4.3, RFC 7143
 * 11.4.5.1), VERIFY, WRITE AND VERIFY, SYNCHRONIZE CACHE, PRE-FETCH.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "test_vdisk_helpers.h"

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

static void test_round_trips(void **state)
{
	static const uint8_t rd[] = { READ_6, READ_10, READ_12, READ_16 };
	static const uint8_t wr[] = { WRITE_6, WRITE_10, WRITE_12, WRITE_16 };
	(void)state;

	for (uint32_t bs = 512; bs <= 4096; bs *= 8) {
		struct vt t;
		uint8_t *in = malloc(8 * bs), *out = malloc(8 * bs), cdb[16];
		struct tf_result r;

		vt_setup(&t, bs, "2M", false);
		for (int k = 0; k < 4; k++) {
			uint64_t lba = 3 + (uint64_t)k * 10;
			size_t l = cdb_rw(cdb, wr[k], lba, 8, 0);

			fill(out, 8 * bs, (uint8_t)(k + bs));
			vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, out, 8 * bs, &r);
			assert_good(&r);
			assert_int_equal(r.resid_flags, 0);
			/* read back with each READ form */
			for (int j = 0; j < 4; j++) {
				memset(in, 0, 8 * bs);
				l = cdb_rw(cdb, rd[j], lba, 8, 0);
				vt_exec(&t, cdb, l, VS_DIR_FROM_DEVICE, in, 8 * bs, &r);
				assert_good(&r);
				assert_int_equal(r.xfer_len, 8 * bs);
				assert_memory_equal(in, out, 8 * bs);
			}
		}
		/* last block of the LUN, with FUA and DPO */
		fill(out, bs, 0x42);
		size_t l = cdb_rw(cdb, WRITE_10, t.nblocks - 1, 1, 0x18);
		vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, out, bs, &r);
		assert_good(&r);
		l = cdb_rw(cdb, READ_10, t.nblocks - 1, 1, 0x18);
		vt_exec(&t, cdb, l, VS_DIR_FROM_DEVICE, in, bs, &r);
		assert_good(&r);
		assert_memory_equal(in, out, bs);
		vt_teardown(&t);
		free(in);
		free(out);
	}
}

static void test_zero_lengths(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[16], *buf = calloc(256, 512);
	size_t l;
	(void)state;

	vt_setup(&t, 512, "1M", false);
	/* READ(6) transfer length 0 means 256 blocks (SBC-3 5.14) */
	l = cdb_rw(cdb, READ_6, 0, 0, 0);
	vt_exec(&t, cdb, l, VS_DIR_FROM_DEVICE, buf, 256 * 512, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 256 * 512);
	/* 10/12/16: 0 blocks is not an error and moves nothing */
	l = cdb_rw(cdb, WRITE_10, 5, 0, 0);
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, NULL, 0, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 0);
	l = cdb_rw(cdb, READ_16, t.nblocks, 0, 0);
	vt_exec(&t, cdb, l, VS_DIR_FROM_DEVICE, NULL, 0, &r);
	assert_good(&r);
	l = cdb_rw(cdb, READ_16, t.nblocks + 1, 0, 0);
	vt_exec(&t, cdb, l, VS_DIR_FROM_DEVICE, NULL, 0, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	vt_teardown(&t);
	free(buf);
}

static void test_errors(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[16], buf[4096];
	size_t l;
	(void)state;

	vt_setup(&t, 512, "16M", false);
	/* beyond the end, and LBA wrap-around */
	l = cdb_rw(cdb, READ_10, t.nblocks - 1, 2, 0);
	vt_exec(&t, cdb, l, VS_DIR_FROM_DEVICE, buf, 1024, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	l = cdb_rw(cdb, WRITE_16, UINT64_MAX, 1, 0);
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, buf, 512, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	/* RDPROTECT / WRPROTECT: no protection information */
	for (uint8_t p = 1; p < 8; p++) {
		l = cdb_rw(cdb, READ_12, 0, 1, (uint8_t)(p << 5));
		vt_exec(&t, cdb, l, VS_DIR_FROM_DEVICE, buf, 512, &r);
		assert_invalid_cdb(&r, 1, 7);
		l = cdb_rw(cdb, WRITE_16, 0, 1, (uint8_t)(p << 5));
		vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, buf, 512, &r);
		assert_invalid_cdb(&r, 1, 7);
	}
	/* more than the MAXIMUM TRANSFER LENGTH (8 MiB) */
	l = cdb_rw(cdb, READ_16, 0, (8u << 20) / 512 + 1, 0);
	vt_exec(&t, cdb, l, VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r);
	assert_invalid_cdb(&r, 10, 7);
	vt_teardown(&t);

	/* read-only LUN: DATA PROTECT / WRITE PROTECTED, reads fine */
	vt_setup(&t, 4096, "1M", true);
	l = cdb_rw(cdb, WRITE_10, 0, 1, 0);
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, buf, 4096, &r);
	assert_sense(&r, SENSE_DATA_PROTECT, ASC_WRITE_PROTECTED);
	l = cdb_rw(cdb, WRITE_AND_VERIFY_16, 0, 1, 0);
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, buf, 4096, &r);
	assert_sense(&r, SENSE_DATA_PROTECT, ASC_WRITE_PROTECTED);
	l = cdb_rw(cdb, READ_10, 0, 1, 0);
	vt_exec(&t, cdb, l, VS_DIR_FROM_DEVICE, buf, 4096, &r);
	assert_good(&r);
	vt_teardown(&t);
}

static void test_residuals(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[16], a[2048], b[2048], in[2048];
	size_t l;
	(void)state;

	vt_setup(&t, 512, "1M", false);
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	vt_write(&t, 0, 2, a);

	/* write 1 block, expected length 0: overflow of one block, nothing written */
	l = cdb_rw(cdb, WRITE_10, 0, 1, 0);
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, NULL, 0, &r);
	assert_good(&r);
	assert_int_equal(r.resid_flags, VS_RESID_OVERFLOW);
	assert_int_equal(r.residual, 512);
	/* expected length 200: overflow 312, nothing written */
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, b, 200, &r);
	assert_good(&r);
	assert_int_equal(r.resid_flags, VS_RESID_OVERFLOW);
	assert_int_equal(r.residual, 312);
	vt_read(&t, 0, 2, in);
	assert_memory_equal(in, a, 1024);
	/* write 1 block with 2 blocks expected: underflow, only block 0 */
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, b, 1024, &r);
	assert_good(&r);
	assert_int_equal(r.resid_flags, VS_RESID_UNDERFLOW);
	assert_int_equal(r.residual, 512);
	vt_read(&t, 0, 2, in);
	assert_memory_equal(in, b, 512);
	assert_memory_equal(in + 512, a, 512);
	/* write 2 blocks with 1 block expected: overflow, only block 0 written */
	vt_write(&t, 0, 2, a);
	l = cdb_rw(cdb, WRITE_10, 0, 2, 0);
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, b, 512, &r);
	assert_good(&r);
	assert_int_equal(r.resid_flags, VS_RESID_OVERFLOW);
	assert_int_equal(r.residual, 512);
	vt_read(&t, 0, 2, in);
	assert_memory_equal(in, b, 512);
	assert_memory_equal(in + 512, a, 512);
	/* read 2 blocks into 1: overflow, 512 bytes moved */
	memset(in, 0, sizeof(in));
	l = cdb_rw(cdb, READ_10, 0, 2, 0);
	vt_exec(&t, cdb, l, VS_DIR_FROM_DEVICE, in, 512, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 512);
	assert_int_equal(r.resid_flags, VS_RESID_OVERFLOW);
	assert_int_equal(r.residual, 512);
	assert_memory_equal(in, b, 512);
	/* read 1 block with 2000 expected: underflow 1488 */
	l = cdb_rw(cdb, READ_16, 1, 1, 0);
	vt_exec(&t, cdb, l, VS_DIR_FROM_DEVICE, in, 2000, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 512);
	assert_int_equal(r.resid_flags, VS_RESID_UNDERFLOW);
	assert_int_equal(r.residual, 1488);
	assert_memory_equal(in, a, 512);
	vt_teardown(&t);
}

/*
 * A READ whose expected length ends inside a block: the bytes up to the
 * expected length move, the rest is an overflow residual (SAM-5 5.4.3,
 * RFC 7143 11.4.5.1; libiscsi iSCSIResiduals.Read10/12/16Residuals).
 */
static void check_partial_read(struct vt *t, uint8_t op, uint64_t lba, uint32_t n,
                               uint32_t edtl, const uint8_t *want)
{
	uint8_t cdb[16], in[3 * 4096];
	struct tf_result r;
	size_t l = cdb_rw(cdb, op, lba, n, 0);
	uint64_t need = (uint64_t)n * t->bs;

	memset(in, 0xee, sizeof(in));
	vt_exec(t, cdb, l, VS_DIR_FROM_DEVICE, edtl ? in : NULL, edtl, &r);
	assert_good(&r);
	if (need > edtl) {
		assert_int_equal(r.xfer_len, edtl);
		assert_int_equal(r.resid_flags, VS_RESID_OVERFLOW);
		assert_int_equal(r.residual, need - edtl);
	} else {
		assert_int_equal(r.xfer_len, need);
		assert_int_equal(r.resid_flags, need < edtl ? VS_RESID_UNDERFLOW : 0);
		assert_int_equal(r.residual, edtl - need);
	}
	assert_memory_equal(in, want, r.xfer_len);
	/* nothing past what was transferred was touched */
	assert_int_equal(in[r.xfer_len], 0xee);
}

static void test_read_partial_block(void **state)
{
	static const uint8_t ops[] = { READ_10, READ_12, READ_16 };
	struct vt t;
	uint8_t data[3 * 4096];
	(void)state;

	for (int k = 0; k < 2; k++) {
		uint32_t bs = k ? 4096 : 512;

		vt_setup(&t, bs, "1M", false);
		fill(data, sizeof(data), (uint8_t)(k + 3));
		vt_write(&t, 4, 3, data);
		for (size_t i = 0; i < sizeof(ops); i++) {
			check_partial_read(&t, ops[i], 4, 1, 200, data);       /* inside block 1 */
			check_partial_read(&t, ops[i], 4, 2, bs + 77, data);   /* whole + partial */
			check_partial_read(&t, ops[i], 4, 3, 2 * bs + 1, data);
			check_partial_read(&t, ops[i], 4, 1, 0, data);         /* nothing */
			check_partial_read(&t, ops[i], 4, 1, 10000 < 3 * bs ? 10000 : 3 * bs, data);
			check_partial_read(&t, ops[i], 4, 2, bs, data);        /* whole blocks */
			check_partial_read(&t, ops[i], 5, 2, bs - 1, data + bs);
		}
		vt_teardown(&t);
	}
}

/* libiscsi iSCSIResiduals.Read10Invalid: a READ (10) the initiator flags as
 * a write completes GOOD. */
static void test_read_flagged_write(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[16], buf[512];
	size_t l;
	(void)state;

	vt_setup(&t, 512, "1M", false);
	memset(buf, 0x5a, sizeof(buf));
	l = cdb_rw(cdb, READ_10, 0, 1, 0);
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, buf, sizeof(buf), &r);
	assert_good(&r);
	assert_int_equal(r.resid_flags, 0);
	vt_teardown(&t);
}

static void test_verify(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[16], data[4 * 4096], bad[4 * 4096];
	size_t l;
	(void)state;

	vt_setup(&t, 4096, "1M", false);
	fill(data, sizeof(data), 9);
	vt_write(&t, 10, 4, data);
	/* BYTCHK=0: range check only */
	l = cdb_rw(cdb, VERIFY_10, 10, 4, 0);
	vt_exec(&t, cdb, l, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	l = cdb_rw(cdb, VERIFY_16, t.nblocks - 1, 2, 0);
	vt_exec(&t, cdb, l, VS_DIR_NONE, NULL, 0, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	/* BYTCHK=1: equal, then a difference at byte 2*4096+17 */
	l = cdb_rw(cdb, VERIFY_12, 10, 4, 0x02);
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, data, sizeof(data), &r);
	assert_good(&r);
	memcpy(bad, data, sizeof(bad));
	bad[2 * 4096 + 17] ^= 0xff;
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, bad, sizeof(bad), &r);
	assert_sense(&r, SENSE_MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY);
	assert_int_equal(sense_info(&r), 2 * 4096 + 17);
	/* BYTCHK=11b: one block compared against every block */
	memset(bad, 0x5a, 4096);
	vt_write(&t, 20, 1, bad);
	vt_write(&t, 21, 1, bad);
	l = cdb_rw(cdb, VERIFY_10, 20, 2, 0x06);
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, bad, 4096, &r);
	assert_good(&r);
	/* BYTCHK=10b is reserved; VRPROTECT unsupported */
	l = cdb_rw(cdb, VERIFY_10, 20, 2, 0x04);
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, bad, 4096, &r);
	assert_invalid_cdb(&r, 1, 2);
	l = cdb_rw(cdb, VERIFY_10, 20, 1, 0x22);
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, bad, 4096, &r);
	assert_invalid_cdb(&r, 1, 7);

	/* WRITE AND VERIFY writes */
	fill(data, 4096, 77);
	l = cdb_rw(cdb, WRITE_AND_VERIFY_10, 30, 1, 0x02);
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, data, 4096, &r);
	assert_good(&r);
	vt_read(&t, 30, 1, bad);
	assert_memory_equal(bad, data, 4096);
	vt_teardown(&t);
}

/* SBC-3 5.40 WRITE AND VERIFY: the write is read back from the medium.
 * BYTCHK=1 compares it with the data-out (MISCOMPARE, INFORMATION = offset
 * of the first differing byte), BYTCHK=0 only needs the medium to read. */
static void test_write_and_verify_reads_back(void **state)
{
	struct vt t;
	struct tf_result r;
	static uint8_t data[2100 * 512];
	uint8_t cdb[16];
	size_t l;
	(void)state;

	vt_setup(&t, 512, "1M", false);
	struct spy *s = vt_add_spy(&t, 1, "4M", 512, NULL);
	fill(data, sizeof(data), 5);
	l = cdb_rw(cdb, WRITE_AND_VERIFY_10, 7, 1, 0x02);
	vt_exec_on(&t, t.n, 1, cdb, l, VS_DIR_TO_DEVICE, data, 512, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 512);
	int n = spy_nrecs(s);
	assert_int_equal(spy_rec(s, n - 2).op, VS_BIO_WRITE);
	assert_int_equal(spy_rec(s, n - 1).op, VS_BIO_READ);   /* the read-back */
	assert_int_equal(spy_rec(s, n - 1).offset, 7 * 512);
	assert_int_equal(spy_rec(s, n - 1).length, 512);
	/* more than the engine buffer: read back in chunks, all compared */
	l = cdb_rw(cdb, WRITE_AND_VERIFY_16, 100, 2100, 0x02);
	vt_exec_on(&t, t.n, 1, cdb, l, VS_DIR_TO_DEVICE, data, sizeof(data), &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, sizeof(data));

	/* the disk acknowledges the write and keeps the old data */
	spy_lose_writes(s, true);
	l = cdb_rw(cdb, WRITE_AND_VERIFY_12, 20, 1, 0x02);
	vt_exec_on(&t, t.n, 1, cdb, l, VS_DIR_TO_DEVICE, data, 512, &r);
	assert_sense(&r, SENSE_MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY);
	assert_int_equal(data[0], 5);           /* the old block is zeroes: differs at byte 0 */
	assert_int_equal(sense_info(&r), 0);
	assert_int_equal(r.xfer_len, 0);
	/* BYTCHK=0: no compare, the medium reads: GOOD */
	l = cdb_rw(cdb, WRITE_AND_VERIFY_10, 20, 1, 0);
	vt_exec_on(&t, t.n, 1, cdb, l, VS_DIR_TO_DEVICE, data, 512, &r);
	assert_good(&r);
	spy_lose_writes(s, false);
	/* BYTCHK=0 and the medium cannot be read back: MEDIUM ERROR */
	spy_fail_op(s, VS_BIO_READ, -EIO);
	vt_exec_on(&t, t.n, 1, cdb, l, VS_DIR_TO_DEVICE, data, 512, &r);
	assert_sense(&r, SENSE_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR);
	spy_fail_op(s, VS_BIO_READ, 0);
	vt_teardown(&t);
	spy_free(s);
}

static void test_sync_prefetch(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[16];
	size_t l;
	(void)state;

	vt_setup(&t, 512, "1M", false);
	l = cdb_rw(cdb, SYNCHRONIZE_CACHE_10, 0, 0, 0);
	vt_exec(&t, cdb, l, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	l = cdb_rw(cdb, SYNCHRONIZE_CACHE_16, 10, 20, 0x02);
	vt_exec(&t, cdb, l, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	l = cdb_rw(cdb, SYNCHRONIZE_CACHE_16, t.nblocks, 1, 0);
	vt_exec(&t, cdb, l, VS_DIR_NONE, NULL, 0, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	l = cdb_rw(cdb, PRE_FETCH_10, 0, 8, 0);
	vt_exec(&t, cdb, l, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	l = cdb_rw(cdb, PRE_FETCH_16, t.nblocks - 1, 2, 0);
	vt_exec(&t, cdb, l, VS_DIR_NONE, NULL, 0, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	vt_teardown(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_zero_lengths),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_residuals),
		cmocka_unit_test(test_read_partial_block),
		cmocka_unit_test(test_read_flagged_write),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_write_and_verify_reads_back),
		cmocka_unit_test(test_sync_prefetch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
