/* SPDX-License-Identifier: MIT */
/* Threshold-filtered one-line logging to stderr for the iSCSI fabric. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "vstor/iscsi.h"
#include "log.h"

static atomic_int log_level = ISCSI_LOG_INFO;
static atomic_bool log_journal;

void vs_iscsi_set_log_journal(bool on)
{
	atomic_store(&log_journal, on);
}

void vs_iscsi_set_log_level(int level)
{
	atomic_store(&log_level, level);
}

int iscsi_log_enabled(int level)
{
	return level <= atomic_load(&log_level);
}

void iscsi_log(int level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[512];
	va_list ap;
	struct timespec ts;
	struct tm tm;

	if (!iscsi_log_enabled(level))
		return;
	level = level < 0 ? 0 : level > 3 ? 3 : level;
	if (atomic_load(&log_journal)) {
		/* The journal stamps each line; the priority goes in front
		 * (sd-daemon(3): <3> err, <4> warning, <6> info, <7> debug). */
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		fprintf(stderr, "<%d>iscsi %s: %s\n", "3467"[level] - '0', names[level], line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line so concurrent loops do not interleave. */
	fprintf(stderr, "%02d:%02d:%02d.%03ld iscsi %s: %s\n", tm.tm_hour, tm.tm_min,
	        tm.tm_sec, ts.tv_nsec / 1000000, names[level], line);
}
