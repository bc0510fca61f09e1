#!/bin/bash
# Services (issue 16): the three kinds of example attach LUNs at run time
# -- the RAM disk (disk mode, C), the message device (raw mode, C) and the
# RAM disk in Python that speaks the protocol without the C library --
# and vstorctl shows them: service list, lun list (stack service:NAME, in
# LUN order), stats, the metrics (backend "service", its state).  Data
# goes through each; config save leaves their
# LUNs out; a number a service took cannot be added again; lun remove
# takes a service's LUN away (its service is told and goes on); a killed
# service is listed gone with its LUN waiting (NOT READY / BECOMING READY);
# services exit 0 on SIGTERM, vstord too.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
PORT=$((3542 + ${VSTOR_PORT_OFFSET:-0}))
METRICS=$((3543 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:svc-life
EX=$BUILD_ABS/examples
PY=$E2E_ROOT/doc/examples/service/pyramdisk.py
RW=$BUILD_ABS/e2e/sense_rw
MSG=$BUILD_ABS/e2e/svc_msg
for p in "$EX/ramdisk" "$EX/msgdev" "$RW" "$MSG"; do
	[ -x "$p" ] || fail "$p not built"
done
command -v python3 >/dev/null || fail "python3 not installed"
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"], "metrics": { "listen": "127.0.0.1:$METRICS" },
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "16M" } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json" --service-socket "$tmp/svc.sock"

# GET /metrics → $tmp/metrics
metrics() {
	exec 3<>"/dev/tcp/127.0.0.1/$METRICS" || fail "metrics port"
	printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
	timeout 5 cat <&3 >"$tmp/metrics"
	exec 3<&-
}
# the LUN's backend_state sample is 1 for STATE
metrics_state() {   # lun state
	metrics
	grep -qx "vstor_lun_backend_state{target=\"$IQN\",lun=\"$1\",backend=\"service\",state=\"$2\"} 1" \
		"$tmp/metrics" || fail "metrics: LUN $1 not $2: $(grep "lun=\"$1\"" "$tmp/metrics" | grep state)"
}

service() {   # name command... : start it, wait for "serving"
	local name=$1
	shift
	"$@" >"$tmp/$name.log" 2>&1 &
	eval "${name}_pid=$!"
	e2e_extra_pids+=("$!")
	for _ in $(seq 100); do
		grep -q "serving" "$tmp/$name.log" && return 0
		kill -0 "$!" 2>/dev/null || fail "$name exited: $(cat "$tmp/$name.log")"
		sleep 0.1
	done
	fail "$name did not start"
}
service ram "$EX/ramdisk" -s "$tmp/svc.sock" -t $IQN 1=32M
service py python3 "$PY" -s "$tmp/svc.sock" -t $IQN --size $((16 << 20)) 3
service msg "$EX/msgdev" -s "$tmp/svc.sock" -t $IQN 4

ctl_ok service list >"$tmp/svc.list"
cat "$tmp/svc.list"
for s in "ramdisk .* 1 .*connected" "pyramdisk .* 3 .*connected" "msgdev .* 4 .*connected"; do
	grep -qE "^$s" "$tmp/svc.list" || fail "service list lacks /$s/"
done
ctl_ok lun list --target $IQN >"$tmp/lun.list"
cat "$tmp/lun.list"
[ "$(awk 'NR > 1 { printf "%s ", $2 }' "$tmp/lun.list")" = "0 1 3 4 " ] ||
	fail "lun list: not LUNs 0 1 3 4 in order"
grep -qE " 1 +service:ramdisk +32 MiB" "$tmp/lun.list" || fail "lun list: LUN 1 wrong"
grep -qE " 4 +service:msgdev " "$tmp/lun.list" || fail "lun list: LUN 4 wrong"
out=$(iscsi-ls -s "iscsi://127.0.0.1:$PORT/" 2>&1)
grep -q "Lun:4 *Type:PROCESSOR" <<<"$out" || fail "iscsi-ls: LUN 4 is not a processor device: $out"

# data through each
for lun in 1 3; do
	[ "$("$RW" 127.0.0.1:$PORT $IQN $lun write 7 0x3c)" = GOOD ] || fail "LUN $lun: write"
	[ "$("$RW" 127.0.0.1:$PORT $IQN $lun read 7)" = "GOOD 3c" ] || fail "LUN $lun: read back"
done
[ "$("$MSG" 127.0.0.1:$PORT $IQN 4 hello-from-e2e)" = "RECEIVED hello-from-e2e" ] ||
	fail "LUN 4: SEND / RECEIVE"
ctl_ok stats --target $IQN --lun 3 | grep -qE "^$IQN +3 +[1-9]" || fail "stats: LUN 3 counted nothing"
metrics_state 1 connected
grep -qE "^vstor_lun_operations_total\{target=\"$IQN\",lun=\"3\",backend=\"service\",op=\"write\"\} [1-9]" "$tmp/metrics" ||
	fail "metrics: LUN 3's write not counted: $(grep 'lun="3"' "$tmp/metrics" | head -3)"
# zero copy: every byte went through the shared area, none was copied;
# the C ram disk lends its memory (protocol 1.1), so its reads were sent
# from there; the Python one does not know the feature
ctl_ok --json service list | python3 -c '
import json, sys
for s in json.load(sys.stdin)["services"]:
    assert s["bytes_copied"] == 0 and s["bytes_shared"] > 0, s
    assert (s["bytes_lent"] > 0) == (s["name"] == "ramdisk"), s' ||
	fail "data was copied, none shared, or lent where not expected: $(ctl --json service list)"

# libvstor-service advises the memory it lends and its mapping of the
# shared area for 2 MiB pages (doc/services.md "Huge pages"): VmFlags "hg"
for m in vstor-service-mem vstor-service-ramdisk; do
	awk -v m="memfd:$m" 'index($0, m) {in_map = 1; next}
		in_map && /^VmFlags:/ {if ($0 ~ / hg/) ok = 1; in_map = 0}
		END {exit !ok}' "/proc/$ram_pid/smaps" ||
		fail "the ram disk's mapping of $m is not advised MADV_HUGEPAGE"
done

# not in the configuration; its number is taken
ctl_ok config save >/dev/null
python3 -c "import json,sys; l=[x['lun'] for x in json.load(open('$tmp/c.json'))['targets'][0]['luns']]; sys.exit(l != [0])" ||
	fail "config save wrote service LUNs: $(cat "$tmp/c.json")"
ctl_err 1 "already exists" lun add --target $IQN --lun 3 --backend ram --size 1M

# removed by the administrator: the service is told and serves on
ctl_ok lun remove --target $IQN --lun 4 --force >/dev/null
ctl_lacks " 4 +service:msgdev" "LUN 4 still listed" lun list --target $IQN
kill -0 "$msg_pid" 2>/dev/null || fail "msgdev exited when its LUN was removed"

# killed: gone, its LUN waits and answers NOT READY
kill -KILL "$ram_pid"
wait "$ram_pid" 2>/dev/null
for _ in $(seq 50); do
	ctl_ok service list | grep -qE "^ramdisk .* gone .*closed the connection" && break
	sleep 0.1
done
ctl_ok service list | grep -qE "^ramdisk .* gone .*closed the connection" ||
	fail "service list does not show ramdisk gone: $(ctl service list)"
ctl_ok lun list --target $IQN | grep -qE " 1 +service:ramdisk .*service away" ||
	fail "lun list: LUN 1 not away"
metrics_state 1 reconnecting
# (libiscsi's login sends the LUN a TEST UNIT READY: that is what answers)
"$RW" 127.0.0.1:$PORT $IQN 1 read 7 >"$tmp/away.out" 2>&1
grep -q "NOT READY(2) ASCQ:(null)(0x0401)" "$tmp/away.out" ||
	fail "LUN 1 without its service: not NOT READY / BECOMING READY: $(cat "$tmp/away.out")"

for s in py msg; do
	eval "pid=\$${s}_pid"
	kill -TERM "$pid"
	wait "$pid" || fail "$s did not exit 0 on SIGTERM: $(cat "$tmp/$s.log")"
done
stop_vstord TERM 20
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
pass "3 services (C disk, C raw, Python), listed, removed, killed"
