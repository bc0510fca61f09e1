/* SPDX-License-Identifier: MIT */
/*
 * The reservation check under concurrent I/O: one thread per I_T nexus
 * (A, B, C) sends READ(10) and WRITE(10) without pause while this thread
 * walks the reservation states again and again (lib/pr_walk.c: every PR
 * OUT service action, RESERVE/RELEASE, LU reset, nexus loss).  A command
 * that starts after a change completed and ends before the next one
 * starts must get exactly the answer of that state; any other command may
 * see either.  Run under ThreadSanitizer too (scripts/test.sh), which
 * must report no race.
 *
 * How a reader knows its command saw one state: `seq` is odd while a
 * change is being made and 2k once change k is done.  A reader reads seq,
 * runs its two commands, reads seq again; the same even value both times
 * means both commands ran inside state k (the change's publication comes
 * after the odd store and before the even one, seq_cst).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pr_walk.h"

#define ROUNDS 8
#define READERS 3

static struct pr_walk walk;
static _Atomic unsigned long seq;
static atomic_bool stop;

struct reader {
	pthread_t t;
	unsigned n;                     /* 0 A, 1 B, 2 C */
	_Atomic unsigned long seen;     /* last seq a sample was checked in */
	_Atomic unsigned long checked, wrong;
	char bad[128];                  /* the first wrong sample; written before `wrong` */
};

static struct reader readers[READERS];

static void *reader_thread(void *arg)
{
	struct reader *r = arg;
	char got[3] = "";

	while (!atomic_load(&stop)) {
		unsigned long s1 = atomic_load(&seq);
		pr_walk_observe_one(&walk, r->n, got);
		unsigned long s2 = atomic_load(&seq);
		if (s1 != s2 || (s1 & 1))
			continue;           /* a change overlapped: either answer is right */
		const char *want = pr_walk_expect((unsigned)((s1 / 2 - 1) % PR_WALK_STEPS));
		if (got[0] != want[2 * r->n] || got[1] != want[2 * r->n + 1]) {
			if (atomic_load(&r->wrong) == 0)
				snprintf(r->bad, sizeof(r->bad), "after \"%s\": got %.2s, want %.2s",
				         pr_walk_name((unsigned)((s1 / 2 - 1) % PR_WALK_STEPS)), got,
				         want + 2 * r->n);
			atomic_fetch_add(&r->wrong, 1);
		}
		atomic_fetch_add(&r->checked, 1);
		atomic_store(&r->seen, s1);
	}
	return NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_changes_under_concurrent_io(void **state)
{
	(void)state;
	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	unsigned long states = 0, missed = 0;

	assert_non_null(pr);
	pr_walk_init(&walk, pr);
	atomic_store(&seq, 1);          /* nothing to check before the first change */
	for (unsigned i = 0; i < READERS; i++) {
		readers[i].n = i;
		assert_int_equal(pthread_create(&readers[i].t, NULL, reader_thread, &readers[i]), 0);
	}
	for (unsigned round = 0; round < ROUNDS; round++) {
		for (unsigned i = 0; i < PR_WALK_STEPS; i++) {
			pr_walk_step(&walk, i);
			unsigned long done = 2 * (++states);
			atomic_store(&seq, done);
			/* every reader checks this state at least once, with the
			 * verdicts it cached in the last one */
			uint64_t deadline = now_ms() + 20000;
			for (unsigned k = 0; k < READERS; k++) {
				while (atomic_load(&readers[k].seen) != done && now_ms() < deadline)
					sched_yield();
				missed += atomic_load(&readers[k].seen) != done;
			}
			atomic_store(&seq, done + 1);
		}
	}
	atomic_store(&stop, true);
	for (unsigned i = 0; i < READERS; i++) {
		assert_int_equal(pthread_join(readers[i].t, NULL), 0);
		if (atomic_load(&readers[i].wrong))
			fail_msg("reader %u: %lu of %lu samples wrong, first %s", i,
			         atomic_load(&readers[i].wrong), atomic_load(&readers[i].checked),
			         readers[i].bad);
		assert_true(atomic_load(&readers[i].checked) >= states);
	}
	/* every reader checked every state: none was left by the deadline */
	assert_int_equal(missed, 0);
	assert_int_equal(states, ROUNDS * PR_WALK_STEPS);
	assert_false(vs_vdisk_pr_in_use(pr));
	vs_vdisk_pr_destroy(pr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_changes_under_concurrent_io),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
