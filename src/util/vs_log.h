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
#include <stdbool.h>

/* levels: 0 error, 1 warn, 2 info, 3 debug */
void vs_log_set_journal(bool on);
void vs_log_vline(const char *subsystem, int level, const char *fmt, va_list ap);

#endif
