/* SPDX-License-Identifier: MIT */
/*
 * The NBD fabric of the config's "nbd" section, on the daemon's loops:
 * portals, TLS, exports (through the control plane's state, which keeps
 * export.add / export.remove in step with the model).
 */
#include <inttypes.h>
#include <stdio.h>

#include "log.h"
#include "serve_nbd.h"
#include "vstor/miniport.h"
#include "vstor/nbd.h"

int vsd_nbd_start(struct vs_ctl_state *st, struct vs_loop_group *loops, const char *cfg_name,
                  struct vs_nbd **out)
{
	const struct vs_config_nbd *n = vs_ctl_state_config(st)->nbd;
	char err[VS_CONFIG_ERR_MAX + 64];
	struct vs_nbd *nbd;

	*out = NULL;
	if (!n)
		return 0;
	struct vs_nbd_config nc = {
		.group = loops,
		.max_connections = n->max_connections,
		.queue_depth = n->queue_depth,
		.max_payload = n->max_payload,
		.handshake_timeout_ms = n->handshake_timeout_ms,
		.poll_us = n->poll_us,
		.tls = { .mode = (enum vs_nbd_tls_mode)n->tls_mode, .cert_file = n->tls_cert,
		         .key_file = n->tls_key, .ca_file = n->tls_ca, .psk_file = n->tls_psk_file },
	};
	nbd = vs_nbd_create(&nc);
	if (!nbd) {
		vsd_error("%s: nbd: %s", cfg_name, vs_last_error());
		return -1;
	}
	*out = nbd;
	for (size_t i = 0; i < n->nportals; i++) {
		if (vs_nbd_add_portal(nbd, n->portals[i]) < 0) {
			vsd_error("%s: nbd.portals[%zu]: %s", cfg_name, i, vs_last_error());
			return -1;
		}
	}
	if (vs_ctl_state_attach_nbd(st, nbd, cfg_name, err, sizeof(err)) < 0) {
		vsd_error("%s", err);
		return -1;
	}
	if (vs_nbd_start(nbd) < 0) {
		vsd_error("nbd: %s", vs_last_error());
		return -1;
	}
	for (size_t i = 0; i < n->nexports; i++)
		vsd_info("serving NBD export '%s' = %s LUN %" PRIu64 " on %s%s", n->exports[i].name,
		         n->exports[i].target, n->exports[i].lun, n->portals[0],
		         n->nportals > 1 ? " and more" : "");
	return 0;
}

void vsd_nbd_stop(struct vs_nbd *nbd, uint32_t grace_ms)
{
	if (!nbd)
		return;
	vsd_debug("stopping the NBD fabric (grace %" PRIu32 " ms)", grace_ms);
	vs_nbd_stop(nbd, grace_ms);
	vs_nbd_destroy(nbd);
}
