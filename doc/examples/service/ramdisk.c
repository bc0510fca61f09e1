/* SPDX-License-Identifier: MIT */
/*
 * ramdisk: a storage service that serves RAM disks, in disk mode (the
 * library does the SCSI; this file only moves bytes).  doc/services.md.
 *
 *   ramdisk [-s SOCKET] [-t TARGET] [-n NAME] [-p POLL_US] [-C] LUN=SIZE[,removable][,readonly][,phys=BYTES]...
 *   ramdisk -t iqn.2026-11.org.vstor:default 1=1G 2=64M,readonly
 *
 * The disks live in memory lent to vstord (vs_svc_mem_alloc): vstord
 * sends READ data straight from it.  -C keeps them in private memory
 * instead, every read copied into the shared data area (to compare).
 *
 * Build: cc -o ramdisk ramdisk.c $(pkg-config --cflags --libs vstor-service)
 * SIGTERM / SIGINT: stop (the LUNs stay in vstord, waiting for us).
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <vstor/service.h>

#define PAGE 4096u

struct ram {
	uint8_t *mem;
	bool lent;                      /* from vs_svc_mem_alloc */
	uint64_t size;
	uint64_t *written;              /* a bit per page: GET LBA STATUS */
};

/* Pages written (set) or whole pages unmapped (clear); a bit already so
 * costs only a load, as rewriting written pages is the common case. */
static void mark(struct ram *r, uint64_t off, uint64_t len, bool set)
{
	for (uint64_t p = off / PAGE; p < (off + len + PAGE - 1) / PAGE; p++) {
		uint64_t bit = 1ULL << (p % 64);
		bool is = __atomic_load_n(&r->written[p / 64], __ATOMIC_RELAXED) & bit;

		if (set && !is)
			__atomic_fetch_or(&r->written[p / 64], bit, __ATOMIC_RELAXED);
		else if (!set && is && p * PAGE >= off && (p + 1) * PAGE <= off + len)
			__atomic_fetch_and(&r->written[p / 64], ~bit, __ATOMIC_RELAXED);
	}
}

static struct vs_svc *svc;

static int ram_read(void *ctx, void *buf, uint32_t len, uint64_t off)
{
	memcpy(buf, ((struct ram *)ctx)->mem + off, len);
	return 0;
}

/* A large WRITE goes in with non-temporal stores, as vstord's own ram
 * backend does: whole lines written without reading each one first, and
 * the cache left to what is hot.  The fence orders them before the
 * completion, after which vstord may send the bytes to a reader. */
#define COPY_NT_MIN (64u << 10)

static void copy_in(uint8_t *dst, const uint8_t *src, size_t n)
{
#if defined(__SSE2__)
	if (n >= COPY_NT_MIN && ((uintptr_t)dst & 15) == 0) {
		size_t i;

		for (i = 0; i + 16 <= n; i += 16)
			_mm_stream_si128((__m128i *)(dst + i),
			                 _mm_loadu_si128((const __m128i *)(src + i)));
		memcpy(dst + i, src + i, n - i);
		_mm_sfence();
		return;
	}
#endif
	memcpy(dst, src, n);
}

static int ram_write(void *ctx, const void *buf, uint32_t len, uint64_t off, bool fua)
{
	struct ram *r = ctx;

	(void)fua;                      /* memory is as durable as it gets */
	copy_in(r->mem + off, buf, len);
	mark(r, off, len, true);
	return 0;
}

/* Unmapped pages go back to the kernel and read as zeroes again. */
static int ram_unmap(void *ctx, uint64_t off, uint64_t len)
{
	struct ram *r = ctx;
	uint64_t a = (off + PAGE - 1) / PAGE * PAGE, b = (off + len) / PAGE * PAGE;

	if (a < b) {
		memset(r->mem + off, 0, a - off);
		if (r->lent)
			(void)vs_svc_mem_discard(svc, r->mem + a, b - a);
		else
			madvise(r->mem + a, b - a, MADV_DONTNEED);
		memset(r->mem + b, 0, off + len - b);
	} else {
		memset(r->mem + off, 0, len);
	}
	mark(r, off, len, false);
	return 0;
}

static int ram_zeroes(void *ctx, uint64_t off, uint64_t len)
{
	return ram_unmap(ctx, off, len);
}

static int ram_status(void *ctx, uint64_t off, uint64_t len, bool *mapped, uint64_t *ext)
{
	struct ram *r = ctx;
	uint64_t p = off / PAGE, end = off + len;
	bool m = (r->written[p / 64] >> (p % 64)) & 1;
	uint64_t at = (p + 1) * PAGE;

	while (at < end && (((r->written[at / PAGE / 64] >> (at / PAGE % 64)) & 1) == m))
		at += PAGE;
	*mapped = m;
	*ext = (at < end ? at : end) - off;
	return 0;
}

static const struct vs_svc_disk_ops vs_ram_ops = {
	.read = ram_read,
	.write = ram_write,
	.unmap = ram_unmap,
	.write_zeroes = ram_zeroes,
	.block_status = ram_status,
};

static struct ram *rams[64];
static int nrams;
static bool copy_reads;                 /* -C */

static void on_signal(int sig)
{
	(void)sig;
	vs_svc_stop(svc);
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'G': v <<= 30; end++; break;
	case 'M': v <<= 20; end++; break;
	case 'K': v <<= 10; end++; break;
	}
	*out = v;
	return (*end == '\0' || *end == ',') && v ? 0 : -1;
}

/* "1=1G,removable,phys=4096" */
static int add_lun(const char *spec)
{
	struct vs_svc_disk d = { .block_size = 512, .inline_ops = true, .unmap_zeroes = true,
	                         .unmap_granularity = PAGE, .description = "ram disk" };
	char *copy = strdup(spec), *eq = copy ? strchr(copy, '=') : NULL, *opt;
	struct ram *r = calloc(1, sizeof(*r));
	uint64_t lun;
	int rc;

	if (!eq || !r || nrams == 64 || parse_size(eq + 1, &d.size_bytes) < 0) {
		fprintf(stderr, "ramdisk: %s: expected LUN=SIZE[,removable][,readonly][,phys=BYTES]\n",
		        spec);
		return -1;
	}
	*eq = '\0';
	lun = strtoull(copy, NULL, 10);
	for (opt = strchr(eq + 1, ','); opt; opt = strchr(opt + 1, ',')) {
		if (!strncmp(opt, ",removable", 10))
			d.removable = true;
		else if (!strncmp(opt, ",readonly", 9))
			d.readonly = true;
		else if (!strncmp(opt, ",phys=", 6))
			d.physical_block_size = (uint32_t)strtoul(opt + 6, NULL, 10);
	}
	rams[nrams++] = r;
	r->size = d.size_bytes;
	/* address space only: pages cost memory once written */
	if (!copy_reads) {
		r->mem = vs_svc_mem_alloc(svc, r->size);
		r->lent = r->mem != NULL;
		if (!r->mem)
			r->mem = MAP_FAILED;
		d.mem = r->mem;
	} else {
		r->mem = mmap(NULL, r->size, PROT_READ | PROT_WRITE,
		              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		/* 2 MiB pages where THP allows (as vstord's own ram backend):
		 * random reads then miss the TLB far less often.  Memory from
		 * vs_svc_mem_alloc comes advised already. */
		if (r->mem != MAP_FAILED)
			(void)madvise(r->mem, r->size, MADV_HUGEPAGE);
	}
	r->written = calloc((r->size / PAGE + 63) / 64 + 1, sizeof(uint64_t));
	if (r->mem == MAP_FAILED || !r->written) {
		fprintf(stderr, "ramdisk: LUN %llu: no memory\n", (unsigned long long)lun);
		return -1;
	}
	rc = vs_svc_attach_disk(svc, lun, &d, &vs_ram_ops, r);
	if (rc < 0) {
		fprintf(stderr, "ramdisk: LUN %llu: %s\n", (unsigned long long)lun, vs_svc_error());
		return -1;
	}
	free(copy);
	return 0;
}

int main(int argc, char **argv)
{
	struct vs_svc_options o = { .name = "ramdisk", .target = "iqn.2026-11.org.vstor:default" };
	int i, rc;

	for (i = 1; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "-s"))
			o.socket_path = argv[i + 1];
		else if (!strcmp(argv[i], "-t"))
			o.target = argv[i + 1];
		else if (!strcmp(argv[i], "-n"))
			o.name = argv[i + 1];
		else if (!strcmp(argv[i], "-p"))
			o.poll_us = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "-C"))
			copy_reads = true, i--;         /* no value */
		else
			break;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: ramdisk [-s SOCKET] [-t TARGET] [-n NAME] [-p POLL_US] [-C] "
		        "LUN=SIZE[,removable][,readonly][,phys=BYTES]...\n");
		return 2;
	}
	svc = vs_svc_open(&o);
	if (!svc) {
		fprintf(stderr, "ramdisk: %s\n", vs_svc_error());
		return 1;
	}
	for (; i < argc; i++)
		if (add_lun(argv[i]) < 0)
			return 1;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	fprintf(stderr, "ramdisk: serving\n");
	rc = vs_svc_run(svc);
	if (rc < 0)
		fprintf(stderr, "ramdisk: %s\n", vs_svc_error());
	vs_svc_close(svc);
	for (i = 0; i < nrams; i++) {
		if (!rams[i]->lent)             /* lent memory went with the service */
			munmap(rams[i]->mem, rams[i]->size);
		free(rams[i]->written);
		free(rams[i]);
	}
	return rc < 0 ? 1 : 0;
}
