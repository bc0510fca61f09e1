/* SPDX-License-Identifier: MIT */
/*
 * What vdisk asks of a backend with a volatile write cache, seen from a spy
 * backend under it (SBC-3 4.15 write caching, 5.22 SYNCHRONIZE CACHE, 6.4.5
 * caching mode page): SYNCHRONIZE CACHE reaches it as a FLUSH (and not at
 * all without a cache), FUA reaches it as VS_BIO_FUA or, when the backend
 * cannot do FUA, as the write followed by a FLUSH; with WCE=0 every write
 * carries FUA; a MODE SELECT (6 or 10) turning WCE off flushes what the
 * cache holds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "test_vdisk_helpers.h"

enum { LUN_CACHED = 1, LUN_NO_FUA = 2, LUN_NO_CACHE = 3 };

struct cache_fx {
	struct vt t;
	struct spy *s[4];
};

static struct spy *add(struct cache_fx *f, uint64_t lun, bool cache, bool fua)
{
	struct vs_backend_caps caps;
	struct vs_bdev *ram = vt_ram("1M");

	vs_bdev_get_caps(ram, &caps);      /* the spy's inner backend's */
	vs_bdev_close(ram);
	caps.can_flush = caps.has_write_cache = cache;
	caps.can_fua = fua;
	return vt_add_spy(&f->t, lun, "1M", 512, &caps);
}

static int setup(void **state)
{
	struct cache_fx *f = calloc(1, sizeof(*f));

	vt_setup(&f->t, 512, "1M", false);
	f->s[LUN_CACHED] = add(f, LUN_CACHED, true, true);
	f->s[LUN_NO_FUA] = add(f, LUN_NO_FUA, true, false);
	f->s[LUN_NO_CACHE] = add(f, LUN_NO_CACHE, false, true);
	/* each arrival raised REPORTED LUNS DATA HAS CHANGED on every LUN */
	for (uint64_t l = 0; l < 4; l++)
		assert_int_equal(tf_clear_ua(f->t.tf, f->t.n, l), 0);
	for (int i = 1; i < 4; i++)
		spy_clear(f->s[i]);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct cache_fx *f = *state;

	vt_teardown(&f->t);
	for (int i = 1; i < 4; i++)
		spy_free(f->s[i]);
	free(f);
	return 0;
}

static void exec(struct cache_fx *f, uint64_t lun, const uint8_t *cdb, size_t len, int dir,
                 void *buf, uint32_t n, struct tf_result *r)
{
	vt_exec_on(&f->t, f->t.n, lun, cdb, len, dir, buf, n, r);
}

static void write10(struct cache_fx *f, uint64_t lun, bool fua)
{
	static uint8_t blk[512];
	uint8_t cdb[16];
	struct tf_result r;
	size_t l = cdb_rw(cdb, WRITE_10, 9, 1, fua ? 0x08 : 0);

	exec(f, lun, cdb, l, VS_DIR_TO_DEVICE, blk, sizeof(blk), &r);
	assert_good(&r);
}

static void test_sync_cache_is_a_flush(void **state)
{
	struct cache_fx *f = *state;
	struct tf_result r;
	uint8_t cdb[16];

	size_t l = cdb_rw(cdb, SYNCHRONIZE_CACHE_10, 0, 0, 0);
	exec(f, LUN_CACHED, cdb, l, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	assert_int_equal(spy_count(f->s[LUN_CACHED], VS_BIO_FLUSH, 0), 1);
	l = cdb_rw(cdb, SYNCHRONIZE_CACHE_16, 10, 20, 0);
	exec(f, LUN_CACHED, cdb, l, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	assert_int_equal(spy_count(f->s[LUN_CACHED], VS_BIO_FLUSH, 0), 2);
	/* a flush that fails is the command's failure */
	spy_fail_op(f->s[LUN_CACHED], VS_BIO_FLUSH, -EIO);
	exec(f, LUN_CACHED, cdb, l, VS_DIR_NONE, NULL, 0, &r);
	assert_sense(&r, SENSE_MEDIUM_ERROR, ASC_WRITE_ERROR);
	/* acknowledged writes a remote resource lost: not NOT READY (an
	 * initiator would retry and believe them safe) but a write error,
	 * also for a read that meets it */
	spy_fail_op(f->s[LUN_CACHED], VS_BIO_FLUSH, -ENOTRECOVERABLE);
	exec(f, LUN_CACHED, cdb, l, VS_DIR_NONE, NULL, 0, &r);
	assert_sense(&r, SENSE_MEDIUM_ERROR, ASC_WRITE_ERROR);
	spy_fail_op(f->s[LUN_CACHED], VS_BIO_FLUSH, 0);
	spy_fail_op(f->s[LUN_CACHED], VS_BIO_READ, -ENOTRECOVERABLE);
	static uint8_t blk[512];
	l = cdb_rw(cdb, READ_10, 9, 1, 0);
	exec(f, LUN_CACHED, cdb, l, VS_DIR_FROM_DEVICE, blk, sizeof(blk), &r);
	assert_sense(&r, SENSE_MEDIUM_ERROR, ASC_WRITE_ERROR);
	spy_fail_op(f->s[LUN_CACHED], VS_BIO_READ, 0);
	l = cdb_rw(cdb, SYNCHRONIZE_CACHE_16, 10, 20, 0);
	/* no volatile cache, nothing to flush: GOOD without a FLUSH */
	exec(f, LUN_NO_CACHE, cdb, l, VS_DIR_NONE, NULL, 0, &r);
	assert_good(&r);
	assert_int_equal(spy_count(f->s[LUN_NO_CACHE], VS_BIO_FLUSH, 0), 0);
}

static void test_fua(void **state)
{
	struct cache_fx *f = *state;
	struct spy *s = f->s[LUN_CACHED];

	write10(f, LUN_CACHED, true);
	assert_int_equal(spy_count(s, VS_BIO_WRITE, VS_BIO_FUA), 1);
	write10(f, LUN_CACHED, false);          /* WCE=1: a plain write stays cached */
	assert_int_equal(spy_count(s, VS_BIO_WRITE, 0), 2);
	assert_int_equal(spy_count(s, VS_BIO_WRITE, VS_BIO_FUA), 1);
	assert_int_equal(spy_count(s, VS_BIO_FLUSH, 0), 0);

	/* the backend cannot do FUA: the write, then a FLUSH, then GOOD */
	s = f->s[LUN_NO_FUA];
	write10(f, LUN_NO_FUA, true);
	assert_int_equal(spy_nrecs(s), 2);
	assert_int_equal(spy_rec(s, 0).op, VS_BIO_WRITE);
	assert_int_equal(spy_rec(s, 0).flags & VS_BIO_FUA, 0);
	assert_int_equal(spy_rec(s, 1).op, VS_BIO_FLUSH);

	/* no cache: every write is stable already, no FUA needed */
	write10(f, LUN_NO_CACHE, true);
	assert_int_equal(spy_count(f->s[LUN_NO_CACHE], VS_BIO_WRITE, VS_BIO_FUA), 0);
}

/* MODE SENSE(10), DBD, the caching page, as a MODE SELECT(10) list. */
static void caching_page10(struct cache_fx *f, uint64_t lun, uint8_t p[28])
{
	uint8_t cdb[10] = { MODE_SENSE_10, 0x08, 0x08, 0, 0, 0, 0, 0, 28, 0 };
	struct tf_result r;

	exec(f, lun, cdb, 10, VS_DIR_FROM_DEVICE, p, 28, &r);
	assert_good(&r);
	assert_int_equal(p[8] & 0x3f, 0x08);
	memset(p, 0, 8);                        /* header: lengths reserved for SELECT */
	p[8] &= 0x7f;                           /* PS */
}

static void mode_select10(struct cache_fx *f, uint64_t lun, uint8_t *p, uint16_t len)
{
	uint8_t cdb[10] = { MODE_SELECT_10, 0x10, 0, 0, 0, 0, 0, (uint8_t)(len >> 8), (uint8_t)len, 0 };
	struct tf_result r;

	exec(f, lun, cdb, 10, VS_DIR_TO_DEVICE, p, len, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, len);
}

static void test_wce_off_flushes_and_forces_fua(void **state)
{
	struct cache_fx *f = *state;
	struct spy *s = f->s[LUN_CACHED];
	uint8_t p[28];

	caching_page10(f, LUN_CACHED, p);
	assert_true(p[8 + 2] & 0x04);           /* WCE=1: the backend has a cache */
	/* WCE 1 -> 0 with MODE SELECT(10): the cache is flushed */
	p[8 + 2] &= (uint8_t)~0x04;
	mode_select10(f, LUN_CACHED, p, sizeof(p));
	assert_int_equal(spy_count(s, VS_BIO_FLUSH, 0), 1);
	caching_page10(f, LUN_CACHED, p);
	assert_false(p[8 + 2] & 0x04);
	/* WCE=0: a write without FUA in the CDB reaches the backend with FUA */
	write10(f, LUN_CACHED, false);
	assert_int_equal(spy_count(s, VS_BIO_WRITE, VS_BIO_FUA), 1);
	/* WCE=0 again: no change, no flush */
	mode_select10(f, LUN_CACHED, p, sizeof(p));
	assert_int_equal(spy_count(s, VS_BIO_FLUSH, 0), 1);
	/* back to WCE=1 (MODE SELECT(6)): no flush needed, writes cached again */
	uint8_t p6[24] = { 0 };
	memcpy(&p6[4], &p[8], 20);
	p6[4 + 2] |= 0x04;
	uint8_t cdb6[6] = { MODE_SELECT_6, 0x10, 0, 0, sizeof(p6), 0 };
	struct tf_result r;
	exec(f, LUN_CACHED, cdb6, 6, VS_DIR_TO_DEVICE, p6, sizeof(p6), &r);
	assert_good(&r);
	assert_int_equal(spy_count(s, VS_BIO_FLUSH, 0), 1);
	write10(f, LUN_CACHED, false);
	assert_int_equal(spy_count(s, VS_BIO_WRITE, VS_BIO_FUA), 1);
	/* and 1 -> 0 with MODE SELECT(6) flushes as well */
	p6[4 + 2] &= (uint8_t)~0x04;
	exec(f, LUN_CACHED, cdb6, 6, VS_DIR_TO_DEVICE, p6, sizeof(p6), &r);
	assert_good(&r);
	assert_int_equal(spy_count(s, VS_BIO_FLUSH, 0), 2);

	/* without a cache WCE is 0 and not changeable (SBC-3 6.4.5) */
	caching_page10(f, LUN_NO_CACHE, p);
	assert_false(p[8 + 2] & 0x04);
	p[8 + 2] |= 0x04;
	uint8_t cdb[10] = { MODE_SELECT_10, 0x10, 0, 0, 0, 0, 0, 0, sizeof(p), 0 };
	exec(f, LUN_NO_CACHE, cdb, 10, VS_DIR_TO_DEVICE, p, sizeof(p), &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_field_ptr(&r, false, 8 + 2, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sync_cache_is_a_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fua, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wce_off_flushes_and_forces_fua, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
