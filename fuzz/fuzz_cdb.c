/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the CDB decoder, i.e. everything a SCSI command reaches
 * below the fabric — the port (REPORT LUNS, unit attentions, task
 * attributes) and the vdisk miniport (every opcode, service action and
 * parameter list) over a small ram backend.
 *
 * Input layout: byte 0 = CDB length (mod 33, at least 1), byte 1 = flags
 * (bit 0-1 data direction, bit 2-3 task attribute, bit 4 LUN 1 instead of
 * 0, bit 5 second nexus), then the CDB, then the data-out bytes (or, for
 * data-in, the rest only sets the expected transfer length).
 *
 * The contract checked: every command completes exactly once with a valid
 * SAM status; CHECK CONDITION carries sense data; a data-in command never
 * reports more bytes than the buffer holds.  ASan/UBSan catch the rest.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vstor/backend.h"
#include "vstor/port.h"
#include "vstor/scsi.h"
#include "vstor/vdisk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_BUF (64 * 1024)

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done_calls;
};

static struct vs_port *port;
static struct vs_nexus *nexus[2];
static struct vs_srb_pool *pool;
static struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };

static void on_done(struct vs_srb *srb)
{
	(void)srb;
	pthread_mutex_lock(&w.lock);
	w.done_calls++;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
}

static void add_lun(uint64_t n)
{
	struct vs_kv opts[] = { { "size", "4M" } };
	struct vs_bdev *bdev = vs_bdev_open("ram", opts, 1);
	struct vs_vdisk_lun_config lc = { .bdev = bdev, .block_size = n ? 4096 : 512 };

	if (!bdev || vs_port_lun_add(port, n, &lc) != 0)
		abort();
}

static void setup(void)
{
	struct vs_vdisk_adapter_config ac = { .target_name = "iqn.2026-11.org.vstor:fuzz" };
	/* Short timeouts: a command the fuzzer wedges must still complete. */
	struct vs_port_config pc = { .name = "fuzz", .default_timeout_ms = 2000,
	                             .abort_timeout_ms = 500 };

	port = vs_port_create(&vs_vdisk_miniport, &pc, &ac);
	if (!port)
		abort();
	add_lun(0);
	add_lun(1);
	nexus[0] = vs_port_nexus_open(port, "iqn.fuzz:a,i,0x000000000001", "iqn.fuzz:a", NULL, 0);
	nexus[1] = vs_port_nexus_open(port, "iqn.fuzz:b,i,0x000000000002", "iqn.fuzz:b", NULL, 0);
	pool = vs_srb_pool_create(port, 2, FUZZ_BUF);
	if (!nexus[0] || !nexus[1] || !pool)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, setup);
	if (size < 2)
		return 0;

	size_t cdb_len = data[0] % (VS_CDB_MAX + 1);
	uint8_t flags = data[1];
	if (cdb_len == 0)
		cdb_len = 1;
	if (size < 2 + cdb_len)
		return 0;

	/* An SRB is back in its pool once the miniport has let go of it too
	 * (port/pool.c: two references); a completion from a worker thread
	 * reaches us a moment before the worker drops its reference.  Not
	 * back within a second: a lost completion. */
	struct vs_srb *srb = vs_srb_get(pool);
	for (int ms = 0; !srb && ms < 1000; ms++) {
		usleep(1000);
		srb = vs_srb_get(pool);
	}
	if (!srb)
		abort();
	size_t buf_len;
	uint8_t *buf = vs_srb_buffer(srb, &buf_len);
	const uint8_t *payload = data + 2 + cdb_len;
	size_t payload_len = size - 2 - cdb_len;

	memcpy(srb->cdb, data + 2, cdb_len);
	srb->cdb_len = (uint8_t)cdb_len;
	srb->data_dir = flags & 3;
	if (srb->data_dir > VS_DIR_TO_DEVICE)
		srb->data_dir = VS_DIR_NONE;
	srb->task_attr = (flags >> 2) & 3;
	srb->lun = (flags & 0x10) ? 1 : 0;
	srb->nexus = nexus[(flags >> 5) & 1];
	srb->done = on_done;
	if (srb->data_dir == VS_DIR_TO_DEVICE) {
		if (payload_len > buf_len)
			payload_len = buf_len;
		memcpy(buf, payload, payload_len);
		srb->data_length = (uint32_t)payload_len;
	} else if (srb->data_dir == VS_DIR_FROM_DEVICE) {
		srb->data_length = payload_len >= 2 ? (uint32_t)((payload[0] << 8 | payload[1]) + 1)
		                                    : 512;
		if (srb->data_length > buf_len)
			srb->data_length = (uint32_t)buf_len;
	} else {
		srb->data_length = 0;
	}
	srb->iov->iov_len = srb->data_length;

	pthread_mutex_lock(&w.lock);
	int before = w.done_calls;
	pthread_mutex_unlock(&w.lock);

	vs_port_submit(port, srb);

	pthread_mutex_lock(&w.lock);
	while (w.done_calls == before)
		pthread_cond_wait(&w.cond, &w.lock);
	int calls = w.done_calls - before;
	pthread_mutex_unlock(&w.lock);

	if (calls != 1)
		abort();
	if (srb->scsi_status == SAM_STAT_CHECK_CONDITION && srb->srb_status == VS_SRB_SUCCESS &&
	    srb->sense_len == 0)
		abort();
	if (srb->data_dir == VS_DIR_FROM_DEVICE && srb->xfer_len > srb->data_length)
		abort();
	vs_srb_put(srb);
	return 0;
}
