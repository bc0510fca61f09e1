/* SPDX-License-Identifier: MIT */
/* PDU helpers: CRC32C (RFC 3720 B.4 vectors), digest byte order, LUN
 * encoding (SAM-5 4.7), BHS validation and AHS parsing (RFC 7143 §11.2). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fabrics/iscsi/pdu.h"

static void test_crc32c_rfc3720_vectors(void **state)
{
	uint8_t buf[32];
	(void)state;

	/* RFC 3720 B.4 */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(iscsi_crc32c(0, buf, 32), 0x8a9136aa);
	assert_int_equal(iscsi_crc32c_sw(0, buf, 32), 0x8a9136aa);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(iscsi_crc32c(0, buf, 32), 0x62a8ab43);
	assert_int_equal(iscsi_crc32c_sw(0, buf, 32), 0x62a8ab43);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(iscsi_crc32c(0, buf, 32), 0x46dd794e);
	assert_int_equal(iscsi_crc32c_sw(0, buf, 32), 0x46dd794e);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(iscsi_crc32c(0, buf, 32), 0x113fdb5c);
	assert_int_equal(iscsi_crc32c_sw(0, buf, 32), 0x113fdb5c);
	/* the CRC-32C catalogue check value */
	assert_int_equal(iscsi_crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(iscsi_crc32c(0, "", 0), 0);
}

static void test_crc32c_digest_wire_order(void **state)
{
	uint8_t zeros[32] = { 0 }, wire[4];
	const uint8_t expect[4] = { 0xaa, 0x36, 0x91, 0x8a };   /* RFC 3720 B.4 byte listing */
	(void)state;

	iscsi_put_digest(wire, iscsi_crc32c(0, zeros, sizeof(zeros)));
	assert_memory_equal(wire, expect, 4);
	assert_int_equal(iscsi_get_digest(expect), 0x8a9136aa);
}

static void test_crc32c_chaining_and_paths_agree(void **state)
{
	uint8_t *buf = malloc(4096 + 8);
	uint32_t seed = 12345;
	(void)state;

	for (int i = 0; i < 4096 + 8; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
	/* every alignment and many lengths: hardware and table paths agree,
	 * and splitting the buffer anywhere gives the same CRC */
	for (size_t off = 0; off < 8; off++) {
		for (size_t len = 0; len < 300; len += 7) {
			uint32_t whole = iscsi_crc32c(0, buf + off, len);
			assert_int_equal(whole, iscsi_crc32c_sw(0, buf + off, len));
			size_t cut = len / 3;
			assert_int_equal(whole, iscsi_crc32c(iscsi_crc32c(0, buf + off, cut), buf + off + cut, len - cut));
		}
	}
	assert_int_equal(iscsi_crc32c(0, buf, 4096), iscsi_crc32c_sw(0, buf, 4096));
	free(buf);
}

static void test_crc32c_iov_with_padding(void **state)
{
	uint8_t data[13], padded[16];
	struct iovec iov[3];
	(void)state;

	for (int i = 0; i < 13; i++)
		data[i] = (uint8_t)(i * 7 + 1);
	memset(padded, 0, sizeof(padded));
	memcpy(padded, data, 13);
	iov[0] = (struct iovec){ data, 5 };
	iov[1] = (struct iovec){ data + 5, 1 };
	iov[2] = (struct iovec){ data + 6, 7 };
	/* 13 bytes of data + 3 pad bytes = CRC of the 16-byte padded segment */
	assert_int_equal(iscsi_crc32c_iov(iov, 3, 13, 3), iscsi_crc32c(0, padded, 16));
	/* len shorter than the iovec: only `len` bytes count */
	assert_int_equal(iscsi_crc32c_iov(iov, 3, 6, 0), iscsi_crc32c(0, data, 6));
	/* no data, only padding */
	assert_int_equal(iscsi_crc32c_iov(NULL, 0, 0, 4), iscsi_crc32c(0, (uint8_t[4]){ 0 }, 4));
	assert_int_equal(iscsi_crc32c(0, (uint8_t[4]){ 0 }, 4), 0x48674bc7);
}

static void test_lun_encoding(void **state)
{
	(void)state;
	/* peripheral addressing below 256 */
	assert_int_equal(iscsi_scsi_to_lun(0), 0);
	assert_int_equal(iscsi_scsi_to_lun(5), 0x0005000000000000ull);
	assert_int_equal(iscsi_scsi_to_lun(255), 0x00ff000000000000ull);
	/* flat addressing 256..16383 */
	assert_int_equal(iscsi_scsi_to_lun(256), 0x4100000000000000ull);
	assert_int_equal(iscsi_scsi_to_lun(0x1234), 0x5234000000000000ull);
	assert_int_equal(iscsi_scsi_to_lun(16383), 0x7fff000000000000ull);
	assert_int_equal(iscsi_scsi_to_lun(16384), ISCSI_LUN_INVALID);

	for (uint64_t l = 0; l < 16384; l += 97)
		assert_int_equal(iscsi_lun_to_scsi(iscsi_scsi_to_lun(l)), l);
	/* flat addressing of a small LUN is also accepted */
	assert_int_equal(iscsi_lun_to_scsi(0x4005000000000000ull), 5);
	/* bus != 0, multi-level, logical unit / extended addressing */
	assert_int_equal(iscsi_lun_to_scsi(0x0105000000000000ull), ISCSI_LUN_INVALID);
	assert_int_equal(iscsi_lun_to_scsi(0x0005000100000000ull), ISCSI_LUN_INVALID);
	assert_int_equal(iscsi_lun_to_scsi(0x8005000000000000ull), ISCSI_LUN_INVALID);
	assert_int_equal(iscsi_lun_to_scsi(0xc005000000000000ull), ISCSI_LUN_INVALID);
}

static struct iscsi_bhs bhs(uint8_t op, uint8_t flags, uint8_t ahs, uint32_t dsl)
{
	struct iscsi_bhs h;

	memset(&h, 0, sizeof(h));
	h.b[0] = op;
	h.b[1] = flags;
	h.b[4] = ahs;
	bhs_set_dsl(&h, dsl);
	return h;
}

static void test_bhs_validate(void **state)
{
	struct iscsi_bhs h;
	(void)state;

	/* login phase: only Login Requests, within 8192, no AHS */
	h = bhs(ISCSI_OP_LOGIN_REQ | ISCSI_FLAG_IMMEDIATE, 0x87, 0, 100);
	assert_int_equal(iscsi_bhs_validate(&h, 8192, false), 0);
	h = bhs(ISCSI_OP_LOGIN_REQ, 0x87, 0, 8193);
	assert_int_equal(iscsi_bhs_validate(&h, 8192, false), -1);
	h = bhs(ISCSI_OP_LOGIN_REQ, 0x87, 1, 0);
	assert_int_equal(iscsi_bhs_validate(&h, 8192, false), -1);
	h = bhs(ISCSI_OP_SCSI_CMD, 0x80, 0, 0);
	assert_int_equal(iscsi_bhs_validate(&h, 8192, false), -1);
	h = bhs(ISCSI_OP_TEXT_REQ, 0x80, 0, 0);
	assert_int_equal(iscsi_bhs_validate(&h, 8192, false), -1);

	/* full feature phase */
	h = bhs(ISCSI_OP_SCSI_CMD, 0xa1, 0, 512);
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_SCSI_CMD, 0x21, 0, 512);  /* F=0: unsolicited Data-Out follows */
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_SCSI_CMD, 0x80, 2, 0);    /* AHS allowed on SCSI Command */
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_DATA_OUT, 0x80, 0, 8192);
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_DATA_OUT, 0x80, 0, 8196);
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), ISCSI_REJECT_PROTOCOL_ERROR);
	h = bhs(ISCSI_OP_DATA_OUT, 0x80, 1, 0);
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), ISCSI_REJECT_PROTOCOL_ERROR);
	h = bhs(ISCSI_OP_NOP_OUT | ISCSI_FLAG_IMMEDIATE, 0x80, 0, 0);
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_TASK_MGMT_REQ, 0x81, 0, 0);
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_LOGOUT_REQ, 0x80, 0, 0);
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_SNACK_REQ, 0x80, 0, 0);
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_TEXT_REQ, 0x80, 0, 20);
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_TEXT_REQ, 0xc0, 0, 20);   /* C and F together */
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), ISCSI_REJECT_PROTOCOL_ERROR);
	h = bhs(ISCSI_OP_LOGIN_REQ, 0x87, 0, 0);   /* login after login */
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), ISCSI_REJECT_PROTOCOL_ERROR);
	h = bhs(0x1c, 0x80, 0, 0);                 /* vendor-specific */
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), ISCSI_REJECT_CMD_NOT_SUPPORTED);
	h = bhs(ISCSI_OP_SCSI_RESP, 0x80, 0, 0);   /* target opcode */
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), ISCSI_REJECT_PROTOCOL_ERROR);
	h = bhs(0x0a, 0x80, 0, 0);                 /* reserved */
	assert_int_equal(iscsi_bhs_validate(&h, 8192, true), ISCSI_REJECT_PROTOCOL_ERROR);
}

static void test_ahs_parse(void **state)
{
	struct iscsi_ahs_info ai;
	/* extended CDB AHS for a 32-byte CDB: AHSLength = 32 - 15 = 17,
	 * type 1, reserved, 16 CDB bytes, padded to 20 bytes */
	uint8_t ahs[32] = { 0x00, 0x11, 0x01, 0x00 };
	(void)state;

	for (int i = 0; i < 16; i++)
		ahs[4 + i] = (uint8_t)(0x10 + i);
	assert_int_equal(iscsi_ahs_parse(ahs, 20, &ai), 0);
	assert_ptr_equal(ai.ext_cdb, ahs + 4);
	assert_int_equal(ai.ext_cdb_len, 16);
	assert_false(ai.has_bidi_read_len);

	/* followed by a bidirectional read length AHS */
	memcpy(ahs + 20, (uint8_t[]){ 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00, 0x00 }, 8);
	assert_int_equal(iscsi_ahs_parse(ahs, 28, &ai), 0);
	assert_true(ai.has_bidi_read_len);
	assert_int_equal(ai.bidi_read_len, 0x10000);

	/* truncated, unknown type, bad bidi length, not a multiple of 4 */
	assert_int_equal(iscsi_ahs_parse(ahs, 16, &ai), ISCSI_REJECT_PROTOCOL_ERROR);
	ahs[2] = 3;
	assert_int_equal(iscsi_ahs_parse(ahs, 20, &ai), ISCSI_REJECT_PROTOCOL_ERROR);
	ahs[2] = 1;
	ahs[21] = 4;
	assert_int_equal(iscsi_ahs_parse(ahs, 28, &ai), ISCSI_REJECT_PROTOCOL_ERROR);
	assert_int_equal(iscsi_ahs_parse(ahs, 6, &ai), ISCSI_REJECT_PROTOCOL_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_rfc3720_vectors),
		cmocka_unit_test(test_crc32c_digest_wire_order),
		cmocka_unit_test(test_crc32c_chaining_and_paths_agree),
		cmocka_unit_test(test_crc32c_iov_with_padding),
		cmocka_unit_test(test_lun_encoding),
		cmocka_unit_test(test_bhs_validate),
		cmocka_unit_test(test_ahs_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
