/* SPDX-License-Identifier: MIT */
/*
 * The nbd backend against real servers started here (nbdkit with its
 * memory and file plugins and its cache, error and log filters; qemu-nbd;
 * nbd-server), each on a Unix socket of its own:
 *  - bad options and unreachable servers are refused, naming the field;
 *  - data goes both ways; FLUSH, FUA, UNMAP, WRITE ZEROES and block status
 *    reach the server as what it offers; caps tell the truth (cache=on:
 *    a write cache; cache=off: none, and every write carries FUA);
 *  - the dirty budget forces flushes and frees the copies;
 *  - nbdkit with cache=writeback killed with SIGKILL loses what it had not
 *    flushed; after the restart the backend writes it again and reads
 *    return every acknowledged write; a request sent while the server was
 *    away completes when it is back (LOST, then BACK);
 *  - away longer than hold_timeout: held and new requests get -ENOTCONN,
 *    and GOOD again once the server is back;
 *  - a server that stops answering (SIGSTOP) trips request_timeout and the
 *    backend reconnects once it answers again;
 *  - a different export after the restart: FAILED, nothing written to it,
 *    the next FLUSH -ENOTRECOVERABLE; a replay the server refuses: the same;
 *  - cancel and reset give back requests held while the server is away;
 *  - multi-conn uses several connections; TLS (nbds+unix, PSK) works.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "backends/nbd/nbd_stats.h"
#include "loop_sync.h"
#include "ext_nbd_server.h"
#include "vstor/backend.h"
#include "vstor/loop.h"

#define DISK   (16u << 20)
#define BLK    4096u

static struct vs_loop_group *grp;

/* ---------------------------------------------------------------- events */

#define EV_MAX 64

struct evlog {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;
	int type[EV_MAX];
	uint32_t hold[EV_MAX];
	char why[EV_MAX][400];
};

static void on_event(void *ctx, const struct vs_bdev_event *ev)
{
	struct evlog *l = ctx;

	pthread_mutex_lock(&l->mu);
	if (l->n < EV_MAX) {
		l->type[l->n] = ev->type;
		l->hold[l->n] = ev->hold_ms;
		snprintf(l->why[l->n], sizeof(l->why[0]), "%s", ev->why ? ev->why : "");
		l->n++;
	}
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

/* The index of the first event of `type` at or after `from`, waiting up to
 * ms; -1 if none came. */
static int ev_wait(struct evlog *l, int type, int from, int ms)
{
	struct timespec dl;
	int found = -1;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&l->mu);
	for (;;) {
		for (int i = from; i < l->n && found < 0; i++)
			if (l->type[i] == type)
				found = i;
		if (found >= 0 || pthread_cond_timedwait(&l->cv, &l->mu, &dl) != 0)
			break;
	}
	if (found < 0)
		for (int i = from; i < l->n && found < 0; i++)
			if (l->type[i] == type)
				found = i;
	pthread_mutex_unlock(&l->mu);
	return found;
}

/* ---------------------------------------------------------------- I/O */

struct io {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls, err;
	struct vs_bio bio;
	struct iovec iov;
};

static void io_done(struct vs_bio *bio, int err)
{
	struct io *io = bio->ctx;

	pthread_mutex_lock(&io->mu);
	io->calls++;
	io->err = err;
	pthread_cond_broadcast(&io->cv);
	pthread_mutex_unlock(&io->mu);
}

static void io_start(struct vs_bdev *b, struct io *io, uint8_t op, uint32_t flags, uint64_t off,
                     void *buf, uint64_t len)
{
	memset(io, 0, sizeof(*io));
	pthread_mutex_init(&io->mu, NULL);
	pthread_cond_init(&io->cv, NULL);
	io->iov = (struct iovec){ buf, buf ? len : 0 };
	io->bio = (struct vs_bio){ .op = op, .flags = flags, .offset = off, .length = len,
	                           .iov = buf ? &io->iov : NULL, .iovcnt = buf ? 1 : 0,
	                           .done = io_done, .ctx = io };
	assert_int_equal(vs_bdev_submit(b, &io->bio), 0);
}

/* done()'s error, or 999 if it did not come within ms; checks it came once */
static int io_wait(struct io *io, int ms)
{
	struct timespec dl;
	int err = 999;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000 + 1;
	pthread_mutex_lock(&io->mu);
	while (io->calls == 0 && pthread_cond_timedwait(&io->cv, &io->mu, &dl) == 0)
		;
	if (io->calls) {
		assert_int_equal(io->calls, 1);
		err = io->err;
	}
	pthread_mutex_unlock(&io->mu);
	return err;
}

static bool io_finished(struct io *io)
{
	pthread_mutex_lock(&io->mu);
	bool d = io->calls > 0;
	pthread_mutex_unlock(&io->mu);
	return d;
}

static int io_sync(struct vs_bdev *b, uint8_t op, uint32_t flags, uint64_t off, void *buf,
                   uint64_t len)
{
	struct io io;

	io_start(b, &io, op, flags, off, buf, len);
	return io_wait(&io, 20000);
}

static void fill(uint8_t *buf, uint64_t len, uint32_t seed)
{
	for (uint64_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((i * 131 + seed * 7 + (i >> 12)) ^ seed);
}

/* ---------------------------------------------------------------- set-up */

struct fx {
	struct nbd_srv srv;
	struct vs_bdev *b;
	struct evlog ev;
	char disk[160];
};

static int group_setup(void **state)
{
	(void)state;
	grp = ls_group(2);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	vs_loop_group_destroy(grp);
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!nbd_srv_have("nbdkit")) {
		free(f);
		skip();
	}
	nbd_srv_init(&f->srv);
	pthread_mutex_init(&f->ev.mu, NULL);
	pthread_cond_init(&f->ev.cv, NULL);
	nbd_srv_path(&f->srv, "disk.img", f->disk, sizeof(f->disk));
	int fd = open(f->disk, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK), 0);
	close(fd);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->b)
		vs_bdev_close(f->b);
	nbd_srv_fini(&f->srv);
	free(f);
	return 0;
}

/* Open an nbd stack on f's server: key, value pairs, NULL-terminated. */
static struct vs_bdev *open_nbd_v(struct fx *f, const char *uri, va_list ap)
{
	struct vs_kv kv[16];
	size_t n = 0;
	const char *k;

	if (uri)
		kv[n++] = (struct vs_kv){ "uri", uri };
	while ((k = va_arg(ap, const char *)) && n < 16) {
		kv[n].key = k;
		kv[n++].value = va_arg(ap, const char *);
	}
	struct vs_bdev_desc d = { .kind = VS_LAYER_BACKEND, .name = "nbd", .opts = kv, .nopts = n };
	struct vs_bdev_open_args a = { .loops = grp };
	struct vs_bdev *b = vs_bdev_open_stack(&d, &a);

	if (b)
		vs_bdev_set_event_handler(b, on_event, &f->ev);
	return b;
}

static struct vs_bdev *open_nbd(struct fx *f, ...) __attribute__((sentinel));
static struct vs_bdev *open_nbd(struct fx *f, ...)
{
	va_list ap;

	va_start(ap, f);
	struct vs_bdev *b = open_nbd_v(f, f->srv.uri, ap);
	va_end(ap);
	if (!b)
		print_message("open: %s\n", vs_last_error());
	return b;
}

static void stats(struct vs_bdev *b, struct nbd_stats *s)
{
	void *h = vs_bdev_backend_handle(b, "nbd");

	assert_non_null(h);
	vs_nbd_backend_stats(h, s);
}

#define ST(s, f) atomic_load(&(s).f)

/* The file under nbdkit, straight from disk. */
static void file_read(struct fx *f, uint64_t off, void *buf, size_t len)
{
	int fd = open(f->disk, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* ---------------------------------------------------------------- tests */

static void test_bad_options(void **state)
{
	struct fx *f = *state;
	struct vs_bdev *b;

	/* nothing listens there */
	b = open_nbd(f, "connect_timeout", "2s", NULL);
	assert_null(b);
	assert_non_null(strstr(vs_last_error(), "uri: cannot connect to"));
	assert_non_null(strstr(vs_last_error(), f->srv.sock));

	assert_true(nbd_srv_nbdkit(&f->srv, "memory", "1M", NULL));
	b = open_nbd(f, "cache", "maybe", NULL);
	assert_null(b);
	assert_non_null(strstr(vs_last_error(), "cache"));
	b = open_nbd(f, "connections", "17", NULL);
	assert_null(b);
	assert_non_null(strstr(vs_last_error(), "connections"));
	/* an export the server does not have (nbdkit's exportname filter
	 * is not loaded: memory serves "" only when strict) */
	nbd_srv_clear(&f->srv);
	assert_true(nbd_srv_nbdkit(&f->srv, "--filter=exportname", "memory", "1M",
	                           "exportname-strict=true", "exportname=one", NULL));
	b = open_nbd(f, "export", "two", NULL);
	assert_null(b);
	assert_non_null(strstr(vs_last_error(), "uri: cannot connect to"));
	assert_non_null(strstr(vs_last_error(), "two"));
	f->b = open_nbd(f, "export", "one", NULL);
	assert_non_null(f->b);
	assert_int_equal(vs_bdev_get_size(f->b), 1u << 20);
	/* no event loops: refused, saying why */
	struct vs_kv kv[] = { { "uri", f->srv.uri } };
	struct vs_bdev_desc d = { .kind = VS_LAYER_BACKEND, .name = "nbd", .opts = kv, .nopts = 1 };
	struct vs_bdev_open_args a = { 0 };
	assert_null(vs_bdev_open_stack(&d, &a));
	assert_non_null(strstr(vs_last_error(), "event loops"));
}

static void test_data_and_caps(void **state)
{
	struct fx *f = *state;
	uint8_t *w = malloc(256 * 1024), *r = malloc(256 * 1024);
	struct vs_backend_caps caps;
	struct nbd_stats s;
	bool mapped;
	uint64_t ext;

	assert_true(nbd_srv_nbdkit(&f->srv, "memory", "16M", NULL));
	f->b = open_nbd(f, NULL);
	assert_non_null(f->b);
	assert_int_equal(vs_bdev_get_size(f->b), DISK);
	vs_bdev_get_caps(f->b, &caps);
	assert_true(caps.can_write);
	assert_true(caps.has_write_cache);      /* nbdkit memory can flush */
	assert_true(caps.can_flush);
	assert_true(caps.can_fua);
	assert_true(caps.can_unmap);
	assert_true(caps.unmap_zeroes);
	assert_true(caps.can_zero);
	assert_false(caps.can_resize);
	assert_true(vs_bdev_has_block_status(f->b));

	fill(w, 256 * 1024, 1);
	assert_int_equal(io_sync(f->b, VS_BIO_WRITE, 0, BLK, w, 256 * 1024), 0);
	assert_int_equal(io_sync(f->b, VS_BIO_READ, 0, BLK, r, 256 * 1024), 0);
	assert_memory_equal(w, r, 256 * 1024);
	stats(f->b, &s);
	assert_int_equal(ST(s, copied_bytes), 256 * 1024);    /* kept for replay */
	assert_int_equal(ST(s, dirty_bytes), 256 * 1024);
	assert_int_equal(io_sync(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), 0);
	stats(f->b, &s);
	assert_int_equal(ST(s, dirty_bytes), 0);              /* the flush covered them */
	/* FUA: durable when answered, no copy */
	assert_int_equal(io_sync(f->b, VS_BIO_WRITE, VS_BIO_FUA, 0, w, BLK), 0);
	stats(f->b, &s);
	assert_int_equal(ST(s, copied_bytes), 256 * 1024);
	assert_int_equal(ST(s, dirty_bytes), 0);

	/* block status: written data mapped, the rest a hole */
	assert_int_equal(vs_bdev_block_status(f->b, BLK, 64 * BLK, &mapped, &ext), 0);
	assert_true(mapped);
	assert_int_equal(vs_bdev_block_status(f->b, 8u << 20, 1u << 20, &mapped, &ext), 0);
	assert_false(mapped);
	assert_int_equal(ext, 1u << 20);
	/* UNMAP: zeroes after, and deallocated (whole pages of nbdkit's) */
	assert_int_equal(io_sync(f->b, VS_BIO_WRITE, 0, 1u << 20, w, 256 * 1024), 0);
	assert_int_equal(vs_bdev_block_status(f->b, 1u << 20, 256 * 1024, &mapped, &ext), 0);
	assert_true(mapped);
	assert_int_equal(io_sync(f->b, VS_BIO_UNMAP, 0, 1u << 20, NULL, 256 * 1024), 0);
	assert_int_equal(io_sync(f->b, VS_BIO_READ, 0, 1u << 20, r, 256 * 1024), 0);
	for (unsigned i = 0; i < 256 * 1024; i++)
		assert_int_equal(r[i], 0);
	assert_int_equal(vs_bdev_block_status(f->b, 1u << 20, 256 * 1024, &mapped, &ext), 0);
	assert_false(mapped);
	assert_int_equal(ext, 256 * 1024);
	/* WRITE ZEROES keeps it allocated unless trimming is allowed */
	assert_int_equal(io_sync(f->b, VS_BIO_WRITE_ZEROES, 0, 128 * 1024, NULL, 64 * 1024), 0);
	assert_int_equal(io_sync(f->b, VS_BIO_READ, 0, 128 * 1024, r, 64 * 1024), 0);
	for (unsigned i = 0; i < 64 * 1024; i++)
		assert_int_equal(r[i], 0);
	/* bad requests: refused at submit */
	struct vs_bio bad = { .op = VS_BIO_READ, .offset = DISK, .length = BLK, .iov = NULL };
	assert_int_equal(vs_bdev_submit(f->b, &bad), -EINVAL);
	assert_int_equal(vs_bdev_block_status(f->b, DISK, BLK, &mapped, &ext), -EINVAL);
	free(w);
	free(r);
}

/* nbdkit's log filter: count lines of the log file holding all of the words */
static int log_count(struct fx *f, const char *a, const char *b)
{
	char path[200], line[1024];
	int n = 0;
	FILE *lf = fopen(nbd_srv_path(&f->srv, "nbdkit.log", path, sizeof(path)), "r");

	if (!lf)
		return -1;
	while (fgets(line, sizeof(line), lf))
		if (strstr(line, a) && (!b || strstr(line, b)))
			n++;
	fclose(lf);
	return n;
}

static void test_cache_off_sends_fua(void **state)
{
	struct fx *f = *state;
	uint8_t buf[BLK];
	struct vs_backend_caps caps;
	struct nbd_stats s;
	char logp[200], arg[240];

	snprintf(arg, sizeof(arg), "logfile=%s", nbd_srv_path(&f->srv, "nbdkit.log", logp,
	                                                       sizeof(logp)));
	assert_true(nbd_srv_nbdkit(&f->srv, "--filter=log", "memory", "16M", arg, NULL));
	f->b = open_nbd(f, "cache", "off", NULL);
	assert_non_null(f->b);
	vs_bdev_get_caps(f->b, &caps);
	assert_false(caps.has_write_cache);     /* WCE=0: nothing volatile */
	assert_false(caps.can_flush);
	assert_true(caps.can_fua);
	fill(buf, BLK, 3);
	for (int i = 0; i < 10; i++)
		assert_int_equal(io_sync(f->b, VS_BIO_WRITE, 0, (uint64_t)i * BLK, buf, BLK), 0);
	assert_int_equal(io_sync(f->b, VS_BIO_WRITE_ZEROES, 0, 64 * BLK, NULL, BLK), 0);
	stats(f->b, &s);
	assert_int_equal(ST(s, copied_bytes), 0);       /* no copy */
	vs_bdev_close(f->b);
	f->b = NULL;
	nbd_srv_kill(&f->srv, SIGTERM);         /* the log is complete once it exits */
	/* every write and zeroing carried FUA */
	assert_int_equal(log_count(f, " Write id=", "fua=1"), 10);
	assert_int_equal(log_count(f, " Write id=", "offset="), 10);
	assert_int_equal(log_count(f, " Zero id=", "fua=1"), 1);

	/* the default: plain writes, a flush when asked */
	assert_true(nbd_srv_restart(&f->srv));
	f->b = open_nbd(f, NULL);
	assert_non_null(f->b);
	for (int i = 0; i < 5; i++)
		assert_int_equal(io_sync(f->b, VS_BIO_WRITE, 0, (uint64_t)i * BLK, buf, BLK), 0);
	assert_int_equal(io_sync(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), 0);
	vs_bdev_close(f->b);
	f->b = NULL;
	nbd_srv_kill(&f->srv, SIGTERM);
	/* (the log starts again with each run of nbdkit) */
	assert_int_equal(log_count(f, " Write id=", "fua=1"), 0);
	assert_int_equal(log_count(f, " Write id=", "offset="), 5);
	assert_true(log_count(f, " Flush id=", NULL) >= 1);
}

static void test_dirty_budget_forces_flushes(void **state)
{
	struct fx *f = *state;
	uint8_t *buf = malloc(64 * 1024);
	struct nbd_stats s;

	assert_true(nbd_srv_nbdkit(&f->srv, "memory", "16M", NULL));
	f->b = open_nbd(f, "dirty_limit", "1M", NULL);
	assert_non_null(f->b);
	fill(buf, 64 * 1024, 5);
	/* 8 MiB through a 1 MiB log: it must flush on its own */
	for (uint64_t off = 0; off < (8u << 20); off += 64 * 1024)
		assert_int_equal(io_sync(f->b, VS_BIO_WRITE, 0, off, buf, 64 * 1024), 0);
	stats(f->b, &s);
	assert_true(ST(s, budget_flushes) >= 8);
	assert_true(ST(s, dirty_peak) <= (1u << 20));
	assert_int_equal(ST(s, copied_bytes), 8u << 20);
	/* a write larger than a quarter of the log goes with FUA, uncopied */
	uint8_t *big = malloc(512 * 1024);
	fill(big, 512 * 1024, 6);
	assert_int_equal(io_sync(f->b, VS_BIO_WRITE, 0, 0, big, 512 * 1024), 0);
	stats(f->b, &s);
	assert_int_equal(ST(s, copied_bytes), 8u << 20);
	free(big);
	free(buf);
}

/* nbdkit file + cache=writeback: what it has not flushed dies with it */
static bool start_writeback(struct fx *f)
{
	nbd_srv_clear(&f->srv);
	return nbd_srv_nbdkit(&f->srv, "--filter=cache", "file", f->disk, "cache=writeback", NULL);
}

/* Open on f's server (started), write one block (acknowledged, not
 * flushed), kill the server and wait for LOST. */
static void write_one_then_kill(struct fx *f, uint8_t *buf, uint32_t seed)
{
	f->b = open_nbd(f, NULL);
	assert_non_null(f->b);
	fill(buf, BLK, seed);
	assert_int_equal(io_sync(f->b, VS_BIO_WRITE, 0, 0, buf, BLK), 0);
	nbd_srv_kill(&f->srv, SIGKILL);
	assert_true(ev_wait(&f->ev, VS_BDEV_EV_LOST, 0, 5000) >= 0);
}

static void test_kill_replays_acknowledged_writes(void **state)
{
	struct fx *f = *state;
	const unsigned n = 64;
	uint8_t *w = malloc(n * BLK), *r = malloc(n * BLK), *disk = malloc(n * BLK);
	struct nbd_stats s;
	struct io held;
	int lost_at, back_at;

	assert_true(start_writeback(f));
	f->b = open_nbd(f, "hold_timeout", "30s", NULL);
	assert_non_null(f->b);
	fill(w, n * BLK, 9);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(io_sync(f->b, VS_BIO_WRITE, 0, (uint64_t)i * BLK, w + i * BLK, BLK), 0);
	stats(f->b, &s);
	assert_int_equal(ST(s, dirty_bytes), n * BLK);

	nbd_srv_kill(&f->srv, SIGKILL);
	/* the server's cache died with it: the file does not have them */
	file_read(f, 0, disk, n * BLK);
	assert_memory_not_equal(disk, w, BLK);
	lost_at = ev_wait(&f->ev, VS_BDEV_EV_LOST, 0, 5000);
	assert_true(lost_at >= 0);
	assert_int_equal(f->ev.hold[lost_at], 30000);
	/* a read while it is away waits for it */
	io_start(f->b, &held, VS_BIO_READ, 0, 0, r, n * BLK);
	ls_sleep_ms(300);
	assert_false(io_finished(&held));

	assert_true(start_writeback(f));
	back_at = ev_wait(&f->ev, VS_BDEV_EV_BACK, lost_at, 10000);
	assert_true(back_at > lost_at);
	assert_non_null(strstr(f->ev.why[back_at], "same export"));
	assert_int_equal(io_wait(&held, 10000), 0);
	assert_memory_equal(r, w, n * BLK);
	stats(f->b, &s);
	assert_int_equal(ST(s, losses), 1);
	assert_int_equal(ST(s, reconnects), 1);
	assert_int_equal(ST(s, replayed), n);
	assert_int_equal(ST(s, replayed_bytes), n * BLK);
	assert_int_equal(ST(s, lost_bytes), 0);
	/* flushed now: on the file itself */
	assert_int_equal(io_sync(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), 0);
	file_read(f, 0, disk, n * BLK);
	assert_memory_equal(disk, w, n * BLK);
	/* and once more: nothing dirty, nothing to replay */
	nbd_srv_kill(&f->srv, SIGKILL);
	assert_true(ev_wait(&f->ev, VS_BDEV_EV_LOST, back_at + 1, 5000) > back_at);
	assert_true(start_writeback(f));
	assert_true(ev_wait(&f->ev, VS_BDEV_EV_BACK, back_at + 1, 10000) > back_at);
	stats(f->b, &s);
	assert_int_equal(ST(s, replayed), n);
	assert_int_equal(io_sync(f->b, VS_BIO_READ, 0, 0, r, n * BLK), 0);
	assert_memory_equal(r, w, n * BLK);
	free(w);
	free(r);
	free(disk);
}

static void test_writes_in_flight_at_the_kill(void **state)
{
	struct fx *f = *state;
	enum { N = 48 };
	static struct io ios[N];
	uint8_t *w = malloc(N * BLK), *r = malloc(N * BLK);

	/* a slow server, so writes are on their way when it dies */
	assert_true(nbd_srv_nbdkit(&f->srv, "--filter=delay", "--filter=cache", "file", f->disk,
	                           "cache=writeback", "delay-write=200ms", NULL));
	f->b = open_nbd(f, NULL);
	assert_non_null(f->b);
	fill(w, N * BLK, 11);
	/* overlapping writes acknowledged in turn: the last must win */
	assert_int_equal(io_sync(f->b, VS_BIO_WRITE, 0, 0, w + BLK, BLK), 0);
	for (int i = 0; i < N; i++)
		io_start(f->b, &ios[i], VS_BIO_WRITE, 0, (uint64_t)i * BLK, w + i * BLK, BLK);
	ls_sleep_ms(50);
	nbd_srv_kill(&f->srv, SIGKILL);
	assert_true(ev_wait(&f->ev, VS_BDEV_EV_LOST, 0, 5000) >= 0);
	for (int i = 0; i < N; i++)
		if (io_finished(&ios[i]))
			fail_msg("write %d finished (%d) while the server was away", i, ios[i].err);
	assert_true(start_writeback(f));
	for (int i = 0; i < N; i++)
		assert_int_equal(io_wait(&ios[i], 15000), 0);
	assert_int_equal(io_sync(f->b, VS_BIO_READ, 0, 0, r, N * BLK), 0);
	assert_memory_equal(r, w, N * BLK);
	free(w);
	free(r);
}

static void test_hold_timeout_then_back(void **state)
{
	struct fx *f = *state;
	uint8_t buf[BLK], r[BLK];
	struct io held;
	struct nbd_stats s;
	int lost_at, over_at, back_at;

	assert_true(start_writeback(f));
	f->b = open_nbd(f, "hold_timeout", "400ms", NULL);
	assert_non_null(f->b);
	fill(buf, BLK, 13);
	assert_int_equal(io_sync(f->b, VS_BIO_WRITE, 0, 0, buf, BLK), 0);   /* dirty */
	nbd_srv_kill(&f->srv, SIGKILL);
	lost_at = ev_wait(&f->ev, VS_BDEV_EV_LOST, 0, 5000);
	assert_true(lost_at >= 0);
	assert_int_equal(f->ev.hold[lost_at], 400);
	io_start(f->b, &held, VS_BIO_READ, 0, 0, r, BLK);
	/* past hold_timeout: "not connected" (NOT READY, becoming ready) */
	assert_int_equal(io_wait(&held, 3000), -ENOTCONN);
	over_at = ev_wait(&f->ev, VS_BDEV_EV_LOST, lost_at + 1, 3000);
	assert_true(over_at > lost_at);
	assert_int_equal(f->ev.hold[over_at], 0);
	assert_non_null(strstr(f->ev.why[over_at], "hold_timeout"));
	assert_int_equal(io_sync(f->b, VS_BIO_READ, 0, 0, r, BLK), -ENOTCONN);
	assert_int_equal(io_sync(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), -ENOTCONN);
	stats(f->b, &s);
	assert_int_equal(ST(s, dirty_bytes), BLK);     /* kept for when it returns */
	ls_sleep_ms(700);
	assert_true(start_writeback(f));
	back_at = ev_wait(&f->ev, VS_BDEV_EV_BACK, over_at, 10000);
	assert_true(back_at > over_at);
	assert_int_equal(io_sync(f->b, VS_BIO_READ, 0, 0, r, BLK), 0);
	assert_memory_equal(r, buf, BLK);          /* the acknowledged write survived */
	assert_int_equal(io_sync(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), 0);
}

static void test_request_timeout_on_a_silent_server(void **state)
{
	struct fx *f = *state;
	uint8_t w[BLK], r[BLK];
	struct io io;
	struct nbd_stats s;

	assert_true(start_writeback(f));
	f->b = open_nbd(f, "request_timeout", "300ms", "connect_timeout", "300ms", NULL);
	assert_non_null(f->b);
	fill(w, BLK, 15);
	assert_int_equal(io_sync(f->b, VS_BIO_WRITE, 0, 0, w, BLK), 0);
	nbd_srv_signal(&f->srv, SIGSTOP);          /* connected, never answering */
	io_start(f->b, &io, VS_BIO_READ, 0, 0, r, BLK);
	assert_true(ev_wait(&f->ev, VS_BDEV_EV_LOST, 0, 3000) >= 0);
	assert_non_null(strstr(f->ev.why[0], "request_timeout"));
	ls_sleep_ms(800);                          /* connect attempts time out too */
	assert_false(io_finished(&io));
	nbd_srv_signal(&f->srv, SIGCONT);
	assert_int_equal(io_wait(&io, 10000), 0);
	assert_memory_equal(r, w, BLK);
	stats(f->b, &s);
	assert_int_equal(ST(s, losses), 1);
	assert_int_equal(ST(s, reconnects), 1);
}

static void test_different_export_fails(void **state)
{
	struct fx *f = *state;
	uint8_t buf[BLK];
	struct nbd_stats s;
	int at;

	assert_true(start_writeback(f));
	write_one_then_kill(f, buf, 17);
	/* back with another size: not the same disk */
	nbd_srv_clear(&f->srv);
	assert_true(nbd_srv_nbdkit(&f->srv, "memory", "8M", NULL));
	at = ev_wait(&f->ev, VS_BDEV_EV_FAILED, 0, 10000);
	assert_true(at >= 0);
	assert_non_null(strstr(f->ev.why[at], "size was 16777216 bytes, is 8388608"));
	assert_non_null(strstr(f->ev.why[at], "are lost"));
	stats(f->b, &s);
	assert_int_equal(ST(s, lost_bytes), BLK);
	/* nothing is sent: writes fail, the next FLUSH says data was lost */
	assert_int_equal(io_sync(f->b, VS_BIO_WRITE, 0, 0, buf, BLK), -ENODEV);
	assert_int_equal(io_sync(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), -ENOTRECOVERABLE);
	assert_int_equal(io_sync(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), -ENODEV);
	struct vs_bdev_status st;
	vs_bdev_get_status(f->b, &st);
	assert_int_equal(st.state, VS_BDEV_FAILED);
}

static void test_refused_replay_is_data_lost(void **state)
{
	struct fx *f = *state;
	uint8_t buf[BLK];
	struct nbd_stats s;
	char trig[200], arg[240];
	int at;

	nbd_srv_path(&f->srv, "inject", trig, sizeof(trig));
	snprintf(arg, sizeof(arg), "error-pwrite-file=%s", trig);
	assert_true(nbd_srv_nbdkit(&f->srv, "--filter=error", "memory", "16M", "error-pwrite=EIO",
	                           "error-pwrite-rate=100%", arg, NULL));
	write_one_then_kill(f, buf, 19);
	FILE *t = fopen(trig, "w");             /* from now on writes fail */
	assert_non_null(t);
	fclose(t);
	assert_true(nbd_srv_restart(&f->srv));
	at = ev_wait(&f->ev, VS_BDEV_EV_BACK, 0, 10000);
	assert_true(at >= 0);
	assert_non_null(strstr(f->ev.why[at], "lost"));
	stats(f->b, &s);
	assert_int_equal(ST(s, lost_bytes), BLK);
	unlink(trig);
	/* said once, by the next FLUSH */
	assert_int_equal(io_sync(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), -ENOTRECOVERABLE);
	assert_int_equal(io_sync(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), 0);
	/* an ordinary write error is the write's own */
	t = fopen(trig, "w");
	fclose(t);
	assert_int_equal(io_sync(f->b, VS_BIO_WRITE, 0, 0, buf, BLK), -EIO);
	unlink(trig);
	assert_int_equal(io_sync(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), 0);
}

static void test_cancel_and_reset_while_away(void **state)
{
	struct fx *f = *state;
	uint8_t r[3][BLK];
	struct io a, b, c;

	assert_true(nbd_srv_nbdkit(&f->srv, "memory", "16M", NULL));
	f->b = open_nbd(f, NULL);
	assert_non_null(f->b);
	nbd_srv_kill(&f->srv, SIGKILL);
	assert_true(ev_wait(&f->ev, VS_BDEV_EV_LOST, 0, 5000) >= 0);
	io_start(f->b, &a, VS_BIO_READ, 0, 0, r[0], BLK);
	io_start(f->b, &b, VS_BIO_READ, 0, BLK, r[1], BLK);
	io_start(f->b, &c, VS_BIO_READ, 0, 2 * BLK, r[2], BLK);
	ls_sleep_ms(100);                       /* they reached the loop */
	assert_true(vs_bdev_cancel(f->b, &a.bio));
	assert_int_equal(io_wait(&a, 2000), -ECANCELED);
	assert_false(vs_bdev_cancel(f->b, &a.bio));     /* not there any more */
	vs_bdev_reset(f->b);
	assert_int_equal(io_wait(&b, 2000), -ECANCELED);
	assert_int_equal(io_wait(&c, 2000), -ECANCELED);
	struct vs_bio never = { 0 };
	assert_false(vs_bdev_cancel(f->b, &never));
	assert_true(nbd_srv_restart(&f->srv));
	assert_true(ev_wait(&f->ev, VS_BDEV_EV_BACK, 0, 10000) >= 0);
	assert_int_equal(io_sync(f->b, VS_BIO_READ, 0, 0, r[0], BLK), 0);
}

static void test_multi_conn(void **state)
{
	struct fx *f = *state;
	enum { N = 64 };
	static struct io ios[N];
	uint8_t *w = malloc(N * BLK), *r = malloc(N * BLK);
	struct nbd_stats s;

	assert_true(nbd_srv_nbdkit(&f->srv, "--filter=cache", "file", f->disk, "cache=writeback",
	                           NULL));
	f->b = open_nbd(f, "connections", "4", NULL);
	assert_non_null(f->b);
	stats(f->b, &s);
	assert_int_equal(ST(s, connections), 4);
	fill(w, N * BLK, 21);
	for (int i = 0; i < N; i++)
		io_start(f->b, &ios[i], VS_BIO_WRITE, 0, (uint64_t)i * BLK, w + i * BLK, BLK);
	for (int i = 0; i < N; i++)
		assert_int_equal(io_wait(&ios[i], 10000), 0);
	nbd_srv_kill(&f->srv, SIGKILL);
	assert_true(start_writeback(f));
	assert_true(ev_wait(&f->ev, VS_BDEV_EV_BACK, 0, 10000) >= 0);
	assert_int_equal(io_sync(f->b, VS_BIO_READ, 0, 0, r, N * BLK), 0);
	assert_memory_equal(r, w, N * BLK);
	vs_bdev_close(f->b);
	/* a server without multi-conn gets one */
	f->b = NULL;
	nbd_srv_clear(&f->srv);
	assert_true(nbd_srv_nbdkit(&f->srv, "--filter=multi-conn", "memory", "16M",
	                           "multi-conn-mode=disable", NULL));
	f->b = open_nbd(f, "connections", "4", NULL);
	assert_non_null(f->b);
	stats(f->b, &s);
	assert_int_equal(ST(s, connections), 1);
	free(w);
	free(r);
}

static void test_tls_psk(void **state)
{
	struct fx *f = *state;
	char keys[200], karg[240], uri[400];
	uint8_t w[BLK], r[BLK];

	nbd_srv_path(&f->srv, "keys.psk", keys, sizeof(keys));
	FILE *k = fopen(keys, "w");
	assert_non_null(k);
	fprintf(k, "vstor:2fd65b6a86cdd4a0adea82d5d1f3b6bd\n");
	fclose(k);
	snprintf(karg, sizeof(karg), "--tls-psk=%s", keys);
	if (!nbd_srv_nbdkit(&f->srv, "--tls=require", karg, "memory", "16M", NULL))
		skip();         /* nbdkit built without TLS */
	/* plain NBD is refused by a server that requires TLS */
	assert_null(open_nbd(f, "connect_timeout", "2s", NULL));
	snprintf(uri, sizeof(uri), "nbds+unix://vstor@/?socket=%s&tls-psk-file=%s", f->srv.sock,
	         keys);
	struct vs_kv kv[] = { { "uri", uri } };
	struct vs_bdev_desc d = { .kind = VS_LAYER_BACKEND, .name = "nbd", .opts = kv, .nopts = 1 };
	struct vs_bdev_open_args a = { .loops = grp };
	f->b = vs_bdev_open_stack(&d, &a);
	assert_non_null(f->b);
	fill(w, BLK, 23);
	assert_int_equal(io_sync(f->b, VS_BIO_WRITE, 0, 0, w, BLK), 0);
	assert_int_equal(io_sync(f->b, VS_BIO_READ, 0, 0, r, BLK), 0);
	assert_memory_equal(r, w, BLK);
}

/* The same round trip and replay over qemu-nbd and nbd-server. */
static void roundtrip_and_replay(struct fx *f, bool can_replay)
{
	uint8_t *w = malloc(32 * BLK), *r = malloc(32 * BLK);
	struct vs_backend_caps caps;

	f->b = open_nbd(f, NULL);
	assert_non_null(f->b);
	assert_int_equal(vs_bdev_get_size(f->b), DISK);
	vs_bdev_get_caps(f->b, &caps);
	assert_true(caps.can_write);
	fill(w, 32 * BLK, 25);
	assert_int_equal(io_sync(f->b, VS_BIO_WRITE, 0, 0, w, 32 * BLK), 0);
	assert_int_equal(io_sync(f->b, VS_BIO_WRITE, VS_BIO_FUA, 40 * BLK, w, BLK), 0);
	assert_int_equal(io_sync(f->b, VS_BIO_READ, 0, 0, r, 32 * BLK), 0);
	assert_memory_equal(r, w, 32 * BLK);
	if (caps.can_flush)
		assert_int_equal(io_sync(f->b, VS_BIO_FLUSH, 0, 0, NULL, 0), 0);
	if (can_replay) {
		nbd_srv_kill(&f->srv, SIGKILL);
		assert_true(nbd_srv_restart(&f->srv));
		assert_true(ev_wait(&f->ev, VS_BDEV_EV_BACK, 0, 10000) >= 0);
		assert_int_equal(io_sync(f->b, VS_BIO_READ, 0, 0, r, 32 * BLK), 0);
		assert_memory_equal(r, w, 32 * BLK);
	}
	free(w);
	free(r);
}

static void test_qemu_nbd(void **state)
{
	struct fx *f = *state;

	if (!nbd_srv_have("qemu-nbd"))
		skip();
	assert_true(nbd_srv_qemu(&f->srv, "-f", "raw", "--cache=writeback", f->disk, NULL));
	roundtrip_and_replay(f, true);
}

static void test_nbd_server(void **state)
{
	struct fx *f = *state;

	if (!nbd_srv_have("nbd-server"))
		skip();
	assert_true(nbd_srv_nbd_server(&f->srv, f->disk));
	roundtrip_and_replay(f, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_and_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_off_sends_fua, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_budget_forces_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_replays_acknowledged_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writes_in_flight_at_the_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_timeout_then_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_timeout_on_a_silent_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_different_export_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_replay_is_data_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_and_reset_while_away, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_conn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_psk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_nbd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nbd_server, setup, teardown),
	};
	if (getenv("NBD_TEST"))         /* one test by name, while working on it */
		cmocka_set_test_filter(getenv("NBD_TEST"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
