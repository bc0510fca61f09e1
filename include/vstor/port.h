/* SPDX-License-Identifier: MIT */
/*
 * The port as fabrics and tools see it: create an adapter around a
 * miniport, add and remove LUNs, open I_T nexuses, take SRBs from pools,
 * submit them, run task management, read statistics.
 *
 * One struct vs_port serves one SCSI target (one LUN table).  The port knows
 * nothing of iSCSI; a fabric knows nothing of backends.
 *
 * Bad arguments never crash: a NULL pointer gets an error return (-EINVAL,
 * NULL or 0) and vs_last_error() names it ("lun_add: port is NULL"); an
 * SRB or TMF that can still be completed is, with an error (vs_port_submit
 * without a port: VS_SRB_ERROR, HARDWARE ERROR / INTERNAL TARGET FAILURE;
 * vs_port_task_mgmt without a port: VS_TMF_REJECTED).
 */
#ifndef VSTOR_PORT_H
#define VSTOR_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vstor/miniport.h"
#include "vstor/srb.h"

struct vs_port_config {
	const char *name;               /* for logs */
	uint32_t queue_depth;           /* SRBs in the miniport per LUN (all nexuses); 0 = miniport default */
	/* held (waiting) SRBs per task set, i.e. per LUN and I_T nexus (the
	 * control mode page's TST 001b), before TASK SET FULL; 0 = 1024 */
	uint32_t max_held;
	uint32_t default_timeout_ms;    /* per SRB; 0 = 30000 */
	uint32_t abort_timeout_ms;      /* each escalation step waits this long; 0 = 5000 */
	uint32_t worker_threads;        /* 0 = 2 */
};

struct vs_port *vs_port_create(const struct vs_miniport *mp, const struct vs_port_config *cfg,
                               const void *adapter_config);
void vs_port_destroy(struct vs_port *port);    /* all nexuses closed, all SRBs back */
void *vs_port_adapter_ext(struct vs_port *port);
/*
 * What the adapter can do (find_adapter's report, with the port's own
 * defaults filled in: max_luns, the per-LUN queue depth in use), so a
 * fabric can size its buffers and scatter/gather lists.  vs_port_submit
 * refuses an SRB over max_transfer_length bytes (data_length) or
 * max_sg_elements iovec entries (0: unlimited) with CHECK CONDITION,
 * ILLEGAL REQUEST, INVALID FIELD IN CDB (SBC-3 6.5.3 MAXIMUM TRANSFER
 * LENGTH); for too many iovec entries srb_status is VS_SRB_ERROR.
 * data_length is the buffer the SRB offers, which is not the command's
 * transfer: a fabric whose initiator may expect more than a command moves
 * (an iSCSI EDTL up to 4 GiB - 1) offers at most max_transfer_length and
 * reports the rest of what the initiator expected as its own residual.
 */
int vs_port_adapter_caps(struct vs_port *port, struct vs_adapter_caps *caps);

/* LUN plug-and-play.  lun_config is the miniport's own config type. */
int  vs_port_lun_add(struct vs_port *port, uint64_t lun, const void *lun_config);
/*
 * Remove a LUN.  Without force: -EBUSY if SRBs are outstanding or the
 * miniport says it is in use.  With force: new SRBs get LOGICAL UNIT NOT
 * SUPPORTED, outstanding ones are aborted and complete exactly once, then
 * the miniport's lun_detach flushes and closes.  Blocks until done (bounded
 * by the abort timeouts and the miniport's own detach bound).  -EIO: the
 * LUN was removed, but the miniport reported that its final flush failed or
 * timed out (vs_last_error() says what); any other error: nothing changed.
 */
int  vs_port_lun_remove(struct vs_port *port, uint64_t lun, bool force);
int  vs_port_lun_control(struct vs_port *port, uint64_t lun,
                         enum vs_lun_control_type type, void *arg);
/*
 * How many open I_T nexuses have sent this LUN a command (any command
 * that reached it, INQUIRY included: an initiator that did has found the
 * LUN and may have it in use).  A nexus counts from its first command to
 * its close.  -ENOENT if the LUN does not exist.
 */
int vs_port_lun_users(struct vs_port *port, uint64_t lun);
/* Fill `luns` with up to `max` LUN numbers in ascending order; return count. */
size_t vs_port_lun_list(struct vs_port *port, uint64_t *luns, size_t max);

/* I_T nexus: open at login, close at logout / connection loss.  The port
 * raises POWER ON, RESET, OR BUS DEVICE RESET OCCURRED for a new nexus. */
struct vs_nexus *vs_port_nexus_open(struct vs_port *port, const char *name,
                                    const char *initiator_name,
                                    const uint8_t *transport_id, uint16_t transport_id_len);
void vs_port_nexus_close(struct vs_port *port, struct vs_nexus *nexus);

/* SRB pools: sized once; vs_srb_get never allocates.  data_bytes_per_srb
 * (may be 0) is a buffer the pool allocates with each SRB. */
struct vs_srb_pool;
struct vs_srb_pool *vs_srb_pool_create(struct vs_port *port, uint32_t count,
                                       size_t data_bytes_per_srb);
void vs_srb_pool_destroy(struct vs_srb_pool *pool);
/* NULL when empty.  Resets all submitter/port fields; srb->iov points at
 * one iovec of the pool buffer (iovcnt 1) if the pool has one. */
struct vs_srb *vs_srb_get(struct vs_srb_pool *pool);
void  *vs_srb_buffer(struct vs_srb *srb, size_t *len);
/* Give the SRB back after done() ran; thread safe. */
void vs_srb_put(struct vs_srb *srb);

/*
 * Submit.  The port checks the LUN (LOGICAL UNIT NOT SUPPORTED, with
 * REPORT LUNS and INQUIRY answered for any LUN per SPC-4), answers a pending
 * unit attention, applies queue depth / hold-off / task attributes and
 * starts the timer.  done() always runs exactly once, possibly inline.
 */
void vs_port_submit(struct vs_port *port, struct vs_srb *srb);

/*
 * Before submitting a command whose data-out the fabric must ask for
 * (iSCSI R2T): how many bytes of it the command transfers, decoded by the
 * LUN's miniport (its data_out_length callback), from srb->cdb, cdb_len,
 * lun and nexus.  A LUN the port would answer itself (not there for this
 * nexus) needs none: 0 bytes.  Returns 0, or -ENOTSUP when the miniport
 * cannot tell (the fabric then takes the initiator's expected length).
 * Takes only this nexus's own queue lock on the LUN; never blocks.
 */
int vs_port_data_out_length(struct vs_port *port, const struct vs_srb *srb, uint64_t *bytes);

/* Task management (SAM-5 7) */
enum vs_tmf {
	VS_TMF_ABORT_TASK = 1,
	VS_TMF_ABORT_TASK_SET,
	VS_TMF_CLEAR_TASK_SET,
	VS_TMF_LOGICAL_UNIT_RESET,
	VS_TMF_TARGET_WARM_RESET,
	VS_TMF_TARGET_COLD_RESET,
	VS_TMF_CLEAR_ACA,
	VS_TMF_QUERY_TASK,
};
enum vs_tmf_response {
	VS_TMF_COMPLETE = 0,
	VS_TMF_TASK_DOES_NOT_EXIST = 1,
	VS_TMF_LUN_DOES_NOT_EXIST = 2,
	VS_TMF_TASK_STILL_ALLEGIANT = 3,
	VS_TMF_NOT_SUPPORTED = 5,
	VS_TMF_AUTH_FAILED = 6,
	VS_TMF_REJECTED = 255,
	VS_TMF_SUCCEEDED = 0,   /* QUERY TASK: task exists ("function succeeded") */
};
/*
 * Run a TMF on behalf of `nexus`.  `done(ctx, response)` runs once, after
 * every affected SRB has completed (so the fabric can send the TMF response
 * after the aborted tasks' fate is settled, RFC 7143 §11.6.2).  May run
 * inline.  The call itself does not block.  Each LUN keeps a task set per
 * I_T nexus (SPC-4 7.5.7 TST 001b): ABORT TASK, ABORT TASK SET, CLEAR TASK
 * SET and QUERY TASK see only `nexus`'s tasks; LOGICAL UNIT RESET and the
 * target resets take every nexus's.
 */
void vs_port_task_mgmt(struct vs_port *port, struct vs_nexus *nexus, enum vs_tmf fn,
                       uint64_t lun, uint64_t tag,
                       void (*done)(void *ctx, enum vs_tmf_response response), void *ctx);

/* Abort every SRB of a nexus (connection loss), without a response: each
 * SRB's done() still runs once with VS_SRB_ABORTED.  Does not block. */
void vs_port_nexus_abort_all(struct vs_port *port, struct vs_nexus *nexus);

/*
 * Bus events for fabrics that can tell initiators without waiting for
 * their next command (iSCSI Asynchronous Message, RFC 7143 §11.9).  The
 * port calls fn after it has raised, on every nexus, REPORTED LUNS DATA
 * HAS CHANGED (a LUN was added or removed; lun = the lowest present LUN,
 * 0 if none) or CAPACITY DATA HAS CHANGED (on that LUN).  The unit
 * attentions stay pending as usual.  fn runs on the caller's thread (the
 * control path or a miniport), must not block and must not call back
 * into the port; one handler per port, NULL removes it.  When this call
 * returns, the previous handler is not running and will not run again.
 */
typedef void (*vs_port_event_fn)(void *ctx, uint64_t lun, uint16_t asc_ascq);
void vs_port_set_event_handler(struct vs_port *port, vs_port_event_fn fn, void *ctx);

/*
 * True if sense data for `lun` goes out in descriptor format (its D_SENSE
 * bit, SPC-4 7.5.8), for sense a fabric makes itself (a Data-Out error, an
 * asynchronous event): lay it out with vs_sense_build.  False for a LUN
 * that is not there.  Lock-free.
 */
bool vs_port_lun_sense_descriptor(struct vs_port *port, uint64_t lun);

/*
 * HwAdapterControl (Storport's ScsiQuerySupportedControlTypes,
 * ScsiStopAdapter, ScsiRestartAdapter), driven by whoever owns the port.
 *
 * vs_port_adapter_control passes one request to the miniport: QUERY fills
 * arg (bool[VS_ADAPTER_CONTROL_MAX]) with what it supports (asked once at
 * vs_port_create); a type it does not support gets -EOPNOTSUPP.
 *
 * vs_port_stop quiesces the adapter: new SRBs are held from now on, the
 * outstanding ones are waited for (bounded by the request timeout and the
 * escalation that follows it), then the miniport is told STOP (vdisk:
 * flush every LUN's write cache).  Returns 0 or the miniport's error, e.g.
 * a flush that failed.  vs_port_restart tells the miniport RESTART and lets
 * the held SRBs go.  Both block; not from a miniport callback.
 */
int vs_port_adapter_control(struct vs_port *port, enum vs_adapter_control_type type, void *arg);
int vs_port_stop(struct vs_port *port);
int vs_port_restart(struct vs_port *port);

/* Statistics per LUN */
#define VS_LAT_BUCKETS 32   /* bucket i: latency < 2^i microseconds (last: the rest) */
struct vs_lun_stats {
	uint64_t read_ops, write_ops, other_ops;
	uint64_t read_bytes, write_bytes;
	uint64_t errors;            /* CHECK CONDITION other than UA */
	uint64_t errors_by_key[16]; /* the same by sense key (SPC-4 4.5.6); [6] stays 0 */
	uint64_t timeouts, aborts, resets;
	uint64_t busy, task_set_full;
	uint64_t reservation_conflicts;     /* RESERVATION CONFLICT answers (SPC-4 5.13) */
	uint32_t queue_depth, in_flight, held;
	uint64_t latency_us_hist[VS_LAT_BUCKETS];
	uint64_t latency_ns_sum;    /* of every command in the histogram */
};
int vs_port_lun_stats(struct vs_port *port, uint64_t lun, struct vs_lun_stats *out);
/* p in [0,100]; estimated from the histogram */
uint64_t vs_lun_stats_percentile_us(const struct vs_lun_stats *s, double p);

#endif
