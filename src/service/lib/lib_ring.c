/* SPDX-License-Identifier: MIT */
/*
 * The service's side of the rings: take submission entries, hand each
 * command to its LUN (raw: the service's callback; disk: the inner port),
 * write completions, ring the doorbells.
 *
 * vstord is trusted more than a service is trusted by it, but its entries
 * are still checked before use: a data buffer outside the area or a CDB
 * of a wrong length is answered HARDWARE ERROR, never followed.
 *
 * Doorbells: before sleeping we set VS_SVC_WAKE in sq_flags, fence, and
 * look at sq_tail once more (doc/service-protocol.md, "Doorbells"); while
 * busy the flag is clear and vstord writes no eventfd.  Completions made
 * on the serving thread during a batch are published and ring the
 * completion doorbell once, at its end.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#include "lib_int.h"
#include "vstor/scsi.h"

static _Thread_local struct vs_svc *tl_batch;   /* the serving thread, inside a batch */

static void cq_doorbell(struct vs_svc *s)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (__atomic_load_n(&s->hdr->cq_flags, __ATOMIC_RELAXED) & VS_SVC_WAKE) {
		ssize_t w = eventfd_write(s->cq_efd, 1);
		(void)w;
	}
}

/*
 * Into the ring, only the bytes vstord reads (protocol: "Completion
 * entry"): the fixed part, sense_len bytes of sense and lend_offset with a
 * lend_region.  A GOOD completion so writes one or two of the entry's
 * five cache lines, not all of them, each line a transfer between the CPUs
 * of the two processes.
 */
static void cqe_write(struct vs_svc_cqe *dst, const struct vs_svc_cqe *src)
{
	memcpy(dst, src, offsetof(struct vs_svc_cqe, sense));
	if (src->sense_len)
		memcpy(dst->sense, src->sense,
		       src->sense_len <= VS_SVC_SENSE_MAX ? src->sense_len : VS_SVC_SENSE_MAX);
	if (src->lend_region)
		dst->lend_offset = src->lend_offset;
}

/* cq_lock held */
static void cq_publish_locked(struct vs_svc *s)
{
	__atomic_store_n(&s->hdr->cq_tail, s->cq_tail, __ATOMIC_RELEASE);
}

/* cq_lock held: one completion into the ring, unpublished */
static void cq_put_locked(struct vs_svc *s, const struct vs_svc_cqe *cqe)
{
	/* vstord sends no more commands than the ring holds completions, so
	 * this waits only if vstord broke that; bounded all the same */
	for (int spins = 0; s->cq_tail - __atomic_load_n(&s->hdr->cq_head, __ATOMIC_ACQUIRE) >=
	                    s->entries && spins < 1000000 && !atomic_load(&s->fatal); spins++) {
		cq_publish_locked(s);
		pthread_mutex_unlock(&s->cq_lock);
		sched_yield();
		pthread_mutex_lock(&s->cq_lock);
	}
	cqe_write(&s->cq[s->cq_tail % s->entries], cqe);
	s->cq_tail++;
}

/* The serving thread: its staged completions into the ring, and those of
 * other threads written meanwhile with them, published. */
static void cq_flush_stage(struct vs_svc *s)
{
	pthread_mutex_lock(&s->cq_lock);
	for (uint32_t i = 0; i < s->cq_staged; i++)
		cq_put_locked(s, &s->cq_stage[i]);
	s->cq_staged = 0;
	cq_publish_locked(s);
	pthread_mutex_unlock(&s->cq_lock);
}

/*
 * Completions made on the serving thread inside a batch are staged in its
 * own memory and go into the ring together at the batch's end, published
 * (cq_tail) once with its doorbell: vstord, polling the ring, takes them
 * in one go and sends them on together.  The ring's lines are the other
 * process's to read, so each store to them waits for a transfer between
 * CPUs; written in a run, those transfers overlap, where one at a time
 * under the lock each one stalled the unlock behind it.  Completions from
 * other threads go into the ring and are published at once.
 */
void lib_complete(struct vs_svc *s, const struct vs_svc_cqe *cqe)
{
	if (tl_batch == s) {
		if (s->cq_staged == LIB_CQ_STAGE)
			cq_flush_stage(s);
		cqe_write(&s->cq_stage[s->cq_staged++], cqe);
		return;
	}
	pthread_mutex_lock(&s->cq_lock);
	cq_put_locked(s, cqe);
	cq_publish_locked(s);
	pthread_mutex_unlock(&s->cq_lock);
	cq_doorbell(s);
}

/* The end of a batch: what it completed goes to vstord. */
static void cq_batch_end(struct vs_svc *s)
{
	cq_flush_stage(s);
	cq_doorbell(s);
}

static void complete_status(struct vs_svc *s, uint64_t tag, uint8_t status)
{
	struct vs_svc_cqe c = { .tag = tag, .scsi_status = status };

	lib_complete(s, &c);
}

/* Fixed-format sense data (SPC-4 4.5.3). */
static uint8_t fixed_sense(uint8_t *b, uint8_t key, uint8_t asc, uint8_t ascq)
{
	memset(b, 0, 18);
	b[0] = 0x70;
	b[2] = key;
	b[7] = 10;
	b[12] = asc;
	b[13] = ascq;
	return 18;
}

static void complete_sense(struct vs_svc *s, uint64_t tag, uint8_t key, uint8_t asc, uint8_t ascq)
{
	struct vs_svc_cqe c = { .tag = tag, .scsi_status = SAM_STAT_CHECK_CONDITION };

	c.sense_len = fixed_sense(c.sense, key, asc, ascq);
	lib_complete(s, &c);
}

void lib_cmd_free(struct vs_svc *s, struct vs_svc_cmd *cmd)
{
	struct lib_lun *l = cmd->lun;
	struct vs_svc_cmd *head;

	cmd->lun = NULL;
	cmd->srb = NULL;
	atomic_store_explicit(&cmd->busy, false, memory_order_relaxed);
	head = atomic_load_explicit(&s->freed, memory_order_relaxed);
	do
		cmd->next_free = head;
	while (!atomic_compare_exchange_weak_explicit(&s->freed, &head, cmd, memory_order_release,
	                                              memory_order_relaxed));
	if (l)
		lib_lun_put(s, l);
}

/* The serving thread only. */
static struct vs_svc_cmd *cmd_alloc(struct vs_svc *s)
{
	struct vs_svc_cmd *cmd = s->free_local;

	if (!cmd)
		cmd = atomic_exchange_explicit(&s->freed, NULL, memory_order_acquire);
	if (!cmd)
		return NULL;
	s->free_local = cmd->next_free;
	cmd->gen++;
	atomic_store_explicit(&cmd->busy, true, memory_order_relaxed);
	return cmd;
}

static struct lib_lun *lun_get(struct vs_svc *s, uint64_t n)
{
	struct lib_lun *l = NULL;

	if (n >= LIB_MAX_LUN)
		return NULL;
	pthread_mutex_lock(&s->lun_lock);
	l = s->luns[n];
	if (l)
		atomic_fetch_add(&l->refs, 1);
	pthread_mutex_unlock(&s->lun_lock);
	return l;
}

struct lib_nexus *lib_nexus_of(struct vs_svc *s, uint32_t id, uint32_t gen)
{
	struct lib_nexus *nx;
	struct vs_svc_nexus_rec rec;

	if (!gen || id >= s->nexus_entries)
		return NULL;
	nx = s->nexus[id];
	if (!nx) {
		nx = calloc(1, sizeof(*nx));
		if (!nx)
			return NULL;
		s->nexus[id] = nx;
	}
	if (nx->gen == gen)
		return nx;
	if (nx->gen)
		lib_disk_nexus_lost(s, nx);     /* the id's previous initiator is gone */
	memcpy(&rec, &s->nexus_rec[id], sizeof(rec));
	memcpy(nx->name, rec.name, sizeof(nx->name));
	nx->name[sizeof(nx->name) - 1] = '\0';
	memcpy(nx->initiator_name, rec.initiator_name, sizeof(nx->initiator_name));
	nx->initiator_name[sizeof(nx->initiator_name) - 1] = '\0';
	memcpy(nx->transport_id, rec.transport_id, sizeof(nx->transport_id));
	nx->pub = (struct vs_svc_nexus){
		.id = id,
		.name = nx->name,
		.initiator_name = nx->initiator_name,
		.transport_id = nx->transport_id,
		.transport_id_len = rec.transport_id_len <= sizeof(nx->transport_id)
		                    ? rec.transport_id_len : 0,
		.rel_target_port_id = rec.rel_target_port_id,
	};
	nx->gen = gen;
	return nx;
}

static void on_scsi(struct vs_svc *s, const struct vs_svc_sqe *e)
{
	struct vs_svc_cmd *cmd;
	struct lib_lun *l;

	if (e->cdb_len == 0 || e->cdb_len > VS_CDB_MAX || e->data_dir > VS_SVC_DIR_TO_DEVICE ||
	    e->data_length > s->max_transfer ||
	    (e->data_length && (e->data_offset > s->data_bytes ||
	                        e->data_length > s->data_bytes - e->data_offset))) {
		/* SPC-4: INTERNAL TARGET FAILURE (44h/00h) */
		complete_sense(s, e->tag, SENSE_HARDWARE_ERROR, 0x44, 0x00);
		return;
	}
	l = lun_get(s, e->lun);
	if (!l) {
		/* detached meanwhile: LOGICAL UNIT NOT SUPPORTED (25h/00h) */
		complete_sense(s, e->tag, SENSE_ILLEGAL_REQUEST, 0x25, 0x00);
		return;
	}
	cmd = cmd_alloc(s);
	if (!cmd) {
		lib_lun_put(s, l);
		complete_status(s, e->tag, SAM_STAT_BUSY);
		return;
	}
	cmd->e = *e;
	cmd->data = e->data_length ? s->data + e->data_offset : NULL;
	cmd->lun = l;
	cmd->nx = lib_nexus_of(s, e->nexus_id, e->nexus_gen);
	if (l->raw) {
		l->raw_ops->command(l->ctx, cmd);
		return;
	}
	if (lib_disk_start(s, cmd) < 0) {
		uint64_t tag = cmd->e.tag;

		lib_cmd_free(s, cmd);
		complete_status(s, tag, SAM_STAT_BUSY);
	}
}

static void on_abort(struct vs_svc *s, uint64_t tag)
{
	for (uint32_t i = 0; i < s->entries; i++) {
		struct vs_svc_cmd *cmd = &s->cmds[i];

		/* cmd->e is written by this thread when the command starts */
		if (!atomic_load_explicit(&cmd->busy, memory_order_relaxed) || cmd->e.tag != tag)
			continue;
		/* the command may finish on another thread meanwhile: its LUN
		 * by number, with a reference of our own */
		struct lib_lun *l = lun_get(s, cmd->e.lun);

		if (!l)
			return;
		if (l->raw && l->raw_ops->abort)
			l->raw_ops->abort(l->ctx, cmd);
		else if (!l->raw)
			lib_disk_abort(s, cmd);
		lib_lun_put(s, l);
		return;
	}
}

static void on_reset(struct vs_svc *s, const struct vs_svc_sqe *e)
{
	bool target = e->opcode == VS_SVC_OP_TARGET_RESET, disk = false;

	for (uint64_t n = target ? 0 : e->lun; n < LIB_MAX_LUN && (target || n == e->lun); n++) {
		struct lib_lun *l = lun_get(s, n);

		if (!l)
			continue;
		if (l->raw && l->raw_ops->reset)
			l->raw_ops->reset(l->ctx);
		else if (!l->raw && !target)
			lib_disk_reset(s, l, false);
		disk |= !l->raw;
		lib_lun_put(s, l);
	}
	if (target && disk)
		lib_disk_reset(s, NULL, true);
}

static void on_nexus_lost(struct vs_svc *s, const struct vs_svc_sqe *e)
{
	struct lib_nexus *nx = e->nexus_id < s->nexus_entries ? s->nexus[e->nexus_id] : NULL;

	if (!nx || nx->gen != e->nexus_gen || !nx->gen)
		return;
	for (uint64_t n = 0; n < LIB_MAX_LUN; n++) {
		struct lib_lun *l = lun_get(s, n);

		if (!l)
			continue;
		if (l->raw && l->raw_ops->nexus_lost)
			l->raw_ops->nexus_lost(l->ctx, &nx->pub);
		lib_lun_put(s, l);
	}
	lib_disk_nexus_lost(s, nx);
	nx->gen = 0;
}

static void dispatch(struct vs_svc *s, const struct vs_svc_sqe *e)
{
	switch (e->opcode) {
	case VS_SVC_OP_SCSI:
		on_scsi(s, e);
		break;
	case VS_SVC_OP_ABORT:
		on_abort(s, e->tag);
		break;
	case VS_SVC_OP_LUN_RESET:
	case VS_SVC_OP_TARGET_RESET:
		on_reset(s, e);
		break;
	case VS_SVC_OP_NEXUS_LOST:
		on_nexus_lost(s, e);
		break;
	default:
		break;          /* a later minor version's: not for us */
	}
}

/* Every entry vstord has written so far; how many. */
static uint32_t take_entries(struct vs_svc *s)
{
	uint32_t tail = __atomic_load_n(&s->hdr->sq_tail, __ATOMIC_ACQUIRE), n = 0;

	if (tail - s->sq_head > s->entries)
		return 0;       /* not a tail vstord writes; wait for a sane one */
	while (s->sq_head != tail) {
		struct vs_svc_sqe e;

		memcpy(&e, &s->sq[s->sq_head % s->entries], sizeof(e));
		s->sq_head++;
		__atomic_store_n(&s->hdr->sq_head, s->sq_head, __ATOMIC_RELEASE);
		dispatch(s, &e);
		n++;
	}
	return n;
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int vs_svc_run(struct vs_svc *s)
{
	struct pollfd p[3];
	uint64_t spin_until = 0;

	if (!s) {
		vs_set_error("run: no service");
		return -EINVAL;
	}
	p[0] = (struct pollfd){ s->sq_efd, POLLIN, 0 };
	p[1] = (struct pollfd){ s->sock, POLLIN, 0 };
	p[2] = (struct pollfd){ s->stop_efd, POLLIN, 0 };
	while (!atomic_load(&s->stopping) && !atomic_load(&s->fatal)) {
		uint32_t n;

		tl_batch = s;
		n = take_entries(s);
		tl_batch = NULL;
		/* a full stage is written out only when one more comes, so a
		 * batch that completed anything ends with some staged */
		if (s->cq_staged)
			cq_batch_end(s);
		if (n) {
			if (s->poll_us)
				spin_until = mono_us() + s->poll_us;
			continue;
		}
		if (spin_until && mono_us() < spin_until)
			continue;
		/* about to sleep: ask for the doorbell, then look once more */
		__atomic_store_n(&s->hdr->sq_flags, VS_SVC_WAKE, __ATOMIC_RELAXED);
		atomic_thread_fence(memory_order_seq_cst);
		if (__atomic_load_n(&s->hdr->sq_tail, __ATOMIC_ACQUIRE) == s->sq_head) {
			if (poll(p, 3, 1000) > 0) {
				eventfd_t v;

				if (p[0].revents)
					(void)eventfd_read(s->sq_efd, &v);
				if (p[1].revents) {
					pthread_mutex_lock(&s->rx_lock);
					(void)lib_rx_one(s, 0);
					pthread_mutex_unlock(&s->rx_lock);
				}
				if (p[2].revents)
					(void)eventfd_read(s->stop_efd, &v);
			}
		}
		__atomic_store_n(&s->hdr->sq_flags, 0, __ATOMIC_RELAXED);
		spin_until = 0;
	}
	if (atomic_load(&s->fatal)) {
		vs_set_error("%s", s->fatal_why);
		return atomic_load(&s->fatal);
	}
	return 0;
}

/* ---------------------------------------------------------------- raw mode commands */

const uint8_t *vs_svc_cmd_cdb(const struct vs_svc_cmd *cmd, uint8_t *cdb_len)
{
	if (cdb_len)
		*cdb_len = cmd->e.cdb_len;
	return cmd->e.cdb;
}

uint64_t vs_svc_cmd_lun(const struct vs_svc_cmd *cmd)
{
	return cmd->e.lun;
}

void *vs_svc_cmd_data(const struct vs_svc_cmd *cmd, uint32_t *len)
{
	if (len)
		*len = cmd->data ? cmd->e.data_length : 0;
	return cmd->data;
}

int vs_svc_cmd_dir(const struct vs_svc_cmd *cmd)
{
	return cmd->e.data_dir;
}

const struct vs_svc_nexus *vs_svc_cmd_nexus(const struct vs_svc_cmd *cmd)
{
	return cmd->nx ? &cmd->nx->pub : NULL;
}

void vs_svc_cmd_done(struct vs_svc_cmd *cmd, uint8_t status, uint32_t xfer_len)
{
	struct vs_svc *s = cmd->s;
	struct vs_svc_cqe c = { .tag = cmd->e.tag, .scsi_status = status };

	if (cmd->e.data_dir == VS_SVC_DIR_FROM_DEVICE) {
		c.xfer_len = xfer_len < cmd->e.data_length ? xfer_len : cmd->e.data_length;
		if (c.xfer_len < cmd->e.data_length) {
			c.resid_flags = 1;      /* underflow (SAM-5 5.1) */
			c.residual = cmd->e.data_length - c.xfer_len;
		}
	}
	lib_cmd_free(s, cmd);
	lib_complete(s, &c);
}

void vs_svc_cmd_sense(struct vs_svc_cmd *cmd, uint8_t key, uint8_t asc, uint8_t ascq)
{
	struct vs_svc *s = cmd->s;
	uint64_t tag = cmd->e.tag;

	lib_cmd_free(s, cmd);
	complete_sense(s, tag, key, asc, ascq);
}
