#!/bin/bash
# An OSD that stalls under write load (SIGSTOP for longer than op_timeout,
# then SIGCONT): requests wait, then end NOT READY (a status the initiator
# retries, never MEDIUM ERROR), and once the OSD runs again every write
# that was acknowledged is there, read back through iSCSI and from an
# `rbd export` of the image.  The writer keeps 32 writes in flight and
# resends what is answered NOT READY or BUSY, as initiators do; a timed-out
# write that lands later carries the same data as its resend.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/rbd.sh"
writer=$BUILD/e2e/ack_writer
[ -x "$writer" ] || fail "$writer not built"
PORT=$(rbd_port 2)
IQN=iqn.2026-11.org.vstor:rbd-stall
URL="iscsi://127.0.0.1:$PORT/$IQN/0"
STALL=${RBD_STALL_SECONDS:-8}

rbd_cluster_up
cat >"$tmp/vstord.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [
      $(rbd_lun 0 stall 'create=true' 'size="64M"' 'op_timeout="3s"') ] } ] }
JSON
start_vstord "$PORT" -c "$tmp/vstord.json" --ctl-socket none
osd=$(ceph_osd_pid)
[ -n "$osd" ] || fail "no OSD pid"

"$writer" write "$URL" "$tmp/acked.log" $((STALL + 12)) 32 retry 2>"$tmp/writer.err" &
wpid=$!
sleep 4
kill -STOP "$osd"
sleep "$STALL"
kill -CONT "$osd"
wait "$wpid"
wrc=$?
cat "$tmp/writer.err"
[ "$wrc" = 0 ] || fail "the writer saw a status it must not (exit $wrc)"
grep -qE 'retried [1-9][0-9]* answered NOT READY' "$tmp/writer.err" ||
	fail "no write was answered NOT READY: the stall did not reach the initiator"
grep -q "MEDIUM" "$tmp/vstord.log" && fail "MEDIUM ERROR in the vstord log"

"$writer" verify "$URL" "$tmp/acked.log" || fail "acknowledged writes missing (through iSCSI)"
stop_vstord TERM 20
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
rbd export --no-progress rbd/stall "$tmp/stall.raw" >/dev/null 2>&1 || fail "rbd export failed"
"$writer" verify-file "$tmp/stall.raw" "$tmp/acked.log" ||
	fail "acknowledged writes missing (rbd export)"
pass "OSD stopped ${STALL}s under QD 32 writes: NOT READY and retried, no MEDIUM ERROR, every acknowledged write present"
