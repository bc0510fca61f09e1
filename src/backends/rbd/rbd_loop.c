/* SPDX-License-Identifier: MIT */
/*
 * Completions, delivered on one of the daemon's event loops.
 *
 * librbd completes requests on its own threads.  Rather than run the
 * block layer's done() there, the image is told to queue finished
 * requests and write an eventfd (rbd_set_image_notification,
 * EVENT_TYPE_EVENTFD); the eventfd is watched on one loop of the daemon's
 * group, whose handler takes the finished requests out of librbd
 * (rbd_poll_io_events) in batches and completes their bios.  So no
 * thread is started for completions, done() always runs on the same loop
 * thread, and nothing here ever blocks that thread.
 *
 * The image the handler polls (d->poll_img) changes only on the loop's
 * own thread, through vs_rbd_loop_switch(): so when the supervisor replaces
 * a blocklisted session, the old image is no longer touched from here
 * once the switch returned.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "rbd_int.h"

#define RBD_POLL_BATCH 32

static void complete_one(struct rbd_dev *d, rbd_completion_t c)
{
	struct vs_bio *bio = rbd_aio_get_arg(c);
	ssize_t r = rbd_aio_get_return_value(c);
	int err = r < 0 ? (int)r : 0;

	rbd_aio_release(c);
	/* -EBLOCKLISTED is -ESHUTDOWN: the cluster fenced this client; the
	 * request ends NOT READY (retryable) and the supervisor takes over */
	if (err == -ESHUTDOWN)
		rbd_kick(d);
	vs_bio_complete(bio, err);
	rbd_leave(d);
}

static void on_efd(struct vs_loop_fd *h, uint32_t events)
{
	struct rbd_dev *d = (struct rbd_dev *)((char *)h - offsetof(struct rbd_dev, efd_h));
	rbd_completion_t comps[RBD_POLL_BATCH];
	uint64_t v;
	int n;

	(void)events;
	/* reset the count first: a completion queued after this wakes us
	 * again, one queued before is polled below */
	if (read(d->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	if (!d->poll_img)
		return;
	do {
		n = rbd_poll_io_events(d->poll_img, comps, RBD_POLL_BATCH);
		for (int i = 0; i < n; i++)
			complete_one(d, comps[i]);
	} while (n == RBD_POLL_BATCH);
}

int vs_rbd_loop_attach(struct rbd_dev *d, struct vs_loop *loop)
{
	int r;

	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->efd < 0) {
		vs_set_error("image: %s: eventfd: %s", d->name, strerror(errno));
		return -errno;
	}
	d->loop = loop;
	d->efd_h.fn = on_efd;
	/* the loop does not exit under us while the image is open */
	vs_loop_hold(loop);
	r = vs_loop_fd_add(loop, d->efd, VS_LOOP_IN, &d->efd_h);
	if (r < 0) {
		vs_set_error("image: %s: cannot watch the completion eventfd: %s", d->name,
		             strerror(-r));
		vs_loop_release(loop);
		close(d->efd);
		d->efd = -1;
		return r;
	}
	return 0;
}

/* A call made on the loop's thread, waited for by the caller. */
struct loop_call {
	struct vs_loop_msg msg, late;
	struct rbd_dev *d;
	rbd_image_t img;
	bool ready, detach, done;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void call_done(struct vs_loop_msg *m)
{
	struct loop_call *c = (struct loop_call *)((char *)m - offsetof(struct loop_call, late));

	pthread_mutex_lock(&c->lock);
	c->done = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void call_run(struct vs_loop_msg *m)
{
	struct loop_call *c = (struct loop_call *)((char *)m - offsetof(struct loop_call, msg));
	struct rbd_dev *d = c->d;

	d->poll_img = c->img;
	if (c->detach)
		vs_loop_fd_del(d->loop, d->efd);
	/* the handler polls this image from now on: only now may requests
	 * start, or a completion could be read off the eventfd while no
	 * image was there to poll */
	if (c->ready)
		atomic_store(&d->state, RBD_READY);
	/* after the rest of this pass: an eventfd event the loop had already
	 * taken may still run the handler once (it finds poll_img as set) */
	c->late.fn = call_done;
	vs_loop_post_late(d->loop, &c->late);
}

static void loop_call(struct rbd_dev *d, rbd_image_t img, bool ready, bool detach)
{
	struct loop_call c = { .d = d, .img = img, .ready = ready, .detach = detach };

	pthread_mutex_init(&c.lock, NULL);
	pthread_cond_init(&c.cond, NULL);
	c.msg.fn = call_run;
	vs_loop_post(d->loop, &c.msg);
	pthread_mutex_lock(&c.lock);
	while (!c.done)
		pthread_cond_wait(&c.cond, &c.lock);
	pthread_mutex_unlock(&c.lock);
	pthread_cond_destroy(&c.cond);
	pthread_mutex_destroy(&c.lock);
}

void vs_rbd_loop_switch(struct rbd_dev *d, rbd_image_t img, bool ready)
{
	loop_call(d, img, ready, false);
}

void vs_rbd_loop_detach(struct rbd_dev *d)
{
	if (d->efd < 0)
		return;
	loop_call(d, NULL, false, true);
	vs_loop_release(d->loop);
	close(d->efd);
	d->efd = -1;
}
