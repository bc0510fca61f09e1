/* SPDX-License-Identifier: MIT */
/*
 * bench-pr: the cost of vs_vdisk_pr_conflict(), the check every command takes
 * once persistent reservations are active, in the shape a cluster keeps
 * them (Windows failover clustering, VMware, Pacemaker): R registrations
 * (default 8), one reservation (default WRITE EXCLUSIVE - ALL REGISTRANTS),
 * and READ(16) / WRITE(16) arriving in turn from the R registered I_T
 * nexuses and one that is not registered.  Prints ns per check and
 * pthread_mutex_lock calls per check during the measured loop.
 *
 *   bench-pr [-n checks] [-r registrations] [-t type]
 *
 * For a deterministic figure, count instructions instead of time:
 *   valgrind --tool=callgrind --toggle-collect=vs_vdisk_pr_conflict bench-pr -n 100000
 * and divide the collected Ir by the "checks" line.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vdisk/pr.h"
#include "vstor/scsi.h"

#define MAX_NEXUS 65

/* ---- pthread_mutex_lock counter (LINKER:--wrap, see CMakeLists.txt) ---- */
int __real_pthread_mutex_lock(pthread_mutex_t *m);
int __wrap_pthread_mutex_lock(pthread_mutex_t *m);
static uint64_t mutex_locks;

int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
	mutex_locks++;     /* one thread: a plain counter is enough */
	return __real_pthread_mutex_lock(m);
}

static struct vs_nexus nexus[MAX_NEXUS];

/* Names as a Windows cluster's nodes send them: long and alike, so a name
 * compare walks most of the string before it differs. */
static void mk_nexus(struct vs_nexus *n, unsigned i)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->initiator_name, sizeof(n->initiator_name),
	         "iqn.1991-05.com.microsoft:node%02u.cluster.example.com", i);
	snprintf(n->name, sizeof(n->name), "%s,i,0x4000013700%02x", n->initiator_name, i);
	n->id = i;
	n->rel_target_port_id = 1;
}

static struct vs_srb srb;
static struct iovec iov;
static uint8_t buf[512];

static void cmd(const struct vs_nexus *n, const uint8_t *cdb, size_t len)
{
	memset(&srb, 0, sizeof(srb));
	memcpy(srb.cdb, cdb, len);
	srb.cdb_len = (uint8_t)len;
	srb.nexus = (struct vs_nexus *)n;
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);
	srb.iov = &iov;
	srb.iovcnt = 1;
}

static int prout(struct vdisk_pr *pr, const struct vs_nexus *n, uint8_t sa, uint8_t type,
                 uint64_t rk, uint64_t sark)
{
	uint8_t cdb[10] = { PERSISTENT_RESERVE_OUT, sa, type, 0, 0, 0, 0, 0, 24 };
	cmd(n, cdb, sizeof(cdb));
	memset(buf, 0, 24);
	for (int i = 0; i < 8; i++) {
		buf[i] = (uint8_t)(rk >> (56 - 8 * i));
		buf[8 + i] = (uint8_t)(sark >> (56 - 8 * i));
	}
	srb.data_dir = VS_DIR_TO_DEVICE;
	srb.data_length = 24;
	vs_vdisk_pr_out(pr, &srb);
	return srb.scsi_status == SAM_STAT_GOOD ? 0 : -1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	unsigned long checks = 10000000;
	unsigned regs = 8, type = 7;   /* WRITE EXCLUSIVE - ALL REGISTRANTS */
	int opt;

	while ((opt = getopt(argc, argv, "n:r:t:h")) != -1) {
		switch (opt) {
		case 'n': checks = strtoul(optarg, NULL, 0); break;
		case 'r': regs = (unsigned)strtoul(optarg, NULL, 0); break;
		case 't': type = (unsigned)strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: %s [-n checks] [-r registrations 1-64] [-t type]\n",
			        argv[0]);
			return 2;
		}
	}
	if (regs < 1 || regs >= MAX_NEXUS || checks == 0) {
		fprintf(stderr, "bench-pr: -r must be 1-64 and -n at least 1\n");
		return 2;
	}
	for (unsigned i = 0; i <= regs; i++)
		mk_nexus(&nexus[i], i);

	struct vdisk_pr *pr = vs_vdisk_pr_create(NULL, NULL);
	if (!pr)
		return 1;
	for (unsigned i = 0; i < regs; i++)
		if (prout(pr, &nexus[i], 0 /* REGISTER */, 0, 0, 0x1000 + i) < 0)
			return 1;
	if (type && prout(pr, &nexus[0], 1 /* RESERVE */, (uint8_t)type, 0x1000, 0) < 0)
		return 1;

	/* READ(16) and WRITE(16) of 8 blocks at LBA 0 */
	uint8_t rd[16] = { READ_16 }, wr[16] = { WRITE_16 };
	rd[13] = wr[13] = 8;
	unsigned long conflicts = 0;
	/* one round first, so any per-nexus state is warm as in steady I/O */
	for (unsigned i = 0; i <= regs; i++) {
		cmd(&nexus[i], rd, 16);
		vs_vdisk_pr_conflict(pr, &srb);
	}

	mutex_locks = 0;
	uint64_t t0 = now_ns();
	for (unsigned long k = 0; k < checks; k++) {
		unsigned i = (unsigned)(k % (regs + 1));
		cmd(&nexus[i], (k / (regs + 1)) & 1 ? wr : rd, 16);
		conflicts += vs_vdisk_pr_conflict(pr, &srb);
	}
	uint64_t ns = now_ns() - t0;
	uint64_t locks = mutex_locks;

	printf("registrations %u, type %u, checks %lu, conflicts %lu\n", regs, type, checks,
	       conflicts);
	printf("ns/check %.1f, pthread_mutex_lock/check %.3f\n", (double)ns / (double)checks,
	       (double)locks / (double)checks);
	vs_vdisk_pr_destroy(pr);
	return 0;
}
