/* SPDX-License-Identifier: MIT */
/* One line per NBD event on stderr (connections, exports, TLS), never one
 * per request. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "nbd_int.h"

static atomic_int log_level = NBD_LOG_INFO;

void vs_nbd_set_log_level(int level)
{
	atomic_store(&log_level, level);
}

void nbd_log(int level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[512];
	va_list ap;
	struct timespec ts;
	struct tm tm;

	if (level > atomic_load(&log_level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one fprintf per line: loops do not interleave */
	fprintf(stderr, "%02d:%02d:%02d.%03ld nbd %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
	        ts.tv_nsec / 1000000, names[level < 0 ? 0 : level > 3 ? 3 : level], line);
}
