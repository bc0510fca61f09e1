/* SPDX-License-Identifier: MIT */
/*
 * Submit: one bio becomes one asynchronous librbd call, whose completion
 * comes back through the image's event queue (rbd_loop.c).
 *
 *   READ          rbd_aio_read / rbd_aio_readv
 *   WRITE (+FUA)  rbd_aio_write / rbd_aio_writev; librbd's cache is off
 *                 (rbd_session.c), so a completed write is on the OSDs
 *                 and FUA needs nothing more
 *   FLUSH         rbd_aio_flush: waits for the writes before it
 *   UNMAP         rbd_aio_discard: whole objects are removed, parts of
 *                 objects zeroed; reads of either give zeroes
 *   WRITE_ZEROES  with VS_BIO_MAY_TRIM rbd_aio_write_zeroes (it may
 *                 deallocate, like a discard); without it rbd_aio_writesame
 *                 of a zero sector, so the blocks stay allocated
 *
 * librbd submits without blocking the caller (rbd_non_blocking_aio, its
 * default: requests are queued to librbd's own threads) and each call
 * allocates its completion and request state inside librbd; vstor's part
 * of the path allocates nothing.  The bio is the completion's argument.
 */
#include <errno.h>
#include <string.h>

#include "rbd_int.h"

/* A bio whose iovecs hold more than `length` bytes is passed on trimmed:
 * librbd's vector calls take the whole iovec array's size as the length. */
struct rbd_req {
	struct iovec iov[RBD_MAX_IOV];
};

size_t vs_rbd_ctx_size(void)
{
	return sizeof(struct rbd_req);
}

static const char zero_sector[512];

/* The iovecs covering exactly bio->length: the first entries of the bio's
 * own array when they end right there, else a copy in req with the last
 * entry trimmed.  Number of entries, or -EINVAL if the buffers are short
 * (or a trimmed copy would need more entries than a request holds). */
static int data_iov(const struct vs_bio *bio, struct rbd_req *req, const struct iovec **out)
{
	uint64_t left = bio->length;
	int k = 0;

	if (!bio->iov || bio->iovcnt <= 0)
		return -EINVAL;
	while (k < bio->iovcnt && left > bio->iov[k].iov_len)
		left -= bio->iov[k++].iov_len;
	if (k == bio->iovcnt)
		return -EINVAL;
	/* entry k holds the last `left` bytes */
	if (bio->iov[k].iov_len == left) {
		*out = bio->iov;
		return k + 1;
	}
	if (k + 1 > RBD_MAX_IOV || !req)
		return -EINVAL;
	memcpy(req->iov, bio->iov, (size_t)(k + 1) * sizeof(struct iovec));
	req->iov[k].iov_len = left;
	*out = req->iov;
	return k + 1;
}

static int start(rbd_image_t img, struct vs_bio *bio, const struct iovec *v, int n,
                 rbd_completion_t c)
{
	switch (bio->op) {
	case VS_BIO_READ:
		return n == 1 ? rbd_aio_read(img, bio->offset, bio->length, v[0].iov_base, c)
		              : rbd_aio_readv(img, v, n, bio->offset, c);
	case VS_BIO_WRITE:
		return n == 1 ? rbd_aio_write(img, bio->offset, bio->length, v[0].iov_base, c)
		              : rbd_aio_writev(img, v, n, bio->offset, c);
	case VS_BIO_FLUSH:
		return rbd_aio_flush(img, c);
	case VS_BIO_UNMAP:
		return rbd_aio_discard(img, bio->offset, bio->length, c);
	case VS_BIO_WRITE_ZEROES:
		if (bio->flags & VS_BIO_MAY_TRIM)
			return rbd_aio_write_zeroes(img, bio->offset, bio->length, c, 0, 0);
		return rbd_aio_writesame(img, bio->offset, bio->length, zero_sector,
		                         sizeof(zero_sector), c, 0);
	default:
		return -EINVAL;
	}
}

int vs_rbd_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct rbd_dev *d = h;
	uint64_t size = atomic_load_explicit(&d->size, memory_order_relaxed);
	const struct iovec *v = NULL;
	rbd_completion_t c;
	int n = 0, r;

	switch (bio->op) {
	case VS_BIO_READ:
	case VS_BIO_WRITE:
		if (bio->length && (n = data_iov(bio, ctx, &v)) < 0)
			return n;
		/* fall through */
	case VS_BIO_UNMAP:
	case VS_BIO_WRITE_ZEROES:
		if (bio->offset > size || bio->length > size - bio->offset)
			return -EINVAL;
		if (bio->op == VS_BIO_WRITE_ZEROES && !(bio->flags & VS_BIO_MAY_TRIM) &&
		    bio->length % sizeof(zero_sector))
			return -EINVAL;
		if (d->t.readonly && bio->op != VS_BIO_READ)
			return -EROFS;
		if (bio->length == 0) {
			vs_bio_complete(bio, 0);
			return 0;
		}
		break;
	case VS_BIO_FLUSH:
		break;
	default:
		return -EINVAL;
	}
	if (!rbd_enter(d)) {
		/* blocklisted or reconnecting: NOT READY, which the initiator
		 * retries (vs_vdisk_set_errno) */
		vs_bio_complete(bio, -ESHUTDOWN);
		return 0;
	}
	r = rbd_aio_create_completion(bio, NULL, &c);
	if (r < 0) {
		rbd_leave(d);
		return -ENOMEM;
	}
	r = start(d->s.img, bio, v, n, c);
	if (r < 0) {
		rbd_aio_release(c);
		rbd_leave(d);
		return r;
	}
	return 0;
}
