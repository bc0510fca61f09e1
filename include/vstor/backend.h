/* SPDX-License-Identifier: MIT */
/*
 * Block backends: the resource a disk exports (RAM, a file, a remote NBD
 * server, a Ceph image).  A backend is one small file implementing one
 * ops table, in the style of nbdkit plugins; it includes this header (and
 * loop.h if it waits on sockets or timers), nothing else of vstor.
 *
 * Requests are asynchronous.  A backend may complete inline (ram) or later
 * from another thread (file: io_uring completions; nbd: its event loop).
 * Each request completes exactly once, through vs_bio_complete().
 * Submission never blocks and never allocates.
 *
 * The table grows only at the end: the block layer reads `struct_size`,
 * so a plugin built against an older header keeps working, and refuses
 * one whose api_version it does not know.
 */
#ifndef VSTOR_BACKEND_H
#define VSTOR_BACKEND_H

#include "vstor/bdev.h"

#define VS_BACKEND_API_VERSION 2

/* One layer of an open stack, as the layer itself holds it: what it
 * passes to the block layer's services (events, options). */
struct vs_layer;

/*
 * The validated options of one layer: every key is in the layer's schema,
 * typed values parsed, defaults applied.  Asking for a name that is not in
 * the schema is a programming error (answered as absent).
 */
struct vs_opts;
bool        vs_opt_given(const struct vs_opts *o, const char *name);   /* given by the user */
bool        vs_opt_present(const struct vs_opts *o, const char *name); /* given or defaulted */
const char *vs_opt_str(const struct vs_opts *o, const char *name);     /* NULL if not present */
bool        vs_opt_bool(const struct vs_opts *o, const char *name);
/* UINT, SIZE (bytes), RATE (per second), DURATION (ms); 0 if not present */
uint64_t    vs_opt_u64(const struct vs_opts *o, const char *name);

struct vs_backend_open_args {
	struct vs_layer *self;          /* for vs_layer_event() & co */
	const struct vs_opts *opts;
	bool readonly;                  /* open nothing for writing */
	struct vs_loop_group *loops;    /* NULL: none available */
	/* out: bytes of per-request context the backend wants besides
	 * bio->backend_scratch (0: none, submit gets ctx NULL) */
	size_t ctx_size;
};

struct vs_backend_ops {
	const char *name;
	uint32_t api_version;           /* VS_BACKEND_API_VERSION */
	uint32_t struct_size;           /* sizeof(struct vs_backend_ops) */
	const char *description;        /* one line, for --help and listings */
	const struct vs_opt_desc *options;  /* ends with a NULL name */

	/* Optional: rules between options the schema cannot say ("size:
	 * required with create=1").  0 or -EINVAL with vs_set_error() naming
	 * the field.  Runs before open and when a configuration is checked. */
	int   (*check)(const struct vs_opts *opts);
	/* NULL on failure with vs_set_error() naming the option. */
	void *(*open)(struct vs_backend_open_args *args);
	/* Flush and release everything; every request has completed. */
	void  (*close)(void *h);
	uint64_t (*get_size)(void *h);
	void  (*get_caps)(void *h, struct vs_backend_caps *caps);
	/* Returns 0 (the bio will complete, maybe already has) or a negative
	 * errno without completing it (-EAGAIN: resources, retry later).
	 * ctx: the bio's context (args->ctx_size bytes) or NULL. */
	int   (*submit)(void *h, struct vs_bio *bio, void *ctx);

	/* ---- optional ---- */

	/* Give back a bio this backend holds (queued, waiting to be resent):
	 * complete it with -ECANCELED and return true.  False if it is not
	 * here (never came, already completed) or cannot be stopped.  Must
	 * cope with a bio completing on another thread meanwhile, and with a
	 * bio it never saw: look it up by address among what it holds, and
	 * read nothing of it unless found. */
	bool  (*cancel)(void *h, struct vs_bio *bio);
	/* A reset: give back everything held and not yet sent. */
	void  (*reset)(void *h);
	/* Change size.  Blocking allowed. */
	int   (*resize)(void *h, uint64_t new_size);
	/* Is [offset, offset+len) allocated?  Blocking allowed. */
	int   (*block_status)(void *h, uint64_t offset, uint64_t len, bool *mapped,
	                      uint64_t *extent_len);
	/* Apply changed VS_OPT_RUNTIME options (all of `opts` is the new
	 * state, already validated); 0 or -errno with vs_set_error(). */
	int   (*set_options)(void *h, const struct vs_opts *opts);
	/* Options found out at open for a saved configuration (bdev.h,
	 * vs_bdev_layer_learned). */
	void  (*learned)(void *h, void (*emit)(void *ctx, const char *key, const char *value),
	                 void *ctx);
	/* Lending (bdev.h, vs_bio.lent).  A backend that has this may answer a
	 * READ submitted with VS_BIO_MAY_LEND by setting bio->lent to the
	 * bytes in its own memory and completing it with 0, instead of copying
	 * them into bio->iov; it may also decline (copy, leave lent NULL).  It
	 * keeps those bytes mapped (never unmapped or moved; their contents
	 * may change with later writes) until lend_end(h, bio), which the
	 * block layer calls exactly once per lending bio, from any thread,
	 * with bio->lent still set; close comes after the last one.  A backend
	 * without it never sees the flag, nor does one under a filter. */
	void  (*lend_end)(void *h, struct vs_bio *bio);
	/* Loans of READs flagged VS_BIO_LEND_STABLE stay as they were lent
	 * until lend_end: a write, unmap or write-zeroes overlapping one is
	 * held back (not completed) until then.  Without this such reads never
	 * reach the backend with VS_BIO_MAY_LEND: they are copied. */
	bool  lend_stable;
	/* The CRC32C (RFC 3720 B.4, chained zlib style) of bytes [off,
	 * off+len) of a READ's stable loan (VS_BIO_LEND_STABLE, bio->lent set,
	 * lend_end not yet called), from checksums the backend keeps of its
	 * blocks, so that a fabric sending the bytes with a digest (iSCSI data
	 * digests, RFC 7143 §13.1) need not read them: 0 and *crc, or -errno
	 * when it cannot tell (the caller reads the bytes itself).  Any
	 * thread; the loan keeps the bytes from changing meanwhile. */
	int   (*lent_crc32c)(void *h, const struct vs_bio *bio, uint64_t off, uint64_t len,
	                     uint32_t *crc);
};

/* Complete a bio (from any thread, exactly once). */
static inline void vs_bio_complete(struct vs_bio *bio, int err)
{
	bio->done(bio, err);
}

/* The handle open() returned of the backend at the bottom of `bdev` (the
 * first leg's), if that backend is of type `name`; else NULL.  For a
 * backend's own white-box tests and tools, never for the I/O path. */
void *vs_bdev_backend_handle(struct vs_bdev *bdev, const char *name);

/* Report an event upward (any thread, never from inside submit for the
 * bio being submitted): through the filters above, each of which may
 * keep it, to the disk. */
void vs_layer_event(struct vs_layer *self, const struct vs_bdev_event *ev);

/*
 * Plugins: a shared object exports `vs_plugin_backends` (a NULL-terminated
 * array of ops tables) and/or `vs_plugin_filters` (filter.h).  Built-in
 * layers register themselves at start-up.
 */
#define VS_PLUGIN_BACKENDS_SYMBOL "vs_plugin_backends"
/* What a plugin defines (the declaration checks its type and exports it
 * even from an object built with -fvisibility=hidden):
 *   const struct vs_backend_ops *const vs_plugin_backends[] = { &my_ops, NULL }; */
extern __attribute__((visibility("default")))
const struct vs_backend_ops *const vs_plugin_backends[];
/* origin: what listings show as where it came from; NULL: "built-in".
 * 0, or -errno with vs_last_error() (bad table, name taken). */
int vs_backend_register(const struct vs_backend_ops *ops, const char *origin);
/* Built in: register at start-up; a table the registry refuses is a bug in
 * the program, reported on stderr before it aborts. */
void vs_backend_register_builtin(const struct vs_backend_ops *ops);
#define VS_BACKEND_BUILTIN(ops) \
	static void __attribute__((constructor)) vs_builtin_##ops(void) \
	{ vs_backend_register_builtin(&(ops)); }

#endif
