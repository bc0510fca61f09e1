/* SPDX-License-Identifier: MIT */
/*
 * Inside the NBD server.  The protocol decisions are in nbd_proto.h /
 * nbd_handshake.h (pure); this is the part with sockets and loops:
 *
 *   nbd_server.c   the fabric: create / start / stop, exports, listing
 *   nbd_listen.c   portals: listening sockets on loop 0, accept
 *   nbd_conn.c     one connection's life: attach, close, free, timers
 *   nbd_io.c       bytes in and out (plain or TLS), the send queue
 *   nbd_hs_conn.c  the handshake on a connection: options, TLS, lookups
 *   nbd_cmd.c      transmission: requests → class requests → replies
 *   vs_nbd_log.c      one-line event log
 *
 * Calls go one way: server → listen → conn → hs_conn / cmd → io.  A
 * connection lives on one loop and is touched only there; other threads
 * reach it by posting messages (class completions, a stop, a forced
 * export removal).  The server's mutex guards the export table, the
 * connection list and the counters the control plane reads.
 */
#ifndef VSTOR_NBD_INT_H
#define VSTOR_NBD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "nbd_acl.h"
#include "nbd_handshake.h"
#include "nbd_tls.h"
#include "vstor/class.h"
#include "vstor/loop.h"
#include "vstor/nbd.h"
#include "../../util/vs_poll_policy.h"

#define NBD_CONTAINER_OF(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

#define NBD_MAX_PORTALS         16
#define NBD_DEFAULT_DEPTH       64u
#define NBD_DEFAULT_CONNS       256u
#define NBD_DEFAULT_HS_MS       15000u
#define NBD_RBUF_LEN            (64u * 1024u)   /* receive buffer: headers, small payloads */
#define NBD_MAX_EXTENTS         64u             /* block status descriptors per reply */
#define NBD_SEND_IOV            64              /* iovec entries per sendmsg */

enum nbd_log_level { NBD_LOG_ERROR = 0, NBD_LOG_WARN, NBD_LOG_INFO, NBD_LOG_DEBUG };
void vs_nbd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct nbd_export {
	char *name, *description;
	struct vs_port *port;
	uint64_t lun;
	struct nbd_acl_entry *acl;
	size_t nacl;
	bool tls_only;
	bool no_multi_conn;
	atomic_bool removed;            /* no new connections take it */
	uint32_t conns;                 /* connections holding it (srv->lock) */
	struct nbd_export *next;
};

struct nbd_portal {
	struct vs_nbd *srv;
	int fd;
	char text[64];
	struct vs_loop_fd h;
	struct vs_loop_msg close_msg;
	bool registered, closing;
};

struct nbd_conn;

/* One request slot: header, class request, data buffer, reply. */
struct nbd_slot {
	struct nbd_conn *c;
	struct vs_blk_request *req;     /* the class request this slot owns */
	struct vs_loop_msg done_msg;    /* completion → the connection's loop */
	struct nbd_request r;
	uint32_t error;                 /* NBD_E* for the reply */
	uint8_t *data;                  /* max_payload bytes */
	struct iovec data_iov;
	uint32_t payload_got;           /* WRITE data read so far */
	struct vs_blk_extent ext[NBD_MAX_EXTENTS];
	uint8_t hdr[NBD_CHUNK_HDR_LEN + 8 + 4 + 8 * NBD_MAX_EXTENTS];
	struct iovec out[2];            /* header, data */
	int outcnt;
	struct nbd_slot *next;          /* free list / send queue */
};

enum nbd_conn_state {
	CONN_HANDSHAKE = 0,             /* option haggling (plain or over TLS) */
	CONN_TLS_HANDSHAKE,             /* after NBD_OPT_STARTTLS's ACK */
	CONN_LOOKUP,                    /* a GO / INFO waits for the disk's probe */
	CONN_TRANSMISSION,
	CONN_DRAIN,                     /* no more requests; finish what runs, then close */
	CONN_DEAD,                      /* socket gone; waiting for commands to come back */
};

struct nbd_conn {
	struct vs_nbd *srv;
	struct vs_loop *loop;
	int fd;
	struct vs_loop_fd fdh;
	uint32_t events;                /* what epoll watches for now */
	struct sockaddr_storage peer;
	char peer_text[64];
	struct nbd_tls_session *tls;
	uint32_t tls_want;              /* the event TLS waits for (0: none) */
	enum nbd_conn_state state;
	bool registered;                /* fd in the loop's epoll */
	bool closing;                   /* close requested (stop, removal, error) */
	bool abort_sent;                /* vs_disk_abort done */

	/* receive: a buffer for headers and small payloads */
	uint8_t *rbuf;
	size_t rstart, rend;

	/* handshake */
	struct nbd_hs hs;
	struct nbd_out hout;            /* replies not yet sent */
	size_t hout_sent;
	uint8_t opt_hdr[NBD_OPT_HDR_LEN];
	uint32_t opt, opt_len, opt_got;
	bool have_flags, have_opt_hdr;
	uint8_t *opt_data;
	struct vs_loop_timer hs_timer;

	/* the export and its disk (an I_T nexus of its own) */
	struct nbd_export *exp;
	struct vs_disk *disk;
	struct vs_disk_info info;
	struct vs_loop_msg probe_msg;
	int probe_err;
	bool probing;                   /* vs_disk_probe's answer not in yet */
	char list_name[NBD_STRING_MAX + 1], list_desc[256];     /* NBD_OPT_LIST */
	struct vs_loop_timer disk_timer;        /* the class layer's back-off timer */
	struct vs_loop_msg disk_timer_msg;
	_Atomic uint64_t disk_timer_want;
	atomic_bool disk_timer_posted;

	/* transmission */
	struct nbd_tx tx;
	struct nbd_slot *slots;
	uint32_t nslots;
	uint8_t *data_area;
	size_t data_area_len;
	struct nbd_slot *free_slots;
	struct nbd_slot *rx_slot;       /* a WRITE whose payload is coming in */
	struct nbd_slot *sq_head, *sq_tail;     /* replies to send, in order */
	size_t sq_off;                  /* bytes of sq_head already sent */
	struct vs_loop_msg flush_msg;   /* replies go out at the end of the pass */
	bool flush_posted;
	uint32_t in_flight;             /* slots taken (running or replying) */
	bool disc;                      /* NBD_CMD_DISC seen */
	/* Hybrid polling (util/vs_poll_policy.h), counting requests: a hook
	 * of its own on the connection's loop, so it comes and goes with the
	 * connection; the loop spins for the longest any hook asks. */
	struct vs_poll_policy poll;
	struct vs_loop_spin spin;
	bool spin_added;

	struct vs_loop_msg attach_msg, stop_msg, free_msg;
	atomic_bool stop_posted;        /* stop_msg queued */
	atomic_bool hard_stop;          /* the stop aborts instead of draining */
	atomic_uint posts;              /* messages from other threads not yet run */
	bool shutting_down;             /* requests get NBD_ESHUTDOWN */
	uint32_t running;               /* slots with a class request in the disk */
	struct nbd_conn *next, *prev;   /* srv->conns */

	/* for the control plane: written before `listed` is set (release),
	 * read after it is seen (acquire); counters relaxed */
	atomic_bool listed;
	bool tls_on;
	_Atomic uint64_t reads, writes, other, read_bytes, write_bytes;
	_Atomic uint32_t in_flight_pub;
	char tls_identity[NBD_TLS_IDENTITY_MAX];
	char nexus_name[288];
};

struct vs_nbd {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct vs_nbd_config cfg;
	struct vs_loop_group *group;
	bool own_group;
	struct nbd_tls *tls;
	struct nbd_portal portals[NBD_MAX_PORTALS];
	unsigned nportals;
	struct nbd_export *exports;
	struct nbd_conn *conns;
	uint32_t nconns;
	bool started;
	atomic_bool stopping;           /* read by the loops without the lock */
	uint64_t stop_deadline_ns;      /* graceful stop: abort what runs after this */
	struct vs_loop_timer stop_timer;
};

/* nbd_listen.c */
int  vs_nbd_portal_open_locked(struct vs_nbd *srv, const char *addr_port);
int  vs_nbd_portals_watch(struct vs_nbd *srv);
void vs_nbd_portals_close(struct vs_nbd *srv);

/* nbd_conn.c */
void vs_nbd_conn_accept(struct vs_nbd *srv, int fd, const struct sockaddr_storage *peer);
/* Close (error, stop, removal): what runs finishes or is aborted, then the
 * connection frees itself.  Loop thread. */
void vs_nbd_conn_close(struct nbd_conn *c, const char *why);
/* Ask from any thread (the message runs vs_nbd_conn_close on the loop). */
void vs_nbd_conn_post_stop(struct nbd_conn *c);
/* The events epoll should watch now (after any state change). Loop thread. */
void vs_nbd_conn_update_events(struct nbd_conn *c);
/* Free once nothing runs any more, if it is closing. */
void vs_nbd_conn_maybe_free(struct nbd_conn *c);

/* nbd_hs_conn.c */
void vs_nbd_hs_conn_start(struct nbd_conn *c);
/* Readable / more buffered bytes during the handshake phases. */
void vs_nbd_hs_conn_input(struct nbd_conn *c);
/* The disk goes (connection end; the export reference goes with
 * vs_nbd_server_conn_gone). */
void vs_nbd_hs_conn_release(struct nbd_conn *c);

/* nbd_cmd.c */
int  vs_nbd_cmd_start(struct nbd_conn *c);
void vs_nbd_cmd_input(struct nbd_conn *c);
/* Connection end: slots and the data area (after every command came back). */
void vs_nbd_cmd_free(struct nbd_conn *c);
/* The socket is gone: let go of the slots that wait for it (a WRITE
 * payload half read, replies not sent); running commands come back first. */
void vs_nbd_cmd_drop(struct nbd_conn *c);

/* nbd_io.c */
/* Fill rbuf from the socket: > 0 bytes, 0 nothing now, -1 end or error. */
int  vs_nbd_io_fill(struct nbd_conn *c);
/* Make `need` bytes available in rbuf: 1 they are, 0 would block, -1 end. */
int  vs_nbd_io_need(struct nbd_conn *c, size_t need);
/* Read straight into buf (a WRITE payload): bytes, 0 would block, -1 end. */
ssize_t vs_nbd_io_read_into(struct nbd_conn *c, void *buf, size_t len);
/* Read buf[*got, want) (moving *got): 1 complete, 0 would block, -1 end. */
int  vs_nbd_io_read_rest(struct nbd_conn *c, uint8_t *buf, uint32_t want, uint32_t *got);
/* Send what the handshake queued: 1 all out, 0 some left, -1 error. */
int  vs_nbd_io_flush_hout(struct nbd_conn *c);
/* Queue a reply slot and try to send; -1 on a dead socket. */
int  vs_nbd_io_queue_reply(struct nbd_conn *c, struct nbd_slot *s);
/* Send from the queue: 1 empty, 0 some left, -1 error.  Each slot fully
 * sent goes to done(). */
int  vs_nbd_io_flush_replies(struct nbd_conn *c, void (*done)(struct nbd_slot *s));
bool vs_nbd_io_want_write(const struct nbd_conn *c);
/* Received bytes wait in rbuf or in TLS: epoll will not report them, so
 * whoever frees a slot must go on reading itself. */
bool vs_nbd_io_buffered(const struct nbd_conn *c);
/* TLS wants this event before it can go on (0: nothing). */
extern uint32_t vs_nbd_io_tls_want(const struct nbd_conn *c);

/* nbd_server.c (for connections) */
/* Find an export for this client: NBD_LOOKUP_OK with *exp held (released
 * with vs_nbd_export_put), or the reason it is refused. */
enum nbd_lookup vs_nbd_export_get(struct vs_nbd *srv, const char *name,
                               const struct sockaddr_storage *peer, const char *tls_identity,
                               bool tls, struct nbd_export **exp);
/* Let go of *exp (NULL afterwards). */
void vs_nbd_export_put(struct vs_nbd *srv, struct nbd_export **exp);
/* The i-th export visible to this client (NBD_OPT_LIST), copied out. */
bool vs_nbd_export_visible(struct vs_nbd *srv, size_t i, const struct sockaddr_storage *peer,
                        const char *tls_identity, bool tls, char *name, size_t nlen,
                        char *desc, size_t dlen);
/* The connection's last act: its export reference goes, it leaves the
 * list, and vs_nbd_stop / export removal may go on (nothing of the
 * fabric is touched by it afterwards). */
void vs_nbd_server_conn_gone(struct vs_nbd *srv, struct nbd_conn *c);

#endif
