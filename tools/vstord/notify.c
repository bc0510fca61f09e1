/* SPDX-License-Identifier: MIT */
/* sd_notify and the journal stream, see notify.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "notify.h"

bool vsd_notify_enabled(void)
{
	const char *s = getenv("NOTIFY_SOCKET");

	return s && *s;
}

void vsd_notify(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!vsd_notify_enabled())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* unset_environment = 0: the watchdog thread notifies all along */
	(void)sd_notify(0, msg);
}

uint64_t vsd_watchdog_usec(void)
{
	uint64_t usec = 0;

	return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

bool vsd_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	uintmax_t dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%ju:%ju", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}
