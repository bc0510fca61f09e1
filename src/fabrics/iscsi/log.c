/* SPDX-License-Identifier: MIT */
/* Threshold-filtered one-line logging to stderr for the iSCSI fabric. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "vstor/iscsi.h"
#include "../../util/vs_clock.h"
#include "../../util/vs_log.h"
#include "log.h"

static atomic_int log_level = ISCSI_LOG_INFO;

void vs_iscsi_set_log_journal(bool on)
{
	vs_log_set_journal(on);
}

void vs_iscsi_set_log_level(int level)
{
	atomic_store(&log_level, level);
}

int vs_iscsi_log_enabled(int level)
{
	return level <= atomic_load(&log_level);
}

void vs_iscsi_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (!vs_iscsi_log_enabled(level))
		return;
	va_start(ap, fmt);
	vs_log_vline("iscsi", level, fmt, ap);
	va_end(ap);
}

void vs_iscsi_log_vrated(struct vs_log_rate *r, int level, const char *fmt, va_list ap)
{
	char line[400];
	unsigned held;

	if (!vs_iscsi_log_enabled(level) || !vs_log_rate_ok(r, vs_now_coarse_ms(), &held))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (held)
		vs_iscsi_log(level, "%s (%u more like it held back)", line, held);
	else
		vs_iscsi_log(level, "%s", line);
}

void vs_iscsi_log_rated(struct vs_log_rate *r, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vs_iscsi_log_vrated(r, level, fmt, ap);
	va_end(ap);
}
