/* SPDX-License-Identifier: MIT */
/*
 * The one sense builder (src/port/sense.c): fixed format (SPC-4 4.5.3) and
 * descriptor format (SPC-4 4.5.2) with the information, command-specific
 * information and sense key specific descriptors, the field pointer and
 * progress indication forms (4.5.2.4.2, 4.5.2.4.4), truncation to the
 * caller's buffer, reading both formats back, and adding INFORMATION to
 * sense already in an SRB.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "test_sense_check.h"
#include "vstor/srb.h"

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void test_key_and_asc(void **state)
{
	struct vs_sense in = { .key = SENSE_NOT_READY, .asc_ascq = ASC_LUN_BECOMING_READY };
	uint8_t s[64];
	(void)state;

	memset(s, 0xee, sizeof(s));
	assert_int_equal(vs_sense_build(s, sizeof(s), false, &in), 18);
	assert_fixed_sense(s, 18, SENSE_NOT_READY, ASC_LUN_BECOMING_READY);
	assert_int_equal(s[0], 0x70);                   /* VALID 0: no INFORMATION */
	for (int i = 3; i < 18; i++)
		if (i != 7 && i != 12 && i != 13)
			assert_int_equal(s[i], 0);
	assert_int_equal(s[18], 0xee);                  /* nothing past the length */

	memset(s, 0xee, sizeof(s));
	assert_int_equal(vs_sense_build(s, sizeof(s), true, &in), 8);
	assert_desc_sense(s, 8, SENSE_NOT_READY, ASC_LUN_BECOMING_READY);
	assert_int_equal(s[4] | s[5] | s[6] | s[7], 0); /* no descriptors */
	assert_int_equal(s[8], 0xee);

	/* the short forms lay out the same */
	uint8_t f[18], d[8];
	assert_int_equal(vs_sense_descriptor(d, sizeof(d), in.key, in.asc_ascq), 8);
	assert_memory_equal(d, s, 8);
	assert_int_equal(vs_sense_fixed(f, sizeof(f), in.key, in.asc_ascq), 18);
	vs_sense_build(s, sizeof(s), false, &in);
	assert_memory_equal(f, s, 18);
}

static void test_information(void **state)
{
	struct vs_sense in = { .key = SENSE_MISCOMPARE, .asc_ascq = ASC_MISCOMPARE_DURING_VERIFY,
	                       .info_valid = true, .info = 0x01020304 };
	uint8_t s[64];
	(void)state;

	assert_int_equal(vs_sense_build(s, sizeof(s), false, &in), 18);
	assert_int_equal(s[0], 0xf0);                   /* VALID */
	assert_int_equal(be(&s[3], 4), 0x01020304);

	assert_int_equal(vs_sense_build(s, sizeof(s), true, &in), 20);
	assert_desc_sense(s, 20, SENSE_MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY);
	/* SPC-4 4.5.2.2: type 00h, length 0Ah, VALID, 8-byte INFORMATION */
	assert_int_equal(s[8], 0x00);
	assert_int_equal(s[9], 0x0a);
	assert_int_equal(s[10], 0x80);
	assert_int_equal(be(&s[12], 8), 0x01020304);

	/* more than 4 bytes: only descriptor format can say it */
	in.info = 0x1122334455ull;
	assert_int_equal(vs_sense_build(s, sizeof(s), false, &in), 18);
	assert_int_equal(s[0], 0x70);
	assert_int_equal(be(&s[3], 4), 0);
	assert_int_equal(vs_sense_build(s, sizeof(s), true, &in), 20);
	assert_true(be(&s[12], 8) == 0x1122334455ull);
}

static void test_command_specific(void **state)
{
	struct vs_sense in = { .key = 0x0a, .asc_ascq = 0x0d05,
	                       .cmd_specific_valid = true, .cmd_specific = 0xabcdef };
	uint8_t s[64];
	(void)state;

	assert_int_equal(vs_sense_build(s, sizeof(s), false, &in), 18);
	assert_int_equal(be(&s[8], 4), 0xabcdef);
	assert_int_equal(s[0], 0x70);
	assert_int_equal(vs_sense_build(s, sizeof(s), true, &in), 20);
	/* SPC-4 4.5.2.3: type 01h, length 0Ah */
	assert_int_equal(s[8], 0x01);
	assert_int_equal(s[9], 0x0a);
	assert_int_equal(s[10], 0);
	assert_int_equal(be(&s[12], 8), 0xabcdef);
}

static void test_field_pointer(void **state)
{
	struct vs_sense in = { .key = SENSE_ILLEGAL_REQUEST, .asc_ascq = ASC_INVALID_FIELD_IN_CDB };
	uint8_t s[64];
	(void)state;

	vs_sense_field_pointer(&in, true, 0x0102, 3);
	assert_int_equal(vs_sense_build(s, sizeof(s), false, &in), 18);
	assert_int_equal(s[15], 0x80 | 0x40 | 0x08 | 3);
	assert_int_equal(be(&s[16], 2), 0x0102);
	assert_int_equal(vs_sense_build(s, sizeof(s), true, &in), 16);
	assert_desc_sense(s, 16, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	/* SPC-4 4.5.2.4: type 02h, length 06h, two reserved bytes, the field */
	assert_int_equal(s[8], 0x02);
	assert_int_equal(s[9], 0x06);
	assert_int_equal(s[10] | s[11] | s[15], 0);
	assert_desc_field_ptr(s, 16, true, 0x0102, 3);

	/* parameter list, no bit pointer */
	in.asc_ascq = ASC_INVALID_FIELD_IN_PARAMETER_LIST;
	vs_sense_field_pointer(&in, false, 24, -1);
	assert_int_equal(vs_sense_build(s, sizeof(s), false, &in), 18);
	assert_int_equal(s[15], 0x80);
	assert_int_equal(be(&s[16], 2), 24);
	assert_int_equal(vs_sense_build(s, sizeof(s), true, &in), 16);
	assert_desc_field_ptr(s, 16, false, 24, -1);
}

static void test_progress(void **state)
{
	struct vs_sense in = { .key = SENSE_NOT_READY, .asc_ascq = 0x041b };
	uint8_t s[64];
	(void)state;

	vs_sense_progress(&in, 0x8000);             /* half way */
	assert_int_equal(vs_sense_build(s, sizeof(s), false, &in), 18);
	assert_int_equal(s[15], 0x80);
	assert_int_equal(be(&s[16], 2), 0x8000);
	assert_int_equal(vs_sense_build(s, sizeof(s), true, &in), 16);
	assert_int_equal(s[8], 0x02);
	assert_int_equal(s[12], 0x80);
	assert_int_equal(be(&s[13], 2), 0x8000);
}

static void test_all_descriptors_and_truncation(void **state)
{
	struct vs_sense in = { .key = SENSE_ILLEGAL_REQUEST, .asc_ascq = ASC_LBA_OUT_OF_RANGE,
	                       .info_valid = true, .info = 7,
	                       .cmd_specific_valid = true, .cmd_specific = 9 };
	uint8_t s[64], t[64];
	(void)state;

	vs_sense_field_pointer(&in, true, 2, 7);
	assert_int_equal(vs_sense_build(s, sizeof(s), true, &in), 8 + 12 + 12 + 8);
	assert_int_equal(s[7], 32);
	assert_int_equal(s[8], 0x00);
	assert_int_equal(s[20], 0x01);
	assert_int_equal(s[32], 0x02);
	assert_int_equal(be(&s[12], 8), 7);
	assert_int_equal(be(&s[24], 8), 9);
	assert_desc_field_ptr(s, 40, true, 2, 7);

	/* a short buffer gets the first len bytes and nothing past them */
	memset(t, 0xee, sizeof(t));
	assert_int_equal(vs_sense_build(t, 13, true, &in), 13);
	assert_memory_equal(t, s, 13);
	assert_int_equal(t[13], 0xee);
	memset(t, 0xee, sizeof(t));
	assert_int_equal(vs_sense_build(t, 5, false, &in), 5);
	assert_int_equal(t[0], 0xf0);
	assert_int_equal(t[5], 0xee);
	assert_int_equal(vs_sense_build(t, 0, false, &in), 0);
}

static void test_parse_both_formats(void **state)
{
	struct vs_sense in = { .key = SENSE_MEDIUM_ERROR, .asc_ascq = ASC_UNRECOVERED_READ_ERROR,
	                       .info_valid = true, .info = 0x1000 }, out;
	uint8_t s[64];
	size_t n;
	(void)state;

	vs_sense_progress(&in, 0x1234);
	for (int desc = 0; desc <= 1; desc++) {
		n = vs_sense_build(s, sizeof(s), desc, &in);
		assert_int_equal(vs_sense_is_descriptor(s, n), desc);
		assert_true(vs_sense_parse(s, n, &out));
		assert_int_equal(out.key, in.key);
		assert_int_equal(out.asc_ascq, in.asc_ascq);
		assert_true(out.info_valid);
		assert_int_equal(out.info, 0x1000);
		assert_true(out.sks_valid);
		assert_memory_equal(out.sks, in.sks, 3);
	}
	/* not sense data, or too short to hold its key */
	memset(s, 0, sizeof(s));
	assert_false(vs_sense_parse(s, sizeof(s), &out));
	s[0] = 0x70;
	assert_false(vs_sense_parse(s, 10, &out));
	s[0] = 0x72;
	assert_false(vs_sense_parse(s, 4, &out));
	assert_false(vs_sense_parse(s, 0, &out));
	/* a descriptor that claims more than there is is ignored */
	n = vs_sense_build(s, sizeof(s), true, &in);
	s[9] = 0x40;
	assert_true(vs_sense_parse(s, n, &out));
	assert_false(out.info_valid);
}

/* vs_srb_set_sense_info keeps the format the sense is in. */
static void test_srb_sense_info(void **state)
{
	struct vs_srb srb;
	(void)state;

	memset(&srb, 0, sizeof(srb));
	srb.sense_len = (uint8_t)vs_sense_descriptor(srb.sense, sizeof(srb.sense), SENSE_MISCOMPARE,
	                                             ASC_MISCOMPARE_DURING_VERIFY);
	vs_srb_set_sense_info(&srb, 0x123456789ull);
	assert_desc_sense(srb.sense, srb.sense_len, SENSE_MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY);
	assert_int_equal(srb.sense_len, 20);
	assert_int_equal(srb.sense[8], 0x00);
	assert_true(be(&srb.sense[12], 8) == 0x123456789ull);

	/* an SRB the port never saw is answered in fixed format */
	memset(&srb, 0, sizeof(srb));
	assert_false(vs_srb_sense_descriptor(&srb));
	vs_srb_set_invalid_field(&srb, false, 3, 1);
	assert_int_equal(srb.scsi_status, SAM_STAT_CHECK_CONDITION);
	assert_fixed_sense(srb.sense, srb.sense_len, SENSE_ILLEGAL_REQUEST,
	                   ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	vs_srb_set_sense_info(&srb, 5);
	assert_int_equal(srb.sense[0], 0xf0);
	assert_int_equal(be(&srb.sense[3], 4), 5);
	assert_int_equal(srb.sense[15], 0x80 | 0x08 | 1);      /* field pointer kept */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_and_asc),
		cmocka_unit_test(test_information),
		cmocka_unit_test(test_command_specific),
		cmocka_unit_test(test_field_pointer),
		cmocka_unit_test(test_progress),
		cmocka_unit_test(test_all_descriptors_and_truncation),
		cmocka_unit_test(test_parse_both_formats),
		cmocka_unit_test(test_srb_sense_info),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
