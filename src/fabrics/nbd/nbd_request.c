/* SPDX-License-Identifier: MIT */
/*
 * Transmission requests (proto.md "Request message", "Request types",
 * "Command flags", "Size constraints", "Error values"): what a request
 * header asks, and whether it may.  Errors follow the document's advice:
 * NBD_EINVAL for unknown commands or flags, misaligned requests and reads
 * or trims past the end; NBD_ENOSPC for writes past the end; NBD_EPERM
 * for writes to a read-only export.  Only a bad magic number or a write
 * payload larger than we take closes the connection (we could not find
 * the next header otherwise without reading an arbitrary amount).
 */
#include <errno.h>

#include "nbd_proto.h"

bool vs_nbd_request_parse(const uint8_t hdr[NBD_REQUEST_LEN], struct nbd_request *out)
{
	out->flags = vs_get16(hdr + 4);
	out->type = vs_get16(hdr + 6);
	out->handle = vs_get64(hdr + 8);
	out->offset = vs_get64(hdr + 16);
	out->length = vs_get32(hdr + 24);
	return vs_get32(hdr) == NBD_MAGIC_REQUEST;
}

/* Flags each command may carry, given what was advertised. */
static uint16_t allowed_flags(const struct nbd_tx *tx, uint16_t type)
{
	/* FUA "is valid for all commands, provided NBD_FLAG_SEND_FUA" */
	uint16_t f = (tx->tflags & NBD_FLAG_SEND_FUA) ? NBD_CMD_FLAG_FUA : 0;

	switch (type) {
	case NBD_CMD_READ:
		return f | ((tx->tflags & NBD_FLAG_SEND_DF) ? NBD_CMD_FLAG_DF : 0);
	case NBD_CMD_WRITE_ZEROES:
		return f | NBD_CMD_FLAG_NO_HOLE |
		       ((tx->tflags & NBD_FLAG_SEND_FAST_ZERO) ? NBD_CMD_FLAG_FAST_ZERO : 0);
	case NBD_CMD_BLOCK_STATUS:
		return f | NBD_CMD_FLAG_REQ_ONE;
	default:
		return f;
	}
}

/* the command needs this transmission flag advertised */
static uint16_t needed_tflag(uint16_t type)
{
	switch (type) {
	case NBD_CMD_FLUSH:        return NBD_FLAG_SEND_FLUSH;
	case NBD_CMD_TRIM:         return NBD_FLAG_SEND_TRIM;
	case NBD_CMD_WRITE_ZEROES: return NBD_FLAG_SEND_WRITE_ZEROES;
	default:                   return 0;
	}
}

static bool writes(uint16_t type)
{
	return type == NBD_CMD_WRITE || type == NBD_CMD_TRIM || type == NBD_CMD_WRITE_ZEROES;
}

/* offset/length against the export and the minimum block: 0, or the error */
static uint32_t check_range(const struct nbd_tx *tx, const struct nbd_request *r)
{
	uint64_t mask = tx->min_block ? tx->min_block - 1 : 0;

	if ((r->offset & mask) || (r->length & mask) || r->length == 0)
		return NBD_EINVAL;
	if (r->offset > tx->size || r->length > tx->size - r->offset)
		return r->type == NBD_CMD_WRITE || r->type == NBD_CMD_WRITE_ZEROES ? NBD_ENOSPC
		                                                                  : NBD_EINVAL;
	return 0;
}

static uint32_t check(const struct nbd_tx *tx, const struct nbd_request *r)
{
	uint16_t need = needed_tflag(r->type);

	if (r->type > NBD_CMD_BLOCK_STATUS || (r->flags & ~allowed_flags(tx, r->type)))
		return NBD_EINVAL;
	if (need && !(tx->tflags & need))
		return NBD_EINVAL;      /* not advertised: not understood */
	if ((tx->tflags & NBD_FLAG_READ_ONLY) && writes(r->type))
		return NBD_EPERM;
	switch (r->type) {
	case NBD_CMD_FLUSH:
		return r->offset || r->length ? NBD_EINVAL : 0;
	case NBD_CMD_READ:
		if (r->length > tx->max_payload)
			return NBD_EINVAL;
		return check_range(tx, r);
	case NBD_CMD_BLOCK_STATUS:
		if (!tx->structured || !tx->meta_allocation)
			return NBD_EINVAL;  /* no metadata context selected */
		return check_range(tx, r);
	default:
		return check_range(tx, r);
	}
}

void vs_nbd_request_check(const struct nbd_tx *tx, const struct nbd_request *r,
                       struct nbd_verdict *v)
{
	v->error = 0;
	v->close = false;
	v->payload = r->type == NBD_CMD_WRITE;
	if (v->payload && r->length > tx->max_payload) {
		/* more than any buffer of ours: proto.md "Size constraints"
		 * lets a server disconnect rather than swallow it */
		v->close = true;
		return;
	}
	if (r->type == NBD_CMD_DISC)
		return;                 /* no reply; whatever its fields say */
	v->error = check(tx, r);
}

uint32_t vs_nbd_errno(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return 0;
	case EPERM:
	case EROFS:
	case EACCES:
	case EBADE:             /* reservation conflict: not this initiator's to write */
		return NBD_EPERM;
	case ENOMEM:
		return NBD_ENOMEM;
	case EINVAL:
	case ENODEV:
	case ERANGE:
		return NBD_EINVAL;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return NBD_ENOSPC;
	case EOVERFLOW:
		return NBD_EOVERFLOW;
	case EOPNOTSUPP:
		return NBD_ENOTSUP;
	case ESHUTDOWN:
	case ECANCELED:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}
