/* SPDX-License-Identifier: MIT */
/*
 * nbd: a disk on a remote NBD server (nbdkit, qemu-nbd,
 * qemu-storage-daemon, nbd-server), through libnbd's asynchronous API on
 * one of the daemon's event loops.
 *
 *   uri=             (required) nbd://HOST[:PORT][/EXPORT], nbd+unix:///EXPORT?socket=PATH,
 *                    nbds:// and nbds+unix:// with TLS (as libnbd supports them)
 *   export=          export name, instead of the URI's
 *   connections=N    1-16 (default 1): more only if the server advertises
 *                    multi-conn (a flush on one covers all), else one
 *   connect_timeout= a connection attempt gives up after it (default 10s)
 *   request_timeout= a request without a reply that long means the server
 *                    is gone (default 10s; 0: wait for ever)
 *   hold_timeout=    while the server is away, requests are held this long
 *                    (default 20s, under the Linux initiator's 30 s command
 *                    timeout); after it they get NOT READY until it returns
 *   cache=on|off     on (default): the server's write cache is used, and
 *                    each acknowledged write is kept here until a server
 *                    FLUSH covered it (the "no lost delayed write" copy);
 *                    off: no write cache is reported and every write goes
 *                    with FUA (no copy)
 *   dirty_limit=     memory for those copies (default 64M): half full starts
 *                    a flush, full makes writes wait for it
 *
 * The backend opens its connections at open (so the export's size and
 * flags are known, and a wrong URI is an error at once), then the loop
 * drives them.  See nbd_int.h for the files and nbd_recover.c for what
 * happens when the server goes away.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd_int.h"

#define NBD_DEFAULT_DIRTY "64M"
#define NBD_COPY_RECORD   4096u    /* one record per this many bytes of dirty_limit */

static const char *const cache_choices[] = { "on", "off", NULL };

static const struct vs_opt_desc nbdbe_options[] = {
	{ .name = "uri", .type = VS_OPT_STRING, .flags = VS_OPT_REQUIRED,
	  .help = "nbd://HOST[:PORT][/EXPORT], nbd+unix:///EXPORT?socket=PATH, nbds:// (TLS)" },
	{ .name = "export", .type = VS_OPT_STRING,
	  .help = "export name (default: the URI's)" },
	{ .name = "connections", .type = VS_OPT_UINT, .dflt = "1", .min = 1, .max = NBD_MAX_CONNS,
	  .help = "connections, used only if the server advertises multi-conn" },
	{ .name = "connect_timeout", .type = VS_OPT_DURATION, .dflt = "10s", .min = 100,
	  .max = 600000, .help = "give up one connection attempt after this" },
	{ .name = "request_timeout", .type = VS_OPT_DURATION, .dflt = "10s", .max = 3600000,
	  .help = "no reply this long: the server is gone (0: wait for ever)" },
	{ .name = "hold_timeout", .type = VS_OPT_DURATION, .dflt = "20s", .max = 3600000,
	  .help = "hold requests this long while the server is away, then NOT READY" },
	{ .name = "cache", .type = VS_OPT_ENUM, .dflt = "on", .choices = cache_choices,
	  .help = "on: use the server's write cache, keeping writes until flushed; off: FUA" },
	{ .name = "dirty_limit", .type = VS_OPT_SIZE, .dflt = NBD_DEFAULT_DIRTY, .min = 1u << 20,
	  .max = 16ull << 30, .help = "memory for acknowledged writes not yet flushed" },
	{ 0 }
};

static void be_free(struct nbd_be *be)
{
	for (unsigned i = 0; i < NBD_MAX_CONNS; i++)
		if (be->conns[i].h)
			nbd_close(be->conns[i].h);
	vs_dlog_fini(&be->log);
	pthread_mutex_destroy(&be->held_lock);
	pthread_mutex_destroy(&be->close_mu);
	pthread_cond_destroy(&be->close_cv);
	free(be->uri);
	free(be->export_name);
	free(be);
}

/* Connect c on this thread (open), checking it against the first. */
static int open_conn(struct nbd_be *be, struct nbd_conn *c, uint64_t deadline)
{
	struct nbd_export e;
	char why[200];

	if (vs_nbdbe_conn_start(c) < 0 || vs_nbdbe_conn_wait_ready(c, deadline) < 0) {
		vs_set_error("uri: cannot connect to %s: %s", be->uri, c->why);
		return -ENOTCONN;
	}
	if (c == &be->conns[0]) {
		vs_nbdbe_conn_export(c, &be->ref);
	} else {
		vs_nbdbe_conn_export(c, &e);
		if (vs_nbdbe_export_compare(&be->ref, &e, why, sizeof(why)) < 0) {
			vs_set_error("uri: %s: connection %u: %s", be->uri, c->index + 1, why);
			return -EINVAL;
		}
	}
	c->ready = true;
	return 0;
}

static int open_log(struct nbd_be *be, uint64_t dirty_limit)
{
	uint64_t recs = dirty_limit / NBD_COPY_RECORD;

	if (recs < 1024)
		recs = 1024;
	if (recs > (1u << 22))
		recs = 1u << 22;
	if (!be->keep_copies)
		return vs_dlog_init(&be->log, 0, 1, 1);   /* nothing is ever logged */
	return vs_dlog_init(&be->log, dirty_limit, (uint32_t)recs, NBD_REPLAY_WINDOW);
}

static void *nbdbe_open(struct vs_backend_open_args *args)
{
	const struct vs_opts *o = args->opts;
	struct nbd_be *be;
	uint64_t deadline;

	if (!args->loops) {
		vs_set_error("uri: the nbd backend needs the daemon's event loops (none given)");
		return NULL;
	}
	be = calloc(1, sizeof(*be));
	if (!be) {
		vs_set_error("out of memory");
		return NULL;
	}
	pthread_mutex_init(&be->held_lock, NULL);
	pthread_mutex_init(&be->close_mu, NULL);
	pthread_cond_init(&be->close_cv, NULL);
	be->log.first = be->log.last = be->log.cursor = DIRTY_NONE;
	be->uri = strdup(vs_opt_str(o, "uri"));
	be->export_name = vs_opt_given(o, "export") ? strdup(vs_opt_str(o, "export")) : NULL;
	if (!be->uri || (vs_opt_given(o, "export") && !be->export_name)) {
		vs_set_error("out of memory");
		be_free(be);
		return NULL;
	}
	be->self = args->self;
	be->nconns = (unsigned)vs_opt_u64(o, "connections");
	be->connect_timeout_ns = vs_opt_u64(o, "connect_timeout") * 1000000u;
	be->request_timeout_ns = vs_opt_u64(o, "request_timeout") * 1000000u;
	be->hold_ms = (uint32_t)vs_opt_u64(o, "hold_timeout");
	be->readonly = args->readonly;
	be->fua_always = strcmp(vs_opt_str(o, "cache"), "off") == 0;
	be->loop = vs_loop_group_pick(args->loops, VS_LOOP_PICK_NEXT);
	for (unsigned i = 0; i < NBD_MAX_CONNS; i++) {
		be->conns[i].be = be;
		be->conns[i].index = i;
		be->conns[i].fd = -1;
	}
	vs_nbdbe_recover_init(be);

	deadline = vs_loop_clock_ns() + be->connect_timeout_ns;
	if (open_conn(be, &be->conns[0], deadline) < 0) {
		be_free(be);
		return NULL;
	}
	if (be->ref.size == 0) {
		vs_set_error("uri: %s: the export is empty", be->uri);
		be_free(be);
		return NULL;
	}
	/* several connections only where a flush on one covers the writes
	 * of all (NBD protocol, NBD_FLAG_CAN_MULTI_CONN) */
	if (!be->ref.can_multi_conn)
		be->nconns = 1;
	for (unsigned i = 1; i < be->nconns; i++) {
		if (open_conn(be, &be->conns[i], deadline) < 0) {
			be_free(be);
			return NULL;
		}
	}
	be->max_payload = be->ref.block_max && be->ref.block_max < NBD_DEFAULT_MAX_PAYLOAD
	                  ? be->ref.block_max : NBD_DEFAULT_MAX_PAYLOAD;
	be->keep_copies = !be->fua_always && be->ref.can_flush && !be->readonly &&
	                  !be->ref.read_only;
	if (open_log(be, vs_opt_u64(o, "dirty_limit")) < 0) {
		vs_set_error("dirty_limit: cannot reserve %" PRIu64 " bytes",
		             vs_opt_u64(o, "dirty_limit"));
		be_free(be);
		return NULL;
	}
	atomic_store(&be->stats.connections, be->nconns);
	args->ctx_size = sizeof(struct nbd_req);
	/* the loop takes the handles over: from now on only it touches them */
	vs_loop_hold(be->loop);
	vs_loop_post(be->loop, &be->adopt_msg);
	return be;
}

static void nbdbe_close(void *h)
{
	struct nbd_be *be = h;

	be->close_msg.fn = vs_nbdbe_recover_close_msg;
	vs_loop_post(be->loop, &be->close_msg);
	pthread_mutex_lock(&be->close_mu);
	while (!be->closed)
		pthread_cond_wait(&be->close_cv, &be->close_mu);
	pthread_mutex_unlock(&be->close_mu);
	be_free(be);
}

static uint64_t nbdbe_get_size(void *h)
{
	return ((struct nbd_be *)h)->ref.size;
}

static void nbdbe_get_caps(void *h, struct vs_backend_caps *caps)
{
	const struct nbd_be *be = h;
	const struct nbd_export *e = &be->ref;
	bool w = !be->readonly && !e->read_only;

	memset(caps, 0, sizeof(*caps));
	caps->can_write = w;
	/* Honest about the cache (SBC-3 4.15, the caching mode page's WCE):
	 * with cache=on a server that can flush has one, and SYNCHRONIZE
	 * CACHE becomes its FLUSH; with cache=off every write goes with FUA,
	 * so none is reported. */
	caps->has_write_cache = be->keep_copies;
	caps->can_flush = be->keep_copies;
	caps->can_fua = w;
	caps->can_zero = w && e->can_zero;
	caps->can_unmap = w && (e->can_trim || e->can_zero);
	/* UNMAP goes as WRITE_ZEROES (hole allowed) where the server has it,
	 * so unmapped blocks read back as zeroes (LBPRZ); a bare NBD trim
	 * promises nothing about what reads return */
	caps->unmap_zeroes = w && e->can_zero;
	caps->is_rotational = e->rotational;
	caps->optimal_io_size = e->block_pref > 1 ? e->block_pref : 0;
	caps->unmap_granularity = e->block_pref > 1 ? e->block_pref : 0;
	caps->logical_block_size = e->block_min > 1 ? e->block_min : 0;
}

static void submit_msg(struct vs_loop_msg *m)
{
	struct nbd_req *r = (struct nbd_req *)((char *)m - offsetof(struct nbd_req, msg));
	struct nbd_be *be = r->be;

	vs_nbdbe_io_dispatch(r);
	vs_nbdbe_recover_kick(be);
}

static int nbdbe_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct nbd_be *be = h;
	struct nbd_req *r = ctx;
	const struct nbd_export *e = &be->ref;
	bool w = !be->readonly && !e->read_only;

	switch (bio->op) {
	case VS_BIO_READ:
	case VS_BIO_WRITE:
		if (bio->length && !bio->iov)
			return -EINVAL;
		if (bio->op == VS_BIO_WRITE && !w)
			return -EROFS;
		break;
	case VS_BIO_UNMAP:
		if (!w)
			return -EROFS;
		if (!e->can_trim && !e->can_zero)
			return -EOPNOTSUPP;
		break;
	case VS_BIO_WRITE_ZEROES:
		if (!w)
			return -EROFS;
		if (!e->can_zero)
			return -EOPNOTSUPP;
		break;
	case VS_BIO_FLUSH:
		break;
	default:
		return -EINVAL;
	}
	if (bio->op != VS_BIO_FLUSH) {
		uint64_t have = 0;

		if (bio->offset > e->size || bio->length > e->size - bio->offset)
			return -EINVAL;
		if (e->block_min > 1 && ((bio->offset | bio->length) & (e->block_min - 1)))
			return -EINVAL;
		if (bio->op == VS_BIO_READ || bio->op == VS_BIO_WRITE) {
			for (int i = 0; i < bio->iovcnt && have < bio->length; i++)
				have += bio->iov[i].iov_len;
			if (have < bio->length)
				return -EINVAL;
		}
		if (bio->length == 0) {
			vs_bio_complete(bio, 0);
			return 0;
		}
	}
	memset(r, 0, sizeof(*r));
	r->bio = bio;
	r->be = be;
	r->rec = DIRTY_NONE;
	r->msg.fn = submit_msg;
	vs_loop_post(be->loop, &r->msg);
	return 0;
}

static void post_cancel(struct nbd_be *be)
{
	if (!atomic_exchange(&be->cancel_posted, true))
		vs_loop_post(be->loop, &be->cancel_msg);
}

static bool nbdbe_cancel(void *h, struct vs_bio *bio)
{
	struct nbd_be *be = h;
	bool found = false;

	pthread_mutex_lock(&be->held_lock);
	for (struct nbd_cmd *c = be->held_head; c && !found; c = c->next) {
		struct nbd_req *r = (struct nbd_req *)c;

		if (r->bio == bio && !r->cancelled)
			found = r->cancelled = true;
	}
	pthread_mutex_unlock(&be->held_lock);
	if (found)
		post_cancel(be);
	return found;
}

static void nbdbe_reset(void *h)
{
	struct nbd_be *be = h;
	bool any = false;

	pthread_mutex_lock(&be->held_lock);
	for (struct nbd_cmd *c = be->held_head; c; c = c->next) {
		((struct nbd_req *)c)->cancelled = true;
		any = true;
	}
	pthread_mutex_unlock(&be->held_lock);
	if (any)
		post_cancel(be);
}

static void status_msg(struct vs_loop_msg *m)
{
	struct nbd_status_call *call =
		(struct nbd_status_call *)((char *)m - offsetof(struct nbd_status_call, msg));
	struct nbd_be *be = call->be;   /* call may be gone once answered */

	vs_nbdbe_io_block_status(call);
	vs_nbdbe_recover_kick(be);
}

static int nbdbe_block_status(void *h, uint64_t offset, uint64_t len, bool *mapped,
                            uint64_t *extent_len)
{
	struct nbd_be *be = h;
	struct nbd_status_call call = { .be = be, .off = offset, .len = len };

	if (len == 0 || offset >= be->ref.size || len > be->ref.size - offset) {
		vs_set_error("block_status: range outside the disk");
		return -EINVAL;
	}
	if (!be->ref.has_alloc) {
		/* the server cannot say: everything may hold data */
		*mapped = true;
		*extent_len = len;
		return 0;
	}
	pthread_mutex_init(&call.mu, NULL);
	pthread_cond_init(&call.cv, NULL);
	call.msg.fn = status_msg;
	vs_loop_post(be->loop, &call.msg);
	pthread_mutex_lock(&call.mu);
	while (!call.done)
		pthread_cond_wait(&call.cv, &call.mu);
	pthread_mutex_unlock(&call.mu);
	pthread_mutex_destroy(&call.mu);
	pthread_cond_destroy(&call.cv);
	if (call.rc < 0) {
		vs_set_error("block_status: %s: %s", be->uri, strerror(-call.rc));
		return call.rc;
	}
	*mapped = call.mapped;
	*extent_len = call.ext;
	return 0;
}

void vs_nbd_backend_stats(void *h, struct nbd_stats *out)
{
	struct nbd_stats *s = &((struct nbd_be *)h)->stats;

#define NBD_STAT(f) atomic_init(&out->f, atomic_load(&s->f))
	NBD_STAT(connections);
	NBD_STAT(reconnects);
	NBD_STAT(losses);
	NBD_STAT(replayed);
	NBD_STAT(replayed_bytes);
	NBD_STAT(copied_bytes);
	NBD_STAT(dirty_bytes);
	NBD_STAT(dirty_peak);
	NBD_STAT(budget_flushes);
	NBD_STAT(lost_bytes);
	NBD_STAT(held_timeouts);
#undef NBD_STAT
}

static const struct vs_backend_ops nbd_ops = {
	.name = "nbd",
	.api_version = VS_BACKEND_API_VERSION,
	.struct_size = sizeof(struct vs_backend_ops),
	.description = "an export of a remote NBD server, through libnbd; rides out the server's "
	               "restarts",
	.options = nbdbe_options,
	.open = nbdbe_open,
	.close = nbdbe_close,
	.get_size = nbdbe_get_size,
	.get_caps = nbdbe_get_caps,
	.submit = nbdbe_submit,
	.cancel = nbdbe_cancel,
	.reset = nbdbe_reset,
	.block_status = nbdbe_block_status,
};
VS_BACKEND_BUILTIN(nbd_ops)
