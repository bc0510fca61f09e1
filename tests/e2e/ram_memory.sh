#!/bin/bash
# A RAM LUN costs memory for what was written, not for what was read
# (issue: an initiator that only reads a fresh 1 GiB LUN added 374 MB RSS),
# and RAM LUNs are not promised more memory than vstord may use.
#  - read all of a fresh 1 GiB RAM LUN over iSCSI: vstord's RSS grows by
#    less than 20 MB over its idle RSS; then write 64 MiB of it: RSS grows
#    by about that (so the measurement can see memory at all);
#  - a 1 TiB RAM LUN is refused, naming the memory there is; with
#    overcommit=1 it is accepted.
# Also counted: vstord's page faults while it reads, which show a read that
# touches the disk's memory on any kernel (with transparent huge pages off,
# a read fault maps the shared zero page and RSS alone would not tell).
# RSS is measured on the Release build when scripts/test.sh names it in
# VSTOR_RELEASE_VSTORD (ASan's shadow memory would blur it), else on VSTORD.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
PORT=$((3450 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:ram-mem
LOAD=$BUILD_ABS/bench/iscsi-load/iscsi-load
release=${VSTOR_RELEASE_VSTORD:-}
if [ -n "$release" ]; then
	[ -x "$release" ] || fail "VSTOR_RELEASE_VSTORD=$release is not a program"
	VSTORD=$release
	VSTORCTL=$(dirname "$release")/vstorctl
	LOAD=$(dirname "$release")/bench/iscsi-load/iscsi-load
fi
[ -x "$LOAD" ] || fail "iscsi-load not built"
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "1G" } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$vstord_pid/status"; }
minflt() { awk '{ print $10 }' "/proc/$vstord_pid/stat"; }
load() {        # RW SIZE: one sequential pass over the first SIZE of LUN 0
	"$LOAD" --url "iscsi://127.0.0.1:$PORT/$IQN/0" --rw "$1" --pattern seq --bs 1M --qd 8 \
		--size "$2" --duration 3 --warmup 0 --json >"$tmp/load.json" 2>&1 ||
		fail "iscsi-load $1: $(cat "$tmp/load.json")"
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["ios"] * r["bs"] >= int(sys.argv[2]) and r["errors"] == 0 else 1)' \
		"$tmp/load.json" "$3" || fail "iscsi-load $1 moved less than $3 bytes or failed: $(cat "$tmp/load.json")"
}

# a first small read warms the daemon's own buffers (session, PDU pools)
load read 1M 1048576
idle=$(rss_kb)
f0=$(minflt)
load read 1G $((1 << 30))
after_read=$(rss_kb)
faults=$(( $(minflt) - f0 ))
grew=$(( (after_read - idle) / 1024 ))
[ "$grew" -lt 20 ] || fail "reading 1 GiB never written grew RSS by $grew MB (idle $((idle / 1024)) MB)"
# touching the 262144 pages of 1 GiB would fault each one in
[ "$faults" -lt 10000 ] || fail "reading 1 GiB never written took $faults page faults: the reads touch the disk's memory"
load write 64M $((64 << 20))
after_write=$(rss_kb)
wrote=$(( (after_write - after_read) / 1024 ))
[ "$wrote" -ge 48 ] || fail "writing 64 MiB grew RSS by only $wrote MB: is RSS measured at all?"

ctl_err 1 '^vstorctl: params\.size: 1048576 MiB more of RAM disks would exceed the memory vstord may use \([0-9]+ MiB, less [0-9]+ MiB kept free; 1024 MiB already in RAM disks\); give overcommit=1 to allow it$' \
	lun add --target $IQN --lun 1 --backend ram --size 1T
ctl_ok lun add --target $IQN --lun 1 --backend ram --size 1T --option overcommit=1 >/dev/null
ctl_ok lun list --target $IQN | grep -qE "^$IQN +1 +ram +1 TiB" || fail "overcommitted LUN not listed"
pass "idle RSS $((idle / 1024)) MB; reading 1 GiB: +$grew MB, $faults page faults; writing 64 MiB: +$wrote MB ($(basename "$(dirname "$VSTORD")")/vstord)"
