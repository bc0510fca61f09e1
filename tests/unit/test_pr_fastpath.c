/* SPDX-License-Identifier: MIT */
/*
 * The reservation check without a lock (src/vdisk/pr_conflict.c,
 * pr_verdict.c): once a nexus's verdict is cached its commands take no
 * mutex, and a cached verdict never outlives the change that makes it
 * wrong — a change made by one I_T nexus is seen by the next command of
 * any other nexus on any thread, a nexus id given to a new initiator port
 * after a logout starts from that port's name, a nexus id past the cache
 * is still judged right, and a PR OUT in progress makes RESERVE and
 * RELEASE conflict (SPC-4 5.13.3).  test_pr_race.c runs the same changes
 * under concurrent I/O.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pr_walk.h"
#include "vstor/scsi.h"

/* ---- pthread_mutex_lock counter (-Wl,--wrap, tests/unit/CMakeLists.txt) ---- */
int __real_pthread_mutex_lock(pthread_mutex_t *m);
int __wrap_pthread_mutex_lock(pthread_mutex_t *m);
static _Atomic unsigned long mutex_locks;

int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
	atomic_fetch_add(&mutex_locks, 1);
	return __real_pthread_mutex_lock(m);
}

/* Names as cluster nodes send them: long, alike up to the last bytes. */
static void cluster_nexus(struct vs_nexus *n, uint32_t id)
{
	char isid[16];
	snprintf(isid, sizeof(isid), "4000013700%02x", id);
	pr_mk_nexus(n, "iqn.1991-05.com.microsoft:node.cluster.example.com", isid, id);
}

#define NODES 8

/*
 * Commands from every nexus, ROUNDS times after one warm-up round: the
 * statuses must be `expect` (per nexus: READ, WRITE; the last pair is the
 * anonymous submitter) and no mutex may be taken after the warm-up.
 */
static void assert_lock_free(struct vdisk_pr *pr, struct vs_nexus *nx, const char *expect)
{
	enum { ROUNDS = 50 };
	char got[2 * (NODES + 2) + 1];
	unsigned long before = 0;

	for (int r = 0; r <= ROUNDS; r++) {
		if (r == 1)
			before = atomic_load(&mutex_locks);
		for (unsigned i = 0; i < NODES + 2; i++) {
			const struct vs_nexus *n = i <= NODES ? &nx[i] : NULL;
			for (unsigned k = 0; k < 2; k++) {
				uint8_t st = pr_send(pr, n, k ? WRITE_10 : READ_10, 0);
				got[2 * i + k] = st == SAM_STAT_GOOD ? 'g' :
				                 st == SAM_STAT_RESERVATION_CONFLICT ? 'c' : '?';
			}
		}
		got[2 * (NODES + 2)] = '\0';
		assert_string_equal(got, expect);
	}
	assert_int_equal(atomic_load(&mutex_locks) - before, 0);
}

/* A cluster's steady state: NODES registered nexuses, one more that is not
 * registered, and the anonymous submitter; each reservation type a cluster
 * uses, and a RESERVE(6). */
static void test_no_mutex_per_command(void **state)
{
	(void)state;
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	struct vs_nexus nx[NODES + 1];

	assert_non_null(pr);
	for (uint32_t i = 0; i <= NODES; i++)
		cluster_nexus(&nx[i], i);
	/* nothing registered: one load */
	assert_lock_free(pr, nx, "gggggggggggggggggggg");
	unsigned long l0 = atomic_load(&mutex_locks);
	for (uint32_t i = 0; i < NODES; i++)
		assert_int_equal(pr_prout(pr, &nx[i], SA_REGISTER, 0, 0, 0x100 + i), SAM_STAT_GOOD);
	/* the counter sees vstor's locks (a PR OUT takes them), so a 0 below
	 * means none was taken */
	assert_true(atomic_load(&mutex_locks) - l0 >= NODES);
	/* registered, no reservation */
	assert_lock_free(pr, nx, "gggggggggggggggggggg");
	/* WRITE EXCLUSIVE - ALL REGISTRANTS (Windows failover clustering) */
	assert_int_equal(pr_prout(pr, &nx[0], SA_RESERVE, WE_AR, 0x100, 0), SAM_STAT_GOOD);
	assert_lock_free(pr, nx, "gggggggggggggggggcgc");
	assert_int_equal(pr_prout(pr, &nx[0], SA_RELEASE, WE_AR, 0x100, 0), SAM_STAT_GOOD);
	/* WRITE EXCLUSIVE - REGISTRANTS ONLY (VMware, Pacemaker fence_scsi) */
	assert_int_equal(pr_prout(pr, &nx[3], SA_RESERVE, WE_RO, 0x103, 0), SAM_STAT_GOOD);
	assert_lock_free(pr, nx, "gggggggggggggggggcgc");
	assert_int_equal(pr_prout(pr, &nx[3], SA_RELEASE, WE_RO, 0x103, 0), SAM_STAT_GOOD);
	/* EXCLUSIVE ACCESS: only the holder */
	assert_int_equal(pr_prout(pr, &nx[1], SA_RESERVE, EA, 0x101, 0), SAM_STAT_GOOD);
	assert_lock_free(pr, nx, "ccggcccccccccccccccc");
	assert_int_equal(pr_prout(pr, &nx[1], SA_CLEAR, 0, 0x101, 0), SAM_STAT_GOOD);
	/* RESERVE(6) by the unregistered node */
	assert_int_equal(pr_send(pr, &nx[NODES], RESERVE_6, 0), SAM_STAT_GOOD);
	assert_lock_free(pr, nx, "ccccccccccccccccggcc");
	vs_vdisk_pr_destroy(pr);
}

/* ---- each change, then I/O on another thread ---- */

struct observer {
	struct pr_walk *w;
	char got[7];
};

static void *observe_thread(void *arg)
{
	struct observer *o = arg;
	pr_walk_observe(o->w, o->got);
	return NULL;
}

/*
 * Every step of the walk is made on this thread and checked at once from
 * a new one, with every nexus's verdict cached at the state before (the
 * previous check made it): a verdict that survived a change would show.
 */
static void test_each_change_seen_on_another_thread(void **state)
{
	(void)state;
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	struct pr_walk w;
	struct observer o = { .w = &w };
	pthread_t t;

	assert_non_null(pr);
	pr_walk_init(&w, pr);
	for (int round = 0; round < 2; round++) {
		for (unsigned i = 0; i < PR_WALK_STEPS; i++) {
			pr_walk_step(&w, i);
			assert_int_equal(pthread_create(&t, NULL, observe_thread, &o), 0);
			assert_int_equal(pthread_join(t, NULL), 0);
			if (strcmp(o.got, pr_walk_expect(i)) != 0)
				fail_msg("after \"%s\": got %s, want %s", pr_walk_name(i), o.got,
				         pr_walk_expect(i));
		}
	}
	assert_false(vs_vdisk_pr_in_use(pr));
	vs_vdisk_pr_destroy(pr);
}

/* ---- nexus ids ---- */

/*
 * The port gives a closed nexus's id to the next login (after nexus_lost).
 * X, not registered, has its verdict cached under id 5 and logs out; its
 * loss changes no reservation state.  Y, a registrant, logs in and gets
 * id 5: it must be judged by its own name, not X's verdict; and the other
 * way round.
 */
static void test_reused_id_starts_from_the_name(void **state)
{
	(void)state;
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	struct vs_nexus a, x, y0, y;

	assert_non_null(pr);
	pr_mk_nexus(&a, "iqn.2024-01.test:a", "1", 0);
	pr_mk_nexus(&x, "iqn.2024-01.test:x", "1", 5);
	pr_mk_nexus(&y0, "iqn.2024-01.test:y", "1", 7);
	pr_mk_nexus(&y, "iqn.2024-01.test:y", "1", 5);
	assert_int_equal(pr_prout(pr, &a, SA_REGISTER, 0, 0, 0xa), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &y0, SA_REGISTER, 0, 0, 0x7), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &a, SA_RESERVE, WE_RO, 0xa, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &y0, WRITE_10, 0), SAM_STAT_GOOD);
	vs_vdisk_pr_nexus_loss(pr, &y0);
	assert_int_equal(pr_send(pr, &x, WRITE_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	vs_vdisk_pr_nexus_loss(pr, &x);
	assert_int_equal(pr_send(pr, &y, WRITE_10, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &y, WRITE_10, 0), SAM_STAT_GOOD);
	vs_vdisk_pr_nexus_loss(pr, &y);
	assert_int_equal(pr_send(pr, &x, WRITE_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_send(pr, &x, READ_10, 0), SAM_STAT_GOOD);
	vs_vdisk_pr_destroy(pr);
}

/* Ids past the verdict cache take the locked path and are judged alike. */
static void test_nexus_id_past_the_cache(void **state)
{
	(void)state;
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	struct vs_nexus a, far_reg, far_unreg;

	assert_non_null(pr);
	pr_mk_nexus(&a, "iqn.2024-01.test:a", "1", 0);
	pr_mk_nexus(&far_reg, "iqn.2024-01.test:far", "1", 100000);
	pr_mk_nexus(&far_unreg, "iqn.2024-01.test:far", "2", UINT32_MAX - 1);
	assert_int_equal(pr_prout(pr, &a, SA_REGISTER, 0, 0, 0xa), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &far_reg, SA_REGISTER, 0, 0, 0xf), SAM_STAT_GOOD);
	assert_int_equal(pr_prout(pr, &a, SA_RESERVE, EA_RO, 0xa, 0), SAM_STAT_GOOD);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pr_send(pr, &far_reg, WRITE_10, 0), SAM_STAT_GOOD);
		assert_int_equal(pr_send(pr, &far_unreg, READ_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	}
	assert_int_equal(pr_prout(pr, &a, SA_PREEMPT, EA_RO, 0xa, 0xf), SAM_STAT_GOOD);
	assert_int_equal(pr_send(pr, &far_reg, READ_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	vs_vdisk_pr_destroy(pr);
}

/* ---- the PR OUT window (SPC-4 5.13.3) ---- */

struct held_prout {
	struct vdisk_pr *pr;
	struct vs_nexus *nx;
	struct pr_cmd c;
};

static void *prout_thread(void *arg)
{
	struct held_prout *h = arg;
	/* REGISTER with APTPL: writes the state file (pr_persist.c) */
	pr_prout_full(h->pr, h->nx, SA_REGISTER, 0, 0, 0, 0xa, 0x01, 24, &h->c);
	return NULL;
}

/* The check alone, as vdisk makes it before it runs a command. */
static bool check_conflicts(struct vdisk_pr *pr, const struct vs_nexus *nx, uint8_t op)
{
	struct pr_cmd c;
	uint8_t cdb[10] = { op };
	pr_cmd_init(&c, nx, cdb, op >= 0x20 ? 10 : 6, 0);
	return vs_vdisk_pr_conflict(pr, &c.srb);
}

/*
 * While a PR OUT is being applied, RESERVE and RELEASE conflict even
 * before it has registered anyone: the check says so (the commands would
 * also refuse, but the check comes first).  The state file's temporary
 * name is a FIFO here, so the PR OUT waits inside that window (in open())
 * until the test reads it; fsync() of a FIFO fails, so the PR OUT then
 * fails with HARDWARE ERROR and leaves the old state, and the window
 * closes.
 */
static void test_prout_in_progress_conflicts_reserve(void **state)
{
	(void)state;
	char dir[] = "/tmp/vstor-test-prfast-XXXXXX", path[128], tmp[160], buf[4096];
	struct vs_nexus a, b, c;
	struct held_prout h;
	pthread_t t;
	bool release_c = false;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/lun.pr", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(mkfifo(tmp, 0600), 0);
	pr_mk_nexus(&a, "iqn.2024-01.test:a", "1", 0);
	pr_mk_nexus(&b, "iqn.2024-01.test:b", "1", 1);
	pr_mk_nexus(&c, "iqn.2024-01.test:c", "1", 2);
	h.pr = vs_vdisk_pr_create(NULL, path);
	h.nx = &a;
	assert_non_null(h.pr);
	assert_false(check_conflicts(h.pr, &b, RELEASE_6));

	assert_int_equal(pthread_create(&t, NULL, prout_thread, &h), 0);
	for (int ms = 0; ms < 10000 && !release_c; ms++) {
		release_c = check_conflicts(h.pr, &b, RELEASE_6);
		if (!release_c)
			usleep(1000);
	}
	bool reserve_c = check_conflicts(h.pr, &c, RESERVE_10);
	uint8_t reserve_st = pr_send(h.pr, &c, RESERVE_6, 0);
	uint8_t read_st = pr_send(h.pr, &c, READ_10, 0);
	/* let the PR OUT go on: read what it writes until it closes */
	int fd = open(tmp, O_RDONLY);
	assert_true(fd >= 0);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	assert_int_equal(pthread_join(t, NULL), 0);

	assert_true(release_c);
	assert_true(reserve_c);
	assert_int_equal(reserve_st, SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(read_st, SAM_STAT_GOOD);         /* nothing reserved yet */
	assert_int_equal(h.c.srb.scsi_status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(h.c.srb.sense[2] & 0x0f, SENSE_HARDWARE_ERROR);
	/* the window is over and nothing was registered */
	assert_false(vs_vdisk_pr_in_use(h.pr));
	assert_int_equal(pr_send(h.pr, &c, RESERVE_6, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(h.pr, &b, WRITE_10, 0), SAM_STAT_RESERVATION_CONFLICT);
	assert_int_equal(pr_send(h.pr, &c, RELEASE_6, 0), SAM_STAT_GOOD);
	assert_int_equal(pr_send(h.pr, &b, WRITE_10, 0), SAM_STAT_GOOD);
	vs_vdisk_pr_destroy(h.pr);
	unlink(tmp);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_mutex_per_command),
		cmocka_unit_test(test_each_change_seen_on_another_thread),
		cmocka_unit_test(test_reused_id_starts_from_the_name),
		cmocka_unit_test(test_nexus_id_past_the_cache),
		cmocka_unit_test(test_prout_in_progress_conflicts_reserve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
