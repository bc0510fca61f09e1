#!/bin/bash
# Shared by scripts/run.sh and scripts/test.sh: install the Debian 12
# packages vstor needs, but only those that are missing, quietly.
# Source it, then call vs_install_deps.

# librbd-dev (with librados-dev): the rbd backend (src/backends/rbd/).
# libisal-dev: ISA-L's CRC32C for iSCSI digests (src/util/vs_crc32c.c).
VS_DEPS=(cmake pkg-config liburing-dev libssl-dev libjansson-dev libcmocka-dev
         libiscsi-dev libiscsi-bin clang libclang-rt-14-dev librbd-dev libnbd-dev libsystemd-dev
         libmicrohttpd-dev libisal-dev)
# Only the test suite needs these: a third-party initiator (QEMU's iSCSI
# block driver) for tests/e2e/qemu_img.sh, python3 for the raw protocol
# checks in tests/e2e/ctl_bad_input.sh, and python3-cryptography for the
# crypt filter's interop check against an independent XTS
# (tests/unit/lib/xts_ref.py).  The QEMU guest tests (tests/vm/)
# need QEMU and what builds the guest (busybox, cpio, kmod's depmod and
# modprobe, xz for newer kernels' modules, e2fsprogs, util-linux's fstrim
# and blkdiscard), socat for the guest's forwarded connections, and
# nbdkit and qemu-nbd as peer NBD servers; the guest's kernel and its own
# programs (nbd-client, open-iscsi) are fetched by apt-get download, not
# installed.  NBD clients nobody here wrote for tests/e2e/nbd_*.sh
# (libnbd's nbdinfo/nbdcopy/nbdsh and its Python binding, QEMU's NBD
# client in qemu-utils, GnuTLS's certtool/psktool) and fio's nbd engine
# for bench/compare-nbd.
# The rbd backend's tests bring up a throw-away Ceph cluster
# (tests/lib/ceph_cluster.sh: ceph-mon, ceph-osd with memstore, ceph-mgr
# from `ceph` if wanted) and check data with the `rbd` tool (ceph-common);
# bench/rbd-compare drives the same image with fio's rbd engine (Debian's
# fio is built with it).  The nbd backend's tests (libnbd-dev builds it)
# run it against nbdkit (its memory and file plugins, its cache, error,
# delay, log and multi-conn filters, all in the nbdkit package), qemu-nbd
# (qemu-utils) and nbd-server; bench/nbd-backend-compare drives nbdkit directly with
# fio's nbd engine beside vstor.
# systemd's systemd-analyze checks the unit tests/e2e/install.sh installs;
# prometheus's promtool checks what GET /metrics serves (tests/e2e/metrics.sh);
# tmux is the terminal vstorctl top is captured in (tests/e2e/vstorctl_top.sh).
# `vs_install_deps --test` adds them.
VS_TEST_DEPS=(qemu-utils qemu-block-extra python3 python3-cryptography systemd prometheus tmux
              qemu-system-x86 busybox-static cpio kmod xz-utils e2fsprogs util-linux socat nbdkit
              libnbd-bin python3-libnbd gnutls-bin fio nbd-server
              ceph ceph-mon ceph-osd ceph-common)

# What building the Debian packages needs beyond VS_DEPS (scripts/package.sh,
# and so the test suite's package stage): debhelper (debian/rules), lintian,
# dpkg-buildpackage and the compiler build-essential stands for.
VS_PACKAGE_DEPS=(debhelper lintian dpkg-dev build-essential)

vs_missing_deps() {   # [--test|--package]
	local p missing=() want=("${VS_DEPS[@]}")
	[ "${1:-}" = --test ] && want+=("${VS_TEST_DEPS[@]}" "${VS_PACKAGE_DEPS[@]}")
	[ "${1:-}" = --package ] && want+=("${VS_PACKAGE_DEPS[@]}")
	for p in "${want[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
			missing+=("$p")
		fi
	done
	echo "${missing[@]}"
}

vs_install_deps() {   # [--test|--package]
	local scope=${1:-}
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "deps: not a Debian system; install these yourself: ${VS_DEPS[*]}" >&2
		return 0
	fi
	local missing
	missing=$(vs_missing_deps $scope)
	[ -z "$missing" ] && return 0

	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo=(sudo)
		else
			echo "deps: missing packages: $missing" >&2
			echo "deps: run as root: apt-get install -y $missing" >&2
			return 1
		fi
	fi
	echo "deps: installing $missing"
	export DEBIAN_FRONTEND=noninteractive
	# The package lists may be absent on a fresh machine; update once.
	"${sudo[@]}" apt-get update -qq >/dev/null || return 1
	# shellcheck disable=SC2086
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends $missing >/dev/null || return 1
	missing=$(vs_missing_deps $scope)
	if [ -n "$missing" ]; then
		echo "deps: still missing after install: $missing" >&2
		return 1
	fi
}
