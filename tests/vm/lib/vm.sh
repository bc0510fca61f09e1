#!/bin/bash
# The QEMU guest harness for kernel-client tests (tests/vm/README.md).
# Source it from a test script:
#   . "$(dirname "$0")/lib/vm.sh"
#   vm_kernel                       # Debian's kernel, fetched once into the cache
#   vm_debs nbd-client libnl-genl-3-200   # guest-only packages, fetched and unpacked once
#   vm_modules nbd ext4             # with their dependencies (modprobe --show-depends)
#   vm_progs nbd-client mkfs.ext4   # with their shared libraries (ldd)
#   vm_forward 10809 "$PORT"        # guest 10.0.2.100:10809 -> host 127.0.0.1:$PORT
#   vm_env NAME=VALUE               # visible to the guest script
#   vm_run guest/script.sh [TIMEOUT_SECONDS]
# vm_run fails the test (exit 1, with the console's tail) unless the guest
# script ran and reported exit status 0.  A missing tool fails too, never
# skips: scripts/test.sh installs everything (scripts/lib/deps.sh).
#
# Nothing here runs in the guest; lib/init.sh is the guest's /init and
# guest/ holds the scripts the guest runs.
set -uo pipefail

VM_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_DIR=$(dirname "$VM_LIB")
VM_REPO=$(cd "$VM_DIR/../.." && pwd)
. "$VM_REPO/tests/lib/daemon_log.sh"
VM_NAME=${VM_NAME:-$(basename "$0" .sh)}
VM_CACHE=${VSTOR_VM_CACHE:-$VM_REPO/build/vm-cache}
VM_LOGS=${VM_LOGS:-$VM_REPO/build/vm-logs}
# The address the guest reaches forwarded host services on.  QEMU's user
# network runs with restrict=on, so this is the only thing the guest can
# reach: a guestfwd rule per port, each connection relayed to 127.0.0.1.
VM_HOST_IP=10.0.2.100
VM_GUEST_IP=10.0.2.15
VM_MEMORY=${VM_MEMORY:-1024}
vm_tmp=$(mktemp -d "/tmp/vstor-vm-$VM_NAME.XXXXXX")
vm_root=$vm_tmp/initramfs
vm_debroots=()
vm_fwd=()
vm_envs=()
vm_cleanups=()
vm_server_pid=

vm_cleanup() {
	local c
	for c in "${vm_cleanups[@]}"; do eval "$c"; done
	rm -rf "$vm_tmp"
}
trap vm_cleanup EXIT

vm_fail() {
	echo "FAIL $VM_NAME: $*" >&2
	exit 1
}

vm_pass() {
	echo "PASS $VM_NAME${1:+: $1}"
	exit 0
}

vm_log() { echo "vm: $*"; }

# vm_need_cmd COMMAND PACKAGE: fail (not skip) when a host tool is missing.
vm_need_cmd() {
	command -v "$1" >/dev/null 2>&1 ||
		vm_fail "$1 not found: install Debian's $2 (scripts/test.sh installs it)"
}

vm_need_cmd qemu-system-x86_64 qemu-system-x86
vm_need_cmd socat socat
vm_need_cmd cpio cpio
vm_need_cmd modprobe kmod
vm_need_cmd depmod kmod
vm_need_cmd dpkg-deb dpkg
vm_need_cmd apt-get apt
vm_need_cmd flock util-linux
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 ||
	vm_fail "/bin/busybox is missing or not static: install Debian's busybox-static"

mkdir -p "$VM_CACHE/debs" "$VM_CACHE/roots" "$VM_CACHE/kernel" ||
	vm_fail "cannot create the cache $VM_CACHE"

# Everything that downloads or unpacks into the cache holds this lock, so
# tests started side by side fetch each package once.
vm_locked() {
	(
		flock -w 600 9 || { echo "vm: cache lock $VM_CACHE/.lock not free within 600 s" >&2; exit 1; }
		"$@"
	) 9>"$VM_CACHE/.lock"
}

# apt-get download PACKAGE into the cache; on a miss, refresh the package
# lists once (a kernel ABI bump removes the old package from the archive).
# Downloads land in a scratch directory first: an interrupted one leaves
# no truncated .deb in the cache.
vm_apt_download() {   # package
	local opts=() dl rc
	[ "$(id -u)" -eq 0 ] && opts=(-o APT::Sandbox::User=root)
	dl=$(mktemp -d "$VM_CACHE/debs/.download.XXXXXX") || return 1
	(cd "$dl" && apt-get -qq "${opts[@]}" download "$1") >/dev/null 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] && [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq >/dev/null 2>&1
		(cd "$dl" && apt-get -q "${opts[@]}" download "$1") >&2
		rc=$?
	elif [ "$rc" -ne 0 ]; then
		echo "vm: apt-get download $1 failed (run apt-get update as root)" >&2
	fi
	[ "$rc" -eq 0 ] && mv "$dl"/*.deb "$VM_CACHE/debs/"
	rm -rf "$dl"
	return "$rc"
}

# The newest cached .deb of PACKAGE, downloading it if none is cached.
vm_cached_deb() {   # package
	local deb
	deb=$(ls "$VM_CACHE/debs/$1"_*.deb 2>/dev/null | sort -V | tail -1)
	if [ -z "$deb" ]; then
		vm_apt_download "$1" || return 1
		deb=$(ls "$VM_CACHE/debs/$1"_*.deb 2>/dev/null | sort -V | tail -1)
	fi
	[ -n "$deb" ] && echo "$deb"
}

vm_unpack_deb() {   # deb dir
	[ -f "$2/.unpacked" ] && return 0
	rm -rf "$2" && mkdir -p "$2" && dpkg-deb -x "$1" "$2" && touch "$2/.unpacked"
}

# The versioned kernel package a meta-package (linux-image-amd64,
# linux-image-6.12-amd64) depends on, or nothing.
vm_kernel_resolve() {   # package
	apt-cache depends "$1" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

# Which kernel package: $VSTOR_VM_KERNEL (a versioned package or a
# meta-package), else the one already cached, else the one Debian's
# linux-image-amd64 points at today.
vm_kernel_package() {
	local deb pkg
	if [ -n "${VSTOR_VM_KERNEL:-}" ]; then
		pkg=$(vm_kernel_resolve "$VSTOR_VM_KERNEL")
		echo "${pkg:-$VSTOR_VM_KERNEL}"
		return
	fi
	deb=$(ls "$VM_CACHE/debs/"linux-image-[0-9]*-amd64_*.deb 2>/dev/null | sort -V | tail -1)
	if [ -n "$deb" ]; then
		basename "${deb%%_*}"
		return
	fi
	pkg=$(vm_kernel_resolve linux-image-amd64)
	if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq >/dev/null 2>&1
		pkg=$(vm_kernel_resolve linux-image-amd64)
	fi
	echo "$pkg"
}

vm_kernel_fetch() {   # package -> prints the unpacked tree
	local pkg=$1 deb dir kver
	deb=$(vm_cached_deb "$pkg") || return 1
	dir=$VM_CACHE/kernel/$(basename "$deb" .deb)
	if [ ! -f "$dir/.ready" ]; then
		vm_unpack_deb "$deb" "$dir" || return 1
		kver=$(ls "$dir/lib/modules" | head -1)
		# The package ships no modules.dep: dpkg's postinst would make it.
		depmod -b "$dir" "$kver" || return 1
		touch "$dir/.ready"
	fi
	echo "$dir"
}

# vm_kernel: fetch (once) and unpack Debian's kernel; sets VM_KERNEL_DIR,
# VM_KVER and VM_VMLINUZ.
vm_kernel() {
	local pkg
	pkg=$(vm_kernel_package)
	[ -n "$pkg" ] || vm_fail "cannot tell which linux-image package to use (apt-cache depends linux-image-amd64 found none)"
	VM_KERNEL_DIR=$(vm_locked vm_kernel_fetch "$pkg") || vm_fail "cannot fetch and unpack $pkg into $VM_CACHE"
	VM_KVER=$(ls "$VM_KERNEL_DIR/lib/modules" | head -1)
	VM_VMLINUZ=$VM_KERNEL_DIR/boot/vmlinuz-$VM_KVER
	[ -f "$VM_VMLINUZ" ] || vm_fail "$pkg has no $VM_VMLINUZ"
	vm_log "kernel $VM_KVER ($pkg)"
}

vm_deb_fetch() {   # package -> prints the unpacked tree
	local deb dir
	deb=$(vm_cached_deb "$1") || return 1
	dir=$VM_CACHE/roots/$(basename "$deb" .deb)
	vm_unpack_deb "$deb" "$dir" || return 1
	echo "$dir"
}

# vm_debs PACKAGE...: guest-only programs and the libraries they need that
# the host lacks, fetched with apt-get download and unpacked (not
# installed).  vm_progs looks in these trees before the host's.
vm_debs() {
	local p dir
	for p in "$@"; do
		dir=$(vm_locked vm_deb_fetch "$p") || vm_fail "cannot fetch Debian package $p into $VM_CACHE"
		vm_debroots+=("$dir")
	done
}

# vm_deb_file PACKAGE PATH: where PATH of an unpacked package (vm_debs) is.
vm_deb_file() {
	local r
	for r in "${vm_debroots[@]}"; do
		case ${r##*/} in "$1"_*) [ -e "$r$2" ] && { echo "$r$2"; return 0; } ;; esac
	done
	vm_fail "package $1 (vm_debs) has no $2"
}

# ---- the initramfs ---------------------------------------------------------

vm_initramfs_start() {
	local a
	[ -d "$vm_root" ] && return 0
	mkdir -p "$vm_root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,proc,sys,dev,tmp,run,mnt,vm,var/lib,var/lock}
	# Merged /usr, as on Debian 12: every path ldd prints lands once.
	ln -s usr/bin "$vm_root/bin"
	ln -s usr/sbin "$vm_root/sbin"
	ln -s usr/lib "$vm_root/lib"
	ln -s usr/lib64 "$vm_root/lib64"
	cp /bin/busybox "$vm_root/usr/bin/busybox"
	for a in $(/bin/busybox --list-full); do
		[ "$a" = bin/busybox ] || [ "$a" = linuxrc ] && continue
		ln -sf /bin/busybox "$vm_root/$a"
	done
	# Daemons that check their peer's user (iscsid) look root up by name.
	echo "root:x:0:0:root:/root:/bin/sh" >"$vm_root/etc/passwd"
	echo "root:x:0:" >"$vm_root/etc/group"
	cp "$VM_LIB/init.sh" "$vm_root/init"
	chmod 755 "$vm_root/init"
	: >"$vm_root/vm/modules"
	: >"$vm_root/vm/modules.want"
	# Guest scripts run under bash: Debian builds busybox's ash to prefer
	# its own applets, so under ash "fstrim" would be busybox's even where
	# vm_progs put util-linux's in PATH.
	vm_progs bash
}

# Copy a host file into the initramfs at the same path (a file found in an
# unpacked package lands where the package would install it).
vm_copy_in() {   # host-path [guest-path]
	local src=$1 dst=${2:-}
	if [ -z "$dst" ]; then
		local r
		dst=$src
		for r in "${vm_debroots[@]}"; do
			case $src in "$r"/*) dst=${src#"$r"} ;; esac
		done
	fi
	mkdir -p "$vm_root$(dirname "$dst")"
	cp -L --remove-destination "$src" "$vm_root$dst"
}

vm_debroot_libpath() {
	local r p=
	for r in "${vm_debroots[@]}"; do
		p+="$r/lib/x86_64-linux-gnu:$r/usr/lib/x86_64-linux-gnu:"
	done
	echo "${p%:}"
}

# vm_progs NAME|PATH...: dynamically linked programs with every shared
# library ldd finds for them; unpacked packages (vm_debs) come first.
vm_progs() {
	local name path r d libs line lib
	vm_initramfs_start
	for name in "$@"; do
		path=
		if [[ $name == /* ]]; then
			path=$name
		else
			for r in "${vm_debroots[@]}"; do
				for d in sbin usr/sbin bin usr/bin; do
					[ -z "$path" ] && [ -x "$r/$d/$name" ] && path=$r/$d/$name
				done
			done
			for d in /usr/sbin /usr/bin /sbin /bin; do
				[ -z "$path" ] && [ -x "$d/$name" ] && path=$d/$name
			done
		fi
		[ -n "$path" ] && [ -x "$path" ] || vm_fail "program $name not found on the host or in: ${vm_debroots[*]:-no unpacked packages}"
		# The real program, not busybox's applet of the same name.
		for d in usr/bin usr/sbin; do
			[ "$(readlink "$vm_root/$d/${name##*/}")" = /bin/busybox ] && rm "$vm_root/$d/${name##*/}"
		done
		vm_copy_in "$path"
		libs=$(LD_LIBRARY_PATH=$(vm_debroot_libpath) ldd "$path" 2>&1) || true
		if grep -q 'not found' <<<"$libs"; then
			vm_fail "$name needs libraries neither the host nor the unpacked packages have:
$(grep 'not found' <<<"$libs")
add the Debian package that ships each one to the test's vm_debs"
		fi
		while read -r line; do
			case $line in
			*"=> /"*) lib=${line#*=> }; lib=${lib%% (*} ;;
			/*) lib=${line%% (*} ;;
			*) continue ;;
			esac
			vm_copy_in "$lib"
		done <<<"$libs"
	done
}

# vm_files HOST-PATH[:GUEST-PATH]...: plain files (configuration, data).
vm_files() {
	local f
	vm_initramfs_start
	for f in "$@"; do
		[ -e "${f%%:*}" ] || vm_fail "file ${f%%:*} not found"
		if [[ $f == *:* ]]; then vm_copy_in "${f%%:*}" "${f#*:}"; else vm_copy_in "$f"; fi
	done
}

# vm_modules NAME...: kernel modules and what modprobe says they need
# (dependencies and soft dependencies), loaded by the guest's init in that
# order.  Each NAME must be loaded when the test starts.
vm_modules() {
	local m line path rel out
	[ -n "${VM_KVER:-}" ] || vm_fail "vm_modules before vm_kernel"
	vm_initramfs_start
	for m in "$@"; do
		out=$(modprobe -C /dev/null -d "$VM_KERNEL_DIR" -S "$VM_KVER" --show-depends "$m" 2>&1) ||
			vm_fail "kernel $VM_KVER has no module $m: $out"
		while read -r line; do
			case $line in
			"insmod "*)
				path=${line#insmod }
				path=${path%% *}
				rel=${path#"$VM_KERNEL_DIR"}
				grep -qxF "$rel" "$vm_root/vm/modules" && continue
				mkdir -p "$vm_root$(dirname "$rel")"
				# Compressed modules (newer kernels) are unpacked here:
				# busybox insmod reads plain ELF only.
				case $path in
				*.ko.xz)  rel=${rel%.xz}; xz -dc "$path" >"$vm_root$rel" ;;
				*.ko.zst) rel=${rel%.zst}; zstd -qdc "$path" >"$vm_root$rel" ;;
				*)        cp "$path" "$vm_root$rel" ;;
				esac || vm_fail "cannot copy or unpack $path"
				echo "$rel" >>"$vm_root/vm/modules" ;;
			"builtin "*) ;;
			esac
		done <<<"$out"
		echo "${m//-/_}" >>"$vm_root/vm/modules.want"
	done
}

# vm_forward GUEST_PORT HOST_PORT: the guest's connections to
# $VM_HOST_IP:GUEST_PORT reach 127.0.0.1:HOST_PORT on the host, one socat
# per connection (QEMU's guestfwd cmd:), so a client may open several.
vm_forward() {
	vm_fwd+=("guestfwd=tcp:$VM_HOST_IP:$1-cmd:socat STDIO TCP:127.0.0.1:$2")
}

vm_env() {   # NAME=VALUE...
	local kv
	for kv in "$@"; do vm_envs+=("$kv"); done
}

# ---- boot -----------------------------------------------------------------

vm_show_console() {   # console-log lines
	local console=$1 lines=${2:-40}
	[ -f "$VM_LOGS/$VM_NAME.console.log" ] && echo "--- full console log: $VM_LOGS/$VM_NAME.console.log" >&2
	echo "--- guest console (last $lines lines):" >&2
	tail -n "$lines" "$console" | tr -d '\r' >&2
}

# vm_run GUEST_SCRIPT [TIMEOUT_SECONDS]: build the initramfs, boot, run
# the script in the guest (busybox sh, cwd /tmp, with vm_env's variables
# and VM_HOST_IP), and return when it reported exit status 0.  Anything
# else fails the test: a non-zero status, no report (QEMU killed at the
# timeout, a kernel panic, init dying), or a kernel Oops/BUG on the
# console.  Sets VM_BOOT_SECONDS (kernel start to the script's start, by
# the guest's clock) and VM_TOTAL_SECONDS (QEMU's wall time).
vm_run() {
	local script=$1 limit=${2:-600} nonce kv initrd console result rc t0 t1 netdev report
	[ -n "${VM_VMLINUZ:-}" ] || vm_fail "vm_run before vm_kernel"
	[ -f "$script" ] || vm_fail "guest script $script not found"
	vm_initramfs_start
	# The network card the forwards need: virtio-net on virtio-pci.
	[ "${#vm_fwd[@]}" -gt 0 ] && vm_modules virtio_pci virtio_net
	nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
	cp "$script" "$vm_root/vm/test.sh"
	[ -d "$VM_DIR/guest/lib" ] && cp -r "$VM_DIR/guest/lib" "$vm_root/vm/"
	{
		echo "VM_NONCE=$nonce"
		echo "VM_HOST_IP=$VM_HOST_IP"
		echo "VM_GUEST_IP=$VM_GUEST_IP"
		for kv in "${vm_envs[@]}"; do printf '%s=%q\n' "${kv%%=*}" "${kv#*=}"; done
	} >"$vm_root/vm/env"
	initrd=$vm_tmp/initrd.cpio
	(cd "$vm_root" && find . | cpio -o -H newc --quiet) >"$initrd" || vm_fail "cpio failed"
	console=$vm_tmp/console.log
	result=$vm_tmp/result.log
	: >"$console"
	: >"$result"
	netdev="user,id=n0,restrict=on,net=10.0.2.0/24"
	for kv in "${vm_fwd[@]}"; do netdev+=",$kv"; done
	vm_log "booting $(basename "$script") (initramfs $(($(stat -c %s "$initrd") >> 20)) MiB, limit ${limit}s)"
	t0=$(date +%s.%N)
	# TCG only: these machines have no usable KVM.  One vCPU: the host has
	# two cores shared with the rest of the suite.  -no-reboot turns the
	# reboot that panic=-1 asks for into QEMU's exit.
	local qemu_pid server_died=
	timeout -k 5 "$limit" qemu-system-x86_64 \
		-nodefaults -no-user-config -nographic -monitor none \
		-accel tcg -machine pc -cpu max -smp 1 -m "$VM_MEMORY" -no-reboot \
		-kernel "$VM_VMLINUZ" -initrd "$initrd" \
		-append "console=ttyS0,115200 panic=-1 oops=panic rdinit=/init loglevel=6 ${VM_APPEND:-}" \
		-serial "file:$console" -serial "file:$result" \
		-netdev "$netdev" -device virtio-net-pci,netdev=n0,romfile= \
		${VM_QEMU_ARGS:-} \
		</dev/null >"$vm_tmp/qemu.out" 2>&1 &
	qemu_pid=$!
	vm_cleanups+=("kill -KILL $qemu_pid 2>/dev/null")
	# A server that dies leaves the guest waiting on I/O: stop at once.
	while kill -0 "$qemu_pid" 2>/dev/null; do
		if [ -n "$vm_server_pid" ] && ! kill -0 "$vm_server_pid" 2>/dev/null; then
			server_died=1
			kill -TERM "$qemu_pid" 2>/dev/null
		fi
		sleep 0.5
	done
	wait "$qemu_pid"
	rc=$?
	t1=$(date +%s.%N)
	VM_TOTAL_SECONDS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	VM_BOOT_SECONDS=$(sed -n 's/^vm: booted in \([0-9.]*\) s.*/\1/p' "$console" | tr -d '\r' | head -1)
	mkdir -p "$VM_LOGS" 2>/dev/null && cp "$console" "$VM_LOGS/$VM_NAME.console.log" 2>/dev/null
	report=$(tr -d '\r' <"$result" | sed -n "s/^VMRESULT $nonce \([0-9]*\)\$/\1/p" | tail -1)
	if [ -n "$server_died" ]; then
		vm_show_console "$console"
		vm_server_log_tail
		vm_fail "the server exited while the guest was running"
	fi
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		vm_show_console "$console"
		vm_fail "guest did not finish within ${limit}s (QEMU killed)"
	fi
	if [ "$rc" -ne 0 ]; then
		vm_show_console "$console"
		echo "--- qemu:" >&2
		cat "$vm_tmp/qemu.out" >&2
		vm_fail "QEMU exited with status $rc"
	fi
	if grep -qE 'Kernel panic|BUG:|Oops:|general protection fault' "$console"; then
		vm_show_console "$console" 60
		vm_fail "guest kernel: $(grep -m1 -E 'Kernel panic|BUG:|Oops:|general protection fault' "$console" | tr -d '\r')"
	fi
	if [ -z "$report" ]; then
		vm_show_console "$console"
		vm_fail "guest never reported a result"
	fi
	if [ "$report" -ne 0 ]; then
		vm_show_console "$console" 60
		vm_fail "guest script $(basename "$script") exited with status $report"
	fi
	vm_log "guest passed: boot ${VM_BOOT_SECONDS:-?}s, QEMU total ${VM_TOTAL_SECONDS}s"
}

# ---- a server on the host for the guest to reach --------------------------

vm_port_open() {   # port
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

vm_server_log_tail() {
	show_daemon_log "$vm_tmp/server.log" "$VM_LOGS/$VM_NAME.server.log" server
}

# vm_server_start PORT COMMAND [ARGS...]: run the server in the background
# (its output in the server log) and wait until 127.0.0.1:PORT accepts.
# In ARGS, {port} becomes PORT, {tmp} a scratch directory, and {export}
# $VM_SERVER_EXPORT.  The command must stay in the foreground (exec the
# server) so vm_server_stop's SIGTERM reaches it.
vm_server_start() {
	local port=$1 a args=()
	shift
	mkdir -p "$vm_tmp/server"
	for a in "$@"; do
		a=${a//\{port\}/$port}
		a=${a//\{tmp\}/$vm_tmp/server}
		a=${a//\{export\}/${VM_SERVER_EXPORT:-}}
		args+=("$a")
	done
	vm_port_open "$port" && vm_fail "127.0.0.1:$port is already in use (another test? set VSTOR_PORT_OFFSET)"
	vm_log "server: ${args[*]}"
	# Its own session and process group, so the clean-up also ends what a
	# wrapper script started.
	setsid "${args[@]}" >>"$vm_tmp/server.log" 2>&1 </dev/null &
	vm_server_pid=$!
	# shellcheck disable=SC2034 # read by the clean-up below, after
	# vm_server_stop has cleared vm_server_pid
	vm_server_pgid=$vm_server_pid
	vm_cleanups+=('kill -KILL -- "-$vm_server_pgid" 2>/dev/null; [ -n "$vm_server_pid" ] && wait "$vm_server_pid" 2>/dev/null')
	for _ in $(seq 200); do
		if ! kill -0 "$vm_server_pid" 2>/dev/null; then
			vm_server_log_tail
			vm_fail "server exited during start-up: ${args[*]}"
		fi
		vm_port_open "$port" && return 0
		sleep 0.1
	done
	vm_server_log_tail
	vm_fail "server did not listen on 127.0.0.1:$port within 20 s"
}

# vm_server_stop [MAX_SECONDS]: the server must still be running (it
# served the whole guest test), and exit 0 on SIGTERM within MAX_SECONDS.
vm_server_stop() {
	local max=${1:-20} rc
	[ -n "$vm_server_pid" ] || return 0
	if ! kill -0 "$vm_server_pid" 2>/dev/null; then
		wait "$vm_server_pid"
		rc=$?
		vm_server_pid=
		vm_server_log_tail
		vm_fail "the server exited (status $rc) before the test ended"
	fi
	kill -TERM "$vm_server_pid"
	for _ in $(seq $((max * 10))); do
		kill -0 "$vm_server_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$vm_server_pid" 2>/dev/null; then
		kill -KILL "$vm_server_pid"
		wait "$vm_server_pid" 2>/dev/null
		vm_server_pid=
		vm_server_log_tail
		vm_fail "the server did not exit within ${max}s of SIGTERM"
	fi
	wait "$vm_server_pid"
	rc=$?
	vm_server_pid=
	if [ "$rc" -ne 0 ]; then
		vm_server_log_tail
		vm_fail "the server exited with status $rc after SIGTERM, want 0"
	fi
}
