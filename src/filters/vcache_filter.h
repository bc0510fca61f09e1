/* SPDX-License-Identifier: MIT */
/* What the vcache filter's own tests read of it (vs_bdev_filter_handle). */
#ifndef VSTOR_FILTERS_VCACHE_H
#define VSTOR_FILTERS_VCACHE_H

#include <stdint.h>

struct vcache;
/* Blocks written below by destaging so far; blocks in the cache now. */
uint64_t vs_vcache_destaged(struct vcache *v);
uint32_t vs_vcache_cached(struct vcache *v);

#endif
