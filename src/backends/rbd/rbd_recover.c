/* SPDX-License-Identifier: MIT */
/*
 * The supervisor: one thread per open image for what may block and must
 * not run on an event loop or in librbd's callbacks.
 *
 *  - The image's size changed (rbd resize, here or anywhere: librbd's
 *    header watch calls vs_rbd_header_changed): read it again and raise
 *    VS_BDEV_EV_RESIZED, which the disk turns into CAPACITY DATA HAS
 *    CHANGED (SBC-3 4.6).
 *  - The cluster blocklisted this client (`ceph osd blocklist add`, or
 *    another client breaking our exclusive lock): every request fails
 *    with -EBLOCKLISTED and librbd's image is unusable for good.  Raise
 *    VS_BDEV_EV_LOST (the disk answers NOT READY, LOGICAL UNIT IS IN
 *    PROCESS OF BECOMING READY, which initiators retry), wait until no
 *    request is in librbd, close the image, and ask the OSDs once a second
 *    with the old client whether it is still blocklisted.  Once the entry
 *    expired or was removed, connect a new client (a fresh address),
 *    reopen the image (taking the exclusive lock again if configured) and
 *    raise VS_BDEV_EV_BACK: the initiator's session goes on without a new
 *    login.  Reconnecting earlier, with a new address, would undo the
 *    fencing the blocklist entry stands for.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rbd_int.h"

#define PROBE_MS    1000u       /* is the old client still blocklisted? */
#define RETRY_MS    2000u       /* reopening failed: try again */
#define DRAIN_MS    10u

static void event(struct rbd_dev *d, int type, const char *why)
{
	struct vs_bdev_event ev = { .type = type, .why = why };

	vs_layer_event(d->self, &ev);
}

/* Wait up to ms for a stop request (under d->lock); true if stopping. */
static bool wait_stop(struct rbd_dev *d, unsigned ms)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&d->lock);
	while (!d->stop && pthread_cond_timedwait(&d->cond, &d->lock, &ts) == 0)
		;
	stop = d->stop;
	pthread_mutex_unlock(&d->lock);
	return stop;
}

static void check_size(struct rbd_dev *d)
{
	uint64_t size;

	if (atomic_load(&d->state) != RBD_READY || rbd_get_size(d->s.img, &size) < 0)
		return;
	if (atomic_exchange(&d->size, size) != size)
		event(d, VS_BDEV_EV_RESIZED, NULL);
}

/* Reopen on a new client; false if asked to stop first. */
static bool reopen(struct rbd_dev *d, struct rbd_session *fresh, uint64_t *size)
{
	struct rbd_target t = d->t;
	char last[256] = "";
	uint32_t object_size;

	/* the image exists and has its size: never create or grow it here */
	t.create = false;
	t.size = 0;
	for (;;) {
		if (vs_rbd_session_open(&t, d->name, fresh, size, &object_size, d->efd,
		                     vs_rbd_header_changed, d) == 0)
			return true;
		/* one log line per new reason, not one per attempt */
		if (strcmp(last, vs_last_error()) != 0) {
			char why[512];

			snprintf(last, sizeof(last), "%s", vs_last_error());
			snprintf(why, sizeof(why), "rbd %s: cannot reopen yet: %s", d->name, last);
			event(d, VS_BDEV_EV_LOST, why);
		}
		if (wait_stop(d, RETRY_MS))
			return false;
	}
}

static void recover(struct rbd_dev *d)
{
	struct rbd_session old = d->s, fresh;
	uint64_t size = 0;
	char why[512];

	snprintf(why, sizeof(why), "rbd %s: client.%" PRIu64 " (%s) blocklisted by the cluster; "
	         "waiting for the entry to expire or be removed", d->name, old.instance, old.addr);
	event(d, VS_BDEV_EV_LOST, why);
	/* requests still in librbd end soon (-EBLOCKLISTED, or op_timeout) */
	while (atomic_load(&d->inflight) > 0)
		if (wait_stop(d, DRAIN_MS))
			return;
	vs_rbd_loop_switch(d, NULL, false);
	if (old.watching)
		rbd_update_unwatch(old.img, old.watch);
	rbd_close(old.img);
	old.img = NULL;
	old.watching = false;
	memset(&d->s, 0, sizeof(d->s));
	/* the old client keeps its connection only to ask this */
	while (vs_rbd_session_blocklisted(&old, d->t.image))
		if (wait_stop(d, PROBE_MS)) {
			vs_rbd_session_close(&old);
			return;
		}
	vs_rbd_session_close(&old);
	if (!reopen(d, &fresh, &size))
		return;
	d->s = fresh;
	if (atomic_exchange(&d->size, size) != size)
		event(d, VS_BDEV_EV_RESIZED, NULL);
	vs_rbd_loop_switch(d, d->s.img, true);
	snprintf(why, sizeof(why), "rbd %s: reopened as client.%" PRIu64 " (%s)", d->name,
	         d->s.instance, d->s.addr);
	event(d, VS_BDEV_EV_BACK, why);
}

static void *supervise(void *arg)
{
	struct rbd_dev *d = arg;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		while (!d->stop && !d->kick && !d->size_check)
			pthread_cond_wait(&d->cond, &d->lock);
		if (d->stop)
			break;
		bool kick = d->kick;

		d->size_check = false;
		if (kick) {
			/* under the lock, so no completion kicks again for the
			 * session being replaced (rbd_kick) */
			d->kick = false;
			atomic_store(&d->state, RBD_LOST);
		}
		pthread_mutex_unlock(&d->lock);
		if (kick)
			recover(d);
		check_size(d);
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

void vs_rbd_header_changed(void *arg)
{
	struct rbd_dev *d = arg;

	pthread_mutex_lock(&d->lock);
	d->size_check = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

int vs_rbd_recover_start(struct rbd_dev *d)
{
	int r = pthread_create(&d->sup, NULL, supervise, d);

	if (r) {
		vs_set_error("image: %s: cannot start its supervisor thread: %s", d->name,
		             strerror(r));
		return -r;
	}
	pthread_setname_np(d->sup, "vstor-rbd");
	d->sup_started = true;
	return 0;
}

void vs_rbd_recover_stop(struct rbd_dev *d)
{
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	atomic_store(&d->state, RBD_CLOSING);
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (d->sup_started)
		pthread_join(d->sup, NULL);
	d->sup_started = false;
}
