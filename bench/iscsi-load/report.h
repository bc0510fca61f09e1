/* The result of one run, printed as text or as one line of JSON. */
#ifndef ISCSI_LOAD_REPORT_H
#define ISCSI_LOAD_REPORT_H

#include "options.h"
#include "session.h"

struct run_result {
	double window_s;          /* measured window, seconds */
	double fill_s;            /* --fill / --verify prefill, seconds */
	double readback_s;        /* --verify final read-back, seconds */
	double cpu_user_s;        /* this process, inside the window */
	double cpu_sys_s;
	double target_cpu_s;      /* --target-pid over the window; <0 unknown */
	unsigned dead_sessions;
	struct io_stats total;    /* all workers merged */
};

void report_text(const struct options *o, const struct run_result *r);
void report_json(const struct options *o, const struct run_result *r);

#endif
