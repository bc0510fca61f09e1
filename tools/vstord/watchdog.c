/* SPDX-License-Identifier: MIT */
/* The watchdog thread, see watchdog.h. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/vs_clock.h"
#include "util/vs_cond.h"
#include "watchdog.h"

#define STALL_REPEAT_MS 10000u

struct vsd_watchdog {
	struct vsd_watchdog_ops ops;
	uint32_t period_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool stop;
	size_t n;                               /* loops seen last period */
	uint64_t prev[VSD_WATCHDOG_MAX_LOOPS];
	uint64_t stuck_ms[VSD_WATCHDOG_MAX_LOOPS];
};

/* One period: true if every loop moved (or this is the first look). */
static bool check(struct vsd_watchdog *w)
{
	uint64_t cur[VSD_WATCHDOG_MAX_LOOPS];
	size_t n = w->ops.passes(w->ops.ctx, cur, VSD_WATCHDOG_MAX_LOOPS);
	bool alive = true;

	if (n > VSD_WATCHDOG_MAX_LOOPS)
		n = VSD_WATCHDOG_MAX_LOOPS;
	for (size_t i = 0; i < n; i++) {
		if (i >= w->n || cur[i] != w->prev[i]) {
			w->stuck_ms[i] = 0;
			continue;
		}
		w->stuck_ms[i] += w->period_ms;
		alive = false;
		/* first time, then every STALL_REPEAT_MS */
		if (w->ops.stalled && (w->stuck_ms[i] == w->period_ms ||
		                       w->stuck_ms[i] % STALL_REPEAT_MS < w->period_ms))
			w->ops.stalled(w->ops.ctx, (unsigned)i, w->stuck_ms[i]);
	}
	memcpy(w->prev, cur, n * sizeof(cur[0]));
	w->n = n;
	return alive;
}

static void *watchdog_main(void *arg)
{
	struct vsd_watchdog *w = arg;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		pthread_mutex_unlock(&w->lock);
		if (check(w) && w->ops.alive)
			w->ops.alive(w->ops.ctx);
		if (w->ops.tick)
			w->ops.tick(w->ops.ctx);
		pthread_mutex_lock(&w->lock);
		struct timespec until = vs_deadline_after_ms(w->period_ms);
		while (!w->stop && pthread_cond_timedwait(&w->cv, &w->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct vsd_watchdog *vsd_watchdog_start(uint32_t period_ms, const struct vsd_watchdog_ops *ops)
{
	struct vsd_watchdog *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return NULL;
	w->ops = *ops;
	w->period_ms = period_ms < VSD_WATCHDOG_MIN_PERIOD_MS ? VSD_WATCHDOG_MIN_PERIOD_MS : period_ms;
	pthread_mutex_init(&w->lock, NULL);
	rc = vs_cond_init_monotonic(&w->cv);
	if (rc == 0)
		rc = pthread_create(&w->thread, NULL, watchdog_main, w);
	if (rc > 0)
		pthread_cond_destroy(&w->cv);
	if (rc != 0) {
		pthread_mutex_destroy(&w->lock);
		free(w);
		errno = rc < 0 ? -rc : rc;
		return NULL;
	}
	return w;
}

void vsd_watchdog_stop(struct vsd_watchdog *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
