/* SPDX-License-Identifier: MIT */
/*
 * file: a disk kept in a regular file or a block device, with I/O through
 * io_uring.
 *
 *   path=      (required) file or block device
 *   size=      with create=1, the size of a new (sparse) file; extends a
 *              smaller existing regular file to this size
 *   create=0/1 create the file if missing (needs size=); without it a
 *              missing path is refused, so a typo never makes a new disk
 *   direct=0/1 O_DIRECT: offsets, lengths and the caller's buffers must be
 *              aligned to the device's direct-I/O alignment (4096 is always
 *              enough; the iSCSI fabric's pool buffers are page aligned);
 *              caps.logical_block_size says the offset/length unit, so a
 *              disk with smaller blocks is refused when it is set up
 *   readonly=0/1
 *   dsync=0/1  O_DSYNC: every write is durable when it completes, so there
 *              is no volatile write cache to report
 *   inline=0/1 (default 1) let submit() copy READ/WRITE data itself when
 *              that cannot wait for a device (see try_inline); 0 sends
 *              everything through io_uring
 *   rings=N    io_uring rings, 1-64 (default: one per online CPU, at most
 *              8); a submitting thread always uses the same one
 *
 * Threads: submit() may be called from any number of threads.  A READ or
 * WRITE whose data can be copied without waiting for a device (page-cache
 * hits with RWF_NOWAIT, or any copy on tmpfs/ramfs) completes inline in
 * submit(), in the caller's thread: one syscall, no wake-ups.  Everything
 * else goes to the calling thread's io_uring ring (file_ring.c), and
 * bio->done runs on that ring's completion thread (the backend contract
 * allows both).
 *
 * On tmpfs/ramfs a READ that may borrow memory (VS_BIO_MAY_LEND) is answered
 * from a mapping of the file, no system call and no copy (file_map.c); a
 * READ that needs its loan to stay as it was (VS_BIO_LEND_STABLE: iSCSI
 * data digests) too, because there writes, unmaps and write-zeroes are
 * made in submit and held back while they overlap such a loan
 * (file_stable.c).
 *
 * Durability (SBC-3 4.15, SYNCHRONIZE CACHE and FUA): the page cache is a
 * volatile write cache, so has_write_cache is true and FLUSH is
 * fdatasync(); a FUA write is issued with RWF_DSYNC, which makes that
 * write durable with fdatasync semantics before it completes.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "file_dev.h"
#include "iov.h"


static bool dio_aligned(const struct file_dev *d, const struct vs_bio *bio)
{
	uint64_t a = d->dio_align;
	if (bio->offset % a || bio->length % a)
		return false;
	if (bio->op != VS_BIO_READ && bio->op != VS_BIO_WRITE)
		return true;
	uint64_t left = bio->length;
	for (int i = 0; i < bio->iovcnt && left; i++) {
		uint64_t n = bio->iov[i].iov_len < left ? bio->iov[i].iov_len : left;
		if ((uintptr_t)bio->iov[i].iov_base % a || n % a)
			return false;
		left -= n;
	}
	return true;
}

/* ------------------------------------------------------- inline copies */

/*
 * Why: io_uring cannot run a buffered read/write on a file whose file
 * system lacks non-blocking support (tmpfs, for one) from the submitting
 * thread; it punts every such request to an io-wq worker, so each bio costs
 * a worker wake-up, a reaper wake-up and a cross-thread completion.  Where
 * the copy cannot wait for a device, submit() does it itself and completes
 * the bio inline (the backend contract allows that):
 *
 *   INLINE_NOWAIT  preadv2/pwritev2 with RWF_NOWAIT: the kernel copies only
 *                  what is in the page cache and returns -EAGAIN instead of
 *                  waiting; the rest goes through io_uring.
 *   INLINE_MEMFS   tmpfs/ramfs: the file *is* memory (like the ram
 *                  backend's buffer), so a plain copy never waits for I/O;
 *                  these file systems refuse RWF_NOWAIT (EOPNOTSUPP).
 *
 * Never with O_DIRECT (the request goes to the device), and a FUA write
 * only on memfs, where there is no device for RWF_DSYNC to wait for.
 */
enum inline_mode { INLINE_OFF = 0, INLINE_NOWAIT, INLINE_MEMFS };

/* Try to do a READ/WRITE bio here and now.  true: done() has run.  false:
 * the bio (with whatever progress was made) goes to io_uring. */
static bool try_inline(struct file_dev *d, struct vs_bio *bio)
{
	bool rd = bio->op == VS_BIO_READ;
	_Atomic uint8_t *modep = rd ? &d->inline_read : &d->inline_write;
	uint8_t mode = atomic_load_explicit(modep, memory_order_relaxed);
	if (mode == INLINE_OFF)
		return false;
	if (!rd && (bio->flags & VS_BIO_FUA) && mode != INLINE_MEMFS)
		return false;   /* RWF_DSYNC would wait for the device */
	int flags = mode == INLINE_NOWAIT ? RWF_NOWAIT : 0;
	int r = vs_file_rw_now(d->fd, bio, flags);

	if (r == 1) {
		if (!rd)
			vs_file_map_written(d, bio->offset, bio->length);
		vs_bio_complete(bio, 0);
		return true;
	}
	if (r == 0) {
		if (!rd)
			return false;   /* io_uring reports the stalled write */
		zero_fill_rest(bio);    /* past a (truncated) end: zeroes */
		vs_bio_complete(bio, 0);
		return true;
	}
	if (r == -EINTR || r == -EAGAIN)
		return false;       /* interrupted too often / not cached, would block: io_uring */
	if (r == -EOPNOTSUPP && mode == INLINE_NOWAIT) {
		/* This file system cannot do it without blocking. */
		atomic_store_explicit(modep, INLINE_OFF, memory_order_relaxed);
		return false;
	}
	vs_bio_complete(bio, r);
	return true;
}

static int file_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct file_dev *d = h;
	uint64_t size = atomic_load_explicit(&d->size, memory_order_acquire);

	(void)ctx;

	switch (bio->op) {
	case VS_BIO_READ:
	case VS_BIO_WRITE:
		if (bio->length && (!bio->iov || bio->iovcnt <= 0 ||
		                    vs_bk_iov_bytes(bio->iov, bio->iovcnt) < bio->length))
			return -EINVAL;
		/* fall through */
	case VS_BIO_UNMAP:
	case VS_BIO_WRITE_ZEROES:
		if (bio->offset > size || bio->length > size - bio->offset)
			return -EINVAL;
		if (d->readonly && bio->op != VS_BIO_READ)
			return -EROFS;
		if (d->direct && !dio_aligned(d, bio))
			return -EINVAL;
		if (bio->length == 0) {
			vs_bio_complete(bio, 0);
			return 0;
		}
		break;
	case VS_BIO_FLUSH:
		break;
	default:
		return -EINVAL;
	}

	if (bio->op == VS_BIO_READ && (bio->flags & VS_BIO_MAY_LEND) && vs_file_stable_lend(d, bio)) {
		vs_bio_complete(bio, 0);
		return 0;
	}
	/* Pages about to become holes are not lent from here on. */
	if (bio->op == VS_BIO_UNMAP || bio->op == VS_BIO_WRITE_ZEROES)
		vs_file_map_forget(d, bio->offset, bio->length);
	/* With stable loans, changes are made here and now (file_stable.c). */
	if (bio->op != VS_BIO_READ && bio->op != VS_BIO_FLUSH && vs_file_stable_change(d, bio))
		return 0;
	memset(st(bio), 0, sizeof(struct bio_state));
	if (bio->op == VS_BIO_READ || bio->op == VS_BIO_WRITE) {
		advance(bio, 0);   /* step over leading empty iovecs */
		if (try_inline(d, bio))
			return 0;
	}
	vs_file_ring_submit(d, bio);
	return 0;
}

/* ------------------------------------------------------------ open/close */

static bool read_rotational(dev_t dev)
{
	char p[96];
	FILE *f;
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/queue/rotational", major(dev), minor(dev));
	f = fopen(p, "re");
	if (!f) {
		/* A partition has no queue/ of its own; its disk does. */
		snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/../queue/rotational",
		         major(dev), minor(dev));
		f = fopen(p, "re");
	}
	if (!f)
		return false;
	int c = fgetc(f);
	fclose(f);
	return c == '1';
}

/* O_DIRECT alignment: *offset_align for file offsets and lengths (the
 * device's logical block size, what a disk on top may not go below), the
 * return value for those and the memory buffers together.  Unknown (no
 * STATX_DIOALIGN, not a block device): 4096, always enough. */
static uint32_t direct_alignment(int fd, bool is_blk, uint32_t *offset_align)
{
	struct statx sx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align) {
		uint32_t a = sx.stx_dio_offset_align;
		*offset_align = a;
		if (sx.stx_dio_mem_align > a)
			a = sx.stx_dio_mem_align;
		return a;
	}
	int ssz;
	if (is_blk && ioctl(fd, BLKSSZGET, &ssz) == 0 && ssz > 0) {
		*offset_align = (uint32_t)ssz;
		return (uint32_t)ssz;
	}
	*offset_align = 4096;
	return 4096;
}

static void file_free(struct file_dev *d)
{
	vs_file_stable_close(d);
	vs_file_map_close(d);
	if (d->zero_buf)
		munmap(d->zero_buf, FILE_ZERO_BUF);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

/* One ring per online CPU (what the iSCSI fabric runs as event loops by
 * default), at most FILE_DEFAULT_RINGS: see file_ring.c. */
static unsigned default_rings(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		return 1;
	return ncpu < FILE_DEFAULT_RINGS ? (unsigned)ncpu : FILE_DEFAULT_RINGS;
}

static const struct vs_opt_desc file_options[] = {
	{ .name = "path", .type = VS_OPT_PATH, .flags = VS_OPT_REQUIRED,
	  .help = "file or block device, e.g. /var/lib/vstor/disk0.img" },
	{ .name = "size", .type = VS_OPT_SIZE, .min = 1, .max = (uint64_t)INT64_MAX,
	  .help = "size of a new file (create), or extend a smaller one to it" },
	{ .name = "create", .type = VS_OPT_BOOL, .dflt = "0",
	  .help = "create the file if missing (needs size); else it must exist" },
	{ .name = "direct", .type = VS_OPT_BOOL, .dflt = "0",
	  .help = "O_DIRECT: bypass the page cache" },
	{ .name = "readonly", .type = VS_OPT_BOOL, .dflt = "0", .help = "open read-only" },
	{ .name = "dsync", .type = VS_OPT_BOOL, .dflt = "0",
	  .help = "O_DSYNC: writes durable on completion (no write cache)" },
	{ .name = "inline", .type = VS_OPT_BOOL, .dflt = "1",
	  .help = "copy cached data in submit when that cannot block" },
	{ .name = "rings", .type = VS_OPT_UINT, .min = 1, .max = FILE_MAX_RINGS,
	  .help = "io_uring rings (default one per CPU, at most 8)" },
	{ 0 }
};

static int file_check(const struct vs_opts *o)
{
	bool create = vs_opt_bool(o, "create");

	if (vs_opt_bool(o, "readonly") && create) {
		vs_set_error("create: cannot create a file opened readonly=1");
		return -EINVAL;
	}
	if (create && !vs_opt_given(o, "size")) {
		vs_set_error("size: required with create=1");
		return -EINVAL;
	}
	return 0;
}

static void *file_open(struct vs_backend_open_args *args)
{
	const struct vs_opts *o = args->opts;
	const char *path = vs_opt_str(o, "path");
	uint64_t size = vs_opt_u64(o, "size");
	bool have_size = vs_opt_given(o, "size");
	bool create = vs_opt_bool(o, "create"), direct = vs_opt_bool(o, "direct");
	bool readonly = vs_opt_bool(o, "readonly") || args->readonly;
	bool dsync = vs_opt_bool(o, "dsync"), use_inline = vs_opt_bool(o, "inline");
	unsigned nrings = vs_opt_given(o, "rings") ? (unsigned)vs_opt_u64(o, "rings")
	                                           : default_rings();

	if (readonly && create) {
		vs_set_error("create: cannot create a file on a read-only LUN");
		return NULL;
	}

	struct file_dev *d = calloc(1, sizeof(*d));
	if (!d) {
		vs_set_error("out of memory");
		return NULL;
	}
	d->fd = -1;
	d->readonly = readonly;
	d->direct = direct;
	d->dsync = dsync;

	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	if (direct)
		flags |= O_DIRECT;
	if (dsync)
		flags |= O_DSYNC;
	if (create)
		flags |= O_CREAT;
	d->fd = open(path, flags, 0644);
	if (d->fd < 0) {
		if (errno == ENOENT && !create)
			vs_set_error("path: '%s' cannot be opened: it does not exist (create=1 "
			             "creates it)", path);
		else
			vs_set_error("path: '%s' cannot be opened: %s", path, strerror(errno));
		file_free(d);
		return NULL;
	}

	struct stat sb;
	if (fstat(d->fd, &sb) != 0) {
		vs_set_error("path: cannot stat '%s': %s", path, strerror(errno));
		file_free(d);
		return NULL;
	}
	uint64_t cur;
	if (S_ISREG(sb.st_mode)) {
		cur = (uint64_t)sb.st_size;
		d->rotational = read_rotational(sb.st_dev);
	} else if (S_ISBLK(sb.st_mode)) {
		d->is_blk = true;
		if (ioctl(d->fd, BLKGETSIZE64, &cur) != 0) {
			vs_set_error("path: cannot read the size of '%s': %s", path,
			             strerror(errno));
			file_free(d);
			return NULL;
		}
		d->rotational = read_rotational(sb.st_rdev);
	} else {
		vs_set_error("path: '%s' is not a regular file or a block device", path);
		file_free(d);
		return NULL;
	}
	d->blksize = sb.st_blksize > 0 ? (uint32_t)sb.st_blksize : 4096;

	if (have_size && size != cur) {
		if (d->is_blk) {
			vs_set_error("size: '%s' is a block device of %llu bytes; its size cannot be set",
			             path, (unsigned long long)cur);
			file_free(d);
			return NULL;
		}
		if (size < cur) {
			/* Never shrink (lose data) because of an open option. */
			vs_set_error("size: %llu bytes is less than the existing file '%s' (%llu bytes)",
			             (unsigned long long)size, path, (unsigned long long)cur);
			file_free(d);
			return NULL;
		}
		if (readonly) {
			vs_set_error("size: cannot extend '%s' with readonly=1", path);
			file_free(d);
			return NULL;
		}
		if (ftruncate(d->fd, (off_t)size) != 0) {
			vs_set_error("size: cannot extend '%s' to %llu bytes: %s", path,
			             (unsigned long long)size, strerror(errno));
			file_free(d);
			return NULL;
		}
		cur = size;
	}
	if (cur == 0) {
		vs_set_error("size: '%s' is empty; give size= to extend it", path);
		file_free(d);
		return NULL;
	}
	atomic_init(&d->size, cur);
	d->dio_align = 1;
	if (direct)
		d->dio_align = direct_alignment(d->fd, d->is_blk, &d->dio_offset_align);

	/* Inline copies (see try_inline): never with O_DIRECT; on tmpfs and
	 * ramfs plain copies; elsewhere RWF_NOWAIT, turned off per direction
	 * the first time the file system says EOPNOTSUPP.  inline=0 keeps
	 * every request on io_uring. */
	struct statfs sfs;
	d->memfs = !d->is_blk && fstatfs(d->fd, &sfs) == 0 &&
	           (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
	uint8_t im = !use_inline || direct ? INLINE_OFF : d->memfs ? INLINE_MEMFS : INLINE_NOWAIT;
	atomic_init(&d->inline_read, im);
	/* O_DSYNC makes every write wait for the device after the copy. */
	atomic_init(&d->inline_write, dsync && im == INLINE_NOWAIT ? INLINE_OFF : im);

	/* Probe hole punching past the end (a no-op where supported) so
	 * can_unmap is honest.  On a block device PUNCH_HOLE means "discard
	 * that reads back zeroes"; if the device cannot, the bio falls back. */
	atomic_init(&d->zero_range_ok, true);
	atomic_init(&d->punch_ok, true);
	d->can_unmap = !readonly;
	if (!readonly && !d->is_blk) {
		off_t probe = (off_t)((cur + 2 * 4096ULL) / 4096 * 4096);
		if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, probe, 4096) != 0 &&
		    errno == EOPNOTSUPP) {
			atomic_store(&d->punch_ok, false);
			d->can_unmap = false;
		}
	}

	d->zero_buf = mmap(NULL, FILE_ZERO_BUF, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d->zero_buf == MAP_FAILED) {
		d->zero_buf = NULL;
		vs_set_error("out of memory");
		file_free(d);
		return NULL;
	}

	vs_file_map_open(d, cur);
	vs_file_stable_open(d);
	if (vs_file_rings_open(d, nrings) < 0) {
		file_free(d);
		return NULL;
	}
	return d;
}

static void file_close(void *h)
{
	struct file_dev *d = h;

	vs_file_rings_drain(d);
	if (!d->readonly)
		fdatasync(d->fd);
	vs_file_rings_close(d);
	file_free(d);
}

static uint64_t file_get_size(void *h)
{
	struct file_dev *d = h;
	return atomic_load_explicit(&d->size, memory_order_acquire);
}

static void file_get_caps(void *h, struct vs_backend_caps *caps)
{
	struct file_dev *d = h;
	memset(caps, 0, sizeof(*caps));
	caps->can_write = !d->readonly;
	caps->can_flush = !d->readonly;
	caps->can_fua = !d->readonly;
	caps->can_unmap = d->can_unmap;
	caps->can_zero = !d->readonly;
	caps->unmap_zeroes = true;     /* a punched hole reads back zeroes */
	caps->is_rotational = d->rotational;
	caps->can_resize = !d->readonly && !d->is_blk;
	/* The page cache holds writes until fdatasync; O_DSYNC writes are
	 * durable on completion.  O_DIRECT alone is not enough: the disk's
	 * own cache and block allocation metadata still need a flush. */
	caps->has_write_cache = !d->readonly && !d->dsync;
	caps->optimal_io_size = d->blksize;
	caps->unmap_granularity = d->can_unmap ? d->blksize : 0;
	/* buffered I/O goes through the page cache at any offset */
	caps->logical_block_size = d->direct ? d->dio_offset_align : 0;
}

static int file_resize(void *h, uint64_t new_size)
{
	struct file_dev *d = h;
	if (d->is_blk) {
		vs_set_error("size: a block device cannot be resized");
		return -EOPNOTSUPP;
	}
	if (d->readonly) {
		vs_set_error("size: cannot resize with readonly=1");
		return -EROFS;
	}
	if (new_size == 0 || new_size > (uint64_t)INT64_MAX) {
		vs_set_error("size: %llu bytes is not a valid size",
		             (unsigned long long)new_size);
		return -EINVAL;
	}
	/* Shrink: publish the smaller size first so new I/O cannot land past
	 * the new end; grow: extend first so no I/O sees a short file. */
	uint64_t old = file_get_size(d);
	if (new_size < old)
		atomic_store_explicit(&d->size, new_size, memory_order_release);
	if (ftruncate(d->fd, (off_t)new_size) != 0) {
		int e = errno;
		atomic_store_explicit(&d->size, old, memory_order_release);
		vs_set_error("size: cannot resize to %llu bytes: %s",
		             (unsigned long long)new_size, strerror(e));
		return -e;
	}
	atomic_store_explicit(&d->size, new_size, memory_order_release);
	vs_file_map_resized(d, old, new_size);
	return 0;
}

static int file_block_status(void *h, uint64_t offset, uint64_t len,
                             bool *mapped, uint64_t *extent_len)
{
	struct file_dev *d = h;
	uint64_t size = file_get_size(d);
	if (len == 0 || offset >= size || len > size - offset) {
		vs_set_error("block_status: range outside the disk");
		return -EINVAL;
	}
	if (d->is_blk) {
		*mapped = true;
		*extent_len = len;
		return 0;
	}
	uint64_t end = offset + len;
	off_t data = lseek(d->fd, (off_t)offset, SEEK_DATA);
	if (data < 0) {
		if (errno == ENXIO) {      /* only a hole up to EOF */
			*mapped = false;
			*extent_len = len;
			return 0;
		}
		*mapped = true;            /* no SEEK_DATA: say "maybe data" */
		*extent_len = len;
		return 0;
	}
	if ((uint64_t)data > offset) {
		*mapped = false;
		*extent_len = ((uint64_t)data < end ? (uint64_t)data : end) - offset;
		return 0;
	}
	off_t hole = lseek(d->fd, (off_t)offset, SEEK_HOLE);
	uint64_t e = hole < 0 ? end : (uint64_t)hole;
	*mapped = true;
	*extent_len = (e < end ? e : end) - offset;
	return 0;
}

/* The mapping stays until close (file_map.c); a stable loan lets the
 * changes it held back go (file_stable.c). */
static void file_lend_end(void *h, struct vs_bio *bio)
{
	if (bio->flags & VS_BIO_LEND_STABLE)
		vs_file_stable_lend_end(h, bio);
}

static const struct vs_backend_ops file_ops = {
	.name = "file",
	.api_version = VS_BACKEND_API_VERSION,
	.struct_size = sizeof(struct vs_backend_ops),
	.description = "a regular file or a block device, through io_uring",
	.options = file_options,
	.check = file_check,
	.open = file_open,
	.close = file_close,
	.get_size = file_get_size,
	.get_caps = file_get_caps,
	.submit = file_submit,
	.resize = file_resize,
	.block_status = file_block_status,
	.lend_end = file_lend_end,
	.lend_stable = true,
};
VS_BACKEND_BUILTIN(file_ops)
