/* SPDX-License-Identifier: MIT */
/*
 * A service's shared memory (doc/service-protocol.md, "The shared area").
 *
 * vstord makes the memfd, sizes it and seals it against shrinking and
 * growing before the service ever sees it: a service that could shrink it
 * would make our next access to the rings or buffers a SIGBUS.  The
 * service maps it too; whatever it writes there is data to us, read once
 * into our own memory and checked (ring.c), never trusted as a pointer.
 *
 * Layout: the header page, the submission ring, the completion ring, the
 * nexus table, then the data area, each starting on a page.
 *
 * The data area is handed out in 4 KiB units by a buddy allocator whose
 * bookkeeping stays in our memory.  A block lent as an SRB's buffer keeps
 * a reference on the area, so the area outlives every SRB that uses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "svc_int.h"

#define PAGE 4096u

static uint64_t page_up(uint64_t v)
{
	return (v + PAGE - 1) & ~(uint64_t)(PAGE - 1);
}

struct svc_area *vs_area_create(const char *name, uint32_t entries, uint32_t nexus_entries,
                             uint64_t data_bytes, char *err, size_t errlen)
{
	struct svc_area *a = calloc(1, sizeof(*a));
	char memfd_name[96];
	uint64_t off;

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->fd = -1;
	a->base = MAP_FAILED;
	atomic_store(&a->refs, 1);
	pthread_mutex_init(&a->lock, NULL);
	a->entries = entries;
	a->nexus_entries = nexus_entries;
	a->data_bytes = data_bytes;
	off = page_up(sizeof(struct vs_svc_area_hdr));
	a->sq_offset = off;
	off = page_up(off + (uint64_t)entries * sizeof(struct vs_svc_sqe));
	a->cq_offset = off;
	off = page_up(off + (uint64_t)entries * sizeof(struct vs_svc_cqe));
	a->nexus_offset = off;
	off = page_up(off + (uint64_t)nexus_entries * sizeof(struct vs_svc_nexus_rec));
	a->data_offset = off;
	a->bytes = off + data_bytes;

	if (vs_buddy_init(&a->buddy, (uint32_t)(data_bytes / VS_SVC_DATA_UNIT),
	               vs_buddy_order_for(VS_SVC_MAX_TRANSFER / VS_SVC_DATA_UNIT)) < 0) {
		snprintf(err, errlen, "out of memory for the data area's bookkeeping");
		goto fail;
	}
	snprintf(memfd_name, sizeof(memfd_name), "vstor-service-%s", name);
	a->fd = memfd_create(memfd_name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (a->fd < 0 || ftruncate(a->fd, (off_t)a->bytes) != 0 ||
	    fcntl(a->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
		snprintf(err, errlen, "shared memory of %llu bytes: %s", (unsigned long long)a->bytes,
		         strerror(errno));
		goto fail;
	}
	a->base = mmap(NULL, a->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, a->fd, 0);
	if (a->base == MAP_FAILED) {
		snprintf(err, errlen, "mapping %llu bytes of shared memory: %s",
		         (unsigned long long)a->bytes, strerror(errno));
		goto fail;
	}
	/* Data buffers on 2 MiB pages where the system's policy for shared
	 * memory lets advice count (transparent_hugepage/shmem_enabled
	 * "advise" or wider; doc/services.md "Huge pages"): the kernel's
	 * copies through them then miss the TLB far less.  Advice only. */
	(void)madvise(a->base, a->bytes, MADV_HUGEPAGE);
	a->hdr = (struct vs_svc_area_hdr *)a->base;
	a->sq = (struct vs_svc_sqe *)(a->base + a->sq_offset);
	a->cq = (struct vs_svc_cqe *)(a->base + a->cq_offset);
	a->nexus = (struct vs_svc_nexus_rec *)(a->base + a->nexus_offset);
	a->data = a->base + a->data_offset;
	*a->hdr = (struct vs_svc_area_hdr){
		.magic = VS_SVC_AREA_MAGIC,
		.version_major = VS_SVC_PROTO_MAJOR,
		.version_minor = VS_SVC_PROTO_MINOR,
		.ring_entries = entries,
		.nexus_entries = nexus_entries,
		.area_bytes = a->bytes,
		.sq_offset = a->sq_offset,
		.cq_offset = a->cq_offset,
		.nexus_offset = a->nexus_offset,
		.data_offset = a->data_offset,
		.data_bytes = data_bytes,
		/* we always want to hear of completions (ring.c) */
		.cq_flags = VS_SVC_WAKE,
	};
	return a;
fail:
	vs_area_put(a);
	return NULL;
}

void vs_area_get(struct svc_area *a)
{
	atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
}

void vs_area_put(struct svc_area *a)
{
	if (!a || atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (a->base != MAP_FAILED)
		munmap(a->base, a->bytes);
	vs_region_unmap_all(a);
	if (a->fd >= 0)
		close(a->fd);
	vs_buddy_fini(&a->buddy);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

void *vs_area_alloc(struct svc_area *a, size_t len)
{
	uint32_t units = (uint32_t)((len + VS_SVC_DATA_UNIT - 1) / VS_SVC_DATA_UNIT);
	int64_t u;

	if (len == 0 || len > VS_SVC_MAX_TRANSFER)
		return NULL;
	pthread_mutex_lock(&a->lock);
	u = vs_buddy_alloc(&a->buddy, vs_buddy_order_for(units));
	pthread_mutex_unlock(&a->lock);
	return u < 0 ? NULL : a->data + (uint64_t)u * VS_SVC_DATA_UNIT;
}

void vs_area_free(struct svc_area *a, void *p)
{
	uint64_t off = (uint64_t)((uint8_t *)p - a->data);

	pthread_mutex_lock(&a->lock);
	vs_buddy_free(&a->buddy, (uint32_t)(off / VS_SVC_DATA_UNIT));
	pthread_mutex_unlock(&a->lock);
}
