/* SPDX-License-Identifier: MIT */
/*
 * Clocks for the I/O path.  vs_now_ns() (CLOCK_MONOTONIC) and
 * vs_now_coarse_ms() (CLOCK_MONOTONIC_COARSE, a few ms resolution, for
 * timers and deadlines) read the vDSO, so neither is a system call;
 * vs_now_fast_ns() is CLOCK_MONOTONIC for per-command latency, mostly
 * without reading it (vs_clock.c).
 */
#ifndef VSTOR_UTIL_CLOCK_H
#define VSTOR_UTIL_CLOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/*
 * CLOCK_MONOTONIC nanoseconds from the TSC where the kernel's clocksource
 * is the TSC: within a few microseconds of clock_gettime's (at most 256 us
 * whatever the TSC does), never going back on one thread, and cheaper
 * than the vDSO's clock_gettime (bench machine, a KVM guest: 23 ns against
 * 39, of which rdtsc itself is 19).  It reads clock_gettime itself at
 * most every 256 us per thread, and always elsewhere (another clocksource,
 * another CPU architecture, the process's first 10 ms while it calibrates,
 * or vs_clock_use_tsc(false)).  Values from different threads compare
 * like clock_gettime's, within that bound.
 */
static inline uint64_t vs_now_fast_ns(void);
/*
 * Whether vs_now_fast_ns may use the TSC (it may by default): off, every
 * call reads clock_gettime (tests count those reads); on, it calibrates
 * now if it has not yet (waiting out the rest of the 10 ms).  Returns
 * whether the TSC is in use.
 */
bool vs_clock_use_tsc(bool on);

/* ---- vs_now_fast_ns's inside (vs_clock.c); inline, it runs per SRB ---- */
#if defined(__x86_64__) || defined(__i386__)
#define VS_CLOCK_HAVE_TSC 1
static inline uint64_t vs_clock_tsc_read(void)
{
	return __builtin_ia32_rdtsc();
}
#else
#define VS_CLOCK_HAVE_TSC 0
static inline uint64_t vs_clock_tsc_read(void)
{
	return 0;
}
#endif

/* One thread's anchor: a (TSC, CLOCK_MONOTONIC) pair it read itself. */
struct vs_clock_anchor {
	uint64_t tsc;
	uint64_t ns;
	uint64_t window;        /* ticks this anchor serves; 0: read the clock */
	uint64_t mult;          /* ns per tick, 32.32 fixed point */
	uint64_t last;          /* the last value returned on this thread */
	uint32_t epoch;         /* vs_clock_epoch it was taken in */
};
extern _Thread_local struct vs_clock_anchor vs_clock_tl;
extern _Atomic uint32_t vs_clock_epoch;
/* Read CLOCK_MONOTONIC and anchor there (calibrating when it is time). */
uint64_t vs_clock_reanchor(void);

static inline uint64_t vs_now_fast_ns(void)
{
	struct vs_clock_anchor *a = &vs_clock_tl;
	uint64_t d = vs_clock_tsc_read() - a->tsc;

	/* a->window is 0 unless this thread anchored with the TSC on; an
	 * epoch that moved on (the TSC switched off) reads the clock */
	if (d < a->window &&
	    a->epoch == atomic_load_explicit(&vs_clock_epoch, memory_order_relaxed)) {
		uint64_t ns = a->ns + (uint64_t)(((unsigned __int128)d * a->mult) >> 32);

		if (ns > a->last)
			a->last = ns;
		return a->last;
	}
	return vs_clock_reanchor();
}

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
