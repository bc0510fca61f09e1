/* SPDX-License-Identifier: MIT */
/*
 * One SRB finished: take its data in, decide by the retry table (retry.c)
 * whether its piece is done, goes again at once, waits a back-off step or
 * fails its request, and complete the request when its last piece is in.
 *
 * Exactly once: a request finishes only when no piece of it is in the
 * port or waiting (outstanding == 0) and none is left to cut; the first
 * failure sets its result, stops further cutting, and later failures or
 * retries of its other pieces change nothing.
 */
#include <errno.h>

#include "class_int.h"

/* READ must bring the whole piece; the others carry their own answers. */
static int take_data_locked(struct vs_disk *disk, struct class_req *r, const struct vs_srb *srb)
{
	if (r->phase == PHASE_SYNC)
		return 0;
	switch (r->pub.op) {
	case VS_BLK_READ:
		return srb->xfer_len < srb->data_length ? -EIO : 0;
	case VS_BLK_BLOCK_STATUS:
		return vs_class_lba_status_parse(disk, r, srb);
	case CLASS_OP_PROBE:
	case CLASS_OP_CAPACITY:
		return vs_class_probe_parse_locked(disk, r, srb);
	default:
		return 0;
	}
}

/* SBC-3 5.42: a device that does not know NDOB answers INVALID FIELD IN
 * CDB; send it the block of zeroes instead, from now on. */
static bool ndob_refused(const struct vs_srb *srb, const struct class_verdict *v)
{
	return v->action == ACT_FAIL && v->invalid_field_in_cdb &&
	       srb->cdb[0] == WRITE_SAME_16 && (srb->cdb[1] & 0x01);
}

/* Take r's pieces off a waiting list (lock held); they go nowhere now. */
static void drop_pieces_locked(struct vs_disk *disk, struct class_piece **head,
                               struct class_piece **tail, struct class_req *r)
{
	struct class_piece *prev = NULL;

	for (struct class_piece **pp = head; *pp;) {
		struct class_piece *p = *pp;

		if (p->req != r) {
			prev = p;
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		if (tail && *tail == p)
			*tail = prev;
		vs_class_piece_free_locked(disk, p);
	}
}

/* The first failure decides: cut no more of r, and what of it waits for
 * a retry will not be sent again, so r finishes with what is in the port. */
static void fail_locked(struct vs_disk *disk, struct class_req *r, int err)
{
	if (!r->pub.result)
		r->pub.result = err;
	r->all_cut = true;
	drop_pieces_locked(disk, &disk->ready_head, &disk->ready_tail, r);
	drop_pieces_locked(disk, &disk->backoff_head, NULL, r);
}

/* Decide the piece's fate (lock held).  True if the piece record is free
 * to go back (done or failed). */
static bool judge_locked(struct vs_disk *disk, struct class_piece *p,
                         const struct class_verdict *v)
{
	struct class_req *r = p->req;
	bool dead = r->pub.result != 0 || disk->aborting;
	uint64_t now;

	switch (v->action) {
	case ACT_DONE:
		return true;
	case ACT_RETRY_NOW:
		if (dead)
			return true;
		if (p->immediate >= CLASS_IMMEDIATE_RETRIES) {
			fail_locked(disk, r, v->err);
			return true;
		}
		p->immediate++;
		vs_class_ready_push_locked(disk, p);
		return false;
	case ACT_BACKOFF:
		if (dead)
			return true;
		now = class_now(disk);
		if (now >= r->deadline_ns) {
			fail_locked(disk, r, v->err);
			return true;
		}
		/* the last try goes exactly at the deadline */
		p->due_ns = now + p->backoff_ns < r->deadline_ns ? now + p->backoff_ns
		                                                 : r->deadline_ns;
		p->backoff_ns = p->backoff_ns * 2 > CLASS_BACKOFF_MAX_NS ? CLASS_BACKOFF_MAX_NS
		                                                         : p->backoff_ns * 2;
		vs_class_backoff_insert_locked(disk, p);
		return false;
	default:
		fail_locked(disk, r, v->err);
		return true;
	}
}

void vs_class_srb_done(struct vs_srb *srb)
{
	struct class_piece *p = srb->submitter_ctx;
	struct class_req *r = p->req;
	struct vs_disk *disk = r->disk;
	struct class_req *finished = NULL;
	struct class_verdict v;
	vs_disk_event_fn event;

	atomic_fetch_add(&disk->inside, 1);
	vs_class_classify(srb, &v);
	pthread_mutex_lock(&disk->lock);
	if (v.action == ACT_DONE) {
		int err = take_data_locked(disk, r, srb);

		if (err) {
			v.action = ACT_FAIL;
			v.err = err;
		}
	} else if (r->pub.op == VS_BLK_BLOCK_STATUS && v.action == ACT_FAIL &&
	           v.err == -EOPNOTSUPP && r->phase == PHASE_IO) {
		/* no GET LBA STATUS after all: everything is mapped */
		vs_class_lba_status_all_mapped(disk, r);
		v.action = ACT_DONE;
	} else if (ndob_refused(srb, &v) && !p->zero_block) {
		disk->no_ndob = true;
		p->zero_block = true;
		v.action = ACT_RETRY_NOW;
	}
	if (v.action == ACT_DONE && srb->data_ref) {
		/* only a READ piece that was the whole request accepts a
		 * reference (piece.c): the data stays where the device lent
		 * it, so keep the SRB (and the loan) for the caller,
		 * vs_disk_request_release */
		r->lent = srb;
		r->pub.data_ref = srb->data_ref;
	} else {
		vs_srb_put(srb);
	}
	p->srb = NULL;
	disk->srbs_out--;
	if (v.unit_attention && v.asc_ascq == ASC_CAPACITY_DATA_HAS_CHANGED)
		vs_class_capacity_reread_locked(disk);
	if (judge_locked(disk, p, &v)) {
		vs_class_piece_free_locked(disk, p);
		if (vs_class_req_settle_locked(disk, r))
			finished = r;
	}
	event = disk->event;
	pthread_mutex_unlock(&disk->lock);

	if (v.unit_attention && event) {
		struct vs_disk_event ev = { .type = VS_DISK_EV_UNIT_ATTENTION,
		                            .asc_ascq = v.asc_ascq };
		event(disk->event_ctx, &ev);
	}
	if (finished) {
		finished->next = NULL;
		vs_class_finish_list(finished);
	}
	/* a piece, an SRB or a retry became free or due: start what waits */
	vs_class_pump(disk);
	atomic_fetch_sub(&disk->inside, 1);
}
