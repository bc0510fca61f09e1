/* SPDX-License-Identifier: MIT */
/*
 * How much data-out a command transfers, asked before it is submitted.
 *
 * A fabric that solicits write data (iSCSI R2T, RFC 7143 §11.8) must know
 * how much to ask for.  The initiator's expected length (EDTL) may be
 * larger than what the command moves -- RFC 7143 §11.4.5.2 makes that an
 * underflow, not an error -- so the fabric asks the LUN's miniport, which
 * decodes the CDB (its TRANSFER LENGTH or PARAMETER LIST LENGTH with the
 * LUN's block size), much as a SCSI target core parses a command before
 * its data phase.
 */
#include <errno.h>

#include "port_int.h"

int vs_port_data_out_length(struct vs_port *port, const struct vs_srb *srb, uint64_t *bytes)
{
	struct vs_port_lun *lun;
	struct port_queue *q;
	uint32_t nkey;
	int rc = 0;

	if (!port_arg(port, "data_out_length: port") || !port_arg(srb, "data_out_length: srb") ||
	    !port_arg(bytes, "data_out_length: bytes"))
		return -EINVAL;
	*bytes = 0;
	if (srb->cdb_len == 0 || srb->cdb_len > VS_CDB_MAX || srb->cdb[0] == REPORT_LUNS)
		return 0;       /* answered by the port itself, without data-out */
	nkey = srb->nexus ? srb->nexus->id + 1 : 0;
	lun = port_lun_slot(port, srb->lun);
	q = lun ? lun_queue(lun, nkey) : NULL;
	if (!q)
		return 0;       /* no such LUN for this nexus: LOGICAL UNIT NOT SUPPORTED */
	/* Under the nexus's queue lock the LUN cannot start leaving (removal
	 * changes its state holding every queue lock), so lun->ext is live. */
	pthread_mutex_lock(&q->lock);
	if (atomic_load_explicit(&lun->state, memory_order_relaxed) != LUN_ACTIVE)
		rc = 0;
	else if (!VS_MINIPORT_HAS(port->mp, data_out_length))
		rc = -ENOTSUP;
	else
		rc = port->mp->data_out_length(port->adapter_ext, lun->ext, srb, bytes);
	pthread_mutex_unlock(&q->lock);
	return rc;
}
