/* SPDX-License-Identifier: MIT */
/*
 * vdisk reads by reference (srb.h data_ref, bdev.h vs_bio.lent): a READ
 * from a submitter that accepts it is answered with the RAM disk's own
 * memory, not a copy; a loan keeps the LUN's stack open until the SRB is
 * back in its pool; whatever cannot be lent is copied as before.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <unistd.h>

#include "test_vdisk_helpers.h"
#include "util/vs_crc32c.h"

#define DETACH_MS 200u

struct lt {
	struct tf *tf;
	struct vs_nexus *n;
	struct vs_srb_pool *pool;
};

static void setup(struct lt *t)
{
	static const struct vs_vdisk_adapter_config ac = {
		.target_name = "iqn.2026-01.test:lend", .detach_timeout_ms = DETACH_MS,
	};
	struct vs_port_config pc = { .name = "lend", .default_timeout_ms = 10000 };
	struct vs_vdisk_lun_config lc = { .bdev = vt_ram("1M"), .block_size = 512,
	                                  .serial = "LEND1" };

	memset(t, 0, sizeof(*t));
	t->tf = tf_create(&vs_vdisk_miniport, &pc, &ac);
	assert_non_null(t->tf);
	assert_int_equal(vs_port_lun_add(tf_port(t->tf), 0, &lc), 0);
	t->n = tf_nexus(t->tf, "iqn.2026-01.test:init,i,0x1");
	assert_int_equal(tf_clear_ua(t->tf, t->n, 0), 0);
	t->pool = vs_srb_pool_create(tf_port(t->tf), 2, 64 * 1024);
	assert_non_null(t->pool);
}

static void teardown(struct lt *t)
{
	vs_srb_pool_destroy(t->pool);
	assert_int_equal(tf_double_completions(t->tf), 0);
	tf_destroy(t->tf);
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 13 + (i >> 9));
}

static void write_blocks(struct lt *t, uint64_t lba, const uint8_t *data, uint32_t len)
{
	uint8_t cdb[16];
	struct tf_result r;
	size_t l = cdb_rw(cdb, WRITE_16, lba, len / 512, 0);

	assert_int_equal(tf_exec(t->tf, t->n, 0, cdb, l, VS_DIR_TO_DEVICE, (void *)data, len, &r), 0);
	assert_good(&r);
}

static _Atomic int g_done;

static void on_done(struct vs_srb *srb)
{
	(void)srb;
	g_done++;
}

/* A READ(16) of `blocks` at lba, expecting `len` bytes, from a pool SRB
 * whose buffer is filled with 0xee; RAM completes it inline. */
static struct vs_srb *read_cmd(struct lt *t, uint64_t lba, uint32_t blocks, uint32_t len,
                               uint8_t accept)
{
	struct vs_srb *s = vs_srb_get(t->pool);
	uint8_t *buf;

	assert_non_null(s);
	buf = vs_srb_buffer(s, NULL);
	memset(buf, 0xee, 64 * 1024);
	s->cdb_len = (uint8_t)cdb_rw(s->cdb, READ_16, lba, blocks, 0);
	s->data_dir = VS_DIR_FROM_DEVICE;
	s->data_length = len;
	s->nexus = t->n;
	s->done = on_done;
	s->accept_data_ref = accept;
	g_done = 0;
	vs_port_submit(tf_port(t->tf), s);
	assert_int_equal(g_done, 1);
	assert_int_equal(s->srb_status, VS_SRB_SUCCESS);
	assert_int_equal(s->scsi_status, SAM_STAT_GOOD);
	return s;
}

static bool untouched(const struct vs_srb *s, size_t len)
{
	const uint8_t *buf = vs_srb_buffer((struct vs_srb *)s, NULL);

	for (size_t i = 0; i < len; i++)
		if (buf[i] != 0xee)
			return false;
	return true;
}

static void test_read_by_reference(void **state)
{
	struct lt t;
	static uint8_t data[32 * 1024];
	(void)state;

	setup(&t);
	fill(data, sizeof(data), 9);
	write_blocks(&t, 100, data, sizeof(data));
	struct vs_srb *s = read_cmd(&t, 100, 64, sizeof(data), true);
	assert_int_equal(s->xfer_len, sizeof(data));
	assert_non_null(s->data_ref);
	assert_non_null(s->data_ref_release);
	assert_memory_equal(s->data_ref, data, sizeof(data));
	assert_true(untouched(s, sizeof(data)));        /* no copy was made */
	vs_srb_put(s);
	/* given back: the LUN leaves at once */
	assert_int_equal(vs_port_lun_remove(tf_port(t.tf), 0, true), 0);
	teardown(&t);
}

/*
 * A submitter that takes a checksum of the data (VS_DATA_REF_STABLE, iSCSI
 * data digests) gets the RAM disk's memory too, and a WRITE to those blocks
 * meanwhile completes only once the reference is given back: the lent
 * bytes never change under the checksum.
 */
static void test_stable_reference_holds_writes(void **state)
{
	struct lt t;
	static uint8_t data[4096], newer[4096];
	(void)state;

	setup(&t);
	fill(data, sizeof(data), 5);
	fill(newer, sizeof(newer), 77);
	write_blocks(&t, 16, data, sizeof(data));
	struct vs_srb *s = read_cmd(&t, 16, 8, sizeof(data), VS_DATA_REF_OK | VS_DATA_REF_STABLE);
	assert_non_null(s->data_ref);
	assert_true(untouched(s, sizeof(data)));

	struct vs_srb *w = vs_srb_get(t.pool);
	assert_non_null(w);
	memcpy(vs_srb_buffer(w, NULL), newer, sizeof(newer));
	w->cdb_len = (uint8_t)cdb_rw(w->cdb, WRITE_16, 16, 8, 0);
	w->data_dir = VS_DIR_TO_DEVICE;
	w->data_length = sizeof(newer);
	w->nexus = t.n;
	w->done = on_done;
	g_done = 0;
	vs_port_submit(tf_port(t.tf), w);
	assert_int_equal(g_done, 0);                    /* held by the loan */
	assert_memory_equal(s->data_ref, data, sizeof(data));
	vs_srb_put(s);                                  /* the loan ends */
	assert_int_equal(g_done, 1);
	assert_int_equal(w->srb_status, VS_SRB_SUCCESS);
	assert_int_equal(w->scsi_status, SAM_STAT_GOOD);
	vs_srb_put(w);

	s = read_cmd(&t, 16, 8, sizeof(newer), VS_DATA_REF_OK);
	assert_non_null(s->data_ref);
	assert_memory_equal(s->data_ref, newer, sizeof(newer));
	vs_srb_put(s);
	assert_int_equal(vs_port_lun_remove(tf_port(t.tf), 0, true), 0);
	teardown(&t);
}

/*
 * A stable reference comes with the checksums the RAM disk keeps of its
 * blocks (srb.h data_ref_crc32c), so iSCSI can take a data digest without
 * reading the bytes: the CRC32C of any piece of what is lent, and after a
 * WRITE to those blocks that of the new bytes.  A plain reference (no
 * checksum taken by the submitter) has none.
 */
static void test_stable_reference_checksums(void **state)
{
	struct lt t;
	static uint8_t data[16384], newer[4096];
	uint32_t crc = 0;
	(void)state;

	setup(&t);
	fill(data, sizeof(data), 9);
	fill(newer, sizeof(newer), 10);
	write_blocks(&t, 64, data, sizeof(data));
	for (int round = 0; round < 2; round++) {
		struct vs_srb *s = read_cmd(&t, 64, 32, sizeof(data), VS_DATA_REF_OK | VS_DATA_REF_STABLE);

		assert_non_null(s->data_ref);
		assert_non_null(s->data_ref_crc32c);
		assert_true(s->data_ref_crc32c(s, 0, sizeof(data), &crc));
		assert_int_equal(crc, vs_crc32c_sw(0, data, sizeof(data)));
		assert_true(s->data_ref_crc32c(s, 4096 + 12, 8192, &crc));
		assert_int_equal(crc, vs_crc32c_sw(0, data + 4096 + 12, 8192));
		assert_false(s->data_ref_crc32c(s, 8192, 8193, &crc));     /* past the end */
		vs_srb_put(s);
		/* the second block rewritten: its checksum must follow */
		memcpy(data + 4096, newer, sizeof(newer));
		write_blocks(&t, 72, newer, sizeof(newer));
	}
	struct vs_srb *s = read_cmd(&t, 64, 32, sizeof(data), VS_DATA_REF_OK);
	assert_non_null(s->data_ref);
	assert_null(s->data_ref_crc32c);
	vs_srb_put(s);
	assert_int_equal(vs_port_lun_remove(tf_port(t.tf), 0, true), 0);
	teardown(&t);
}

/* What cannot be lent is copied: a submitter that does not accept a
 * reference, a block never written, a read ending inside a block. */
static void test_copied_when_not_lent(void **state)
{
	struct lt t;
	static uint8_t data[4096];
	(void)state;

	setup(&t);
	fill(data, sizeof(data), 3);
	write_blocks(&t, 8, data, sizeof(data));

	struct vs_srb *s = read_cmd(&t, 8, 8, sizeof(data), false);
	assert_null(s->data_ref);
	assert_memory_equal(vs_srb_buffer(s, NULL), data, sizeof(data));
	vs_srb_put(s);

	s = read_cmd(&t, 8, 16, 8192, true);          /* the second half never written */
	assert_null(s->data_ref);
	assert_memory_equal(vs_srb_buffer(s, NULL), data, sizeof(data));
	vs_srb_put(s);

	s = read_cmd(&t, 8, 1, 200, true);            /* 200 of the block's 512 bytes */
	assert_null(s->data_ref);
	assert_int_equal(s->xfer_len, 200);
	assert_memory_equal(vs_srb_buffer(s, NULL), data, 200);
	vs_srb_put(s);
	assert_int_equal(vs_port_lun_remove(tf_port(t.tf), 0, true), 0);
	teardown(&t);
}

/* A loan still out when the LUN is removed: the LUN and its RAM disk are
 * kept (the lent bytes stay readable) until the SRB is given back, which
 * ends the loan in the kept LUN; then it is freed like any orphan. */
static void test_loan_keeps_the_lun(void **state)
{
	struct lt t;
	static uint8_t data[4096];
	(void)state;

	setup(&t);
	fill(data, sizeof(data), 5);
	write_blocks(&t, 0, data, sizeof(data));
	struct vs_srb *s = read_cmd(&t, 0, 8, sizeof(data), true);
	assert_non_null(s->data_ref);
	int rc = vs_port_lun_remove(tf_port(t.tf), 0, true);
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(vs_last_error(), "still holds 1 request"));
	assert_memory_equal(s->data_ref, data, sizeof(data));
	vs_srb_put(s);
	teardown(&t);                           /* frees the orphan, now quiet */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_by_reference),
		cmocka_unit_test(test_stable_reference_holds_writes),
		cmocka_unit_test(test_stable_reference_checksums),
		cmocka_unit_test(test_copied_when_not_lent),
		cmocka_unit_test(test_loan_keeps_the_lun),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
