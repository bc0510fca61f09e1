/* SPDX-License-Identifier: MIT */
/*
 * Persistent reservations through a real port: unit attentions
 * (REGISTRATIONS PREEMPTED, RESERVATIONS PREEMPTED, RESERVATIONS RELEASED)
 * reach the right I_T nexus, RESERVE(6) dies with its nexus and with a LU
 * reset.  The miniport here is a minimal one around src/vdisk/pr.h so the
 * test does not depend on the rest of vdisk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "test_fabric.h"
#include "vdisk/pr.h"
#include "vstor/miniport.h"
#include "vstor/scsi.h"

/* ---------------- a miniport that only knows reservations ---------------- */

struct prmp_lun {
	struct vdisk_pr *pr;
};

static int prmp_find_adapter(void *ext, struct vs_port *port, const void *cfg,
                             struct vs_adapter_caps *caps)
{
	(void)ext; (void)port; (void)cfg;
	caps->max_luns = 4;
	caps->default_queue_depth = 16;
	return 0;
}

/* The adapter extension remembers its only LUN, for nexus_lost. */
static int prmp_lun_attach(void *ext, struct vs_port_lun *lun, void *lun_ext, const void *cfg)
{
	(void)cfg;
	struct prmp_lun *l = lun_ext;
	l->pr = vs_vdisk_pr_create(lun, NULL);
	*(struct prmp_lun **)ext = l;
	return l->pr ? 0 : -1;
}

static void prmp_lun_detach(void *ext, void *lun_ext)
{
	*(struct prmp_lun **)ext = NULL;
	vs_vdisk_pr_destroy(((struct prmp_lun *)lun_ext)->pr);
}

static void prmp_nexus_lost(void *ext, const struct vs_nexus *nexus)
{
	struct prmp_lun *l = *(struct prmp_lun **)ext;
	if (l)
		vs_vdisk_pr_nexus_loss(l->pr, nexus);
}

static int prmp_lun_control(void *ext, void *lun_ext, enum vs_lun_control_type t, void *arg)
{
	(void)ext;
	if (t != VS_LUN_IN_USE)
		return -95;
	*(bool *)arg = vs_vdisk_pr_in_use(((struct prmp_lun *)lun_ext)->pr);
	return 0;
}

static void prmp_start_io(void *ext, void *lun_ext, struct vs_srb *srb)
{
	(void)ext;
	struct vdisk_pr *pr = ((struct prmp_lun *)lun_ext)->pr;
	if (!vs_vdisk_pr_conflict(pr, srb)) {
		switch (srb->cdb[0]) {
		case PERSISTENT_RESERVE_IN:
			vs_vdisk_pr_in(pr, srb);
			break;
		case PERSISTENT_RESERVE_OUT:
			/* no state file: never blocks, fine inline here */
			vs_vdisk_pr_out(pr, srb);
			break;
		case RESERVE_6:
		case RESERVE_10:
			vs_vdisk_pr_reserve(pr, srb);
			break;
		case RELEASE_6:
		case RELEASE_10:
			vs_vdisk_pr_release(pr, srb);
			break;
		default:
			vs_srb_set_good(srb);
			break;
		}
	}
	vs_port_complete(srb);
}

static int prmp_reset(void *ext, void *lun_ext, enum vs_reset_kind kind)
{
	(void)ext; (void)kind;
	if (lun_ext)
		vs_vdisk_pr_reset(((struct prmp_lun *)lun_ext)->pr);
	return 0;
}

static const struct vs_miniport prmp = {
	.name = "pr-test",
	.api_version = VS_MINIPORT_API_VERSION,
	.struct_size = sizeof(struct vs_miniport),
	.adapter_extension_size = sizeof(struct prmp_lun *),
	.lun_extension_size = sizeof(struct prmp_lun),
	.find_adapter = prmp_find_adapter,
	.lun_attach = prmp_lun_attach,
	.lun_detach = prmp_lun_detach,
	.lun_control = prmp_lun_control,
	.start_io = prmp_start_io,
	.reset = prmp_reset,
	.nexus_lost = prmp_nexus_lost,
};

/* ---------------- helpers ---------------- */

enum { WE = 1, EA = 3, WE_RO = 5 };
enum { SA_REGISTER = 0, SA_RESERVE, SA_RELEASE, SA_CLEAR, SA_PREEMPT };

static struct tf *tf;

static int setup(void **state)
{
	(void)state;
	tf = tf_create(&prmp, NULL, NULL);
	assert_non_null(tf);
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tf_destroy(tf);
	return 0;
}

static struct vs_nexus *login(const char *name)
{
	struct vs_nexus *n = tf_nexus(tf, name);
	assert_non_null(n);
	assert_int_equal(tf_clear_ua(tf, n, 0), 0);
	return n;
}

static void prout(struct vs_nexus *n, int sa, int type, uint64_t rk, uint64_t sark,
                  struct tf_result *r)
{
	uint8_t cdb[10] = { PERSISTENT_RESERVE_OUT, (uint8_t)sa, (uint8_t)type, 0, 0, 0, 0, 0, 24 };
	uint8_t p[24] = { 0 };
	for (int i = 0; i < 8; i++) {
		p[i] = (uint8_t)(rk >> (56 - 8 * i));
		p[8 + i] = (uint8_t)(sark >> (56 - 8 * i));
	}
	assert_int_equal(tf_exec(tf, n, 0, cdb, 10, VS_DIR_TO_DEVICE, p, 24, r), 0);
}

static uint8_t prout_status(struct vs_nexus *n, int sa, int type, uint64_t rk, uint64_t sark)
{
	struct tf_result r;
	prout(n, sa, type, rk, sark, &r);
	return r.status;
}

static void cmd(struct vs_nexus *n, uint8_t op, struct tf_result *r)
{
	uint8_t cdb[10] = { op };
	assert_int_equal(tf_exec(tf, n, 0, cdb, op >= 0x20 ? 10 : 6, VS_DIR_NONE, NULL, 0, r), 0);
}

static uint8_t cmd_status(struct vs_nexus *n, uint8_t op)
{
	struct tf_result r;
	cmd(n, op, &r);
	return r.status;
}

/* The next command of n reports exactly this unit attention, then none. */
static void expect_ua(struct vs_nexus *n, uint16_t asc_ascq)
{
	struct tf_result r;
	cmd(n, TEST_UNIT_READY, &r);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);
	assert_int_equal(r.asc, asc_ascq >> 8);
	assert_int_equal(r.ascq, asc_ascq & 0xff);
	cmd(n, TEST_UNIT_READY, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
}

static void expect_no_ua(struct vs_nexus *n)
{
	assert_int_equal(cmd_status(n, TEST_UNIT_READY), SAM_STAT_GOOD);
}

/* ---------------- tests ---------------- */

static void test_preempt_raises_registrations_preempted(void **state)
{
	(void)state;
	struct vs_nexus *a = login("iqn.2024-01.test:a,i,0x000000000001");
	struct vs_nexus *b = login("iqn.2024-01.test:b,i,0x000000000002");
	assert_int_equal(prout_status(a, SA_REGISTER, 0, 0, 0xaa), SAM_STAT_GOOD);
	assert_int_equal(prout_status(b, SA_REGISTER, 0, 0, 0xbb), SAM_STAT_GOOD);
	expect_no_ua(a);
	assert_int_equal(prout_status(b, SA_PREEMPT, EA, 0xbb, 0xaa), SAM_STAT_GOOD);
	expect_ua(a, ASC_REGISTRATIONS_PREEMPTED);
	expect_no_ua(b);
	/* the port now refuses removal while a registration exists */
	assert_int_equal(vs_port_lun_remove(tf_port(tf), 0, false), -16 /* -EBUSY */);
	assert_int_equal(prout_status(b, SA_REGISTER, 0, 0xbb, 0), SAM_STAT_GOOD);
}

static void test_clear_raises_reservations_preempted(void **state)
{
	(void)state;
	struct vs_nexus *a = login("iqn.2024-01.test:a,i,0x000000000001");
	struct vs_nexus *b = login("iqn.2024-01.test:b,i,0x000000000002");
	struct vs_nexus *c = login("iqn.2024-01.test:c,i,0x000000000003");
	assert_int_equal(prout_status(a, SA_REGISTER, 0, 0, 0xaa), SAM_STAT_GOOD);
	assert_int_equal(prout_status(b, SA_REGISTER, 0, 0, 0xbb), SAM_STAT_GOOD);
	assert_int_equal(prout_status(a, SA_RESERVE, EA, 0xaa, 0), SAM_STAT_GOOD);
	assert_int_equal(cmd_status(c, READ_10), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(prout_status(b, SA_CLEAR, 0, 0xbb, 0), SAM_STAT_GOOD);
	expect_ua(a, ASC_RESERVATIONS_PREEMPTED);
	expect_no_ua(b);       /* the clearer */
	expect_no_ua(c);       /* never registered */
	assert_int_equal(cmd_status(c, WRITE_10), SAM_STAT_GOOD);
}

static void test_release_registrants_only_raises_released(void **state)
{
	(void)state;
	struct vs_nexus *a = login("iqn.2024-01.test:a,i,0x000000000001");
	struct vs_nexus *b = login("iqn.2024-01.test:b,i,0x000000000002");
	assert_int_equal(prout_status(a, SA_REGISTER, 0, 0, 0xaa), SAM_STAT_GOOD);
	assert_int_equal(prout_status(b, SA_REGISTER, 0, 0, 0xbb), SAM_STAT_GOOD);
	/* WRITE EXCLUSIVE: releasing tells nobody */
	assert_int_equal(prout_status(a, SA_RESERVE, WE, 0xaa, 0), SAM_STAT_GOOD);
	assert_int_equal(prout_status(a, SA_RELEASE, WE, 0xaa, 0), SAM_STAT_GOOD);
	expect_no_ua(b);
	/* WE REGISTRANTS ONLY: the other registrants hear RESERVATIONS RELEASED */
	assert_int_equal(prout_status(a, SA_RESERVE, WE_RO, 0xaa, 0), SAM_STAT_GOOD);
	assert_int_equal(prout_status(a, SA_RELEASE, WE_RO, 0xaa, 0), SAM_STAT_GOOD);
	expect_ua(b, ASC_RESERVATIONS_RELEASED);
	expect_no_ua(a);
	/* ... as when the holder unregisters */
	assert_int_equal(prout_status(a, SA_RESERVE, WE_RO, 0xaa, 0), SAM_STAT_GOOD);
	assert_int_equal(prout_status(a, SA_REGISTER, 0, 0xaa, 0), SAM_STAT_GOOD);
	expect_ua(b, ASC_RESERVATIONS_RELEASED);
	assert_int_equal(prout_status(b, SA_REGISTER, 0, 0xbb, 0), SAM_STAT_GOOD);
}

/* A registration outlives its nexus and is found again by name. */
static void test_registration_survives_relogin(void **state)
{
	(void)state;
	struct vs_nexus *a = login("iqn.2024-01.test:a,i,0x000000000001");
	struct vs_nexus *b = login("iqn.2024-01.test:b,i,0x000000000002");
	assert_int_equal(prout_status(a, SA_REGISTER, 0, 0, 0xaa), SAM_STAT_GOOD);
	assert_int_equal(prout_status(a, SA_RESERVE, EA, 0xaa, 0), SAM_STAT_GOOD);
	vs_port_nexus_close(tf_port(tf), a);
	/* another initiator may now get a's nexus id: no access for it */
	struct vs_nexus *c = login("iqn.2024-01.test:c,i,0x000000000003");
	assert_int_equal(cmd_status(c, READ_10), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(cmd_status(b, READ_10), SAM_STAT_RESERVATION_CONFLICT);
	a = login("iqn.2024-01.test:a,i,0x000000000001");
	assert_int_equal(cmd_status(a, WRITE_10), SAM_STAT_GOOD);
	/* and a preempt reaches the registration's new nexus */
	assert_int_equal(prout_status(b, SA_REGISTER, 0, 0, 0xbb), SAM_STAT_GOOD);
	assert_int_equal(prout_status(b, SA_PREEMPT, WE, 0xbb, 0xaa), SAM_STAT_GOOD);
	expect_ua(a, ASC_REGISTRATIONS_PREEMPTED);
	expect_no_ua(c);
	assert_int_equal(cmd_status(a, READ_10), SAM_STAT_GOOD);
	assert_int_equal(cmd_status(a, WRITE_10), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(prout_status(b, SA_CLEAR, 0, 0xbb, 0), SAM_STAT_GOOD);
}

/*
 * Two open nexuses with one initiator port name (e.g. two connections of
 * one session): the registration's unit attentions go to the nexus it was
 * last seen on; when that one is lost, the other takes over with its next
 * command, however long its reservation verdict has been cached.
 */
static void test_registration_moves_to_the_surviving_nexus(void **state)
{
	(void)state;
	struct vs_nexus *a1 = login("iqn.2024-01.test:a,i,0x000000000001");
	struct vs_nexus *a2 = login("iqn.2024-01.test:a,i,0x000000000001");
	struct vs_nexus *b = login("iqn.2024-01.test:b,i,0x000000000002");
	assert_int_equal(prout_status(a1, SA_REGISTER, 0, 0, 0xaa), SAM_STAT_GOOD);
	assert_int_equal(prout_status(b, SA_REGISTER, 0, 0, 0xbb), SAM_STAT_GOOD);
	assert_int_equal(cmd_status(a2, WRITE_10), SAM_STAT_GOOD);
	assert_int_equal(cmd_status(a1, WRITE_10), SAM_STAT_GOOD);
	vs_port_nexus_close(tf_port(tf), a1);
	assert_int_equal(cmd_status(a2, WRITE_10), SAM_STAT_GOOD);
	assert_int_equal(prout_status(b, SA_PREEMPT, WE, 0xbb, 0xaa), SAM_STAT_GOOD);
	expect_ua(a2, ASC_REGISTRATIONS_PREEMPTED);
	assert_int_equal(prout_status(b, SA_CLEAR, 0, 0xbb, 0), SAM_STAT_GOOD);
}

static void test_reserve6_nexus_loss_and_lun_reset(void **state)
{
	(void)state;
	struct vs_nexus *a = login("iqn.2024-01.test:a,i,0x000000000001");
	struct vs_nexus *b = login("iqn.2024-01.test:b,i,0x000000000002");
	assert_int_equal(cmd_status(a, RESERVE_6), SAM_STAT_GOOD);
	assert_int_equal(cmd_status(b, RESERVE_6), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(cmd_status(b, MODE_SENSE_6), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(cmd_status(b, INQUIRY), SAM_STAT_GOOD);
	bool in_use = false;
	assert_int_equal(vs_port_lun_control(tf_port(tf), 0, VS_LUN_IN_USE, &in_use), 0);
	assert_true(in_use);

	/* I_T nexus loss releases it (SPC-2 5.5.1) */
	vs_port_nexus_close(tf_port(tf), a);
	struct vs_nexus *c = login("iqn.2024-01.test:c,i,0x000000000003");
	assert_int_equal(cmd_status(b, RESERVE_6), SAM_STAT_GOOD);
	assert_int_equal(cmd_status(c, WRITE_10), SAM_STAT_RESERVATION_CONFLICT);

	/* LOGICAL UNIT RESET releases it too */
	assert_int_equal(tf_tmf(tf, c, VS_TMF_LOGICAL_UNIT_RESET, 0, 0), VS_TMF_COMPLETE);
	assert_int_equal(tf_clear_ua(tf, c, 0), 0);
	assert_int_equal(cmd_status(c, RESERVE_10), SAM_STAT_GOOD);
	assert_int_equal(cmd_status(c, RELEASE_10), SAM_STAT_GOOD);
	assert_int_equal(vs_port_lun_control(tf_port(tf), 0, VS_LUN_IN_USE, &in_use), 0);
	assert_false(in_use);
}

/*
 * The I_T nexus loss comes from the port (nexus_lost), so a new session of
 * the SAME initiator port name, which may get the same nexus id and even the
 * same memory, is a new I_T nexus: the RESERVE of the old one is gone.
 */
static void test_reserve6_lost_on_same_name_relogin(void **state)
{
	(void)state;
	struct vs_nexus *a = login("iqn.2024-01.test:a,i,0x000000000001");
	struct vs_nexus *b = login("iqn.2024-01.test:b,i,0x000000000002");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cmd_status(a, RESERVE_6), SAM_STAT_GOOD);
		assert_int_equal(cmd_status(b, WRITE_10), SAM_STAT_RESERVATION_CONFLICT);
		vs_port_nexus_close(tf_port(tf), a);
		a = login("iqn.2024-01.test:a,i,0x000000000001");
		assert_int_equal(cmd_status(b, WRITE_10), SAM_STAT_GOOD);
		assert_int_equal(cmd_status(a, WRITE_10), SAM_STAT_GOOD);
	}
	/* another nexus's loss leaves the reservation alone */
	assert_int_equal(cmd_status(a, RESERVE_10), SAM_STAT_GOOD);
	struct vs_nexus *c = login("iqn.2024-01.test:c,i,0x000000000003");
	vs_port_nexus_close(tf_port(tf), c);
	assert_int_equal(cmd_status(b, WRITE_10), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(cmd_status(a, RELEASE_10), SAM_STAT_GOOD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_preempt_raises_registrations_preempted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_raises_reservations_preempted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_registrants_only_raises_released, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registration_survives_relogin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registration_moves_to_the_surviving_nexus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve6_nexus_loss_and_lun_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve6_lost_on_same_name_relogin, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
