/* SPDX-License-Identifier: MIT */
/*
 * Wiring a config into a running stack: one vs_port (with the vdisk
 * miniport) per target, one backend + vdisk LUN per configured LUN (the
 * control plane's running state, src/ctl/ctl.h), the iSCSI fabric over
 * them and the control socket.  Tear-down flushes every LUN.
 */
#ifndef VSTORD_SERVE_H
#define VSTORD_SERVE_H

#include <stdint.h>

#include "ctl/config.h"

struct vsd_server;

struct vs_ctl_server;
struct vs_svc_host;

/* Build and start everything; NULL after logging one error line.
 * Takes ownership of cfg, ctl (the control socket) and svc (the service
 * socket; both may be NULL), also on failure.  `cfg_name` names the config in messages (file name or
 * "built-in"); config_path is the -c file config.save writes by default. */
struct vsd_server *vsd_serve_start(struct vs_config *cfg, const char *cfg_name,
                                   const char *config_path, struct vs_ctl_server *ctl,
                                   struct vs_svc_host *svc);
/* Stop accepting, give in-flight commands up to grace_ms, flush and remove
 * every LUN, free everything.  Returns 0 if every LUN flushed cleanly. */
int vsd_serve_stop(struct vsd_server *srv, uint32_t grace_ms);

#endif
