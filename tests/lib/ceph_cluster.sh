#!/bin/bash
# A throw-away single-node Ceph cluster for the rbd backend's tests and
# benchmarks: one monitor, one OSD on the memstore object store (data in
# the OSD's memory), an optional manager, all on 127.0.0.1, every file in
# one directory; no cephadm, no systemd, nothing under /etc or /var.
# Debian 12's Ceph 16.2 packages (ceph-mon, ceph-osd, ceph-common; ceph-mgr
# for CEPH_MGR=1) bring it up in a few seconds.  Source it, then:
#
#   ceph_cluster_up DIR      create and start it in DIR (must not exist or be
#                            empty); exports CEPH_CONF=DIR/ceph.conf, so the
#                            ceph and rbd tools and librados find it; creates
#                            pool "rbd" and user client.vstor ("profile rbd",
#                            keyring DIR/client.vstor.keyring)
#   ceph_cluster_down        stop every daemon it started (by PID), remove DIR
#   ceph_osd_pid             the OSD's PID (for SIGSTOP / SIGCONT)
#
# Ports: the monitor listens on CEPH_PORT_BASE (msgr2) and CEPH_PORT_BASE+1
# (msgr1); the OSD (and manager) bind in CEPH_PORT_BASE+2..+19.
# CEPH_PORT_BASE defaults to 6800 + VSTOR_PORT_OFFSET, never Ceph's own
# 3300/6789, so a real cluster on the host is never touched.
#
# Failures print one line and return 1, leaving DIR/log/*.log to look at
# (ceph_cluster_down removes it; set CEPH_KEEP=1 to keep it).

CEPH_PORT_BASE=${CEPH_PORT_BASE:-$((6800 + ${VSTOR_PORT_OFFSET:-0}))}
CEPH_DIR=
CEPH_UP_TIMEOUT=${CEPH_UP_TIMEOUT:-60}
_ceph_pids=()

_ceph_fail() {
	echo "ceph_cluster: $*" >&2
	return 1
}

# The tools a test needs, all of them: a missing one fails (the
# dependencies stage of scripts/test.sh installs them).
ceph_cluster_check_tools() {
	local t missing=()
	for t in ceph-mon ceph-osd ceph ceph-authtool monmaptool rbd; do
		command -v "$t" >/dev/null || missing+=("$t")
	done
	[ "${CEPH_MGR:-0}" = 1 ] && { command -v ceph-mgr >/dev/null || missing+=(ceph-mgr); }
	[ ${#missing[@]} -eq 0 ] ||
		_ceph_fail "missing ${missing[*]} (apt-get install ceph-mon ceph-osd ceph-common)"
}

_ceph_write_conf() {   # dir fsid
	local d=$1 fsid=$2 p=$CEPH_PORT_BASE
	cat >"$d/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$p,v1:127.0.0.1:$((p + 1))]
public addr = 127.0.0.1
ms bind port min = $((p + 2))
ms bind port max = $((p + 19))
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $d/client.admin.keyring
run dir = $d/run
pid file = $d/run/\$name.pid
# one OSD: one copy, no failure domain above the OSD
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
# small and quiet: two shared cores
osd objectstore = memstore
memstore device bytes = ${CEPH_MEMSTORE_BYTES:-2147483648}
osd op num shards = 1
osd op num threads per shard = 2
ms async op threads = 1

[mon]
mon data = $d/\$name
admin socket = $d/run/\$name.asok
log file = $d/log/\$name.log
[osd]
osd data = $d/\$name
keyring = $d/\$name/keyring
admin socket = $d/run/\$name.asok
log file = $d/log/\$name.log
[mgr]
mgr data = $d/\$name
keyring = $d/\$name/keyring
admin socket = $d/run/\$name.asok
log file = $d/log/\$name.log
CONF
}

# _ceph_start LOG CMD...: run a daemon in the foreground (-f) in the
# background of this shell, so its PID is ours to stop.
_ceph_start() {
	local log=$1
	shift
	"$@" -f >>"$log" 2>&1 &
	_ceph_pids+=($!)
}

ceph_cluster_up() {   # dir
	local d=$1 fsid uuid key i t0=$SECONDS
	ceph_cluster_check_tools || return 1
	mkdir -p "$d" || return 1
	[ -z "$(ls -A "$d")" ] || _ceph_fail "$d is not empty" || return 1
	CEPH_DIR=$(cd "$d" && pwd)
	d=$CEPH_DIR
	mkdir -p "$d/run" "$d/log" "$d/mon.a" "$d/osd.0"
	fsid=$(cat /proc/sys/kernel/random/uuid)
	_ceph_write_conf "$d" "$fsid"
	export CEPH_CONF=$d/ceph.conf
	unset CEPH_ARGS

	ceph-authtool --create-keyring "$d/mon.keyring" --gen-key -n mon. --cap mon 'allow *' \
		>/dev/null || _ceph_fail "ceph-authtool failed" || return 1
	# The users: the monitor's mkfs imports them from its keyring.
	ceph-authtool --create-keyring "$d/client.admin.keyring" --gen-key -n client.admin \
		--cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null &&
		ceph-authtool --create-keyring "$d/client.vstor.keyring" --gen-key -n client.vstor \
			--cap mon 'profile rbd' --cap osd 'profile rbd pool=rbd' >/dev/null &&
		ceph-authtool "$d/mon.keyring" --import-keyring "$d/client.admin.keyring" >/dev/null &&
		ceph-authtool "$d/mon.keyring" --import-keyring "$d/client.vstor.keyring" >/dev/null ||
		_ceph_fail "ceph-authtool failed" || return 1
	monmaptool --create --fsid "$fsid" \
		--addv a "[v2:127.0.0.1:$CEPH_PORT_BASE,v1:127.0.0.1:$((CEPH_PORT_BASE + 1))]" \
		"$d/monmap" >/dev/null || _ceph_fail "monmaptool failed" || return 1
	ceph-mon --mkfs -i a --monmap "$d/monmap" --keyring "$d/mon.keyring" \
		>>"$d/log/mkfs.log" 2>&1 || _ceph_fail "ceph-mon --mkfs failed (see $d/log)" || return 1
	_ceph_start "$d/log/mon.a.out" ceph-mon -i a

	# The OSD: its id, key and auth in one monitor command, then its store.
	uuid=$(cat /proc/sys/kernel/random/uuid)
	key=$(ceph-authtool --gen-print-key)
	printf '{"cephx_secret": "%s"}\n' "$key" >"$d/osd.0/new.json"
	i=$(timeout "$CEPH_UP_TIMEOUT" ceph osd new "$uuid" -i "$d/osd.0/new.json" 2>>"$d/log/cli.log") ||
		_ceph_fail "the monitor did not answer (ceph osd new; see $d/log)" || return 1
	[ "$i" = 0 ] || _ceph_fail "unexpected OSD id '$i'" || return 1
	ceph-authtool --create-keyring "$d/osd.0/keyring" --name osd.0 --add-key "$key" >/dev/null
	ceph-osd -i 0 --mkfs --osd-uuid "$uuid" --no-mon-config >>"$d/log/mkfs.log" 2>&1 ||
		_ceph_fail "ceph-osd --mkfs failed (see $d/log)" || return 1
	_ceph_start "$d/log/osd.0.out" ceph-osd -i 0

	if [ "${CEPH_MGR:-0}" = 1 ]; then
		mkdir -p "$d/mgr.x"
		timeout "$CEPH_UP_TIMEOUT" ceph auth get-or-create mgr.x mon 'allow profile mgr' \
			osd 'allow *' mds 'allow *' -o "$d/mgr.x/keyring" 2>>"$d/log/cli.log" ||
			_ceph_fail "cannot create mgr.x's key" || return 1
		_ceph_start "$d/log/mgr.x.out" ceph-mgr -i x
	fi

	# The pool (rbd pool init writes to it, so it also waits for the OSD to
	# be up and the PGs active).
	timeout "$CEPH_UP_TIMEOUT" ceph osd pool create rbd 8 8 >>"$d/log/cli.log" 2>&1 &&
		timeout "$CEPH_UP_TIMEOUT" rbd pool init rbd >>"$d/log/cli.log" 2>&1 ||
		_ceph_fail "pool rbd not usable within ${CEPH_UP_TIMEOUT}s (see $d/log)" || return 1
	echo "ceph_cluster: up in $((SECONDS - t0)) s in $d (mon 127.0.0.1:$CEPH_PORT_BASE)"
}

ceph_osd_pid() {
	cat "$CEPH_DIR/run/osd.0.pid" 2>/dev/null
}

ceph_cluster_down() {
	local p
	[ ${#_ceph_pids[@]} -gt 0 ] || [ -n "$CEPH_DIR" ] || return 0
	# Throw-away: nothing to flush or hand over, so no graceful shutdown
	# (an OSD takes seconds to stop on SIGTERM).
	# (|| true: callers may run with set -e, and a killed child's wait is 137)
	for p in "${_ceph_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	for p in "${_ceph_pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	_ceph_pids=()
	if [ -n "$CEPH_DIR" ] && [ "${CEPH_KEEP:-0}" != 1 ]; then
		rm -rf "$CEPH_DIR"
	fi
	CEPH_DIR=
}
