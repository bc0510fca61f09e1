/* SPDX-License-Identifier: MIT */
/*
 * RECEIVE COPY RESULTS (LID1, SPC-4 6.18) and the state behind it: the
 * copy statuses a LUN holds per I_T nexus and list identifier, the lookup
 * of copy targets among the adapter's LUNs, and their references.
 *
 * A copy whose LIST ID USAGE is 00b keeps its status until the same I_T
 * nexus starts another copy with that list identifier, the slot is needed
 * for a newer copy (oldest first), or the I_T nexus is lost.  COPY STATUS
 * and FAILED SEGMENT DETAILS for a list identifier with no held status get
 * ILLEGAL REQUEST / INVALID FIELD IN CDB (SPC-4 6.18.1).
 */
#include <string.h>

#include "vdisk_int.h"

#define RCR_COPY_STATUS     0x00
#define RCR_OPERATING_PARAMS 0x03
#define RCR_FAILED_SEGMENT  0x04

void vs_vdisk_xcopy_init(struct vdisk_lun *lun)
{
	memset(lun->xc_held, 0, sizeof(lun->xc_held));
	lun->xc_gen = 0;
	lun->xc_jobs = 0;
	lun->xc_cancel = false;
	lun->xc_refs = 0;
}

static bool xc_idle(struct vdisk_lun *lun)
{
	bool idle;

	pthread_mutex_lock(&lun->lock);
	idle = lun->xc_jobs == 0;
	pthread_mutex_unlock(&lun->lock);
	return idle;
}

/* other LUNs' copy jobs that reached this LUN before it left the list */
static bool xc_unused(struct vdisk_lun *lun)
{
	bool unused;

	pthread_mutex_lock(&lun->ad->luns_lock);
	unused = lun->xc_refs == 0;
	pthread_mutex_unlock(&lun->ad->luns_lock);
	return unused;
}

bool vs_vdisk_xcopy_stop(struct vdisk_lun *lun, uint64_t deadline_ms)
{
	pthread_mutex_lock(&lun->lock);
	if (lun->xc_jobs)
		lun->xc_cancel = true;
	pthread_mutex_unlock(&lun->lock);
	/* a copy stuck in a backend gives up: its LUNs are draining */
	return vs_vdisk_poll_until(lun, xc_idle, deadline_ms) &&
	       vs_vdisk_poll_until(lun, xc_unused, deadline_ms);
}

struct vdisk_lun *vs_vdisk_xcopy_get(struct vdisk_adapter *ad, const uint8_t naa[16])
{
	struct vdisk_lun *l;

	pthread_mutex_lock(&ad->luns_lock);
	for (l = ad->luns; l; l = l->next)
		if (memcmp(l->naa, naa, 16) == 0)
			break;
	if (l)
		l->xc_refs++;
	pthread_mutex_unlock(&ad->luns_lock);
	return l;
}

void vs_vdisk_xcopy_put(struct vdisk_adapter *ad, struct vdisk_lun *lun)
{
	pthread_mutex_lock(&ad->luns_lock);
	lun->xc_refs--;
	pthread_mutex_unlock(&ad->luns_lock);
}

int vs_vdisk_xcopy_hold(struct vdisk_lun *lun, const struct vs_nexus *nexus, uint8_t list_id,
                     uint32_t *gen)
{
	struct vdisk_xcopy_held *h, *pick = NULL;
	int i;

	pthread_mutex_lock(&lun->lock);
	for (i = 0; i < (int)VDISK_XCOPY_HELD; i++) {
		h = &lun->xc_held[i];
		if (h->used && h->nexus == nexus && h->list_id == list_id) {
			if (h->active) {
				/* SPC-4 6.4.3.2: the list identifier is in use */
				pthread_mutex_unlock(&lun->lock);
				return -1;
			}
			pick = h;
			break;
		}
	}
	/* else a free slot, else the oldest finished one */
	for (i = 0; i < (int)VDISK_XCOPY_HELD && !pick; i++)
		if (!lun->xc_held[i].used)
			pick = &lun->xc_held[i];
	if (!pick) {
		for (i = 0; i < (int)VDISK_XCOPY_HELD; i++) {
			h = &lun->xc_held[i];
			if (!h->active && (!pick || (int32_t)(h->gen - pick->gen) < 0))
				pick = h;
		}
	}
	if (!pick) {
		/* every slot holds a queued or running copy: never overwrite
		 * one; the caller answers BUSY */
		pthread_mutex_unlock(&lun->lock);
		return -2;
	}
	memset(pick, 0, sizeof(*pick));
	pick->used = true;
	pick->active = true;
	pick->nexus = nexus;
	pick->list_id = list_id;
	pick->gen = ++lun->xc_gen;
	*gen = pick->gen;
	i = (int)(pick - lun->xc_held);
	pthread_mutex_unlock(&lun->lock);
	return i;
}

void vs_vdisk_xcopy_progress(struct vdisk_lun *lun, int slot, uint32_t gen, uint16_t segments,
                          uint64_t bytes, const struct vs_srb *final)
{
	struct vdisk_xcopy_held *h;

	if (slot < 0)
		return;
	pthread_mutex_lock(&lun->lock);
	h = &lun->xc_held[slot];
	/* the slot may have been dropped at the nexus loss meanwhile */
	if (h->used && h->gen == gen) {
		h->segments = segments;
		h->bytes = bytes;
		if (final) {
			h->active = false;
			h->scsi_status = final->scsi_status;
			h->cm_status = final->scsi_status == SAM_STAT_GOOD ? 1 : 2;
			h->sense_len = final->sense_len;
			memcpy(h->sense, final->sense, final->sense_len);
		}
	}
	pthread_mutex_unlock(&lun->lock);
}

void vs_vdisk_xcopy_nexus_loss(struct vdisk_lun *lun, const struct vs_nexus *nexus)
{
	pthread_mutex_lock(&lun->lock);
	for (unsigned i = 0; i < VDISK_XCOPY_HELD; i++)
		if (lun->xc_held[i].used && lun->xc_held[i].nexus == nexus)
			memset(&lun->xc_held[i], 0, sizeof(lun->xc_held[i]));
	pthread_mutex_unlock(&lun->lock);
}

/* SPC-4 6.18.4 OPERATING PARAMETERS (LID1) */
static uint32_t operating_params(const struct vdisk_lun *lun, uint8_t *d)
{
	uint32_t seg = 0xffffu << lun->block_shift;   /* 16-bit NUMBER OF BLOCKS */

	memset(d, 0, 46);
	vd_put32(&d[0], 46 - 4);                      /* AVAILABLE DATA */
	d[4] = 0;                                     /* SNLID: no LID4 commands */
	vd_put16(&d[8], VDISK_XCOPY_MAX_TARGETS);     /* MAXIMUM CSCD DESCRIPTOR COUNT */
	vd_put16(&d[10], VDISK_XCOPY_MAX_SEGMENTS);   /* MAXIMUM SEGMENT DESCRIPTOR COUNT */
	vd_put32(&d[12], VDISK_XCOPY_MAX_LIST);       /* MAXIMUM DESCRIPTOR LIST LENGTH */
	vd_put32(&d[16], seg);                        /* MAXIMUM SEGMENT LENGTH */
	/* 20: MAXIMUM INLINE DATA LENGTH 0, 24: HELD DATA LIMIT 0,
	 * 28: MAXIMUM STREAM DEVICE TRANSFER SIZE 0 (no stream devices) */
	vd_put16(&d[34], 1);                          /* TOTAL CONCURRENT COPIES */
	d[36] = 1;                                    /* MAXIMUM CONCURRENT COPIES */
	d[37] = (uint8_t)lun->block_shift;            /* DATA SEGMENT GRANULARITY (log2) */
	d[43] = 2;                                    /* IMPLEMENTED DESCRIPTOR LIST LENGTH */
	d[44] = 0x02;                                 /* block device to block device */
	d[45] = 0xe4;                                 /* identification descriptor CSCD */
	return 46;
}

void vs_vdisk_cmd_receive_copy_results(struct vdisk_lun *lun, struct vs_srb *srb)
{
	const uint8_t *cdb = srb->cdb;
	uint8_t sa = cdb[1] & 0x1f, list_id = cdb[2];
	uint32_t alloc = vd_get32(&cdb[10]), len = 0;
	uint8_t d[60 + VS_SENSE_MAX];
	struct vdisk_xcopy_held h;
	bool found = false;

	if (sa == RCR_OPERATING_PARAMS) {
		len = operating_params(lun, d);
		vs_vdisk_data_in(srb, d, len, alloc);
		vs_port_complete(srb);
		return;
	}
	pthread_mutex_lock(&lun->lock);
	for (unsigned i = 0; i < VDISK_XCOPY_HELD && !found; i++) {
		const struct vdisk_xcopy_held *p = &lun->xc_held[i];

		if (p->used && p->nexus == srb->nexus && p->list_id == list_id) {
			h = *p;
			found = true;
		}
	}
	pthread_mutex_unlock(&lun->lock);
	if (!found) {
		/* no copy with this list identifier from this I_T nexus */
		vs_srb_set_invalid_field(srb, true, 2, 7);
		vs_port_complete(srb);
		return;
	}
	memset(d, 0, sizeof(d));
	if (sa == RCR_COPY_STATUS) {
		/* SPC-4 6.18.2: TRANSFER COUNT in bytes (units 00h) or, past
		 * 4 GiB, in KiB (01h) */
		vd_put32(&d[0], 8);
		d[4] = h.cm_status;                       /* HDD 0: no held data */
		vd_put16(&d[5], h.segments);
		if (h.bytes <= 0xffffffffu) {
			d[7] = 0x00;
			vd_put32(&d[8], (uint32_t)h.bytes);
		} else {
			d[7] = 0x01;
			vd_put32(&d[8], (uint32_t)(h.bytes >> 10));
		}
		len = 12;
	} else {
		/* SPC-4 6.18.5 FAILED SEGMENT DETAILS: the status and sense data
		 * of the EXTENDED COPY; no sense data while it runs or after
		 * it succeeded */
		uint8_t sl = h.active ? 0 : h.sense_len;

		d[56] = h.active ? 0 : h.scsi_status;     /* COPY COMMAND STATUS */
		vd_put16(&d[58], sl);                     /* SENSE DATA LENGTH */
		memcpy(&d[60], h.sense, sl);
		len = 60u + sl;
		vd_put32(&d[0], len - 4);
	}
	vs_vdisk_data_in(srb, d, len, alloc);
	vs_port_complete(srb);
}
