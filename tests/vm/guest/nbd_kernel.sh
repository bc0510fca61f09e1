#!/bin/bash
# Guest side of tests/vm/nbd_kernel.sh: the Linux kernel's nbd driver,
# configured by Debian's nbd-client (fixed newstyle handshake, NBD_OPT_GO,
# netlink), against the server the host forwards to $VM_HOST_IP:10809.
. /vm/lib/disk.sh

DISK_DEV=/dev/nbd0

disk_attach() {
	# Port 10809 is nbd-client's default.  With no export name nbd-client
	# 3.24 prints "the oldstyle protocol is no longer supported": only a
	# note, it negotiates fixed newstyle for the default export ("").
	# shellcheck disable=SC2086 # NBD_CLIENT_ARGS is a list of options
	nbd-client ${NBD_EXPORT:+-N "$NBD_EXPORT"} "$VM_HOST_IP" "$DISK_DEV" ${NBD_CLIENT_ARGS:-} ||
		return 1
	# The kernel has the socket once nbd-client returns; the size is set
	# before that.
	[ "$(cat /sys/block/nbd0/size)" -gt 0 ] || { echo "guest: nbd0 has size 0 after connecting"; return 1; }
}

disk_detach() {
	nbd-client -d "$DISK_DEV" || return 1
	i=0
	while [ "$(cat /sys/block/nbd0/size)" != 0 ]; do
		i=$((i + 1))
		[ "$i" -lt 100 ] || { echo "guest: nbd0 still has a size 10 s after disconnecting"; return 1; }
		sleep 0.1
	done
	# The disconnect must also have ended the connection, pid file gone.
	[ ! -e /sys/block/nbd0/pid ] || { echo "guest: nbd0 still connected after -d"; return 1; }
}

disk_exercise
