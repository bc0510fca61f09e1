/* SPDX-License-Identifier: MIT */
/*
 * The rings of one service connection (doc/service-protocol.md, "Rings"):
 * submissions written by any thread that starts a command (under
 * conn->lock), completions taken on the connection's loop, and the way a
 * connection dies.
 *
 * What the service writes is read once into our own memory and checked
 * before anything is done with it; a bad index, tag, length, status or
 * sense disconnects the service with one line that names the field, and
 * no command is completed twice or from a wrong entry.  Taking
 * completions is bounded per pass (at most one ring's worth), so a
 * service that keeps writing cannot keep the loop.  Everything we keep per
 * connection was sized at WELCOME: nothing it writes makes us allocate.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "svc_int.h"

#define NO_NEXUS UINT32_MAX

static void reap_any(struct svc_conn *c);

static uint64_t now_ns(void)
{
	return vs_loop_clock_ns();
}

/* ---------------------------------------------------------------- submission side */

/* Entries the service has not taken yet, or -1 when its sq_head is not
 * one we can believe (ahead of our tail, or more than a ring behind). */
static int64_t sq_used(struct svc_conn *c)
{
	uint32_t head = __atomic_load_n(&c->area->hdr->sq_head, __ATOMIC_ACQUIRE);
	uint32_t used = c->sq_tail - head;

	return used > c->entries ? -1 : (int64_t)used;
}

static bool sq_has_room(struct svc_conn *c)
{
	int64_t used = sq_used(c);

	if (used < 0) {
		vs_conn_kill(c, true, "submission ring: sq_head %u is not within the %u entries before "
		          "sq_tail %u", __atomic_load_n(&c->area->hdr->sq_head, __ATOMIC_RELAXED),
		          c->entries, c->sq_tail);
		return false;
	}
	return used < c->entries;
}

/* c->lock held, room checked.  Written, not yet published: the doorbell
 * publishes (vs_ring_doorbell), so a pass's commands reach the service
 * with one store of sq_tail, whose cache line the service reads. */
static void sq_push(struct svc_conn *c, const struct vs_svc_sqe *e, bool *ring)
{
	memcpy(&c->area->sq[c->sq_tail % c->entries], e, sizeof(*e));
	c->sq_tail++;
	*ring = true;
}

/* Control entries that wait for room go first: a target reset, LUN
 * resets, lost nexuses, in that order. */
static void flush_control_locked(struct svc_conn *c, bool *ring)
{
	if (c->target_reset_pending && sq_has_room(c)) {
		sq_push(c, &(struct vs_svc_sqe){ .opcode = VS_SVC_OP_TARGET_RESET }, ring);
		c->target_reset_pending = false;
	}
	for (uint32_t w = 0; c->nreset_pending && w < SVC_MAX_LUN_NUMBER / 64; w++) {
		while (c->reset_pending[w] && sq_has_room(c)) {
			unsigned b = (unsigned)__builtin_ctzll(c->reset_pending[w]);

			sq_push(c, &(struct vs_svc_sqe){ .opcode = VS_SVC_OP_LUN_RESET,
			                                 .lun = (uint64_t)w * 64 + b }, ring);
			c->reset_pending[w] &= ~(1ULL << b);
			c->nreset_pending--;
		}
		if (c->reset_pending[w])
			return;
	}
	for (uint32_t w = 0; c->nlost_pending && w < c->area->nexus_entries / 64; w++) {
		while (c->lost_pending[w] && sq_has_room(c)) {
			unsigned b = (unsigned)__builtin_ctzll(c->lost_pending[w]);
			uint32_t id = w * 64 + b;

			sq_push(c, &(struct vs_svc_sqe){ .opcode = VS_SVC_OP_NEXUS_LOST, .nexus_id = id,
			                                 .nexus_gen = c->nexus_gen[id] }, ring);
			c->nexus_gen[id] = 0;
			c->lost_pending[w] &= ~(1ULL << b);
			c->nlost_pending--;
		}
		if (c->lost_pending[w])
			return;
	}
}

/* The nexus's record in the table, written before the first entry that
 * names it (the release store of sq_tail publishes both). */
static uint32_t nexus_gen_for(struct svc_conn *c, const struct vs_nexus *n)
{
	struct vs_svc_nexus_rec *rec;
	uint32_t gen;

	if (c->nexus_gen[n->id] && !(c->lost_pending[n->id / 64] & (1ULL << (n->id % 64))))
		return c->nexus_gen[n->id];
	if (c->lost_pending[n->id / 64] & (1ULL << (n->id % 64))) {
		/* the id's last nexus is gone and the ring had no room to say
		 * so: the new generation says it */
		c->lost_pending[n->id / 64] &= ~(1ULL << (n->id % 64));
		c->nlost_pending--;
	}
	gen = ++c->next_gen;
	if (gen == 0)
		gen = ++c->next_gen;
	rec = &c->area->nexus[n->id];
	memset(rec->name, 0, sizeof(rec->name) + sizeof(rec->initiator_name) +
	                     sizeof(rec->transport_id));
	snprintf(rec->name, sizeof(rec->name), "%s", n->name);
	snprintf(rec->initiator_name, sizeof(rec->initiator_name), "%s", n->initiator_name);
	memcpy(rec->transport_id, n->transport_id,
	       n->transport_id_len <= sizeof(rec->transport_id) ? n->transport_id_len : 0);
	rec->transport_id_len = n->transport_id_len <= sizeof(rec->transport_id)
	                        ? n->transport_id_len : 0;
	rec->rel_target_port_id = n->rel_target_port_id;
	__atomic_store_n(&rec->gen, gen, __ATOMIC_RELEASE);
	c->nexus_gen[n->id] = gen;
	return gen;
}

int vs_ring_submit_locked(struct svc_conn *c, struct vs_srb *srb, struct vs_port_lun *plun,
                       bool *ring)
{
	struct svc_area *a = c->area;
	struct vs_svc_sqe e = { .opcode = VS_SVC_OP_SCSI };
	struct svc_slot *s;
	uint32_t idx;
	void *data = NULL, *bounce = NULL;
	uint32_t len = srb->data_length;

	flush_control_locked(c, ring);
	if (c->free_head == UINT32_MAX || !sq_has_room(c))
		return SAM_STAT_BUSY;
	if (srb->nexus && srb->nexus->id >= a->nexus_entries)
		return SAM_STAT_BUSY;   /* more nexuses than its table: see the protocol's limits */
	if (srb->data_dir != VS_DIR_NONE && len) {
		/* Zero copy: the fabric received the data into (or will send it
		 * from) the LUN's buffer, lent from this area.  A buffer from
		 * elsewhere (the area was full, a fabric without buffers of the
		 * port's) is copied through the area, and counted. */
		if (srb->iovcnt == 1 && srb->iov[0].iov_len >= len &&
		    area_holds(a, srb->iov[0].iov_base, len)) {
			data = srb->iov[0].iov_base;
			atomic_fetch_add_explicit(&c->bytes_shared, len, memory_order_relaxed);
		} else {
			bounce = vs_area_alloc(a, len);
			if (!bounce)
				return SAM_STAT_BUSY;
			if (srb->data_dir == VS_DIR_TO_DEVICE) {
				vs_srb_copy_from_iov(srb, 0, bounce, len);
				atomic_fetch_add_explicit(&c->bytes_copied, len, memory_order_relaxed);
			}
			data = bounce;
		}
	} else {
		len = 0;
	}
	idx = c->free_head;
	s = &c->slots[idx];
	c->free_head = s->next_free;
	s->srb = srb;
	s->gen++;
	s->bounce = bounce;
	s->length = len;
	s->dir = srb->data_dir;
	s->plun = plun;
	/* A read may come back in a REGION of the service's (LEND) when the
	 * fabric sends it without needing it to stay as it was (srb.h): a
	 * fabric that checksums it first (digests) gets it in the buffer. */
	s->may_lend = (c->features & VS_SVC_F_LEND) && srb->data_dir == VS_DIR_FROM_DEVICE && len &&
	              srb->accept_data_ref == VS_DATA_REF_OK;

	e.tag = (uint64_t)s->gen << 32 | idx;
	e.data_dir = srb->data_dir;
	e.task_attr = srb->task_attr;
	e.cdb_len = srb->cdb_len;
	memcpy(e.cdb, srb->cdb, srb->cdb_len);
	e.lun = srb->lun;
	e.data_offset = data ? (uint64_t)((uint8_t *)data - a->data) : 0;
	e.data_length = len;
	e.flags = s->may_lend ? VS_SVC_SQE_MAY_LEND : 0;
	if (srb->nexus) {
		e.nexus_id = srb->nexus->id;
		e.nexus_gen = nexus_gen_for(c, srb->nexus);
	} else {
		e.nexus_id = NO_NEXUS;
	}
	if (c->outstanding++ == 0)
		atomic_store_explicit(&c->last_progress_ns, now_ns(), memory_order_relaxed);
	atomic_fetch_add_explicit(&c->commands, 1, memory_order_relaxed);
	sq_push(c, &e, ring);
	return 0;
}

void vs_ring_lun_reset_locked(struct svc_conn *c, uint64_t lun, bool *ring)
{
	if (!(c->features & VS_SVC_F_RESET) || lun >= SVC_MAX_LUN_NUMBER)
		return;
	if (!(c->reset_pending[lun / 64] & (1ULL << (lun % 64)))) {
		c->reset_pending[lun / 64] |= 1ULL << (lun % 64);
		c->nreset_pending++;
	}
	flush_control_locked(c, ring);
}

void vs_ring_target_reset_locked(struct svc_conn *c, bool *ring)
{
	if (!(c->features & VS_SVC_F_RESET) || c->state != CONN_ALIVE)
		return;
	c->target_reset_pending = true;
	flush_control_locked(c, ring);
}

void vs_ring_nexus_lost_locked(struct svc_conn *c, uint32_t id, bool *ring)
{
	if (c->state != CONN_ALIVE || id >= c->area->nexus_entries || !c->nexus_gen[id])
		return;
	if (!(c->features & VS_SVC_F_NEXUS)) {
		c->nexus_gen[id] = 0;
		return;
	}
	if (!(c->lost_pending[id / 64] & (1ULL << (id % 64)))) {
		c->lost_pending[id / 64] |= 1ULL << (id % 64);
		c->nlost_pending++;
	}
	flush_control_locked(c, ring);
}

bool vs_ring_abort_locked(struct svc_conn *c, const struct vs_srb *srb, bool *ring)
{
	if (!(c->features & VS_SVC_F_ABORT))
		return false;
	for (uint32_t i = 0; i < c->entries; i++) {
		struct svc_slot *s = &c->slots[i];

		if (s->srb != srb)
			continue;
		if (!sq_has_room(c))
			return false;
		sq_push(c, &(struct vs_svc_sqe){ .opcode = VS_SVC_OP_ABORT,
		                                 .tag = (uint64_t)s->gen << 32 | i }, ring);
		return true;
	}
	return false;
}

void vs_ring_doorbell(struct svc_conn *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->sq_published != c->sq_tail) {
		c->sq_published = c->sq_tail;
		__atomic_store_n(&c->area->hdr->sq_tail, c->sq_tail, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&c->lock);
	/* Pairs with the service's fence between setting VS_SVC_WAKE and
	 * looking at sq_tail again (protocol: "Doorbells"): one of us sees
	 * the other's write. */
	atomic_thread_fence(memory_order_seq_cst);
	if (__atomic_load_n(&c->area->hdr->sq_flags, __ATOMIC_RELAXED) & VS_SVC_WAKE) {
		ssize_t w = eventfd_write(c->sq_efd, 1);
		(void)w;
	}
}

static void bell_late(struct vs_loop_msg *m)
{
	struct svc_conn *c = VS_CONTAINER_OF(m, struct svc_conn, bell_msg);

	/* an exchange, not a store: it reads the flag another loop's
	 * submitter set after publishing its entry, so that entry is seen */
	atomic_exchange(&c->bell_pending, false);
	vs_ring_doorbell(c);
	/* what the service finished meanwhile, taken on this loop */
	reap_any(c);
	vs_conn_put(c);
}

void vs_ring_doorbell_soon(struct svc_conn *c)
{
	struct vs_loop *here = vs_loop_current();

	if (!here) {
		vs_ring_doorbell(c);
		return;
	}
	if (atomic_exchange(&c->bell_pending, true))
		return;         /* one is on its way, after our entry */
	vs_conn_get(c);
	c->bell_msg.fn = bell_late;
	vs_loop_post_late(here, &c->bell_msg);
}

/* ---------------------------------------------------------------- completion side */

/* SAM-5 5.3: the statuses a device server returns (the obsolete ones not
 * accepted). */
static bool status_known(uint8_t st)
{
	switch (st) {
	case SAM_STAT_GOOD:
	case SAM_STAT_CHECK_CONDITION:
	case SAM_STAT_CONDITION_MET:
	case SAM_STAT_BUSY:
	case SAM_STAT_RESERVATION_CONFLICT:
	case SAM_STAT_TASK_SET_FULL:
	case SAM_STAT_ACA_ACTIVE:
	case SAM_STAT_TASK_ABORTED:
		return true;
	default:
		return false;
	}
}

/* One completion entry, already copied out of the ring, against its slot;
 * NULL or the field that is wrong. */
static const char *cqe_invalid(const struct vs_svc_cqe *e, const struct svc_slot *s,
                               char *why, size_t len)
{
	struct vs_sense sense;

	if (!status_known(e->scsi_status)) {
		snprintf(why, len, "scsi_status 0x%02x is not a SAM-5 status", e->scsi_status);
		return why;
	}
	if (e->sense_len > VS_SVC_SENSE_MAX) {
		snprintf(why, len, "sense_len %u is over %u", e->sense_len, VS_SVC_SENSE_MAX);
		return why;
	}
	if (e->sense_len && e->scsi_status != SAM_STAT_CHECK_CONDITION) {
		snprintf(why, len, "sense_len %u with scsi_status 0x%02x (sense goes with CHECK "
		         "CONDITION only)", e->sense_len, e->scsi_status);
		return why;
	}
	if (e->scsi_status == SAM_STAT_CHECK_CONDITION &&
	    (e->sense_len < 8 || !vs_sense_parse(e->sense, e->sense_len, &sense))) {
		snprintf(why, len, "CHECK CONDITION with sense data that is neither fixed nor "
		         "descriptor format (SPC-4 4.5)");
		return why;
	}
	if (e->sense_format > VS_SVC_SENSE_DESC) {
		snprintf(why, len, "sense_format %u", e->sense_format);
		return why;
	}
	if (e->resid_flags > VS_RESID_OVERFLOW) {
		snprintf(why, len, "resid_flags 0x%x", e->resid_flags);
		return why;
	}
	if (e->resid_flags == VS_RESID_UNDERFLOW && e->residual > s->length) {
		snprintf(why, len, "underflow residual %u is more than the %u-byte buffer", e->residual,
		         s->length);
		return why;
	}
	if (e->xfer_len > s->length) {
		snprintf(why, len, "xfer_len %u is more than the %u-byte buffer", e->xfer_len, s->length);
		return why;
	}
	if (e->lend_region && !s->may_lend) {
		snprintf(why, len, "lend_region %u for a command that was not flagged MAY_LEND",
		         e->lend_region);
		return why;
	}
	if (e->lend_region && e->xfer_len == 0) {
		snprintf(why, len, "lend_region %u with xfer_len 0", e->lend_region);
		return why;
	}
	return NULL;
}

/* The end of a read sent from a REGION: the area (and its regions) may go. */
static void lent_release(struct vs_srb *srb)
{
	struct proxy_srb *p = srb->ext;

	vs_area_put(p->lent_area);
	p->lent_area = NULL;
}

/* Take one completion; false when the service broke the protocol. */
static bool complete_one(struct svc_conn *c, uint32_t pos)
{
	struct vs_svc_cqe e;
	struct vs_srb *srb;
	struct svc_slot *s;
	uint32_t idx;
	char why[160];
	void *bounce;
	const void *lent = NULL;
	uint8_t dir;
	struct vs_port_lun *plun;

	/* the fixed part once, then as much sense as it says (checked first):
	 * the entry is read once, and no more of it than is used */
	const struct vs_svc_cqe *ring_e = &c->area->cq[pos % c->entries];
	memcpy(&e, ring_e, offsetof(struct vs_svc_cqe, sense));
	if (e.sense_len && e.sense_len <= VS_SVC_SENSE_MAX)
		memcpy(e.sense, ring_e->sense, e.sense_len);
	e.lend_offset = e.lend_region ? ring_e->lend_offset : 0;
	idx = (uint32_t)e.tag;
	pthread_mutex_lock(&c->lock);
	s = idx < c->entries ? &c->slots[idx] : NULL;
	if (!s || !s->srb || s->gen != (uint32_t)(e.tag >> 32)) {
		pthread_mutex_unlock(&c->lock);
		vs_conn_kill(c, true, "completion ring entry %u: tag 0x%llx names no command in flight",
		          pos, (unsigned long long)e.tag);
		return false;
	}
	if (cqe_invalid(&e, s, why, sizeof(why))) {
		pthread_mutex_unlock(&c->lock);
		vs_conn_kill(c, true, "completion ring entry %u (tag 0x%llx): %s", pos,
		          (unsigned long long)e.tag, why);
		return false;
	}
	if (e.lend_region) {
		/* checked before the slot is let go, so a bad range is the
		 * service's violation with the command still its own */
		lent = vs_region_at(c->area, e.lend_region, e.lend_offset, e.xfer_len);
		if (!lent) {
			pthread_mutex_unlock(&c->lock);
			vs_conn_kill(c, true, "completion ring entry %u (tag 0x%llx): lend_offset %llu + "
			          "xfer_len %u is not inside region %u", pos, (unsigned long long)e.tag,
			          (unsigned long long)e.lend_offset, e.xfer_len, e.lend_region);
			return false;
		}
	}
	srb = s->srb;
	bounce = s->bounce;
	dir = s->dir;
	plun = s->plun;
	s->srb = NULL;
	s->bounce = NULL;
	s->next_free = c->free_head;
	c->free_head = idx;
	c->outstanding--;
	pthread_mutex_unlock(&c->lock);

	srb->scsi_status = e.scsi_status;
	srb->srb_status = VS_SRB_SUCCESS;
	srb->sense_len = e.sense_len;
	memcpy(srb->sense, e.sense, e.sense_len);
	srb->resid_flags = e.resid_flags;
	srb->residual = e.resid_flags ? e.residual : 0;
	srb->xfer_len = e.xfer_len;
	if (e.sense_format != VS_SVC_SENSE_KEEP)
		vs_port_lun_set_sense_format(plun, e.sense_format == VS_SVC_SENSE_DESC);
	if (lent && !srb->ext) {
		/* an SRB from no pool of the port's has no room to hold the
		 * area: copied, and counted */
		vs_srb_copy_to_iov(srb, 0, lent, e.xfer_len);
		atomic_fetch_add_explicit(&c->bytes_copied, e.xfer_len, memory_order_relaxed);
	} else if (lent) {
		/* sent from the service's memory: the area (its regions
		 * with it) stays mapped until the fabric is done */
		struct proxy_srb *p = srb->ext;

		vs_area_get(c->area);
		p->lent_area = c->area;
		srb->data_ref = lent;
		srb->data_ref_release = lent_release;
		atomic_fetch_add_explicit(&c->bytes_lent, e.xfer_len, memory_order_relaxed);
	}
	if (bounce) {
		if (!lent && dir == VS_SVC_DIR_FROM_DEVICE && e.xfer_len) {
			vs_srb_copy_to_iov(srb, 0, bounce, e.xfer_len);
			atomic_fetch_add_explicit(&c->bytes_copied, e.xfer_len, memory_order_relaxed);
		}
		vs_area_free(c->area, bounce);
	}
	vs_port_complete(srb);
	return true;
}

/* Take what the completion ring holds, at most one ring's worth. */
static void reap(struct svc_conn *c)
{
	struct vs_svc_area_hdr *hdr = c->area->hdr;
	uint32_t n = 0;

	while (n < c->entries) {
		uint32_t tail = __atomic_load_n(&hdr->cq_tail, __ATOMIC_ACQUIRE);
		uint32_t avail = tail - c->cq_head;

		if (avail == 0)
			break;
		if (avail > c->entries) {
			vs_conn_kill(c, true, "completion ring: cq_tail %u is more than %u entries after "
			          "cq_head %u", tail, c->entries, c->cq_head);
			return;
		}
		while (avail-- && n < c->entries) {
			if (!complete_one(c, c->cq_head))
				return;
			c->cq_head++;
			n++;
		}
		__atomic_store_n(&hdr->cq_head, c->cq_head, __ATOMIC_RELEASE);
	}
	if (n)
		atomic_store_explicit(&c->last_progress_ns, now_ns(), memory_order_relaxed);
	if (n == c->entries && __atomic_load_n(&hdr->cq_tail, __ATOMIC_ACQUIRE) != c->cq_head) {
		/* more than a ring in one go: let the loop's other work run,
		 * then go on (the doorbell is level-triggered on our side) */
		ssize_t w = eventfd_write(c->cq_efd, 1);
		(void)w;
	}
}

/*
 * Take completions on whichever thread asks (the connection's loop when
 * the doorbell rings, a loop that has just submitted commands, at the end
 * of its pass): one at a time, and a thread that finds another taking
 * them leaves a request it will honour, so no completion waits for the
 * next doorbell.  Completions taken on the loop of the iSCSI connection
 * whose commands they end go back to it without waking another thread.
 */
static void reap_any(struct svc_conn *c)
{
	atomic_store(&c->reap_wanted, true);
	while (atomic_load(&c->reap_wanted)) {
		if (pthread_mutex_trylock(&c->reap_lock) != 0)
			return;         /* the holder looks at reap_wanted after unlocking */
		atomic_store(&c->reap_wanted, false);
		if (!atomic_load(&c->dying))
			reap(c);
		pthread_mutex_unlock(&c->reap_lock);
	}
}

/* What the completion ring holds, and the control entries that waited
 * for the room it leaves. */
static void take_completions(struct svc_conn *c)
{
	bool ring = false;

	reap_any(c);
	pthread_mutex_lock(&c->lock);
	if (c->state == CONN_ALIVE)
		flush_control_locked(c, &ring);
	pthread_mutex_unlock(&c->lock);
	if (ring)
		vs_ring_doorbell(c);
}

static void cq_ready(struct vs_loop_fd *h, uint32_t events)
{
	struct svc_conn *c = VS_CONTAINER_OF(h, struct svc_conn, cq_watch);
	eventfd_t v;

	(void)events;
	if (eventfd_read(c->cq_efd, &v) < 0 && errno != EAGAIN)
		return;
	if (atomic_load(&c->dying))
		return;
	take_completions(c);
	c->cq_polling = c->host->poll_ns != 0;
}

/*
 * Polling the completion ring (loop.h pollers), on c->loop.  A service
 * answers a batch of commands in tens of microseconds; sleeping until its
 * doorbell costs both sides a system call and this loop a scheduler
 * wake-up per batch.  So once completions have come, the loop looks at
 * the ring between its other work and spins up to poll_ns for the next
 * ones with cq_flags WAKE clear (protocol: "Doorbells"): the service
 * writes no eventfd.  A spin that finds nothing ends it: WAKE is set again
 * before the loop blocks, and only a doorbell starts the polling anew, so
 * a slow or hung service costs one spin, not a CPU.
 */
static bool cq_nonempty(struct svc_conn *c)
{
	const struct vs_svc_area_hdr *hdr = c->area->hdr;

	/* a hint only (the service may write anything there): reap checks */
	return __atomic_load_n(&hdr->cq_tail, __ATOMIC_ACQUIRE) !=
	       __atomic_load_n(&hdr->cq_head, __ATOMIC_RELAXED);
}

static bool cq_poll(struct vs_loop_poller *p)
{
	struct svc_conn *c = VS_CONTAINER_OF(p, struct svc_conn, cq_poller);

	if (atomic_load(&c->dying) || !cq_nonempty(c))
		return false;
	take_completions(c);
	c->cq_polling = c->host->poll_ns != 0;
	return true;
}

static uint64_t cq_spin_ns(struct vs_loop_poller *p)
{
	struct svc_conn *c = VS_CONTAINER_OF(p, struct svc_conn, cq_poller);
	uint32_t *flags = &c->area->hdr->cq_flags;

	if (!c->cq_polling || atomic_load(&c->dying))
		return 0;
	if (__atomic_load_n(flags, __ATOMIC_RELAXED) & VS_SVC_WAKE)
		__atomic_store_n(flags, 0, __ATOMIC_RELAXED);
	return c->host->poll_ns;
}

static bool cq_arm(struct vs_loop_poller *p)
{
	struct svc_conn *c = VS_CONTAINER_OF(p, struct svc_conn, cq_poller);
	uint32_t *flags = &c->area->hdr->cq_flags;

	c->cq_polling = false;
	if (!(__atomic_load_n(flags, __ATOMIC_RELAXED) & VS_SVC_WAKE))
		__atomic_store_n(flags, VS_SVC_WAKE, __ATOMIC_RELAXED);
	/* pairs with the service's fence between publishing cq_tail and
	 * looking at cq_flags: one of us sees the other's write */
	atomic_thread_fence(memory_order_seq_cst);
	return !atomic_load(&c->dying) && cq_nonempty(c);
}

static void hang_check(struct vs_loop_timer *t)
{
	struct svc_conn *c = VS_CONTAINER_OF(t, struct svc_conn, hang_timer);
	uint64_t hang_ns = (uint64_t)c->host->hang_ms * 1000000ull;
	uint64_t last = atomic_load_explicit(&c->last_progress_ns, memory_order_relaxed);
	uint32_t outstanding;

	if (atomic_load(&c->dying))
		return;
	pthread_mutex_lock(&c->lock);
	outstanding = c->outstanding;
	pthread_mutex_unlock(&c->lock);
	if (outstanding && now_ns() - last > hang_ns) {
		vs_conn_kill(c, false, "hung: %u command%s outstanding and none completed for %u ms",
		          outstanding, outstanding == 1 ? "" : "s", c->host->hang_ms);
		return;
	}
	vs_loop_timer_arm_in(c->loop, t, hang_ns / 4 > 100000000ull ? hang_ns / 4 : 100000000ull);
}

static void start_on_loop(struct vs_loop_msg *m)
{
	struct svc_conn *c = VS_CONTAINER_OF(m, struct svc_conn, start_msg);

	if (!atomic_load(&c->dying)) {
		if (c->host->poll_ns)
			vs_loop_poller_add(c->loop, &c->cq_poller);
		hang_check(&c->hang_timer);
		/* a completion written before we watched */
		cq_ready(&c->cq_watch, 0);
	}
	vs_conn_put(c);            /* the message's */
}

int vs_ring_start(struct svc_conn *c, struct vs_loop_group *loops)
{
	uint32_t nwords = c->area->nexus_entries / 64;
	struct vs_loop *loop;
	int rc;

	c->entries = c->area->entries;
	c->slots = calloc(c->entries, sizeof(*c->slots));
	c->nexus_gen = calloc(c->area->nexus_entries, sizeof(*c->nexus_gen));
	c->lost_pending = calloc(nwords, sizeof(uint64_t));
	c->reset_pending = calloc(SVC_MAX_LUN_NUMBER / 64, sizeof(uint64_t));
	if (!c->slots || !c->nexus_gen || !c->lost_pending || !c->reset_pending)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->entries; i++)
		c->slots[i].next_free = i + 1 < c->entries ? i + 1 : UINT32_MAX;
	c->free_head = 0;
	c->cq_watch.fn = cq_ready;
	c->cq_poller.poll = cq_poll;
	c->cq_poller.spin_ns = cq_spin_ns;
	c->cq_poller.arm = cq_arm;
	vs_loop_timer_init(&c->hang_timer, hang_check);
	c->start_msg.fn = start_on_loop;
	atomic_store(&c->last_progress_ns, now_ns());
	loop = vs_loop_group_pick(loops, VS_LOOP_PICK_NEXT);
	rc = vs_loop_fd_add(loop, c->cq_efd, VS_LOOP_IN, &c->cq_watch);
	if (rc < 0)
		return rc;
	/* from here on, dying goes through the loop */
	c->loop = loop;
	vs_loop_hold(c->loop);
	vs_conn_get(c);            /* the loop side's, until die_on_loop is done */
	vs_conn_get(c);            /* the start message's */
	vs_loop_post(c->loop, &c->start_msg);
	return 0;
}

/* ---------------------------------------------------------------- dying */

static void die_late(struct vs_loop_msg *m)
{
	struct svc_conn *c = VS_CONTAINER_OF(m, struct svc_conn, late_msg);

	vs_loop_release(c->loop);
	vs_host_reap(c->host, c);
	vs_conn_put(c);            /* the loop side's */
}

static void die_on_loop(struct vs_loop_msg *m)
{
	struct svc_conn *c = VS_CONTAINER_OF(m, struct svc_conn, die_msg);
	struct vs_srb **left;
	uint32_t n = 0;

	vs_loop_fd_del(c->loop, c->cq_efd);
	vs_loop_poller_del(c->loop, &c->cq_poller);
	vs_loop_timer_cancel(&c->hang_timer);
	pthread_mutex_lock(&c->lock);
	c->state = CONN_DYING;          /* new commands: NOT READY from now on */
	pthread_mutex_unlock(&c->lock);
	/* What the service finished before it went is finished: a write it
	 * completed is acknowledged.  Up to the first entry that breaks the
	 * rules, if that is why it is going. */
	if (!c->violation) {
		/* after any other thread taking completions is done */
		pthread_mutex_lock(&c->reap_lock);
		reap(c);
		pthread_mutex_unlock(&c->reap_lock);
	}
	left = calloc(c->entries, sizeof(*left));
	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < c->entries; i++) {
		struct svc_slot *s = &c->slots[i];

		if (!s->srb)
			continue;
		if (s->bounce)
			vs_area_free(c->area, s->bounce);
		if (left)
			left[n++] = s->srb;
		else
			vs_proxy_not_ready(s->srb);        /* no memory for the list: here */
		s->srb = NULL;
		s->bounce = NULL;
		s->next_free = c->free_head;
		c->free_head = i;
	}
	c->outstanding = 0;
	c->state = CONN_DEAD;
	pthread_mutex_unlock(&c->lock);
	/* Each exactly once: the slot is free now, so nothing else can
	 * complete it.  NOT READY, BECOMING READY: the initiator retries. */
	for (uint32_t i = 0; i < n; i++)
		vs_proxy_not_ready(left[i]);
	free(left);
	vs_host_luns_orphan(c->host, c, c->why);
	/* after this pass: a doorbell event already taken out of epoll may
	 * still run cq_ready (loop.h), which must find c */
	c->late_msg.fn = die_late;
	vs_loop_post_late(c->loop, &c->late_msg);
}

void vs_conn_kill(struct svc_conn *c, bool violation, const char *fmt, ...)
{
	va_list ap;

	if (atomic_exchange(&c->dying, true))
		return;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	c->violation = violation;
	vs_host_log(c->host, violation ? 1 : 2, "service %s (pid %d): %s: disconnected", c->name,
	         (int)c->pid, c->why);
	if (!c->loop) {
		/* never started: nothing outstanding, nothing on a loop */
		vs_host_reap(c->host, c);
		return;
	}
	c->die_msg.fn = die_on_loop;
	vs_loop_post(c->loop, &c->die_msg);
}
