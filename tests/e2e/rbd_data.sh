#!/bin/bash
# The rbd backend against a real (throw-away) Ceph cluster, data checked
# by an independent client on each side:
#  - 24 MiB of random data written through iSCSI (QEMU's libiscsi driver)
#    into an image vstord created (create=1) is what `rbd export` reads,
#    and the rest of the image reads back as zeroes;
#  - an image written by `rbd import` reads back through iSCSI bit for bit;
#  - thin provisioning from the object map (GET LBA STATUS, SBC-3 5.5):
#    objects never written are deallocated, written ones mapped, an UNMAP
#    of a whole object deallocates it again and it reads back as zeroes;
#  - the LUN is used as the cephx user client.vstor (id=, keyring=).
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/rbd.sh"
command -v qemu-img >/dev/null || fail "qemu-img not installed (qemu-utils, qemu-block-extra)"
PORT=$(rbd_port 0)
IQN=iqn.2026-11.org.vstor:rbd-data
URL0="iscsi://127.0.0.1:$PORT/$IQN/0"
URL1="iscsi://127.0.0.1:$PORT/$IQN/1"
OBJ=$((4 << 20))            # rbd's default object size
BLOCKS_PER_OBJ=$((OBJ / 512))

rbd_cluster_up
head -c $((24 << 20)) /dev/urandom >"$tmp/in0.raw"
head -c $((12 << 20)) /dev/urandom >"$tmp/in1.raw"
rbd import --no-progress "$tmp/in1.raw" rbd/imported >/dev/null 2>&1 || fail "rbd import failed"

cat >"$tmp/vstord.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [
      $(rbd_lun 0 created 'create=true' 'size="64M"'),
      $(rbd_lun 1 imported) ] } ] }
JSON
start_vstord "$PORT" -c "$tmp/vstord.json" --ctl-socket none
rbd info rbd/created >/dev/null 2>&1 || fail "create=1 did not create rbd/created"

# Fresh image: nothing allocated.
out=$(rbd_client lbas 127.0.0.1:$PORT $IQN 0 0) || fail "GET LBA STATUS on the new image"
[ "$out" = "0 131072 deallocated" ] || fail "new 64 MiB image: GET LBA STATUS says '$out', want all deallocated"

# iSCSI → rbd export
out=$(qemu-img convert -n -f raw -O raw "$tmp/in0.raw" "$URL0" 2>&1) ||
	fail "qemu-img convert to the LUN failed: $out"
rbd export --no-progress rbd/created "$tmp/out0.raw" >/dev/null 2>&1 || fail "rbd export failed"
[ "$(stat -c %s "$tmp/out0.raw")" = $((64 << 20)) ] || fail "rbd export: not 64 MiB"
cmp -n $((24 << 20)) "$tmp/in0.raw" "$tmp/out0.raw" >/dev/null ||
	fail "rbd export does not read what was written through iSCSI"
cmp -i $((24 << 20)):0 -n $((40 << 20)) "$tmp/out0.raw" /dev/zero >/dev/null ||
	fail "the unwritten part of the image is not zeroes"

# Written objects mapped, the rest deallocated: 24 MiB = 6 whole objects.
out=$(rbd_client lbas 127.0.0.1:$PORT $IQN 0 0) || fail "GET LBA STATUS"
[ "$out" = "0 $((6 * BLOCKS_PER_OBJ)) mapped" ] || fail "after 24 MiB written: '$out'"
out=$(rbd_client lbas 127.0.0.1:$PORT $IQN 0 $((6 * BLOCKS_PER_OBJ))) || fail "GET LBA STATUS"
[ "$out" = "$((6 * BLOCKS_PER_OBJ)) $((10 * BLOCKS_PER_OBJ)) deallocated" ] ||
	fail "after 24 MiB written, from 24 MiB: '$out'"
# UNMAP the second object: deallocated, and zeroes through iSCSI and rbd.
rbd_client unmap 127.0.0.1:$PORT $IQN 0 $BLOCKS_PER_OBJ $BLOCKS_PER_OBJ || fail "UNMAP"
out=$(rbd_client lbas 127.0.0.1:$PORT $IQN 0 $BLOCKS_PER_OBJ) || fail "GET LBA STATUS"
[ "$out" = "$BLOCKS_PER_OBJ $BLOCKS_PER_OBJ deallocated" ] || fail "after UNMAP of object 1: '$out'"
rbd export --no-progress rbd/created "$tmp/out0b.raw" >/dev/null 2>&1 || fail "rbd export failed"
cmp -n $OBJ "$tmp/in0.raw" "$tmp/out0b.raw" >/dev/null || fail "object 0 changed by the UNMAP of object 1"
cmp -i $OBJ:0 -n $OBJ "$tmp/out0b.raw" /dev/zero >/dev/null || fail "object 1 is not zeroes after UNMAP"
cmp -i $((2 * OBJ)) -n $((4 * OBJ)) "$tmp/in0.raw" "$tmp/out0b.raw" >/dev/null ||
	fail "objects 2-5 changed by the UNMAP of object 1"

# rbd import → iSCSI
out=$(qemu-img info "$URL1" 2>&1) || fail "qemu-img info failed: $out"
grep -q "virtual size: 12 MiB (12582912 bytes)" <<<"$out" || fail "LUN 1 has the wrong size: $out"
out=$(qemu-img convert -f raw -O raw "$URL1" "$tmp/back1.raw" 2>&1) ||
	fail "qemu-img convert from the LUN failed: $out"
cmp "$tmp/in1.raw" "$tmp/back1.raw" >/dev/null || fail "iSCSI does not read what rbd import wrote"

stop_vstord TERM 20
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
pass "24 MiB iSCSI → rbd export, 12 MiB rbd import → iSCSI, GET LBA STATUS per object"
