/* SPDX-License-Identifier: MIT */
#ifndef VSTOR_UTIL_COND_H
#define VSTOR_UTIL_COND_H

#include <pthread.h>

/* pthread_cond_init with CLOCK_MONOTONIC; 0 or -errno. */
int vs_cond_init_monotonic(pthread_cond_t *cv);

#endif
