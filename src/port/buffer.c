/* SPDX-License-Identifier: MIT */
/*
 * Per-LUN buffer providers: the memory an SRB's data lives in.
 *
 * A fabric takes an SRB from its pool with a buffer of the pool's, which
 * suits a miniport in this process.  A LUN whose miniport provides memory
 * of its own (buffer_get in miniport.h) -- memory shared with the process
 * that serves the LUN, or a device's DMA-able memory -- gets its data
 * received straight into that memory and sent straight from it, so the
 * data is never copied on its way.  The buffer belongs to the SRB until it
 * goes back to its pool (pool.c gives it back to its provider then), so a
 * zombie's late completion never finds its data gone.
 */
#include "port_int.h"

void *vs_port_srb_buffer(struct vs_port *port, struct vs_srb *srb, size_t len)
{
	struct vs_port_lun *lun;
	struct port_queue *q;
	void *buf = NULL;
	size_t cap = 0;

	if (!port_arg(port, "srb_buffer: port") || !port_arg(srb, "srb_buffer: srb"))
		return NULL;
	if (srb->priv.buf)
		return srb->priv.buf;
	lun = port_lun_slot(port, srb->lun);
	q = lun ? lun_queue(lun, srb->nexus ? srb->nexus->id + 1 : 0) : NULL;
	/* A LUN that provides no memory (the usual case) needs no lock: a
	 * stale answer while the slot changes hands is as good as the locked
	 * one was a moment earlier, and a buffer of the pool works for any
	 * miniport (the service proxy copies it through its area). */
	if (q && srb->priv.pool && len &&
	    atomic_load_explicit(&lun->has_buffer_get, memory_order_relaxed)) {
		/* Under the nexus's queue lock the LUN cannot start leaving
		 * (removal changes its state holding every queue lock), so
		 * lun->ext is live (as in data_out.c). */
		pthread_mutex_lock(&q->lock);
		if (atomic_load_explicit(&lun->state, memory_order_relaxed) == LUN_ACTIVE &&
		    VS_MINIPORT_HAS(lun->mp, buffer_get)) {
			void (*release)(void *, void *) = NULL;
			void *cookie = NULL;

			buf = lun->mp->buffer_get(lun->aext, lun->ext, srb, len, &release, &cookie);
			if (buf && release) {
				srb->priv.buf = buf;
				srb->priv.buf_release = release;
				srb->priv.buf_cookie = cookie;
			} else {
				buf = NULL;     /* nothing to give it back with: not taken */
			}
		}
		pthread_mutex_unlock(&q->lock);
		if (buf)
			return buf;
	}
	buf = vs_srb_buffer(srb, &cap);
	return buf && cap >= len ? buf : NULL;
}
