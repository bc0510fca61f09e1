/* SPDX-License-Identifier: MIT */
/*
 * rbd: a disk kept in a Ceph RBD image, through librbd's asynchronous API.
 *
 *   image=       (required) the image's name
 *   pool=        its RADOS pool (default rbd)
 *   namespace=   a RADOS namespace within the pool
 *   conf=        ceph.conf (default: librados' search: $CEPH_CONF,
 *                /etc/ceph/ceph.conf, ~/.ceph/config, ./ceph.conf)
 *   id=          cephx user without "client." (default admin)
 *   keyring=     the user's keyring (default: what ceph.conf says)
 *   create=0/1   create a missing image (needs size=)
 *   size=        size of a new image, or grow a smaller one to it
 *   exclusive=0/1 (default 1) take the image's exclusive lock and keep it:
 *                a second target opening it with exclusive=1 is refused,
 *                naming the owner; 0 shares the image (librbd then moves
 *                the lock to whichever client writes)
 *   op_timeout=  (default 30s) a request the cluster does not answer in
 *                this long ends with -ETIMEDOUT, NOT READY to the
 *                initiator, which retries; 0 waits for ever
 *
 * Requests go to librbd without blocking (rbd_io.c); their completions
 * come back on one of the daemon's event loops (rbd_loop.c); a size change
 * made anywhere reaches the disk as an event, and a blocklisted client
 * reconnects once its entry is gone (rbd_recover.c).
 *
 * Allocation state (GET LBA STATUS, SBC-3 5.5): from the image's object
 * map through rbd_diff_iterate2 with whole_object=1, when the fast-diff
 * feature is on and valid: an in-memory walk, no OSD round trip.  Its unit
 * is the object (4 MiB by default): an object that exists is mapped as a
 * whole, which is also the unmap granularity reported.  Without a valid
 * fast-diff every block is "mapped or unknown" (SBC-3 4.7.3.2): asking the
 * OSDs object by object is not cheap.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbd_int.h"

/* Objects of the image one block-status answer looks at, at most (4 GiB
 * of 4 MiB objects); the caller asks again from where the answer ends. */
#define RBD_STATUS_OBJECTS 1024u
/* a sane bound for op_timeout: an hour */
#define RBD_MAX_TIMEOUT_MS 3600000u

static const struct vs_opt_desc rbd_options[] = {
	{ .name = "image", .type = VS_OPT_STRING, .flags = VS_OPT_REQUIRED,
	  .help = "the RBD image's name" },
	{ .name = "pool", .type = VS_OPT_STRING, .dflt = "rbd", .help = "its RADOS pool" },
	{ .name = "namespace", .type = VS_OPT_STRING,
	  .help = "a RADOS namespace within the pool (default none)" },
	{ .name = "conf", .type = VS_OPT_PATH,
	  .help = "ceph.conf (default $CEPH_CONF, then /etc/ceph/ceph.conf)" },
	{ .name = "id", .type = VS_OPT_STRING, .dflt = "admin",
	  .help = "cephx user, without \"client.\"" },
	{ .name = "keyring", .type = VS_OPT_PATH,
	  .help = "keyring holding the user's key (default from ceph.conf)" },
	{ .name = "create", .type = VS_OPT_BOOL, .dflt = "0",
	  .help = "create the image if missing (needs size)" },
	{ .name = "size", .type = VS_OPT_SIZE, .min = 1, .max = (uint64_t)INT64_MAX,
	  .help = "size of a new image (create), or grow a smaller one to it" },
	{ .name = "exclusive", .type = VS_OPT_BOOL, .dflt = "1",
	  .help = "hold the image's exclusive lock; 0 shares the image" },
	{ .name = "op_timeout", .type = VS_OPT_DURATION, .dflt = "30s", .min = 0,
	  .max = RBD_MAX_TIMEOUT_MS,
	  .help = "end an unanswered request after this long (NOT READY); 0 = never" },
	{ 0 }
};

static int rbd_check(const struct vs_opts *o)
{
	uint64_t ms = vs_opt_u64(o, "op_timeout");

	if (vs_opt_bool(o, "create") && !vs_opt_given(o, "size")) {
		vs_set_error("size: required with create=1");
		return -EINVAL;
	}
	if (ms && ms < 1000) {
		vs_set_error("op_timeout: at least 1s (librados counts whole seconds), or 0 for none");
		return -EINVAL;
	}
	if (!*vs_opt_str(o, "image") || !*vs_opt_str(o, "pool") || !*vs_opt_str(o, "id")) {
		vs_set_error("%s: must not be empty", !*vs_opt_str(o, "image") ? "image"
		             : !*vs_opt_str(o, "pool") ? "pool" : "id");
		return -EINVAL;
	}
	return 0;
}

static char *dup_opt(const struct vs_opts *o, const char *name)
{
	const char *v = vs_opt_str(o, name);

	return v ? strdup(v) : NULL;
}

static void dev_free(struct rbd_dev *d)
{
	free((char *)d->t.pool);
	free((char *)d->t.ns);
	free((char *)d->t.image);
	free((char *)d->t.conf);
	free((char *)d->t.id);
	free((char *)d->t.keyring);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static struct rbd_dev *dev_new(const struct vs_backend_open_args *args)
{
	const struct vs_opts *o = args->opts;
	struct rbd_dev *d = calloc(1, sizeof(*d));

	if (!d) {
		vs_set_error("out of memory");
		return NULL;
	}
	d->self = args->self;
	d->efd = -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	atomic_init(&d->state, RBD_LOST);
	d->t.pool = dup_opt(o, "pool");
	d->t.ns = dup_opt(o, "namespace");
	d->t.image = dup_opt(o, "image");
	d->t.conf = dup_opt(o, "conf");
	d->t.id = dup_opt(o, "id");
	d->t.keyring = dup_opt(o, "keyring");
	d->t.op_timeout_ms = vs_opt_u64(o, "op_timeout");
	d->t.readonly = args->readonly;
	d->t.exclusive = vs_opt_bool(o, "exclusive");
	d->t.create = vs_opt_bool(o, "create");
	d->t.size = vs_opt_given(o, "size") ? vs_opt_u64(o, "size") : 0;
	if (!d->t.pool || !d->t.image || !d->t.id || (vs_opt_given(o, "namespace") && !d->t.ns) ||
	    (vs_opt_given(o, "conf") && !d->t.conf) ||
	    (vs_opt_given(o, "keyring") && !d->t.keyring)) {
		vs_set_error("out of memory");
		dev_free(d);
		return NULL;
	}
	snprintf(d->name, sizeof(d->name), "%s/%s%s%s", d->t.pool, d->t.ns ? d->t.ns : "",
	         d->t.ns ? "/" : "", d->t.image);
	return d;
}

static void *rbd_open_dev(struct vs_backend_open_args *args)
{
	/* images spread over the loops in turn */
	static _Atomic uint64_t next_loop;
	struct rbd_dev *d;
	uint64_t size = 0;

	if (!args->loops) {
		vs_set_error("backend: rbd needs the daemon's event loops for its completions");
		return NULL;
	}
	if (args->readonly && vs_opt_bool(args->opts, "create")) {
		vs_set_error("create: cannot create an image on a read-only LUN");
		return NULL;
	}
	d = dev_new(args);
	if (!d)
		return NULL;
	if (vs_rbd_loop_attach(d, vs_loop_group_pick(args->loops, atomic_fetch_add(&next_loop, 1))) < 0)
		goto fail;
	if (vs_rbd_session_open(&d->t, d->name, &d->s, &size, &d->object_size, d->efd,
	                     vs_rbd_header_changed, d) < 0)
		goto fail;
	atomic_store(&d->size, size);
	vs_rbd_loop_switch(d, d->s.img, true);
	if (vs_rbd_recover_start(d) < 0)
		goto fail;
	args->ctx_size = vs_rbd_ctx_size();
	return d;
fail:
	vs_rbd_recover_stop(d);
	vs_rbd_loop_detach(d);
	vs_rbd_session_close(&d->s);
	dev_free(d);
	return NULL;
}

static void rbd_close_dev(void *h)
{
	struct rbd_dev *d = h;

	/* every request has completed: nothing is in librbd */
	vs_rbd_recover_stop(d);
	vs_rbd_loop_detach(d);
	vs_rbd_session_close(&d->s);
	dev_free(d);
}

static uint64_t rbd_get_size_op(void *h)
{
	struct rbd_dev *d = h;

	return atomic_load(&d->size);
}

static void rbd_get_caps(void *h, struct vs_backend_caps *caps)
{
	struct rbd_dev *d = h;
	bool rw = !d->t.readonly;

	memset(caps, 0, sizeof(*caps));
	caps->can_write = rw;
	/* librbd's cache is off: a completed write is on the OSDs, so there
	 * is nothing volatile to flush and FUA costs nothing */
	caps->can_flush = false;
	caps->can_fua = rw;
	caps->has_write_cache = false;
	caps->can_unmap = rw;
	caps->can_zero = rw;
	caps->unmap_zeroes = true;
	caps->is_rotational = false;
	caps->can_resize = rw;
	/* the object is the unit RADOS stores, allocates and deallocates */
	caps->optimal_io_size = d->object_size;
	caps->unmap_granularity = d->object_size;
	caps->logical_block_size = 0;
}

static int rbd_resize_op(void *h, uint64_t new_size)
{
	struct rbd_dev *d = h;
	int r;

	if (d->t.readonly) {
		vs_set_error("size: cannot resize a read-only LUN");
		return -EROFS;
	}
	if (!rbd_enter(d)) {
		vs_set_error("size: %s is not reachable now (blocklisted or reconnecting)", d->name);
		return -ESHUTDOWN;
	}
	r = rbd_resize2(d->s.img, new_size, true, NULL, NULL);
	if (r == 0)
		atomic_store(&d->size, new_size);
	else
		vs_set_error("size: cannot resize %s to %" PRIu64 " bytes: %s", d->name, new_size,
		             strerror(-r));
	rbd_leave(d);
	return r;
}

/* rbd_diff_iterate2's extents, in image order: the state at `start` and
 * where it ends. */
struct status_walk {
	uint64_t start, end;    /* asked: [start, end) */
	bool seen, mapped;
	uint64_t state_end;     /* the first byte whose state differs */
};

static int status_extent(uint64_t off, size_t len, int exists, void *arg)
{
	struct status_walk *w = arg;
	uint64_t a = off < w->start ? w->start : off, b = off + len;

	if (!exists || b <= a)
		return 0;
	if (!w->seen) {
		w->seen = true;
		if (a > w->start) {
			/* a hole first: it ends where this object begins */
			w->mapped = false;
			w->state_end = a;
			return -ECANCELED;
		}
		w->mapped = true;
		w->state_end = b;
		return 0;
	}
	if (a > w->state_end)
		return -ECANCELED;      /* a hole after the mapped run: done */
	if (b > w->state_end)
		w->state_end = b;
	return 0;
}

/* Whether the object map can answer: fast-diff on, valid, no fancy
 * striping (objects then follow the image's order). */
static bool status_cheap(struct rbd_dev *d)
{
	uint64_t features = 0, flags = 0, stripes = 0;

	return rbd_get_features(d->s.img, &features) == 0 &&
	       (features & RBD_FEATURE_FAST_DIFF) && rbd_get_flags(d->s.img, &flags) == 0 &&
	       !(flags & (RBD_FLAG_FAST_DIFF_INVALID | RBD_FLAG_OBJECT_MAP_INVALID)) &&
	       rbd_get_stripe_count(d->s.img, &stripes) == 0 && stripes <= 1;
}

static int rbd_block_status(void *h, uint64_t offset, uint64_t len, bool *mapped,
                            uint64_t *extent_len)
{
	struct rbd_dev *d = h;
	uint64_t size = atomic_load(&d->size);
	uint64_t window = (uint64_t)d->object_size * RBD_STATUS_OBJECTS;
	struct status_walk w = { .start = offset };
	int r;

	if (len == 0 || offset >= size || len > size - offset) {
		vs_set_error("block_status: range outside the disk");
		return -EINVAL;
	}
	if (!rbd_enter(d)) {
		vs_set_error("block_status: %s is not reachable now", d->name);
		return -ESHUTDOWN;
	}
	if (!status_cheap(d)) {
		rbd_leave(d);
		*mapped = true;
		*extent_len = len;
		return 0;
	}
	if (window && len > window)
		len = window;
	w.end = offset + len;
	r = rbd_diff_iterate2(d->s.img, NULL, offset, len, 1, 1, status_extent, &w);
	rbd_leave(d);
	if (r < 0 && r != -ECANCELED) {
		vs_set_error("block_status: %s: %s", d->name, strerror(-r));
		return r;
	}
	if (!w.seen) {
		*mapped = false;
		*extent_len = len;
		return 0;
	}
	*mapped = w.mapped;
	*extent_len = (w.state_end < w.end ? w.state_end : w.end) - offset;
	return 0;
}

static const struct vs_backend_ops rbd_ops = {
	.name = "rbd",
	.api_version = VS_BACKEND_API_VERSION,
	.struct_size = sizeof(struct vs_backend_ops),
	.description = "a Ceph RBD image, through librbd's asynchronous API",
	.options = rbd_options,
	.check = rbd_check,
	.open = rbd_open_dev,
	.close = rbd_close_dev,
	.get_size = rbd_get_size_op,
	.get_caps = rbd_get_caps,
	.submit = vs_rbd_submit,
	.resize = rbd_resize_op,
	.block_status = rbd_block_status,
};
VS_BACKEND_BUILTIN(rbd_ops)
