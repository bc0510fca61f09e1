/* SPDX-License-Identifier: MIT */
/* Condition variables that time out on CLOCK_MONOTONIC (immune to wall-clock jumps). */
#include <pthread.h>

#include "vs_cond.h"

int vs_cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int rc;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	rc = pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
	return -rc;
}
