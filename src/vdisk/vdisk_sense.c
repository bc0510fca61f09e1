/* SPDX-License-Identifier: MIT */
/*
 * Sense data and data-transfer bookkeeping for vdisk.
 *
 * Sense is built here rather than with the port's helpers because the
 * format depends on this LUN's control mode page: D_SENSE=1 asks for
 * descriptor-format sense (SPC-4 4.5.2), D_SENSE=0 for fixed format
 * (SPC-4 4.5.3).  The INFORMATION field and the sense-key specific field
 * pointer go into an information descriptor (SPC-4 4.5.2.2) and a
 * sense-key specific descriptor (SPC-4 4.5.2.4) in descriptor format.
 */
#include <errno.h>
#include <string.h>

#include "vdisk_int.h"

static void set_check_condition(struct vs_srb *srb)
{
	srb->srb_status = VS_SRB_SUCCESS;
	srb->scsi_status = SAM_STAT_CHECK_CONDITION;
}

/* sks: the 3 sense-key specific bytes, or NULL. */
static void build_sense(struct vdisk_lun *lun, struct vs_srb *srb, uint8_t key, uint16_t asc,
                        bool info_valid, uint64_t info, const uint8_t *sks)
{
	uint8_t *s = srb->sense;
	bool desc = lun && atomic_load_explicit(&lun->d_sense, memory_order_relaxed);

	set_check_condition(srb);
	memset(s, 0, 32);
	if (desc) {
		size_t n = 8;

		s[0] = 0x72;
		s[1] = key & 0x0f;
		s[2] = VS_ASC(asc);
		s[3] = VS_ASCQ(asc);
		if (info_valid) {
			s[n + 0] = 0x00;        /* information descriptor */
			s[n + 1] = 0x0a;
			s[n + 2] = 0x80;        /* VALID */
			vd_put64(&s[n + 4], info);
			n += 12;
		}
		if (sks) {
			s[n + 0] = 0x02;        /* sense key specific descriptor */
			s[n + 1] = 0x06;
			memcpy(&s[n + 4], sks, 3);
			n += 8;
		}
		s[7] = (uint8_t)(n - 8);
		srb->sense_len = (uint8_t)n;
	} else {
		s[0] = 0x70;
		s[2] = key & 0x0f;
		if (info_valid && info <= UINT32_MAX) {
			s[0] |= 0x80;           /* VALID: INFORMATION is meaningful */
			vd_put32(&s[3], (uint32_t)info);
		}
		s[7] = 10;
		s[12] = VS_ASC(asc);
		s[13] = VS_ASCQ(asc);
		if (sks)
			memcpy(&s[15], sks, 3);
		srb->sense_len = 18;
	}
}

void vdisk_sense(struct vdisk_lun *lun, struct vs_srb *srb, uint8_t key, uint16_t asc)
{
	build_sense(lun, srb, key, asc, false, 0, NULL);
}

void vdisk_sense_info(struct vdisk_lun *lun, struct vs_srb *srb, uint8_t key, uint16_t asc,
                      uint64_t info)
{
	build_sense(lun, srb, key, asc, true, info, NULL);
}

void vdisk_sense_sks(struct vdisk_lun *lun, struct vs_srb *srb, uint8_t key, uint16_t asc,
                     const uint8_t sks[3])
{
	build_sense(lun, srb, key, asc, false, 0, sks);
}

/* SPC-4 4.5.2.4.2 field pointer: SKSV, C/D, BPV + bit pointer, field pointer. */
void vdisk_invalid_field(struct vdisk_lun *lun, struct vs_srb *srb, bool in_cdb,
                         uint16_t byte, int bit)
{
	uint8_t sks[3];

	sks[0] = 0x80 | (in_cdb ? 0x40 : 0);
	if (bit >= 0)
		sks[0] |= 0x08 | (uint8_t)(bit & 7);
	vd_put16(&sks[1], byte);
	build_sense(lun, srb, SENSE_ILLEGAL_REQUEST,
	            in_cdb ? ASC_INVALID_FIELD_IN_CDB : ASC_INVALID_FIELD_IN_PARAMETER_LIST,
	            false, 0, sks);
}

void vdisk_invalid_cdb(struct vdisk_lun *lun, struct vs_srb *srb)
{
	build_sense(lun, srb, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, false, 0, NULL);
}

void vdisk_good(struct vs_srb *srb)
{
	srb->srb_status = VS_SRB_SUCCESS;
	srb->scsi_status = SAM_STAT_GOOD;
	srb->sense_len = 0;
}

void vdisk_busy(struct vs_srb *srb)
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
void vdisk_set_errno(struct vdisk_lun *lun, struct vs_srb *srb, int err, bool write)
{
	switch (err) {
	case 0:
		vdisk_good(srb);
		break;
	case -EAGAIN:
	case -EBUSY:
	case -ENOMEM:
		vdisk_busy(srb);
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
		vdisk_sense(lun, srb, SENSE_NOT_READY, ASC_LUN_BECOMING_READY);
		break;
	case -ENOSPC:
	case -EDQUOT:
		/* SBC-3 4.7.3.6: thin provisioning out of space */
		vdisk_sense(lun, srb, SENSE_DATA_PROTECT, ASC_SPACE_ALLOCATION_FAILED_WRITE_PROTECT);
		break;
	case -EROFS:
	case -EPERM:
	case -EACCES:
		vdisk_sense(lun, srb, SENSE_DATA_PROTECT, ASC_WRITE_PROTECTED);
		break;
	case -EINVAL:
	case -EOPNOTSUPP:
	case -ENOSYS:
		vdisk_sense(lun, srb, SENSE_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE);
		break;
	default:
		vdisk_sense(lun, srb, SENSE_MEDIUM_ERROR,
		            write ? ASC_WRITE_ERROR : ASC_UNRECOVERED_READ_ERROR);
		break;
	}
	if (err)
		srb->xfer_len = 0;
}

void vdisk_set_residual(struct vs_srb *srb, uint64_t need)
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
void vdisk_data_in(struct vs_srb *srb, const void *buf, uint32_t len, uint32_t alloc_len)
{
	uint32_t n = len < alloc_len ? len : alloc_len;
	uint32_t put = n < srb->data_length ? n : srb->data_length;

	srb->xfer_len = put ? (uint32_t)vs_srb_copy_to_iov(srb, 0, buf, put) : 0;
	vdisk_set_residual(srb, n);
	vdisk_good(srb);
}

uint32_t vdisk_data_out(struct vs_srb *srb, void *buf, uint32_t max)
{
	uint32_t n = max < srb->data_length ? max : srb->data_length;

	return n ? (uint32_t)vs_srb_copy_from_iov(srb, 0, buf, n) : 0;
}
