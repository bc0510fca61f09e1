/* SPDX-License-Identifier: MIT */
/*
 * Hybrid polling policy for a fabric on an event loop (a vs_loop_spin
 * hook's answer).  A wake-up that brought in a shallow burst (up to
 * burst_max PDUs or requests), many times in a row, is request-response
 * traffic at a small queue depth: the client sends its next commands one
 * round trip after our replies.  Sleeping in between costs a scheduler
 * wake-up per burst, tens of microseconds on an idle (virtual) CPU: most
 * of the latency at queue depth 1.  Such a loop checks its sockets without
 * sleeping for up to poll_ns before it blocks.  Deep bursts never spin
 * (their work dwarfs a wake-up; batching is their efficiency), and an idle
 * daemon never spins: a spin that saw nothing ends the pattern.  Measured
 * figures are in iscsi_loop.c and nbd_cmd.c, the two users.
 */
#ifndef VSTOR_POLL_POLICY_H
#define VSTOR_POLL_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#define VS_POLL_STREAK 8u       /* shallow wakes in a row before spinning */

struct vs_poll_policy {
	uint32_t in_wake;       /* PDUs / requests the current wake brought in */
	uint32_t small_wakes;   /* shallow wakes in a row, up to VS_POLL_STREAK */
	uint32_t burst_max;     /* a wake with more is deep */
	uint32_t poll_ns;       /* 0: never spin */
};

/* Account the wake-up that just ended (in_wake) and say whether the next
 * wait spins first.  A wake that brought nothing (a timer, a message, or
 * another user's traffic) says nothing about the pattern. */
static inline bool vs_poll_should_spin(struct vs_poll_policy *p)
{
	uint32_t n = p->in_wake;

	p->in_wake = 0;
	if (n > p->burst_max)
		p->small_wakes = 0;
	else if (n > 0 && p->small_wakes < VS_POLL_STREAK)
		p->small_wakes++;
	return p->poll_ns && p->small_wakes >= VS_POLL_STREAK;
}

/* The spin saw nothing: the pattern is over (or the peer is slow). */
static inline void vs_poll_spin_idle(struct vs_poll_policy *p)
{
	p->small_wakes = 0;
}

#endif
