/* SPDX-License-Identifier: MIT */
/*
 * The error filter (src/filters/error.c):
 *  - through a vdisk LUN over error+ram, an injected errno reaches the
 *    initiator as the sense vs_vdisk_set_errno maps it to, only for the
 *    operations and bytes selected; switched off at run time, the same
 *    LBA works;
 *  - on a stack of its own: selection by operation and range, a seeded
 *    rate that repeats run after run, and bad options refused with one
 *    line naming the field (also at run time, leaving the filter as it
 *    was).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "filters/error_filter.h"
#include "test_vdisk_helpers.h"

#define BS      512u
#define BAD_LBA 100u

static void expect_error(const char *prefix)
{
	const char *msg = vs_last_error();

	if (strncmp(msg, prefix, strlen(prefix)) != 0)
		fail_msg("error '%s' does not start with '%s'", msg, prefix);
	assert_null(strchr(msg, '\n'));
}

/* error (with opts) over a 1 MiB ram disk */
static struct vs_bdev *open_error(const struct vs_kv *opts, size_t n)
{
	static const struct vs_kv ram_kv[] = { { "size", "1M" } };
	struct vs_bdev_desc ram = { .kind = VS_LAYER_BACKEND, .name = "ram", .opts = ram_kv,
	                            .nopts = 1 };
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "error", .opts = opts,
	                            .nopts = n, .lower = &ram, .nlower = 1 };

	return vs_bdev_open_stack(&top, NULL);
}

static int set(struct vs_bdev *b, const char *key, const char *value)
{
	struct vs_kv kv = { key, value };

	return vs_bdev_set_options(b, 0, &kv, 1);
}

/* ------------------------------------------------------------ through vdisk */

struct lun {
	struct vt t;
	struct vs_bdev *bdev;   /* owned by the LUN; valid until tf_destroy */
};

static void lun_setup(struct lun *l, const struct vs_kv *opts, size_t n)
{
	static const struct vs_vdisk_adapter_config acfg = { .target_name = "iqn.2026-01.test:err" };
	struct vs_port_config pcfg = { .name = "error-test", .default_timeout_ms = 10000 };
	struct vs_vdisk_lun_config cfg = { .block_size = BS, .serial = "ERR0001" };

	memset(l, 0, sizeof(*l));
	l->t.tf = tf_create(&vs_vdisk_miniport, &pcfg, &acfg);
	assert_non_null(l->t.tf);
	l->bdev = cfg.bdev = open_error(opts, n);
	assert_non_null(l->bdev);
	assert_int_equal(vs_port_lun_add(tf_port(l->t.tf), 0, &cfg), 0);
	l->t.n = tf_nexus(l->t.tf, "iqn.2026-01.test:init,i,0x1");
	assert_int_equal(tf_clear_ua(l->t.tf, l->t.n, 0), 0);
	l->t.bs = BS;
	l->t.nblocks = (1u << 20) / BS;
}

static void lun_teardown(struct lun *l)
{
	vt_teardown(&l->t);
}

static void rw(struct lun *l, uint8_t op, uint64_t lba, uint32_t n, void *buf,
               struct tf_result *r)
{
	uint8_t cdb[16];
	size_t len = cdb_rw(cdb, op, lba, n, 0);

	vt_exec(&l->t, cdb, len, op == WRITE_10 ? VS_DIR_TO_DEVICE : VS_DIR_FROM_DEVICE, buf,
	        n * BS, r);
}

/* A LUN whose writes to block BAD_LBA fail with EIO. */
static void lun_setup_bad_lba(struct lun *l)
{
	char off[32];
	struct vs_kv opts[] = { { "ops", "write" }, { "offset", off }, { "length", "512" } };

	snprintf(off, sizeof(off), "%u", BAD_LBA * BS);
	lun_setup(l, opts, 3);
}

static void test_write_error_at_lba(void **state)
{
	uint8_t data[2 * BS], back[2 * BS];
	struct tf_result r;
	struct lun l;

	(void)state;
	lun_setup_bad_lba(&l);
	memset(data, 0x5a, sizeof(data));

	rw(&l, WRITE_10, BAD_LBA, 1, data, &r);
	assert_sense(&r, SENSE_MEDIUM_ERROR, ASC_WRITE_ERROR);
	/* the blocks around it are written */
	rw(&l, WRITE_10, BAD_LBA - 1, 1, data, &r);
	assert_good(&r);
	rw(&l, WRITE_10, BAD_LBA + 1, 1, data, &r);
	assert_good(&r);
	/* a write that only touches the range fails whole */
	rw(&l, WRITE_10, BAD_LBA - 1, 2, data, &r);
	assert_sense(&r, SENSE_MEDIUM_ERROR, ASC_WRITE_ERROR);
	/* reads are not selected: the failed block still reads (zeroes) */
	memset(back, 0xff, sizeof(back));
	rw(&l, READ_10, BAD_LBA, 2, back, &r);
	assert_good(&r);
	for (unsigned i = 0; i < BS; i++)
		assert_int_equal(back[i], 0);
	assert_memory_equal(back + BS, data, BS);
	assert_int_equal(vs_error_filter_injected(l.bdev, 0), 2);
	assert_int_equal(vs_error_filter_injected(l.bdev, 1), 0);  /* ram, not an error filter */
	lun_teardown(&l);
}

/* Each errno becomes the status vdisk's table gives it. */
static void test_errno_to_sense(void **state)
{
	static const struct {
		const char *name;
		uint8_t key;
		uint16_t asc;
	} map[] = {
		{ "EIO", SENSE_MEDIUM_ERROR, ASC_WRITE_ERROR },
		{ "ENOSPC", SENSE_DATA_PROTECT, ASC_SPACE_ALLOCATION_FAILED_WRITE_PROTECT },
		{ "EDQUOT", SENSE_DATA_PROTECT, ASC_SPACE_ALLOCATION_FAILED_WRITE_PROTECT },
		{ "EROFS", SENSE_DATA_PROTECT, ASC_WRITE_PROTECTED },
		{ "ENOTCONN", SENSE_NOT_READY, ASC_LUN_BECOMING_READY },
		{ "ETIMEDOUT", SENSE_NOT_READY, ASC_LUN_BECOMING_READY },
		{ "ECONNRESET", SENSE_NOT_READY, ASC_LUN_BECOMING_READY },
		{ "ENODEV", SENSE_NOT_READY, ASC_LUN_NOT_READY_MANUAL_INTERVENTION },
		{ "EINVAL", SENSE_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE },
	};
	struct vs_kv opts[] = { { "ops", "write" } };
	uint8_t data[BS] = { 1 };
	struct tf_result r;
	struct lun l;

	(void)state;
	lun_setup(&l, opts, 1);
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		assert_int_equal(set(l.bdev, "errno", map[i].name), 0);
		rw(&l, WRITE_10, 7, 1, data, &r);
		if (r.sense_key != map[i].key)
			fail_msg("%s: sense key %x, want %x", map[i].name, r.sense_key, map[i].key);
		assert_sense(&r, map[i].key, map[i].asc);
	}
	/* EAGAIN: BUSY, the initiator retries (no sense) */
	assert_int_equal(set(l.bdev, "errno", "EAGAIN"), 0);
	rw(&l, WRITE_10, 7, 1, data, &r);
	assert_int_equal(r.status, SAM_STAT_BUSY);
	/* a read that fails with EIO is an unrecovered read error */
	assert_int_equal(set(l.bdev, "errno", "EIO"), 0);
	assert_int_equal(set(l.bdev, "ops", "read"), 0);
	rw(&l, READ_10, 7, 1, data, &r);
	assert_sense(&r, SENSE_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR);
	rw(&l, WRITE_10, 7, 1, data, &r);
	assert_good(&r);
	lun_teardown(&l);
}

static void test_switched_off_at_run_time(void **state)
{
	uint8_t data[BS], back[BS];
	struct tf_result r;
	struct lun l;

	(void)state;
	lun_setup_bad_lba(&l);
	memset(data, 0xa5, sizeof(data));
	rw(&l, WRITE_10, BAD_LBA, 1, data, &r);
	assert_sense(&r, SENSE_MEDIUM_ERROR, ASC_WRITE_ERROR);

	assert_int_equal(set(l.bdev, "enabled", "0"), 0);
	rw(&l, WRITE_10, BAD_LBA, 1, data, &r);
	assert_good(&r);
	rw(&l, READ_10, BAD_LBA, 1, back, &r);
	assert_good(&r);
	assert_memory_equal(back, data, BS);

	/* on again, and the range moved while open */
	assert_int_equal(set(l.bdev, "enabled", "on"), 0);
	rw(&l, WRITE_10, BAD_LBA, 1, data, &r);
	assert_sense(&r, SENSE_MEDIUM_ERROR, ASC_WRITE_ERROR);
	assert_int_equal(set(l.bdev, "offset", "0"), 0);
	rw(&l, WRITE_10, BAD_LBA, 1, data, &r);
	assert_good(&r);
	rw(&l, WRITE_10, 0, 1, data, &r);
	assert_sense(&r, SENSE_MEDIUM_ERROR, ASC_WRITE_ERROR);
	assert_int_equal(vs_error_filter_injected(l.bdev, 0), 3);
	lun_teardown(&l);
}

/* ------------------------------------------------------------ on its own */

static void bio_done(struct vs_bio *bio, int err)
{
	*(int *)bio->ctx = err;
}

/* Submit one request; its result (0 or -errno). */
static int io(struct vs_bdev *b, int op, uint64_t off, uint64_t len)
{
	static uint8_t buf[64 << 10];
	struct iovec iov = { buf, (size_t)len };
	int err = 1;
	struct vs_bio bio = { .op = (uint8_t)op, .offset = off, .length = len, .iov = &iov,
	                      .iovcnt = 1, .done = bio_done, .ctx = &err };

	assert_true(len <= sizeof(buf));
	assert_int_equal(vs_bdev_submit(b, &bio), 0);
	assert_int_not_equal(err, 1);           /* error and ram complete inline */
	return err;
}

static void test_ops_and_range(void **state)
{
	struct vs_kv opts[] = { { "ops", "flush,unmap,write_zeroes" }, { "offset", "64K" },
	                        { "errno", "ENOSPC" } };
	struct vs_bdev *b = open_error(opts, 3);

	(void)state;
	assert_non_null(b);
	assert_string_equal(vs_bdev_name(b), "error/ram");
	/* a flush has no range: selected by ops alone */
	assert_int_equal(io(b, VS_BIO_FLUSH, 0, 0), -ENOSPC);
	/* length 0: from offset to the end of the disk */
	assert_int_equal(io(b, VS_BIO_UNMAP, 0, 64 << 10), 0);
	assert_int_equal(io(b, VS_BIO_UNMAP, (64 << 10) - 512, 1024), -ENOSPC);
	assert_int_equal(io(b, VS_BIO_WRITE_ZEROES, (1 << 20) - 512, 512), -ENOSPC);
	assert_int_equal(io(b, VS_BIO_WRITE, 128 << 10, 4096), 0);
	assert_int_equal(io(b, VS_BIO_READ, 128 << 10, 4096), 0);
	/* an end to the range: the byte just past it is outside */
	assert_int_equal(set(b, "length", "4K"), 0);
	assert_int_equal(io(b, VS_BIO_UNMAP, (64 + 4) << 10, 512), 0);
	assert_int_equal(io(b, VS_BIO_UNMAP, ((64 + 4) << 10) - 1, 1), -ENOSPC);
	assert_int_equal(set(b, "ops", "all"), 0);
	assert_int_equal(io(b, VS_BIO_READ, 64 << 10, 512), -ENOSPC);
	assert_int_equal(io(b, VS_BIO_WRITE, 64 << 10, 512), -ENOSPC);
	assert_int_equal(vs_error_filter_injected(b, 0), 6);
	vs_bdev_close(b);
}

#define DRAWS 1000

/* Which of DRAWS reads fail; returns how many did. */
static int pattern(struct vs_bdev *b, char *out)
{
	int failed = 0;

	for (int i = 0; i < DRAWS; i++) {
		int rc = io(b, VS_BIO_READ, (uint64_t)(i % 256) * 512, 512);

		assert_true(rc == 0 || rc == -EIO);
		out[i] = rc ? 'x' : '.';
		failed += rc != 0;
	}
	return failed;
}

static void test_rate_is_reproducible(void **state)
{
	struct vs_kv opts[] = { { "ops", "read" }, { "rate", "0.5" }, { "seed", "42" } };
	static char p1[DRAWS], p2[DRAWS], p3[DRAWS];
	struct vs_bdev *a = open_error(opts, 3), *b = open_error(opts, 3);
	int n;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	n = pattern(a, p1);
	/* about half: 1000 draws at 0.5 are 500 +- 16 (one sigma) */
	if (n < 430 || n > 570)
		fail_msg("rate=0.5 failed %d of %d", n, DRAWS);
	assert_int_equal(vs_error_filter_injected(a, 0), n);
	/* the same seed in another stack: the same requests fail */
	assert_int_equal(pattern(b, p2), n);
	assert_memory_equal(p1, p2, DRAWS);
	/* a change of options starts the sequence again */
	assert_int_equal(set(a, "seed", "42"), 0);
	pattern(a, p3);
	assert_memory_equal(p1, p3, DRAWS);
	/* another seed, another sequence */
	assert_int_equal(set(b, "seed", "43"), 0);
	pattern(b, p2);
	assert_memory_not_equal(p1, p2, DRAWS);
	/* the ends: none and all */
	assert_int_equal(set(a, "rate", "0"), 0);
	assert_int_equal(pattern(a, p3), 0);
	assert_int_equal(set(a, "rate", "1.000"), 0);
	assert_int_equal(pattern(a, p3), DRAWS);
	/* small rates are not rounded to zero */
	assert_int_equal(set(a, "rate", "0.01"), 0);
	n = pattern(a, p3);
	if (n < 2 || n > 25)
		fail_msg("rate=0.01 failed %d of %d", n, DRAWS);
	vs_bdev_close(a);
	vs_bdev_close(b);
}

static void test_bad_options(void **state)
{
	static const struct {
		const char *key, *value, *error;
	} bad[] = {
		{ "errno", "EFOO", "errno: 'EFOO' is not one of EIO, ENOSPC" },
		{ "errno", "eio", "errno: 'eio' is not one of" },
		{ "rate", "1.5", "rate: '1.5' is not a probability from 0 to 1" },
		{ "rate", "2", "rate: '2' is not a probability" },
		{ "rate", "-0.5", "rate: '-0.5' is not" },
		{ "rate", "0.5x", "rate: '0.5x' is not" },
		{ "rate", "1.", "rate: '1.' is not" },
		{ "rate", "0.0000000001", "rate: '0.0000000001' is not" },
		{ "rate", "", "rate: '' is not" },
		{ "ops", "wrte", "ops: 'wrte' is not an operation" },
		{ "ops", "read,", "ops: ends with ','" },
		{ "ops", "read,,write", "ops: '' is not an operation" },
		{ "ops", "", "ops: empty" },
		{ "offset", "1x", "offset: '1x' is not a size" },
		{ "seed", "-1", "seed: '-1' is not a whole number" },
		{ "enabled", "maybe", "enabled: 'maybe' is not 0 or 1" },
		{ "bogus", "1", "bogus: unknown option" },
	};
	struct vs_kv opts[] = { { "ops", "write" } };
	struct vs_bdev *b = open_error(opts, 1);

	(void)state;
	assert_non_null(b);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vs_kv kv = { bad[i].key, bad[i].value };

		assert_int_equal(vs_layer_check(VS_LAYER_FILTER, "error", &kv, 1), -EINVAL);
		expect_error(bad[i].error);
		/* refused at run time too, and the filter keeps failing writes */
		assert_int_not_equal(vs_bdev_set_options(b, 0, &kv, 1), 0);
		expect_error(bad[i].error);
		assert_int_equal(io(b, VS_BIO_WRITE, 0, 512), -EIO);
		assert_int_equal(io(b, VS_BIO_READ, 0, 512), 0);
	}
	assert_int_equal(vs_layer_check(VS_LAYER_FILTER, "error",
	                                (struct vs_kv[]){ { "offset", "16777215T" },
	                                                  { "length", "2T" } }, 2), -EINVAL);
	expect_error("length: offset + length is past");
	/* and the good ones pass */
	assert_int_equal(vs_layer_check(VS_LAYER_FILTER, "error",
	                                (struct vs_kv[]){ { "rate", "0.000000001" },
	                                                  { "errno", "ETIMEDOUT" },
	                                                  { "ops", "read,write_zeroes" } }, 3), 0);
	vs_bdev_close(b);
}

static void test_listed(void **state)
{
	struct vs_layer_type t;

	(void)state;
	assert_true(vs_layer_type_find(VS_LAYER_FILTER, "error", &t));
	assert_string_equal(t.origin, "built-in");
	assert_non_null(vs_layer_type_option(&t, "errno"));
	assert_true(vs_layer_type_option(&t, "enabled")->flags & VS_OPT_RUNTIME);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_error_at_lba),
		cmocka_unit_test(test_errno_to_sense),
		cmocka_unit_test(test_switched_off_at_run_time),
		cmocka_unit_test(test_ops_and_range),
		cmocka_unit_test(test_rate_is_reproducible),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_listed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
