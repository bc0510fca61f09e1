/* SPDX-License-Identifier: MIT */
/*
 * bench-inproc: 4 KiB random READ(16)/WRITE(16) through port -> vdisk ->
 * a backend, no network, at the given queue depths, from one or more
 * submitting threads.  Prints SRBs per second, ns per SRB, the process's
 * CPU time per SRB, and how many allocations happened while measuring (the
 * I/O path must not allocate: that number must be 0).
 *
 *   bench-inproc [-t seconds_per_case] [-s size] [-q qd[,qd...]] [-j threads]
 *                [-b ram|file] [-p path] [-o key=value]... [-c read|write]
 *                [-f filter[,key=value...]]... [-v volume[,key=value...] [-n legs]] [-C]
 *
 * Reads take data-in by reference, as the iSCSI fabric does (srb.h
 * data_ref: a RAM disk lends its memory instead of copying into the SRB's
 * buffer); -C refuses that, so every read copies (the path of a fabric
 * that needs its own copy, e.g. iSCSI with data digests).
 *
 * -b file measures the file backend: without -p a new file of -s bytes in
 * /var/tmp (written in full first, so no read hits a hole, and removed at
 * exit), e.g. `-b file -s 256M -o direct=1 -j 2` for O_DIRECT from two
 * threads.  -o passes further backend options (rings=1, inline=0, ...).
 * -f puts a filter over the backend (the first -f is the top of the
 * stack), e.g. `-f crypt,key_file=/etc/vstor/k1`; the stack then gets a
 * group of one event loop for filters that time requests (`-f
 * throttle,iops=10M` measures what a limit costs that never holds).
 * -v puts a volume under the filters, over -n legs (default 2) that are
 * each a disk of the backend (ram only: a file leg would need a path each),
 * e.g. `-v mirror,meta=/tmp/b.map,assume_clean=1` or `-v stripe,chunk=4K`.
 *
 * Each submitter has its own I_T nexus and SRB pool and runs on an event
 * loop of its own (include/vstor/loop.h), as one iSCSI connection does:
 * each pass of the loop gives back what completed and submits up to the
 * queue depth, and the stack sees the loop's clock, read once per pass
 * (the port's latency statistics use it).  done() may run inline (ram) or
 * on a backend thread (file); either way it only hands the SRB to its
 * submitter's completion queue (and from another thread wakes the loop
 * with a message, as a fabric's completion does), and the submitter gives
 * it back and submits the next one, so the stack never grows with the
 * queue depth.  A loop with nothing to do sleeps in epoll_wait until a
 * completion arrives (no spinning: the CPU figure is what the work costs);
 * one with completions waiting runs its next pass at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "vstor/backend.h"
#include "vstor/loop.h"
#include "vstor/port.h"
#include "vstor/scsi.h"
#include "vstor/vdisk.h"

#include "malloc_count.h"

#define IO_SIZE     4096u
#define MAX_QD      256u
#define MAX_THREADS 16u
#define MAX_OPTS    16u
#define MAX_FILTERS 4u

/* -C clears it: reads copy into the SRB buffer. */
static bool accept_data_ref = true;

/*
 * Completed SRBs on their way from whichever thread ran done() to the
 * thread that owns them.  Producers take a slot with fetch_add; the owner
 * takes slots in order.  MAX_QD slots are enough: the owner's pool has
 * MAX_QD SRBs, and slot i is reused only by completion i + MAX_QD, which
 * needs an SRB that completion i gave back.
 */
struct doneq {
	_Atomic uint64_t tail;
	uint64_t head;                       /* the owner's */
	struct vs_srb *_Atomic slot[MAX_QD];
	atomic_bool sleeping;                /* the owner waits on cv */
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

struct case_sync;

struct bench {
	struct vs_port *port;
	struct vs_nexus *nexus;
	struct vs_srb_pool *pool;
	uint64_t blocks;          /* disk size in block_size blocks */
	uint32_t block_size;
	uint64_t rng;
	uint64_t tag;
	struct doneq q;

	/* the owning thread's */
	unsigned inflight;
	uint64_t completed;
	uint64_t errors;
	uint8_t last_status, last_key;

	/* one measured case, run on `loop` */
	uint8_t opcode;
	unsigned qd;
	uint64_t deadline_len;
	uint64_t t0, deadline;
	uint64_t ns;
	bool stopping;
	atomic_bool running;                 /* on the loop: completions wake it */
	atomic_bool wake_posted;
	atomic_uint completers;              /* on_done calls under way */
	struct vs_loop *loop;
	struct vs_loop_timer next_pass;
	struct vs_loop_msg start_msg, wake_msg;
	struct case_sync *sync;
};

/* The measuring thread waits for every submitter's case to end. */
struct case_sync {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned running;
};

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(struct bench *b)
{
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * 2685821657736338717ull;
}

static void doneq_init(struct doneq *q)
{
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
}

/* Any thread.  The owner sets `sleeping` before it looks at the slot and
 * we look at `sleeping` after filling it (both seq_cst), so one of us sees
 * the other: a completion never waits for a wake-up that does not come. */
static void on_done(struct vs_srb *srb)
{
	struct bench *b = srb->done_ctx;
	/* From another thread: counted before the SRB is handed over, so
	 * that measure() waits for this call, which still posts to the
	 * owner's loop, to end (wait_completers).  On the loop itself the
	 * owner is the caller: nothing to wait for, no atomics per SRB. */
	bool remote = vs_loop_current() != b->loop;
	if (remote)
		atomic_fetch_add(&b->completers, 1);
	uint64_t i = atomic_fetch_add(&b->q.tail, 1);
	atomic_store(&b->q.slot[i % MAX_QD], srb);
	if (atomic_load(&b->q.sleeping)) {
		pthread_mutex_lock(&b->q.mu);
		pthread_cond_signal(&b->q.cv);
		pthread_mutex_unlock(&b->q.mu);
	}
	/* From another thread, wake the submitter's loop (once until it ran);
	 * on the loop itself the pass under way sees the SRB (run_pass). */
	if (!remote)
		return;
	if (atomic_load(&b->running) && !atomic_exchange(&b->wake_posted, true))
		vs_loop_post(b->loop, &b->wake_msg);
	atomic_fetch_sub(&b->completers, 1);
}

/*
 * The owner took every SRB of the case, but the thread that completed the
 * last one may still be in on_done, about to post to the owner's loop.
 * A case ends when those calls have ended too: after the last case the
 * loops are destroyed, and a post then would write to a closed eventfd.
 */
static void wait_completers(struct bench *b)
{
	while (atomic_load(&b->completers))
		sched_yield();
}

/* The owner: give back every SRB that has completed; how many. */
static unsigned reap(struct bench *b)
{
	unsigned n = 0;
	for (;;) {
		struct vs_srb *srb = atomic_exchange(&b->q.slot[b->q.head % MAX_QD], NULL);
		if (!srb)
			return n;
		b->q.head++;
		if (srb->srb_status != VS_SRB_SUCCESS || srb->scsi_status != SAM_STAT_GOOD) {
			b->errors++;
			b->last_status = srb->scsi_status;
			b->last_key = srb->sense_len > 2 ? srb->sense[2] & 0x0f : 0;
		}
		vs_srb_put(srb);
		b->inflight--;
		b->completed++;
		n++;
	}
}

/* The owner: sleep until the next completion is there. */
static void wait_one(struct bench *b)
{
	pthread_mutex_lock(&b->q.mu);
	atomic_store(&b->q.sleeping, true);
	while (!atomic_load(&b->q.slot[b->q.head % MAX_QD]))
		pthread_cond_wait(&b->q.cv, &b->q.mu);
	atomic_store(&b->q.sleeping, false);
	pthread_mutex_unlock(&b->q.mu);
}

/* Wait until nothing is in flight. */
static void quiesce(struct bench *b)
{
	while (b->inflight)
		if (!reap(b))
			wait_one(b);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Fill a fresh SRB for one command; data uses the pool buffer. */
static void prep(struct bench *b, struct vs_srb *srb, uint8_t opcode)
{
	memset(srb->cdb, 0, sizeof(srb->cdb));
	srb->cdb[0] = opcode;
	srb->task_attr = VS_TASK_SIMPLE;
	srb->lun = 0;
	srb->tag = ++b->tag;
	srb->nexus = b->nexus;
	srb->done = on_done;
	srb->done_ctx = b;
	srb->timeout_ms = 0;
	srb->accept_data_ref = accept_data_ref;
	if (opcode == TEST_UNIT_READY) {
		srb->cdb_len = 6;
		srb->data_dir = VS_DIR_NONE;
		srb->data_length = 0;
		return;
	}
	/* SBC-3 5.16 READ(16) / 5.40 WRITE(16): LBA in bytes 2-9, blocks in 10-13 */
	uint32_t nblk = IO_SIZE / b->block_size;
	uint64_t lba = (rnd(b) % (b->blocks / nblk)) * nblk;
	srb->cdb_len = 16;
	put_be64(&srb->cdb[2], lba);
	put_be32(&srb->cdb[10], nblk);
	srb->data_dir = opcode == READ_16 ? VS_DIR_FROM_DEVICE : VS_DIR_TO_DEVICE;
	srb->data_length = IO_SIZE;
}

/* One command, waited for; 0 if it succeeded.  lba UINT64_MAX: random. */
static int run_one(struct bench *b, uint8_t opcode, uint64_t lba)
{
	struct vs_srb *srb = vs_srb_get(b->pool);
	if (!srb)
		return -ENOMEM;
	prep(b, srb, opcode);
	if (lba != UINT64_MAX)
		put_be64(&srb->cdb[2], lba);
	b->inflight++;
	uint64_t before = b->errors;
	vs_port_submit(b->port, srb);
	quiesce(b);
	return b->errors == before ? 0 : -EIO;
}

static bool doneq_empty(struct bench *b)
{
	return atomic_load(&b->q.slot[b->q.head % MAX_QD]) == NULL;
}

/*
 * One pass of a submitter's loop: give back what completed, keep qd
 * commands in flight until the deadline (the loop's clock of this pass),
 * then wait for the last ones.  With completions already waiting (a RAM
 * disk completes inline) the next pass runs at once: a timer due now makes
 * the loop come back after a non-blocking epoll_wait, with its clock read
 * anew; otherwise a completion from another thread posts wake_msg.
 */
static void run_pass(struct bench *b)
{
	uint64_t now = vs_loop_now_ns(b->loop);

	if (!atomic_load(&b->running))
		return;         /* the case is over (a wake-up that came late) */
	reap(b);
	if (!b->stopping && now >= b->deadline)
		b->stopping = true;
	while (!b->stopping && b->inflight < b->qd) {
		struct vs_srb *srb = vs_srb_get(b->pool);
		if (!srb)
			break;
		prep(b, srb, b->opcode);
		b->inflight++;
		vs_port_submit(b->port, srb);
	}
	if (b->stopping && b->inflight == 0) {
		b->ns = vs_loop_clock_ns() - b->t0;
		vs_loop_timer_cancel(&b->next_pass);
		atomic_store(&b->running, false);
		pthread_mutex_lock(&b->sync->mu);
		if (--b->sync->running == 0)
			pthread_cond_signal(&b->sync->cv);
		pthread_mutex_unlock(&b->sync->mu);
		return;
	}
	if (!doneq_empty(b))
		vs_loop_timer_arm(b->loop, &b->next_pass, now);
}

static void on_next_pass(struct vs_loop_timer *t)
{
	run_pass((struct bench *)((char *)t - offsetof(struct bench, next_pass)));
}

static void on_wake(struct vs_loop_msg *m)
{
	struct bench *b = (struct bench *)((char *)m - offsetof(struct bench, wake_msg));

	atomic_store(&b->wake_posted, false);
	run_pass(b);
}

static void on_start(struct vs_loop_msg *m)
{
	struct bench *b = (struct bench *)((char *)m - offsetof(struct bench, start_msg));

	b->completed = 0;
	b->stopping = false;
	b->t0 = vs_loop_clock_ns();
	b->deadline = b->t0 + b->deadline_len;
	atomic_store(&b->running, true);
	run_pass(b);
}

struct result {
	uint64_t srbs;
	uint64_t ns;        /* the longest thread's window */
	uint64_t cpu_ns;    /* the whole process's CPU time in the window */
	uint64_t mallocs;
	uint64_t errors;
};

static struct result measure(struct bench *bs, unsigned nthreads, uint8_t opcode, unsigned qd,
                             double seconds)
{
	struct result r = {0};
	struct case_sync sync = { .running = nthreads };
	uint64_t err0[MAX_THREADS];

	pthread_mutex_init(&sync.mu, NULL);
	pthread_cond_init(&sync.cv, NULL);
	for (unsigned i = 0; i < nthreads; i++) {
		bs[i].opcode = opcode;
		bs[i].qd = qd;
		bs[i].deadline_len = (uint64_t)(seconds * 1e9);
		bs[i].sync = &sync;
		err0[i] = bs[i].errors;
	}
	malloc_count_start();
	uint64_t c0 = cpu_ns();
	for (unsigned i = 0; i < nthreads; i++)
		vs_loop_post(bs[i].loop, &bs[i].start_msg);
	pthread_mutex_lock(&sync.mu);
	while (sync.running)
		pthread_cond_wait(&sync.cv, &sync.mu);
	pthread_mutex_unlock(&sync.mu);
	for (unsigned i = 0; i < nthreads; i++)
		wait_completers(&bs[i]);
	r.cpu_ns = cpu_ns() - c0;
	r.mallocs = malloc_count_stop();
	for (unsigned i = 0; i < nthreads; i++) {
		r.srbs += bs[i].completed;
		r.errors += bs[i].errors - err0[i];
		if (bs[i].ns > r.ns)
			r.ns = bs[i].ns;
	}
	pthread_cond_destroy(&sync.cv);
	pthread_mutex_destroy(&sync.mu);
	return r;
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-t seconds_per_case] [-s size] [-q qd[,qd...]] [-j threads]\n"
	        "       [-b ram|file] [-p path] [-o key=value]... [-c read|write]\n"
	        "       [-f filter[,key=value...]]... [-v volume[,key=value...] [-n legs]] [-C]\n", argv0);
}

/* A new file in /var/tmp of `size` bytes, every byte written (a read of a
 * hole would not touch the device) and synced. */
static int make_file(char *path, size_t n, const char *size_s)
{
	uint64_t size;
	if (vs_parse_size(size_s, &size) < 0 || size < IO_SIZE) {
		fprintf(stderr, "-s: '%s' is not a size of at least %u bytes\n", size_s, IO_SIZE);
		return -1;
	}
	snprintf(path, n, "/var/tmp/bench-inproc-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0) {
		perror("bench-inproc: /var/tmp");
		return -1;
	}
	static uint8_t chunk[1 << 20];
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 31 + 1);
	for (uint64_t off = 0; off < size; off += sizeof(chunk)) {
		size_t len = size - off < sizeof(chunk) ? (size_t)(size - off) : sizeof(chunk);
		if (pwrite(fd, chunk, len, (off_t)off) != (ssize_t)len) {
			perror("bench-inproc: writing the file");
			close(fd);
			unlink(path);
			return -1;
		}
	}
	fsync(fd);
	close(fd);
	return 0;
}

static int parse_qds(const char *arg, unsigned *qds, unsigned *nqd)
{
	*nqd = 0;
	char *save = NULL, *s = strdup(arg);
	for (char *tok = strtok_r(s, ",", &save); tok && *nqd < 8; tok = strtok_r(NULL, ",", &save)) {
		long v = strtol(tok, NULL, 10);
		if (v < 1 || v > (long)MAX_QD) {
			fprintf(stderr, "-q: '%s' is not a queue depth in 1..%u\n", tok, MAX_QD);
			free(s);
			return -1;
		}
		qds[(*nqd)++] = (unsigned)v;
	}
	free(s);
	return *nqd ? 0 : -1;
}

/* Filters from -f, top first: "crypt,key_file=/k,sector_size=512". */
struct filter_arg {
	char *spec;                     /* strdup'ed, cut in place */
	struct vs_kv kv[MAX_OPTS];
	size_t nkv;
};

static int parse_filter(const char *arg, struct filter_arg *f)
{
	char *save = NULL, *tok;

	f->spec = strdup(arg);
	f->nkv = 0;
	if (!f->spec || !strtok_r(f->spec, ",", &save) || !*f->spec)
		goto bad;
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(tok, '=');

		if (!eq || eq == tok || f->nkv == MAX_OPTS)
			goto bad;
		*eq = '\0';
		f->kv[f->nkv++] = (struct vs_kv){ tok, eq + 1 };
	}
	return 0;
bad:
	fprintf(stderr, "-f: '%s' is not name[,key=value...] (at most %u options)\n", arg, MAX_OPTS);
	free(f->spec);
	return -1;
}

/* The backend under the filters, the first filter on top; max_requests
 * covers every thread's queue.  On failure *who names the layer. */
#define MAX_LEGS 8

static struct vs_bdev *open_stack(const char *backend, const struct vs_kv *kv, size_t nkv,
                                  const struct filter_arg *f, unsigned nf,
                                  const struct filter_arg *vol, unsigned nlegs,
                                  unsigned nthreads, struct vs_loop_group *loops,
                                  const char **who)
{
	struct vs_bdev_desc d[MAX_FILTERS + 1], legs[MAX_LEGS];
	struct vs_bdev_open_args a = { .max_requests = MAX_QD * nthreads, .loops = loops };

	d[nf] = (struct vs_bdev_desc){ .kind = VS_LAYER_BACKEND, .name = backend, .opts = kv,
	                               .nopts = nkv };
	if (vol) {
		for (unsigned i = 0; i < nlegs; i++)
			legs[i] = d[nf];
		d[nf] = (struct vs_bdev_desc){ .kind = VS_LAYER_FILTER, .name = vol->spec,
		                               .opts = vol->kv, .nopts = vol->nkv, .lower = legs,
		                               .nlower = nlegs };
	}
	for (unsigned i = nf; i-- > 0;)
		d[i] = (struct vs_bdev_desc){ .kind = VS_LAYER_FILTER, .name = f[i].spec,
		                              .opts = f[i].kv, .nopts = f[i].nkv,
		                              .lower = &d[i + 1], .nlower = 1 };
	struct vs_bdev *b = vs_bdev_open_stack(&d[0], &a);

	*who = a.failed_layer >= 0 && (unsigned)a.failed_layer < nf ? f[a.failed_layer].spec
	       : vol && a.failed_layer == (int)nf ? vol->spec : backend;
	return b;
}

/* Open the nexus of one thread and clear its POWER ON unit attention
 * (SAM-5 6.2: a new nexus gets one first). */
static int bench_thread_open(struct bench *b, unsigned id)
{
	char name[96];
	snprintf(name, sizeof(name), "iqn.2026-01.org.vstor:bench-init,i,0x%x", id + 1);
	b->nexus = vs_port_nexus_open(b->port, name, "iqn.2026-01.org.vstor:bench-init", NULL, 0);
	b->pool = vs_srb_pool_create(b->port, MAX_QD, IO_SIZE);
	if (!b->nexus || !b->pool) {
		fprintf(stderr, "setup: %s\n", vs_last_error());
		return -1;
	}
	int rc = -EIO;
	for (int i = 0; i < 8 && rc != 0; i++)
		rc = run_one(b, TEST_UNIT_READY, UINT64_MAX);
	if (rc != 0) {
		fprintf(stderr, "TEST UNIT READY keeps failing: status 0x%02x sense key 0x%x\n",
		        b->last_status, b->last_key);
		return -1;
	}
	return 0;
}

/* Prove the path moves real data: write a pattern, read it back. */
static int verify_path(struct bench *b)
{
	uint64_t err0 = b->errors;
	struct vs_srb *srb = vs_srb_get(b->pool);
	size_t blen;
	uint8_t *buf = vs_srb_buffer(srb, &blen);
	for (unsigned i = 0; i < IO_SIZE; i++)
		buf[i] = (uint8_t)(i * 13 + 7);
	prep(b, srb, WRITE_16);
	put_be64(&srb->cdb[2], 0);
	b->inflight++;
	vs_port_submit(b->port, srb);
	quiesce(b);
	srb = vs_srb_get(b->pool);
	buf = vs_srb_buffer(srb, &blen);
	memset(buf, 0, IO_SIZE);
	prep(b, srb, READ_16);
	put_be64(&srb->cdb[2], 0);
	b->inflight++;
	vs_port_submit(b->port, srb);
	/* the SRB goes back to the pool when reaped: check its data before */
	wait_one(b);
	const uint8_t *data = srb->data_ref ? srb->data_ref : buf;
	bool same = true;
	for (unsigned i = 0; i < IO_SIZE; i++)
		same &= data[i] == (uint8_t)(i * 13 + 7);
	quiesce(b);
	if (!same || b->errors != err0) {
		fprintf(stderr, "verify: data read back differs from data written\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	double seconds = 3.0;
	const char *size = "16M";   /* cache-sized: measures the stack, not DRAM; -s 1G for DRAM-bound */
	const char *backend = "ram", *path = NULL;
	unsigned qds[8] = {1, 32};
	unsigned nqd = 2, nthreads = 1;
	struct vs_kv kv[MAX_OPTS + 3];
	size_t nkv = 0;
	struct filter_arg filters[MAX_FILTERS];
	unsigned nfilters = 0;
	const char *only = NULL;        /* -c: one case (read or write) */
	int opt;
	if (malloc_count_init() < 0) {
		fprintf(stderr, "malloc counter does not see libcrypto's allocations\n");
		return 1;
	}
	struct filter_arg volume;
	bool has_volume = false;
	unsigned nlegs = 2;
	while ((opt = getopt(argc, argv, "t:s:q:j:b:p:o:c:f:v:n:Ch")) != -1) {
		switch (opt) {
		case 'C':
			accept_data_ref = false;
			break;
		case 't':
			seconds = atof(optarg);
			if (seconds <= 0 || seconds > 600) {
				fprintf(stderr, "-t: '%s' is not a duration in (0, 600] seconds\n", optarg);
				return 2;
			}
			break;
		case 's':
			size = optarg;
			break;
		case 'q':
			if (parse_qds(optarg, qds, &nqd) < 0) {
				usage(argv[0]);
				return 2;
			}
			break;
		case 'j':
			nthreads = (unsigned)strtoul(optarg, NULL, 10);
			if (nthreads < 1 || nthreads > MAX_THREADS) {
				fprintf(stderr, "-j: '%s' is not a thread count in 1..%u\n", optarg, MAX_THREADS);
				return 2;
			}
			break;
		case 'b':
			backend = optarg;
			if (strcmp(backend, "ram") && strcmp(backend, "file")) {
				fprintf(stderr, "-b: '%s' is not ram or file\n", optarg);
				return 2;
			}
			break;
		case 'p':
			path = optarg;
			break;
		case 'f':
			if (nfilters == MAX_FILTERS) {
				fprintf(stderr, "-f: at most %u filters\n", MAX_FILTERS);
				return 2;
			}
			if (parse_filter(optarg, &filters[nfilters]) < 0)
				return 2;
			nfilters++;
			break;
		case 'c':
			only = optarg;
			if (strcmp(only, "read") && strcmp(only, "write")) {
				fprintf(stderr, "-c: '%s' is not read or write\n", optarg);
				return 2;
			}
			break;
		case 'v':
			if (has_volume || parse_filter(optarg, &volume) < 0)
				return 2;
			has_volume = true;
			break;
		case 'n':
			nlegs = (unsigned)atoi(optarg);
			if (nlegs < 2 || nlegs > MAX_LEGS) {
				fprintf(stderr, "-n: 2-%u legs\n", MAX_LEGS);
				return 2;
			}
			break;
		case 'o': {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || nkv >= MAX_OPTS) {
				fprintf(stderr, "-o: '%s' is not key=value (at most %u)\n", optarg, MAX_OPTS);
				return 2;
			}
			*eq = '\0';
			kv[nkv++] = (struct vs_kv){optarg, eq + 1};
			break;
		}
		default:
			usage(argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}

	bool is_file = strcmp(backend, "file") == 0;
	char made[64] = "";
	if (is_file && has_volume) {
		fprintf(stderr, "-v: legs of the ram backend only (a file leg needs a path each)\n");
		return 2;
	}
	if (is_file) {
		if (!path) {
			if (make_file(made, sizeof(made), size) < 0)
				return 1;
			path = made;
		}
		kv[nkv++] = (struct vs_kv){"path", path};
	} else {
		kv[nkv++] = (struct vs_kv){"size", size};
	}
	const char *who = backend;
	/* as vstord: loops first, closed last (after the LUN and its stack) */
	struct vs_loop_group *loops = NULL;
	if ((nfilters || has_volume) && (!(loops = vs_loop_group_create(1, "bench")) ||
	                 vs_loop_group_start(loops) < 0)) {
		fprintf(stderr, "event loops: %s\n", vs_last_error());
		return 1;
	}
	struct vs_bdev *bdev = open_stack(backend, kv, nkv, filters, nfilters,
	                                  has_volume ? &volume : NULL, nlegs, nthreads, loops, &who);
	if (!bdev) {
		fprintf(stderr, "%s: %s\n", who, vs_last_error());
		if (*made)
			unlink(made);
		return 1;
	}
	struct vs_backend_caps caps;
	vs_bdev_get_caps(bdev, &caps);
	uint32_t block_size = caps.logical_block_size > 512 ? caps.logical_block_size : 512;

	static struct bench bs[MAX_THREADS];
	uint64_t blocks = vs_bdev_get_size(bdev) / block_size;
	if (block_size > IO_SIZE || blocks < IO_SIZE / block_size) {
		fprintf(stderr, "-s: the disk must hold at least one %u-byte I/O\n", IO_SIZE);
		vs_bdev_close(bdev);
		return 2;
	}

	struct vs_vdisk_adapter_config acfg = {.target_name = "iqn.2026-01.org.vstor:bench",
	                                       .rel_target_port_id = 1};
	/* The LUN-wide depth: every thread's commands go to the miniport. */
	struct vs_port_config pcfg = {.name = "bench", .queue_depth = MAX_QD * MAX_THREADS};
	struct vs_port *port = vs_port_create(&vs_vdisk_miniport, &pcfg, &acfg);
	if (!port) {
		fprintf(stderr, "port: %s\n", vs_last_error());
		vs_bdev_close(bdev);
		return 1;
	}
	struct vs_vdisk_lun_config lcfg = {.bdev = bdev, .block_size = block_size,
	                                   .serial = "bench0"};
	if (vs_port_lun_add(port, 0, &lcfg) < 0) {
		fprintf(stderr, "lun 0: %s\n", vs_last_error());
		vs_bdev_close(bdev);
		vs_port_destroy(port);
		return 1;
	}
	/* the submitters' loops, one each (a connection's loop in vstord) */
	struct vs_loop_group *io_loops = vs_loop_group_create(nthreads, "bench-io");
	if (!io_loops || vs_loop_group_start(io_loops) < 0) {
		fprintf(stderr, "event loops: %s\n", vs_last_error());
		return 1;
	}
	for (unsigned i = 0; i < nthreads; i++) {
		bs[i].loop = vs_loop_group_loop(io_loops, i);
		vs_loop_timer_init(&bs[i].next_pass, on_next_pass);
		bs[i].start_msg.fn = on_start;
		bs[i].wake_msg.fn = on_wake;
		bs[i].port = port;
		bs[i].blocks = blocks;
		bs[i].block_size = block_size;
		bs[i].rng = 0x9e3779b97f4a7c15ull * (i + 1);
		doneq_init(&bs[i].q);
		if (bench_thread_open(&bs[i], i) < 0)
			return 1;
	}
	struct bench *b = &bs[0];

	/* RAM: touch every page once so writes measure copies, not page
	 * faults (make_file already wrote every byte of a file). */
	if (!is_file) {
		uint64_t err0 = b->errors, saved = b->rng;
		for (uint64_t lba = 0; lba + IO_SIZE / block_size <= blocks; lba += IO_SIZE / block_size)
			run_one(b, WRITE_16, lba);
		b->rng = saved;
		if (b->errors != err0) {
			fprintf(stderr, "prefill: %llu errors (status 0x%02x sense key 0x%x)\n",
			        (unsigned long long)(b->errors - err0), b->last_status, b->last_key);
			return 1;
		}
	}
	if (verify_path(b) < 0)
		return 1;
	/* Prove the allocation counter counts, also libcrypto's. */
	{
		void *volatile p;
		malloc_count_start();
		p = malloc(16);
		free(p);
		p = OPENSSL_malloc(16);
		OPENSSL_free(p);
		if (malloc_count_stop() != 2) {
			fprintf(stderr, "malloc counter does not see allocations\n");
			return 1;
		}
	}

	printf("bench-inproc: 4 KiB random I/O, port -> vdisk -> %s (", vs_bdev_name(bdev));
	for (size_t i = 0; i < nkv; i++)
		printf("%s=%s, ", kv[i].key, kv[i].value);
	printf("%u-byte blocks), %u thread%s, %.1f s per case, reads %s\n", block_size, nthreads,
	       nthreads > 1 ? "s" : "", seconds,
	       accept_data_ref ? "take data by reference" : "copy (-C)");
	int exit_code = 0;
	static const struct {
		uint8_t op;
		const char *name;
	} ops[] = {{READ_16, "read"}, {WRITE_16, "write"}};
	for (unsigned o = 0; o < 2; o++) {
		if (only && strcmp(only, ops[o].name))
			continue;
		for (unsigned q = 0; q < nqd; q++) {
			struct result r = measure(bs, nthreads, ops[o].op, qds[q], seconds);
			double secs = (double)r.ns / 1e9;
			double rate = r.srbs / secs;
			double ns_per = r.srbs ? (double)r.ns / (double)r.srbs : 0;
			double cpu_us = r.srbs ? (double)r.cpu_ns / 1e3 / (double)r.srbs : 0;
			double cpu_pct = 100.0 * (double)r.cpu_ns / (double)r.ns;
			printf("%-5s qd=%-3u x%-2u %10.0f SRBs/s  %8.1f ns/SRB  %6.0f MiB/s  "
			       "cpu %6.2f us/SRB %4.0f%%  errors %llu\n",
			       ops[o].name, qds[q], nthreads, rate, ns_per, rate * IO_SIZE / (1 << 20),
			       cpu_us, cpu_pct, (unsigned long long)r.errors);
			printf("mallocs during run: %llu\n", (unsigned long long)r.mallocs);
			printf("summary: case=%s qd=%u threads=%u srbs=%llu seconds=%.3f srbs_per_s=%.0f "
			       "ns_per_srb=%.1f cpu_us_per_srb=%.2f cpu_pct=%.0f mallocs=%llu errors=%llu\n",
			       ops[o].name, qds[q], nthreads, (unsigned long long)r.srbs, secs, rate,
			       ns_per, cpu_us, cpu_pct, (unsigned long long)r.mallocs,
			       (unsigned long long)r.errors);
			fflush(stdout);
			if (r.errors || r.mallocs)
				exit_code = 1;
		}
	}

	vs_loop_group_destroy(io_loops);
	for (unsigned i = 0; i < nthreads; i++) {
		vs_port_nexus_close(port, bs[i].nexus);
		vs_srb_pool_destroy(bs[i].pool);
	}
	vs_port_lun_remove(port, 0, false);
	vs_port_destroy(port);
	vs_loop_group_destroy(loops);
	if (*made)
		unlink(made);
	for (unsigned i = 0; i < nfilters; i++)
		free(filters[i].spec);
	if (has_volume)
		free(volume.spec);
	return exit_code;
}
