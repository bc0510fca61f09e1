/* SPDX-License-Identifier: MIT */
/*
 * class_mock: a small SBC disk as a miniport under a real port, for the
 * disk class layer's tests, and a harness that opens a vs_disk on it.
 *
 * The mock answers INQUIRY (standard, VPD 00h / B0h / B2h), READ
 * CAPACITY(16), MODE SENSE(10) caching page, READ(16), WRITE(16),
 * SYNCHRONIZE CACHE(16), UNMAP, WRITE SAME(16) (UNMAP, NDOB) and GET LBA
 * STATUS from a RAM image of its first `data_blocks` blocks (blocks past
 * it read as zeroes and are mapped), logs every CDB it receives, and lets
 * a test script failures: each rule answers `count` matching commands
 * (after letting `skip` pass) with a status or a sense in fixed or
 * descriptor format.  With `hold` set it keeps the SRBs until the test
 * finishes them one by one, in any order, each with the emulated answer or
 * a given failure.
 *
 * The harness gives the disk a manual clock and timer: ch->now_ns moves
 * only when the test says, ch->armed_ns is what the class layer last
 * asked for, ch_fire() moves the clock there and calls
 * vs_disk_timer_expired.
 */
#ifndef VSTOR_CLASS_MOCK_H
#define VSTOR_CLASS_MOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vstor/class.h"
#include "vstor/miniport.h"
#include "vstor/port.h"

#define CM_ANY      0xffffu
#define CM_RULES    16
#define CM_LOG      1024
#define CM_HELD     256
#define CM_PARAM    512

struct cm_rule {
	uint16_t opcode;        /* CDB byte 0, or CM_ANY */
	uint32_t skip;          /* matching commands let through first */
	uint32_t count;         /* then this many get the answer */
	uint8_t  srb_status;    /* 0: VS_SRB_SUCCESS */
	uint8_t  status;        /* SAM_STAT_* */
	uint8_t  key;           /* CHECK CONDITION sense */
	uint16_t asc_ascq;
	bool     descriptor;    /* descriptor-format sense (72h) */
	bool     deferred;      /* 71h / 73h */
	bool     bad_sense;     /* CHECK CONDITION with sense nobody can read */
	bool     short_read;    /* GOOD, but half the data */
};

struct cm_cmd {
	uint8_t  cdb[16];
	uint32_t data_length;
	uint32_t iovcnt;
	uint8_t  param[CM_PARAM];       /* data-out, first bytes (UNMAP list) */
	uint32_t param_len;
	uint32_t nexus_id;
};

struct cm {
	pthread_mutex_t mu;
	struct vs_port *port;
	struct vs_port_lun *lun;
	bool hold;
	/* adapter */
	uint32_t max_xfer, max_sg;
	/* the disk */
	uint32_t block_size;
	uint64_t blocks;
	uint8_t  phys_exp;
	uint64_t data_blocks;           /* RAM image size; set before cm_start */
	uint8_t *data;
	uint8_t *prov;                  /* per block: 0 mapped, 1 deallocated */
	bool not_disk, lbpme, lbpu, lbpws, lbprz, wp, wce, no_mode_sense;
	bool vpd_b0, vpd_b2, b0_short, refuse_ndob, no_lba_status;
	uint16_t b0_opt_gran;
	uint32_t b0_max_xfer, b0_opt_xfer, b0_max_unmap, b0_max_desc, b0_gran, b0_align;
	uint64_t b0_max_ws;
	/* scripted answers */
	struct cm_rule rules[CM_RULES];
	int nrules;
	/* log */
	struct cm_cmd log[CM_LOG];
	int nlog;
	/* held SRBs (hold) */
	struct vs_srb *held[CM_HELD];
	int nheld;
	/* async: cm_async_start's thread completes SRBs in arrival order */
	bool async, async_stop;
	pthread_cond_t cv;
	pthread_t thread;
	uint32_t chaos;                 /* async: every chaos-th answer is BUSY or a UA */
	uint32_t answered;
	/* lend: a READ whose submitter accepts data by reference (srb.h
	 * accept_data_ref) gets the RAM image's own bytes; counted */
	bool lend;
	_Atomic uint32_t lent, lends_ended;
};

/* A mock with sane defaults: 512-byte blocks, 2048 blocks all in RAM,
 * LBPME/LBPU/LBPWS/LBPRZ, VPD B0h and B2h, no limits, WCE. */
struct cm *cm_new(void);
/* Create the port around it and add LUN 0.  0 or -errno. */
int  cm_start(struct cm *m);
void cm_free(struct cm *m);             /* destroys the port too */
void cm_rule(struct cm *m, struct cm_rule r);
/* How many logged commands have this opcode (CM_ANY: all). */
int  cm_count(struct cm *m, uint16_t opcode);
/* The i-th logged command with this opcode, or NULL. */
const struct cm_cmd *cm_nth(struct cm *m, uint16_t opcode, int i);
int  cm_held(struct cm *m);
/* From now on a thread of the mock completes every SRB (cm_free stops it). */
void cm_async_start(struct cm *m, uint32_t chaos);
/* Finish held SRB `idx` with the emulated answer (r == NULL) or r's. */
void cm_finish(struct cm *m, int idx, const struct cm_rule *r);

/* ---- the harness ---- */
#define CH_EXTENTS 16
struct ch_req {
	struct vs_blk_request *req;
	int done;                       /* done() calls */
	int result;
	struct iovec iov1;              /* ch_submit's one buffer */
	struct vs_blk_extent extents[CH_EXTENTS];       /* BLOCK_STATUS answers */
};

#define CH_EVENTS 32
struct ch {
	struct cm *m;
	struct vs_disk *disk;
	uint64_t now_ns, armed_ns;
	int arms;
	pthread_mutex_t mu;
	struct vs_disk_event events[CH_EVENTS];
	int nevents;
};

/* Open a disk on LUN 0 (queue depth / SRBs / iovecs: 0 = defaults), probe
 * it; 0 or the probe's error. */
int  ch_open(struct ch *h, struct cm *m, uint32_t depth, uint32_t max_srbs, uint32_t max_iov);
int  ch_open_deadline(struct ch *h, struct cm *m, uint32_t depth, uint32_t max_srbs,
                      uint32_t max_iov, uint32_t deadline_ms);
void ch_close(struct ch *h);
/* Move the clock to the armed time and run the timer (false if none armed). */
bool ch_fire(struct ch *h);
/* Submit one request; the returned record counts done() calls. */
struct ch_req *ch_submit(struct ch *h, uint8_t op, uint32_t flags, uint64_t off, uint64_t len,
                         void *buf);
struct ch_req *ch_submit_iov(struct ch *h, uint8_t op, uint32_t flags, uint64_t off,
                             uint64_t len, const struct iovec *iov, int iovcnt);
/* Give the request slot back and free the record. */
void ch_put(struct ch_req *r);
/* Submit and wait (inline mock): the result, or -999 if done() never ran
 * or ran more than once. */
int  ch_run(struct ch *h, uint8_t op, uint32_t flags, uint64_t off, uint64_t len, void *buf);
int  ch_event_count(struct ch *h, enum vs_disk_event_type type, uint16_t asc_ascq);

#endif
