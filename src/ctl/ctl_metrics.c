/* SPDX-License-Identifier: MIT */
/*
 * The running state as Prometheus metrics (text exposition format 0.0.4):
 * per LUN (labels target, lun, backend; "service" for a LUN a service
 * attached) operations, bytes, errors by sense
 * key, aborts, timeouts, resets, BUSY and TASK SET FULL answers, queue
 * depth in use and its limit, latency as a histogram, the backend's state;
 * the state of layers that tell one (a mirror: in sync, degraded, resyncing,
 * its copy's progress and bytes; labels layer and type, no layer known by
 * name here); per target sessions and logins refused by reason; for the
 * iSCSI fabric, connections and sessions held and admission's refusals and
 * drops by reason.
 *
 * The latency buckets are the port's (src/port/stats.c): powers of two
 * microseconds, measured with CLOCK_MONOTONIC from the port's accepting a
 * command to its completion, so a bucket le="X" counts the commands that
 * took less than X seconds (1 us, 2 us, 4 us ... 2^30 us, then +Inf).
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl_int.h"
#include "vstor/bdev.h"
#include "vstor/iscsi.h"
#include "vstor/port.h"
#include "vstor/service_host.h"

/* One LUN's figures, taken under the state's lock. */
struct lun_snap {
	const char *iqn;
	uint64_t lun;
	const char *backend;
	struct vs_lun_stats s;
	int state;              /* enum vs_bdev_state; -1: no open stack */
	struct vs_config_lun *cfg;      /* the model, for its layers (under the lock) */
};

/* SPC-4 4.5.6 Table 27; 6 (UNIT ATTENTION) is not an error, 0Ch is reserved. */
static const char *const sense_keys[16] = {
	"no_sense", "recovered_error", "not_ready", "medium_error", "hardware_error",
	"illegal_request", NULL, "data_protect", "blank_check", "vendor_specific",
	"copy_aborted", "aborted_command", NULL, "volume_overflow", "miscompare", "completed",
};

/* A label value: backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *name, const char *v)
{
	fprintf(f, "%s=\"", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{target="",lun="",backend=""[,extra="v"]} and a space: the value follows. */
static void lun_series(FILE *f, const char *name, const struct lun_snap *l, const char *extra,
                       const char *extra_v)
{
	char lun[24];

	snprintf(lun, sizeof(lun), "%" PRIu64, l->lun);
	fprintf(f, "%s{", name);
	put_label(f, "target", l->iqn);
	fputc(',', f);
	put_label(f, "lun", lun);
	fputc(',', f);
	put_label(f, "backend", l->backend);
	if (extra) {
		fputc(',', f);
		put_label(f, extra, extra_v);
	}
	fputs("} ", f);
}

static void lun_sample(FILE *f, const char *name, const struct lun_snap *l, const char *extra,
                       const char *extra_v, uint64_t v)
{
	lun_series(f, name, l, extra, extra_v);
	fprintf(f, "%" PRIu64 "\n", v);
}

static void histogram(FILE *f, const struct lun_snap *l, size_t n)
{
	family(f, "vstor_lun_latency_seconds", "histogram",
	       "Command latency at the port, accepted to completed");
	for (size_t i = 0; i < n; i++) {
		const struct vs_lun_stats *s = &l[i].s;
		uint64_t cum = 0;
		char le[32];

		for (unsigned b = 0; b < VS_LAT_BUCKETS - 1; b++) {
			cum += s->latency_us_hist[b];
			snprintf(le, sizeof(le), "%g", (double)(1ull << b) / 1e6);
			lun_sample(f, "vstor_lun_latency_seconds_bucket", &l[i], "le", le, cum);
		}
		cum += s->latency_us_hist[VS_LAT_BUCKETS - 1];
		lun_sample(f, "vstor_lun_latency_seconds_bucket", &l[i], "le", "+Inf", cum);
		lun_series(f, "vstor_lun_latency_seconds_sum", &l[i], NULL, NULL);
		fprintf(f, "%.9f\n", (double)s->latency_ns_sum / 1e9);
		lun_sample(f, "vstor_lun_latency_seconds_count", &l[i], NULL, NULL, cum);
	}
}

/* The counters and gauges that are one field of vs_lun_stats each. */
static const struct {
	const char *name, *type, *help;
	size_t off;
	int width;              /* 8: uint64_t, 4: uint32_t */
} plain[] = {
	{ "vstor_lun_aborts_total", "counter", "Commands aborted (task management, resets, removal)",
	  offsetof(struct vs_lun_stats, aborts), 8 },
	{ "vstor_lun_timeouts_total", "counter", "Commands that timed out at the port",
	  offsetof(struct vs_lun_stats, timeouts), 8 },
	{ "vstor_lun_resets_total", "counter", "LOGICAL UNIT RESETs and wider resets of the LUN",
	  offsetof(struct vs_lun_stats, resets), 8 },
	{ "vstor_lun_busy_total", "counter", "Commands answered BUSY",
	  offsetof(struct vs_lun_stats, busy), 8 },
	{ "vstor_lun_task_set_full_total", "counter", "Commands answered TASK SET FULL",
	  offsetof(struct vs_lun_stats, task_set_full), 8 },
	{ "vstor_lun_reservation_conflicts_total", "counter",
	  "Commands answered RESERVATION CONFLICT (SPC-4 5.13)",
	  offsetof(struct vs_lun_stats, reservation_conflicts), 8 },
	{ "vstor_lun_queue_depth", "gauge", "Commands running at the LUN now (queue depth in use)",
	  offsetof(struct vs_lun_stats, in_flight), 4 },
	{ "vstor_lun_queue_depth_limit", "gauge", "Commands the LUN runs at once at most",
	  offsetof(struct vs_lun_stats, queue_depth), 4 },
	{ "vstor_lun_commands_held", "gauge", "Commands waiting for a queue slot",
	  offsetof(struct vs_lun_stats, held), 4 },
};

static void lun_metrics(FILE *f, const struct lun_snap *l, size_t n)
{
	family(f, "vstor_lun_operations_total", "counter",
	       "SCSI commands completed, by what they do to the medium");
	for (size_t i = 0; i < n; i++) {
		lun_sample(f, "vstor_lun_operations_total", &l[i], "op", "read", l[i].s.read_ops);
		lun_sample(f, "vstor_lun_operations_total", &l[i], "op", "write", l[i].s.write_ops);
		lun_sample(f, "vstor_lun_operations_total", &l[i], "op", "other", l[i].s.other_ops);
	}
	family(f, "vstor_lun_bytes_total", "counter", "Bytes moved with the initiator by good commands");
	for (size_t i = 0; i < n; i++) {
		lun_sample(f, "vstor_lun_bytes_total", &l[i], "op", "read", l[i].s.read_bytes);
		lun_sample(f, "vstor_lun_bytes_total", &l[i], "op", "write", l[i].s.write_bytes);
	}
	family(f, "vstor_lun_errors_total", "counter",
	       "CHECK CONDITION answers other than UNIT ATTENTION, by sense key");
	for (size_t i = 0; i < n; i++)
		for (unsigned k = 0; k < 16; k++)
			if (sense_keys[k])
				lun_sample(f, "vstor_lun_errors_total", &l[i], "sense_key", sense_keys[k],
				           l[i].s.errors_by_key[k]);
	for (size_t p = 0; p < sizeof(plain) / sizeof(plain[0]); p++) {
		family(f, plain[p].name, plain[p].type, plain[p].help);
		for (size_t i = 0; i < n; i++) {
			const char *at = (const char *)&l[i].s + plain[p].off;
			uint64_t v = plain[p].width == 8 ? *(const uint64_t *)(const void *)at
			                                 : *(const uint32_t *)(const void *)at;

			lun_sample(f, plain[p].name, &l[i], NULL, NULL, v);
		}
	}
	histogram(f, l, n);
	family(f, "vstor_lun_backend_state", "gauge",
	       "1 for the state the LUN's block stack is in (connected, reconnecting, failed)");
	for (size_t i = 0; i < n; i++)
		for (int st = 0; l[i].state >= 0 && st < CTL_BDEV_STATES; st++)
			lun_sample(f, "vstor_lun_backend_state", &l[i], "state", vs_ctl_bdev_state_name(st),
			           l[i].state == st);
}

/* ---- layers with a state of their own (vs_bdev_layer_state) ---- */

enum { LAYER_STATE, LAYER_PROGRESS, LAYER_VALUE };

struct layer_walk {
	FILE *f;
	const struct lun_snap *l;
	int what;
};

struct layer_kv {
	struct layer_walk *w;
	struct ctl_layer *cl;
};

static void layer_series(struct layer_walk *w, const char *name, const struct ctl_layer *cl,
                         const char *extra, const char *extra_v)
{
	char lun[24];

	snprintf(lun, sizeof(lun), "%" PRIu64, w->l->lun);
	fprintf(w->f, "%s{", name);
	put_label(w->f, "target", w->l->iqn);
	fputc(',', w->f);
	put_label(w->f, "lun", lun);
	fputc(',', w->f);
	put_label(w->f, "backend", w->l->backend);
	fputc(',', w->f);
	put_label(w->f, "layer", cl->self);
	fputc(',', w->f);
	put_label(w->f, "type", cl->name);
	if (extra) {
		fputc(',', w->f);
		put_label(w->f, extra, extra_v);
	}
	fputs("} ", w->f);
}

static bool is_number(const char *v)
{
	if (!*v)
		return false;
	for (; *v; v++)
		if (*v < '0' || *v > '9')
			return false;
	return true;
}

/* One key of a layer's state: "state" is a label ("resyncing 42%": state
 * "resyncing", progress 42); a whole number is a value; other keys (a
 * line per leg) are for lun.list, not metrics. */
static void layer_key(void *ctx, const char *key, const char *value)
{
	struct layer_kv *k = ctx;
	struct layer_walk *w = k->w;
	const char *pct = strchr(value, '%');
	char state[64];
	size_t n;

	if (strcmp(key, "state") == 0) {
		n = strcspn(value, "0123456789");
		while (n && value[n - 1] == ' ')
			n--;
		snprintf(state, sizeof(state), "%.*s", (int)n, value);
		if (w->what == LAYER_STATE) {
			layer_series(w, "vstor_lun_layer_state", k->cl, "state", state);
			fputs("1\n", w->f);
		} else if (w->what == LAYER_PROGRESS && pct && value[n]) {
			layer_series(w, "vstor_lun_layer_progress_percent", k->cl, NULL, NULL);
			fprintf(w->f, "%.*s\n", (int)(pct - value - n - 1 > 0 ? pct - value - n - 1 : 0),
			        value + n + 1);
		}
		return;
	}
	if (w->what == LAYER_VALUE && is_number(value)) {
		layer_series(w, "vstor_lun_layer_value", k->cl, "key", key);
		fprintf(w->f, "%s\n", value);
	}
}

static int layer_visit(void *ctx, struct ctl_layer *cl)
{
	struct layer_walk *w = ctx;
	struct layer_kv k = { w, cl };

	vs_bdev_layer_state(w->l->cfg->bdev, cl->index, layer_key, &k);
	return 0;
}

static void layer_metrics(FILE *f, const struct lun_snap *l, size_t n)
{
	static const char *const fam[][2] = {
		{ "vstor_lun_layer_state", "1 for the state a layer of the LUN's stack is in, as the "
		                           "layer names it (a mirror: in sync, degraded, resyncing)" },
		{ "vstor_lun_layer_progress_percent", "How far the work a layer's state names is (a "
		                                      "mirror's resync), 0-100" },
		{ "vstor_lun_layer_value", "Figures a layer tells of itself, by key (a mirror: "
		                           "resync_copied bytes, resync_regions, region)" },
	};

	for (int what = LAYER_STATE; what <= LAYER_VALUE; what++) {
		family(f, fam[what][0], "gauge", fam[what][1]);
		for (size_t i = 0; i < n; i++) {
			struct layer_walk w = { f, &l[i], what };

			if (l[i].cfg && l[i].cfg->bdev)
				vs_ctl_stack_walk(&l[i].cfg->stack, true, layer_visit, &w);
		}
	}
}

static int target_metrics(FILE *f, struct vs_ctl_state *st)
{
	const struct vs_config *cfg = st->cfg;
	struct vs_iscsi_target_stats *ts = calloc(cfg->ntargets ? cfg->ntargets : 1, sizeof(*ts));

	if (!ts)
		return -1;
	for (size_t i = 0; i < cfg->ntargets; i++)
		if (!st->is || vs_iscsi_target_stats(st->is, cfg->targets[i].iqn, &ts[i]) < 0)
			memset(&ts[i], 0, sizeof(ts[i]));
	family(f, "vstor_target_sessions", "gauge", "iSCSI sessions logged in to the target");
	for (size_t i = 0; i < cfg->ntargets; i++) {
		fputs("vstor_target_sessions{", f);
		put_label(f, "target", cfg->targets[i].iqn);
		fprintf(f, "} %" PRIu32 "\n", ts[i].sessions);
	}
	family(f, "vstor_target_logins_refused_total", "counter",
	       "Logins refused: CHAP failed (auth) or initiator not in the ACL (acl)");
	for (size_t i = 0; i < cfg->ntargets; i++) {
		fputs("vstor_target_logins_refused_total{", f);
		put_label(f, "target", cfg->targets[i].iqn);
		fprintf(f, ",reason=\"auth\"} %" PRIu64 "\n", ts[i].logins_refused_auth);
		fputs("vstor_target_logins_refused_total{", f);
		put_label(f, "target", cfg->targets[i].iqn);
		fprintf(f, ",reason=\"acl\"} %" PRIu64 "\n", ts[i].logins_refused_acl);
	}
	free(ts);
	return 0;
}

/* The iSCSI fabric's admission, daemon-wide (vs_iscsi_admission_stats):
 * the same reasons as vstorctl stats. */
static void admission_metrics(FILE *f, struct vs_iscsi *is)
{
	struct vs_iscsi_admission_stats a;

	if (!is || vs_iscsi_admission_stats(is, &a) < 0)
		return;
	family(f, "vstor_iscsi_connections", "gauge", "iSCSI connections open, logging in or not");
	fprintf(f, "vstor_iscsi_connections %" PRIu32 "\n", a.connections);
	family(f, "vstor_iscsi_login_connections", "gauge",
	       "iSCSI connections still logging in (max_login_connections)");
	fprintf(f, "vstor_iscsi_login_connections %" PRIu32 "\n", a.logins);
	family(f, "vstor_iscsi_sessions", "gauge",
	       "iSCSI sessions: normal (max_sessions) and discovery (max_discovery_sessions)");
	fprintf(f, "vstor_iscsi_sessions{type=\"normal\"} %" PRIu32 "\n", a.sessions);
	fprintf(f, "vstor_iscsi_sessions{type=\"discovery\"} %" PRIu32 "\n", a.discovery_sessions);
	family(f, "vstor_iscsi_refused_total", "counter",
	       "iSCSI connections and logins refused, by the limit that refused them");
	for (int i = 0; i < VS_ISCSI_FIRST_DROP; i++)
		fprintf(f, "vstor_iscsi_refused_total{reason=\"%s\"} %" PRIu64 "\n",
		        vs_iscsi_admission_event_name(i), a.events[i]);
	family(f, "vstor_iscsi_dropped_total", "counter",
	       "iSCSI connections dropped by admission: login timeout, evicted logins, idle or "
	       "replaced discovery sessions");
	for (int i = VS_ISCSI_FIRST_DROP; i < VS_ISCSI_ADMISSION_EVENTS; i++)
		fprintf(f, "vstor_iscsi_dropped_total{reason=\"%s\"} %" PRIu64 "\n",
		        vs_iscsi_admission_event_name(i), a.events[i]);
}

char *vs_ctl_metrics(struct vs_ctl_state *st, size_t *len)
{
	struct lun_snap *snap = NULL;
	size_t n = 0, cap = 0;
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f)
		return NULL;
	pthread_mutex_lock(&st->lock);
	size_t nsvc;
	struct vs_svc_lun_info *svc = vs_ctl_service_luns(st, &nsvc);
	cap = nsvc;
	for (size_t ti = 0; ti < st->cfg->ntargets; ti++)
		cap += st->cfg->targets[ti].nluns;
	snap = calloc(cap ? cap : 1, sizeof(*snap));
	for (size_t ti = 0; snap && ti < st->cfg->ntargets; ti++) {
		const struct vs_config_target *t = &st->cfg->targets[ti];

		for (size_t li = 0; li < t->nluns; li++) {
			struct lun_snap *l = &snap[n];

			if (vs_port_lun_stats(st->rt[ti].port, t->luns[li].lun, &l->s) < 0)
				continue;
			l->iqn = t->iqn;
			l->lun = t->luns[li].lun;
			/* over a volume: its type */
			l->backend = t->luns[li].backend ? t->luns[li].backend
			                                 : t->luns[li].volume->type;
			l->cfg = &t->luns[li];
			l->state = -1;
			if (t->luns[li].bdev) {
				struct vs_bdev_status bs;

				vs_bdev_get_status(t->luns[li].bdev, &bs);
				l->state = bs.state;
			}
			n++;
		}
	}
	/* LUNs services attached (ctl_service.c): backend "service", the
	 * state whether their service is there (away: its commands are
	 * answered NOT READY until it comes back, as a reconnecting stack's) */
	for (size_t i = 0; snap && i < nsvc; i++) {
		struct lun_snap *l = &snap[n];
		size_t ti = 0;

		while (ti < st->cfg->ntargets && strcasecmp(st->cfg->targets[ti].iqn, svc[i].target))
			ti++;
		if (ti == st->cfg->ntargets ||
		    vs_port_lun_stats(st->rt[ti].port, svc[i].lun, &l->s) < 0)
			continue;
		l->iqn = st->cfg->targets[ti].iqn;
		l->lun = svc[i].lun;
		l->backend = "service";
		l->state = svc[i].state == VS_SVC_CONNECTED ? VS_BDEV_READY : VS_BDEV_LOST;
		n++;
	}
	free(svc);
	int rc = -1;
	if (snap) {
		lun_metrics(f, snap, n);
		layer_metrics(f, snap, n);
		rc = target_metrics(f, st);
		admission_metrics(f, st->is);
	}
	pthread_mutex_unlock(&st->lock);
	free(snap);
	if (fclose(f) != 0 || rc < 0) {
		free(text);
		return NULL;
	}
	return text;
}
