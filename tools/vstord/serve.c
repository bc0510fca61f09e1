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

#include "log.h"
#include "serve.h"
#include "vstor/backend.h"
#include "vstor/iscsi.h"
#include "vstor/miniport.h"
#include "vstor/port.h"
#include "vstor/vdisk.h"

struct vsd_target {
	const struct vs_config_target *cfg;
	struct vs_port *port;
	struct vs_iscsi_chap chap;
	bool added;             /* registered with the fabric */
};

struct vsd_server {
	struct vs_iscsi *is;
	struct vs_iscsi_chap discovery_chap;
	struct vsd_target *targets;
	size_t ntargets;
	bool started;
};

/* "1 GiB", "512 MiB", "1000 bytes": exact, for the start-up lines. */
static void human_size(uint64_t b, char *buf, size_t len)
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

/* Backend options from the LUN's config fields plus its "options". */
static size_t lun_kv(const struct vs_config_lun *l, struct vs_kv *kv, size_t max, char *size_buf,
                     size_t size_len)
{
	size_t n = 0;
	if (l->path && n < max)
		kv[n++] = (struct vs_kv){ "path", l->path };
	if (l->size && n < max) {
		snprintf(size_buf, size_len, "%" PRIu64, l->size);
		kv[n++] = (struct vs_kv){ "size", size_buf };
	}
	/* Only the file backend takes these; the config refuses them for ram. */
	if (l->create && n < max)
		kv[n++] = (struct vs_kv){ "create", "1" };
	if (l->direct && n < max)
		kv[n++] = (struct vs_kv){ "direct", "1" };
	if (l->readonly && strcmp(l->backend, "file") == 0 && n < max)
		kv[n++] = (struct vs_kv){ "readonly", "1" };
	for (size_t i = 0; i < l->noptions && n < max; i++)
		kv[n++] = (struct vs_kv){ l->options[i].key, l->options[i].value };
	return n;
}

static int add_lun(struct vsd_target *t, size_t ti, size_t li, const char *cfg_name, char *summary,
                   size_t summary_len)
{
	const struct vs_config_lun *l = &t->cfg->luns[li];
	struct vs_kv kv[64];
	char size_buf[32], human[32];
	size_t nkv = lun_kv(l, kv, sizeof(kv) / sizeof(kv[0]), size_buf, sizeof(size_buf));

	struct vs_bdev *bdev = vs_bdev_open(l->backend, kv, nkv);
	if (!bdev) {
		vsd_error("%s: targets[%zu].luns[%zu]: %s", cfg_name, ti, li, vs_last_error());
		return -EINVAL;
	}
	uint64_t bytes = bdev->ops->get_size(bdev->h);
	if (bytes == 0 || bytes % l->block_size) {
		vsd_error("%s: targets[%zu].luns[%zu]: size %" PRIu64
		          " bytes is not a non-zero multiple of block_size %" PRIu32,
		          cfg_name, ti, li, bytes, l->block_size);
		vs_bdev_close(bdev);
		return -EINVAL;
	}
	struct vs_vdisk_lun_config lc = {
		.bdev = bdev,
		.block_size = l->block_size,
		.readonly = l->readonly,
		.serial = l->serial,
		.removable = l->removable,
		.physical_block_size = l->physical_block_size,
	};
	int rc = vs_port_lun_add(t->port, l->lun, &lc);
	if (rc < 0) {
		/* The LUN owns the bdev only once it is attached. */
		vsd_error("%s: targets[%zu].luns[%zu]: %s", cfg_name, ti, li, vs_last_error());
		vs_bdev_close(bdev);
		return rc;
	}
	human_size(bytes, human, sizeof(human));
	vsd_debug("%s: LUN %" PRIu64 " added: %s, %s, %" PRIu32 "-byte blocks%s", t->cfg->iqn, l->lun,
	          l->backend, human, l->block_size, l->readonly ? ", read-only" : "");
	size_t used = strlen(summary);
	snprintf(summary + used, summary_len - used, "%sLUN %" PRIu64 " (%s, %s%s)", used ? ", " : "",
	         l->lun, l->backend, human, l->readonly ? ", read-only" : "");
	return 0;
}

static void chap_view(const struct vs_config_chap *c, struct vs_iscsi_chap *out)
{
	out->user = c->user;
	out->secret = c->secret;
	out->mutual_user = c->mutual_user;
	out->mutual_secret = c->mutual_secret;
}

/* The port and its LUNs: everything that can fail on a bad path or size
 * happens here, before the fabric binds a portal. */
static int build_target(struct vsd_server *srv, size_t ti, const char *cfg_name, char *summary,
                        size_t summary_len)
{
	struct vsd_target *t = &srv->targets[ti];
	const struct vs_config_target *tc = t->cfg;

	struct vs_port_config pc = { .name = tc->iqn };
	/* Relative target port 1: each target is one SCSI target port here. */
	struct vs_vdisk_adapter_config ac = { .target_name = tc->iqn, .rel_target_port_id = 1 };
	t->port = vs_port_create(&vs_vdisk_miniport, &pc, &ac);
	if (!t->port) {
		vsd_error("%s: targets[%zu]: %s", cfg_name, ti, vs_last_error());
		return -EINVAL;
	}
	summary[0] = '\0';
	for (size_t li = 0; li < tc->nluns; li++) {
		int rc = add_lun(t, ti, li, cfg_name, summary, summary_len);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int register_target(struct vsd_server *srv, size_t ti, const char *cfg_name)
{
	struct vsd_target *t = &srv->targets[ti];
	const struct vs_config_target *tc = t->cfg;

	if (tc->has_chap)
		chap_view(&tc->chap, &t->chap);
	struct vs_iscsi_target_config itc = {
		.iqn = tc->iqn,
		.alias = tc->alias,
		.port = t->port,
		.acl = (const char *const *)tc->acl,
		.nacl = tc->nacl,
		.chap = tc->has_chap ? &t->chap : NULL,
	};
	int rc = vs_iscsi_add_target(srv->is, &itc);
	if (rc < 0) {
		vsd_error("%s: targets[%zu]: %s", cfg_name, ti, vs_last_error());
		return rc;
	}
	t->added = true;
	vsd_debug("target %s added (%zu LUNs%s%s)", tc->iqn, tc->nluns, tc->nacl ? ", ACL" : "",
	          tc->has_chap ? ", CHAP" : "");
	return 0;
}

static void join_portals(const struct vs_config *cfg, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < cfg->nportals; i++) {
		size_t used = strlen(buf);
		snprintf(buf + used, len - used, "%s%s", i ? ", " : "", cfg->portals[i]);
	}
}

struct vsd_server *vsd_serve_start(const struct vs_config *cfg, const char *cfg_name)
{
	struct vsd_server *srv = calloc(1, sizeof(*srv));
	char portals[512];
	char (*summaries)[1024] = NULL;

	if (!srv || !(srv->targets = calloc(cfg->ntargets ? cfg->ntargets : 1, sizeof(*srv->targets))) ||
	    !(summaries = calloc(cfg->ntargets ? cfg->ntargets : 1, sizeof(*summaries)))) {
		vsd_error("out of memory");
		goto fail;
	}
	srv->ntargets = cfg->ntargets;
	for (size_t i = 0; i < cfg->ntargets; i++)
		srv->targets[i].cfg = &cfg->targets[i];
	for (size_t i = 0; i < cfg->ntargets; i++)
		if (build_target(srv, i, cfg_name, summaries[i], sizeof(summaries[i])) < 0)
			goto fail;

	struct vs_iscsi_config ic = {
		.threads = cfg->threads,
		.nop_interval_ms = cfg->iscsi.nop_interval_ms,
		.nop_timeout_ms = cfg->iscsi.nop_timeout_ms,
		.queue_depth = cfg->iscsi.queue_depth,
		.max_recv_dsl = cfg->iscsi.max_recv_data_segment_length,
		.max_burst_length = cfg->iscsi.max_burst_length,
		.first_burst_length = cfg->iscsi.first_burst_length,
	};
	srv->is = vs_iscsi_create(&ic);
	if (!srv->is) {
		vsd_error("iscsi: %s", vs_last_error());
		goto fail;
	}
	for (size_t i = 0; i < cfg->nportals; i++) {
		if (vs_iscsi_add_portal(srv->is, cfg->portals[i]) < 0) {
			vsd_error("%s: portals[%zu]: %s: %s", cfg_name, i, cfg->portals[i], vs_last_error());
			goto fail;
		}
		vsd_debug("portal %s listening", cfg->portals[i]);
	}
	if (cfg->has_discovery_chap) {
		chap_view(&cfg->discovery_chap, &srv->discovery_chap);
		if (vs_iscsi_set_discovery_chap(srv->is, &srv->discovery_chap) < 0) {
			vsd_error("%s: discovery_chap: %s", cfg_name, vs_last_error());
			goto fail;
		}
	}
	for (size_t i = 0; i < cfg->ntargets; i++)
		if (register_target(srv, i, cfg_name) < 0)
			goto fail;
	if (vs_iscsi_start(srv->is) < 0) {
		vsd_error("iscsi: %s", vs_last_error());
		goto fail;
	}
	srv->started = true;

	join_portals(cfg, portals, sizeof(portals));
	vsd_info("listening on %s", portals);
	if (cfg->ntargets == 0)
		vsd_warn("%s: no targets configured; initiators will find nothing", cfg_name);
	for (size_t i = 0; i < cfg->ntargets; i++)
		vsd_info("serving %s %s on %s", cfg->targets[i].iqn,
		         summaries[i][0] ? summaries[i] : "(no LUNs)", portals);
	free(summaries);
	return srv;

fail:
	free(summaries);
	if (srv)
		vsd_serve_stop(srv, 0);
	return NULL;
}

/* Flush then remove every LUN of a port: after this, everything the
 * initiators were told is written is on stable storage (file backends). */
static int drain_port(struct vsd_target *t)
{
	uint64_t luns[256];
	int failed = 0;
	size_t n;

	while ((n = vs_port_lun_list(t->port, luns, sizeof(luns) / sizeof(luns[0]))) > 0) {
		for (size_t i = 0; i < n; i++) {
			int rc = vs_port_lun_control(t->port, luns[i], VS_LUN_FLUSH, NULL);
			if (rc < 0) {
				vsd_error("%s: LUN %" PRIu64 ": flush failed: %s", t->cfg->iqn, luns[i],
				          vs_last_error());
				failed = -EIO;
			}
			rc = vs_port_lun_remove(t->port, luns[i], true);
			if (rc < 0) {
				vsd_error("%s: LUN %" PRIu64 ": remove failed: %s", t->cfg->iqn, luns[i],
				          vs_last_error());
				return -EIO;
			}
		}
	}
	return failed;
}

int vsd_serve_stop(struct vsd_server *srv, uint32_t grace_ms)
{
	int rc = 0;
	if (!srv)
		return 0;
	if (srv->is && srv->started) {
		vsd_debug("stopping the iSCSI fabric (grace %" PRIu32 " ms)", grace_ms);
		vs_iscsi_stop(srv->is, grace_ms);
	}
	for (size_t i = 0; i < srv->ntargets; i++) {
		struct vsd_target *t = &srv->targets[i];
		if (t->port && drain_port(t) < 0)
			rc = -EIO;
	}
	if (srv->is)
		vs_iscsi_destroy(srv->is);
	for (size_t i = 0; i < srv->ntargets; i++)
		if (srv->targets[i].port)
			vs_port_destroy(srv->targets[i].port);
	free(srv->targets);
	free(srv);
	return rc;
}
