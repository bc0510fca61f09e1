/* SPDX-License-Identifier: MIT */
/*
 * vstorctl top: a live per-LUN table (IOPS, MB/s, latency percentiles of
 * the last interval, queue depth) refreshed every interval, 80 columns
 * wide.  Each refresh is one "stats" request; rates and percentiles come
 * from the difference between two replies (the latency histogram's
 * buckets: powers of two microseconds, so a percentile is a bucket's upper
 * bound).  On a terminal each frame replaces the last; into a pipe frames
 * follow each other, separated by a blank line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "top.h"

#define HIST_MAX 64

struct sample {
	char name[64];          /* target/lun as shown */
	const char *target;
	json_int_t lun;
	uint64_t r_ops, w_ops, r_bytes, w_bytes;
	uint64_t hist[HIST_MAX];
	size_t nhist;
	int qd_used, qd_limit;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t u(json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (uint64_t)v : 0;
}

/* "iqn.2026-11.org.vstor:disk1" shows as "disk1": the part after the last
 * colon, which is what tells a site's targets apart. */
static void short_name(const char *iqn, json_int_t lun, char *out, size_t len)
{
	const char *colon = strrchr(iqn, ':');
	const char *s = colon && colon[1] ? colon + 1 : iqn;
	char lunbuf[24];
	int room;

	snprintf(lunbuf, sizeof(lunbuf), "/%" JSON_INTEGER_FORMAT, lun);
	room = 22 - (int)strlen(lunbuf);
	if ((int)strlen(s) > room)      /* keep the end: it differs */
		snprintf(out, len, "~%s%s", s + strlen(s) - (size_t)(room - 1), lunbuf);
	else
		snprintf(out, len, "%s%s", s, lunbuf);
}

static size_t take(json_t *result, struct sample **out)
{
	json_t *luns = json_object_get(result, "luns"), *l;
	size_t n = json_array_size(luns), i;
	struct sample *s = calloc(n ? n : 1, sizeof(*s));

	*out = s;
	if (!s)
		return 0;
	json_array_foreach(luns, i, l) {
		json_t *hist = json_object_get(json_object_get(l, "latency_us"), "histogram"), *b;
		size_t k;

		s[i].target = json_string_value(json_object_get(l, "target"));
		s[i].lun = json_integer_value(json_object_get(l, "lun"));
		short_name(s[i].target ? s[i].target : "?", s[i].lun, s[i].name, sizeof(s[i].name));
		s[i].r_ops = u(l, "read_ops");
		s[i].w_ops = u(l, "write_ops");
		s[i].r_bytes = u(l, "read_bytes");
		s[i].w_bytes = u(l, "write_bytes");
		s[i].qd_used = (int)u(l, "queue_depth_in_use");
		s[i].qd_limit = (int)u(l, "queue_depth_limit");
		json_array_foreach(hist, k, b)
			if (k < HIST_MAX)
				s[i].hist[s[i].nhist++] = (uint64_t)json_integer_value(b);
	}
	return n;
}

static const struct sample *find(const struct sample *s, size_t n, const struct sample *want)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].lun == want->lun && s[i].target && want->target &&
		    strcmp(s[i].target, want->target) == 0)
			return &s[i];
	return NULL;
}

/* Percentile p of the commands completed in the interval: the upper bound
 * of the bucket it falls in (us); 0 if none completed. */
static uint64_t percentile(const struct sample *a, const struct sample *b, unsigned p)
{
	uint64_t d[HIST_MAX], total = 0, cum = 0, want;

	for (size_t i = 0; i < a->nhist; i++) {
		d[i] = i < b->nhist && a->hist[i] >= b->hist[i] ? a->hist[i] - b->hist[i] : 0;
		total += d[i];
	}
	if (!total)
		return 0;
	want = (p * total + 99) / 100;  /* rounded up: p99 of 10 is the 10th */
	for (size_t i = 0; i < a->nhist; i++) {
		cum += d[i];
		if (cum >= want)
			return 1ull << i;
	}
	return 1ull << (a->nhist - 1);
}

/* 7 columns at most: "512us", "1.0ms", "2.1s", "-" for none. */
static void fmt_lat(uint64_t us, char *out, size_t len)
{
	if (!us)
		snprintf(out, len, "-");
	else if (us < 1000)
		snprintf(out, len, "%" PRIu64 "us", us);
	else if (us < 1000000)
		snprintf(out, len, "%.1fms", (double)us / 1e3);
	else
		snprintf(out, len, "%.1fs", (double)us / 1e6);
}

static void fmt_rate(double v, bool bytes, char *out, size_t len)
{
	if (bytes)
		snprintf(out, len, v / 1e6 < 99999.5 ? "%.1f" : "%.0f", v / 1e6);
	else
		snprintf(out, len, "%.0f", v);
}

static void frame(const struct sample *now, size_t n, const struct sample *prev, size_t np,
                  double dt, double interval, bool tty)
{
	char clock[16];
	time_t t = time(NULL);
	struct tm tm;
	double tot_r = 0, tot_w = 0;

	for (size_t i = 0; i < n; i++) {
		const struct sample *b = find(prev, np, &now[i]);

		if (b) {
			tot_r += (double)(now[i].r_ops - b->r_ops) / dt;
			tot_w += (double)(now[i].w_ops - b->w_ops) / dt;
		}
	}
	localtime_r(&t, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	if (tty)
		fputs("\033[H\033[2J", stdout);         /* home, clear: the new frame replaces the old */
	printf("vstorctl top  %s  every %.1f s  %zu LUN%s  %.0f read IOPS  %.0f write IOPS\n\n",
	       clock, interval, n, n == 1 ? "" : "s", tot_r, tot_w);
	printf("%-22s %7s %7s %7s %7s %7s %7s %8s\n", "TARGET/LUN", "R-IOPS", "W-IOPS", "R-MB/s",
	       "W-MB/s", "P50", "P99", "QD");
	for (size_t i = 0; i < n; i++) {
		const struct sample *a = &now[i], *b = find(prev, np, a);
		char ri[16] = "-", wi[16] = "-", rm[16] = "-", wm[16] = "-", p50[16] = "-",
		     p99[16] = "-", qd[24];

		if (b && a->r_ops >= b->r_ops && a->w_ops >= b->w_ops) {
			fmt_rate((double)(a->r_ops - b->r_ops) / dt, false, ri, sizeof(ri));
			fmt_rate((double)(a->w_ops - b->w_ops) / dt, false, wi, sizeof(wi));
			fmt_rate((double)(a->r_bytes - b->r_bytes) / dt, true, rm, sizeof(rm));
			fmt_rate((double)(a->w_bytes - b->w_bytes) / dt, true, wm, sizeof(wm));
			fmt_lat(percentile(a, b, 50), p50, sizeof(p50));
			fmt_lat(percentile(a, b, 99), p99, sizeof(p99));
		}
		snprintf(qd, sizeof(qd), "%d/%d", a->qd_used, a->qd_limit);
		printf("%-22s %7.7s %7.7s %7.7s %7.7s %7.7s %7.7s %8.8s\n", a->name, ri, wi, rm, wm, p50,
		       p99, qd);
	}
	if (!n)
		printf("no LUNs\n");
	if (!tty)
		putchar('\n');
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: vstorctl top [--target IQN] [--interval SECONDS] [--count N]\n"
	           "Live per-LUN table: IOPS, MB/s, latency percentiles of the interval, queue depth\n"
	           "(in use/limit); 80 columns.  Ctrl-C ends it.\n\n"
	           "  %-26s %s\n  %-26s %s\n  %-26s %s\n  %-26s %s\n",
	           "--target IQN", "only this target's LUNs",
	           "--interval SECONDS", "refresh period, 0.1-3600 (default 1)",
	           "--count N", "stop after N frames (default: run until interrupted)",
	           "--socket PATH", "vstord's control socket");
}

int vsc_top(int argc, char **argv, const char *socket_path)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' }, { "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },  { "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	const char *target = NULL;
	double interval = 1.0;
	long count = 0;
	char *end;
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			target = optarg;
			break;
		case 'i':
			interval = strtod(optarg, &end);
			if (*end || !(interval >= 0.1 && interval <= 3600)) {
				fprintf(stderr, "vstorctl top: --interval: must be 0.1-3600 seconds, got '%s' "
				                "(see vstorctl top --help)\n", optarg);
				return 2;
			}
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end || count < 1) {
				fprintf(stderr, "vstorctl top: --count: must be a number of frames >= 1, got "
				                "'%s' (see vstorctl top --help)\n", optarg);
				return 2;
			}
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "vstorctl top: %s: %s (see vstorctl top --help)\n",
			        argv[optind - 1], c == ':' ? "needs an argument" : "unknown option");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vstorctl top: %s: unexpected argument (see vstorctl top --help)\n",
		        argv[optind]);
		return 2;
	}

	bool tty = isatty(STDOUT_FILENO);
	struct sample *prev = NULL;
	json_t *prev_res = NULL;
	size_t np = 0;
	double t_prev = 0;
	int rc = 0;

	for (long shown = 0; !count || shown < count;) {
		char err[1024];
		json_t *error = NULL, *params = json_object();

		if (target)
			json_object_set_new(params, "target", json_string(target));
		json_t *res = vsc_call(socket_path, "stats", params, err, sizeof(err), &error);
		double t = now_s();

		if (!res) {
			fprintf(stderr, "vstorctl: %s\n", err);
			rc = error ? 1 : 3;
			json_decref(error);
			break;
		}
		struct sample *now;
		size_t n = take(res, &now);

		if (prev_res) {
			frame(now, n, prev, np, t - t_prev, interval, tty);
			shown++;
		}
		free(prev);
		json_decref(prev_res);  /* the samples point into their reply */
		prev = now;
		prev_res = res;
		np = n;
		t_prev = t;
		if (count && shown >= count)
			break;
		struct timespec ts = { (time_t)interval,
			               (long)((interval - (double)(time_t)interval) * 1e9) };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	free(prev);
	json_decref(prev_res);
	return rc;
}
