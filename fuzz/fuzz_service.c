/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what a service writes into its rings (src/service/,
 * doc/service-protocol.md).  vstord's side runs in-process as vstord wires
 * it (the control plane's state, a target's port, the service host on two
 * event loops); a service written by hand (svc_raw) attaches LUN 1, the
 * target gets a few READs for it, and the input becomes what the service
 * writes: completion entries (with a real tag or any), cq_tail and
 * sq_head values.  Every READ must complete exactly once (by the entry,
 * or NOT READY when vstord disconnects the service), within two seconds;
 * never a crash, leak or hang.
 *
 * The READs take their data by reference, so entries may lend (protocol
 * 1.1): the service registers a 64 KiB region when it connects, and
 * whatever a READ completed with is read whole before it goes back, so a
 * lent range vstord let through outside the region would fault.
 *
 * Input: byte 0: how many READs (1-4); then ops, each an op byte and its
 * operand: 0 + up to 288 bytes: a completion entry (bit 7 of the op: its
 * tag is the first READ's); 1 + 4 bytes: cq_tail; 2 + 4 bytes: sq_head;
 * 3 + 12 bytes: a REGION message (number, size) with a sealed memfd.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "svc_raw.h"
#include "vstor/loop.h"
#include "vstor/port.h"
#include "vstor/service_host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IQN "iqn.2026-11.org.vstor:fz"

static struct vs_loop_group *loops;
static struct vs_ctl_state *st;
static struct vs_svc_host *host;
static struct vs_port *port;
static struct vs_nexus *nexus;
static struct vs_srb_pool *pool;
static struct svc_raw *svc;
static char path[64];

static void setup(void)
{
	static const char cfg_json[] =
		"{\"targets\":[{\"iqn\":\"" IQN "\",\"luns\":[{\"lun\":0,\"backend\":\"ram\",\"size\":\"1M\"}]}]}";
	struct vs_config *cfg = NULL;
	char err[512];
	struct vs_svc_host_config hc = { .socket_path = path, .hang_timeout_ms = 1000 };

	snprintf(path, sizeof(path), "/tmp/vstor-fuzz-service.%d", (int)getpid());
	loops = vs_loop_group_create(2, "fz");
	if (!loops || vs_loop_group_start(loops) < 0 ||
	    vs_config_load_buffer("fuzz", cfg_json, strlen(cfg_json), &cfg, err, sizeof(err)) != 0 ||
	    !(st = vs_ctl_state_create(cfg, "fuzz", NULL, loops, err, sizeof(err))) ||
	    !(host = vs_svc_host_create(&hc, err, sizeof(err))) ||
	    vs_ctl_state_attach_services(st, host, loops, err, sizeof(err)) < 0)
		abort();
	port = vs_ctl_state_port(st, 0);
	nexus = vs_port_nexus_open(port, "iqn.2026-11.org.vstor:fz-i,i,0x1", "iqn.2026-11.org.vstor:fz-i",
	                           NULL, 0);
	pool = vs_srb_pool_create(port, 16, 4096);
	if (!nexus || !pool)
		abort();
}

#define REGION_BYTES 65536

/* A memfd sealed against shrinking, as REGION asks; -1 if none. */
static int region_fd(void)
{
	int fd = memfd_create("fz-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd >= 0 && (ftruncate(fd, REGION_BYTES) < 0 ||
	                fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void region_send(uint32_t id, uint64_t bytes)
{
	struct vs_svc_reply rep;
	int fd = region_fd();

	if (fd >= 0) {
		(void)svc_raw_region(svc, id, fd, bytes, &rep);
		close(fd);
	}
}

static void done(struct vs_srb *srb)
{
	atomic_fetch_add((_Atomic int *)srb->done_ctx, 1);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	nanosleep(&ts, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static _Atomic int calls[4];
	struct vs_srb *srbs[4] = { NULL };
	struct vs_svc_sqe e[4];
	unsigned n, taken = 0;
	size_t at = 1;

	if (!loops)
		setup();
	if (size < 1)
		return 0;
	if (!svc) {
		struct vs_svc_reply rep;

		svc = svc_raw_connect(path, "fz", IQN, 16);
		if (!svc)
			return 0;       /* the last one is still going */
		if (svc_raw_attach(svc, 1, &rep) < 0 || rep.status < 0) {
			svc_raw_close(svc);
			svc = NULL;
			return 0;
		}
		region_send(1, REGION_BYTES);
	}
	n = 1 + data[0] % 4;
	for (unsigned i = 0; i < n; i++) {
		struct vs_srb *s = vs_srb_get(pool);
		void *buf;

		if (!s)
			abort();        /* every SRB came back last time */
		atomic_store(&calls[i], 0);
		s->cdb[0] = 0x28;       /* READ(10) of 8 blocks */
		s->cdb[8] = 8;
		s->cdb_len = 10;
		s->lun = 1;
		s->nexus = nexus;
		s->data_dir = VS_DIR_FROM_DEVICE;
		s->accept_data_ref = VS_DATA_REF_OK;
		buf = vs_port_srb_buffer(port, s, 4096);
		s->iov[0] = (struct iovec){ buf, 4096 };
		s->iovcnt = 1;
		s->data_length = 4096;
		s->done = done;
		s->done_ctx = &calls[i];
		srbs[i] = s;
		vs_port_submit(port, s);
	}
	/* unit attentions (POWER ON, REPORTED LUNS) the port answers itself */
	for (unsigned i = 0; i < n; i++)
		if (svc_raw_take(svc, &e[taken], atomic_load(&calls[i]) ? 0 : 200))
			taken++;
	while (at < size) {
		uint8_t op = data[at++];
		uint32_t v = 0;

		switch (op & 0x7f) {
		case 0: {
			struct vs_svc_cqe c;
			size_t k = size - at < sizeof(c) ? size - at : sizeof(c);

			memset(&c, 0, sizeof(c));
			memcpy(&c, data + at, k);
			at += k;
			if ((op & 0x80) && taken)
				c.tag = e[0].tag;
			svc_raw_complete(svc, &c);
			break;
		}
		case 1:
		case 2:
			memcpy(&v, data + at, size - at < 4 ? size - at : 4);
			at += 4;
			if ((op & 0x7f) == 1) {
				svc->cq_tail = v;
				__atomic_store_n(&svc->hdr->cq_tail, v, __ATOMIC_RELEASE);
				(void)eventfd_write(svc->cq_efd, 1);
			} else {
				__atomic_store_n(&svc->hdr->sq_head, v, __ATOMIC_RELEASE);
			}
			break;
		case 3: {
			uint8_t b[12] = { 0 };
			uint32_t id;
			uint64_t bytes;

			memcpy(b, data + at, size - at < sizeof(b) ? size - at : sizeof(b));
			at += sizeof(b);
			memcpy(&id, b, 4);
			memcpy(&bytes, b + 4, 8);
			region_send(id, bytes % (2 * REGION_BYTES));
			break;
		}
		default:
			break;
		}
	}
	/* what is still owed, answered properly (a second answer to one the
	 * input completed is a protocol error vstord must catch) */
	for (unsigned i = 0; i < taken; i++)
		svc_raw_complete_good(svc, &e[i]);
	for (unsigned i = 0; i < n; i++) {
		for (int ms = 0; ms < 2000 && atomic_load(&calls[i]) == 0; ms++)
			sleep_ms(1);
		if (atomic_load(&calls[i]) != 1) {
			fprintf(stderr, "fuzz_service: READ %u completed %d times\n", i,
			        atomic_load(&calls[i]));
			abort();
		}
	}
	/* vstord has taken everything written (or dropped the service) before
	 * the next input: each input's effect is its own */
	for (int ms = 0; ms < 200; ms++) {
		if (__atomic_load_n(&svc->hdr->cq_head, __ATOMIC_ACQUIRE) == svc->cq_tail ||
		    svc_raw_closed(svc, 0))
			break;
		sleep_ms(1);
	}
	for (unsigned i = 0; i < n; i++) {
		/* what a fabric would send: all of it readable */
		volatile uint8_t sum = 0;

		if (srbs[i]->data_ref)
			for (uint32_t k = 0; k < srbs[i]->xfer_len; k++)
				sum += ((const uint8_t *)srbs[i]->data_ref)[k];
		(void)sum;
		vs_srb_put(srbs[i]);
	}
	if (svc_raw_closed(svc, 0)) {
		svc_raw_close(svc);
		svc = NULL;
	}
	return 0;
}
