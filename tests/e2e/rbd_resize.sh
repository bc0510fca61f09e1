#!/bin/bash
# An RBD image resized by someone else (`rbd resize`, another client of
# the cluster) while an initiator is logged in and doing I/O: librbd's
# header watch tells the backend, and the open session gets UNIT
# ATTENTION CAPACITY DATA HAS CHANGED (2A/09, SBC-3 4.6) once and the new
# capacity from READ CAPACITY(16); after a shrink, I/O past the new end is
# LBA OUT OF RANGE.  A resize through vstorctl reaches the image (rbd info
# says so) and is reported once too, although the watch sees it as well.
# vstorctl adds an rbd LUN (and refuses one without an image) and removes
# it, which releases the image's lock.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/rbd.sh"
. "$(dirname "$0")/lib/ctl.sh"
[ -x "$CLIENT" ] || fail "ctl_client not built (libiscsi-dev missing)"
PORT=$(rbd_port 1)
IQN=iqn.2026-11.org.vstor:rbd-resize

rbd_cluster_up
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [ $(rbd_lun 0 grow 'create=true' 'size="64M"') ] } ] }
JSON
ctl_start "$PORT" "$tmp/c.json"

image_mib() { rbd info --format json rbd/grow 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"] >> 20)'; }

"$CLIENT" resize "127.0.0.1:$PORT" "$IQN" 0 $((96 << 20)) \
	"rbd resize --no-progress --size 96M rbd/grow" || fail "rbd resize to 96M under I/O"
"$CLIENT" resize "127.0.0.1:$PORT" "$IQN" 0 $((40 << 20)) \
	"rbd resize --no-progress --allow-shrink --size 40M rbd/grow" || fail "rbd resize to 40M under I/O"
"$CLIENT" resize "127.0.0.1:$PORT" "$IQN" 0 $((72 << 20)) \
	"'$VSTORCTL' --socket '$SOCK' lun resize --target $IQN --lun 0 --size 72M >/dev/null" ||
	fail "vstorctl lun resize to 72M under I/O"
[ "$(image_mib)" = 72 ] || fail "vstorctl lun resize: rbd info says $(image_mib) MiB, want 72"
# the two made elsewhere are events from the backend; vstorctl's own is
# not one (the disk changed its size itself), so the watch seeing it later
# must not report it again
n=$(grep -c "LUN 0: resource resized" "$tmp/vstord.log")
[ "$n" = 2 ] || fail "want 2 'resource resized' log lines (the two rbd resizes), got $n"
# The control plane knows no backend by name: an rbd LUN added and removed
# with vstorctl, its options checked by the backend's schema.
ctl_err 1 "^vstorctl: params\.image: missing \(required: the RBD image's name\)$" \
	lun add --target $IQN --lun 1 --backend rbd --option pool=rbd
ctl_ok lun add --target $IQN --lun 1 --backend rbd --size 32M --option image=added \
	--option create=1 --option conf="$CEPH_CONF" --option id=vstor \
	--option keyring="$CEPH_DIR/client.vstor.keyring" >/dev/null
ctl_ok lun list --target $IQN | grep -qE "^$IQN +1 +rbd +32 MiB" || fail "LUN 1 not listed as rbd, 32 MiB"
rbd lock ls rbd/added 2>/dev/null | grep -q "exclusive lock" || fail "LUN 1 does not hold rbd/added's lock"
ctl_ok lun remove --target $IQN --lun 1 >/dev/null
[ -z "$(rbd lock ls rbd/added 2>/dev/null)" ] || fail "rbd/added still locked after lun remove"
stop_vstord TERM 20
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
pass "rbd resize grow and shrink, vstorctl resize: 2A/09 once each, new capacity on the open session"
