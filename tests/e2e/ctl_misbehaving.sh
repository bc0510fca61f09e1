#!/bin/bash
# A control client that misbehaves never holds up the others: while one
# pipelines thousands of requests without reading its replies, and while
# idle clients take every slot (16) and more, a fresh client's lun.list is
# answered within 100 ms, each time.  The pipelining client's unread
# replies are capped (the daemon stops taking its requests), and idle
# clients are closed after --ctl-idle-timeout (2 s here).
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
FLOOD=$BUILD_ABS/e2e/ctl_flood
[ -x "$FLOOD" ] || fail "ctl_flood not built"
PORT=$((3430 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:ctl-flood
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "64M" } ] } ] }
JSON
ctl_start "$PORT" "$tmp/c.json" --ctl-idle-timeout 2000

bg=()
reap() {   # wait for the background clients; fail unless each exited 0
	local p
	for p in "${bg[@]}"; do
		wait "$p" || fail "a misbehaving client failed (pid $p)"
	done
	bg=()
}

# answered_fast WHAT: 30 fresh clients' lun.list, each within 100 ms
answered_fast() {
	"$FLOOD" "$SOCK" time 30 100 >"$tmp/time.out" 2>&1 ||
		fail "while $1: $(cat "$tmp/time.out")"
	echo "while $1: $(cat "$tmp/time.out")"
}

# 1. One client pipelines without reading.
"$FLOOD" "$SOCK" pipeline 4 >"$tmp/pipe.out" &
bg+=($!)
sleep 0.5
answered_fast "a client pipelines without reading"
reap
cat "$tmp/pipe.out"
taken=$(sed -n 's/^pipeline: the daemon took \([0-9]*\) request bytes$/\1/p' "$tmp/pipe.out")
[ -n "$taken" ] || fail "pipelining client: $(cat "$tmp/pipe.out")"
# ~2 MB would go in 4 s if the daemon took every request; capped replies
# stop it after the socket buffers and one request buffer.
[ "$taken" -lt 1000000 ] || fail "the daemon took $taken bytes from a client that never read"

# 2. Idle clients in every slot, and more.
"$FLOOD" "$SOCK" idle 24 3 >"$tmp/idle.out" &
bg+=($!)
sleep 0.5
answered_fast "24 idle clients hold the slots"
reap

# 3. Both at once.
"$FLOOD" "$SOCK" pipeline 4 >/dev/null &
bg+=($!)
"$FLOOD" "$SOCK" idle 20 3 >/dev/null &
bg+=($!)
sleep 0.5
answered_fast "a pipelining client and 20 idle ones"
reap

# 4. Idle clients are closed after the idle timeout (2 s), not before.
"$FLOOD" "$SOCK" idle 3 1 >"$tmp/idle1.out" || fail "idle clients: $(cat "$tmp/idle1.out")"
grep -qx "idle: closed 0 of 3" "$tmp/idle1.out" || fail "closed before the idle timeout: $(cat "$tmp/idle1.out")"
"$FLOOD" "$SOCK" idle 3 4 >"$tmp/idle4.out" || fail "idle clients: $(cat "$tmp/idle4.out")"
grep -qx "idle: closed 3 of 3" "$tmp/idle4.out" || fail "not closed after the idle timeout: $(cat "$tmp/idle4.out")"

ctl_ok lun list >"$tmp/list.out"
grep -qE "^$IQN +0 +ram" "$tmp/list.out" || fail "lun list after the floods: $(cat "$tmp/list.out")"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp/vstord.log" && fail "sanitizer report"
pass
