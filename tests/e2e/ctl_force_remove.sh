#!/bin/bash
# (c) Force-removing a LUN under sustained I/O: a writer keeps 8 WRITEs in
# flight on LUN 1 while another session writes and verifies data on LUN 0.
# LUN 1 is a file with inline=0 and dsync=1, so every write goes through
# io_uring and to stable storage: the writes really are in flight at the
# port when the LUN goes (checked with stats just before).  Every LUN 1
# command completes, GOOD or CHECK CONDITION LOGICAL UNIT NOT SUPPORTED,
# none lost or hung; every write answered GOOD is in d1.img afterwards;
# LUN 0 keeps serving verified data; the file behind LUN 1 is closed (and
# the daemon still shuts down cleanly).
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
[ -x "$CLIENT" ] || fail "ctl_client not built (libiscsi-dev missing)"
command -v python3 >/dev/null || fail "python3 not installed (scripts/test.sh installs it)"
PORT=$((3383 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:ctl-c
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [
      { "lun": 0, "backend": "ram", "size": "64M" },
      { "lun": 1, "backend": "file", "path": "$tmp/d1.img", "size": "256M", "create": true,
        "options": { "inline": "0", "dsync": "1" } } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"

# The removal, once the port has LUN 1 commands in flight.
cat >"$tmp/remove.sh" <<EOF2
for i in \$(seq 100); do
	'$VSTORCTL' --socket '$SOCK' --json stats --target $IQN --lun 1 >'$tmp/stats.json' || exit 1
	grep -q '"queue_depth_in_use": [1-9]' '$tmp/stats.json' && break
done
exec '$VSTORCTL' --socket '$SOCK' lun remove --target $IQN --lun 1 --force >'$tmp/rm.out'
EOF2
"$CLIENT" force-remove "127.0.0.1:$PORT" "$IQN" "sh '$tmp/remove.sh'" "$tmp/d1.img" ||
	fail "force removal under I/O"
python3 - "$tmp/stats.json" <<'PY' || fail "no LUN 1 command in flight at the port before the removal: $(cat "$tmp/stats.json")"
import json, sys
assert json.load(open(sys.argv[1]))["luns"][0]["queue_depth_in_use"] > 0
PY
grep -qx "forced: yes" "$tmp/rm.out" || fail "lun remove output: $(cat "$tmp/rm.out")"
ctl_lacks "^$IQN +1 " "LUN 1 still listed" lun list --target $IQN
# The backend was closed: vstord holds no descriptor for the file any more.
ls -l "/proc/$vstord_pid/fd" 2>/dev/null | grep -q "$tmp/d1.img" && fail "d1.img still open in vstord"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass
