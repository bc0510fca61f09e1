#!/bin/bash
# SIGTERM and SIGINT stop vstord within a few seconds with exit status 0,
# also while an initiator is logged in and writing.
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3373 + ${VSTOR_PORT_OFFSET:-0}))

start_vstord $PORT --listen 127.0.0.1:$PORT
stop_vstord TERM 5
[ "$stop_rc" = 0 ] || fail "idle SIGTERM: exit status $stop_rc, want 0"

start_vstord $PORT --listen 127.0.0.1:$PORT
stop_vstord INT 5
[ "$stop_rc" = 0 ] || fail "idle SIGINT: exit status $stop_rc, want 0"

writer=$BUILD/e2e/ack_writer
[ -x "$writer" ] || fail "$writer not built (needs libiscsi-dev)"
start_vstord $PORT --listen 127.0.0.1:$PORT
"$writer" write "iscsi://127.0.0.1:$PORT/iqn.2026-11.org.vstor:default/0" "$tmp/acks" 30 \
	2>"$tmp/writer.err" &
wpid=$!
sleep 2
kill -0 $wpid 2>/dev/null || fail "writer ended early: $(cat "$tmp/writer.err")"
start=$(date +%s)
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM under load: exit status $stop_rc, want 0"
took=$(($(date +%s) - start))
[ "$took" -le 6 ] || fail "SIGTERM under load took ${took}s"
wait $wpid
grep -q "shutting down" "$tmp/vstord.log" || fail "no shutdown line in the log"
pass "stopped in ${took}s under load"
