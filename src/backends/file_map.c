/* SPDX-License-Identifier: MIT */
/*
 * A file on tmpfs or ramfs lends its pages to reads (bdev.h vs_bio.lent).
 *
 * There the file *is* memory, like the ram backend's mapping, so a read
 * can be answered with a pointer into a mapping of the file instead of a
 * preadv2 (a system call and a copy per request: the file backend trailed
 * ram by up to 30 % on reads from /dev/shm).  The file is mapped read-only
 * and shared once at open, over more than its size (room to grow), and
 * never moves, so ending a loan has nothing to do; it is unmapped at close,
 * after the last loan.
 *
 * Only pages that hold data are lent: a fault on a hole of a tmpfs file
 * allocates a page (reading a fresh sparse file through the mapping would
 * fill it), where preadv2 reads holes as zeroes for free.  So the backend
 * keeps which pages hold data (page_map.h): found with SEEK_DATA /
 * SEEK_HOLE at open, set by every write that completed, cleared before an
 * UNMAP or WRITE SAME with zeroes starts and past the end on a shrink.
 * Clearing is always safe (the range is copied as before); only a page the
 * file is known to hold is ever lent.  A write racing a read of the same
 * blocks may show through the loan, as on any disk.
 *
 * If someone else cuts the file short while a read's loan is out, the
 * lent bytes past the new end are gone: the kernel's copy of them (a
 * fabric's send) fails with EFAULT, and a program that read them itself
 * would get SIGBUS.  vstor only hands them to the kernel.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "file_dev.h"

/* Room to grow, as ram's max_size: 4 x the size, at most 256 GiB of
 * address space (never less than the size). */
#define FILE_MAP_MAX_ROOM (256ULL << 30)

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* The pages [0, size) that hold data, as the file system says. */
static void find_data(struct file_dev *d, uint64_t size)
{
	off_t off = 0;

	while ((uint64_t)off < size) {
		off_t data = lseek(d->fd, off, SEEK_DATA), hole;

		if (data < 0 || (uint64_t)data >= size)
			return;         /* no more data (ENXIO), or cannot tell: none */
		hole = lseek(d->fd, data, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole > size)
			hole = (off_t)size;
		if (hole > data)
			page_map_bytes(&d->lend_map, (uint64_t)data, (uint64_t)(hole - data), true);
		off = hole > data ? hole : data + 1;
	}
}

void vs_file_map_open(struct file_dev *d, uint64_t size)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	unsigned shift = 0;
	uint64_t len = size * 4 < FILE_MAP_MAX_ROOM ? size * 4 : FILE_MAP_MAX_ROOM;
	void *base;

	if (!d->memfs || d->direct || d->is_blk)
		return;
	while ((1ULL << shift) < page)
		shift++;
	len = round_up(len > size ? len : size, page);
	base = mmap(NULL, len, PROT_READ, MAP_SHARED, d->fd, 0);
	if (base == MAP_FAILED)
		return;         /* then reads copy, as they always could */
	if (vs_page_map_init(&d->lend_map, len >> shift, shift) < 0) {
		munmap(base, len);
		return;
	}
	d->lend_base = base;
	d->lend_len = len;
	find_data(d, size);
	atomic_init(&d->lend_on, true);
}

void vs_file_map_close(struct file_dev *d)
{
	if (!d->lend_base)
		return;
	munmap(d->lend_base, d->lend_len);
	vs_page_map_free(&d->lend_map);
	d->lend_base = NULL;
}

bool vs_file_map_lend(struct file_dev *d, struct vs_bio *bio)
{
	if (!d->lend_base || !atomic_load_explicit(&d->lend_on, memory_order_relaxed) ||
	    bio->offset + bio->length > d->lend_len ||
	    !page_map_all_set(&d->lend_map, bio->offset, bio->length))
		return false;
	bio->lent = d->lend_base + bio->offset;
	return true;
}

void vs_file_map_written(struct file_dev *d, uint64_t off, uint64_t len)
{
	if (d->lend_base && len && off + len <= d->lend_len)
		page_map_bytes(&d->lend_map, off, len, true);
}

void vs_file_map_forget(struct file_dev *d, uint64_t off, uint64_t len)
{
	if (!d->lend_base || !len || off >= d->lend_len)
		return;
	if (len > d->lend_len - off)
		len = d->lend_len - off;
	page_map_bytes(&d->lend_map, off, len, false);
}

void vs_file_map_resized(struct file_dev *d, uint64_t old_size, uint64_t new_size)
{
	if (!d->lend_base)
		return;
	if (new_size > d->lend_len)
		atomic_store(&d->lend_on, false);       /* outgrew the mapping: copy from now on */
	if (new_size < old_size)
		vs_file_map_forget(d, new_size, old_size - new_size);
}
