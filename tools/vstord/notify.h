/* SPDX-License-Identifier: MIT */
/*
 * systemd's side of vstord (sd_notify(3), sd_watchdog_enabled(3)): the
 * service manager learns READY, STATUS, RELOADING, STOPPING and watchdog
 * pings over $NOTIFY_SOCKET.  Without it (not started by systemd) every
 * call is a no-op, so the daemon behaves the same anywhere.
 */
#ifndef VSTORD_NOTIFY_H
#define VSTORD_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* True if a service manager listens ($NOTIFY_SOCKET is set). */
bool vsd_notify_enabled(void);
/* One notification ("READY=1\nSTATUS=..."); failures are ignored, as
 * sd_notify's are by design. */
void vsd_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog interval systemd asked for (WatchdogSec=, $WATCHDOG_USEC
 * for this pid), in microseconds; 0 if none. */
uint64_t vsd_watchdog_usec(void);
/* True if stderr is systemd's journal stream ($JOURNAL_STREAM names its
 * device and inode, systemd.exec(5)): then log lines carry a "<N>"
 * priority prefix (sd-daemon(3)) and no timestamp of their own. */
bool vsd_stderr_is_journal(void);

#endif
