/* SPDX-License-Identifier: MIT */
/*
 * Internal types of the iSCSI fabric's transport half: connections, their
 * tasks, sessions, and the send queue.  Everything in a connection (and
 * its session, which has exactly one connection: MaxConnections=1) is
 * touched only on the connection's event-loop thread.
 */
#ifndef VSTOR_ISCSI_CONN_H
#define VSTOR_ISCSI_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vstor/iscsi.h"
#include "vstor/port.h"
#include "iscsi_loop.h"
#include "login.h"
#include "pdu.h"

#define ISCSI_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Largest data transfer one command may have: the SRB buffer.  Matches
 * what disks behind the port advertise as MAXIMUM TRANSFER LENGTH (vdisk:
 * 8 MiB).  The initiator's EDTL may be larger (up to 4 GiB - 1) when the
 * command moves less: the rest is an underflow residual (§11.4.5.2). */
#define ISCSI_MAX_XFER          VS_ISCSI_BURST_MAX
/* Largest MaxRecvDataSegmentLength we declare (RFC allows 2^24-1). */
#define ISCSI_MAX_DSL           VS_ISCSI_MAX_RECV_DSL_MAX
/* Task slots beyond the CmdSN window, for immediate commands (§3.2.2.1). */
#define ISCSI_IMMEDIATE_TASKS   8u
/* Slots beyond window + immediate: belt and braces, see vs_iscsi_tasks_init. */
#define ISCSI_TASK_MARGIN       8u
/* SRBs beyond the task slots: an SRB returns to its pool only once the
 * miniport has let go too, so a few extra cover completions racing with
 * the next command and zombies left by resets. */
#define ISCSI_SRB_SPARE         16u
/* After a transfer longer than this, the rest of its buffer is handed back
 * to the kernel (MADV_FREE): only what recent commands touched stays. */
#define ISCSI_BUF_KEEP          (1024u * 1024u)
/* Asynchronous events waiting to go out on one connection (§11.9). */
#define ISCSI_ASYNC_QUEUE       8u
/* Outstanding R2Ts we track per task (MaxOutstandingR2T is capped to this). */
#define ISCSI_MAX_R2T           VS_ISCSI_MAX_R2T_MAX
#define ISCSI_CTL_SLOTS         8u
#define ISCSI_TMF_SLOTS         4u
#define ISCSI_ITT_BUCKETS       256u
/* ITTs of recent tasks whose Data-Out may still be on its way although the
 * task is over (aborted, answered early, or a refused write): such Data-Out
 * is dropped without a word, any other for an unknown ITT is rejected. */
#define ISCSI_QUIET_ITTS        32u
/* Receive buffer: one recv() per readable event takes in every PDU the
 * socket holds (a QD 32 burst of commands, or ~30 4 KiB writes); their
 * headers and small data segments are parsed from memory, which costs far
 * less than a system call per header. */
#define ISCSI_RBUF_LEN          (128u * 1024u)
/* A data segment with at least this much still to come bypasses the
 * receive buffer: it is read straight into the SRB buffer (zero copy for
 * large writes), with the receive buffer as the last iovec so the next
 * headers come in with the same readv. */
#define ISCSI_RX_DIRECT_MIN     (16u * 1024u)
/* PDUs sent in one sendmsg at most (each takes up to 5 iovecs). */
#define ISCSI_TX_BATCH          64u
/* With data digests, the data of one sendmsg at most: building a PDU reads
 * its data for the CRC32C, and the kernel then copies it into the socket;
 * a batch this size is still in this core's cache for the copy, where a
 * batch of 64 PDUs (up to 16 MiB at 256 KiB each) comes back from memory
 * a second time. */
#define ISCSI_TX_DIGEST_BATCH_BYTES (1u << 20)

struct vs_iscsi;
struct iscsi_target;
struct iscsi_conn;
struct iscsi_session;

/* ---------------------------------------------------------------- send queue */

/*
 * One item in a connection's send queue.  An item produces a sequence of
 * PDUs lazily: build() is called when the item reaches the writer and
 * fills the next PDU (header and iovecs), or returns false when the item has
 * nothing more, after which finished() runs.  Building lazily assigns StatSN
 * in wire order and lets a read's Data-In PDUs go straight from the SRB
 * buffer without staging.
 */
struct iscsi_tx {
	struct iscsi_tx *next, *prev;
	bool queued, built;
	bool last;          /* set by build(): this PDU is the item's final one */
	uint8_t hdr[ISCSI_BHS_LEN + ISCSI_DIGEST_LEN];
	uint8_t trailer[3 + ISCSI_DIGEST_LEN];     /* pad + data digest */
	struct iovec iov[8];
	int iovcnt;
	size_t len, sent;
	bool (*build)(struct iscsi_conn *c, struct iscsi_tx *tx);
	void (*finished)(struct iscsi_conn *c, struct iscsi_tx *tx);
};

/* How a PDU's StatSN field is filled at build time (RFC 7143 §4.2.2.2). */
enum iscsi_statsn_mode {
	ISCSI_STATSN_NONE = 0,      /* leave the header as it is (login) */
	ISCSI_STATSN_CURRENT,       /* carry the next StatSN, do not advance (R2T, NOP-In ping) */
	ISCSI_STATSN_ADVANCE,       /* a status-bearing PDU: assign and advance */
};

/* A control PDU that belongs to no task: NOP-In, Reject, TMF / Logout /
 * Text responses, Login responses, Async messages. */
struct iscsi_ctl_pdu {
	struct iscsi_tx tx;
	bool in_use;
	bool uses_big;              /* data lives in conn->big_buf */
	uint8_t statsn_mode;
	bool close_after;           /* close the connection once written */
	bool login_final;           /* enter full feature phase once written */
	struct iscsi_bhs bhs;
	uint8_t *data;
	uint32_t dlen;
	uint8_t inline_data[64];
};

/* ---------------------------------------------------------------- tasks */

enum iscsi_task_state {
	TASK_FREE = 0,
	TASK_DATA_OUT,      /* write: collecting immediate / unsolicited / solicited data */
	TASK_SUBMITTED,     /* owned by the port until srb->done */
	TASK_RESPONDING,    /* Data-In / response being sent */
	TASK_DEAD,          /* aborted locally: release once the send queue lets go */
};

struct iscsi_r2t {
	uint32_t ttt;
	uint32_t r2tsn;
	uint32_t offset, len;
	uint32_t received;
	uint32_t exp_datasn;
	bool sent;
	bool active;
};

struct iscsi_task {
	struct iscsi_conn *conn;
	struct iscsi_task *hnext;           /* ITT hash chain */
	struct iscsi_task *next_free;
	uint16_t index;
	uint8_t state;
	bool immediate;
	bool in_window;                     /* counts against the CmdSN window */
	bool read, write;
	bool local_status;                  /* status made here, not by the port */
	uint32_t itt, cmdsn;
	uint64_t lun_field;                 /* as in the BHS */
	uint64_t lun;
	uint32_t edtl;
	/* The part of EDTL the SRB's buffer covers (its data_length): at most
	 * the buffer, and for a write at most what the command transfers. */
	uint32_t buf_len;
	struct vs_srb *srb;
	struct iovec iov;                   /* the SRB's data buffer, buf_len long */

	/* write (Data-Out) state, RFC 7143 §11.7-11.8 */
	uint32_t received;                  /* bytes placed in the buffer */
	uint32_t unsol_end;                 /* end of the unsolicited (first) burst */
	uint32_t unsol_next;                /* next expected unsolicited offset */
	uint32_t unsol_datasn;
	bool unsol_open;                    /* unsolicited Data-Out still expected */
	uint32_t next_r2t_offset;
	uint32_t r2tsn;
	uint32_t ttt_gen;
	struct iscsi_r2t r2t[ISCSI_MAX_R2T];

	/* read (Data-In) state, §11.7 */
	const uint8_t *din_base;            /* the SRB's buffer, or the data it lent (data_ref) */
	uint32_t din_offset, din_len, datasn, burst_left;
	bool status_sent;
	uint32_t exp_datasn_rsp;            /* R2Ts + Data-In sent, for ExpDataSN */

	/* local status (no SRB or rejected before submit) */
	uint8_t status;
	uint8_t sense_len;
	uint8_t sense[20];
	uint8_t sense_hdr[2];               /* SenseLength (§11.4.7.2) */
	const uint8_t *sense_ptr;           /* srb->sense or sense[] */
	bool piggyback;                     /* status rides on the last Data-In */
	bool imm_counted;
	int8_t cur_r2t;                     /* Data-Out being received: R2T index, -1 unsolicited */
	uint32_t cur_len;
	bool discard_data;                  /* answered early: drop its Data-Out */
	bool quiet_late;                    /* ended while Data-Out may be in flight */
	uint8_t resid_flags;
	uint32_t residual;

	/* The ABORT TASK waiting for the port to settle this task, told when
	 * the task is answered anyway (one outcome per task, §11.5.1). */
	struct iscsi_tmf *abort_tmf;

	struct iscsi_tx tx;
	struct vs_loop_msg done_msg;        /* srb->done → the conn's loop */
};

/* An outstanding task management request (§11.5). */
struct iscsi_tmf {
	struct iscsi_conn *conn;
	bool in_use;
	uint8_t function;
	uint32_t itt, ref_itt;
	uint8_t response;
	struct iscsi_task *ref_task;
	bool ref_answered;                  /* the task's status went out after all */
	struct iscsi_ctl_pdu rsp;
	struct vs_loop_msg done_msg;
};

/* ---------------------------------------------------------------- sessions */

struct iscsi_session {
	struct iscsi_session *next;         /* in the global table */
	struct vs_iscsi *is;
	struct iscsi_target *target;        /* NULL for discovery */
	struct iscsi_conn *conn;            /* the one connection (MaxConnections=1) */
	char initiator[ISCSI_NAME_MAX];
	uint8_t isid[6];
	uint16_t tsih;
	bool discovery;
	struct vs_nexus *nexus;
	struct iscsi_params params;
	char peer[64];
	/* CmdSN window (§4.2.2.1): only the connection's loop touches these. */
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn_sent;
	/* Reinstatement: the connection waiting for this session to go. */
	struct iscsi_conn *waiter;
	bool keep_for_waiter;               /* connection reinstatement: hand the session over */
	bool dying;
};

/* ---------------------------------------------------------------- connections */

enum iscsi_conn_state {
	CONN_LOGIN = 0,
	CONN_LOGIN_WAIT,    /* final login response held until the old session is gone */
	CONN_FULL,
	CONN_LOGOUT,        /* logout received: draining tasks before the response */
	CONN_CLOSING,       /* socket closed; waiting for SRBs, then freed */
};

enum iscsi_rx_state { RX_BHS = 0, RX_AHS, RX_HDIG, RX_DISPATCH, RX_DATA };

struct iscsi_rx_seg {
	uint8_t *base;      /* NULL: discard */
	size_t len;
};

struct iscsi_conn {
	struct vs_loop_fd h;
	struct iscsi_conn *lnext, *lprev;   /* in the loop's list */
	struct vs_iscsi *is;
	struct iscsi_loop *loop;
	int fd;
	uint8_t state;
	uint32_t events;                    /* epoll events registered */
	char peer[64];
	char local[64];
	char portal[64];                    /* text of the listener it came in on */
	bool portal_default;                /* ... a default portal (iscsi_target.h) */
	uint64_t id;
	uint64_t created_ns, last_rx_ns, nop_sent_ns;
	bool nop_outstanding;
	uint32_t nop_ttt;
	int nop_seg_idx;                    /* receive progress at the last tick (nop.c) */
	size_t nop_seg_off;
	uint64_t tx_stall_ns;               /* sendmsg would block since then; 0 = moving */
	const char *close_reason;
	/* Holds a place in the login budget (admission.h) until its login is
	 * over: set by accept before the connection is attached. */
	bool login_budget;
	uint64_t disc_active_ns;            /* discovery: login or last Text / Logout */

	/* login */
	struct iscsi_login_env env;
	struct iscsi_login *login;
	struct iscsi_text *text;
	struct iscsi_ctl_pdu *held_login_rsp;
	struct iscsi_session *pending_old;  /* reinstatement target */
	struct vs_loop_msg reinstated_msg;
	struct vs_loop_msg kill_msg;
	struct vs_loop_msg attach_msg;
	bool kill_pending;                  /* guarded by is->lock */
	bool waiting_reinstate;
	struct vs_loop_msg flush_msg, resume_msg, reap_msg;
	bool flush_posted, resume_posted, reap_posted;
	uint16_t cid;
	uint32_t login_exp_cmdsn;
	uint32_t login_rsp_count;

	/* session and negotiated parameters */
	struct iscsi_session *sess;
	struct iscsi_params p;              /* copy of the session's params */
	bool hdigest, ddigest;
	uint32_t stat_sn;                   /* next StatSN to assign */

	/* receive state machine */
	uint8_t rx_state;
	size_t rx_got, rx_need;
	struct iscsi_bhs rx_bhs;
	uint8_t rx_ahs[1024];
	uint8_t rx_hdig[ISCSI_DIGEST_LEN];
	uint8_t rx_trailer[3 + ISCSI_DIGEST_LEN];
	struct iscsi_rx_seg rx_seg[4];
	int rx_nseg, rx_seg_idx;
	size_t rx_seg_off;
	uint32_t rx_dlen;                   /* data segment length */
	bool rx_discard_all;                /* ignore the PDU once its data is in */
	bool rx_paused;
	void (*rx_complete)(struct iscsi_conn *c);
	struct iscsi_task *rx_task;
	struct iscsi_ctl_pdu *rx_ctl;       /* response waiting for this PDU's data */
	uint8_t *rx_buf;                    /* data of control PDUs */
	uint32_t rx_buf_len;
	uint8_t *rbuf;                      /* ISCSI_RBUF_LEN: bytes read, not yet parsed */
	uint32_t rbuf_head, rbuf_tail;      /* unparsed bytes are rbuf[head, tail) */
	uint64_t rx_now_ns;                 /* the loop's clock of this receive burst */
	bool rx_drained;                    /* this burst's recv() came back short */

	/* send queue */
	struct iscsi_tx *txq_head, *txq_tail;
	bool close_after_tx;
	struct iscsi_ctl_pdu ctl[ISCSI_CTL_SLOTS];
	uint8_t *big_buf;                   /* login/text responses, NOP echo */
	uint32_t big_buf_len;
	bool big_busy;

	/* tasks */
	struct iscsi_task *tasks;
	uint32_t ntasks;
	struct iscsi_task *free_tasks;
	struct iscsi_task *itt_hash[ISCSI_ITT_BUCKETS];
	uint32_t quiet_itt[ISCSI_QUIET_ITTS];   /* ring, see ISCSI_QUIET_ITTS */
	uint32_t quiet_n, quiet_next;
	uint32_t active_window;             /* tasks counting against the window */
	uint32_t active_immediate;
	uint32_t active_tasks;
	uint32_t outstanding_srbs;          /* submitted, done() not yet handled */
	/* One SRB per task slot (plus spares), each with a buffer for the
	 * largest transfer (ISCSI_MAX_XFER), reserved but untouched until used:
	 * a command admitted by the CmdSN window never waits for memory. */
	struct vs_srb_pool *pool;
	uint32_t xfer_cap;                  /* that buffer, or the adapter's max transfer if less */
	struct iscsi_tmf tmf[ISCSI_TMF_SLOTS];
	uint32_t tmf_pending;               /* port TMFs whose done() is not handled */
	bool cold_reset_close;
	bool logout_requested;              /* AsyncEvent 1 sent at stop (async.c) */
	uint64_t stop_drained_ns;           /* stopping: when the last task was seen gone */

	/* Asynchronous events (§11.9) posted by the port's event handler from
	 * another thread: async_ev/async_n/async_posted are guarded by is->lock. */
	struct { uint64_t lun; uint16_t asc_ascq; } async_ev[ISCSI_ASYNC_QUEUE];
	uint32_t async_n;
	bool async_posted;
	struct vs_loop_msg async_msg;
	const char *kill_reason;            /* guarded by is->lock */
};

/*
 * The connection's jobs, one file each (see conn.c for who calls whom).
 * Unless noted, everything runs on the connection's loop thread.
 */

/* ---- conn.c: lifetime */
struct iscsi_conn *vs_iscsi_conn_create(struct vs_iscsi *is, int fd, const char *peer,
                                     const char *local);
void vs_iscsi_conn_close(struct iscsi_conn *c, const char *reason);
/* Free it once nothing refers to it (after the current epoll batch). */
void vs_iscsi_conn_try_free(struct iscsi_conn *c);
void vs_iscsi_conn_kill_async(struct iscsi_conn *c);   /* any thread, is->lock held */
/* Its login is over (full feature phase, or closing): give its place in
 * the login budget back. */
void vs_iscsi_conn_login_over(struct iscsi_conn *c);

/* ---- conn_event.c: on its loop */
void vs_iscsi_conn_attach(struct iscsi_conn *c, struct iscsi_loop *loop);  /* posts to loop */

/* ---- conn_rx.c: receive state machine and dispatch */
void vs_iscsi_conn_rx(struct iscsi_conn *c);       /* take in what the socket holds */

/* ---- conn_sink.c: the receive side, for the PDU handlers */
void vs_iscsi_conn_resume_rx(struct iscsi_conn *c);
void vs_iscsi_conn_pause_rx(struct iscsi_conn *c);
/* Run the receive state machine again soon (bytes already buffered). */
void vs_iscsi_conn_rx_kick(struct iscsi_conn *c);
/* Where the current PDU's data segment goes: nowhere, rx_buf (control
 * PDUs), or base[0, len) then discard_after bytes dropped. */
void vs_iscsi_rx_sink_discard(struct iscsi_conn *c);
void vs_iscsi_rx_sink_buf(struct iscsi_conn *c);
void vs_iscsi_rx_sink_seg(struct iscsi_conn *c, uint8_t *base, size_t len, size_t discard_after);

/* ---- conn_tx.c: send path */
void vs_iscsi_tx_queue(struct iscsi_conn *c, struct iscsi_tx *tx);
void vs_iscsi_tx_remove(struct iscsi_conn *c, struct iscsi_tx *tx);
/* Send what is ready.  NULL, or why the connection must now be closed (the
 * caller closes it). */
const char *vs_iscsi_tx_flush(struct iscsi_conn *c);
/* Closing: drop every queued item, telling its owner (finished). */
void vs_iscsi_tx_drop_all(struct iscsi_conn *c);
uint32_t vs_iscsi_conn_max_cmdsn(struct iscsi_conn *c);
/* Fill StatSN / ExpCmdSN / MaxCmdSN of a target PDU header. */
void vs_iscsi_fill_sn(struct iscsi_conn *c, uint8_t *hdr, enum iscsi_statsn_mode mode);
/* Finish a built PDU: header digest, data iovecs, pad, data digest. */
void vs_iscsi_tx_set_pdu(struct iscsi_conn *c, struct iscsi_tx *tx, const struct iovec *data,
                      int ndata, uint32_t dlen, bool digests);
/* The same with the data's CRC32C already known (data_crc: of the dlen
 * bytes, without the padding), so the data digest reads none of them. */
void vs_iscsi_tx_set_pdu_crc(struct iscsi_conn *c, struct iscsi_tx *tx, const struct iovec *data,
                          int ndata, uint32_t dlen, bool digests, const uint32_t *data_crc);
/* The epoll events wanted for the socket (no-op once closed). */
void vs_iscsi_conn_set_events(struct iscsi_conn *c, uint32_t events);

/* ---- conn_ctl.c: control PDUs */
struct iscsi_ctl_pdu *vs_iscsi_ctl_get(struct iscsi_conn *c);
void vs_iscsi_ctl_put(struct iscsi_conn *c, struct iscsi_ctl_pdu *p);
void vs_iscsi_ctl_send(struct iscsi_conn *c, struct iscsi_ctl_pdu *p);
bool vs_iscsi_ctl_available(struct iscsi_conn *c, unsigned n);
/* Prepare a control PDU that lives outside the connection's slots (TMF). */
void vs_iscsi_ctl_init_embedded(struct iscsi_ctl_pdu *p);

/* ---- conn_timer.c */
void vs_iscsi_conn_tick(struct iscsi_conn *c, uint64_t now);

/* ---- conn_login.c */
void vs_iscsi_conn_login_header(struct iscsi_conn *c);
int  vs_iscsi_conn_enter_full_feature(struct iscsi_conn *c);
/* Called with is->lock held by the old session's teardown, any thread. */
void vs_iscsi_conn_post_reinstated(struct iscsi_conn *waiter);

/* ---- reject.c */
void vs_iscsi_send_reject(struct iscsi_conn *c, uint8_t reason, const struct iscsi_bhs *bad);
/* Reject the PDU being received and skip its data segment. */
void vs_iscsi_reject_pdu(struct iscsi_conn *c, uint8_t reason);
/* The same, with a log line (why); fatal: close once the Reject is out. */
void vs_iscsi_reject_current(struct iscsi_conn *c, uint8_t reason, bool fatal, const char *why);

/* ---- session.c */
int  vs_iscsi_session_bind(struct iscsi_conn *c);   /* at login DONE; see session.c */
int  vs_iscsi_session_finish_bind(struct iscsi_conn *c);
void vs_iscsi_session_detach(struct iscsi_conn *c);
/* CmdSN checks (§3.2.2.1): 1 = process, 0 = drop silently. */
int  vs_iscsi_session_check_cmdsn(struct iscsi_conn *c, const struct iscsi_bhs *h);
/* ExpStatSN of a full-feature PDU acknowledges no status never sent (see
 * session.c); false = protocol error. */
bool vs_iscsi_session_exp_statsn_ok(const struct iscsi_conn *c, const struct iscsi_bhs *h);
/* A discovery session's Text or Logout request (not idle); nothing for a
 * normal session. */
void vs_iscsi_session_discovery_active(struct iscsi_conn *c);
/* Advance ExpCmdSN past an accepted non-immediate PDU. */
void vs_iscsi_session_commit_cmdsn(struct iscsi_conn *c, const struct iscsi_bhs *h);

/* ---- scsi_cmd.c */
int  vs_iscsi_scsi_cmd_header(struct iscsi_conn *c);     /* 0 ok, 1 paused (no resources) */
int  vs_iscsi_data_out_header(struct iscsi_conn *c);
void vs_iscsi_task_srb_done(struct vs_srb *srb);
void vs_iscsi_task_abort_local(struct iscsi_conn *c, struct iscsi_task *t);
struct iscsi_task *vs_iscsi_task_find(struct iscsi_conn *c, uint32_t itt);
void vs_iscsi_tasks_init(struct iscsi_conn *c, uint32_t qd);
void vs_iscsi_tasks_fini(struct iscsi_conn *c);
void vs_iscsi_tasks_release_all_local(struct iscsi_conn *c);
void vs_iscsi_task_release(struct iscsi_conn *c, struct iscsi_task *t);

/* ---- tmf.c */
int  vs_iscsi_tmf_header(struct iscsi_conn *c);
/* ---- async.c: Asynchronous Message (§11.9) */
void vs_iscsi_async_port_event(void *ctx, uint64_t lun, uint16_t asc_ascq);   /* vs_port_event_fn */
void vs_iscsi_async_flush(struct iscsi_conn *c);       /* send what is pending (loop thread) */
/* AsyncEvent 1, "target requests Logout" within `seconds`; false when no
 * control slot is free (try again later).  Sets c->logout_requested. */
bool vs_iscsi_async_request_logout(struct iscsi_conn *c, uint16_t seconds);
/* ---- nop.c */
int  vs_iscsi_nop_out_header(struct iscsi_conn *c);
void vs_iscsi_nop_tick(struct iscsi_conn *c, uint64_t now);
/* ---- logout.c */
int  vs_iscsi_logout_header(struct iscsi_conn *c);
void vs_iscsi_logout_progress(struct iscsi_conn *c);
/* ---- text_req.c */
int  vs_iscsi_text_header(struct iscsi_conn *c);

#endif
