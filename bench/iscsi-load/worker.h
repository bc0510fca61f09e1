/* A polling thread: drives its share of the sessions with one poll() loop. */
#ifndef ISCSI_LOAD_WORKER_H
#define ISCSI_LOAD_WORKER_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

#include "session.h"

struct run_control {
	const struct options *opt;
	_Atomic int phase;             /* enum phase, set by the main thread */
	_Atomic unsigned dead_sessions;
	pthread_barrier_t barrier;     /* workers + main, between run stages */
};

struct worker {
	pthread_t thread;
	struct run_control *ctl;
	struct session **sessions;
	unsigned n_sessions;
	struct pollfd *pfds;
	struct io_stats stats;
};

/* Thread body: fill (if asked), timed run, read-back (if --verify), each
 * stage ended by a barrier the main thread also waits on. */
void *worker_main(void *arg);

#endif
