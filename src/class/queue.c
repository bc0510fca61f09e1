/* SPDX-License-Identifier: MIT */
/*
 * Submitting: check a block request, queue it, and the pump that starts
 * pieces while a piece record and an SRB are free.
 *
 * The pump is a combining loop: whoever finds it running (another thread,
 * or an SRB completed inline inside vs_port_submit on this thread) only
 * says "again" and returns, so submission never recurses and never holds
 * the disk lock across vs_port_submit (whose done() may run inline).
 */
#include <errno.h>
#include <string.h>

#include "class_int.h"

void vs_class_enqueue_locked(struct vs_disk *disk, struct class_req *r)
{
	r->next = NULL;
	r->queued = true;
	if (disk->wait_tail)
		disk->wait_tail->next = r;
	else
		disk->wait_head = r;
	disk->wait_tail = r;
}

void vs_class_ready_push_locked(struct vs_disk *disk, struct class_piece *p)
{
	p->next = NULL;
	p->wait = WAIT_READY;
	if (disk->ready_tail)
		disk->ready_tail->next = p;
	else
		disk->ready_head = p;
	disk->ready_tail = p;
}

static void finish_now(struct class_req *r, int err)
{
	r->pub.result = err;
	r->phase = PHASE_DONE;
	r->pub.done(&r->pub);
}

static uint64_t iov_bytes(const struct iovec *iov, int n)
{
	uint64_t total = 0;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	return total;
}

/* 0, or the errno the request completes with at once (lock held). */
static int check_request(struct vs_disk *disk, struct class_req *r)
{
	const struct vs_blk_request *q = &r->pub;
	const struct vs_disk_info *in = &disk->info;
	uint32_t bs = in->block_size;

	if (disk->aborting)
		return -ESHUTDOWN;
	if (!disk->probed)
		return -EAGAIN;
	if (q->op == VS_BLK_FLUSH)
		return 0;
	if (q->op < VS_BLK_READ || q->op > VS_BLK_BLOCK_STATUS)
		return -EINVAL;
	if (q->offset % bs || q->length % bs || q->length == 0 ||
	    q->offset > in->capacity_bytes || q->length > in->capacity_bytes - q->offset)
		return -EINVAL;
	if (in->readonly && (q->op == VS_BLK_WRITE || q->op == VS_BLK_UNMAP ||
	                     q->op == VS_BLK_WRITE_ZEROES))
		return -EROFS;
	switch (q->op) {
	case VS_BLK_READ:
	case VS_BLK_WRITE:
		if (q->iovcnt <= 0 || (uint32_t)q->iovcnt > disk->max_iov || !q->iov ||
		    iov_bytes(q->iov, q->iovcnt) < q->length)
			return -EINVAL;
		break;
	case VS_BLK_UNMAP:
		if (!in->can_unmap)
			return -EOPNOTSUPP;
		break;
	case VS_BLK_WRITE_ZEROES:
		/* fast only when WRITE SAME may deallocate and that reads back
		 * zeroes (LBPWS + LBPRZ) and the caller allows a hole */
		if ((q->flags & VS_BLK_FAST_ZERO) &&
		    ((q->flags & VS_BLK_NO_UNMAP) || !in->can_write_same_unmap || !in->unmap_zeroes))
			return -EOPNOTSUPP;
		break;
	case VS_BLK_BLOCK_STATUS:
		if (!q->extents || q->max_extents == 0)
			return -EINVAL;
		break;
	}
	return 0;
}

void vs_disk_submit(struct vs_disk *disk, struct vs_blk_request *req)
{
	struct class_req *r = (struct class_req *)req;
	int err;

	if (!req || !req->done)
		return;         /* nothing to tell, nobody to tell it to */
	req->result = 0;
	req->nextents = 0;
	vs_disk_request_release(req);   /* a loan the caller did not end */
	if (!disk) {
		finish_now(r, -EINVAL);
		return;
	}
	atomic_fetch_add(&disk->inside, 1);
	pthread_mutex_lock(&disk->lock);
	err = check_request(disk, r);
	if (err) {
		pthread_mutex_unlock(&disk->lock);
		finish_now(r, err);
		atomic_fetch_sub(&disk->inside, 1);
		return;
	}
	r->phase = PHASE_IO;
	r->outstanding = 0;
	r->all_cut = false;
	r->internal_done = NULL;
	if (req->op == VS_BLK_FLUSH) {
		r->lba = 0;
		r->nblocks = 0;
	} else {
		r->lba = req->offset / disk->info.block_size;
		r->nblocks = req->length / disk->info.block_size;
	}
	r->next_lba = r->lba;
	if (req->op == VS_BLK_BLOCK_STATUS && !disk->info.block_status) {
		/* LBPME=0: fully provisioned, every block is mapped (SBC-3 4.7.2) */
		vs_class_lba_status_all_mapped(disk, r);
		pthread_mutex_unlock(&disk->lock);
		finish_now(r, 0);
		atomic_fetch_sub(&disk->inside, 1);
		return;
	}
	/* WRITE SAME and UNMAP have no FUA bit: a SYNCHRONIZE CACHE over the
	 * range follows them (SBC-3 5.26) */
	r->sync_after = (req->flags & VS_BLK_FUA) &&
	                (req->op == VS_BLK_UNMAP || req->op == VS_BLK_WRITE_ZEROES);
	r->deadline_ns = class_now(disk) + disk->deadline_ns;
	vs_class_enqueue_locked(disk, r);
	pthread_mutex_unlock(&disk->lock);
	vs_class_pump(disk);
	atomic_fetch_sub(&disk->inside, 1);
}

static bool is_internal(const struct class_req *r)
{
	return r->pub.op >= CLASS_OP_PROBE;
}

void vs_class_piece_free_locked(struct vs_disk *disk, struct class_piece *p)
{
	if (!is_internal(p->req))
		disk->user_pieces--;
	p->req->outstanding--;
	p->req = NULL;
	p->wait = WAIT_NONE;
	p->next = disk->free_pieces;
	disk->free_pieces = p;
}

/* A piece that could not even be cut fails its request. */
static void fail_req_locked(struct class_req *r, int err)
{
	if (!r->pub.result)
		r->pub.result = err;
	r->all_cut = true;
}

bool vs_class_req_settle_locked(struct vs_disk *disk, struct class_req *r)
{
	if (r->outstanding || !r->all_cut || r->queued)
		return false;
	if (r->phase == PHASE_IO && r->sync_after && !r->pub.result) {
		r->phase = PHASE_SYNC;
		r->all_cut = false;
		vs_class_enqueue_locked(disk, r);
		return false;
	}
	r->phase = PHASE_DONE;
	return true;
}

void vs_class_finish_list(struct class_req *list)
{
	while (list) {
		struct class_req *r = list;

		list = r->next;
		r->next = NULL;
		if (r->internal_done)
			r->internal_done(r);
		else
			r->pub.done(&r->pub);
	}
}

static void push_finished(struct class_req **list, struct class_req *r)
{
	r->next = *list;
	*list = r;
}

/* Pop the head request off the wait queue (lock held). */
static struct class_req *wait_pop_locked(struct vs_disk *disk)
{
	struct class_req *r = disk->wait_head;

	disk->wait_head = r->next;
	if (!disk->wait_head)
		disk->wait_tail = NULL;
	r->next = NULL;
	r->queued = false;
	return r;
}

/* One pass: attach SRBs to ready pieces, then cut new pieces; returns how
 * many SRBs went into disk->batch (lock held). */
static uint32_t fill_batch_locked(struct vs_disk *disk, struct class_req **finished)
{
	uint32_t n = 0;

	while (disk->ready_head) {
		struct vs_srb *srb = vs_srb_get(disk->pool);
		struct class_piece *p = disk->ready_head;

		if (!srb)
			return n;
		disk->ready_head = p->next;
		if (!disk->ready_head)
			disk->ready_tail = NULL;
		p->next = NULL;
		p->wait = WAIT_NONE;
		p->srb = srb;
		vs_class_piece_build(disk, p, srb);
		disk->batch[n++] = srb;
	}
	while (disk->wait_head) {
		struct class_req *r = disk->wait_head;
		struct class_piece *p;
		struct vs_srb *srb;

		if (r->all_cut || r->pub.result) {
			/* failed meanwhile: nothing more of it starts */
			r->all_cut = true;
			wait_pop_locked(disk);
			if (vs_class_req_settle_locked(disk, r))
				push_finished(finished, r);
			continue;
		}
		/* max_srbs for block requests; the rest is the internal ones' */
		if (!disk->free_pieces || (!is_internal(r) && disk->user_pieces >= disk->max_srbs))
			break;
		srb = vs_srb_get(disk->pool);
		if (!srb)
			break;
		p = disk->free_pieces;
		disk->free_pieces = p->next;
		p->next = NULL;
		if (!is_internal(r))
			disk->user_pieces++;
		int rc = vs_class_piece_cut(disk, r, p);
		if (rc < 0) {
			p->req = r;
			r->outstanding++;
			vs_class_piece_free_locked(disk, p);
			vs_srb_put(srb);
			fail_req_locked(r, rc);
			continue;       /* popped and settled above next time round */
		}
		r->outstanding++;
		if (r->all_cut)
			wait_pop_locked(disk);
		p->srb = srb;
		vs_class_piece_build(disk, p, srb);
		disk->batch[n++] = srb;
	}
	return n;
}

#define STUCK_POLL_NS 1000000ull        /* 1 ms */

/* Ask the timer for the earliest back-off (backoff.c keeps them sorted). */
static void timer_rearm_locked(struct vs_disk *disk)
{
	uint64_t when = VS_DISK_TIMER_OFF;

	if (disk->backoff_head)
		when = disk->backoff_head->due_ns;
	/* Work waits for an SRB while none is in the port to bring one back
	 * (the miniport still holds an aborted one): look again soon. */
	if ((disk->ready_head || disk->wait_head) && !disk->srbs_out) {
		uint64_t soon = class_now(disk) + STUCK_POLL_NS;

		if (soon < when)
			when = soon;
	}
	if (when == disk->armed_ns)
		return;
	disk->armed_ns = when;
	disk->timer.arm(disk->timer.ctx, when);
}

void vs_class_pump(struct vs_disk *disk)
{
	struct class_req *finished = NULL;

	pthread_mutex_lock(&disk->lock);
	if (disk->pumping) {
		disk->pump_again = true;
		pthread_mutex_unlock(&disk->lock);
		return;
	}
	disk->pumping = true;
	do {
		uint32_t n;

		disk->pump_again = false;
		n = fill_batch_locked(disk, &finished);
		disk->srbs_out += n;
		if (!n && !finished)
			break;
		pthread_mutex_unlock(&disk->lock);
		vs_class_finish_list(finished);
		finished = NULL;
		for (uint32_t i = 0; i < n; i++)
			vs_port_submit(disk->port, disk->batch[i]);
		pthread_mutex_lock(&disk->lock);
	} while (disk->pump_again);
	disk->pumping = false;
	/* the earliest back-off, or a poll if work is stuck (backoff.c) */
	timer_rearm_locked(disk);
	pthread_mutex_unlock(&disk->lock);
}

struct class_req *vs_class_cancel_waiting_locked(struct vs_disk *disk, int err)
{
	struct class_req *finished = NULL;
	struct class_piece *lists[2] = { disk->ready_head, disk->backoff_head };

	disk->ready_head = disk->ready_tail = NULL;
	disk->backoff_head = NULL;
	for (int i = 0; i < 2; i++) {
		while (lists[i]) {
			struct class_piece *p = lists[i];
			struct class_req *r = p->req;

			lists[i] = p->next;
			fail_req_locked(r, err);
			vs_class_piece_free_locked(disk, p);
			if (vs_class_req_settle_locked(disk, r))
				push_finished(&finished, r);
		}
	}
	while (disk->wait_head) {
		struct class_req *r = wait_pop_locked(disk);

		fail_req_locked(r, err);
		if (vs_class_req_settle_locked(disk, r))
			push_finished(&finished, r);
	}
	return finished;
}
