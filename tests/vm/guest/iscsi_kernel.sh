#!/bin/bash
# Guest side of tests/vm/iscsi_kernel.sh: the Linux kernel's iSCSI
# initiator (iscsi_tcp, with open-iscsi's iscsid and iscsiadm from Debian)
# against the target the host forwards to $VM_HOST_IP:3260.
. /vm/lib/disk.sh

PORTAL=$VM_HOST_IP:3260

# iscsiadm would start iscsid through systemctl; this guest starts it.
sed -i 's|^iscsid.startup.*|iscsid.startup = /bin/true|' /etc/iscsi/iscsid.conf
echo "InitiatorName=$ISCSI_INITIATOR" >/etc/iscsi/initiatorname.iscsi
mkdir -p /run/lock/iscsi /var/lib/iscsi
iscsid -f &
for i in $(seq 50); do
	iscsiadm -m session >/dev/null 2>&1
	[ $? = 21 ] && break   # 21: no sessions; iscsid answered
	[ "$i" -lt 50 ] || die "iscsid did not answer within 10 s"
	sleep 0.2
done

step "discovery (SendTargets) at $PORTAL"
out=$(iscsiadm -m discovery -t sendtargets -p "$PORTAL" 2>&1) || die "discovery failed: $out"
echo "$out"
grep -q " $ISCSI_TARGET\$" <<<"$out" || die "discovery did not name $ISCSI_TARGET"
# vstord names its own portal (127.0.0.1 on the host), which is this
# guest's loopback: record the target under the forwarded portal.
iscsiadm -m node -o new -T "$ISCSI_TARGET" -p "$PORTAL" >/dev/null || die "iscsiadm -m node -o new"

# The block device of LUN 0 of the one session, once the scan made it.
iscsi_disk() {
	local b
	for b in /sys/class/iscsi_session/session*/device/target*/*:0:0:0/block/*; do
		[ -e "$b" ] && { echo "${b##*/}"; return 0; }
	done
	return 1
}

disk_attach() {
	local name i
	iscsiadm -m node -T "$ISCSI_TARGET" -p "$PORTAL" --login || return 1
	for i in $(seq 100); do
		name=$(iscsi_disk) && [ -b "/dev/$name" ] && break
		[ "$i" -lt 100 ] || { echo "guest: no disk appeared 20 s after login"; return 1; }
		sleep 0.2
	done
	DISK_DEV=/dev/$name
	iscsiadm -m session -P 1 | grep -E 'Target:|Current Portal|iSCSI Session State'
}

disk_detach() {
	local i
	iscsiadm -m node -T "$ISCSI_TARGET" -p "$PORTAL" --logout || return 1
	for i in $(seq 100); do
		[ -b "$DISK_DEV" ] || return 0
		sleep 0.2
	done
	echo "guest: $DISK_DEV still there 20 s after logout"
	return 1
}

disk_exercise
iscsiadm -m session >/dev/null 2>&1
[ $? = 21 ] || die "a session is still open after the last logout"
