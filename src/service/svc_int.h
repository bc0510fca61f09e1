/* SPDX-License-Identifier: MIT */
/*
 * Inside the service host (vstord's side of doc/service-protocol.md).
 *
 * Objects:
 *  - svc_area: the shared memory of one connection (memfd, rings, nexus
 *    table, data area with its buddy allocator), reference counted: the
 *    connection holds it, and so does every SRB buffer lent from it, so a
 *    late SRB never finds its data unmapped.
 *  - svc_conn: one connected service.  Its completion doorbell and its
 *    hang timer run on one loop of the daemon's group; its socket on the
 *    host's own thread.
 *  - svc_lun: one LUN a service attached, in the target's port as a LUN of
 *    the proxy miniport.  It outlives its service: while the service is
 *    away (conn NULL) its commands get NOT READY.
 *
 * Locks, in this order: host->lock (the lists, conn->port, conn->nluns)
 * -> lun->mu (lun->conn) -> conn->lock (slots, the submission ring,
 * pending control entries, state).  None is held while calling the port
 * or the control plane, except that the proxy completes an SRB it refuses
 * in start_io with no lock held either.
 */
#ifndef VSTOR_SERVICE_INT_H
#define VSTOR_SERVICE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vstor/loop.h"
#include "vstor/port.h"
#include "vstor/service_host.h"
#include "vstor/service_proto.h"
#include "buddy.h"

#define VS_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define SVC_MAX_CONNS         64        /* services connected (or saying hello) at once */
#define SVC_MAX_LUNS_PER_CONN 256
#define SVC_MAX_LUNS          4096      /* service LUNs in the daemon, away ones included */
#define SVC_MAX_LUN_NUMBER    16384     /* SAM-5 flat space */
#define SVC_HELLO_TIMEOUT_MS  5000
#define SVC_DEFAULT_ENTRIES   256u
#define SVC_DEFAULT_NEXUS     4096u
#define SVC_DEFAULT_DATA      (64ULL << 20)
#define SVC_HANG_DEFAULT_MS   15000u
#define SVC_LEND_DEFAULT_MAX  (4ULL << 40)      /* REGION bytes of all services */

/* ---------------------------------------------------------------- area.c */

struct svc_area {
	_Atomic uint32_t refs;
	int fd;                         /* the memfd */
	uint8_t *base;
	size_t bytes;
	struct vs_svc_area_hdr *hdr;
	struct vs_svc_sqe *sq;
	struct vs_svc_cqe *cq;
	struct vs_svc_nexus_rec *nexus;
	uint8_t *data;
	uint64_t data_bytes;
	uint32_t entries, nexus_entries;
	uint64_t sq_offset, cq_offset, nexus_offset, data_offset;
	pthread_mutex_t lock;           /* the buddy */
	struct buddy buddy;
	/* REGIONs the service lent (region.c): set once each, by the host
	 * thread, base last; unmapped with the area, which every lent read
	 * holds (proxy.c) */
	struct svc_region {
		_Atomic(const uint8_t *) base;
		uint64_t bytes;
	} regions[VS_SVC_REGIONS];
};

struct svc_area *vs_area_create(const char *name, uint32_t entries, uint32_t nexus_entries,
                             uint64_t data_bytes, char *err, size_t errlen);
void  vs_area_get(struct svc_area *a);
void  vs_area_put(struct svc_area *a);
/* len bytes of the data area (4 KiB aligned), or NULL if none are free. */
void *vs_area_alloc(struct svc_area *a, size_t len);
void  vs_area_free(struct svc_area *a, void *p);
/* [p, p+len) lies inside the data area */
/* region.c: map the service's memfd `fd` (not kept) as REGION `id`; 0,
 * or -errno with a line in why. */
int vs_region_add(struct svc_area *a, uint32_t id, int fd, uint64_t bytes, char *why,
                  size_t len);
/* [off, off+len) of REGION id, or NULL when that is not inside one */
const void *vs_region_at(struct svc_area *a, uint32_t id, uint64_t off, uint32_t len);
void vs_region_unmap_all(struct svc_area *a);

static inline bool area_holds(const struct svc_area *a, const void *p, size_t len)
{
	const uint8_t *b = p;

	return b >= a->data && b <= a->data + a->data_bytes && len <= (size_t)(a->data + a->data_bytes - b);
}

/* ---------------------------------------------------------------- conn */

enum vs_conn_state {
	CONN_HELLO = 0,         /* waiting for HELLO */
	CONN_ALIVE,
	CONN_DYING,             /* refused new work; finishing on its loop */
	CONN_DEAD,
};

struct svc_slot {
	struct vs_srb *srb;     /* NULL: free */
	uint32_t gen;           /* tag = gen << 32 | index; bumped on every use */
	uint32_t next_free;
	void *bounce;           /* area memory the data was copied through, or NULL */
	uint32_t length;        /* data_length of the entry */
	uint8_t dir;            /* VS_SVC_DIR_* */
	bool may_lend;          /* VS_SVC_SQE_MAY_LEND was set */
	struct vs_port_lun *plun;   /* for a change of its sense format */
};

struct svc_lun;

struct svc_conn {
	struct vs_svc_host *host;
	_Atomic uint32_t refs;
	int sock, sq_efd, cq_efd;
	pid_t pid;
	uid_t uid;
	char name[VS_SVC_NAME_MAX];
	char target[VS_SVC_TARGET_MAX];
	uint32_t features;
	uint64_t hello_deadline_ms;
	uint64_t connected_at;          /* CLOCK_REALTIME seconds */

	struct svc_area *area;
	uint32_t entries;

	pthread_mutex_t lock;
	int state;                      /* enum vs_conn_state */
	struct svc_slot *slots;         /* [entries] */
	uint32_t free_head;
	uint32_t outstanding;
	uint32_t sq_tail;               /* ours; the area's copy is what the service sees */
	uint32_t sq_published;          /* the area's copy, last written (vs_ring_doorbell) */
	uint32_t *nexus_gen;            /* [nexus_entries]: generation written, 0: none */
	uint32_t next_gen;
	uint64_t *lost_pending;         /* bitmap [nexus_entries]: NEXUS_LOST to send */
	uint32_t nlost_pending;
	uint64_t *reset_pending;        /* bitmap [SVC_MAX_LUN_NUMBER]: LUN_RESET to send */
	uint32_t nreset_pending;
	bool target_reset_pending;

	uint32_t cq_head;               /* reap_lock */
	pthread_mutex_t reap_lock;      /* who takes completions (ring.c, reap_any) */
	_Atomic bool reap_wanted;
	struct vs_loop *loop;
	struct vs_loop_fd cq_watch;
	struct vs_loop_poller cq_poller;        /* on c->loop (ring.c) */
	bool cq_polling;                /* c->loop: the last look found completions */
	struct vs_loop_timer hang_timer;
	struct vs_loop_msg start_msg, die_msg, late_msg, bell_msg;
	_Atomic bool bell_pending;      /* a bell_msg is posted on some loop */
	_Atomic bool dying;
	bool violation;                 /* died breaking the protocol: tell it why */
	_Atomic uint64_t last_progress_ns;
	char why[160];                  /* set once, by whoever set dying */

	/* host->lock */
	struct vs_port *port;           /* the target's, from the first LUN attached */
	uint32_t nluns;
	struct svc_conn *next;

	pthread_mutex_t send_lock;      /* messages to the service come from two threads */

	_Atomic uint64_t commands, bytes_shared, bytes_copied, bytes_lent;
	uint64_t region_bytes;          /* host thread: what its REGIONs count in host->lent */
};

/* The proxy's SRB extension: what a read sent from a REGION holds. */
struct proxy_srb {
	struct svc_area *lent_area;
};

void vs_conn_get(struct svc_conn *c);
void vs_conn_put(struct svc_conn *c);
int  vs_conn_state(struct svc_conn *c);            /* enum vs_conn_state, under its lock */

/* ring.c */
/* Set up the slots and start watching the completion doorbell on a loop. */
int  vs_ring_start(struct svc_conn *c, struct vs_loop_group *loops);
/* Submit a SCSI command (lun->mu and c->lock held; c ALIVE).  0, or the
 * SAM status to answer it with (BUSY) when there is no room. */
int  vs_ring_submit_locked(struct svc_conn *c, struct vs_srb *srb, struct vs_port_lun *plun,
                        bool *ring);
/* Queue a control entry (c->lock held) and write what fits. */
void vs_ring_lun_reset_locked(struct svc_conn *c, uint64_t lun, bool *ring);
void vs_ring_target_reset_locked(struct svc_conn *c, bool *ring);
void vs_ring_nexus_lost_locked(struct svc_conn *c, uint32_t nexus_id, bool *ring);
bool vs_ring_abort_locked(struct svc_conn *c, const struct vs_srb *srb, bool *ring);
/* Publish the entries written so far (sq_tail), and ring the submission
 * doorbell if the service asked for it (c->lock not held; hold a
 * reference).  Whoever writes entries calls this or the next. */
void vs_ring_doorbell(struct svc_conn *c);
/* The same once the current pass of this thread's loop is over (at once
 * on a thread that is no loop's): the commands of one pass, one bell. */
void vs_ring_doorbell_soon(struct svc_conn *c);
/*
 * Disconnect: from any thread, once (later calls do nothing).  The rest
 * runs on the connection's loop: the completions already in the ring are
 * taken, every command still outstanding completes with NOT READY, the
 * LUNs are left waiting, and the host thread closes the socket.
 * violation: tell the service why before closing.
 */
void vs_conn_kill(struct svc_conn *c, bool violation, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------- lun */

struct svc_lun {
	struct vs_svc_host *host;
	char target[VS_SVC_TARGET_MAX];
	uint64_t number;
	char service[VS_SVC_NAME_MAX];  /* whose it is: only this name and uid attach it again */
	uid_t uid;
	pthread_mutex_t mu;
	struct svc_conn *conn;          /* mu; NULL: its service is away */
	struct vs_port_lun *plun;       /* set by lun_attach */
	struct vs_port *port;
	bool in_port;                   /* host->lock: attached to the port */
	bool leaving_by_request;        /* the service asked: no LUN_GONE for it */
	uint64_t size_bytes;
	uint32_t block_size;
	uint8_t peripheral_type;
	bool readonly;
	char description[64];
	uint64_t gone_since;            /* CLOCK_REALTIME seconds */
	char gone_why[160];
	struct svc_lun *next;           /* host->luns */
};

/* ---------------------------------------------------------------- host */

struct vs_svc_host {
	char *path;
	int lfd;
	struct vs_svc_host_config cfg;
	struct vs_loop_group *loops;
	const struct vs_svc_host_targets *targets;
	void *targets_ctx;
	uint32_t hang_ms;
	uint64_t poll_ns;               /* completion ring polling (ring.c); 0: off */
	uint64_t lend_max;              /* cfg.lend_max_bytes or its default */
	uint64_t lent;                  /* lock: REGION bytes of the connections open */
	uid_t owner;
	dev_t dev;
	ino_t ino;

	pthread_mutex_t lock;
	struct svc_conn *conns;
	uint32_t nconns;
	struct svc_lun *luns;
	uint32_t nluns;

	/* connections whose loop side has finished dying: the host thread
	 * closes and frees them (host->lock) */
	struct svc_conn *reap[SVC_MAX_CONNS * 2];
	uint32_t nreap;
	int wake_fd;                    /* eventfd: reap list, stop */
	int epfd;
	pthread_t thread;
	bool running;
	_Atomic bool stop;
};

void vs_host_log(struct vs_svc_host *h, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The loop side of a connection is done: hand it to the host thread. */
void vs_host_reap(struct vs_svc_host *h, struct svc_conn *c);
/* Every LUN of c is left waiting for its service (die, on c's loop). */
void vs_host_luns_orphan(struct vs_svc_host *h, struct svc_conn *c, const char *why);
/* The proxy's lun_detach: forget the LUN, tell its service. */
void vs_host_lun_detached(struct vs_svc_host *h, struct svc_lun *l);
/* Every connection whose LUNs are in port: fn(c, arg) with c->lock held. */
void vs_host_each_conn_of_port(struct vs_svc_host *h, struct vs_port *port,
                            void (*fn)(struct svc_conn *c, void *arg, bool *ring), void *arg);
/* Send a message (any thread); -errno if it could not be sent now. */
int  vs_conn_send(struct svc_conn *c, const void *msg, size_t len, const int *fds, int nfds);

/* proxy.c: complete an SRB with CHECK CONDITION NOT READY, LOGICAL UNIT IS
 * IN PROCESS OF BECOMING READY (SPC-4 Annex D 04h/01h: initiators retry
 * it) */
void vs_proxy_not_ready(struct vs_srb *srb);

/* The adapter extension of the proxy on one port. */
struct proxy_adapter {
	struct vs_svc_host *host;
	struct vs_port *port;
};

#endif
