/* SPDX-License-Identifier: MIT */
/*
 * Wiring a config into a running stack: one vs_port (with the vdisk
 * miniport) per target, one backend + vdisk LUN per configured LUN (the
 * control plane's running state, src/ctl/ctl.h), the iSCSI fabric over
 * them and the control socket.  Tear-down flushes every LUN.
 */
#ifndef VSTORD_SERVE_H
#define VSTORD_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl/config.h"

struct vsd_server;

struct vs_ctl_server;

/* Build and start everything; NULL after logging one error line.
 * Takes ownership of cfg and ctl (the control socket, may be NULL), also on
 * failure.  `cfg_name` names the config in messages (file name or
 * "built-in"); config_path is the -c file config.save writes by default. */
struct vsd_server *vsd_serve_start(struct vs_config *cfg, const char *cfg_name,
                                   const char *config_path, struct vs_ctl_server *ctl);
/* Liveness of the event loops (watchdog.h's passes): each loop's pass
 * count.  Between vsd_serve_start and vsd_serve_stop. */
size_t vsd_serve_loop_passes(void *srv, uint64_t *out, size_t max);
/* The control plane's running state (reload, metrics). */
struct vs_ctl_state;
struct vs_ctl_state *vsd_serve_state(struct vsd_server *srv);
/* "serving 1 target, 1 LUN on 127.0.0.1:3260; 0 sessions" (STATUS=).
 * wait false: -1 at once if the control plane is busy with a change. */
int vsd_serve_status(struct vsd_server *srv, char *buf, size_t len, bool wait);
/* Stop accepting, give in-flight commands up to grace_ms, flush and remove
 * every LUN, free everything.  Returns 0 if every LUN flushed cleanly. */
int vsd_serve_stop(struct vsd_server *srv, uint32_t grace_ms);

#endif
