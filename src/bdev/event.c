/* SPDX-License-Identifier: MIT */
/*
 * Events up the stack: a backend (or filter) says its resource went away,
 * came back, changed size or failed for good.  Each filter above that
 * wants to sees it first and may keep it (a mirror losing one leg); what
 * reaches the top changes the stack's status and goes to the user's
 * handler (the disk, which turns it into SCSI).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bdev_int.h"

void vs_event_init(struct vs_bdev *b)
{
	pthread_mutex_init(&b->ev_lock, NULL);
	pthread_mutex_init(&b->status_lock, NULL);
	pthread_rwlock_init(&b->tree_lock, NULL);
}

void vs_event_fini(struct vs_bdev *b)
{
	pthread_mutex_destroy(&b->ev_lock);
	pthread_mutex_destroy(&b->status_lock);
	pthread_rwlock_destroy(&b->tree_lock);
}

static void status_update(struct vs_bdev *b, const struct vs_bdev_event *ev)
{
	int state;

	switch (ev->type) {
	case VS_BDEV_EV_LOST: state = VS_BDEV_LOST; break;
	case VS_BDEV_EV_BACK: state = VS_BDEV_READY; break;
	case VS_BDEV_EV_FAILED: state = VS_BDEV_FAILED; break;
	default: return;
	}
	pthread_mutex_lock(&b->status_lock);
	/* a failed stack stays failed: only reopening it clears that */
	if (b->status.state != VS_BDEV_FAILED && b->status.state != state) {
		b->status.state = state;
		b->status.since = (uint64_t)time(NULL);
		snprintf(b->status.why, sizeof(b->status.why), "%s", ev->why ? ev->why : "");
	}
	pthread_mutex_unlock(&b->status_lock);
}

void vs_layer_event(struct vs_layer *self, const struct vs_bdev_event *ev)
{
	struct vs_layer *p = self ? self->parent : NULL;
	struct vs_bdev *b;

	if (!self || !ev || atomic_load(&self->detached))
		return;
	if (p) {
		if (p->type->filter->event)
			p->type->filter->event(p->h, self->parent_index, ev);
		else
			vs_layer_event(p, ev);
		return;
	}
	b = self->stack;
	status_update(b, ev);
	pthread_mutex_lock(&b->ev_lock);
	if (b->ev_fn)
		b->ev_fn(b->ev_ctx, ev);
	pthread_mutex_unlock(&b->ev_lock);
}

void vs_bdev_set_event_handler(struct vs_bdev *b, vs_bdev_event_fn fn, void *ctx)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->ev_lock);
	b->ev_fn = fn;
	b->ev_ctx = ctx;
	pthread_mutex_unlock(&b->ev_lock);
}

void vs_bdev_get_status(struct vs_bdev *b, struct vs_bdev_status *out)
{
	if (!b || !out)
		return;
	pthread_mutex_lock(&b->status_lock);
	*out = b->status;
	pthread_mutex_unlock(&b->status_lock);
}
