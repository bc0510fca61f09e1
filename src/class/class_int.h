/* SPDX-License-Identifier: MIT */
/*
 * Inside the disk class layer.  One struct vs_disk per opened LUN; its
 * mutex guards the request slots, the pieces, the queues and the limits.
 *
 * A block request (class_req) is cut into pieces lazily: each piece is one
 * SRB's worth of it (class_piece), cut when a piece and an SRB are free,
 * so a 1 GiB read never needs 128 piece records at once.  A piece that
 * must be retried keeps its record (and gives its SRB back); it waits in
 * the back-off list or the ready list and goes out again with a fresh SRB.
 *
 * Files (calls go one way): disk.c (create, destroy, abort) → probe.c
 * (the probe sequence) → queue.c (submit, the pump that starts pieces) →
 * piece.c (cut a piece, build its CDB and data) → probe_steps.c (each
 * probe command's CDB and parser).  complete.c (an SRB's done) → retry.c
 * (the table); complete.c → lba_status.c, probe_steps.c,
 * backoff.c, queue.c; backoff.c (timers) → queue.c.
 */
#ifndef VSTOR_CLASS_INT_H
#define VSTOR_CLASS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "vstor/class.h"
#include "vstor/port.h"
#include "vstor/scsi.h"
#include "../util/vs_be.h"

#define CLASS_IMMEDIATE_RETRIES 8u
#define CLASS_BACKOFF_FIRST_NS  1000000ull      /* 1 ms */
#define CLASS_BACKOFF_MAX_NS    100000000ull    /* 100 ms */
#define CLASS_DEFAULT_DEPTH     64u
#define CLASS_DEFAULT_IOV       16u
#define CLASS_DEFAULT_DEADLINE_MS 30000u
/* Without any reported limit a piece still fits the SRB's 32-bit length. */
#define CLASS_DEFAULT_MAX_XFER  (32u << 20)
/* Per-SRB buffer: UNMAP parameter list, GET LBA STATUS data, probe data. */
#define CLASS_SRB_BUF_MIN       4096u

/* internal ops, after enum vs_blk_op */
enum {
	CLASS_OP_PROBE = 100,           /* one probe step per piece (probe.c) */
	CLASS_OP_CAPACITY,              /* re-read READ CAPACITY(16) after 2A/09 */
};

enum class_phase {
	PHASE_IO = 0,                   /* pieces of the request itself */
	PHASE_SYNC,                     /* SYNCHRONIZE CACHE after WRITE SAME / UNMAP with FUA */
	PHASE_DONE,
};

struct class_req {
	struct vs_blk_request pub;      /* first: the user's view */
	struct vs_disk *disk;
	struct class_req *next;         /* free list / wait queue */
	uint64_t lba, nblocks;          /* the whole request, in blocks */
	uint64_t next_lba;              /* first block no piece covers yet */
	uint64_t deadline_ns;           /* back-off retries stop here */
	uint32_t outstanding;           /* pieces cut and not finished (in flight or waiting) */
	uint8_t  phase;
	bool     in_use;                /* handed out by vs_disk_request_get */
	bool     queued;                /* in the wait queue */
	bool     sync_after;            /* PHASE_SYNC follows PHASE_IO */
	bool     all_cut;               /* every piece of the current phase is cut */
	uint8_t  probe_step;            /* CLASS_OP_PROBE: the step running */
	void (*internal_done)(struct class_req *r);    /* CLASS_OP_*: instead of pub.done */
	struct vs_srb *lent;            /* kept for pub.data_ref until released */
};

enum piece_wait { WAIT_NONE = 0, WAIT_BACKOFF, WAIT_READY };

struct class_piece {
	struct class_req *req;
	struct class_piece *next;       /* free list / back-off list / ready list */
	struct vs_srb *srb;             /* while in the port */
	uint64_t lba, nblocks;
	uint64_t byte_off;              /* READ / WRITE: where in the request's data */
	uint64_t due_ns;                /* WAIT_BACKOFF: when to go again */
	uint64_t backoff_ns;            /* the next back-off step */
	struct iovec *iov;              /* READ / WRITE slice: max_sg entries */
	int      iovcnt;
	uint8_t  immediate;             /* retries at once so far */
	uint8_t  wait;                  /* enum piece_wait */
	bool     zero_block;            /* WRITE SAME: data-out block instead of NDOB */
};

/* What a finished SRB asks for (retry.c). */
enum class_action {
	ACT_DONE = 0,
	ACT_RETRY_NOW,
	ACT_BACKOFF,
	ACT_FAIL,
};
struct class_verdict {
	uint8_t action;                 /* enum class_action */
	int err;                        /* ACT_FAIL; or the error if retries run out */
	bool unit_attention;            /* report asc_ascq upward */
	uint16_t asc_ascq;
	bool invalid_field_in_cdb;      /* ILLEGAL REQUEST 24/00 (NDOB fallback) */
};

struct vs_disk {
	pthread_mutex_t lock;
	struct vs_port *port;
	struct vs_nexus *nexus;
	uint64_t lun;
	struct vs_srb_pool *pool;
	size_t srb_buf_len;
	uint32_t srb_timeout_ms;
	uint64_t deadline_ns;           /* retry_deadline_ms */
	uint32_t max_iov, max_sg, max_srbs, depth;
	struct vs_disk_timer timer;
	bool own_timer;                 /* registered with backoff.c's thread */
	vs_disk_event_fn event;
	void *event_ctx;
	vs_srb_done_fn srb_done;        /* complete.c's, set by disk.c */

	struct class_req *reqs;         /* depth slots */
	struct class_req *free_reqs;
	struct class_req probe_req, cap_req;    /* internal, not from the pool */
	struct class_piece *pieces;     /* max_srbs records */
	struct class_piece *free_pieces;
	struct iovec *iov_area;
	struct vs_srb **batch;          /* SRBs one pump pass submits */

	struct class_req *wait_head, *wait_tail;
	struct class_piece *ready_head, *ready_tail;
	struct class_piece *backoff_head;       /* sorted by due_ns */
	uint64_t armed_ns;              /* what the timer was last asked for */

	bool pumping, pump_again;
	bool aborting;                  /* vs_disk_abort: new requests get -ESHUTDOWN */
	bool probed;
	bool no_ndob;                   /* WRITE SAME NDOB refused once: send a zero block */
	uint32_t busy;                  /* request slots handed out */
	uint32_t srbs_out;              /* SRBs in the port */
	uint32_t user_pieces;           /* piece records block requests hold (<= max_srbs) */
	/* threads inside a class entry point; vs_disk_destroy waits for 0, so
	 * one finishing its work after the last done() never touches freed memory */
	atomic_uint inside;
	bool has_vpd_b0, has_vpd_b2;    /* the LUN lists these VPD pages */
	bool lbpme, lbpu;               /* READ CAPACITY(16), VPD B2h */
	bool cap_again;                 /* another 2A/09 came while re-reading */
	uint32_t internal_out;          /* probe / capacity requests under way */
	uint32_t b0_max_transfer;       /* VPD B0h MAXIMUM TRANSFER LENGTH, blocks */
	uint32_t adapter_max_xfer;      /* vs_port_adapter_caps, bytes (0: none) */

	struct vs_disk_info info;
	void (*probe_done)(void *ctx, int err);
	void *probe_ctx;
	uint8_t *zero_block;            /* block_size zeroes for the NDOB fallback */

	/* backoff.c's own timer thread: its list of disks */
	struct vs_disk *timer_next;
	uint64_t timer_due;
};

/* time on the disk's clock */
static inline uint64_t class_now(struct vs_disk *disk)
{
	struct timespec ts;

	if (disk->timer.now_ns)
		return disk->timer.now_ns(disk->timer.ctx);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* queue.c */
void vs_class_enqueue_locked(struct vs_disk *disk, struct class_req *r);
/* a piece goes (again) as soon as an SRB is free */
void vs_class_ready_push_locked(struct vs_disk *disk, struct class_piece *p);
void vs_class_pump(struct vs_disk *disk);
/* a piece record goes back (lock held); its request loses one outstanding */
void vs_class_piece_free_locked(struct vs_disk *disk, struct class_piece *p);
/* fail every queued / waiting piece of the disk with err (lock held);
 * returns requests that finished, linked by ->next */
struct class_req *vs_class_cancel_waiting_locked(struct vs_disk *disk, int err);
/* the request has nothing outstanding: the next phase, or finished (true) */
bool vs_class_req_settle_locked(struct vs_disk *disk, struct class_req *r);
/* run the finished requests' callbacks (no lock held) */
void vs_class_finish_list(struct class_req *list);

/* piece.c */
/* Cut the next piece of r (r->next_lba moves, r->all_cut says whether it
 * was the last); 0, or -EINVAL when the data cannot be cut into blocks. */
int  vs_class_piece_cut(struct vs_disk *disk, struct class_req *r, struct class_piece *p);
/* Fill srb from p: CDB, direction, data. */
void vs_class_piece_build(struct vs_disk *disk, struct class_piece *p, struct vs_srb *srb);

/* retry.c */
void vs_class_classify(const struct vs_srb *srb, struct class_verdict *v);

/* backoff.c */
void vs_class_backoff_insert_locked(struct vs_disk *disk, struct class_piece *p);
int  vs_class_timer_register(struct vs_disk *disk);
void vs_class_timer_unregister(struct vs_disk *disk);

/* probe.c */
void vs_class_probe_start_locked(struct vs_disk *disk);
/* 2A/09: re-read the capacity unless already doing so (lock held) */
void vs_class_capacity_reread_locked(struct vs_disk *disk);

/* probe_steps.c: the probe's commands in order, then the capacity re-read */
enum probe_step {
	PROBE_INQUIRY = 0,
	PROBE_VPD_PAGES,
	PROBE_VPD_BLOCK_LIMITS,
	PROBE_VPD_LBP,
	PROBE_READ_CAPACITY,
	PROBE_MODE_CACHING,
	PROBE_STEPS,
};
/* CDB + data for the request's step (CLASS_OP_CAPACITY: READ CAPACITY) */
void vs_class_probe_build(struct vs_disk *disk, struct class_req *r, struct vs_srb *srb);
/* Take in what the step returned (lock held): 0, or -errno that ends the
 * probe (e.g. -ENODEV: no disk there). */
int vs_class_probe_parse_locked(struct vs_disk *disk, struct class_req *r, const struct vs_srb *srb);
/* After a refused optional step: go on with defaults?  (lock held) */
bool vs_class_probe_optional(uint8_t step);
/* The step after `step` worth running (skips pages the LUN lacks). */
uint8_t vs_class_probe_next(const struct vs_disk *disk, uint8_t step);
/* After the last step: derive the limits pieces are cut by (lock held). */
int vs_class_probe_finish_locked(struct vs_disk *disk);

/* lba_status.c */
int vs_class_lba_status_parse(struct vs_disk *disk, struct class_req *r, const struct vs_srb *srb);
/* one extent over the request: mapped data (no GET LBA STATUS to ask) */
void vs_class_lba_status_all_mapped(struct vs_disk *disk, struct class_req *r);

/* complete.c */
void vs_class_srb_done(struct vs_srb *srb);

#endif
