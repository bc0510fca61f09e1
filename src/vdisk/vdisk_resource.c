/* SPDX-License-Identifier: MIT */
/*
 * When the resource behind a LUN goes away and comes back: the block
 * stack's events, turned into SCSI.
 *
 *  - lost: media-access commands get NOT READY / LOGICAL UNIT IS IN
 *    PROCESS OF BECOMING READY (04/01), a status every initiator retries,
 *    never MEDIUM ERROR; and if the layer asks, the port holds the LUN's
 *    new commands (Storport's pause of one device) for up to hold_ms, so
 *    that a short outage is never seen at all;
 *  - back: ready again, held commands go on;
 *  - resized: the new capacity, and CAPACITY DATA HAS CHANGED (2A/09) for
 *    every I_T nexus (SBC-3 4.6);
 *  - failed for good: NOT READY / MANUAL INTERVENTION REQUIRED (04/03);
 *  - a layer's state (a mirror's leg degraded): told to the LUN's owner for
 *    its log, nothing else.
 *
 * Events arrive on whatever thread the layer raises them on, possibly
 * with the layer's own locks held or from inside its event loop.  So the
 * handler only records that something changed and queues one work item
 * on the port's worker pool, which applies the stack's current state:
 * resuming the port starts held commands, and those must not re-enter the
 * layer on the thread that raised the event.  Applying the state (not
 * each event) keeps a LOST that overtakes a BACK in the queue right.
 */
#include <inttypes.h>
#include <stdio.h>

#include "vdisk_int.h"

#define EV_PENDING 0x1u         /* something to apply */
#define EV_RESIZED 0x2u         /* re-read the size */
#define EV_QUEUED  0x4u         /* the work item is queued or running */

static void apply(struct vdisk_lun *lun)
{
	struct vs_bdev_status st;
	uint32_t nr_lost = VDISK_NR_LOST | VDISK_NR_FAILED;

	vs_bdev_get_status(lun->bdev, &st);
	switch (st.state) {
	case VS_BDEV_LOST:
		atomic_fetch_and(&lun->not_ready, ~(uint32_t)VDISK_NR_FAILED);
		atomic_fetch_or(&lun->not_ready, VDISK_NR_LOST);
		if (lun->plun && atomic_load(&lun->hold_ms))
			vs_port_lun_pause(lun->plun, atomic_load(&lun->hold_ms));
		break;
	case VS_BDEV_FAILED:
		atomic_fetch_and(&lun->not_ready, ~(uint32_t)VDISK_NR_LOST);
		atomic_fetch_or(&lun->not_ready, VDISK_NR_FAILED);
		if (lun->plun)
			vs_port_lun_resume(lun->plun);  /* held commands get their answer */
		break;
	default:
		atomic_fetch_and(&lun->not_ready, ~nr_lost);
		if (lun->plun)
			vs_port_lun_resume(lun->plun);
		break;
	}
}

static void resized(struct vdisk_lun *lun)
{
	uint64_t blocks = vs_bdev_get_size(lun->bdev) >> lun->block_shift;

	if (atomic_exchange_explicit(&lun->nblocks, blocks, memory_order_acq_rel) != blocks &&
	    lun->plun)
		vs_port_lun_unit_attention(lun->plun, ASC_CAPACITY_DATA_HAS_CHANGED, NULL);
}

static void event_work(struct vs_work *w)
{
	struct vdisk_lun *lun = (struct vdisk_lun *)((char *)w - offsetof(struct vdisk_lun, ev_work));

	for (;;) {
		uint32_t ev = atomic_fetch_and(&lun->ev_flags, EV_QUEUED);

		if (!(ev & (EV_PENDING | EV_RESIZED))) {
			/* nothing new: done, unless an event slipped in now */
			uint32_t q = EV_QUEUED;

			if (atomic_compare_exchange_strong(&lun->ev_flags, &q, 0))
				break;
			continue;
		}
		if (ev & EV_RESIZED)
			resized(lun);
		if (ev & EV_PENDING)
			apply(lun);
	}
	vdisk_out_put(lun);
}

static void on_event(void *ctx, const struct vs_bdev_event *ev)
{
	struct vdisk_lun *lun = ctx;
	uint32_t bits = ev->type == VS_BDEV_EV_RESIZED ? EV_RESIZED : EV_PENDING;

	if (ev->type == VS_BDEV_EV_LOST)
		atomic_store(&lun->hold_ms, ev->hold_ms);
	if (lun->on_event)
		lun->on_event(lun->event_ctx, lun->plun ? vs_port_lun_number(lun->plun) : 0, ev);
	if (ev->type == VS_BDEV_EV_STATE)
		return;                 /* a layer's own news: nothing changes for SCSI */
	if (atomic_fetch_or(&lun->ev_flags, bits | EV_QUEUED) & EV_QUEUED)
		return;                 /* the queued work item will see it */
	vdisk_out_get(lun);
	lun->ev_work.fn = event_work;
	if (vs_port_queue_work(lun->ad->port, &lun->ev_work) < 0)
		event_work(&lun->ev_work);      /* pool full: apply here, rare */
}

void vs_vdisk_resource_attach(struct vdisk_lun *lun)
{
	vs_bdev_set_event_handler(lun->bdev, on_event, lun);
	/* the stack may have lost its resource before the handler was set */
	atomic_fetch_or(&lun->ev_flags, EV_PENDING);
	apply(lun);
}

void vs_vdisk_resource_detach(struct vdisk_lun *lun)
{
	/* returns once a running handler call has: no new work after this;
	 * a queued work item is counted in lun->outstanding */
	vs_bdev_set_event_handler(lun->bdev, NULL, NULL);
}
