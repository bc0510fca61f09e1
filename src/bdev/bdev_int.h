/* SPDX-License-Identifier: MIT */
/*
 * Block layer internals shared by the files of src/bdev/.  Nothing here is
 * API.
 *
 * Files:
 *   registry.c  backend and filter types: built-in registration, lookup, listing
 *   plugin.c    loading types from shared objects
 *   opts.c      option schemas: parsing and checking key=value lists, typed access
 *   stack.c     opening and closing a stack, the pass-through queries
 *   io.c        submit and completion through the layers, request contexts, cancel, reset
 *   event.c     events up the stack, the stack's status, the user's handler
 *
 * A stack is a tree of layers (struct vs_layer): filters with one or more
 * lower layers, backends as leaves.  Each layer that wants per-request
 * context owns a pool of request slots (io.c), reserved at open: slot
 * header + context, and its bounce memory beside them.
 */
#ifndef VSTOR_BDEV_INT_H
#define VSTOR_BDEV_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vstor/filter.h"

#define BDEV_DEFAULT_MAX_REQUESTS 256u
/* A pool larger than this is a configuration mistake (e.g. pieces that
 * multiply across many layers), refused at open. */
#define BDEV_MAX_SLOTS            (1u << 22)
#define BDEV_MAX_TYPES            64u
#define BDEV_MAX_LAYERS           32u

/* A registered type: exactly one of backend / filter is set. */
struct layer_type {
	const struct vs_backend_ops *backend;
	const struct vs_filter_ops *filter;
	const char *origin;
};

const struct layer_type *vs_registry_find(int kind, const char *name);
void vs_registry_public(const struct layer_type *t, struct vs_layer_type *out);
/* Register the types of batch[] (origin set in each) all or none: every
 * table's ABI, callbacks, name and schema checked, and no name taken
 * (registered, or twice in the batch).  0 or -errno with vs_set_error. */
int vs_registry_add(const struct layer_type *batch, size_t n);
/* Around dlopen of a plugin on this thread: registrations made meanwhile
 * (the plugin's constructors) are refused; _end says if there were any. */
void vs_registry_plugin_load_begin(void);
bool vs_registry_plugin_load_end(void);
/* vs_set_error: "backend: 'x' is not a known backend (known: ...)" */
void vs_registry_unknown(int kind, const char *name);
static inline const char *type_name(const struct layer_type *t)
{
	return t->backend ? t->backend->name : t->filter->name;
}
static inline const struct vs_opt_desc *type_options(const struct layer_type *t)
{
	return t->backend ? t->backend->options : t->filter->options;
}
static inline int (*type_check(const struct layer_type *t))(const struct vs_opts *)
{
	return t->backend ? t->backend->check : t->filter->check;
}

/* ---- opts.c ---- */
struct opt_val {
	const struct vs_opt_desc *d;
	bool given;             /* by the user */
	bool present;           /* given or defaulted */
	bool b;
	uint64_t u;
	char *str;              /* the text as given (or the default) */
};

struct opts_old {
	struct opts_old *next;
	struct vs_opts *opts;
};

struct vs_opts {
	size_t n;
	struct opt_val v[];
};

/* Parse and check kv against schema (types, ranges, unknown and repeated
 * keys, required ones), then the type's check().  NULL with vs_set_error
 * ("field: ...") on failure. */
struct vs_opts *vs_opts_parse(const struct layer_type *t, const struct vs_kv *kv, size_t n);
/* A copy of `cur` with kv applied on top: only VS_OPT_RUNTIME keys may
 * change.  NULL with vs_set_error on failure. */
struct vs_opts *vs_opts_update(const struct layer_type *t, const struct vs_opts *cur,
                            const struct vs_kv *kv, size_t n);
void vs_opts_free(struct vs_opts *o);
/* A layer's option descriptions, at registration: names, types, ranges,
 * defaults that parse.  0 or -EINVAL with vs_set_error naming the type. */
int vs_opts_schema_check(const char *type, const struct vs_opt_desc *schema);
/* a-z, 0-9, '_', '-', at most 31: layer and option names */
bool vs_opts_name_ok(const char *name);

/* ---- io.c: request slots ---- */
struct slot_hdr {
	struct vs_layer *layer;
	vs_bio_done_fn saved_done;
	void *saved_ctx;
	_Atomic uint32_t next;          /* free list link (index) */
	uint32_t index;
} __attribute__((aligned(16)));

struct slot_pool {
	uint8_t *mem;                   /* count x stride */
	size_t stride;                  /* header + context, 16-aligned */
	uint32_t count;
	_Atomic uint64_t head;          /* tag << 32 | index of the first free slot */
	uint8_t *bounce;                /* count x bounce_size, 4096-aligned */
	size_t bounce_size;
};

int  vs_slot_pool_init(struct slot_pool *p, uint32_t count, size_t ctx_size, size_t bounce_size);
void vs_slot_pool_fini(struct slot_pool *p);

struct vs_layer {
	struct vs_bdev *stack;
	struct vs_layer *parent;        /* NULL at the top */
	size_t parent_index;            /* which lower of parent this is */
	size_t index;                   /* pre-order, 0 = top */
	const struct layer_type *type;
	void *h;
	struct vs_opts *opts;
	/* set_options: one change at a time; the options a change replaced
	 * stay allocated until close (the layer may still read them) */
	pthread_mutex_t opts_lock;
	struct opts_old *old_opts;
	struct vs_layer **lower;
	size_t nlower;
	size_t ctx_size;
	uint32_t max_pieces;
	size_t bounce_size;
	uint32_t slots;                 /* requests this layer may hold at once */
	struct slot_pool pool;          /* when ctx_size or bounce_size */
	bool opened;
	/* taken out of the tree by vs_bdev_replace_lower: its events stop here */
	_Atomic bool detached;
};

struct vs_bdev {
	struct vs_layer *top;
	/* The top layer's submit when it needs no per-request context: the
	 * usual stack of one backend costs one indirect call (io.c). */
	int (*direct_submit)(void *h, struct vs_bio *bio, void *ctx);
	void *direct_h;
	/* That backend's lend_end, when the stack is that one backend and it
	 * lends: then, and only then, VS_BIO_MAY_LEND reaches it (io.c). */
	void (*lend_end)(void *h, struct vs_bio *bio);
	bool lend_stable;       /* and it keeps stable loans (backend.h) */
	int (*lent_crc32c)(void *h, const struct vs_bio *bio, uint64_t off, uint64_t len,
	                   uint32_t *crc);       /* and checksums of them, if it has */
	struct vs_layer *layers[BDEV_MAX_LAYERS];   /* pre-order */
	size_t nlayers;
	char name[128];                 /* vs_bdev_name */
	/* what vs_bdev_replace_lower opens new layers with */
	bool readonly;
	struct vs_loop_group *loops;
	/* Cancel and reset walk the whole tree from other threads: a
	 * replacement swaps a subtree only while none is walking (read side:
	 * cancel, reset; write side: the swap).  Not on the I/O path. */
	pthread_rwlock_t tree_lock;

	/* event.c: the user's handler runs under ev_lock (so a replaced one
	 * is never running once vs_bdev_set_event_handler returned) */
	pthread_mutex_t ev_lock;
	vs_bdev_event_fn ev_fn;
	void *ev_ctx;
	pthread_mutex_t status_lock;
	struct vs_bdev_status status;
};

/* io.c */
int  vs_bdev_layer_submit(struct vs_layer *l, struct vs_bio *bio);
bool vs_bdev_layer_cancel(struct vs_layer *l, struct vs_bio *bio);
void vs_layer_reset(struct vs_layer *l);

/* stack.c: pass-through queries (a filter without its own asks lower 0) */
uint64_t vs_layer_size(struct vs_layer *l);
void vs_layer_caps(struct vs_layer *l, struct vs_backend_caps *caps);
int  vs_layer_resize(struct vs_layer *l, uint64_t new_size);
bool vs_layer_has_block_status(struct vs_layer *l);
int  vs_layer_block_status(struct vs_layer *l, uint64_t off, uint64_t len, bool *mapped,
                        uint64_t *ext);

/* event.c */
void vs_event_init(struct vs_bdev *b);
void vs_event_fini(struct vs_bdev *b);

#endif
