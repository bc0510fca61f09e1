#!/bin/bash
# vstord killed with SIGKILL (no flush, no clean close) on a mirror of two
# file legs:
#  1. under write load while in sync (QD 32, flushes, checksummed blocks):
#     after the restart the regions that had writes in flight — and only
#     those, at most the 32 regions the writer touches of the 1024 — are
#     copied from the first leg; the legs end byte-identical and hold every
#     acknowledged write;
#  2. in the middle of a resync of a leg that missed writes: after the
#     restart the copy goes on from the map (which records its progress),
#     the bytes copied before and after the kill stay far under one full
#     resync, and the legs end identical.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
. "$(dirname "$0")/lib/mirror.sh"
WRITER=$BUILD_ABS/e2e/ack_writer
[ -x "$WRITER" ] || fail "ack_writer not built (libiscsi-dev missing)"
PORT=$((3521 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:mirror-kill
URL=iscsi://127.0.0.1:$PORT/$IQN/0
SIZE=$((64 << 20))

config() {   # region
	cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [
      { "lun": 0, "volume": { "type": "mirror", "meta": "$tmp/m.map", "region": "$1",
          "resync_rate": "400k", "retry": "0", "assume_clean": true,
          "legs": [ { "backend": "file", "path": "$tmp/a.img", "create": true, "size": "64M",
                      "filters": [ { "name": "error", "enabled": false } ] },
                    { "backend": "file", "path": "$tmp/b.img", "create": true, "size": "64M" } ] } }
  ] } ] }
JSON
}

kill_vstord() {
	kill -KILL "$vstord_pid"
	wait "$vstord_pid" 2>/dev/null
	vstord_pid=
}

check_legs() {   # what
	cmp "$tmp/a.img" "$tmp/b.img" || fail "$1: the legs differ"
	"$WRITER" verify-file "$tmp/a.img" "$tmp/acks" >/dev/null || fail "$1: leg a misses acknowledged writes"
	"$WRITER" verify-file "$tmp/b.img" "$tmp/acks" >/dev/null || fail "$1: leg b misses acknowledged writes"
}

# ---- 1: killed under write load, in sync
config 64K
ctl_start $PORT "$tmp/c.json"
ACK_WRITER_FLUSH_EVERY=64 "$WRITER" write "$URL" "$tmp/acks" 20 32 2>"$tmp/writer.err" &
wpid=$!
sleep 3
kill -0 $wpid 2>/dev/null || fail "writer ended early: $(cat "$tmp/writer.err")"
kill_vstord
wait $wpid
acked=$(wc -l <"$tmp/acks")
[ "$acked" -gt 1000 ] || fail "only $acked writes acknowledged: $(cat "$tmp/writer.err")"
ctl_start $PORT "$tmp/c.json"
mirror_wait $IQN 0 "in sync" 30
regions=$(mirror_get $IQN 0 resync_regions)
copied=$(mirror_get $IQN 0 resync_copied)
# the writer's 4096 blocks are 32 regions of 64K, all busy when it was killed
[ "$regions" -ge 1 ] && [ "$regions" -le 32 ] || fail "1: $regions regions copied, want 1-32"
[ "$copied" = $((regions * 65536)) ] || fail "1: $copied bytes copied for $regions regions"
stop_vstord TERM 20
[ "$stop_rc" = 0 ] || fail "1: SIGTERM: exit status $stop_rc"
check_legs 1
one="$acked writes acknowledged, then killed: $regions in-flight regions copied"

# ---- 2: killed in the middle of a resync
rm -f "$tmp/a.img" "$tmp/b.img" "$tmp/m.map"
config 4K
ctl_start $PORT "$tmp/c.json"
ctl_ok lun set-filter --target $IQN --lun 0 --filter volume.legs[0].filters[0],enabled=1 >/dev/null
"$WRITER" write "$URL" "$tmp/acks" 2 32 2>"$tmp/writer.err" || fail "2: writer: $(cat "$tmp/writer.err")"
grep -q "went away" "$tmp/writer.err" && fail "2: the writer lost the target"
behind=$(leg_behind $IQN 0 0)
[ "$behind" -ge 256 ] || fail "2: leg 0 is behind on $behind regions: $(mirror_get $IQN 0 leg0)"
ctl_ok lun set-filter --target $IQN --lun 0 --filter volume.legs[0].filters[0],enabled=0 >/dev/null
ctl_ok lun set-filter --target $IQN --lun 0 --filter mirror,retry=100ms >/dev/null
for _ in $(seq 100); do
	c1=$(mirror_get $IQN 0 resync_copied)
	[ "$c1" -ge $((behind * 4096 / 4)) ] && break
	sleep 0.1
done
case $(mirror_get $IQN 0 state) in
resyncing*) ;;
*) fail "2: not resyncing when killed: $(mirror_get $IQN 0 state)" ;;
esac
c1=$(mirror_get $IQN 0 resync_copied)
kill_vstord
ctl_start $PORT "$tmp/c.json"
mirror_wait $IQN 0 "in sync" 60
c2=$(mirror_get $IQN 0 resync_copied)
total=$((c1 + c2))
[ "$c1" -gt 0 ] && [ "$c2" -gt 0 ] || fail "2: copied $c1 before the kill, $c2 after"
# again after the restart: at most what was copied since the map last
# recorded the copy's progress (every 100 ms; about 100 regions a second here)
[ "$total" -le $((behind * 4096 + 4096 * 32)) ] ||
	fail "2: copied $total bytes in all for $behind regions of 4K"
[ "$total" -lt "$SIZE" ] || fail "2: copied $total bytes, a full resync is $SIZE"
stop_vstord TERM 20
[ "$stop_rc" = 0 ] || fail "2: SIGTERM: exit status $stop_rc"
check_legs 2
pass "$one; a resync of $behind regions killed after $c1 bytes, $c2 more after the restart; legs identical"
