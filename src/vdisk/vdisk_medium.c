/* SPDX-License-Identifier: MIT */
/*
 * The medium: START STOP UNIT (SBC-3 5.25), PREVENT ALLOW MEDIUM REMOVAL
 * (SBC-3 5.12) and READ DEFECT DATA (SBC-3 5.13/5.14).
 *
 * A LUN configured `removable` reports RMB=1 (SPC-4 6.6.2).  LOEJ=1
 * START=0 ejects the medium: media-access commands then get NOT READY /
 * MEDIUM NOT PRESENT until LOEJ=1 START=1 loads it again.  An eject or load is
 * refused with ILLEGAL REQUEST / MEDIUM REMOVAL PREVENTED while any I_T
 * nexus holds a PREVENT; a prevention ends with PREVENT=0 from that nexus,
 * its I_T nexus loss, or a logical unit / target reset (SPC-4 6.13,
 * SBC-3 5.12).
 */
#include <string.h>

#include "vdisk_int.h"

/* Slot of the PREVENT held by nexus n, or -1.  Call with lun->lock held.
 * Nexuses are compared by address: the port tells us about every I_T
 * nexus loss (vs_vdisk_prevent_nexus_loss) before a nexus's memory is reused. */
static int prevent_find(struct vdisk_lun *lun, const struct vs_nexus *n)
{
	for (uint32_t i = 0; i < lun->nprevent; i++)
		if (lun->prevent[i] == n)
			return (int)i;
	return -1;
}

/* SBC-3 5.12 / SPC-4: an I_T nexus loss ends that nexus's prevention. */
void vs_vdisk_prevent_nexus_loss(struct vdisk_lun *lun, const struct vs_nexus *n)
{
	int i;

	pthread_mutex_lock(&lun->lock);
	if ((i = prevent_find(lun, n)) >= 0)
		lun->prevent[i] = lun->prevent[--lun->nprevent];
	pthread_mutex_unlock(&lun->lock);
}

void vs_vdisk_prevent_clear(struct vdisk_lun *lun)
{
	pthread_mutex_lock(&lun->lock);
	lun->nprevent = 0;
	pthread_mutex_unlock(&lun->lock);
}

static bool removal_prevented(struct vdisk_lun *lun)
{
	bool p;

	pthread_mutex_lock(&lun->lock);
	p = lun->nprevent != 0;
	pthread_mutex_unlock(&lun->lock);
	return p;
}

/* SBC-3 5.12: PREVENT 00b allows, 01b prevents; 10b and 11b are obsolete
 * in SPC-4.  On a non-removable LU there is nothing to lock: accepted. */
void vs_vdisk_cmd_prevent_allow(struct vdisk_lun *lun, struct vs_srb *srb)
{
	bool prevent = srb->cdb[4] & 0x01;
	const struct vs_nexus *n = srb->nexus;

	if (srb->cdb[4] & 0x02) {
		vs_srb_set_invalid_field(srb, true, 4, 1);
		goto out;
	}
	if (lun->removable && n) {
		pthread_mutex_lock(&lun->lock);
		int i = prevent_find(lun, n);

		if (prevent && i < 0) {
			if (lun->nprevent == VDISK_MAX_PREVENT) {
				pthread_mutex_unlock(&lun->lock);
				vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST,
				            ASC_INSUFFICIENT_REGISTRATION_RESOURCES);
				goto out;
			}
			lun->prevent[lun->nprevent++] = n;
		} else if (!prevent && i >= 0) {
			lun->prevent[i] = lun->prevent[--lun->nprevent];
		}
		pthread_mutex_unlock(&lun->lock);
	}
	vs_vdisk_good(srb);
out:
	vs_port_complete(srb);
}

static void stop_flush_done(struct vdisk_cmd *c)
{
	vs_vdisk_set_errno(c->srb, c->bio_err, true);
	if (c->srb->scsi_status == SAM_STAT_GOOD && c->unmap)
		atomic_fetch_or(&c->lun->not_ready, VDISK_NR_NO_MEDIUM);
	vs_vdisk_finish(c);
}

/* SBC-3 5.25 START STOP UNIT */
void vs_vdisk_cmd_start_stop(struct vdisk_lun *lun, struct vs_srb *srb)
{
	const uint8_t *cdb = srb->cdb;
	uint8_t pc = cdb[4] >> 4;       /* POWER CONDITION */
	bool no_flush = cdb[4] & 0x04, loej = cdb[4] & 0x02, start = cdb[4] & 0x01;

	if (pc != 0) {
		/*
		 * SBC-3 5.25.2: with a POWER CONDITION other than START_VALID,
		 * START and LOEJ are ignored.  The LU has no power conditions
		 * at all, so every value (ACTIVE, IDLE, STANDBY, LU_CONTROL,
		 * FORCE_*, and the reserved ones, which iscsi-test-cu's
		 * StartStopUnit.PwrCnd expects to complete GOOD) is a no-op
		 * that never moves the medium.
		 */
		vs_vdisk_good(srb);
		goto out;
	}
	if (cdb[3] & 0x0f) {
		/* POWER CONDITION MODIFIER only qualifies a power condition */
		vs_srb_set_invalid_field(srb, true, 3, 3);
		goto out;
	}
	if (loej && !lun->removable) {
		/* RMB=0: there is no medium to load or eject */
		vs_srb_set_invalid_field(srb, true, 4, 1);
		goto out;
	}
	if (loej && removal_prevented(lun)) {
		/* SBC-3 5.25: with a prevention in effect neither an eject
		 * nor a load may move the medium */
		vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED);
		goto out;
	}
	if (loej && start) {
		/* load: the medium is back; other nexuses learn it may have
		 * changed (SBC-3 4.x: NOT READY TO READY CHANGE) */
		uint32_t was = atomic_fetch_and(&lun->not_ready, ~VDISK_NR_NO_MEDIUM);

		if ((was & VDISK_NR_NO_MEDIUM) && lun->plun)
			vs_port_lun_unit_attention(lun->plun, VDISK_ASC_NOT_READY_TO_READY, srb->nexus);
		vs_vdisk_good(srb);
		goto out;
	}
	if (loej && (atomic_load(&lun->not_ready) & VDISK_NR_NO_MEDIUM)) {
		vs_vdisk_good(srb);        /* already ejected */
		goto out;
	}
	/* We never really stop (a stopped disk would have to refuse I/O),
	 * but a STOP flushes the cache unless NO_FLUSH=1, as it would before
	 * spinning down or ejecting. */
	if (!start && !no_flush && lun->caps.can_flush) {
		struct vdisk_cmd *c = vs_vdisk_cmd_init(lun, srb);

		c->dir_write = 1;
		c->unmap = loej;        /* eject once the flush is done */
		vs_vdisk_submit_bio(c, VS_BIO_FLUSH, 0, 0, NULL, 0, 0, stop_flush_done);
		return;
	}
	if (loej)
		atomic_fetch_or(&lun->not_ready, VDISK_NR_NO_MEDIUM);
	vs_vdisk_good(srb);
out:
	vs_port_complete(srb);
}

/*
 * READ DEFECT DATA (10) / (12): the medium has no defects, so both the
 * primary and the grown list are valid and empty, in the format asked for.
 */
void vs_vdisk_cmd_read_defect_data(struct vdisk_lun *lun, struct vs_srb *srb)
{
	const uint8_t *cdb = srb->cdb;
	uint8_t d[8];
	uint32_t len, alloc;

	memset(d, 0, sizeof(d));
	if (cdb[0] == VDISK_OP_READ_DEFECT_DATA_10) {
		/* byte 2: REQ_PLIST, REQ_GLIST, DEFECT LIST FORMAT */
		d[1] = cdb[2] & 0x1f;   /* PLISTV, GLISTV, format; LENGTH 0 */
		len = 4;
		alloc = vd_get16(&cdb[7]);
	} else {
		d[1] = cdb[1] & 0x1f;   /* GENERATION CODE 0: not supported */
		len = 8;
		alloc = vd_get32(&cdb[6]);
	}
	vs_vdisk_data_in(srb, d, len, alloc);
	(void)lun;
	vs_port_complete(srb);
}
