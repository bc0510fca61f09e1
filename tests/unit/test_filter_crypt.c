/* SPDX-License-Identifier: MIT */
/*
 * The crypt filter (src/filters/crypt.c): stacks "crypt over ram" and
 * "crypt over file".  Data round trips and the layer below holds no
 * plaintext; the caller's write buffer is never changed; sectors agree with
 * an independent aes-xts-plain64 (lib/xts_ref.py: python3-cryptography's
 * XTS and XTS written out over AES-ECB) both ways, also in 4096-byte units
 * and under a disk of 4096-byte blocks; wrong, short and missing keys are
 * refused naming the field; the key fingerprint; what the filter does to
 * the caps, WRITE_ZEROES and UNMAP, also through a vdisk LUN (WRITE SAME,
 * UNMAP, READ CAPACITY(16), SANITIZE BLOCK ERASE); errors of a piece of a
 * large write; abort and reset while a piece waits below; many threads at
 * once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_vdisk_helpers.h"

#define DISK      (4u << 20)
#define DISK_S    "4M"
#define MARKER    "VSTOR-PLAINTEXT!"    /* 16 bytes, repeated in written data */

static char dir[64];
static char key_a[96], key_b[96], img[96], out[96], plain[96];

/* ------------------------------------------------------------ files */

static void write_bytes(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static size_t read_bytes(const char *path, void *p, size_t max)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = pread(fd, p, max, 0);
	close(fd);
	assert_true(n >= 0);
	return (size_t)n;
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 24);
	}
}

static void fill_marker(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)MARKER[i % 16];
}

static void make_key(const char *path, uint64_t seed)
{
	uint8_t k[64];

	fill_random(k, sizeof(k), seed);
	write_bytes(path, k, sizeof(k));
}

static const struct vs_filter_ops thold_ops;

static int group_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vstor-crypt-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(key_a, sizeof(key_a), "%s/key-a", dir);
	snprintf(key_b, sizeof(key_b), "%s/key-b", dir);
	snprintf(img, sizeof(img), "%s/image", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(plain, sizeof(plain), "%s/plain", dir);
	make_key(key_a, 1);
	make_key(key_b, 2);
	return vs_filter_register(&thold_ops, "test");
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A fresh image file for each test that uses one. */
static int image_setup(void **state)
{
	(void)state;
	unlink(img);
	return 0;
}

/* lib/xts_ref.py with these arguments; its exit status. */
static int run_ref(const char *const *args)
{
	const char *argv[16] = { "python3", XTS_REF_PY };
	size_t n = 2;
	pid_t pid;
	int st = 0;

	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* ------------------------------------------------------------ stacks */

/* crypt (copts) over `backend` (bopts) */
static struct vs_bdev *open_crypt(const struct vs_kv *copts, size_t nc, const char *backend,
                                  const struct vs_kv *bopts, size_t nb)
{
	struct vs_bdev_desc lower = { .kind = VS_LAYER_BACKEND, .name = backend, .opts = bopts,
	                              .nopts = nb };
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "crypt", .opts = copts,
	                            .nopts = nc, .lower = &lower, .nlower = 1 };

	return vs_bdev_open_stack(&top, NULL);
}

static struct vs_bdev *crypt_ram(const char *key)
{
	struct vs_kv c[] = { { "key_file", key } }, b[] = { { "size", DISK_S } };
	struct vs_bdev *s = open_crypt(c, 1, "ram", b, 1);

	if (!s)
		fprintf(stderr, "crypt over ram: %s\n", vs_last_error());
	assert_non_null(s);
	return s;
}

/* crypt over the image file (created if missing); inline=0: every request
 * through io_uring, so pieces complete on the backend's threads */
static struct vs_bdev *crypt_file_opts(const char *key, const char *sector_size)
{
	struct vs_kv c[] = { { "key_file", key }, { "sector_size", sector_size } };
	struct vs_kv b[] = { { "path", img }, { "create", "1" }, { "size", DISK_S },
	                     { "inline", "0" } };
	struct vs_bdev *s = open_crypt(c, 2, "file", b, 4);

	if (!s)
		fprintf(stderr, "crypt over file: %s\n", vs_last_error());
	assert_non_null(s);
	return s;
}

static struct vs_bdev *crypt_file(const char *key)
{
	return crypt_file_opts(key, "512");
}

/* the image without crypt: what is really on the disk */
static struct vs_bdev *plain_file(void)
{
	struct vs_kv b[] = { { "path", img } };
	struct vs_bdev *s = vs_bdev_open("file", b, 1);

	assert_non_null(s);
	return s;
}

/* ------------------------------------------------------------ bios */

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
	int err;
};

static void on_done(struct vs_bio *bio, int err)
{
	struct waiter *w = bio->ctx;

	pthread_mutex_lock(&w->mu);
	w->calls++;
	w->err = err;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Submit, wait, prove done() ran exactly once; the result. */
static int io_iov(struct vs_bdev *b, uint8_t op, uint32_t flags, uint64_t off,
                  struct iovec *v, int n, uint64_t len)
{
	struct waiter w = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	struct vs_bio bio = { .op = op, .flags = flags, .offset = off, .length = len,
	                      .iov = v, .iovcnt = n, .done = on_done, .ctx = &w };
	int rc = vs_bdev_submit(b, &bio);

	if (rc < 0) {
		assert_int_equal(w.calls, 0);
		return rc;
	}
	pthread_mutex_lock(&w.mu);
	while (w.calls == 0)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	usleep(1000);                   /* a second done() would show now */
	pthread_mutex_lock(&w.mu);
	assert_int_equal(w.calls, 1);
	rc = w.err;
	pthread_mutex_unlock(&w.mu);
	/* the bio is the caller's again, as it gave it */
	assert_ptr_equal(bio.ctx, &w);
	assert_ptr_equal(bio.done, on_done);
	return rc;
}

static int io(struct vs_bdev *b, uint8_t op, uint64_t off, void *buf, uint64_t len)
{
	struct iovec v = { buf, len };

	return io_iov(b, op, 0, off, buf ? &v : NULL, buf ? 1 : 0, len);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* ------------------------------------------------------------ round trips */

/* Sizes that cross the bounce memory (64 KiB) several times and not at
 * all, at offsets that are not aligned to it. */
static const struct { uint64_t off, len; } spans[] = {
	{ 0, 4096 }, { 512 * 7, 512 }, { 65536 - 1024, 3 * 65536 + 1536 },
	{ 1 << 20, 1 << 20 }, { DISK - 8192, 8192 },
};

static void round_trip(struct vs_bdev *b)
{
	uint8_t *w = malloc(2u << 20), *r = malloc(2u << 20);

	for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
		fill_random(w, spans[i].len, i + 10);
		assert_int_equal(io(b, VS_BIO_WRITE, spans[i].off, w, spans[i].len), 0);
		memset(r, 0, spans[i].len);
		assert_int_equal(io(b, VS_BIO_READ, spans[i].off, r, spans[i].len), 0);
		assert_memory_equal(r, w, spans[i].len);
	}
	/* each span still holds its own data: nothing went elsewhere (span 1
	 * overwrote the end of span 0) */
	for (size_t i = 1; i < sizeof(spans) / sizeof(spans[0]); i++) {
		fill_random(w, spans[i].len, i + 10);
		assert_int_equal(io(b, VS_BIO_READ, spans[i].off, r, spans[i].len), 0);
		assert_memory_equal(r, w, spans[i].len);
	}
	free(w);
	free(r);
}

static void test_round_trip_ram(void **state)
{
	struct vs_bdev *b = crypt_ram(key_a);
	uint8_t blank[4096];

	(void)state;
	assert_string_equal(vs_bdev_name(b), "crypt/ram");
	round_trip(b);
	/* a block never written reads back as the decryption of zeroes, not
	 * as zeroes: why unmap_zeroes is cleared */
	assert_int_equal(io(b, VS_BIO_READ, 2u << 20, blank, sizeof(blank)), 0);
	assert_false(all_zero(blank, sizeof(blank)));
	vs_bdev_close(b);
}

static bool has_marker(const uint8_t *p, size_t n)
{
	return memmem(p, n, "PLAINTEXT", 9) != NULL;
}

static void test_round_trip_file_no_plaintext(void **state)
{
	size_t len = (1u << 20) + 3 * 4096;
	uint8_t *w = malloc(len), *r = malloc(len), *disk = malloc(DISK);
	struct vs_bdev *b = crypt_file(key_a), *p;

	(void)state;
	round_trip(b);
	fill_marker(w, len);
	assert_int_equal(io(b, VS_BIO_WRITE, 8192, w, len), 0);
	assert_int_equal(io(b, VS_BIO_READ, 8192, r, len), 0);
	assert_memory_equal(r, w, len);
	assert_int_equal(io(b, VS_BIO_FLUSH, 0, NULL, 0), 0);
	vs_bdev_close(b);

	/* the file itself: not one copy of the marker, and no 512-byte
	 * sector of it stored as written */
	assert_int_equal(read_bytes(img, disk, DISK), DISK);
	assert_false(has_marker(disk, DISK));
	for (size_t s = 0; s < len; s += 512)
		assert_memory_not_equal(disk + 8192 + s, w + s, 512);
	/* the same through a stack without crypt */
	p = plain_file();
	assert_int_equal(io(p, VS_BIO_READ, 8192, r, len), 0);
	assert_false(has_marker(r, len));
	vs_bdev_close(p);
	/* and with crypt again, from the file: the data is there */
	b = crypt_file(key_a);
	assert_int_equal(io(b, VS_BIO_READ, 8192, r, len), 0);
	assert_memory_equal(r, w, len);
	vs_bdev_close(b);
	free(w);
	free(r);
	free(disk);
}

/* A write may be sent again after a reconnect: the caller's buffer must
 * come back as it went in, also for a write larger than the bounce memory
 * and with an iovec of many pieces. */
static void check_buffer_kept(struct vs_bdev *b)
{
	size_t len = 3 * 65536 + 4096;
	uint8_t *w = malloc(len), *copy = malloc(len);
	struct iovec v[3] = { { w, 700 }, { w + 700, 4096 - 700 + 65536 },
	                      { w + 4096 + 65536, len - 4096 - 65536 } };

	fill_marker(w, len);
	memcpy(copy, w, len);
	assert_int_equal(io(b, VS_BIO_WRITE, 4096, w, len), 0);
	assert_memory_equal(w, copy, len);
	assert_int_equal(io_iov(b, VS_BIO_WRITE, VS_BIO_FUA, 0, v, 3, len), 0);
	assert_memory_equal(w, copy, len);
	free(w);
	free(copy);
}

static void test_write_buffer_unchanged(void **state)
{
	struct vs_bdev *b = crypt_ram(key_a);

	(void)state;
	check_buffer_kept(b);
	vs_bdev_close(b);
	b = crypt_file(key_a);
	check_buffer_kept(b);
	vs_bdev_close(b);
}

/* Units that straddle iovec pieces are gathered and scattered: data
 * written in odd pieces reads back whole, and the other way round. */
static void test_iovec_pieces(void **state)
{
	static const size_t cuts[] = { 1, 511, 700, 3000, 16, 4096 + 5, 70000, 333 };
	size_t len = 32 * 4096, used = 0;
	uint8_t *w = malloc(len), *r = malloc(len);
	struct iovec v[sizeof(cuts) / sizeof(cuts[0]) + 2];
	int n = 0;
	struct vs_bdev *b = crypt_ram(key_a);

	(void)state;
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		v[n++] = (struct iovec){ w + used, cuts[i] };
		used += cuts[i];
	}
	v[n++] = (struct iovec){ w + used, 0 };         /* an empty piece */
	v[n++] = (struct iovec){ w + used, len - used };
	fill_random(w, len, 77);
	assert_int_equal(io_iov(b, VS_BIO_WRITE, 0, 512, v, n, len), 0);
	assert_int_equal(io(b, VS_BIO_READ, 512, r, len), 0);
	assert_memory_equal(r, w, len);

	/* read into the same pieces of another buffer */
	for (int i = 0; i < n; i++)
		v[i].iov_base = r + ((uint8_t *)v[i].iov_base - w);
	memset(r, 0, len);
	assert_int_equal(io_iov(b, VS_BIO_READ, 0, 512, v, n, len), 0);
	assert_memory_equal(r, w, len);

	/* an iovec shorter than the length is refused, nothing written */
	v[0] = (struct iovec){ w, len - 512 };
	assert_int_equal(io_iov(b, VS_BIO_WRITE, 0, 0, v, 1, len), -EINVAL);
	vs_bdev_close(b);
	free(w);
	free(r);
}

/* ------------------------------------------------------------ interop */

/* vstor encrypts, xts_ref.py decrypts (units of `unit`, tweaks in 512-byte
 * sectors): the plaintext comes back. */
static void vstor_then_python(const char *sector_size, const char *unit)
{
	size_t len = 192 * 1024;
	uint64_t at = 3 * 4096;
	uint8_t *w = malloc(len), *got = malloc(DISK);
	char off[32];
	struct vs_bdev *b = crypt_file_opts(key_a, sector_size);

	fill_random(w, len, 5);
	assert_int_equal(io(b, VS_BIO_WRITE, at, w, len), 0);
	vs_bdev_close(b);

	assert_int_equal(run_ref((const char *const[]){ "decrypt", key_a, img, out, "--unit", unit,
	                                                NULL }), 0);
	assert_int_equal(read_bytes(out, got, DISK), DISK);
	assert_memory_equal(got + at, w, len);
	/* the slice alone, told where it starts: the tweak is the absolute
	 * sector number, not one counted from the slice */
	assert_int_equal(read_bytes(img, got, DISK), DISK);
	write_bytes(plain, got + at, len);
	snprintf(off, sizeof(off), "%llu", (unsigned long long)at);
	assert_int_equal(run_ref((const char *const[]){ "decrypt", key_a, plain, out, "--unit",
	                                                unit, "--offset", off, NULL }), 0);
	assert_int_equal(read_bytes(out, got, len), len);
	assert_memory_equal(got, w, len);
	free(w);
	free(got);
}

static void test_interop_vstor_to_python(void **state)
{
	(void)state;
	vstor_then_python("512", "512");
}

/* xts_ref.py encrypts a disk image, vstor reads it back through crypt. */
static void python_then_vstor(const char *sector_size, const char *unit)
{
	uint8_t *p = malloc(DISK), *r = malloc(DISK);
	struct vs_bdev *b;

	fill_random(p, DISK, 9);
	write_bytes(plain, p, DISK);
	assert_int_equal(run_ref((const char *const[]){ "encrypt", key_a, plain, img, "--unit", unit,
	                                                NULL }), 0);
	b = crypt_file_opts(key_a, sector_size);
	assert_int_equal(vs_bdev_get_size(b), DISK);
	assert_int_equal(io(b, VS_BIO_READ, 0, r, DISK), 0);
	assert_memory_equal(r, p, DISK);
	/* and a read that starts in the middle */
	assert_int_equal(io(b, VS_BIO_READ, 5 * 4096, r, 8192), 0);
	assert_memory_equal(r, p + 5 * 4096, 8192);
	vs_bdev_close(b);
	free(p);
	free(r);
}

static void test_interop_python_to_vstor(void **state)
{
	(void)state;
	python_then_vstor("512", "512");
}

/* sector_size=4096 (cryptsetup --sector-size 4096): 4096-byte data units,
 * tweaks still counted in 512-byte sectors; smaller pieces are refused
 * and the disk above must use 4096-byte blocks. */
static void test_sector_size_4096(void **state)
{
	struct vs_backend_caps caps;
	struct vs_bdev *b;
	uint8_t buf[4096] = { 0 };

	(void)state;
	vstor_then_python("4096", "4096");
	python_then_vstor("4096", "4096");
	b = crypt_file_opts(key_a, "4096");
	vs_bdev_get_caps(b, &caps);
	assert_int_equal(caps.logical_block_size, 4096);
	assert_int_equal(io(b, VS_BIO_WRITE, 512, buf, 512), -EINVAL);
	assert_int_equal(io(b, VS_BIO_READ, 4096 + 512, buf, 4096), -EINVAL);
	assert_int_equal(io(b, VS_BIO_WRITE_ZEROES, 4096, NULL, 512), -EINVAL);
	vs_bdev_close(b);
}

/* ------------------------------------------------------------ vdisk */

/* A port with LUN 0 over `bdev` in bs-byte blocks (vt_setup's, for any
 * stack). */
static void vc_setup(struct vt *t, uint32_t bs, struct vs_bdev *bdev)
{
	static const struct vs_vdisk_adapter_config acfg = {
		.target_name = "iqn.2024-01.test:crypt", .rel_target_port_id = 1,
	};
	struct vs_port_config pcfg = { .name = "crypt-test", .default_timeout_ms = 10000 };
	struct vs_vdisk_lun_config cfg = { .bdev = bdev, .block_size = bs, .serial = "CRYPT01",
	                                   .device_id = "crypt-0" };

	memset(t, 0, sizeof(*t));
	t->tf = tf_create(&vs_vdisk_miniport, &pcfg, &acfg);
	assert_non_null(t->tf);
	assert_int_equal(vs_port_lun_add(tf_port(t->tf), 0, &cfg), 0);
	t->n = tf_nexus(t->tf, "iqn.2024-01.test:init-a,i,0x1");
	t->n2 = tf_nexus(t->tf, "iqn.2024-01.test:init-b,i,0x2");
	assert_int_equal(tf_clear_ua(t->tf, t->n, 0), 0);
	assert_int_equal(tf_clear_ua(t->tf, t->n2, 0), 0);
	t->bs = bs;
	t->nblocks = vs_bdev_get_size(bdev) / bs;
}

/* A disk of 4096-byte blocks over crypt with 512-byte units: what it
 * writes still has a tweak per 512-byte sector (xts_ref.py --unit 512). */
static void test_vdisk_4k_blocks(void **state)
{
	struct vt t;
	uint8_t *w = malloc(16 * 4096), *got = malloc(DISK);

	(void)state;
	vc_setup(&t, 4096, crypt_file(key_a));
	fill_random(w, 16 * 4096, 21);
	vt_write(&t, 3, 16, w);
	vt_teardown(&t);
	assert_int_equal(run_ref((const char *const[]){ "decrypt", key_a, img, out, NULL }), 0);
	assert_int_equal(read_bytes(out, got, DISK), DISK);
	assert_memory_equal(got + 3 * 4096, w, 16 * 4096);
	free(w);
	free(got);
}

static void write_same(struct vt *t, uint64_t lba, uint32_t n, bool unmap, const uint8_t *blk)
{
	uint8_t cdb[16] = { WRITE_SAME_16, unmap ? 0x08 : 0 };
	struct tf_result r;

	put_be(&cdb[2], lba, 8);
	put_be(&cdb[10], n, 4);
	vt_exec(t, cdb, 16, VS_DIR_TO_DEVICE, (void *)blk, t->bs, &r);
	assert_good(&r);
}

/* WRITE SAME of zeroes, with and without UNMAP, reads back as zeroes
 * through crypt (the filter writes encrypted zeroes); a pattern reads back
 * as the pattern; UNMAP works; LBPRZ is 0 and LBPME 1. */
static void test_vdisk_zeroes_and_unmap(void **state)
{
	struct vt t;
	uint32_t bs = 512, n = 300;
	uint8_t *w = malloc(n * bs), *r = malloc(n * bs), zero[512] = { 0 }, pat[512];
	uint8_t cdb[16] = { SERVICE_ACTION_IN_16, 0x10 }, cap[32], list[24] = { 0 };
	struct tf_result res;

	(void)state;
	vc_setup(&t, bs, crypt_ram(key_a));
	put_be(&cdb[10], sizeof(cap), 4);
	vt_exec(&t, cdb, 16, VS_DIR_FROM_DEVICE, cap, sizeof(cap), &res);
	assert_good(&res);
	assert_int_equal(cap[14] & 0xc0, 0x80);         /* LBPME=1, LBPRZ=0 */

	fill_random(w, n * bs, 3);
	for (int unmap = 0; unmap < 2; unmap++) {
		vt_write(&t, 10, n, w);
		write_same(&t, 20, n - 20, unmap, zero);
		vt_read(&t, 10, n, r);
		assert_memory_equal(r, w, 10 * bs);     /* before: untouched */
		assert_true(all_zero(r + 10 * bs, (n - 20) * bs));
		assert_memory_equal(r + (n - 10) * bs, w + (n - 10) * bs, 10 * bs);
	}
	memset(pat, 0x5a, sizeof(pat));
	write_same(&t, 40, 7, true, pat);
	vt_read(&t, 40, 7, r);
	for (int i = 0; i < 7; i++)
		assert_memory_equal(r + i * bs, pat, bs);

	/* UNMAP of 8 blocks: GOOD (what they read back as is not zeroes) */
	put_be(&list[0], 22, 2);
	put_be(&list[2], 16, 2);
	put_be(&list[8], 100, 8);
	put_be(&list[16], 8, 4);
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = UNMAP;
	put_be(&cdb[7], sizeof(list), 2);
	vt_exec(&t, cdb, 10, VS_DIR_TO_DEVICE, list, sizeof(list), &res);
	assert_good(&res);
	vt_teardown(&t);
	free(w);
	free(r);
}

/* SANITIZE BLOCK ERASE of a LUN over crypt (LBPRZ=0, UNMAP passes down):
 * what libiscsi's Sanitize.BlockErase checks.  The old data cannot be
 * read any more, and no LBA is mapped. */
static void test_vdisk_block_erase(void **state)
{
	struct vt t;
	uint32_t n = 64;
	uint8_t *w = malloc(n * 512), *r = malloc(n * 512), cdb[16] = { 0x48, 0x02 }, d[64];
	struct tf_result res;

	(void)state;
	vc_setup(&t, 512, crypt_ram(key_a));
	memset(w, 'a', n * 512);
	vt_write(&t, 0, n, w);
	vt_write(&t, t.nblocks - n, n, w);
	vt_exec(&t, cdb, 10, VS_DIR_NONE, NULL, 0, &res);       /* BLOCK ERASE, IMMED=0 */
	assert_good(&res);
	vt_exec(&t, cdb, cdb_get_lba_status(cdb, 0, sizeof(d)), VS_DIR_FROM_DEVICE, d, sizeof(d),
	        &res);
	assert_good(&res);
	assert_int_equal(get_be(&d[0], 4), 20);                 /* one descriptor */
	assert_int_equal(get_be(&d[16], 4), t.nblocks);
	assert_int_equal(d[20] & 0x0f, 1);                      /* deallocated */
	vt_read(&t, 0, n, r);
	assert_memory_not_equal(r, w, n * 512);
	vt_read(&t, t.nblocks - n, n, r);
	assert_memory_not_equal(r, w, n * 512);
	vt_teardown(&t);
	free(w);
	free(r);
}

/* ------------------------------------------------------------ caps, zeroes */

static void test_caps(void **state)
{
	struct vs_backend_caps lower, caps;
	struct vs_bdev *b = crypt_ram(key_a), *ram = vt_ram(DISK_S);
	struct vs_kv c[] = { { "key_file", key_a }, { "discard", "0" } }, o[] = { { "size", DISK_S } };

	(void)state;
	vs_bdev_get_caps(ram, &lower);
	vs_bdev_get_caps(b, &caps);
	assert_true(lower.unmap_zeroes);
	assert_false(caps.unmap_zeroes);
	assert_true(caps.can_zero);
	assert_true(caps.can_unmap);
	assert_true(caps.can_write);
	assert_int_equal(caps.logical_block_size, 512);
	assert_int_equal(caps.can_flush, lower.can_flush);
	assert_int_equal(vs_bdev_get_size(b), DISK);
	assert_true(vs_bdev_has_block_status(b));       /* passes through */
	/* a piece of a 512-byte unit cannot be encrypted */
	assert_int_equal(io(b, VS_BIO_WRITE, 256, (uint8_t[512]){ 0 }, 512), -EINVAL);
	vs_bdev_close(b);
	vs_bdev_close(ram);

	b = open_crypt(c, 2, "ram", o, 1);
	assert_non_null(b);
	vs_bdev_get_caps(b, &caps);
	assert_false(caps.can_unmap);
	assert_int_equal(io(b, VS_BIO_UNMAP, 0, NULL, 4096), -EOPNOTSUPP);
	vs_bdev_close(b);
}

/* WRITE_ZEROES (even with MAY_TRIM) writes encrypted zeroes: zeroes
 * through crypt, ciphertext below.  UNMAP passes down: below, the range
 * is deallocated (reads as zeroes there). */
static void test_write_zeroes_and_unmap_bios(void **state)
{
	size_t len = 200 * 1024;
	uint8_t *w = malloc(len), *r = malloc(len);
	struct vs_bdev *b = crypt_file(key_a), *p;

	(void)state;
	fill_marker(w, len);
	assert_int_equal(io(b, VS_BIO_WRITE, 0, w, len), 0);
	assert_int_equal(io_iov(b, VS_BIO_WRITE_ZEROES, VS_BIO_MAY_TRIM, 4096, NULL, 0, len - 8192),
	                 0);
	assert_int_equal(io(b, VS_BIO_READ, 0, r, len), 0);
	assert_memory_equal(r, w, 4096);
	assert_true(all_zero(r + 4096, len - 8192));
	assert_memory_equal(r + len - 4096, w + len - 4096, 4096);
	assert_int_equal(io(b, VS_BIO_UNMAP, len - 4096, NULL, 4096), 0);
	vs_bdev_close(b);

	p = plain_file();
	assert_int_equal(io(p, VS_BIO_READ, 0, r, len), 0);
	assert_false(has_marker(r, len));
	for (size_t s = 4096; s < len - 4096; s += 512)
		assert_false(all_zero(r + s, 512));     /* encrypted zeroes, not holes */
	assert_true(all_zero(r + len - 4096, 4096)); /* unmapped below */
	vs_bdev_close(p);
	free(w);
	free(r);
}

/* A piece of a large write that fails ends the request with its error,
 * exactly once, and the pieces after it are not sent. */
static void test_piece_error(void **state)
{
	size_t len = 4 * 65536;
	uint8_t *w = malloc(len), *r = malloc(65536);
	struct vs_bdev *b = crypt_ram(key_a);

	(void)state;
	fill_random(w, len, 8);
	/* the first two pieces fit, the third starts past the end */
	assert_int_equal(io(b, VS_BIO_WRITE, DISK - 2 * 65536, w, len), -EINVAL);
	assert_int_equal(io(b, VS_BIO_READ, DISK - 65536, r, 65536), 0);
	assert_memory_equal(r, w + 65536, 65536);
	/* a refused first piece is returned, not completed */
	assert_int_equal(io(b, VS_BIO_WRITE, DISK, w, 4096), -EINVAL);
	assert_int_equal(io(b, VS_BIO_READ, DISK, r, 4096), -EINVAL);
	vs_bdev_close(b);
	free(w);
	free(r);
}

/* ------------------------------------------------------------ held below */

/* "thold": a test filter under crypt that can keep the bios it gets
 * (a backend waiting for its server) and gives them back on a reset. */
#define THOLD_MAX 16

static struct thold {
	struct vs_layer *self;
	pthread_mutex_t mu;
	bool hold;
	struct vs_bio *held[THOLD_MAX];
	int nheld;
} thold = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void *thold_open(struct vs_filter_open_args *a)
{
	thold.self = a->self;
	return &thold;
}

static void thold_close(void *h) { (void)h; }

static int thold_submit(void *h, struct vs_bio *bio, void *ctx)
{
	(void)h;
	(void)ctx;
	pthread_mutex_lock(&thold.mu);
	if (thold.hold && thold.nheld < THOLD_MAX) {
		thold.held[thold.nheld++] = bio;
		pthread_mutex_unlock(&thold.mu);
		return 0;
	}
	pthread_mutex_unlock(&thold.mu);
	return vs_layer_submit(thold.self, 0, bio);
}

static struct vs_bio *thold_take(void)
{
	struct vs_bio *b = NULL;

	pthread_mutex_lock(&thold.mu);
	if (thold.nheld)
		b = thold.held[--thold.nheld];
	pthread_mutex_unlock(&thold.mu);
	return b;
}

static void thold_reset(void *h)
{
	struct vs_bio *b;

	(void)h;
	while ((b = thold_take()))
		vs_bio_complete(b, -ECANCELED);
}

static int thold_count(void)
{
	pthread_mutex_lock(&thold.mu);
	int n = thold.nheld;
	pthread_mutex_unlock(&thold.mu);
	return n;
}

static const struct vs_filter_ops thold_ops = {
	.name = "thold",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "test: holds bios until released or reset",
	.open = thold_open,
	.close = thold_close,
	.submit = thold_submit,
	.reset = thold_reset,
};

/* A large write whose pieces wait below: one piece at a time; a piece
 * released from another thread is followed by the next; an abort of the
 * request cannot take it back (crypt holds nothing, the layer below knows
 * only the piece); a reset gives the piece back and the request completes
 * once, with -ECANCELED, after the pieces before it were written. */
static void test_reset_while_held(void **state)
{
	struct vs_kv c[] = { { "key_file", key_a } }, o[] = { { "size", DISK_S } };
	struct vs_bdev_desc ram = { .kind = VS_LAYER_BACKEND, .name = "ram", .opts = o, .nopts = 1 };
	struct vs_bdev_desc mid = { .kind = VS_LAYER_FILTER, .name = "thold", .lower = &ram,
	                            .nlower = 1 };
	struct vs_bdev_desc top = { .kind = VS_LAYER_FILTER, .name = "crypt", .opts = c, .nopts = 1,
	                            .lower = &mid, .nlower = 1 };
	size_t len = 3 * 65536;
	uint8_t *w = malloc(len), *r = malloc(len);
	struct waiter wt = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	struct iovec v = { w, len };
	struct vs_bio bio = { .op = VS_BIO_WRITE, .offset = 0, .length = len, .iov = &v,
	                      .iovcnt = 1, .done = on_done, .ctx = &wt };
	struct vs_bdev *b = vs_bdev_open_stack(&top, NULL);
	struct vs_bio *piece;

	(void)state;
	assert_non_null(b);
	assert_string_equal(vs_bdev_name(b), "crypt/thold/ram");
	fill_random(w, len, 31);
	thold.hold = true;
	assert_int_equal(vs_bdev_submit(b, &bio), 0);
	assert_int_equal(thold_count(), 1);             /* one piece at a time */
	assert_false(vs_bdev_cancel(b, &bio));
	piece = thold_take();
	assert_int_equal(piece->length, 65536);
	assert_int_equal(vs_layer_submit(thold.self, 0, piece), 0);   /* the first piece lands */
	assert_int_equal(thold_count(), 1);             /* and the second is sent */
	assert_int_equal(wt.calls, 0);
	vs_bdev_reset(b);
	assert_int_equal(wt.calls, 1);
	assert_int_equal(wt.err, -ECANCELED);
	assert_int_equal(thold_count(), 0);
	thold.hold = false;
	assert_int_equal(io(b, VS_BIO_READ, 0, r, 65536), 0);
	assert_memory_equal(r, w, 65536);
	assert_int_equal(io(b, VS_BIO_READ, 65536, r, 65536), 0);
	assert_memory_not_equal(r, w + 65536, 65536);   /* never written */
	assert_int_equal(wt.calls, 1);
	vs_bdev_close(b);
	free(w);
	free(r);
}

/* ------------------------------------------------------------ keys */

static void expect_refused(const struct vs_kv *c, size_t nc, const char *field, const char *has)
{
	struct vs_kv o[] = { { "size", DISK_S } };
	struct vs_bdev *b = open_crypt(c, nc, "ram", o, 1);

	assert_null(b);
	if (strncmp(vs_last_error(), field, strlen(field)) != 0 || !strstr(vs_last_error(), has))
		fprintf(stderr, "error: %s\n", vs_last_error());
	assert_int_equal(strncmp(vs_last_error(), field, strlen(field)), 0);
	assert_non_null(strstr(vs_last_error(), has));
	assert_null(strchr(vs_last_error(), '\n'));
}

static void test_key_refused(void **state)
{
	char path[128];
	uint8_t k[129];

	(void)state;
	snprintf(path, sizeof(path), "%s/missing", dir);
	expect_refused((struct vs_kv[]){ { "key_file", path } }, 1, "key_file: ", "missing");
	expect_refused((struct vs_kv[]){ { "key_file", dir } }, 1, "key_file: ", "directory");
	expect_refused(NULL, 0, "key_file: ", "required");

	snprintf(path, sizeof(path), "%s/short", dir);
	fill_random(k, sizeof(k), 4);
	write_bytes(path, k, 32);
	expect_refused((struct vs_kv[]){ { "key_file", path } }, 1, "key_file: ", "holds 32 bytes");
	write_bytes(path, k, 65);
	expect_refused((struct vs_kv[]){ { "key_file", path } }, 1, "key_file: ", "holds 65 bytes");
	write_bytes(path, "", 0);
	expect_refused((struct vs_kv[]){ { "key_file", path } }, 1, "key_file: ", "holds 0 bytes");
	memset(k, 'a', 129);
	write_bytes(path, k, 129);                      /* 64 bytes as hex text and a newline */
	expect_refused((struct vs_kv[]){ { "key_file", path } }, 1, "key_file: ", "not hex text");
	/* the same key twice: XTS needs Key1 != Key2 */
	fill_random(k, 32, 6);
	memcpy(k + 32, k, 32);
	write_bytes(path, k, 64);
	expect_refused((struct vs_kv[]){ { "key_file", path } }, 1, "key_file: ", "same key");
	/* an unreadable one (not as root: root reads anything) */
	if (geteuid() != 0) {
		fill_random(k, 64, 7);
		write_bytes(path, k, 64);
		chmod(path, 0);
		expect_refused((struct vs_kv[]){ { "key_file", path } }, 1, "key_file: ",
		               "Permission denied");
	}
	unlink(path);
	/* schema-level: malformed fingerprint, sector size */
	expect_refused((struct vs_kv[]){ { "key_file", key_a }, { "key_fingerprint", "abc" } }, 2,
	               "key_fingerprint: ", "hex digits");
	expect_refused((struct vs_kv[]){ { "key_file", key_a },
	                                 { "key_fingerprint", "zz3456789012345678901234567890ab" } },
	               2, "key_fingerprint: ", "hex digits");
	expect_refused((struct vs_kv[]){ { "key_file", key_a }, { "sector_size", "520" } }, 2,
	               "sector_size: ", "520");
	assert_int_equal(vs_layer_check(VS_LAYER_FILTER, "crypt",
	                                (struct vs_kv[]){ { "key_file", key_a },
	                                                  { "key_fingerprint", "12" } }, 2),
	                 -EINVAL);
}

struct learned { int n; char key[64], value[128]; };

static void learn(void *ctx, const char *key, const char *value)
{
	struct learned *l = ctx;

	l->n++;
	snprintf(l->key, sizeof(l->key), "%s", key);
	snprintf(l->value, sizeof(l->value), "%s", value);
}

/* The fingerprint: learned when not given (and what xts_ref.py computes
 * from the key: SHA-256 over the label and the key, 16 bytes in hex);
 * the right key opens with it (any case), another key is refused. */
static void test_fingerprint(void **state)
{
	struct learned l = { 0 };
	struct vs_bdev *b = crypt_ram(key_a);
	char want[64], upper[64];
	FILE *f;

	(void)state;
	vs_bdev_layer_learned(b, 0, learn, &l);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.key, "key_fingerprint");
	assert_int_equal(strlen(l.value), 32);
	vs_bdev_close(b);

	/* the same value from python (hashlib) */
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "python3 %s fingerprint %s", XTS_REF_PY, key_a);
		f = popen(cmd, "r");
		assert_non_null(f);
		assert_non_null(fgets(want, sizeof(want), f));
		assert_int_equal(pclose(f), 0);
		want[strcspn(want, "\n")] = 0;
		assert_string_equal(l.value, want);
	}

	for (int i = 0; i < 33; i++)
		upper[i] = (char)(want[i] >= 'a' && want[i] <= 'f' ? want[i] - 32 : want[i]);
	struct vs_kv o[] = { { "size", DISK_S } };
	struct vs_kv ca[] = { { "key_file", key_a }, { "key_fingerprint", upper } };
	b = open_crypt(ca, 2, "ram", o, 1);
	assert_non_null(b);
	l.n = 0;
	vs_bdev_layer_learned(b, 0, learn, &l);
	assert_int_equal(l.n, 0);                       /* given: nothing to learn */
	vs_bdev_close(b);

	struct vs_kv cb[] = { { "key_file", key_b }, { "key_fingerprint", want } };
	expect_refused(cb, 2, "key_fingerprint: ", want);
	assert_non_null(strstr(vs_last_error(), key_b));
}

/* ------------------------------------------------------------ threads */

#define THREADS 4
#define ROUNDS  200

struct worker {
	struct vs_bdev *b;
	unsigned id;
	int bad;
};

/* Each thread writes and reads back its own quarter, in 4 KiB to 96 KiB
 * pieces: completions on the file backend's threads, cipher contexts
 * shared by more threads than this machine may have CPUs. */
static void *worker_run(void *arg)
{
	struct worker *wk = arg;
	uint64_t base = (uint64_t)wk->id * (DISK / THREADS), x = wk->id + 1;
	uint8_t *w = malloc(96 * 1024), *r = malloc(96 * 1024);

	for (int i = 0; i < ROUNDS && !wk->bad; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t len = ((x >> 33) % 24 + 1) * 4096;
		uint64_t off = base + ((x >> 13) % ((DISK / THREADS - len) / 512)) * 512;

		fill_random(w, len, x);
		if (io(wk->b, VS_BIO_WRITE, off, w, len) != 0 ||
		    io(wk->b, VS_BIO_READ, off, r, len) != 0 || memcmp(r, w, len) != 0)
			wk->bad = 1;
	}
	free(w);
	free(r);
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t t[THREADS];
	struct worker wk[THREADS];
	struct vs_bdev *b = crypt_file(key_a);

	(void)state;
	for (unsigned i = 0; i < THREADS; i++) {
		wk[i] = (struct worker){ .b = b, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &wk[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(wk[i].bad, 0);
	}
	vs_bdev_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_ram),
		cmocka_unit_test_setup(test_round_trip_file_no_plaintext, image_setup),
		cmocka_unit_test_setup(test_write_buffer_unchanged, image_setup),
		cmocka_unit_test(test_iovec_pieces),
		cmocka_unit_test_setup(test_interop_vstor_to_python, image_setup),
		cmocka_unit_test_setup(test_interop_python_to_vstor, image_setup),
		cmocka_unit_test_setup(test_sector_size_4096, image_setup),
		cmocka_unit_test_setup(test_vdisk_4k_blocks, image_setup),
		cmocka_unit_test(test_vdisk_zeroes_and_unmap),
		cmocka_unit_test(test_vdisk_block_erase),
		cmocka_unit_test(test_caps),
		cmocka_unit_test_setup(test_write_zeroes_and_unmap_bios, image_setup),
		cmocka_unit_test(test_piece_error),
		cmocka_unit_test(test_reset_while_held),
		cmocka_unit_test(test_key_refused),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test_setup(test_threads, image_setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
