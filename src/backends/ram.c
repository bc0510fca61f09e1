/* SPDX-License-Identifier: MIT */
/*
 * ram: a zero-filled disk in anonymous memory.
 *
 *   size=      (required) capacity, e.g. 1G
 *   max_size=  (optional) largest size resize may grow to; default
 *              4 x size, capped at 256 GiB (but never below size)
 *
 * Sparse: the whole max_size range is reserved once at open as PROT_NONE
 * with MAP_NORESERVE, so it costs address space only, and never moves.
 * Pages that were never written (or were unmapped) cost no memory and read
 * back as zeroes (anonymous private memory is zero-fill-on-demand).
 *
 * Because the mapping never moves, the I/O path needs no lock against
 * resize: it reads the current size atomically and copies.  The range made
 * readable/writable only ever grows (a high-water mark), so even an I/O
 * racing a shrink touches valid memory; its data is undefined, as it
 * would be on any disk resized under load.
 *
 * Memory follows what was written, not what was read: a READ of pages
 * never written (or unmapped) is answered with zeroes from memset without
 * touching the mapping, so an initiator that only reads cannot make the
 * daemon grow, whatever the kernel would do on a read fault (transparent
 * huge pages map a whole 2 MiB zero-filled page).
 *
 * Admission: the RAM disks of the process together may not be promised
 * more than the memory it may use (vs_mem_limit: the machine's, capped by
 * its cgroup's) less a margin, unless a LUN says overcommit=1.  A disk
 * counts with its current size; growing it is checked the same way.
 *
 * Huge pages (huge_pages=1, the default): the mapping asks for transparent
 * huge pages (MADV_HUGEPAGE; the kernel's THP setting is usually
 * "madvise").  Random 4 KiB reads over a large disk then miss the TLB far
 * less often: 4 KiB random reads at QD 32 from a 1 GiB disk went from
 * 481k to 557k IOPS, median of 5 alternating runs (bench/compare's setup,
 * one event-loop thread).  The price is memory granularity: the first
 * write into a 2 MiB region maps all of it (still within the disk's size,
 * which is what admission counts).  Reads of unwritten pages still fault
 * nothing.  huge_pages=0 asks for 4 KiB pages (MADV_NOHUGEPAGE).
 *
 * A WRITE of RAM_COPY_NT_MIN bytes or more is copied in with non-temporal
 * stores (util/vs_copy.h): no read of each destination line before it is
 * written, and the cache keeps what is hot.  1 MiB sequential writes went
 * from 2,704-3,115 to 3,600-4,213 IOPS, 128 KiB random writes from
 * 26.7-29.3k to 35.7-36.1k (one pinned event-loop thread, 3 alternating
 * pairs); 4 KiB writes are unchanged (below the cut).  A read of the same
 * bytes right after comes from memory instead of the cache.
 *
 * Allocation state (GET LBA STATUS, SBC-3 5.5): one bit per page in a
 * bitmap sized for max_size at open, so resize never allocates.  A write
 * sets the bits of the pages it touched (a relaxed load first, and an
 * atomic OR only if a bit is still clear, so rewriting mapped pages costs
 * one load per 64 pages); an unmap or write-zeroes clears the bits of the
 * whole pages it gave back.  Reads never change it: a read of a page never
 * written maps the kernel's shared zero page, which mincore() would count
 * as resident, but it is still deallocated (and reads do not fault it in
 * anyway, see above).  A partial page that is zeroed
 * by hand keeps its state (mapped is the safe answer).
 *
 * Lending (bdev.h, vs_bio.lent): a READ that may borrow the disk's memory
 * gets a pointer into the mapping instead of a copy when every page of its
 * range was written (pages never written are answered with zeroes, and
 * lending them would have the reader fault them in).  The mapping never
 * moves and is unmapped only at close, which comes after the last loan, so
 * ending a loan has nothing to do; an UNMAP meanwhile makes the lent pages
 * read as zeroes, as it would a copy taken after it.  This takes the memcpy
 * off the read path: a fabric sends straight from the disk.
 *
 * Checksums (ram_crc.h, backend.h lent_crc32c): the CRC32C of each 4 KiB
 * block a stable loan was asked for is kept until the block changes, so
 * the iSCSI data digest of a lent READ reads none of its bytes (they are
 * not in cache, and sendmsg reads them anyway).
 *
 * Everything completes inline (done() has run when submit returns), but
 * for a write, unmap or write-zeroes held back by a stable loan
 * (stable_loans.h): it completes when that loan ends, on the thread ending it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vstor/backend.h"
#include "iov.h"
#include "mem_limit.h"
#include "page_map.h"
#include "ram_crc.h"
#include "stable_loans.h"
#include "../util/vs_copy.h"

#define RAM_DEFAULT_MAX_CAP (256ULL << 30)

struct ram_dev {
	uint8_t *base;
	uint64_t reserve;          /* bytes reserved (page multiple) = max size */
	_Atomic uint64_t size;     /* current capacity in bytes */
	uint64_t rw_limit;         /* bytes from base that are PROT_READ|WRITE */
	uint64_t page;
	unsigned page_shift;
	struct page_map map;       /* one bit per page of `reserve`: page written */
	pthread_mutex_t resize_lock;
	struct stable_loans loans;    /* stable loans and the changes they hold back */
	struct ram_crc crc;        /* checksums of blocks, for digests of loans (ram_crc.h) */
	bool overcommit;           /* not counted against the memory limit */
};

/* Bytes promised to RAM disks that count against the memory limit. */
static _Atomic uint64_t ram_promised;

/* What stays free for everything else: 1/16 of the limit, at least 256 MiB. */
static uint64_t mem_margin(uint64_t limit)
{
	uint64_t m = limit / 16;

	return m < (256ULL << 20) ? 256ULL << 20 : m;
}

/*
 * Promise `more` bytes to a RAM disk, or refuse with a line that says how
 * much there is.  Nothing is promised for an overcommitted disk.
 */
static int promise(uint64_t more, bool overcommit)
{
	uint64_t limit = vs_mem_limit(), cur, room;

	if (overcommit || more == 0)
		return 0;
	room = limit > mem_margin(limit) ? limit - mem_margin(limit) : 0;
	cur = atomic_load(&ram_promised);
	do {
		if (!limit)
			break;          /* cannot tell: do not refuse */
		if (cur > room || more > room - cur) {
			vs_set_error("size: %llu MiB more of RAM disks would exceed the memory vstord "
			             "may use (%llu MiB, less %llu MiB kept free; %llu MiB already in RAM "
			             "disks); give overcommit=1 to allow it",
			             (unsigned long long)(more >> 20), (unsigned long long)(limit >> 20),
			             (unsigned long long)(mem_margin(limit) >> 20),
			             (unsigned long long)(cur >> 20));
			return -ENOMEM;
		}
	} while (!atomic_compare_exchange_weak(&ram_promised, &cur, cur + more));
	if (!limit)
		atomic_fetch_add(&ram_promised, more);
	return 0;
}

static void unpromise(uint64_t less, bool overcommit)
{
	if (!overcommit)
		atomic_fetch_sub(&ram_promised, less);
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/*
 * Make [off, off+len) read as zeroes.  Whole pages are given back to the
 * kernel (MADV_DONTNEED on private anonymous memory: the next access gets
 * a fresh zero page), partial pages at the edges are cleared by hand.
 */
static void ram_zero_bytes(struct ram_dev *d, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	uint64_t a = round_up(off, d->page);
	uint64_t b = end / d->page * d->page;
	if (a >= b) {
		memset(d->base + off, 0, len);
		return;
	}
	if (off < a)
		memset(d->base + off, 0, a - off);
	if (madvise(d->base + a, b - a, MADV_DONTNEED) != 0)
		memset(d->base + a, 0, b - a);
	else
		vs_page_map_update(&d->map, a >> d->page_shift, (b - a) >> d->page_shift, false);
	if (b < end)
		memset(d->base + b, 0, end - b);
}

/* ... and forget the checksums of the blocks (ram_crc.h). */
static void ram_zero(struct ram_dev *d, uint64_t off, uint64_t len)
{
	if (len == 0)
		return;
	ram_zero_bytes(d, off, len);
	vs_ram_crc_forget(&d->crc, off, len);
}

/* Keep size + page rounding far from overflow and inside a 64-bit
 * address space (47 bits of user space on x86-64). */
#define RAM_MAX_BYTES (1ULL << 46)

static const struct vs_opt_desc ram_options[] = {
	{ .name = "size", .type = VS_OPT_SIZE, .flags = VS_OPT_REQUIRED, .min = 1,
	  .max = RAM_MAX_BYTES, .help = "capacity, e.g. 1G" },
	{ .name = "max_size", .type = VS_OPT_SIZE, .min = 1, .max = RAM_MAX_BYTES,
	  .help = "largest size resize may grow to (default 4 x size, at most 256G)" },
	{ .name = "overcommit", .type = VS_OPT_BOOL, .dflt = "0",
	  .help = "allow more than the memory vstord may use" },
	{ .name = "huge_pages", .type = VS_OPT_BOOL, .dflt = "1",
	  .help = "back written memory with transparent 2 MiB pages" },
	{ 0 }
};

static int ram_check(const struct vs_opts *o)
{
	if (vs_opt_given(o, "max_size") && vs_opt_u64(o, "max_size") < vs_opt_u64(o, "size")) {
		vs_set_error("max_size: must not be less than size");
		return -EINVAL;
	}
	return 0;
}

static int ram_apply(void *dev, struct vs_bio *bio);

static void *ram_open(struct vs_backend_open_args *args)
{
	uint64_t size = vs_opt_u64(args->opts, "size");
	uint64_t max_size = vs_opt_u64(args->opts, "max_size");
	bool have_max = vs_opt_given(args->opts, "max_size");
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	if (!have_max) {
		max_size = size * 4 < RAM_DEFAULT_MAX_CAP ? size * 4 : RAM_DEFAULT_MAX_CAP;
		if (max_size < size)
			max_size = size;
	}

	bool overcommit = vs_opt_bool(args->opts, "overcommit");
	if (promise(size, overcommit) < 0)
		return NULL;
	struct ram_dev *d = calloc(1, sizeof(*d));
	if (!d) {
		unpromise(size, overcommit);
		vs_set_error("out of memory");
		return NULL;
	}
	d->overcommit = overcommit;
	d->page = page;
	while ((1ULL << d->page_shift) < page)
		d->page_shift++;
	d->reserve = round_up(max_size, page);
	void *base = mmap(NULL, d->reserve, PROT_NONE,
	                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED && !have_max && max_size > size) {
		/* Address space is tight: fall back to no growth room. */
		d->reserve = round_up(size, page);
		base = mmap(NULL, d->reserve, PROT_NONE,
		            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	}
	if (base == MAP_FAILED) {
		vs_set_error("size: cannot reserve %llu bytes: %s",
		             (unsigned long long)d->reserve, strerror(errno));
		unpromise(size, overcommit);
		free(d);
		return NULL;
	}
	d->base = base;
	/* Advice only: a kernel without THP (or with it set to "never")
	 * keeps 4 KiB pages and the disk works the same. */
	(void)madvise(d->base, d->reserve,
	              vs_opt_bool(args->opts, "huge_pages") ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	/* the allocation map covers max_size: resize never allocates */
	if (vs_page_map_init(&d->map, d->reserve >> d->page_shift, d->page_shift) < 0) {
		vs_set_error("out of memory for the allocation map");
		munmap(d->base, d->reserve);
		unpromise(size, overcommit);
		free(d);
		return NULL;
	}
	d->rw_limit = round_up(size, page);
	if (mprotect(d->base, d->rw_limit, PROT_READ | PROT_WRITE) != 0) {
		vs_set_error("size: cannot map %llu bytes: %s",
		             (unsigned long long)size, strerror(errno));
		munmap(d->base, d->reserve);
		vs_page_map_free(&d->map);
		unpromise(size, overcommit);
		free(d);
		return NULL;
	}
	atomic_init(&d->size, size);
	pthread_mutex_init(&d->resize_lock, NULL);
	vs_loans_init(&d->loans, ram_apply, d);
	vs_ram_crc_init(&d->crc, d->reserve);
	return d;
}

static void ram_close(void *h)
{
	struct ram_dev *d = h;
	unpromise(atomic_load(&d->size), d->overcommit);
	munmap(d->base, d->reserve);
	pthread_mutex_destroy(&d->resize_lock);
	vs_loans_destroy(&d->loans);
	vs_ram_crc_destroy(&d->crc);
	vs_page_map_free(&d->map);
	free(d);
}

static uint64_t ram_get_size(void *h)
{
	struct ram_dev *d = h;
	return atomic_load_explicit(&d->size, memory_order_acquire);
}

static void ram_get_caps(void *h, struct vs_backend_caps *caps)
{
	struct ram_dev *d = h;
	memset(caps, 0, sizeof(*caps));
	caps->can_write = true;
	caps->can_flush = false;       /* nothing volatile to flush */
	caps->can_fua = true;          /* every write is as stable as it gets */
	caps->can_unmap = true;
	caps->can_zero = true;
	caps->unmap_zeroes = true;
	caps->is_rotational = false;
	caps->can_resize = true;
	caps->has_write_cache = false;
	caps->optimal_io_size = 0;
	caps->unmap_granularity = (uint32_t)d->page;
}

/* Where a copy is in the caller's iovec. */
struct iov_pos {
	const struct iovec *v;
	size_t off;
};

/*
 * The data copy, on its own so the ThreadSanitizer suppression can name
 * it alone (tests/tsan.supp): overlapping commands race on a disk's data
 * as on any disk, but the bookkeeping around it must not.  src NULL: zeroes.
 */
static inline void ram_copy_out(struct iov_pos *p, const uint8_t *src, uint64_t n)
{
	/* the usual case: it all fits in the current buffer */
	if (p->v->iov_len - p->off >= n) {
		if (src)
			memcpy((uint8_t *)p->v->iov_base + p->off, src, n);
		else
			memset((uint8_t *)p->v->iov_base + p->off, 0, n);
		p->off += n;
		return;
	}
	while (n) {
		size_t k = p->v->iov_len - p->off < n ? p->v->iov_len - p->off : (size_t)n;

		if (src) {
			memcpy((uint8_t *)p->v->iov_base + p->off, src, k);
			src += k;
		} else {
			memset((uint8_t *)p->v->iov_base + p->off, 0, k);
		}
		n -= k;
		p->off += k;
		if (p->off == p->v->iov_len) {
			p->v++;
			p->off = 0;
		}
	}
}

/* From this many bytes a WRITE's data goes to the disk with non-temporal
 * stores (vs_copy.h): nobody reads it back soon, and it would only push
 * the hot data out of the cache. */
#define RAM_COPY_NT_MIN (64u << 10)

static void ram_copy_in(uint8_t *mem, const struct iovec *v, uint64_t n)
{
	bool nt = n >= RAM_COPY_NT_MIN;

	for (; n; v++) {
		size_t k = v->iov_len < n ? v->iov_len : (size_t)n;

		if (nt)
			vs_copy_nt(mem, v->iov_base, k);
		else
			memcpy(mem, v->iov_base, k);
		mem += k;
		n -= k;
	}
	if (nt)
		vs_copy_nt_fence();
}

/* Room for the whole transfer, checked before a byte moves so a short
 * iovec never half-writes the disk. */
static int ram_iov_check(const struct vs_bio *bio)
{
	if (bio->length == 0)
		return 0;
	if (!bio->iov || bio->iovcnt <= 0)
		return -EINVAL;
	if (bio->iovcnt == 1 ? bio->iov[0].iov_len < bio->length
	                     : vs_bk_iov_bytes(bio->iov, bio->iovcnt) < bio->length)
		return -EINVAL;
	return 0;
}

static void ram_read(struct ram_dev *d, struct vs_bio *bio)
{
	uint64_t left = bio->length;
	struct iov_pos p = { bio->iov, 0 };
	uint64_t pg = bio->offset >> d->page_shift;

	if (left == 0)
		return;
	if ((bio->flags & VS_BIO_MAY_LEND) && page_map_all_set(&d->map, bio->offset, left)) {
		if (bio->flags & VS_BIO_LEND_STABLE)
			vs_loans_lend_begin(&d->loans, bio);
		bio->lent = d->base + bio->offset;
		return;
	}
	/* the common case: one page, one buffer */
	if (pg == (bio->offset + left - 1) >> d->page_shift && bio->iovcnt == 1) {
		if (page_map_test(&d->map, pg))
			ram_copy_out(&p, d->base + bio->offset, left);
		else
			memset(bio->iov[0].iov_base, 0, left);
		return;
	}

	for (uint64_t off = bio->offset; left;) {
		bool mapped;
		uint64_t n = vs_page_map_extent(&d->map, off, left, &mapped);

		/* never written: zeroes, and the page stays untouched */
		ram_copy_out(&p, mapped ? d->base + off : NULL, n);
		off += n;
		left -= n;
	}
}

/* A write, unmap or write-zeroes, already checked (stable_loans.h apply):
 * memory, so it cannot fail. */
static int ram_apply(void *dev, struct vs_bio *bio)
{
	struct ram_dev *d = dev;

	if (bio->op != VS_BIO_WRITE) {
		ram_zero(d, bio->offset, bio->length);
		return 0;
	}
	if (bio->length == 0)
		return 0;
	ram_copy_in(d->base + bio->offset, bio->iov, bio->length);
	page_map_bytes(&d->map, bio->offset, bio->length, true);
	/* after the bytes, before stable loans may begin on them again */
	vs_ram_crc_forget(&d->crc, bio->offset, bio->length);
	return 0;
}

static int ram_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct ram_dev *d = h;
	uint64_t size = atomic_load_explicit(&d->size, memory_order_acquire);
	enum loan_change how;
	int rc;

	(void)ctx;
	if (bio->op != VS_BIO_FLUSH &&
	    (bio->offset > size || bio->length > size - bio->offset))
		return -EINVAL;
	switch (bio->op) {
	case VS_BIO_READ:
		rc = ram_iov_check(bio);
		if (rc < 0)
			return rc;
		ram_read(d, bio);
		break;
	case VS_BIO_FLUSH:
		break;
	case VS_BIO_WRITE:
		rc = ram_iov_check(bio);
		if (rc < 0)
			return rc;
		/* fall through */
	case VS_BIO_UNMAP:
	case VS_BIO_WRITE_ZEROES:
		how = vs_loans_change_begin(&d->loans, bio);
		if (how == LOAN_CHANGE_HELD)
			return 0;       /* completes when the loans in its way end */
		(void)ram_apply(d, bio);
		vs_loans_change_end(&d->loans, how);
		break;
	default:
		return -EINVAL;
	}
	vs_bio_complete(bio, 0);
	return 0;
}

static int ram_resize(void *h, uint64_t new_size)
{
	struct ram_dev *d = h;
	if (new_size == 0) {
		vs_set_error("size: must be greater than 0");
		return -EINVAL;
	}
	if (new_size > d->reserve) {
		vs_set_error("size: %llu bytes exceeds max_size (%llu bytes reserved at open)",
		             (unsigned long long)new_size, (unsigned long long)d->reserve);
		return -ENOSPC;
	}
	pthread_mutex_lock(&d->resize_lock);
	uint64_t old = atomic_load_explicit(&d->size, memory_order_relaxed);
	if (new_size > old) {
		uint64_t need = round_up(new_size, d->page);
		if (promise(new_size - old, d->overcommit) < 0) {
			pthread_mutex_unlock(&d->resize_lock);
			return -ENOSPC;
		}
		if (need > d->rw_limit) {
			if (mprotect(d->base + d->rw_limit, need - d->rw_limit,
			             PROT_READ | PROT_WRITE) != 0) {
				int e = errno;
				unpromise(new_size - old, d->overcommit);
				pthread_mutex_unlock(&d->resize_lock);
				vs_set_error("size: cannot map %llu bytes: %s",
				             (unsigned long long)new_size, strerror(e));
				return -e;
			}
			d->rw_limit = need;
		}
		/* Blocks past the old end must read as zeroes even if an I/O
		 * racing an earlier shrink wrote there. */
		ram_zero(d, old, new_size - old);
		atomic_store_explicit(&d->size, new_size, memory_order_release);
	} else if (new_size < old) {
		atomic_store_explicit(&d->size, new_size, memory_order_release);
		ram_zero(d, new_size, old - new_size);
		unpromise(old - new_size, d->overcommit);
	}
	pthread_mutex_unlock(&d->resize_lock);
	return 0;
}

/* The memory stays mapped until close (see the top); a stable loan lets
 * the changes it held back go. */
static void ram_lend_end(void *h, struct vs_bio *bio)
{
	struct ram_dev *d = h;

	if (bio->flags & VS_BIO_LEND_STABLE)
		vs_loans_lend_end(&d->loans, bio);
}

/* backend.h lent_crc32c: from the blocks' checksums (ram_crc.h); the
 * stable loan keeps the bytes as they are meanwhile. */
static int ram_lent_crc32c(void *h, const struct vs_bio *bio, uint64_t off, uint64_t len,
                           uint32_t *crc)
{
	struct ram_dev *d = h;

	*crc = vs_ram_crc_get(&d->crc, d->base, bio->offset + off, len);
	return 0;
}

/* The allocation map (see the top of the file): the state of the page at
 * `offset` and how far it extends within [offset, offset+len). */
static int ram_block_status(void *h, uint64_t offset, uint64_t len,
                            bool *mapped, uint64_t *extent_len)
{
	struct ram_dev *d = h;
	uint64_t size = ram_get_size(d);
	if (len == 0 || offset >= size || len > size - offset) {
		vs_set_error("block_status: range outside the disk");
		return -EINVAL;
	}
	*extent_len = vs_page_map_extent(&d->map, offset, len, mapped);
	return 0;
}

const struct vs_backend_ops vs_ram_ops = {
	.name = "ram",
	.api_version = VS_BACKEND_API_VERSION,
	.struct_size = sizeof(struct vs_backend_ops),
	.description = "a zero-filled disk in memory; only written pages cost memory",
	.options = ram_options,
	.check = ram_check,
	.open = ram_open,
	.close = ram_close,
	.get_size = ram_get_size,
	.get_caps = ram_get_caps,
	.submit = ram_submit,
	.resize = ram_resize,
	.block_status = ram_block_status,
	.lend_end = ram_lend_end,
	.lend_stable = true,
	.lent_crc32c = ram_lent_crc32c,
};
VS_BACKEND_BUILTIN(vs_ram_ops)
