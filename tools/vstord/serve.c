/* SPDX-License-Identifier: MIT */
/*
 * Config → port + vdisk + backends + iSCSI fabric.  tools/ is the only
 * place that knows every layer; the layers meet here through their public
 * headers only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "liveness.h"
#include "log.h"
#include "metrics_http.h"
#include "serve.h"
#include "serve_nbd.h"
#include "ctl/ctl.h"
#include "vstor/bdev.h"
#include "vstor/iscsi.h"
#include "vstor/loop.h"
#include "vstor/miniport.h"
#include "vstor/port.h"
#include "vstor/vdisk.h"

struct vsd_server {
	/* The event loops every fabric (and later backend) runs on: one
	 * group of `threads` loops for the whole daemon. */
	struct vs_loop_group *loops;
	struct vs_iscsi *is;
	struct vs_iscsi_chap discovery_chap;
	struct vs_ctl_state *st;        /* ports, LUNs and the running model */
	struct vs_ctl_server *ctl;      /* control socket; NULL if disabled */
	struct vsd_metrics *metrics;    /* GET /metrics; NULL unless configured */
	struct vs_nbd *nbd;             /* the "nbd" section's fabric; NULL if none */
	struct vsd_liveness *liveness;  /* the loops' pulse, for the watchdog */
	bool started;
	char portals[512];              /* every portal listened on, for the status line */
};

/* "LUN 0 (ram, 1 GiB), LUN 1 (throttle/file, 10 GiB, read-only)" for one
 * target: each LUN's block stack, filters first. */
static void summarize(const struct vs_config_target *t, struct vs_port *port, char *summary,
                      size_t summary_len)
{
	summary[0] = '\0';
	for (size_t li = 0; li < t->nluns; li++) {
		const struct vs_config_lun *l = &t->luns[li];
		const char *stack = l->bdev ? vs_bdev_name(l->bdev) : l->backend ? l->backend : "volume";
		struct vs_lun_info info = { 0 };
		char human[32];
		(void)vs_port_lun_control(port, l->lun, VS_LUN_QUERY, &info);
		vs_ctl_human_size(info.size_bytes, human, sizeof(human));
		vsd_debug("%s: LUN %" PRIu64 " added: %s, %s, %" PRIu32 "-byte blocks%s", t->iqn, l->lun,
		          stack, human, l->block_size, l->readonly ? ", read-only" : "");
		size_t used = strlen(summary);
		snprintf(summary + used, summary_len - used, "%sLUN %" PRIu64 " (%s, %s%s)",
		         used ? ", " : "", l->lun, stack, human, l->readonly ? ", read-only" : "");
	}
}

static void chap_view(const struct vs_config_chap *c, struct vs_iscsi_chap *out)
{
	out->user = c->user;
	out->secret = c->secret;
	out->mutual_user = c->mutual_user;
	out->mutual_secret = c->mutual_secret;
}

/* Is item one of the entries of the list "a, b, c"? */
static bool listed(const char *list, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = list; *p;) {
		const char *end = strstr(p, ", ");
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && strncmp(p, item, n) == 0)
			return true;
		if (!end)
			break;
		p = end + 2;
	}
	return false;
}

/* Append to the list in buf the portals it does not have yet. */
static void join_portals(char *const *portals, size_t n, char *buf, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		size_t used = strlen(buf);
		if (!listed(buf, portals[i]))
			snprintf(buf + used, len - used, "%s%s", used ? ", " : "", portals[i]);
	}
}

/* Where one target is served: its own portals, or the daemon's. */
static void target_portals(const struct vs_config *cfg, const struct vs_config_target *t,
                           char *buf, size_t len)
{
	buf[0] = '\0';
	if (t->nportals)
		join_portals(t->portals, t->nportals, buf, len);
	else
		join_portals(cfg->portals, cfg->nportals, buf, len);
}

static void log_error_line(const char *line)
{
	vsd_error("%s", line);
}

static void log_info_line(const char *line)
{
	vsd_info("%s", line);
}

struct vsd_server *vsd_serve_start(struct vs_config *cfg, const char *cfg_name,
                                   const char *config_path, struct vs_ctl_server *ctl)
{
	struct vsd_server *srv = calloc(1, sizeof(*srv));
	char *portals, err[VS_CONFIG_ERR_MAX + 64];

	if (!srv) {
		vsd_error("out of memory");
		vs_config_free(cfg);
		vs_ctl_server_destroy(ctl);
		return NULL;
	}
	srv->ctl = ctl;
	/* a LUN's resource lost, back, resized: one line per change */
	vs_ctl_set_log(log_info_line);
	/* The event loops first: block stacks that wait on sockets or timers
	 * (a remote backend, a throttle) start using them as they open. */
	srv->loops = vs_loop_group_create(cfg->threads, "vstor");
	if (!srv->loops || vs_loop_group_start(srv->loops) < 0) {
		vsd_error("event loops: %s", vs_last_error());
		goto fail;
	}
	if (!(srv->liveness = vsd_liveness_create(srv->loops))) {
		vsd_error("event loops: out of memory");
		goto fail;
	}
	/* The ports and their LUNs: everything that can fail on a bad path or
	 * size happens here, before the fabric binds a portal. */
	srv->st = vs_ctl_state_create(cfg, cfg_name, config_path, srv->loops, err, sizeof(err));
	cfg = NULL;     /* the state owns it now (freed there on failure) */
	if (!srv->st) {
		vsd_error("%s", err);
		goto fail;
	}
	const struct vs_config *rc_cfg = vs_ctl_state_config(srv->st);

	struct vs_iscsi_config ic = {
		.group = srv->loops,
		.nop_interval_ms = rc_cfg->iscsi.nop_interval_ms,
		.nop_timeout_ms = rc_cfg->iscsi.nop_timeout_ms,
		.queue_depth = rc_cfg->iscsi.queue_depth,
		.max_recv_dsl = rc_cfg->iscsi.max_recv_data_segment_length,
		.max_burst_length = rc_cfg->iscsi.max_burst_length,
		.first_burst_length = rc_cfg->iscsi.first_burst_length,
		.max_outstanding_r2t = rc_cfg->iscsi.max_outstanding_r2t,
		.max_connections = rc_cfg->iscsi.max_connections,
		.max_sessions = rc_cfg->iscsi.max_sessions,
		.login_timeout_ms = rc_cfg->iscsi.login_timeout_ms,
		.poll_us = rc_cfg->iscsi.poll_us,
	};
	srv->is = vs_iscsi_create(&ic);
	if (!srv->is) {
		/* The loader checks the fabric's own ranges; this is a backstop. */
		vsd_error("%s: iscsi: %s", cfg_name, vs_last_error());
		goto fail;
	}
	for (size_t i = 0; i < rc_cfg->nportals; i++) {
		if (vs_iscsi_add_portal(srv->is, rc_cfg->portals[i]) < 0) {
			vsd_error("%s: portals[%zu]: %s: %s", cfg_name, i, rc_cfg->portals[i],
			          vs_last_error());
			goto fail;
		}
		vsd_debug("portal %s listening", rc_cfg->portals[i]);
	}
	if (rc_cfg->has_discovery_chap) {
		chap_view(&rc_cfg->discovery_chap, &srv->discovery_chap);
		if (vs_iscsi_set_discovery_chap(srv->is, &srv->discovery_chap) < 0) {
			vsd_error("%s: discovery_chap: %s", cfg_name, vs_last_error());
			goto fail;
		}
	}
	if (vs_ctl_state_attach_fabric(srv->st, srv->is, cfg_name, err, sizeof(err)) < 0) {
		vsd_error("%s", err);
		goto fail;
	}
	for (size_t i = 0; i < rc_cfg->ntargets; i++) {
		const struct vs_config_target *tc = &rc_cfg->targets[i];
		vsd_debug("target %s added (%zu LUNs%s%s)", tc->iqn, tc->nluns, tc->nacl ? ", ACL" : "",
		          tc->has_chap ? ", CHAP" : "");
	}
	if (vs_iscsi_start(srv->is) < 0) {
		vsd_error("iscsi: %s", vs_last_error());
		goto fail;
	}
	srv->started = true;
	if (vsd_nbd_start(srv->st, srv->loops, cfg_name, &srv->nbd) < 0)
		goto fail;

	/* Every portal in use: the daemon's and the targets' own. */
	portals = srv->portals;
	join_portals(rc_cfg->portals, rc_cfg->nportals, portals, sizeof(srv->portals));
	for (size_t i = 0; i < rc_cfg->ntargets; i++)
		join_portals(rc_cfg->targets[i].portals, rc_cfg->targets[i].nportals, portals,
		             sizeof(srv->portals));
	vsd_info("listening on %s", portals);
	if (rc_cfg->ntargets == 0)
		vsd_warn("%s: no targets configured; initiators will find nothing", cfg_name);
	for (size_t i = 0; i < rc_cfg->ntargets; i++) {
		char summary[1024], where[512];
		summarize(&rc_cfg->targets[i], vs_ctl_state_port(srv->st, i), summary, sizeof(summary));
		target_portals(rc_cfg, &rc_cfg->targets[i], where, sizeof(where));
		vsd_info("serving %s %s on %s", rc_cfg->targets[i].iqn,
		         summary[0] ? summary : "(no LUNs)", where);
	}
	if (rc_cfg->metrics_listen) {
		srv->metrics = vsd_metrics_start(rc_cfg->metrics_listen, srv->st, err, sizeof(err));
		if (!srv->metrics) {
			vsd_error("%s: metrics.listen: %s", cfg_name, err);
			goto fail;
		}
		vsd_info("metrics on http://%s/metrics", rc_cfg->metrics_listen);
	}
	/* Last: the control plane changes a fully running stack. */
	if (srv->ctl) {
		if (vs_ctl_server_start(srv->ctl, srv->st, err, sizeof(err)) < 0) {
			vsd_error("%s", err);
			goto fail;
		}
	}
	return srv;

fail:
	vs_config_free(cfg);
	vsd_serve_stop(srv, 0);
	return NULL;
}

size_t vsd_serve_loop_passes(void *srv_, uint64_t *out, size_t max)
{
	struct vsd_server *srv = srv_;

	/* every loop of the shared group: every fabric and backend runs there */
	return vsd_liveness_passes(srv->liveness, out, max);
}

struct vs_ctl_state *vsd_serve_state(struct vsd_server *srv)
{
	return srv->st;
}

int vsd_serve_status(struct vsd_server *srv, char *buf, size_t len, bool wait)
{
	struct vs_ctl_summary sum;

	if (vs_ctl_state_summary(srv->st, &sum, wait) < 0)
		return -1;
	snprintf(buf, len, "serving %zu target%s, %zu LUN%s on %s; %zu session%s", sum.targets,
	         sum.targets == 1 ? "" : "s", sum.luns, sum.luns == 1 ? "" : "s",
	         srv->portals[0] ? srv->portals : "no portal", sum.sessions,
	         sum.sessions == 1 ? "" : "s");
	return 0;
}

int vsd_serve_stop(struct vsd_server *srv, uint32_t grace_ms)
{
	int rc = 0;
	if (!srv)
		return 0;
	/* No more changes while the stack goes down, no more scrapes. */
	vs_ctl_server_destroy(srv->ctl);
	vsd_metrics_stop(srv->metrics);
	vsd_nbd_stop(srv->nbd, grace_ms);
	if (srv->is && srv->started) {
		vsd_debug("stopping the iSCSI fabric (grace %" PRIu32 " ms)", grace_ms);
		vs_iscsi_stop(srv->is, grace_ms);
	}
	if (srv->is)
		vs_iscsi_destroy(srv->is);
	/* Flush and remove every LUN: after this, everything the initiators
	 * were told is written is on stable storage (file backends). */
	if (vs_ctl_state_destroy(srv->st, log_error_line) < 0)
		rc = -EIO;
	/* Last: whatever ran on the loops is gone by now (a probe too). */
	vs_loop_group_destroy(srv->loops);
	vsd_liveness_free(srv->liveness);
	free(srv);
	return rc;
}
