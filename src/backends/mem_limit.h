/* SPDX-License-Identifier: MIT */
/* How much memory this process may use: what a RAM disk can be promised. */
#ifndef VSTOR_BACKENDS_MEM_LIMIT_H
#define VSTOR_BACKENDS_MEM_LIMIT_H

#include <stdint.h>

/* The smaller of the machine's memory (MemTotal) and the process's cgroup
 * limit (v2 memory.max, or v1 memory.limit_in_bytes), in bytes; 0 if
 * neither can be read. */
uint64_t vs_mem_limit(void);

#endif
