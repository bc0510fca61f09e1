/* SPDX-License-Identifier: MIT */
/*
 * test_fabric: a tiny synchronous "fabric" for unit tests.  It owns a port
 * built around any miniport, one SRB pool, and helpers that submit one
 * command and wait for its completion (inline or from another thread).
 *
 *   struct tf *tf = tf_create(&my_miniport, &cfg_or_NULL, adapter_cfg_or_NULL);
 *   vs_port_lun_add(tf_port(tf), 0, &lun_cfg);
 *   struct vs_nexus *n = tf_nexus(tf, "iqn.test:a");     // raises 29/00 on every LUN
 *   tf_clear_ua(tf, n, 0);                              // eat pending UAs with TUR
 *
 *   uint8_t cdb[10] = { READ_10, ... }, buf[4096];
 *   struct tf_result r;
 *   tf_exec(tf, n, 0, cdb, 10, VS_DIR_FROM_DEVICE, buf, sizeof(buf), &r);
 *   assert r.status == SAM_STAT_GOOD, or r.sense_key/asc/ascq (fixed or
 *   descriptor sense are both parsed), r.xfer_len, r.residual, r.resid_flags.
 *
 *   // asynchronous (queue depth tests): submit many, wait later
 *   struct tf_task *t = tf_submit(tf, n, 0, cdb, 10, VS_DIR_NONE, NULL, 0);
 *   struct tf_task *u = tf_submit_ex(tf, n, 0, cdb, 10, dir, buf, len,
 *                                    VS_TASK_ORDERED, tag, timeout_ms);
 *   tf_task_done(t);             // non-blocking poll
 *   tf_wait(t, &r);              // waits (max 10 s), frees t; -ETIMEDOUT if stuck
 *   tf_wait_ms(t, &r, ms);       // wait with own limit; on -ETIMEDOUT t stays valid
 *   tf_task_srb(t);              // the SRB (valid until tf_wait returns 0)
 *
 * tf_exec/tf_wait return 0 when the command completed (whatever its SCSI
 * status), -ENOMEM when the pool is empty, -ETIMEDOUT when done() never ran.
 * The fabric counts every done() call; tf_done_calls() and
 * tf_double_completions() let tests prove exactly-once completion.
 * tf_destroy() destroys the port too (unfinished tasks are freed).
 */
#ifndef VSTOR_TEST_FABRIC_H
#define VSTOR_TEST_FABRIC_H

#include <stddef.h>
#include <stdint.h>

#include "vstor/port.h"

struct tf;
struct tf_task;

struct tf_result {
	uint8_t  srb_status;    /* enum vs_srb_status */
	uint8_t  status;        /* SAM_STAT_* */
	uint8_t  sense_key;     /* 0 when no sense */
	uint8_t  asc, ascq;
	uint8_t  sense_len;
	uint8_t  resid_flags;
	uint32_t residual;
	uint32_t xfer_len;
	uint8_t  sense[VS_SENSE_MAX];
};

/* pool: 256 SRBs; cfg and adapter_config may be NULL */
struct tf *tf_create(const struct vs_miniport *mp, const struct vs_port_config *cfg,
                     const void *adapter_config);
void tf_destroy(struct tf *tf);
struct vs_port *tf_port(struct tf *tf);
struct vs_srb_pool *tf_pool(struct tf *tf);

/* opens an I_T nexus (closed by tf_destroy or vs_port_nexus_close) */
struct vs_nexus *tf_nexus(struct tf *tf, const char *name);

int tf_exec(struct tf *tf, struct vs_nexus *nexus, uint64_t lun, const uint8_t *cdb,
            size_t cdb_len, int dir, void *buf, uint32_t len, struct tf_result *out);

struct tf_task *tf_submit(struct tf *tf, struct vs_nexus *nexus, uint64_t lun,
                          const uint8_t *cdb, size_t cdb_len, int dir, void *buf, uint32_t len);
struct tf_task *tf_submit_ex(struct tf *tf, struct vs_nexus *nexus, uint64_t lun,
                             const uint8_t *cdb, size_t cdb_len, int dir, void *buf,
                             uint32_t len, uint8_t task_attr, uint64_t tag, uint32_t timeout_ms);
int  tf_task_done(struct tf_task *t);
int  tf_task_done_count(struct tf_task *t);
struct vs_srb *tf_task_srb(struct tf_task *t);
int  tf_wait(struct tf_task *t, struct tf_result *out);
int  tf_wait_ms(struct tf_task *t, struct tf_result *out, uint32_t ms);

/* Send TEST UNIT READY until it answers without UNIT ATTENTION (max 16). */
int tf_clear_ua(struct tf *tf, struct vs_nexus *nexus, uint64_t lun);

/* Parse sense data (fixed 70h/71h or descriptor 72h/73h) into out. */
void tf_parse_sense(const uint8_t *sense, size_t len, struct tf_result *out);

uint64_t tf_done_calls(struct tf *tf);
uint64_t tf_double_completions(struct tf *tf);

/*
 * Commands whose data buffer is an SRB pool's (vs_srb_pool_create with a
 * data size): after the port gives such an SRB back early (abort, reset,
 * removal) its buffer stays valid while a backend still holds it, as srb.h
 * promises; tf_submit's caller-owned buffers do not.  Data-out is copied
 * in from `data` (may be NULL).
 */
struct tf_pio {
	struct vs_srb *srb;
	_Atomic int done;               /* done() calls */
};
void tf_pio_submit(struct vs_port *port, struct vs_srb_pool *pool, struct vs_nexus *nexus,
                   uint64_t lun, const uint8_t *cdb, size_t cdb_len, int dir, const void *data,
                   uint32_t len, struct tf_pio *io);
/* Wait up to ms for done() (0 on exactly one call, -ETIMEDOUT), fill out,
 * give the SRB back. */
int tf_pio_wait(struct tf_pio *io, uint32_t ms, struct tf_result *out);

/*
 * Fill a port's worker pool: `threads` work items that block (one per
 * worker thread), then items until vs_port_queue_work says -ENOMEM.
 * tf_workq_release lets them all run and waits until they have.
 */
struct tf_workq_fill;
struct tf_workq_fill *tf_workq_fill(struct vs_port *port, unsigned threads);
unsigned tf_workq_queued(const struct tf_workq_fill *w);      /* items accepted */
void tf_workq_release(struct tf_workq_fill *w);

/* Synchronous TMF: returns the vs_tmf_response (or -ETIMEDOUT). */
int tf_tmf(struct tf *tf, struct vs_nexus *nexus, enum vs_tmf fn, uint64_t lun, uint64_t tag);

#endif
