/* SPDX-License-Identifier: MIT */
/*
 * One request, one reply: connect to the Unix socket, write the request as
 * one JSON line, read one line back.  The daemon may take a while (a forced
 * LUN removal waits for aborts), so the wait is long but bounded.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"

#define REPLY_MAX   (16u << 20)   /* a reply longer than this is not ours */
#define TIMEOUT_MS  300000

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read up to the first newline; NULL on EOF/timeout/error (errno set). */
static char *read_line(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int pr = poll(&p, 1, TIMEOUT_MS);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			errno = ETIMEDOUT;
		if (pr <= 0)
			break;
		if (n == cap) {
			if (cap >= REPLY_MAX) {
				errno = EMSGSIZE;
				break;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		ssize_t r = recv(fd, buf + n, cap - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ECONNRESET;
			break;
		}
		char *nl = memchr(buf + n, '\n', (size_t)r);
		n += (size_t)r;
		if (nl) {
			*len = (size_t)(nl - buf);
			return buf;
		}
	}
	free(buf);
	return NULL;
}

json_t *vsc_call(const char *path, const char *method, json_t *params, char *err, size_t errlen,
                 json_t **error)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	json_t *result = NULL;
	char *line = NULL, *req = NULL;
	int fd = -1;

	*error = NULL;
	json_t *r = json_pack("{s:i,s:s,s:o}", "id", 1, "method", method, "params",
	                      params ? params : json_object());
	if (!r || !(req = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "--socket: path longer than %zu bytes", sizeof(sa.sun_path) - 1);
		goto out;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot connect: %s%s", path, strerror(e),
		         e == EACCES ? " (the control socket is for root)"
		         : e == ENOENT || e == ECONNREFUSED ? " (is vstord running? see --socket)" : "");
		goto out;
	}
	int send_errno = 0;
	if (write_all(fd, req, strlen(req)) < 0 || write_all(fd, "\n", 1) < 0)
		send_errno = errno;
	/* Even if sending failed, the daemon may have said why before it hung
	 * up (e.g. a refused peer): read that first. */
	size_t len = 0;
	line = read_line(fd, &len);
	if (!line) {
		if (send_errno)
			snprintf(err, errlen, "%s: cannot send: %s", path, strerror(send_errno));
		else
			snprintf(err, errlen, "%s: no reply: %s", path, strerror(errno));
		goto out;
	}
	json_error_t jerr;
	json_t *reply = json_loadb(line, len, 0, &jerr);
	if (!reply || !json_is_object(reply)) {
		snprintf(err, errlen, "%s: reply is not a JSON object: %s", path, jerr.text);
		json_decref(reply);
		goto out;
	}
	json_t *e = json_object_get(reply, "error");
	json_t *res = json_object_get(reply, "result");
	if (e) {
		const char *msg = json_string_value(json_object_get(e, "message"));
		snprintf(err, errlen, "%s", msg ? msg : "error without a message");
		*error = json_incref(e);
	} else if (res) {
		result = json_incref(res);
	} else {
		snprintf(err, errlen, "%s: reply has neither result nor error", path);
	}
	json_decref(reply);
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(req);
	json_decref(r);
	return result;
}
