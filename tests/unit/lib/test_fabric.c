/* SPDX-License-Identifier: MIT */
/* test_fabric: see test_fabric.h */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_fabric.h"
#include "vstor/scsi.h"

#define TF_POOL_SRBS 256
#define TF_WAIT_MS   10000

struct tf_task {
	struct tf *tf;
	struct vs_srb *srb;
	struct iovec iov;
	int done_count;
	struct tf_task *next, *prev;    /* tf->tasks */
};

struct tf {
	struct vs_port *port;
	struct vs_srb_pool *pool;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct tf_task *tasks;
	uint64_t done_calls, doubles;
	uint64_t next_tag;
};

static void tf_done(struct vs_srb *srb)
{
	struct tf_task *t = srb->done_ctx;
	struct tf *tf = t->tf;

	pthread_mutex_lock(&tf->mu);
	if (t->done_count++)
		tf->doubles++;
	tf->done_calls++;
	pthread_cond_broadcast(&tf->cv);
	pthread_mutex_unlock(&tf->mu);
}

struct tf *tf_create(const struct vs_miniport *mp, const struct vs_port_config *cfg,
                     const void *adapter_config)
{
	struct tf *tf = calloc(1, sizeof(*tf));
	pthread_condattr_t a;

	if (!tf)
		return NULL;
	pthread_mutex_init(&tf->mu, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&tf->cv, &a);
	pthread_condattr_destroy(&a);
	tf->next_tag = 1;
	tf->port = vs_port_create(mp, cfg, adapter_config);
	if (!tf->port)
		goto fail;
	tf->pool = vs_srb_pool_create(tf->port, TF_POOL_SRBS, 0);
	if (!tf->pool)
		goto fail;
	return tf;
fail:
	if (tf->port)
		vs_port_destroy(tf->port);
	pthread_cond_destroy(&tf->cv);
	pthread_mutex_destroy(&tf->mu);
	free(tf);
	return NULL;
}

void tf_destroy(struct tf *tf)
{
	if (!tf)
		return;
	vs_port_destroy(tf->port);      /* completes whatever is still pending */
	while (tf->tasks) {
		struct tf_task *t = tf->tasks;
		tf->tasks = t->next;
		free(t);
	}
	pthread_cond_destroy(&tf->cv);
	pthread_mutex_destroy(&tf->mu);
	free(tf);
}

struct vs_port *tf_port(struct tf *tf) { return tf->port; }
struct vs_srb_pool *tf_pool(struct tf *tf) { return tf->pool; }

struct vs_nexus *tf_nexus(struct tf *tf, const char *name)
{
	return vs_port_nexus_open(tf->port, name, name, NULL, 0);
}

void tf_parse_sense(const uint8_t *s, size_t len, struct tf_result *out)
{
	out->sense_key = out->asc = out->ascq = 0;
	if (len < 1)
		return;
	switch (s[0] & 0x7f) {
	case 0x70:
	case 0x71:
		if (len >= 3)
			out->sense_key = s[2] & 0x0f;
		if (len >= 14) {
			out->asc = s[12];
			out->ascq = s[13];
		}
		break;
	case 0x72:
	case 0x73:
		if (len >= 4) {
			out->sense_key = s[1] & 0x0f;
			out->asc = s[2];
			out->ascq = s[3];
		}
		break;
	default:
		break;
	}
}

struct tf_task *tf_submit_ex(struct tf *tf, struct vs_nexus *nexus, uint64_t lun,
                             const uint8_t *cdb, size_t cdb_len, int dir, void *buf,
                             uint32_t len, uint8_t task_attr, uint64_t tag, uint32_t timeout_ms)
{
	struct tf_task *t;
	struct vs_srb *srb;

	if (cdb_len > VS_CDB_MAX)
		return NULL;
	srb = vs_srb_get(tf->pool);
	if (!srb)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t) {
		vs_srb_put(srb);
		return NULL;
	}
	t->tf = tf;
	t->srb = srb;
	memcpy(srb->cdb, cdb, cdb_len);
	srb->cdb_len = (uint8_t)cdb_len;
	srb->task_attr = task_attr;
	srb->data_dir = (uint8_t)dir;
	srb->lun = lun;
	pthread_mutex_lock(&tf->mu);
	srb->tag = tag ? tag : tf->next_tag++;
	t->next = tf->tasks;
	if (tf->tasks)
		tf->tasks->prev = t;
	tf->tasks = t;
	pthread_mutex_unlock(&tf->mu);
	if (buf && len) {
		t->iov.iov_base = buf;
		t->iov.iov_len = len;
		srb->iov = &t->iov;
		srb->iovcnt = 1;
	} else {
		srb->iov = NULL;
		srb->iovcnt = 0;
	}
	srb->data_length = len;
	srb->timeout_ms = timeout_ms;
	srb->nexus = nexus;
	srb->done = tf_done;
	srb->done_ctx = t;
	vs_port_submit(tf->port, srb);
	return t;
}

struct tf_task *tf_submit(struct tf *tf, struct vs_nexus *nexus, uint64_t lun,
                          const uint8_t *cdb, size_t cdb_len, int dir, void *buf, uint32_t len)
{
	return tf_submit_ex(tf, nexus, lun, cdb, cdb_len, dir, buf, len, VS_TASK_SIMPLE, 0, 0);
}

int tf_task_done(struct tf_task *t)
{
	int d;

	pthread_mutex_lock(&t->tf->mu);
	d = t->done_count > 0;
	pthread_mutex_unlock(&t->tf->mu);
	return d;
}

int tf_task_done_count(struct tf_task *t)
{
	int d;

	pthread_mutex_lock(&t->tf->mu);
	d = t->done_count;
	pthread_mutex_unlock(&t->tf->mu);
	return d;
}

struct vs_srb *tf_task_srb(struct tf_task *t)
{
	return t->srb;
}

static void fill_result(const struct vs_srb *srb, struct tf_result *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	out->srb_status = srb->srb_status;
	out->status = srb->scsi_status;
	out->sense_len = srb->sense_len;
	out->resid_flags = srb->resid_flags;
	out->residual = srb->residual;
	out->xfer_len = srb->xfer_len;
	memcpy(out->sense, srb->sense, srb->sense_len);
	if (srb->sense_len)
		tf_parse_sense(srb->sense, srb->sense_len, out);
}

int tf_wait_ms(struct tf_task *t, struct tf_result *out, uint32_t ms)
{
	struct tf *tf = t->tf;
	struct timespec dl;
	struct vs_srb *srb = t->srb;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&tf->mu);
	while (t->done_count == 0) {
		if (pthread_cond_timedwait(&tf->cv, &tf->mu, &dl) == ETIMEDOUT && t->done_count == 0) {
			pthread_mutex_unlock(&tf->mu);
			return -ETIMEDOUT;
		}
	}
	if (t->prev)
		t->prev->next = t->next;
	else
		tf->tasks = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&tf->mu);

	fill_result(srb, out);
	vs_srb_put(srb);
	free(t);
	return 0;
}

int tf_wait(struct tf_task *t, struct tf_result *out)
{
	return tf_wait_ms(t, out, TF_WAIT_MS);
}

int tf_exec(struct tf *tf, struct vs_nexus *nexus, uint64_t lun, const uint8_t *cdb,
            size_t cdb_len, int dir, void *buf, uint32_t len, struct tf_result *out)
{
	struct tf_task *t = tf_submit(tf, nexus, lun, cdb, cdb_len, dir, buf, len);

	if (!t)
		return -ENOMEM;
	return tf_wait(t, out);
}

int tf_clear_ua(struct tf *tf, struct vs_nexus *nexus, uint64_t lun)
{
	uint8_t tur[6] = { TEST_UNIT_READY };
	struct tf_result r;

	for (int i = 0; i < 16; i++) {
		int rc = tf_exec(tf, nexus, lun, tur, sizeof(tur), VS_DIR_NONE, NULL, 0, &r);
		if (rc)
			return rc;
		if (!(r.status == SAM_STAT_CHECK_CONDITION && r.sense_key == SENSE_UNIT_ATTENTION))
			return 0;
	}
	return -EAGAIN;
}

uint64_t tf_done_calls(struct tf *tf)
{
	uint64_t v;

	pthread_mutex_lock(&tf->mu);
	v = tf->done_calls;
	pthread_mutex_unlock(&tf->mu);
	return v;
}

uint64_t tf_double_completions(struct tf *tf)
{
	uint64_t v;

	pthread_mutex_lock(&tf->mu);
	v = tf->doubles;
	pthread_mutex_unlock(&tf->mu);
	return v;
}

static void pio_done(struct vs_srb *srb)
{
	struct tf_pio *io = srb->done_ctx;

	io->done++;
}

void tf_pio_submit(struct vs_port *port, struct vs_srb_pool *pool, struct vs_nexus *nexus,
                   uint64_t lun, const uint8_t *cdb, size_t cdb_len, int dir, const void *data,
                   uint32_t len, struct tf_pio *io)
{
	size_t cap = 0;
	uint8_t *buf;

	io->done = 0;
	io->srb = vs_srb_get(pool);
	if (!io->srb)
		return;
	memcpy(io->srb->cdb, cdb, cdb_len);
	io->srb->cdb_len = (uint8_t)cdb_len;
	io->srb->data_dir = (uint8_t)dir;
	io->srb->lun = lun;
	io->srb->nexus = nexus;
	/* as a fabric takes it: the LUN's own memory if it lends some (in
	 * the pool's own iovec, which lives as long as the SRB) */
	buf = len && io->srb->iov ? vs_port_srb_buffer(port, io->srb, len) : NULL;
	if (buf) {
		cap = len;
		io->srb->iov[0] = (struct iovec){ buf, len };
	} else {
		buf = vs_srb_buffer(io->srb, &cap);
	}
	io->srb->data_length = len <= cap ? len : (uint32_t)cap;
	if (data && buf)
		memcpy(buf, data, io->srb->data_length);
	io->srb->done = pio_done;
	io->srb->done_ctx = io;
	vs_port_submit(port, io->srb);
}

int tf_pio_wait(struct tf_pio *io, uint32_t ms, struct tf_result *out)
{
	const struct timespec one_ms = { 0, 1000000 };
	struct vs_srb *srb = io->srb;

	if (!srb)
		return -ENOMEM;
	for (uint32_t i = 0; i < ms && !io->done; i++)
		nanosleep(&one_ms, NULL);
	if (io->done != 1)
		return -ETIMEDOUT;
	fill_result(srb, out);
	vs_srb_put(srb);
	io->srb = NULL;
	return 0;
}

#define TF_WORKQ_MAX 65536

struct tf_work {
	struct vs_work w;
	struct tf_workq_fill *owner;
};

struct tf_workq_fill {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
	unsigned blocked, ran, queued;
	struct tf_work items[TF_WORKQ_MAX];
};

static void tf_work_fn(struct vs_work *w)
{
	struct tf_workq_fill *f = ((struct tf_work *)w)->owner;

	pthread_mutex_lock(&f->mu);
	f->blocked++;
	pthread_cond_broadcast(&f->cv);
	while (!f->open)
		pthread_cond_wait(&f->cv, &f->mu);
	f->ran++;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

struct tf_workq_fill *tf_workq_fill(struct vs_port *port, unsigned threads)
{
	struct tf_workq_fill *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	for (unsigned i = 0; i < TF_WORKQ_MAX; i++) {
		f->items[i].w.fn = tf_work_fn;
		f->items[i].owner = f;
		if (vs_port_queue_work(port, &f->items[i].w) < 0)
			break;
		f->queued++;
		if (i + 1 == threads) {
			/* every worker holds one: the rest stays queued */
			pthread_mutex_lock(&f->mu);
			while (f->blocked < threads)
				pthread_cond_wait(&f->cv, &f->mu);
			pthread_mutex_unlock(&f->mu);
		}
	}
	return f;
}

unsigned tf_workq_queued(const struct tf_workq_fill *f)
{
	return f->queued;
}

void tf_workq_release(struct tf_workq_fill *f)
{
	pthread_mutex_lock(&f->mu);
	f->open = true;
	pthread_cond_broadcast(&f->cv);
	while (f->ran < f->queued)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

struct tf_tmf_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int resp;
};

static void tf_tmf_done(void *ctx, enum vs_tmf_response resp)
{
	struct tf_tmf_wait *w = ctx;

	pthread_mutex_lock(&w->mu);
	w->resp = (int)resp;
	w->done = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int tf_tmf(struct tf *tf, struct vs_nexus *nexus, enum vs_tmf fn, uint64_t lun, uint64_t tag)
{
	struct tf_tmf_wait *w = calloc(1, sizeof(*w));
	struct timespec dl;
	int rc;

	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	vs_port_task_mgmt(tf->port, nexus, fn, lun, tag, tf_tmf_done, w);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += TF_WAIT_MS / 1000;
	pthread_mutex_lock(&w->mu);
	while (!w->done)
		if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) == ETIMEDOUT && !w->done)
			break;
	rc = w->done ? w->resp : -ETIMEDOUT;
	pthread_mutex_unlock(&w->mu);
	if (rc == -ETIMEDOUT)
		return rc;      /* leak w on purpose: the port may still call back */
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	return rc;
}
