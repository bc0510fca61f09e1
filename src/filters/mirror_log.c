/* SPDX-License-Identifier: MIT */
/*
 * The mirror's log lines: a leg degraded, back, copied level.  A filter
 * has no log of its own; it raises VS_BDEV_EV_STATE, which travels up
 * the stack like any event and which the daemon writes to its log (one
 * line per change of state, never one per request).
 */
#include <stdarg.h>
#include <stdio.h>

#include "mirror_int.h"

void vs_mirror_log(struct mirror *m, const char *fmt, ...)
{
	struct vs_bdev_event ev = { .type = VS_BDEV_EV_STATE };
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ev.why = line;
	vs_layer_event(m->self, &ev);
}
