/* SPDX-License-Identifier: MIT */
/*
 * One control-socket client: its request and reply buffers, read and
 * written without ever blocking, so that a client that is slow, stuck or
 * hostile costs the others nothing but its turn (ctl_server.c).
 *
 *   - Requests are taken one per turn, whatever the client pipelined.
 *   - Replies queue in the client's own buffer.  While more than
 *     VS_CTL_MAX_OUTPUT bytes of them are unread, no further request of
 *     that client is handled: its memory stays bounded by that plus one
 *     reply, and a client that never reads just stops being served.
 *   - "Active" is the last time it made progress: a whole request line
 *     arrived (a blank keep-alive line counts, a dribble of bytes does
 *     not) or reply bytes left.  The server closes a client idle for its
 *     idle timeout, unless the client is waiting on the server.
 */
#ifndef VSTOR_CTL_CLIENT_H
#define VSTOR_CTL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vs_ctl_state;

struct ctl_client {
	int fd;                 /* -1: slot free */
	char *in;               /* VS_CTL_MAX_REQUEST + 1 bytes */
	size_t in_len;
	char *out;              /* replies not sent yet: out[out_off, out_len) */
	size_t out_off, out_len, out_cap;
	uint64_t active_ms;     /* last progress (CLOCK_MONOTONIC ms) */
	bool eof;               /* the peer stopped sending: answer what came, then close */
	bool closing;           /* send what is queued, then close */
};

/* Take fd (non-blocking) into a free slot; -1 if out of memory. */
int  vs_ctl_client_open(struct ctl_client *c, int fd, uint64_t now_ms);
void vs_ctl_client_close(struct ctl_client *c);

/* Unsent reply bytes. */
static inline size_t ctl_client_pending_out(const struct ctl_client *c)
{
	return c->out_len - c->out_off;
}
/* A request line is buffered and may be handled now (the client reads
 * its replies): the server owes it a turn, so it is neither idle nor
 * evictable. */
bool vs_ctl_client_has_request(const struct ctl_client *c);
/* The server should poll it for reading / writing. */
bool vs_ctl_client_wants_input(const struct ctl_client *c);
/* Nothing left to do for a client that is closing or whose peer stopped. */
bool vs_ctl_client_finished(const struct ctl_client *c);

/* Read what the socket holds.  -1: close it. */
int  vs_ctl_client_read(struct ctl_client *c, uint64_t now_ms);
/* Send queued replies as far as the socket takes them.  -1: close it. */
int  vs_ctl_client_flush(struct ctl_client *c, uint64_t now_ms);
/* Handle the first buffered request line (if vs_ctl_client_has_request) and
 * queue its reply.  -1: close it. */
int  vs_ctl_client_serve_one(struct ctl_client *c, struct vs_ctl_state *st, uint64_t now_ms);
/* Queue one error line ({"id":null,"error":...}); with `then_close` the
 * client is closed once it is sent. */
void vs_ctl_client_error(struct ctl_client *c, int code, const char *msg, bool then_close);
/* One error line to a socket that gets no slot: a single non-blocking try. */
void vs_ctl_say_error_once(int fd, int code, const char *msg);

#endif
