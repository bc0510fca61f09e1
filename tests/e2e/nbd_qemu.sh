#!/bin/bash
# QEMU's NBD client: qemu-img info / convert in and out / map, and qemu-io
# read, write, discard, write -z, flush, with the data checked.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/nbd.sh"
nbd_need qemu-img qemu-io
NPORT=$((10812 + ${VSTOR_PORT_OFFSET:-0}))
IPORT=$((3442 + ${VSTOR_PORT_OFFSET:-0}))
URL="nbd://127.0.0.1:$NPORT/disk"
nbd_start $NPORT $IPORT

out=$(qemu-img info "$URL" 2>&1) || fail "qemu-img info: $out"
grep -q "virtual size: 256 MiB (268435456 bytes)" <<<"$out" || fail "qemu sees the wrong size: $out"

head -c 40M /dev/urandom >"$tmp/src.raw"
out=$(qemu-img convert -n -f raw -O raw "$tmp/src.raw" "$URL" 2>&1) || fail "convert in: $out"
out=$(qemu-img convert -f raw -O raw "$URL" "$tmp/back.raw" 2>&1) || fail "convert out: $out"
cmp -n $((40 << 20)) "$tmp/src.raw" "$tmp/back.raw" >/dev/null ||
	fail "qemu-img convert: what came back differs from what went in"

# qemu-io: every operation, each checked by a read with a pattern
q() {
	out=$(qemu-io -f raw "$@" "$URL" 2>&1) || fail "qemu-io $*: $out"
	grep -qiE 'fail|error|pattern verification' <<<"$out" && fail "qemu-io $*: $out"
	return 0
}
q -c 'write -P 0xa5 64M 4M' -c 'read -P 0xa5 64M 4M' -c 'flush'
q -c 'write -f -P 0x5a 65M 64k' -c 'read -P 0x5a 65M 64k'     # FUA write
q -c 'write -z 64M 1M' -c 'read -P 0 64M 1M' -c 'read -P 0x5a 65M 64k' -c 'read -P 0xa5 67072k 64k'
q -c 'write -z -u 66M 1M' -c 'read -P 0 66M 1M'                # may unmap
q -c 'discard 67M 1M' -c 'read -P 0xa5 67072k 64k' -c 'flush'
q -c 'aio_write -P 0x11 80M 64k' -c 'aio_write -P 0x22 81M 64k' -c 'aio_flush' \
  -c 'read -P 0x11 80M 64k' -c 'read -P 0x22 81M 64k'

out=$(qemu-img map -f raw --output=json "$URL" 2>&1) || fail "qemu-img map: $out"
grep -q '"start": 0, "length": 41943040, "depth": 0, "present": true, "zero": false, "data": true' <<<"$out" ||
	fail "map: the converted data should be data: $out"
grep -q '"zero": true, "data": false' <<<"$out" || fail "map: no hole reported: $out"

stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
cmp -n $((40 << 20)) "$tmp/src.raw" "$tmp/disk.img" >/dev/null ||
	fail "the backing file does not hold what qemu-img wrote"
pass "qemu-img info/convert in+out/map, qemu-io read/write(FUA)/write -z/discard/flush/aio"
