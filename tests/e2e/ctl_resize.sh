#!/bin/bash
# (b) Growing a LUN under I/O: the initiator's next command gets UNIT
# ATTENTION CAPACITY DATA HAS CHANGED (2A/09) and READ CAPACITY(16) shows
# the new size at once; so does shrinking with --force, and then I/O past
# the new end is LBA OUT OF RANGE.  Shrinking below stored data needs --force
# (without data past the new end it does not); a size that is not a
# multiple of the block size is refused; refusals leave the LUN as it was.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
[ -x "$CLIENT" ] || fail "ctl_client not built (libiscsi-dev missing)"
PORT=$((3382 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:ctl-b
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [
      { "lun": 0, "backend": "ram", "size": "64M" },
      { "lun": 1, "backend": "file", "path": "$tmp/d1.img", "size": "32M", "create": true } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"
# resize_under_io MIB [--force]: both LUNs, RAM and file, while I/O runs.
resize_under_io() {
	local mib=$1 lun
	shift
	for lun in 0 1; do
		"$CLIENT" resize "127.0.0.1:$PORT" "$IQN" $lun $((mib << 20)) \
			"'$VSTORCTL' --socket '$SOCK' lun resize --target $IQN --lun $lun --size ${mib}M $* >/dev/null" ||
			fail "resize of LUN $lun to ${mib}M $* under I/O"
	done
	[ "$(stat -c %s "$tmp/d1.img")" = $((mib << 20)) ] || fail "file not resized to ${mib}M"
}

resize_under_io 128

# a block written at 100 MiB: a shrink to 64 MiB would cut it off
"$CLIENT" write-block "127.0.0.1:$PORT" "$IQN" 0 204800 || fail "write at LBA 204800"
ctl_err 1 "^vstorctl: params.size: shrinking from 128 MiB to 64 MiB would cut off data at LBA 204800; use --force\$" \
	lun resize --target $IQN --lun 0 --size 64M
ctl_err 1 "^vstorctl: params.size: 1000 bytes is not a multiple of the block size \(512\)\$" \
	lun resize --target $IQN --lun 0 --size 1000
ctl_ok lun list --target $IQN | grep -qE "^$IQN +0 +ram +128 MiB" || fail "refused resize changed LUN 0"
# LUN 1's data is all below 32 MiB (the file grew by a hole): no --force needed
ctl_ok lun resize --target $IQN --lun 1 --size 64M >/dev/null
[ "$(stat -c %s "$tmp/d1.img")" = $((64 << 20)) ] || fail "file not shrunk to 64M"
ctl_ok lun list --target $IQN | grep -qE "^$IQN +1 +file +64 MiB" || fail "LUN 1 not 64 MiB"
# Shrinking under I/O with --force: 2A/09, the new capacity, and LBA OUT OF
# RANGE past the new end.
resize_under_io 48 --force
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass
