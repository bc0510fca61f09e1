/* SPDX-License-Identifier: MIT */
/*
 * Persistent reservations (SPC-4 5.13, 6.15 PERSISTENT RESERVE IN, 6.16
 * PERSISTENT RESERVE OUT) and SPC-2 RESERVE/RELEASE(6/10) for one vdisk LUN.
 *
 * Registrations are keyed by the I_T nexus NAME (initiator port name +
 * relative target port identifier), never by nexus pointer: nexuses come and
 * go and their ids are reused, registrations outlive them (SPC-4 5.13.4).
 * None of these functions calls vs_port_complete(): the caller does.
 */
#ifndef VSTOR_VDISK_PR_H
#define VSTOR_VDISK_PR_H

#include <stdbool.h>

#include "vstor/miniport.h"
#include "vstor/srb.h"

struct vdisk_pr;

/* lun may be NULL (unit tests: no unit attentions then).  state_path may be
 * NULL: APTPL unsupported.  Loads APTPL state from state_path if present;
 * NULL (with vs_set_error) if the file is unreadable or malformed. */
struct vdisk_pr *vs_vdisk_pr_create(struct vs_port_lun *lun, const char *state_path /* may be NULL */);
void vs_vdisk_pr_destroy(struct vdisk_pr *pr);
/*
 * Check before executing any command: returns true and sets RESERVATION
 * CONFLICT status on srb if the command conflicts with a persistent
 * reservation or a RESERVE(6/10) reservation (SPC-4 5.13.1 tables /
 * SPC-2).  Thread-safe, and takes no lock while the reservation state
 * stays as it is: one atomic load without reservations, two with them
 * (the nexus's verdict is recomputed under the lock only after a change).
 */
bool vs_vdisk_pr_conflict(struct vdisk_pr *pr, struct vs_srb *srb);
/* PERSISTENT RESERVE IN: fills data-in and status. Non-blocking. */
void vs_vdisk_pr_in(struct vdisk_pr *pr, struct vs_srb *srb);
/* PERSISTENT RESERVE OUT: may block (writes APTPL state file): vdisk calls it from the port worker pool. Sets status. */
void vs_vdisk_pr_out(struct vdisk_pr *pr, struct vs_srb *srb);
void vs_vdisk_pr_reserve(struct vdisk_pr *pr, struct vs_srb *srb);  /* RESERVE(6)/(10) */
void vs_vdisk_pr_release(struct vdisk_pr *pr, struct vs_srb *srb);  /* RELEASE(6)/(10) */
void vs_vdisk_pr_reset(struct vdisk_pr *pr);        /* LU reset: drop RESERVE/RELEASE reservations */
bool vs_vdisk_pr_in_use(struct vdisk_pr *pr);       /* any registration/reservation */

/*
 * I_T nexus loss (logout, connection loss), from the miniport's nexus_lost
 * callback: releases a RESERVE(6/10) reservation the lost nexus holds
 * (SPC-2 5.5.1, SPC-4 5.13.3); persistent reservations are unaffected
 * (SPC-4 5.13.1).
 */
void vs_vdisk_pr_nexus_loss(struct vdisk_pr *pr, const struct vs_nexus *nexus);

#endif
