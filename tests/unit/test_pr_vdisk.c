/* SPDX-License-Identifier: MIT */
/*
 * Persistent reservations end to end through the port and the real vdisk
 * miniport on a RAM disk, replaying what libiscsi's iscsi-test-cu checks
 * (PrinServiceactionRange, PrinReadKeys, PrinReportCapabilities,
 * ProutRegister, ProutReserve.Access* / Ownership*, ProutClear,
 * ProutPreempt, Reserve6.2Initiators), plus APTPL across a LUN re-add and
 * PREEMPT AND ABORT aborting the preempted initiator's tasks.
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

#include "spy_bdev.h"
#include "test_fabric.h"
#include "vstor/backend.h"
#include "vstor/scsi.h"
#include "vstor/vdisk.h"

enum { WE = 1, EA = 3, WE_RO = 5, EA_RO = 6, WE_AR = 7, EA_AR = 8 };
enum { SA_REGISTER = 0, SA_RESERVE, SA_RELEASE, SA_CLEAR, SA_PREEMPT, SA_PREEMPT_ABORT,
       SA_REGISTER_IGNORE };

static struct tf *tf;
static struct vs_nexus *n1, *n2;
static char state_dir[64];
static char state_path[128];

static void add_lun(void)
{
	struct vs_kv kv[] = { { "size", "1M" } };
	struct vs_bdev *b = vs_bdev_open("ram", kv, 1);
	assert_non_null(b);
	struct vs_vdisk_lun_config lc = {
		.bdev = b, .block_size = 512, .pr_state_path = state_path,
	};
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, &lc), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(state_dir, sizeof(state_dir), "/tmp/vstor-test-prv-XXXXXX");
	assert_non_null(mkdtemp(state_dir));
	snprintf(state_path, sizeof(state_path), "%s/lun0.pr", state_dir);
	static const struct vs_vdisk_adapter_config ac = {
		.target_name = "iqn.2024-01.test:target", .rel_target_port_id = 1,
	};
	tf = tf_create(&vs_vdisk_miniport, NULL, &ac);
	assert_non_null(tf);
	add_lun();
	n1 = tf_nexus(tf, "iqn.2024-01.test:init1,i,0x230000000001");
	n2 = tf_nexus(tf, "iqn.2024-01.test:init2,i,0x230000000002");
	assert_int_equal(tf_clear_ua(tf, n1, 0), 0);
	assert_int_equal(tf_clear_ua(tf, n2, 0), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tf_destroy(tf);
	unlink(state_path);
	rmdir(state_dir);
	return 0;
}

static void prout_x(struct vs_nexus *n, int sa, int type, uint64_t rk, uint64_t sark,
                    uint8_t flags, struct tf_result *r)
{
	uint8_t cdb[10] = { PERSISTENT_RESERVE_OUT, (uint8_t)sa, (uint8_t)type, 0, 0, 0, 0, 0, 24 };
	uint8_t p[24] = { 0 };
	for (int i = 0; i < 8; i++) {
		p[i] = (uint8_t)(rk >> (56 - 8 * i));
		p[8 + i] = (uint8_t)(sark >> (56 - 8 * i));
	}
	p[20] = flags;
	assert_int_equal(tf_exec(tf, n, 0, cdb, 10, VS_DIR_TO_DEVICE, p, 24, r), 0);
}

static uint8_t prout(struct vs_nexus *n, int sa, int type, uint64_t rk, uint64_t sark)
{
	struct tf_result r;
	prout_x(n, sa, type, rk, sark, 0, &r);
	return r.status;
}

static uint8_t prin(struct vs_nexus *n, int sa, uint16_t alloc, uint8_t *buf,
                    struct tf_result *r)
{
	uint8_t cdb[10] = { PERSISTENT_RESERVE_IN, (uint8_t)sa, 0, 0, 0, 0, 0,
	                    (uint8_t)(alloc >> 8), (uint8_t)alloc };
	assert_int_equal(tf_exec(tf, n, 0, cdb, 10, VS_DIR_FROM_DEVICE, buf, alloc, r), 0);
	return r->status;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static uint8_t rw10(struct vs_nexus *n, bool write)
{
	uint8_t buf[512];
	memset(buf, 0x5a, sizeof(buf));
	uint8_t cdb[10] = { write ? WRITE_10 : READ_10, 0, 0, 0, 0, 1, 0, 0, 1, 0 };
	struct tf_result r;
	assert_int_equal(tf_exec(tf, n, 0, cdb, 10, write ? VS_DIR_TO_DEVICE : VS_DIR_FROM_DEVICE,
	                         buf, sizeof(buf), &r), 0);
	return r.status;
}

/* libiscsi prin_verify_reserved_as / prin_verify_not_reserved */
static void verify_reserved_as(struct vs_nexus *n, uint64_t key, int type)
{
	uint8_t buf[16384];
	struct tf_result r;
	assert_int_equal(prin(n, 1, sizeof(buf), buf, &r), SAM_STAT_GOOD);
	if (type == 0) {
		assert_int_equal(get32(buf + 4), 0);
		return;
	}
	assert_int_equal(get32(buf + 4), 16);
	assert_true(get64(buf + 8) == key);
	assert_int_equal(buf[21] & 0x0f, type);
}

static void test_prin_service_action_range(void **state)
{
	(void)state;
	uint8_t buf[16384];
	struct tf_result r;
	for (int sa = 0; sa < 0x20; sa++) {
		prin(n1, sa, sizeof(buf), buf, &r);
		if (sa < 4) {
			assert_int_equal(r.status, SAM_STAT_GOOD);
		} else {
			assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
			assert_int_equal(r.sense_key, SENSE_ILLEGAL_REQUEST);
			assert_int_equal(r.asc, 0x24);
		}
	}
}

static void test_register_read_keys_truncate(void **state)
{
	(void)state;
	const uint64_t key = 0x1122334455667788ull;
	uint8_t buf[16384];
	struct tf_result r;
	assert_int_equal(prout(n1, SA_REGISTER_IGNORE, 0, 0, key), SAM_STAT_GOOD);
	assert_int_equal(prin(n1, 0, sizeof(buf), buf, &r), SAM_STAT_GOOD);
	assert_int_equal(get32(buf + 4), 8);
	assert_true(get64(buf + 8) == key);
	assert_int_equal(r.xfer_len, 16);
	/* ALLOCATION LENGTH 8: header only, ADDITIONAL LENGTH unchanged */
	assert_int_equal(prin(n1, 0, 8, buf, &r), SAM_STAT_GOOD);
	assert_int_equal(r.xfer_len, 8);
	assert_int_equal(get32(buf + 4), 8);
	/* re-register with the wrong key fails (ProutRegister.Simple) */
	assert_int_equal(prout(n1, SA_REGISTER, 0, 0, key + 1), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(prout(n1, SA_REGISTER, 0, key, 0), SAM_STAT_GOOD);
	assert_int_equal(prin(n1, 0, sizeof(buf), buf, &r), SAM_STAT_GOOD);
	assert_int_equal(get32(buf + 4), 0);
}

static void test_report_caps_each_type(void **state)
{
	(void)state;
	static const int types[] = { WE_AR, EA_RO, WE_RO, EA, WE, EA_AR };
	const uint64_t key = 0xabcdef;
	uint8_t buf[16384];
	struct tf_result r;
	assert_int_equal(prout(n1, SA_REGISTER_IGNORE, 0, 0, key), SAM_STAT_GOOD);
	assert_int_equal(prin(n1, 2, sizeof(buf), buf, &r), SAM_STAT_GOOD);
	assert_int_equal(buf[0] << 8 | buf[1], 8);
	assert_true(((buf[3] >> 4) & 7) <= 5);
	assert_int_equal(buf[2] & 0x01, 1);            /* PTPL_C: the LUN has a state file */
	uint16_t mask = (uint16_t)(buf[4] << 8 | buf[5]);
	assert_int_equal(mask, 0xea01);
	for (int i = 0; i < 6; i++) {
		int t = types[i];
		assert_int_equal(prout(n1, SA_RESERVE, t, key, 0), SAM_STAT_GOOD);
		verify_reserved_as(n1, (t == WE_AR || t == EA_AR) ? 0 : key, t);
		assert_int_equal(prout(n1, SA_RELEASE, t, key, 0), SAM_STAT_GOOD);
	}
	assert_int_equal(prout(n1, SA_REGISTER, 0, key, 0), SAM_STAT_GOOD);
}

struct access_case {
	int type;
	bool reg_read, reg_write, unreg_read, unreg_write;
};

static void test_access_and_ownership(void **state)
{
	(void)state;
	static const struct access_case cases[] = {
		{ EA, 0, 0, 0, 0 }, { WE, 1, 0, 1, 0 }, { EA_RO, 1, 1, 0, 0 },
		{ WE_RO, 1, 1, 1, 0 }, { EA_AR, 1, 1, 0, 0 }, { WE_AR, 1, 1, 1, 0 },
	};
	for (size_t i = 0; i < 6; i++) {
		const struct access_case *k = &cases[i];
		bool ar = k->type == WE_AR || k->type == EA_AR;
		const uint64_t key = 0x1000 + i, key2 = 0x2000 + i;
		(void)tf_clear_ua(tf, n1, 0);
		(void)tf_clear_ua(tf, n2, 0);

		/* ProutReserve.Access* */
		assert_int_equal(prout(n1, SA_REGISTER_IGNORE, 0, 0, key), SAM_STAT_GOOD);
		assert_int_equal(prout(n2, SA_REGISTER_IGNORE, 0, 0, key2), SAM_STAT_GOOD);
		assert_int_equal(prout(n1, SA_RESERVE, k->type, key, 0), SAM_STAT_GOOD);
		verify_reserved_as(n1, ar ? 0 : key, k->type);
		assert_int_equal(rw10(n1, false), SAM_STAT_GOOD);
		assert_int_equal(rw10(n1, true), SAM_STAT_GOOD);
#define EXPECT(ok) ((ok) ? SAM_STAT_GOOD : SAM_STAT_RESERVATION_CONFLICT)
		assert_int_equal(rw10(n2, false), EXPECT(k->reg_read));
		assert_int_equal(rw10(n2, true), EXPECT(k->reg_write));
		assert_int_equal(prout(n2, SA_REGISTER, 0, key2, 0), SAM_STAT_GOOD);
		assert_int_equal(rw10(n2, false), EXPECT(k->unreg_read));
		assert_int_equal(rw10(n2, true), EXPECT(k->unreg_write));
#undef EXPECT
		assert_int_equal(prout(n1, SA_RELEASE, k->type, key, 0), SAM_STAT_GOOD);
		assert_int_equal(prout(n1, SA_REGISTER, 0, key, 0), SAM_STAT_GOOD);

		/* ProutReserve.Ownership* */
		(void)tf_clear_ua(tf, n2, 0);
		assert_int_equal(prout(n1, SA_REGISTER_IGNORE, 0, 0, key), SAM_STAT_GOOD);
		assert_int_equal(prout(n2, SA_REGISTER_IGNORE, 0, 0, key2), SAM_STAT_GOOD);
		assert_int_equal(prout(n1, SA_RESERVE, k->type, key, 0), SAM_STAT_GOOD);
		assert_int_equal(prout(n1, SA_REGISTER, 0, key, 0), SAM_STAT_GOOD);
		if (ar) {
			verify_reserved_as(n1, 0, k->type);
			assert_int_equal(prout(n2, SA_RELEASE, k->type, key2, 0), SAM_STAT_GOOD);
		} else {
			verify_reserved_as(n1, 0, 0);
			(void)tf_clear_ua(tf, n2, 0);
		}
		assert_int_equal(prout(n2, SA_REGISTER, 0, key2, 0), SAM_STAT_GOOD);
	}
	bool in_use = true;
	assert_int_equal(vs_port_lun_control(tf_port(tf), 0, VS_LUN_IN_USE, &in_use), 0);
	assert_false(in_use);
}

static void test_clear_and_preempt_generation(void **state)
{
	(void)state;
	uint8_t buf[16384];
	struct tf_result r;
	/* ProutClear.Simple: CLEAR bumps the generation once, RESERVE not */
	assert_int_equal(prout(n1, SA_REGISTER_IGNORE, 0, 0, 0x77), SAM_STAT_GOOD);
	assert_int_equal(prin(n1, 0, sizeof(buf), buf, &r), SAM_STAT_GOOD);
	uint32_t gen = get32(buf);
	assert_int_equal(prout(n1, SA_RESERVE, EA, 0x77, 0), SAM_STAT_GOOD);
	verify_reserved_as(n1, 0x77, EA);
	assert_int_equal(prout(n1, SA_CLEAR, 0, 0x77, 0), SAM_STAT_GOOD);
	verify_reserved_as(n1, 0, 0);
	assert_int_equal(prin(n1, 0, sizeof(buf), buf, &r), SAM_STAT_GOOD);
	assert_int_equal(get32(buf + 4), 0);
	assert_int_equal(get32(buf), gen + 1);

	/* ProutPreempt.RemoveRegistration */
	assert_int_equal(prout(n1, SA_REGISTER_IGNORE, 0, 0, 0x71), SAM_STAT_GOOD);
	assert_int_equal(prout(n2, SA_REGISTER_IGNORE, 0, 0, 0x72), SAM_STAT_GOOD);
	assert_int_equal(prin(n1, 0, sizeof(buf), buf, &r), SAM_STAT_GOOD);
	assert_int_equal(get32(buf + 4), 16);
	gen = get32(buf);
	assert_int_equal(prout(n2, SA_PREEMPT, EA, 0x72, 0x71), SAM_STAT_GOOD);
	/* n1 hears REGISTRATIONS PREEMPTED on its next command */
	uint8_t tur[6] = { TEST_UNIT_READY };
	assert_int_equal(tf_exec(tf, n1, 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);
	assert_int_equal(r.asc, 0x2a);
	assert_int_equal(r.ascq, 0x05);
	assert_int_equal(tf_clear_ua(tf, n1, 0), 0);
	assert_int_equal(tf_clear_ua(tf, n2, 0), 0);
	assert_int_equal(prin(n1, 0, sizeof(buf), buf, &r), SAM_STAT_GOOD);
	assert_int_equal(get32(buf + 4), 8);
	assert_int_equal(get32(buf), gen + 1);
	assert_true(get64(buf + 8) == 0x72);
	assert_int_equal(prout(n2, SA_REGISTER, 0, 0x72, 0), SAM_STAT_GOOD);
}

static void test_reserve6_two_initiators(void **state)
{
	(void)state;
	uint8_t res6[6] = { RESERVE_6 }, rel6[6] = { RELEASE_6 };
	uint8_t ms6[6] = { MODE_SENSE_6, 0, 0x3f, 0, 255, 0 };
	uint8_t buf[255];
	struct tf_result r;
	assert_int_equal(tf_exec(tf, n1, 0, res6, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(tf_exec(tf, n1, 0, res6, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(tf_exec(tf, n2, 0, res6, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(tf_exec(tf, n2, 0, rel6, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(tf_exec(tf, n1, 0, ms6, 6, VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(tf_exec(tf, n2, 0, ms6, 6, VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r), 0);
	assert_int_equal(r.status, SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(tf_exec(tf, n2, 0, res6, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(tf_exec(tf, n1, 0, rel6, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(tf_exec(tf, n2, 0, res6, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(tf_exec(tf, n2, 0, rel6, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
}

/* APTPL through the LUN's pr_state_path: a re-added LUN (restart) keeps
 * the registration and the reservation. */
static void test_aptpl_across_lun_readd(void **state)
{
	(void)state;
	struct tf_result r;
	prout_x(n1, SA_REGISTER_IGNORE, 0, 0, 0x5151, 0x01, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(prout(n1, SA_RESERVE, WE, 0x5151, 0), SAM_STAT_GOOD);
	assert_int_equal(vs_port_lun_remove(tf_port(tf), 0, false), -16 /* -EBUSY: in use */);
	assert_int_equal(vs_port_lun_remove(tf_port(tf), 0, true), 0);
	add_lun();
	(void)tf_clear_ua(tf, n1, 0);
	(void)tf_clear_ua(tf, n2, 0);
	verify_reserved_as(n2, 0x5151, WE);
	assert_int_equal(rw10(n2, true), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(rw10(n1, true), SAM_STAT_GOOD);
	assert_int_equal(prout(n1, SA_CLEAR, 0, 0x5151, 0), SAM_STAT_GOOD);
}

/* PREEMPT AND ABORT: LUN 0 over a spy backend that keeps READs, a short
 * abort timeout (vdisk cannot call a backend READ back, so the port takes
 * the aborted ones after its abort bound), SRBs with pool buffers. */
static struct spy *spy;
static struct vs_srb_pool *pool;

static int setup_spy(void **state)
{
	(void)state;
	static const struct vs_vdisk_adapter_config ac = {
		.target_name = "iqn.2024-01.test:target", .rel_target_port_id = 1,
	};
	struct vs_port_config pc = { .abort_timeout_ms = 500 };
	tf = tf_create(&vs_vdisk_miniport, &pc, &ac);
	assert_non_null(tf);
	spy = spy_new("1M");
	assert_non_null(spy);
	struct vs_vdisk_lun_config lc = { .bdev = spy_bdev(spy), .block_size = 512 };
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, &lc), 0);
	pool = vs_srb_pool_create(tf_port(tf), 8, 512);
	assert_non_null(pool);
	n1 = tf_nexus(tf, "iqn.2024-01.test:init1,i,0x230000000001");
	n2 = tf_nexus(tf, "iqn.2024-01.test:init2,i,0x230000000002");
	assert_int_equal(tf_clear_ua(tf, n1, 0), 0);
	assert_int_equal(tf_clear_ua(tf, n2, 0), 0);
	spy_hold_op(spy, VS_BIO_READ);
	return 0;
}

static int teardown_spy(void **state)
{
	(void)state;
	spy_hold(spy, false);
	spy_release(spy, 0);
	assert_int_equal(tf_double_completions(tf), 0);
	tf_destroy(tf);
	spy_free(spy);
	return 0;
}

static void held_read(struct vs_nexus *n, struct tf_pio *io)
{
	static const uint8_t rd[10] = { READ_10, 0, 0, 0, 0, 1, 0, 0, 1, 0 };
	int before = spy_held(spy);

	tf_pio_submit(tf_port(tf), pool, n, 0, rd, sizeof(rd), VS_DIR_FROM_DEVICE, NULL, 512, io);
	for (int i = 0; i < 1000 && spy_held(spy) == before; i++)
		usleep(1000);
	assert_int_equal(spy_held(spy), before + 1);
}

/* n1 holds WRITE EXCLUSIVE with a READ in the backend; n2 (with a READ of
 * its own in flight) preempts n1.  SPC-4 5.13.11.2.5: n1's task is
 * aborted and, as the abort comes from another I_T nexus and TAS=1,
 * completes with TASK ABORTED status (SAM-5 5.6); n2's task goes on; n1
 * then hears REGISTRATIONS PREEMPTED; the reservation is n2's. */
static void test_preempt_and_abort_aborts_tasks(void **state)
{
	(void)state;
	struct tf_pio r1, r2, r1b;
	struct tf_result r;

	spy_hold(spy, true);
	assert_int_equal(prout(n1, SA_REGISTER, 0, 0, 0x11), SAM_STAT_GOOD);
	assert_int_equal(prout(n2, SA_REGISTER, 0, 0, 0x22), SAM_STAT_GOOD);
	assert_int_equal(prout(n1, SA_RESERVE, WE, 0x11, 0), SAM_STAT_GOOD);
	held_read(n1, &r1);
	held_read(n1, &r1b);
	held_read(n2, &r2);
	assert_int_equal(prout(n2, SA_PREEMPT_ABORT, WE, 0x22, 0x11), SAM_STAT_GOOD);
	/* by the time the PR OUT is GOOD, n1's tasks are done, once each */
	assert_int_equal(r1.done, 1);
	assert_int_equal(r1b.done, 1);
	assert_int_equal(tf_pio_wait(&r1, 0, &r), 0);
	assert_int_equal(r.srb_status, VS_SRB_SUCCESS);
	assert_int_equal(r.status, SAM_STAT_TASK_ABORTED);
	assert_int_equal(tf_pio_wait(&r1b, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_TASK_ABORTED);
	assert_int_equal(r2.done, 0);
	/* the backend answers: n2's READ is fine, n1's late ones only release */
	spy_hold(spy, false);
	spy_release(spy, 0);
	assert_int_equal(tf_pio_wait(&r2, 1000, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(r1.done, 1);
	struct vs_lun_stats st;
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.aborts, 2);
	uint8_t tur[6] = { TEST_UNIT_READY };
	assert_int_equal(tf_exec(tf, n1, 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);
	assert_int_equal(r.asc, 0x2a);
	assert_int_equal(r.ascq, 0x05);
	verify_reserved_as(n2, 0x22, WE);
	assert_int_equal(prout(n2, SA_CLEAR, 0, 0x22, 0), SAM_STAT_GOOD);
}

/* Plain PREEMPT leaves the preempted initiator's tasks alone. */
static void test_preempt_keeps_tasks(void **state)
{
	(void)state;
	struct tf_pio r1;
	struct tf_result r;

	spy_hold(spy, true);
	assert_int_equal(prout(n1, SA_REGISTER, 0, 0, 0x11), SAM_STAT_GOOD);
	assert_int_equal(prout(n2, SA_REGISTER, 0, 0, 0x22), SAM_STAT_GOOD);
	assert_int_equal(prout(n1, SA_RESERVE, WE, 0x11, 0), SAM_STAT_GOOD);
	held_read(n1, &r1);
	assert_int_equal(prout(n2, SA_PREEMPT, WE, 0x22, 0x11), SAM_STAT_GOOD);
	usleep(50000);
	assert_int_equal(r1.done, 0);
	spy_hold(spy, false);
	spy_release(spy, 0);
	assert_int_equal(tf_pio_wait(&r1, 1000, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(prout(n2, SA_CLEAR, 0, 0x22, 0), SAM_STAT_GOOD);
}

/* Preempting its own key aborts the caller's other tasks, without status
 * (they are its own, SAM-5 5.6), never the PERSISTENT RESERVE OUT itself. */
static void test_preempt_and_abort_own_key(void **state)
{
	(void)state;
	struct tf_pio r2;
	struct tf_result r;

	spy_hold(spy, true);
	assert_int_equal(prout(n2, SA_REGISTER, 0, 0, 0x22), SAM_STAT_GOOD);
	assert_int_equal(prout(n2, SA_RESERVE, WE, 0x22, 0), SAM_STAT_GOOD);
	held_read(n2, &r2);
	assert_int_equal(prout(n2, SA_PREEMPT_ABORT, EA, 0x22, 0x22), SAM_STAT_GOOD);
	assert_int_equal(tf_pio_wait(&r2, 0, &r), 0);
	assert_int_equal(r.srb_status, VS_SRB_ABORTED);
	verify_reserved_as(n2, 0x22, EA);
	assert_int_equal(prout(n2, SA_CLEAR, 0, 0x22, 0), SAM_STAT_GOOD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_prin_service_action_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_read_keys_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_caps_each_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_access_and_ownership, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_and_preempt_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve6_two_initiators, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aptpl_across_lun_readd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preempt_and_abort_aborts_tasks, setup_spy,
		                                teardown_spy),
		cmocka_unit_test_setup_teardown(test_preempt_keeps_tasks, setup_spy, teardown_spy),
		cmocka_unit_test_setup_teardown(test_preempt_and_abort_own_key, setup_spy, teardown_spy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
