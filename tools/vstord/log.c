/* SPDX-License-Identifier: MIT */
/* Threshold-filtered one-line logging for vstord. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "log.h"

static atomic_int threshold = VSD_LOG_INFO;
static atomic_bool journal;

void vsd_log_set_journal(bool on)
{
	atomic_store(&journal, on);
}

void vsd_log_set_level(int level)
{
	atomic_store(&threshold, level);
}

int vsd_log_level(void)
{
	return atomic_load(&threshold);
}

void vsd_log(int level, const char *fmt, ...)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	char line[1024];
	va_list ap;

	if (level > atomic_load(&threshold))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	level = level < 0 ? 0 : level > 3 ? 3 : level;
	/* One write per line, so lines from several threads do not interleave.
	 * In the journal: its priority (sd-daemon(3): <3> err, <4> warning,
	 * <6> info, <7> debug); the journal names the daemon itself.
	 * Elsewhere "vstord: " first, so the daemon's own lines stand out
	 * among the fabric's. */
	if (atomic_load(&journal))
		fprintf(stderr, "<%d>%s%s\n", "3467"[level] - '0', prefix[level], line);
	else
		fprintf(stderr, "vstord: %s%s\n", prefix[level], line);
}
