#!/bin/bash
# vstord under a service manager (systemd is not PID 1 here, so the test
# is its own NOTIFY_SOCKET listener, tests/e2e/lib/notify_listen.py):
# READY=1 comes only once every portal listens and every LUN is open (at
# that moment iscsi-ls finds both targets, each on its own portal, with
# every LUN), STATUS says what is served (and changes when a service
# attaches a LUN), WATCHDOG=1 comes every quarter
# of WATCHDOG_USEC, STOPPING=1 on SIGTERM and nothing after it; with
# stderr on the journal ($JOURNAL_STREAM) log lines carry <N> priorities
# and no timestamps of their own.
. "$(dirname "$0")/lib/common.sh" "$@"
P1=$((3480 + ${VSTOR_PORT_OFFSET:-0}))
P2=$((3481 + ${VSTOR_PORT_OFFSET:-0}))
command -v iscsi-ls >/dev/null || fail "iscsi-ls not installed (libiscsi-bin)"
command -v python3 >/dev/null || fail "python3 not installed"
[ -x "$BUILD/examples/ramdisk" ] || fail "$BUILD/examples/ramdisk not built"

cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$P1"],
  "targets": [
    { "iqn": "iqn.2026-11.org.vstor:n1",
      "luns": [ { "lun": 0, "backend": "ram", "size": "16M" },
                { "lun": 1, "backend": "file", "path": "$tmp/d1.img", "size": "8M", "create": true } ] },
    { "iqn": "iqn.2026-11.org.vstor:n2", "portals": ["127.0.0.1:$P2"],
      "luns": [ { "lun": 0, "backend": "ram", "size": "4M" } ] } ] }
JSON
check="iscsi-ls -s iscsi://127.0.0.1:$P1/ >$tmp/ls1 && iscsi-ls -s iscsi://127.0.0.1:$P2/ >$tmp/ls2"
python3 "$(dirname "$0")/lib/notify_listen.py" "$tmp/notify.sock" "$tmp/notify.log" 30 "$check" &
lpid=$!
for _ in $(seq 50); do grep -q LISTENING "$tmp/notify.log" 2>/dev/null && break; sleep 0.1; done
grep -q LISTENING "$tmp/notify.log" || fail "the notify listener did not start"

: >"$tmp/vstord.log"
export NOTIFY_SOCKET=$tmp/notify.sock WATCHDOG_USEC=1000000
export JOURNAL_STREAM=$(stat -c '%d:%i' "$tmp/vstord.log")
start_vstord "$P1" -c "$tmp/c.json" --ctl-socket none --service-socket "$tmp/svc.sock"
unset NOTIFY_SOCKET WATCHDOG_USEC JOURNAL_STREAM
# a LUN a service attaches after READY shows in the next STATUS
"$BUILD/examples/ramdisk" -s "$tmp/svc.sock" -t iqn.2026-11.org.vstor:n1 5=4M >"$tmp/ramdisk.log" 2>&1 &
rpid=$!
e2e_extra_pids+=("$rpid")
for _ in $(seq 50); do grep -q serving "$tmp/ramdisk.log" && break; sleep 0.05; done
grep -q serving "$tmp/ramdisk.log" || fail "the ramdisk service did not attach: $(cat "$tmp/ramdisk.log")"
sleep 2.5
kill "$rpid"
wait "$rpid" 2>/dev/null
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
wait $lpid
log=$(cat "$tmp/notify.log")

grep -q ' READY=1' <<<"$log" || fail "no READY=1: $log"
grep -q '^CHECK rc=0' <<<"$log" || fail "at READY=1 a portal or target was not served yet: $log"
grep -q 'Target:iqn.2026-11.org.vstor:n1' "$tmp/ls1" && grep -q 'Lun:1 ' "$tmp/ls1" ||
	fail "at READY=1 n1 or its LUN 1 was missing: $(cat "$tmp/ls1")"
grep -q 'Target:iqn.2026-11.org.vstor:n2' "$tmp/ls2" ||
	fail "at READY=1 n2 was missing on its portal: $(cat "$tmp/ls2")"
grep -q 'READY=1|STATUS=serving 2 targets, 3 LUNs on 127.0.0.1:'"$P1"', 127.0.0.1:'"$P2"'; 0 sessions' <<<"$log" ||
	fail "READY=1 without the STATUS of what is served: $log"
grep -q 'STATUS=serving 2 targets, 4 LUNs on 127.0.0.1:'"$P1"', 127.0.0.1:'"$P2"'; 0 sessions' <<<"$log" ||
	fail "no STATUS with the LUN the service attached: $(grep STATUS <<<"$log")"
# READY first, STOPPING last, watchdog pings in between.
first=$(grep -m1 -E '^[0-9]+ ' <<<"$log" | cut -d' ' -f2-)
[[ $first == READY=1* ]] || fail "the first notification is not READY=1: $first"
last=$(grep -E '^[0-9]+ ' <<<"$log" | tail -1 | cut -d' ' -f2-)
[[ $last == STOPPING=1* ]] || fail "the last notification is not STOPPING=1: $last"
pings=$(grep -c ' WATCHDOG=1$' <<<"$log")
# 2.5 s at one ping per 250 ms; a loaded machine may lose a few
[ "$pings" -ge 6 ] || fail "$pings WATCHDOG=1 in 2.5 s with WATCHDOG_USEC=1000000, want ~10: $log"

# The journal's log format: priorities, no timestamps of our own.
grep -q '^<6>serving iqn.2026-11.org.vstor:n1' "$tmp/vstord.log" ||
	fail "vstord's info lines lack <6>: $(head -5 "$tmp/vstord.log")"
grep -q '^<6>iscsi info: started' "$tmp/vstord.log" ||
	fail "the fabric's info lines lack <6>: $(head -5 "$tmp/vstord.log")"
grep -qE '^vstord: |^[0-9]{2}:[0-9]{2}:[0-9]{2}' "$tmp/vstord.log" &&
	fail "a line without a priority, or with its own timestamp: $(grep -m3 -E '^vstord: |^[0-9]{2}:' "$tmp/vstord.log")"
pass "READY after both portals and 3 LUNs, STATUS with the service's 4th, $pings watchdog pings in 2.5 s, STOPPING on SIGTERM"
