/* SPDX-License-Identifier: MIT */
/*
 * vdisk small commands and control: REQUEST SENSE, START STOP UNIT,
 * PREVENT ALLOW, SEND DIAGNOSTIC, FORMAT UNIT, REPORT SUPPORTED OPERATION
 * CODES / TASK MANAGEMENT FUNCTIONS, reservations glue, resize with
 * CAPACITY DATA HAS CHANGED, lun_control.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <unistd.h>

#include "test_vdisk_helpers.h"

static void test_simple_commands(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[32];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	/* REQUEST SENSE: NO SENSE, fixed or descriptor */
	memset(d, 0xee, sizeof(d));
	vt_exec(&t, (uint8_t[6]){ REQUEST_SENSE, 0, 0, 0, 32, 0 }, 6, VS_DIR_FROM_DEVICE, d, 32, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 18);
	assert_int_equal(d[0], 0x70);
	assert_int_equal(d[2], 0);
	assert_int_equal(d[12], 0);
	vt_exec(&t, (uint8_t[6]){ REQUEST_SENSE, 1, 0, 0, 32, 0 }, 6, VS_DIR_FROM_DEVICE, d, 32, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 8);
	assert_int_equal(d[0], 0x72);

	/* START STOP UNIT: start/stop fine; LOEJ on a non-removable LU is not */
	vt_exec(&t, (uint8_t[6]){ START_STOP_UNIT, 0, 0, 0, 0x01, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	vt_exec(&t, (uint8_t[6]){ START_STOP_UNIT, 1, 0, 0, 0x00, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	vt_exec(&t, (uint8_t[6]){ START_STOP_UNIT, 1, 0, 0, 0x02, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_invalid_cdb(&r, 4, 1);
	vt_exec(&t, (uint8_t[6]){ START_STOP_UNIT, 0, 0, 0, 0x32, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);                           /* STANDBY: LOEJ ignored */
	/* a reserved POWER CONDITION is a no-op too (no power conditions) */
	vt_exec(&t, (uint8_t[6]){ START_STOP_UNIT, 0, 0, 0, 0x42, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	vt_exec(&t, (uint8_t[6]){ START_STOP_UNIT, 0, 0, 0x01, 0x01, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_invalid_cdb(&r, 3, 3);

	/* PREVENT ALLOW MEDIUM REMOVAL */
	vt_exec(&t, (uint8_t[6]){ PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	vt_exec(&t, (uint8_t[6]){ PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	vt_exec(&t, (uint8_t[6]){ PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 2, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_invalid_cdb(&r, 4, 1);

	/* SEND DIAGNOSTIC: default self-test passes; SELFTEST with a code does not */
	vt_exec(&t, (uint8_t[6]){ SEND_DIAGNOSTIC, 0x04, 0, 0, 0, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	vt_exec(&t, (uint8_t[6]){ SEND_DIAGNOSTIC, 0x24, 0, 0, 0, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_invalid_cdb(&r, 1, 7);
	vt_exec(&t, (uint8_t[6]){ SEND_DIAGNOSTIC, 0x20, 0, 0, 0, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);                           /* background short self-test */

	/* FORMAT UNIT without parameter data */
	vt_exec(&t, (uint8_t[6]){ FORMAT_UNIT, 0, 0, 0, 0, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	vt_exec(&t, (uint8_t[6]){ FORMAT_UNIT, 0x10, 0, 0, 0, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_invalid_cdb(&r, 1, 4);
	vt_teardown(&t);
}

static void rsoc_cdb(uint8_t *cdb, uint8_t opts, uint8_t op, uint16_t sa, uint32_t alloc)
{
	memset(cdb, 0, 12);
	cdb[0] = MAINTENANCE_IN;
	cdb[1] = MI_REPORT_SUPPORTED_OPCODES;
	cdb[2] = opts;
	cdb[3] = op;
	put_be(&cdb[4], sa, 2);
	put_be(&cdb[6], alloc, 4);
}

static void test_report_opcodes(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[12], *d = malloc(4096), one[64];
	uint32_t len, n = 0;
	bool rd10 = false, rc16 = false, unmap = false;
	(void)state;

	vt_setup(&t, 512, "1M", false);
	rsoc_cdb(cdb, 0, 0, 0, 4096);
	vt_exec(&t, cdb, 12, VS_DIR_FROM_DEVICE, d, 4096, &r);
	assert_good(&r);
	len = (uint32_t)get_be(d, 4);
	assert_int_equal(r.xfer_len, len + 4);
	for (uint32_t off = 4; off < len + 4; off += 8, n++) {
		uint8_t *p = &d[off];
		bool servactv = p[5] & 1;

		assert_int_equal(p[5] & 2, 0);             /* no CTDP without RCTD */
		if (!servactv)
			assert_int_equal(get_be(&p[2], 2), 0);
		rd10 |= p[0] == READ_10 && get_be(&p[6], 2) == 10;
		rc16 |= p[0] == SERVICE_ACTION_IN_16 && servactv && get_be(&p[2], 2) == 0x10;
		unmap |= p[0] == UNMAP;
		/* every listed command answers the one-command forms */
		rsoc_cdb(cdb, servactv ? 2 : 1, p[0], (uint16_t)get_be(&p[2], 2), sizeof(one));
		vt_exec(&t, cdb, 12, VS_DIR_FROM_DEVICE, one, sizeof(one), &r);
		assert_good(&r);
		assert_int_equal(one[1] & 7, 3);
		assert_int_equal(get_be(&one[2], 2), get_be(&p[6], 2));
		assert_int_equal(one[4], p[0]);
		/* ... and refuses the other one */
		rsoc_cdb(cdb, servactv ? 1 : 2, p[0], (uint16_t)get_be(&p[2], 2), sizeof(one));
		vt_exec(&t, cdb, 12, VS_DIR_FROM_DEVICE, one, sizeof(one), &r);
		assert_invalid_cdb(&r, 2, 2);
	}
	assert_true(n > 30);
	assert_true(rd10 && rc16 && unmap);

	/* RCTD: every descriptor carries a 12-byte command timeouts
	 * descriptor (SPC-4 6.35.4): DESCRIPTOR LENGTH 0Ah, a NOMINAL COMMAND
	 * PROCESSING TIMEOUT and a RECOMMENDED COMMAND TIMEOUT in seconds */
	rsoc_cdb(cdb, 0x80, 0, 0, 4096);
	vt_exec(&t, cdb, 12, VS_DIR_FROM_DEVICE, d, 4096, &r);
	assert_good(&r);
	assert_int_equal(get_be(d, 4), n * 20);
	int checked = 0;
	for (uint32_t off = 4; off < n * 20 + 4; off += 20) {
		const uint8_t *td = &d[off + 8];
		uint32_t nominal = (uint32_t)get_be(&td[4], 4), rec = (uint32_t)get_be(&td[8], 4);

		assert_int_equal(d[off + 5] & 2, 2);
		assert_int_equal(get_be(&td[0], 2), 0x0a);
		assert_int_equal(td[3], 0);             /* COMMAND SPECIFIC */
		assert_true(nominal > 0);
		assert_int_equal(rec, 2 * nominal);     /* room for the nominal time twice */
		int want = 0;
		switch (d[off]) {
		case READ_10: case WRITE_16: case SYNCHRONIZE_CACHE_10:
			want = 30;
			break;
		case INQUIRY: case TEST_UNIT_READY:
			want = 5;
			break;
		case WRITE_SAME_16: case UNMAP:
			want = 60;
			break;
		case 0x48:                              /* SANITIZE: long-running */
			want = 3600;
			break;
		default:
			break;
		}
		if (want) {
			assert_int_equal(nominal, want);
			checked++;
		}
	}
	assert_true(checked >= 7 + 4);                  /* SANITIZE has 4 service actions */
	/* the one-command form puts it after the CDB usage data */
	rsoc_cdb(cdb, 0x81, READ_10, 0, sizeof(one));
	vt_exec(&t, cdb, 12, VS_DIR_FROM_DEVICE, one, sizeof(one), &r);
	assert_good(&r);
	assert_int_equal(one[1], 0x83);                 /* CTDP, SUPPORT 011b */
	assert_int_equal(r.xfer_len, 4 + 10 + 12);
	assert_int_equal(get_be(&one[14], 2), 0x0a);
	assert_int_equal(get_be(&one[18], 4), 30);
	assert_int_equal(get_be(&one[22], 4), 60);

	/* READ(10) usage data: DPO and FUA are used, RDPROTECT is not */
	rsoc_cdb(cdb, 1, READ_10, 0, sizeof(one));
	vt_exec(&t, cdb, 12, VS_DIR_FROM_DEVICE, one, sizeof(one), &r);
	assert_good(&r);
	assert_int_equal(one[4 + 1] & 0x18, 0x18);
	assert_int_equal(one[4 + 1] & 0xe0, 0);
	/* an unsupported opcode: SUPPORT 001b */
	rsoc_cdb(cdb, 1, 0xc5, 0, sizeof(one));
	vt_exec(&t, cdb, 12, VS_DIR_FROM_DEVICE, one, sizeof(one), &r);
	assert_good(&r);
	assert_int_equal(one[1] & 7, 1);
	/* option 3 for a service-action command, with timeouts */
	rsoc_cdb(cdb, 0x83, SERVICE_ACTION_IN_16, 0x10, sizeof(one));
	vt_exec(&t, cdb, 12, VS_DIR_FROM_DEVICE, one, sizeof(one), &r);
	assert_good(&r);
	assert_int_equal(one[1], 0x83);
	assert_int_equal(one[4 + 1] & 0x1f, 0x10);
	assert_int_equal(r.xfer_len, 4 + 16 + 12);
	/* reserved reporting option */
	rsoc_cdb(cdb, 5, 0, 0, sizeof(one));
	vt_exec(&t, cdb, 12, VS_DIR_FROM_DEVICE, one, sizeof(one), &r);
	assert_invalid_cdb(&r, 2, 2);

	/* REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS */
	memset(cdb, 0, 12);
	cdb[0] = MAINTENANCE_IN;
	cdb[1] = MI_REPORT_SUPPORTED_TMFS;
	cdb[9] = 16;
	vt_exec(&t, cdb, 12, VS_DIR_FROM_DEVICE, one, 16, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 4);
	assert_true(one[0] & 0x80);                        /* ABORT TASK */
	assert_true(one[0] & 0x08);                        /* LU RESET */
	vt_teardown(&t);
	free(d);
}

static void test_resize_and_control(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[32], rc16[16] = { SERVICE_ACTION_IN_16, 0x10, [13] = 32 };
	uint64_t size = 2u << 20;
	struct vs_lun_info info;
	bool in_use = true;
	(void)state;

	vt_setup(&t, 4096, "1M", false);
	assert_int_equal(vs_port_lun_control(tf_port(t.tf), 0, VS_LUN_RESIZE, &size), 0);
	/* both nexuses see CAPACITY DATA HAS CHANGED, then the new size */
	vt_exec(&t, rc16, 16, VS_DIR_FROM_DEVICE, d, 32, &r);
	assert_sense(&r, SENSE_UNIT_ATTENTION, ASC_CAPACITY_DATA_HAS_CHANGED);
	vt_exec(&t, rc16, 16, VS_DIR_FROM_DEVICE, d, 32, &r);
	assert_good(&r);
	assert_int_equal(get_be(d, 8), 511);
	assert_int_equal(tf_exec(t.tf, t.n2, 0, rc16, 16, VS_DIR_FROM_DEVICE, d, 32, &r), 0);
	assert_sense(&r, SENSE_UNIT_ATTENTION, ASC_CAPACITY_DATA_HAS_CHANGED);
	/* the new blocks are usable */
	memset(d, 0x3c, sizeof(d));
	{
		uint8_t blk[4096];

		memset(blk, 0x3c, sizeof(blk));
		vt_write(&t, 511, 1, blk);
	}

	assert_int_equal(vs_port_lun_control(tf_port(t.tf), 0, VS_LUN_QUERY, &info), 0);
	assert_int_equal(info.size_bytes, 2u << 20);
	assert_int_equal(info.block_size, 4096);
	assert_false(info.readonly);
	assert_string_equal(info.backend, "ram");
	assert_string_equal(info.serial, "SER0001");
	assert_int_equal(vs_port_lun_control(tf_port(t.tf), 0, VS_LUN_FLUSH, NULL), 0);
	assert_int_equal(vs_port_lun_control(tf_port(t.tf), 0, VS_LUN_IN_USE, &in_use), 0);
	assert_false(in_use);
	vt_teardown(&t);
}

static void test_reservations_glue(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[64], cdb[16], blk[512];
	bool in_use = false;
	(void)state;

	vt_setup(&t, 512, "1M", false);
	/* PERSISTENT RESERVE IN, READ KEYS: no registrations */
	memset(cdb, 0, 10);
	cdb[0] = PERSISTENT_RESERVE_IN;
	cdb[8] = 64;
	vt_exec(&t, cdb, 10, VS_DIR_FROM_DEVICE, d, 64, &r);
	assert_good(&r);
	assert_int_equal(get_be(&d[4], 4), 0);
	/* RESERVE(6) by nexus 1: nexus 2 gets RESERVATION CONFLICT on a read */
	vt_exec(&t, (uint8_t[6]){ RESERVE_6 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	assert_int_equal(vs_port_lun_control(tf_port(t.tf), 0, VS_LUN_IN_USE, &in_use), 0);
	assert_true(in_use);
	cdb_rw(cdb, READ_10, 0, 1, 0);
	struct vs_lun_stats st0, st1;
	assert_int_equal(vs_port_lun_stats(tf_port(t.tf), 0, &st0), 0);
	assert_int_equal(tf_exec(t.tf, t.n2, 0, cdb, 10, VS_DIR_FROM_DEVICE, blk, 512, &r), 0);
	assert_int_equal(r.status, SAM_STAT_RESERVATION_CONFLICT);
	/* counted in the LUN's stats, and not as an error */
	assert_int_equal(vs_port_lun_stats(tf_port(t.tf), 0, &st1), 0);
	assert_int_equal(st1.reservation_conflicts - st0.reservation_conflicts, 1);
	assert_int_equal(st1.errors - st0.errors, 0);
	/* a LUN reset drops it */
	assert_int_equal(tf_tmf(t.tf, t.n2, VS_TMF_LOGICAL_UNIT_RESET, 0, 0), VS_TMF_COMPLETE);
	tf_clear_ua(t.tf, t.n2, 0);
	assert_int_equal(tf_exec(t.tf, t.n2, 0, cdb, 10, VS_DIR_FROM_DEVICE, blk, 512, &r), 0);
	assert_good(&r);
	/* PERSISTENT RESERVE OUT, REGISTER, runs on the worker pool */
	{
		uint8_t p[24] = { 0 }, out[10] = { PERSISTENT_RESERVE_OUT, 0x00, 0, 0, 0, 0, 0, 0, 24, 0 };

		put_be(&p[8], 0x1234, 8);      /* SERVICE ACTION RESERVATION KEY */
		tf_clear_ua(t.tf, t.n, 0);
		vt_exec(&t, out, 10, VS_DIR_TO_DEVICE, p, 24, &r);
		assert_good(&r);
	}
	cdb[0] = PERSISTENT_RESERVE_IN;
	memset(&cdb[1], 0, 9);
	cdb[8] = 64;
	vt_exec(&t, cdb, 10, VS_DIR_FROM_DEVICE, d, 64, &r);
	assert_good(&r);
	assert_int_equal(get_be(&d[4], 4), 8);
	assert_int_equal(get_be(&d[8], 8), 0x1234);
	vt_teardown(&t);
}

/* Work vdisk hands to the port's worker pool (PERSISTENT RESERVE OUT,
 * GET LBA STATUS) is answered BUSY, not lost, when the pool's queue is
 * full; the same commands work once it drains. */
static void test_worker_queue_full_busy(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t p[24] = { 0 }, d[64];
	uint8_t prout[10] = { PERSISTENT_RESERVE_OUT, 0, 0, 0, 0, 0, 0, 0, 24, 0 };
	uint8_t cdb[16];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	p[15] = 0x42;                   /* REGISTER key 0x42 */
	size_t l = cdb_get_lba_status(cdb, 0, sizeof(d));
	struct tf_workq_fill *fill = tf_workq_fill(tf_port(t.tf), 2);
	assert_non_null(fill);
	vt_exec(&t, prout, 10, VS_DIR_TO_DEVICE, p, 24, &r);
	assert_int_equal(r.status, SAM_STAT_BUSY);
	vt_exec(&t, cdb, l, VS_DIR_FROM_DEVICE, d, sizeof(d), &r);
	assert_int_equal(r.status, SAM_STAT_BUSY);
	tf_workq_release(fill);
	vt_exec(&t, prout, 10, VS_DIR_TO_DEVICE, p, 24, &r);
	assert_good(&r);
	vt_exec(&t, cdb, l, VS_DIR_FROM_DEVICE, d, sizeof(d), &r);
	assert_good(&r);
	vt_teardown(&t);
}

/* VS_LUN_FIRST_MAPPED over a sparse file (SEEK_DATA / SEEK_HOLE): the
 * first block holding data at or after an LBA, for "would a shrink cut
 * data off". */
static void test_first_mapped_file(void **state)
{
	struct vt t;
	char path[] = "/tmp/vstor-test-mapped-XXXXXX";
	uint8_t d[4096];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	struct vs_kv kv[] = { { "path", path }, { "size", "8M" } };
	struct vs_vdisk_lun_config lc = { .bdev = vs_bdev_open("file", kv, 2), .block_size = 512 };
	assert_non_null(lc.bdev);
	assert_int_equal(vs_port_lun_add(tf_port(t.tf), 1, &lc), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 1), 0);

	struct vs_lun_mapped q = { .from_lba = 0 };
	assert_int_equal(vs_port_lun_control(tf_port(t.tf), 1, VS_LUN_FIRST_MAPPED, &q), 0);
	assert_false(q.found);                          /* a new sparse file */
	memset(d, 0x77, sizeof(d));
	uint8_t cdb[16];
	struct tf_result r;
	size_t l = cdb_rw(cdb, WRITE_16, 8192, 8, 0);   /* 4 MiB in, one 4 KiB block */
	vt_exec_on(&t, t.n, 1, cdb, l, VS_DIR_TO_DEVICE, d, sizeof(d), &r);
	assert_good(&r);
	assert_int_equal(vs_port_lun_control(tf_port(t.tf), 1, VS_LUN_FIRST_MAPPED, &q), 0);
	assert_true(q.found);
	assert_int_equal(q.lba, 8192);
	q.from_lba = 8192 + 8;
	assert_int_equal(vs_port_lun_control(tf_port(t.tf), 1, VS_LUN_FIRST_MAPPED, &q), 0);
	assert_false(q.found);
	q.from_lba = 1u << 20;                          /* past the end: nothing */
	assert_int_equal(vs_port_lun_control(tf_port(t.tf), 1, VS_LUN_FIRST_MAPPED, &q), 0);
	assert_false(q.found);
	assert_int_equal(vs_port_lun_control(tf_port(t.tf), 1, VS_LUN_FIRST_MAPPED, NULL), -EINVAL);
	vt_teardown(&t);
	unlink(path);
}

/* Per-LUN statistics classify every command that writes the medium as a
 * write and count the data-out it moved; VERIFY and UNMAP are "other". */
static void test_stats_by_opcode(void **state)
{
	struct vt t;
	struct tf_result r;
	struct vs_lun_stats st0, st;
	uint8_t cdb[16], d[1024];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	memset(d, 0x3c, sizeof(d));
	vt_write(&t, 0, 1, d);
	assert_int_equal(vs_port_lun_stats(tf_port(t.tf), 0, &st0), 0);

	/* COMPARE AND WRITE of one block: 1024 bytes of data-out */
	memset(cdb, 0, 16);
	cdb[0] = COMPARE_AND_WRITE;
	cdb[13] = 1;
	vt_exec(&t, cdb, 16, VS_DIR_TO_DEVICE, d, 1024, &r);
	assert_good(&r);
	/* WRITE SAME(10) and (16) of 8 blocks from one block */
	memset(cdb, 0, 16);
	cdb[0] = WRITE_SAME_10;
	cdb[8] = 8;
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, d, 512, &r);
	assert_good(&r);
	memset(cdb, 0, 16);
	cdb[0] = WRITE_SAME_16;
	cdb[13] = 8;
	vt_exec(&t, cdb, 16, VS_DIR_TO_DEVICE, d, 512, &r);
	assert_good(&r);
	/* ORWRITE(16) and WRITE ATOMIC(16) of one block */
	size_t l = cdb_rw(cdb, ORWRITE_16, 2, 1, 0);
	vt_exec(&t, cdb, l, VS_DIR_TO_DEVICE, d, 512, &r);
	assert_good(&r);
	memset(cdb, 0, 16);
	cdb[0] = WRITE_ATOMIC_16;
	cdb[9] = 3;
	cdb[13] = 1;
	vt_exec(&t, cdb, 16, VS_DIR_TO_DEVICE, d, 512, &r);
	assert_good(&r);
	/* not writes: VERIFY(10) without data, UNMAP */
	l = cdb_rw(cdb, VERIFY_10, 0, 1, 0);
	vt_exec(&t, cdb, l, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	uint8_t um[24] = { 0, 22, 0, 16 };
	um[15] = 1;                     /* LBA 0, one block */
	memset(cdb, 0, 16);
	cdb[0] = UNMAP;
	cdb[8] = sizeof(um);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, um, sizeof(um), &r);
	assert_good(&r);

	assert_int_equal(vs_port_lun_stats(tf_port(t.tf), 0, &st), 0);
	assert_int_equal(st.write_ops - st0.write_ops, 5);
	assert_int_equal(st.write_bytes - st0.write_bytes, 1024 + 512 + 512 + 512 + 512);
	assert_int_equal(st.read_ops - st0.read_ops, 0);
	assert_int_equal(st.other_ops - st0.other_ops, 2);
	assert_int_equal(st.errors - st0.errors, 0);
	vt_teardown(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_commands),
		cmocka_unit_test(test_report_opcodes),
		cmocka_unit_test(test_resize_and_control),
		cmocka_unit_test(test_reservations_glue),
		cmocka_unit_test(test_stats_by_opcode),
		cmocka_unit_test(test_first_mapped_file),
		cmocka_unit_test(test_worker_queue_full_busy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
