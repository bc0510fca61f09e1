/* SPDX-License-Identifier: MIT */
/*
 * HwAdapterControl: the adapter's owner stops and restarts it through the
 * port, which asks the miniport (Storport: ScsiQuerySupportedControlTypes,
 * ScsiStopAdapter, ScsiRestartAdapter).  Stopping first quiesces: new SRBs
 * are held (port->hold) and the outstanding ones are waited for, as
 * Storport stops an adapter only with no request outstanding.
 */
#include <errno.h>
#include <string.h>

#include "port_int.h"

static const char *const ac_names[VS_ADAPTER_CONTROL_MAX] = {
	[VS_ADAPTER_QUERY_SUPPORTED] = "query", [VS_ADAPTER_STOP] = "stop",
	[VS_ADAPTER_RESTART] = "restart",
};

/* Storport asks ScsiQuerySupportedControlTypes once, before any other
 * control request; so does the port, when a miniport is registered. */
void vs_adapter_control_query(struct vs_port *port, struct port_mp *m)
{
	bool sup[VS_ADAPTER_CONTROL_MAX] = { false };

	if (m->mp->adapter_control &&
	    m->mp->adapter_control(m->adapter_ext, VS_ADAPTER_QUERY_SUPPORTED, sup) == 0)
		memcpy(m->ac_supported, sup, sizeof(sup));
	m->ac_supported[VS_ADAPTER_QUERY_SUPPORTED] = true;
	for (int t = 0; t < VS_ADAPTER_CONTROL_MAX; t++)
		port->ac_supported[t] |= m->ac_supported[t];
}

void vs_port_reset_all(struct vs_port *port, enum vs_reset_kind kind)
{
	uint32_t n = port_nmp(port);

	for (uint32_t i = 0; i < n; i++)
		if (port->mps[i].mp->reset)
			port->mps[i].mp->reset(port->mps[i].adapter_ext, NULL, kind);
}

int vs_port_adapter_control(struct vs_port *port, enum vs_adapter_control_type type, void *arg)
{
	int rc;

	if (!port_arg(port, "adapter_control: port"))
		return -EINVAL;
	if ((unsigned)type >= VS_ADAPTER_CONTROL_MAX) {
		vs_set_error("adapter_control: unknown request %d", (int)type);
		return -EINVAL;
	}
	if (type == VS_ADAPTER_QUERY_SUPPORTED) {
		if (!arg) {
			vs_set_error("adapter_control: query needs a bool[%d] to fill",
			             VS_ADAPTER_CONTROL_MAX);
			return -EINVAL;
		}
		memcpy(arg, port->ac_supported, sizeof(port->ac_supported));
		return 0;
	}
	if (!port->ac_supported[type]) {
		vs_set_error("adapter_control: %s is not supported by miniport %s", ac_names[type],
		             port->mp->name);
		return -EOPNOTSUPP;
	}
	/* Serialised with LUN arrival and departure: the miniport sees a
	 * stable LUN set while it stops or restarts.  Every miniport that
	 * supports the request gets it; the first error is the answer. */
	rc = 0;
	pthread_mutex_lock(&port->lun_lock);
	for (uint32_t i = 0; i < port_nmp(port); i++) {
		struct port_mp *m = &port->mps[i];
		int r;

		if (!m->ac_supported[type])
			continue;
		r = m->mp->adapter_control(m->adapter_ext, type, arg);
		if (r && !rc)
			rc = r;
	}
	pthread_mutex_unlock(&port->lun_lock);
	return rc;
}

int vs_port_stop(struct vs_port *port)
{
	uint32_t hi, wait_ms;
	int rc = 0;

	if (!port_arg(port, "stop: port"))
		return -EINVAL;
	/* Storport stops an adapter only when no request is outstanding: hold
	 * new SRBs, let the ones the miniport has finish (or be taken back by
	 * the request timer), then tell the miniport. */
	atomic_fetch_or(&port->hold, PORT_HOLD_STOPPED);
	wait_ms = vs_port_takeback_ms(port) + port->abort_timeout_ms;
	hi = atomic_load(&port->lun_hi);
	for (uint32_t i = 0; i < hi; i++) {
		struct vs_port_lun *lun = port_lun_slot(port, i);

		if (lun && atomic_load(&lun->state) == LUN_ACTIVE)
			(void)vs_lun_wait_idle(lun, wait_ms);
	}
	if (port->ac_supported[VS_ADAPTER_STOP])
		rc = vs_port_adapter_control(port, VS_ADAPTER_STOP, NULL);
	return rc;
}

int vs_port_restart(struct vs_port *port)
{
	int rc = 0;

	if (!port_arg(port, "restart: port"))
		return -EINVAL;
	if (port->ac_supported[VS_ADAPTER_RESTART])
		rc = vs_port_adapter_control(port, VS_ADAPTER_RESTART, NULL);
	if (rc == 0 &&
	    (atomic_fetch_and(&port->hold, ~(uint32_t)PORT_HOLD_STOPPED) & PORT_HOLD_STOPPED))
		vs_port_dispatch_all(port);
	return rc;
}
