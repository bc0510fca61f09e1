#!/bin/bash
# Clients that vanish mid-write (RST at many points of a PDU) leave vstord
# serving others: a libiscsi session writes and verifies data meanwhile and
# afterwards, vstord is still alive, iscsi-ls lists the target, and SIGTERM
# exits 0 (with the ASan vstord: no leak or use-after-free on those paths).
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3388 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:default
client=$BUILD/e2e/vanish_client
[ -x "$client" ] || fail "$client not built"
command -v iscsi-ls >/dev/null || fail "iscsi-ls not installed (libiscsi-bin)"
url="iscsi://127.0.0.1:$PORT/$IQN/0"

start_vstord $PORT --listen 127.0.0.1:$PORT --ctl-socket none
# The verified I/O runs while the abusers come and go ...
timeout 60 "$client" io "$url" 400 >"$tmp/io1.out" 2>&1 &
io_pid=$!
timeout 60 "$client" abuse $PORT $IQN 64 >"$tmp/abuse.out" 2>&1
abuse_rc=$?
wait $io_pid
io_rc=$?
cat "$tmp/abuse.out" "$tmp/io1.out"
[ "$abuse_rc" = 0 ] || fail "abusing clients: exit status $abuse_rc"
[ "$io_rc" = 0 ] || fail "I/O during the abuse: exit status $io_rc"
kill -0 "$vstord_pid" 2>/dev/null || fail "vstord died"
# ... and afterwards, on a fresh session.
timeout 60 "$client" io "$url" 50 >"$tmp/io2.out" 2>&1 ||
	fail "I/O after the abuse: $(cat "$tmp/io2.out")"
cat "$tmp/io2.out"
kill -0 "$vstord_pid" 2>/dev/null || fail "vstord died"
out=$(timeout 20 iscsi-ls -i iqn.2026-11.org.vstor:e2e -s "iscsi://127.0.0.1:$PORT/" 2>&1) ||
	fail "iscsi-ls failed: $out"
grep -q "Target:$IQN" <<<"$out" || fail "iscsi-ls does not list $IQN: $out"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
pass "$(grep -c '^ok:' "$tmp/abuse.out") reset variants, verified I/O during and after"
