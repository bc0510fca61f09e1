#!/bin/bash
# The NBD server stays away longer than hold_timeout (issue 13): the LUN's
# commands are held for hold_timeout (2 s here), then answered NOT READY,
# LOGICAL UNIT IS IN PROCESS OF BECOMING READY (04/01), never MEDIUM ERROR,
# while vstord keeps reconnecting; when the server returns (after 6 s) the
# same session gets GOOD again, without a new login, and every write
# acknowledged before the outage is still there (written again from the
# backend's copy: nbdkit's cache=writeback lost it).  vstorctl lun list
# shows connected / reconnecting since T / connected, and the log has one
# line per change of state.
# Ports: iSCSI 3491, NBD 10841 (+ VSTOR_PORT_OFFSET).
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
ISCSI_PORT=$((3491 + ${VSTOR_PORT_OFFSET:-0}))
NBD_PORT=$((10841 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:nbdhold
writer=$BUILD/e2e/ack_writer
[ -x "$writer" ] || fail "$writer not built"
. "$(dirname "$0")/lib/nbdkit.sh"
url="iscsi://127.0.0.1:$ISCSI_PORT/$IQN/0"
img=$tmp/disk.img
export ACK_WRITER_REGION=131072

wait_log() {   # pattern seconds
	for _ in $(seq $(($2 * 10))); do
		grep -q -- "$1" "$tmp/vstord.log" && return 0
		sleep 0.1
	done
	fail "no '$1' in the log within $2 s"
}

state() {   # → the LUN's state_human
	ctl --json lun list | python3 -c 'import json,sys; print(json.load(sys.stdin)["luns"][0]["state_human"])'
}

truncate -s 64M "$img"
nbdkit_start "$img" "$NBD_PORT"
cat >"$tmp/c.json" <<JSON
{ "targets": [ { "iqn": "$IQN", "luns": [
    { "lun": 0, "backend": "nbd", "uri": "nbd://127.0.0.1:$NBD_PORT", "hold_timeout": "2s" } ] } ] }
JSON
ctl_start "$ISCSI_PORT" "$tmp/c.json"
[ "$(state)" = connected ] || fail "state before: $(state), want connected"
"$writer" soak "$url" "$tmp/acked.log" 600 32 "$tmp/stop" >"$tmp/writer.out" 2>&1 &
writer_pid=$!
sleep 1

nbdkit_stop KILL
wait_log "resource lost: nbd://127.0.0.1:$NBD_PORT: connection lost" 5
grep -q "holding commands up to 2000 ms" "$tmp/vstord.log" || fail "the LUN was not held"
st=$(state)
[[ "$st" == "reconnecting since "* ]] || fail "state while away: '$st'"
wait_log "away longer than hold_timeout (2000 ms)" 5
acked_before=$(wc -l <"$tmp/acked.log")
sleep 4                         # away 6 s in all, NOT READY meanwhile
acked_away=$(wc -l <"$tmp/acked.log")
[ "$acked_away" = "$acked_before" ] || fail "writes acknowledged while the server was away"
nbdkit_start "$img" "$NBD_PORT"
wait_log "resource back: nbd://127.0.0.1:$NBD_PORT: back after" 15
for _ in $(seq 50); do
	[ "$(state)" = connected ] && break
	sleep 0.1
done
[ "$(state)" = connected ] || fail "state after: $(state), want connected"
sleep 1
# every write acknowledged before the outage is there, in the same session
writer_checkpoint "$writer_pid" "$tmp/stop" "after the return"
touch "$tmp/stop"
wait "$writer_pid"
wrc=$?
cat "$tmp/writer.out"
[ "$wrc" = 0 ] || fail "the writer failed (exit $wrc)"
acked_after=$(wc -l <"$tmp/acked.log")
[ "$acked_after" -gt "$acked_away" ] || fail "no write acknowledged after the server came back"
grep -q '^ack_writer: checkpoint 1: [0-9]* blocks checked, 0 bad$' "$tmp/writer.out" ||
	fail "the checkpoint after the return failed"
nr=$(sed -n 's/.*retried: \([0-9]*\) NOT READY.*/\1/p' "$tmp/writer.out")
[ "${nr:-0}" -gt 0 ] || fail "no NOT READY (04/01) while the server was away past hold_timeout"
grep -q "; 0 MEDIUM ERROR; session stayed logged in" "$tmp/writer.out" ||
	fail "$(tail -1 "$tmp/writer.out")"
[ "$(grep -c 'login: iqn.2026-11.org.vstor:e2e-writer' "$tmp/vstord.log")" = 1 ] ||
	fail "the writer logged in again"
# one line per change of state: lost (held), lost (hold over), back
lines=$(grep -c "$IQN LUN 0: resource" "$tmp/vstord.log")
[ "$lines" = 3 ] || fail "$lines resource lines in the log, want 3: $(grep "LUN 0: resource" "$tmp/vstord.log")"
# the same backend through vstorctl: its options are the schema's
ctl_ok lun add --target "$IQN" --lun 1 --backend nbd --option "uri=nbd://127.0.0.1:$NBD_PORT" \
	--option cache=off --option hold_timeout=5s >/dev/null
ctl --json lun list | python3 -c '
import json, sys
l = [x for x in json.load(sys.stdin)["luns"] if x["lun"] == 1][0]
assert l["backend"] == "nbd" and l["state"] == "connected" and l["size"] == 64 << 20, l' ||
	fail "lun 1 over nbd: $(ctl lun list)"
ctl_err 1 '^vstorctl: .*uri: cannot connect to nbd://127.0.0.1:1: .*refused' lun add --target "$IQN" \
	--lun 2 --backend nbd --option uri=nbd://127.0.0.1:1 --option connect_timeout=1s
ctl_err 1 '^vstorctl: .*cache: .maybe. is not one of on, off' lun add --target "$IQN" --lun 2 --backend nbd \
	--option "uri=nbd://127.0.0.1:$NBD_PORT" --option cache=maybe
stop_vstord TERM 30
[ "$stop_rc" = 0 ] || fail "vstord exit $stop_rc after SIGTERM"
pass "held 2 s, then $nr NOT READY (04/01) retries, GOOD again after 6 s in the same session; $acked_after writes acknowledged, none lost"
