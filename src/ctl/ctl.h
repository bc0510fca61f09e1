/* SPDX-License-Identifier: MIT */
/*
 * The control plane: the daemon's running state (the config model plus one
 * vs_port per target) and the JSON protocol that changes it at run time —
 * Storport's dynamic devices: LUNs and targets arrive and leave while
 * initiators are logged in.
 *
 * Protocol (doc/vstorctl.8): over a Unix stream socket, one JSON object per
 * line (newline-delimited, no newline inside an object), each request
 *     {"id":N,"method":"lun.add","params":{...}}
 * answered in order by exactly one line
 *     {"id":N,"result":{...}}   or   {"id":N,"error":{"code":C,"message":"..."}}
 * where the message is one line naming the bad field.
 *
 * Threading: every state change runs on the caller's thread (the control
 * server's own thread in vstord), never on a fabric thread: removing a LUN
 * waits for its commands to drain.  The state's lock serialises callers.
 */
#ifndef VSTOR_CTL_CTL_H
#define VSTOR_CTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct vs_iscsi;
struct vs_port;
struct vs_ctl_state;
struct vs_ctl_server;

/* Error codes in {"error":{"code":...}}: JSON-RPC 2.0's for protocol
 * errors, small positive numbers for what went wrong applying a change. */
enum vs_ctl_code {
	VS_CTL_PARSE_ERROR = -32700,     /* not JSON */
	VS_CTL_INVALID_REQUEST = -32600, /* not a request object / over the size limit */
	VS_CTL_METHOD_NOT_FOUND = -32601,
	VS_CTL_INVALID_PARAMS = -32602,  /* missing, wrong type or bad value */
	VS_CTL_INTERNAL = -32603,        /* out of memory */
	VS_CTL_NOT_FOUND = 1,            /* no such target / LUN / ACL entry */
	VS_CTL_EXISTS = 2,               /* target, LUN number or ACL entry already there */
	VS_CTL_BUSY = 3,                 /* in use; needs force */
	VS_CTL_FAILED = 4,               /* the change could not be applied (backend, I/O) */
	VS_CTL_DENIED = 5,               /* client's uid is neither root nor ours */
};

#define VS_CTL_DEFAULT_SOCKET "/run/vstor/vstord.sock"
#define VS_CTL_MAX_REQUEST    65536  /* bytes per request line */
#define VS_CTL_MAX_CLIENTS    16     /* connections served at once */
/* Unread reply bytes a client may have queued; beyond that its further
 * requests wait until it reads (its memory: this plus one reply). */
#define VS_CTL_MAX_OUTPUT     262144
/* A client with no request line in and no reply read for this long is
 * closed (vstord --ctl-idle-timeout). */
#define VS_CTL_IDLE_TIMEOUT_MS 60000
#define VS_CTL_MSG_MAX        512

/*
 * Build the running state from a config: one port (vdisk miniport) per
 * target and every LUN attached.  Takes ownership of cfg (also on failure).
 * `cfg_name` prefixes errors ("FILE: targets[0].luns[1]: ..."); config_path
 * is the file config.save writes by default (NULL: none); loops: the event
 * loops block stacks that need one use (a remote backend, a throttle; it
 * must be running while LUNs exist; NULL: such layers refuse to open).
 * NULL on failure with one line in err.
 */
struct vs_loop_group;
struct vs_ctl_state *vs_ctl_state_create(struct vs_config *cfg, const char *cfg_name,
                                         const char *config_path, struct vs_loop_group *loops,
                                         char *err, size_t errlen);
/* Register every target with the fabric; from now on changes reach it.
 * `is` may stay unset (tests): then only ports and the model change. */
int vs_ctl_state_attach_fabric(struct vs_ctl_state *st, struct vs_iscsi *is, const char *cfg_name,
                               char *err, size_t errlen);
/* Add the config's NBD exports to the NBD fabric; from now on export.add /
 * export.remove reach it (ctl_nbd.c). */
struct vs_nbd;
int vs_ctl_state_attach_nbd(struct vs_ctl_state *st, struct vs_nbd *nbd, const char *cfg_name,
                            char *err, size_t errlen);
/*
 * Let services (miniports in another process, vstor/service_host.h)
 * attach LUNs to the targets from now on: starts the host, which asks the
 * state to add and remove its LUNs.  Call after attach_fabric.  Stop the
 * host (vs_svc_host_stop) before vs_ctl_state_destroy, and destroy it
 * after.
 */
struct vs_svc_host;
int vs_ctl_state_attach_services(struct vs_ctl_state *st, struct vs_svc_host *host,
                                 struct vs_loop_group *loops, char *err, size_t errlen);

/*
 * Flush and remove every LUN, destroy the ports, free the model.  Call
 * after the fabric stopped.  Each problem is passed to log (may be NULL)
 * as one line; returns 0 if every LUN flushed cleanly, else -EIO.
 */
int vs_ctl_state_destroy(struct vs_ctl_state *st, void (*log)(const char *line));

/* config.reload applies the file as the daemon would have started from
 * it: fn makes the same changes its command line made (vstord: --listen,
 * --threads), 0 or -1 with err.  Set before the control server starts. */
void vs_ctl_state_set_reload_adjust(struct vs_ctl_state *st,
                                    int (*fn)(void *ctx, struct vs_config *cfg, char *err,
                                              size_t errlen),
                                    void *ctx);

/* Read-only views for start-up messages (no lock: call before the control
 * server starts). */
const struct vs_config *vs_ctl_state_config(const struct vs_ctl_state *st);
struct vs_port *vs_ctl_state_port(const struct vs_ctl_state *st, size_t target_index);

/* What the daemon serves right now, for its status line (systemd's
 * STATUS=): targets, LUNs (those services attached too), logged-in
 * sessions.  Takes the state's lock; with wait false only if it is free at
 * once (the watchdog thread must not wait behind a lun.remove draining its
 * commands): -EBUSY otherwise. */
struct vs_ctl_summary {
	size_t targets, luns, sessions;
};
int vs_ctl_state_summary(struct vs_ctl_state *st, struct vs_ctl_summary *out, bool wait);

/* The running state in the Prometheus text format (version 0.0.4): per
 * LUN and per target figures (ctl_metrics.c).  malloc'd, *len bytes;
 * NULL when out of memory.  Takes the state's lock. */
char *vs_ctl_metrics(struct vs_ctl_state *st, size_t *len);

/*
 * Handle one request line (without its newline).  Returns the reply line
 * (malloc'd, no newline), never NULL except when out of memory.
 */
char *vs_ctl_handle(struct vs_ctl_state *st, const char *req, size_t len);

/*
 * The Unix-socket server.  create: bind and listen at path (the parent
 * directory is made 0755 if missing, the socket is 0600 and owned by our
 * euid: root:root when we are root; a stale socket left by a dead daemon
 * is replaced, a live one is an error).  start: serve on a new thread.
 * destroy: stop the thread, close every client, remove the socket.
 * Clients whose SO_PEERCRED uid is neither 0 nor our euid are answered
 * with one error line and closed (a daemon that is not root should say at
 * start that only its own uid can use the socket).
 */
struct vs_ctl_server *vs_ctl_server_create(const char *path, char *err, size_t errlen);
int  vs_ctl_server_start(struct vs_ctl_server *srv, struct vs_ctl_state *st, char *err,
                         size_t errlen);
void vs_ctl_server_destroy(struct vs_ctl_server *srv);
/*
 * Before start: close a client that for `ms` milliseconds sent no request
 * line (a blank keep-alive line counts) and read none of its replies,
 * unless one of its requests is waiting to be handled (0: the default,
 * VS_CTL_IDLE_TIMEOUT_MS).  Whatever it does, a client never delays the
 * others by more than one request per turn: the server never blocks on a
 * client's socket.  When all VS_CTL_MAX_CLIENTS slots are taken, a new
 * client takes the slot of the one idle longest (it gets an error line).
 */
void vs_ctl_server_set_idle_timeout(struct vs_ctl_server *srv, uint32_t ms);

/* Where the control plane logs events that are not replies to a request
 * (a LUN's resource lost or back): one line each, from any thread. */
void vs_ctl_set_log(void (*log)(const char *line));

/* "1 GiB", "512 MiB", "1000 bytes": exact, never rounded (log lines, errors). */
void vs_ctl_human_size(uint64_t bytes, char *buf, size_t len);

#endif
