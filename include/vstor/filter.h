/* SPDX-License-Identifier: MIT */
/*
 * Filters: layers between a disk and its backend, in the style of nbdkit's
 * filters — encryption, throttling, fault injection, volumes over several
 * disks.  A filter sees the layer(s) under it and may pass a request on,
 * change it, split it, hold it, fail it or complete it itself.  It
 * includes this header (and loop.h if it needs timers), nothing else.
 *
 * Per-request state without allocation: at open a filter says how many
 * bytes of context it needs per request (ctx_size), how many requests it
 * may have in flight below per request it got (max_pieces), and how much
 * bounce memory per request (bounce_size, e.g. for encrypted copies of a
 * write: the caller's buffer is never changed, since a write may be sent
 * again after a reconnect).  The block layer reserves all of it when the
 * stack is opened, for as many requests as the stack's user may have in
 * flight, and hands each submit its own context.  A filter that runs out
 * of what it reserved answers -EAGAIN (the disk above turns it into BUSY).
 *
 * Passing a request on: vs_layer_submit(self, i, bio) with the same bio
 * (its completion then goes straight back up past this filter), or with
 * bios the filter builds in its context (children: their done() is the
 * filter's, which completes the original with vs_bio_complete() once all
 * are back).  A request the filter answers itself it completes with
 * vs_bio_complete().  Whichever way, each request completes exactly once.
 *
 * Threading: submit may be called on any thread at once; completions come
 * on any thread.  A filter with timers uses the event loops it was given.
 */
#ifndef VSTOR_FILTER_H
#define VSTOR_FILTER_H

#include "vstor/backend.h"

#define VS_FILTER_API_VERSION 1

struct vs_filter_open_args {
	struct vs_layer *self;
	const struct vs_opts *opts;
	bool readonly;
	struct vs_loop_group *loops;
	size_t nlower;                  /* layers below (vs_layer_lower_*) */
	/* out */
	size_t ctx_size;                /* bytes of context per request */
	uint32_t max_pieces;            /* requests below per request at most; 0 = 1 */
	size_t bounce_size;             /* bounce bytes per request (4096-aligned memory) */
};

struct vs_filter_ops {
	const char *name;
	uint32_t api_version;           /* VS_FILTER_API_VERSION */
	uint32_t struct_size;           /* sizeof(struct vs_filter_ops) */
	const char *description;        /* one line */
	const struct vs_opt_desc *options;
	uint32_t min_lower, max_lower;  /* lower layers it takes; 0, 0 = exactly one */

	int   (*check)(const struct vs_opts *opts);
	void *(*open)(struct vs_filter_open_args *args);
	/* Release; every request has completed.  The lower layers are still
	 * open (closed after this returns). */
	void  (*close)(void *h);
	/* ctx: args->ctx_size bytes (NULL if 0), private to this request until
	 * it completes: from vs_bio_complete() on, it may already be another
	 * request's (read what you still need from it first).  0 or a
	 * negative errno without completing the bio. */
	int   (*submit)(void *h, struct vs_bio *bio, void *ctx);

	/* ---- optional; without them the block layer asks lower layer 0 ---- */

	uint64_t (*get_size)(void *h);
	/* caps arrive filled in by lower layer 0: change what the filter
	 * changes */
	void  (*get_caps)(void *h, struct vs_backend_caps *caps);
	/* Give back a bio this filter holds (see backend.h); if it is not
	 * here, return false: the block layer then asks the layer below.  A
	 * filter that split the bio cancels its children itself with
	 * vs_layer_cancel. */
	bool  (*cancel)(void *h, struct vs_bio *bio);
	/* Give back everything held (lower layers are reset after it). */
	void  (*reset)(void *h);
	int   (*resize)(void *h, uint64_t new_size);
	int   (*block_status)(void *h, uint64_t offset, uint64_t len, bool *mapped,
	                      uint64_t *extent_len);
	/*
	 * An event from lower layer `lower`.  Without this callback events go
	 * on up.  With it the filter decides: keep it (a mirror that loses a
	 * leg serves from the others) or pass it on with vs_layer_event.
	 */
	void  (*event)(void *h, size_t lower, const struct vs_bdev_event *ev);
	int   (*set_options)(void *h, const struct vs_opts *opts);
	void  (*learned)(void *h, void (*emit)(void *ctx, const char *key, const char *value),
	                 void *ctx);
	/* Run-time state for listings (bdev.h, vs_bdev_layer_state).  Any
	 * thread, must not block. */
	void  (*state)(void *h, void (*emit)(void *ctx, const char *key, const char *value),
	               void *ctx);
	/*
	 * Replacing lower layer `lower` at run time (vs_bdev_replace_lower),
	 * in steps on a control thread (blocking allowed):
	 *  VS_REPLACE_CHECK:  may the new layer, of new_size bytes, take the
	 *                     place?  0 or -errno with vs_set_error();
	 *  VS_REPLACE_DETACH: stop using the old one (no submit, cancel or
	 *                     query to it; its events are ignored) and return
	 *                     once nothing sent to it is in flight: 0, or
	 *                     -errno with vs_set_error() to keep it;
	 *  VS_REPLACE_ATTACH: the new one is in place (the old one is closed):
	 *                     use it.  Cannot fail.
	 * Without this callback a lower layer cannot be replaced.
	 */
	int   (*replace_lower)(void *h, size_t lower, int step, uint64_t new_size);
};

enum vs_replace_step {
	VS_REPLACE_CHECK = 1,
	VS_REPLACE_DETACH,
	VS_REPLACE_ATTACH,
};

/* Send a bio to lower layer i: 0 or -errno without completing it. */
int  vs_layer_submit(struct vs_layer *self, size_t lower, struct vs_bio *bio);
/* Ask lower layer i (and the layers under it) for a bio back. */
bool vs_layer_cancel(struct vs_layer *self, size_t lower, struct vs_bio *bio);
/* Reset lower layer i (and the layers under it): everything it holds and
 * has not sent on completes with -ECANCELED (a mirror giving up on a leg
 * whose resource went away, so the requests waiting there come back). */
void vs_layer_lower_reset(struct vs_layer *self, size_t lower);
size_t   vs_layer_lower_count(const struct vs_layer *self);
uint64_t vs_layer_lower_size(struct vs_layer *self, size_t lower);
void     vs_layer_lower_caps(struct vs_layer *self, size_t lower, struct vs_backend_caps *caps);
int      vs_layer_lower_resize(struct vs_layer *self, size_t lower, uint64_t new_size);
bool     vs_layer_lower_has_block_status(struct vs_layer *self, size_t lower);
int      vs_layer_lower_block_status(struct vs_layer *self, size_t lower, uint64_t offset,
                                     uint64_t len, bool *mapped, uint64_t *extent_len);
/* The bounce memory (bounce_size bytes, 4096-aligned) of the request whose
 * context is ctx. */
void *vs_layer_bounce(struct vs_layer *self, void *ctx);

/* The handle open() returned of the filter at pre-order `layer` of `bdev`,
 * if it is of type `name`; else NULL.  For a filter's own white-box tests
 * and tools (as vs_bdev_backend_handle), never for the I/O path. */
void *vs_bdev_filter_handle(struct vs_bdev *bdev, size_t layer, const char *name);

#define VS_PLUGIN_FILTERS_SYMBOL "vs_plugin_filters"
/* A plugin's filters (see vs_plugin_backends in backend.h):
 *   const struct vs_filter_ops *const vs_plugin_filters[] = { &my_ops, NULL }; */
extern __attribute__((visibility("default")))
const struct vs_filter_ops *const vs_plugin_filters[];
int vs_filter_register(const struct vs_filter_ops *ops, const char *origin);
void vs_filter_register_builtin(const struct vs_filter_ops *ops);
#define VS_FILTER_BUILTIN(ops) \
	static void __attribute__((constructor)) vs_builtin_##ops(void) \
	{ vs_filter_register_builtin(&(ops)); }

#endif
