/* SPDX-License-Identifier: MIT */
/*
 * vdisk internals: the per-adapter, per-LUN and per-SRB state of the SBC-3
 * disk emulation, and the small helpers its command files share.
 *
 * Files:
 *   vdisk_miniport.c  miniport table, adapter and LUN lifecycle, lun_control
 *   vdisk_dispatch.c  command table, CDB checks, start_io
 *   vdisk_sense.c     status, backend errno to sense, MISCOMPARE, data-in helpers
 *   vdisk_inquiry.c   INQUIRY and VPD pages
 *   vdisk_capacity.c  READ CAPACITY 10/16, GET LBA STATUS
 *   vdisk_rw.c        READ/WRITE/VERIFY/SYNC CACHE/PRE-FETCH, bio completion
 *   vdisk_gate.c      the write gate (lock-free for writes, exclusive side locked)
 *   vdisk_engine.c    serialized per-LUN buffer jobs: COMPARE AND WRITE, VERIFY BYTCHK,
 *                     WRITE AND VERIFY's read-back, patterned WRITE SAME
 *   vdisk_provision.c WRITE SAME, UNMAP
 *   vdisk_mode.c      MODE SENSE / MODE SELECT
 *   vdisk_misc.c      TUR, REQUEST SENSE, START STOP, PREVENT ALLOW, SEND DIAGNOSTIC,
 *                     FORMAT UNIT, reservations glue
 *   vdisk_opcodes.c   REPORT SUPPORTED OPERATION CODES / TASK MANAGEMENT FUNCTIONS
 *   vdisk_sanitize.c  SANITIZE (background job on the worker pool), abort_srb
 *   vdisk_orwrite.c   ORWRITE(16), WRITE ATOMIC(16)
 *   vdisk_medium.c    removable medium: START STOP UNIT, PREVENT ALLOW MEDIUM
 *                     REMOVAL; READ DEFECT DATA
 *   vdisk_xcopy.c     EXTENDED COPY (LID1): parameter list checks, the copy job
 *   vdisk_xcopy_results.c  RECEIVE COPY RESULTS, held copy status, target lookup
 *   vdisk_resource.c  the block stack's events: resource lost / back / resized / failed
 */
#ifndef VDISK_INT_H
#define VDISK_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vstor/bdev.h"
#include "vstor/miniport.h"
#include "vstor/scsi.h"
#include "vstor/srb.h"
#include "vstor/vdisk.h"

/* ---- limits we advertise (VPD 0xB0) ---- */
#define VDISK_MAX_XFER_BYTES    (8u << 20)  /* adapter max_transfer_length */
#define VDISK_ENGINE_BUF_BYTES  (1u << 20)  /* per-LUN buffer for compare / pattern jobs */
#define VDISK_MAX_CAW_BLOCKS    128u        /* MAXIMUM COMPARE AND WRITE LENGTH */
#define VDISK_MAX_UNMAP_LBAS    (1u << 20)  /* per UNMAP command */
#define VDISK_MAX_UNMAP_DESC    256u
#define VDISK_MAX_WS_BLOCKS     0xffffu     /* MAXIMUM WRITE SAME LENGTH */
#define VDISK_MAX_LUNS          1024u
#define VDISK_QUEUE_DEPTH       128u
#define VDISK_DETACH_TIMEOUT_MS 10000u     /* default vs_vdisk_adapter_config.detach_timeout_ms */
/* An IEEE company ID with the locally-administered bit set (it is not a
 * registered OUI, so it can never collide with a real vendor's NAA names). */
#define VDISK_NAA_OUI           0x525400u
/*
 * SANITIZE OVERWRITE runs in the background at a bounded rate so one LUN's
 * sanitize cannot saturate a backend (file, remote) and the memory
 * bandwidth that other LUNs share (SBC-4 4.11: sanitize is a long-running
 * background operation, reported with progress through REQUEST SENSE).
 */
#define VDISK_SANITIZE_MIB_PER_S 128u
#define VDISK_MAX_PREVENT       16u         /* I_T nexuses holding PREVENT */

/* Opcodes and sense codes vdisk uses that scsi.h does not list. */
#define VDISK_OP_READ_DEFECT_DATA_10 0x37
#define VDISK_OP_SANITIZE            0x48
#define VDISK_OP_READ_DEFECT_DATA_12 0xb7
#define VDISK_SA_OVERWRITE           0x01
#define VDISK_SA_BLOCK_ERASE         0x02
#define VDISK_SA_CRYPTO_ERASE        0x03
#define VDISK_SA_EXIT_FAILURE_MODE   0x1f
#define VDISK_ASC_LUN_NOT_READY_INIT_CMD_REQUIRED 0x0402
#define VDISK_ASC_SANITIZE_IN_PROGRESS 0x041b
#define VDISK_ASC_NOT_READY_TO_READY  0x2800
#define VDISK_ASC_SANITIZE_FAILED     0x3103
#define VDISK_OP_EXTENDED_COPY        0x83
#define VDISK_OP_RECEIVE_COPY_RESULTS 0x84
#define VDISK_SENSE_COPY_ABORTED      0x0a
#define VDISK_ASC_OPERATION_IN_PROGRESS 0x0016
#define VDISK_ASC_UNREACHABLE_COPY_TARGET 0x0804
#define VDISK_ASC_COPY_TARGET_NOT_REACHABLE 0x0d02
#define VDISK_ASC_TOO_MANY_TARGET_DESC  0x2606
#define VDISK_ASC_UNSUPPORTED_TARGET_DESC 0x2607
#define VDISK_ASC_TOO_MANY_SEGMENT_DESC 0x2608
#define VDISK_ASC_UNSUPPORTED_SEGMENT_DESC 0x2609

/* EXTENDED COPY limits (RECEIVE COPY RESULTS OPERATING PARAMETERS) */
#define VDISK_XCOPY_MAX_TARGETS   16u
#define VDISK_XCOPY_MAX_SEGMENTS  64u
#define VDISK_XCOPY_MAX_LIST      4096u  /* MAXIMUM DESCRIPTOR LIST LENGTH */
#define VDISK_XCOPY_HELD          16u    /* copy statuses held per LUN */

/* lun->not_ready bits: why media-access commands are refused now. */
#define VDISK_NR_SANITIZE        0x1u   /* NOT READY, SANITIZE IN PROGRESS */
#define VDISK_NR_SANITIZE_FAILED 0x2u   /* MEDIUM ERROR, SANITIZE COMMAND FAILED */
#define VDISK_NR_NO_MEDIUM       0x4u   /* NOT READY, MEDIUM NOT PRESENT */
#define VDISK_NR_LOST            0x8u   /* NOT READY, BECOMING READY: resource away */
#define VDISK_NR_FAILED          0x10u  /* NOT READY, MANUAL INTERVENTION REQUIRED */

struct vdisk_pr;
struct vdisk_cmd;

struct vdisk_adapter {
	struct vs_port *port;
	char     target_name[224];
	uint16_t rel_target_port_id;
	/* guards `luns` (target-wide resets, nexus loss, EXTENDED COPY target
	 * lookup) and every LUN's xc_refs */
	pthread_mutex_t luns_lock;
	struct vdisk_lun *luns;
	/* Detached LUNs whose backend did not give every request back within
	 * detach_timeout_ms: kept (not freed) so a late completion finds live
	 * memory; freed at free_adapter once quiet.  Guarded by luns_lock. */
	struct vdisk_lun *orphans;
	uint32_t detach_timeout_ms;
	uint16_t transport_version;  /* standard INQUIRY version descriptor; 0: none */
};

/* The status of one EXTENDED COPY with LIST ID USAGE 00b, held for RECEIVE
 * COPY RESULTS (SPC-4 6.18): per I_T nexus and list identifier. */
struct vdisk_xcopy_held {
	bool     used;
	bool     active;            /* the copy is still running */
	uint8_t  list_id;
	uint8_t  cm_status;         /* COPY MANAGER STATUS: 0 running, 1 done, 2 failed */
	uint8_t  scsi_status;       /* of the EXTENDED COPY command */
	uint8_t  sense_len;
	uint16_t segments;          /* SEGMENTS PROCESSED */
	uint32_t gen;               /* which copy owns the slot */
	uint64_t bytes;             /* bytes copied so far */
	const struct vs_nexus *nexus;
	uint8_t  sense[VS_SENSE_MAX];
};

/* Mode page state a MODE SELECT may change (SPC-4 7.5). */
struct vdisk_mode {
	bool wce;        /* caching page: write cache enabled */
	bool d_sense;    /* control page: descriptor-format sense */
	bool swp;        /* control page: software write protect */
};

typedef void (*vdisk_step_fn)(struct vdisk_cmd *c);

/* One sanitize operation (vdisk_sanitize.c); it outlives its SRB. */
struct vdisk_sanitize {
	struct vs_work work;
	struct vs_srb *srb;        /* IMMED=0: completed at the end; else NULL */
	bool     running;          /* the job owns the engine buffer */
	bool     cancel;           /* LUN detach: stop early */
	uint8_t  sa;
	uint8_t  passes;           /* OVERWRITE COUNT */
	bool     invert;
	uint32_t pat_len;
	uint8_t  pattern[4096];    /* INITIALIZATION PATTERN, at most one block */
	_Atomic uint32_t progress; /* 0..65535 for REQUEST SENSE */
};

/*
 * One LUN.  Allocated by vdisk itself (the port's LUN extension holds only
 * a pointer to it, see vdisk_lun_of), because a LUN the backend still
 * holds requests of must outlive its detach.
 */
struct vdisk_lun {
	struct vdisk_adapter *ad;
	struct vdisk_lun *next;    /* in ad->luns, or in ad->orphans once detached */
	struct vs_port_lun *plun;
	struct vs_bdev *bdev;
	struct vs_backend_caps caps;
	uint32_t block_size;
	uint32_t block_shift;
	_Atomic uint64_t nblocks;
	bool     readonly;
	char     vendor[9];
	char     product[17];
	char     revision[5];
	char     serial[65];
	uint8_t  naa[16];          /* NAA-6 designator, 16 bytes */
	struct vdisk_pr *pr;

	/* mode state: read lock-free on the I/O path, written under mode_lock */
	pthread_mutex_t mode_lock;
	_Atomic bool wce;
	_Atomic bool d_sense;
	_Atomic bool swp;

	/*
	 * Write gate (SBC-3 5.2 COMPARE AND WRITE atomicity): writes count
	 * themselves in; a command that needs the medium alone (COMPARE AND
	 * WRITE, ORWRITE, WRITE ATOMIC, SANITIZE) takes the gate exclusively
	 * once in-flight writes drained; writes arriving meanwhile are parked
	 * and restarted when it ends.  Lock-free for writes while no exclusive
	 * command is there (vdisk_gate.c); excl_waiter and the parked list are
	 * guarded by lock.  Engine: one buffer job at a time per LUN.
	 */
	pthread_mutex_t lock;
	_Atomic uint32_t writes_inflight;
	_Atomic bool excl;
	struct vdisk_cmd *excl_waiter;
	struct vdisk_cmd *parked_head, *parked_tail;
	bool     engine_busy;
	struct vdisk_cmd *engine_head, *engine_tail;
	uint8_t *buf;              /* VDISK_ENGINE_BUF_BYTES, guarded by engine_busy */

	/* VDISK_NR_*: read with one relaxed load per command in start_io */
	_Atomic uint32_t not_ready;
	uint32_t phys_shift;       /* log2(logical blocks per physical block) */
	bool     removable;
	uint32_t nprevent;         /* guarded by lock */
	/* I_T nexuses holding PREVENT MEDIUM REMOVAL (SBC-3 5.12), removed
	 * at their I_T nexus loss (the miniport's nexus_lost callback) */
	const struct vs_nexus *prevent[VDISK_MAX_PREVENT];
	struct vdisk_sanitize san; /* guarded by lock */

	/* EXTENDED COPY: held statuses (guarded by lock); the running copy
	 * job owns xc_tgt (it also owns the engine buffer) */
	struct vdisk_xcopy_held xc_held[VDISK_XCOPY_HELD];
	uint32_t xc_gen;
	uint32_t xc_jobs;           /* copy jobs queued or running */
	bool     xc_cancel;         /* LUN detach: stop early */
	uint32_t xc_refs;           /* copy jobs of other LUNs using this one (ad->luns_lock) */
	struct vdisk_lun *xc_tgt[VDISK_XCOPY_MAX_TARGETS];

	/* Work handed out and not yet fully back: bios submitted to the
	 * backend whose completion handler has not returned, READ data lent
	 * to the submitter (the READ's bio hands its count on to the loan,
	 * vdisk_rw.c bio_done), and PR OUT items queued on the worker pool.
	 * While non-zero someone holds pointers into this LUN (SRB
	 * extensions, lun->buf, lun->pr), so it must not be freed.  One
	 * atomic add/sub per bio, no lock. */
	_Atomic uint32_t outstanding;
	/* Set at detach: worker jobs waiting for a bio give up (-ECANCELED). */
	_Atomic bool draining;

	/* vdisk_resource.c: the stack's events, applied on the worker pool */
	struct vs_work ev_work;
	_Atomic uint32_t ev_flags;
	_Atomic uint32_t hold_ms;       /* what the last LOST asked for */
	vs_vdisk_event_fn on_event;     /* the LUN's user, told after vdisk */
	void *event_ctx;
};

/* The LUN behind the port's LUN extension. */
static inline struct vdisk_lun *vdisk_lun_of(void *lun_ext)
{
	return lun_ext ? *(struct vdisk_lun **)lun_ext : NULL;
}

/* Per-SRB state, in srb->ext (Storport SrbExtension): no allocation. */
struct vdisk_cmd {
	struct vs_srb *srb;
	struct vdisk_lun *lun;
	struct vs_bio bio;
	struct vs_work work;
	struct vdisk_cmd *next;     /* gate / engine queues */
	bool   (*iter)(struct vdisk_cmd *c); /* multi-bio commands, see vs_vdisk_iterate() */
	_Atomic int sync;
	uint32_t phase;
	vdisk_step_fn resume;       /* restart after being parked */
	vdisk_step_fn on_bio;       /* next step when the bio completes (err in bio_err) */
	int      bio_err;
	uint64_t lba;
	uint64_t nblocks;           /* as in the CDB */
	uint64_t xfer_bytes;        /* what this command actually moves */
	uint64_t pos;               /* progress of multi-step commands */
	uint32_t bio_flags;
	uint8_t  dir_write;         /* error mapping: write-side sense */
	bool     gate_held;
	bool     flush_after;       /* FUA emulated with a flush */
	bool     verify_after;      /* WRITE AND VERIFY: read back once written */
	uint8_t  bytchk;
	bool     unmap;
	bool     ndob;
	bool     pattern_zero;
	struct iovec iov;
	/* EXTENDED COPY */
	uint32_t xc_tdl, xc_sdl;    /* target / segment descriptor list lengths */
	int32_t  xc_slot;           /* held status slot, -1: none */
	uint32_t xc_gen;
};

/* ---- vdisk_sense.c (sense itself: vs_srb_set_sense & co, srb.h) ---- */
/* MISCOMPARE with INFORMATION = offset in the data-out buffer. */
void vs_vdisk_miscompare(struct vs_srb *srb, uint64_t offset);
void vs_vdisk_good(struct vs_srb *srb);
void vs_vdisk_busy(struct vs_srb *srb);
/* Map a backend -errno to a status (see vdisk_sense.c for the table). */
void vs_vdisk_set_errno(struct vs_srb *srb, int err, bool write);
/* Send `len` bytes of a response built in `buf`, of which the command asked
 * for `alloc_len` (SPC-4 4.2.5.6): truncates, sets xfer_len and residuals. */
void vs_vdisk_data_in(struct vs_srb *srb, const void *buf, uint32_t len, uint32_t alloc_len);
/* Residuals for a command that needs `need` bytes (SAM-5 5.4.3). */
void vs_vdisk_set_residual(struct vs_srb *srb, uint64_t need);
/* Copy up to `max` data-out bytes into buf; returns bytes copied. */
uint32_t vs_vdisk_data_out(struct vs_srb *srb, void *buf, uint32_t max);

/* ---- vdisk_rw.c: CDB decoding for the READ/WRITE/VERIFY families ---- */
struct rw_args {
	uint64_t lba;
	uint64_t n;
	uint16_t len_byte;      /* where the TRANSFER LENGTH field starts */
	bool fua;
};
void vs_vdisk_decode_rw(const uint8_t *cdb, struct rw_args *a);

/* ---- vs_vdisk_data_out.c: the miniport's data_out_length callback ---- */
int vs_vdisk_data_out_length(void *adapter_ext, void *lun_ext, const struct vs_srb *srb,
                          uint64_t *bytes);

/* ---- vdisk_dispatch.c ---- */
struct vdisk_cmd_desc {
	uint8_t  opcode;
	uint8_t  sa;               /* service action when has_sa */
	bool     has_sa;
	uint8_t  cdb_len;
	uint8_t  flags;            /* VDISK_F_* */
	uint8_t  mask[16];         /* bits of each CDB byte we use (byte 0 unused) */
	void   (*fn)(struct vdisk_lun *lun, struct vs_srb *srb);
	bool   (*available)(const struct vdisk_lun *lun);
	uint16_t timeout_nominal;  /* seconds, for RCTD */
};
#define VDISK_F_PROTECT_FIELD 0x01  /* byte 1 bits 7-5 are RD/WR/VRPROTECT */
#define VDISK_F_PORT_ONLY     0x02  /* answered by the port; listed for RSOC only */
#define VDISK_F_NO_MEDIUM_OK  0x04  /* runs without a medium (SBC-3 4.x removable) */
#define VDISK_F_SANITIZE_OK   0x08  /* runs while a sanitize is in progress (SBC-4 4.11) */

extern const struct vdisk_cmd_desc vs_vdisk_cmd_table[];
extern const size_t vs_vdisk_cmd_table_len;
/* NULL if not supported at all; *sa_unknown set if the opcode is known but
 * the service action is not. */
const struct vdisk_cmd_desc *vs_vdisk_cmd_lookup(uint8_t opcode, uint8_t sa, bool *sa_unknown);
bool vs_vdisk_opcode_has_sa(uint8_t opcode);
void vs_vdisk_start_io(void *adapter_ext, void *lun_ext, struct vs_srb *srb);

/* ---- command handlers ---- */
void vs_vdisk_cmd_inquiry(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_read_capacity10(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_read_capacity16(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_get_lba_status(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_read(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_write(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_verify(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_sync_cache(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_prefetch(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_compare_and_write(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_write_same(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_unmap(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_mode_sense(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_mode_select(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_test_unit_ready(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_request_sense(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_start_stop(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_prevent_allow(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_send_diagnostic(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_format_unit(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_pr_in(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_pr_out(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_reserve(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_release(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_report_opcodes(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_report_tmfs(struct vdisk_lun *lun, struct vs_srb *srb);

void vs_vdisk_cmd_sanitize(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_orwrite(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_write_atomic(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_read_defect_data(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_extended_copy(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_cmd_receive_copy_results(struct vdisk_lun *lun, struct vs_srb *srb);

bool vs_vdisk_avail_unmap(const struct vdisk_lun *lun);

/* ---- vdisk_sanitize.c ---- */
/* Why the LUN cannot run `srb` now (lun->not_ready was non-zero): sets the
 * sense and returns true, or returns false if the command may run. */
bool vs_vdisk_not_ready(struct vdisk_lun *lun, struct vs_srb *srb, uint32_t nr,
                     const struct vdisk_cmd_desc *d);
/* REQUEST SENSE: the pending not-ready condition, or NO SENSE. */
void vs_vdisk_pending_sense(struct vdisk_lun *lun, struct vs_sense *s);
/* The SRB waiting for a sanitize is given back (the sanitize goes on): true */
bool vs_vdisk_sanitize_abort(struct vdisk_lun *lun, struct vs_srb *srb);
void vs_vdisk_sanitize_init(struct vdisk_lun *lun);
/* LUN detach: cancel a running sanitize and wait until it stopped or
 * deadline_ms (vs_vdisk_now_ms) passed; true if it stopped.  Blocking. */
bool vs_vdisk_sanitize_stop(struct vdisk_lun *lun, uint64_t deadline_ms);

/* ---- vdisk_xcopy.c / vdisk_xcopy_results.c ---- */
void vs_vdisk_xcopy_init(struct vdisk_lun *lun);
/* LUN detach: stop a copy job of this LUN, wait until no other LUN's job
 * uses it (call after the LUN left ad->luns), at most until deadline_ms;
 * true if both happened.  Blocking. */
bool vs_vdisk_xcopy_stop(struct vdisk_lun *lun, uint64_t deadline_ms);
void vs_vdisk_xcopy_nexus_loss(struct vdisk_lun *lun, const struct vs_nexus *nexus);
/* A held-status slot for (nexus, list_id): index, -1 if a copy with that
 * list identifier is still running (OPERATION IN PROGRESS), -2 if every
 * slot holds a running copy (BUSY). */
int  vs_vdisk_xcopy_hold(struct vdisk_lun *lun, const struct vs_nexus *nexus, uint8_t list_id,
                      uint32_t *gen);
/* The copy of slot/gen made progress or ended (final: status from srb). */
void vs_vdisk_xcopy_progress(struct vdisk_lun *lun, int slot, uint32_t gen, uint16_t segments,
                          uint64_t bytes, const struct vs_srb *final);
/* The LUN of this adapter whose NAA designator is naa[16], with a
 * reference (vs_vdisk_xcopy_put), or NULL. */
struct vdisk_lun *vs_vdisk_xcopy_get(struct vdisk_adapter *ad, const uint8_t naa[16]);
void vs_vdisk_xcopy_put(struct vdisk_adapter *ad, struct vdisk_lun *lun);

/* ---- vdisk_resource.c ---- */
/* Take the stack's events (and its state now); stop taking them. */
void vs_vdisk_resource_attach(struct vdisk_lun *lun);
void vs_vdisk_resource_detach(struct vdisk_lun *lun);

/* ---- vdisk_medium.c ---- */
void vs_vdisk_prevent_clear(struct vdisk_lun *lun);
void vs_vdisk_prevent_nexus_loss(struct vdisk_lun *lun, const struct vs_nexus *n);
/* Maximum atomic transfer length in blocks (VPD B0h, WRITE ATOMIC). */
static inline uint32_t vdisk_max_atomic_blocks(const struct vdisk_lun *lun)
{
	return VDISK_MAX_XFER_BYTES >> lun->block_shift;
}

/* ---- vdisk_rw.c: shared I/O plumbing ---- */
static inline struct vdisk_cmd *vdisk_cmd_of(struct vs_srb *srb)
{
	return (struct vdisk_cmd *)srb->ext;
}
struct vdisk_cmd *vs_vdisk_cmd_init(struct vdisk_lun *lun, struct vs_srb *srb);
static inline uint64_t vdisk_capacity(const struct vdisk_lun *lun)
{
	return atomic_load_explicit(&lun->nblocks, memory_order_acquire);
}
/* LBA range check (SBC-3 4.5); sets LBA OUT OF RANGE and returns false. */
bool vs_vdisk_check_range(struct vdisk_lun *lun, struct vs_srb *srb, uint64_t lba, uint64_t n);
/* DATA PROTECT if the LUN is read-only or SWP is set. */
bool vs_vdisk_check_writable(struct vdisk_lun *lun, struct vs_srb *srb);
/* Submit c->bio; on_bio runs on completion (maybe inline). */
void vs_vdisk_submit_bio(struct vdisk_cmd *c, uint8_t op, uint64_t offset, uint64_t len,
                      struct iovec *iov, int iovcnt, uint32_t flags, vdisk_step_fn on_bio);
/* Run fn(c) on the port's worker pool (where blocking is allowed), the
 * LUN counting it as outstanding until fn returns; 0 or -ENOMEM (queue
 * full: the caller answers BUSY). */
int vs_vdisk_cmd_queue_work(struct vdisk_cmd *c, vdisk_step_fn fn);
/* Finish: release the gate if held, then vs_port_complete(). */
void vs_vdisk_finish(struct vdisk_cmd *c);
/* ---- vdisk_gate.c ---- */
/* Gate: true = go on now; false = parked, c->resume runs later. */
bool vs_vdisk_gate_enter(struct vdisk_cmd *c, vdisk_step_fn resume);
void vs_vdisk_gate_exit(struct vdisk_lun *lun);
/* Exclusive gate for COMPARE AND WRITE & co; `go` runs once writes drained
 * (the caller holds the engine, so there is one exclusive user at a time). */
void vs_vdisk_gate_exclusive(struct vdisk_cmd *c, vdisk_step_fn go);
void vs_vdisk_gate_exclusive_end(struct vdisk_lun *lun);
/* lun->lock held: take the gate exclusively only if no write is in flight
 * now (SANITIZE's claim); false leaves the gate as it was. */
bool vs_vdisk_gate_try_exclusive_locked(struct vdisk_lun *lun);
/*
 * Multi-bio commands: c->iter() either submits one bio with
 * vs_vdisk_iter_submit() and returns true, or finishes the command and returns
 * false.  Inline completions loop instead of recursing, so a long WRITE SAME
 * on a RAM backend cannot overflow the stack.
 */
void vs_vdisk_iterate(struct vdisk_cmd *c);
void vs_vdisk_iter_submit(struct vdisk_cmd *c, uint8_t op, uint64_t offset, uint64_t len,
                       struct iovec *iov, int iovcnt, uint32_t flags);
/* Should a write carry FUA (CDB FUA, or WCE=0 on a cached backend)? */
uint32_t vs_vdisk_write_flags(struct vdisk_lun *lun, bool fua);

/* ---- vdisk_job.c: blocking I/O for threads that may sleep ---- */
/*
 * Submit one bio on lun's backend and wait for it; its status (0 or
 * -errno).  buf may be NULL (FLUSH, UNMAP, WRITE ZEROES); it belongs to
 * buf_owner (NULL: lun), which is counted as holding the bio too.  Gives up
 * with -ECANCELED (leaving the bio to the backend) once lun or buf_owner is
 * being detached.  Only from the worker pool, never from start_io.
 */
int vs_vdisk_job_bio(struct vdisk_lun *lun, struct vdisk_lun *buf_owner, uint8_t op, uint64_t off,
                  uint64_t len, void *buf, uint32_t flags);
/*
 * Control paths (lun_control, detach, adapter stop): FLUSH the LUN's cache
 * (0 at once without one, SBC-3 5.22) and wait at most timeout_ms:
 * -ETIMEDOUT if the backend has not answered by then.  Sets vs_set_error()
 * on failure.
 */
int vs_vdisk_flush_wait(struct vdisk_lun *lun, uint32_t timeout_ms);
/* The same with an absolute deadline (vs_vdisk_now_ms), a part of a longer
 * bound (a LUN's detach): an error names the whole bound, bound_ms. */
int vs_vdisk_flush_until(struct vdisk_lun *lun, uint64_t deadline_ms, uint32_t bound_ms);
/* Count work handed out for lun (a bio, a queued work item) ... */
static inline void vdisk_out_get(struct vdisk_lun *lun)
{
	atomic_fetch_add_explicit(&lun->outstanding, 1, memory_order_relaxed);
}
/* ... and its end, after the last touch of lun by its completion. */
static inline void vdisk_out_put(struct vdisk_lun *lun)
{
	/* release: whoever sees 0 (detach) sees everything the handler wrote */
	atomic_fetch_sub_explicit(&lun->outstanding, 1, memory_order_release);
}
/* Monotonic milliseconds, for the bounded waits of the control paths. */
uint64_t vs_vdisk_now_ms(void);
/* Poll done(lun) every millisecond until true or deadline_ms passes;
 * returns its last value.  Detach only (rare, control path). */
bool vs_vdisk_poll_until(struct vdisk_lun *lun, bool (*done)(struct vdisk_lun *lun),
                      uint64_t deadline_ms);

/*
 * Park c at the tail of a FIFO of waiting commands, to be restarted with
 * resume().  The engine queue and the write gate's parked list are both
 * such FIFOs; the caller holds lun->lock.
 */
static inline void vdisk_cmd_park(struct vdisk_cmd **head, struct vdisk_cmd **tail,
                                  struct vdisk_cmd *c, vdisk_step_fn resume)
{
	c->resume = resume;
	c->next = NULL;
	if (*tail)
		(*tail)->next = c;
	else
		*head = c;
	*tail = c;
}

/* ---- vdisk_engine.c ---- */
void vs_vdisk_engine_run(struct vdisk_cmd *c, vdisk_step_fn start);
/* Called by a job when it is over: completes the SRB and starts the next job. */
void vs_vdisk_engine_finish(struct vdisk_cmd *c);
/* Hand the engine to the next queued job (or mark it idle). */
void vs_vdisk_engine_release(struct vdisk_lun *lun);
void vs_vdisk_engine_caw(struct vdisk_cmd *c);
void vs_vdisk_engine_verify(struct vdisk_cmd *c);
void vs_vdisk_engine_write_same(struct vdisk_cmd *c);

/* ---- vdisk_mode.c ---- */
void vs_vdisk_mode_init(struct vdisk_lun *lun);

/* ---- byte helpers ---- */
static inline uint16_t vd_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t vd_get24(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }
static inline uint32_t vd_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t vd_get64(const uint8_t *p) { return (uint64_t)vd_get32(p) << 32 | vd_get32(p + 4); }
static inline void vd_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void vd_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void vd_put64(uint8_t *p, uint64_t v) { vd_put32(p, (uint32_t)(v >> 32)); vd_put32(p + 4, (uint32_t)v); }

#endif
