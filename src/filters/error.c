/* SPDX-License-Identifier: MIT */
/*
 * error: deterministic fault injection, to see what an initiator, a
 * filesystem or a mirror does when the disk under it fails.
 *
 *   ops=       which requests: a comma list of read, write, flush, unmap,
 *              write_zeroes, or all (default all)
 *   offset=    first byte of the range (default 0)
 *   length=    bytes in the range (default 0: to the end of the disk)
 *   rate=      chance that a selected request fails, a decimal from 0 to
 *              1 with up to 9 places: 1 (default) fails every one, 0.5
 *              about half, 0 none
 *   seed=      the seed of the sequence that decides (default 1)
 *   errno=     what the request fails with (default EIO); the disk above
 *              turns it into SCSI status (vdisk_sense.c): EIO a MEDIUM
 *              ERROR, ENOSPC/EDQUOT DATA PROTECT 27/07, EROFS/EPERM/EACCES
 *              DATA PROTECT 27/00, ENOTCONN/ECONNRESET/ETIMEDOUT NOT READY
 *              04/01, EAGAIN/EBUSY/ENOMEM BUSY, ENODEV NOT READY 04/03,
 *              EINVAL/EOPNOTSUPP HARDWARE ERROR 44/00
 *   enabled=   0/1 (default 1)
 * Every option may change while the LUN is open (vs_bdev_set_options).
 *
 * Units are bytes, not blocks, so the range means the same whatever the
 * LUN's block size: LBA n of a 512-byte-block disk is offset=n*512.  A
 * request is selected when its operation is in ops and its bytes overlap
 * the range (a request that only touches the range fails whole); a FLUSH
 * has no range and is selected by ops alone.
 *
 * Reproducible: the n-th selected request since the filter opened or its
 * options last changed fails when splitmix64(seed, n) falls under the rate
 * (a counter-based generator: one relaxed atomic add per selected request,
 * no lock, and with one submitter the same seed fails the same requests
 * every run).  rate=0 and rate=1 draw nothing.
 *
 * A failed request completes at once with -errno and is not sent on;
 * every other one goes on unchanged (the same bio, no context).  The
 * options are read from one immutable snapshot per request, published
 * with one atomic pointer store, so a change never half-applies to a
 * request and the I/O path takes no lock.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vstor/filter.h"
#include "error_filter.h"

/* The errnos a request may fail with: the schema's choices, and their
 * values in the same order. */
static const char *const errno_names[] = {
	"EIO", "ENOSPC", "EDQUOT", "EROFS", "EPERM", "EACCES", "ETIMEDOUT", "ENOTCONN",
	"ECONNRESET", "EAGAIN", "EBUSY", "ENOMEM", "ENODEV", "EINVAL", "EOPNOTSUPP", NULL,
};
static const int errno_values[] = {
	EIO, ENOSPC, EDQUOT, EROFS, EPERM, EACCES, ETIMEDOUT, ENOTCONN,
	ECONNRESET, EAGAIN, EBUSY, ENOMEM, ENODEV, EINVAL, EOPNOTSUPP,
};
_Static_assert(sizeof(errno_names) / sizeof(errno_names[0]) ==
               sizeof(errno_values) / sizeof(errno_values[0]) + 1, "one value per name");

static const char *const op_names[] = {
	[VS_BIO_READ] = "read", [VS_BIO_WRITE] = "write", [VS_BIO_FLUSH] = "flush",
	[VS_BIO_UNMAP] = "unmap", [VS_BIO_WRITE_ZEROES] = "write_zeroes",
};
#define OP_COUNT (sizeof(op_names) / sizeof(op_names[0]))
#define OPS_ALL  (((1u << OP_COUNT) - 1) & ~1u)

#define RATE_ONE 1000000000ull          /* rate in billionths */

static const struct vs_opt_desc error_options[] = {
	{ .name = "ops", .type = VS_OPT_STRING, .flags = VS_OPT_RUNTIME, .dflt = "all",
	  .help = "requests that may fail: read,write,flush,unmap,write_zeroes or all" },
	{ .name = "offset", .type = VS_OPT_SIZE, .flags = VS_OPT_RUNTIME, .dflt = "0",
	  .help = "first byte of the range that fails (bytes, e.g. 1M)" },
	{ .name = "length", .type = VS_OPT_SIZE, .flags = VS_OPT_RUNTIME, .dflt = "0",
	  .help = "bytes in the range (0: to the end of the disk)" },
	{ .name = "rate", .type = VS_OPT_STRING, .flags = VS_OPT_RUNTIME, .dflt = "1",
	  .help = "chance that a selected request fails, 0 to 1 (e.g. 0.01)" },
	{ .name = "seed", .type = VS_OPT_UINT, .flags = VS_OPT_RUNTIME, .dflt = "1",
	  .help = "seed of the sequence that decides which requests fail" },
	{ .name = "errno", .type = VS_OPT_ENUM, .flags = VS_OPT_RUNTIME, .dflt = "EIO",
	  .choices = errno_names, .help = "the error a failed request gets" },
	{ .name = "enabled", .type = VS_OPT_BOOL, .flags = VS_OPT_RUNTIME, .dflt = "1",
	  .help = "inject errors (0: pass everything on)" },
	{ 0 }
};

/* One immutable set of options, as the I/O path reads it. */
struct err_conf {
	struct err_conf *older;         /* replaced snapshots, freed at close */
	uint32_t ops;                   /* 1 << VS_BIO_* */
	uint64_t first, end;            /* bytes; end 0: to the end of the disk */
	uint64_t threshold;             /* fail when draw < threshold; 1 << 32: always */
	uint64_t seed;
	int err;                        /* negative */
	bool enabled;
	_Atomic uint64_t draws;         /* selected requests that drew */
};

struct err_filter {
	struct vs_layer *self;
	_Atomic(struct err_conf *) conf;
	_Atomic uint64_t injected;
};

/* "read,write" → mask; 0 with vs_set_error on a bad name. */
static uint32_t parse_ops(const char *s)
{
	uint32_t mask = 0;

	if (!*s) {
		vs_set_error("ops: empty (name one or more of read, write, flush, unmap, "
		             "write_zeroes, or all)");
		return 0;
	}
	while (*s) {
		size_t n = strcspn(s, ","), k;

		if (n == 3 && strncmp(s, "all", 3) == 0) {
			mask |= OPS_ALL;
		} else {
			for (k = 1; k < OP_COUNT; k++)
				if (strlen(op_names[k]) == n && strncmp(s, op_names[k], n) == 0)
					break;
			if (k == OP_COUNT) {
				vs_set_error("ops: '%.*s' is not an operation (read, write, flush, unmap, "
				             "write_zeroes, all)", (int)n, s);
				return 0;
			}
			mask |= 1u << k;
		}
		s += n;
		if (*s == ',' && !*++s) {
			vs_set_error("ops: ends with ','");
			return 0;
		}
	}
	return mask;
}

/* "0.25" → 250000000 (billionths); -EINVAL with vs_set_error. */
static int parse_rate(const char *s, uint64_t *out)
{
	const char *p = s;
	uint64_t whole = 0, frac = 0, scale = RATE_ONE;

	if (*p < '0' || *p > '9')
		goto bad;
	while (*p >= '0' && *p <= '9' && whole <= 1)
		whole = whole * 10 + (uint64_t)(*p++ - '0');
	if (*p == '.') {
		if (!*++p)
			goto bad;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (scale == 1)
				goto bad;       /* more than 9 places */
			scale /= 10;
			frac += (uint64_t)(*p - '0') * scale;
		}
	}
	if (*p || whole > 1 || (whole == 1 && frac))
		goto bad;
	*out = whole * RATE_ONE + frac;
	return 0;
bad:
	vs_set_error("rate: '%s' is not a probability from 0 to 1 (e.g. 1, 0.5, 0.001)", s);
	return -EINVAL;
}

static int error_check(const struct vs_opts *o)
{
	uint64_t rate, off = vs_opt_u64(o, "offset"), len = vs_opt_u64(o, "length");

	if (!parse_ops(vs_opt_str(o, "ops")) || parse_rate(vs_opt_str(o, "rate"), &rate) < 0)
		return -EINVAL;
	if (len && off + len < off) {
		vs_set_error("length: offset + length is past the largest byte offset");
		return -EINVAL;
	}
	return 0;
}

/* The options (already checked) as a snapshot; NULL when out of memory. */
static struct err_conf *conf_new(const struct vs_opts *o)
{
	struct err_conf *c = calloc(1, sizeof(*c));
	const char *name = vs_opt_str(o, "errno");
	uint64_t rate = 0;

	if (!c) {
		vs_set_error("out of memory");
		return NULL;
	}
	c->ops = parse_ops(vs_opt_str(o, "ops"));
	c->first = vs_opt_u64(o, "offset");
	c->end = vs_opt_u64(o, "length") ? c->first + vs_opt_u64(o, "length") : 0;
	parse_rate(vs_opt_str(o, "rate"), &rate);
	c->threshold = (rate << 32) / RATE_ONE;
	c->seed = vs_opt_u64(o, "seed");
	c->err = -EIO;
	for (size_t i = 0; errno_names[i]; i++)
		if (strcmp(errno_names[i], name) == 0)
			c->err = -errno_values[i];
	c->enabled = vs_opt_bool(o, "enabled");
	atomic_init(&c->draws, 0);
	return c;
}

static void *error_open(struct vs_filter_open_args *args)
{
	struct err_filter *f = calloc(1, sizeof(*f));
	struct err_conf *c = conf_new(args->opts);

	if (!f || !c) {
		vs_set_error("out of memory");
		free(f);
		free(c);
		return NULL;
	}
	f->self = args->self;
	atomic_init(&f->conf, c);
	atomic_init(&f->injected, 0);
	return f;
}

static void error_close(void *h)
{
	struct err_filter *f = h;
	struct err_conf *c = atomic_load(&f->conf), *older;

	for (; c; c = older) {
		older = c->older;
		free(c);
	}
	free(f);
}

/* splitmix64 (Steele, Lea, Flood 2014) of the n-th draw: a hash of
 * (seed, n), so any n can be computed without the ones before it. */
static uint64_t splitmix64(uint64_t seed, uint64_t n)
{
	uint64_t z = seed + (n + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool selected(const struct err_conf *c, const struct vs_bio *bio)
{
	if (bio->op >= OP_COUNT || !(c->ops & (1u << bio->op)))
		return false;
	if (bio->op == VS_BIO_FLUSH)
		return true;
	return bio->length && bio->offset + bio->length > c->first &&
	       (!c->end || bio->offset < c->end);
}

static bool fails(struct err_conf *c)
{
	uint64_t n;

	if (c->threshold == 0)
		return false;
	if (c->threshold >> 32)
		return true;
	n = atomic_fetch_add_explicit(&c->draws, 1, memory_order_relaxed);
	return splitmix64(c->seed, n) >> 32 < c->threshold;
}

static int error_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct err_filter *f = h;
	struct err_conf *c = atomic_load_explicit(&f->conf, memory_order_acquire);

	(void)ctx;
	if (c->enabled && selected(c, bio) && fails(c)) {
		atomic_fetch_add_explicit(&f->injected, 1, memory_order_relaxed);
		vs_bio_complete(bio, c->err);
		return 0;
	}
	return vs_layer_submit(f->self, 0, bio);
}

/* The block layer runs one change at a time, so only the I/O path reads
 * the pointer concurrently; the snapshot it may still hold stays until
 * close.  A change starts the sequence again from the seed. */
static int error_set_options(void *h, const struct vs_opts *o)
{
	struct err_filter *f = h;
	struct err_conf *c = conf_new(o);

	if (!c)
		return -ENOMEM;
	c->older = atomic_load_explicit(&f->conf, memory_order_relaxed);
	atomic_store_explicit(&f->conf, c, memory_order_release);
	return 0;
}

uint64_t vs_error_filter_injected(struct vs_bdev *bdev, size_t layer)
{
	struct err_filter *f = vs_bdev_filter_handle(bdev, layer, "error");

	return f ? atomic_load_explicit(&f->injected, memory_order_relaxed) : 0;
}

static const struct vs_filter_ops error_ops = {
	.name = "error",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "fail chosen requests (by operation, byte range, rate) with a chosen errno",
	.options = error_options,
	.check = error_check,
	.open = error_open,
	.close = error_close,
	.submit = error_submit,
	.set_options = error_set_options,
};
VS_FILTER_BUILTIN(error_ops)
