/* SPDX-License-Identifier: MIT */
/* The NBD fabric of the config's "nbd" section (serve_nbd.c). */
#ifndef VSTORD_SERVE_NBD_H
#define VSTORD_SERVE_NBD_H

#include <stdint.h>

#include "ctl/ctl.h"

struct vs_loop_group;
struct vs_nbd;

/* Start it if the config has an "nbd" section (*out NULL if not).  0, or
 * -1 after logging one error line (*out, if set, still needs stopping). */
int  vsd_nbd_start(struct vs_ctl_state *st, struct vs_loop_group *loops, const char *cfg_name,
                   struct vs_nbd **out);
/* Graceful stop (grace_ms), then free.  NULL: nothing. */
void vsd_nbd_stop(struct vs_nbd *nbd, uint32_t grace_ms);

#endif
