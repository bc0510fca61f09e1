/* SPDX-License-Identifier: MIT */
/*
 * REGIONs (doc/service-protocol.md, "Lending"): memory a service lends
 * vstord so that a READ's data is sent from where the service keeps it,
 * with no copy into the data area.
 *
 * What a hostile service could do with it, and why it cannot:
 *  - shrink the memfd under our mapping, so that sending from it raises
 *    SIGBUS in vstord: we take only a memfd sealed with F_SEAL_SHRINK
 *    (fcntl F_GET_SEALS fails on anything that is not a memfd), and map
 *    no more than its size when it came;
 *  - have us write into its memory: it is mapped read-only;
 *  - point a completion outside: vs_region_at checks every range;
 *  - make us map without bound: at most VS_SVC_REGIONS of at most
 *    VS_SVC_REGION_MAX bytes each, address space only (the pages are the
 *    service's).
 * Its contents may change while we send (the service's own writes): the
 * same as a RAM disk lending in-process (srb.h VS_DATA_REF_OK), and the
 * reason a fabric that needs stable data (digests) is never lent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "svc_int.h"

int vs_region_add(struct svc_area *a, uint32_t id, int fd, uint64_t bytes, char *why,
                  size_t len)
{
	struct stat st;
	int seals;
	void *m;

	if (id < 1 || id > VS_SVC_REGIONS) {
		snprintf(why, len, "region: %u is not 1..%u", id, VS_SVC_REGIONS);
		return -EINVAL;
	}
	if (atomic_load_explicit(&a->regions[id - 1].base, memory_order_acquire)) {
		snprintf(why, len, "region: %u is registered already", id);
		return -EEXIST;
	}
	if (bytes == 0 || bytes > VS_SVC_REGION_MAX) {
		snprintf(why, len, "size_bytes: %llu is not 1..%llu", (unsigned long long)bytes,
		         (unsigned long long)VS_SVC_REGION_MAX);
		return -EINVAL;
	}
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
		snprintf(why, len, "region: the descriptor is not a memfd sealed with F_SEAL_SHRINK");
		return -EINVAL;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < bytes) {
		snprintf(why, len, "size_bytes: %llu is more than the memfd's %lld bytes",
		         (unsigned long long)bytes, (long long)st.st_size);
		return -EINVAL;
	}
	m = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		snprintf(why, len, "region: mmap: %m");
		return -ENOMEM;
	}
	a->regions[id - 1].bytes = bytes;
	atomic_store_explicit(&a->regions[id - 1].base, (const uint8_t *)m, memory_order_release);
	return 0;
}

const void *vs_region_at(struct svc_area *a, uint32_t id, uint64_t off, uint32_t len)
{
	const uint8_t *base;
	uint64_t bytes;

	if (id < 1 || id > VS_SVC_REGIONS)
		return NULL;
	base = atomic_load_explicit(&a->regions[id - 1].base, memory_order_acquire);
	if (!base)
		return NULL;
	bytes = a->regions[id - 1].bytes;
	if (off > bytes || len > bytes - off)
		return NULL;
	return base + off;
}

void vs_region_unmap_all(struct svc_area *a)
{
	for (unsigned i = 0; i < VS_SVC_REGIONS; i++) {
		const uint8_t *base = atomic_load_explicit(&a->regions[i].base, memory_order_acquire);

		if (base)
			munmap((void *)base, a->regions[i].bytes);
	}
}
