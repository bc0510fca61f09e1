/* SPDX-License-Identifier: MIT */
/* Threshold-filtered one-line logging to stderr for the iSCSI fabric. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "vstor/iscsi.h"
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

int iscsi_log_enabled(int level)
{
	return level <= atomic_load(&log_level);
}

void iscsi_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (!iscsi_log_enabled(level))
		return;
	va_start(ap, fmt);
	vs_log_vline("iscsi", level, fmt, ap);
	va_end(ap);
}
