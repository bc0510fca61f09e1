/* SPDX-License-Identifier: MIT */
/*
 * Disk mode: vstor's SBC-3 emulation (vdisk) runs here, in the service,
 * over a block backend whose requests are the service's read, write,
 * flush, unmap and write_zeroes calls.
 *
 * One inner port per connection holds the disk LUNs (VS_PORT_INNER: the
 * unit attentions of nexus and LUN arrival and of resets are vstord's
 * port's; those vdisk raises -- mode parameters, capacity, reservations
 * -- travel back with the command they are reported on).  Each command
 * from the ring becomes an SRB of the inner port whose data buffer is the
 * shared one, so vdisk reads the initiator's data where it arrived and
 * the service's read op fills the buffer vstord sends from.
 *
 * The backend ("service-disk", registered once per process) calls the
 * ops inline for a disk that says they never block (inline_ops), else
 * queues the request for the library's worker threads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib_int.h"
#include "vstor/backend.h"
#include "vstor/scsi.h"
#include "vstor/vdisk.h"

#define MAX_DISKS 4096

struct lib_disk {
	struct vs_svc *s;
	uint32_t id;
	uint64_t size;
	bool readonly, write_cache, unmap_zeroes, inline_ops;
	uint32_t unmap_granularity;
	const struct vs_svc_disk_ops *ops;
	void *ctx;
	char *serial, *pr_state_path;
	const uint8_t *mem;             /* vs_svc_disk.mem, lent to vstord; NULL: not lent */
	const uint8_t *region_base;     /* the region it is in */
	uint32_t region;                /* its number, 0: none */
};

struct lib_workers {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct vs_bio *head, *tail;
	bool stop;
	uint32_t n;
	pthread_t th[];
};

/* The disks of this process, by the number the backend's option names. */
static pthread_mutex_t disks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lib_disk *disks[MAX_DISKS];

/* ---------------------------------------------------------------- the backend */

#define BIO_NEXT(b) (*(struct vs_bio **)&(b)->backend_scratch[0])
#define BIO_DISK(b) (*(struct lib_disk **)&(b)->backend_scratch[1])

static int run_rw(struct lib_disk *d, struct vs_bio *bio)
{
	uint64_t off = bio->offset, left = bio->length;

	for (int i = 0; i < bio->iovcnt && left; i++) {
		uint32_t n = (uint32_t)(bio->iov[i].iov_len < left ? bio->iov[i].iov_len : left);
		int rc = bio->op == VS_BIO_READ
		         ? d->ops->read(d->ctx, bio->iov[i].iov_base, n, off)
		         : d->ops->write(d->ctx, bio->iov[i].iov_base, n, off,
		                         (bio->flags & VS_BIO_FUA) != 0);

		if (rc)
			return rc < 0 ? rc : -EIO;
		off += n;
		left -= n;
	}
	return left ? -EINVAL : 0;
}

/* WRITE ZEROES without the op: zeroes written from a zero page. */
static int write_zero_pages(struct lib_disk *d, uint64_t off, uint64_t len, bool fua)
{
	static const uint8_t zero[65536];

	while (len) {
		uint32_t n = (uint32_t)(len < sizeof(zero) ? len : sizeof(zero));
		int rc = d->ops->write(d->ctx, zero, n, off, fua);

		if (rc)
			return rc < 0 ? rc : -EIO;
		off += n;
		len -= n;
	}
	return 0;
}

static int run_bio(struct lib_disk *d, struct vs_bio *bio)
{
	switch (bio->op) {
	case VS_BIO_READ:
		return run_rw(d, bio);
	case VS_BIO_WRITE:
		return d->ops->write ? run_rw(d, bio) : -EROFS;
	case VS_BIO_FLUSH:
		return d->ops->flush ? d->ops->flush(d->ctx) : 0;
	case VS_BIO_UNMAP:
		return d->ops->unmap ? d->ops->unmap(d->ctx, bio->offset, bio->length) : -EOPNOTSUPP;
	case VS_BIO_WRITE_ZEROES:
		if (d->ops->write_zeroes)
			return d->ops->write_zeroes(d->ctx, bio->offset, bio->length);
		return write_zero_pages(d, bio->offset, bio->length, (bio->flags & VS_BIO_FUA) != 0);
	default:
		return -EOPNOTSUPP;
	}
}

static void *worker_main(void *arg)
{
	struct lib_workers *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct vs_bio *bio = w->head;

		if (!bio) {
			if (w->stop)
				break;
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		w->head = BIO_NEXT(bio);
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&w->mu);
		vs_bio_complete(bio, run_bio(BIO_DISK(bio), bio));
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static const struct vs_opt_desc disk_options[] = {
	{ .name = "id", .type = VS_OPT_UINT, .flags = VS_OPT_REQUIRED, .max = MAX_DISKS - 1,
	  .help = "the library's number of the disk" },
	{ .name = NULL },
};

static void *disk_open(struct vs_backend_open_args *args)
{
	uint64_t id = vs_opt_u64(args->opts, "id");
	struct lib_disk *d;

	pthread_mutex_lock(&disks_lock);
	d = id < MAX_DISKS ? disks[id] : NULL;
	pthread_mutex_unlock(&disks_lock);
	if (!d)
		vs_set_error("id: no disk %llu", (unsigned long long)id);
	return d;
}

static void disk_close(void *h)
{
	(void)h;
}

static uint64_t disk_size(void *h)
{
	return ((struct lib_disk *)h)->size;
}

static void disk_caps(void *h, struct vs_backend_caps *c)
{
	struct lib_disk *d = h;

	memset(c, 0, sizeof(*c));
	c->can_write = !d->readonly && d->ops->write;
	c->can_flush = d->ops->flush != NULL;
	c->can_fua = true;              /* the write op's fua argument */
	c->can_unmap = d->ops->unmap != NULL;
	c->can_zero = d->ops->write_zeroes != NULL;
	c->unmap_zeroes = d->unmap_zeroes && d->ops->unmap;
	c->has_write_cache = d->write_cache;
	c->unmap_granularity = d->unmap_granularity;
}

static int disk_block_status(void *h, uint64_t offset, uint64_t len, bool *mapped,
                             uint64_t *extent_len)
{
	struct lib_disk *d = h;

	if (!d->ops->block_status) {
		*mapped = true;
		*extent_len = len;
		return 0;
	}
	return d->ops->block_status(d->ctx, offset, len, mapped, extent_len);
}

static int disk_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct lib_disk *d = h;
	struct lib_workers *w = d->s->workers;

	(void)ctx;
	if (bio->op == VS_BIO_READ && (bio->flags & VS_BIO_MAY_LEND) && d->mem) {
		/* the disk's bytes are in memory vstord maps: say where
		 * (inner_done puts it in the completion) */
		bio->lent = d->mem + bio->offset;
		vs_bio_complete(bio, 0);
		return 0;
	}
	if (d->inline_ops || !w) {
		vs_bio_complete(bio, run_bio(d, bio));
		return 0;
	}
	BIO_NEXT(bio) = NULL;
	BIO_DISK(bio) = d;
	pthread_mutex_lock(&w->mu);
	if (w->tail)
		BIO_NEXT(w->tail) = bio;
	else
		w->head = bio;
	w->tail = bio;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* Nothing to give back: the memory stays for as long as the service
 * (vstord may read it until then, as a REGION). */
static void disk_lend_end(void *h, struct vs_bio *bio)
{
	(void)h;
	(void)bio;
}

static const struct vs_backend_ops disk_backend = {
	.name = "service-disk",
	.api_version = VS_BACKEND_API_VERSION,
	.struct_size = sizeof(struct vs_backend_ops),
	.description = "a disk whose blocks a service's ops read and write (libvstor-service)",
	.options = disk_options,
	.open = disk_open,
	.close = disk_close,
	.get_size = disk_size,
	.get_caps = disk_caps,
	.submit = disk_submit,
	.block_status = disk_block_status,
	.lend_end = disk_lend_end,
};

static pthread_once_t backend_once = PTHREAD_ONCE_INIT;
static int backend_rc;

static void backend_register(void)
{
	backend_rc = vs_backend_register(&disk_backend, "libvstor-service");
}

/* ---------------------------------------------------------------- the inner port */

static void tmf_ignore(void *ctx, enum vs_tmf_response r)
{
	(void)ctx;
	(void)r;
}

static int workers_start(struct vs_svc *s)
{
	struct lib_workers *w = calloc(1, sizeof(*w) + s->threads * sizeof(pthread_t));

	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	for (; w->n < s->threads; w->n++)
		if (pthread_create(&w->th[w->n], NULL, worker_main, w) != 0)
			break;
	if (w->n == 0) {
		free(w);
		return -EAGAIN;
	}
	s->workers = w;
	return 0;
}

static void workers_stop(struct lib_workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (uint32_t i = 0; i < w->n; i++)
		pthread_join(w->th[i], NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

/* The inner port, made with the first disk (inner_lock held). */
static int inner_start(struct vs_svc *s)
{
	if (s->inner)
		return 0;
	/* vstord owns timeouts: the inner port's are only a backstop */
	struct vs_port_config pc = { .name = s->target, .queue_depth = s->entries,
	                             .default_timeout_ms = 3600000, .flags = VS_PORT_INNER };
	struct vs_vdisk_adapter_config ac = { .target_name = s->target,
	                                      .rel_target_port_id = s->rel_target_port_id,
	                                      .transport_version = s->transport_version };

	s->inner = vs_port_create(&vs_vdisk_miniport, &pc, &ac);
	if (!s->inner)
		return -EINVAL;
	s->pool = vs_srb_pool_create(s->inner, s->entries + 16, 0);
	if (!s->pool) {
		vs_port_destroy(s->inner);
		s->inner = NULL;
		return -ENOMEM;
	}
	return 0;
}

int lib_disk_attach(struct vs_svc *s, struct lib_lun *l, const struct vs_svc_disk *dd,
                    const struct vs_svc_disk_ops *ops, void *ctx)
{
	uint32_t bs = dd->block_size ? dd->block_size : 512;
	struct lib_disk *d;
	char id[16];
	int rc;

	if ((bs != 512 && bs != 4096) || dd->size_bytes == 0 || dd->size_bytes % bs) {
		vs_set_error("disk: size_bytes must be a non-zero multiple of block_size (512 or 4096)");
		return -EINVAL;
	}
	if (dd->write_cache && !ops->flush) {
		vs_set_error("disk: write_cache needs ops.flush");
		return -EINVAL;
	}
	pthread_once(&backend_once, backend_register);
	if (backend_rc < 0)
		return backend_rc;
	d = calloc(1, sizeof(*d));
	if (!d || (dd->serial && !(d->serial = strdup(dd->serial))) ||
	    (dd->pr_state_path && !(d->pr_state_path = strdup(dd->pr_state_path)))) {
		if (d) {
			free(d->serial);
			free(d);
		}
		vs_set_error("out of memory");
		return -ENOMEM;
	}
	d->s = s;
	d->size = dd->size_bytes;
	d->readonly = dd->readonly;
	d->write_cache = dd->write_cache;
	d->unmap_zeroes = dd->unmap_zeroes;
	d->unmap_granularity = dd->unmap_granularity;
	d->inline_ops = dd->inline_ops;
	d->ops = ops;
	d->ctx = ctx;
	if (dd->mem) {
		d->region = lib_mem_region(s, dd->mem, dd->size_bytes, &d->region_base);
		if (d->region)
			d->mem = dd->mem;
	}
	pthread_mutex_lock(&disks_lock);
	for (d->id = 0; d->id < MAX_DISKS && disks[d->id]; d->id++)
		;
	if (d->id < MAX_DISKS)
		disks[d->id] = d;
	pthread_mutex_unlock(&disks_lock);
	if (d->id == MAX_DISKS) {
		vs_set_error("disk: at most %d disks in a process", MAX_DISKS);
		rc = -ENOSPC;
		goto fail;
	}
	pthread_mutex_lock(&s->inner_lock);
	rc = inner_start(s);
	if (rc == 0 && !d->inline_ops && !s->workers)
		rc = workers_start(s);
	pthread_mutex_unlock(&s->inner_lock);
	if (rc < 0)
		goto fail_id;
	snprintf(id, sizeof(id), "%u", d->id);
	struct vs_kv kv = { "id", id };
	struct vs_bdev_desc desc = { .kind = VS_LAYER_BACKEND, .name = "service-disk", .opts = &kv,
	                             .nopts = 1 };
	struct vs_bdev_open_args oa = { .max_requests = s->entries * 2, .readonly = dd->readonly };
	struct vs_bdev *bdev = vs_bdev_open_stack(&desc, &oa);
	if (!bdev) {
		rc = -EINVAL;
		goto fail_id;
	}
	struct vs_vdisk_lun_config lc = {
		.bdev = bdev,
		.block_size = bs,
		.readonly = dd->readonly,
		.serial = d->serial,
		.removable = dd->removable,
		.physical_block_size = dd->physical_block_size,
		.pr_state_path = d->pr_state_path,
	};
	rc = vs_port_lun_add(s->inner, l->number, &lc);
	if (rc < 0) {
		vs_bdev_close(bdev);
		goto fail_id;
	}
	l->disk = d;
	l->raw = false;
	return 0;
fail_id:
	pthread_mutex_lock(&disks_lock);
	disks[d->id] = NULL;
	pthread_mutex_unlock(&disks_lock);
fail:
	free(d->serial);
	free(d->pr_state_path);
	free(d);
	return rc;
}

void lib_disk_detach(struct vs_svc *s, struct lib_lun *l)
{
	struct lib_disk *d = l->disk;

	if (!d)
		return;
	/* commands still here are aborted and complete (vdisk closes the
	 * backend once they have) */
	(void)vs_port_lun_remove(s->inner, l->number, true);
	pthread_mutex_lock(&disks_lock);
	disks[d->id] = NULL;
	pthread_mutex_unlock(&disks_lock);
	free(d->serial);
	free(d->pr_state_path);
	free(d);
	l->disk = NULL;
}

static void inner_done(struct vs_srb *srb)
{
	struct vs_svc_cmd *cmd = srb->done_ctx;
	struct vs_svc *s = cmd->s;
	struct lib_lun *l = cmd->lun;
	struct vs_svc_cqe c = { .tag = cmd->e.tag, .scsi_status = srb->scsi_status };
	bool desc;

	if (srb->srb_status != VS_SRB_SUCCESS && c.scsi_status == SAM_STAT_GOOD)
		c.scsi_status = SAM_STAT_TASK_ABORTED;  /* taken back by a reset or an abort */
	if (c.scsi_status == SAM_STAT_CHECK_CONDITION) {
		c.sense_len = srb->sense_len;
		memcpy(c.sense, srb->sense, srb->sense_len);
	}
	c.resid_flags = srb->resid_flags & (VS_RESID_UNDERFLOW | VS_RESID_OVERFLOW);
	if (c.resid_flags == (VS_RESID_UNDERFLOW | VS_RESID_OVERFLOW))
		c.resid_flags = VS_RESID_OVERFLOW;
	c.residual = c.resid_flags ? srb->residual : 0;
	c.xfer_len = srb->xfer_len <= cmd->e.data_length ? srb->xfer_len : cmd->e.data_length;
	if (srb->data_ref && c.xfer_len) {
		/* lent (disk_submit): vstord sends it from the region */
		c.lend_region = l->disk->region;
		c.lend_offset = (uint64_t)((const uint8_t *)srb->data_ref - l->disk->region_base);
	}
	/* MODE SELECT may have changed the LUN's D_SENSE: vstord's own sense
	 * for the LUN follows it */
	desc = vs_port_lun_sense_descriptor(s->inner, l->number);
	if (desc != l->desc_sense) {
		l->desc_sense = desc;
		c.sense_format = desc ? VS_SVC_SENSE_DESC : VS_SVC_SENSE_FIXED;
	}
	vs_srb_put(srb);
	lib_cmd_free(s, cmd);
	lib_complete(s, &c);
}

int lib_disk_start(struct vs_svc *s, struct vs_svc_cmd *cmd)
{
	struct lib_nexus *nx = cmd->nx;
	struct vs_srb *srb = vs_srb_get(s->pool);

	if (!srb)
		return -EBUSY;
	if (nx && !nx->inner) {
		/* the initiator's first command: the inner port learns who it
		 * is (reservations are kept by transport ID and name) */
		nx->inner = vs_port_nexus_open(s->inner, nx->name, nx->initiator_name,
		                               nx->transport_id, nx->pub.transport_id_len);
		if (nx->inner)
			nx->inner->rel_target_port_id = nx->pub.rel_target_port_id;
	}
	memcpy(srb->cdb, cmd->e.cdb, cmd->e.cdb_len);
	srb->cdb_len = cmd->e.cdb_len;
	srb->task_attr = cmd->e.task_attr;
	srb->data_dir = cmd->e.data_dir;
	srb->lun = cmd->e.lun;
	srb->tag = (uint64_t)cmd->gen << 32 | (uint64_t)(cmd - s->cmds);
	cmd->iov = (struct iovec){ cmd->data, cmd->e.data_length };
	srb->iov = &cmd->iov;
	srb->iovcnt = cmd->data ? 1 : 0;
	srb->data_length = cmd->data ? cmd->e.data_length : 0;
	srb->nexus = nx ? nx->inner : NULL;
	srb->done = inner_done;
	srb->done_ctx = cmd;
	/* vstord may take this READ's data from where the disk keeps it */
	if ((cmd->e.flags & VS_SVC_SQE_MAY_LEND) && cmd->lun->disk && cmd->lun->disk->mem)
		srb->accept_data_ref = VS_DATA_REF_OK;
	cmd->srb = srb;
	vs_port_submit(s->inner, srb);
	return 0;
}

void lib_disk_abort(struct vs_svc *s, struct vs_svc_cmd *cmd)
{
	/* by gen:index, so a later command in the same slot is never hit */
	vs_port_task_mgmt(s->inner, cmd->nx ? cmd->nx->inner : NULL, VS_TMF_ABORT_TASK, cmd->e.lun,
	                  (uint64_t)cmd->gen << 32 | (uint64_t)(cmd - s->cmds), tmf_ignore, NULL);
}

struct tmf_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
};

static void tmf_done(void *ctx, enum vs_tmf_response r)
{
	struct tmf_wait *w = ctx;

	(void)r;
	pthread_mutex_lock(&w->mu);
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/*
 * A reset is over before the next entry is taken: the entries behind it
 * in the ring are commands vstord started after the reset (the initiator
 * may have been told it is done), which must see what it cleared (SAM-5
 * 6.3.3: PREVENT MEDIUM REMOVAL, RESERVE(6), ...).  The inner port's TMF
 * waits for the LUN's commands, which finish on the worker threads.
 */
void lib_disk_reset(struct vs_svc *s, struct lib_lun *l, bool target)
{
	struct tmf_wait w = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

	if (!s->inner)
		return;
	if (target)
		vs_port_task_mgmt(s->inner, NULL, VS_TMF_TARGET_WARM_RESET, 0, 0, tmf_done, &w);
	else
		vs_port_task_mgmt(s->inner, NULL, VS_TMF_LOGICAL_UNIT_RESET, l->number, 0, tmf_done,
		                  &w);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
}

void lib_disk_nexus_lost(struct vs_svc *s, struct lib_nexus *nx)
{
	if (nx->inner && s->inner)
		vs_port_nexus_close(s->inner, nx->inner);
	nx->inner = NULL;
}

void lib_disk_close(struct vs_svc *s)
{
	if (s->inner) {
		for (uint32_t i = 0; i < s->nexus_entries; i++)
			if (s->nexus[i])
				s->nexus[i]->inner = NULL;      /* closed with the port */
		vs_srb_pool_destroy(s->pool);
		/* removes every LUN (vdisk flushes and closes each) */
		vs_port_destroy(s->inner);
		s->inner = NULL;
		s->pool = NULL;
	}
	for (uint32_t i = 0; i < LIB_MAX_LUN; i++) {
		struct lib_lun *l = s->luns[i];

		if (l && l->disk) {
			pthread_mutex_lock(&disks_lock);
			disks[l->disk->id] = NULL;
			pthread_mutex_unlock(&disks_lock);
			free(l->disk->serial);
			free(l->disk->pr_state_path);
			free(l->disk);
			l->disk = NULL;
		}
	}
	workers_stop(s->workers);
	s->workers = NULL;
}
