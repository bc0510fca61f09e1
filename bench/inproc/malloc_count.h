/* SPDX-License-Identifier: MIT */
/* Allocation counter for the benchmark (see malloc_count.c). */
#ifndef VSTOR_BENCH_MALLOC_COUNT_H
#define VSTOR_BENCH_MALLOC_COUNT_H

#include <stdint.h>

/* Route libcrypto's allocations through the counter too; call before
 * anything uses libcrypto.  0, or -1 if it had allocated already. */
int malloc_count_init(void);
void malloc_count_start(void);
/* Stop counting; return allocations seen since malloc_count_start(). */
uint64_t malloc_count_stop(void);

#endif
