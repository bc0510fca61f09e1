/* SPDX-License-Identifier: MIT */
/*
 * One-line event logs of the fabrics on stderr ("HH:MM:SS.mmm iscsi info:
 * ..."), or, under systemd's journal, with the line's priority in front
 * instead of a time stamp (sd-daemon(3)).  Each subsystem keeps its own
 * threshold; the journal switch is one for the process.
 */
#ifndef VSTOR_UTIL_LOG_H
#define VSTOR_UTIL_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* levels: 0 error, 1 warn, 2 info, 3 debug */
void vs_log_set_journal(bool on);
void vs_log_vline(const char *subsystem, int level, const char *fmt, va_list ap);

/*
 * Rate limit for lines an outsider can cause at will (refused connections,
 * dropped logins): a flood must not turn the log into the bottleneck or
 * bury everything else.  At most VS_LOG_RATE_BURST lines per
 * VS_LOG_RATE_WINDOW_MS window for one limiter; the first line let through
 * after some were held back says how many.  Zero-initialised; lock-free,
 * so any thread may use one (two threads at a window's edge may let a line
 * more through: a count, not a guarantee).
 */
#define VS_LOG_RATE_BURST       5u
#define VS_LOG_RATE_WINDOW_MS   10000u

struct vs_log_rate {
	_Atomic uint64_t window;        /* which window the count is for */
	atomic_uint lines;              /* lines in it so far */
	atomic_uint held;               /* held back since the last line out */
};

/* May a line go out at now_ms (a monotonic clock)?  true: print it, and
 * *held is how many were held back before it. */
bool vs_log_rate_ok(struct vs_log_rate *r, uint64_t now_ms, unsigned *held);

#endif
