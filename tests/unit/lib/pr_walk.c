/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "pr_walk.h"
#include "vstor/scsi.h"

enum { KA = 0xa, KB = 0xb };

static const struct {
	const char *name;
	const char *expect;     /* A read, A write, B read, B write, C read, C write */
} steps[PR_WALK_STEPS] = {
	{ "A registers",                       "gggggg" },
	{ "B registers",                       "gggggg" },
	{ "A reserves WE",                     "gggcgc" },
	{ "A releases WE",                     "gggggg" },
	{ "A reserves EA",                     "ggcccc" },
	{ "B preempts A into WE_RO",           "gcgggc" },
	{ "A registers again",                 "gggggc" },
	{ "B, the holder, unregisters",        "gggggg" },
	{ "A reserves EA_AR",                  "ggcccc" },
	{ "B registers under EA_AR",           "ggggcc" },
	{ "A clears",                          "gggggg" },
	{ "A registers",                       "gggggg" },
	{ "A reserves WE",                     "gggcgc" },
	{ "A registers and moves WE to B",     "gcgggc" },
	{ "B releases WE",                     "gggggg" },
	{ "B unregisters",                     "gggggg" },
	{ "A RESERVE(6)",                      "ggcccc" },
	{ "A RELEASE(6)",                      "gggggg" },
	{ "B RESERVE(10)",                     "ccggcc" },
	{ "LU reset",                          "gggggg" },
	{ "C RESERVE(6)",                      "ccccgg" },
	{ "C's I_T nexus is lost",             "gggggg" },
};

void pr_walk_init(struct pr_walk *w, struct vdisk_pr *pr)
{
	w->pr = pr;
	pr_mk_nexus(&w->a, "iqn.2024-01.test:walk-a", "23d000001", 0);
	pr_mk_nexus(&w->b, "iqn.2024-01.test:walk-b", "23d000002", 1);
	pr_mk_nexus(&w->c, "iqn.2024-01.test:walk-c", "23d000003", 2);
}

const char *pr_walk_name(unsigned i)
{
	return steps[i].name;
}

const char *pr_walk_expect(unsigned i)
{
	return steps[i].expect;
}

/* SPC-4 6.16.4: REGISTER AND MOVE from `from` (key rk) to `to`'s
 * TransportID on relative target port 1, new key sark, UNREG set. */
static uint8_t register_and_move(struct vdisk_pr *pr, const struct vs_nexus *from,
                                 const struct vs_nexus *to, uint64_t rk, uint64_t sark)
{
	struct pr_cmd c;
	uint32_t tl = to->transport_id_len, plen = 24 + tl;
	uint8_t cdb[10] = { PERSISTENT_RESERVE_OUT, SA_REGISTER_MOVE };
	cdb[8] = (uint8_t)plen;
	pr_cmd_init(&c, from, cdb, sizeof(cdb), plen);
	c.srb.data_dir = VS_DIR_TO_DEVICE;
	pr_put64(c.buf, rk);
	pr_put64(c.buf + 8, sark);
	c.buf[17] = 0x02;                /* UNREG */
	c.buf[19] = 1;                   /* RELATIVE TARGET PORT IDENTIFIER */
	c.buf[23] = (uint8_t)tl;
	memcpy(c.buf + 24, to->transport_id, tl);
	pr_run(pr, &c);
	return c.srb.scsi_status;
}

void pr_walk_step(struct pr_walk *w, unsigned i)
{
	struct vdisk_pr *pr = w->pr;
	const struct vs_nexus *a = &w->a, *b = &w->b, *c = &w->c;
	uint8_t st = SAM_STAT_GOOD;

	switch (i) {
	case 0:  st = pr_prout(pr, a, SA_REGISTER, 0, 0, KA); break;
	case 1:  st = pr_prout(pr, b, SA_REGISTER, 0, 0, KB); break;
	case 2:  st = pr_prout(pr, a, SA_RESERVE, WE, KA, 0); break;
	case 3:  st = pr_prout(pr, a, SA_RELEASE, WE, KA, 0); break;
	case 4:  st = pr_prout(pr, a, SA_RESERVE, EA, KA, 0); break;
	case 5:  st = pr_prout(pr, b, SA_PREEMPT, WE_RO, KB, KA); break;
	case 6:  st = pr_prout(pr, a, SA_REGISTER, 0, 0, KA); break;
	case 7:  st = pr_prout(pr, b, SA_REGISTER, 0, KB, 0); break;
	case 8:  st = pr_prout(pr, a, SA_RESERVE, EA_AR, KA, 0); break;
	case 9:  st = pr_prout(pr, b, SA_REGISTER, 0, 0, KB); break;
	case 10: st = pr_prout(pr, a, SA_CLEAR, 0, KA, 0); break;
	case 11: st = pr_prout(pr, a, SA_REGISTER, 0, 0, KA); break;
	case 12: st = pr_prout(pr, a, SA_RESERVE, WE, KA, 0); break;
	case 13: st = register_and_move(pr, a, b, KA, KB); break;
	case 14: st = pr_prout(pr, b, SA_RELEASE, WE, KB, 0); break;
	case 15: st = pr_prout(pr, b, SA_REGISTER, 0, KB, 0); break;
	case 16: st = pr_send(pr, a, RESERVE_6, 0); break;
	case 17: st = pr_send(pr, a, RELEASE_6, 0); break;
	case 18: st = pr_send(pr, b, RESERVE_10, 0); break;
	case 19: vs_vdisk_pr_reset(pr); break;
	case 20: st = pr_send(pr, c, RESERVE_6, 0); break;
	case 21: vs_vdisk_pr_nexus_loss(pr, c); break;
	default: fail_msg("pr_walk: no step %u", i);
	}
	if (st != SAM_STAT_GOOD)
		fail_msg("pr_walk step %u (%s): status 0x%02x", i, steps[i].name, st);
}

/* No cmocka call here: observers run on threads of their own.  Any other
 * status is '?', which matches no expectation. */
static char verdict(struct vdisk_pr *pr, const struct vs_nexus *n, uint8_t op)
{
	uint8_t st = pr_send(pr, n, op, 0);
	return st == SAM_STAT_GOOD ? 'g' : st == SAM_STAT_RESERVATION_CONFLICT ? 'c' : '?';
}

void pr_walk_observe_one(struct pr_walk *w, unsigned n, char *got)
{
	const struct vs_nexus *nx = n == 0 ? &w->a : n == 1 ? &w->b : &w->c;
	got[0] = verdict(w->pr, nx, READ_10);
	got[1] = verdict(w->pr, nx, WRITE_10);
}

void pr_walk_observe(struct pr_walk *w, char *got)
{
	for (unsigned n = 0; n < 3; n++)
		pr_walk_observe_one(w, n, got + 2 * n);
	got[6] = '\0';
}
