/* SPDX-License-Identifier: MIT */
/*
 * vdisk SANITIZE (SBC-4 5.30, 4.11): OVERWRITE with its parameter list,
 * BLOCK ERASE, CRYPTO ERASE (also where unmapped blocks do not read back
 * as zeroes), EXIT FAILURE MODE, IMMED, NOT READY /
 * SANITIZE IN PROGRESS with progress in REQUEST SENSE, survival of an
 * ABORT TASK, and LUN removal while a sanitize runs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <time.h>

#include "test_vdisk_helpers.h"

#define OP_SANITIZE 0x48
#define SA_OVERWRITE 1
#define SA_BLOCK_ERASE 2
#define SA_CRYPTO_ERASE 3
#define SA_EXIT_FAILURE 0x1f

static void sanitize_cdb(uint8_t *cdb, uint8_t b1, uint16_t plen)
{
	memset(cdb, 0, 10);
	cdb[0] = OP_SANITIZE;
	cdb[1] = b1;
	put_be(&cdb[7], plen, 2);
}

/* OVERWRITE parameter list: header + pattern. */
static uint32_t ow_params(uint8_t *p, uint8_t b0, const void *pat, uint16_t patlen)
{
	p[0] = b0;
	p[1] = 0;
	put_be(&p[2], patlen, 2);
	memcpy(&p[4], pat, patlen);
	return 4u + patlen;
}

static void exec_on(struct vt *t, uint64_t lun, const uint8_t *cdb, size_t len, int dir, void *buf,
                    uint32_t n, struct tf_result *r)
{
	vt_exec_on(t, t->n, lun, cdb, len, dir, buf, n, r);
}

/* Wait (max 10 s) until TEST UNIT READY on `lun` answers GOOD. */
static void wait_ready(struct vt *t, uint64_t lun)
{
	uint8_t tur[6] = { TEST_UNIT_READY };
	struct tf_result r;

	for (int i = 0; i < 1000; i++) {
		exec_on(t, lun, tur, 6, VS_DIR_NONE, NULL, 0, &r);
		if (r.status == SAM_STAT_GOOD)
			return;
		assert_sense(&r, SENSE_NOT_READY, 0x041b);
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	fail_msg("sanitize did not finish");
}

static void test_rsoc_and_service_actions(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[12], d[64];
	static const uint8_t sas[] = { SA_OVERWRITE, SA_BLOCK_ERASE, SA_CRYPTO_ERASE, SA_EXIT_FAILURE };
	(void)state;

	vt_setup(&t, 512, "1M", false);
	for (size_t i = 0; i < sizeof(sas); i++) {
		memset(cdb, 0, sizeof(cdb));
		cdb[0] = MAINTENANCE_IN;
		cdb[1] = MI_REPORT_SUPPORTED_OPCODES;
		cdb[2] = 2;                     /* opcode + service action */
		cdb[3] = OP_SANITIZE;
		put_be(&cdb[4], sas[i], 2);
		put_be(&cdb[6], sizeof(d), 4);
		vt_exec(&t, cdb, 12, VS_DIR_FROM_DEVICE, d, sizeof(d), &r);
		assert_good(&r);
		assert_int_equal(d[1] & 0x07, 3);       /* SUPPORT: supported */
		assert_int_equal(get_be(&d[2], 2), 10);
		assert_int_equal(d[4], OP_SANITIZE);
		assert_int_equal(d[5], 0xa0 | sas[i]);  /* IMMED, AUSE, SA */
	}
	/* every other service action is an invalid field (byte 1) */
	sanitize_cdb(cdb, 0x04, 0);
	vt_exec(&t, cdb, 10, VS_DIR_NONE, NULL, 0, &r);
	assert_invalid_cdb(&r, 1, 4);
	/* reserved bit 6 of byte 1 and reserved bytes 2..6 */
	sanitize_cdb(cdb, 0x40 | SA_BLOCK_ERASE, 0);
	vt_exec(&t, cdb, 10, VS_DIR_NONE, NULL, 0, &r);
	assert_invalid_cdb(&r, 1, 6);
	sanitize_cdb(cdb, SA_BLOCK_ERASE, 0);
	cdb[4] = 1;
	vt_exec(&t, cdb, 10, VS_DIR_NONE, NULL, 0, &r);
	assert_invalid_cdb(&r, 4, 0);
	/* BLOCK ERASE, CRYPTO ERASE and EXIT FAILURE MODE take no parameters */
	memset(d, 0, 8);
	sanitize_cdb(cdb, SA_CRYPTO_ERASE, 8);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, d, 8, &r);
	assert_invalid_cdb(&r, 7, 7);
	sanitize_cdb(cdb, SA_EXIT_FAILURE, 8);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, d, 8, &r);
	assert_invalid_cdb(&r, 7, 7);
	sanitize_cdb(cdb, SA_EXIT_FAILURE, 0);
	vt_exec(&t, cdb, 10, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	vt_teardown(&t);
}

static void test_block_and_crypto_erase(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[16], buf[8 * 512], zero[8 * 512], d[64];
	static const uint8_t sas[] = { SA_BLOCK_ERASE, SA_CRYPTO_ERASE };
	(void)state;

	memset(zero, 0, sizeof(zero));
	vt_setup(&t, 512, "1M", false);
	/* VPD B1h: WABEREQ = WACEREQ = 01b (reads after an erase are GOOD) */
	vt_exec(&t, (uint8_t[6]){ INQUIRY, 1, 0xb1, 0, 64, 0 }, 6, VS_DIR_FROM_DEVICE, d, 64, &r);
	assert_good(&r);
	assert_int_equal(d[7] & 0xf0, 0x50);
	for (size_t i = 0; i < sizeof(sas); i++) {
		memset(buf, 'a', sizeof(buf));
		vt_write(&t, 0, 8, buf);
		vt_write(&t, t.nblocks - 8, 8, buf);
		sanitize_cdb(cdb, sas[i], 0);
		vt_exec(&t, cdb, 10, VS_DIR_NONE, NULL, 0, &r);
		assert_good(&r);
		/* every block deallocated (GET LBA STATUS before any read) */
		vt_exec(&t, cdb, cdb_get_lba_status(cdb, 0, sizeof(d)), VS_DIR_FROM_DEVICE, d,
		        sizeof(d), &r);
		assert_good(&r);
		assert_int_equal(get_be(&d[0], 4), 20);  /* one descriptor */
		assert_int_equal(get_be(&d[8], 8), 0);
		assert_int_equal(get_be(&d[16], 4), t.nblocks);
		assert_int_equal(d[20] & 0x0f, 1);        /* deallocated */
		/* and reads back as zeroes (LBPRZ=1) */
		vt_read(&t, 0, 8, buf);
		assert_memory_equal(buf, zero, sizeof(buf));
		vt_read(&t, t.nblocks - 8, 8, buf);
		assert_memory_equal(buf, zero, sizeof(buf));
	}
	vt_teardown(&t);
}

/* What an erase sends down, by what deallocated blocks read back as: with
 * LBPRZ=1 one UNMAP pass; without it (an encrypting filter, an advisory
 * UNMAP) zeroes first, so no old data can come back, then UNMAP, so no LBA
 * stays mapped; a LUN without UNMAP only writes zeroes (CRYPTO ERASE: it
 * offers no BLOCK ERASE). */
static void test_erase_without_lbprz(void **state)
{
	static const struct {
		bool unmap, zeroes, can_zero;
		uint8_t ops[2];
	} cases[] = {
		{ true, true, true, { VS_BIO_UNMAP, 0 } },
		{ true, false, true, { VS_BIO_WRITE_ZEROES, VS_BIO_UNMAP } },
		{ true, false, false, { VS_BIO_WRITE, VS_BIO_UNMAP } },
		{ false, false, true, { VS_BIO_WRITE_ZEROES, 0 } },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vt t;
		struct tf_result r;
		uint8_t cdb[10];
		struct vs_backend_caps caps = { .can_write = true, .can_unmap = cases[i].unmap,
		                                .unmap_zeroes = cases[i].zeroes,
		                                .can_zero = cases[i].can_zero };
		uint64_t seen[2] = { 0, 0 };
		int pass = 0;

		vt_setup(&t, 512, "1M", false);
		struct spy *s = vt_add_spy(&t, 1, "2M", 512, &caps);
		spy_clear(s);
		/* BLOCK ERASE is offered only with UNMAP; CRYPTO ERASE always */
		sanitize_cdb(cdb, cases[i].unmap ? SA_BLOCK_ERASE : SA_CRYPTO_ERASE, 0);
		exec_on(&t, 1, cdb, 10, VS_DIR_NONE, NULL, 0, &r);
		assert_good(&r);
		/* each pass covers the whole LUN in order, the passes one after the other */
		for (int k = 0; k < spy_nrecs(s); k++) {
			struct spy_rec rec = spy_rec(s, k);

			if (rec.op == VS_BIO_FLUSH)
				continue;
			if (rec.op != cases[i].ops[pass]) {
				assert_int_equal(seen[pass], 2u << 20);
				pass++;
				assert_true(pass < 2);
			}
			assert_int_equal(rec.op, cases[i].ops[pass]);
			assert_int_equal(rec.offset, seen[pass]);
			seen[pass] += rec.length;
		}
		assert_int_equal(seen[0], 2u << 20);
		assert_int_equal(seen[1], cases[i].ops[1] ? 2u << 20 : 0);
		vt_teardown(&t);
		spy_free(s);
	}
}

static void test_overwrite(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[10], p[4 + 512 + 8], buf[2 * 512], want[512];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	/* a 3-byte pattern repeats from byte 0 of every block */
	uint32_t plen = ow_params(p, 0x01, "XYZ", 3);
	sanitize_cdb(cdb, SA_OVERWRITE, (uint16_t)plen);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, p, plen, &r);
	assert_good(&r);
	for (int i = 0; i < 512; i++)
		want[i] = (uint8_t)"XYZ"[i % 3];
	vt_read(&t, 0, 2, buf);
	assert_memory_equal(buf, want, 512);
	assert_memory_equal(buf + 512, want, 512);
	vt_read(&t, t.nblocks - 1, 1, buf);
	assert_memory_equal(buf, want, 512);

	/* INVERT with two passes: the second pass writes the inverted pattern */
	plen = ow_params(p, 0x80 | 0x02, "\x0f", 1);
	sanitize_cdb(cdb, SA_OVERWRITE, (uint16_t)plen);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, p, plen, &r);
	assert_good(&r);
	memset(want, 0xf0, 512);
	vt_read(&t, 7, 1, buf);
	assert_memory_equal(buf, want, 512);

	/* PARAMETER LIST LENGTH must be 5 .. block size + 4 (INVALID FIELD IN CDB) */
	for (uint16_t bad = 0; bad < 5; bad++) {
		sanitize_cdb(cdb, SA_OVERWRITE, bad);
		vt_exec(&t, cdb, 10, bad ? VS_DIR_TO_DEVICE : VS_DIR_NONE, p, bad, &r);
		assert_invalid_cdb(&r, 7, 7);
	}
	memset(p, 0, sizeof(p));
	sanitize_cdb(cdb, SA_OVERWRITE, 512 + 5);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, p, 512 + 5, &r);
	assert_invalid_cdb(&r, 7, 7);
	/* OVERWRITE COUNT 0, INITIALIZATION PATTERN LENGTH 0 or > block size:
	 * INVALID FIELD IN PARAMETER LIST */
	ow_params(p, 0x00, "A", 1);
	sanitize_cdb(cdb, SA_OVERWRITE, 5);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, p, 5, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_field_ptr(&r, false, 0, 4);
	ow_params(p, 0x01, "", 0);
	sanitize_cdb(cdb, SA_OVERWRITE, 8);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, p, 8, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_field_ptr(&r, false, 2, 7);
	memset(p, 0, sizeof(p));
	p[0] = 1;
	put_be(&p[2], 513, 2);
	sanitize_cdb(cdb, SA_OVERWRITE, 512 + 4);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, p, 512 + 4, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_field_ptr(&r, false, 2, 7);
	vt_teardown(&t);
}

static void test_readonly_and_swp(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[10];
	(void)state;

	vt_setup(&t, 512, "1M", true);
	sanitize_cdb(cdb, SA_BLOCK_ERASE, 0);
	vt_exec(&t, cdb, 10, VS_DIR_NONE, NULL, 0, &r);
	assert_sense(&r, SENSE_DATA_PROTECT, ASC_WRITE_PROTECTED);
	vt_teardown(&t);
}

/* 64 MiB at the bounded background rate takes long enough to watch. */
static void test_immed_in_progress(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[10], p[8], d[32], buf[512];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	assert_int_equal(vt_add_lun(&t, 1, "64M", 512, false), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 1), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 0), 0);   /* REPORTED LUNS DATA HAS CHANGED */
	uint32_t plen = ow_params(p, 0x01, "\x5a", 1);
	sanitize_cdb(cdb, 0x80 | SA_OVERWRITE, (uint16_t)plen);
	exec_on(&t, 1, cdb, 10, VS_DIR_TO_DEVICE, p, plen, &r);
	assert_good(&r);                        /* IMMED: GOOD once started */

	/* media access: NOT READY, SANITIZE IN PROGRESS */
	exec_on(&t, 1, (uint8_t[6]){ TEST_UNIT_READY }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_sense(&r, SENSE_NOT_READY, 0x041b);
	uint8_t rd[16];
	cdb_rw(rd, READ_16, 0, 1, 0);
	exec_on(&t, 1, rd, 16, VS_DIR_FROM_DEVICE, buf, 512, &r);
	assert_sense(&r, SENSE_NOT_READY, 0x041b);
	assert_true(r.sense[15] & 0x80);        /* SKSV: progress indication */
	/* a second SANITIZE too */
	exec_on(&t, 1, cdb, 10, VS_DIR_TO_DEVICE, p, plen, &r);
	assert_sense(&r, SENSE_NOT_READY, 0x041b);
	/* INQUIRY and REQUEST SENSE still run; REQUEST SENSE reports it */
	exec_on(&t, 1, (uint8_t[6]){ INQUIRY, 0, 0, 0, 36, 0 }, 6, VS_DIR_FROM_DEVICE, d, 32, &r);
	assert_good(&r);
	exec_on(&t, 1, (uint8_t[6]){ REQUEST_SENSE, 0, 0, 0, 18, 0 }, 6, VS_DIR_FROM_DEVICE, d, 18,
	        &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 18);
	assert_int_equal(d[0], 0x70);
	assert_int_equal(d[2], SENSE_NOT_READY);
	assert_int_equal(d[12], 0x04);
	assert_int_equal(d[13], 0x1b);
	assert_true(d[15] & 0x80);
	/* other LUNs are not affected */
	vt_read(&t, 0, 1, buf);

	wait_ready(&t, 1);
	memset(d, 0x5a, sizeof(d));
	exec_on(&t, 1, rd, 16, VS_DIR_FROM_DEVICE, buf, 512, &r);
	assert_good(&r);
	assert_memory_equal(buf, d, sizeof(d));
	/* NO SENSE again */
	exec_on(&t, 1, (uint8_t[6]){ REQUEST_SENSE, 0, 0, 0, 18, 0 }, 6, VS_DIR_FROM_DEVICE, d, 18,
	        &r);
	assert_good(&r);
	assert_int_equal(d[2], 0);
	assert_int_equal(d[12], 0);
	vt_teardown(&t);
}

/* ABORT TASK of a waiting (IMMED=0) sanitize gives the SRB back; the
 * operation goes on (SBC-4 4.11.2). */
static void test_abort_keeps_running(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[10], p[8];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	assert_int_equal(vt_add_lun(&t, 1, "64M", 512, false), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 1), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 0), 0);   /* REPORTED LUNS DATA HAS CHANGED */
	uint32_t plen = ow_params(p, 0x01, "\x11", 1);
	sanitize_cdb(cdb, SA_OVERWRITE, (uint16_t)plen);
	struct tf_task *task = tf_submit_ex(t.tf, t.n, 1, cdb, 10, VS_DIR_TO_DEVICE, p, plen,
	                                    VS_TASK_SIMPLE, 0x77, 0);
	assert_non_null(task);
	/* it is running: TUR says so */
	for (int i = 0; i < 100; i++) {
		exec_on(&t, 1, (uint8_t[6]){ TEST_UNIT_READY }, 6, VS_DIR_NONE, NULL, 0, &r);
		if (r.status != SAM_STAT_GOOD)
			break;
	}
	assert_sense(&r, SENSE_NOT_READY, 0x041b);
	assert_false(tf_task_done(task));
	assert_int_equal(tf_tmf(t.tf, t.n, VS_TMF_ABORT_TASK, 1, 0x77), VS_TMF_COMPLETE);
	assert_int_equal(tf_wait(task, &r), 0);
	assert_int_equal(r.srb_status, VS_SRB_ABORTED);
	exec_on(&t, 1, (uint8_t[6]){ TEST_UNIT_READY }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_sense(&r, SENSE_NOT_READY, 0x041b);
	wait_ready(&t, 1);
	vt_teardown(&t);
}

/* Removing the port (and its LUNs) while a sanitize runs stops it. */
static void test_teardown_while_running(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[10], p[8];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	assert_int_equal(vt_add_lun(&t, 1, "256M", 512, false), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 1), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 0), 0);   /* REPORTED LUNS DATA HAS CHANGED */
	uint32_t plen = ow_params(p, 0x01, "\x22", 1);
	sanitize_cdb(cdb, 0x80 | SA_OVERWRITE, (uint16_t)plen);
	exec_on(&t, 1, cdb, 10, VS_DIR_TO_DEVICE, p, plen, &r);
	assert_good(&r);
	time_t t0 = time(NULL);
	vt_teardown(&t);
	assert_true(time(NULL) - t0 < 2);       /* cancelled, not run to the end */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rsoc_and_service_actions),
		cmocka_unit_test(test_block_and_crypto_erase),
		cmocka_unit_test(test_erase_without_lbprz),
		cmocka_unit_test(test_overwrite),
		cmocka_unit_test(test_readonly_and_swp),
		cmocka_unit_test(test_immed_in_progress),
		cmocka_unit_test(test_abort_keeps_running),
		cmocka_unit_test(test_teardown_while_running),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
