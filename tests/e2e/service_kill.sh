#!/bin/bash
# A service killed under load and started again (issue 16, "Must show"):
# the file-backed disk-mode example serves LUN 1 while a session keeps 32
# FUA writes in flight (ack_writer durable); the service is killed with
# SIGKILL in the middle, started again, and the writes go on.  The
# initiator must see only statuses it retries (NOT READY / BECOMING READY
# while the service is away, the POWER ON unit attention when it is back),
# its session must stay logged in (ack_writer fails on a lost connection
# or any other status), and every write acknowledged as durable (GOOD to a
# FUA write) must be there afterwards, read through iSCSI and straight
# from the file.  vstord (the ASan build) must then exit 0 on SIGTERM.
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3540 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:svc-kill
writer=$BUILD/e2e/ack_writer
filedisk=$BUILD/examples/filedisk
[ -x "$writer" ] || fail "$writer not built (needs libiscsi-dev)"
[ -x "$filedisk" ] || fail "$filedisk not built"
url="iscsi://127.0.0.1:$PORT/$IQN/1"
img=$tmp/disk.img

cat >"$tmp/cfg.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"], "targets": [ { "iqn": "$IQN", "luns": [
  { "lun": 0, "backend": "ram", "size": "16M" } ] } ] }
JSON
start_vstord $PORT -c "$tmp/cfg.json" --ctl-socket "$tmp/ctl.sock" \
	--service-socket "$tmp/svc.sock"

start_service() {   # log
	"$filedisk" -s "$tmp/svc.sock" -t "$IQN" "1=$img,size=64M" >>"$tmp/$1" 2>&1 &
	svc_pid=$!
	e2e_extra_pids+=("$svc_pid")
	for _ in $(seq 100); do
		grep -q "^filedisk: serving" "$tmp/$1" && return 0
		kill -0 "$svc_pid" 2>/dev/null || fail "filedisk exited: $(cat "$tmp/$1")"
		sleep 0.1
	done
	fail "filedisk did not attach LUN 1 within 10 s"
}
start_service svc1.log

timeout 120 "$writer" durable "$url" "$tmp/acked.log" 12 32 >"$tmp/writer.out" 2>"$tmp/writer.err" &
writer_pid=$!
# kill the service while the writes are in flight, a few times
sleep 3
for round in 1 2; do
	acked_before=$(wc -l <"$tmp/acked.log")
	kill -KILL "$svc_pid"
	wait "$svc_pid" 2>/dev/null
	sleep 1         # away: the initiator gets NOT READY meanwhile
	start_service "svc$((round + 1)).log"
	sleep 2
	[ "$(wc -l <"$tmp/acked.log")" -gt "$acked_before" ] ||
		fail "round $round: no write acknowledged after the service came back"
done
wait "$writer_pid"
wrc=$?
cat "$tmp/writer.err" "$tmp/writer.out"
[ "$wrc" = 0 ] || fail "the writer saw a status initiators do not retry, or lost its session (exit $wrc)"
read -r _ good _ not_ready _ ua _ busy <"$tmp/writer.out"
[ "${not_ready:-0}" -gt 0 ] || fail "no NOT READY seen: the service was not killed under load"
[ "${ua:-0}" -gt 0 ] || fail "no unit attention after the service came back"
grep -q "tsih" "$tmp/vstord.log" || fail "no login in vstord's log"
logins=$(grep -c "login: iqn.2026-11.org.vstor:e2e-writer" "$tmp/vstord.log")
[ "$logins" = 1 ] || fail "the writer logged in $logins times: its session did not stay"
grep -q "service filedisk (pid [0-9]*): closed the connection: disconnected" "$tmp/vstord.log" ||
	fail "vstord did not log the service's death"
grep -q "LUN 1 attached again" "$tmp/vstord.log" || fail "the LUN was not attached again"

# every durable write is there: through iSCSI now, in the file once the
# service has stopped (it flushes on SIGTERM)
timeout 60 "$writer" verify "$url" "$tmp/acked.log" || fail "acknowledged writes missing (through iSCSI)"
kill -TERM "$svc_pid"
wait "$svc_pid" || fail "filedisk did not exit 0 on SIGTERM"
"$writer" verify-file "$img" "$tmp/acked.log" || fail "acknowledged writes missing in the file"
stop_vstord TERM 20
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
pass "$good durable writes, $not_ready NOT READY and $ua unit attentions retried across 2 SIGKILLs, one session"
