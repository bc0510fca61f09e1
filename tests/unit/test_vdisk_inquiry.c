/* SPDX-License-Identifier: MIT */
/*
 * vdisk: INQUIRY (SPC-4 6.6) and its VPD pages, READ CAPACITY (SBC-3
 * 5.15/5.16), and the generic CDB checks of the dispatcher (unknown
 * opcodes, reserved bits, NACA, service actions).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "spy_bdev.h"
#include "test_vdisk_helpers.h"

static void inquiry(struct vt *t, bool evpd, uint8_t page, uint16_t alloc, uint8_t *buf,
                    struct tf_result *r)
{
	uint8_t cdb[6] = { INQUIRY, evpd ? 1 : 0, page, (uint8_t)(alloc >> 8), (uint8_t)alloc, 0 };

	vt_exec(t, cdb, 6, VS_DIR_FROM_DEVICE, buf, alloc, r);
}

static void test_standard_inquiry(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[260];
	bool spc4 = false, sbc3 = false;
	(void)state;

	vt_setup(&t, 512, "1M", false);
	memset(d, 0xee, sizeof(d));
	inquiry(&t, false, 0, 260, d, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 96);
	assert_int_equal(r.resid_flags, VS_RESID_UNDERFLOW);
	assert_int_equal(r.residual, 260 - 96);
	assert_int_equal(d[0], 0x00);              /* connected, direct access */
	assert_int_equal(d[1], 0x00);              /* not removable */
	assert_int_equal(d[2], 0x06);              /* SPC-4 */
	assert_int_equal(d[3] & 0x0f, 2);          /* response data format */
	assert_true(d[3] & 0x10);                  /* HISUP */
	assert_int_equal(d[4], 96 - 5);
	assert_int_equal(d[5] & 0x30, 0);          /* TPGS 0 */
	assert_true(d[7] & 0x02);                  /* CMDQUE */
	assert_memory_equal(&d[8], "VSTOR   ", 8);
	assert_memory_equal(&d[16], "VDISK           ", 16);
	for (int i = 0; i < 8; i++) {
		uint16_t v = (uint16_t)get_be(&d[58 + 2 * i], 2);

		spc4 |= v == 0x0460;
		sbc3 |= v == 0x04c0;
	}
	assert_true(spc4);
	assert_true(sbc3);
	/* vdisk is transport-neutral: no transport descriptor unless told */
	assert_int_equal(get_be(&d[58], 2), 0x00a0);
	assert_int_equal(get_be(&d[64], 2), 0);

	/* allocation length truncates, never overflows */
	memset(d, 0xee, sizeof(d));
	inquiry(&t, false, 0, 36, d, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 36);
	assert_int_equal(d[36], 0xee);
	assert_int_equal(r.resid_flags, 0);

	/* page code with EVPD=0 */
	inquiry(&t, false, 0x80, 255, d, &r);
	assert_invalid_cdb(&r, 2, -1);
	vt_teardown(&t);
}

/* The transport's version descriptor comes from the adapter config. */
static void test_transport_version_descriptor(void **state)
{
	static const struct vs_vdisk_adapter_config ac = {
		.target_name = "iqn.2024-01.test:tv", .transport_version = 0x0960,
	};
	struct tf *tf = tf_create(&vs_vdisk_miniport, NULL, &ac);
	struct tf_result r;
	uint8_t d[96];
	(void)state;

	assert_non_null(tf);
	struct vs_vdisk_lun_config lc = { .bdev = vt_ram("1M"), .block_size = 512 };
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, &lc), 0);
	struct vs_nexus *n = tf_nexus(tf, "iqn.2024-01.test:i");
	assert_int_equal(tf_clear_ua(tf, n, 0), 0);
	uint8_t cdb[6] = { INQUIRY, 0, 0, 0, sizeof(d), 0 };
	assert_int_equal(tf_exec(tf, n, 0, cdb, 6, VS_DIR_FROM_DEVICE, d, sizeof(d), &r), 0);
	assert_good(&r);
	assert_int_equal(get_be(&d[58], 2), 0x00a0);   /* SAM-5 */
	assert_int_equal(get_be(&d[60], 2), 0x0460);   /* SPC-4 */
	assert_int_equal(get_be(&d[62], 2), 0x04c0);   /* SBC-3 */
	assert_int_equal(get_be(&d[64], 2), 0x0960);   /* iSCSI */
	assert_int_equal(get_be(&d[66], 2), 0);
	tf_destroy(tf);
}

static void test_vpd_pages(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[512];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	inquiry(&t, true, 0x00, 255, d, &r);
	assert_good(&r);
	assert_int_equal(d[1], 0x00);
	assert_int_equal(d[3], 6);
	assert_memory_equal(&d[4], "\x00\x80\x83\xb0\xb1\xb2", 6);
	assert_int_equal(r.xfer_len, 10);

	inquiry(&t, true, 0x80, 255, d, &r);
	assert_good(&r);
	assert_int_equal(d[3], 7);
	assert_memory_equal(&d[4], "SER0001", 7);

	/* block limits (SBC-3 6.5.3) */
	inquiry(&t, true, 0xb0, 255, d, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 64);
	assert_int_equal(get_be(&d[2], 2), 0x3c);
	assert_int_equal(d[4] & 1, 1);                         /* WSNZ */
	assert_int_equal(d[5], 128);                           /* MAX COMPARE AND WRITE */
	assert_int_equal(get_be(&d[8], 4), (8u << 20) / 512);  /* MAX TRANSFER LENGTH */
	assert_int_equal(get_be(&d[20], 4), 1u << 20);         /* MAX UNMAP LBA COUNT */
	assert_int_equal(get_be(&d[24], 4), 256);              /* MAX UNMAP DESCRIPTORS */
	assert_int_equal(get_be(&d[28], 4), 4096 / 512);       /* ram page granularity */
	assert_int_equal(get_be(&d[36], 8), 0xffff);           /* MAX WRITE SAME LENGTH */

	inquiry(&t, true, 0xb1, 255, d, &r);
	assert_good(&r);
	assert_int_equal(get_be(&d[4], 2), 1);                 /* non-rotating */

	inquiry(&t, true, 0xb2, 255, d, &r);
	assert_good(&r);
	assert_int_equal(d[5] & 0xe4, 0xe4);                   /* LBPU LBPWS LBPWS10 LBPRZ */
	assert_int_equal(d[6] & 7, 2);                         /* thin provisioned */

	inquiry(&t, true, 0x99, 255, d, &r);
	assert_invalid_cdb(&r, 2, -1);
	vt_teardown(&t);
}

static void find_naa(const uint8_t *d, uint8_t naa[16])
{
	uint32_t len = (uint32_t)get_be(&d[2], 2), off = 4;
	bool found = false;

	while (off + 4 <= len + 4) {
		const uint8_t *p = &d[off];

		if ((p[1] & 0x0f) == 3 && (p[1] & 0x30) == 0) {
			assert_int_equal(p[3], 16);
			assert_int_equal(p[4] >> 4, 6);   /* NAA IEEE Registered Extended */
			memcpy(naa, &p[4], 16);
			found = true;
		}
		off += 4 + p[3];
	}
	assert_true(found);
}

static void test_device_id_stable(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[512], naa1[16], naa3[16];
	uint32_t off;
	bool t10 = false, relport = false, tpg = false, name = false;
	(void)state;

	vt_setup(&t, 512, "1M", false);
	inquiry(&t, true, 0x83, 512, d, &r);
	assert_good(&r);
	find_naa(d, naa1);
	for (off = 4; off < 4 + get_be(&d[2], 2); off += 4 + d[off + 3]) {
		uint8_t type = d[off + 1] & 0x0f, assoc = (d[off + 1] >> 4) & 3;

		t10 |= type == 1 && assoc == 0 && !memcmp(&d[off + 4], "VSTOR   ", 8);
		relport |= type == 4 && assoc == 1 && get_be(&d[off + 6], 2) == 1;
		tpg |= type == 5 && assoc == 1;
		name |= type == 8 && assoc == 2 &&
		        !strcmp((const char *)&d[off + 4], "iqn.2024-01.test:vdisk");
	}
	assert_true(t10 && relport && tpg && name);
	/* an explicit device_id: the same NAA after a restart (a new port) */
	vt_teardown(&t);
	vt_setup(&t, 512, "1M", false);
	inquiry(&t, true, 0x83, 512, d, &r);
	find_naa(d, naa3);
	assert_memory_equal(naa1, naa3, 16);
	/* a second LUN with the same device_id seed would share the NAA: refused */
	struct vs_vdisk_lun_config dup = { .bdev = vt_ram("1M"), .block_size = 512,
	                                   .device_id = "vt-device-0" };
	assert_int_equal(vs_port_lun_add(tf_port(t.tf), 1, &dup), -EEXIST);
	assert_string_equal(vs_last_error(), "device_id: LUN 1 would have the same NAA identifier as "
	                                     "LUN 0 (device_id \"vt-device-0\"); logical unit names "
	                                     "must be unique");
	vs_bdev_close(dup.bdev);
	vt_teardown(&t);
}

/* FNV-1a 64, the hash vdisk turns the NAA seed into */
static uint64_t fnv(const char *s, uint64_t h)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

/* The NAA-6 designator of LUN `lun` (serial NULL: the default) on a new
 * port for `target`, without a device_id: the default seed. */
static void default_naa(const char *target, uint64_t lun, const char *serial, uint8_t naa[16])
{
	struct vs_vdisk_adapter_config ac = { .target_name = target };
	struct tf *tf = tf_create(&vs_vdisk_miniport, NULL, &ac);
	struct vs_vdisk_lun_config lc = { .bdev = vt_ram("1M"), .block_size = 512, .serial = serial };
	struct tf_result r;
	uint8_t d[512];

	assert_non_null(tf);
	assert_int_equal(vs_port_lun_add(tf_port(tf), lun, &lc), 0);
	struct vs_nexus *n = tf_nexus(tf, "iqn.2024-01.test:i");
	assert_int_equal(tf_clear_ua(tf, n, lun), 0);
	uint8_t cdb[6] = { INQUIRY, 1, 0x83, 2, 0, 0 };
	assert_int_equal(tf_exec(tf, n, lun, cdb, 6, VS_DIR_FROM_DEVICE, d, sizeof(d), &r), 0);
	assert_good(&r);
	find_naa(d, naa);
	tf_destroy(tf);
}

/*
 * The default NAA seed is "target:LUN:serial" (vdisk.h): the designator is
 * the same whenever the LUN is created again with the same names (across
 * restarts), and differs for another LUN, target or serial.
 */
static void test_device_id_default_seed(void **state)
{
	uint8_t a[16], again[16], other_lun[16], other_tgt[16], other_ser[16];
	(void)state;

	default_naa("iqn.2024-01.test:ids", 0, "S0", a);
	default_naa("iqn.2024-01.test:ids", 0, "S0", again);
	assert_memory_equal(a, again, 16);
	default_naa("iqn.2024-01.test:ids", 1, "S0", other_lun);
	assert_memory_not_equal(a, other_lun, 16);
	default_naa("iqn.2024-01.test:other", 0, "S0", other_tgt);
	assert_memory_not_equal(a, other_tgt, 16);
	default_naa("iqn.2024-01.test:ids", 0, "S1", other_ser);
	assert_memory_not_equal(a, other_ser, 16);

	/* exactly the seed the header documents: NAA 6h, the company ID,
	 * 36 bits of one hash of "target:LUN:serial", 64 of another */
	uint64_t h1 = fnv("iqn.2024-01.test:ids:0:S0", 0xcbf29ce484222325ull);
	uint64_t h2 = fnv("iqn.2024-01.test:ids:0:S0", 0x84222325cbf29ce4ull);
	uint64_t vsid = h1 & 0xfffffffffull;
	assert_int_equal(a[0] >> 4, 6);
	assert_int_equal(a[3] & 0x0f, vsid >> 32);
	assert_int_equal(get_be(&a[4], 4), vsid & 0xffffffffu);
	assert_true(get_be(&a[8], 8) == h2);

	/* no serial: it is derived from target + LUN, so still stable */
	default_naa("iqn.2024-01.test:ids", 2, NULL, a);
	default_naa("iqn.2024-01.test:ids", 2, NULL, again);
	assert_memory_equal(a, again, 16);

	/* two LUNs of one target with default seeds never collide: both fine */
	struct vt t;
	vt_setup(&t, 512, "1M", false);
	for (uint64_t l = 1; l <= 8; l++) {
		struct vs_vdisk_lun_config lc = { .bdev = vt_ram("1M"), .block_size = 512,
		                                  .serial = "SAME" };
		assert_int_equal(vs_port_lun_add(tf_port(t.tf), l, &lc), 0);
	}
	vt_teardown(&t);
}

static void test_read_capacity(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[32], rc10[10] = { READ_CAPACITY_10 }, rc16[16] = { SERVICE_ACTION_IN_16, 0x10 };
	(void)state;

	for (uint32_t bs = 512; bs <= 4096; bs *= 8) {
		vt_setup(&t, bs, "4M", false);
		vt_exec(&t, rc10, 10, VS_DIR_FROM_DEVICE, d, 8, &r);
		assert_good(&r);
		assert_int_equal(get_be(&d[0], 4), (4u << 20) / bs - 1);
		assert_int_equal(get_be(&d[4], 4), bs);

		rc16[13] = 32;
		memset(d, 0, sizeof(d));
		vt_exec(&t, rc16, 16, VS_DIR_FROM_DEVICE, d, 32, &r);
		assert_good(&r);
		assert_int_equal(r.xfer_len, 32);
		assert_int_equal(get_be(&d[0], 8), (4u << 20) / bs - 1);
		assert_int_equal(get_be(&d[8], 4), bs);
		assert_int_equal(d[13] & 0x0f, 0);         /* LBPPBE */
		assert_int_equal(d[14] & 0xc0, 0xc0);      /* LBPME, LBPRZ */

		/* allocation length 12: truncated */
		rc16[13] = 12;
		memset(d, 0xee, sizeof(d));
		vt_exec(&t, rc16, 16, VS_DIR_FROM_DEVICE, d, 12, &r);
		assert_good(&r);
		assert_int_equal(r.xfer_len, 12);
		assert_int_equal(d[12], 0xee);

		/* PMI=0 with an LBA: invalid (SBC-3 5.15) */
		rc10[5] = 1;
		vt_exec(&t, rc10, 10, VS_DIR_FROM_DEVICE, d, 8, &r);
		assert_invalid_cdb(&r, 2, 7);
		rc10[5] = 0;
		vt_teardown(&t);
	}
}

static void test_cdb_checks(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[64];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	/* unknown operation code */
	vt_exec(&t, (uint8_t[10]){ 0xc5 }, 10, VS_DIR_NONE, NULL, 0, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_COMMAND_OPERATION_CODE);
	vt_exec(&t, (uint8_t[6]){ 0x07 }, 6, VS_DIR_NONE, NULL, 0, &r);   /* REASSIGN BLOCKS */
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_COMMAND_OPERATION_CODE);
	/* NACA=1 in CONTROL */
	vt_exec(&t, (uint8_t[6]){ TEST_UNIT_READY, 0, 0, 0, 0, 0x04 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_invalid_cdb(&r, 5, 2);
	vt_exec(&t, (uint8_t[16]){ READ_16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0x04 }, 16,
	        VS_DIR_FROM_DEVICE, d, 64, &r);
	assert_invalid_cdb(&r, 15, 2);
	/* a reserved bit in TEST UNIT READY byte 2 */
	vt_exec(&t, (uint8_t[6]){ TEST_UNIT_READY, 0, 0x10, 0, 0, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_invalid_cdb(&r, 2, 4);
	/* CMDDT (obsolete) in INQUIRY */
	vt_exec(&t, (uint8_t[6]){ INQUIRY, 0x02, 0, 0, 64, 0 }, 6, VS_DIR_FROM_DEVICE, d, 64, &r);
	assert_invalid_cdb(&r, 1, 1);
	/* unknown service action of SERVICE ACTION IN(16) */
	vt_exec(&t, (uint8_t[16]){ SERVICE_ACTION_IN_16, 0x1f }, 16, VS_DIR_FROM_DEVICE, d, 0, &r);
	assert_invalid_cdb(&r, 1, 4);
	/* CDB shorter than its group code says */
	vt_exec(&t, (uint8_t[6]){ READ_10, 0, 0, 0, 0, 0 }, 6, VS_DIR_FROM_DEVICE, d, 64, &r);
	assert_invalid_cdb(&r, 0, 7);
	/* descriptor-format sense is parsed the same by the fabric */
	vt_teardown(&t);
}

static void test_bad_block_size(void **state)
{
	struct vt t;
	(void)state;

	vt_setup(&t, 4096, "1M", false);
	assert_int_equal(vt_add_lun(&t, 1, "1M", 1024, false), -EINVAL);
	assert_string_equal(vs_last_error(), "block_size: 1024 is not supported (512 or 4096)");
	/* 0 is refused, not taken as 512 */
	assert_int_equal(vt_add_lun(&t, 1, "1M", 0, false), -EINVAL);
	assert_string_equal(vs_last_error(), "block_size: 0 is not supported (512 or 4096)");
	assert_int_not_equal(vt_add_lun(&t, 1, "1000", 4096, false), 0);
	vt_teardown(&t);
}

/* A backend that can only do I/O in 4096-byte units (O_DIRECT on a 4Kn
 * device) cannot carry 512-byte logical blocks. */
static void test_block_size_below_backend(void **state)
{
	struct vt t;
	struct vs_backend_caps caps;
	(void)state;

	vt_setup(&t, 512, "1M", false);
	struct spy *s = spy_new("1M");
	assert_non_null(s);
	vs_bdev_get_caps(spy_bdev(s), &caps);
	caps.logical_block_size = 4096;
	spy_set_caps(s, &caps);
	struct vs_vdisk_lun_config lc = { .bdev = spy_bdev(s), .block_size = 512 };
	assert_int_equal(vs_port_lun_add(tf_port(t.tf), 1, &lc), -EINVAL);
	assert_string_equal(vs_last_error(), "block_size: 512 is smaller than backend spy/ram can do I/O "
	                                     "in (4096 bytes, e.g. O_DIRECT on a 4096-byte-sector "
	                                     "device); use block_size 4096");
	lc.block_size = 4096;
	assert_int_equal(vs_port_lun_add(tf_port(t.tf), 1, &lc), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 1), 0);
	uint8_t buf[4096];
	memset(buf, 0x5a, sizeof(buf));
	struct tf_result r;
	uint8_t cdb[16];
	size_t l = cdb_rw(cdb, WRITE_16, 3, 1, 0);
	vt_exec_on(&t, t.n, 1, cdb, l, VS_DIR_TO_DEVICE, buf, sizeof(buf), &r);
	assert_good(&r);
	struct spy_rec rec = spy_rec(s, spy_nrecs(s) - 1);
	assert_int_equal(rec.offset % 4096, 0);
	assert_int_equal(rec.length, 4096);
	vt_teardown(&t);
	spy_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_standard_inquiry),
		cmocka_unit_test(test_transport_version_descriptor),
		cmocka_unit_test(test_vpd_pages),
		cmocka_unit_test(test_device_id_stable),
		cmocka_unit_test(test_device_id_default_seed),
		cmocka_unit_test(test_read_capacity),
		cmocka_unit_test(test_cdb_checks),
		cmocka_unit_test(test_bad_block_size),
		cmocka_unit_test(test_block_size_below_backend),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
