/* SPDX-License-Identifier: MIT */
/* A daemon's private Unix socket: see vs_unix.h. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vs_unix.h"

/* Is a daemon answering at this path?  A socket nobody listens on is what
 * a killed daemon leaves behind. */
static bool socket_alive(const struct sockaddr_un *sa, int type)
{
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool alive = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN;
	close(fd);
	return alive;
}

int vs_unix_listen(const char *path, int type, const char *what, struct vs_unix_listener *l,
                   char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat sb;

	l->fd = -1;
	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path must be 1-%zu bytes", what, sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);

	char *dup = strdup(path);
	if (!dup) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	char *dir = dirname(dup);
	if (stat(dir, &sb) != 0) {
		/* /run/vstor on a fresh boot: make it (not its parents). */
		if (errno != ENOENT || mkdir(dir, 0755) != 0) {
			snprintf(err, errlen, "%s: cannot create the socket's directory %s: %s", path, dir,
			     strerror(errno));
			free(dup);
			return -1;
		}
	}
	free(dup);

	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			snprintf(err, errlen, "%s: exists and is not a socket", path);
			return -1;
		}
		if (socket_alive(&sa, type)) {
			snprintf(err, errlen, "%s: another vstord is listening there", path);
			return -1;
		}
		unlink(path);
	}
	l->fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		snprintf(err, errlen, "%s: socket: %s", path, strerror(errno));
		return -1;
	}
	/* 0600 from the start: no window in which others could connect. */
	mode_t old = umask(0177);
	int rc = bind(l->fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	umask(old);
	if (rc != 0) {
		snprintf(err, errlen, "%s: bind: %s", path, strerror(e));
		goto fail;
	}
	l->owner = geteuid();
	/* Root's socket is root's whatever our gid happens to be. */
	if ((l->owner == 0 && lchown(path, 0, 0) != 0) || chmod(path, 0600) != 0 ||
	    lstat(path, &sb) != 0 || listen(l->fd, 16) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	if (sb.st_uid != l->owner || (sb.st_mode & 0777) != 0600) {
		snprintf(err, errlen, "%s: socket is uid %u mode %03o, want uid %u mode 600", path,
		     (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 0777), (unsigned)l->owner);
		unlink(path);
		goto fail;
	}
	l->dev = sb.st_dev;
	l->ino = sb.st_ino;
	return 0;
fail:
	close(l->fd);
	l->fd = -1;
	return -1;
}

void vs_unix_unlisten(const char *path, struct vs_unix_listener *l)
{
	struct stat sb;

	if (l->fd < 0)
		return;
	close(l->fd);
	l->fd = -1;
	/* Remove the socket only if it is still ours (not a successor's). */
	if (path && lstat(path, &sb) == 0 && sb.st_dev == l->dev && sb.st_ino == l->ino)
		unlink(path);
}

bool vs_unix_peer_allowed(int fd, uid_t owner, uid_t *uid, pid_t *pid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || len != sizeof(cr))
		return false;
	if (uid)
		*uid = cr.uid;
	if (pid)
		*pid = cr.pid;
	return cr.uid == 0 || cr.uid == owner;
}
