/* SPDX-License-Identifier: MIT */
/*
 * Inside libvstor-service (the service's side of doc/service-protocol.md).
 *
 * One struct vs_svc is one connection: the socket (control messages, read
 * by whoever holds rx_lock: the serving loop, or a thread waiting for the
 * reply to its request), the shared area, the doorbells, and the
 * commands in flight (cmds[], one per ring entry).  The serving thread is
 * the only one that takes submission entries; completions are written
 * under cq_lock from any thread.
 *
 * Disk mode runs vstor's own port and vdisk here: an inner port
 * (VS_PORT_INNER: the unit attentions of arrival and reset are vstord's)
 * whose LUNs sit on a block backend that calls the service's ops
 * (lib_disk.c).  An initiator is an inner nexus opened the first time one
 * of its commands arrives, so reservations know who is who.
 */
#ifndef VSTOR_SERVICE_LIB_INT_H
#define VSTOR_SERVICE_LIB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vstor/port.h"
#include "vstor/service.h"
#include "vstor/service_proto.h"

#define LIB_MAX_LUN        16384
#define LIB_REQUEST_MS     60000        /* how long a request waits for its reply */
#define LIB_CQ_STAGE       32           /* completions a batch holds before the ring */

struct lib_disk;

struct lib_lun {
	_Atomic uint32_t refs;          /* attached: 1, and 1 per command in flight */
	uint64_t number;
	bool raw;
	const struct vs_svc_raw_ops *raw_ops;
	void *ctx;
	struct lib_disk *disk;          /* disk mode */
	bool desc_sense;                /* disk mode: the format last reported */
};

struct lib_nexus {
	uint32_t gen;                   /* 0: none */
	struct vs_svc_nexus pub;
	char name[280];
	char initiator_name[224];
	uint8_t transport_id[256];
	struct vs_nexus *inner;         /* disk mode: in the inner port, opened on first use */
};

struct vs_svc_cmd {
	struct vs_svc *s;
	struct vs_svc_sqe e;            /* the entry, copied out of the ring */
	void *data;
	struct lib_lun *lun;
	struct lib_nexus *nx;
	struct vs_srb *srb;             /* disk mode: the inner port's SRB */
	struct iovec iov;
	struct vs_svc_cmd *next_free;
	_Atomic bool busy;
	uint32_t gen;                   /* bumped per use: the inner SRB's tag is gen:index */
};

struct lib_reply {
	uint64_t request_id;
	bool have;
	struct vs_svc_reply r;
};

struct vs_svc {
	int sock, sq_efd, cq_efd, stop_efd;
	uint8_t *area;
	size_t area_bytes;
	struct vs_svc_area_hdr *hdr;
	struct vs_svc_sqe *sq;
	struct vs_svc_cqe *cq;
	const struct vs_svc_nexus_rec *nexus_rec;
	uint8_t *data;
	uint64_t data_bytes;
	uint32_t entries, nexus_entries, features, max_transfer;
	uint16_t rel_target_port_id, transport_version;
	char name[VS_SVC_NAME_MAX];
	char target[VS_SVC_TARGET_MAX];
	uint32_t threads, poll_us;

	uint32_t sq_head;               /* the serving thread's */

	pthread_mutex_t cq_lock;
	uint32_t cq_tail;
	/* The serving thread's completions of the batch it is in, not yet
	 * in the ring (lib_ring.c: lib_complete) */
	uint32_t cq_staged;
	struct vs_svc_cqe cq_stage[LIB_CQ_STAGE];

	/* Commands: the serving thread takes them from its own list and,
	 * when that is empty, takes at once all those any thread gave back
	 * (a push-only stack, so no ABA and no lock on the I/O path). */
	struct vs_svc_cmd *cmds;        /* [entries] */
	struct vs_svc_cmd *free_local;  /* the serving thread's */
	_Atomic(struct vs_svc_cmd *) freed;

	struct lib_nexus **nexus;       /* [nexus_entries], made on first use */

	pthread_mutex_t lun_lock;
	struct lib_lun *luns[LIB_MAX_LUN];

	/* control messages */
	pthread_mutex_t tx_lock;
	pthread_mutex_t rx_lock;
	pthread_cond_t rx_cv;
	struct lib_reply pending;       /* rx_lock: the reply of the one request in flight */
	pthread_mutex_t req_lock;       /* one request at a time */
	uint64_t next_request;
	_Atomic int fatal;              /* 0, or -errno: vstord closed / refused us */
	char fatal_why[VS_SVC_TEXT_MAX];

	/* memory vstord may send reads from (lib_mem.c); mem_lock */
	pthread_mutex_t mem_lock;
	struct lib_region {
		uint8_t *base;          /* NULL: a free number */
		uint64_t bytes;
		int fd;
		bool lent;              /* vstord took it: its number goes in completions */
	} regions[VS_SVC_REGIONS];
	/* disk mode */
	pthread_mutex_t inner_lock;
	struct vs_port *inner;
	struct vs_srb_pool *pool;
	struct lib_workers *workers;

	_Atomic bool stopping;
};

/* lib_conn.c */
/* Read one control message if one is there (rx_lock held); wait up to
 * timeout_ms for it.  0, or -errno when the connection is over. */
int  lib_rx_one(struct vs_svc *s, int timeout_ms);
/* Send a request (with descriptor fd unless -1) and wait for its REPLY; the reply's status (0 or -errno)
 * with its message in vs_svc_error(). */
int  lib_request(struct vs_svc *s, void *msg, size_t len, int fd, struct vs_svc_reply *out);

/* lib_conn.c: a LUN that is no longer attached goes when its last
 * command has completed */
void lib_lun_put(struct vs_svc *s, struct lib_lun *l);

/* lib_mem.c */
/* The REGION vstord took that holds [p, p+len): its number (1..) and its
 * start; 0 when none does. */
uint32_t lib_mem_region(struct vs_svc *s, const void *p, uint64_t len, const uint8_t **base);
void lib_mem_free_all(struct vs_svc *s);

/* lib_ring.c */
/* Post one completion (any thread) and ring the doorbell unless the
 * serving thread is in a batch that will. */
void lib_complete(struct vs_svc *s, const struct vs_svc_cqe *cqe);
void lib_cmd_free(struct vs_svc *s, struct vs_svc_cmd *cmd);
/* The entry's nexus, read from the table when its generation is new. */
struct lib_nexus *lib_nexus_of(struct vs_svc *s, uint32_t id, uint32_t gen);

/* lib_disk.c */
int  lib_disk_start(struct vs_svc *s, struct vs_svc_cmd *cmd);
void lib_disk_abort(struct vs_svc *s, struct vs_svc_cmd *cmd);
void lib_disk_reset(struct vs_svc *s, struct lib_lun *l, bool target);
void lib_disk_nexus_lost(struct vs_svc *s, struct lib_nexus *nx);
int  lib_disk_attach(struct vs_svc *s, struct lib_lun *l, const struct vs_svc_disk *d,
                     const struct vs_svc_disk_ops *ops, void *ctx);
void lib_disk_detach(struct vs_svc *s, struct lib_lun *l);
void lib_disk_close(struct vs_svc *s);

#endif
