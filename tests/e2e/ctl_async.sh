#!/bin/bash
# A LUN added with vstorctl reaches a logged-in session at once as an
# Asynchronous Message (RFC 7143 §11.9): AsyncEvent 0, a SCSI asynchronous
# event, with sense UNIT ATTENTION 3F/0E REPORTED LUNS DATA HAS CHANGED,
# read by a raw-socket initiator that sends no command meanwhile.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
RAW=$BUILD_ABS/e2e/ctl_raw
[ -x "$RAW" ] || fail "ctl_raw not built"
PORT=$((3397 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:ctl-async
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "4M" } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"
"$RAW" async $PORT $IQN "'$VSTORCTL' --socket '$SOCK' lun add --target $IQN --lun 2 --backend ram --size 4M >/dev/null" \
	>"$tmp/async.out" || fail "no Asynchronous Message for the new LUN: $(cat "$tmp/async.out")"
grep -q "^ctl_raw: Asynchronous Message: AsyncEvent 0, sense 6/3F/0E REPORTED LUNS DATA HAS CHANGED" \
	"$tmp/async.out" || fail "async: $(cat "$tmp/async.out")"
ctl_ok lun list --target $IQN | grep -qE "^$IQN +2 +ram +4 MiB" || fail "LUN 2 not listed"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass
