#!/bin/bash
# The Linux kernel's NBD client against an NBD server on the host: in a
# QEMU guest (TCG, Debian's kernel, busybox initramfs), Debian's nbd-client
# connects through user-mode networking (fixed newstyle, NBD_OPT_GO), then
# the guest makes ext4, writes checksummed files, syncs, unmounts,
# disconnects and reconnects, runs e2fsck -fn, remounts and verifies every
# checksum, runs fstrim and blkdiscard, and disconnects
# (guest/nbd_kernel.sh, guest/lib/disk.sh).
#
# Usage: nbd_kernel.sh PORT EXPORT [SERVER_COMMAND [ARGS...]]
#   PORT     the server's port on 127.0.0.1, plus $VSTOR_PORT_OFFSET
#   EXPORT   the export name the client asks for ("" = the default export)
#   SERVER_COMMAND  started first and stopped (SIGTERM, must exit 0) after
#            the guest is done; {port}, {export} and {tmp} in its
#            arguments are replaced.  Without it, a server must already
#            listen on PORT.
# Examples (tests/vm/CMakeLists.txt registers these):
#   nbd_kernel.sh 10830 "" nbdkit -f -i 127.0.0.1 -p {port} memory 256M
#   nbd_kernel.sh 10831 vm tests/vm/servers/qemu_nbd.sh {port} {export} {tmp}
# Environment: NBD_CLIENT_ARGS (more nbd-client options, e.g. "-C 2"),
# NBD_EXPECT_SERVER_LOG (an extended regex the server's log must match
# afterwards, e.g. that the client negotiated with NBD_OPT_GO),
# VSTOR_VM_CACHE (the download cache, default build/vm-cache).
. "$(dirname "$0")/lib/vm.sh"

[ $# -ge 2 ] || vm_fail "usage: $0 PORT EXPORT [SERVER_COMMAND [ARGS...]]"
PORT=$(($1 + ${VSTOR_PORT_OFFSET:-0}))
VM_SERVER_EXPORT=$2
shift 2

vm_kernel
# nbd-client is for the guest only; libnl-genl is its library the host lacks.
vm_debs nbd-client libnl-genl-3-200
vm_modules nbd ext4
vm_progs nbd-client mkfs.ext4 e2fsck fstrim blkdiscard
vm_files /etc/mke2fs.conf
vm_forward 10809 "$PORT"
vm_env NBD_EXPORT="$VM_SERVER_EXPORT" NBD_CLIENT_ARGS="${NBD_CLIENT_ARGS:-}"

if [ $# -gt 0 ]; then
	vm_server_start "$PORT" "$@"
else
	vm_port_open "$PORT" || vm_fail "nothing listens on 127.0.0.1:$PORT (give a SERVER_COMMAND)"
fi
vm_run "$VM_DIR/guest/nbd_kernel.sh" 600
vm_server_stop
if [ -n "${NBD_EXPECT_SERVER_LOG:-}" ] && ! grep -qE "$NBD_EXPECT_SERVER_LOG" "$vm_tmp/server.log"; then
	vm_server_log_tail
	vm_fail "the server's log does not match: $NBD_EXPECT_SERVER_LOG"
fi
vm_pass "ext4 round trip through the kernel nbd client (guest boot ${VM_BOOT_SECONDS}s, QEMU ${VM_TOTAL_SECONDS}s)"
