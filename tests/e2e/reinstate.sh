#!/bin/bash
# Session reinstatement (RFC 7143 §6.3.5): a second login with the same
# InitiatorName and ISID and TSIH 0 gets a new session, the target closes
# the old connection, and the new session serves commands; another ISID
# leaves the first session alone.  vstord then exits 0 on SIGTERM.
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3387 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:default
client=$BUILD/e2e/reinstate_client
[ -x "$client" ] || fail "$client not built"

start_vstord $PORT --listen 127.0.0.1:$PORT --ctl-socket none
timeout 30 "$client" $PORT $IQN >"$tmp/client.out" 2>&1
rc=$?
cat "$tmp/client.out"
[ "$rc" = 0 ] || fail "reinstate_client exit status $rc"
kill -0 "$vstord_pid" 2>/dev/null || fail "vstord died"
grep -q "reinstating session" "$tmp/vstord.log" || fail "vstord did not log the reinstatement"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
pass "$(grep -c '^ok:' "$tmp/client.out") checks"
