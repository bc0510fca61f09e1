/* SPDX-License-Identifier: MIT */
/*
 * Back-off: pieces waiting for their next try, sorted by when, and the
 * timer that wakes the disk for the earliest.  The timer is the user's
 * (struct vs_disk_timer, normally an event loop's), or, without one, one
 * thread here shared by every such disk: it only ever runs while some
 * piece is backing off (BUSY, TASK SET FULL, becoming ready), never on
 * the I/O path.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "class_int.h"


void vs_class_backoff_insert_locked(struct vs_disk *disk, struct class_piece *p)
{
	struct class_piece **pp = &disk->backoff_head;

	while (*pp && (*pp)->due_ns <= p->due_ns)
		pp = &(*pp)->next;
	p->next = *pp;
	*pp = p;
	p->wait = WAIT_BACKOFF;
	/* the timer follows at the end of the pump that comes next */
}

void vs_disk_timer_expired(struct vs_disk *disk)
{
	uint64_t now;

	if (!disk)
		return;
	atomic_fetch_add(&disk->inside, 1);
	pthread_mutex_lock(&disk->lock);
	disk->armed_ns = VS_DISK_TIMER_OFF;
	now = class_now(disk);
	while (disk->backoff_head && disk->backoff_head->due_ns <= now) {
		struct class_piece *p = disk->backoff_head;

		disk->backoff_head = p->next;
		vs_class_ready_push_locked(disk, p);
	}
	pthread_mutex_unlock(&disk->lock);
	vs_class_pump(disk);
	atomic_fetch_sub(&disk->inside, 1);
}

/* ---- the class layer's own timer thread ---- */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running;
	struct vs_disk *disks;          /* registered, linked by timer_next */
	struct vs_disk *firing;         /* whose expiry runs right now */
} g = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void own_arm(void *ctx, uint64_t when_ns)
{
	struct vs_disk *disk = ctx;

	pthread_mutex_lock(&g.mu);
	disk->timer_due = when_ns;
	pthread_cond_signal(&g.cv);
	pthread_mutex_unlock(&g.mu);
}

static struct vs_disk *earliest_locked(uint64_t *due)
{
	struct vs_disk *best = NULL;

	*due = VS_DISK_TIMER_OFF;
	for (struct vs_disk *d = g.disks; d; d = d->timer_next)
		if (d->timer_due < *due) {
			*due = d->timer_due;
			best = d;
		}
	return best;
}

static void *timer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g.mu);
	for (;;) {
		uint64_t due;
		struct vs_disk *d = earliest_locked(&due);
		struct timespec now_ts;
		uint64_t now;

		clock_gettime(CLOCK_MONOTONIC, &now_ts);
		now = (uint64_t)now_ts.tv_sec * 1000000000ull + (uint64_t)now_ts.tv_nsec;
		if (!d) {
			pthread_cond_wait(&g.cv, &g.mu);
			continue;
		}
		if (due > now) {
			struct timespec ts = { (time_t)(due / 1000000000ull),
			                       (long)(due % 1000000000ull) };
			pthread_cond_timedwait(&g.cv, &g.mu, &ts);
			continue;
		}
		d->timer_due = VS_DISK_TIMER_OFF;
		g.firing = d;
		pthread_mutex_unlock(&g.mu);
		vs_disk_timer_expired(d);
		pthread_mutex_lock(&g.mu);
		g.firing = NULL;
		pthread_cond_broadcast(&g.cv);
	}
	return NULL;
}

int vs_class_timer_register(struct vs_disk *disk)
{
	disk->timer.arm = own_arm;
	disk->timer.now_ns = NULL;
	disk->timer.ctx = disk;
	disk->timer_due = VS_DISK_TIMER_OFF;
	pthread_mutex_lock(&g.mu);
	if (!g.running) {
		/* started once, on first need, and kept: it sleeps on its
		 * condition variable while no disk backs off */
		pthread_condattr_t ca;
		int rc;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&g.cv, &ca);
		pthread_condattr_destroy(&ca);
		rc = pthread_create(&g.thread, NULL, timer_main, NULL);
		if (rc) {
			pthread_cond_destroy(&g.cv);
			pthread_mutex_unlock(&g.mu);
			vs_set_error("disk: cannot start the class timer thread");
			return -rc;
		}
		pthread_detach(g.thread);
		g.running = true;
	}
	disk->timer_next = g.disks;
	g.disks = disk;
	disk->own_timer = true;
	pthread_mutex_unlock(&g.mu);
	return 0;
}

void vs_class_timer_unregister(struct vs_disk *disk)
{
	if (!disk->own_timer)
		return;
	pthread_mutex_lock(&g.mu);
	for (struct vs_disk **pp = &g.disks; *pp; pp = &(*pp)->timer_next)
		if (*pp == disk) {
			*pp = disk->timer_next;
			break;
		}
	/* its expiry may be running on the timer thread: let it end */
	while (g.firing == disk)
		pthread_cond_wait(&g.cv, &g.mu);
	disk->own_timer = false;
	pthread_mutex_unlock(&g.mu);
}
