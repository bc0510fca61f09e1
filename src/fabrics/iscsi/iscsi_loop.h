/* SPDX-License-Identifier: MIT */
/*
 * The iSCSI fabric's share of one shared event loop (include/vstor/loop.h).
 * Every connection lives on exactly one loop and its state is touched only
 * from that loop's thread; other threads talk to it only by posting
 * messages (SRB completions, new connections, "close this connection").
 * What is iSCSI's own stays here: the loop's connections, the 100 ms tick
 * (login and NOP timeouts, the graceful stop) and the hybrid polling
 * policy.
 */
#ifndef VSTOR_ISCSI_LOOP_H
#define VSTOR_ISCSI_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "vstor/loop.h"
#include "../../util/vs_poll_policy.h"

struct vs_iscsi;
struct iscsi_conn;

struct iscsi_loop {
	struct vs_loop *base;
	struct vs_iscsi *is;
	unsigned idx;
	struct iscsi_conn *conns;       /* list of connections (conn_event.c, conn.c) */
	uint32_t nconns;
	struct vs_poll_policy poll;     /* hybrid polling; in_wake counts PDUs */
	struct vs_loop_spin spin;
	struct vs_loop_timer tick;
	struct vs_loop_msg setup_msg, stop_msg, detach_msg;
};

#define ISCSI_TICK_MS 100u

/* The fabric's state for `base`; nothing runs on the loop yet. */
void vs_iscsi_loop_init(struct iscsi_loop *il, struct vs_iscsi *is, struct vs_loop *base,
                     unsigned idx, uint32_t poll_ns);
/* Post to the loop: start the tick and the polling hook. */
void vs_iscsi_loop_attach(struct iscsi_loop *il);
/* Post to the loop: run the tick now (vs_iscsi_stop: the graceful stop
 * starts without waiting for the next tick). */
void vs_iscsi_loop_stop_now(struct iscsi_loop *il);
/* Post to the loop: stop the tick and the polling hook; once the loop's
 * current pass is over, count it in is->loops_detached (under is->lock)
 * and signal is->cond.  The loop must have no connection of the fabric. */
void vs_iscsi_loop_detach(struct iscsi_loop *il);


#endif
