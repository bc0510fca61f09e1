/* SPDX-License-Identifier: MIT */
/*
 * D_SENSE (SPC-4 4.5.1, 7.5.8) set with MODE SELECT on one LUN selects
 * descriptor-format sense for everything that LUN answers, whoever builds
 * it: the port's unit attentions (power on, reset, MODE PARAMETERS /
 * CAPACITY DATA / REPORTED LUNS DATA HAS CHANGED), LOGICAL UNIT NOT
 * SUPPORTED, the reservation code's unit attentions and errors, and
 * vdisk's own sense (field pointer, MISCOMPARE with INFORMATION, NOT READY
 * with progress).  The other LUN of the same port keeps fixed format, a
 * LUN number with no logical unit answers in fixed format, and REQUEST
 * SENSE follows its DESC bit (SPC-4 6.39), not D_SENSE.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <time.h>

#include "test_sense_check.h"
#include "test_vdisk_helpers.h"

enum { WE = 1, EA = 3, WE_RO = 5 };
enum { SA_REGISTER = 0, SA_RESERVE, SA_RELEASE, SA_CLEAR, SA_PREEMPT, SA_PREEMPT_ABORT,
       SA_REGISTER_IGNORE };

static const uint8_t tur[6] = { TEST_UNIT_READY };

/* MODE SELECT(6) of the control mode page with D_SENSE = on, on `lun`. */
static void set_d_sense(struct vt *t, uint64_t lun, bool on)
{
	uint8_t ms[6] = { MODE_SENSE_6, 0x08, 0x0a, 0, 255, 0 }, d[255], p[16];
	struct tf_result r;

	vt_exec_on(t, t->n, lun, ms, 6, VS_DIR_FROM_DEVICE, d, sizeof(d), &r);
	assert_good(&r);
	memset(p, 0, 4);
	memcpy(&p[4], &d[4], 12);
	p[4] &= 0x7f;                           /* PS is reserved in MODE SELECT */
	p[4 + 2] = (uint8_t)((p[4 + 2] & ~0x04) | (on ? 0x04 : 0));
	uint8_t sel[6] = { MODE_SELECT_6, 0x10, 0, 0, 16, 0 };
	vt_exec_on(t, t->n, lun, sel, 6, VS_DIR_TO_DEVICE, p, 16, &r);
	assert_good(&r);
}

/* A TEST UNIT READY from `n` to `lun`: CHECK CONDITION with this sense in
 * descriptor format (desc) or fixed format. */
static void expect_cc(struct vt *t, struct vs_nexus *n, uint64_t lun, bool desc, uint8_t key,
                         uint16_t asc_ascq)
{
	struct tf_result r;

	assert_int_equal(tf_exec(t->tf, n, lun, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	if (desc)
		assert_desc_sense(r.sense, r.sense_len, key, asc_ascq);
	else
		assert_fixed_sense(r.sense, r.sense_len, key, asc_ascq);
}

static void expect_ua(struct vt *t, struct vs_nexus *n, uint64_t lun, bool desc, uint16_t asc)
{
	expect_cc(t, n, lun, desc, SENSE_UNIT_ATTENTION, asc);
}

static void expect_tur_good(struct vt *t, struct vs_nexus *n, uint64_t lun)
{
	struct tf_result r;

	assert_int_equal(tf_exec(t->tf, n, lun, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_good(&r);
}

/* LUN 0 and LUN 1 (1 MiB RAM each), every UA cleared, D_SENSE=1 on LUN 0
 * only; nexus n2 has heard MODE PARAMETERS CHANGED for it. */
static void setup_two_luns(struct vt *t)
{
	vt_setup(t, 512, "1M", false);
	assert_int_equal(vt_add_lun(t, 1, "1M", 512, false), 0);
	for (uint64_t l = 0; l < 2; l++) {
		assert_int_equal(tf_clear_ua(t->tf, t->n, l), 0);
		assert_int_equal(tf_clear_ua(t->tf, t->n2, l), 0);
	}
	set_d_sense(t, 0, true);
	/* SPC-4 7.5.1: the other nexus hears of it, already in the new format */
	expect_ua(t, t->n2, 0, true, ASC_MODE_PARAMETERS_CHANGED);
	expect_tur_good(t, t->n2, 0);
	expect_tur_good(t, t->n, 0);
}

static void request_sense(struct vt *t, uint64_t lun, bool desc_bit, uint8_t *d,
                          struct tf_result *r)
{
	uint8_t cdb[6] = { REQUEST_SENSE, desc_bit ? 0x01 : 0x00, 0, 0, 252, 0 };

	vt_exec_on(t, t->n, lun, cdb, 6, VS_DIR_FROM_DEVICE, d, 252, r);
	assert_good(r);
}

/* ---- unit attentions the port raises and reports ---- */

static void test_port_unit_attentions(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[252];
	uint64_t size = 2u << 20;
	(void)state;

	setup_two_luns(&t);

	/* a new I_T nexus: POWER ON, RESET, OR BUS DEVICE RESET OCCURRED on
	 * each LUN, in each LUN's own format */
	struct vs_nexus *n3 = tf_nexus(t.tf, "iqn.2024-01.test:init-c,i,0x3");
	assert_non_null(n3);
	expect_ua(&t, n3, 0, true, ASC_POWER_ON_RESET_OR_BUS_RESET);
	expect_ua(&t, n3, 1, false, ASC_POWER_ON_RESET_OR_BUS_RESET);

	/* CAPACITY DATA HAS CHANGED (raised by vdisk, reported by the port) */
	assert_int_equal(vs_port_lun_control(tf_port(t.tf), 0, VS_LUN_RESIZE, &size), 0);
	expect_ua(&t, t.n, 0, true, ASC_CAPACITY_DATA_HAS_CHANGED);

	/* REPORTED LUNS DATA HAS CHANGED on every LUN */
	assert_int_equal(vt_add_lun(&t, 2, "1M", 512, false), 0);
	expect_ua(&t, t.n, 0, true, ASC_REPORTED_LUNS_DATA_HAS_CHANGED);
	expect_ua(&t, t.n, 1, false, ASC_REPORTED_LUNS_DATA_HAS_CHANGED);

	/* REQUEST SENSE reports a pending UA in the format its DESC bit asks
	 * for (SPC-4 6.39), whatever D_SENSE says */
	assert_int_equal(vs_port_lun_remove(tf_port(t.tf), 2, false), 0);
	request_sense(&t, 0, false, d, &r);
	assert_fixed_sense(d, r.xfer_len, SENSE_UNIT_ATTENTION, ASC_REPORTED_LUNS_DATA_HAS_CHANGED);
	assert_int_equal(vs_port_lun_control(tf_port(t.tf), 0, VS_LUN_RESIZE, &(uint64_t){ 3u << 20 }),
	                 0);
	request_sense(&t, 0, true, d, &r);
	assert_desc_sense(d, r.xfer_len, SENSE_UNIT_ATTENTION, ASC_CAPACITY_DATA_HAS_CHANGED);
	expect_tur_good(&t, t.n, 0);

	/* LOGICAL UNIT RESET: BUS DEVICE RESET FUNCTION OCCURRED for everyone */
	assert_int_equal(tf_tmf(t.tf, t.n2, VS_TMF_LOGICAL_UNIT_RESET, 0, 0), VS_TMF_COMPLETE);
	expect_ua(&t, t.n, 0, true, ASC_TARGET_RESET_OCCURRED);
	expect_ua(&t, t.n2, 0, true, ASC_TARGET_RESET_OCCURRED);

	/* D_SENSE=0 again: the port's sense follows back to fixed format */
	set_d_sense(&t, 0, false);
	expect_ua(&t, t.n2, 0, false, ASC_MODE_PARAMETERS_CHANGED);
	for (uint64_t l = 0; l < 2; l++) {
		assert_int_equal(tf_clear_ua(t.tf, n3, l), 0);
		assert_int_equal(tf_clear_ua(t.tf, t.n, l), 0);
		assert_int_equal(tf_clear_ua(t.tf, t.n2, l), 0);
	}
	vt_teardown(&t);
}

/* ---- LOGICAL UNIT NOT SUPPORTED ---- */

static void test_lun_not_supported(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[252];
	(void)state;

	setup_two_luns(&t);
	/* no logical unit, so no control mode page: fixed format, D_SENSE's
	 * default (as LIO answers without a device) */
	expect_cc(&t, t.n, 9, false, SENSE_ILLEGAL_REQUEST, ASC_LOGICAL_UNIT_NOT_SUPPORTED);
	/* REQUEST SENSE to it: the DESC bit decides (SPC-4 6.39) */
	request_sense(&t, 9, true, d, &r);
	assert_desc_sense(d, r.xfer_len, SENSE_ILLEGAL_REQUEST, ASC_LOGICAL_UNIT_NOT_SUPPORTED);

	/* a LUN that had D_SENSE=1 and is gone answers like any absent LUN;
	 * one added again under its number starts with D_SENSE=0 */
	set_d_sense(&t, 1, true);
	assert_int_equal(tf_clear_ua(t.tf, t.n2, 1), 0);
	assert_int_equal(vs_port_lun_remove(tf_port(t.tf), 1, false), 0);
	expect_cc(&t, t.n, 1, false, SENSE_ILLEGAL_REQUEST, ASC_LOGICAL_UNIT_NOT_SUPPORTED);
	assert_int_equal(vt_add_lun(&t, 1, "1M", 512, false), 0);
	expect_ua(&t, t.n, 1, false, ASC_POWER_ON_RESET_OR_BUS_RESET);
	expect_ua(&t, t.n, 0, true, ASC_REPORTED_LUNS_DATA_HAS_CHANGED);
	for (uint64_t l = 0; l < 2; l++) {
		assert_int_equal(tf_clear_ua(t.tf, t.n, l), 0);
		assert_int_equal(tf_clear_ua(t.tf, t.n2, l), 0);
	}
	vt_teardown(&t);
}

/* ---- persistent reservations ---- */

static void prout_len(struct vt *t, struct vs_nexus *n, int sa, int type, uint64_t rk,
                      uint64_t sark, uint32_t plen, struct tf_result *r)
{
	uint8_t cdb[10] = { PERSISTENT_RESERVE_OUT, (uint8_t)sa, (uint8_t)type };
	uint8_t p[24] = { 0 };

	put_be(&cdb[5], plen, 4);
	put_be(&p[0], rk, 8);
	put_be(&p[8], sark, 8);
	vt_exec_on(t, n, 0, cdb, 10, VS_DIR_TO_DEVICE, p, plen < 24 ? plen : 24, r);
}

static void prout_good(struct vt *t, struct vs_nexus *n, int sa, int type, uint64_t rk,
                       uint64_t sark)
{
	struct tf_result r;

	prout_len(t, n, sa, type, rk, sark, 24, &r);
	assert_good(&r);
}

static void test_reservation_sense(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t blk[512] = { 0 }, wr[16];
	(void)state;

	setup_two_luns(&t);
	prout_good(&t, t.n, SA_REGISTER_IGNORE, 0, 0, 0xa);
	prout_good(&t, t.n2, SA_REGISTER_IGNORE, 0, 0, 0xb);

	/* PREEMPT without a reservation removes n2's registration: REGISTRATIONS
	 * PREEMPTED (SPC-4 5.13.11.4.3) */
	prout_good(&t, t.n, SA_PREEMPT, WE, 0xa, 0xb);
	expect_ua(&t, t.n2, 0, true, ASC_REGISTRATIONS_PREEMPTED);

	/* the holder releases a registrants-only reservation: RESERVATIONS
	 * RELEASED for the other registrants (SPC-4 5.13.11.3) */
	prout_good(&t, t.n2, SA_REGISTER_IGNORE, 0, 0, 0xb);
	prout_good(&t, t.n, SA_RESERVE, WE_RO, 0xa, 0);
	prout_good(&t, t.n, SA_RELEASE, WE_RO, 0xa, 0);
	expect_ua(&t, t.n2, 0, true, ASC_RESERVATIONS_RELEASED);

	/* CLEAR: RESERVATIONS PREEMPTED (SPC-4 5.13.11.5) */
	prout_good(&t, t.n, SA_CLEAR, 0, 0xa, 0);
	expect_ua(&t, t.n2, 0, true, ASC_RESERVATIONS_PREEMPTED);

	/* the reservation code's own errors */
	prout_good(&t, t.n, SA_REGISTER_IGNORE, 0, 0, 0xa);
	prout_good(&t, t.n, SA_RESERVE, WE, 0xa, 0);
	prout_len(&t, t.n, SA_RELEASE, EA, 0xa, 0, 24, &r);     /* not the type held */
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_desc_sense(r.sense, r.sense_len, SENSE_ILLEGAL_REQUEST, 0x2604);
	/* another initiator writing: RESERVATION CONFLICT carries no sense */
	cdb_rw(wr, WRITE_10, 0, 1, 0);
	vt_exec_on(&t, t.n2, 0, wr, 10, VS_DIR_TO_DEVICE, blk, 512, &r);
	assert_int_equal(r.status, SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(r.sense_len, 0);
	prout_good(&t, t.n, SA_RELEASE, WE, 0xa, 0);
	/* PREEMPT of SARK 0 without a reservation names nobody: the field
	 * pointer says byte 8 of the parameter list */
	prout_len(&t, t.n, SA_PREEMPT, WE, 0xa, 0, 24, &r);
	assert_desc_sense(r.sense, r.sense_len, SENSE_ILLEGAL_REQUEST,
	                  ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_desc_field_ptr(r.sense, r.sense_len, false, 8, -1);
	/* a bad TYPE: field pointer into the CDB; a short parameter list */
	prout_len(&t, t.n, SA_RESERVE, 2, 0xa, 0, 24, &r);
	assert_desc_sense(r.sense, r.sense_len, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	assert_desc_field_ptr(r.sense, r.sense_len, true, 2, 3);
	prout_len(&t, t.n, SA_REGISTER, 0, 0xa, 0, 20, &r);
	assert_desc_sense(r.sense, r.sense_len, SENSE_ILLEGAL_REQUEST,
	                  ASC_PARAMETER_LIST_LENGTH_ERROR);
	/* the same on LUN 1 (D_SENSE=0): fixed */
	uint8_t cdb[10] = { PERSISTENT_RESERVE_OUT, SA_REGISTER, 0, 0, 0, 0, 0, 0, 20, 0 };
	vt_exec_on(&t, t.n, 1, cdb, 10, VS_DIR_TO_DEVICE, blk, 20, &r);
	assert_fixed_sense(r.sense, r.sense_len, SENSE_ILLEGAL_REQUEST,
	                   ASC_PARAMETER_LIST_LENGTH_ERROR);

	prout_good(&t, t.n, SA_CLEAR, 0, 0xa, 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n2, 0), 0);
	vt_teardown(&t);
}

/* ---- vdisk's own sense ---- */

static void test_vdisk_sense(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[16], cw[1024], blk[512];
	(void)state;

	setup_two_luns(&t);
	/* a reserved bit in the CDB: field pointer, byte 1 bit 4 */
	vt_exec(&t, (uint8_t[6]){ TEST_UNIT_READY, 0x10 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_desc_sense(r.sense, r.sense_len, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	assert_desc_field_ptr(r.sense, r.sense_len, true, 1, 4);
	vt_exec_on(&t, t.n, 1, (uint8_t[6]){ TEST_UNIT_READY, 0x10 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_fixed_sense(r.sense, r.sense_len, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	assert_int_equal(r.sense[15], 0x80 | 0x40 | 0x08 | 4);

	/* LBA OUT OF RANGE: no descriptors */
	cdb_rw(cdb, READ_16, t.nblocks, 1, 0);
	vt_exec(&t, cdb, 16, VS_DIR_FROM_DEVICE, blk, 512, &r);
	assert_desc_sense(r.sense, r.sense_len, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(r.sense_len, 8);

	/* COMPARE AND WRITE against zeroes with byte 300 differing: MISCOMPARE,
	 * INFORMATION = 300 in an information descriptor (SBC-3 5.2) */
	memset(cdb, 0, 16);
	cdb[0] = COMPARE_AND_WRITE;
	put_be(&cdb[2], 5, 8);
	cdb[13] = 1;
	memset(cw, 0, sizeof(cw));
	cw[300] = 0x77;
	vt_exec(&t, cdb, 16, VS_DIR_TO_DEVICE, cw, sizeof(cw), &r);
	assert_desc_sense(r.sense, r.sense_len, SENSE_MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY);
	const uint8_t *info = find_sense_desc(r.sense, r.sense_len, 0x00);
	assert_non_null(info);
	assert_int_equal(info[1], 0x0a);
	assert_int_equal(info[2] & 0x80, 0x80);                 /* VALID */
	assert_int_equal(get_be(&info[4], 8), 300);

	/* MODE SELECT changing a field it may not: pointer into the list */
	uint8_t ms[6] = { MODE_SENSE_6, 0x08, 0x0a, 0, 255, 0 }, d[255], p[16];
	vt_exec(&t, ms, 6, VS_DIR_FROM_DEVICE, d, sizeof(d), &r);
	memset(p, 0, 4);
	memcpy(&p[4], &d[4], 12);
	p[4] &= 0x7f;
	p[4 + 3] |= 0x02;                                       /* QERR */
	vt_exec(&t, (uint8_t[6]){ MODE_SELECT_6, 0x10, 0, 0, 16, 0 }, 6, VS_DIR_TO_DEVICE, p, 16,
	        &r);
	assert_desc_sense(r.sense, r.sense_len, SENSE_ILLEGAL_REQUEST,
	                  ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_desc_field_ptr(r.sense, r.sense_len, false, 4 + 3, 1);
	vt_teardown(&t);
}

/* NOT READY / SANITIZE IN PROGRESS with its progress indication in a
 * sense key specific descriptor (SBC-4 4.11.2, SPC-4 4.5.2.4.4). */
static void test_sanitize_progress(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[16], p[8] = { 0x01, 0, 0, 1, 0x5a }, blk[512], d[252];
	(void)state;

	setup_two_luns(&t);
	struct spy *s = vt_add_spy(&t, 2, "1M", 512, NULL);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 0), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 1), 0);
	set_d_sense(&t, 2, true);
	spy_hold(s, true);
	/* SANITIZE OVERWRITE, IMMED: GOOD once started; its writes are held */
	uint8_t san[10] = { 0x48, 0x80 | 0x01, 0, 0, 0, 0, 0, 0, 5, 0 };
	vt_exec_on(&t, t.n, 2, san, 10, VS_DIR_TO_DEVICE, p, 5, &r);
	assert_good(&r);
	cdb_rw(cdb, READ_16, 0, 1, 0);
	vt_exec_on(&t, t.n, 2, cdb, 16, VS_DIR_FROM_DEVICE, blk, 512, &r);
	assert_desc_sense(r.sense, r.sense_len, SENSE_NOT_READY, 0x041b);
	const uint8_t *sks = find_sense_desc(r.sense, r.sense_len, 0x02);
	assert_non_null(sks);
	assert_int_equal(sks[4], 0x80);                 /* SKSV, progress indication */
	/* REQUEST SENSE: DESC=0 fixed with the progress at bytes 15..17 */
	request_sense(&t, 2, false, d, &r);
	assert_fixed_sense(d, r.xfer_len, SENSE_NOT_READY, 0x041b);
	assert_int_equal(d[15], 0x80);
	request_sense(&t, 2, true, d, &r);
	assert_desc_sense(d, r.xfer_len, SENSE_NOT_READY, 0x041b);
	assert_non_null(find_sense_desc(d, r.xfer_len, 0x02));

	spy_hold(s, false);
	spy_release(s, 0);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(tf_exec(t.tf, t.n, 2, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
		if (r.status == SAM_STAT_GOOD)
			break;
		assert_desc_sense(r.sense, r.sense_len, SENSE_NOT_READY, 0x041b);
		spy_release(s, 0);
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(tf_clear_ua(t.tf, t.n2, 2), 0);
	vt_teardown(&t);
	spy_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_unit_attentions),
		cmocka_unit_test(test_lun_not_supported),
		cmocka_unit_test(test_reservation_sense),
		cmocka_unit_test(test_vdisk_sense),
		cmocka_unit_test(test_sanitize_progress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
