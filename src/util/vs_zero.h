/* SPDX-License-Identifier: MIT */
/*
 * Clearing a per-command struct of a few hundred bytes on the I/O path.
 * With the size a compile-time constant, GCC 12 (x86-64, generic tuning)
 * inlines memset of 144 bytes and more as `rep stosq`, whose start-up
 * costs: 13 ns for 144 bytes, 20 for 424, where libc's memset (vector
 * stores, picked for the CPU at load time) takes 4 and 8-10 (bench
 * machine, 2026-12).  vs_zero hides the size from the compiler so the call
 * goes to libc.  Small structs are better left to plain memset, which the
 * compiler turns into a few stores.
 */
#ifndef VSTOR_UTIL_ZERO_H
#define VSTOR_UTIL_ZERO_H

#include <stddef.h>
#include <string.h>

static inline void vs_zero(void *p, size_t n)
{
	__asm__("" : "+r"(n));  /* n is no longer a known constant */
	memset(p, 0, n);
}

#endif
