/* SPDX-License-Identifier: MIT */
/*
 * SRB helpers for miniports: status, sense data (SPC-4 4.5) and copying
 * between flat buffers and the SRB's scatter/gather list.
 */
#include <stdint.h>
#include <string.h>

#include "vstor/scsi.h"
#include "vstor/srb.h"

#define FIXED_SENSE_LEN 18      /* SPC-4 4.5.3: 8 + additional length 10 */

size_t vs_sense_fixed(uint8_t *buf, size_t len, uint8_t key, uint16_t asc_ascq)
{
	uint8_t s[FIXED_SENSE_LEN] = {0};
	size_t n = len < sizeof(s) ? len : sizeof(s);

	s[0] = 0x70;                    /* current error, fixed format */
	s[2] = key & 0x0f;
	s[7] = FIXED_SENSE_LEN - 8;     /* additional sense length */
	s[12] = VS_ASC(asc_ascq);
	s[13] = VS_ASCQ(asc_ascq);
	memcpy(buf, s, n);
	return n;
}

size_t vs_sense_descriptor(uint8_t *buf, size_t len, uint8_t key, uint16_t asc_ascq)
{
	uint8_t s[8] = {0};
	size_t n = len < sizeof(s) ? len : sizeof(s);

	s[0] = 0x72;                    /* current error, descriptor format (SPC-4 4.5.2) */
	s[1] = key & 0x0f;
	s[2] = VS_ASC(asc_ascq);
	s[3] = VS_ASCQ(asc_ascq);
	s[7] = 0;                       /* no descriptors yet */
	memcpy(buf, s, n);
	return n;
}

void vs_srb_set_status(struct vs_srb *srb, uint8_t scsi_status)
{
	srb->srb_status = VS_SRB_SUCCESS;
	srb->scsi_status = scsi_status;
	if (scsi_status != SAM_STAT_CHECK_CONDITION)
		srb->sense_len = 0;
}

void vs_srb_set_good(struct vs_srb *srb)
{
	vs_srb_set_status(srb, SAM_STAT_GOOD);
}

void vs_srb_set_sense(struct vs_srb *srb, uint8_t key, uint16_t asc_ascq)
{
	srb->srb_status = VS_SRB_SUCCESS;
	srb->scsi_status = SAM_STAT_CHECK_CONDITION;
	memset(srb->sense, 0, FIXED_SENSE_LEN);
	srb->sense_len = (uint8_t)vs_sense_fixed(srb->sense, sizeof(srb->sense), key, asc_ascq);
}

void vs_srb_set_invalid_field(struct vs_srb *srb, bool in_cdb, uint16_t byte, int bit)
{
	vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST,
	                 in_cdb ? ASC_INVALID_FIELD_IN_CDB : ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	/* SPC-4 4.5.2.4.2 field pointer: SKSV, C/D (1 = CDB), BPV + bit pointer */
	srb->sense[15] = 0x80 | (in_cdb ? 0x40 : 0x00);
	if (bit >= 0 && bit <= 7)
		srb->sense[15] |= 0x08 | (uint8_t)bit;
	srb->sense[16] = (uint8_t)(byte >> 8);
	srb->sense[17] = (uint8_t)byte;
}

void vs_srb_set_sense_info(struct vs_srb *srb, uint64_t info)
{
	if (srb->sense_len == 0)
		return;
	if ((srb->sense[0] & 0x7f) == 0x70 || (srb->sense[0] & 0x7f) == 0x71) {
		/* fixed format: 4-byte INFORMATION; VALID only if it fits (SPC-4 4.5.3) */
		if (info > 0xffffffffull)
			return;
		srb->sense[0] |= 0x80;
		srb->sense[3] = (uint8_t)(info >> 24);
		srb->sense[4] = (uint8_t)(info >> 16);
		srb->sense[5] = (uint8_t)(info >> 8);
		srb->sense[6] = (uint8_t)info;
		return;
	}
	if ((srb->sense[0] & 0x7f) == 0x72 || (srb->sense[0] & 0x7f) == 0x73) {
		/* descriptor format: append an Information descriptor (SPC-4 4.5.2.2) */
		size_t at = srb->sense_len;
		if (at + 12 > VS_SENSE_MAX)
			return;
		uint8_t *d = &srb->sense[at];
		memset(d, 0, 12);
		d[0] = 0x00;
		d[1] = 0x0a;
		d[2] = 0x80;            /* VALID */
		for (int i = 0; i < 8; i++)
			d[4 + i] = (uint8_t)(info >> (56 - 8 * i));
		srb->sense_len = (uint8_t)(at + 12);
		srb->sense[7] = (uint8_t)(srb->sense_len - 8);
	}
}

/* Walk the SRB's iovec from byte `offset` and copy up to `len` bytes
 * between it and a flat buffer, in the direction asked; both public helpers
 * clamp to data_length, the transfer the initiator said it expects. */
static size_t iov_copy(const struct vs_srb *srb, size_t offset, uint8_t *flat, size_t len,
                       bool to_iov)
{
	size_t done = 0;

	if (offset >= srb->data_length)
		return 0;
	if (len > srb->data_length - offset)
		len = srb->data_length - offset;
	for (int i = 0; i < srb->iovcnt && done < len; i++) {
		size_t l = srb->iov[i].iov_len;
		if (offset >= l) {
			offset -= l;
			continue;
		}
		size_t n = l - offset;
		if (n > len - done)
			n = len - done;
		uint8_t *base = (uint8_t *)srb->iov[i].iov_base + offset;
		if (to_iov)
			memcpy(base, flat + done, n);
		else
			memcpy(flat + done, base, n);
		done += n;
		offset = 0;
	}
	return done;
}

size_t vs_srb_copy_to_iov(struct vs_srb *srb, size_t offset, const void *buf, size_t len)
{
	return iov_copy(srb, offset, (uint8_t *)(uintptr_t)buf, len, true);
}

size_t vs_srb_copy_from_iov(const struct vs_srb *srb, size_t offset, void *buf, size_t len)
{
	return iov_copy(srb, offset, buf, len, false);
}
