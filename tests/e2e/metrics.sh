#!/bin/bash
# Prometheus metrics ("metrics": {"listen": ...}): what GET /metrics
# serves passes `promtool check metrics`, and its counters move by exactly
# a known workload: 5 writes and 7 reads of 8 blocks and one read past the
# end (ILLEGAL REQUEST) on one LUN, nothing on the other; a login refused
# by the ACL and one by CHAP on another target; a session and the queue in
# use while a load runs; the backends connected.  Other paths are 404,
# other methods 405; a bad or busy listen address is a start-up error.
. "$(dirname "$0")/lib/common.sh" "$@"
P=$((3482 + ${VSTOR_PORT_OFFSET:-0}))
M=$((9750 + ${VSTOR_PORT_OFFSET:-0}))
IO=$BUILD/e2e/io_count
[ -x "$IO" ] || fail "$IO not built (needs libiscsi-dev)"
command -v promtool >/dev/null || fail "promtool not installed (Debian package prometheus)"
T1=iqn.2026-11.org.vstor:m1
T2=iqn.2026-11.org.vstor:m2
OK_INI=iqn.2026-11.org.vstor:allowed

cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$P"],
  "metrics": { "listen": "127.0.0.1:$M" },
  "targets": [
    { "iqn": "$T1",
      "luns": [ { "lun": 0, "backend": "ram", "size": "16M" },
                { "lun": 1, "backend": "file", "path": "$tmp/d1.img", "size": "8M", "create": true } ] },
    { "iqn": "$T2", "acl": ["$OK_INI"], "chap": { "user": "u", "secret": "right-secret-1" },
      "luns": [ { "lun": 0, "backend": "ram", "size": "4M" } ] } ] }
JSON

# GET a path: the body on stdout; "HTTP <code>" on failure.
http() {   # method path
	python3 - "$1" "http://127.0.0.1:$M$2" <<'PY'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(urllib.request.Request(sys.argv[2], method=sys.argv[1]), timeout=10)
    sys.stdout.write(r.headers.get("Content-Type", "") + "\n" + r.read().decode())
except urllib.error.HTTPError as e:
    print("HTTP %d" % e.code)
PY
}
scrape() {   # file
	http GET /metrics >"$1.raw" || fail "GET /metrics failed"
	head -1 "$1.raw" | grep -q '^text/plain; version=0.0.4' ||
		fail "GET /metrics: Content-Type $(head -1 "$1.raw")"
	tail -n +2 "$1.raw" >"$1"
	promtool check metrics <"$1" >"$tmp/promtool.out" 2>&1 ||
		fail "promtool check metrics: $(head -5 "$tmp/promtool.out")"
}
# The value of one series (labels in vstor's order), 0 if absent.
val() {   # file series
	awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$1"
}
lun() {   # target lun backend [extra]
	printf '{target="%s",lun="%s",backend="%s"%s}' "$1" "$2" "$3" "${4:+,$4}"
}
delta() {   # series
	echo $(($(val "$tmp/m2" "$1") - $(val "$tmp/m1" "$1")))
}
want() {   # series expected
	local d
	d=$(delta "$1")
	[ "$d" = "$2" ] || fail "$1 moved by $d, want $2"
}

ctl_sock=$tmp/ctl.sock
start_vstord "$P" -c "$tmp/c.json" --ctl-socket "$ctl_sock"
grep -q "metrics on http://127.0.0.1:$M/metrics" "$tmp/vstord.log" || fail "no 'metrics on' line"
scrape "$tmp/m1"

"$IO" rw "127.0.0.1:$P" "$T1" 0 7 5 8 || fail "the workload failed"
"$IO" refuse "127.0.0.1:$P" "$T2" iqn.2026-11.org.vstor:stranger u right-secret-1 >/dev/null ||
	fail "a stranger was let in"
"$IO" refuse "127.0.0.1:$P" "$T2" "$OK_INI" u wrong-secret-12 >/dev/null ||
	fail "a wrong CHAP secret was let in"
scrape "$tmp/m2"

L0=$(lun $T1 0 ram)
want "vstor_lun_operations_total$(lun $T1 0 ram 'op="read"')" 8
want "vstor_lun_operations_total$(lun $T1 0 ram 'op="write"')" 5
want "vstor_lun_bytes_total$(lun $T1 0 ram 'op="read"')" $((7 * 8 * 512))
want "vstor_lun_bytes_total$(lun $T1 0 ram 'op="write"')" $((5 * 8 * 512))
want "vstor_lun_errors_total$(lun $T1 0 ram 'sense_key="illegal_request"')" 1
want "vstor_lun_errors_total$(lun $T1 0 ram 'sense_key="medium_error"')" 0
other=$(delta "vstor_lun_operations_total$(lun $T1 0 ram 'op="other"')")
[ "$other" -ge 2 ] || fail "other ops moved by $other: TEST UNIT READY and READ CAPACITY are ops"
# every command once in the histogram
want "vstor_lun_latency_seconds_count$L0" $((8 + 5 + other))
want "vstor_lun_latency_seconds_bucket$(lun $T1 0 ram 'le="+Inf"')" $((8 + 5 + other))
sum=$(val "$tmp/m2" "vstor_lun_latency_seconds_sum$L0")
awk -v s="$sum" 'BEGIN { exit !(s > 0) }' || fail "latency sum $sum"
# buckets never fall
awk -v p="vstor_lun_latency_seconds_bucket{target=\"$T1\",lun=\"0\"," \
	'index($1, p) == 1 { if ($2 < last) bad = 1; last = $2 } END { exit bad }' "$tmp/m2" ||
	fail "histogram buckets are not cumulative"
for op in read write other; do
	want "vstor_lun_operations_total$(lun $T1 1 file "op=\"$op\"")" 0
done
want "vstor_target_logins_refused_total{target=\"$T2\",reason=\"acl\"}" 1
want "vstor_target_logins_refused_total{target=\"$T2\",reason=\"auth\"}" 1
want "vstor_target_logins_refused_total{target=\"$T1\",reason=\"acl\"}" 0
[ "$(val "$tmp/m2" "vstor_lun_backend_state$(lun $T1 1 file 'state="connected"')")" = 1 ] ||
	fail "the file LUN is not connected"
[ "$(val "$tmp/m2" "vstor_lun_backend_state$(lun $T1 1 file 'state="failed"')")" = 0 ] ||
	fail "the file LUN is failed"
[ "$(val "$tmp/m2" "vstor_target_sessions{target=\"$T1\"}")" = 0 ] || fail "sessions left over"

# Under load: a session and (maybe) a command in flight.
"$IO" load "127.0.0.1:$P" "$T1" 0 6 >"$tmp/load.out" 2>&1 &
lp=$!
for _ in $(seq 40); do      # until its login is in (a loaded machine is slow)
	sleep 0.2
	scrape "$tmp/m3"
	[ "$(val "$tmp/m3" "vstor_target_sessions{target=\"$T1\"}")" = 1 ] && break
done
wait $lp || fail "load: $(cat "$tmp/load.out")"
[ "$(val "$tmp/m3" "vstor_target_sessions{target=\"$T1\"}")" = 1 ] ||
	fail "no session counted under load"
grep -q "^vstor_lun_queue_depth_limit$L0 [1-9]" "$tmp/m3" || fail "no queue depth limit"
grep -q "^vstor_lun_queue_depth$L0 [0-9]" "$tmp/m3" || fail "no queue depth in use"

[ "$(http GET /other)" = "HTTP 404" ] || fail "GET /other is not 404"
[ "$(http POST /metrics)" = "HTTP 405" ] || fail "POST /metrics is not 405"

stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"

# A bad address is a config error; a busy one a start-up error.
sed "s/127.0.0.1:$M/127.0.0.1:x/" "$tmp/c.json" >"$tmp/bad.json"
"$VSTORD" -c "$tmp/bad.json" --check >/dev/null 2>"$tmp/err" && fail "bad metrics.listen accepted"
grep -q 'metrics.listen: ' "$tmp/err" || fail "bad metrics.listen: $(cat "$tmp/err")"
python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(30)' "$M" &
bp=$!
for _ in $(seq 100); do port_open "$M" && break; sleep 0.1; done
port_open "$M" || fail "the port holder did not listen"
# bounded: a vstord that did start would otherwise serve on
timeout 20 "$VSTORD" -c "$tmp/c.json" --ctl-socket none >/dev/null 2>"$tmp/err"
rc=$?
kill $bp 2>/dev/null
wait $bp 2>/dev/null
[ "$rc" = 1 ] || fail "on a busy metrics port: exit $rc, want 1"
grep -q "metrics.listen: 127.0.0.1:$M: Address already in use" "$tmp/err" ||
	fail "busy metrics port: $(cat "$tmp/err")"
pass "promtool clean; 8 reads, 5 writes, 1 ILLEGAL REQUEST, 2 refused logins counted exactly"
