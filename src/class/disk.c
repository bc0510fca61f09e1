/* SPDX-License-Identifier: MIT */
/*
 * A disk's life: create (every pool sized here, the nexus opened), probe,
 * request slots, abort, destroy.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "class_int.h"

/* SRBs and piece records beyond max_srbs: the probe and the capacity
 * re-read never wait behind block requests */
#define INTERNAL_SLOTS 2u

static void disk_free(struct vs_disk *disk)
{
	if (disk->pool)
		vs_srb_pool_destroy(disk->pool);
	free(disk->reqs);
	free(disk->pieces);
	free(disk->iov_area);
	free(disk->batch);
	free(disk->zero_block);
	pthread_mutex_destroy(&disk->lock);
	free(disk);
}

static int alloc_slots(struct vs_disk *disk)
{
	uint32_t npieces = disk->max_srbs + INTERNAL_SLOTS;

	disk->reqs = calloc(disk->depth, sizeof(*disk->reqs));
	disk->pieces = calloc(npieces, sizeof(*disk->pieces));
	disk->iov_area = calloc((size_t)npieces * disk->max_sg, sizeof(*disk->iov_area));
	disk->batch = calloc(npieces, sizeof(*disk->batch));
	if (!disk->reqs || !disk->pieces || !disk->iov_area || !disk->batch)
		return -ENOMEM;
	for (uint32_t i = 0; i < disk->depth; i++) {
		disk->reqs[i].disk = disk;
		disk->reqs[i].next = i + 1 < disk->depth ? &disk->reqs[i + 1] : NULL;
	}
	disk->free_reqs = disk->reqs;
	for (uint32_t i = 0; i < npieces; i++) {
		disk->pieces[i].iov = &disk->iov_area[(size_t)i * disk->max_sg];
		disk->pieces[i].next = i + 1 < npieces ? &disk->pieces[i + 1] : NULL;
	}
	disk->free_pieces = disk->pieces;
	disk->probe_req.disk = disk;
	disk->cap_req.disk = disk;
	/* Twice the pieces: the port calls done() before it lets go of its
	 * own reference (io.c), so an SRB just put is not free yet while the
	 * piece it carried may already be cut again. */
	disk->pool = vs_srb_pool_create(disk->port, 2 * npieces, disk->srb_buf_len);
	return disk->pool ? 0 : -ENOMEM;
}

struct vs_disk *vs_disk_create(const struct vs_disk_config *cfg)
{
	struct vs_adapter_caps caps;
	struct vs_disk *disk;

	if (!cfg || !cfg->port) {
		vs_set_error("disk: %s is NULL", cfg ? "config.port" : "config");
		return NULL;
	}
	if (!cfg->nexus_name || !cfg->nexus_name[0]) {
		vs_set_error("disk: config.nexus_name is empty");
		return NULL;
	}
	if (vs_port_adapter_caps(cfg->port, &caps) < 0)
		return NULL;
	disk = calloc(1, sizeof(*disk));
	if (!disk) {
		vs_set_error("disk: out of memory");
		return NULL;
	}
	pthread_mutex_init(&disk->lock, NULL);
	disk->port = cfg->port;
	disk->lun = cfg->lun;
	disk->depth = cfg->queue_depth ? cfg->queue_depth : CLASS_DEFAULT_DEPTH;
	disk->max_srbs = cfg->max_srbs ? cfg->max_srbs : disk->depth;
	disk->max_iov = cfg->max_iov ? cfg->max_iov : CLASS_DEFAULT_IOV;
	disk->max_sg = caps.max_sg_elements && caps.max_sg_elements < disk->max_iov
	               ? caps.max_sg_elements : disk->max_iov;
	disk->adapter_max_xfer = caps.max_transfer_length;
	disk->srb_buf_len = CLASS_SRB_BUF_MIN;
	disk->srb_timeout_ms = cfg->srb_timeout_ms;
	disk->deadline_ns = (uint64_t)(cfg->retry_deadline_ms ? cfg->retry_deadline_ms
	                                                      : CLASS_DEFAULT_DEADLINE_MS) * 1000000ull;
	disk->event = cfg->event;
	disk->event_ctx = cfg->event_ctx;
	disk->srb_done = vs_class_srb_done;
	disk->armed_ns = VS_DISK_TIMER_OFF;
	if (alloc_slots(disk) < 0) {
		vs_set_error("disk: out of memory for %u requests / %u SRBs", disk->depth,
		             disk->max_srbs);
		disk_free(disk);
		return NULL;
	}
	if (cfg->timer.arm) {
		disk->timer = cfg->timer;
	} else if (vs_class_timer_register(disk) < 0) {
		disk_free(disk);
		return NULL;
	}
	disk->nexus = vs_port_nexus_open(cfg->port, cfg->nexus_name, cfg->initiator_name, NULL, 0);
	if (!disk->nexus) {
		vs_class_timer_unregister(disk);
		disk_free(disk);
		return NULL;
	}
	return disk;
}

int vs_disk_probe(struct vs_disk *disk, void (*done)(void *ctx, int err), void *ctx)
{
	if (!disk || !done) {
		vs_set_error("disk_probe: %s is NULL", disk ? "done" : "disk");
		return -EINVAL;
	}
	pthread_mutex_lock(&disk->lock);
	if (disk->internal_out || disk->aborting) {
		pthread_mutex_unlock(&disk->lock);
		vs_set_error("disk_probe: %s", disk->aborting ? "disk aborted" : "already probing");
		return -EBUSY;
	}
	disk->probe_done = done;
	disk->probe_ctx = ctx;
	vs_class_probe_start_locked(disk);
	pthread_mutex_unlock(&disk->lock);
	vs_class_pump(disk);
	return 0;
}

struct probe_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int err;
};

static void probe_woke(void *ctx, int err)
{
	struct probe_wait *w = ctx;

	pthread_mutex_lock(&w->mu);
	w->err = err;
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int vs_disk_probe_sync(struct vs_disk *disk)
{
	struct probe_wait w = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	int rc = vs_disk_probe(disk, probe_woke, &w);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	if (w.err)
		vs_set_error("disk: probing LUN %llu failed: %s", (unsigned long long)disk->lun,
		             w.err == -ENODEV ? "no disk there" : "the LUN did not answer");
	return w.err;
}

void vs_disk_info(struct vs_disk *disk, struct vs_disk_info *out)
{
	if (!out)
		return;
	if (!disk) {
		memset(out, 0, sizeof(*out));
		return;
	}
	pthread_mutex_lock(&disk->lock);
	*out = disk->info;
	pthread_mutex_unlock(&disk->lock);
}

struct vs_nexus *vs_disk_nexus(struct vs_disk *disk)
{
	return disk ? disk->nexus : NULL;
}

struct vs_blk_request *vs_disk_request_get(struct vs_disk *disk)
{
	struct class_req *r;

	if (!disk)
		return NULL;
	pthread_mutex_lock(&disk->lock);
	r = disk->free_reqs;
	if (r) {
		disk->free_reqs = r->next;
		r->next = NULL;
		r->in_use = true;
		disk->busy++;
	}
	pthread_mutex_unlock(&disk->lock);
	if (r)
		memset(&r->pub, 0, sizeof(r->pub));
	return r ? &r->pub : NULL;
}

/* The SRB that lent a READ's data goes back to the pool now: the port
 * ends the device's loan (srb.h data_ref_release). */
void vs_disk_request_release(struct vs_blk_request *req)
{
	struct class_req *r = (struct class_req *)req;
	struct vs_srb *srb = r ? r->lent : NULL;

	if (!srb)
		return;
	r->lent = NULL;
	req->data_ref = NULL;
	vs_srb_put(srb);
}

void vs_disk_request_put(struct vs_blk_request *req)
{
	struct class_req *r = (struct class_req *)req;
	struct vs_disk *disk;

	if (!req)
		return;
	vs_disk_request_release(req);
	disk = r->disk;
	pthread_mutex_lock(&disk->lock);
	if (r->in_use) {
		r->in_use = false;
		r->next = disk->free_reqs;
		disk->free_reqs = r;
		disk->busy--;
	}
	pthread_mutex_unlock(&disk->lock);
}

uint32_t vs_disk_busy(struct vs_disk *disk)
{
	uint32_t n;

	if (!disk)
		return 0;
	pthread_mutex_lock(&disk->lock);
	n = disk->busy;
	pthread_mutex_unlock(&disk->lock);
	return n;
}

void vs_disk_abort(struct vs_disk *disk)
{
	struct class_req *finished;

	if (!disk)
		return;
	atomic_fetch_add(&disk->inside, 1);
	pthread_mutex_lock(&disk->lock);
	disk->aborting = true;
	finished = vs_class_cancel_waiting_locked(disk, -ECANCELED);
	pthread_mutex_unlock(&disk->lock);
	vs_class_finish_list(finished);
	/* what is in the port comes back VS_SRB_ABORTED: -ECANCELED */
	vs_port_nexus_abort_all(disk->port, disk->nexus);
	atomic_fetch_sub(&disk->inside, 1);
}

int vs_disk_destroy(struct vs_disk *disk)
{
	if (!disk)
		return 0;
	if (vs_disk_busy(disk)) {
		vs_set_error("disk: %u requests still out", vs_disk_busy(disk));
		return -EBUSY;
	}
	vs_disk_abort(disk);
	/* The probe or a capacity re-read may still be in the port, and a
	 * thread that ran the last done() may still be on its way out: both
	 * end promptly once aborted. */
	for (;;) {
		pthread_mutex_lock(&disk->lock);
		bool idle = disk->internal_out == 0 && disk->srbs_out == 0;
		if (idle && disk->timer.arm && !disk->own_timer)
			disk->timer.arm(disk->timer.ctx, VS_DISK_TIMER_OFF);
		pthread_mutex_unlock(&disk->lock);
		if (idle && atomic_load(&disk->inside) == 0)
			break;
		sched_yield();
	}
	vs_class_timer_unregister(disk);
	vs_port_nexus_close(disk->port, disk->nexus);
	disk_free(disk);
	return 0;
}
