#!/bin/bash
# (c) Force-removing a LUN under sustained I/O: a writer keeps 8 WRITEs in
# flight on LUN 1 while another session writes and verifies data on LUN 0.
# Every LUN 1 command completes, GOOD or CHECK CONDITION LOGICAL UNIT NOT
# SUPPORTED, none lost or hung; LUN 0 keeps serving verified data; the file
# behind LUN 1 is closed (and the daemon still shuts down cleanly).
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
[ -x "$CLIENT" ] || fail "ctl_client not built (libiscsi-dev missing)"
PORT=$((3383 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:ctl-c
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [
      { "lun": 0, "backend": "ram", "size": "64M" },
      { "lun": 1, "backend": "file", "path": "$tmp/d1.img", "size": "16M", "create": true } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"

"$CLIENT" force-remove "127.0.0.1:$PORT" "$IQN" \
	"'$VSTORCTL' --socket '$SOCK' lun remove --target $IQN --lun 1 --force >'$tmp/rm.out'" ||
	fail "force removal under I/O"
grep -qx "forced: yes" "$tmp/rm.out" || fail "lun remove output: $(cat "$tmp/rm.out")"
ctl_ok lun list --target $IQN | grep -qE "^$IQN +1 " && fail "LUN 1 still listed"
# The backend was closed: vstord holds no descriptor for the file any more.
ls -l "/proc/$vstord_pid/fd" 2>/dev/null | grep -q "$tmp/d1.img" && fail "d1.img still open in vstord"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass
