#!/bin/bash
# The grace period runs out at daemon level: a write started before SIGTERM
# whose data never comes holds vstord only until --shutdown-grace ends;
# then its connection is closed, the write aborted without a status, the
# LUN flushed, and vstord exits 0 -- not before the grace period (the
# write was still allowed to finish) and not much after.
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3432 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:default
GRACE_MS=1500
stopper=$BUILD/e2e/stop_client
[ -x "$stopper" ] || fail "$stopper not built"

start_vstord $PORT --listen 127.0.0.1:$PORT --ctl-socket none --shutdown-grace $GRACE_MS
"$stopper" $PORT $IQN 8 90 "date +%s%N >'$tmp/t0' && kill -TERM $vstord_pid" hold \
	>"$tmp/stop.out" 2>&1 || fail "held write across the stop: $(cat "$tmp/stop.out")"
stop_vstord 0 15        # signalled already: wait for it
took_ms=$((($(date +%s%N) - $(cat "$tmp/t0")) / 1000000))
[ "$stop_rc" = 0 ] || fail "exit status $stop_rc after the grace period ran out, want 0"
[ "$took_ms" -ge $((GRACE_MS - 100)) ] ||
	fail "vstord exited $took_ms ms after SIGTERM, before its $GRACE_MS ms grace period ended"
[ "$took_ms" -le $((GRACE_MS + 5000)) ] ||
	fail "vstord exited $took_ms ms after SIGTERM, long after its $GRACE_MS ms grace period"
grep -q "grace expired" "$tmp/vstord.log" || fail "no 'grace expired' in the log"
cat "$tmp/stop.out"
pass "grace period of $GRACE_MS ms ran out: the held write aborted, exit 0 after $took_ms ms"
