/* SPDX-License-Identifier: MIT */
/*
 * The running state: the config model (what config.save writes) next to
 * the live objects it describes — one vs_port with the vdisk miniport per
 * target, one backend + vdisk LUN per LUN — and the fabric they are
 * registered with.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_int.h"
#include "vstor/bdev.h"
#include "vstor/iscsi.h"
#include "vstor/port.h"
#include "vstor/vdisk.h"

char *vs_ctl_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void vs_ctl_human_size(uint64_t b, char *buf, size_t len)
{
	static const char *const unit[] = { "TiB", "GiB", "MiB", "KiB" };
	for (int i = 0; i < 4; i++) {
		uint64_t m = 1ULL << (40 - 10 * i);
		if (b >= m && b % m == 0) {
			snprintf(buf, len, "%" PRIu64 " %s", b / m, unit[i]);
			return;
		}
	}
	snprintf(buf, len, "%" PRIu64 " bytes", b);
}

int vs_ctl_reserve_target(struct vs_ctl_state *st)
{
	size_t need = st->cfg->ntargets + 1;
	if (need <= st->rt_cap)
		return 0;
	size_t cap = st->rt_cap ? st->rt_cap * 2 : 4;
	while (cap < need)
		cap *= 2;
	struct vs_config_target *t = realloc(st->cfg->targets, cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	st->cfg->targets = t;
	memset(t + st->cfg->ntargets, 0, (cap - st->cfg->ntargets) * sizeof(*t));
	struct ctl_target_rt *rt = realloc(st->rt, cap * sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	st->rt = rt;
	memset(rt + st->cfg->ntargets, 0, (cap - st->cfg->ntargets) * sizeof(*rt));
	st->rt_cap = cap;
	return 0;
}

/* What a layer found out at open (an encryption key's fingerprint) goes
 * into the model, so config.save keeps it. */
struct learned {
	struct vs_config_kv **kv;
	size_t *n;
	int rc;
};

static void learn(void *ctx, const char *key, const char *value)
{
	struct learned *l = ctx;

	size_t had = *l->n;

	if (vs_config_kv_add(l->kv, l->n, key, value, false) < 0)
		l->rc = -ENOMEM;
	else if (*l->n > had)
		(*l->kv)[had].learned = true;   /* not given: the layer said it */
}

struct learn_walk {
	struct vs_bdev *bdev;
	size_t base;            /* the stack's first layer in the whole stack */
	int rc;
};

static int learn_layer(void *ctx, struct ctl_layer *layer)
{
	struct learn_walk *w = ctx;
	struct learned ln = { layer->kv, layer->n, 0 };

	vs_bdev_layer_learned(w->bdev, w->base + layer->index, learn, &ln);
	return w->rc = ln.rc;
}

int vs_ctl_stack_learn(struct vs_bdev *bdev, struct vs_config_stack *st, bool lun, size_t base)
{
	struct learn_walk w = { bdev, base, 0 };

	vs_ctl_stack_walk(st, lun, learn_layer, &w);
	return w.rc;
}

int vs_ctl_lun_attach(struct vs_ctl_state *st, struct vs_port *port, const char *iqn,
                   struct vs_config_lun *l, uint64_t *bytes_out, int *failed_layer, char *err,
                   size_t errlen)
{
	struct vs_bdev_open_args args = { .readonly = l->readonly, .loops = st->loops };
	struct ctl_desc *desc = vs_ctl_stack_desc(&l->stack);
	size_t nf = l->nfilters;
	struct vs_bdev *bdev;
	uint64_t bytes;
	int rc = 0;

	*failed_layer = -1;
	if (!desc) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	bdev = vs_bdev_open_stack(&desc->top, &args);
	vs_ctl_stack_desc_free(desc);
	if (!bdev) {
		*failed_layer = args.failed_layer;
		snprintf(err, errlen, "%s", vs_last_error());
		return -EINVAL;
	}
	bytes = vs_bdev_get_size(bdev);
	if (bytes == 0 || bytes % l->block_size) {
		/* Without a size the LUN takes the resource's (a file's), so
		 * that is what is wrong: name the option that says which one. */
		*failed_layer = (int)nf;
		if (l->volume)
			snprintf(err, errlen, "the volume has %" PRIu64 " bytes, not a non-zero multiple "
			         "of block_size %" PRIu32, bytes, l->block_size);
		else if (!vs_config_lun_opt(l, "size") && vs_config_lun_opt(l, "path"))
			snprintf(err, errlen,
			         "path: '%s' is %" PRIu64 " bytes, not a non-zero multiple of block_size %" PRIu32,
			         vs_config_lun_opt(l, "path"), bytes, l->block_size);
		else
			snprintf(err, errlen,
			         "size: the backend has %" PRIu64 " bytes, not a non-zero multiple of "
			         "block_size %" PRIu32, bytes, l->block_size);
		vs_bdev_close(bdev);
		return -EINVAL;
	}
	rc = vs_ctl_stack_learn(bdev, &l->stack, true, 0);
	struct vs_vdisk_lun_config lc = {
		.bdev = bdev,
		.block_size = l->block_size,
		.readonly = l->readonly,
		.serial = l->serial,
		.removable = l->removable,
		.physical_block_size = l->physical_block_size,
		.on_event = vs_ctl_lun_event,
		.event_ctx = (void *)iqn,
	};
	if (rc == 0)
		rc = vs_port_lun_add(port, l->lun, &lc);
	if (rc < 0) {
		/* The LUN owns the bdev only once it is attached. */
		snprintf(err, errlen, "%s", rc == -ENOMEM ? "out of memory" : vs_last_error());
		vs_bdev_close(bdev);
		return rc;
	}
	l->bdev = bdev;
	if (bytes_out)
		*bytes_out = bytes;
	return 0;
}

/* The daemon's log (vs_ctl_set_log); NULL: quiet. */
static void (*_Atomic ctl_log)(const char *line);

void vs_ctl_set_log(void (*log)(const char *line))
{
	ctl_log = log;
}

/*
 * One log line per change of a LUN's resource, never one per I/O (the
 * layer raises an event per state change).  Any thread.
 */
void vs_ctl_lun_event(void *ctx, uint64_t lun, const struct vs_bdev_event *ev)
{
	void (*log)(const char *) = ctl_log;
	char line[VS_CTL_MSG_MAX];
	const char *why = ev->why && *ev->why ? ev->why : NULL;

	if (!log)
		return;
	switch (ev->type) {
	case VS_BDEV_EV_LOST:
		if (ev->hold_ms)
			snprintf(line, sizeof(line), "%s LUN %" PRIu64 ": resource lost%s%s; holding "
			         "commands up to %" PRIu32 " ms while it reconnects", (const char *)ctx,
			         lun, why ? ": " : "", why ? why : "", ev->hold_ms);
		else
			snprintf(line, sizeof(line), "%s LUN %" PRIu64 ": resource lost%s%s; answering "
			         "NOT READY while it reconnects", (const char *)ctx, lun,
			         why ? ": " : "", why ? why : "");
		break;
	case VS_BDEV_EV_BACK:
		snprintf(line, sizeof(line), "%s LUN %" PRIu64 ": resource back%s%s",
		         (const char *)ctx, lun, why ? ": " : "", why ? why : "");
		break;
	case VS_BDEV_EV_RESIZED:
		snprintf(line, sizeof(line), "%s LUN %" PRIu64 ": resource resized", (const char *)ctx,
		         lun);
		break;
	case VS_BDEV_EV_FAILED:
		snprintf(line, sizeof(line), "%s LUN %" PRIu64 ": resource failed%s%s; the LUN answers "
		         "NOT READY until it is removed", (const char *)ctx, lun, why ? ": " : "",
		         why ? why : "");
		break;
	case VS_BDEV_EV_STATE:
		/* a layer's own line (a volume's leg degraded, copied level) */
		snprintf(line, sizeof(line), "%s LUN %" PRIu64 ": %s", (const char *)ctx, lun,
		         why ? why : "state changed");
		break;
	default:
		return;
	}
	log(line);
}

struct vs_port *vs_ctl_port_create(const char *iqn)
{
	struct vs_port_config pc = { .name = iqn };
	/* Relative target port 1: each target is one SCSI target port here;
	 * its LUNs are exported over iSCSI. */
	struct vs_vdisk_adapter_config ac = { .target_name = iqn, .rel_target_port_id = 1,
	                                      .transport_version = VS_ISCSI_VERSION_DESCRIPTOR };
	return vs_port_create(&vs_vdisk_miniport, &pc, &ac);
}

size_t vs_ctl_sessions_on(struct vs_ctl_state *st, const char *iqn)
{
	if (!st->is)
		return 0;
	size_t cap = 256, n, count = 0;
	struct vs_iscsi_session_info *s = NULL;
	for (;;) {
		free(s);
		s = calloc(cap, sizeof(*s));
		if (!s)
			return 1;   /* cannot tell: assume in use */
		n = vs_iscsi_sessions(st->is, s, cap);
		if (n < cap)
			break;
		cap *= 2;
	}
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(s[i].target, iqn) == 0)
			count++;
	free(s);
	return count;
}

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct vs_ctl_state *vs_ctl_state_create(struct vs_config *cfg, const char *cfg_name,
                                         const char *config_path, struct vs_loop_group *loops,
                                         char *err, size_t errlen)
{
	struct vs_ctl_state *st = calloc(1, sizeof(*st));
	if (!st || (config_path && !(st->config_path = strdup(config_path)))) {
		errf(err, errlen, "out of memory");
		free(st);
		vs_config_free(cfg);
		return NULL;
	}
	pthread_mutex_init(&st->lock, NULL);
	st->cfg = cfg;
	st->loops = loops;
	st->rt_cap = cfg->ntargets;
	st->rt = calloc(cfg->ntargets ? cfg->ntargets : 1, sizeof(*st->rt));
	if (!st->rt) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t ti = 0; ti < cfg->ntargets; ti++) {
		const struct vs_config_target *t = &cfg->targets[ti];
		st->rt[ti].port = vs_ctl_port_create(t->iqn);
		if (!st->rt[ti].port) {
			errf(err, errlen, "%s: targets[%zu]: %s", cfg_name, ti, vs_last_error());
			goto fail;
		}
		for (size_t li = 0; li < t->nluns; li++) {
			char why[VS_CTL_MSG_MAX], field[160];
			const char *rest;
			int layer;

			if (vs_ctl_lun_attach(st, st->rt[ti].port, t->iqn, &t->luns[li], NULL, &layer, why,
			                   sizeof(why)) < 0) {
				vs_ctl_lun_error_field(&t->luns[li], layer, why, field, sizeof(field), &rest);
				errf(err, errlen, "%s: targets[%zu].luns[%zu].%s: %s", cfg_name, ti, li, field,
				     rest);
				goto fail;
			}
		}
	}
	return st;
fail:
	vs_ctl_state_destroy(st, NULL);
	return NULL;
}

static void chap_view(const struct vs_config_chap *c, struct vs_iscsi_chap *out)
{
	out->user = c->user;
	out->secret = c->secret;
	out->mutual_user = c->mutual_user;
	out->mutual_secret = c->mutual_secret;
}

int vs_ctl_state_attach_fabric(struct vs_ctl_state *st, struct vs_iscsi *is, const char *cfg_name,
                               char *err, size_t errlen)
{
	pthread_mutex_lock(&st->lock);
	st->is = is;
	for (size_t i = 0; i < st->cfg->ntargets; i++) {
		const struct vs_config_target *tc = &st->cfg->targets[i];
		struct vs_iscsi_chap chap;
		if (tc->has_chap)
			chap_view(&tc->chap, &chap);
		struct vs_iscsi_target_config itc = {
			.iqn = tc->iqn,
			.alias = tc->alias,
			.port = st->rt[i].port,
			.acl = (const char *const *)tc->acl,
			.nacl = tc->nacl,
			.chap = tc->has_chap ? &chap : NULL,
			.portals = (const char *const *)tc->portals,
			.nportals = tc->nportals,
		};
		int rc = vs_iscsi_add_target(is, &itc);
		if (rc < 0) {
			errf(err, errlen, "%s: targets[%zu]: %s", cfg_name, i, vs_last_error());
			pthread_mutex_unlock(&st->lock);
			return rc;
		}
		st->rt[i].registered = true;
	}
	pthread_mutex_unlock(&st->lock);
	return 0;
}

static void logf_(void (*log)(const char *), const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void logf_(void (*log)(const char *), const char *fmt, ...)
{
	char line[VS_CTL_MSG_MAX];
	va_list ap;
	if (!log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log(line);
}

/* Stop (quiesce and flush) the adapter, then remove every LUN of it: after
 * this, everything the initiators were told is written is on stable
 * storage (file backends). */
static int drain_port(struct vs_port *port, const char *iqn, void (*log)(const char *))
{
	uint64_t luns[256];
	int failed = 0;
	size_t n;

	if (vs_port_stop(port) < 0) {
		logf_(log, "%s: flush failed: %s", iqn, vs_last_error());
		failed = -EIO;
	}
	while ((n = vs_port_lun_list(port, luns, sizeof(luns) / sizeof(luns[0]))) > 0) {
		for (size_t i = 0; i < n; i++) {
			int rc = vs_port_lun_remove(port, luns[i], true);
			if (rc < 0) {
				logf_(log, "%s: LUN %" PRIu64 ": remove failed: %s", iqn, luns[i],
				      vs_last_error());
				if (rc != -EIO)         /* -EIO: removed, flush failed */
					return -EIO;
				failed = -EIO;
			}
		}
	}
	return failed;
}

int vs_ctl_state_destroy(struct vs_ctl_state *st, void (*log)(const char *line))
{
	int rc = 0;
	if (!st)
		return 0;
	for (size_t i = 0; st->rt && i < st->cfg->ntargets; i++) {
		struct vs_port *port = st->rt[i].port;
		if (!port)
			continue;
		if (drain_port(port, st->cfg->targets[i].iqn, log) < 0)
			rc = -EIO;
	}
	/* The fabric is gone by now (vs_iscsi_destroy), so no nexus is left. */
	for (size_t i = 0; st->rt && i < st->cfg->ntargets; i++)
		if (st->rt[i].port)
			vs_port_destroy(st->rt[i].port);
	free(st->rt);
	vs_config_free(st->cfg);
	free(st->config_path);
	pthread_mutex_destroy(&st->lock);
	free(st);
	return rc;
}

void vs_ctl_state_set_reload_adjust(struct vs_ctl_state *st,
                                    int (*fn)(void *ctx, struct vs_config *cfg, char *err,
                                              size_t errlen),
                                    void *ctx)
{
	pthread_mutex_lock(&st->lock);
	st->reload_adjust = fn;
	st->reload_adjust_ctx = ctx;
	pthread_mutex_unlock(&st->lock);
}

const struct vs_config *vs_ctl_state_config(const struct vs_ctl_state *st)
{
	return st->cfg;
}

struct vs_port *vs_ctl_state_port(const struct vs_ctl_state *st, size_t i)
{
	return i < st->cfg->ntargets ? st->rt[i].port : NULL;
}
