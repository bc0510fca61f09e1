/* SPDX-License-Identifier: MIT */
/*
 * vdisk's data_out_length callback, through vs_port_data_out_length: the
 * bytes of data-out each command transfers, as a fabric soliciting write
 * data must know them when the initiator's expected length is larger
 * (RFC 7143 §11.4.5.2).  Blocks count in the LUN's own block size.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_vdisk_helpers.h"

static uint64_t out_len(struct vt *t, uint64_t lun, const uint8_t *cdb, uint8_t cdb_len)
{
	struct vs_srb srb;
	uint64_t bytes = 12345;

	memset(&srb, 0, sizeof(srb));
	memcpy(srb.cdb, cdb, cdb_len);
	srb.cdb_len = cdb_len;
	srb.lun = lun;
	srb.nexus = t->n;
	assert_int_equal(vs_port_data_out_length(tf_port(t->tf), &srb, &bytes), 0);
	return bytes;
}

#define LEN(lun, ...) out_len(&t, lun, (const uint8_t[]){ __VA_ARGS__ }, \
                              (uint8_t)sizeof((const uint8_t[]){ __VA_ARGS__ }))

static void test_block_commands(void **state)
{
	struct vt t;
	(void)state;

	vt_setup(&t, 512, "4M", false);
	assert_int_equal(vt_add_lun(&t, 1, "4M", 4096, false), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 1), 0);

	/* WRITE family: TRANSFER LENGTH blocks (SBC-3 5.38-5.42) */
	assert_int_equal(LEN(0, WRITE_10, 0, 0, 0, 0, 0, 0, 0, 8, 0), 8 * 512);
	assert_int_equal(LEN(1, WRITE_10, 0, 0, 0, 0, 0, 0, 0, 8, 0), 8 * 4096);
	assert_int_equal(LEN(0, WRITE_6, 0, 0, 0, 0, 0), 256 * 512);    /* 0 means 256 */
	assert_int_equal(LEN(0, WRITE_6, 0, 0, 0, 3, 0), 3 * 512);
	assert_int_equal(LEN(0, WRITE_12, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0), 65536 * 512);
	assert_int_equal(LEN(0, WRITE_16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0), 5 * 512);
	assert_int_equal(LEN(1, WRITE_AND_VERIFY_16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0),
	                 2 * 4096);
	assert_int_equal(LEN(0, WRITE_AND_VERIFY_10, 0, 0, 0, 0, 0, 0, 0, 4, 0), 4 * 512);
	assert_int_equal(LEN(0, ORWRITE_16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0), 7 * 512);
	/* the largest TRANSFER LENGTH: more than fits in 32 bits of bytes */
	assert_int_equal(LEN(1, WRITE_16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0),
	                 0xffffffffull * 4096);
	/* VERIFY: BYTCHK 00b none, 01b the blocks, 11b one block (SBC-3 5.33) */
	assert_int_equal(LEN(0, VERIFY_10, 0x00, 0, 0, 0, 0, 0, 0, 6, 0), 0);
	assert_int_equal(LEN(0, VERIFY_10, 0x02, 0, 0, 0, 0, 0, 0, 6, 0), 6 * 512);
	assert_int_equal(LEN(0, VERIFY_16, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0), 512);
	assert_int_equal(LEN(0, VERIFY_16, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 0);
	/* WRITE SAME: one block, none with NDOB (SBC-3 5.41-5.42) */
	assert_int_equal(LEN(1, WRITE_SAME_10, 0, 0, 0, 0, 0, 0, 0, 99, 0), 4096);
	assert_int_equal(LEN(0, WRITE_SAME_16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0), 512);
	assert_int_equal(LEN(0, WRITE_SAME_16, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0), 0);
	/* COMPARE AND WRITE: verify data and write data (SBC-3 5.2) */
	assert_int_equal(LEN(0, COMPARE_AND_WRITE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0),
	                 4 * 512);
	/* WRITE ATOMIC (16): TRANSFER LENGTH in bytes 12-13 (SBC-4 5.48) */
	assert_int_equal(LEN(0, WRITE_ATOMIC_16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 3, 0, 0),
	                 3 * 512);

	/* no data-out: data-in or no-data commands, unknown opcodes */
	assert_int_equal(LEN(0, READ_10, 0, 0, 0, 0, 0, 0, 0, 8, 0), 0);
	assert_int_equal(LEN(0, INQUIRY, 0, 0, 0, 0xff, 0), 0);
	assert_int_equal(LEN(0, TEST_UNIT_READY, 0, 0, 0, 0, 0), 0);
	assert_int_equal(LEN(0, 0xff, 0, 0, 0, 0, 0), 0);
	/* a CDB shorter than its operation code's is refused when it runs */
	assert_int_equal(LEN(0, WRITE_16, 0, 0, 0, 0, 0), 0);
	/* REPORT LUNS and a LUN that is not there: answered by the port */
	assert_int_equal(LEN(0, REPORT_LUNS, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0), 0);
	assert_int_equal(LEN(5, WRITE_10, 0, 0, 0, 0, 0, 0, 0, 8, 0), 0);
	vt_teardown(&t);
}

static void test_parameter_lists(void **state)
{
	struct vt t;
	(void)state;

	vt_setup(&t, 512, "4M", false);
	/* PARAMETER LIST LENGTH (SPC-4 4.2.5.5), in bytes */
	assert_int_equal(LEN(0, MODE_SELECT_6, 0x10, 0, 0, 28, 0), 28);
	assert_int_equal(LEN(0, MODE_SELECT_10, 0x10, 0, 0, 0, 0, 0, 0x01, 0x04, 0), 260);
	assert_int_equal(LEN(0, SEND_DIAGNOSTIC, 0, 0, 0, 12, 0), 12);
	assert_int_equal(LEN(0, UNMAP, 0, 0, 0, 0, 0, 0, 0, 24, 0), 24);
	assert_int_equal(LEN(0, 0x48 /* SANITIZE */, 1, 0, 0, 0, 0, 0, 0, 8, 0), 8);
	assert_int_equal(LEN(0, PERSISTENT_RESERVE_OUT, 0, 0, 0, 0, 0x01, 0, 0, 24, 0), 0x01000018);
	assert_int_equal(LEN(0, 0x83 /* EXTENDED COPY */, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x20,
	                     0, 0), 0x1020);
	vt_teardown(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_commands),
		cmocka_unit_test(test_parameter_lists),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
