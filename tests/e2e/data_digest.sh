#!/bin/bash
# CRC32C header and data digests on the wire (RFC 7143 §13.1), checked by an
# initiator: bench/iscsi-load --data-digest negotiates them (libiscsi
# cannot) and checks every Data-In's digest; the conformance suite runs
# without data digests.  Data-In from a RAM LUN and from a file LUN on
# tmpfs, whose reads are lent without digests (srb.h data_ref), with them
# lent stably (RAM: writes to those blocks wait) or copied (file), in data segments of 512 bytes (READ of one block: the
# hand-written CRC path) to 256 KiB (ISA-L's): every digest must match, and
# reads without digests still move their data -- the right data: the LUN is
# written with patterns and read back block by block first (iscsi-load
# --verify).
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3550 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:data-digest
BUILD_ABS=$(cd "$BUILD" && pwd)
LOAD=$BUILD_ABS/bench/iscsi-load/iscsi-load
[ -x "$LOAD" ] || fail "iscsi-load not built"
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=$tmp
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [
      { "lun": 0, "backend": "ram", "size": "64M" },
      { "lun": 1, "backend": "file", "path": "$shm/vstor-e2e-digest-$$.img", "size": "64M", "create": true } ] } ] }
JSON
trap 'rm -f "$shm/vstor-e2e-digest-$$.img"; e2e_cleanup' EXIT
start_vstord "$PORT" -c "$tmp/c.json" --ctl-socket none

# run LUN ARGS...: iscsi-load must succeed; prints its JSON
run() {
	local lun=$1
	shift
	"$LOAD" --url "iscsi://127.0.0.1:$PORT/$IQN/$lun" --json --warmup 0 "$@" >"$tmp/load.json" \
		2>"$tmp/load.err" || fail "iscsi-load $* on LUN $lun: exit $?: $(cat "$tmp/load.err") $(cat "$tmp/load.json")"
	cat "$tmp/load.json"
}
field() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"r": r}))' "$tmp/load.json" "$1"; }

checked=0
# digests_ok WHAT: the last run had no I/O error, no wrong data digest and
# checked more than 100; adds them to $checked
digests_ok() {
	[ "$(field 'r["errors"]')" = 0 ] || fail "$1: I/O errors"
	[ "$(field 'r["digests"]["data_wrong"]')" = 0 ] ||
		fail "$1: $(field 'r["digests"]["data_wrong"]') data digests wrong"
	n=$(field 'r["digests"]["data_checked"]')
	[ "$n" -gt 100 ] || fail "$1: only $n data digests checked"
	checked=$((checked + n))
}
for lun in 0 1; do
	# written with patterns and read back (without digests: lent, no copy
	# in vstord), every block compared: the loan sends the disk's bytes
	run $lun --verify --duration 0 --bs 256k --qd 8 >/dev/null
	[ "$(field 'r["verify"]["mismatches"]')" = 0 ] && [ "$(field 'r["verify"]["blocks_checked"]')" -gt 0 ] ||
		fail "LUN $lun: read back without digests: $(cat "$tmp/load.json")"
	for w in "seq 1M 8" "random 4k 32" "random 512 4"; do
		read -r pattern bs qd <<<"$w"
		for dig in "--data-digest" "--header-digest --data-digest"; do
			# shellcheck disable=SC2086
			run $lun --rw read --pattern "$pattern" --bs "$bs" --qd "$qd" --duration 1 $dig >/dev/null
			digests_ok "LUN $lun $w $dig"
		done
		# the same reads without digests move the same data
		run $lun --rw read --pattern "$pattern" --bs "$bs" --qd "$qd" --duration 1 >/dev/null
		[ "$(field 'r["errors"]')" = 0 ] && [ "$(field 'r["ios"]')" -gt 0 ] ||
			fail "LUN $lun $w without digests: $(cat "$tmp/load.json")"
	done
done

# Reads with data digests from a RAM LUN are lent stably (srb.h
# VS_DATA_REF_STABLE): writes to their blocks wait until the Data-In is
# sent, so a digest taken at PDU build time still matches what sendmsg
# copies.  Another session writes all over the same 1 MiB meanwhile: no
# digest may be wrong, and the writes still go through.
"$LOAD" --url "iscsi://127.0.0.1:$PORT/$IQN/0" --json --warmup 0 --rw write --bs 4k --qd 32 \
	--size 1M --duration 4 >"$tmp/writer.json" 2>"$tmp/writer.err" &
wpid=$!
sleep 0.5
for w in "64k 8" "4k 32"; do
	read -r bs qd <<<"$w"
	run 0 --rw read --bs "$bs" --qd "$qd" --size 1M --duration 1 --header-digest --data-digest >/dev/null
	digests_ok "reads of $bs beside writes"
done
wait $wpid || fail "the writer beside digest reads failed: $(cat "$tmp/writer.err")"
writes=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["writes"] if r["errors"] == 0 else -1)' "$tmp/writer.json")
[ "$writes" -gt 1000 ] || fail "the writer beside digest reads: $writes writes: $(cat "$tmp/writer.json")"
pass "$checked data digests checked, none wrong (RAM and tmpfs file LUNs, 512 B to 1 MiB reads; $writes writes to the same blocks meanwhile)"
