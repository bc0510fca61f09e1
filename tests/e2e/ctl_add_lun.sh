#!/bin/bash
# (a) A LUN added while a session is open: that session's next command gets
# UNIT ATTENTION REPORTED LUNS DATA HAS CHANGED (3F/0E) and REPORT LUNS lists
# the new LUN with the right capacity.  Also: while a session that has used
# a LUN is logged in, removing it without --force is refused, naming the
# rule; a session that never sent the LUN a command does not hold it.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
[ -x "$CLIENT" ] || fail "ctl_client not built (libiscsi-dev missing)"
PORT=$((3381 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:ctl-a
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "64M" } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"

"$CLIENT" ua-add "127.0.0.1:$PORT" "$IQN" 1 $((32 << 20)) \
	"'$VSTORCTL' --socket '$SOCK' lun add --target $IQN --lun 1 --backend ram --size 32M >/dev/null" ||
	fail "initiator did not see the new LUN properly"

# In use: a logged-in session has sent LUN 1 commands, so no removal
# without force.
"$CLIENT" session "127.0.0.1:$PORT" "$IQN" \
	"'$VSTORCTL' --socket '$SOCK' lun remove --target $IQN --lun 1 2>'$tmp/rm.err'" 1
rc=$?
[ "$rc" = 1 ] || fail "lun remove without --force while in use: exit $rc, want 1"
grep -qx "vstorctl: lun.remove: LUN 1 of $IQN is in use (1 logged-in initiator has used it); use force" \
	"$tmp/rm.err" || fail "lun remove refusal: $(cat "$tmp/rm.err")"
ctl_ok lun list --target $IQN | grep -qE "^$IQN +1 +ram +32 MiB" || fail "LUN 1 gone after a refused remove"

# A session that is logged in but never touched LUN 1: a plain remove works.
"$CLIENT" session "127.0.0.1:$PORT" "$IQN" \
	"'$VSTORCTL' --socket '$SOCK' lun remove --target $IQN --lun 1 >/dev/null 2>'$tmp/rm.err'" ||
	fail "lun remove refused though no logged-in session used LUN 1: $(cat "$tmp/rm.err")"
ctl_lacks "^$IQN +1 " "LUN 1 still listed after remove" lun list
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
[ -e "$SOCK" ] && fail "control socket left behind after shutdown"
pass
