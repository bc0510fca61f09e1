/* iscsi-load: drives iSCSI LUNs with a fixed workload through libiscsi's
 * asynchronous API and reports IOPS, throughput, latency percentiles and its
 * own CPU use (so a reader can tell the initiator was not the bottleneck).
 *
 * Stages: optional fill (every chunk of the working set written once),
 * warm-up (load, nothing counted), the measured window, optional --verify
 * read-back. The main thread only keeps time; workers do all I/O. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ddigest.h"
#include "options.h"
#include "proc_cpu.h"
#include "report.h"
#include "session.h"
#include "worker.h"

enum { EXIT_OK = 0, EXIT_SETUP = 1, EXIT_MISMATCH = 3, EXIT_IO_ERRORS = 4 };

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Sleeps until deadline (CLOCK_MONOTONIC ns) in short steps, returning early
 * if every session has died: a dead run should not sit out its duration. */
static void sleep_until(struct run_control *ctl, unsigned n_sessions,
			uint64_t deadline)
{
	for (;;) {
		uint64_t t = now_ns();
		if (t >= deadline ||
		    atomic_load(&ctl->dead_sessions) >= n_sessions)
			return;
		uint64_t step = deadline - t;
		if (step > 100000000ull)
			step = 100000000ull;
		struct timespec ts = { .tv_sec = (time_t)(step / 1000000000ull),
				       .tv_nsec = (long)(step % 1000000000ull) };
		nanosleep(&ts, NULL);
	}
}

int main(int argc, char **argv)
{
	static struct options o;
	int rc = options_parse(&o, argc, argv);
	if (rc == 2)
		return EXIT_OK;
	if (rc)
		return EXIT_SETUP;
	/* A target closing the socket must surface as an error, not kill us. */
	signal(SIGPIPE, SIG_IGN);

	struct session *sessions = calloc(o.sessions, sizeof(*sessions));
	struct worker *workers = calloc(o.threads, sizeof(*workers));
	struct session **session_ptrs = calloc(o.sessions, sizeof(*session_ptrs));
	struct pollfd *pfds = calloc(o.sessions, sizeof(*pfds));
	static struct run_control ctl;
	if (!sessions || !workers || !session_ptrs || !pfds) {
		fprintf(stderr, "iscsi-load: out of memory\n");
		return EXIT_SETUP;
	}
	ctl.opt = &o;
	atomic_store(&ctl.phase, PHASE_WARMUP);

	unsigned opened = 0;
	int exit_code = EXIT_OK;
	if (o.data_digest)
		ddigest_enable(o.header_digest);    /* before the first login */
	for (unsigned i = 0; i < o.sessions; i++) {
		const char *url = o.urls[i % o.n_urls];
		/* Sessions on the same URL split its working set between them. */
		unsigned share_idx = 0, share_n = 0;
		for (unsigned j = 0; j < o.sessions; j++) {
			if (strcmp(o.urls[j % o.n_urls], url))
				continue;
			if (j < i)
				share_idx++;
			share_n++;
		}
		if (session_open(&sessions[i], &o, i, url, share_idx, share_n)) {
			opened = i + 1;
			exit_code = EXIT_SETUP;
			goto out;
		}
		opened = i + 1;
	}

	/* Sessions go round-robin to threads; each thread polls only its own. */
	unsigned next = 0;
	for (unsigned t = 0; t < o.threads; t++) {
		struct worker *w = &workers[t];
		w->ctl = &ctl;
		w->sessions = &session_ptrs[next];
		w->pfds = &pfds[next];
		hist_reset(&w->stats.lat_read);
		hist_reset(&w->stats.lat_write);
		for (unsigned i = t; i < o.sessions; i += o.threads) {
			sessions[i].stats = &w->stats;
			sessions[i].phase = &ctl.phase;
			session_ptrs[next++] = &sessions[i];
			w->n_sessions++;
		}
	}

	pthread_barrier_init(&ctl.barrier, NULL, o.threads + 1);
	for (unsigned t = 0; t < o.threads; t++) {
		if (pthread_create(&workers[t].thread, NULL, worker_main, &workers[t])) {
			fprintf(stderr, "iscsi-load: --threads: cannot start thread %u\n", t);
			exit(EXIT_SETUP); /* barrier would never complete */
		}
	}

	static struct run_result r;
	r.target_cpu_s = -1.0;
	uint64_t t0 = now_ns();
	if (o.fill) {
		pthread_barrier_wait(&ctl.barrier);
		r.fill_s = (double)(now_ns() - t0) / 1e9;
	}
	pthread_barrier_wait(&ctl.barrier); /* everyone ready: start the clock */
	if (o.duration_s > 0) {
		uint64_t start = now_ns();
		sleep_until(&ctl, o.sessions, start + (uint64_t)(o.warmup_s * 1e9));
		struct rusage ru0, ru1;
		double tcpu0 = o.target_pid ? proc_cpu_seconds(o.target_pid) : -1.0;
		getrusage(RUSAGE_SELF, &ru0);
		uint64_t t1 = now_ns();
		atomic_store(&ctl.phase, PHASE_MEASURE);
		sleep_until(&ctl, o.sessions, t1 + (uint64_t)(o.duration_s * 1e9));
		atomic_store(&ctl.phase, PHASE_STOP);
		uint64_t t2 = now_ns();
		getrusage(RUSAGE_SELF, &ru1);
		double tcpu1 = o.target_pid ? proc_cpu_seconds(o.target_pid) : -1.0;
		r.target_cpu_s = tcpu0 >= 0 && tcpu1 >= 0 ? tcpu1 - tcpu0 : -1.0;
		r.window_s = (double)(t2 - t1) / 1e9;
		r.cpu_user_s = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime);
		r.cpu_sys_s = tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime);
		pthread_barrier_wait(&ctl.barrier);
	}
	if (o.verify) {
		uint64_t t3 = now_ns();
		pthread_barrier_wait(&ctl.barrier);
		r.readback_s = (double)(now_ns() - t3) / 1e9;
	}
	for (unsigned t = 0; t < o.threads; t++)
		pthread_join(workers[t].thread, NULL);
	pthread_barrier_destroy(&ctl.barrier);

	hist_reset(&r.total.lat_read);
	hist_reset(&r.total.lat_write);
	for (unsigned t = 0; t < o.threads; t++) {
		const struct io_stats *s = &workers[t].stats;
		r.total.reads += s->reads;
		r.total.writes += s->writes;
		r.total.read_bytes += s->read_bytes;
		r.total.write_bytes += s->write_bytes;
		r.total.errors += s->errors;
		r.total.mismatches += s->mismatches;
		r.total.verified_blocks += s->verified_blocks;
		hist_merge(&r.total.lat_read, &s->lat_read);
		hist_merge(&r.total.lat_write, &s->lat_write);
	}
	r.dead_sessions = atomic_load(&ctl.dead_sessions);
	if (o.json)
		report_json(&o, &r);
	else
		report_text(&o, &r);
	fflush(stdout);

	if (r.total.mismatches)
		exit_code = EXIT_MISMATCH;
	else if (r.total.errors || r.dead_sessions || ddigest_errors())
		exit_code = EXIT_IO_ERRORS;
out:
	for (unsigned i = 0; i < opened; i++)
		session_close(&sessions[i]);
	free(sessions);
	free(workers);
	free(session_ptrs);
	free(pfds);
	return exit_code;
}
