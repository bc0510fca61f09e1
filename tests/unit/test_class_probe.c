/* SPDX-License-Identifier: MIT */
/*
 * The class layer's probe: what it reads from INQUIRY, the VPD pages
 * (SBC-3 6.6.4 Block Limits, 6.6.5 Logical Block Provisioning), READ
 * CAPACITY(16) and the caching mode page, and the defaults it keeps when
 * a LUN lacks the optional ones.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "class_mock.h"
#include "vstor/scsi.h"

static void test_defaults_and_power_on_ua(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	struct vs_disk_info in;
	(void)state;

	m->phys_exp = 3;
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	vs_disk_info(h.disk, &in);
	assert_int_equal(in.capacity_bytes, 2048ull * 512);
	assert_int_equal(in.block_size, 512);
	assert_int_equal(in.physical_block_size, 4096);
	assert_int_equal(in.max_transfer_bytes, 32u << 20);   /* nothing reported a limit */
	assert_true(in.can_unmap);
	assert_true(in.can_write_same_unmap);
	assert_true(in.unmap_zeroes);
	assert_true(in.block_status);
	assert_true(in.write_cache);
	assert_false(in.readonly);
	/* a new nexus meets POWER ON OCCURRED at its first ordinary command
	 * (READ CAPACITY; INQUIRY is exempt): retried at once, reported up */
	assert_int_equal(cm_count(m, SERVICE_ACTION_IN_16), 1);
	assert_int_equal(ch_event_count(&h, VS_DISK_EV_UNIT_ATTENTION,
	                                ASC_POWER_ON_RESET_OR_BUS_RESET), 1);
	/* the probe's order: INQUIRY, VPD 00h, B0h, B2h, READ CAPACITY, MODE SENSE */
	assert_int_equal(cm_nth(m, CM_ANY, 0)->cdb[0], INQUIRY);
	assert_int_equal(cm_nth(m, CM_ANY, 1)->cdb[2], 0x00);
	assert_int_equal(cm_nth(m, CM_ANY, 2)->cdb[2], 0xb0);
	assert_int_equal(cm_nth(m, CM_ANY, 3)->cdb[2], 0xb2);
	assert_int_equal(cm_nth(m, CM_ANY, 4)->cdb[0], SERVICE_ACTION_IN_16);
	assert_int_equal(cm_nth(m, CM_ANY, 5)->cdb[0], MODE_SENSE_10);
	ch_close(&h);
	cm_free(m);
}

static void test_block_limits(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	struct vs_disk_info in;
	(void)state;

	m->max_xfer = 1u << 20;         /* the adapter: 1 MiB */
	m->b0_max_xfer = 128;           /* the LUN: 64 KiB, smaller: wins */
	m->b0_opt_gran = 8;
	m->b0_opt_xfer = 256;
	m->b0_max_unmap = 1000;
	m->b0_max_desc = 4;
	m->b0_gran = 16;
	m->b0_align = 3;
	m->b0_max_ws = 77;
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	vs_disk_info(h.disk, &in);
	assert_int_equal(in.max_transfer_bytes, 128 * 512);
	assert_int_equal(in.optimal_granularity_bytes, 8 * 512);
	assert_int_equal(in.optimal_transfer_bytes, 256 * 512);
	assert_int_equal(in.max_unmap_blocks, 1000);
	assert_int_equal(in.max_unmap_descriptors, 4);
	assert_int_equal(in.unmap_granularity_blocks, 16);
	assert_int_equal(in.unmap_alignment_blocks, 3);
	assert_int_equal(in.max_write_same_blocks, 77);
	ch_close(&h);
	cm_free(m);

	/* the adapter's limit when it is the smaller */
	m = cm_new();
	m->max_xfer = 4096 + 100;       /* rounded down to whole blocks */
	m->b0_max_xfer = 128;
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	vs_disk_info(h.disk, &in);
	assert_int_equal(in.max_transfer_bytes, 4096);
	ch_close(&h);
	cm_free(m);
}

static void test_lun_without_optional_pages(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	struct vs_disk_info in;
	(void)state;

	m->vpd_b0 = m->vpd_b2 = false;
	m->no_mode_sense = true;
	m->lbprz = false;
	m->max_xfer = 1u << 20;
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	vs_disk_info(h.disk, &in);
	/* not asked for pages VPD 00h does not list */
	for (int i = 0; i < cm_count(m, INQUIRY); i++)
		assert_true(cm_nth(m, INQUIRY, i)->cdb[2] != 0xb0 &&
		            cm_nth(m, INQUIRY, i)->cdb[2] != 0xb2);
	assert_int_equal(in.max_transfer_bytes, 1u << 20);
	assert_false(in.can_unmap);             /* LBPU unknown without B2h */
	assert_true(in.block_status);           /* LBPME alone says GET LBA STATUS works */
	assert_true(in.write_cache);            /* refused caching page: flush anyway */
	assert_int_equal(ch_run(&h, VS_BLK_UNMAP, 0, 0, 512, NULL), -EOPNOTSUPP);
	assert_int_equal(cm_count(m, UNMAP), 0);
	ch_close(&h);
	cm_free(m);
}

static void test_not_a_disk(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	(void)state;

	m->not_disk = true;
	assert_int_equal(ch_open(&h, m, 0, 0, 0), -ENODEV);
	assert_int_equal(cm_count(m, SERVICE_ACTION_IN_16), 0);    /* stopped at INQUIRY */
	ch_close(&h);
	cm_free(m);
}

static void test_read_only_and_no_provisioning(void **state)
{
	struct cm *m = cm_new();
	struct ch h;
	struct vs_disk_info in;
	uint8_t buf[512] = {0};
	(void)state;

	m->wp = true;
	m->wce = false;
	m->lbpme = false;
	assert_int_equal(ch_open(&h, m, 0, 0, 0), 0);
	vs_disk_info(h.disk, &in);
	assert_true(in.readonly);
	assert_false(in.write_cache);
	assert_false(in.can_unmap);
	assert_false(in.can_write_same_unmap);
	assert_false(in.unmap_zeroes);
	assert_false(in.block_status);
	/* refused before any SRB goes out */
	int before = cm_count(m, CM_ANY);
	assert_int_equal(ch_run(&h, VS_BLK_WRITE, 0, 0, 512, buf), -EROFS);
	assert_int_equal(ch_run(&h, VS_BLK_WRITE_ZEROES, 0, 0, 512, NULL), -EROFS);
	assert_int_equal(ch_run(&h, VS_BLK_UNMAP, 0, 0, 512, NULL), -EROFS);
	assert_int_equal(ch_run(&h, VS_BLK_READ, 0, 0, 512, buf), 0);
	assert_int_equal(cm_count(m, CM_ANY), before + 1);
	ch_close(&h);
	cm_free(m);
}

static void count_done(struct vs_blk_request *req)
{
	(*(int *)req->ctx)++;
}

static void test_requests_before_probe_and_bad_config(void **state)
{
	int calls = 0;
	struct cm *m = cm_new();
	struct vs_disk_config cfg = { .nexus_name = "x" };
	(void)state;

	assert_null(vs_disk_create(NULL));
	assert_null(vs_disk_create(&cfg));      /* no port */
	assert_int_equal(cm_start(m), 0);
	cfg.port = m->port;
	cfg.nexus_name = "";
	assert_null(vs_disk_create(&cfg));
	assert_non_null(strstr(vs_last_error(), "nexus_name"));
	cfg.nexus_name = "early";
	struct vs_disk *d = vs_disk_create(&cfg);
	assert_non_null(d);
	struct vs_blk_request *q = vs_disk_request_get(d);
	q->op = VS_BLK_FLUSH;
	q->done = count_done;
	q->ctx = &calls;
	/* not probed yet: nothing is known about the LUN */
	vs_disk_submit(d, q);
	assert_int_equal(calls, 1);
	assert_int_equal(q->result, -EAGAIN);
	assert_int_equal(vs_disk_busy(d), 1);
	assert_int_equal(vs_disk_destroy(d), -EBUSY);    /* a slot still out */
	vs_disk_request_put(q);
	assert_int_equal(vs_disk_busy(d), 0);
	assert_int_equal(vs_disk_destroy(d), 0);
	cm_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_power_on_ua),
		cmocka_unit_test(test_block_limits),
		cmocka_unit_test(test_lun_without_optional_pages),
		cmocka_unit_test(test_not_a_disk),
		cmocka_unit_test(test_read_only_and_no_provisioning),
		cmocka_unit_test(test_requests_before_probe_and_bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
