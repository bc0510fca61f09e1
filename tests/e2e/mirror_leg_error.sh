#!/bin/bash
# A mirror of two file legs under write load (QD 32, a SYNCHRONIZE CACHE
# every 64 writes, every block checksummed): the first leg starts failing
# every request (its error filter switched on with vstorctl), the initiator
# sees no error; the leg is degraded and counts the regions it misses;
# switched off, it is tried again and copied — only the regions it missed
# (bytes copied <= those regions x region size); the legs end
# byte-identical and both hold every acknowledged write.  Then a leg is
# replaced with vstorctl (copied in full, identical too), and a LUN over a
# volume is added from the command line.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
. "$(dirname "$0")/lib/mirror.sh"
WRITER=$BUILD_ABS/e2e/ack_writer
[ -x "$WRITER" ] || fail "ack_writer not built (libiscsi-dev missing)"
PORT=$((3520 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:mirror
REGION=65536
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [
      { "lun": 0, "volume": { "type": "mirror", "meta": "$tmp/m.map", "region": "64K",
          "retry": "1s", "assume_clean": true,
          "legs": [ { "backend": "file", "path": "$tmp/a.img", "create": true, "size": "64M",
                      "filters": [ { "name": "error", "enabled": false } ] },
                    { "backend": "file", "path": "$tmp/b.img", "create": true, "size": "64M" } ] } }
  ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"
[ "$(mirror_get $IQN 0 state)" = "in sync" ] || fail "not in sync at start"

ACK_WRITER_FLUSH_EVERY=64 "$WRITER" write "iscsi://127.0.0.1:$PORT/$IQN/0" "$tmp/acks" 8 32 \
	2>"$tmp/writer.err" &
wpid=$!
sleep 1
ctl_ok lun set-filter --target $IQN --lun 0 --filter volume.legs[0].filters[0],enabled=1 >/dev/null
for _ in $(seq 50); do
	case $(mirror_get $IQN 0 leg0) in degraded*) break ;; esac
	sleep 0.1
done
case $(mirror_get $IQN 0 leg0) in
degraded*) ;;
*) fail "leg 0 not degraded: $(mirror_get $IQN 0 leg0)" ;;
esac
[ "$(mirror_get $IQN 0 state)" = degraded ] || fail "state: $(mirror_get $IQN 0 state)"
sleep 2
ctl_ok lun list --target $IQN | grep -q "leg0: degraded since" || fail "lun list shows no degraded leg"
copied0=$(mirror_get $IQN 0 resync_copied)
ctl_ok lun set-filter --target $IQN --lun 0 --filter volume.legs[0].filters[0],enabled=0 >/dev/null
wait $wpid
wrc=$?
[ "$wrc" = 0 ] || fail "writer: exit $wrc: $(cat "$tmp/writer.err")"
grep -q "went away" "$tmp/writer.err" && fail "writer lost the target: $(cat "$tmp/writer.err")"
mirror_wait $IQN 0 "in sync" 30
# the regions it missed, as the log said when its copy began
behind=$(sed -n 's/.*leg 0 is tried again; copying the \([0-9]*\) regions.*/\1/p' "$tmp/vstord.log" | tail -1)
[ -n "$behind" ] || fail "no 'copying the N regions' line in the log"
copied=$(($(mirror_get $IQN 0 resync_copied) - copied0))
[ "$behind" -gt 0 ] || fail "leg 0 missed no region"
[ "$copied" -gt 0 ] && [ "$copied" -le $((behind * REGION)) ] ||
	fail "copied $copied bytes for $behind regions of $REGION"
grep -q "leg 0 degraded" "$tmp/vstord.log" || fail "no log line for the degraded leg"
grep -q "leg 0 is in sync again" "$tmp/vstord.log" || fail "no log line for the leg in sync"

# leg 1 replaced at run time (vstorctl): the new disk is copied in full
ctl_ok lun replace-leg --target $IQN --lun 0 --leg 1 \
	--stack file,path="$tmp/c.img",create=1,size=64M >/dev/null
mirror_wait $IQN 0 "in sync" 60
ctl_ok lun list --target $IQN | grep -q "mirror(error/file,file)" || fail "stack after replace-leg"
grep -q "leg 1 replaced; copying all 1024 regions" "$tmp/vstord.log" || fail "no log line for the replacement"
# a LUN over a volume from the command line
ctl_ok lun add --target $IQN --lun 1 --volume stripe,chunk=4K --leg ram,size=1M \
	--leg ram,size=1M >/dev/null
ctl_ok lun list --target $IQN | grep -q "stripe(ram,ram)" || fail "lun add --volume: $(ctl lun list)"

stop_vstord TERM 20
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
cmp "$tmp/a.img" "$tmp/b.img" || fail "the legs differ"
cmp "$tmp/a.img" "$tmp/c.img" || fail "the replaced leg differs"
"$WRITER" verify-file "$tmp/a.img" "$tmp/acks" || fail "leg a misses acknowledged writes"
"$WRITER" verify-file "$tmp/b.img" "$tmp/acks" || fail "leg b misses acknowledged writes"
pass "$(wc -l <"$tmp/acks") writes acknowledged, no error at the initiator; $behind regions missed, $copied bytes copied; legs identical"
