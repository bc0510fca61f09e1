/* SPDX-License-Identifier: MIT */
/*
 * find_adapter's limits are enforced at submit: more data than
 * max_transfer_length bytes or more iovec entries than max_sg_elements
 * never reach the miniport (SBC-3 6.5.3: ILLEGAL REQUEST, INVALID FIELD IN
 * CDB), fabrics can read the limits, and vdisk's Block Limits VPD page
 * reports the same MAXIMUM TRANSFER LENGTH the port enforces.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_fabric.h"
#include "test_port_mock.h"
#include "vstor/vdisk.h"

static void done_count(struct vs_srb *srb)
{
	(*(int *)srb->done_ctx)++;
}

/* Submit a READ(10) of `len` bytes spread over `iovcnt` iovecs. */
static void submit_sg(struct tf *tf, struct vs_nexus *n, uint8_t *buf, uint32_t len, int iovcnt,
                      struct vs_srb **out, int *calls)
{
	static struct iovec iov[8];
	struct vs_srb *srb = vs_srb_get(tf_pool(tf));
	uint8_t cdb[10] = { READ_10, 0, 0, 0, 0, 0, 0, 0, (uint8_t)(len / 512), 0 };

	assert_non_null(srb);
	for (int i = 0; i < iovcnt; i++) {
		iov[i].iov_base = buf + i * (len / (uint32_t)iovcnt);
		iov[i].iov_len = len / (uint32_t)iovcnt;
	}
	memcpy(srb->cdb, cdb, sizeof(cdb));
	srb->cdb_len = sizeof(cdb);
	srb->data_dir = VS_DIR_FROM_DEVICE;
	srb->iov = iov;
	srb->iovcnt = iovcnt;
	srb->data_length = len;
	srb->nexus = n;
	srb->done = done_count;
	srb->done_ctx = calls;
	*calls = 0;
	vs_port_submit(tf_port(tf), srb);
	*out = srb;
}

static void test_limits_enforced(void **state)
{
	struct mock *m = mock_new(MOCK_INLINE);
	struct vs_adapter_caps caps;
	struct tf_result r;
	struct vs_srb *srb;
	static uint8_t buf[8192];
	int calls;
	(void)state;

	m->max_xfer = 4096;
	m->max_sg = 2;
	struct tf *tf = tf_create(&mock_miniport, NULL, m);
	assert_non_null(tf);
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	assert_int_equal(vs_port_adapter_caps(tf_port(tf), &caps), 0);
	assert_int_equal(caps.max_transfer_length, 4096);
	assert_int_equal(caps.max_sg_elements, 2);
	assert_int_equal(caps.max_luns, 1024);
	assert_int_equal(caps.default_queue_depth, 8);
	assert_int_equal(vs_port_adapter_caps(NULL, &caps), -EINVAL);
	assert_string_equal(vs_last_error(), "adapter_caps: port is NULL");
	assert_int_equal(vs_port_adapter_caps(tf_port(tf), NULL), -EINVAL);
	assert_string_equal(vs_last_error(), "adapter_caps: caps is NULL");

	struct vs_nexus *n = tf_nexus(tf, "iqn.a");
	assert_int_equal(tf_clear_ua(tf, n, 0), 0);
	int started = mock_read(m, &m->nstarted);

	/* at the limit: goes through */
	uint8_t rd8[10] = { READ_10, 0, 0, 0, 0, 0, 0, 0, 8, 0 };
	assert_int_equal(tf_exec(tf, n, 0, rd8, 10, VS_DIR_FROM_DEVICE, buf, 4096, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(mock_read(m, &m->nstarted), started + 1);
	/* one byte over: refused by the port, the miniport never sees it */
	assert_int_equal(tf_exec(tf, n, 0, rd8, 10, VS_DIR_FROM_DEVICE, buf, 4097, &r), 0);
	assert_int_equal(r.srb_status, VS_SRB_SUCCESS);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_ILLEGAL_REQUEST);
	assert_int_equal(r.asc, 0x24);
	assert_int_equal(r.ascq, 0x00);
	assert_int_equal(mock_read(m, &m->nstarted), started + 1);

	/* two iovecs fine, three refused as the submitter's error */
	submit_sg(tf, n, buf, 2048, 2, &srb, &calls);
	assert_int_equal(calls, 1);
	assert_int_equal(srb->scsi_status, SAM_STAT_GOOD);
	vs_srb_put(srb);
	submit_sg(tf, n, buf, 3072, 3, &srb, &calls);
	assert_int_equal(calls, 1);
	assert_int_equal(srb->srb_status, VS_SRB_ERROR);
	assert_int_equal(srb->scsi_status, SAM_STAT_CHECK_CONDITION);
	tf_parse_sense(srb->sense, srb->sense_len, &r);
	assert_int_equal(r.sense_key, SENSE_ILLEGAL_REQUEST);
	assert_int_equal(r.asc, 0x24);
	vs_srb_put(srb);
	assert_int_equal(mock_read(m, &m->nstarted), started + 2);

	struct vs_lun_stats st;
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.errors, 2);
	tf_destroy(tf);
	mock_free(m);
}

/* vdisk: VPD B0h MAXIMUM TRANSFER LENGTH (blocks) is the adapter limit the
 * port enforces, for both block sizes; one block more is refused. */
static void test_vdisk_block_limits_agree(void **state)
{
	static const struct vs_vdisk_adapter_config ac = { .target_name = "iqn.2026-01.test:lim" };
	struct tf *tf = tf_create(&vs_vdisk_miniport, NULL, &ac);
	struct vs_adapter_caps caps;
	struct tf_result r;
	uint8_t vpd[64];
	(void)state;

	assert_non_null(tf);
	assert_int_equal(vs_port_adapter_caps(tf_port(tf), &caps), 0);
	assert_true(caps.max_transfer_length > 0);
	for (uint32_t bs = 512; bs <= 4096; bs *= 8) {
		struct vs_kv kv[] = { { "size", "64M" } };
		struct vs_vdisk_lun_config lc = { .bdev = vs_bdev_open("ram", kv, 1), .block_size = bs };
		uint64_t lun = bs == 512 ? 0 : 1;

		assert_non_null(lc.bdev);
		assert_int_equal(vs_port_lun_add(tf_port(tf), lun, &lc), 0);
		struct vs_nexus *n = tf_nexus(tf, bs == 512 ? "iqn.a" : "iqn.b");
		assert_int_equal(tf_clear_ua(tf, n, lun), 0);
		uint8_t inq[6] = { INQUIRY, 0x01, 0xb0, 0, sizeof(vpd), 0 };
		assert_int_equal(tf_exec(tf, n, lun, inq, 6, VS_DIR_FROM_DEVICE, vpd, sizeof(vpd), &r), 0);
		assert_int_equal(r.status, SAM_STAT_GOOD);
		uint32_t max_blocks = (uint32_t)vpd[8] << 24 | vpd[9] << 16 | vpd[10] << 8 | vpd[11];
		assert_int_equal((uint64_t)max_blocks * bs, caps.max_transfer_length);

		/* READ(16) of one block more than that, with the buffer for it */
		uint32_t nb = max_blocks + 1;
		uint8_t *big = malloc((size_t)nb * bs);
		uint8_t rd[16] = { READ_16 };
		rd[10] = (uint8_t)(nb >> 24);
		rd[11] = (uint8_t)(nb >> 16);
		rd[12] = (uint8_t)(nb >> 8);
		rd[13] = (uint8_t)nb;
		assert_non_null(big);
		assert_int_equal(tf_exec(tf, n, lun, rd, 16, VS_DIR_FROM_DEVICE, big, nb * bs, &r), 0);
		assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
		assert_int_equal(r.sense_key, SENSE_ILLEGAL_REQUEST);
		assert_int_equal(r.asc, 0x24);
		/* exactly the maximum is fine */
		nb = max_blocks;
		rd[10] = (uint8_t)(nb >> 24);
		rd[11] = (uint8_t)(nb >> 16);
		rd[12] = (uint8_t)(nb >> 8);
		rd[13] = (uint8_t)nb;
		assert_int_equal(tf_exec(tf, n, lun, rd, 16, VS_DIR_FROM_DEVICE, big, nb * bs, &r), 0);
		assert_int_equal(r.status, SAM_STAT_GOOD);
		assert_int_equal(r.xfer_len, nb * bs);
		free(big);
	}
	tf_destroy(tf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits_enforced),
		cmocka_unit_test(test_vdisk_block_limits_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
