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

/* Every path vs_crc32c may take (util/vs_crc32c.c) gives `want` for buf. */
static void expect_crc(const void *buf, size_t len, uint32_t want)
{
	assert_int_equal(vs_crc32c(0, buf, len), want);
	assert_int_equal(vs_crc32c_sw(0, buf, len), want);
	assert_int_equal(vs_crc32c_stream(0, buf, len), want);
	assert_int_equal(vs_crc32c_isal(0, buf, len), want);
}

static void test_crc32c_rfc3720_vectors(void **state)
{
	uint8_t buf[32];
	/* RFC 3720 B.4: an iSCSI Read (10) command PDU (a 48-byte BHS) */
	static const uint8_t read10_pdu[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	(void)state;

	/* RFC 3720 B.4 */
	memset(buf, 0, sizeof(buf));
	expect_crc(buf, 32, 0x8a9136aa);
	memset(buf, 0xff, sizeof(buf));
	expect_crc(buf, 32, 0x62a8ab43);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	expect_crc(buf, 32, 0x46dd794e);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	expect_crc(buf, 32, 0x113fdb5c);
	expect_crc(read10_pdu, sizeof(read10_pdu), 0xd9963a56);
	/* the CRC-32C catalogue check value */
	expect_crc("123456789", 9, 0xe3069283);
	expect_crc("", 0, 0);
}

/*
 * Random buffers of many lengths -- around ISA-L's cut-over (256), every
 * alignment, a few data-segment sizes up to 1 MiB -- give the same CRC on
 * every path, against the table as the reference, and the same when split
 * into two calls anywhere (one piece may take another path than the other).
 */
static void test_crc32c_paths_agree_on_random_buffers(void **state)
{
	static const size_t lens[] = {
		1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 47, 48, 49, 52, 63, 64, 65, 127, 128, 129,
		191, 192, 193, 254, 255, 256, 257, 263, 383, 384, 511, 512, 513, 1000, 1024, 2047,
		4095, 4096, 4097, 8192 + 3, 65536, 65536 + 13, 262144 + 5, 1048576,
	};
	size_t max = 1048576 + 16;
	uint8_t *buf = malloc(max);
	uint64_t seed = 0x243f6a8885a308d3ull;
	(void)state;

	assert_non_null(buf);
	for (size_t i = 0; i < max; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		buf[i] = (uint8_t)(seed >> 56);
	}
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		for (size_t off = 0; off < 8; off += lens[k] > 65536 ? 7 : 1) {
			const uint8_t *p = buf + off;
			size_t len = lens[k];
			uint32_t want = vs_crc32c_sw(0, p, len);

			expect_crc(p, len, want);
			for (size_t cut = 0; cut <= len; cut += len / 5 + 1)
				assert_int_equal(vs_crc32c(vs_crc32c(0, p, cut), p + cut, len - cut),
				                 want);
		}
	}
	free(buf);
}

static void test_crc32c_digest_wire_order(void **state)
{
	uint8_t zeros[32] = { 0 }, wire[4];
	const uint8_t expect[4] = { 0xaa, 0x36, 0x91, 0x8a };   /* RFC 3720 B.4 byte listing */
	(void)state;

	iscsi_put_digest(wire, vs_crc32c(0, zeros, sizeof(zeros)));
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
			uint32_t whole = vs_crc32c(0, buf + off, len);
			assert_int_equal(whole, vs_crc32c_sw(0, buf + off, len));
			size_t cut = len / 3;
			assert_int_equal(whole, vs_crc32c(vs_crc32c(0, buf + off, cut), buf + off + cut, len - cut));
		}
	}
	assert_int_equal(vs_crc32c(0, buf, 4096), vs_crc32c_sw(0, buf, 4096));
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
	assert_int_equal(vs_crc32c_iov(iov, 3, 13, 3), vs_crc32c(0, padded, 16));
	/* len shorter than the iovec: only `len` bytes count */
	assert_int_equal(vs_crc32c_iov(iov, 3, 6, 0), vs_crc32c(0, data, 6));
	/* no data, only padding */
	assert_int_equal(vs_crc32c_iov(NULL, 0, 0, 4), vs_crc32c(0, (uint8_t[4]){ 0 }, 4));
	assert_int_equal(vs_crc32c(0, (uint8_t[4]){ 0 }, 4), 0x48674bc7);
}

static void test_lun_encoding(void **state)
{
	(void)state;
	/* peripheral addressing below 256 */
	assert_int_equal(vs_iscsi_scsi_to_lun(0), 0);
	assert_int_equal(vs_iscsi_scsi_to_lun(5), 0x0005000000000000ull);
	assert_int_equal(vs_iscsi_scsi_to_lun(255), 0x00ff000000000000ull);
	/* flat addressing 256..16383 */
	assert_int_equal(vs_iscsi_scsi_to_lun(256), 0x4100000000000000ull);
	assert_int_equal(vs_iscsi_scsi_to_lun(0x1234), 0x5234000000000000ull);
	assert_int_equal(vs_iscsi_scsi_to_lun(16383), 0x7fff000000000000ull);
	assert_int_equal(vs_iscsi_scsi_to_lun(16384), ISCSI_LUN_INVALID);

	for (uint64_t l = 0; l < 16384; l += 97)
		assert_int_equal(vs_iscsi_lun_to_scsi(vs_iscsi_scsi_to_lun(l)), l);
	/* flat addressing of a small LUN is also accepted */
	assert_int_equal(vs_iscsi_lun_to_scsi(0x4005000000000000ull), 5);
	/* bus != 0, multi-level, logical unit / extended addressing */
	assert_int_equal(vs_iscsi_lun_to_scsi(0x0105000000000000ull), ISCSI_LUN_INVALID);
	assert_int_equal(vs_iscsi_lun_to_scsi(0x0005000100000000ull), ISCSI_LUN_INVALID);
	assert_int_equal(vs_iscsi_lun_to_scsi(0x8005000000000000ull), ISCSI_LUN_INVALID);
	assert_int_equal(vs_iscsi_lun_to_scsi(0xc005000000000000ull), ISCSI_LUN_INVALID);
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
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, false), 0);
	h = bhs(ISCSI_OP_LOGIN_REQ, 0x87, 0, 8193);
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, false), -1);
	h = bhs(ISCSI_OP_LOGIN_REQ, 0x87, 1, 0);
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, false), -1);
	h = bhs(ISCSI_OP_SCSI_CMD, 0x80, 0, 0);
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, false), -1);
	h = bhs(ISCSI_OP_TEXT_REQ, 0x80, 0, 0);
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, false), -1);

	/* full feature phase */
	h = bhs(ISCSI_OP_SCSI_CMD, 0xa1, 0, 512);
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_SCSI_CMD, 0x21, 0, 512);  /* F=0: unsolicited Data-Out follows */
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_SCSI_CMD, 0x80, 2, 0);    /* AHS allowed on SCSI Command */
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_DATA_OUT, 0x80, 0, 8192);
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_DATA_OUT, 0x80, 0, 8196);
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), ISCSI_REJECT_PROTOCOL_ERROR);
	h = bhs(ISCSI_OP_DATA_OUT, 0x80, 1, 0);
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), ISCSI_REJECT_PROTOCOL_ERROR);
	h = bhs(ISCSI_OP_NOP_OUT | ISCSI_FLAG_IMMEDIATE, 0x80, 0, 0);
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_TASK_MGMT_REQ, 0x81, 0, 0);
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_LOGOUT_REQ, 0x80, 0, 0);
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_SNACK_REQ, 0x80, 0, 0);
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_TEXT_REQ, 0x80, 0, 20);
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), 0);
	h = bhs(ISCSI_OP_TEXT_REQ, 0xc0, 0, 20);   /* C and F together */
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), ISCSI_REJECT_PROTOCOL_ERROR);
	h = bhs(ISCSI_OP_LOGIN_REQ, 0x87, 0, 0);   /* login after login */
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), ISCSI_REJECT_PROTOCOL_ERROR);
	h = bhs(0x1c, 0x80, 0, 0);                 /* vendor-specific */
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), ISCSI_REJECT_CMD_NOT_SUPPORTED);
	h = bhs(ISCSI_OP_SCSI_RESP, 0x80, 0, 0);   /* target opcode */
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), ISCSI_REJECT_PROTOCOL_ERROR);
	h = bhs(0x0a, 0x80, 0, 0);                 /* reserved */
	assert_int_equal(vs_iscsi_bhs_validate(&h, 8192, true), ISCSI_REJECT_PROTOCOL_ERROR);
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
	assert_int_equal(vs_iscsi_ahs_parse(ahs, 20, &ai), 0);
	assert_ptr_equal(ai.ext_cdb, ahs + 4);
	assert_int_equal(ai.ext_cdb_len, 16);
	assert_false(ai.has_bidi_read_len);

	/* followed by a bidirectional read length AHS */
	memcpy(ahs + 20, (uint8_t[]){ 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00, 0x00 }, 8);
	assert_int_equal(vs_iscsi_ahs_parse(ahs, 28, &ai), 0);
	assert_true(ai.has_bidi_read_len);
	assert_int_equal(ai.bidi_read_len, 0x10000);

	/* truncated, unknown type, bad bidi length, not a multiple of 4 */
	assert_int_equal(vs_iscsi_ahs_parse(ahs, 16, &ai), ISCSI_REJECT_PROTOCOL_ERROR);
	ahs[2] = 3;
	assert_int_equal(vs_iscsi_ahs_parse(ahs, 20, &ai), ISCSI_REJECT_PROTOCOL_ERROR);
	ahs[2] = 1;
	ahs[21] = 4;
	assert_int_equal(vs_iscsi_ahs_parse(ahs, 28, &ai), ISCSI_REJECT_PROTOCOL_ERROR);
	assert_int_equal(vs_iscsi_ahs_parse(ahs, 6, &ai), ISCSI_REJECT_PROTOCOL_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_rfc3720_vectors),
		cmocka_unit_test(test_crc32c_paths_agree_on_random_buffers),
		cmocka_unit_test(test_crc32c_digest_wire_order),
		cmocka_unit_test(test_crc32c_chaining_and_paths_agree),
		cmocka_unit_test(test_crc32c_iov_with_padding),
		cmocka_unit_test(test_lun_encoding),
		cmocka_unit_test(test_bhs_validate),
		cmocka_unit_test(test_ahs_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
