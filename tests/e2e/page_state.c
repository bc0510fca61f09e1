/* SPDX-License-Identifier: MIT */
/*
 * page_state: how many of a file's page-cache pages are dirty (or still
 * under writeback), for the durability checks of the e2e tests.
 *
 *   page_state dirty FILE     prints "dirty N"
 *
 * Reading a file back after vstord exits goes through the page cache, so it
 * shows what vstord wrote, not what reached the disk.  A write that was
 * flushed (fdatasync, or SYNCHRONIZE CACHE) leaves no dirty page behind;
 * one that was not stays dirty until the kernel's writeback gets to it
 * (dirty_expire_centisecs, 30 s by default).  So "dirty 0" right after
 * vstord exited means its final flush ran; anything else means data it
 * acknowledged would have been lost with the power.  (On tmpfs nothing is
 * ever written back; use a real file system.)
 *
 * cachestat(2) (Linux 6.5) answers directly; on older kernels, as root, the
 * pages are mapped and their flags read from /proc/kpageflags.  Exit 0 =
 * answered, 3 = this system cannot tell (no cachestat, not root), 1 = error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_cachestat
#define __NR_cachestat 451      /* the same on every architecture */
#endif

struct cachestat_range {
	uint64_t off, len;
};

struct cachestat {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

#define KPF_DIRTY     4
#define KPF_WRITEBACK 8

/* -1 with errno when cachestat is not there. */
static long by_cachestat(int fd)
{
	struct cachestat_range r = { 0, 0 };    /* len 0: to the end of the file */
	struct cachestat cs;

	if (syscall(__NR_cachestat, fd, &r, &cs, 0) != 0)
		return -1;
	return (long)(cs.nr_dirty + cs.nr_writeback);
}

/* Map the file, and for each page in the cache look up its frame's flags. */
static long by_kpageflags(int fd, off_t size)
{
	long ps = sysconf(_SC_PAGESIZE), dirty = 0;
	size_t npages = (size_t)((size + ps - 1) / ps);
	unsigned char *vec = malloc(npages ? npages : 1);
	uint8_t *map = MAP_FAILED;
	int pm = open("/proc/self/pagemap", O_RDONLY);
	int kf = open("/proc/kpageflags", O_RDONLY);

	if (size > 0)
		map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	if (pm < 0 || kf < 0 || !vec || (size > 0 && (map == MAP_FAILED ||
	                                               mincore(map, (size_t)size, vec) != 0)))
		dirty = -1;
	for (size_t i = 0; size > 0 && dirty >= 0 && i < npages; i++) {
		uint64_t ent, flags, pfn;

		if (!(vec[i] & 1))
			continue;       /* not in the page cache: nothing to write back */
		(void)*(volatile uint8_t *)(map + i * (size_t)ps);      /* map it (cached: no I/O) */
		if (pread(pm, &ent, 8, (off_t)((uintptr_t)(map + i * (size_t)ps) / (uintptr_t)ps * 8)) != 8)
			dirty = -1;
		pfn = ent & ((1ULL << 55) - 1);
		if (dirty < 0 || !(ent >> 63) || pfn == 0 || pread(kf, &flags, 8, (off_t)(pfn * 8)) != 8)
			dirty = -1;     /* no frame number: not root */
		else
			dirty += (flags >> KPF_DIRTY & 1) || (flags >> KPF_WRITEBACK & 1);
	}
	if (map != MAP_FAILED)
		munmap(map, (size_t)size);
	free(vec);
	if (pm >= 0)
		close(pm);
	if (kf >= 0)
		close(kf);
	return dirty;
}

int main(int argc, char **argv)
{
	struct stat st;
	long n;
	int fd;

	if (argc != 3 || strcmp(argv[1], "dirty")) {
		fprintf(stderr, "usage: page_state dirty FILE\n");
		return 1;
	}
	fd = open(argv[2], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "page_state: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	/* PAGE_STATE_KPAGEFLAGS=1: the older kernels' way, to test it here */
	n = getenv("PAGE_STATE_KPAGEFLAGS") ? (errno = ENOSYS, -1) : by_cachestat(fd);
	if (n < 0 && errno == ENOSYS)
		n = by_kpageflags(fd, st.st_size);
	if (n < 0) {
		fprintf(stderr, "page_state: cannot tell dirty pages here (cachestat: Linux 6.5+; "
		        "/proc/kpageflags: root)\n");
		return 3;
	}
	printf("dirty %ld\n", n);
	return 0;
}
