#include "worker.h"

#include <stdio.h>

#include "sockbuf.h"

/* How long in-flight I/O may take to finish once the window has closed. */
#define DRAIN_TIMEOUT_NS (30ull * 1000000000ull)
/* A session with I/O in flight and no completion for this long is stuck
 * (target deadlock or lost PDU): give up on it rather than hang the run. */
#define STALL_TIMEOUT_NS (20ull * 1000000000ull)
/* poll() wakes at least this often to see the main thread's phase. */
#define POLL_TIMEOUT_MS 50

static void mark_dead(struct worker *w, struct session *s, const char *why)
{
	if (s->dead)
		return;
	fprintf(stderr, "iscsi-load: session %u (%s): %s: %s\n", s->index, s->url,
		why, iscsi_get_error(s->iscsi));
	session_mark_dead(s);
	atomic_fetch_add(&w->ctl->dead_sessions, 1);
}

/*
 * Send what libiscsi has queued for `s` now, instead of polling once more
 * for POLLOUT: libiscsi writes the PDUs into the connection's send buffer
 * (sockbuf.h) and they leave in one system call.
 */
static void flush_session(struct worker *w, struct session *s)
{
	if (s->dead)
		return;
	if ((iscsi_which_events(s->iscsi) & POLLOUT) && iscsi_service(s->iscsi, POLLOUT) < 0) {
		mark_dead(w, s, "connection failed");
		return;
	}
	if (sockbuf_flush(iscsi_get_fd(s->iscsi)) < 0)
		mark_dead(w, s, "send failed");
}

static void run_mode(struct worker *w, enum run_mode mode)
{
	uint64_t stop_seen_ns = 0;
	uint64_t last_stall_check_ns = now_ns();

	for (unsigned i = 0; i < w->n_sessions; i++) {
		w->sessions[i]->mode = mode;
		w->sessions[i]->cursor = 0;
	}
	for (;;) {
		bool busy = false;
		for (unsigned i = 0; i < w->n_sessions; i++) {
			struct session *s = w->sessions[i];
			session_fill(s);
			flush_session(w, s);
			if (!s->dead && (s->inflight || !session_mode_done(s)))
				busy = true;
		}
		if (!busy)
			return;
		if (mode == MODE_TIMED &&
		    atomic_load_explicit(&w->ctl->phase, memory_order_relaxed) == PHASE_STOP) {
			uint64_t t = now_ns();
			if (!stop_seen_ns)
				stop_seen_ns = t;
			else if (t - stop_seen_ns > DRAIN_TIMEOUT_NS) {
				for (unsigned i = 0; i < w->n_sessions; i++)
					if (w->sessions[i]->inflight)
						mark_dead(w, w->sessions[i],
							  "I/O still outstanding 30 s after the run ended");
				return;
			}
		}
		int timeout = POLL_TIMEOUT_MS;
		for (unsigned i = 0; i < w->n_sessions; i++) {
			struct session *s = w->sessions[i];
			int fd = s->dead ? -1 : iscsi_get_fd(s->iscsi);
			w->pfds[i].fd = fd;
			w->pfds[i].events = s->dead ? 0 : (short)iscsi_which_events(s->iscsi);
			if (fd >= 0 && sockbuf_tx_pending(fd))
				w->pfds[i].events |= POLLOUT;
			if (fd >= 0 && sockbuf_rx_pending(fd))
				timeout = 0;    /* bytes already in memory: do not sleep */
			w->pfds[i].revents = 0;
		}
		int n = poll(w->pfds, w->n_sessions, timeout);
		uint64_t t = now_ns();
		if (t - last_stall_check_ns > 100000000ull) {
			last_stall_check_ns = t;
			for (unsigned i = 0; i < w->n_sessions; i++) {
				struct session *s = w->sessions[i];
				if (!s->dead && s->inflight &&
				    t - s->last_progress_ns > STALL_TIMEOUT_NS)
					mark_dead(w, s, "no I/O completed for 20 s with commands outstanding");
			}
		}
		if (n < 0)
			continue;
		for (unsigned i = 0; i < w->n_sessions; i++) {
			struct session *s = w->sessions[i];
			short rev = w->pfds[i].revents;
			if (s->dead)
				continue;
			if (sockbuf_rx_pending(w->pfds[i].fd))
				rev |= POLLIN;
			if (!rev)
				continue;
			if ((rev & POLLOUT) && sockbuf_flush(w->pfds[i].fd) < 0) {
				mark_dead(w, s, "send failed");
				continue;
			}
			if (iscsi_service(s->iscsi, rev) < 0)
				mark_dead(w, s, "connection failed");
		}
	}
}

void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct options *o = w->ctl->opt;

	for (unsigned i = 0; i < w->n_sessions; i++)
		if (sockbuf_register(iscsi_get_fd(w->sessions[i]->iscsi)) < 0)
			mark_dead(w, w->sessions[i], "cannot buffer the connection");

	if (o->fill) {
		run_mode(w, MODE_FILL);
		pthread_barrier_wait(&w->ctl->barrier);
	}
	/* The main thread starts the clock once every worker is here. */
	pthread_barrier_wait(&w->ctl->barrier);
	if (o->duration_s > 0) {
		run_mode(w, MODE_TIMED);
		pthread_barrier_wait(&w->ctl->barrier);
	}
	if (o->verify) {
		run_mode(w, MODE_READBACK);
		pthread_barrier_wait(&w->ctl->barrier);
	}
	/* Logout and the rest run on libiscsi's own synchronous loop. */
	for (unsigned i = 0; i < w->n_sessions; i++)
		sockbuf_unregister(iscsi_get_fd(w->sessions[i]->iscsi));
	return NULL;
}
