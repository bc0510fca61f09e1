/* SPDX-License-Identifier: MIT */
/*
 * The rbd backend's internals, shared by its files.  Nothing here is API.
 *
 * Files (calls go down this list, never up):
 *   rbd.c          the ops table: options, open/close, size, caps, resize,
 *                  block status
 *   rbd_recover.c  the supervisor thread: a blocklisted client waits for
 *                  its entry to go, then reconnects and reopens the image
 *   rbd_io.c       submit: one bio becomes one librbd aio call
 *   rbd_loop.c     completions: librbd's event queue drained on an event
 *                  loop (rbd_set_image_notification + eventfd)
 *   rbd_session.c  one connection: rados client, pool, image, lock, watch
 *
 * Threads:
 *  - submitters (the fabrics' loops, the port's workers) call submit;
 *  - one loop of the daemon's group (d->loop) drains completions and runs
 *    every bio's done();
 *  - librbd's own threads run the header watch callback (size changes);
 *  - the supervisor (rbd_recover.c) opens and closes sessions after open.
 *
 * The session in use may be replaced (blocklisting).  Submitters count
 * themselves in `inflight` before they read `state` (both sequentially
 * consistent), and the supervisor sets state away from READY before it
 * waits for `inflight` to reach 0: either a submitter sees the state
 * change, or the supervisor sees it in flight (the Dekker pattern).  So a
 * session is only closed when nobody uses it, and the I/O path takes no
 * lock.
 */
#ifndef VSTOR_RBD_INT_H
#define VSTOR_RBD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "vstor/backend.h"
#include "vstor/loop.h"

/* what submitters may do (d->state) */
enum rbd_state {
	RBD_READY = 0,          /* the session is open: submit */
	RBD_LOST,               /* blocklisted or reconnecting: NOT READY */
	RBD_CLOSING,            /* close() has started */
};

/* The most iovecs a bio may need after trimming to its length, kept in
 * the per-request context (see rbd_io.c). */
#define RBD_MAX_IOV 32

/* One connection to the cluster and the image open on it. */
struct rbd_session {
	rados_t cluster;
	rados_ioctx_t io;
	rbd_image_t img;
	uint64_t watch;         /* rbd_update_watch handle */
	bool watching;
	char addr[96];          /* this client's address, for messages */
	uint64_t instance;      /* rados_get_instance_id: client.N */
};

/* What opening a session needs (the validated options). */
struct rbd_target {
	const char *pool, *ns, *image, *conf, *id, *keyring;  /* owned by the dev */
	uint64_t op_timeout_ms; /* 0: wait forever */
	bool exclusive, readonly;
	bool create;            /* create a missing image of `size` bytes */
	uint64_t size;          /* 0: not given */
};

struct rbd_dev {
	struct vs_layer *self;
	struct rbd_target t;
	char name[192];         /* pool[/namespace]/image, for messages */

	/* the session in use: written by open/the supervisor only while no
	 * submitter can read it (see the top of the file) */
	struct rbd_session s;
	_Atomic int state;                      /* enum rbd_state */
	_Atomic uint64_t inflight;              /* submitters and bios in librbd */
	_Atomic uint64_t size;                  /* bytes, from the image header */
	uint32_t object_size;

	/* completions (rbd_loop.c) */
	struct vs_loop *loop;
	int efd;
	struct vs_loop_fd efd_h;
	rbd_image_t poll_img;                   /* loop thread only: NULL = none */

	/* the supervisor (rbd_recover.c) */
	pthread_t sup;
	bool sup_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;                              /* under lock */
	bool kick;                              /* under lock: a bio saw blocklisting */
	bool size_check;                        /* under lock: the header changed */
};

/* A completion saw the client blocklisted: wake the supervisor, unless it
 * already took the session out of use (it sets the state under the same
 * lock).  Any thread; never blocks for long (the lock guards flags). */
static inline void rbd_kick(struct rbd_dev *d)
{
	pthread_mutex_lock(&d->lock);
	if (!d->kick && atomic_load(&d->state) == RBD_READY) {
		d->kick = true;
		pthread_cond_signal(&d->cond);
	}
	pthread_mutex_unlock(&d->lock);
}

/* Leave the count of requests in flight (after done() ran). */
static inline void rbd_leave(struct rbd_dev *d)
{
	atomic_fetch_sub(&d->inflight, 1);
}

/* Enter for a request: false (and not counted) if the session is not
 * usable now. */
static inline bool rbd_enter(struct rbd_dev *d)
{
	atomic_fetch_add(&d->inflight, 1);
	if (atomic_load(&d->state) == RBD_READY)
		return true;
	rbd_leave(d);
	return false;
}

/* rbd_session.c */
/* Connect, open the pool and the image (creating it if asked), take the
 * lock, send completions to efd, watch the header.  0, or -errno with vs_set_error() naming the
 * option to blame.  *size: the image's size. */
int  vs_rbd_session_open(const struct rbd_target *t, const char *name, struct rbd_session *s,
                      uint64_t *size, uint32_t *object_size, int efd,
                      void (*on_header)(void *arg), void *arg);
/* Stop watching, close the image, disconnect (blocking). */
void vs_rbd_session_close(struct rbd_session *s);
/* Is this client still blocklisted?  One small read with the old
 * connection: true while the OSDs refuse it. */
bool vs_rbd_session_blocklisted(struct rbd_session *s, const char *image);

/* rbd_loop.c */
/* The eventfd and its handler on `loop`; img's completions go there. */
int  vs_rbd_loop_attach(struct rbd_dev *d, struct vs_loop *loop);
/* Point the handler at another image (NULL: none) and wait until the loop
 * took it, so the old image is no longer touched from there.  ready:
 * then set the state to READY on the loop thread. */
void vs_rbd_loop_switch(struct rbd_dev *d, rbd_image_t img, bool ready);
/* Stop watching the eventfd (after vs_rbd_loop_switch(d, NULL)) and close it. */
void vs_rbd_loop_detach(struct rbd_dev *d);

/* rbd_io.c */
int  vs_rbd_submit(void *h, struct vs_bio *bio, void *ctx);
size_t vs_rbd_ctx_size(void);

/* rbd_recover.c */
int  vs_rbd_recover_start(struct rbd_dev *d);
void vs_rbd_recover_stop(struct rbd_dev *d);
/* The header watch callback (librbd's thread): re-read the size. */
void vs_rbd_header_changed(void *arg);

#endif
