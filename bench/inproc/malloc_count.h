/* SPDX-License-Identifier: MIT */
/* Allocation counter for the benchmark (see malloc_count.c). */
#ifndef VSTOR_BENCH_MALLOC_COUNT_H
#define VSTOR_BENCH_MALLOC_COUNT_H

#include <stdint.h>

void malloc_count_start(void);
/* Stop counting; return allocations seen since malloc_count_start(). */
uint64_t malloc_count_stop(void);

#endif
