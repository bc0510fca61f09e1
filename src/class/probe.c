/* SPDX-License-Identifier: MIT */
/*
 * The probe sequence (probe_steps.c says what each step asks) and the
 * capacity re-read a CAPACITY DATA HAS CHANGED unit attention (SBC-3 4.6)
 * starts.  Both are internal requests of the disk, not from its request
 * slots, and go through the same pieces, SRBs and retry table as block
 * requests: the POWER ON OCCURRED a new nexus meets first is retried
 * like any unit attention.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "class_int.h"

static void start_internal_locked(struct vs_disk *disk, struct class_req *r, uint8_t op,
                                  uint8_t step, void (*done)(struct class_req *r))
{
	memset(&r->pub, 0, sizeof(r->pub));
	r->pub.op = op;
	r->probe_step = step;
	r->internal_done = done;
	r->phase = PHASE_IO;
	r->outstanding = 0;
	r->all_cut = false;
	r->sync_after = false;
	r->lba = r->nblocks = r->next_lba = 0;
	r->deadline_ns = class_now(disk) + disk->deadline_ns;
	vs_class_enqueue_locked(disk, r);
}

static void probe_step_done(struct class_req *r)
{
	struct vs_disk *disk = r->disk;
	void (*done)(void *ctx, int err);
	void *ctx;
	int err;

	pthread_mutex_lock(&disk->lock);
	err = r->pub.result;
	/* an optional page the LUN refuses leaves its defaults (not when the
	 * probe itself is being cancelled) */
	if (err && err != -ECANCELED && !disk->aborting && vs_class_probe_optional(r->probe_step))
		err = 0;
	if (!err) {
		uint8_t next = vs_class_probe_next(disk, r->probe_step);

		if (next < PROBE_STEPS) {
			start_internal_locked(disk, r, CLASS_OP_PROBE, next, probe_step_done);
			pthread_mutex_unlock(&disk->lock);
			vs_class_pump(disk);
			return;
		}
		err = vs_class_probe_finish_locked(disk);
		disk->probed = err == 0;
	}
	disk->internal_out--;
	done = disk->probe_done;
	ctx = disk->probe_ctx;
	pthread_mutex_unlock(&disk->lock);
	done(ctx, err);
}

void vs_class_probe_start_locked(struct vs_disk *disk)
{
	disk->internal_out++;
	disk->probed = false;
	disk->has_vpd_b0 = disk->has_vpd_b2 = false;
	disk->lbpme = disk->lbpu = false;
	disk->b0_max_transfer = 0;
	memset(&disk->info, 0, sizeof(disk->info));
	disk->info.write_cache = true;  /* until the caching page says otherwise */
	start_internal_locked(disk, &disk->probe_req, CLASS_OP_PROBE, PROBE_INQUIRY,
	                      probe_step_done);
}

static void capacity_done(struct class_req *r)
{
	struct vs_disk *disk = r->disk;
	struct vs_disk_event ev = { .type = VS_DISK_EV_CAPACITY };
	vs_disk_event_fn event;
	bool again;

	pthread_mutex_lock(&disk->lock);
	ev.capacity_bytes = disk->info.capacity_bytes;
	again = disk->cap_again && !disk->aborting;
	disk->cap_again = false;
	event = r->pub.result ? NULL : disk->event;
	if (again)
		start_internal_locked(disk, r, CLASS_OP_CAPACITY, 0, capacity_done);
	else {
		r->internal_done = NULL;        /* free for the next 2A/09 */
		disk->internal_out--;
	}
	pthread_mutex_unlock(&disk->lock);
	if (event)
		event(disk->event_ctx, &ev);
	if (again)
		vs_class_pump(disk);
}

void vs_class_capacity_reread_locked(struct vs_disk *disk)
{
	if (!disk->probed || disk->aborting)
		return;         /* the probe reads the capacity anyway */
	if (disk->cap_req.internal_done) {
		disk->cap_again = true;
		return;
	}
	disk->internal_out++;
	start_internal_locked(disk, &disk->cap_req, CLASS_OP_CAPACITY, 0, capacity_done);
}
