/* SPDX-License-Identifier: MIT */
/*
 * bench-inproc: 4 KiB random READ(16)/WRITE(16) through port -> vdisk ->
 * ram on one thread, no network, at queue depth 1 and 32.  Prints SRBs per
 * second, ns per SRB, and how many allocations happened while measuring
 * (the I/O path must not allocate: that number must be 0).
 *
 *   bench-inproc [-t seconds_per_case] [-s ram_size] [-q qd[,qd...]]
 *
 * The ram backend completes inline, so done() runs inside vs_port_submit().
 * done() only records the SRB; the main loop gives it back and submits the
 * next one, so the stack never grows with the queue depth.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "vstor/backend.h"
#include "vstor/port.h"
#include "vstor/scsi.h"
#include "vstor/vdisk.h"

#include "malloc_count.h"

#define BLOCK_SIZE  512u
#define IO_SIZE     4096u
#define MAX_QD      256u

struct bench {
	struct vs_port *port;
	struct vs_nexus *nexus;
	struct vs_srb_pool *pool;
	uint64_t blocks;          /* disk size in BLOCK_SIZE blocks */
	uint64_t rng;
	uint64_t tag;

	/* filled by done(), drained by the main loop */
	struct vs_srb *finished[MAX_QD];
	unsigned nfinished;
	unsigned inflight;
	uint64_t completed;
	uint64_t errors;
	uint8_t last_status, last_key;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(struct bench *b)
{
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * 2685821657736338717ull;
}

static void on_done(struct vs_srb *srb)
{
	struct bench *b = srb->done_ctx;
	if (srb->srb_status != VS_SRB_SUCCESS || srb->scsi_status != SAM_STAT_GOOD) {
		b->errors++;
		b->last_status = srb->scsi_status;
		b->last_key = srb->sense_len > 2 ? srb->sense[2] & 0x0f : 0;
	}
	b->finished[b->nfinished++] = srb;
	b->inflight--;
	b->completed++;
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
	if (opcode == TEST_UNIT_READY) {
		srb->cdb_len = 6;
		srb->data_dir = VS_DIR_NONE;
		srb->data_length = 0;
		return;
	}
	/* SBC-3 5.16 READ(16) / 5.40 WRITE(16): LBA in bytes 2-9, blocks in 10-13 */
	uint32_t nblk = IO_SIZE / BLOCK_SIZE;
	uint64_t lba = (rnd(b) % (b->blocks / nblk)) * nblk;
	srb->cdb_len = 16;
	put_be64(&srb->cdb[2], lba);
	put_be32(&srb->cdb[10], nblk);
	srb->data_dir = opcode == READ_16 ? VS_DIR_FROM_DEVICE : VS_DIR_TO_DEVICE;
	srb->data_length = IO_SIZE;
}

static void drain(struct bench *b)
{
	for (unsigned i = 0; i < b->nfinished; i++)
		vs_srb_put(b->finished[i]);
	b->nfinished = 0;
}

/* Wait until nothing is in flight (ram is inline; others may not be). */
static void quiesce(struct bench *b)
{
	for (int spins = 0; b->inflight && spins < 10000000; spins++)
		sched_yield();
	drain(b);
}

static int run_one(struct bench *b, uint8_t opcode)
{
	struct vs_srb *srb = vs_srb_get(b->pool);
	if (!srb)
		return -ENOMEM;
	prep(b, srb, opcode);
	b->inflight++;
	uint64_t before = b->errors;
	vs_port_submit(b->port, srb);
	quiesce(b);
	return b->errors == before ? 0 : -EIO;
}

struct result {
	uint64_t srbs;
	uint64_t ns;
	uint64_t mallocs;
	uint64_t errors;
};

static struct result run_case(struct bench *b, uint8_t opcode, unsigned qd, double seconds)
{
	struct result r = {0};
	uint64_t err0 = b->errors;
	b->completed = 0;
	uint64_t deadline_len = (uint64_t)(seconds * 1e9);

	malloc_count_start();
	uint64_t t0 = now_ns(), deadline = t0 + deadline_len;
	for (uint64_t loops = 0;; loops++) {
		while (b->inflight < qd) {
			struct vs_srb *srb = vs_srb_get(b->pool);
			if (!srb)
				break;
			prep(b, srb, opcode);
			b->inflight++;
			vs_port_submit(b->port, srb);
		}
		drain(b);
		if ((loops & 255) == 0 && now_ns() >= deadline)
			break;
	}
	quiesce(b);
	uint64_t t1 = now_ns();
	r.mallocs = malloc_count_stop();
	r.srbs = b->completed;
	r.ns = t1 - t0;
	r.errors = b->errors - err0;
	return r;
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-t seconds_per_case] [-s ram_size] [-q qd[,qd...]]\n", argv0);
}

int main(int argc, char **argv)
{
	double seconds = 3.0;
	const char *size = "16M";   /* cache-sized: measures the stack, not DRAM; -s 1G for DRAM-bound */
	unsigned qds[8] = {1, 32};
	unsigned nqd = 2;
	int opt;
	while ((opt = getopt(argc, argv, "t:s:q:h")) != -1) {
		switch (opt) {
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
		case 'q': {
			nqd = 0;
			char *save = NULL, *s = strdup(optarg);
			for (char *tok = strtok_r(s, ",", &save); tok && nqd < 8;
			     tok = strtok_r(NULL, ",", &save)) {
				long v = strtol(tok, NULL, 10);
				if (v < 1 || v > (long)MAX_QD) {
					fprintf(stderr, "-q: '%s' is not a queue depth in 1..%u\n", tok, MAX_QD);
					free(s);
					return 2;
				}
				qds[nqd++] = (unsigned)v;
			}
			free(s);
			if (!nqd) {
				usage(argv[0]);
				return 2;
			}
			break;
		}
		default:
			usage(argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}

	struct vs_kv kv[] = {{"size", size}};
	struct vs_bdev *bdev = vs_bdev_open("ram", kv, 1);
	if (!bdev) {
		fprintf(stderr, "ram: %s\n", vs_last_error());
		return 1;
	}
	static struct bench b;
	b.rng = 0x9e3779b97f4a7c15ull;
	b.blocks = bdev->ops->get_size(bdev->h) / BLOCK_SIZE;
	if (b.blocks < IO_SIZE / BLOCK_SIZE) {
		fprintf(stderr, "-s: the disk must hold at least one %u-byte I/O\n", IO_SIZE);
		vs_bdev_close(bdev);
		return 2;
	}

	struct vs_vdisk_adapter_config acfg = {.target_name = "iqn.2026-01.org.vstor:bench",
	                                       .rel_target_port_id = 1};
	struct vs_port_config pcfg = {.name = "bench", .queue_depth = MAX_QD};
	b.port = vs_port_create(&vs_vdisk_miniport, &pcfg, &acfg);
	if (!b.port) {
		fprintf(stderr, "port: %s\n", vs_last_error());
		vs_bdev_close(bdev);
		return 1;
	}
	struct vs_vdisk_lun_config lcfg = {.bdev = bdev, .block_size = BLOCK_SIZE,
	                                   .serial = "bench0"};
	if (vs_port_lun_add(b.port, 0, &lcfg) < 0) {
		fprintf(stderr, "lun 0: %s\n", vs_last_error());
		vs_bdev_close(bdev);
		vs_port_destroy(b.port);
		return 1;
	}
	b.nexus = vs_port_nexus_open(b.port, "iqn.2026-01.org.vstor:bench-init,i,0x1",
	                             "iqn.2026-01.org.vstor:bench-init", NULL, 0);
	b.pool = vs_srb_pool_create(b.port, MAX_QD, IO_SIZE);
	if (!b.nexus || !b.pool) {
		fprintf(stderr, "setup: %s\n", vs_last_error());
		return 1;
	}

	/* A new nexus first gets POWER ON OCCURRED (SAM-5 6.2): clear it. */
	int rc = -EIO;
	for (int i = 0; i < 8 && rc != 0; i++)
		rc = run_one(&b, TEST_UNIT_READY);
	if (rc != 0) {
		fprintf(stderr, "TEST UNIT READY keeps failing: status 0x%02x sense key 0x%x\n",
		        b.last_status, b.last_key);
		return 1;
	}
	/* Touch every page once so writes measure copies, not page faults. */
	uint64_t err0 = b.errors;
	uint64_t saved = b.rng;
	for (uint64_t lba = 0; lba + IO_SIZE / BLOCK_SIZE <= b.blocks; lba += IO_SIZE / BLOCK_SIZE) {
		struct vs_srb *srb = vs_srb_get(b.pool);
		prep(&b, srb, WRITE_16);
		put_be64(&srb->cdb[2], lba);
		b.inflight++;
		vs_port_submit(b.port, srb);
		quiesce(&b);
	}
	b.rng = saved;
	if (b.errors != err0) {
		fprintf(stderr, "prefill: %llu errors (status 0x%02x sense key 0x%x)\n",
		        (unsigned long long)(b.errors - err0), b.last_status, b.last_key);
		return 1;
	}

	/* Prove the path moves real data: write a pattern, read it back. */
	{
		struct vs_srb *srb = vs_srb_get(b.pool);
		size_t blen;
		uint8_t *buf = vs_srb_buffer(srb, &blen);
		for (unsigned i = 0; i < IO_SIZE; i++)
			buf[i] = (uint8_t)(i * 13 + 7);
		prep(&b, srb, WRITE_16);
		put_be64(&srb->cdb[2], 0);
		b.inflight++;
		vs_port_submit(b.port, srb);
		quiesce(&b);
		srb = vs_srb_get(b.pool);
		buf = vs_srb_buffer(srb, &blen);
		memset(buf, 0, IO_SIZE);
		prep(&b, srb, READ_16);
		put_be64(&srb->cdb[2], 0);
		b.inflight++;
		vs_port_submit(b.port, srb);
		bool same = true;
		for (unsigned i = 0; i < IO_SIZE; i++)
			same &= buf[i] == (uint8_t)(i * 13 + 7);
		quiesce(&b);
		if (!same || b.errors != err0) {
			fprintf(stderr, "verify: data read back differs from data written\n");
			return 1;
		}
	}
	/* Prove the allocation counter counts. */
	{
		void *volatile p;
		malloc_count_start();
		p = malloc(16);
		free(p);
		if (malloc_count_stop() != 1) {
			fprintf(stderr, "malloc counter does not see allocations\n");
			return 1;
		}
	}

	printf("bench-inproc: 4 KiB random I/O, port -> vdisk -> ram (%s, %u-byte blocks), "
	       "one thread, %.1f s per case\n", size, BLOCK_SIZE, seconds);
	int exit_code = 0;
	static const struct {
		uint8_t op;
		const char *name;
	} ops[] = {{READ_16, "read"}, {WRITE_16, "write"}};
	for (unsigned o = 0; o < 2; o++) {
		for (unsigned q = 0; q < nqd; q++) {
			struct result r = run_case(&b, ops[o].op, qds[q], seconds);
			double secs = (double)r.ns / 1e9;
			double rate = r.srbs / secs;
			double ns_per = r.srbs ? (double)r.ns / (double)r.srbs : 0;
			printf("%-5s qd=%-3u %12.0f SRBs/s  %8.1f ns/SRB  %6.0f MiB/s  errors %llu\n",
			       ops[o].name, qds[q], rate, ns_per, rate * IO_SIZE / (1 << 20),
			       (unsigned long long)r.errors);
			printf("mallocs during run: %llu\n", (unsigned long long)r.mallocs);
			printf("summary: case=%s qd=%u srbs=%llu seconds=%.3f srbs_per_s=%.0f "
			       "ns_per_srb=%.1f mallocs=%llu errors=%llu\n",
			       ops[o].name, qds[q], (unsigned long long)r.srbs, secs, rate, ns_per,
			       (unsigned long long)r.mallocs, (unsigned long long)r.errors);
			fflush(stdout);
			if (r.errors || r.mallocs)
				exit_code = 1;
		}
	}

	vs_port_nexus_close(b.port, b.nexus);
	vs_srb_pool_destroy(b.pool);
	vs_port_lun_remove(b.port, 0, false);
	vs_port_destroy(b.port);
	return exit_code;
}
