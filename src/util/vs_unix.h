/* SPDX-License-Identifier: MIT */
/*
 * A daemon's private Unix socket (the control socket, the service socket):
 * bound 0600 and owned by our euid (root:root when we are root), its
 * directory made if missing (/run/vstor on a fresh boot), a stale socket
 * a killed daemon left replaced, a live one refused.  And receiving a
 * message with the descriptors passed along it (the service protocol's
 * WELCOME), for both ends of a socket.
 */
#ifndef VSTOR_UTIL_UNIX_H
#define VSTOR_UTIL_UNIX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct vs_unix_listener {
	int fd;                 /* listening, SOCK_CLOEXEC */
	dev_t dev;              /* the socket file we made, so we remove only it */
	ino_t ino;
	uid_t owner;            /* our euid */
};

/*
 * Bind and listen at path with socket type `type` (SOCK_STREAM,
 * SOCK_SEQPACKET), backlog 16.  `what` names the option for errors
 * ("--ctl-socket").  0, or -1 with one line in err.
 */
int  vs_unix_listen(const char *path, int type, const char *what, struct vs_unix_listener *l,
                    char *err, size_t errlen);
/* Close it and remove the socket file if it is still ours. */
void vs_unix_unlisten(const char *path, struct vs_unix_listener *l);
/* May this peer (SO_PEERCRED of fd) use our socket: root or our own euid.
 * Fills *uid and *pid when not NULL.  False if the credentials cannot be
 * read. */
bool vs_unix_peer_allowed(int fd, uid_t owner, uid_t *uid, pid_t *pid);

/* Descriptors one message may bring; the kernel closes any more
 * (MSG_CTRUNC in *flags). */
#define VS_UNIX_FDS_MAX 8
/*
 * Receive one message without blocking (recvmsg, MSG_CMSG_CLOEXEC) with
 * the descriptors passed along it (SCM_RIGHTS): the first `max` go to
 * fds (*nfds of them, the caller's to close), any more are closed here
 * (*closed of them).  *flags gets the message's flags (MSG_TRUNC: it did
 * not fit in len).  nfds, closed and flags may be NULL.  Returns the
 * message's bytes, 0 when the peer has closed, or -errno (-EAGAIN:
 * nothing to read).
 */
ssize_t vs_unix_recv_fds(int sock, void *buf, size_t len, int *fds, int max, int *nfds,
                         int *closed, int *flags);
/* Send one message with nfds (0..VS_UNIX_FDS_MAX) descriptors along it
 * (sendmsg with `flags`, MSG_NOSIGNAL added).  The bytes sent, or -errno. */
ssize_t vs_unix_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds,
                         int flags);

#endif
