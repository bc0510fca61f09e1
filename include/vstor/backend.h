/* SPDX-License-Identifier: MIT */
/*
 * Block backends: the resource a disk exports (RAM, a file, later a remote
 * NBD server or a Ceph image).  A backend is one small file implementing
 * one ops table, in the style of nbdkit plugins; it includes only this
 * header (and srb.h for iovec helpers it does not need to use).
 *
 * Requests are asynchronous.  A backend may complete inline (ram) or later
 * from another thread (file: io_uring completions).  Each request completes
 * exactly once.  Submission never blocks and never allocates.
 *
 * Filters (include/vstor/filter.h, later) wrap a vs_bdev and present the
 * same interface, so a stack is a chain of vs_bdev.
 */
#ifndef VSTOR_BACKEND_H
#define VSTOR_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VS_BACKEND_API_VERSION 1

/* key=value options, as given on the command line / in the config */
struct vs_kv {
	const char *key;
	const char *value;
};

enum vs_bio_op {
	VS_BIO_READ = 1,
	VS_BIO_WRITE,
	VS_BIO_FLUSH,        /* everything acknowledged so far to stable storage */
	VS_BIO_UNMAP,        /* deallocate; reads may then return zeroes */
	VS_BIO_WRITE_ZEROES, /* must read back as zeroes */
};

#define VS_BIO_FUA      0x1  /* write: stable before completion (SBC-3 FUA) */
#define VS_BIO_MAY_TRIM 0x2  /* write_zeroes: may deallocate */

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
	uint64_t backend_scratch[8]; /* for the backend, e.g. to link it in a queue */
};

/* Capability flags from the open handle */
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
	 * The smallest unit the backend can read or write: every offset and
	 * length must be a multiple of it (bytes, a power of two), e.g. the
	 * logical block size an O_DIRECT file or device needs.  A disk over
	 * it cannot use smaller logical blocks.  0 = any (byte granular).
	 */
	uint32_t logical_block_size;
};

struct vs_backend_ops {
	const char *name;
	uint32_t api_version;     /* VS_BACKEND_API_VERSION */
	uint32_t struct_size;     /* sizeof(struct vs_backend_ops) */
	const char *help;         /* one line per option, for --help */

	/* Open with options (e.g. size=1G, path=/x, create=1, direct=1).
	 * NULL on failure with vs_set_error() naming the option. */
	void *(*open)(const struct vs_kv *opts, size_t nopts);
	/* Flush and release everything; blocks until in-flight I/O is done. */
	void  (*close)(void *h);
	uint64_t (*get_size)(void *h);
	void  (*get_caps)(void *h, struct vs_backend_caps *caps);
	/* Submit; returns 0 (done() will run, maybe already has) or a negative
	 * errno without calling done() (-EAGAIN: resources, retry later). */
	int   (*submit)(void *h, struct vs_bio *bio);
	/* Optional: change size (grow / shrink). Blocking allowed. */
	int   (*resize)(void *h, uint64_t new_size);
	/* Optional: is [offset, offset+len) allocated?  Sets *mapped and the
	 * length of the extent with that state.  Blocking allowed. */
	int   (*block_status)(void *h, uint64_t offset, uint64_t len,
	                      bool *mapped, uint64_t *extent_len);
};

/* An open backend instance (the bottom of a block stack). */
struct vs_bdev {
	const struct vs_backend_ops *ops;
	void *h;
	char  name[32];
};

/* Registry of built-in backends ("ram", "file", ...). */
const struct vs_backend_ops *vs_backend_find(const char *name);
/* Open by name; NULL with vs_set_error() on failure. */
struct vs_bdev *vs_bdev_open(const char *backend, const struct vs_kv *opts, size_t nopts);
void vs_bdev_close(struct vs_bdev *bdev);

/* Parse sizes like "1G", "512M", "4096", "10GiB" → bytes; -EINVAL on junk. */
int vs_parse_size(const char *s, uint64_t *out);
/* Look up a key in an option list; NULL if absent. */
const char *vs_kv_get(const struct vs_kv *opts, size_t n, const char *key);

/* Error messages (same declarations as in miniport.h, repeated so that a
 * backend needs no other vstor header): one thread-local line. */
void vs_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *vs_last_error(void);

#endif
