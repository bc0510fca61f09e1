#!/bin/bash
# The error filter through the whole daemon (issue 11): a write to the one
# chosen block of a LUN over error+ram reaches the iSCSI initiator as the
# sense vdisk maps the errno to (EIO: MEDIUM ERROR / WRITE ERROR 3/0c/00;
# ENOSPC: DATA PROTECT 7/27/07), while the blocks around it and reads are
# served; switched off with `vstorctl lun set-filter`, the same block is
# written and reads back.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
SENSE=$BUILD_ABS/e2e/sense_rw
[ -x "$SENSE" ] || fail "sense_rw not built (libiscsi-dev missing)"
PORT=$((3471 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:error
BAD=100
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [
      { "lun": 0, "backend": "ram", "size": "1M",
        "filters": [ { "name": "error", "ops": "write", "offset": "$((BAD * 512))",
                       "length": "512" } ] } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"

# io read|write LBA [BYTE] WANT: the answer sense_rw prints
io() {
	local want=${*: -1} out
	out=$("$SENSE" "127.0.0.1:$PORT" "$IQN" 0 "${@:1:$#-1}") || fail "sense_rw $*: $out"
	[ "$out" = "$want" ] || fail "${*:1:$#-1}: got '$out', want '$want'"
}

io write $BAD "CHECK CONDITION 3/0c/00"
io write $((BAD - 1)) GOOD
io write $((BAD + 1)) GOOD
io read $BAD "GOOD 00"
ctl_ok lun set-filter --target $IQN --lun 0 --filter error,errno=ENOSPC >/dev/null
io write $BAD "CHECK CONDITION 7/27/07"
ctl_ok lun set-filter --target $IQN --lun 0 --filter error,enabled=0 >/dev/null
io write $BAD 0x5a GOOD
io read $BAD "GOOD 5a"
ctl_ok lun set-filter --target $IQN --lun 0 --filter error,enabled=1 >/dev/null
io write $BAD "CHECK CONDITION 7/27/07"
# a bad value is refused naming the field, and changes nothing
ctl_err 1 "errno: 'EBOGUS' is not one of" lun set-filter --target $IQN --lun 0 \
	--filter error,errno=EBOGUS
io write $BAD "CHECK CONDITION 7/27/07"

stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
pass "a chosen block's write error reached the initiator as its sense; switched off, it was written"
