/* One iSCSI session (its own libiscsi context and TCP connection) and its
 * preallocated I/O slots. */
#ifndef ISCSI_LOAD_SESSION_H
#define ISCSI_LOAD_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "histogram.h"
#include "options.h"

/* What a worker asks of its sessions right now. */
enum run_mode {
	MODE_TIMED,      /* workload I/O until the main thread says stop */
	MODE_FILL,       /* write every owned chunk once, sequentially */
	MODE_READBACK,   /* read every owned chunk once and check it (--verify) */
};

/* Timed-phase states, published by the main thread, read by workers. */
enum phase { PHASE_WARMUP, PHASE_MEASURE, PHASE_STOP };

/* Counters of one worker thread: no sharing, no atomics on the I/O path. */
struct io_stats {
	uint64_t reads, writes;          /* completed inside the window */
	uint64_t read_bytes, write_bytes;
	uint64_t errors;                 /* any phase: failed submit or status */
	uint64_t mismatches;             /* blocks that failed --verify */
	uint64_t verified_blocks;        /* blocks checked by --verify */
	struct hist lat_read;
	struct hist lat_write;
};

struct session;

struct slot {
	struct session *s;
	unsigned char *buf;      /* bs bytes, page aligned, owned for the run */
	struct scsi_iovec iov;   /* hands buf to libiscsi: no copy either way */
	uint64_t chunk;          /* session-local chunk index */
	uint64_t gen;            /* --verify: generation written/expected */
	uint64_t t_submit_ns;
	bool is_read;
	bool check;              /* --verify: compare data on completion */
};

struct session {
	unsigned index;
	const char *url;
	struct iscsi_context *iscsi;
	int lun;
	uint32_t block_size;
	uint64_t lun_blocks;
	uint32_t io_blocks;       /* bs / block_size */

	/* Chunks are bs-sized, bs-aligned pieces of the working set. Sessions
	 * sharing a LUN split them into contiguous ranges (one per session),
	 * so --verify can track each chunk from one thread without locks. */
	unsigned share_idx, share_n;
	uint64_t chunk_base;      /* first chunk of this session's range */
	uint64_t own_chunks;
	uint64_t cursor;          /* sequential pattern / fill / readback */

	uint64_t rng;
	uint32_t write_counter;
	uint64_t run_tag;         /* high half of every --verify generation */
	uint32_t *gen;            /* --verify: last good write per chunk */
	uint8_t *busy;            /* --verify: chunk has I/O in flight */

	unsigned char *bufs;      /* qd x bs, one allocation */
	struct slot *slots;
	unsigned *free_stack;
	unsigned n_free;
	unsigned qd;
	unsigned inflight;
	unsigned submit_failures;
	uint64_t last_progress_ns; /* last completion, or first submit when idle */
	bool dead;

	struct io_stats *stats;   /* the owning worker's */
	const struct options *opt;
	const _Atomic int *phase;
	enum run_mode mode;
};

/* Connects, reads the capacity (READ CAPACITY(16), SBC-3 §5.16) and
 * allocates every buffer the session will ever use. Returns 0 or prints one
 * line naming what failed and returns -1. */
int session_open(struct session *s, const struct options *o, unsigned index,
		 const char *url, unsigned share_idx, unsigned share_n);
void session_close(struct session *s);

/* Submits I/O until the queue is full or the mode says stop. */
void session_fill(struct session *s);
/* True when the session has nothing left to submit in its mode. */
bool session_mode_done(const struct session *s);
/* Stops using a session whose connection failed; its in-flight I/O counts
 * as errors. */
void session_mark_dead(struct session *s);

uint64_t now_ns(void);

#endif
