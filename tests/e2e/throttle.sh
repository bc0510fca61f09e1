#!/bin/bash
# The throttle filter through the whole daemon (issue 11, "Must show"),
# measured over iSCSI by bench/iscsi-load:
#  - LUN 0 at iops=2000: a QD32 random 4 KiB read run over 8 s measures
#    2000 +- 5 % IOPS;
#  - LUN 1 at bps=50M (decimal: 50 000 000 bytes/s): a 1 MiB sequential
#    write run measures 50 MB/s (iscsi-load's MB are 10^6 bytes) +- 5 %;
#  - `vstorctl lun set-filter` from 2000 to 1000 IOPS while a load runs:
#    the daemon's count of completed commands grows by 2000/s +- 5 % in
#    the 2 s before and by 1000/s +- 5 % in the 2 s after;
#  - nothing fails: every run reports 0 errors and no lost session;
#  - a malformed limit is refused naming the field.
# Each figure is printed.  About 20 s.  A rate that misses gets one more
# run: a loaded machine can stall the daemon's loop (or the load) for
# longer than the burst it may catch up, which only ever lowers a
# figure, while a wrong throttle misses every time.  Errors get none.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
PORT=$((3500 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:throttle
LOAD=$BUILD_ABS/bench/iscsi-load/iscsi-load
[ -x "$LOAD" ] || fail "iscsi-load not built"
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [
      { "lun": 0, "backend": "ram", "size": "64M",
        "filters": [ { "name": "throttle", "iops": 2000 } ] },
      { "lun": 1, "backend": "ram", "size": "64M",
        "filters": [ { "name": "throttle", "bps": "50M" } ] } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"
grep -q "^vstord: serving $IQN LUN 0 (throttle/ram, 64 MiB), LUN 1 (throttle/ram, 64 MiB) " \
	"$tmp/vstord.log" || fail "the serving line does not show the LUNs' stacks"

# load OUT LUN ARGS...: one iscsi-load run, its JSON report in OUT
load() {
	local out=$1 lun=$2
	shift 2
	"$LOAD" --url "iscsi://127.0.0.1:$PORT/$IQN/$lun" --json "$@" >"$out" 2>&1 ||
		fail "iscsi-load $*: $(cat "$out")"
}

# check OUT FIELD WANT WHAT: prints the figure; fails the test on any
# error; 0 if FIELD of the report is within 5 % of WANT, else 1
check() {
	python3 - "$@" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
field, want, what = sys.argv[2], float(sys.argv[3]), sys.argv[4]
got = r[field]
dev = (got - want) / want * 100
print("  %-46s %8.1f %s (want %.0f +- 5 %%: %+.2f %%), %d I/Os, errors %d" %
      (what, got, field, want, dev, r["ios"], r["errors"]))
if r["errors"] or r["dead_sessions"]:
    print("%s: %d errors, %d sessions lost" % (what, r["errors"], r["dead_sessions"]))
    sys.exit(2)
sys.exit(1 if abs(dev) > 5 else 0)
PY
}

# measure FIELD WANT WHAT LUN ARGS...: a run within 5 %, in one of two
measure() {
	local field=$1 want=$2 what=$3 rc
	shift 3
	for try in 1 2; do
		load "$tmp/run.json" "$@"
		check "$tmp/run.json" "$field" "$want" "$what"
		rc=$?
		[ $rc = 0 ] && return 0
		[ $rc = 1 ] || fail "$what: $(cat "$tmp/run.json")"
	done
	fail "$what: off by more than 5 % twice: $(cat "$tmp/run.json")"
}

measure iops 2000 "iops=2000, QD32 random 4 KiB reads, 8 s" \
	0 --rw read --pattern random --bs 4k --qd 32 --duration 8 --warmup 1
measure mb_s 50 "bps=50M, QD8 sequential 1 MiB writes, 3 s" \
	1 --rw write --pattern seq --bs 1M --qd 8 --duration 3 --warmup 1

# 2000 -> 1000 while a load runs: the daemon's count of completed
# commands (the stats call over the control socket, timed to the ms)
# over 2 s before `vstorctl lun set-filter` and 2 s after it
live() {
	local loader rc
	ctl_ok lun set-filter --target $IQN --lun 0 --filter throttle,iops=2000 >/dev/null
	load "$tmp/live.json" 0 --rw read --pattern random --bs 4k --qd 32 --duration 7 --warmup 0 &
	loader=$!
	python3 - "$SOCK" "$IQN" "$VSTORCTL" <<'PY'
import json, socket, subprocess, sys, time
path, iqn, vstorctl = sys.argv[1:4]
conn = socket.socket(socket.AF_UNIX)
conn.connect(path)
replies = conn.makefile("r")

def ops():
    t0 = time.monotonic()
    conn.sendall(json.dumps({"id": 1, "method": "stats",
                             "params": {"target": iqn, "lun": 0}}).encode() + b"\n")
    n = json.loads(replies.readline())["result"]["luns"][0]["ops"]
    return (t0 + time.monotonic()) / 2, n

def rate(a, b):
    return (b[1] - a[1]) / (b[0] - a[0])

def near(what, got, want):
    dev = (got - want) / want * 100
    print("  %-46s %8.1f iops (want %.0f +- 5 %%: %+.2f %%)" % (what, got, want, dev))
    return abs(dev) <= 5

time.sleep(1)
a = ops()
time.sleep(2)
b = ops()
subprocess.run([vstorctl, "--socket", path, "lun", "set-filter", "--target", iqn, "--lun", "0",
                "--filter", "throttle,iops=1000"], check=True, stdout=subprocess.DEVNULL)
c = ops()
time.sleep(2)
d = ops()
ok = near("iops=2000 under load, 2 s", rate(a, b), 2000)
ok = near("vstorctl set-filter iops=1000, the next 2 s", rate(c, d), 1000) and ok
sys.exit(0 if ok else 1)
PY
	rc=$?
	kill -0 $loader 2>/dev/null || { echo "  (the load ended before the last sample)"; rc=1; }
	wait $loader || fail "iscsi-load across the change failed"
	python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(r["errors"] or r["dead_sessions"])' \
		"$tmp/live.json" || fail "the run across the change: $(cat "$tmp/live.json")"
	return $rc
}
for try in 1 2; do
	live && break
	[ $try = 2 ] && fail "the rates before and after the change: off by more than 5 % twice"
done

# a bad value is refused naming the field
ctl_err 1 "^vstorctl: params\.options\.bps: '50MiB' is not a rate" \
	lun set-filter --target $IQN --lun 1 --filter throttle,bps=50MiB

stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
pass "iops and bps limits kept within 5 % over iSCSI, a run-time change measured, no errors"
