/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus endpoint: an HTTP listener (libmicrohttpd, its own
 * thread) that answers GET /metrics with the control plane's metrics text
 * (vs_ctl_metrics).  Opt-in: "metrics": {"listen": "ADDR:PORT"} in the
 * configuration, loopback by default.
 */
#ifndef VSTORD_METRICS_HTTP_H
#define VSTORD_METRICS_HTTP_H

#include <stddef.h>

struct vs_ctl_state;
struct vsd_metrics;

/* Listen on addr_port ("ADDR:PORT", "[v6]:PORT") and serve st's metrics;
 * NULL with one line in err ("ADDR: bind: Address already in use"). */
struct vsd_metrics *vsd_metrics_start(const char *addr_port, struct vs_ctl_state *st, char *err,
                                      size_t errlen);
/* Stop serving and close the listener; NULL ok. */
void vsd_metrics_stop(struct vsd_metrics *m);

#endif
