#!/bin/bash
# The delay filter through the whole daemon: a LUN added with
# `vstorctl lun add ... --filter delay,read=40ms,write=10ms` answers every
# read over iSCSI in at least 40 ms and every write in at least 10 ms, the
# median not much later (iscsi-load, QD1); `vstorctl lun set-filter`
# takes the read delay away at run time, and a bad value is refused naming
# the field, changing nothing.  About 5 s.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
PORT=$((3501 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:delay
LOAD=$BUILD_ABS/bench/iscsi-load/iscsi-load
[ -x "$LOAD" ] || fail "iscsi-load not built"
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "1M" } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"
ctl_ok lun add --target $IQN --lun 1 --backend ram --size 16M \
	--filter delay,read=40ms,write=10ms >/dev/null

# latency RW MIN_MS MAX_P50_MS: a QD1 run of 1 s; every I/O at least
# MIN_MS, the median at most MAX_P50_MS (a loaded machine can only add)
latency() {
	"$LOAD" --url "iscsi://127.0.0.1:$PORT/$IQN/1" --json --rw "$1" --bs 4k --qd 1 \
		--duration 1 --warmup 0 >"$tmp/lat.json" 2>&1 || fail "iscsi-load $1: $(cat "$tmp/lat.json")"
	python3 - "$tmp/lat.json" "$@" <<'PY' || fail "$1: $(cat "$tmp/lat.json")"
import json, sys
r = json.load(open(sys.argv[1]))
rw, lo, hi = sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
lat = r["lat_us"]
print("  %-5s %3d I/Os, latency min %7.2f ms, median %7.2f ms (want at least %.0f, median at most %.0f), errors %d"
      % (rw, r["ios"], lat["min"] / 1000, lat["p50"] / 1000, lo, hi, r["errors"]))
sys.exit(r["errors"] or r["dead_sessions"] or r["ios"] == 0 or
         lat["min"] < lo * 1000 or lat["p50"] > hi * 1000)
PY
}

latency read 40 90
latency write 10 60
ctl_ok lun set-filter --target $IQN --lun 1 --filter delay,read=0 >/dev/null
latency read 0 10
ctl_err 1 "^vstorctl: params\.options\.write: 'soon' is not a duration" \
	lun set-filter --target $IQN --lun 1 --filter delay,write=soon
latency write 10 60

stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
pass "reads and writes delayed as configured over iSCSI, changed at run time"
