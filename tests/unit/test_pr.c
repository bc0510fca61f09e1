/* SPDX-License-Identifier: MIT */
/*
 * Persistent reservations (SPC-4 5.13, 6.15, 6.16) and SPC-2 RESERVE /
 * RELEASE, driven directly through src/vdisk/pr.h with hand-built SRBs and
 * no port (lun == NULL: no unit attentions; test_pr_port.c covers those).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pr_cmd.h"

static struct vs_nexus nx_a, nx_b, nx_c;

static int setup(void **state)
{
	(void)state;
	pr_mk_nexus(&nx_a, "iqn.2024-01.test:host-a", "23d000001", 0);
	pr_mk_nexus(&nx_b, "iqn.2024-01.test:host-b", "23d000002", 1);
	pr_mk_nexus(&nx_c, "iqn.2024-01.test:host-c", "23d000003", 2);
	return 0;
}

static void assert_sense(const struct pr_cmd *c, uint8_t key, uint16_t asc_ascq)
{
	assert_int_equal(c->srb.scsi_status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(c->srb.sense[2] & 0x0f, key);
	assert_int_equal(c->srb.sense[12], asc_ascq >> 8);
	assert_int_equal(c->srb.sense[13], asc_ascq & 0xff);
}

static uint32_t generation(struct vdisk_pr *pr)
{
	struct pr_cmd c;
	assert_int_equal(pr_prin(pr, &nx_a, 0, 8, &c), SAM_STAT_GOOD);
	return pr_get32(c.buf);
}

/* ---------------------------------------------------------------- */

static void test_register_and_read_keys(void **state)
{
	(void)state;
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	assert_non_null(pr);
	assert_false(vs_vdisk_pr_in_use(pr));
	uint32_t g0 = generation(pr);

	struct pr_cmd c;
	assert_int_equal(pr_prout_full(pr, &nx_a, SA_REGISTER_IGNORE, 0, 0, 0, 0x1111, 0, 24, &c),
	                 SAM_STAT_GOOD);
	assert_int_equal(c.srb.xfer_len, 24);
	assert_int_equal(pr_prout(pr, &nx_b, SA_REGISTER, 0, 0, 0x2222), SAM_STAT_GOOD);
	assert_true(vs_vdisk_pr_in_use(pr));

	assert_int_equal(pr_prin(pr, &nx_c, 0, 1024, &c), SAM_STAT_GOOD);
	assert_int_equal(c.srb.xfer_len, 24);
	assert_int_equal(pr_get32(c.buf), g0 + 2);
	assert_int_equal(pr_get32(c.buf + 4), 16);
	assert_true(pr_get64(c.buf + 8) == 0x1111);
	assert_true(pr_get64(c.buf + 16) == 0x2222);

	/* An unregistered nexus quoting a key, and a registered one
	 * re-registering with the wrong key: RESERVATION CONFLICT, and a
	 * failed command leaves the generation alone. */
	assert_int_equal(pr_prout(pr, &nx_c, SA_REGISTER, 0, 0x1111, 0x3333),
	                 SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0, 0x1112),
	                 SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(generation(pr), g0 + 2);

	/* Change the key with the right one, then unregister. */
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0x1111, 0x1234), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0x1234, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_prin(pr, &nx_a, 0, 1024, &c), SAM_STAT_GOOD);
	assert_int_equal(pr_get32(c.buf), g0 + 4);
	assert_int_equal(pr_get32(c.buf + 4), 8);
	assert_true(pr_get64(c.buf + 8) == 0x2222);

	/* REGISTER AND IGNORE EXISTING KEY replaces a key without knowing it */
	assert_int_equal(pr_prout(pr, &nx_b, SA_REGISTER_IGNORE, 0, 0xdead, 0x5555), SAM_STAT_GOOD);
	assert_int_equal(pr_prin(pr, &nx_a, 0, 1024, &c), SAM_STAT_GOOD);
	assert_true(pr_get64(c.buf + 8) == 0x5555);

	/* Truncation: ALLOCATION LENGTH 8 still reports the full length. */
	assert_int_equal(pr_prin(pr, &nx_a, 0, 8, &c), SAM_STAT_GOOD);
	assert_int_equal(c.srb.xfer_len, 8);
	assert_int_equal(pr_get32(c.buf + 4), 8);
	/* ... and 12 returns half a key */
	assert_int_equal(pr_prin(pr, &nx_a, 0, 12, &c), SAM_STAT_GOOD);
	assert_int_equal(c.srb.xfer_len, 12);

	assert_int_equal(pr_prout(pr, &nx_b, SA_REGISTER, 0, 0x5555, 0), SAM_STAT_GOOD);
	assert_false(vs_vdisk_pr_in_use(pr));
	vs_vdisk_pr_destroy(pr);
}

struct access_case {
	int type;
	bool reg_read, reg_write, unreg_read, unreg_write;
};

/* SPC-4 5.13.1 / libiscsi ProutReserve.Access*: a second initiator's
 * access while registered, and after unregistering. */
static void test_access_per_type(void **state)
{
	(void)state;
	static const struct access_case cases[] = {
		{ EA,    false, false, false, false },
		{ WE,    true,  false, true,  false },
		{ EA_RO, true,  true,  false, false },
		{ WE_RO, true,  true,  true,  false },
		{ EA_AR, true,  true,  false, false },
		{ WE_AR, true,  true,  true,  false },
	};
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	assert_non_null(pr);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct access_case *k = &cases[i];
		const uint64_t ka = 0xa000 + i, kb = 0xb000 + i;
		assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER_IGNORE, 0, 0, ka), SAM_STAT_GOOD);
		assert_int_equal(pr_prout(pr, &nx_b, SA_REGISTER_IGNORE, 0, 0, kb), SAM_STAT_GOOD);
		assert_int_equal(pr_prout(pr, &nx_a, SA_RESERVE, k->type, ka, 0), SAM_STAT_GOOD);

		struct pr_cmd c;
		assert_int_equal(pr_prin(pr, &nx_b, 1, 100, &c), SAM_STAT_GOOD);
		assert_int_equal(pr_get32(c.buf + 4), 16);
		bool ar = k->type == WE_AR || k->type == EA_AR;
		assert_true(pr_get64(c.buf + 8) == (ar ? 0 : ka));
		assert_int_equal(c.buf[21], k->type);

		/* the holder can do anything */
		assert_int_equal(pr_send(pr, &nx_a, READ_10, 0), SAM_STAT_GOOD);
		assert_int_equal(pr_send(pr, &nx_a, WRITE_10, 0), SAM_STAT_GOOD);
		/* commands every type allows */
		assert_int_equal(pr_send(pr, &nx_c, INQUIRY, 0), SAM_STAT_GOOD);
		assert_int_equal(pr_send(pr, &nx_c, TEST_UNIT_READY, 0), SAM_STAT_GOOD);
		assert_int_equal(pr_send(pr, &nx_c, READ_CAPACITY_10, 0), SAM_STAT_GOOD);
		assert_int_equal(pr_send(pr, &nx_c, REPORT_LUNS, 0), SAM_STAT_GOOD);
		assert_int_equal(pr_send(pr, &nx_c, REQUEST_SENSE, 0), SAM_STAT_GOOD);
		assert_int_equal(pr_send(pr, &nx_c, START_STOP_UNIT, 0), SAM_STAT_GOOD);
		/* RESERVE(6) conflicts with any registration (SPC-4 5.13.3) */
		assert_int_equal(pr_send(pr, &nx_a, RESERVE_6, 0), SAM_STAT_RESERVATION_CONFLICT);

#define EXPECT(ok) ((ok) ? SAM_STAT_GOOD : SAM_STAT_RESERVATION_CONFLICT)
		assert_int_equal(pr_send(pr, &nx_b, READ_10, 0), EXPECT(k->reg_read));
		assert_int_equal(pr_send(pr, &nx_b, WRITE_10, 0), EXPECT(k->reg_write));
		assert_int_equal(pr_send(pr, &nx_b, SYNCHRONIZE_CACHE_10, 0), EXPECT(k->reg_write));
		assert_int_equal(pr_prout(pr, &nx_b, SA_REGISTER, 0, kb, 0), SAM_STAT_GOOD);
		assert_int_equal(pr_send(pr, &nx_b, READ_10, 0), EXPECT(k->unreg_read));
		assert_int_equal(pr_send(pr, &nx_b, READ_16, 0), EXPECT(k->unreg_read));
		assert_int_equal(pr_send(pr, &nx_b, WRITE_10, 0), EXPECT(k->unreg_write));
		assert_int_equal(pr_send(pr, &nx_b, MODE_SELECT_6, 0), EXPECT(k->unreg_write));
#undef EXPECT
		assert_int_equal(pr_prout(pr, &nx_a, SA_RELEASE, k->type, ka, 0), SAM_STAT_GOOD);
		assert_int_equal(pr_send(pr, &nx_b, WRITE_10, 0), SAM_STAT_GOOD);
		assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, ka, 0), SAM_STAT_GOOD);
		assert_false(vs_vdisk_pr_in_use(pr));
	}
	vs_vdisk_pr_destroy(pr);
}

/* libiscsi ProutReserve.Ownership*: the holder unregistering releases all
 * but an all-registrants reservation, which the others keep. */
static void test_ownership(void **state)
{
	(void)state;
	static const int types[] = { EA, WE, EA_RO, WE_RO, EA_AR, WE_AR };
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	for (size_t i = 0; i < 6; i++) {
		int t = types[i];
		bool ar = t == EA_AR || t == WE_AR;
		assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER_IGNORE, 0, 0, 0xa1), SAM_STAT_GOOD);
		assert_int_equal(pr_prout(pr, &nx_b, SA_REGISTER_IGNORE, 0, 0, 0xb1), SAM_STAT_GOOD);
		assert_int_equal(pr_prout(pr, &nx_a, SA_RESERVE, t, 0xa1, 0), SAM_STAT_GOOD);
		assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0xa1, 0), SAM_STAT_GOOD);
		struct pr_cmd c;
		assert_int_equal(pr_prin(pr, &nx_a, 1, 100, &c), SAM_STAT_GOOD);
		assert_int_equal(pr_get32(c.buf + 4), ar ? 16 : 0);
		if (ar) {
			assert_int_equal(c.buf[21], t);
			/* B, still registered, is a holder: it can release */
			assert_int_equal(pr_prout(pr, &nx_b, SA_RELEASE, t, 0xb1, 0), SAM_STAT_GOOD);
			assert_int_equal(pr_prin(pr, &nx_a, 1, 100, &c), SAM_STAT_GOOD);
			assert_int_equal(pr_get32(c.buf + 4), 0);
		}
		assert_int_equal(pr_prout(pr, &nx_b, SA_REGISTER, 0, 0xb1, 0), SAM_STAT_GOOD);
	}
	/* the last registrant leaving ends an all-registrants reservation */
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER_IGNORE, 0, 0, 0xa1), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_a, SA_RESERVE, WE_AR, 0xa1, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0xa1, 0), SAM_STAT_GOOD);
	assert_false(vs_vdisk_pr_in_use(pr));
	assert_int_equal(pr_send(pr, &nx_b, WRITE_10, 0), SAM_STAT_GOOD);
	vs_vdisk_pr_destroy(pr);
}

static void test_reserve_release_rules(void **state)
{
	(void)state;
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	struct pr_cmd c;

	/* unregistered nexus cannot reserve */
	assert_int_equal(pr_prout(pr, &nx_a, SA_RESERVE, WE, 0, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0, 0xaa), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_b, SA_REGISTER, 0, 0, 0xbb), SAM_STAT_GOOD);
	uint32_t g = generation(pr);
	/* wrong reservation key */
	assert_int_equal(pr_prout(pr, &nx_a, SA_RESERVE, WE, 0xab, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_prout(pr, &nx_a, SA_RESERVE, WE, 0xaa, 0), SAM_STAT_GOOD);
	/* RESERVE and RELEASE do not bump PRgeneration */
	assert_int_equal(generation(pr), g);
	/* the holder repeating it is fine; another type or another nexus is not */
	assert_int_equal(pr_prout(pr, &nx_a, SA_RESERVE, WE, 0xaa, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_a, SA_RESERVE, EA, 0xaa, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_prout(pr, &nx_b, SA_RESERVE, WE, 0xbb, 0), SAM_STAT_RESERVATION_CONFLICT);

	/* invalid TYPE / SCOPE: INVALID FIELD IN CDB, pointing at byte 2 */
	pr_prout_full(pr, &nx_a, SA_RESERVE, 0, 2, 0xaa, 0, 0, 24, &c);
	assert_sense(&c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	assert_int_equal(c.srb.sense[15], 0x80 | 0x40 | 0x08 | 3);
	assert_int_equal(c.srb.sense[17], 2);
	pr_prout_full(pr, &nx_a, SA_RELEASE, 1, WE, 0xaa, 0, 0, 24, &c);
	assert_sense(&c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	assert_int_equal(c.srb.sense[15], 0x80 | 0x40 | 0x08 | 7);

	/* release: non-holder and wrong key */
	assert_int_equal(pr_prout(pr, &nx_b, SA_RELEASE, WE, 0xbb, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &nx_b, WRITE_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_prout(pr, &nx_a, SA_RELEASE, WE, 0xbb, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_prout(pr, &nx_c, SA_RELEASE, WE, 0, 0), SAM_STAT_RESERVATION_CONFLICT);
	/* holder, wrong type: INVALID RELEASE OF PERSISTENT RESERVATION */
	pr_prout_full(pr, &nx_a, SA_RELEASE, 0, EA, 0xaa, 0, 0, 24, &c);
	assert_sense(&c, SENSE_ILLEGAL_REQUEST, 0x2604);
	assert_int_equal(pr_send(pr, &nx_b, WRITE_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_prout(pr, &nx_a, SA_RELEASE, WE, 0xaa, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &nx_b, WRITE_10, 0), SAM_STAT_GOOD);
	/* release without a reservation: GOOD */
	assert_int_equal(pr_prout(pr, &nx_a, SA_RELEASE, WE, 0xaa, 0), SAM_STAT_GOOD);
	assert_int_equal(generation(pr), g);
	vs_vdisk_pr_destroy(pr);
}

static void test_parameter_errors(void **state)
{
	(void)state;
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	struct pr_cmd c;

	/* PARAMETER LIST LENGTH must be 24 */
	pr_prout_full(pr, &nx_a, SA_REGISTER, 0, 0, 0, 0x1, 0, 20, &c);
	assert_sense(&c, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
	pr_prout_full(pr, &nx_a, SA_REGISTER, 0, 0, 0, 0x1, 0, 28, &c);
	assert_sense(&c, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
	pr_prout_full(pr, &nx_a, SA_CLEAR, 0, 0, 0, 0, 0, 0, &c);
	assert_sense(&c, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
	/* less data-out than the CDB announces */
	pr_prout_full(pr, &nx_a, SA_REGISTER, 0, 0, 0, 0x1, 0, 24, &c);
	assert_int_equal(c.srb.scsi_status, SAM_STAT_GOOD);
	{
		uint8_t cdb[10] = { PERSISTENT_RESERVE_OUT, SA_REGISTER, 0, 0, 0, 0, 0, 0, 24 };
		pr_cmd_init(&c, &nx_b, cdb, 10, 16);
		pr_run(pr, &c);
		assert_sense(&c, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
	}
	/* SPEC_I_PT unsupported: INVALID FIELD IN PARAMETER LIST byte 20 bit 3 */
	pr_prout_full(pr, &nx_b, SA_REGISTER, 0, 0, 0, 0x2, 0x08, 24, &c);
	assert_sense(&c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_int_equal(c.srb.sense[15], 0x80 | 0x08 | 3);
	assert_int_equal(c.srb.sense[17], 20);
	/* APTPL without a state file */
	pr_prout_full(pr, &nx_b, SA_REGISTER, 0, 0, 0, 0x2, 0x01, 24, &c);
	assert_sense(&c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_int_equal(c.srb.sense[15], 0x80 | 0x08 | 0);
	/* PR OUT service action 8.. and PR IN service action 4..0x1f */
	pr_prout_full(pr, &nx_a, 8, 0, 0, 1, 0, 0, 24, &c);
	assert_sense(&c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	for (int sa = 0; sa < 0x20; sa++) {
		pr_prin(pr, &nx_a, sa, 1024, &c);
		if (sa < 4) {
			assert_int_equal(c.srb.scsi_status, SAM_STAT_GOOD);
		} else {
			assert_sense(&c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
			assert_int_equal(c.srb.sense[17], 1);
		}
	}
	/* registration table full: INSUFFICIENT REGISTRATION RESOURCES */
	struct vs_nexus many;
	int ok = 0;
	for (int i = 0; i < 200; i++) {
		char isid[16];
		snprintf(isid, sizeof(isid), "%x", 0x100 + i);
		pr_mk_nexus(&many, "iqn.2024-01.test:many", isid, 100 + (uint32_t)i);
		pr_prout_full(pr, &many, SA_REGISTER, 0, 0, 0, 0x100 + (uint64_t)i, 0, 24, &c);
		if (c.srb.scsi_status != SAM_STAT_GOOD)
			break;
		ok++;
	}
	assert_true(ok > 8 && ok < 200);
	assert_sense(&c, SENSE_ILLEGAL_REQUEST, ASC_INSUFFICIENT_REGISTRATION_RESOURCES);
	vs_vdisk_pr_destroy(pr);
}

static void test_clear(void **state)
{
	(void)state;
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0, 0xaa), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_b, SA_REGISTER, 0, 0, 0xbb), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_a, SA_RESERVE, EA, 0xaa, 0), SAM_STAT_GOOD);
	uint32_t g = generation(pr);
	/* unregistered / wrong key cannot clear */
	assert_int_equal(pr_prout(pr, &nx_c, SA_CLEAR, 0, 0, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_prout(pr, &nx_b, SA_CLEAR, 0, 0xaa, 0), SAM_STAT_RESERVATION_CONFLICT);
	/* any registrant can clear, not only the holder */
	assert_int_equal(pr_prout(pr, &nx_b, SA_CLEAR, 0, 0xbb, 0), SAM_STAT_GOOD);
	struct pr_cmd c;
	assert_int_equal(pr_prin(pr, &nx_a, 0, 100, &c), SAM_STAT_GOOD);
	assert_int_equal(pr_get32(c.buf), g + 1);
	assert_int_equal(pr_get32(c.buf + 4), 0);
	assert_int_equal(pr_prin(pr, &nx_a, 1, 100, &c), SAM_STAT_GOOD);
	assert_int_equal(pr_get32(c.buf + 4), 0);
	assert_false(vs_vdisk_pr_in_use(pr));
	vs_vdisk_pr_destroy(pr);
}

static void test_preempt(void **state)
{
	(void)state;
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	struct pr_cmd c;

	/* no reservation: PREEMPT removes the registrations with SARK */
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0, 0xaa), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_b, SA_REGISTER, 0, 0, 0xbb), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_c, SA_REGISTER, 0, 0, 0xaa), SAM_STAT_GOOD);
	uint32_t g = generation(pr);
	/* SARK 0 without a reservation, and a SARK nobody holds */
	pr_prout_full(pr, &nx_b, SA_PREEMPT, 0, EA, 0xbb, 0, 0, 24, &c);
	assert_sense(&c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_int_equal(pr_prout(pr, &nx_b, SA_PREEMPT, EA, 0xbb, 0xcc), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_prout(pr, &nx_b, SA_PREEMPT, EA, 0xba, 0xaa), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(generation(pr), g);
	assert_int_equal(pr_prout(pr, &nx_b, SA_PREEMPT, EA, 0xbb, 0xaa), SAM_STAT_GOOD);
	assert_int_equal(pr_prin(pr, &nx_a, 0, 100, &c), SAM_STAT_GOOD);
	assert_int_equal(pr_get32(c.buf), g + 1);
	assert_int_equal(pr_get32(c.buf + 4), 8);
	assert_true(pr_get64(c.buf + 8) == 0xbb);
	assert_int_equal(pr_prin(pr, &nx_a, 1, 100, &c), SAM_STAT_GOOD);
	assert_int_equal(pr_get32(c.buf + 4), 0);

	/* preempting the holder moves the reservation, with the new type */
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0, 0xaa), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_a, SA_RESERVE, EA, 0xaa, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &nx_b, READ_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_prout(pr, &nx_b, SA_PREEMPT_ABORT, WE, 0xbb, 0xaa), SAM_STAT_GOOD);
	assert_int_equal(pr_prin(pr, &nx_a, 1, 100, &c), SAM_STAT_GOOD);
	assert_true(pr_get64(c.buf + 8) == 0xbb);
	assert_int_equal(c.buf[21], WE);
	assert_int_equal(pr_send(pr, &nx_b, WRITE_10, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &nx_a, WRITE_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_send(pr, &nx_a, READ_10, 0), SAM_STAT_GOOD);
	/* A lost its registration */
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0xaa, 0x1), SAM_STAT_RESERVATION_CONFLICT);

	/* all-registrants: SARK 0 takes over and removes everybody else */
	assert_int_equal(pr_prout(pr, &nx_b, SA_RELEASE, WE, 0xbb, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0, 0xaa), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_b, SA_RESERVE, EA_AR, 0xbb, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_a, SA_PREEMPT, EA, 0xaa, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_prin(pr, &nx_a, 1, 100, &c), SAM_STAT_GOOD);
	assert_true(pr_get64(c.buf + 8) == 0xaa);
	assert_int_equal(c.buf[21], EA);
	assert_int_equal(pr_prin(pr, &nx_a, 0, 100, &c), SAM_STAT_GOOD);
	assert_int_equal(pr_get32(c.buf + 4), 8);
	assert_true(pr_get64(c.buf + 8) == 0xaa);
	assert_int_equal(pr_send(pr, &nx_b, READ_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	vs_vdisk_pr_destroy(pr);
}

static void test_read_full_status_and_caps(void **state)
{
	(void)state;
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	struct pr_cmd c;
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0, 0xaa), SAM_STAT_GOOD);
	pr_prout_full(pr, &nx_b, SA_REGISTER, 0, 0, 0, 0xbb, 0x04 /* ALL_TG_PT */, 24, &c);
	assert_int_equal(c.srb.scsi_status, SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_a, SA_RESERVE, WE_RO, 0xaa, 0), SAM_STAT_GOOD);

	assert_int_equal(pr_prin(pr, &nx_c, 3, 4096, &c), SAM_STAT_GOOD);
	uint32_t add = pr_get32(c.buf + 4);
	assert_int_equal(add, 24 + nx_a.transport_id_len + 24 + nx_b.transport_id_len);
	assert_int_equal(c.srb.xfer_len, 8 + add);
	const uint8_t *d = c.buf + 8;
	assert_true(pr_get64(d) == 0xaa);
	assert_int_equal(d[12], 0x01);                 /* R_HOLDER */
	assert_int_equal(d[13], WE_RO);
	assert_int_equal(d[18] << 8 | d[19], 1);       /* relative target port */
	assert_int_equal(pr_get32(d + 20), nx_a.transport_id_len);
	assert_memory_equal(d + 24, nx_a.transport_id, nx_a.transport_id_len);
	d += 24 + nx_a.transport_id_len;
	assert_true(pr_get64(d) == 0xbb);
	assert_int_equal(d[12], 0x02);                 /* ALL_TG_PT, not holder */
	assert_int_equal(d[13], 0);
	assert_int_equal(d[18] << 8 | d[19], 0);
	assert_memory_equal(d + 24, nx_b.transport_id, nx_b.transport_id_len);
	/* truncated to the allocation length */
	assert_int_equal(pr_prin(pr, &nx_c, 3, 30, &c), SAM_STAT_GOOD);
	assert_int_equal(c.srb.xfer_len, 30);
	assert_int_equal(pr_get32(c.buf + 4), add);

	/* REPORT CAPABILITIES: CRH, ATP_C, no SIP_C, no PTPL_C without a
	 * state file; TMV + ALLOW COMMANDS 3; all six types */
	assert_int_equal(pr_prin(pr, &nx_c, 2, 4096, &c), SAM_STAT_GOOD);
	assert_int_equal(c.srb.xfer_len, 8);
	assert_int_equal(c.buf[0] << 8 | c.buf[1], 8);
	assert_int_equal(c.buf[2], 0x14);
	assert_int_equal(c.buf[3], 0xb0);
	assert_int_equal(c.buf[4], 0xea);
	assert_int_equal(c.buf[5], 0x01);
	vs_vdisk_pr_destroy(pr);
}

static void test_register_and_move(void **state)
{
	(void)state;
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	struct pr_cmd c;
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0, 0xaa), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_c, SA_REGISTER, 0, 0, 0xcc), SAM_STAT_GOOD);

	/* build REGISTER AND MOVE to B's TransportID */
	uint32_t tl = nx_b.transport_id_len, plen = 24 + tl;
	uint8_t cdb[10] = { PERSISTENT_RESERVE_OUT, SA_REGISTER_MOVE, WE };
	cdb[8] = (uint8_t)plen;
#define RAM(nx, rk, sark, unreg)                                                   \
	do {                                                                       \
		pr_cmd_init(&c, (nx), cdb, 10, plen);                                  \
		pr_put64(c.buf, (rk));                                                \
		pr_put64(c.buf + 8, (sark));                                          \
		c.buf[17] = (unreg) ? 0x02 : 0;                                     \
		c.buf[19] = 1;                                                     \
		c.buf[23] = (uint8_t)tl;                                           \
		memcpy(c.buf + 24, nx_b.transport_id, tl);                         \
		pr_run(pr, &c);                                                       \
	} while (0)

	/* no reservation: conflict */
	RAM(&nx_a, 0xaa, 0xb0, true);
	assert_int_equal(c.srb.scsi_status, SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_prout(pr, &nx_a, SA_RESERVE, EA, 0xaa, 0), SAM_STAT_GOOD);
	/* only the holder may move it */
	RAM(&nx_c, 0xcc, 0xb0, true);
	assert_int_equal(c.srb.scsi_status, SAM_STAT_RESERVATION_CONFLICT);
	/* SARK 0 is invalid */
	RAM(&nx_a, 0xaa, 0, true);
	assert_sense(&c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	uint32_t g = generation(pr);
	RAM(&nx_a, 0xaa, 0xb0, true);
	assert_int_equal(c.srb.scsi_status, SAM_STAT_GOOD);
#undef RAM
	assert_int_equal(generation(pr), g + 1);
	/* B (never registered itself) now holds EA with key 0xb0; A is gone */
	assert_int_equal(pr_prin(pr, &nx_c, 1, 100, &c), SAM_STAT_GOOD);
	assert_true(pr_get64(c.buf + 8) == 0xb0);
	assert_int_equal(c.buf[21], EA);
	assert_int_equal(pr_send(pr, &nx_b, WRITE_10, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &nx_a, READ_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_prin(pr, &nx_c, 0, 100, &c), SAM_STAT_GOOD);
	assert_int_equal(pr_get32(c.buf + 4), 16);
	assert_int_equal(pr_prout(pr, &nx_b, SA_RELEASE, EA, 0xb0, 0), SAM_STAT_GOOD);
	vs_vdisk_pr_destroy(pr);
}

static void test_spc2_reserve_release(void **state)
{
	(void)state;
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	struct pr_cmd c;

	assert_int_equal(pr_send(pr, &nx_a, RESERVE_6, 0), SAM_STAT_GOOD);
	assert_true(vs_vdisk_pr_in_use(pr));
	assert_int_equal(pr_send(pr, &nx_a, RESERVE_6, 0), SAM_STAT_GOOD);    /* again: fine */
	assert_int_equal(pr_send(pr, &nx_b, RESERVE_6, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_send(pr, &nx_b, RESERVE_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_send(pr, &nx_b, RELEASE_6, 0), SAM_STAT_GOOD);    /* no-op */
	assert_int_equal(pr_send(pr, &nx_b, MODE_SENSE_6, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_send(pr, &nx_b, READ_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_send(pr, &nx_b, TEST_UNIT_READY, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_send(pr, &nx_b, INQUIRY, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &nx_b, REQUEST_SENSE, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &nx_b, REPORT_LUNS, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &nx_a, MODE_SENSE_6, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &nx_a, WRITE_10, 0), SAM_STAT_GOOD);
	/* SPC-4 5.13.3: PR IN / PR OUT conflict while a RESERVE is held,
	 * even from the holder */
	assert_int_equal(pr_prin(pr, &nx_a, 0, 100, &c), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0, 0xaa), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_prout(pr, &nx_b, SA_REGISTER, 0, 0, 0xbb), SAM_STAT_RESERVATION_CONFLICT);

	assert_int_equal(pr_send(pr, &nx_a, RELEASE_10, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &nx_b, RESERVE_10, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &nx_a, WRITE_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	/* a LU reset drops it */
	vs_vdisk_pr_reset(pr);
	assert_false(vs_vdisk_pr_in_use(pr));
	assert_int_equal(pr_send(pr, &nx_a, WRITE_10, 0), SAM_STAT_GOOD);
	/* so does the holder's I_T nexus loss */
	assert_int_equal(pr_send(pr, &nx_a, RESERVE_6, 0), SAM_STAT_GOOD);
	vs_vdisk_pr_nexus_loss(pr, &nx_b);
	assert_int_equal(pr_send(pr, &nx_b, WRITE_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	vs_vdisk_pr_nexus_loss(pr, &nx_a);
	assert_int_equal(pr_send(pr, &nx_b, WRITE_10, 0), SAM_STAT_GOOD);

	/* third-party reservations are not supported */
	{
		uint8_t cdb[10] = { RESERVE_10, 0x10 };
		pr_cmd_init(&c, &nx_a, cdb, 10, 0);
		pr_run(pr, &c);
		assert_sense(&c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
		assert_int_equal(c.srb.sense[15], 0x80 | 0x40 | 0x08 | 4);
	}

	/* SPC-4 5.13.3: with any registration, RESERVE and RELEASE conflict */
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0, 0xaa), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &nx_a, RESERVE_6, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_send(pr, &nx_b, RESERVE_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_send(pr, &nx_b, RELEASE_6, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_prout(pr, &nx_a, SA_REGISTER, 0, 0xaa, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &nx_b, RESERVE_6, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &nx_b, RELEASE_6, 0), SAM_STAT_GOOD);
	assert_false(vs_vdisk_pr_in_use(pr));
	vs_vdisk_pr_destroy(pr);
}

static void test_aptpl_persistence(void **state)
{
	(void)state;
	char dir[] = "/tmp/vstor-test-pr-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/lun0.pr", dir);

	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, path);
	assert_non_null(pr);
	struct pr_cmd c;
	/* PTPL_C set once there is a state file; PTPL_A clear */
	assert_int_equal(pr_prin(pr, &nx_a, 2, 8, &c), SAM_STAT_GOOD);
	assert_int_equal(c.buf[2], 0x15);
	assert_int_equal(c.buf[3] & 0x01, 0);

	pr_prout_full(pr, &nx_a, SA_REGISTER, 0, 0, 0, 0xaa, 0x01, 24, &c);   /* APTPL */
	assert_int_equal(c.srb.scsi_status, SAM_STAT_GOOD);
	pr_prout_full(pr, &nx_b, SA_REGISTER, 0, 0, 0, 0xbb, 0x05, 24, &c);   /* APTPL+ALL_TG_PT */
	assert_int_equal(c.srb.scsi_status, SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &nx_b, SA_RESERVE, WE_RO, 0xbb, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_prin(pr, &nx_a, 2, 8, &c), SAM_STAT_GOOD);
	assert_int_equal(c.buf[3] & 0x01, 1);                               /* PTPL_A */
	uint8_t before[4096];
	assert_int_equal(pr_prin(pr, &nx_a, 3, sizeof(before), &c), SAM_STAT_GOOD);
	uint32_t before_len = c.srb.xfer_len;
	memcpy(before, c.buf, before_len);
	vs_vdisk_pr_destroy(pr);
	assert_int_equal(access(path, F_OK), 0);
	char tmp[300];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1);

	/* "power cycle": the same registrations, reservation and generation */
	pr = vs_vdisk_pr_create(NULL, path);
	assert_non_null(pr);
	assert_true(vs_vdisk_pr_in_use(pr));
	assert_int_equal(pr_prin(pr, &nx_a, 3, sizeof(before), &c), SAM_STAT_GOOD);
	assert_int_equal(c.srb.xfer_len, before_len);
	assert_memory_equal(c.buf, before, before_len);
	assert_int_equal(pr_send(pr, &nx_c, WRITE_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_send(pr, &nx_a, WRITE_10, 0), SAM_STAT_GOOD);
	/* the holder (registered for all target ports) still owns it */
	assert_int_equal(pr_prout(pr, &nx_b, SA_RELEASE, WE_RO, 0xbb, 0), SAM_STAT_GOOD);

	/* a REGISTER with APTPL=0 turns persistence off for everybody */
	assert_int_equal(pr_prout(pr, &nx_c, SA_REGISTER, 0, 0, 0xcc), SAM_STAT_GOOD);
	vs_vdisk_pr_destroy(pr);
	pr = vs_vdisk_pr_create(NULL, path);
	assert_non_null(pr);
	assert_false(vs_vdisk_pr_in_use(pr));
	vs_vdisk_pr_destroy(pr);

	/* a damaged file is refused with a message, not silently dropped */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("vstor-pr-state 1\naptpl 1\ngeneration 3\nreservation 9 0 1\n", f);
	fclose(f);
	assert_null(vs_vdisk_pr_create(NULL, path));
	assert_non_null(strstr(vs_last_error(), "pr_state_path"));

	unlink(path);
	rmdir(dir);
}

/* A state file that cannot be written fails the command with HARDWARE
 * ERROR / INTERNAL TARGET FAILURE and leaves the old state in force. */
static void test_aptpl_write_failure(void **state)
{
	(void)state;
	char dir[] = "/tmp/vstor-test-pr-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/lun0.pr", dir);
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, path);
	assert_non_null(pr);
	struct pr_cmd c;
	pr_prout_full(pr, &nx_a, SA_REGISTER, 0, 0, 0, 0xaa, 0x01, 24, &c);
	assert_int_equal(c.srb.scsi_status, SAM_STAT_GOOD);
	uint32_t g = generation(pr);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);

	pr_prout_full(pr, &nx_b, SA_REGISTER, 0, 0, 0, 0xbb, 0x01, 24, &c);
	assert_sense(&c, SENSE_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE);
	assert_int_equal(pr_prout(pr, &nx_a, SA_RESERVE, EA, 0xaa, 0), SAM_STAT_CHECK_CONDITION);
	assert_int_equal(pr_prin(pr, &nx_a, 0, 100, &c), SAM_STAT_GOOD);
	assert_int_equal(pr_get32(c.buf), g);
	assert_int_equal(pr_get32(c.buf + 4), 8);
	assert_true(pr_get64(c.buf + 8) == 0xaa);
	assert_int_equal(pr_prin(pr, &nx_a, 1, 100, &c), SAM_STAT_GOOD);
	assert_int_equal(pr_get32(c.buf + 4), 0);
	assert_int_equal(pr_send(pr, &nx_b, WRITE_10, 0), SAM_STAT_GOOD);
	vs_vdisk_pr_destroy(pr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_register_and_read_keys, setup),
		cmocka_unit_test_setup(test_access_per_type, setup),
		cmocka_unit_test_setup(test_ownership, setup),
		cmocka_unit_test_setup(test_reserve_release_rules, setup),
		cmocka_unit_test_setup(test_parameter_errors, setup),
		cmocka_unit_test_setup(test_clear, setup),
		cmocka_unit_test_setup(test_preempt, setup),
		cmocka_unit_test_setup(test_read_full_status_and_caps, setup),
		cmocka_unit_test_setup(test_register_and_move, setup),
		cmocka_unit_test_setup(test_spc2_reserve_release, setup),
		cmocka_unit_test_setup(test_aptpl_persistence, setup),
		cmocka_unit_test_setup(test_aptpl_write_failure, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
