/* SPDX-License-Identifier: MIT */
/*
 * The handshake on a connection: read the client flags and each option,
 * let nbd_handshake.c decide, send its replies, run TLS after STARTTLS,
 * and answer GO / INFO / EXPORT_NAME once the export's disk is open.
 *
 * Opening an export is opening a vs_disk: an I_T nexus of this
 * connection's own ("nbd:PEER", or "nbd:IDENTITY@PEER" over TLS with an
 * identity), probed asynchronously; the answer comes back to the loop as
 * a message.  The disk opened for an INFO is kept for a GO of the same
 * export.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd_int.h"
#include "vstor/miniport.h"

static void handle_action(struct nbd_conn *c, enum nbd_hs_action a);

/* ---------------------------------------------------------------- output */

static bool flush_out(struct nbd_conn *c)
{
	if (vs_nbd_io_flush_hout(c) < 0) {
		vs_nbd_conn_close(c, "send failed");
		return false;
	}
	return true;
}

static void hs_timeout(struct vs_loop_timer *t)
{
	struct nbd_conn *c = NBD_CONTAINER_OF(t, struct nbd_conn, hs_timer);

	if (c->state < CONN_TRANSMISSION)
		vs_nbd_conn_close(c, "handshake timed out");
}

/* ---------------------------------------------------------------- disks */

static void disk_timer_fired(struct vs_loop_timer *t)
{
	struct nbd_conn *c = NBD_CONTAINER_OF(t, struct nbd_conn, disk_timer);

	if (c->disk)
		vs_disk_timer_expired(c->disk);
}

static void disk_timer_apply(struct nbd_conn *c)
{
	uint64_t when = atomic_load(&c->disk_timer_want);

	if (when == VS_DISK_TIMER_OFF)
		vs_loop_timer_cancel(&c->disk_timer);
	else
		vs_loop_timer_arm(c->loop, &c->disk_timer, when);
}

static void disk_timer_msg(struct vs_loop_msg *m)
{
	struct nbd_conn *c = NBD_CONTAINER_OF(m, struct nbd_conn, disk_timer_msg);

	atomic_store(&c->disk_timer_posted, false);
	atomic_fetch_sub(&c->posts, 1);
	if (c->disk && !c->closing)
		disk_timer_apply(c);
	vs_nbd_conn_maybe_free(c);
}

/* The class layer's back-off timer on the connection's loop: armed at
 * once on the loop's thread, else through one message (struct
 * vs_disk_timer: called with the disk's lock held, from any thread). */
static void disk_timer_arm(void *ctx, uint64_t when)
{
	struct nbd_conn *c = ctx;

	atomic_store(&c->disk_timer_want, when);
	if (vs_loop_current() == c->loop) {
		disk_timer_apply(c);
		return;
	}
	if (atomic_exchange(&c->disk_timer_posted, true))
		return;
	atomic_fetch_add(&c->posts, 1);
	c->disk_timer_msg.fn = disk_timer_msg;
	vs_loop_post(c->loop, &c->disk_timer_msg);
}

static void disk_event(void *ctx, const struct vs_disk_event *ev)
{
	struct nbd_conn *c = ctx;

	if (ev->type == VS_DISK_EV_CAPACITY)
		vs_nbd_log(NBD_LOG_INFO, "%s: LUN capacity now %llu bytes (NBD has no way to tell the "
		        "client; it keeps the size it was given)", c->peer_text,
		        (unsigned long long)ev->capacity_bytes);
}

static void release_disk(struct nbd_conn *c)
{
	if (c->disk) {
		vs_disk_destroy(c->disk);
		c->disk = NULL;
	}
}

static void release_export(struct nbd_conn *c)
{
	release_disk(c);
	vs_nbd_export_put(c->srv, &c->exp);
}

void vs_nbd_hs_conn_release(struct nbd_conn *c)
{
	release_disk(c);
}

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 1;

	while (p < v && p < (1u << 31))
		p <<= 1;
	return p;
}

static void export_info(struct nbd_conn *c, struct nbd_export_info *info)
{
	const struct vs_disk_info *in = &c->info;
	uint32_t pref = in->physical_block_size > 4096 ? in->physical_block_size : 4096;

	memset(info, 0, sizeof(*info));
	info->size = in->capacity_bytes;
	info->min_block = in->block_size;
	/* "Size constraints": a power of two, at least the minimum and 512 */
	info->pref_block = pow2_at_least(pref > in->block_size ? pref : in->block_size);
	info->max_payload = c->srv->cfg.max_payload;
	info->description = c->exp->description;
	info->tflags = NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_WRITE_ZEROES |
	               NBD_FLAG_SEND_FAST_ZERO | NBD_FLAG_SEND_CACHE;
	if (in->can_unmap)
		info->tflags |= NBD_FLAG_SEND_TRIM;
	if (in->readonly)
		info->tflags |= NBD_FLAG_READ_ONLY;
	if (!c->exp->no_multi_conn)
		info->tflags |= NBD_FLAG_CAN_MULTI_CONN;
}

static void probe_on_loop(struct vs_loop_msg *m)
{
	struct nbd_conn *c = NBD_CONTAINER_OF(m, struct nbd_conn, probe_msg);
	struct nbd_export_info info;
	enum nbd_hs_action a;

	atomic_fetch_sub(&c->posts, 1);
	c->probing = false;
	if (c->closing) {
		vs_nbd_conn_maybe_free(c);
		return;
	}
	c->state = CONN_HANDSHAKE;
	if (c->probe_err) {
		vs_nbd_log(NBD_LOG_WARN, "%s: export '%s': LUN %llu did not answer (%s)", c->peer_text,
		        c->exp->name, (unsigned long long)c->exp->lun, strerror(-c->probe_err));
		release_export(c);
		a = vs_nbd_hs_resume(&c->hs, NBD_LOOKUP_FAILED, NULL, &c->hout);
	} else {
		vs_disk_info(c->disk, &c->info);
		export_info(c, &info);
		a = vs_nbd_hs_resume(&c->hs, NBD_LOOKUP_OK, &info, &c->hout);
	}
	handle_action(c, a);
	if (c->state == CONN_HANDSHAKE)
		vs_nbd_hs_conn_input(c);   /* options that came meanwhile */
	if (c->state != CONN_DEAD)
		vs_nbd_conn_update_events(c);
}

static void probe_done(void *ctx, int err)
{
	struct nbd_conn *c = ctx;

	c->probe_err = err;
	atomic_fetch_add(&c->posts, 1);
	c->probe_msg.fn = probe_on_loop;
	vs_loop_post(c->loop, &c->probe_msg);
}

static int open_disk(struct nbd_conn *c)
{
	struct vs_disk_config dc = {
		.port = c->exp->port,
		.lun = c->exp->lun,
		.nexus_name = c->nexus_name,
		.queue_depth = c->srv->cfg.queue_depth,
		.max_srbs = c->srv->cfg.queue_depth,
		.max_iov = 1,           /* a slot's data is one buffer */
		.timer = { .arm = disk_timer_arm, .ctx = c },
		.event = disk_event,
		.event_ctx = c,
	};

	if (c->tls_identity[0])
		snprintf(c->nexus_name, sizeof(c->nexus_name), "nbd:%s@%s", c->tls_identity,
		         c->peer_text);
	else
		snprintf(c->nexus_name, sizeof(c->nexus_name), "nbd:%s", c->peer_text);
	vs_loop_timer_init(&c->disk_timer, disk_timer_fired);
	atomic_store(&c->disk_timer_want, VS_DISK_TIMER_OFF);
	c->disk = vs_disk_create(&dc);
	if (!c->disk) {
		vs_nbd_log(NBD_LOG_WARN, "%s: export '%s': %s", c->peer_text, c->exp->name,
		        vs_last_error());
		return -EIO;
	}
	c->probing = true;
	if (vs_disk_probe(c->disk, probe_done, c) < 0) {
		c->probing = false;
		return -EIO;
	}
	return 0;
}

/* ---------------------------------------------------------------- lookups */

static enum nbd_lookup hs_lookup(void *ctx, const char *name, bool go,
                                 struct nbd_export_info *info)
{
	struct nbd_conn *c = ctx;
	struct nbd_export *exp;
	enum nbd_lookup rc;

	(void)go;
	/* the disk an INFO opened serves a GO of the same export */
	if (c->disk && c->exp && !strcmp(c->exp->name, name) && !atomic_load(&c->exp->removed)) {
		export_info(c, info);
		return NBD_LOOKUP_OK;
	}
	release_export(c);
	rc = vs_nbd_export_get(c->srv, name, &c->peer, c->tls_identity, c->tls != NULL, &exp);
	if (rc != NBD_LOOKUP_OK) {
		vs_nbd_log(NBD_LOG_INFO, "%s: export '%.64s' refused: %s", c->peer_text, name,
		        rc == NBD_LOOKUP_UNKNOWN ? "no such export" :
		        rc == NBD_LOOKUP_DENIED ? "access list" :
		        rc == NBD_LOOKUP_TLS_REQD ? "needs TLS" : "server stopping");
		return rc;
	}
	pthread_mutex_lock(&c->srv->lock);
	c->exp = exp;           /* the session list reads it under the lock */
	pthread_mutex_unlock(&c->srv->lock);
	if (open_disk(c) < 0) {
		release_export(c);
		return NBD_LOOKUP_FAILED;
	}
	return NBD_LOOKUP_PENDING;
}

static const char *hs_list(void *ctx, size_t i, const char **desc)
{
	struct nbd_conn *c = ctx;

	if (!vs_nbd_export_visible(c->srv, i, &c->peer, c->tls_identity, c->tls != NULL,
	                        c->list_name, sizeof(c->list_name), c->list_desc,
	                        sizeof(c->list_desc)))
		return NULL;
	*desc = c->list_desc[0] ? c->list_desc : NULL;
	return c->list_name;
}

static const struct nbd_hs_ops hs_ops = { .lookup = hs_lookup, .list = hs_list };

/* ---------------------------------------------------------------- flow */

void vs_nbd_hs_conn_start(struct nbd_conn *c)
{
	static const enum nbd_tls_mode modes[] = {
		[VS_NBD_TLS_OFF] = NBD_TLS_OFF, [VS_NBD_TLS_ON] = NBD_TLS_ON,
		[VS_NBD_TLS_REQUIRE] = NBD_TLS_REQUIRE,
	};

	vs_nbd_hs_init(&c->hs, &hs_ops, c, modes[c->srv->cfg.tls.mode]);
	vs_nbd_wire_greeting(&c->hout);
	vs_loop_timer_init(&c->hs_timer, hs_timeout);
	vs_loop_timer_arm_in(c->loop, &c->hs_timer,
	                     (uint64_t)c->srv->cfg.handshake_timeout_ms * 1000000ull);
	flush_out(c);
}

static void enter_transmission(struct nbd_conn *c)
{
	vs_loop_timer_cancel(&c->hs_timer);
	vs_nbd_hs_tx(&c->hs, &c->tx);
	if (vs_nbd_cmd_start(c) < 0) {
		vs_nbd_conn_close(c, "out of memory for request slots");
		return;
	}
	c->state = CONN_TRANSMISSION;
	c->tls_on = c->tls != NULL;
	atomic_store_explicit(&c->listed, true, memory_order_release);
	vs_nbd_log(NBD_LOG_INFO, "%s: export '%s' (LUN %llu) as %s%s%s%s", c->peer_text, c->exp->name,
	        (unsigned long long)c->exp->lun, c->nexus_name, c->tls ? ", TLS" : "",
	        c->tx.structured ? ", structured replies" : "",
	        c->tx.meta_allocation ? ", base:allocation" : "");
}

static void handle_action(struct nbd_conn *c, enum nbd_hs_action a)
{
	switch (a) {
	case NBD_HS_WAIT:
		c->state = CONN_LOOKUP;
		flush_out(c);
		break;
	case NBD_HS_STARTTLS:
		/* the ACK goes out in plain text; TLS starts after it */
		c->state = CONN_TLS_HANDSHAKE;
		flush_out(c);
		break;
	case NBD_HS_TRANSMISSION:
		if (flush_out(c))
			enter_transmission(c);
		break;
	case NBD_HS_CLOSE:
		flush_out(c);
		if (c->state != CONN_DEAD)
			vs_nbd_conn_close(c, "client ended the handshake or asked for what it cannot get");
		break;
	default:
		flush_out(c);
		break;
	}
}

/* STARTTLS acknowledged: run the TLS handshake. */
static void tls_step(struct nbd_conn *c)
{
	int rc;

	if (c->hout_sent < c->hout.len && !flush_out(c))
		return;
	if (c->hout_sent < c->hout.len)
		return;                 /* the ACK is still going out */
	if (!c->tls) {
		if (c->rstart != c->rend) {
			/* bytes after STARTTLS before our ACK: not a TLS client */
			vs_nbd_conn_close(c, "data after STARTTLS");
			return;
		}
		c->tls = vs_nbd_tls_session_new(c->srv->tls, c->fd);
		if (!c->tls) {
			vs_nbd_conn_close(c, "out of memory for TLS");
			return;
		}
	}
	rc = vs_nbd_tls_handshake(c->tls, &c->tls_want);
	if (rc == -EAGAIN)
		return;
	if (rc < 0) {
		vs_nbd_log(NBD_LOG_INFO, "%s: TLS handshake failed: %s", c->peer_text,
		        vs_nbd_tls_why(c->tls));
		vs_nbd_conn_close(c, "TLS handshake failed");
		return;
	}
	c->tls_want = 0;
	c->hs.tls = true;
	snprintf(c->tls_identity, sizeof(c->tls_identity), "%s", vs_nbd_tls_identity(c->tls));
	vs_nbd_log(NBD_LOG_DEBUG, "%s: TLS up%s%s", c->peer_text, c->tls_identity[0] ? ", identity " : "",
	        c->tls_identity);
	c->state = CONN_HANDSHAKE;
}

/* Make `need` bytes available in rbuf: true if they are. */
static bool need_bytes(struct nbd_conn *c, size_t need)
{
	int rc = vs_nbd_io_need(c, need);

	if (rc < 0)
		vs_nbd_conn_close(c, "client went away");
	return rc > 0;
}

/* One step of option reading; false when it must wait. */
static bool read_option(struct nbd_conn *c)
{
	if (!c->have_flags) {
		if (!need_bytes(c, 4))
			return false;
		c->have_flags = true;
		if (!vs_nbd_hs_client_flags(&c->hs, vs_get32(c->rbuf + c->rstart))) {
			vs_nbd_conn_close(c, "client flags not understood");
			return false;
		}
		c->rstart += 4;
		return true;
	}
	if (!c->have_opt_hdr) {
		if (!need_bytes(c, NBD_OPT_HDR_LEN))
			return false;
		if (!vs_nbd_hs_option_header(c->rbuf + c->rstart, &c->opt, &c->opt_len)) {
			vs_nbd_conn_close(c, "bad option header (magic or length)");
			return false;
		}
		c->rstart += NBD_OPT_HDR_LEN;
		c->have_opt_hdr = true;
		c->opt_got = 0;
		if (c->opt_len && !c->opt_data && !(c->opt_data = malloc(NBD_OPT_DATA_MAX))) {
			vs_nbd_conn_close(c, "out of memory");
			return false;
		}
	}
	int rc = vs_nbd_io_read_rest(c, c->opt_data, c->opt_len, &c->opt_got);

	if (rc < 0)
		vs_nbd_conn_close(c, "client went away");
	if (rc <= 0)
		return false;
	c->have_opt_hdr = false;
	handle_action(c, vs_nbd_hs_option(&c->hs, c->opt, c->opt_data, c->opt_len, &c->hout));
	return c->state == CONN_HANDSHAKE;
}

void vs_nbd_hs_conn_input(struct nbd_conn *c)
{
	if (c->state == CONN_TLS_HANDSHAKE) {
		tls_step(c);
		if (c->state != CONN_HANDSHAKE)
			return;
	}
	if (c->hout_sent < c->hout.len && !flush_out(c))
		return;
	if (c->state != CONN_HANDSHAKE)
		return;         /* CONN_LOOKUP: the answer comes as a message */
	if (atomic_load(&c->srv->stopping)) {
		/* proto.md: a server shutting down errors further options;
		 * we close at once instead of waiting for the next one */
		vs_nbd_conn_close(c, "server stopping");
		return;
	}
	while (c->state == CONN_HANDSHAKE && read_option(c))
		;
	if (c->state == CONN_TRANSMISSION && c->rstart != c->rend)
		vs_nbd_cmd_input(c);       /* requests that came with the last option */
}
