/* SPDX-License-Identifier: MIT */
/*
 * One connection of the nbd backend: a libnbd handle driven through its
 * asynchronous API (nbd_aio_get_fd, nbd_aio_get_direction,
 * nbd_aio_notify_read/write) by the backend's event loop, or by poll() on
 * the opening thread before the loop takes it over.
 *
 * A handle that died stays dead (libnbd has no way back from its DEAD
 * state), so every reconnect is a new handle.  Negotiation runs in libnbd's
 * option mode: the handle stops before NBD_OPT_GO, which lets the export
 * name be set apart from the URI.  base:allocation is asked for so block
 * status can answer GET LBA STATUS where the server supports it.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "nbd_int.h"

/* what, then libnbd's last error (what NULL: the error alone) */
static void set_why(struct nbd_conn *c, const char *what)
{
	const char *e = nbd_get_error();

	snprintf(c->why, sizeof(c->why), "%s%s%s", what ? what : "", what && e ? ": " : "",
	         e ? e : "");
}

static int go_done(void *ud, int *error)
{
	struct nbd_conn *c = ud;

	/* a refused NBD_OPT_GO (no such export) comes back here */
	if (*error)
		c->go_err = *error;
	return 1;
}

int vs_nbdbe_conn_start(struct nbd_conn *c)
{
	struct nbd_be *be = c->be;
	struct nbd_handle *h = nbd_create();
	int e;

	c->fd = -1;
	c->events = 0;
	c->ready = false;
	c->go_sent = false;
	c->go_err = 0;
	if (!h) {
		set_why(c, "cannot create a libnbd handle");
		return -ENOMEM;
	}
	/* Reads that fail are never handed up, so libnbd need not clear the
	 * buffer before each read (a memset per request otherwise). */
	if (nbd_set_pread_initialize(h, false) < 0 || nbd_set_opt_mode(h, true) < 0 ||
	    nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0 ||
	    /* the administrator's URI may name a TLS key file (tls-psk-file) */
	    nbd_set_uri_allow_local_file(h, true) < 0) {
		set_why(c, "cannot set up the libnbd handle");
		nbd_close(h);
		return -EINVAL;
	}
	if (nbd_aio_connect_uri(h, be->uri) < 0) {
		e = nbd_get_errno();
		set_why(c, NULL);      /* libnbd says what and where */
		nbd_close(h);
		return e ? -e : -ENOTCONN;
	}
	c->h = h;
	return 0;
}

bool vs_nbdbe_conn_dead(struct nbd_conn *c)
{
	return !c->h || nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h);
}

int vs_nbdbe_conn_progress(struct nbd_conn *c)
{
	struct nbd_be *be = c->be;

	if (vs_nbdbe_conn_dead(c)) {
		if (!c->why[0])
			set_why(c, "connection closed");
		return -1;
	}
	if (nbd_aio_is_ready(c->h))
		return 1;
	if (nbd_aio_is_negotiating(c->h)) {
		if (c->go_sent) {
			/* NBD_OPT_GO was refused and the handle waits for the
			 * next option: there is no such export */
			snprintf(c->why, sizeof(c->why), "the server refused export '%s': %s",
			         be->export_name ? be->export_name : "(the URI's)",
			         strerror(c->go_err ? c->go_err : ENOENT));
			return -1;
		}
		if (be->export_name && nbd_set_export_name(c->h, be->export_name) < 0) {
			set_why(c, "export");
			return -1;
		}
		c->go_sent = true;
		if (nbd_aio_opt_go(c->h, (nbd_completion_callback){ .callback = go_done,
		                                                    .user_data = c }) < 0) {
			set_why(c, "negotiation");
			return -1;
		}
		return nbd_aio_is_ready(c->h) ? 1 : 0;
	}
	return 0;
}

/* Tell libnbd what the socket is ready for; false if the handle died. */
static void notify(struct nbd_conn *c, uint32_t events)
{
	unsigned dir = nbd_aio_get_direction(c->h);
	bool err = events & (VS_LOOP_ERR | VS_LOOP_HUP | VS_LOOP_RDHUP);

	/* Only when the socket says so: a notify_read with nothing to read
	 * leaves libnbd waiting in REPLY.START, where it does not send the
	 * requests issued meanwhile until some reply comes. */
	if ((dir & LIBNBD_AIO_DIRECTION_READ) && ((events & VS_LOOP_IN) || err) &&
	    nbd_aio_notify_read(c->h) < 0) {
		set_why(c, "connection lost");
		return;
	}
	if (!vs_nbdbe_conn_dead(c) && (nbd_aio_get_direction(c->h) & LIBNBD_AIO_DIRECTION_WRITE) &&
	    ((events & VS_LOOP_OUT) || err) && nbd_aio_notify_write(c->h) < 0)
		set_why(c, "connection lost");
}

int vs_nbdbe_conn_wait_ready(struct nbd_conn *c, uint64_t deadline_ns)
{
	for (;;) {
		int r = vs_nbdbe_conn_progress(c);

		if (r > 0)
			return 0;
		if (r < 0)
			return -ENOTCONN;

		uint64_t now = vs_loop_clock_ns();
		unsigned dir = nbd_aio_get_direction(c->h);
		struct pollfd p = { .fd = nbd_aio_get_fd(c->h) };

		if (now >= deadline_ns) {
			snprintf(c->why, sizeof(c->why), "no answer within the connect timeout");
			return -ETIMEDOUT;
		}
		if (p.fd < 0) {
			set_why(c, "connection lost");
			return -ENOTCONN;
		}
		p.events = (short)((dir & LIBNBD_AIO_DIRECTION_READ ? POLLIN : 0) |
		                   (dir & LIBNBD_AIO_DIRECTION_WRITE ? POLLOUT : 0));
		int n = poll(&p, 1, (int)((deadline_ns - now) / 1000000 + 1));

		if (n < 0 && errno != EINTR) {
			snprintf(c->why, sizeof(c->why), "poll: %s", strerror(errno));
			return -errno;
		}
		if (n > 0)
			notify(c, (p.revents & POLLIN ? VS_LOOP_IN : 0) |
			          (p.revents & POLLOUT ? VS_LOOP_OUT : 0) |
			          (p.revents & (POLLERR | POLLHUP) ? VS_LOOP_ERR : 0));
	}
}

static void on_fd(struct vs_loop_fd *h, uint32_t events)
{
	struct nbd_conn *c = (struct nbd_conn *)h;

	/* closed meanwhile: an event the loop had already taken */
	if (!c->h)
		return;
	notify(c, events);
	c->be->on_conn_event(c);
	/* what libnbd waits for may have changed: requests queued while it
	 * read a reply go out now, and a send that would block needs OUT */
	vs_nbdbe_conn_watch(c);
}

void vs_nbdbe_conn_watch(struct nbd_conn *c)
{
	struct vs_loop *loop = c->be->loop;
	int fd;
	unsigned dir;
	uint32_t ev;

	if (vs_nbdbe_conn_dead(c))
		return;
	fd = nbd_aio_get_fd(c->h);
	if (fd < 0)
		return;
	dir = nbd_aio_get_direction(c->h);
	ev = (dir & LIBNBD_AIO_DIRECTION_READ ? VS_LOOP_IN : 0) |
	     (dir & LIBNBD_AIO_DIRECTION_WRITE ? VS_LOOP_OUT : 0) | VS_LOOP_RDHUP;
	c->fdh.fn = on_fd;
	/* While connecting, libnbd may close a socket and open another (the
	 * next address of a host name) that can get the same number: watch
	 * afresh each time then.  Once ready the socket stays. */
	if (fd != c->fd || !c->ready) {
		if (c->fd >= 0)
			vs_loop_fd_del(loop, c->fd);
		c->fd = -1;
		if (vs_loop_fd_add(loop, fd, ev, &c->fdh) == 0) {
			c->fd = fd;
			c->events = ev;
		}
		return;
	}
	if (ev != c->events && vs_loop_fd_mod(loop, fd, ev, &c->fdh) == 0)
		c->events = ev;
}

void vs_nbdbe_conn_close(struct nbd_conn *c)
{
	if (c->fd >= 0)
		vs_loop_fd_del(c->be->loop, c->fd);
	c->fd = -1;
	c->events = 0;
	c->ready = false;
	if (c->h)
		nbd_close(c->h);        /* no callback of it runs after this */
	c->h = NULL;
}

static uint32_t block_size(struct nbd_handle *h, int which)
{
	int64_t v = nbd_get_block_size(h, which);

	return v > 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
}

void vs_nbdbe_conn_export(struct nbd_conn *c, struct nbd_export *e)
{
	struct nbd_handle *h = c->h;
	int64_t size = nbd_get_size(h);

	*e = (struct nbd_export){
		.size = size > 0 ? (uint64_t)size : 0,
		.read_only = nbd_is_read_only(h) == 1,
		.can_flush = nbd_can_flush(h) == 1,
		.can_fua = nbd_can_fua(h) == 1,
		.can_trim = nbd_can_trim(h) == 1,
		.can_zero = nbd_can_zero(h) == 1,
		.can_multi_conn = nbd_can_multi_conn(h) == 1,
		.rotational = nbd_is_rotational(h) == 1,
		.has_alloc = nbd_can_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1,
		.block_min = block_size(h, LIBNBD_SIZE_MINIMUM),
		.block_pref = block_size(h, LIBNBD_SIZE_PREFERRED),
		.block_max = block_size(h, LIBNBD_SIZE_MAXIMUM),
	};
}

static int differs(char *why, size_t len, const char *what, bool was, bool now)
{
	snprintf(why, len, "the export changed: %s was %s, is %s", what, was ? "yes" : "no",
	         now ? "yes" : "no");
	return -1;
}

int vs_nbdbe_export_compare(const struct nbd_export *ref, const struct nbd_export *e, char *why,
                   size_t whylen)
{
	if (ref->size != e->size) {
		snprintf(why, whylen, "the export changed: size was %" PRIu64 " bytes, is %" PRIu64,
		         ref->size, e->size);
		return -1;
	}
	if (ref->read_only != e->read_only)
		return differs(why, whylen, "read-only", ref->read_only, e->read_only);
	if (ref->can_flush != e->can_flush)
		return differs(why, whylen, "flush", ref->can_flush, e->can_flush);
	if (ref->can_fua != e->can_fua)
		return differs(why, whylen, "FUA", ref->can_fua, e->can_fua);
	if (ref->can_trim != e->can_trim)
		return differs(why, whylen, "trim", ref->can_trim, e->can_trim);
	if (ref->can_zero != e->can_zero)
		return differs(why, whylen, "write zeroes", ref->can_zero, e->can_zero);
	if (ref->can_multi_conn != e->can_multi_conn)
		return differs(why, whylen, "multi-conn", ref->can_multi_conn, e->can_multi_conn);
	if (ref->block_min != e->block_min) {
		snprintf(why, whylen, "the export changed: minimum block size was %" PRIu32
		         ", is %" PRIu32, ref->block_min, e->block_min);
		return -1;
	}
	return 0;
}
