/* SPDX-License-Identifier: MIT */
/*
 * Clocks for the I/O path.  Both read the vDSO, so neither is a system
 * call: vs_now_ns() (CLOCK_MONOTONIC) for latency, vs_now_coarse_ms()
 * (CLOCK_MONOTONIC_COARSE, a few ms resolution) for timers and deadlines.
 */
#ifndef VSTOR_UTIL_CLOCK_H
#define VSTOR_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t vs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t vs_now_coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

/* Absolute CLOCK_MONOTONIC time `ms` from now, for pthread_cond_timedwait
 * on a condvar created with pthread_condattr_setclock(CLOCK_MONOTONIC). */
static inline struct timespec vs_deadline_after_ms(uint64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

#endif
