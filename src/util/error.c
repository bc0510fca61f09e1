/* SPDX-License-Identifier: MIT */
/*
 * One thread-local line describing the last error ("field: what is wrong").
 * Every layer returns a negative errno and leaves the human-readable reason
 * here, so a caller can report it without knowing which layer failed.
 */
#include <stdarg.h>
#include <stdio.h>

#include "vstor/miniport.h"

static _Thread_local char vs_error_line[256];

void vs_set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vs_error_line, sizeof(vs_error_line), fmt, ap);
	va_end(ap);
}

const char *vs_last_error(void)
{
	return vs_error_line;
}
