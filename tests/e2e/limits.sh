#!/bin/bash
# The protection limits reach the fabric from the config file
# (iscsi.max_connections, max_sessions, login_timeout_ms): one connection
# more is closed at once, one session more fails its login with 0x0302
# (out of resources), a connection that never logs in is closed after the
# login timeout.
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3377 + ${VSTOR_PORT_OFFSET:-0}))
PORTAL=127.0.0.1:$PORT
IQN=iqn.2026-11.org.vstor:e2e-limits
client=$BUILD/e2e/chap_client
writer=$BUILD/e2e/ack_writer
[ -x "$client" ] && [ -x "$writer" ] || fail "chap_client / ack_writer not built (needs libiscsi-dev)"

cat >"$tmp/config.json" <<JSON
{ "portals": ["$PORTAL"],
  "iscsi": { "max_connections": 3, "max_sessions": 1, "login_timeout_ms": 2000 },
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "16M" } ] } ] }
JSON
start_vstord $PORT -c "$tmp/config.json" --ctl-socket none

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# closed_within FD MS: the target closes the connection on FD within MS.
closed_within() {
	local t0 rc
	t0=$(now_ms)
	timeout $((($2 + 999) / 1000)) cat <&"$1" >/dev/null
	rc=$?
	[ "$rc" = 0 ] || return 1               # 124: still open at the deadline
	echo $(($(now_ms) - t0))
}

# Three silent connections fill max_connections; the fourth goes at once.
exec 3<>"/dev/tcp/127.0.0.1/$PORT" 4<>"/dev/tcp/127.0.0.1/$PORT" 5<>"/dev/tcp/127.0.0.1/$PORT"
sleep 0.3
exec 6<>"/dev/tcp/127.0.0.1/$PORT"
took=$(closed_within 6 1000) || fail "a fourth connection over max_connections 3 stayed open"
# The silent ones are closed by the login timeout (2 s from their accept).
took=$(closed_within 3 5000) || fail "a connection that never logged in stayed open 5 s"
[ "$took" -ge 1000 ] || fail "a silent connection was closed after ${took} ms, before login_timeout_ms"
exec 3<&- 4<&- 5<&- 6<&-
sleep 0.3

# One session holds max_sessions 1; the next login is refused.
"$writer" write "iscsi://$PORTAL/$IQN/0" "$tmp/acks" 4 1 2>"$tmp/writer.err" &
wpid=$!
sleep 1
out=$("$client" login $PORTAL $IQN iqn.2026-11.org.vstor:e2e-second 2>&1)
[ "$out" = "status 0x0302" ] || fail "a second session over max_sessions 1: '$out', want status 0x0302"
wait $wpid || fail "the first session: $(cat "$tmp/writer.err")"
# Once it is gone, the next one gets in.
out=$("$client" login $PORTAL $IQN iqn.2026-11.org.vstor:e2e-second 2>&1)
[ "$out" = "ok" ] || fail "login after the first session ended: '$out'"

stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass "max_connections, max_sessions and login_timeout_ms from the config file"
