/* SPDX-License-Identifier: MIT */
/*
 * The block layer, as its users see it: what a disk (vdisk), a class
 * driver or the control plane calls to open a block stack and send it
 * requests.  Implementers of a layer include backend.h or filter.h, which
 * add the ops tables and the services a layer may call (the split SPDK
 * makes between bdev.h and bdev_module.h).
 *
 * A block stack is the Windows device stack below a disk: zero or more
 * filters (encryption, throttling, fault injection, volumes) over one or
 * more backends (the resource: RAM, a file, a remote server).  It is
 * opened from a description (struct vs_bdev_desc) and closed as one.
 *
 * Requests (struct vs_bio) are asynchronous: vs_bdev_submit() never blocks
 * and never allocates; done() runs exactly once, inline or later from any
 * thread.  While a bio is submitted, its done/ctx fields belong to the
 * block layer (it may route the completion through the layers that saw
 * the bio); they hold the caller's values again when done() runs.
 */
#ifndef VSTOR_BDEV_H
#define VSTOR_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* key=value options, as given on the command line / in the config */
struct vs_kv {
	const char *key;
	const char *value;
};

enum vs_bio_op {
	VS_BIO_READ = 1,
	VS_BIO_WRITE,
	/* Everything acknowledged so far to stable storage.  -ENOTRECOVERABLE:
	 * some of it never will be (a remote resource lost writes it had
	 * acknowledged); the disk reports MEDIUM ERROR, WRITE ERROR. */
	VS_BIO_FLUSH,
	VS_BIO_UNMAP,        /* deallocate; reads may then return zeroes */
	VS_BIO_WRITE_ZEROES, /* must read back as zeroes */
};

#define VS_BIO_FUA      0x1  /* write: stable before completion (SBC-3 FUA) */
#define VS_BIO_MAY_TRIM 0x2  /* write_zeroes: may deallocate */
#define VS_BIO_MAY_LEND 0x4  /* read: the stack may lend its memory (vs_bio.lent) */
#define VS_BIO_LEND_STABLE 0x8  /* with MAY_LEND: only a loan nothing changes until it ends */

struct vs_bio;
typedef void (*vs_bio_done_fn)(struct vs_bio *bio, int err /* 0 or -errno */);

/* One block request.  Lives in the caller's memory (e.g. an SRB extension)
 * until done() runs. */
struct vs_bio {
	uint8_t  op;              /* enum vs_bio_op */
	uint32_t flags;           /* VS_BIO_* */
	uint64_t offset;          /* bytes */
	uint64_t length;          /* bytes */
	struct iovec *iov;        /* READ/WRITE data; total >= length */
	int      iovcnt;
	vs_bio_done_fn done;
	void    *ctx;             /* for the caller */
	/* For the backend at the bottom, e.g. to link the bio in a queue.  A
	 * filter never uses it: its per-request state is its context (see
	 * filter.h), and a request it sends on keeps the field for the layer
	 * that finally executes it. */
	uint64_t backend_scratch[8];

	/* ---- grown at the end: read and written only with VS_BIO_MAY_LEND,
	 * which a caller built against an older header never sets ---- */

	/*
	 * Lending.  A READ submitted with VS_BIO_MAY_LEND may complete (err 0)
	 * with `lent` pointing at its `length` bytes, in one piece, in memory
	 * the stack lends (a RAM disk's own), instead of with them copied into
	 * iov: the caller reads or sends them from there and never writes
	 * them.  They stay valid until the caller ends the loan with
	 * vs_bdev_lend_end(), exactly once per lending bio (also when it never
	 * uses the data), on any thread; like a request in flight, a loan must
	 * end before vs_bdev_close.  Meanwhile a write to the same blocks may
	 * change what `lent` shows, as a write overlapping a read in flight may
	 * change what the read returns.  A caller that needs the bytes to stay
	 * as they were (e.g. to send them with a checksum taken earlier) adds
	 * VS_BIO_LEND_STABLE: then the stack lends only if it holds back every
	 * write to those bytes until the loan ends (a RAM disk does), and
	 * copies otherwise.  vs_bdev_submit sets it NULL, and clears the flag
	 * when the stack cannot lend at all (a filter in the way, a backend
	 * without lending, or without stable loans when asked for one); NULL on
	 * completion: the data is in iov as usual -- a backend may always
	 * decline (e.g. a range it would have to fill with zeroes).
	 */
	const void *lent;
};

/*
 * What a stack can do, as its top layer reports it.  Filters change what
 * they break (an encrypting filter: unmapped blocks no longer read back as
 * zeroes).
 */
struct vs_backend_caps {
	bool can_write;        /* false: read-only */
	bool can_flush;        /* flush does something (volatile cache exists) */
	bool can_fua;          /* honours VS_BIO_FUA natively or by flushing */
	bool can_unmap;
	bool can_zero;         /* efficient write-zeroes */
	bool unmap_zeroes;     /* unmapped blocks read back as zeroes (LBPRZ) */
	bool is_rotational;
	bool can_resize;
	bool has_write_cache;  /* writes may be volatile until flush (WCE) */
	uint32_t optimal_io_size;   /* bytes, 0 = unknown */
	uint32_t unmap_granularity; /* bytes, 0 = unknown */
	/*
	 * The smallest unit the stack can read or write: every offset and
	 * length must be a multiple of it (bytes, a power of two), e.g. the
	 * logical block size an O_DIRECT file or device needs.  A disk over
	 * it cannot use smaller logical blocks.  0 = any (byte granular).
	 */
	uint32_t logical_block_size;
};

/* ---------------- option schemas ---------------- */

/*
 * Every backend and filter describes its options; the block layer checks
 * a key=value list against that description before the layer sees it,
 * and the control plane, vstorctl and --help print and validate from it,
 * so no layer's name or keys appear anywhere else.
 */
enum vs_opt_type {
	VS_OPT_STRING = 1,
	VS_OPT_BOOL,        /* 0/1, true/false, yes/no, on/off */
	VS_OPT_UINT,        /* decimal whole number in [min, max] */
	VS_OPT_SIZE,        /* bytes, binary suffixes: 4096, 512K, 1G, 10GiB; [min, max] */
	VS_OPT_RATE,        /* per second, decimal suffixes: 5000, 50M = 50 x 10^6; [min, max] */
	VS_OPT_DURATION,    /* milliseconds: 500, 500ms, 20s, 2m; [min, max] */
	VS_OPT_PATH,        /* a file name; relative ones are taken from the config's directory */
	VS_OPT_ENUM,        /* one of `choices` */
};

#define VS_OPT_REQUIRED 0x1   /* must be given */
#define VS_OPT_RUNTIME  0x2   /* may change while open (vs_bdev_set_options) */
#define VS_OPT_SECRET   0x4   /* value never logged, never printed back */

struct vs_opt_desc {
	const char *name;           /* NULL ends the list */
	uint8_t  type;              /* enum vs_opt_type */
	uint8_t  flags;             /* VS_OPT_* */
	const char *dflt;           /* default as text; NULL: absent unless given */
	uint64_t min, max;          /* numeric types; max 0 = no upper limit */
	const char *const *choices; /* VS_OPT_ENUM: NULL-terminated */
	const char *help;           /* one line */
};

enum vs_layer_kind {
	VS_LAYER_BACKEND = 1,
	VS_LAYER_FILTER,
};

/* A registered backend or filter type, for listings and --help. */
struct vs_layer_type {
	const char *name;
	int kind;                       /* enum vs_layer_kind */
	const char *description;        /* one line */
	const struct vs_opt_desc *options;
	const char *origin;             /* "built-in" or the plugin's path */
	uint32_t min_lower, max_lower;  /* filters: lower stacks it takes */
};

/* The type `name` of `kind`; false if none is registered. */
bool vs_layer_type_find(int kind, const char *name, struct vs_layer_type *out);
/* Every registered type of `kind` (0: both), sorted by kind then name:
 * the number there is; at most `max` are written. */
size_t vs_layer_types(int kind, struct vs_layer_type *out, size_t max);
/* The option `key` of a type, or NULL. */
const struct vs_opt_desc *vs_layer_type_option(const struct vs_layer_type *t, const char *key);

/*
 * Check one layer's key=value options against its type's schema and its
 * own cross-field rules, without opening anything.  0, or -EINVAL with one
 * line from vs_last_error() that starts with the field:
 * "key_file: missing (required)", "iops: 'x' is not a whole number ...".
 * A layer type that is not registered: "name: ..." naming it.
 */
int vs_layer_check(int kind, const char *name, const struct vs_kv *opts, size_t nopts);

/* ---------------- opening a stack ---------------- */

/*
 * A stack, described top-down: a filter names the layers under it
 * (`lower`, `nlower`: one for a plain filter, several for a volume); a
 * backend has none.  The description is only read during open.
 */
struct vs_bdev_desc {
	int kind;                       /* enum vs_layer_kind */
	const char *name;               /* the backend's or filter's type name */
	const struct vs_kv *opts;
	size_t nopts;
	const struct vs_bdev_desc *lower;
	size_t nlower;
};

struct vs_loop_group;                   /* include/vstor/loop.h */

struct vs_bdev_open_args {
	/* Requests the user may have in flight at once (e.g. the LUN's queue
	 * depth plus its background jobs); memory for per-layer request
	 * state is reserved for this many.  0: 256. */
	uint32_t max_requests;
	bool readonly;                  /* nothing below is opened for writing */
	/* Event loops for layers that wait on sockets or timers; NULL: a
	 * layer that needs one refuses to open, saying so. */
	struct vs_loop_group *loops;
	/* out: on failure, which layer failed, counted top-down in the order
	 * of a pre-order walk of the description (0 = the top); -1 if none */
	int failed_layer;
};

struct vs_bdev;         /* an open stack */

/* Open a stack.  NULL on failure with vs_set_error() naming the option
 * ("path: ...") and args->failed_layer saying whose. */
struct vs_bdev *vs_bdev_open_stack(const struct vs_bdev_desc *desc,
                                   struct vs_bdev_open_args *args);
/* A stack of one backend with default open arguments. */
struct vs_bdev *vs_bdev_open(const char *backend, const struct vs_kv *opts, size_t nopts);
/* Close every layer (top first: a filter may still flush into its lower
 * layer), after everything submitted has completed. */
void vs_bdev_close(struct vs_bdev *bdev);

/* ---------------- using it ---------------- */

uint64_t vs_bdev_get_size(struct vs_bdev *bdev);
void     vs_bdev_get_caps(struct vs_bdev *bdev, struct vs_backend_caps *caps);
/* The stack's layers top-down for messages: "ram", "crypt/throttle/file",
 * "mirror(file,nbd)". */
const char *vs_bdev_name(const struct vs_bdev *bdev);
/* The backend's type name at the bottom of the stack (the first leg's for
 * a volume), for listings: "ram", "file", "nbd". */
const char *vs_bdev_backend_name(const struct vs_bdev *bdev);

/* Submit; 0 (done() will run, maybe already has) or a negative errno
 * without calling done() (-EAGAIN: no resources now, retry later). */
int  vs_bdev_submit(struct vs_bdev *bdev, struct vs_bio *bio);
/* End the loan of a READ that completed with bio->lent set (see vs_bio.lent):
 * once, any thread.  Clears bio->lent; nothing to do if it is NULL. */
void vs_bdev_lend_end(struct vs_bdev *bdev, struct vs_bio *bio);
/* The CRC32C (util/vs_crc32c.h conventions) of bytes [off, off+len) of
 * bio->lent, for a READ lent with VS_BIO_LEND_STABLE whose loan has not
 * ended, as the backend can tell it without reading them (backend.h
 * lent_crc32c): 0, or -errno when it cannot (read them). */
int  vs_bdev_lent_crc32c(struct vs_bdev *bdev, const struct vs_bio *bio, uint64_t off,
                         uint64_t len, uint32_t *crc);
/*
 * Ask for a submitted bio back (an abort, SAM-5 7.x).  True if a layer
 * will complete it promptly (with -ECANCELED, or with its real result if
 * it was already on its way); false if it is in flight where nobody can
 * stop it, or already done.  done() runs exactly once either way.  The
 * caller must know the bio has not completed before the call starts.
 */
bool vs_bdev_cancel(struct vs_bdev *bdev, struct vs_bio *bio);
/* A LUN or target reset: every layer gives back what it holds and has not
 * sent on (each such bio completes with -ECANCELED).  Does not wait. */
void vs_bdev_reset(struct vs_bdev *bdev);
/* Change the size (blocking allowed); -EOPNOTSUPP if no layer can. */
int  vs_bdev_resize(struct vs_bdev *bdev, uint64_t new_size);
/* Whether vs_bdev_block_status can tell anything. */
bool vs_bdev_has_block_status(struct vs_bdev *bdev);
/* Is [offset, offset+len) allocated?  Sets *mapped and the length of the
 * extent with that state.  Blocking allowed. */
int  vs_bdev_block_status(struct vs_bdev *bdev, uint64_t offset, uint64_t len, bool *mapped,
                          uint64_t *extent_len);

/* ---------------- events up ---------------- */

enum vs_bdev_event_type {
	/* The resource went away (a connection broke, a server stopped
	 * answering).  Requests are kept, not failed.  hold_ms > 0: the
	 * layer asks the disk above to hold new requests that long (the
	 * port's per-LUN pause) while it tries to get the resource back. */
	VS_BDEV_EV_LOST = 1,
	VS_BDEV_EV_BACK,        /* the resource is there again */
	VS_BDEV_EV_RESIZED,     /* the size changed (vs_bdev_get_size tells) */
	/* Gone for good (e.g. it came back as a different export): nothing is
	 * sent to it any more. */
	VS_BDEV_EV_FAILED,
	/* A layer's own state changed without changing what the stack serves
	 * (a mirror lost a leg and goes on with the others, a resync ended):
	 * `why` is the line for the log.  The stack's status stays as it was. */
	VS_BDEV_EV_STATE,
};

struct vs_bdev_event {
	int type;               /* enum vs_bdev_event_type */
	uint32_t hold_ms;       /* VS_BDEV_EV_LOST */
	const char *why;        /* one line for the log; may be NULL */
};

/*
 * Events reach the user on any thread, outside every lock of the stack;
 * the handler must not block (hand slow work to a worker) and may call
 * vs_bdev_submit.  Replacing the handler waits until a running call of the
 * old one returned.
 */
typedef void (*vs_bdev_event_fn)(void *ctx, const struct vs_bdev_event *ev);
void vs_bdev_set_event_handler(struct vs_bdev *bdev, vs_bdev_event_fn fn, void *ctx);

/* The stack's state as the last events that reached the top made it. */
enum vs_bdev_state {
	VS_BDEV_READY = 0,
	VS_BDEV_LOST,           /* reconnecting since `since` */
	VS_BDEV_FAILED,
};

struct vs_bdev_status {
	int state;              /* enum vs_bdev_state */
	uint64_t since;         /* CLOCK_REALTIME seconds of the last change; 0: never */
	char why[160];
};
void vs_bdev_get_status(struct vs_bdev *bdev, struct vs_bdev_status *out);

/* ---------------- control ---------------- */

/* Change run-time options (VS_OPT_RUNTIME) of layer `layer` (pre-order
 * index, 0 = the top).  All or nothing: 0, or -errno with vs_last_error()
 * naming the field. */
int vs_bdev_set_options(struct vs_bdev *bdev, size_t layer, const struct vs_kv *opts,
                        size_t nopts);
/* Layers in the stack (pre-order) and one layer's type. */
size_t vs_bdev_layer_count(const struct vs_bdev *bdev);
bool   vs_bdev_layer_type(const struct vs_bdev *bdev, size_t layer, struct vs_layer_type *out);
/*
 * Options a layer found out at open that the user did not give and a
 * saved configuration should carry (e.g. an encryption key's
 * fingerprint): emit(ctx, key, value) for each.  Values are never
 * secrets.
 */
void vs_bdev_layer_learned(struct vs_bdev *bdev, size_t layer,
                           void (*emit)(void *ctx, const char *key, const char *value),
                           void *ctx);
/*
 * A layer's run-time state for listings (a mirror: "state" = "degraded",
 * "resyncing 42%", and a line per leg): emit(ctx, key, value) for each;
 * nothing from a layer that has no state to tell.  Any thread.
 */
void vs_bdev_layer_state(struct vs_bdev *bdev, size_t layer,
                         void (*emit)(void *ctx, const char *key, const char *value),
                         void *ctx);
/*
 * Replace lower layer `lower` of the filter at pre-order `layer` with a
 * stack opened from `desc` while requests flow (a mirror's failed leg
 * swapped for a new disk, which the mirror then copies in full).  The
 * filter decides whether it can (filter.h, replace_lower).  Blocking; one
 * change at a time per stack (the caller serialises control calls).  The
 * new layers take the place of the old ones in the pre-order numbering.
 * 0, or -errno with vs_last_error() naming the field and *failed_layer
 * (may be NULL) the failing layer counted in desc (-1: the filter's own
 * refusal).
 */
int vs_bdev_replace_lower(struct vs_bdev *bdev, size_t layer, size_t lower,
                          const struct vs_bdev_desc *desc, int *failed_layer);

/* ---------------- plugins ---------------- */

/*
 * Load a backend or filter from a shared object (see doc/plugins.md):
 * checked by API version and struct size, refused if its name is taken.
 * 0, or -errno with vs_last_error() saying why.
 */
int vs_plugin_load(const char *path);
/* Load every *.so in dir (in name order); 0 if all loaded (a missing dir
 * is not an error), else the first error (the others are still tried). */
int vs_plugin_load_dir(const char *dir);
/* The same, telling report() of each file tried: rc 0, or -errno and the
 * one-line error (naming the file) that vs_last_error() would give. */
typedef void (*vs_plugin_report_fn)(void *ctx, const char *path, int rc, const char *error);
int vs_plugin_load_dir_report(const char *dir, vs_plugin_report_fn report, void *ctx);

/* ---------------- small parsers shared with the control plane ---------------- */

/* Parse sizes like "1G", "512M", "4096", "10GiB" → bytes; -EINVAL on junk,
 * -ERANGE if too large. */
int vs_parse_size(const char *s, uint64_t *out);
/* Look up a key in an option list; NULL if absent. */
const char *vs_kv_get(const struct vs_kv *opts, size_t n, const char *key);

/* Error messages: one thread-local line (also declared in miniport.h). */
void vs_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *vs_last_error(void);

#endif
