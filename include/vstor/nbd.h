/* SPDX-License-Identifier: MIT */
/*
 * The NBD fabric (NetworkBlockDevice/nbd doc/proto.md) as the daemon wires
 * it: portals, exports (a name for one LUN of a port), access lists, TLS.
 * Block clients (qemu, nbdcopy, nbdinfo, the Linux kernel's nbd driver)
 * reach any LUN through the disk class layer; each connection is its own
 * I_T nexus to the port, so the port's queueing, task management, unit
 * attentions and statistics stay in the path.
 */
#ifndef VSTOR_NBD_H
#define VSTOR_NBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vs_port;
struct vs_loop_group;
struct vs_nbd;

/* proto.md "TLS support": NOTLS, SELECTIVETLS, FORCEDTLS */
enum vs_nbd_tls_mode {
	VS_NBD_TLS_OFF = 0,
	VS_NBD_TLS_ON,          /* offered; exports whose access list names TLS
	                         * identities only, are served over TLS only */
	VS_NBD_TLS_REQUIRE,     /* nothing without TLS (tls: require) */
};

struct vs_nbd_tls_config {
	enum vs_nbd_tls_mode mode;
	const char *cert_file, *key_file;       /* PEM server certificate and key */
	const char *ca_file;    /* PEM: client certificates must chain to it; the
	                         * identity is the certificate's subject CN */
	const char *psk_file;   /* "identity:hexkey" lines (psktool's format) */
};

struct vs_nbd_config {
	/* The event loops (include/vstor/loop.h) to serve connections on,
	 * shared with the other fabrics; not owned.  NULL: the fabric makes a
	 * group of its own of `threads` loops (tests). */
	struct vs_loop_group *group;
	uint32_t threads;               /* own loops if no group; 0 = 1 */
	uint32_t max_connections;       /* whole fabric; 0 = 256 */
	uint32_t queue_depth;           /* requests in flight per connection; 0 = 64 */
	uint32_t max_payload;           /* bytes per READ / WRITE; 0 = 32 MiB */
	uint32_t handshake_timeout_ms;  /* 0 = 15000 */
	/* Hybrid polling: after a run of wake-ups that each brought at most
	 * 16 requests (queue depth up to 16), a connection's loop checks the
	 * sockets for this long before it sleeps.  0 = 50 us;
	 * VS_NBD_POLL_OFF = always sleep. */
	uint32_t poll_us;
	struct vs_nbd_tls_config tls;
};
#define VS_NBD_MAX_PAYLOAD_MAX  (32u << 20)     /* proto.md "Size constraints" */
#define VS_NBD_QUEUE_DEPTH_MAX  1024u
#define VS_NBD_CONNECTIONS_MAX  65535u
#define VS_NBD_POLL_OFF         UINT32_MAX
#define VS_NBD_DEFAULT_POLL_US  50u
#define VS_NBD_POLL_US_MAX      1000u   /* a longer spin is a sleep that burns a core */

struct vs_nbd_export_config {
	const char *name;               /* NBD export name, <= 4096 bytes, no NUL */
	const char *description;        /* may be NULL */
	struct vs_port *port;           /* not owned */
	uint64_t lun;
	/* Who may use it: "ADDR" or "ADDR/PREFIX" (IPv4 or IPv6), or
	 * "tls:IDENTITY" (a verified certificate CN or a PSK identity).
	 * Empty: everyone.  Only tls: entries: served over TLS only. */
	const char *const *acl;
	size_t nacl;
	/* NBD_FLAG_CAN_MULTI_CONN: a LUN has one write cache for every I_T
	 * nexus (a SYNCHRONIZE CACHE flushes the logical unit, SBC-3 5.22),
	 * so connections see each other's flushes; false turns it off. */
	bool no_multi_conn;
};

/* One line why an access list entry is not one (false), for the config. */
bool vs_nbd_acl_entry_valid(const char *entry, char *why, size_t whylen);

/* NULL with vs_last_error() on a bad config (e.g. TLS files).  With TLS
 * the process must ignore SIGPIPE (vstord does): OpenSSL writes to the
 * socket with write(2), which raises it when a client has gone. */
struct vs_nbd *vs_nbd_create(const struct vs_nbd_config *cfg);
int  vs_nbd_add_portal(struct vs_nbd *nbd, const char *addr_port);
int  vs_nbd_add_export(struct vs_nbd *nbd, const struct vs_nbd_export_config *e);
/* -EBUSY while clients use it, unless force: then their connections are
 * closed (commands in flight complete first).  -ENOENT if unknown. */
int  vs_nbd_remove_export(struct vs_nbd *nbd, const char *name, bool force);
int  vs_nbd_start(struct vs_nbd *nbd);
/* Stop accepting; handshakes get NBD_REP_ERR_SHUTDOWN; commands already
 * read finish (new ones get NBD_ESHUTDOWN) for up to grace_ms, then are
 * aborted; every connection is closed.  Blocks. */
void vs_nbd_stop(struct vs_nbd *nbd, uint32_t grace_ms);
void vs_nbd_destroy(struct vs_nbd *nbd);

struct vs_nbd_export_info {
	char name[256];
	char description[256];
	uint64_t lun;
	uint32_t connections;
	size_t nacl;
};
size_t vs_nbd_exports(struct vs_nbd *nbd, struct vs_nbd_export_info *out, size_t max);

struct vs_nbd_session_info {
	char export_name[256];
	char peer[64];                  /* ADDR:PORT */
	char tls_identity[128];         /* empty without TLS or identity */
	char nexus[288];                /* the I_T nexus name the port knows */
	bool tls, structured, block_status;
	uint32_t in_flight;
	uint64_t reads, writes, other;
	uint64_t read_bytes, write_bytes;
};
size_t vs_nbd_sessions(struct vs_nbd *nbd, struct vs_nbd_session_info *out, size_t max);

/* 0 error, 1 warn, 2 info (default), 3 debug. */
void vs_nbd_set_log_level(int level);

#endif
