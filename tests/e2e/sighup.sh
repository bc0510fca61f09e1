#!/bin/bash
# vstord(8) SIGNALS: SIGHUP reloads the -c file (tests/e2e/reload.sh); a
# vstord started without -c has none, says so, and goes on -- no stop:
# after two SIGHUPs vstord still runs, serves a new login and I/O, and
# stops cleanly on SIGTERM.
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3434 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:default
writer=$BUILD/e2e/ack_writer
[ -x "$writer" ] || fail "$writer not built (needs libiscsi-dev)"

start_vstord $PORT --listen 127.0.0.1:$PORT --ctl-socket none
for i in 1 2; do
	kill -HUP "$vstord_pid"
	sleep 0.5
	kill -0 "$vstord_pid" 2>/dev/null || { wait "$vstord_pid"; fail "vstord ended on SIGHUP #$i (status $?)"; }
done
[ "$(grep -c "SIGHUP: started without -c, so there is no file to reload" "$tmp/vstord.log")" = 2 ] ||
	fail "want two 'no file to reload' lines: $(grep SIGHUP "$tmp/vstord.log")"
grep -q "shutting down" "$tmp/vstord.log" && fail "SIGHUP started a shutdown"
url="iscsi://127.0.0.1:$PORT/$IQN/0"
"$writer" write "$url" "$tmp/acks" 1 4 2>"$tmp/writer.err" || fail "I/O after SIGHUP: $(cat "$tmp/writer.err")"
"$writer" verify "$url" "$tmp/acks" 2>"$tmp/verify.err" || fail "read back after SIGHUP: $(cat "$tmp/verify.err")"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM after SIGHUP: exit status $stop_rc"
pass "two SIGHUPs without -c logged, nothing reloaded; $(wc -l <"$tmp/acks") writes served afterwards"
