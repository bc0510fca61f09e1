#!/bin/bash
# A third-party initiator: QEMU's own iSCSI block driver (qemu-img with
# qemu-block-extra, built on libiscsi) sees the LUN's size, writes 64 MiB
# of random data into a file-backed LUN and reads it back bit for bit; the
# data is also in the backing file after SIGTERM, flushed (no dirty page).
. "$(dirname "$0")/lib/common.sh" "$@"
command -v qemu-img >/dev/null || fail "qemu-img not installed (qemu-utils, qemu-block-extra)"
PORT=$((3389 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:qemu
URL="iscsi://127.0.0.1:$PORT/$IQN/0"

cat >"$tmp/vstord.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN",
    "luns": [ { "lun": 0, "backend": "file", "path": "$tmp/disk.img", "size": "256M", "create": true } ] } ] }
JSON
start_vstord $PORT -c "$tmp/vstord.json" --ctl-socket none

out=$(qemu-img info "$URL" 2>&1) || fail "qemu-img info failed: $out"
grep -q "virtual size: 256 MiB (268435456 bytes)" <<<"$out" || fail "qemu sees the wrong size: $out"

head -c 64M /dev/urandom >"$tmp/src.raw"
out=$(qemu-img convert -n -f raw -O raw "$tmp/src.raw" "$URL" 2>&1) ||
	fail "qemu-img convert to the LUN failed: $out"
out=$(qemu-img convert -f raw -O raw "$URL" "$tmp/back.raw" 2>&1) ||
	fail "qemu-img convert from the LUN failed: $out"
cmp -n $((64 << 20)) "$tmp/src.raw" "$tmp/back.raw" >/dev/null ||
	fail "data read back through QEMU differs from what QEMU wrote"

stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
# qemu-img convert writes with cache=unsafe (no flush of its own): the
# data reaches the disk only through vstord's flush at shutdown.
assert_flushed "$tmp/disk.img" "the data QEMU wrote"
cmp -n $((64 << 20)) "$tmp/src.raw" "$tmp/disk.img" >/dev/null ||
	fail "backing file does not hold the data QEMU wrote"
pass "64 MiB written and read back through QEMU's iSCSI driver, and present in the backing file"
