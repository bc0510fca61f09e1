/* SPDX-License-Identifier: MIT */
/*
 * Port basics: the submit → start_io → complete path, REPORT LUNS (SPC-4
 * 6.33), absent LUNs (SPC-4 6.6.2, SAM-5 5.9), unit attentions (SAM-5 5.14)
 * and the SRB sense helpers (SPC-4 4.5).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_fabric.h"
#include "test_port_mock.h"

static struct tf *setup_port(struct mock **mp, enum mock_mode mode)
{
	struct vs_port_config cfg = { .name = "t", .default_timeout_ms = 5000 };
	*mp = mock_new(mode);
	struct tf *tf = tf_create(&mock_miniport, &cfg, *mp);
	assert_non_null(tf);
	return tf;
}

static void teardown_port(struct tf *tf, struct mock *m)
{
	tf_destroy(tf);
	assert_int_equal(m->freed, 1);
	assert_int_equal(m->attached, m->detached);
	mock_free(m);
}

static void report_luns_cdb(uint8_t *cdb, uint8_t select, uint32_t alloc)
{
	memset(cdb, 0, 12);
	cdb[0] = REPORT_LUNS;
	cdb[2] = select;
	cdb[6] = (uint8_t)(alloc >> 24);
	cdb[7] = (uint8_t)(alloc >> 16);
	cdb[8] = (uint8_t)(alloc >> 8);
	cdb[9] = (uint8_t)alloc;
}

static void test_read_inline_and_thread(void **state)
{
	(void)state;
	for (int mode = MOCK_INLINE; mode <= MOCK_THREAD; mode += 2) {
		struct mock *m;
		struct tf *tf = setup_port(&m, (enum mock_mode)mode);
		struct tf_result r;
		uint8_t buf[4096], cdb[10] = { READ_10, 0, 0, 0, 0, 0, 0, 0, 8, 0 };

		assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
		struct vs_nexus *n = tf_nexus(tf, "iqn.a");
		assert_non_null(n);
		assert_int_equal(tf_clear_ua(tf, n, 0), 0);
		memset(buf, 0, sizeof(buf));
		assert_int_equal(tf_exec(tf, n, 0, cdb, 10, VS_DIR_FROM_DEVICE, buf, 4096, &r), 0);
		assert_int_equal(r.srb_status, VS_SRB_SUCCESS);
		assert_int_equal(r.status, SAM_STAT_GOOD);
		assert_int_equal(r.xfer_len, 4096);
		assert_int_equal(buf[0], 0xa5);
		assert_int_equal(buf[4095], 0xa5);
		assert_int_equal(tf_double_completions(tf), 0);
		teardown_port(tf, m);
	}
}

static void test_report_luns(void **state)
{
	struct mock *m;
	struct tf *tf = setup_port(&m, MOCK_INLINE);
	struct tf_result r;
	uint8_t cdb[12], buf[256];
	(void)state;

	/* added out of order; one needs flat space addressing */
	assert_int_equal(vs_port_lun_add(tf_port(tf), 5, NULL), 0);
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	assert_int_equal(vs_port_lun_add(tf_port(tf), 300, NULL), 0);
	assert_int_equal(vs_port_lun_add(tf_port(tf), 5, NULL), -EEXIST);
	struct vs_nexus *n = tf_nexus(tf, "iqn.a");

	/* REPORT LUNS runs normally with a UA pending, even to an absent LUN */
	report_luns_cdb(cdb, 0, sizeof(buf));
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(tf_exec(tf, n, 7, cdb, 12, VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(r.xfer_len, 8 + 3 * 8);
	assert_int_equal(r.resid_flags, VS_RESID_UNDERFLOW);
	assert_int_equal(r.residual, sizeof(buf) - 32);
	const uint8_t expect[32] = {
		0, 0, 0, 24, 0, 0, 0, 0,
		0x00, 0, 0, 0, 0, 0, 0, 0,              /* LUN 0 */
		0x00, 5, 0, 0, 0, 0, 0, 0,              /* LUN 5, peripheral */
		0x41, 0x2c, 0, 0, 0, 0, 0, 0,           /* LUN 300 = 0x12c, flat space */
	};
	assert_memory_equal(buf, expect, sizeof(expect));

	/* SELECT REPORT 1: well-known LUNs only (none) */
	report_luns_cdb(cdb, 1, sizeof(buf));
	assert_int_equal(tf_exec(tf, n, 0, cdb, 12, VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(r.xfer_len, 8);
	assert_int_equal(buf[3], 0);

	/* SELECT REPORT 2: all */
	report_luns_cdb(cdb, 2, sizeof(buf));
	assert_int_equal(tf_exec(tf, n, 0, cdb, 12, VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r), 0);
	assert_int_equal(buf[3], 24);

	/* truncated to the allocation length: header says 24 anyway */
	report_luns_cdb(cdb, 0, 16);
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(tf_exec(tf, n, 0, cdb, 12, VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(r.xfer_len, 16);
	assert_int_equal(buf[3], 24);
	assert_int_equal(buf[16], 0xee);

	/* allocation length < 16: INVALID FIELD IN CDB, field pointer byte 6 */
	report_luns_cdb(cdb, 0, 15);
	assert_int_equal(tf_exec(tf, n, 0, cdb, 12, VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r), 0);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_ILLEGAL_REQUEST);
	assert_int_equal(r.asc, 0x24);
	assert_int_equal(r.ascq, 0x00);
	assert_int_equal(r.sense[15] & 0xc0, 0xc0);     /* SKSV, C/D = CDB */
	assert_int_equal(r.sense[16], 0);
	assert_int_equal(r.sense[17], 6);

	/* bad SELECT REPORT */
	report_luns_cdb(cdb, 0x33, sizeof(buf));
	assert_int_equal(tf_exec(tf, n, 0, cdb, 12, VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r), 0);
	assert_int_equal(r.sense_key, SENSE_ILLEGAL_REQUEST);
	assert_int_equal(r.asc, 0x24);
	assert_int_equal(r.sense[17], 2);

	uint64_t list[8];
	assert_int_equal(vs_port_lun_list(tf_port(tf), list, 8), 3);
	assert_int_equal(list[0], 0);
	assert_int_equal(list[1], 5);
	assert_int_equal(list[2], 300);
	teardown_port(tf, m);
}

static void test_absent_lun(void **state)
{
	struct mock *m;
	struct tf *tf = setup_port(&m, MOCK_INLINE);
	struct tf_result r;
	uint8_t buf[96];
	(void)state;

	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	struct vs_nexus *n = tf_nexus(tf, "iqn.a");

	uint8_t tur[6] = { TEST_UNIT_READY };
	assert_int_equal(tf_exec(tf, n, 3, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_ILLEGAL_REQUEST);
	assert_int_equal(r.asc, 0x25);
	assert_int_equal(r.ascq, 0x00);

	/* beyond max_luns too */
	assert_int_equal(tf_exec(tf, n, 1u << 20, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.asc, 0x25);

	/* INQUIRY: PQ 011b, type 1Fh (SPC-4 6.6.2) */
	uint8_t inq[6] = { INQUIRY, 0, 0, 0, 96, 0 };
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(tf_exec(tf, n, 3, inq, 6, VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(buf[0], 0x7f);
	assert_int_equal(buf[4], 31);
	assert_int_equal(r.xfer_len, 36);

	/* REQUEST SENSE: LOGICAL UNIT NOT SUPPORTED as parameter data */
	uint8_t rs[6] = { REQUEST_SENSE, 0, 0, 0, 96, 0 };
	memset(buf, 0, sizeof(buf));
	assert_int_equal(tf_exec(tf, n, 3, rs, 6, VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(buf[0], 0x70);
	assert_int_equal(buf[2], SENSE_ILLEGAL_REQUEST);
	assert_int_equal(buf[12], 0x25);
	assert_int_equal(r.xfer_len, 18);

	/* descriptor format on request (DESC=1) */
	rs[1] = 1;
	assert_int_equal(tf_exec(tf, n, 3, rs, 6, VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r), 0);
	assert_int_equal(buf[0], 0x72);
	assert_int_equal(buf[1], SENSE_ILLEGAL_REQUEST);
	assert_int_equal(buf[2], 0x25);
	teardown_port(tf, m);
}

static void test_ua_first_contact(void **state)
{
	struct mock *m;
	struct tf *tf = setup_port(&m, MOCK_INLINE);
	struct tf_result r;
	uint8_t buf[96];
	uint8_t tur[6] = { TEST_UNIT_READY };
	uint8_t inq[6] = { INQUIRY, 0, 0, 0, 96, 0 };
	uint8_t rs[6] = { REQUEST_SENSE, 0, 0, 0, 96, 0 };
	(void)state;

	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	assert_int_equal(vs_port_lun_add(tf_port(tf), 1, NULL), 0);
	struct vs_nexus *a = tf_nexus(tf, "iqn.a");

	/* INQUIRY does not consume the UA */
	assert_int_equal(tf_exec(tf, a, 0, inq, 6, VS_DIR_FROM_DEVICE, buf, 96, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(buf[0], TYPE_DISK);

	/* the first other command sees 29/00, once */
	assert_int_equal(tf_exec(tf, a, 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);
	assert_int_equal(r.asc, 0x29);
	assert_int_equal(r.ascq, 0x00);
	assert_int_equal(tf_exec(tf, a, 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);

	/* LUN 1 has its own: REQUEST SENSE reports it as data and clears it */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(tf_exec(tf, a, 1, rs, 6, VS_DIR_FROM_DEVICE, buf, 96, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(buf[2], SENSE_UNIT_ATTENTION);
	assert_int_equal(buf[12], 0x29);
	assert_int_equal(tf_exec(tf, a, 1, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);

	/* a second nexus has its own conditions */
	struct vs_nexus *b = tf_nexus(tf, "iqn.b");
	assert_int_not_equal(a->id, b->id);
	assert_ptr_equal(vs_port_nexus_by_id(tf_port(tf), b->id), b);
	assert_int_equal(tf_exec(tf, b, 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);
	assert_int_equal(tf_exec(tf, a, 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	teardown_port(tf, m);
}

static void expect_ua(struct tf *tf, struct vs_nexus *n, uint64_t lun, uint8_t asc, uint8_t ascq)
{
	uint8_t tur[6] = { TEST_UNIT_READY };
	struct tf_result r;

	assert_int_equal(tf_exec(tf, n, lun, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);
	assert_int_equal(r.asc, asc);
	assert_int_equal(r.ascq, ascq);
}

static void expect_good(struct tf *tf, struct vs_nexus *n, uint64_t lun)
{
	uint8_t tur[6] = { TEST_UNIT_READY };
	struct tf_result r;

	assert_int_equal(tf_exec(tf, n, lun, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
}

static void test_ua_luns_changed(void **state)
{
	struct mock *m;
	struct tf *tf = setup_port(&m, MOCK_INLINE);
	uint8_t cdb[12], buf[64];
	struct tf_result r;
	(void)state;

	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	struct vs_nexus *a = tf_nexus(tf, "iqn.a"), *b = tf_nexus(tf, "iqn.b");
	assert_int_equal(tf_clear_ua(tf, a, 0), 0);
	assert_int_equal(tf_clear_ua(tf, b, 0), 0);

	assert_int_equal(vs_port_lun_add(tf_port(tf), 2, NULL), 0);
	/* both nexuses see REPORTED LUNS DATA HAS CHANGED on LUN 0 */
	expect_ua(tf, a, 0, 0x3f, 0x0e);
	expect_good(tf, a, 0);
	/* and POWER ON first, then the inventory change, on the new LUN */
	expect_ua(tf, a, 2, 0x29, 0x00);
	expect_ua(tf, a, 2, 0x3f, 0x0e);
	expect_good(tf, a, 2);

	/* b: REPORT LUNS clears 3F/0E for b everywhere (SPC-4 5.14) */
	report_luns_cdb(cdb, 0, sizeof(buf));
	assert_int_equal(tf_exec(tf, b, 0, cdb, 12, VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r), 0);
	assert_int_equal(buf[3], 16);
	expect_good(tf, b, 0);
	expect_ua(tf, b, 2, 0x29, 0x00);
	expect_good(tf, b, 2);

	/* removal: both see it again on the remaining LUN */
	assert_int_equal(vs_port_lun_remove(tf_port(tf), 2, false), 0);
	expect_ua(tf, a, 0, 0x3f, 0x0e);
	expect_ua(tf, b, 0, 0x3f, 0x0e);
	expect_good(tf, a, 0);
	expect_good(tf, b, 0);

	/* miniport-raised UAs: capacity change except the nexus that caused it */
	vs_port_lun_unit_attention(m->luns[0], ASC_CAPACITY_DATA_HAS_CHANGED, a);
	expect_good(tf, a, 0);
	expect_ua(tf, b, 0, 0x2a, 0x09);
	vs_port_nexus_unit_attention(m->luns[0], a, ASC_MODE_PARAMETERS_CHANGED);
	vs_port_nexus_unit_attention(m->luns[0], a, ASC_CAPACITY_DATA_HAS_CHANGED);
	expect_ua(tf, a, 0, 0x2a, 0x01);        /* oldest first */
	expect_ua(tf, a, 0, 0x2a, 0x09);
	expect_good(tf, a, 0);
	/* a reset condition outranks and clears the rest */
	vs_port_nexus_unit_attention(m->luns[0], b, ASC_MODE_PARAMETERS_CHANGED);
	vs_port_nexus_unit_attention(m->luns[0], b, ASC_TARGET_RESET_OCCURRED);
	expect_ua(tf, b, 0, 0x29, 0x03);
	expect_good(tf, b, 0);
	teardown_port(tf, m);
}

static void test_sense_helpers(void **state)
{
	struct vs_srb srb;
	uint8_t s[32];
	(void)state;

	memset(&srb, 0, sizeof(srb));
	vs_srb_set_invalid_field(&srb, true, 0x0102, 3);
	assert_int_equal(srb.scsi_status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(srb.sense_len, 18);
	assert_int_equal(srb.sense[0], 0x70);
	assert_int_equal(srb.sense[2], SENSE_ILLEGAL_REQUEST);
	assert_int_equal(srb.sense[7], 10);
	assert_int_equal(srb.sense[12], 0x24);
	assert_int_equal(srb.sense[15], 0x80 | 0x40 | 0x08 | 3);
	assert_int_equal(srb.sense[16], 0x01);
	assert_int_equal(srb.sense[17], 0x02);

	vs_srb_set_invalid_field(&srb, false, 7, -1);
	assert_int_equal(srb.sense[12], 0x26);
	assert_int_equal(srb.sense[15], 0x80);
	assert_int_equal(srb.sense[17], 7);

	vs_srb_set_sense(&srb, SENSE_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR);
	vs_srb_set_sense_info(&srb, 0x12345678);
	assert_int_equal(srb.sense[0], 0xf0);
	assert_int_equal(srb.sense[3], 0x12);
	assert_int_equal(srb.sense[6], 0x78);
	assert_int_equal(srb.sense[15], 0);

	assert_int_equal(vs_sense_descriptor(s, sizeof(s), SENSE_NOT_READY, ASC_LUN_BECOMING_READY), 8);
	assert_int_equal(s[0], 0x72);
	assert_int_equal(s[1], 2);
	assert_int_equal(s[2], 4);
	assert_int_equal(s[3], 1);
	assert_int_equal(vs_sense_fixed(s, 10, 1, 0), 10);

	vs_srb_set_good(&srb);
	assert_int_equal(srb.scsi_status, 0);
	assert_int_equal(srb.sense_len, 0);
	assert_int_equal(srb.srb_status, VS_SRB_SUCCESS);

	/* iov copies across segments, clamped to data_length */
	uint8_t a[3], b[5], flat[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, back[8] = {0};
	struct iovec iov[2] = { { a, 3 }, { b, 5 } };
	srb.iov = iov;
	srb.iovcnt = 2;
	srb.data_length = 7;
	assert_int_equal(vs_srb_copy_to_iov(&srb, 1, flat, 8), 6);
	assert_int_equal(a[1], 1);
	assert_int_equal(b[0], 3);
	assert_int_equal(b[3], 6);
	assert_int_equal(vs_srb_copy_from_iov(&srb, 2, back, 8), 5);
	assert_int_equal(back[0], 2);
	assert_int_equal(back[4], 6);
	assert_int_equal(vs_srb_copy_to_iov(&srb, 7, flat, 1), 0);
}

static void test_bad_inputs(void **state)
{
	struct mock *m = mock_new(MOCK_INLINE);
	struct vs_miniport bad = mock_miniport;
	(void)state;

	bad.api_version = 99;
	assert_null(vs_port_create(&bad, NULL, m));
	assert_non_null(strstr(vs_last_error(), "api_version"));
	bad = mock_miniport;
	bad.start_io = NULL;
	assert_null(vs_port_create(&bad, NULL, m));

	struct vs_port *p = vs_port_create(&mock_miniport, NULL, m);
	assert_non_null(p);
	assert_int_equal(vs_port_lun_add(p, 1024, NULL), -EINVAL);
	assert_non_null(strstr(vs_last_error(), "lun"));
	assert_int_equal(vs_port_lun_remove(p, 3, false), -ENOENT);
	assert_int_equal(vs_port_lun_control(p, 3, VS_LUN_FLUSH, NULL), -ENOENT);
	assert_int_equal(vs_port_lun_add(p, 3, NULL), 0);
	struct vs_lun_info info;
	assert_int_equal(vs_port_lun_control(p, 3, VS_LUN_QUERY, &info), 0);
	assert_int_equal(info.block_size, 512);
	m->in_use = true;
	assert_int_equal(vs_port_lun_remove(p, 3, false), -EBUSY);
	m->in_use = false;
	assert_int_equal(vs_port_lun_remove(p, 3, false), 0);
	assert_null(vs_srb_pool_create(p, 0, 0));
	vs_port_destroy(p);
	mock_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_inline_and_thread),
		cmocka_unit_test(test_report_luns),
		cmocka_unit_test(test_absent_lun),
		cmocka_unit_test(test_ua_first_contact),
		cmocka_unit_test(test_ua_luns_changed),
		cmocka_unit_test(test_sense_helpers),
		cmocka_unit_test(test_bad_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
