/* SPDX-License-Identifier: MIT */
/*
 * vstord's event log: one line per event on stderr (start-up, portals,
 * targets, LUNs, shutdown), never per I/O.
 */
#ifndef VSTORD_LOG_H
#define VSTORD_LOG_H

#include <stdbool.h>

enum vsd_log_level {
	VSD_LOG_ERROR = 0,
	VSD_LOG_WARN  = 1,
	VSD_LOG_INFO  = 2,   /* default */
	VSD_LOG_DEBUG = 3,   /* -v */
};

void vsd_log_set_level(int level);
/* Lines for systemd's journal: a "<N>" priority prefix, no "vstord: ". */
void vsd_log_set_journal(bool on);
int  vsd_log_level(void);
void vsd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define vsd_error(...) vsd_log(VSD_LOG_ERROR, __VA_ARGS__)
#define vsd_warn(...)  vsd_log(VSD_LOG_WARN, __VA_ARGS__)
#define vsd_info(...)  vsd_log(VSD_LOG_INFO, __VA_ARGS__)
#define vsd_debug(...) vsd_log(VSD_LOG_DEBUG, __VA_ARGS__)

#endif
