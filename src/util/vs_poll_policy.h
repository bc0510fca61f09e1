/* SPDX-License-Identifier: MIT */
/*
 * Hybrid polling policy for a fabric on an event loop (a vs_loop_spin
 * hook's answer).  A loop whose wake-ups, many times in a row, each
 * brought PDUs or requests is serving a client that keeps it busy: the
 * client sends its next commands about one round trip after our replies,
 * at any queue depth.  Sleeping in between costs a scheduler wake-up per
 * burst, tens of microseconds on an idle (virtual) CPU: most of the
 * latency at queue depth 1, and at depth 32 a bubble in which target and
 * initiator both wait.  Such a loop checks its sockets without sleeping
 * for up to poll_ns before it blocks.  An idle daemon never spins: a spin
 * that saw nothing ends the pattern, and only another run of busy wakes
 * starts it again.  Measured figures are in iscsi_loop.c and nbd_cmd.c,
 * the two users.
 */
#ifndef VSTOR_POLL_POLICY_H
#define VSTOR_POLL_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#define VS_POLL_STREAK 8u       /* busy wakes in a row before spinning */

struct vs_poll_policy {
	uint32_t in_wake;       /* PDUs / requests the current wake brought in */
	uint32_t busy_wakes;    /* wakes with traffic in a row, up to VS_POLL_STREAK */
	uint32_t poll_ns;       /* 0: never spin */
};

/* Account the wake-up that just ended (in_wake) and say whether the next
 * wait spins first.  A wake that brought nothing (a timer, a message, or
 * another user's traffic) says nothing about the pattern. */
static inline bool vs_poll_should_spin(struct vs_poll_policy *p)
{
	uint32_t n = p->in_wake;

	p->in_wake = 0;
	if (n > 0 && p->busy_wakes < VS_POLL_STREAK)
		p->busy_wakes++;
	return p->poll_ns && p->busy_wakes >= VS_POLL_STREAK;
}

/* The spin saw nothing: the pattern is over (or the peer is slow). */
static inline void vs_poll_spin_idle(struct vs_poll_policy *p)
{
	p->busy_wakes = 0;
}

#endif
