/* SPDX-License-Identifier: MIT */
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "vs_log.h"

static atomic_bool journal;

void vs_log_set_journal(bool on)
{
	atomic_store(&journal, on);
}

void vs_log_vline(const char *subsystem, int level, const char *fmt, va_list ap)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[512];
	struct timespec ts;
	struct tm tm;

	level = level < 0 ? 0 : level > 3 ? 3 : level;
	vsnprintf(line, sizeof(line), fmt, ap);
	/* one fprintf per line, so lines of concurrent loops do not interleave */
	if (atomic_load(&journal)) {
		/* the journal stamps each line; the priority goes in front
		 * (sd-daemon(3): <3> err, <4> warning, <6> info, <7> debug) */
		fprintf(stderr, "<%d>%s %s: %s\n", "3467"[level] - '0', subsystem, names[level], line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%03ld %s %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
	        ts.tv_nsec / 1000000, subsystem, names[level], line);
}
