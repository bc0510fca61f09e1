/* SPDX-License-Identifier: MIT */
/*
 * bench-volume: what the volumes cost, in-process on the block layer (no
 * disk emulation, no network), over file legs in one directory:
 *
 *   - mirror write cost: random writes through mirror(file,file) against
 *     the same writes to one file leg alone (ratio: mirror / one leg);
 *   - resync throughput: a new mirror map copies leg 0 to leg 1 in full,
 *     once idle and once while random writes go on (MB/s of the copy, and
 *     the writes per second meanwhile);
 *   - stripe over two file legs against one leg, for large writes
 *     (reported only: here both legs share one medium and two cores).
 *
 *   bench-volume [-t SECONDS] [-s SIZE] [-q QD] [-d DIR]
 *
 * Each leg is a file of SIZE (default 256M) written in full first, so no
 * request hits a hole; the files are removed at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vstor/bdev.h"
#include "vstor/loop.h"

#define MAX_QD 128

static const char *dir = "/var/tmp";
static uint64_t size = 256ull << 20;
static double seconds = 5;
static unsigned qd = 32;
static struct vs_loop_group *loops;
static char paths[3][256], meta[256];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill_file(const char *path)
{
	static char buf[1 << 20];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0) {
		perror(path);
		exit(2);
	}
	memset(buf, 0x5a, sizeof(buf));
	for (uint64_t off = 0; off < size; off += sizeof(buf))
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			perror(path);
			exit(2);
		}
	fsync(fd);
	close(fd);
}

/* ---- a stack over file legs ---- */

struct stack {
	struct vs_bdev_desc legs[2], top;
	struct vs_kv leg_kv[2][1], kv[4];
};

static struct vs_bdev *open_stack(struct stack *s, const char *type, size_t nlegs,
                                  const struct vs_kv *opts, size_t nopts)
{
	struct vs_bdev_open_args a = { .loops = loops, .max_requests = MAX_QD * 2 };
	struct vs_bdev *b;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < nlegs; i++) {
		s->leg_kv[i][0] = (struct vs_kv){ "path", paths[i] };
		s->legs[i] = (struct vs_bdev_desc){ .kind = VS_LAYER_BACKEND, .name = "file",
		                                    .opts = s->leg_kv[i], .nopts = 1 };
	}
	if (!type) {
		s->top = s->legs[0];
	} else {
		memcpy(s->kv, opts, nopts * sizeof(*opts));
		s->top = (struct vs_bdev_desc){ .kind = VS_LAYER_FILTER, .name = type, .opts = s->kv,
		                                .nopts = nopts, .lower = s->legs, .nlower = nlegs };
	}
	b = vs_bdev_open_stack(&s->top, &a);
	if (!b) {
		fprintf(stderr, "bench-volume: %s: %s\n", type ? type : "file", vs_last_error());
		exit(2);
	}
	return b;
}

/* ---- random writes at a queue depth ---- */

struct load;
struct req {
	struct vs_bio bio;
	struct iovec iov;
	struct load *l;
};

struct load {
	struct vs_bdev *b;
	uint64_t bs, span;
	double secs;                    /* 0: until stop */
	_Atomic bool stop;
	uint64_t done, errors;          /* under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct req r[MAX_QD];
	struct req *free[MAX_QD];
	unsigned nfree;
	uint8_t *buf;
	uint64_t seed;
	double elapsed;
};

static void req_done(struct vs_bio *bio, int err)
{
	struct req *r = bio->ctx;
	struct load *l = r->l;

	pthread_mutex_lock(&l->mu);
	l->errors += err != 0;
	l->done++;
	l->free[l->nfree++] = r;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static void *run_load(void *arg)
{
	struct load *l = arg;
	double t0 = now();

	l->buf = aligned_alloc(4096, qd * l->bs);
	memset(l->buf, 0xa5, qd * l->bs);
	for (unsigned i = 0; i < qd; i++) {
		l->r[i] = (struct req){ .iov = { l->buf + i * l->bs, l->bs }, .l = l };
		l->free[i] = &l->r[i];
	}
	l->nfree = qd;
	pthread_mutex_lock(&l->mu);
	while (!atomic_load(&l->stop) && (l->secs <= 0 || now() - t0 < l->secs)) {
		struct req *r;

		while (!l->nfree)
			pthread_cond_wait(&l->cv, &l->mu);
		r = l->free[--l->nfree];
		pthread_mutex_unlock(&l->mu);
		l->seed = l->seed * 6364136223846793005ull + 1442695040888963407ull;
		r->bio = (struct vs_bio){ .op = VS_BIO_WRITE,
		                          .offset = (l->seed >> 24) % (l->span / l->bs) * l->bs,
		                          .length = l->bs, .iov = &r->iov, .iovcnt = 1,
		                          .done = req_done, .ctx = r };
		if (vs_bdev_submit(l->b, &r->bio) < 0) {
			pthread_mutex_lock(&l->mu);
			l->errors++;
			l->free[l->nfree++] = r;
			continue;
		}
		pthread_mutex_lock(&l->mu);
	}
	while (l->nfree < qd)
		pthread_cond_wait(&l->cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
	l->elapsed = now() - t0;
	free(l->buf);
	return NULL;
}

/* writes/s of bs-byte random writes through b for `seconds`, after one
 * second of the same not measured (a mirror's first write to each region
 * waits for a map update; the page cache settles) */
static double write_rate(struct vs_bdev *b, uint64_t bs, uint64_t *errors)
{
	struct load warm = { .b = b, .bs = bs, .span = vs_bdev_get_size(b), .secs = 1,
	                     .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
	                     .seed = 3 };
	struct load l = { .b = b, .bs = bs, .span = vs_bdev_get_size(b), .secs = seconds,
	                  .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
	                  .seed = 1 };

	run_load(&warm);
	*errors += warm.errors;
	run_load(&l);
	*errors += l.errors;
	return (double)l.done / l.elapsed;
}

/* ---- the mirror's state ---- */

static void grab(void *ctx, const char *key, const char *value)
{
	if (!strcmp(key, "state"))
		snprintf(ctx, 64, "%s", value);
}

static double wait_in_sync(struct vs_bdev *b)
{
	double t0 = now();
	char st[64] = "";

	for (;;) {
		vs_bdev_layer_state(b, 0, grab, st);
		if (!strcmp(st, "in sync"))
			return now() - t0;
		if (now() - t0 > 600) {
			fprintf(stderr, "bench-volume: the resync did not end in 10 minutes\n");
			exit(2);
		}
		usleep(2000);
	}
}

int main(int argc, char **argv)
{
	uint64_t errors = 0;
	struct stack s;
	struct vs_bdev *b;
	double one4, mir4, one256, str256, idle_s, busy_s, busy_rate;
	int c;

	while ((c = getopt(argc, argv, "t:s:q:d:h")) != -1) {
		switch (c) {
		case 't': seconds = atof(optarg); break;
		case 's':
			if (vs_parse_size(optarg, &size) < 0) {
				fprintf(stderr, "bench-volume: -s: '%s' is not a size\n", optarg);
				return 2;
			}
			break;
		case 'q': qd = (unsigned)atoi(optarg); break;
		case 'd': dir = optarg; break;
		default:
			fprintf(stderr, "usage: bench-volume [-t SECONDS] [-s SIZE] [-q QD] [-d DIR]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (qd < 1 || qd > MAX_QD || size < (4u << 20)) {
		fprintf(stderr, "bench-volume: -q 1-%u, -s at least 4M\n", MAX_QD);
		return 2;
	}
	loops = vs_loop_group_create(1, "bench");
	if (!loops || vs_loop_group_start(loops) < 0)
		return 2;
	for (int i = 0; i < 2; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/bench-volume-%d-%d.img", dir, (int)getpid(), i);
		fill_file(paths[i]);
	}
	snprintf(meta, sizeof(meta), "%s/bench-volume-%d.map", dir, (int)getpid());
	printf("bench-volume: legs of %llu MiB in %s, %.1f s per run, QD %u\n",
	       (unsigned long long)(size >> 20), dir, seconds, qd);

	/* mirror write cost: 4 KiB random writes */
	b = open_stack(&s, NULL, 1, NULL, 0);
	one4 = write_rate(b, 4096, &errors);
	vs_bdev_close(b);
	struct vs_kv mkv[] = { { "meta", meta }, { "assume_clean", "1" }, { "resync_rate", "0" } };
	unlink(meta);
	b = open_stack(&s, "mirror", 2, mkv, 3);
	mir4 = write_rate(b, 4096, &errors);
	vs_bdev_close(b);
	printf("mirror write 4K QD%u: one leg %.0f/s, mirror(file,file) %.0f/s: ratio %.2f\n", qd,
	       one4, mir4, mir4 / one4);

	/* resync: a new map copies leg 0 to leg 1 in full */
	struct vs_kv rkv[] = { { "meta", meta }, { "resync_rate", "0" } };
	unlink(meta);
	b = open_stack(&s, "mirror", 2, rkv, 2);
	idle_s = wait_in_sync(b);
	vs_bdev_close(b);
	unlink(meta);
	b = open_stack(&s, "mirror", 2, rkv, 2);
	{
		struct load l = { .b = b, .bs = 4096, .span = vs_bdev_get_size(b), .secs = 0,
		                  .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
		                  .seed = 7 };
		pthread_t t;

		pthread_create(&t, NULL, run_load, &l);
		busy_s = wait_in_sync(b);
		atomic_store(&l.stop, true);
		pthread_join(t, NULL);
		busy_rate = (double)l.done / l.elapsed;
		errors += l.errors;
	}
	vs_bdev_close(b);
	printf("resync %llu MiB, no limit: idle %.0f MB/s (%.2f s); under 4K random writes QD%u "
	       "%.0f MB/s (%.2f s), the writes meanwhile %.0f/s (%.0f%% of one leg alone)\n",
	       (unsigned long long)(size >> 20), size / idle_s / 1e6, idle_s, qd,
	       size / busy_s / 1e6, busy_s, busy_rate, 100 * busy_rate / one4);

	/* stripe over two legs against one: 256 KiB writes */
	b = open_stack(&s, NULL, 1, NULL, 0);
	one256 = write_rate(b, 256 << 10, &errors);
	vs_bdev_close(b);
	struct vs_kv skv[] = { { "chunk", "64K" } };
	b = open_stack(&s, "stripe", 2, skv, 1);
	str256 = write_rate(b, 256 << 10, &errors);
	vs_bdev_close(b);
	printf("stripe write 256K QD%u: one leg %.0f MB/s, stripe(file,file) chunk 64K %.0f MB/s: "
	       "ratio %.2f (reported only: both legs on one medium, two cores)\n", qd,
	       one256 * (256 << 10) / 1e6, str256 * (256 << 10) / 1e6, str256 / one256);
	printf("bench-volume: errors=%llu\n", (unsigned long long)errors);

	for (int i = 0; i < 2; i++)
		unlink(paths[i]);
	unlink(meta);
	vs_loop_group_destroy(loops);
	return errors ? 1 : 0;
}
