/* SPDX-License-Identifier: MIT */
/*
 * Bus event notification for fabrics: after the port has raised a unit
 * attention on every nexus for a change the initiators should hear about
 * at once (LUN inventory, capacity), it tells the fabric, which may send
 * an asynchronous event (e.g. iSCSI Asynchronous Message, RFC 7143 §11.9).
 * The unit attention itself stays pending (SPC-4 5.14), so an initiator
 * that ignores the event still learns of the change on its next command.
 */
#include "port_int.h"

void vs_port_set_event_handler(struct vs_port *port, vs_port_event_fn fn, void *ctx)
{
	if (!port_arg(port, "set_event_handler: port"))
		return;
	pthread_mutex_lock(&port->event_lock);
	port->event_fn = fn;
	port->event_ctx = fn ? ctx : NULL;
	pthread_mutex_unlock(&port->event_lock);
}

void vs_port_event_notify(struct vs_port *port, uint64_t lun, uint16_t asc_ascq)
{
	/* Under the lock: vs_port_set_event_handler(NULL) then guarantees the
	 * old handler (and its ctx) is no longer in use. */
	pthread_mutex_lock(&port->event_lock);
	if (port->event_fn)
		port->event_fn(port->event_ctx, lun, asc_ascq);
	pthread_mutex_unlock(&port->event_lock);
}
