/* SPDX-License-Identifier: MIT */
/*
 * The service host: vstord's side of miniports in another process
 * (src/service/, doc/service-protocol.md).  A service process connects to
 * the service socket, shares memory with vstord and attaches LUNs to a
 * target; the host adds each one to the target's port as a LUN of the
 * proxy miniport, which passes its commands to the service through the
 * shared rings.  The port's duties stay here: queue depth, timeouts,
 * TMFs, unit attentions and REPORT LUNS do not depend on the service.
 *
 * A service that dies, hangs or breaks the protocol is disconnected; its
 * LUNs stay present (new commands: NOT READY, LOGICAL UNIT IS IN PROCESS
 * OF BECOMING READY; those in flight complete once with that status) until
 * the same service (same name and uid) attaches them again, which needs
 * no new login, or they are removed.
 *
 * Who owns targets and ports (the control plane) gives the host two
 * calls, so the host never looks into it; they may block and are called
 * from the host's own thread only, never with a host lock held.
 */
#ifndef VSTOR_SERVICE_HOST_H
#define VSTOR_SERVICE_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vstor/miniport.h"

struct vs_loop_group;
struct vs_svc_host;

struct vs_svc_host_targets {
	/* Register mp (adapter_config for its find_adapter) with target
	 * iqn's port if it is not yet, and add LUN `lun` of it with
	 * lun_config (vs_port_miniport_add, vs_port_lun_add_to).  0, or
	 * -errno with one line in err ("no target iqn...", "LUN 3 already
	 * exists"). */
	int (*lun_add)(void *ctx, const char *iqn, const struct vs_miniport *mp,
	               const void *adapter_config, uint64_t lun, const void *lun_config, char *err,
	               size_t errlen);
	/* Remove LUN `lun` of target iqn (vs_port_lun_remove); 0 or -errno
	 * (-EBUSY: in use and not forced) with one line in err. */
	int (*lun_remove)(void *ctx, const char *iqn, uint64_t lun, bool force, char *err,
	                  size_t errlen);
};

struct vs_svc_host_config {
	const char *socket_path;        /* NULL: VS_SVC_DEFAULT_SOCKET */
	/* A service with commands outstanding and no completion for this
	 * long is taken for hung and disconnected (0: 15000 ms). */
	uint32_t hang_timeout_ms;
	/* Told to services (WELCOME) for their INQUIRY data. */
	uint16_t rel_target_port_id;
	uint16_t transport_version;
	/* Where log lines go (one per event, never per I/O); NULL: quiet. */
	void (*log)(int level, const char *line);   /* level: 0 error, 1 warn, 2 info, 3 debug */
	/* Bytes of REGIONs all connected services may lend at once (address
	 * space vstord maps for them; doc/service-protocol.md "Lending");
	 * 0: 4 TiB. */
	uint64_t lend_max_bytes;
	/* After completions came, look at a service's completion ring for
	 * this long without sleeping (cq_flags WAKE clear: the service rings
	 * no doorbell for them).  0: 50 us; VS_SVC_POLL_OFF: always sleep
	 * until the doorbell.  Not bounded here: vstord takes at most
	 * VS_SVC_POLL_US_MAX. */
	uint32_t poll_us;
};

#define VS_SVC_POLL_OFF         UINT32_MAX
#define VS_SVC_POLL_US_DEFAULT  50u
#define VS_SVC_POLL_US_MAX      1000u   /* a longer spin is a sleep that burns a core */

/* Bind the socket (0600, as the control socket).  NULL with one line in
 * err.  Nothing is served before vs_svc_host_start. */
struct vs_svc_host *vs_svc_host_create(const struct vs_svc_host_config *cfg, char *err,
                                       size_t errlen);
/* Serve on a thread of its own; the completion doorbells are watched on
 * `loops` (which must run until vs_svc_host_stop returned). */
int  vs_svc_host_start(struct vs_svc_host *h, struct vs_loop_group *loops,
                       const struct vs_svc_host_targets *targets, void *targets_ctx, char *err,
                       size_t errlen);
/*
 * Stop serving: every service is disconnected (the commands it had
 * complete with NOT READY; its LUNs stay, away) and the targets calls are
 * never made again.  The LUNs may be removed from their ports after this
 * (their lun_detach still comes here); then vs_svc_host_destroy.
 */
void vs_svc_host_stop(struct vs_svc_host *h);
/* Stop if not stopped, remove the socket, free. */
void vs_svc_host_destroy(struct vs_svc_host *h);
const char *vs_svc_host_socket(const struct vs_svc_host *h);

/* ---- listings (vstorctl service list, lun list) ---- */

enum vs_svc_state {
	VS_SVC_CONNECTED = 0,
	VS_SVC_GONE,            /* disconnected; its LUNs wait for it */
};

struct vs_svc_info {
	char     name[64];
	char     target[224];
	int      state;                 /* enum vs_svc_state */
	pid_t    pid;                   /* 0 when gone */
	uid_t    uid;
	uint64_t since;                 /* CLOCK_REALTIME seconds: connected / gone since */
	uint32_t luns;
	uint32_t in_flight;
	uint64_t commands;
	uint64_t bytes_shared;          /* data moved through the shared area, not copied */
	uint64_t bytes_copied;          /* data vstord had to copy into/out of it */
	uint64_t bytes_lent;            /* read data sent from the service's REGIONs */
	uint64_t data_bytes;            /* size of its data area */
	char     why[160];              /* GONE: why it was disconnected */
};

struct vs_svc_lun_info {
	char     target[224];
	uint64_t lun;
	char     service[64];
	int      state;                 /* enum vs_svc_state: whether its service is there */
	uint64_t size_bytes;            /* what the service said (informational) */
	uint32_t block_size;
	uint8_t  peripheral_type;
	bool     readonly;
	char     description[64];
};

/* Up to max entries; returns how many there are (may be more than max). */
size_t vs_svc_host_services(struct vs_svc_host *h, struct vs_svc_info *out, size_t max);
size_t vs_svc_host_luns(struct vs_svc_host *h, struct vs_svc_lun_info *out, size_t max);

/* The proxy miniport (for tests; the host registers it itself). */
extern const struct vs_miniport vs_svc_proxy_miniport;

#endif
