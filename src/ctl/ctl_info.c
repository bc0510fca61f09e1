/* SPDX-License-Identifier: MIT */
/* session.list, stats, config.save: reading the running state. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_int.h"
#include "vstor/iscsi.h"
#include "vstor/port.h"
#include "vstor/service_host.h"

json_t *vs_ctl_session_list(struct ctl_call *c)
{
	static const char *const keys[] = { "target", NULL };
	struct vs_ctl_state *st = c->st;
	const char *only = NULL;
	if (vs_ctl_check_keys(c, keys) < 0 || vs_ctl_param_iqn(c, "target", false, &only) < 0)
		return NULL;
	json_t *arr = json_array();
	if (!arr)
		return NULL;
	size_t cap = 256, n = 0;
	struct vs_iscsi_session_info *s = NULL;
	while (st->is) {
		free(s);
		if (!(s = calloc(cap, sizeof(*s)))) {
			json_decref(arr);
			return NULL;
		}
		n = vs_iscsi_sessions(st->is, s, cap);
		if (n < cap)
			break;
		cap *= 2;
	}
	for (size_t i = 0; i < n; i++) {
		if (only && strcasecmp(s[i].target, only) != 0)
			continue;
		char isid[13];
		for (int b = 0; b < 6; b++)
			snprintf(isid + 2 * b, 3, "%02x", s[i].isid[b]);
		/* The operational parameters negotiated at login (RFC 7143 §13). */
		json_t *params = json_pack(
			"{s:b,s:b,s:I,s:I,s:I,s:I,s:b,s:b}", "header_digest", s[i].header_digest,
			"data_digest", s[i].data_digest, "max_recv_data_segment_length",
			(json_int_t)s[i].max_recv_dsl, "max_xmit_data_segment_length",
			(json_int_t)s[i].max_xmit_dsl, "max_burst_length", (json_int_t)s[i].max_burst,
			"first_burst_length", (json_int_t)s[i].first_burst, "immediate_data",
			s[i].immediate_data, "initial_r2t", s[i].initial_r2t);
		json_t *o = json_pack("{s:s,s:s,s:s,s:i,s:I,s:s,s:o}", "initiator", s[i].initiator,
		                      "target", s[i].target, "isid", isid, "tsih", (int)s[i].tsih,
		                      "connections", (json_int_t)s[i].connections, "peer", s[i].peer,
		                      "params", params);
		if (!o || json_array_append_new(arr, o)) {
			free(s);
			json_decref(arr);
			return NULL;
		}
	}
	free(s);
	return json_pack("{s:o,s:o*}", "sessions", arr, "nbd_sessions", vs_ctl_nbd_sessions(st));
}

int vs_ctl_state_summary(struct vs_ctl_state *st, struct vs_ctl_summary *out, bool wait)
{
	*out = (struct vs_ctl_summary){ 0 };
	if (!wait && pthread_mutex_trylock(&st->lock) != 0)
		return -EBUSY;
	if (wait)
		pthread_mutex_lock(&st->lock);
	out->targets = st->cfg->ntargets;
	for (size_t i = 0; i < st->cfg->ntargets; i++) {
		out->luns += st->cfg->targets[i].nluns;
		out->sessions += vs_ctl_sessions_on(st, st->cfg->targets[i].iqn);
	}
	/* and those services attached (they are in no target's model) */
	if (st->svc)
		out->luns += vs_svc_host_luns(st->svc, NULL, 0);
	pthread_mutex_unlock(&st->lock);
	return 0;
}

static json_t *stats_json(const char *iqn, uint64_t lun, const struct vs_lun_stats *s)
{
	json_t *lat = json_pack("{s:I,s:I,s:I}", "p50", (json_int_t)vs_lun_stats_percentile_us(s, 50),
	                        "p99", (json_int_t)vs_lun_stats_percentile_us(s, 99), "p99_9",
	                        (json_int_t)vs_lun_stats_percentile_us(s, 99.9));
	/* the histogram itself, so a client can take percentiles of an
	 * interval (vstorctl top): bucket i counts latencies < 2^i us */
	json_t *hist = json_array();
	for (unsigned i = 0; hist && i < VS_LAT_BUCKETS; i++)
		json_array_append_new(hist, json_integer((json_int_t)s->latency_us_hist[i]));
	if (lat && hist)
		json_object_set_new(lat, "histogram", hist);
	else
		json_decref(hist);
	json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "target", iqn, "lun",
	                      (json_int_t)lun, "ops",
	                      (json_int_t)(s->read_ops + s->write_ops + s->other_ops), "read_ops",
	                      (json_int_t)s->read_ops, "write_ops", (json_int_t)s->write_ops,
	                      "other_ops", (json_int_t)s->other_ops, "bytes",
	                      (json_int_t)(s->read_bytes + s->write_bytes), "read_bytes",
	                      (json_int_t)s->read_bytes);
	if (!o || !lat) {
		json_decref(o);
		json_decref(lat);
		return NULL;
	}
	/* The queue depth is a limit (commands the LUN runs at once) and a use
	 * (commands running now, at the miniport); held ones wait for a slot. */
	json_t *more = json_pack(
		"{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:i,s:o}", "write_bytes", (json_int_t)s->write_bytes,
		"errors", (json_int_t)s->errors, "timeouts", (json_int_t)s->timeouts, "aborts",
		(json_int_t)s->aborts, "resets", (json_int_t)s->resets, "busy", (json_int_t)s->busy,
		"task_set_full", (json_int_t)s->task_set_full, "reservation_conflicts",
		(json_int_t)s->reservation_conflicts, "queue_depth_limit", (int)s->queue_depth,
		"queue_depth_in_use", (int)s->in_flight, "held", (int)s->held, "latency_us", lat);
	if (!more || json_object_update(o, more)) {
		json_decref(more);
		json_decref(o);
		return NULL;
	}
	json_decref(more);
	return o;
}

/* The iSCSI fabric's admission (vs_iscsi_admission_stats): who holds what
 * now, and what was refused or dropped since start, by reason. */
static json_t *admission_json(struct vs_iscsi *is)
{
	struct vs_iscsi_admission_stats a;
	json_t *refused = json_object(), *dropped = json_object(), *o;

	if (!refused || !dropped || vs_iscsi_admission_stats(is, &a) < 0) {
		json_decref(refused);
		json_decref(dropped);
		return NULL;
	}
	for (int i = 0; i < VS_ISCSI_ADMISSION_EVENTS; i++)
		if (json_object_set_new(i < VS_ISCSI_FIRST_DROP ? refused : dropped,
		                        vs_iscsi_admission_event_name(i),
		                        json_integer((json_int_t)a.events[i]))) {
			json_decref(refused);
			json_decref(dropped);
			return NULL;
		}
	o = json_pack("{s:i,s:i,s:i,s:i,s:o,s:o}", "connections", (int)a.connections, "logins",
	              (int)a.logins, "sessions", (int)a.sessions, "discovery_sessions",
	              (int)a.discovery_sessions, "refused", refused, "dropped", dropped);
	return o;
}

json_t *vs_ctl_stats(struct ctl_call *c)
{
	static const char *const keys[] = { "target", "lun", NULL };
	struct vs_ctl_state *st = c->st;
	size_t only = 0;
	bool one = json_object_get(c->params, "target") != NULL, has_lun = false;
	uint64_t lun = 0;
	if (vs_ctl_check_keys(c, keys) < 0 || (one && vs_ctl_find_target(c, "target", &only) < 0) ||
	    vs_ctl_param_lun(c, "lun", false, &has_lun, &lun) < 0)
		return NULL;
	if (has_lun && !one)
		return vs_ctl_fail(c, VS_CTL_INVALID_PARAMS, "params.target: missing (required with lun)");
	struct vs_lun_stats s;
	if (has_lun && vs_port_lun_stats(st->rt[only].port, lun, &s) < 0)
		return vs_ctl_fail(c, VS_CTL_NOT_FOUND, "params.lun: no LUN %" PRIu64 " on %s (see lun.list)",
		                lun, st->cfg->targets[only].iqn);
	/* every LUN of the port: the configured ones and those services
	 * attached (ctl_service.c) */
	uint64_t *luns = malloc((VS_CONFIG_MAX_LUN + 1) * sizeof(*luns));
	json_t *arr = luns ? json_array() : NULL;
	for (size_t ti = 0; arr && ti < st->cfg->ntargets; ti++) {
		if (one && ti != only)
			continue;
		const struct vs_config_target *t = &st->cfg->targets[ti];
		size_t n = vs_port_lun_list(st->rt[ti].port, luns, (VS_CONFIG_MAX_LUN + 1));
		for (size_t li = 0; li < n; li++) {
			if (has_lun && luns[li] != lun)
				continue;
			if (vs_port_lun_stats(st->rt[ti].port, luns[li], &s) < 0)
				continue;
			json_t *o = stats_json(t->iqn, luns[li], &s);
			if (!o || json_array_append_new(arr, o)) {
				json_decref(arr);
				free(luns);
				return NULL;
			}
		}
	}
	free(luns);
	if (!arr)
		return NULL;
	/* The fabric's admission is daemon-wide: in the reply for everything. */
	if (!st->is || one)
		return json_pack("{s:o}", "luns", arr);
	json_t *adm = admission_json(st->is);
	if (!adm) {
		json_decref(arr);
		return NULL;
	}
	return json_pack("{s:o,s:o}", "luns", arr, "iscsi", adm);
}

/* The rename is a change to the directory: until the directory itself is
 * on stable storage, a crash may bring back the old file (or none). */
static int fsync_parent(const char *path, char *dir, size_t dirlen)
{
	const char *slash = strrchr(path, '/');
	/* config.save paths are absolute (vs_ctl_check_abs_path): "/x" is in "/". */
	size_t n = slash && slash != path ? (size_t)(slash - path) : 1;
	snprintf(dir, dirlen, "%.*s", (int)n, path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) != 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* Write to PATH.tmp, fsync, rename, fsync the directory: a crash leaves
 * the old file or the new one, never half of one, and once we answered the
 * new one stays. */
json_t *vs_ctl_config_save(struct ctl_call *c)
{
	struct vs_ctl_state *st = c->st;
	const char *path;
	if (vs_ctl_param_config_path(c, &path) < 0)
		return NULL;
	char tmp[4096 + 16];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return vs_ctl_fail(c, VS_CTL_FAILED, "params.path: cannot create %s: %s", tmp,
		                strerror(errno));
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return vs_ctl_fail(c, VS_CTL_INTERNAL, "config.save: out of memory");
	}
	int rc = vs_config_save(f, st->cfg);
	if (rc == 0 && (fflush(f) != 0 || fsync(fileno(f)) != 0))
		rc = -errno;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		return vs_ctl_fail(c, VS_CTL_FAILED, "params.path: cannot write %s: %s", path, strerror(-rc));
	}
	char dir[4096];
	rc = fsync_parent(path, dir, sizeof(dir));
	if (rc < 0)
		return vs_ctl_fail(c, VS_CTL_FAILED,
		                "params.path: wrote %s, but cannot fsync its directory %s: %s", path, dir,
		                strerror(-rc));
	return json_pack("{s:s}", "path", path);
}
