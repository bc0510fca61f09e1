/* SPDX-License-Identifier: MIT */
/* One message and the descriptors passed with it: see vs_unix.h. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vs_unix.h"

ssize_t vs_unix_recv_fds(int sock, void *buf, size_t len, int *fds, int max, int *nfds,
                         int *closed, int *flags)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * VS_UNIX_FDS_MAX)];
		struct cmsghdr align;
	} cm;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
	                     .msg_controllen = sizeof(cm.b) };
	ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	int kept = 0, gone = 0;

	if (n < 0)
		return -errno;
	/* Descriptors count even on a message we then refuse: each one is
	 * ours to close from here on. */
	for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch)) {
		if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(ch) + i * sizeof(int), sizeof(int));
			if (kept < max) {
				fds[kept++] = fd;
			} else {
				close(fd);
				gone++;
			}
		}
	}
	if (nfds)
		*nfds = kept;
	if (closed)
		*closed = gone;
	if (flags)
		*flags = mh.msg_flags;
	return n;
}

ssize_t vs_unix_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds,
                         int flags)
{
	struct iovec iov = { (void *)buf, len };
	union {
		char b[CMSG_SPACE(sizeof(int) * VS_UNIX_FDS_MAX)];
		struct cmsghdr align;
	} cm;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds < 0 || nfds > VS_UNIX_FDS_MAX)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *ch;

		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		ch = CMSG_FIRSTHDR(&mh);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(ch), fds, sizeof(int) * (size_t)nfds);
	}
	n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	return n < 0 ? -errno : n;
}
