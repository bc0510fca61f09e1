/* SPDX-License-Identifier: MIT */
/*
 * NBD transmission requests (proto.md "Request message", "Request types",
 * "Command flags", "Error values"): each header gets the error the
 * document says, or a closed connection where nothing else is safe.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "fabrics/nbd/nbd_proto.h"

static const struct nbd_tx base_tx = {
	.size = 1 << 20, .min_block = 512, .max_payload = 1 << 16,
	.tflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
	          NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_DF |
	          NBD_FLAG_SEND_CACHE | NBD_FLAG_SEND_FAST_ZERO,
	.structured = true, .meta_allocation = true,
};

static struct nbd_verdict check(const struct nbd_tx *tx, uint16_t type, uint16_t flags,
                                uint64_t off, uint32_t len)
{
	uint8_t h[NBD_REQUEST_LEN];
	struct nbd_request r;
	struct nbd_verdict v;

	vs_put32(h, NBD_MAGIC_REQUEST);
	vs_put16(h + 4, flags);
	vs_put16(h + 6, type);
	vs_put64(h + 8, 0x1122334455667788ull);
	vs_put64(h + 16, off);
	vs_put32(h + 24, len);
	assert_true(vs_nbd_request_parse(h, &r));
	assert_int_equal(r.handle, 0x1122334455667788ull);
	assert_int_equal(r.offset, off);
	assert_int_equal(r.length, len);
	vs_nbd_request_check(tx, &r, &v);
	return v;
}

static void test_parse_magic(void **state)
{
	uint8_t h[NBD_REQUEST_LEN] = {0};
	struct nbd_request r;
	(void)state;

	vs_put32(h, NBD_MAGIC_REQUEST);
	assert_true(vs_nbd_request_parse(h, &r));
	vs_put32(h, 0x12560953);       /* the historic magic is not ours */
	assert_false(vs_nbd_request_parse(h, &r));
}

static void test_good_requests(void **state)
{
	(void)state;
	assert_int_equal(check(&base_tx, NBD_CMD_READ, 0, 0, 4096).error, 0);
	assert_int_equal(check(&base_tx, NBD_CMD_READ, NBD_CMD_FLAG_DF | NBD_CMD_FLAG_FUA,
	                       (1 << 20) - 512, 512).error, 0);
	struct nbd_verdict v = check(&base_tx, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 512, 1 << 16);
	assert_int_equal(v.error, 0);
	assert_true(v.payload);
	assert_false(v.close);
	assert_int_equal(check(&base_tx, NBD_CMD_FLUSH, 0, 0, 0).error, 0);
	assert_int_equal(check(&base_tx, NBD_CMD_TRIM, NBD_CMD_FLAG_FUA, 0, 1 << 20).error, 0);
	assert_int_equal(check(&base_tx, NBD_CMD_CACHE, 0, 0, 8192).error, 0);
	/* no payload: may be larger than the maximum payload */
	assert_int_equal(check(&base_tx, NBD_CMD_WRITE_ZEROES,
	                       NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO, 0, 1 << 20).error, 0);
	assert_int_equal(check(&base_tx, NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_REQ_ONE, 0,
	                       1 << 20).error, 0);
	v = check(&base_tx, NBD_CMD_DISC, 0, 0, 0);
	assert_int_equal(v.error, 0);
	assert_false(v.payload);
}

static void test_errors(void **state)
{
	struct nbd_tx tx = base_tx;
	(void)state;

	/* misaligned, empty, past the end */
	assert_int_equal(check(&tx, NBD_CMD_READ, 0, 100, 512).error, NBD_EINVAL);
	assert_int_equal(check(&tx, NBD_CMD_READ, 0, 0, 100).error, NBD_EINVAL);
	assert_int_equal(check(&tx, NBD_CMD_READ, 0, 0, 0).error, NBD_EINVAL);
	assert_int_equal(check(&tx, NBD_CMD_READ, 0, 1 << 20, 512).error, NBD_EINVAL);
	assert_int_equal(check(&tx, NBD_CMD_TRIM, 0, UINT64_MAX - 511, 512).error, NBD_EINVAL);
	assert_int_equal(check(&tx, NBD_CMD_BLOCK_STATUS, 0, (1 << 20) - 512, 1024).error,
	                 NBD_EINVAL);
	/* writes past the end: ENOSPC, and the payload is still read */
	struct nbd_verdict v = check(&tx, NBD_CMD_WRITE, 0, (1 << 20) - 512, 1024);
	assert_int_equal(v.error, NBD_ENOSPC);
	assert_true(v.payload);
	assert_false(v.close);
	assert_int_equal(check(&tx, NBD_CMD_WRITE_ZEROES, 0, 1 << 20, 512).error, NBD_ENOSPC);
	/* more data than we take: close (the next header cannot be found otherwise) */
	v = check(&tx, NBD_CMD_WRITE, 0, 0, (1 << 16) + 512);
	assert_true(v.close);
	/* a read larger than the maximum payload is refused, not served */
	assert_int_equal(check(&tx, NBD_CMD_READ, 0, 0, (1 << 16) + 512).error, NBD_EINVAL);
	/* unknown command, unknown flags, flags of another command */
	assert_int_equal(check(&tx, 99, 0, 0, 512).error, NBD_EINVAL);
	assert_int_equal(check(&tx, NBD_CMD_READ, 1u << 9, 0, 512).error, NBD_EINVAL);
	assert_int_equal(check(&tx, NBD_CMD_WRITE, NBD_CMD_FLAG_NO_HOLE, 0, 512).error, NBD_EINVAL);
	assert_int_equal(check(&tx, NBD_CMD_READ, NBD_CMD_FLAG_REQ_ONE, 0, 512).error, NBD_EINVAL);
	/* FLUSH's offset and length are reserved */
	assert_int_equal(check(&tx, NBD_CMD_FLUSH, 0, 512, 0).error, NBD_EINVAL);
	/* block status needs a context selected for this export */
	tx.meta_allocation = false;
	assert_int_equal(check(&tx, NBD_CMD_BLOCK_STATUS, 0, 0, 512).error, NBD_EINVAL);
}

static void test_what_was_not_advertised(void **state)
{
	struct nbd_tx tx = base_tx;
	(void)state;

	tx.tflags = NBD_FLAG_HAS_FLAGS;
	assert_int_equal(check(&tx, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 512).error, NBD_EINVAL);
	assert_int_equal(check(&tx, NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 512).error, NBD_EINVAL);
	assert_int_equal(check(&tx, NBD_CMD_FLUSH, 0, 0, 0).error, NBD_EINVAL);
	assert_int_equal(check(&tx, NBD_CMD_TRIM, 0, 0, 512).error, NBD_EINVAL);
	assert_int_equal(check(&tx, NBD_CMD_WRITE_ZEROES, 0, 0, 512).error, NBD_EINVAL);
	tx.tflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_WRITE_ZEROES;
	assert_int_equal(check(&tx, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0, 512).error,
	                 NBD_EINVAL);
	/* read-only: writes of every kind get EPERM */
	tx = base_tx;
	tx.tflags |= NBD_FLAG_READ_ONLY;
	assert_int_equal(check(&tx, NBD_CMD_WRITE, 0, 0, 512).error, NBD_EPERM);
	assert_int_equal(check(&tx, NBD_CMD_TRIM, 0, 0, 512).error, NBD_EPERM);
	assert_int_equal(check(&tx, NBD_CMD_WRITE_ZEROES, 0, 0, 512).error, NBD_EPERM);
	assert_int_equal(check(&tx, NBD_CMD_READ, 0, 0, 512).error, 0);
}

static void test_errno_mapping(void **state)
{
	(void)state;
	assert_int_equal(vs_nbd_errno(0), 0);
	assert_int_equal(vs_nbd_errno(-EROFS), NBD_EPERM);
	assert_int_equal(vs_nbd_errno(-EBADE), NBD_EPERM);
	assert_int_equal(vs_nbd_errno(-ENOSPC), NBD_ENOSPC);
	assert_int_equal(vs_nbd_errno(EDQUOT), NBD_ENOSPC);
	assert_int_equal(vs_nbd_errno(-EINVAL), NBD_EINVAL);
	assert_int_equal(vs_nbd_errno(-EOPNOTSUPP), NBD_ENOTSUP);
	assert_int_equal(vs_nbd_errno(-ECANCELED), NBD_ESHUTDOWN);
	assert_int_equal(vs_nbd_errno(-ESHUTDOWN), NBD_ESHUTDOWN);
	assert_int_equal(vs_nbd_errno(-ETIMEDOUT), NBD_EIO);
	assert_int_equal(vs_nbd_errno(-EIO), NBD_EIO);
	assert_int_equal(vs_nbd_errno(-ENOMEDIUM), NBD_EIO);
}

static void test_reply_headers(void **state)
{
	uint8_t s[NBD_SIMPLE_REPLY_LEN], c[NBD_CHUNK_HDR_LEN];
	struct nbd_out o = {0};
	(void)state;

	vs_nbd_wire_simple_reply(s, NBD_EIO, 7);
	assert_int_equal(vs_get32(s), NBD_MAGIC_SIMPLE_REPLY);
	assert_int_equal(vs_get32(s + 4), NBD_EIO);
	assert_int_equal(vs_get64(s + 8), 7);
	vs_nbd_wire_chunk(c, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, 9, 4104);
	assert_int_equal(vs_get32(c), NBD_MAGIC_STRUCTURED_REPLY);
	assert_int_equal(vs_get16(c + 4), NBD_REPLY_FLAG_DONE);
	assert_int_equal(vs_get16(c + 6), NBD_REPLY_TYPE_OFFSET_DATA);
	assert_int_equal(vs_get64(c + 8), 9);
	assert_int_equal(vs_get32(c + 16), 4104);
	vs_nbd_wire_error_chunk(&o, 5, NBD_EINVAL, "bad");
	assert_int_equal(o.len, NBD_CHUNK_HDR_LEN + 6 + 3);
	assert_int_equal(vs_get16(o.buf + 6), NBD_REPLY_TYPE_ERROR);
	assert_int_equal(vs_get32(o.buf + 16), 9);
	assert_int_equal(vs_get32(o.buf + 20), NBD_EINVAL);
	assert_int_equal(vs_get16(o.buf + 24), 3);
	vs_nbd_out_free(&o);
	/* a fixed buffer never overflows, it says so */
	uint8_t small[8];
	vs_nbd_out_init_fixed(&o, small, sizeof(small));
	vs_nbd_out_be64(&o, 1);
	assert_false(o.overflow);
	vs_nbd_out_be16(&o, 1);
	assert_true(o.overflow);
	assert_int_equal(o.len, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_magic),
		cmocka_unit_test(test_good_requests),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_what_was_not_advertised),
		cmocka_unit_test(test_errno_mapping),
		cmocka_unit_test(test_reply_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
