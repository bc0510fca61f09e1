/* SPDX-License-Identifier: MIT */
/*
 * Shared set-up for the vdisk unit tests: a port around the vdisk miniport
 * with RAM-backed LUNs, two I_T nexuses, and small CDB builders.
 * Included by tests/unit/test_vdisk_*.c only (must follow the cmocka includes).
 */
#ifndef TEST_VDISK_HELPERS_H
#define TEST_VDISK_HELPERS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spy_bdev.h"
#include "test_fabric.h"
#include "vstor/backend.h"
#include "vstor/scsi.h"
#include "vstor/vdisk.h"

struct vt {
	struct tf *tf;
	struct vs_nexus *n;     /* the nexus most tests use */
	struct vs_nexus *n2;    /* a second initiator */
	uint32_t bs;
	uint64_t nblocks;
};

static inline struct vs_bdev *vt_ram(const char *size)
{
	struct vs_kv kv[] = { { "size", size } };
	struct vs_bdev *b = vs_bdev_open("ram", kv, 1);

	assert_non_null(b);
	return b;
}

static inline int vt_add_lun(struct vt *t, uint64_t lun, const char *size, uint32_t bs,
                             bool readonly)
{
	char id[32];
	struct vs_vdisk_lun_config cfg = {
		.bdev = vt_ram(size), .block_size = bs, .readonly = readonly,
		.serial = "SER0001", .device_id = id,
	};

	/* one NAA per LUN: vdisk refuses two LUNs of a target with the same */
	snprintf(id, sizeof(id), "vt-device-%llu", (unsigned long long)lun);
	int rc = vs_port_lun_add(tf_port(t->tf), lun, &cfg);

	if (rc)
		vs_bdev_close(cfg.bdev);
	return rc;
}

/*
 * LUN `lun` over a new spy backend of `size` bytes (caps: the RAM
 * backend's, or *caps), both nexuses' UAs cleared; the spy outlives the
 * LUN (spy_free after vt_teardown).
 */
static inline struct spy *vt_add_spy(struct vt *t, uint64_t lun, const char *size, uint32_t bs,
                                     const struct vs_backend_caps *caps)
{
	struct spy *s = spy_new(size);

	assert_non_null(s);
	if (caps)
		spy_set_caps(s, caps);
	struct vs_vdisk_lun_config cfg = { .bdev = spy_bdev(s), .block_size = bs,
	                                   .serial = "SPY0001" };
	assert_int_equal(vs_port_lun_add(tf_port(t->tf), lun, &cfg), 0);
	assert_int_equal(tf_clear_ua(t->tf, t->n, lun), 0);
	assert_int_equal(tf_clear_ua(t->tf, t->n2, lun), 0);
	return s;
}

/* A port with LUN 0 of `size` bytes in `bs`-byte blocks; both nexuses' UAs cleared. */
static inline void vt_setup(struct vt *t, uint32_t bs, const char *size, bool readonly)
{
	static const struct vs_vdisk_adapter_config acfg = {
		.target_name = "iqn.2024-01.test:vdisk", .rel_target_port_id = 1,
	};
	struct vs_port_config pcfg = { .name = "vdisk-test", .default_timeout_ms = 10000 };
	uint64_t bytes;

	memset(t, 0, sizeof(*t));
	t->tf = tf_create(&vs_vdisk_miniport, &pcfg, &acfg);
	assert_non_null(t->tf);
	assert_int_equal(vt_add_lun(t, 0, size, bs, readonly), 0);
	t->n = tf_nexus(t->tf, "iqn.2024-01.test:init-a,i,0x1");
	t->n2 = tf_nexus(t->tf, "iqn.2024-01.test:init-b,i,0x2");
	assert_non_null(t->n);
	assert_non_null(t->n2);
	assert_int_equal(tf_clear_ua(t->tf, t->n, 0), 0);
	assert_int_equal(tf_clear_ua(t->tf, t->n2, 0), 0);
	assert_int_equal(vs_parse_size(size, &bytes), 0);
	t->bs = bs;
	t->nblocks = bytes / bs;
}

static inline void vt_teardown(struct vt *t)
{
	assert_int_equal(tf_double_completions(t->tf), 0);
	tf_destroy(t->tf);
}

/* Run one CDB from nexus n to `lun`; the SRB itself must succeed (the SCSI
 * status is left to the caller). */
static inline void vt_exec_on(struct vt *t, struct vs_nexus *n, uint64_t lun, const uint8_t *cdb,
                              size_t cdb_len, int dir, void *buf, uint32_t len,
                              struct tf_result *r)
{
	assert_int_equal(tf_exec(t->tf, n, lun, cdb, cdb_len, dir, buf, len, r), 0);
	assert_int_equal(r->srb_status, VS_SRB_SUCCESS);
}

/* The same from the usual nexus to LUN 0. */
static inline void vt_exec(struct vt *t, const uint8_t *cdb, size_t cdb_len, int dir,
                           void *buf, uint32_t len, struct tf_result *r)
{
	vt_exec_on(t, t->n, 0, cdb, cdb_len, dir, buf, len, r);
}

static inline void assert_good(const struct tf_result *r)
{
	if (r->status != SAM_STAT_GOOD)
		fprintf(stderr, "status %02x sense %x/%02x/%02x\n", r->status, r->sense_key, r->asc,
		        r->ascq);
	assert_int_equal(r->status, SAM_STAT_GOOD);
}

static inline void assert_sense(const struct tf_result *r, uint8_t key, uint16_t asc_ascq)
{
	assert_int_equal(r->status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r->sense_key, key);
	assert_int_equal(r->asc, VS_ASC(asc_ascq));
	assert_int_equal(r->ascq, VS_ASCQ(asc_ascq));
}

/* Fixed-format sense-key specific field pointer (SPC-4 4.5.2.4.2). */
static inline void assert_field_ptr(const struct tf_result *r, bool in_cdb, uint16_t byte, int bit)
{
	const uint8_t *s = r->sense;

	assert_int_equal(s[0] & 0x7f, 0x70);
	assert_true(s[15] & 0x80);                      /* SKSV */
	assert_int_equal(!!(s[15] & 0x40), in_cdb);     /* C/D */
	if (bit >= 0) {
		assert_true(s[15] & 0x08);              /* BPV */
		assert_int_equal(s[15] & 0x07, bit);
	} else {
		assert_false(s[15] & 0x08);
	}
	assert_int_equal((s[16] << 8) | s[17], byte);
}

static inline void assert_invalid_cdb(const struct tf_result *r, uint16_t byte, int bit)
{
	assert_sense(r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	assert_field_ptr(r, true, byte, bit);
}

static inline uint64_t sense_info(const struct tf_result *r)
{
	const uint8_t *s = r->sense;

	assert_true(s[0] & 0x80);       /* VALID */
	return (uint64_t)s[3] << 24 | (uint64_t)s[4] << 16 | (uint64_t)s[5] << 8 | s[6];
}

static inline void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* READ/WRITE-family CDBs: 10, 12 or 16 bytes by opcode. */
static inline size_t cdb_rw(uint8_t *cdb, uint8_t op, uint64_t lba, uint32_t n, uint8_t b1)
{
	memset(cdb, 0, 16);
	cdb[0] = op;
	cdb[1] = b1;
	switch (op >> 5) {
	case 0:
		put_be(&cdb[1], lba & 0x1fffff, 3);
		cdb[4] = (uint8_t)n;
		return 6;
	case 1: case 2:
		put_be(&cdb[2], lba, 4);
		put_be(&cdb[7], n, 2);
		return 10;
	case 5:
		put_be(&cdb[2], lba, 4);
		put_be(&cdb[6], n, 4);
		return 12;
	default:
		put_be(&cdb[2], lba, 8);
		put_be(&cdb[10], n, 4);
		return 16;
	}
}

/* GET LBA STATUS (SBC-3 5.16) from `lba`, `alloc` bytes; returns the CDB length. */
static inline size_t cdb_get_lba_status(uint8_t *cdb, uint64_t lba, uint32_t alloc)
{
	memset(cdb, 0, 16);
	cdb[0] = SERVICE_ACTION_IN_16;
	cdb[1] = SAI_GET_LBA_STATUS;
	put_be(&cdb[2], lba, 8);
	put_be(&cdb[10], alloc, 4);
	return 16;
}

static inline void vt_write(struct vt *t, uint64_t lba, uint32_t n, const void *buf)
{
	uint8_t cdb[16];
	struct tf_result r;
	size_t l = cdb_rw(cdb, WRITE_16, lba, n, 0);

	vt_exec(t, cdb, l, VS_DIR_TO_DEVICE, (void *)buf, n * t->bs, &r);
	assert_good(&r);
}

static inline void vt_read(struct vt *t, uint64_t lba, uint32_t n, void *buf)
{
	uint8_t cdb[16];
	struct tf_result r;
	size_t l = cdb_rw(cdb, READ_16, lba, n, 0);

	vt_exec(t, cdb, l, VS_DIR_FROM_DEVICE, buf, n * t->bs, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, n * t->bs);
}

#endif
