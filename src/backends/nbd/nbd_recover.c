/* SPDX-License-Identifier: MIT */
/*
 * Losing the NBD server and getting it back, on the backend's loop.
 *
 *   READY --(a connection breaks, a request gets no reply in
 *            request_timeout)--> RECOVERING: every connection is closed
 *            (one server, one volatile cache: all start over), what was in
 *            flight goes back to the held queue, the dirty log is marked
 *            to go out again, LOST goes up with hold_ms = hold_timeout
 *            (the LUN holds new commands meanwhile), and reconnecting
 *            starts, with back-off.
 *   RECOVERING --(every connection is up and the export is the same:
 *            size, flags, writability)--> REPLAYING: the dirty log goes out
 *            again in log order (nbd_dirty.c keeps overlapping records
 *            apart) before anything else.
 *   REPLAYING --(the log is out)--> READY: BACK goes up; then what was
 *            held in flight, then the new requests, in order.
 *   RECOVERING --(a different export)--> FAILED: nothing is written to
 *            it; held requests get -ENODEV (NOT READY, MANUAL INTERVENTION
 *            REQUIRED), the dirty log is given up and the next FLUSH says
 *            so (-ENOTRECOVERABLE).
 *
 * hold_timeout after the loss, held requests get -ENOTCONN (NOT READY,
 * BECOMING READY: retried by the initiator, never a medium error) and so
 * does every new one, while reconnecting goes on; the dirty log is kept,
 * so a server that comes back later still gets every acknowledged write.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "nbd_int.h"

#define BE_OF(ptr, member) ((struct nbd_be *)((char *)(ptr) - offsetof(struct nbd_be, member)))

static void emit(struct nbd_be *be, int type, uint32_t hold_ms, const char *why)
{
	struct vs_bdev_event ev = { .type = type, .hold_ms = hold_ms, .why = why };

	vs_layer_event(be->self, &ev);
}

static void close_all(struct nbd_be *be)
{
	for (unsigned i = 0; i < NBD_MAX_CONNS; i++) {
		vs_nbdbe_conn_close(&be->conns[i]);
		be->conns[i].broken = false;
	}
}

static void schedule_retry(struct nbd_be *be)
{
	be->backoff_ms = be->backoff_ms ? be->backoff_ms * 2 : NBD_BACKOFF_FIRST_MS;
	if (be->backoff_ms > NBD_BACKOFF_MAX_MS)
		be->backoff_ms = NBD_BACKOFF_MAX_MS;
	if (!be->finished && !vs_loop_timer_armed(&be->reconnect_timer))
		vs_loop_timer_arm_in(be->loop, &be->reconnect_timer,
		                     (uint64_t)be->backoff_ms * 1000000u);
}

static void close_finish(struct nbd_be *be);

static void lost(struct nbd_be *be, const char *why)
{
	int st = be_state(be);
	char line[320];

	if (st == BE_FAILED || st == BE_RECOVERING)
		return;
	close_all(be);
	vs_nbdbe_io_requeue_inflight(be);
	if (st == BE_CLOSING) {
		close_finish(be);
		return;
	}
	be_set_state(be, BE_RECOVERING);
	be->backoff_ms = 0;
	vs_loop_timer_arm_in(be->loop, &be->reconnect_timer, 0);
	if (st == BE_REPLAYING)
		return;         /* lost again before it was back: one outage */
	stat_add(&be->stats.losses, 1);
	be->lost_ns = vs_loop_now_ns(be->loop);
	be->hold_over = be->hold_ms == 0;
	snprintf(line, sizeof(line), "%s: %s; %" PRIu32 " requests held, %" PRIu64
	         " bytes of acknowledged writes to write again", be->uri, why, be->nheld,
	         dlog_ack_bytes(&be->log));
	emit(be, VS_BDEV_EV_LOST, be->hold_ms, line);
	if (be->hold_ms)
		vs_loop_timer_arm(be->loop, &be->hold_timer,
		                  be->lost_ns + (uint64_t)be->hold_ms * 1000000u);
	else
		vs_nbdbe_io_fail_held(be, -ENOTCONN);
}

static void fail(struct nbd_be *be, const char *why)
{
	char line[400];
	uint64_t recs, bytes;

	be_set_state(be, BE_FAILED);
	vs_loop_timer_cancel(&be->hold_timer);
	vs_loop_timer_cancel(&be->reconnect_timer);
	close_all(be);
	vs_nbdbe_io_requeue_inflight(be);
	vs_nbdbe_io_fail_held(be, -ENODEV);
	bytes = vs_dlog_give_up(&be->log, &recs);
	if (bytes) {
		be->data_lost = true;
		stat_add(&be->stats.lost_bytes, bytes);
	}
	atomic_store(&be->stats.dirty_bytes, 0);
	snprintf(line, sizeof(line), "%s: %s; nothing more is sent to it%s", be->uri, why,
	         bytes ? "; acknowledged writes not yet flushed there are lost" : "");
	if (bytes)
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
		         " (%" PRIu64 " writes, %" PRIu64 " bytes)", recs, bytes);
	emit(be, VS_BDEV_EV_FAILED, 0, line);
}

static void back(struct nbd_be *be)
{
	char line[320];
	uint64_t ms = (vs_loop_now_ns(be->loop) - be->lost_ns) / 1000000u;

	be_set_state(be, BE_READY);
	vs_loop_timer_cancel(&be->hold_timer);
	be->hold_over = false;
	be->backoff_ms = 0;
	stat_add(&be->stats.reconnects, 1);
	snprintf(line, sizeof(line), "%s: back after %" PRIu64 ".%01" PRIu64 " s, same export; "
	         "wrote again %" PRIu64 " logged changes (%" PRIu64 " bytes), then %" PRIu32
	         " held requests%s", be->uri, ms / 1000, ms % 1000 / 100, be->replay_recs,
	         be->replay_bytes, be->nheld,
	         be->data_lost ? "; the server refused acknowledged writes: they are lost" : "");
	emit(be, VS_BDEV_EV_BACK, 0, line);
}

static void start_replay(struct nbd_be *be)
{
	be_set_state(be, BE_REPLAYING);
	be->replay_recs = be->replay_bytes = 0;
}

/* A connection that is not ready yet moved on (or failed). */
static void conn_step(struct nbd_conn *c)
{
	struct nbd_be *be = c->be;
	struct nbd_export e;
	char why[200];
	int r = vs_nbdbe_conn_progress(c);

	if (r == 0) {
		vs_nbdbe_conn_watch(c);
		return;
	}
	if (r < 0) {
		vs_nbdbe_conn_close(c);
		schedule_retry(be);
		return;
	}
	vs_nbdbe_conn_export(c, &e);
	if (vs_nbdbe_export_compare(&be->ref, &e, why, sizeof(why)) < 0) {
		fail(be, why);
		return;
	}
	c->ready = true;
	c->broken = false;
	vs_nbdbe_conn_watch(c);
	for (unsigned i = 0; i < be->nconns; i++)
		if (!be->conns[i].ready)
			return;
	start_replay(be);
}

static void on_conn_event(struct nbd_conn *c)
{
	struct nbd_be *be = c->be;

	if (be_state(be) == BE_RECOVERING) {
		if (!c->ready) {
			conn_step(c);
		} else if (c->broken || vs_nbdbe_conn_dead(c)) {
			/* up again, then down while another one connects */
			vs_nbdbe_conn_close(c);
			schedule_retry(be);
		}
	}
	vs_nbdbe_recover_kick(be);
}

static void reconnect(struct vs_loop_timer *t)
{
	struct nbd_be *be = BE_OF(t, reconnect_timer);
	uint64_t now = vs_loop_now_ns(be->loop);
	bool retry = false;

	if (be_state(be) != BE_RECOVERING)
		return;
	for (unsigned i = 0; i < be->nconns && be_state(be) == BE_RECOVERING; i++) {
		struct nbd_conn *c = &be->conns[i];

		if (c->h)
			continue;               /* connecting already */
		c->why[0] = '\0';
		c->broken = false;
		if (vs_nbdbe_conn_start(c) < 0) {
			retry = true;
			continue;
		}
		c->deadline_ns = now + be->connect_timeout_ns;
		conn_step(c);
		if (!c->h)
			retry = true;
	}
	if (retry)
		schedule_retry(be);
	tick_arm(be);
	vs_nbdbe_recover_kick(be);
}

static void hold_expired(struct vs_loop_timer *t)
{
	struct nbd_be *be = BE_OF(t, hold_timer);
	char line[320];
	uint32_t n = be->nheld;

	if (be_state(be) != BE_RECOVERING && be_state(be) != BE_REPLAYING)
		return;
	be->hold_over = true;
	vs_nbdbe_io_fail_held(be, -ENOTCONN);
	snprintf(line, sizeof(line), "%s: away longer than hold_timeout (%" PRIu32 " ms): %" PRIu32
	         " held requests answered not ready; %" PRIu64 " bytes of acknowledged writes kept "
	         "to write when it returns", be->uri, be->hold_ms, n, dlog_ack_bytes(&be->log));
	emit(be, VS_BDEV_EV_LOST, 0, line);
	vs_nbdbe_recover_kick(be);
}

/* Request and connect timeouts. */
static void tick(struct vs_loop_timer *t)
{
	struct nbd_be *be = BE_OF(t, tick_timer);
	uint64_t now = vs_loop_now_ns(be->loop);
	bool again = false;
	int st = be_state(be);

	if (st == BE_READY || st == BE_REPLAYING || st == BE_CLOSING) {
		uint64_t oldest = vs_nbdbe_io_oldest_sent(be);

		if (oldest != UINT64_MAX) {
			again = true;
			if (be->request_timeout_ns && now - oldest > be->request_timeout_ns) {
				char why[96];

				snprintf(why, sizeof(why), "no reply within request_timeout (%" PRIu64
				         " ms)", be->request_timeout_ns / 1000000u);
				lost(be, why);
			}
		}
	}
	if (be_state(be) == BE_CLOSING && be->closing_flush) {
		/* closing waits for the last flush, but not for ever (not
		 * even with request_timeout=0) */
		again = true;
		if (now >= be->close_deadline_ns)
			lost(be, "no answer to the last flush before closing");
	}
	for (unsigned i = 0; i < be->nconns && be_state(be) == BE_RECOVERING; i++) {
		struct nbd_conn *c = &be->conns[i];

		if (!c->h || c->ready)
			continue;
		if (now >= c->deadline_ns) {
			snprintf(c->why, sizeof(c->why), "no answer within connect_timeout");
			vs_nbdbe_conn_close(c);
			schedule_retry(be);
		} else {
			again = true;
		}
	}
	if (again)
		tick_arm(be);
	vs_nbdbe_recover_kick(be);
}

static void check_broken(struct nbd_be *be)
{
	int st = be_state(be);

	if (st != BE_READY && st != BE_REPLAYING && st != BE_CLOSING)
		return;
	for (unsigned i = 0; i < be->nconns; i++) {
		struct nbd_conn *c = &be->conns[i];

		if (c->broken || (c->ready && vs_nbdbe_conn_dead(c))) {
			char why[sizeof(c->why)];

			snprintf(why, sizeof(why), "%s", c->why[0] ? c->why : "connection lost");
			lost(be, why);
			return;
		}
	}
}

static void close_step(struct nbd_be *be);

void vs_nbdbe_recover_kick(struct nbd_be *be)
{
	bool again;

	do {
		again = false;
		vs_nbdbe_io_process_done(be);
		check_broken(be);
		switch (be_state(be)) {
		case BE_READY:
			vs_nbdbe_io_drain_held(be);
			break;
		case BE_REPLAYING:
			if (vs_nbdbe_io_replay_pump(be)) {
				back(be);
				again = true;
			}
			break;
		case BE_CLOSING:
			close_step(be);
			break;
		}
	} while (again || be->done_head);
}

/* ---------------------------------------------------------------- open and close */

void vs_nbdbe_recover_adopt_msg(struct vs_loop_msg *m)
{
	struct nbd_be *be = BE_OF(m, adopt_msg);

	for (unsigned i = 0; i < be->nconns; i++)
		vs_nbdbe_conn_watch(&be->conns[i]);
}

static void closed_msg(struct vs_loop_msg *m)
{
	struct nbd_be *be = BE_OF(m, close_msg);
	struct vs_loop *loop = be->loop;

	pthread_mutex_lock(&be->close_mu);
	be->closed = true;
	pthread_cond_signal(&be->close_cv);
	pthread_mutex_unlock(&be->close_mu);     /* be may be freed from here on */
	vs_loop_release(loop);
}

static void close_finish(struct nbd_be *be)
{
	uint64_t recs, bytes;

	be_set_state(be, BE_CLOSING);
	be->closing_flush = false;
	be->finished = true;
	vs_loop_timer_cancel(&be->hold_timer);
	vs_loop_timer_cancel(&be->reconnect_timer);
	vs_loop_timer_cancel(&be->tick_timer);
	close_all(be);
	vs_nbdbe_io_fail_held(be, -ENODEV);
	bytes = vs_dlog_give_up(&be->log, &recs);
	if (bytes)
		fprintf(stderr, "vstor: nbd %s: closed while %" PRIu64 " acknowledged writes (%" PRIu64
		        " bytes) were not flushed to the server; they are lost\n", be->uri, recs,
		        bytes);
	/* after every event of this pass: the fd handlers may still be named */
	be->close_msg.fn = closed_msg;
	vs_loop_post_late(be->loop, &be->close_msg);
}

static void close_step(struct nbd_be *be)
{
	if (!be->closing_flush)
		return;
	if (be->flush_busy)
		return;                 /* wait for it */
	if (dlog_has_acked(&be->log) && !be->flush_err) {
		/* the flush that makes the last acknowledged writes durable */
		vs_nbdbe_io_maybe_flush(be, true);
		if (be->flush_busy)
			return;
	}
	close_finish(be);
}

void vs_nbdbe_recover_close_msg(struct vs_loop_msg *m)
{
	struct nbd_be *be = BE_OF(m, close_msg);
	int st = be_state(be);

	if (st == BE_READY && be->keep_copies) {
		be_set_state(be, BE_CLOSING);
		be->closing_flush = true;
		be->close_deadline_ns = vs_loop_now_ns(be->loop) +
		                        (be->request_timeout_ns ? be->request_timeout_ns
		                                                : NBD_CLOSE_FLUSH_MAX_NS);
		tick_arm(be);
		vs_nbdbe_recover_kick(be);
		return;
	}
	close_finish(be);
}

void vs_nbdbe_recover_init(struct nbd_be *be)
{
	be->on_conn_event = on_conn_event;
	vs_loop_timer_init(&be->hold_timer, hold_expired);
	vs_loop_timer_init(&be->reconnect_timer, reconnect);
	vs_loop_timer_init(&be->tick_timer, tick);
	be->adopt_msg.fn = vs_nbdbe_recover_adopt_msg;
	be->cancel_msg.fn = vs_nbdbe_io_cancel_msg;
}
