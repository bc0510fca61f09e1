/* SPDX-License-Identifier: MIT */
/*
 * One-line event logging for the iSCSI fabric: logins, logouts, dropped
 * connections and their reasons.  Never used per I/O.
 */
#ifndef VSTOR_ISCSI_LOG_H
#define VSTOR_ISCSI_LOG_H

enum iscsi_log_level {
	ISCSI_LOG_ERROR = 0,
	ISCSI_LOG_WARN  = 1,
	ISCSI_LOG_INFO  = 2,
	ISCSI_LOG_DEBUG = 3,
};

/* Print one line to stderr if `level` is at or below the threshold. */
void iscsi_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int  iscsi_log_enabled(int level);

#endif
