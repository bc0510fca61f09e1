/* SPDX-License-Identifier: MIT */
/* GET /metrics over libmicrohttpd, see metrics_http.h. */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "metrics_http.h"

/* A scraper or two, never a crowd: bounded like the control socket. */
#define METRICS_MAX_CLIENTS 16
#define METRICS_TIMEOUT_S   10

struct vsd_metrics {
	struct MHD_Daemon *d;
	int fd;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *text,
                             const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
	                                                         MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	rc = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_cls)
{
	struct vs_ctl_state *st = cls;
	struct MHD_Response *r;
	enum MHD_Result rc;
	size_t len = 0;
	char *text;

	(void)version;
	(void)upload;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics\n", "GET, HEAD");
	if (*upload_size)
		return reply(conn, MHD_HTTP_BAD_REQUEST, "a GET has no body\n", NULL);
	if (strcmp(url, "/metrics") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n", NULL);
	text = vs_ctl_metrics(st, &len);
	if (!text)
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	/* the Prometheus text exposition format */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        "text/plain; version=0.0.4; charset=utf-8");
	rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

/* Our own listening socket, so a bind error is reported as the kernel
 * said it (libmicrohttpd only says that it failed). */
static int listen_on(const char *addr_port, char *err, size_t errlen)
{
	char host[64];
	const char *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		                  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	int fd, one = 1, rc;

	if (addr_port[0] == '[') {
		const char *close = strchr(addr_port, ']');

		snprintf(host, sizeof(host), "%.*s", close ? (int)(close - addr_port - 1) : 0,
		         addr_port + 1);
		port = close ? close + 2 : "";
	} else {
		const char *colon = strrchr(addr_port, ':');

		snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - addr_port) : 0, addr_port);
		port = colon ? colon + 1 : "";
	}
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", addr_port, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
		snprintf(err, errlen, "%s: %s", addr_port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

struct vsd_metrics *vsd_metrics_start(const char *addr_port, struct vs_ctl_state *st, char *err,
                                      size_t errlen)
{
	struct vsd_metrics *m = calloc(1, sizeof(*m));

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->fd = listen_on(addr_port, err, errlen);
	if (m->fd < 0) {
		free(m);
		return NULL;
	}
	m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, st,
	                        MHD_OPTION_LISTEN_SOCKET, m->fd, MHD_OPTION_CONNECTION_LIMIT,
	                        (unsigned)METRICS_MAX_CLIENTS, MHD_OPTION_CONNECTION_TIMEOUT,
	                        (unsigned)METRICS_TIMEOUT_S, MHD_OPTION_END);
	if (!m->d) {
		snprintf(err, errlen, "%s: the HTTP server did not start", addr_port);
		close(m->fd);
		free(m);
		return NULL;
	}
	return m;
}

void vsd_metrics_stop(struct vsd_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->d);  /* joins its thread; the socket is ours */
	close(m->fd);
	free(m);
}
