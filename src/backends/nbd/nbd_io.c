/* SPDX-License-Identifier: MIT */
/*
 * The nbd backend's requests on the wire, on its event loop.
 *
 * A bio becomes one or more NBD requests (pieces: a read or write over
 * several iovec segments, more than the server's maximum payload, a trim
 * longer than 32 bits can say).  Each piece's completion callback only
 * counts; the request is finished after libnbd returns (vs_nbdbe_io_process_done),
 * never inside libnbd's callback, where the handle's lock is held.
 *
 * Durability (NBD protocol, "NBD_CMD_FLUSH", "NBD_CMD_FLAG_FUA"): with
 * cache=on over a server that can flush, each plain write is first copied
 * into the dirty log and sent from the copy, which stays until a server
 * FLUSH covers it; when the log is half full the backend flushes on its
 * own, and when it is full writes wait for that flush.  A FUA write needs
 * no copy (durable when answered), nor does a write too large for a
 * quarter of the log (it is sent with FUA instead).  With cache=off every
 * change goes with FUA.  A server without FUA gets a FLUSH after the
 * write instead.
 *
 * Every error a reply carries reaches the bio as it is (EIO becomes MEDIUM
 * ERROR above), except ENOTCONN, which libnbd gives the requests of a
 * connection that died, and ESHUTDOWN, a server going away: those
 * requests are not answered but sent again once the server is back.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nbd_int.h"

enum dirty_kind { DK_WRITE = 1, DK_TRIM, DK_ZERO, DK_ZERO_NO_HOLE };

/* ---------------------------------------------------------------- lists */

static void list_append(struct nbd_cmd **head, struct nbd_cmd **tail, struct nbd_cmd *c)
{
	c->next = NULL;
	c->prev = *tail;
	if (*tail)
		(*tail)->next = c;
	else
		*head = c;
	*tail = c;
}

static void list_prepend(struct nbd_cmd **head, struct nbd_cmd **tail, struct nbd_cmd *c)
{
	c->prev = NULL;
	c->next = *head;
	if (*head)
		(*head)->prev = c;
	else
		*tail = c;
	*head = c;
}

static void list_remove(struct nbd_cmd **head, struct nbd_cmd **tail, struct nbd_cmd *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		*tail = c->prev;
	c->next = c->prev = NULL;
}

/* ---------------------------------------------------------------- the held queue */

void vs_nbdbe_io_hold(struct nbd_be *be, struct nbd_req *r, bool front)
{
	pthread_mutex_lock(&be->held_lock);
	if (front)
		list_prepend(&be->held_head, &be->held_tail, &r->cmd);
	else
		list_append(&be->held_head, &be->held_tail, &r->cmd);
	r->held = true;
	be->nheld++;
	pthread_mutex_unlock(&be->held_lock);
}

/* Take r out of the held queue; false (and r stays) if cancel asked for it. */
static bool unhold(struct nbd_be *be, struct nbd_req *r)
{
	bool cancelled;

	pthread_mutex_lock(&be->held_lock);
	list_remove(&be->held_head, &be->held_tail, &r->cmd);
	r->held = false;
	be->nheld--;
	cancelled = r->cancelled;
	pthread_mutex_unlock(&be->held_lock);
	return !cancelled;
}

static void dirty_stats(struct nbd_be *be)
{
	uint64_t now = dlog_ack_bytes(&be->log);

	atomic_store_explicit(&be->stats.dirty_bytes, now, memory_order_relaxed);
	if (now > atomic_load_explicit(&be->stats.dirty_peak, memory_order_relaxed))
		atomic_store_explicit(&be->stats.dirty_peak, now, memory_order_relaxed);
}

/* Complete r's bio; r may be reused from here on. */
static void req_complete(struct nbd_be *be, struct nbd_req *r, int err)
{
	if (r->rec != DIRTY_NONE) {
		vs_dlog_drop(&be->log, r->rec);
		r->rec = DIRTY_NONE;
		dirty_stats(be);
	}
	vs_bio_complete(r->bio, err);
}

/* ---------------------------------------------------------------- pieces */

/* One NBD request of c is over with error e (0: none). */
static void piece_finish(struct nbd_cmd *c, int e)
{
	if (e == ENOTCONN || e == ESHUTDOWN) {
		/* the connection, not the request: send it again later */
		c->lost = true;
		if (c->conn)
			c->conn->broken = true;
	} else if (e && !c->err) {
		c->err = -e;
	}
	if (--c->pieces == 0 && !c->lost) {
		struct nbd_conn *cn = c->conn;
		struct nbd_be *be = cn->be;

		list_remove(&cn->head, &cn->tail, c);
		cn->ninflight--;
		c->conn = NULL;
		list_append(&be->done_head, &be->done_tail, c);
	}
}

/* libnbd's completion callback (inside its handle lock: only counts). */
static int piece_done(void *ud, int *error)
{
	struct nbd_cmd *c = ud;

	piece_finish(c, *error);
	return 1;
}

/* Start sending c on cn: in its in-flight list, one piece of bias so it
 * cannot finish before cmd_end. */
static void cmd_begin(struct nbd_conn *cn, struct nbd_cmd *c, uint8_t kind)
{
	c->kind = kind;
	c->conn = cn;
	c->pieces = 1;
	c->err = 0;
	c->lost = false;
	c->sent_ns = vs_loop_now_ns(cn->be->loop);
	list_append(&cn->head, &cn->tail, c);
	cn->ninflight++;
}

static void cmd_end(struct nbd_conn *cn, struct nbd_cmd *c)
{
	piece_finish(c, 0);          /* the bias */
	/* a connection that broke is noticed by vs_nbdbe_recover_kick, at the end of
	 * this callback: nothing here is re-entered */
	if (vs_nbdbe_conn_dead(cn))
		cn->broken = true;
	else
		vs_nbdbe_conn_watch(cn);
	tick_arm(cn->be);
}

/* One NBD request of c.  False if it could not be sent (c->err or c->lost). */
static bool send_piece(struct nbd_conn *cn, struct nbd_cmd *c, int op, void *buf,
                       uint64_t len, uint64_t off, uint32_t flags)
{
	nbd_completion_callback cb = { .callback = piece_done, .user_data = c };
	int64_t r;

	if (c->err || c->lost)
		return false;
	c->pieces++;
	switch (op) {
	case VS_BIO_READ:
		r = nbd_aio_pread(cn->h, buf, len, off, cb, 0);
		break;
	case VS_BIO_WRITE:
		r = nbd_aio_pwrite(cn->h, buf, len, off, cb, flags);
		break;
	case VS_BIO_FLUSH:
		r = nbd_aio_flush(cn->h, cb, 0);
		break;
	case VS_BIO_UNMAP:
		r = nbd_aio_trim(cn->h, len, off, cb, flags);
		break;
	default:        /* VS_BIO_WRITE_ZEROES */
		r = nbd_aio_zero(cn->h, len, off, cb, flags);
		break;
	}
	if (r >= 0)
		return true;
	/* refused before it left: libnbd calls no callback for it */
	c->pieces--;
	int e = nbd_get_errno();

	if (vs_nbdbe_conn_dead(cn) || e == ENOTCONN) {
		snprintf(cn->why, sizeof(cn->why), "%s", nbd_get_error() ? nbd_get_error()
		                                                          : "connection lost");
		c->lost = true;
		cn->broken = true;
	} else {
		c->err = -(e ? e : EIO);
	}
	return false;
}

/* A buffer, cut to the server's maximum payload. */
static void send_buf(struct nbd_conn *cn, struct nbd_cmd *c, int op, uint8_t *buf,
                     uint64_t len, uint64_t off, uint32_t flags)
{
	uint32_t max = cn->be->max_payload;

	while (len) {
		uint64_t n = len < max ? len : max;

		if (!send_piece(cn, c, op, buf, n, off, flags))
			return;
		buf += n;
		off += n;
		len -= n;
	}
}

/* The bio's iovec: one run of pieces per segment (libnbd takes one buffer). */
static void send_iov(struct nbd_conn *cn, struct nbd_cmd *c, struct vs_bio *bio, uint32_t flags)
{
	uint64_t left = bio->length, off = bio->offset;

	for (int i = 0; i < bio->iovcnt && left; i++) {
		uint64_t n = bio->iov[i].iov_len < left ? bio->iov[i].iov_len : left;

		send_buf(cn, c, bio->op, bio->iov[i].iov_base, n, off, flags);
		off += n;
		left -= n;
	}
}

/* A range without data (trim, zeroes), cut to what 32 bits can say. */
static void send_range(struct nbd_conn *cn, struct nbd_cmd *c, int op, uint64_t off,
                       uint64_t len, uint32_t flags)
{
	while (len) {
		uint64_t n = len < NBD_MAX_RANGE ? len : NBD_MAX_RANGE;

		if (!send_piece(cn, c, op, NULL, n, off, flags))
			return;
		off += n;
		len -= n;
	}
}

struct nbd_conn *vs_nbdbe_io_pick_conn(struct nbd_be *be)
{
	struct nbd_conn *best = NULL;

	for (unsigned i = 0; i < be->nconns; i++) {
		struct nbd_conn *cn = &be->conns[i];

		if (cn->ready && !cn->broken && (!best || cn->ninflight < best->ninflight))
			best = cn;
	}
	return best;
}

/* ---------------------------------------------------------------- issuing */

static void copy_in(uint8_t *dst, const struct vs_bio *bio)
{
	uint64_t left = bio->length;

	for (int i = 0; i < bio->iovcnt && left; i++) {
		uint64_t n = bio->iov[i].iov_len < left ? bio->iov[i].iov_len : left;

		memcpy(dst, bio->iov[i].iov_base, n);
		dst += n;
		left -= n;
	}
}

/* How a change that must be durable when answered goes out: native FUA,
 * or a FLUSH after it, or nothing if the server keeps no cache. */
static uint32_t fua_flags(struct nbd_be *be, struct nbd_req *r)
{
	if (be->ref.can_fua)
		return LIBNBD_CMD_FLAG_FUA;
	r->then_flush = be->ref.can_flush;
	return 0;
}

/* Log a change if this is how it stays replayable; DIRTY_NONE: it goes
 * with FUA instead.  -EAGAIN: the log is full (a flush frees it). */
static int log_change(struct nbd_be *be, struct nbd_req *r, uint8_t kind, bool *logged)
{
	struct vs_bio *bio = r->bio;
	uint32_t data = kind == DK_WRITE ? (uint32_t)bio->length : 0;

	*logged = false;
	if (!be->keep_copies || (bio->flags & VS_BIO_FUA) || data > be->log.ring_size / 4)
		return 0;
	r->rec = vs_dlog_add(&be->log, kind, bio->offset, bio->length, data, r);
	if (r->rec == DIRTY_NONE)
		return -EAGAIN;
	if (data) {
		copy_in(vs_dlog_data(&be->log, r->rec), bio);
		stat_add(&be->stats.copied_bytes, data);
	}
	*logged = true;
	return 0;
}

static uint8_t zero_kind(const struct vs_bio *bio)
{
	return bio->op == VS_BIO_UNMAP || (bio->flags & VS_BIO_MAY_TRIM) ? DK_ZERO : DK_ZERO_NO_HOLE;
}

/* Send r.  0 (on its way; if the connection broke meanwhile, recovery
 * takes it back), -EAGAIN (the dirty log is full), -ENOTCONN (no connection). */
static int issue(struct nbd_be *be, struct nbd_req *r)
{
	struct vs_bio *bio = r->bio;
	struct nbd_conn *cn = vs_nbdbe_io_pick_conn(be);
	uint32_t flags = 0;
	bool logged = false;
	uint8_t kind = 0;
	int rc;

	if (!cn)
		return -ENOTCONN;
	r->then_flush = r->flushing = false;
	switch (bio->op) {
	case VS_BIO_WRITE:
		kind = DK_WRITE;
		break;
	case VS_BIO_UNMAP:
		/* zeroes that may punch a hole where the server can (reads
		 * back zeroes: LBPRZ stays true), else a plain trim */
		kind = be->ref.can_zero ? DK_ZERO : DK_TRIM;
		break;
	case VS_BIO_WRITE_ZEROES:
		kind = zero_kind(bio);
		break;
	case VS_BIO_FLUSH:
		r->mark = dlog_flush_mark(&be->log);
		break;
	}
	if (kind) {
		rc = log_change(be, r, kind, &logged);
		if (rc < 0)
			return rc;
		if (!logged && (be->fua_always || (bio->flags & VS_BIO_FUA) || be->keep_copies))
			flags = fua_flags(be, r);
	}
	cmd_begin(cn, &r->cmd, CMD_REQ);
	switch (kind) {
	case DK_WRITE:
		if (logged)
			send_buf(cn, &r->cmd, VS_BIO_WRITE, vs_dlog_data(&be->log, r->rec), bio->length,
			         bio->offset, flags);
		else
			send_iov(cn, &r->cmd, bio, flags);
		break;
	case DK_TRIM:
		send_range(cn, &r->cmd, VS_BIO_UNMAP, bio->offset, bio->length, flags);
		break;
	case DK_ZERO:
	case DK_ZERO_NO_HOLE:
		send_range(cn, &r->cmd, VS_BIO_WRITE_ZEROES, bio->offset, bio->length,
		           flags | (kind == DK_ZERO_NO_HOLE ? LIBNBD_CMD_FLAG_NO_HOLE : 0));
		break;
	default:
		if (bio->op == VS_BIO_READ)
			send_iov(cn, &r->cmd, bio, 0);
		else
			send_piece(cn, &r->cmd, VS_BIO_FLUSH, NULL, 0, 0, 0);
		break;
	}
	if (logged)
		dirty_stats(be);
	cmd_end(cn, &r->cmd);
	return 0;
}

/* A FLUSH when acknowledged writes were given up says so, once (vdisk:
 * MEDIUM ERROR, WRITE ERROR). */
static int lost_data_error(struct nbd_be *be)
{
	if (!be->data_lost)
		return 0;
	be->data_lost = false;
	return -ENOTRECOVERABLE;
}

void vs_nbdbe_io_dispatch(struct nbd_req *r)
{
	struct nbd_be *be = r->be;
	struct vs_bio *bio = r->bio;
	int rc;

	switch (be_state(be)) {
	case BE_FAILED:
	case BE_CLOSING:
		rc = bio->op == VS_BIO_FLUSH ? lost_data_error(be) : 0;
		req_complete(be, r, rc ? rc : -ENODEV);
		return;
	case BE_RECOVERING:
	case BE_REPLAYING:
		if (be->hold_over) {
			stat_add(&be->stats.held_timeouts, 1);
			req_complete(be, r, -ENOTCONN);
		} else {
			vs_nbdbe_io_hold(be, r, false);
		}
		return;
	}
	if (bio->op == VS_BIO_FLUSH && !be->ref.can_flush) {
		/* nothing volatile on the server to flush */
		rc = lost_data_error(be);
		req_complete(be, r, rc);
		return;
	}
	if (be->nheld) {
		vs_nbdbe_io_hold(be, r, false);  /* behind what waits for the dirty budget */
		return;
	}
	rc = issue(be, r);
	if (rc == -EAGAIN) {
		vs_nbdbe_io_hold(be, r, false);
		vs_nbdbe_io_maybe_flush(be, true);
	} else if (rc == -ENOTCONN) {
		vs_nbdbe_io_hold(be, r, false);
	} else {
		vs_nbdbe_io_maybe_flush(be, false);
	}
}

void vs_nbdbe_io_drain_held(struct nbd_be *be)
{
	while (be_state(be) == BE_READY && be->nheld) {
		struct nbd_req *r;
		bool go;

		pthread_mutex_lock(&be->held_lock);
		r = (struct nbd_req *)be->held_head;
		pthread_mutex_unlock(&be->held_lock);
		go = unhold(be, r);
		if (!go) {
			req_complete(be, r, -ECANCELED);
			continue;
		}
		if (r->bio->op == VS_BIO_FLUSH && !be->ref.can_flush) {
			req_complete(be, r, lost_data_error(be));
			continue;
		}
		int rc = issue(be, r);

		if (rc == -EAGAIN && be->flush_err) {
			/* the server cannot flush: the write cannot be kept safe */
			req_complete(be, r, be->flush_err);
			continue;
		}
		if (rc == -EAGAIN || rc == -ENOTCONN) {
			vs_nbdbe_io_hold(be, r, true);
			if (rc == -EAGAIN)
				vs_nbdbe_io_maybe_flush(be, true);
			break;
		}
	}
	vs_nbdbe_io_maybe_flush(be, false);
}

void vs_nbdbe_io_maybe_flush(struct nbd_be *be, bool force)
{
	struct nbd_conn *cn;

	int st = be_state(be);

	if (!be->keep_copies || be->flush_busy || (st != BE_READY && st != BE_CLOSING))
		return;
	if (!force && !dlog_want_flush(&be->log))
		return;
	if (!dlog_has_acked(&be->log))
		return;         /* only answers still to come: a flush frees nothing */
	cn = vs_nbdbe_io_pick_conn(be);
	if (!cn)
		return;
	be->flush_busy = true;
	be->flush_mark = dlog_flush_mark(&be->log);
	stat_add(&be->stats.budget_flushes, 1);
	cmd_begin(cn, &be->flush, CMD_FLUSH);
	send_piece(cn, &be->flush, VS_BIO_FLUSH, NULL, 0, 0, 0);
	cmd_end(cn, &be->flush);
}

/* ---------------------------------------------------------------- finishing */

static void req_finish(struct nbd_be *be, struct nbd_req *r)
{
	struct vs_bio *bio = r->bio;
	int err = r->cmd.err;

	if (!err && r->then_flush && !r->flushing) {
		/* FUA without native FUA: durable once a flush after it is */
		struct nbd_conn *cn = vs_nbdbe_io_pick_conn(be);

		if (cn) {
			r->flushing = true;
			cmd_begin(cn, &r->cmd, CMD_REQ);
			send_piece(cn, &r->cmd, VS_BIO_FLUSH, NULL, 0, 0, 0);
			cmd_end(cn, &r->cmd);
			return;
		}
		vs_nbdbe_io_hold(be, r, true);   /* no connection: again when back */
		return;
	}
	if (r->rec != DIRTY_NONE) {
		if (!err)
			vs_dlog_acked(&be->log, r->rec);
		else
			vs_dlog_drop(&be->log, r->rec);
		r->rec = DIRTY_NONE;
		dirty_stats(be);
	}
	if (bio->op == VS_BIO_FLUSH && !err) {
		vs_dlog_flushed(&be->log, r->mark);
		dirty_stats(be);
		err = lost_data_error(be);
	}
	req_complete(be, r, err);
}

static void replay_finish(struct nbd_be *be, struct nbd_replay *s)
{
	uint64_t lost;
	struct nbd_req *owner = vs_dlog_replay_done(&be->log, s->rec, s->cmd.err == 0, &lost);

	s->busy = false;
	if (lost) {
		/* the server refused an acknowledged write: it is gone */
		be->data_lost = true;
		stat_add(&be->stats.lost_bytes, lost);
	}
	dirty_stats(be);
	if (owner) {
		owner->rec = DIRTY_NONE;        /* answered (or dropped) above */
		vs_bio_complete(owner->bio, s->cmd.err);
	}
}

static void status_finish(struct nbd_status_call *call)
{
	if (call->cmd.err)
		call->rc = call->cmd.err;
	pthread_mutex_lock(&call->mu);
	call->done = true;
	pthread_cond_signal(&call->cv);
	pthread_mutex_unlock(&call->mu);        /* the caller may free call now */
}

void vs_nbdbe_io_process_done(struct nbd_be *be)
{
	while (be->done_head) {
		struct nbd_cmd *c = be->done_head;

		list_remove(&be->done_head, &be->done_tail, c);
		switch (c->kind) {
		case CMD_REQ:
			req_finish(be, (struct nbd_req *)c);
			break;
		case CMD_REPLAY:
			replay_finish(be, (struct nbd_replay *)c);
			break;
		case CMD_FLUSH:
			be->flush_busy = false;
			be->flush_err = c->err;
			if (!c->err) {
				vs_dlog_flushed(&be->log, be->flush_mark);
				dirty_stats(be);
			}
			break;
		case CMD_STATUS:
			status_finish((struct nbd_status_call *)c);
			break;
		}
	}
}

/* ---------------------------------------------------------------- loss */

void vs_nbdbe_io_requeue_inflight(struct nbd_be *be)
{
	struct nbd_cmd *back_head = NULL, *back_tail = NULL;

	for (unsigned i = 0; i < NBD_MAX_CONNS; i++) {
		struct nbd_conn *cn = &be->conns[i];

		while (cn->head) {
			struct nbd_cmd *c = cn->head;

			list_remove(&cn->head, &cn->tail, c);
			c->conn = NULL;
			c->pieces = 0;
			c->lost = false;
			switch (c->kind) {
			case CMD_REQ: {
				struct nbd_req *r = (struct nbd_req *)c;

				/* a logged change goes out again with the log (its
				 * record names r); the rest from the bio */
				r->then_flush = r->flushing = false;
				list_append(&back_head, &back_tail, c);
				break;
			}
			case CMD_REPLAY: {
				struct nbd_replay *s = (struct nbd_replay *)c;
				struct nbd_req *owner = dlog_get(&be->log, s->rec)->owner;

				s->busy = false;
				if (owner)
					list_append(&back_head, &back_tail, &owner->cmd);
				break;
			}
			case CMD_FLUSH:
				be->flush_busy = false;
				break;
			case CMD_STATUS: {
				struct nbd_status_call *call = (struct nbd_status_call *)c;

				call->cmd.err = -ENOTCONN;
				status_finish(call);
				break;
			}
			}
		}
		cn->ninflight = 0;
	}
	/* in flight before anything that was waiting: all ahead of the queue */
	pthread_mutex_lock(&be->held_lock);
	while (back_tail) {
		struct nbd_cmd *c = back_tail;

		list_remove(&back_head, &back_tail, c);
		list_prepend(&be->held_head, &be->held_tail, c);
		((struct nbd_req *)c)->held = true;
		be->nheld++;
	}
	pthread_mutex_unlock(&be->held_lock);
	vs_dlog_lost(&be->log);
}

void vs_nbdbe_io_fail_held(struct nbd_be *be, int err)
{
	struct nbd_cmd *head, *tail;

	pthread_mutex_lock(&be->held_lock);
	head = be->held_head;
	tail = be->held_tail;
	be->held_head = be->held_tail = NULL;
	be->nheld = 0;
	for (struct nbd_cmd *c = head; c; c = c->next)
		((struct nbd_req *)c)->held = false;
	pthread_mutex_unlock(&be->held_lock);
	(void)tail;
	while (head) {
		struct nbd_req *r = (struct nbd_req *)head;

		head = head->next;
		if (err == -ENOTCONN)
			stat_add(&be->stats.held_timeouts, 1);
		req_complete(be, r, r->cancelled ? -ECANCELED : err);
	}
}

/* ---------------------------------------------------------------- replay */

static void replay_send(struct nbd_be *be, struct nbd_replay *s)
{
	const struct dirty_rec *d = dlog_get(&be->log, s->rec);
	struct nbd_conn *cn = vs_nbdbe_io_pick_conn(be);

	s->busy = true;
	stat_add(&be->stats.replayed, 1);
	stat_add(&be->stats.replayed_bytes, d->len);
	be->replay_recs++;
	be->replay_bytes += d->len;
	cmd_begin(cn, &s->cmd, CMD_REPLAY);
	switch (d->kind) {
	case DK_WRITE:
		send_buf(cn, &s->cmd, VS_BIO_WRITE, vs_dlog_data(&be->log, s->rec), d->len, d->off, 0);
		break;
	case DK_TRIM:
		send_range(cn, &s->cmd, VS_BIO_UNMAP, d->off, d->len, 0);
		break;
	default:
		send_range(cn, &s->cmd, VS_BIO_WRITE_ZEROES, d->off, d->len,
		           d->kind == DK_ZERO_NO_HOLE ? LIBNBD_CMD_FLAG_NO_HOLE : 0);
		break;
	}
	cmd_end(cn, &s->cmd);
}

bool vs_nbdbe_io_replay_pump(struct nbd_be *be)
{
	while (be_state(be) == BE_REPLAYING && vs_nbdbe_io_pick_conn(be)) {
		struct nbd_replay *s = NULL;
		uint32_t rec;
		struct nbd_req *owner;

		for (unsigned i = 0; i < NBD_REPLAY_WINDOW && !s; i++)
			if (!be->replay[i].busy)
				s = &be->replay[i];
		if (!s)
			break;
		rec = vs_dlog_replay_next(&be->log);
		if (rec == DIRTY_NONE)
			break;
		owner = dlog_get(&be->log, rec)->owner;
		if (owner && !unhold(be, owner)) {
			/* cancelled while the server was away */
			req_complete(be, owner, -ECANCELED);
			continue;
		}
		s->rec = rec;
		replay_send(be, s);
	}
	return be_state(be) == BE_REPLAYING && vs_dlog_replay_finished(&be->log);
}

uint64_t vs_nbdbe_io_oldest_sent(struct nbd_be *be)
{
	uint64_t oldest = UINT64_MAX;

	for (unsigned i = 0; i < NBD_MAX_CONNS; i++)
		if (be->conns[i].head && be->conns[i].head->sent_ns < oldest)
			oldest = be->conns[i].head->sent_ns;
	return oldest;
}

/* ---------------------------------------------------------------- cancel */

void vs_nbdbe_io_cancel_msg(struct vs_loop_msg *m)
{
	struct nbd_be *be = (struct nbd_be *)((char *)m - offsetof(struct nbd_be, cancel_msg));
	struct nbd_cmd *head = NULL, *tail = NULL;

	atomic_store(&be->cancel_posted, false);
	pthread_mutex_lock(&be->held_lock);
	for (struct nbd_cmd *c = be->held_head, *next; c; c = next) {
		struct nbd_req *r = (struct nbd_req *)c;

		next = c->next;
		if (!r->cancelled)
			continue;
		list_remove(&be->held_head, &be->held_tail, c);
		r->held = false;
		be->nheld--;
		list_append(&head, &tail, c);
	}
	pthread_mutex_unlock(&be->held_lock);
	while (head) {
		struct nbd_req *r = (struct nbd_req *)head;

		list_remove(&head, &tail, head);
		req_complete(be, r, -ECANCELED);
	}
}

/* ---------------------------------------------------------------- block status */

static int status_extent(void *ud, const char *context, uint64_t offset, uint32_t *entries,
                         size_t nr_entries, int *error)
{
	struct nbd_status_call *call = ud;

	(void)offset;
	(void)error;
	if (strcmp(context, LIBNBD_CONTEXT_BASE_ALLOCATION) == 0 && call->rc == -EPROTO)
		call->rc = vs_nbdbe_extent_first(entries, nr_entries, call->len, &call->mapped,
		                            &call->ext);
	return 0;
}

void vs_nbdbe_io_block_status(struct nbd_status_call *call)
{
	struct nbd_be *be = call->be;
	struct nbd_conn *cn = be_state(be) == BE_READY ? vs_nbdbe_io_pick_conn(be) : NULL;
	uint64_t len = call->len < NBD_MAX_RANGE ? call->len : NBD_MAX_RANGE;

	call->rc = -EPROTO;     /* until an extent for base:allocation came */
	if (!cn) {
		call->cmd.err = -ENOTCONN;
		status_finish(call);
		return;
	}
	call->len = len;
	cmd_begin(cn, &call->cmd, CMD_STATUS);
	call->cmd.pieces++;
	if (nbd_aio_block_status(cn->h, len, call->off,
	                         (nbd_extent_callback){ .callback = status_extent, .user_data = call },
	                         (nbd_completion_callback){ .callback = piece_done,
	                                                    .user_data = &call->cmd },
	                         LIBNBD_CMD_FLAG_REQ_ONE) < 0) {
		int e = nbd_get_errno();

		call->cmd.pieces--;
		call->cmd.err = -(e ? e : EIO);
	}
	cmd_end(cn, &call->cmd);
}
