/* SPDX-License-Identifier: MIT */
/*
 * vdisk: ORWRITE(16) (SBC-3 5.10), WRITE ATOMIC(16) (SBC-4 5.48) with the
 * block limits VPD atomic fields, READ DEFECT DATA (10/12), the removable
 * medium (START STOP UNIT LOEJ, PREVENT ALLOW MEDIUM REMOVAL, MEDIUM NOT
 * PRESENT) and the physical block size option.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>

#include "test_vdisk_helpers.h"

#define OP_WRITE_ATOMIC_16 0x9c
#define OP_RDD10 0x37
#define OP_RDD12 0xb7

static size_t orwrite_cdb(uint8_t *cdb, uint64_t lba, uint32_t n, uint8_t b1)
{
	memset(cdb, 0, 16);
	cdb[0] = ORWRITE_16;
	cdb[1] = b1;
	put_be(&cdb[2], lba, 8);
	put_be(&cdb[10], n, 4);
	return 16;
}

static size_t atomic_cdb(uint8_t *cdb, uint64_t lba, uint16_t n, uint8_t b1)
{
	memset(cdb, 0, 16);
	cdb[0] = OP_WRITE_ATOMIC_16;
	cdb[1] = b1;
	put_be(&cdb[2], lba, 8);
	put_be(&cdb[12], n, 2);
	return 16;
}

static void test_orwrite(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[16];
	/* 4096 blocks = 2 MiB: more than one engine buffer (1 MiB) */
	uint32_t n = 4096;
	uint8_t *a = malloc(n * 512), *b = malloc(n * 512), *in = malloc(n * 512);
	(void)state;

	vt_setup(&t, 512, "4M", false);
	for (uint32_t i = 0; i < n * 512; i++) {
		a[i] = (uint8_t)(i * 13);
		b[i] = (uint8_t)(i >> 3);
	}
	vt_write(&t, 8, n, a);
	vt_exec(&t, cdb, orwrite_cdb(cdb, 8, n, 0x08 /* FUA */), VS_DIR_TO_DEVICE, b, n * 512, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, n * 512);
	vt_read(&t, 8, n, in);
	for (uint32_t i = 0; i < n * 512; i++)
		assert_int_equal(in[i], (uint8_t)(a[i] | b[i]));

	/* the last block, 0 blocks, beyond the end, protection, read-only */
	vt_exec(&t, cdb, orwrite_cdb(cdb, t.nblocks - 1, 1, 0), VS_DIR_TO_DEVICE, b, 512, &r);
	assert_good(&r);
	vt_exec(&t, cdb, orwrite_cdb(cdb, 0, 0, 0), VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	vt_exec(&t, cdb, orwrite_cdb(cdb, t.nblocks, 1, 0), VS_DIR_TO_DEVICE, b, 512, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	vt_exec(&t, cdb, orwrite_cdb(cdb, 0, 1, 0x20), VS_DIR_TO_DEVICE, b, 512, &r);
	assert_invalid_cdb(&r, 1, 7);
	vt_teardown(&t);

	vt_setup(&t, 512, "1M", true);
	vt_exec(&t, cdb, orwrite_cdb(cdb, 0, 1, 0), VS_DIR_TO_DEVICE, b, 512, &r);
	assert_sense(&r, SENSE_DATA_PROTECT, ASC_WRITE_PROTECTED);
	vt_teardown(&t);
	free(a);
	free(b);
	free(in);
}

static void test_write_atomic(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t cdb[16], d[64], out[8 * 512], in[8 * 512];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	/* VPD B0h: MAXIMUM ATOMIC TRANSFER LENGTH = MAXIMUM TRANSFER LENGTH,
	 * no alignment or granularity requirement */
	vt_exec(&t, (uint8_t[6]){ INQUIRY, 1, 0xb0, 0, 64, 0 }, 6, VS_DIR_FROM_DEVICE, d, 64, &r);
	assert_good(&r);
	assert_int_equal(get_be(&d[44], 4), (8u << 20) / 512);
	assert_int_equal(get_be(&d[44], 4), get_be(&d[8], 4));
	assert_int_equal(get_be(&d[48], 4), 0);
	assert_int_equal(get_be(&d[52], 4), 0);

	for (int i = 0; i < 8 * 512; i++)
		out[i] = (uint8_t)(i ^ 0x3c);
	vt_exec(&t, cdb, atomic_cdb(cdb, 5, 8, 0x18), VS_DIR_TO_DEVICE, out, sizeof(out), &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, sizeof(out));
	vt_read(&t, 5, 8, in);
	assert_memory_equal(in, out, sizeof(out));

	vt_exec(&t, cdb, atomic_cdb(cdb, 0, 0, 0), VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	vt_exec(&t, cdb, atomic_cdb(cdb, t.nblocks - 1, 2, 0), VS_DIR_TO_DEVICE, out, 1024, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	vt_exec(&t, cdb, atomic_cdb(cdb, 0x8000000000000000ull, 1, 0), VS_DIR_TO_DEVICE, out, 512, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	/* WRPROTECT, and an ATOMIC BOUNDARY we do not support */
	vt_exec(&t, cdb, atomic_cdb(cdb, 0, 1, 0x40), VS_DIR_TO_DEVICE, out, 512, &r);
	assert_invalid_cdb(&r, 1, 7);
	atomic_cdb(cdb, 0, 1, 0);
	cdb[11] = 1;
	vt_exec(&t, cdb, 16, VS_DIR_TO_DEVICE, out, 512, &r);
	assert_invalid_cdb(&r, 11, 0);
	/* all or nothing: a short data-out buffer is refused, nothing written */
	vt_exec(&t, cdb, atomic_cdb(cdb, 20, 2, 0), VS_DIR_TO_DEVICE, out, 512, &r);
	assert_invalid_cdb(&r, 12, 7);
	vt_read(&t, 20, 1, in);
	memset(d, 0, sizeof(d));
	assert_memory_equal(in, d, sizeof(d));

	/* atomic writes interleaved with plain ones all complete, in order */
	struct tf_task *tk[16];
	for (int i = 0; i < 16; i++) {
		size_t l = (i & 1) ? cdb_rw(cdb, WRITE_16, 30, 8, 0) : atomic_cdb(cdb, 30, 8, 0);
		tk[i] = tf_submit(t.tf, t.n, 0, cdb, l, VS_DIR_TO_DEVICE, out, sizeof(out));
		assert_non_null(tk[i]);
	}
	for (int i = 0; i < 16; i++) {
		assert_int_equal(tf_wait(tk[i], &r), 0);
		assert_good(&r);
	}
	vt_read(&t, 30, 8, in);
	assert_memory_equal(in, out, sizeof(out));
	vt_teardown(&t);
}

static void test_read_defect_data(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[32];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	memset(d, 0xee, sizeof(d));
	vt_exec(&t, (uint8_t[10]){ OP_RDD10, 0, 0x18 | 0x05, 0, 0, 0, 0, 0, 32, 0 }, 10,
	        VS_DIR_FROM_DEVICE, d, 32, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 4);
	assert_int_equal(d[0], 0);
	assert_int_equal(d[1], 0x1d);           /* PLISTV GLISTV, format 101b */
	assert_int_equal(get_be(&d[2], 2), 0);  /* no defects */
	memset(d, 0xee, sizeof(d));
	vt_exec(&t, (uint8_t[12]){ OP_RDD12, 0x08 | 0x03, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0 }, 12,
	        VS_DIR_FROM_DEVICE, d, 32, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 8);
	assert_int_equal(d[1], 0x0b);
	assert_int_equal(get_be(&d[4], 4), 0);
	/* reserved bits are checked */
	vt_exec(&t, (uint8_t[10]){ OP_RDD10, 0x01, 0, 0, 0, 0, 0, 0, 32, 0 }, 10,
	        VS_DIR_FROM_DEVICE, d, 32, &r);
	assert_invalid_cdb(&r, 1, 0);
	vt_teardown(&t);
}

static int add_lun_cfg(struct vt *t, uint64_t lun, uint32_t bs, bool removable, uint32_t pbs)
{
	struct vs_vdisk_lun_config cfg = {
		.bdev = vt_ram("1M"), .block_size = bs, .serial = "SER0002",
		.removable = removable, .physical_block_size = pbs,
	};
	int rc = vs_port_lun_add(tf_port(t->tf), lun, &cfg);

	if (rc)
		vs_bdev_close(cfg.bdev);
	return rc;
}

static void ssu(struct vt *t, struct vs_nexus *n, uint8_t b4, struct tf_result *r)
{
	vt_exec_on(t, n, 1, (uint8_t[6]){ START_STOP_UNIT, 0, 0, 0, b4, 0 }, 6, VS_DIR_NONE, NULL, 0, r);
}

static void pa(struct vt *t, struct vs_nexus *n, uint8_t prevent)
{
	struct tf_result r;

	vt_exec_on(t, n, 1, (uint8_t[6]){ PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, prevent, 0 }, 6,
	        VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
}

static void tur(struct vt *t, struct vs_nexus *n, struct tf_result *r)
{
	vt_exec_on(t, n, 1, (uint8_t[6]){ TEST_UNIT_READY }, 6, VS_DIR_NONE, NULL, 0, r);
}

static void test_removable(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[64], cdb[16], buf[512];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	assert_int_equal(add_lun_cfg(&t, 1, 512, true, 0), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 1), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 0), 0);   /* REPORTED LUNS DATA HAS CHANGED */
	assert_int_equal(tf_clear_ua(t.tf, t.n2, 1), 0);
	vt_exec_on(&t, t.n, 1, (uint8_t[6]){ INQUIRY, 0, 0, 0, 36, 0 }, 6, VS_DIR_FROM_DEVICE, d, 36, &r);
	assert_good(&r);
	assert_int_equal(d[1], 0x80);           /* RMB */

	/* PREVENT from one nexus blocks eject and load from every nexus */
	pa(&t, t.n, 1);
	ssu(&t, t.n, 0x02, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED);
	ssu(&t, t.n2, 0x02, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED);
	/* a power condition never moves the medium */
	ssu(&t, t.n, 0x32, &r);
	assert_good(&r);
	tur(&t, t.n, &r);
	assert_good(&r);
	/* ALLOW from another nexus does not end this nexus' prevention */
	pa(&t, t.n2, 0);
	ssu(&t, t.n2, 0x02, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED);
	pa(&t, t.n, 0);

	/* eject: media access gets NOT READY / MEDIUM NOT PRESENT */
	ssu(&t, t.n, 0x02, &r);
	assert_good(&r);
	tur(&t, t.n, &r);
	assert_sense(&r, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	vt_exec_on(&t, t.n, 1, cdb, cdb_rw(cdb, READ_10, 0, 1, 0), VS_DIR_FROM_DEVICE, buf, 512, &r);
	assert_sense(&r, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	vt_exec_on(&t, t.n, 1, cdb, cdb_rw(cdb, WRITE_16, 0, 1, 0), VS_DIR_TO_DEVICE, buf, 512, &r);
	assert_sense(&r, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	vt_exec_on(&t, t.n, 1, (uint8_t[10]){ READ_CAPACITY_10 }, 10, VS_DIR_FROM_DEVICE, d, 8, &r);
	assert_sense(&r, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	/* ... but INQUIRY, MODE SENSE and REQUEST SENSE run */
	vt_exec_on(&t, t.n, 1, (uint8_t[6]){ INQUIRY, 0, 0, 0, 36, 0 }, 6, VS_DIR_FROM_DEVICE, d, 36, &r);
	assert_good(&r);
	vt_exec_on(&t, t.n, 1, (uint8_t[6]){ MODE_SENSE_6, 0, 0x3f, 0, 64, 0 }, 6, VS_DIR_FROM_DEVICE, d,
	        64, &r);
	assert_good(&r);
	vt_exec_on(&t, t.n, 1, (uint8_t[6]){ REQUEST_SENSE, 0, 0, 0, 18, 0 }, 6, VS_DIR_FROM_DEVICE, d,
	        18, &r);
	assert_good(&r);
	assert_int_equal(d[2], SENSE_NOT_READY);
	assert_int_equal(d[12], 0x3a);
	/* LUN 0 is not affected */
	vt_read(&t, 0, 1, buf);

	/* a prevention also stops a load */
	pa(&t, t.n, 1);
	ssu(&t, t.n, 0x03, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED);
	pa(&t, t.n, 0);
	ssu(&t, t.n, 0x03, &r);
	assert_good(&r);
	tur(&t, t.n, &r);
	assert_good(&r);
	/* the other nexus learns that the medium may have changed */
	tur(&t, t.n2, &r);
	assert_sense(&r, SENSE_UNIT_ATTENTION, 0x2800);
	tur(&t, t.n2, &r);
	assert_good(&r);

	/* a LUN reset ends every prevention */
	pa(&t, t.n, 1);
	assert_int_equal(tf_tmf(t.tf, t.n, VS_TMF_LOGICAL_UNIT_RESET, 1, 0), VS_TMF_COMPLETE);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 1), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n2, 1), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 0), 0);   /* REPORTED LUNS DATA HAS CHANGED */
	ssu(&t, t.n, 0x02, &r);
	assert_good(&r);
	ssu(&t, t.n, 0x03, &r);
	assert_good(&r);

	/* so does the loss of the nexus that held it */
	assert_int_equal(tf_clear_ua(t.tf, t.n2, 1), 0);        /* 28/00 from the load */
	pa(&t, t.n2, 1);
	ssu(&t, t.n, 0x02, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED);
	vs_port_nexus_close(tf_port(t.tf), t.n2);
	/* (a new session of the same initiator: a new ISID) */
	struct vs_nexus *n3 = tf_nexus(t.tf, "iqn.2024-01.test:init-b,i,0x3");
	assert_non_null(n3);
	ssu(&t, t.n, 0x02, &r);
	assert_good(&r);
	ssu(&t, t.n, 0x03, &r);
	assert_good(&r);
	vt_teardown(&t);
}

/* SBC-3 5.12: PREVENT ends with the I_T nexus loss even if the initiator
 * comes back at once under the same port name (a new I_T nexus, which may
 * reuse the old nexus id and memory). */
static void test_prevent_same_name_relogin(void **state)
{
	struct vt t;
	struct tf_result r;
	const char *name = "iqn.2024-01.test:init-b,i,0x2";
	(void)state;

	vt_setup(&t, 512, "1M", false);
	assert_int_equal(add_lun_cfg(&t, 1, 512, true, 0), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 1), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 0), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n2, 1), 0);
	for (int i = 0; i < 3; i++) {
		pa(&t, t.n2, 1);
		ssu(&t, t.n, 0x02, &r);
		assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED);
		vs_port_nexus_close(tf_port(t.tf), t.n2);
		t.n2 = tf_nexus(t.tf, name);
		assert_non_null(t.n2);
		assert_int_equal(tf_clear_ua(t.tf, t.n2, 1), 0);
		ssu(&t, t.n, 0x02, &r);         /* eject: nobody prevents it */
		assert_good(&r);
		ssu(&t, t.n, 0x03, &r);         /* load */
		assert_good(&r);
		assert_int_equal(tf_clear_ua(t.tf, t.n2, 1), 0);
	}
	/* a PREVENT survives another nexus's loss */
	pa(&t, t.n, 1);
	vs_port_nexus_close(tf_port(t.tf), t.n2);
	t.n2 = tf_nexus(t.tf, name);
	ssu(&t, t.n, 0x02, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED);
	pa(&t, t.n, 0);
	vt_teardown(&t);
}

static void test_not_removable(void **state)
{
	struct vt t;
	struct tf_result r;
	(void)state;

	vt_setup(&t, 512, "1M", false);
	/* PREVENT is accepted but there is nothing to eject */
	vt_exec(&t, (uint8_t[6]){ PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1, 0 }, 6, VS_DIR_NONE,
	        NULL, 0, &r);
	assert_good(&r);
	vt_exec(&t, (uint8_t[6]){ START_STOP_UNIT, 0, 0, 0, 0x02, 0 }, 6, VS_DIR_NONE, NULL, 0, &r);
	assert_invalid_cdb(&r, 4, 1);
	vt_teardown(&t);
}

static void test_physical_block_size(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[64], cdb[16];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	assert_int_equal(add_lun_cfg(&t, 1, 512, false, 4096), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 1), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 0), 0);   /* REPORTED LUNS DATA HAS CHANGED */
	memset(cdb, 0, 16);
	cdb[0] = SERVICE_ACTION_IN_16;
	cdb[1] = SAI_READ_CAPACITY_16;
	cdb[13] = 32;
	vt_exec_on(&t, t.n, 1, cdb, 16, VS_DIR_FROM_DEVICE, d, 32, &r);
	assert_good(&r);
	assert_int_equal(get_be(&d[8], 4), 512);
	assert_int_equal(d[13] & 0x0f, 3);      /* 8 logical blocks per physical */
	vt_exec_on(&t, t.n, 1, (uint8_t[6]){ INQUIRY, 1, 0xb0, 0, 64, 0 }, 6, VS_DIR_FROM_DEVICE, d, 64,
	        &r);
	assert_good(&r);
	assert_int_equal(get_be(&d[6], 2), 8);  /* OPTIMAL TRANSFER LENGTH GRANULARITY */
	/* LUN 0 (no option): exponent 0 */
	vt_exec(&t, cdb, 16, VS_DIR_FROM_DEVICE, d, 32, &r);
	assert_good(&r);
	assert_int_equal(d[13] & 0x0f, 0);
	/* not a power-of-two multiple of the logical block size */
	assert_int_equal(add_lun_cfg(&t, 2, 512, false, 1000), -EINVAL);
	assert_int_equal(add_lun_cfg(&t, 2, 4096, false, 512), -EINVAL);
	vt_teardown(&t);
}

/* GET LBA STATUS on LUN 1 from `lba`: descriptors as (lba, count, status). */
static int lba_status(struct vt *t, uint64_t lba, uint64_t out[][3], int max)
{
	uint8_t cdb[16], d[8 + 16 * 8];
	struct tf_result r;
	int n;

	vt_exec_on(t, t->n, 1, cdb, cdb_get_lba_status(cdb, lba, sizeof(d)), VS_DIR_FROM_DEVICE, d,
	           sizeof(d), &r);
	assert_good(&r);
	n = (int)((get_be(d, 4) - 4) / 16);
	for (int i = 0; i < n && i < max; i++) {
		out[i][0] = get_be(&d[8 + 16 * i], 8);
		out[i][1] = get_be(&d[8 + 16 * i + 8], 4);
		out[i][2] = d[8 + 16 * i + 12] & 0x0f;
	}
	return n;
}

static void unmap_on_lun1(struct vt *t, uint64_t lba, uint32_t n)
{
	uint8_t cdb[10] = { UNMAP }, p[24];
	struct tf_result r;

	memset(p, 0, sizeof(p));
	put_be(&p[0], 22, 2);
	put_be(&p[2], 16, 2);
	put_be(&p[8], lba, 8);
	put_be(&p[16], n, 4);
	put_be(&cdb[7], sizeof(p), 2);
	vt_exec_on(t, t->n, 1, cdb, 10, VS_DIR_TO_DEVICE, p, sizeof(p), &r);
	assert_good(&r);
}

/*
 * physical_block_size 8192 over 512-byte blocks (16 per physical block,
 * twice the RAM backend's 4 KiB page): GET LBA STATUS reports whole
 * physical blocks, a partly deallocated one as mapped (SBC-3 4.7.3);
 * VPD B0h reports the unmap granularity; unaligned deallocation works
 * (libiscsi WriteSame10/16.UnmapUnaligned) and wrong data-out sizes fail
 * (WriteSame*.InvalidDataOutSize, CompareAndWrite.InvalidDataOutSize).
 */
static void test_physical_block_provisioning(void **state)
{
	struct vt t;
	struct tf_result r;
	uint8_t d[64], cdb[16];
	static uint8_t buf[64 * 512], in[64 * 512];
	uint64_t st[8][3];
	(void)state;

	vt_setup(&t, 512, "1M", false);
	assert_int_equal(add_lun_cfg(&t, 1, 512, false, 8192), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 1), 0);
	assert_int_equal(tf_clear_ua(t.tf, t.n, 0), 0);

	/* READ CAPACITY (16): exponent 4, LOWEST ALIGNED LBA 0, LBPME/LBPRZ */
	memset(cdb, 0, 16);
	cdb[0] = SERVICE_ACTION_IN_16;
	cdb[1] = SAI_READ_CAPACITY_16;
	cdb[13] = 32;
	vt_exec_on(&t, t.n, 1, cdb, 16, VS_DIR_FROM_DEVICE, d, 32, &r);
	assert_good(&r);
	assert_int_equal(d[13] & 0x0f, 4);
	assert_int_equal(d[14] & 0xc0, 0xc0);
	assert_int_equal(((d[14] & 0x3f) << 8) | d[15], 0);
	/* VPD B0h: OPTIMAL UNMAP GRANULARITY 16, UGAVALID with alignment 0 */
	vt_exec_on(&t, t.n, 1, (uint8_t[6]){ INQUIRY, 1, 0xb0, 0, 64, 0 }, 6, VS_DIR_FROM_DEVICE, d, 64,
	        &r);
	assert_good(&r);
	assert_int_equal(get_be(&d[28], 4), 16);
	assert_int_equal(get_be(&d[32], 4), 0x80000000u);

	/* map LBAs 0..63 */
	memset(buf, 0xa6, sizeof(buf));
	{
		size_t l = cdb_rw(cdb, WRITE_16, 0, 64, 0);

		vt_exec_on(&t, t.n, 1, cdb, l, VS_DIR_TO_DEVICE, buf, sizeof(buf), &r);
		assert_good(&r);
	}
	/* half a physical block deallocated: the block is still mapped */
	unmap_on_lun1(&t, 16, 8);
	assert_int_equal(lba_status(&t, 16, st, 8), 2);
	assert_int_equal(st[0][0], 16);
	assert_int_equal(st[0][1], 48);
	assert_int_equal(st[0][2], 0);
	assert_int_equal(st[1][0], 64);         /* never written: deallocated */
	assert_int_equal(st[1][2], 1);
	/* the other half too: LBAs 16..31 deallocated */
	unmap_on_lun1(&t, 24, 8);
	assert_int_equal(lba_status(&t, 0, st, 8), 4);
	assert_true(st[0][0] == 0 && st[0][1] == 16 && st[0][2] == 0);
	assert_true(st[1][0] == 16 && st[1][1] == 16 && st[1][2] == 1);
	assert_true(st[2][0] == 32 && st[2][1] == 32 && st[2][2] == 0);
	assert_true(st[3][0] == 64 && st[3][1] == 2048 - 64 && st[3][2] == 1);
	/* a start inside a physical block: the descriptor starts there */
	assert_int_equal(lba_status(&t, 20, st, 8), 3);
	assert_true(st[0][0] == 20 && st[0][1] == 12 && st[0][2] == 1);
	/* the deallocated LBAs read back as zeroes (LBPRZ) */
	{
		size_t l = cdb_rw(cdb, READ_16, 16, 16, 0);

		vt_exec_on(&t, t.n, 1, cdb, l, VS_DIR_FROM_DEVICE, in, 16 * 512, &r);
		assert_good(&r);
		for (int i = 0; i < 16 * 512; i++)
			assert_int_equal(in[i], 0);
	}

	/* unaligned WRITE SAME (10) with UNMAP: LBA i, 16 - i blocks, GOOD */
	for (uint32_t i = 1; i < 16; i++) {
		memset(cdb, 0, 10);
		cdb[0] = WRITE_SAME_10;
		cdb[1] = 0x08;
		put_be(&cdb[2], 32 + i, 4);
		put_be(&cdb[7], 16 - i, 2);
		vt_exec_on(&t, t.n, 1, cdb, 10, VS_DIR_TO_DEVICE, buf, 512, &r);
		assert_good(&r);
	}
	assert_int_equal(lba_status(&t, 32, st, 8), 2);
	assert_true(st[0][0] == 32 && st[0][1] == 32 && st[0][2] == 0);   /* LBA 32 keeps data */
	/* data-out of half a block or two blocks: refused */
	vt_exec_on(&t, t.n, 1, cdb, 10, VS_DIR_TO_DEVICE, buf, 256, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	vt_exec_on(&t, t.n, 1, cdb, 10, VS_DIR_TO_DEVICE, buf, 1024, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	/* COMPARE AND WRITE of 1 block with 4 blocks of data-out, and of 3 */
	memset(cdb, 0, 16);
	cdb[0] = COMPARE_AND_WRITE;
	cdb[13] = 1;
	vt_exec_on(&t, t.n, 1, cdb, 16, VS_DIR_TO_DEVICE, buf, 4 * 512, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb[13] = 3;
	vt_exec_on(&t, t.n, 1, cdb, 16, VS_DIR_TO_DEVICE, buf, 4 * 512, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	vt_teardown(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_orwrite),
		cmocka_unit_test(test_write_atomic),
		cmocka_unit_test(test_read_defect_data),
		cmocka_unit_test(test_removable),
		cmocka_unit_test(test_prevent_same_name_relogin),
		cmocka_unit_test(test_not_removable),
		cmocka_unit_test(test_physical_block_size),
		cmocka_unit_test(test_physical_block_provisioning),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
