/* SPDX-License-Identifier: MIT */
/*
 * One bio, submitted and waited for.  The I/O path never blocks (it chains
 * completions through vdisk_submit_bio/vdisk_iterate), but three callers
 * run on threads that may: the SANITIZE job and the EXTENDED COPY job on the
 * worker pool, and lun_control/detach flushing the cache.  They all need
 * the same "submit, sleep until done, return the bio's status" loop, so it
 * lives here once.  The wait state is on the caller's stack: the bio's done
 * callback may run inline inside submit() or later on a backend thread.
 */
#include <string.h>
#include <sys/uio.h>

#include "vdisk_int.h"

struct job_wait {
	pthread_mutex_t m;
	pthread_cond_t cv;
	bool done;
	int err;
};

static void job_bio_done(struct vs_bio *bio, int err)
{
	struct job_wait *w = bio->ctx;

	pthread_mutex_lock(&w->m);
	w->err = err;
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->m);
}

int vdisk_job_bio(struct vdisk_lun *lun, uint8_t op, uint64_t off, uint64_t len, void *buf,
                  uint32_t flags)
{
	struct job_wait w = { .done = false, .err = 0 };
	struct iovec iov = { .iov_base = buf, .iov_len = (size_t)len };
	struct vs_bio bio;
	int rc;

	pthread_mutex_init(&w.m, NULL);
	pthread_cond_init(&w.cv, NULL);
	memset(&bio, 0, sizeof(bio));
	bio.op = op;
	bio.flags = flags;
	bio.offset = off;
	bio.length = len;
	if (buf) {
		bio.iov = &iov;
		bio.iovcnt = 1;
	}
	bio.done = job_bio_done;
	bio.ctx = &w;
	rc = lun->bdev->ops->submit(lun->bdev->h, &bio);
	if (rc == 0) {
		pthread_mutex_lock(&w.m);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.m);
		pthread_mutex_unlock(&w.m);
		rc = w.err;
	}
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.m);
	return rc;
}

int vdisk_sync_bio(struct vdisk_lun *lun, uint8_t op)
{
	/* A backend without a cache has nothing to flush (SBC-3 5.22). */
	if (op == VS_BIO_FLUSH && !lun->caps.can_flush)
		return 0;
	return vdisk_job_bio(lun, op, 0, 0, NULL, 0);
}
