#!/bin/bash
# SIGTERM and SIGINT stop vstord with exit status 0, idle and under load.
# Under load (32 writes in flight) the stop must not wait out the grace
# period: new commands are refused, those started finish, and each
# connection closes once its commands have answered.  Step by step, on raw
# PDUs (stop_client): the initiator is asked to log out, a write started
# before SIGTERM still takes its Data-Out and is answered GOOD, a new
# command is rejected "waiting for logout", the logout is answered; and the
# file LUN is flushed before exit (no dirty page of its image left).  A
# vstord that just exits on SIGTERM fails this.
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3373 + ${VSTOR_PORT_OFFSET:-0}))
GRACE_MS=20000
IQN=iqn.2026-11.org.vstor:e2e-stop
stopper=$BUILD/e2e/stop_client
[ -x "$stopper" ] || fail "$stopper not built"
cat >"$tmp/file.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN",
                 "luns": [ { "lun": 0, "backend": "file", "path": "$tmp/disk.img", "size": "16M", "create": true } ] } ] }
JSON
start_vstord $PORT -c "$tmp/file.json" --ctl-socket none --shutdown-grace $GRACE_MS
"$stopper" $PORT $IQN 100 165 "kill -TERM $vstord_pid" >"$tmp/stop.out" 2>&1 ||
	fail "graceful stop, step by step: $(cat "$tmp/stop.out")"
stop_vstord 0 10        # signalled already: wait for it
[ "$stop_rc" = 0 ] || fail "SIGTERM with a write in its data phase: exit status $stop_rc, want 0"
assert_flushed "$tmp/disk.img" "the write finished during the stop"
head -c 4096 /dev/zero | tr '\000' '\245' >"$tmp/want.bin"
dd if="$tmp/disk.img" bs=512 skip=100 count=8 2>/dev/null | cmp -s - "$tmp/want.bin" ||
	fail "the write finished during the stop is not in the image"
grep -q "grace expired" "$tmp/vstord.log" && fail "the stop waited out the grace period"
rm -f "$tmp/vstord.log"

start_vstord $PORT --listen 127.0.0.1:$PORT
stop_vstord TERM 5
[ "$stop_rc" = 0 ] || fail "idle SIGTERM: exit status $stop_rc, want 0"

start_vstord $PORT --listen 127.0.0.1:$PORT
stop_vstord INT 5
[ "$stop_rc" = 0 ] || fail "idle SIGINT: exit status $stop_rc, want 0"

writer=$BUILD/e2e/ack_writer
[ -x "$writer" ] || fail "$writer not built (needs libiscsi-dev)"
start_vstord $PORT --listen 127.0.0.1:$PORT --shutdown-grace $GRACE_MS
"$writer" write "iscsi://127.0.0.1:$PORT/iqn.2026-11.org.vstor:default/0" "$tmp/acks" 30 32 \
	2>"$tmp/writer.err" &
wpid=$!
sleep 2
kill -0 $wpid 2>/dev/null || fail "writer ended early: $(cat "$tmp/writer.err")"
start=$(date +%s%N)
stop_vstord TERM 30
[ "$stop_rc" = 0 ] || fail "SIGTERM under load: exit status $stop_rc, want 0"
took_ms=$((($(date +%s%N) - start) / 1000000))
# Far below the grace period: nothing waited for it.
[ "$took_ms" -le 5000 ] || fail "SIGTERM under load took ${took_ms} ms (grace $GRACE_MS ms)"
wait $wpid
wrc=$?
[ "$wrc" = 0 ] || fail "writer: exit status $wrc: $(cat "$tmp/writer.err")"
grep -q "then the target went away" "$tmp/writer.err" ||
	fail "the writer did not see the target go: $(cat "$tmp/writer.err")"
grep -q "shutting down" "$tmp/vstord.log" || fail "no shutdown line in the log"
grep -q "grace expired" "$tmp/vstord.log" && fail "commands were aborted at the grace deadline"
pass "stopped in ${took_ms} ms under load (grace $GRACE_MS ms), $(wc -l <"$tmp/acks") writes acknowledged; graceful stop seen step by step"
