/* SPDX-License-Identifier: MIT */
/*
 * One-line event logging for the iSCSI fabric: logins, logouts, dropped
 * connections and their reasons.  Never used per I/O.
 */
#ifndef VSTOR_ISCSI_LOG_H
#define VSTOR_ISCSI_LOG_H

#include <stdarg.h>

enum iscsi_log_level {
	ISCSI_LOG_ERROR = 0,
	ISCSI_LOG_WARN  = 1,
	ISCSI_LOG_INFO  = 2,
	ISCSI_LOG_DEBUG = 3,
};

/* Print one line to stderr if `level` is at or below the threshold. */
void vs_iscsi_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int  vs_iscsi_log_enabled(int level);

struct vs_log_rate;
/* The same, for lines an outsider can cause at will: at most a few per
 * limiter and 10 s window (src/util/vs_log.h), the next one out saying how
 * many were held back. */
void vs_iscsi_log_rated(struct vs_log_rate *r, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void vs_iscsi_log_vrated(struct vs_log_rate *r, int level, const char *fmt, va_list ap);

#endif
