/*
 * Buffered socket I/O for libiscsi's connections.
 *
 * libiscsi reads every PDU with a recv() of the 48-byte header and a
 * readv() of its data, and writes it with a send() of the header and a
 * writev() of the data: two system calls per PDU each way, plus one more
 * recv() per iscsi_service() that returns EAGAIN.  At 4 KiB and queue
 * depth 32 that made the load generator, not the target, the bottleneck.
 *
 * iscsi-load therefore defines recv, send, readv and writev itself (the
 * executable's definitions take precedence over libc's for libiscsi too).
 * For a registered socket they work on per-connection buffers: one real
 * receive takes in everything the socket holds and later calls are served
 * from memory; sends are appended and leave in one real send when the
 * worker calls sockbuf_flush().  Transfers of 64 KiB or more go straight
 * between the socket and libiscsi's buffers (no copy for large I/O).  Any
 * other descriptor, and every descriptor of a thread that registered none,
 * goes to the kernel unchanged.
 *
 * A registered descriptor belongs to one worker thread: only that thread
 * calls these functions for it.
 */
#ifndef ISCSI_LOAD_SOCKBUF_H
#define ISCSI_LOAD_SOCKBUF_H

#include <stdbool.h>

/* Start buffering fd (0 or -1 with errno). */
int  sockbuf_register(int fd);
/* Send what is buffered and stop buffering: later calls go to the
 * kernel, after any received bytes still buffered.  Blocks (bounded) until
 * the buffered sends are out. */
void sockbuf_unregister(int fd);
/* Write out what is buffered.  0: all out or the socket is full (then
 * sockbuf_tx_pending() says POLLOUT is wanted); -1 with errno: the
 * connection failed (also reported to libiscsi's next call). */
int  sockbuf_flush(int fd);
bool sockbuf_tx_pending(int fd);
/* Received bytes wait in memory: the descriptor is readable whatever
 * poll() says. */
bool sockbuf_rx_pending(int fd);

#endif
