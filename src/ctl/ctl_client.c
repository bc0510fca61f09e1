/* SPDX-License-Identifier: MIT */
/*
 * One control-socket client's buffers (see ctl_client.h): requests in,
 * replies out, never a blocking call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl_client.h"
#include "ctl_int.h"

int vs_ctl_client_open(struct ctl_client *c, int fd, uint64_t now_ms)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (!(c->in = malloc(VS_CTL_MAX_REQUEST + 1)))
		return -1;
	c->fd = fd;
	c->active_ms = now_ms;
	return 0;
}

void vs_ctl_client_close(struct ctl_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static bool line_buffered(const struct ctl_client *c)
{
	return c->in_len && memchr(c->in, '\n', c->in_len);
}

bool vs_ctl_client_has_request(const struct ctl_client *c)
{
	return c->fd >= 0 && !c->closing && ctl_client_pending_out(c) < VS_CTL_MAX_OUTPUT &&
	       line_buffered(c);
}

bool vs_ctl_client_wants_input(const struct ctl_client *c)
{
	/* Not while its replies pile up unread: that is what bounds them. */
	return c->fd >= 0 && !c->eof && !c->closing && ctl_client_pending_out(c) < VS_CTL_MAX_OUTPUT &&
	       c->in_len <= VS_CTL_MAX_REQUEST;
}

bool vs_ctl_client_finished(const struct ctl_client *c)
{
	if (ctl_client_pending_out(c))
		return false;
	return c->closing || (c->eof && !line_buffered(c));
}

/* Append len bytes and a newline to the reply queue. */
static int queue_line(struct ctl_client *c, const char *s, size_t len)
{
	size_t need = ctl_client_pending_out(c) + len + 1;

	if (c->out_off) {
		/* what was sent makes room at the front */
		memmove(c->out, c->out + c->out_off, ctl_client_pending_out(c));
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *p;

		while (cap < need)
			cap *= 2;
		if (!(p = realloc(c->out, cap)))
			return -1;
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, s, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	return 0;
}

int vs_ctl_client_flush(struct ctl_client *c, uint64_t now_ms)
{
	while (ctl_client_pending_out(c)) {
		ssize_t n = send(c->fd, c->out + c->out_off, ctl_client_pending_out(c),
		                 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			c->out_off += (size_t)n;
			c->active_ms = now_ms;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;       /* the rest when it reads */
		return -1;
	}
	c->out_off = c->out_len = 0;
	/* a large reply's buffer is not kept for the connection's life */
	if (c->out_cap > VS_CTL_MAX_OUTPUT) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	return 0;
}

int vs_ctl_client_read(struct ctl_client *c, uint64_t now_ms)
{
	size_t room = VS_CTL_MAX_REQUEST + 1 - c->in_len;
	ssize_t n;

	if (room == 0)
		return 0;
	n = recv(c->fd, c->in + c->in_len, room, MSG_DONTWAIT);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	if (n == 0) {
		c->eof = true;
		return 0;
	}
	/* Progress is a whole line, not bytes: a client dribbling a request
	 * that never ends stays idle. */
	if (memchr(c->in + c->in_len, '\n', (size_t)n))
		c->active_ms = now_ms;
	c->in_len += (size_t)n;
	if (!line_buffered(c) && c->in_len > VS_CTL_MAX_REQUEST) {
		/* No newline within the limit: the framing is lost, so refuse and
		 * hang up rather than guess where the next request starts. */
		char msg[96];

		snprintf(msg, sizeof(msg), "request: longer than %d bytes", VS_CTL_MAX_REQUEST);
		vs_ctl_client_error(c, VS_CTL_INVALID_REQUEST, msg, true);
	}
	return 0;
}

int vs_ctl_client_serve_one(struct ctl_client *c, struct vs_ctl_state *st, uint64_t now_ms)
{
	char *nl = memchr(c->in, '\n', c->in_len);
	size_t line, body;
	int rc = 0;

	if (!nl)
		return 0;
	line = (size_t)(nl - c->in);
	body = line && c->in[line - 1] == '\r' ? line - 1 : line;
	/* Blank lines are keep-alives; ignore them. */
	if (body) {
		char *reply = vs_ctl_handle(st, c->in, body);

		rc = reply ? queue_line(c, reply, strlen(reply)) : -1;
		free(reply);
	}
	memmove(c->in, nl + 1, c->in_len - line - 1);
	c->in_len -= line + 1;
	c->active_ms = now_ms;
	return rc < 0 ? -1 : vs_ctl_client_flush(c, now_ms);
}

static char *error_line(int code, const char *msg)
{
	json_t *r = json_pack("{s:n,s:{s:i,s:s}}", "id", "error", "code", code, "message", msg);
	char *s = r ? json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(r);
	return s;
}

void vs_ctl_client_error(struct ctl_client *c, int code, const char *msg, bool then_close)
{
	char *s = error_line(code, msg);

	if (s)
		(void)queue_line(c, s, strlen(s));
	free(s);
	if (then_close)
		c->closing = true;
}

void vs_ctl_say_error_once(int fd, int code, const char *msg)
{
	char *s = error_line(code, msg);
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	s[n] = '\n';            /* replaces the terminator; send takes a length */
	(void)!send(fd, s, n + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(s);
}
