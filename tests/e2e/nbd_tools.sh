#!/bin/bash
# NBD interop with libnbd's tools: nbdinfo (size, flags, --list, --map),
# nbdcopy in and out (one and four connections) with checksums, the map
# after a trim; the data is in the backing file after SIGTERM.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/nbd.sh"
nbd_need nbdinfo nbdcopy
NPORT=$((10811 + ${VSTOR_PORT_OFFSET:-0}))
IPORT=$((3440 + ${VSTOR_PORT_OFFSET:-0}))
URI="nbd://127.0.0.1:$NPORT/disk"
nbd_start $NPORT $IPORT

out=$(nbdinfo --json "$URI" 2>&1) || fail "nbdinfo: $out"
for want in '"export-size": 268435456' '"can_flush": true' '"can_fua": true' '"can_trim": true' \
            '"can_zero": true' '"can_fast_zero": true' '"can_multi_conn": true' '"can_cache": true' \
            '"block_size_minimum": 512' '"is_read_only": false' '"base:allocation"' \
            '"description": "vstor e2e disk"'; do
	grep -q "$want" <<<"$out" || fail "nbdinfo lacks $want: $out"
done
out=$(nbdinfo --json nbd://127.0.0.1:$NPORT/ro 2>&1) || fail "nbdinfo ro: $out"
grep -q '"is_read_only": true' <<<"$out" || fail "ro export not read-only: $out"
out=$(nbdinfo --list "nbd://127.0.0.1:$NPORT" 2>&1) || fail "nbdinfo --list: $out"
grep -q 'export="disk"' <<<"$out" && grep -q 'export="ro"' <<<"$out" ||
	fail "nbdinfo --list misses an export: $out"
out=$(nbdinfo --map "$URI" 2>&1) || fail "nbdinfo --map: $out"
grep -qE '^ *0 +268435456 +3 +hole,zero' <<<"$out" || fail "a new thin LUN should map as one hole: $out"

head -c 48M /dev/urandom >"$tmp/src.img"
sum=$(head -c 48M "$tmp/src.img" | sha256sum | cut -d' ' -f1)
nbdcopy "$tmp/src.img" "$URI" || fail "nbdcopy into the export failed"
nbdcopy "$URI" "$tmp/back.img" || fail "nbdcopy out of the export failed"
[ "$(head -c 48M "$tmp/back.img" | sha256sum | cut -d' ' -f1)" = "$sum" ] ||
	fail "nbdcopy out: checksum differs from what went in"
# four connections (multi-conn is advertised) and the other way round
head -c 64M /dev/urandom >"$tmp/src2.img"
sum2=$(sha256sum <"$tmp/src2.img" | cut -d' ' -f1)
nbdcopy --connections=4 --requests=16 "$tmp/src2.img" "$URI" || fail "nbdcopy -C 4 in failed"
nbdcopy --connections=4 "$URI" - | head -c 64M >"$tmp/back2.img"
[ "$(sha256sum <"$tmp/back2.img" | cut -d' ' -f1)" = "$sum2" ] ||
	fail "nbdcopy with 4 connections: checksum differs"

# trim [32 MiB, 64 MiB): the map says hole,zero from there on
/usr/bin/python3 - "$URI" <<'PY' || fail "trim through libnbd failed"
import sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
h.trim(32 << 20, 32 << 20)
h.flush()
h.shutdown()
PY
out=$(nbdinfo --map "$URI" 2>&1) || fail "nbdinfo --map: $out"
grep -qE '^ *0 +33554432 +0 +data' <<<"$out" || fail "written data should map as data: $out"
grep -qE '^ *33554432 +234881024 +3 +hole,zero' <<<"$out" ||
	fail "the trimmed range and the never written rest should be one hole: $out"

stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
cmp -n $((32 << 20)) "$tmp/disk.img" "$tmp/src2.img" >/dev/null ||
	fail "the backing file does not hold what nbdcopy wrote"
cmp -n $((32 << 20)) -i $((32 << 20)) "$tmp/disk.img" /dev/zero >/dev/null ||
	fail "the trimmed range of the backing file does not read as zeroes"
pass "nbdinfo (flags, --list, --map), nbdcopy in/out with 1 and 4 connections, trim map, data on disk"
