#include "report.h"
#include "ddigest.h"

#include <stdio.h>

static const char *rw_name(enum rw_mode m)
{
	return m == RW_READ ? "read" : m == RW_WRITE ? "write" : "mixed";
}

struct figures {
	uint64_t ios;
	double iops, mb_s, cpu_pct, cpu_us_per_io;
	struct hist all;
};

/* Note: struct hist is ~18 KiB; callers keep struct figures static. */
static void compute(const struct run_result *r, struct figures *f)
{
	f->ios = r->total.reads + r->total.writes;
	double w = r->window_s > 0 ? r->window_s : 1.0;
	f->iops = r->window_s > 0 ? (double)f->ios / w : 0.0;
	f->mb_s = r->window_s > 0
		  ? (double)(r->total.read_bytes + r->total.write_bytes) / 1e6 / w
		  : 0.0;
	double cpu = r->cpu_user_s + r->cpu_sys_s;
	f->cpu_pct = r->window_s > 0 ? cpu / w * 100.0 : 0.0;
	f->cpu_us_per_io = f->ios ? cpu * 1e6 / (double)f->ios : 0.0;
	hist_reset(&f->all);
	hist_merge(&f->all, &r->total.lat_read);
	hist_merge(&f->all, &r->total.lat_write);
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void text_lat(const char *name, const struct hist *h)
{
	if (!h->count)
		return;
	printf("  %-9s mean %.1f  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (us)\n",
	       name, hist_mean(h) / 1000.0, us(hist_quantile(h, 0.50)),
	       us(hist_quantile(h, 0.99)), us(hist_quantile(h, 0.999)),
	       us(h->max_ns));
}

void report_text(const struct options *o, const struct run_result *r)
{
	static struct figures f;
	compute(r, &f);
	printf("iscsi-load: %s %s bs=%u qd=%u sessions=%u threads=%u window=%.2fs\n",
	       rw_name(o->rw), o->pattern == PATTERN_SEQ ? "seq" : "random", o->bs,
	       o->qd, o->sessions, o->threads, r->window_s);
	if (o->fill)
		printf("  fill      %.2f s\n", r->fill_s);
	if (o->duration_s > 0) {
		printf("  IOPS      %.0f\n", f.iops);
		printf("  MB/s      %.1f\n", f.mb_s);
		printf("  I/Os      %llu (reads %llu, writes %llu)\n",
		       (unsigned long long)f.ios, (unsigned long long)r->total.reads,
		       (unsigned long long)r->total.writes);
		text_lat("latency", &f.all);
		if (o->rw == RW_MIXED) {
			text_lat("read", &r->total.lat_read);
			text_lat("write", &r->total.lat_write);
		}
		printf("  cpu       user %.2f s  sys %.2f s  = %.1f %% of one core, %.2f us per I/O\n",
		       r->cpu_user_s, r->cpu_sys_s, f.cpu_pct, f.cpu_us_per_io);
		if (o->target_pid && r->target_cpu_s >= 0)
			printf("  target    pid %d: %.2f s = %.1f %% of one core, %.2f us per I/O\n",
			       o->target_pid, r->target_cpu_s,
			       r->window_s > 0 ? r->target_cpu_s / r->window_s * 100.0 : 0.0,
			       f.ios ? r->target_cpu_s * 1e6 / (double)f.ios : 0.0);
	}
	printf("  errors    %llu", (unsigned long long)r->total.errors);
	if (r->dead_sessions)
		printf("  (%u session(s) lost)", r->dead_sessions);
	printf("\n");
	if (o->data_digest)
		printf("  digests   %llu data digests checked, %llu wrong\n",
		       (unsigned long long)ddigest_checked(), (unsigned long long)ddigest_errors());
	if (o->verify)
		printf("  verify    %llu blocks checked, %llu mismatches (read-back %.2f s)\n",
		       (unsigned long long)r->total.verified_blocks,
		       (unsigned long long)r->total.mismatches, r->readback_s);
}

static void json_lat(const char *name, const struct hist *h)
{
	printf(",\"%s\":{\"count\":%llu,\"mean\":%.2f,\"min\":%.2f,\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.2f,\"max\":%.2f}",
	       name, (unsigned long long)h->count, hist_mean(h) / 1000.0,
	       h->count ? us(h->min_ns) : 0.0, us(hist_quantile(h, 0.50)),
	       us(hist_quantile(h, 0.99)), us(hist_quantile(h, 0.999)),
	       us(h->max_ns));
}

void report_json(const struct options *o, const struct run_result *r)
{
	static struct figures f;
	compute(r, &f);
	printf("{\"tool\":\"iscsi-load\",\"rw\":\"%s\",\"pattern\":\"%s\",\"bs\":%u,\"qd\":%u,"
	       "\"sessions\":%u,\"threads\":%u,\"mix_read_pct\":%u,\"duration_s\":%.3f,\"warmup_s\":%.3f,"
	       "\"ios\":%llu,\"reads\":%llu,\"writes\":%llu,\"iops\":%.1f,\"mb_s\":%.2f",
	       rw_name(o->rw), o->pattern == PATTERN_SEQ ? "seq" : "random", o->bs, o->qd,
	       o->sessions, o->threads, o->rw == RW_MIXED ? o->mix_read_pct : (o->rw == RW_READ ? 100u : 0u),
	       r->window_s, o->warmup_s,
	       (unsigned long long)f.ios, (unsigned long long)r->total.reads,
	       (unsigned long long)r->total.writes, f.iops, f.mb_s);
	json_lat("lat_us", &f.all);
	json_lat("read_lat_us", &r->total.lat_read);
	json_lat("write_lat_us", &r->total.lat_write);
	printf(",\"errors\":%llu,\"dead_sessions\":%u", (unsigned long long)r->total.errors,
	       r->dead_sessions);
	printf(",\"fill_s\":%.3f", r->fill_s);
	printf(",\"digests\":{\"header\":%s,\"data\":%s,\"data_checked\":%llu,\"data_wrong\":%llu}",
	       o->header_digest ? "true" : "false", o->data_digest ? "true" : "false",
	       (unsigned long long)ddigest_checked(), (unsigned long long)ddigest_errors());
	printf(",\"verify\":{\"enabled\":%s,\"blocks_checked\":%llu,\"mismatches\":%llu,\"readback_s\":%.3f}",
	       o->verify ? "true" : "false", (unsigned long long)r->total.verified_blocks,
	       (unsigned long long)r->total.mismatches, r->readback_s);
	printf(",\"cpu\":{\"user_s\":%.3f,\"sys_s\":%.3f,\"pct_core\":%.1f,\"us_per_io\":%.3f}",
	       r->cpu_user_s, r->cpu_sys_s, f.cpu_pct, f.cpu_us_per_io);
	if (o->target_pid && r->target_cpu_s >= 0)
		printf(",\"target_cpu\":{\"pid\":%d,\"s\":%.3f,\"pct_core\":%.1f,\"us_per_io\":%.3f}",
		       o->target_pid, r->target_cpu_s,
		       r->window_s > 0 ? r->target_cpu_s / r->window_s * 100.0 : 0.0,
		       f.ios ? r->target_cpu_s * 1e6 / (double)f.ios : 0.0);
	else
		printf(",\"target_cpu\":null");
	printf("}\n");
}
