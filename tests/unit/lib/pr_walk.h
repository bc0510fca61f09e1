/* SPDX-License-Identifier: MIT */
/*
 * pr_walk: a walk through the reservation states of one vdisk_pr (no
 * port), for tests that the per-command check follows every change
 * (test_pr_fastpath.c, test_pr_race.c).  Each step is one change made by
 * one command or event — PR OUT REGISTER, RESERVE, RELEASE, PREEMPT,
 * CLEAR, REGISTER AND MOVE, RESERVE(6/10), RELEASE(6), a LU reset, an I_T
 * nexus loss — and says what READ(10) and WRITE(10) from I_T nexuses A, B
 * and C must get once it is done.  The walk ends where it starts (nothing
 * registered or reserved), so it can be repeated.
 *
 *   struct pr_walk w;
 *   pr_walk_init(&w, pr);
 *   for (unsigned i = 0; i < PR_WALK_STEPS; i++) {
 *           pr_walk_step(&w, i);                  // asserts the change succeeded
 *           pr_walk_observe(&w, got);             // "ggcccc": A read, A write, B ..., C ...
 *           assert_string_equal(got, pr_walk_expect(i));
 *   }
 */
#ifndef VSTOR_TEST_PR_WALK_H
#define VSTOR_TEST_PR_WALK_H

#include "pr_cmd.h"

#define PR_WALK_STEPS 22

struct pr_walk {
	struct vdisk_pr *pr;
	struct vs_nexus a, b, c;        /* ids 0, 1, 2 */
};

void pr_walk_init(struct pr_walk *w, struct vdisk_pr *pr);
/* Make step i's change (cmocka assert: it was accepted). */
void pr_walk_step(struct pr_walk *w, unsigned i);
const char *pr_walk_name(unsigned i);
/* After step i: 'g' (GOOD) or 'c' (RESERVATION CONFLICT) for READ(10) and
 * WRITE(10) from A, from B, from C. */
const char *pr_walk_expect(unsigned i);
/* What the one nexus n (0 A, 1 B, 2 C) gets now, into got[0..1] ('?' for
 * any other status).  Thread-safe, no cmocka call: for observer threads. */
void pr_walk_observe_one(struct pr_walk *w, unsigned n, char *got);
/* All six, NUL terminated, into got[7]. */
void pr_walk_observe(struct pr_walk *w, char *got);

#endif
