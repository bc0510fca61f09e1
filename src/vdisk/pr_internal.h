/* SPDX-License-Identifier: MIT */
/*
 * Private to src/vdisk/pr*.c: the persistent-reservation state of one LUN
 * and the helpers the PR IN / PR OUT / persistence files share.
 */
#ifndef VSTOR_VDISK_PR_INTERNAL_H
#define VSTOR_VDISK_PR_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "pr.h"

/* SPC-4 Annex D: 26h/04h INVALID RELEASE OF PERSISTENT RESERVATION */
#ifndef ASC_INVALID_RELEASE_OF_PERSISTENT_RESERVATION
#define ASC_INVALID_RELEASE_OF_PERSISTENT_RESERVATION 0x2604
#endif
#ifndef LOG_SENSE
#define LOG_SENSE                   0x4d
#endif
#define PR_RECEIVE_DIAGNOSTIC       0x1c
#define PR_READ_DEFECT_DATA_10      0x37
#define PR_READ_DEFECT_DATA_12      0xb7
#define PR_READ_ATTRIBUTE           0x8c
#define PR_MI_REPORT_IDENTIFYING_INFO 0x05
#define PR_MI_REPORT_TARGET_PGS     0x0a

/* SPC-4 6.15.1 PERSISTENT RESERVE IN service actions */
enum {
	PRIN_READ_KEYS = 0,
	PRIN_READ_RESERVATION = 1,
	PRIN_REPORT_CAPABILITIES = 2,
	PRIN_READ_FULL_STATUS = 3,
};

/* SPC-4 6.16.2 PERSISTENT RESERVE OUT service actions */
enum {
	PROUT_REGISTER = 0,
	PROUT_RESERVE = 1,
	PROUT_RELEASE = 2,
	PROUT_CLEAR = 3,
	PROUT_PREEMPT = 4,
	PROUT_PREEMPT_AND_ABORT = 5,
	PROUT_REGISTER_AND_IGNORE = 6,
	PROUT_REGISTER_AND_MOVE = 7,
};

/* SPC-4 6.16.3 Table 188 persistent reservation types */
enum {
	PR_TYPE_WE = 1,
	PR_TYPE_EA = 3,
	PR_TYPE_WE_RO = 5,
	PR_TYPE_EA_RO = 6,
	PR_TYPE_WE_AR = 7,
	PR_TYPE_EA_AR = 8,
};
#define PR_SCOPE_LU 0

/* Registrations per LUN; one more gets INSUFFICIENT REGISTRATION RESOURCES. */
#define VDISK_PR_MAX_REGS 64
#define PR_NAME_MAX  280     /* sizeof(struct vs_nexus.name) */
#define PR_INAME_MAX 224
#define PR_TID_MAX   256
#define PR_NO_NEXUS  UINT32_MAX

struct pr_reg {
	bool     used;
	bool     all_tg_pt;     /* registered for every target port (SPC-4 5.13.7) */
	uint16_t rtpi;          /* relative target port id of the I_T nexus */
	uint32_t nexus_id;      /* last open nexus seen with this name, for UAs */
	uint64_t key;
	uint32_t name_hash;     /* pr_name_hash(name): cheap lookups per command */
	char     name[PR_NAME_MAX];         /* initiator port name (incl. ISID) */
	char     initiator_name[PR_INAME_MAX];
	uint16_t tid_len;
	uint8_t  tid[PR_TID_MAX];           /* TransportID for READ FULL STATUS */
};

/* Everything PERSISTENT RESERVE OUT changes and APTPL preserves. */
struct pr_state {
	uint32_t generation;    /* PRGENERATION (SPC-4 6.15.2) */
	bool     aptpl;         /* persist through power loss active */
	bool     reserved;
	uint8_t  type;
	int      holder;        /* reg index; -1 for all-registrants types */
	uint16_t holder_rtpi;
	unsigned nregs;
	struct pr_reg regs[VDISK_PR_MAX_REGS];
};

/* SPC-2 RESERVE(6/10): volatile, one holder I_T nexus. */
struct pr_spc2 {
	bool     held;
	uint16_t rtpi;
	const struct vs_nexus *nexus_ptr;  /* the holder; cleared at its I_T nexus loss */
	char     name[PR_NAME_MAX];
};

struct pr_ua {
	char     name[PR_NAME_MAX];
	uint32_t nexus_id;
	uint16_t asc_ascq;
};

#define PR_IN_BUF_MAX (8 + VDISK_PR_MAX_REGS * (24 + PR_TID_MAX))

/*
 * What the per-command check reads without a lock (pr_verdict.c,
 * pr_conflict.c): the project's rule is no lock shared by all connections
 * on the I/O path, and clusters keep registrations all the time.
 *
 * pr->pub, one word: bits 0-15 the facts about the LUN's reservation state
 * the check needs (PR_PUB_*, the type in bits 8-15), bits 16-63 an epoch.
 * Every change of cur, spc2 or out_busy is made under pr->lock and ends,
 * in the same critical section, with vs_pr_publish(), which stores a new
 * epoch: while pub shows epoch e, the state under the lock is exactly the
 * state of epoch e.
 *
 * pr->verdict[slot], one word per I_T nexus (slot = nexus id + 1; slot 0
 * is the anonymous submitter without a nexus): what the state of epoch e
 * says about that nexus (PR_V_*: registered, persistent reservation
 * holder, RESERVE(6/10) holder), computed under pr->lock by comparing
 * names and stamped with e in bits 16-63.  A nexus's name and relative
 * target port never change while it is open, and its id is given to no
 * other nexus before nexus_lost, which clears the slot, returns
 * (miniport.h); so a verdict stamped with the current epoch is exactly what
 * the lookup under the lock would find, and any other stamp is recomputed.
 * Both are single 64-bit words: a reader never sees half of one.
 *
 * Why not publish an immutable copy of the state instead: the command
 * would still look its nexus up among the registrations (names compared
 * per command), and the copies would need safe reclamation (RCU or hazard
 * pointers).  With the verdict cached per nexus a command reads two words,
 * nothing is freed, and the lookup runs once per nexus per change.  A
 * 48-bit epoch renewed a million times a second wraps after 8 years; a
 * verdict would have to sit unused exactly that long to be mistaken.
 */
#define PR_EPOCH_SHIFT   16
#define PR_PUB_ACTIVE    0x0001u  /* any of the below: the check has work */
#define PR_PUB_SPC2      0x0002u  /* a RESERVE(6/10) is held */
#define PR_PUB_REGS      0x0004u  /* at least one registration */
#define PR_PUB_OUT_BUSY  0x0008u  /* a PR OUT is between snapshot and commit */
#define PR_PUB_RESERVED  0x0010u  /* a persistent reservation, of PR_PUB_TYPE */
#define PR_PUB_TYPE(w)   ((uint8_t)((w) >> 8))
#define PR_V_REG         0x0001u
#define PR_V_HOLDER      0x0002u
#define PR_V_SPC2        0x0004u
/* Nexus ids 0 .. PR_VERDICT_SLOTS - 2 have a slot (8 KiB a LUN); a nexus
 * beyond takes the lock for every command, as all did before. */
#define PR_VERDICT_SLOTS 1024

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2,
               "the reservation check needs lock-free 64-bit atomics");

struct vdisk_pr {
	/* Read by every command; written only when the state changes. */
	_Atomic uint64_t pub;
	_Atomic uint64_t verdict[PR_VERDICT_SLOTS];
	uint64_t epoch;         /* of pub; lock */

	struct vs_port_lun *lun;
	char *state_path;
	/* Guards cur, spc2, out_busy and epoch.  Never held across I/O, so
	 * a command whose verdict must be recomputed never waits for a disk. */
	pthread_mutex_t lock;
	/* Serialises PR OUT; held across the state-file write. */
	pthread_mutex_t out_lock;
	bool out_busy;          /* a PR OUT is between snapshot and commit */
	bool file_aptpl0;       /* the state file already says "not persistent" */
	struct pr_state cur;
	struct pr_state work;   /* PR OUT builds the new state here (out_lock) */
	struct pr_spc2 spc2;
	unsigned nua;           /* unit attentions to raise after commit */
	struct pr_ua ua[VDISK_PR_MAX_REGS * 2];
	/* PREEMPT AND ABORT: the I_T nexuses whose tasks to abort after
	 * commit (asc_ascq unused); out_lock */
	unsigned nabort;
	struct pr_ua abort[VDISK_PR_MAX_REGS];
	uint8_t in_buf[PR_IN_BUF_MAX];   /* PR IN reply, built under lock */
};

/* ---- big-endian helpers ---- */
static inline uint16_t pr_get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t pr_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t pr_get_be64(const uint8_t *p)
{
	return (uint64_t)pr_get_be32(p) << 32 | pr_get_be32(p + 4);
}
static inline void pr_put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void pr_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void pr_put_be64(uint8_t *p, uint64_t v)
{
	pr_put_be32(p, (uint32_t)(v >> 32)); pr_put_be32(p + 4, (uint32_t)v);
}

/* FNV-1a of an initiator port name */
static inline uint32_t pr_name_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* Bounded string copy that always terminates. */
static inline void pr_copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static inline bool pr_type_valid(uint8_t t)
{
	return t == PR_TYPE_WE || t == PR_TYPE_EA || t == PR_TYPE_WE_RO ||
	       t == PR_TYPE_EA_RO || t == PR_TYPE_WE_AR || t == PR_TYPE_EA_AR;
}
static inline bool pr_type_all_reg(uint8_t t) { return t == PR_TYPE_WE_AR || t == PR_TYPE_EA_AR; }
static inline bool pr_type_reg_only(uint8_t t) { return t == PR_TYPE_WE_RO || t == PR_TYPE_EA_RO; }

/* The nexus of an SRB; an SRB without one (in-process submitter) acts as
 * one anonymous initiator. */
const struct vs_nexus *vs_pr_nexus_of(const struct vs_srb *srb);
/* Registration index of nexus in st, or -1. */
int  vs_pr_find_reg(const struct pr_state *st, const struct vs_nexus *nx);
/* Is registration idx (reached through nexus nx) a reservation holder? */
bool vs_pr_is_holder(const struct pr_state *st, int idx, const struct vs_nexus *nx);
/* Is nx the I_T nexus holding the RESERVE(6/10)?  lock held */
bool vs_pr_spc2_is_holder(const struct pr_spc2 *s, const struct vs_nexus *nx);

/* pr_verdict.c.  After any change of cur, spc2 or out_busy, with
 * pr->lock still held: publish the new state under a new epoch. */
void vs_pr_publish(struct vdisk_pr *pr);
/* The verdict slot of a nexus (NULL: the anonymous submitter, slot 0);
 * PR_VERDICT_SLOTS when its id has none. */
static inline uint32_t pr_verdict_slot(const struct vs_nexus *nexus)
{
	if (!nexus)
		return 0;
	return nexus->id < PR_VERDICT_SLOTS - 1 ? nexus->id + 1 : PR_VERDICT_SLOTS;
}
/* Under pr->lock: the current pub word into *pub and the SRB's nexus's
 * verdict for it, kept in its slot.  The command's slow path. */
uint64_t vs_pr_verdict_refresh(struct vdisk_pr *pr, const struct vs_srb *srb, uint64_t *pub);
/* lock held: nexus is gone; its id's next nexus starts from the names. */
void vs_pr_verdict_forget(struct vdisk_pr *pr, const struct vs_nexus *nexus);
/* Fill TransportID (SPC-4 7.6.4) for a nexus; returns its length. */
uint16_t vs_pr_transport_id(const struct vs_nexus *nx, uint8_t *tid);

/* pr_persist.c: 0, or negative errno with vs_set_error(). A missing file
 * loads as the empty state. */
int vs_pr_persist_save(const char *path, const struct pr_state *st);
int vs_pr_persist_load(const char *path, struct pr_state *st);

#endif
