/* SPDX-License-Identifier: MIT */
/*
 * A mock miniport for the port's unit tests (only the layer under test is
 * real).  Modes: INLINE completes inside start_io; MANUAL keeps SRBs until
 * the test completes them (also "never completes"); THREAD completes them
 * from another thread.  It records start order and the in-flight maximum.
 */
#ifndef TEST_PORT_MOCK_H
#define TEST_PORT_MOCK_H

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vstor/miniport.h"
#include "vstor/port.h"
#include "vstor/scsi.h"

enum mock_mode { MOCK_INLINE, MOCK_MANUAL, MOCK_THREAD };

#define MOCK_MAX 4096
#define MOCK_NX  64     /* nexus ids tracked for the ORDERED check (last: no nexus) */

struct mock {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum mock_mode mode;
	struct vs_port *port;
	struct vs_srb *pending[MOCK_MAX];
	int npending;
	uint64_t started_tags[MOCK_MAX];
	int nstarted;
	int in_flight, max_in_flight;
	/* per nexus (its task set): SRBs in the mock, ORDERED ones among
	 * them, and starts that broke SAM-5 8.6 within one task set */
	int nx_in_flight[MOCK_NX], nx_ordered[MOCK_NX];
	int order_violations;
	int aborts, resets[4];
	int attached, detached, inits, freed;
	bool abort_completes;           /* abort_srb completes the SRB inline */
	bool reset_completes;           /* reset completes every pending SRB */
	bool in_use;
	bool busy_once;                 /* next start_io calls vs_port_busy(lun, 0) */
	bool no_restart;                /* adapter_control does not offer RESTART */
	uint32_t max_xfer, max_sg;      /* what find_adapter reports (0: unlimited) */
	int stops, restarts;            /* adapter_control calls */
	int pending_at_stop;            /* SRBs the mock held when STOP came */
	struct vs_port_lun *luns[64];
	bool thread_stop;
	pthread_t thread;
	bool thread_started;
};

struct mock_lun {
	struct mock *m;
	struct vs_port_lun *lun;
	uint64_t number;
};

struct mock_adapter {
	struct mock *m;
};

/* the mock's SRB extension: its LUN first (looked up as a pointer), and
 * the nexus index taken at start (the nexus may be gone at completion) */
struct mock_srb_ext {
	struct mock_lun *ml;
	int nx;
};

static inline void mock_finish(struct vs_srb *srb)
{
	struct mock_lun *ml = srb->ext ? *(struct mock_lun **)srb->ext : NULL;
	uint8_t buf[64];

	(void)ml;
	switch (srb->cdb[0]) {
	case TEST_UNIT_READY:
	case WRITE_10:
	case WRITE_16:
		srb->xfer_len = srb->cdb[0] == TEST_UNIT_READY ? 0 : srb->data_length;
		vs_srb_set_good(srb);
		break;
	case READ_10:
	case READ_16:
		for (uint32_t off = 0; off < srb->data_length; off += sizeof(buf)) {
			memset(buf, 0xa5, sizeof(buf));
			vs_srb_copy_to_iov(srb, off, buf, sizeof(buf));
		}
		srb->xfer_len = srb->data_length;
		vs_srb_set_good(srb);
		break;
	case INQUIRY: {
		uint8_t d[36] = {0};
		d[0] = TYPE_DISK;
		d[2] = 6;
		d[3] = 2;
		d[4] = 31;
		uint32_t n = srb->data_length < 36 ? srb->data_length : 36;
		vs_srb_copy_to_iov(srb, 0, d, n);
		srb->xfer_len = n;
		vs_srb_set_good(srb);
		break;
	}
	default:
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_INVALID_COMMAND_OPERATION_CODE);
		break;
	}
}

static inline int mock_nx(const struct vs_srb *srb)
{
	return ((const struct mock_srb_ext *)srb->ext)->nx;
}

/* An SRB reaches the mock (m->mu held): within its nexus's task set an
 * ORDERED task starts with nothing else in flight, and while one runs
 * only HEAD OF QUEUE tasks start (SAM-5 8.6.3, 8.6.4). */
static inline void mock_track_start_locked(struct mock *m, const struct vs_srb *srb)
{
	int nx = mock_nx(srb);

	if (srb->task_attr != VS_TASK_HEAD_OF_QUEUE && m->nx_ordered[nx])
		m->order_violations++;
	if (srb->task_attr == VS_TASK_ORDERED && m->nx_in_flight[nx])
		m->order_violations++;
	m->nx_in_flight[nx]++;
	if (srb->task_attr == VS_TASK_ORDERED)
		m->nx_ordered[nx]++;
}

static inline void mock_track_end_locked(struct mock *m, const struct vs_srb *srb)
{
	int nx = mock_nx(srb);

	m->nx_in_flight[nx]--;
	if (srb->task_attr == VS_TASK_ORDERED)
		m->nx_ordered[nx]--;
}

/* take one pending SRB out (m->mu held) */
static inline struct vs_srb *mock_take_locked(struct mock *m, int idx)
{
	struct vs_srb *s = m->pending[idx];
	memmove(&m->pending[idx], &m->pending[idx + 1],
	        (size_t)(m->npending - idx - 1) * sizeof(m->pending[0]));
	m->npending--;
	m->in_flight--;
	mock_track_end_locked(m, s);
	return s;
}

static inline void *mock_thread_main(void *arg)
{
	struct mock *m = arg;

	pthread_mutex_lock(&m->mu);
	while (!m->thread_stop) {
		if (m->npending == 0) {
			pthread_cond_wait(&m->cv, &m->mu);
			continue;
		}
		struct vs_srb *s = mock_take_locked(m, 0);
		pthread_mutex_unlock(&m->mu);
		mock_finish(s);
		vs_port_complete(s);
		pthread_mutex_lock(&m->mu);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

static inline int mock_find_adapter(void *aext, struct vs_port *port, const void *cfg,
                             struct vs_adapter_caps *caps)
{
	struct mock_adapter *a = aext;

	a->m = (struct mock *)cfg;
	a->m->port = port;
	caps->max_luns = 1024;
	caps->default_queue_depth = 8;
	caps->max_transfer_length = a->m->max_xfer;
	caps->max_sg_elements = a->m->max_sg;
	return 0;
}

static inline int mock_initialize(void *aext)
{
	struct mock *m = ((struct mock_adapter *)aext)->m;

	m->inits++;
	if (m->mode == MOCK_THREAD) {
		m->thread_stop = false;
		pthread_create(&m->thread, NULL, mock_thread_main, m);
		m->thread_started = true;
	}
	return 0;
}

static inline void mock_free_adapter(void *aext)
{
	struct mock *m = ((struct mock_adapter *)aext)->m;

	if (m->thread_started) {
		pthread_mutex_lock(&m->mu);
		m->thread_stop = true;
		pthread_cond_broadcast(&m->cv);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->thread, NULL);
		m->thread_started = false;
	}
	m->freed++;
}

static inline int mock_lun_attach(void *aext, struct vs_port_lun *lun, void *lext, const void *cfg)
{
	struct mock *m = ((struct mock_adapter *)aext)->m;
	struct mock_lun *ml = lext;

	(void)cfg;
	ml->m = m;
	ml->lun = lun;
	ml->number = vs_port_lun_number(lun);
	if (ml->number < 64)
		m->luns[ml->number] = lun;
	m->attached++;
	return 0;
}

static inline void mock_lun_detach(void *aext, void *lext)
{
	struct mock *m = ((struct mock_adapter *)aext)->m;
	struct mock_lun *ml = lext;

	if (ml->number < 64)
		m->luns[ml->number] = NULL;
	m->detached++;
}

static inline int mock_lun_control(void *aext, void *lext, enum vs_lun_control_type type, void *arg)
{
	struct mock *m = ((struct mock_adapter *)aext)->m;

	(void)lext;
	if (type == VS_LUN_IN_USE) {
		*(bool *)arg = m->in_use;
		return 0;
	}
	if (type == VS_LUN_QUERY) {
		struct vs_lun_info *info = arg;
		memset(info, 0, sizeof(*info));
		info->size_bytes = 1 << 20;
		info->block_size = 512;
		return 0;
	}
	return -EOPNOTSUPP;
}

static inline void mock_start_io(void *aext, void *lext, struct vs_srb *srb)
{
	struct mock *m = ((struct mock_adapter *)aext)->m;
	struct mock_lun *ml = lext;

	((struct mock_srb_ext *)srb->ext)->ml = ml;
	((struct mock_srb_ext *)srb->ext)->nx =
		srb->nexus && srb->nexus->id < MOCK_NX - 1 ? (int)srb->nexus->id : MOCK_NX - 1;
	pthread_mutex_lock(&m->mu);
	if (m->nstarted < MOCK_MAX)
		m->started_tags[m->nstarted++] = srb->tag;
	m->in_flight++;
	if (m->in_flight > m->max_in_flight)
		m->max_in_flight = m->in_flight;
	mock_track_start_locked(m, srb);
	if (m->busy_once) {
		m->busy_once = false;
		vs_port_busy(ml->lun, 0);
	}
	if (m->mode == MOCK_INLINE) {
		m->in_flight--;
		mock_track_end_locked(m, srb);
		pthread_mutex_unlock(&m->mu);
		mock_finish(srb);
		vs_port_complete(srb);
		return;
	}
	m->pending[m->npending++] = srb;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

static inline bool mock_abort_srb(void *aext, void *lext, struct vs_srb *srb)
{
	struct mock *m = ((struct mock_adapter *)aext)->m;
	struct vs_srb *found = NULL;

	(void)lext;
	pthread_mutex_lock(&m->mu);
	m->aborts++;
	if (m->abort_completes)
		for (int i = 0; i < m->npending; i++)
			if (m->pending[i] == srb) {
				found = mock_take_locked(m, i);
				break;
			}
	pthread_mutex_unlock(&m->mu);
	if (found) {
		vs_srb_set_good(found);
		vs_port_complete(found);
	}
	return found != NULL;
}

static inline int mock_reset(void *aext, void *lext, enum vs_reset_kind kind)
{
	struct mock *m = ((struct mock_adapter *)aext)->m;

	pthread_mutex_lock(&m->mu);
	m->resets[kind]++;
	while (m->reset_completes) {
		int idx = -1;
		for (int i = 0; i < m->npending && idx < 0; i++)
			if (!lext || *(void **)m->pending[i]->ext == lext)
				idx = i;
		if (idx < 0)
			break;
		struct vs_srb *s = mock_take_locked(m, idx);
		pthread_mutex_unlock(&m->mu);
		vs_srb_set_good(s);
		vs_port_complete(s);
		pthread_mutex_lock(&m->mu);
	}
	pthread_mutex_unlock(&m->mu);
	return 0;
}

static inline int mock_adapter_control(void *aext, enum vs_adapter_control_type type, void *arg)
{
	struct mock *m = ((struct mock_adapter *)aext)->m;

	pthread_mutex_lock(&m->mu);
	switch (type) {
	case VS_ADAPTER_QUERY_SUPPORTED:
		((bool *)arg)[VS_ADAPTER_STOP] = true;
		((bool *)arg)[VS_ADAPTER_RESTART] = !m->no_restart;
		break;
	case VS_ADAPTER_STOP:
		m->stops++;
		m->pending_at_stop = m->npending;
		break;
	default:
		m->restarts++;
		break;
	}
	pthread_mutex_unlock(&m->mu);
	return 0;
}

static const struct vs_miniport mock_miniport = {
	.name = "mock",
	.api_version = VS_MINIPORT_API_VERSION,
	.struct_size = sizeof(struct vs_miniport),
	.adapter_extension_size = sizeof(struct mock_adapter),
	.lun_extension_size = sizeof(struct mock_lun),
	.srb_extension_size = sizeof(struct mock_srb_ext),
	.find_adapter = mock_find_adapter,
	.initialize = mock_initialize,
	.lun_attach = mock_lun_attach,
	.lun_detach = mock_lun_detach,
	.lun_control = mock_lun_control,
	.start_io = mock_start_io,
	.abort_srb = mock_abort_srb,
	.reset = mock_reset,
	.adapter_control = mock_adapter_control,
	.free_adapter = mock_free_adapter,
};

static inline struct mock *mock_new(enum mock_mode mode)
{
	struct mock *m = calloc(1, sizeof(*m));
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	m->mode = mode;
	return m;
}

static inline void mock_free(struct mock *m)
{
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static inline int mock_npending(struct mock *m)
{
	pthread_mutex_lock(&m->mu);
	int n = m->npending;
	pthread_mutex_unlock(&m->mu);
	return n;
}

/* read a counter the port's threads may be writing */
static inline int mock_read(struct mock *m, const int *field)
{
	pthread_mutex_lock(&m->mu);
	int v = *field;
	pthread_mutex_unlock(&m->mu);
	return v;
}

/* complete the oldest pending SRB with GOOD (+ data); false if none */
static inline bool mock_complete_one(struct mock *m)
{
	pthread_mutex_lock(&m->mu);
	if (m->npending == 0) {
		pthread_mutex_unlock(&m->mu);
		return false;
	}
	struct vs_srb *s = mock_take_locked(m, 0);
	pthread_mutex_unlock(&m->mu);
	mock_finish(s);
	vs_port_complete(s);
	return true;
}

static inline int mock_complete_all(struct mock *m)
{
	int n = 0;
	while (mock_complete_one(m))
		n++;
	return n;
}

/* wait (bounded) until cond(m) holds; polls every ms */
static inline bool mock_wait_for(struct mock *m, bool (*cond)(struct mock *, void *), void *arg,
                          int timeout_ms)
{
	for (int t = 0; t < timeout_ms; t++) {
		if (cond(m, arg))
			return true;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return cond(m, arg);
}

#endif
