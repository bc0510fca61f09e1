/* SPDX-License-Identifier: MIT */
/*
 * The virtual miniport interface: what a miniport registers with the port
 * (Storport's VIRTUAL_HW_INITIALIZATION_DATA) and the port services it may
 * call (StorPortNotification & co).  A miniport includes this header, srb.h
 * and scsi.h, nothing else of vstor.
 *
 * Threading (Storport's "entry points run at DISPATCH_LEVEL"):
 *  - start_io must not block.  It may complete the SRB inline (call
 *    vs_port_complete() before returning) or later from any thread.
 *  - Anything that may sleep goes to vs_port_queue_work() or to async I/O.
 *  - lun_attach / lun_detach / lun_control / reset / adapter_control are
 *    called from a thread where blocking is allowed.
 */
#ifndef VSTOR_MINIPORT_H
#define VSTOR_MINIPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vstor/scsi.h"
#include "vstor/srb.h"

#define VS_MINIPORT_API_VERSION 1

struct vs_port;         /* the adapter, as the miniport sees it */
struct vs_port_lun;     /* one LUN, as the miniport sees it */

/* What find_adapter reports (Storport's PORT_CONFIGURATION_INFORMATION). */
struct vs_adapter_caps {
	uint32_t max_transfer_length;   /* bytes per SRB; 0 = unlimited */
	uint32_t max_luns;              /* LUN numbers 0 .. max_luns-1 */
	uint32_t default_queue_depth;   /* per LUN */
	uint32_t max_sg_elements;       /* iovec entries per SRB; 0 = unlimited */
};

enum vs_reset_kind {
	VS_RESET_LUN = 1,       /* LOGICAL UNIT RESET */
	VS_RESET_TARGET,        /* TARGET WARM/COLD RESET */
	VS_RESET_ADAPTER,       /* last step of timeout escalation */
};

enum vs_adapter_control_type {
	VS_ADAPTER_QUERY_SUPPORTED = 0,  /* arg: bool[VS_ADAPTER_CONTROL_MAX] to fill */
	VS_ADAPTER_STOP,                 /* quiesce: flush write caches, stop work */
	VS_ADAPTER_RESTART,              /* resume after STOP */
	VS_ADAPTER_CONTROL_MAX,
};

enum vs_lun_control_type {
	VS_LUN_RESIZE = 1,      /* arg: const uint64_t *new_size_bytes */
	VS_LUN_FLUSH,           /* arg: NULL; flush the LUN to stable storage */
	VS_LUN_QUERY,           /* arg: struct vs_lun_info * to fill */
	VS_LUN_IN_USE,          /* arg: bool *; true if state (e.g. reservations) says an initiator holds it */
	VS_LUN_FIRST_MAPPED,    /* arg: struct vs_lun_mapped *: is data stored at or past an LBA? */
};

/*
 * VS_LUN_FIRST_MAPPED: the first logical block at or after `from_lba`
 * that may hold data (is mapped / allocated in the backend, SBC-3 4.7.1),
 * e.g. to tell whether a shrink to from_lba blocks would cut data off.
 * found=false: everything from from_lba to the end is unmapped (reads as
 * zeroes).  A backend that cannot tell counts as mapped.
 */
struct vs_lun_mapped {
	uint64_t from_lba;      /* in: first block to look at */
	bool     found;         /* out */
	uint64_t lba;           /* out, when found: the first mapped block */
};

struct vs_lun_info {
	uint64_t size_bytes;
	uint32_t block_size;
	bool     readonly;
	char     backend[32];
	char     serial[64];
};

/*
 * The callback table.  Grows only at the end; the port reads `struct_size`
 * so an old miniport keeps working.  Callbacks return 0 or a negative errno
 * and, on failure, set a message with vs_set_error().
 */
struct vs_miniport {
	const char *name;
	uint32_t api_version;           /* VS_MINIPORT_API_VERSION */
	uint32_t struct_size;           /* sizeof(struct vs_miniport) */
	size_t adapter_extension_size;  /* Storport DeviceExtensionSize */
	size_t lun_extension_size;      /* SpecificLuExtensionSize */
	size_t srb_extension_size;      /* SrbExtensionSize */

	/* HwFindAdapter: parse the adapter config, report capabilities. */
	int  (*find_adapter)(void *adapter_ext, struct vs_port *port,
	                     const void *adapter_config, struct vs_adapter_caps *caps);
	/* HwInitialize */
	int  (*initialize)(void *adapter_ext);
	/* A LUN arrives: set up lun_ext from lun_config (the miniport's own type). */
	int  (*lun_attach)(void *adapter_ext, struct vs_port_lun *lun, void *lun_ext,
	                   const void *lun_config);
	/* A LUN leaves: flush and free.  Every SRB of the LUN has completed
	 * towards the port (after a forced removal, some as aborted "zombies"
	 * whose start_io work the miniport may still be finishing: it must
	 * not free what that work touches until it has). */
	void (*lun_detach)(void *adapter_ext, void *lun_ext);
	int  (*lun_control)(void *adapter_ext, void *lun_ext,
	                    enum vs_lun_control_type type, void *arg);
	/* HwStartIo: must not block.  The SRB comes with its result fields
	 * cleared: srb_status VS_SRB_PENDING, scsi_status GOOD, no sense,
	 * no residual, xfer_len 0. */
	void (*start_io)(void *adapter_ext, void *lun_ext, struct vs_srb *srb);
	/*
	 * Optional: try to abort one SRB.  Return true if the miniport will
	 * complete it promptly (with any status); the port reports it ABORTED
	 * either way once the miniport has completed it.
	 */
	bool (*abort_srb)(void *adapter_ext, void *lun_ext, struct vs_srb *srb);
	/*
	 * HwResetBus / unit reset.  lun_ext is NULL for TARGET/ADAPTER.  The
	 * miniport drops volatile state the standard says a reset clears (e.g.
	 * RESERVE/RELEASE reservations; SPC-4 7.5.4) and stops work on SRBs in
	 * scope as far as it can.  The port completes every outstanding SRB in
	 * scope exactly once; a late vs_port_complete() for such an SRB only
	 * releases it.
	 */
	int  (*reset)(void *adapter_ext, void *lun_ext, enum vs_reset_kind kind);
	/* HwAdapterControl */
	int  (*adapter_control)(void *adapter_ext, enum vs_adapter_control_type type, void *arg);
	/* HwFreeAdapterResources */
	void (*free_adapter)(void *adapter_ext);

	/* ---- added after API version 1: check struct_size ---- */

	/*
	 * Optional: an I_T nexus is gone (logout, connection loss, session
	 * reinstatement; SAM-5 "I_T nexus loss").  The port calls it from
	 * vs_port_nexus_close() after the nexus left the nexus table, when the
	 * submitter has no SRB of it outstanding any more, and before the
	 * nexus memory is freed (so `nexus` may be compared by address with a
	 * pointer saved from srb->nexus).  It must not block for long (it may
	 * run on a fabric's event-loop thread): drop the state the standard
	 * ties to the I_T nexus, e.g. a RESERVE(6/10) reservation (SPC-4
	 * 5.13.3) or a PREVENT MEDIUM REMOVAL (SBC-3 5.12).  The nexus's
	 * id is given to no other nexus before this returns, so state a
	 * miniport keeps by nexus id and drops here is never seen by the
	 * id's next nexus.
	 */
	void (*nexus_lost)(void *adapter_ext, const struct vs_nexus *nexus);

	/*
	 * Optional: a LUN leaves, as lun_detach, but says whether it went
	 * cleanly: 0, or a negative errno with vs_set_error() when its final
	 * flush failed or timed out, or its resource still holds requests.
	 * The LUN is gone either way (the port frees lun_ext afterwards, so
	 * a miniport that must keep state for late completions keeps it
	 * elsewhere).  When present the port calls it instead of lun_detach.
	 */
	int  (*lun_detach_checked)(void *adapter_ext, void *lun_ext);

	/*
	 * Optional: how many bytes of data-out the command in srb->cdb
	 * transfers (SBC-3 / SPC-4 TRANSFER LENGTH or PARAMETER LIST LENGTH;
	 * 0 for a command that takes none, or that this LUN does not
	 * support), so a fabric that solicits its data (iSCSI R2T) asks for
	 * no more than the command uses when the initiator announced more
	 * (RFC 7143 §11.4.5.2: the rest is an underflow residual).  A decode
	 * only: nothing in the CDB is checked and nothing is started; the
	 * command is submitted later as usual, with data_length at most this.
	 * Called with a port lock held, from the fabric's thread: it must not
	 * block or call the port.  Returns 0, or -ENOTSUP when it cannot tell.
	 */
	int  (*data_out_length)(void *adapter_ext, void *lun_ext, const struct vs_srb *srb,
	                        uint64_t *bytes);
};

/* True if miniport `mp` has the callback `field` (added after version 1). */
#define VS_MINIPORT_HAS(mp, field) \
	((mp)->struct_size >= offsetof(struct vs_miniport, field) + sizeof((mp)->field) && \
	 (mp)->field != NULL)

/* ---------------- port services for miniports ---------------- */

/* StorPortNotification(RequestComplete): call once per SRB, from any thread. */
void vs_port_complete(struct vs_srb *srb);

/* StorPortNotification(BusChangeDetected): LUN set changed; raises
 * REPORTED LUNS DATA HAS CHANGED on every nexus. */
void vs_port_bus_changed(struct vs_port *port);

/*
 * Unit attention on one LUN for every nexus except `except` (may be NULL),
 * e.g. ASC_CAPACITY_DATA_HAS_CHANGED, ASC_MODE_PARAMETERS_CHANGED,
 * ASC_RESERVATIONS_PREEMPTED (SPC-4 5.14 / 6.x).
 */
void vs_port_lun_unit_attention(struct vs_port_lun *lun, uint16_t asc_ascq,
                                const struct vs_nexus *except);
/* Unit attention for one nexus only (e.g. REGISTRATIONS PREEMPTED). */
void vs_port_nexus_unit_attention(struct vs_port_lun *lun, const struct vs_nexus *nexus,
                                  uint16_t asc_ascq);

/*
 * Abort every task `nexus` has on this LUN except `keep` (e.g. the
 * PERSISTENT RESERVE OUT doing it: PREEMPT AND ABORT, SPC-4 5.13.11.2.5),
 * on behalf of nexus `by`.  Each completes exactly once, as SAM-5 5.6
 * says with TAS=1 (the port's rule, see the control mode page): with
 * TASK ABORTED status when `by` is another nexus, without status
 * (VS_SRB_ABORTED) when it is `nexus` itself.  Tasks the miniport holds
 * are asked back with abort_srb; the call returns when all have completed
 * (bounded: past twice the abort timeout the port takes them back).  A
 * nexus that is no longer open has nothing left: 0.  Blocks: call from the
 * worker pool or a control path, never from start_io.
 */
int vs_port_lun_abort_nexus(struct vs_port_lun *lun, const struct vs_nexus *nexus,
                            const struct vs_nexus *by, const struct vs_srb *keep);

/*
 * The LUN's D_SENSE bit (control mode page, SPC-4 7.5.8) changed, or is
 * set at lun_attach: descriptor-format sense (true) or fixed format for
 * every sense of this LUN from now on, also the port's own (unit
 * attentions, LOGICAL UNIT NOT SUPPORTED, timeouts) and the fabric's.  A
 * LUN starts in fixed format.  Lock-free; any thread.
 */
void vs_port_lun_set_sense_format(struct vs_port_lun *lun, bool descriptor);

/* StorPortBusy / StorPortReady: hold off new SRBs to this LUN (answered
 * BUSY while over the limit) until ready. requests_to_complete: how many
 * outstanding SRBs must complete before the port sends more. */
void vs_port_busy(struct vs_port_lun *lun, uint32_t requests_to_complete);
void vs_port_ready(struct vs_port_lun *lun);

/*
 * StorPortPauseDevice / StorPortResumeDevice, for one LUN whose resource
 * is away: new SRBs of the LUN wait (they are not failed), and the port's
 * timer does not escalate the LUN's SRBs into aborts and resets while it
 * is paused; the miniport holds the ones it has.  Ends with resume or
 * after timeout_ms (call pause again to extend); each SRB then gets its
 * timeout afresh.  Neither blocks; both may be called from any thread.
 */
void vs_port_lun_pause(struct vs_port_lun *lun, uint32_t timeout_ms);
void vs_port_lun_resume(struct vs_port_lun *lun);
bool vs_port_lun_paused(const struct vs_port_lun *lun);

/* StorPortPause / StorPortResume: hold every new SRB for up to timeout_ms. */
void vs_port_pause(struct vs_port *port, uint32_t timeout_ms);
void vs_port_resume(struct vs_port *port);

/* Run fn(arg) on the port's worker pool, where blocking is allowed.
 * Returns 0, or -ENOMEM if the pool's queue is full (caller keeps ownership). */
struct vs_work {
	void (*fn)(struct vs_work *work);
	struct vs_work *next;   /* port private */
};
int vs_port_queue_work(struct vs_port *port, struct vs_work *work);

/* The LUN number and the miniport's extension for a port LUN. */
uint64_t vs_port_lun_number(const struct vs_port_lun *lun);
struct vs_port *vs_port_lun_port(const struct vs_port_lun *lun);
/* The list of open nexuses, for persistent-reservation bookkeeping. */
const struct vs_nexus *vs_port_nexus_by_id(struct vs_port *port, uint32_t id);

/* Error messages: one thread-local line naming the problem. */
void vs_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *vs_last_error(void);

#endif
