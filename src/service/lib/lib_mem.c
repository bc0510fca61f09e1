/* SPDX-License-Identifier: MIT */
/*
 * Memory a service lends vstord (doc/service-protocol.md, "Lending"): a
 * memfd sealed against shrinking, mapped here read-write and registered
 * with vstord as a REGION, which maps it read-only.  A disk-mode LUN whose
 * bytes live in it (vs_svc_disk.mem) answers READs with where the data
 * is, and vstord sends it from there: the service copies nothing.
 *
 * vstord older than 1.1, or one that refuses the region, still gets the
 * memory to use: reads then go through the read op and the data area.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib_int.h"

#define PAGE 4096ull

/* vstord maps it as REGION id; false (and the memory unlent) if not. */
static bool lend(struct vs_svc *s, uint32_t id, int fd, uint64_t bytes)
{
	struct vs_svc_region m = { .hdr = { VS_SVC_MSG_REGION, sizeof(m), 0 }, .region = id,
	                           .size_bytes = bytes };
	struct vs_svc_reply r;

	if (!(s->features & VS_SVC_F_LEND))
		return false;
	return lib_request(s, &m, sizeof(m), fd, &r) == 0;
}

void *vs_svc_mem_alloc(struct vs_svc *s, uint64_t len)
{
	uint64_t bytes = (len + PAGE - 1) / PAGE * PAGE;
	struct lib_region *r = NULL;
	uint32_t id;
	void *m;
	int fd;

	if (!s || len == 0 || bytes > VS_SVC_REGION_MAX) {
		vs_set_error("mem_alloc: len must be 1..%llu bytes", (unsigned long long)VS_SVC_REGION_MAX);
		return NULL;
	}
	pthread_mutex_lock(&s->mem_lock);
	for (id = 1; id <= VS_SVC_REGIONS && !r; id++)
		if (!s->regions[id - 1].base)
			r = &s->regions[id - 1];
	id--;
	if (!r) {
		pthread_mutex_unlock(&s->mem_lock);
		vs_set_error("mem_alloc: at most %u allocations", VS_SVC_REGIONS);
		return NULL;
	}
	/* sealed before anyone else sees it: vstord maps only memory that
	 * cannot shrink under it (a SIGBUS there would be vstord's end) */
	fd = memfd_create("vstor-service-mem", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		vs_set_error("mem_alloc: memfd of %llu bytes: %s", (unsigned long long)bytes,
		             strerror(errno));
		goto fail;
	}
	m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (m == MAP_FAILED) {
		vs_set_error("mem_alloc: mmap: %s", strerror(errno));
		goto fail;
	}
	/* 2 MiB pages where the system's shmem policy lets advice count
	 * (doc/services.md "Huge pages"): vstord's copy of every lent READ
	 * into its socket walks this memory at random.  Measured with
	 * bench/service, 4 KiB random reads from the RAM disk example:
	 * vstord's CPU per I/O 2.2-2.5 us with shmem_enabled=advise against
	 * 2.5-3.0 us with "never", where the advice is ignored. */
	(void)madvise(m, bytes, MADV_HUGEPAGE);
	r->base = m;
	r->bytes = bytes;
	r->fd = fd;
	r->lent = lend(s, id, fd, bytes);
	pthread_mutex_unlock(&s->mem_lock);
	return m;
fail:
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&s->mem_lock);
	return NULL;
}

/* The allocation holding [p, p+len), mem_lock held; NULL if none. */
static struct lib_region *region_of(struct vs_svc *s, const void *p, uint64_t len)
{
	const uint8_t *b = p;

	for (uint32_t i = 0; i < VS_SVC_REGIONS; i++) {
		struct lib_region *r = &s->regions[i];

		if (r->base && b >= r->base && b - r->base <= (ptrdiff_t)r->bytes &&
		    len <= r->bytes - (uint64_t)(b - r->base))
			return r;
	}
	return NULL;
}

int vs_svc_mem_discard(struct vs_svc *s, void *p, uint64_t len)
{
	struct lib_region *r;
	int rc = 0;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->mem_lock);
	r = region_of(s, p, len);
	if (!r) {
		rc = -EINVAL;
		vs_set_error("mem_discard: not memory of vs_svc_mem_alloc");
	} else if (len && fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	                            (off_t)((uint8_t *)p - r->base), (off_t)len) < 0) {
		rc = -errno;
		vs_set_error("mem_discard: %s", strerror(errno));
	}
	pthread_mutex_unlock(&s->mem_lock);
	return rc;
}

uint32_t lib_mem_region(struct vs_svc *s, const void *p, uint64_t len, const uint8_t **base)
{
	struct lib_region *r;
	uint32_t id = 0;

	pthread_mutex_lock(&s->mem_lock);
	r = region_of(s, p, len);
	if (r && r->lent) {
		id = (uint32_t)(r - s->regions) + 1;
		*base = r->base;
	}
	pthread_mutex_unlock(&s->mem_lock);
	return id;
}

void lib_mem_free_all(struct vs_svc *s)
{
	for (uint32_t i = 0; i < VS_SVC_REGIONS; i++) {
		struct lib_region *r = &s->regions[i];

		if (r->base) {
			munmap(r->base, r->bytes);
			close(r->fd);
			r->base = NULL;
		}
	}
}
