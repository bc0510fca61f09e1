/* SPDX-License-Identifier: MIT */
/*
 * Status, sense and data-transfer bookkeeping for vdisk.
 *
 * Sense data is laid out by the port's one builder (vs_srb_set_sense and
 * friends, srb.h), in the format this LUN's D_SENSE bit selects: MODE
 * SELECT tells the port (vs_port_lun_set_sense_format, vdisk_mode.c), so
 * vdisk's sense and the port's own (unit attentions, LOGICAL UNIT NOT
 * SUPPORTED) never differ in format (SPC-4 4.5.1).
 */
#include <errno.h>
#include <string.h>

#include "vdisk_int.h"

/* SBC-3 5.3 / 5.33: MISCOMPARE DURING VERIFY OPERATION, INFORMATION = the
 * offset of the first differing byte in the data-out buffer. */
void vs_vdisk_miscompare(struct vs_srb *srb, uint64_t offset)
{
	struct vs_sense s = {
		.key = SENSE_MISCOMPARE, .asc_ascq = ASC_MISCOMPARE_DURING_VERIFY,
		.info_valid = true, .info = offset,
	};

	vs_srb_set_sense_data(srb, &s);
}

void vs_vdisk_good(struct vs_srb *srb)
{
	srb->srb_status = VS_SRB_SUCCESS;
	srb->scsi_status = SAM_STAT_GOOD;
	srb->sense_len = 0;
}

void vs_vdisk_busy(struct vs_srb *srb)
{
	srb->srb_status = VS_SRB_SUCCESS;
	srb->scsi_status = SAM_STAT_BUSY;
	srb->sense_len = 0;
	srb->xfer_len = 0;
}

/*
 * Backend errors → SCSI.  A lost or busy remote resource is retryable
 * (BUSY, or NOT READY / LOGICAL UNIT IS IN PROCESS OF BECOMING READY), never
 * a medium error: the initiator must retry, not fail the I/O up the stack.
 */
void vs_vdisk_set_errno(struct vs_srb *srb, int err, bool write)
{
	switch (err) {
	case 0:
		vs_vdisk_good(srb);
		break;
	case -EAGAIN:
	case -EBUSY:
	case -ENOMEM:
		vs_vdisk_busy(srb);
		break;
	case -ENOTCONN:
	case -ECONNRESET:
	case -ECONNREFUSED:
	case -ETIMEDOUT:
	case -EHOSTDOWN:
	case -EHOSTUNREACH:
	case -ENETDOWN:
	case -ENETUNREACH:
	case -EPIPE:
	case -ESHUTDOWN:
		vs_srb_set_sense(srb, SENSE_NOT_READY, ASC_LUN_BECOMING_READY);
		break;
	case -ENOSPC:
	case -EDQUOT:
		/* SBC-3 4.7.3.6: thin provisioning out of space */
		vs_srb_set_sense(srb, SENSE_DATA_PROTECT, ASC_SPACE_ALLOCATION_FAILED_WRITE_PROTECT);
		break;
	case -EROFS:
	case -EPERM:
	case -EACCES:
		vs_srb_set_sense(srb, SENSE_DATA_PROTECT, ASC_WRITE_PROTECTED);
		break;
	case -ECANCELED:
		/* a layer gave the request back (abort, reset): the port
		 * reports the task aborted; this is only what it carries */
		vs_srb_set_sense(srb, SENSE_ABORTED_COMMAND, 0);
		break;
	case -ENOTRECOVERABLE:
		/* Writes acknowledged earlier are gone: a remote server came
		 * back as another export, or refused them when they were sent
		 * again (bdev.h).  A FLUSH says so, since it is the command
		 * that promises they are on the medium (SBC-3 5.22
		 * SYNCHRONIZE CACHE).  Not an outage to retry but data that
		 * did not reach the medium: MEDIUM ERROR (SPC-4 4.5.6, "a
		 * non-recovered error condition ... in the recorded data")
		 * with WRITE ERROR, whatever the command was. */
		vs_srb_set_sense(srb, SENSE_MEDIUM_ERROR, ASC_WRITE_ERROR);
		break;
	case -ENODEV:
		/* the resource failed for good (vdisk_resource.c) */
		vs_srb_set_sense(srb, SENSE_NOT_READY, ASC_LUN_NOT_READY_MANUAL_INTERVENTION);
		break;
	case -EINVAL:
	case -EOPNOTSUPP:
	case -ENOSYS:
		vs_srb_set_sense(srb, SENSE_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE);
		break;
	default:
		vs_srb_set_sense(srb, SENSE_MEDIUM_ERROR,
		            write ? ASC_WRITE_ERROR : ASC_UNRECOVERED_READ_ERROR);
		break;
	}
	if (err)
		srb->xfer_len = 0;
}

void vs_vdisk_set_residual(struct vs_srb *srb, uint64_t need)
{
	uint64_t have = srb->data_length;

	if (need > have) {
		srb->resid_flags = VS_RESID_OVERFLOW;
		srb->residual = (uint32_t)((need - have) > UINT32_MAX ? UINT32_MAX : need - have);
	} else if (need < have) {
		srb->resid_flags = VS_RESID_UNDERFLOW;
		srb->residual = (uint32_t)(have - need);
	} else {
		srb->resid_flags = 0;
		srb->residual = 0;
	}
}

/* SPC-4 4.2.5.6: return min(allocation length, available) bytes. */
void vs_vdisk_data_in(struct vs_srb *srb, const void *buf, uint32_t len, uint32_t alloc_len)
{
	uint32_t n = len < alloc_len ? len : alloc_len;
	uint32_t put = n < srb->data_length ? n : srb->data_length;

	srb->xfer_len = put ? (uint32_t)vs_srb_copy_to_iov(srb, 0, buf, put) : 0;
	vs_vdisk_set_residual(srb, n);
	vs_vdisk_good(srb);
}

uint32_t vs_vdisk_data_out(struct vs_srb *srb, void *buf, uint32_t max)
{
	uint32_t n = max < srb->data_length ? max : srb->data_length;

	return n ? (uint32_t)vs_srb_copy_from_iov(srb, 0, buf, n) : 0;
}
