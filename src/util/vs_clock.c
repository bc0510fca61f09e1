/* SPDX-License-Identifier: MIT */
/*
 * vs_now_fast_ns(): CLOCK_MONOTONIC from the TSC (vs_clock.h says when and
 * how close).  SPDK's spdk_get_ticks reads the TSC too, but hands out ticks;
 * here the value must stay CLOCK_MONOTONIC nanoseconds, because the other
 * end of a latency is an event loop's clock (loop.h vs_loop_now_ns), which
 * is clock_gettime's.
 *
 * How: each thread keeps an anchor, one (TSC, CLOCK_MONOTONIC) pair it read
 * itself, and extrapolates from it with a ticks-to-ns factor calibrated
 * once per process.  An anchor serves for ANCHOR_NS at most, then the next
 * call reads clock_gettime again and anchors there.  So whatever the
 * factor's error (calibration, NTP slewing CLOCK_MONOTONIC by up to 500
 * ppm) it adds up over ANCHOR_NS only: 0.13 us at 500 ppm.  A TSC that
 * jumps (a thread moved to a CPU whose TSC differs, against what the
 * kernel checked) still cannot take the value further than ANCHOR_NS from
 * CLOCK_MONOTONIC, and one that goes back re-anchors at once (the
 * unsigned difference is huge).  Per thread the value never goes back.
 *
 * The TSC is used only where the kernel keeps CLOCK_MONOTONIC on it (its
 * clocksource is "tsc": invariant and synchronised across CPUs by the
 * kernel's own checks).  Calibration needs no waiting: the process's first
 * call takes a pair, and the first call at least CAL_NS later takes the
 * second; until then every call is clock_gettime.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vs_clock.h"

#define ANCHOR_NS  (256u * 1000u)       /* 256 us */
#define CAL_NS     (10u * 1000u * 1000u) /* 10 ms between the calibration pairs */
#define CAL_TRIES  5
#define TSC_MIN_HZ 100000000ull          /* anything slower is not a TSC to trust */
#define TSC_MAX_HZ 20000000000ull

_Thread_local struct vs_clock_anchor vs_clock_tl;

/*
 * Process-wide.  vs_clock_epoch 0: no TSC (not calibrated yet, not usable, or
 * switched off); otherwise tsc_mult and tsc_window belong to that epoch
 * and are written before it (release).
 */
_Atomic uint32_t vs_clock_epoch;
static _Atomic uint64_t tsc_mult, tsc_window;
static _Atomic bool tsc_off;            /* vs_clock_use_tsc(false) */

static pthread_once_t cal_once = PTHREAD_ONCE_INIT;
static _Atomic bool tsc_usable;         /* clocksource is tsc, calibration sane */
static uint64_t cal_tsc0, cal_ns0;      /* the first calibration pair; set once */
static pthread_mutex_t cal_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * A (TSC, CLOCK_MONOTONIC) pair: the clock read between two TSC reads, the
 * TSC taken as their midpoint.  Returns the ticks between them: an
 * interrupt there would skew the pair, so callers retry a wide one.
 */
static uint64_t read_pair(uint64_t *tsc, uint64_t *ns)
{
	uint64_t t1 = vs_clock_tsc_read();

	*ns = vs_now_ns();
	uint64_t t2 = vs_clock_tsc_read();

	*tsc = t1 + (t2 - t1) / 2;
	return t2 - t1;
}

/* For calibration: the narrowest of a few pairs. */
static void read_best_pair(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	*tsc = *ns = 0;
	for (int i = 0; i < CAL_TRIES; i++) {
		uint64_t t, n, w = read_pair(&t, &n);

		if (w < best) {
			best = w;
			*tsc = t;
			*ns = n;
		}
	}
}

static bool clocksource_is_tsc(void)
{
	char buf[32] = "";
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strcmp(buf, "tsc\n") == 0;
}

static void cal_start(void)
{
	bool usable = VS_CLOCK_HAVE_TSC && clocksource_is_tsc();

	if (usable)
		read_best_pair(&cal_tsc0, &cal_ns0);
	atomic_store(&tsc_usable, usable);
}

/* The second pair, CAL_NS or more after the first: publish the factor.
 * False if the TSC turned out not to be one to use. */
static bool cal_finish(void)
{
	bool ok = true;

	pthread_mutex_lock(&cal_lock);
	if (!atomic_load_explicit(&vs_clock_epoch, memory_order_relaxed) &&
	    !atomic_load_explicit(&tsc_off, memory_order_relaxed)) {
		uint64_t tsc, ns;

		read_best_pair(&tsc, &ns);
		uint64_t dt = tsc - cal_tsc0, dn = ns - cal_ns0;
		/* ticks per second, from the two pairs */
		unsigned __int128 hz = dn ? (unsigned __int128)dt * 1000000000u / dn : 0;

		if (tsc <= cal_tsc0 || hz < TSC_MIN_HZ || hz > TSC_MAX_HZ) {
			atomic_store(&tsc_usable, false);
			ok = false;
		} else {
			uint64_t mult = (uint64_t)(((unsigned __int128)dn << 32) / dt);

			atomic_store_explicit(&tsc_mult, mult, memory_order_relaxed);
			atomic_store_explicit(&tsc_window,
			                      (uint64_t)((unsigned __int128)ANCHOR_NS * hz / 1000000000u),
			                      memory_order_relaxed);
			atomic_store_explicit(&vs_clock_epoch, 1, memory_order_release);
		}
	}
	pthread_mutex_unlock(&cal_lock);
	return ok;
}

/*
 * The slow path: read CLOCK_MONOTONIC, and anchor this thread there if the
 * TSC is calibrated (calibrating it when it is time).  An anchor read
 * across an interrupt (more than ANCHOR_SLACK of the window between its
 * TSC reads) is read again; failing that the thread stays unanchored and
 * the next call reads the clock too.
 */
#define ANCHOR_SLACK 128        /* 1/128 of the window: 2 us */
uint64_t vs_clock_reanchor(void)
{
	struct vs_clock_anchor *a = &vs_clock_tl;
	uint32_t epoch;
	uint64_t tsc = 0, ns, window = 0;

	pthread_once(&cal_once, cal_start);
	epoch = atomic_load_explicit(&vs_clock_epoch, memory_order_acquire);
	if (epoch) {
		int i;

		window = atomic_load_explicit(&tsc_window, memory_order_relaxed);
		for (i = 0; i < CAL_TRIES; i++)
			if (read_pair(&tsc, &ns) <= window / ANCHOR_SLACK)
				break;
		if (i == CAL_TRIES)
			window = 0;
	} else {
		ns = vs_now_ns();
		if (atomic_load(&tsc_usable) && ns - cal_ns0 >= CAL_NS &&
		    !atomic_load_explicit(&tsc_off, memory_order_relaxed) && cal_finish())
			return vs_clock_reanchor();
	}
	a->epoch = epoch;
	a->tsc = tsc;
	a->ns = ns;
	a->window = window;
	a->mult = epoch ? atomic_load_explicit(&tsc_mult, memory_order_relaxed) : 0;
	if (ns > a->last)
		a->last = ns;
	return a->last;
}

bool vs_clock_use_tsc(bool on)
{
	pthread_once(&cal_once, cal_start);
	pthread_mutex_lock(&cal_lock);
	atomic_store_explicit(&tsc_off, !on, memory_order_relaxed);
	if (!on)
		atomic_store_explicit(&vs_clock_epoch, 0, memory_order_release);
	pthread_mutex_unlock(&cal_lock);
	if (!on || !atomic_load(&tsc_usable))
		return false;
	if (!atomic_load_explicit(&vs_clock_epoch, memory_order_acquire)) {
		uint64_t since = vs_now_ns() - cal_ns0;

		if (since < CAL_NS)
			usleep((useconds_t)((CAL_NS - since) / 1000 + 1));
		if (!cal_finish())
			return false;
	}
	return atomic_load_explicit(&vs_clock_epoch, memory_order_acquire) != 0;
}
