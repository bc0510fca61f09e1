/* SPDX-License-Identifier: MIT */
/*
 * SRB helpers for miniports: status, and copying between flat buffers and
 * the SRB's scatter/gather list.  Sense data: sense.c and sense_format.c.
 */
#include <stdint.h>
#include <string.h>

#include "vstor/scsi.h"
#include "vstor/srb.h"

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
