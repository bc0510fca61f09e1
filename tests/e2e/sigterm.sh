#!/bin/bash
# SIGTERM and SIGINT stop vstord with exit status 0, idle and under load.
# Under load (32 writes in flight) the stop must not wait out the grace
# period: new commands are refused, those started finish, and each
# connection closes once its commands have answered.
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3373 + ${VSTOR_PORT_OFFSET:-0}))
GRACE_MS=20000

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
pass "stopped in ${took_ms} ms under load (grace $GRACE_MS ms), $(wc -l <"$tmp/acks") writes acknowledged"
