#!/bin/sh
# /init of the test guest (busybox sh, PID 1).  Mounts the kernel's file
# systems, loads the modules tests/vm/lib/vm.sh listed (in modprobe's
# order), brings up the user-mode network, runs /vm/test.sh (with bash) and reports
# its exit status on the second serial port (ttyS1: no kernel message
# ever goes there, so the line arrives whole), then powers off.  If this
# script itself dies the kernel panics, QEMU exits (-no-reboot) and the
# host sees no report: the test fails.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/lock /var/lock /var/run
set -a   # the test script sees every variable vm_env set
. /vm/env
set +a

report() {
	echo "VMRESULT $VM_NONCE $1" >/dev/ttyS1
	echo "vm: test finished after $(cut -d' ' -f1 /proc/uptime) s with status $1"
	sync
	poweroff -f
	sleep 60   # PID 1 must not return while the power goes off
}

while read -r ko; do
	[ -n "$ko" ] || continue
	# A CPU-specific helper (crc32c-intel without SSE4.2, ...) may refuse
	# with ENODEV; its generic sibling is in the list too.  What the test
	# asked for is checked below.
	insmod "$ko" 2>/tmp/insmod.err || echo "vm: insmod $ko: $(cat /tmp/insmod.err)"
done </vm/modules
while read -r m; do
	[ -n "$m" ] || continue
	if [ ! -d "/sys/module/$m" ]; then
		echo "vm: module $m did not load"
		report 90
	fi
done </vm/modules.want

ip link set lo up
for dev in /sys/class/net/*; do
	dev=${dev##*/}
	[ "$dev" = lo ] && continue
	ip link set "$dev" up
	ip addr add "$VM_GUEST_IP/24" dev "$dev"
	ip route add default dev "$dev"
	break
done

echo "vm: booted in $(cut -d' ' -f1 /proc/uptime) s, running the test"
cd /tmp || report 91
bash /vm/test.sh
report $?
