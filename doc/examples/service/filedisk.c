/* SPDX-License-Identifier: MIT */
/*
 * filedisk: a storage service that serves files as disks, in disk mode
 * (the library does the SCSI; this file reads and writes the file).
 * doc/services.md.
 *
 *   filedisk [-s SOCKET] [-t TARGET] [-n NAME] [-j THREADS] LUN=PATH[,size=SIZE]...
 *   filedisk -t iqn.2026-11.org.vstor:default 1=/var/lib/vstor/d1.img,size=10G
 *
 * A missing file is created with size=; an existing one keeps its size.
 * Writes go to the page cache (a volatile write cache: SYNCHRONIZE CACHE
 * and FUA make them durable with fdatasync), so what an initiator was
 * told is durable survives a crash of this process and of the machine.
 * The ops block: the library runs them on its worker threads (-j).
 *
 * Build: cc -o filedisk filedisk.c $(pkg-config --cflags --libs vstor-service)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vstor/service.h>

struct file {
	int fd;
};

static int file_read(void *ctx, void *buf, uint32_t len, uint64_t off)
{
	int fd = ((struct file *)ctx)->fd;

	while (len) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {           /* past the end of a short file: zeroes */
			memset(buf, 0, len);
			return 0;
		}
		buf = (char *)buf + n;
		off += (uint64_t)n;
		len -= (uint32_t)n;
	}
	return 0;
}

static int file_write(void *ctx, const void *buf, uint32_t len, uint64_t off, bool fua)
{
	int fd = ((struct file *)ctx)->fd;

	while (len) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf = (const char *)buf + n;
		off += (uint64_t)n;
		len -= (uint32_t)n;
	}
	/* SBC-3 FUA: on stable storage before the command completes */
	return fua && fdatasync(fd) < 0 ? -errno : 0;
}

static int file_flush(void *ctx)
{
	return fdatasync(((struct file *)ctx)->fd) < 0 ? -errno : 0;
}

/* Deallocated ranges read back as zeroes (a hole). */
static int file_unmap(void *ctx, uint64_t off, uint64_t len)
{
	return fallocate(((struct file *)ctx)->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	                 (off_t)off, (off_t)len) < 0 ? -errno : 0;
}

static int file_status(void *ctx, uint64_t off, uint64_t len, bool *mapped, uint64_t *ext)
{
	int fd = ((struct file *)ctx)->fd;
	off_t data = lseek(fd, (off_t)off, SEEK_DATA), next;

	if (data < 0 && errno != ENXIO)
		return -errno;
	*mapped = data == (off_t)off;
	next = *mapped ? lseek(fd, (off_t)off, SEEK_HOLE) : data;
	if (next < 0 || (uint64_t)next > off + len)
		next = (off_t)(off + len);
	*ext = (uint64_t)next - off;
	return 0;
}

static const struct vs_svc_disk_ops file_ops = {
	.read = file_read,
	.write = file_write,
	.flush = file_flush,
	.unmap = file_unmap,
	.block_status = file_status,
};

static struct vs_svc *svc;
static struct file files[64];
static int nfiles;

static void on_signal(int sig)
{
	(void)sig;
	vs_svc_stop(svc);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'G': return v << 30;
	case 'M': return v << 20;
	case 'K': return v << 10;
	default: return v;
	}
}

/* "1=/path/disk.img,size=1G" */
static int add_lun(const char *spec)
{
	struct vs_svc_disk d = { .block_size = 512, .write_cache = true, .unmap_zeroes = true,
	                         .unmap_granularity = 4096, .description = "file" };
	char *copy = strdup(spec), *eq = copy ? strchr(copy, '=') : NULL, *opt;
	uint64_t lun, size = 0;
	struct stat st;
	int rc, fd;

	if (!eq || nfiles == 64) {
		fprintf(stderr, "filedisk: %s: expected LUN=PATH[,size=SIZE]\n", spec);
		return -1;
	}
	*eq = '\0';
	lun = strtoull(copy, NULL, 10);
	opt = strchr(eq + 1, ',');
	if (opt) {
		*opt = '\0';
		if (!strncmp(opt + 1, "size=", 5))
			size = parse_size(opt + 6);
	}
	fd = open(eq + 1, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "filedisk: %s: %s\n", eq + 1, strerror(errno));
		return -1;
	}
	if (st.st_size == 0 && size && ftruncate(fd, (off_t)size) < 0) {
		fprintf(stderr, "filedisk: %s: %s\n", eq + 1, strerror(errno));
		return -1;
	}
	d.size_bytes = st.st_size ? (uint64_t)st.st_size : size;
	files[nfiles].fd = fd;
	rc = vs_svc_attach_disk(svc, lun, &d, &file_ops, &files[nfiles]);
	if (rc < 0) {
		fprintf(stderr, "filedisk: LUN %llu: %s\n", (unsigned long long)lun, vs_svc_error());
		return -1;
	}
	nfiles++;
	free(copy);
	return 0;
}

int main(int argc, char **argv)
{
	struct vs_svc_options o = { .name = "filedisk", .target = "iqn.2026-11.org.vstor:default" };
	int i, rc;

	for (i = 1; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "-s"))
			o.socket_path = argv[i + 1];
		else if (!strcmp(argv[i], "-t"))
			o.target = argv[i + 1];
		else if (!strcmp(argv[i], "-n"))
			o.name = argv[i + 1];
		else if (!strcmp(argv[i], "-j"))
			o.threads = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else
			break;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: filedisk [-s SOCKET] [-t TARGET] [-n NAME] [-j THREADS] "
		        "LUN=PATH[,size=SIZE]...\n");
		return 2;
	}
	svc = vs_svc_open(&o);
	if (!svc) {
		fprintf(stderr, "filedisk: %s\n", vs_svc_error());
		return 1;
	}
	for (; i < argc; i++)
		if (add_lun(argv[i]) < 0)
			return 1;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	fprintf(stderr, "filedisk: serving\n");
	rc = vs_svc_run(svc);
	if (rc < 0)
		fprintf(stderr, "filedisk: %s\n", vs_svc_error());
	vs_svc_close(svc);      /* flushes: every LUN's cache goes to the file */
	for (i = 0; i < nfiles; i++)
		close(files[i].fd);
	return rc < 0 ? 1 : 0;
}
