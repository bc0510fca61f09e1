/* SPDX-License-Identifier: MIT */
/* One line per NBD event on stderr (connections, exports, TLS), never one
 * per request. */
#include <stdarg.h>
#include <stdatomic.h>

#include "../../util/vs_log.h"
#include "nbd_int.h"

static atomic_int log_level = NBD_LOG_INFO;

void vs_nbd_set_log_level(int level)
{
	atomic_store(&log_level, level);
}

void vs_nbd_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > atomic_load(&log_level))
		return;
	va_start(ap, fmt);
	vs_log_vline("nbd", level, fmt, ap);
	va_end(ap);
}
