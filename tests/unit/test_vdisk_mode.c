/* SPDX-License-Identifier: MIT */
/*
 * vdisk MODE SENSE / MODE SELECT (SPC-4 6.11-6.14, 7.5; SBC-3 6.4):
 * headers, block descriptors, page control, the changeable mask, D_SENSE
 * and SWP taking effect, MODE PARAMETERS CHANGED on the other nexus.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_vdisk_helpers.h"

static void mode_sense6(struct vt *t, uint8_t b1, uint8_t page_pc, uint8_t sub, uint8_t alloc,
                        uint8_t *d, struct tf_result *r)
{
	uint8_t cdb[6] = { MODE_SENSE_6, b1, page_pc, sub, alloc, 0 };

	vt_exec(t, cdb, 6, VS_DIR_FROM_DEVICE, d, alloc, r);
}

static void mode_sense10(struct vt *t, uint8_t b1, uint8_t page_pc, uint16_t alloc, uint8_t *d,
                         struct tf_result *r)
{
	uint8_t cdb[10] = { MODE_SENSE_10, b1, page_pc, 0, 0, 0, 0, (uint8_t)(alloc >> 8),
	                    (uint8_t)alloc, 0 };

	vt_exec(t, cdb, 10, VS_DIR_FROM_DEVICE, d, alloc, r);
}

static void mode_select6(struct vt *t, uint8_t b1, uint8_t *p, uint8_t len, struct tf_result *r)
{
	uint8_t cdb[6] = { MODE_SELECT_6, b1, 0, 0, len, 0 };

	vt_exec(t, cdb, 6, VS_DIR_TO_DEVICE, p, len, r);
}

/* Find page `code` in a MODE SENSE(6) response; NULL if absent. */
static const uint8_t *find_page6(const uint8_t *d, uint8_t code)
{
	uint32_t len = d[0] + 1u, off = 4u + d[3];

	while (off + 2 <= len) {
		if ((d[off] & 0x3f) == code)
			return &d[off];
		off += 2u + d[off + 1];
	}
	return NULL;
}

static void test_mode_sense(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[256];
	(void)state;

	vt_setup(&t, 4096, "8M", false);
	/* all pages, with a short block descriptor */
	mode_sense6(&t, 0, 0x3f, 0, 255, d, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, d[0] + 1u);
	assert_int_equal(r.resid_flags, VS_RESID_UNDERFLOW);
	assert_int_equal(d[2], 0x10);                  /* DPOFUA, not WP */
	assert_int_equal(d[3], 8);
	assert_int_equal(get_be(&d[4], 4), 2048);      /* blocks */
	assert_int_equal(get_be(&d[9], 3), 4096);      /* block length */
	assert_non_null(find_page6(d, 0x03));
	assert_non_null(find_page6(d, 0x04));
	assert_non_null(find_page6(d, 0x08));
	assert_non_null(find_page6(d, 0x1c));
	const uint8_t *ctl = find_page6(d, 0x0a);
	assert_non_null(ctl);
	assert_int_equal(ctl[1], 0x0a);
	assert_int_equal(ctl[2] & 0x04, 0);            /* D_SENSE off */
	assert_int_equal(ctl[2] >> 5, 1);              /* TST 001b: a task set per I_T nexus */
	assert_true(ctl[5] & 0x40);                    /* TAS */
	const uint8_t *cache = find_page6(d, 0x08);
	assert_int_equal(cache[2] & 0x04, 0);          /* ram: no write cache, WCE=0 */

	/* DBD, one page; truncated to 4 bytes without residual overflow */
	mode_sense6(&t, 0x08, 0x0a, 0, 255, d, &r);
	assert_good(&r);
	assert_int_equal(d[3], 0);
	assert_int_equal(d[0] + 1, 4 + 12);
	mode_sense6(&t, 0, 0x3f, 0, 4, d, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 4);
	assert_int_equal(r.resid_flags, 0);

	/* MODE SENSE(10) with LLBAA: 16-byte descriptor */
	mode_sense10(&t, 0x10, 0x08, 512, d, &r);
	assert_good(&r);
	assert_int_equal(d[4] & 1, 1);                 /* LONGLBA */
	assert_int_equal(get_be(&d[6], 2), 16);
	assert_int_equal(get_be(&d[8], 8), 2048);
	assert_int_equal(get_be(&d[20], 4), 4096);
	assert_int_equal(d[24], 0x08);
	assert_int_equal(get_be(&d[0], 2) + 2u, 8 + 16 + 20);

	/* changeable: D_SENSE and SWP; WCE not (no cache) */
	mode_sense6(&t, 0x08, 0x40 | 0x0a, 0, 255, d, &r);
	assert_good(&r);
	assert_int_equal(d[4 + 2], 0x04);
	assert_int_equal(d[4 + 4], 0x08);
	mode_sense6(&t, 0x08, 0x40 | 0x08, 0, 255, d, &r);
	assert_int_equal(d[4 + 2], 0);
	/* saved values: not supported */
	mode_sense6(&t, 0, 0xc0 | 0x0a, 0, 255, d, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_SAVING_PARAMETERS_NOT_SUPPORTED);
	/* unknown page; subpage FFh accepted; other subpages not */
	mode_sense6(&t, 0, 0x19, 0, 255, d, &r);
	assert_invalid_cdb(&r, 2, 5);
	mode_sense6(&t, 0, 0x3f, 0xff, 255, d, &r);
	assert_good(&r);
	mode_sense6(&t, 0, 0x0a, 0x01, 255, d, &r);
	assert_invalid_cdb(&r, 3, 7);
	vt_teardown(&t);
}

static void test_mode_select(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[256], p[64], cdb[16], blk[512];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	mode_sense6(&t, 0x08, 0x0a, 0, 255, d, &r);
	assert_good(&r);
	/* header (4) + control page (12), PS cleared */
	memset(p, 0, 4);
	memcpy(&p[4], &d[4], 12);
	p[4] &= 0x7f;

	/* echoing the page unchanged is fine and raises no UA */
	mode_select6(&t, 0x10, p, 16, &r);
	assert_good(&r);
	assert_int_equal(tf_clear_ua(t.tf, t.n2, 0), 0);
	vt_exec(&t, (uint8_t[6]){ TEST_UNIT_READY }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);

	/* SP=1 and PF=0 */
	mode_select6(&t, 0x11, p, 16, &r);
	assert_invalid_cdb(&r, 1, 0);
	mode_select6(&t, 0x00, p, 16, &r);
	assert_invalid_cdb(&r, 1, 4);
	/* changing a non-changeable field: QERR in byte 3 of the page */
	p[4 + 3] |= 0x02;
	mode_select6(&t, 0x10, p, 16, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_field_ptr(&r, false, 4 + 3, 1);
	p[4 + 3] &= (uint8_t)~0x02;
	/* nor TST: the port keeps a task set per I_T nexus (001b), one task
	 * set for all (000b) cannot be chosen */
	p[4 + 2] &= (uint8_t)~0x20;
	mode_select6(&t, 0x10, p, 16, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_field_ptr(&r, false, 4 + 2, 5);
	p[4 + 2] |= 0x20;
	/* wrong page length, truncated list */
	p[5] = 0x0b;
	mode_select6(&t, 0x10, p, 16, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_field_ptr(&r, false, 5, 7);
	p[5] = 0x0a;
	mode_select6(&t, 0x10, p, 10, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
	mode_select6(&t, 0x10, p, 2, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);

	/* D_SENSE=1: this LUN now answers with descriptor-format sense */
	p[4 + 2] |= 0x04;
	mode_select6(&t, 0x10, p, 16, &r);
	assert_good(&r);
	cdb_rw(cdb, READ_16, UINT64_MAX, 1, 0);
	vt_exec(&t, cdb, 16, VS_DIR_FROM_DEVICE, blk, 512, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(r.sense[0], 0x72);
	/* field pointer in a sense-key specific descriptor */
	vt_exec(&t, (uint8_t[6]){ TEST_UNIT_READY, 0, 0, 0, 0, 0x04 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	assert_int_equal(r.sense[0], 0x72);
	assert_int_equal(r.sense[7], 8);
	assert_int_equal(r.sense[8], 0x02);
	assert_int_equal(r.sense[12], 0x80 | 0x40 | 0x08 | 2);
	assert_int_equal(get_be(&r.sense[13], 2), 5);

	/* the other nexus gets MODE PARAMETERS CHANGED once; we do not */
	assert_int_equal(tf_exec(t.tf, t.n2, 0, (uint8_t[6]){ TEST_UNIT_READY }, 6, VS_DIR_NONE,
	                         NULL, 0, &r), 0);
	assert_sense(&r, SENSE_UNIT_ATTENTION, ASC_MODE_PARAMETERS_CHANGED);
	assert_int_equal(tf_exec(t.tf, t.n2, 0, (uint8_t[6]){ TEST_UNIT_READY }, 6, VS_DIR_NONE,
	                         NULL, 0, &r), 0);
	assert_good(&r);
	vt_exec(&t, (uint8_t[6]){ TEST_UNIT_READY }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);

	/* SWP=1: writes are refused, WP shows in the header, reads work */
	p[4 + 2] &= (uint8_t)~0x04;
	p[4 + 4] |= 0x08;
	mode_select6(&t, 0x10, p, 16, &r);
	assert_good(&r);
	assert_int_equal(r.sense_len, 0);
	cdb_rw(cdb, WRITE_10, 0, 1, 0);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, blk, 512, &r);
	assert_sense(&r, SENSE_DATA_PROTECT, ASC_WRITE_PROTECTED);
	assert_int_equal(r.sense[0], 0x70);        /* D_SENSE back to 0 */
	mode_sense6(&t, 0x08, 0x0a, 0, 255, d, &r);
	assert_int_equal(d[2] & 0x80, 0x80);
	assert_int_equal(d[4 + 4] & 0x08, 0x08);
	cdb_rw(cdb, READ_10, 0, 1, 0);
	vt_exec(&t, cdb, 10, VS_DIR_FROM_DEVICE, blk, 512, &r);
	assert_good(&r);
	p[4 + 4] &= (uint8_t)~0x08;
	mode_select6(&t, 0x10, p, 16, &r);
	assert_good(&r);
	cdb_rw(cdb, WRITE_10, 0, 1, 0);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, blk, 512, &r);
	assert_good(&r);

	/* a block descriptor with another block size is refused */
	memset(p, 0, 12);
	p[3] = 8;
	put_be(&p[4], t.nblocks, 4);
	put_be(&p[9], 4096, 3);
	mode_select6(&t, 0x10, p, 12, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_field_ptr(&r, false, 9, 7);
	put_be(&p[9], 512, 3);
	mode_select6(&t, 0x10, p, 12, &r);
	assert_good(&r);
	vt_teardown(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_sense),
		cmocka_unit_test(test_mode_select),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
