#!/bin/bash
# The Linux kernel's iSCSI initiator against vstord: in a QEMU guest (TCG,
# Debian's kernel, busybox initramfs), open-iscsi's iscsid and iscsiadm
# from Debian discover vstord's target through user-mode networking, log
# in to a RAM LUN, make ext4, write checksummed files, log out and in
# again, run e2fsck -fn, verify every checksum, run fstrim and blkdiscard
# and log out (guest/iscsi_kernel.sh, guest/lib/disk.sh).  vstord must
# then exit 0 on SIGTERM (the ASan build: a leak or memory error fails).
#
# Usage: iscsi_kernel.sh [VSTORD] [BUILD_DIR]   (default build-asan/vstord)
# Port: 3420 + $VSTOR_PORT_OFFSET.
. "$(dirname "$0")/lib/vm.sh"

VSTORD=${1:-$VM_REPO/build-asan/vstord}
[ -x "$VSTORD" ] || vm_fail "$VSTORD not found; build first"
[ -n "${2:-}" ] && VM_LOGS=$2/vm-logs
PORT=$((3420 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:vm

vm_kernel
# iscsid and iscsiadm are for the guest only, with the two libraries of
# theirs the host lacks.
vm_debs open-iscsi libisns0 libopeniscsiusr
vm_modules iscsi_tcp sd_mod ext4
vm_progs iscsid iscsiadm mkfs.ext4 e2fsck fstrim blkdiscard
vm_files /etc/mke2fs.conf "$(vm_deb_file open-iscsi /etc/iscsi/iscsid.conf):/etc/iscsi/iscsid.conf"
vm_forward 3260 "$PORT"
vm_env ISCSI_TARGET="$IQN" ISCSI_INITIATOR=iqn.1993-08.org.debian:01:vstor-vm

mkdir -p "$vm_tmp/server"
cat >"$vm_tmp/server/vstord.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN",
    "luns": [ { "lun": 0, "backend": "ram", "size": "256M" } ] } ] }
JSON
vm_server_start "$PORT" "$VSTORD" -c "$vm_tmp/server/vstord.json" --ctl-socket none
vm_run "$VM_DIR/guest/iscsi_kernel.sh" 900
vm_server_stop 20
vm_pass "ext4 round trip through the kernel iSCSI initiator (guest boot ${VM_BOOT_SECONDS}s, QEMU ${VM_TOTAL_SECONDS}s)"
