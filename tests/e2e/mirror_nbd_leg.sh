#!/bin/bash
# A mirror of a local file and a remote NBD server (nbdkit) survives losing
# the remote leg (issue 17): the volume the milestone promises.
#
# An initiator (ack_writer soak) keeps 32 numbered, self-checking WRITE(10)s
# in flight over one iSCSI session, one in 8 with FUA and a SYNCHRONIZE
# CACHE every 256 writes.  nbdkit is killed with SIGKILL while they run:
#  - the nbd backend reports its resource lost, the mirror holds the leg for
#    leg_timeout (2 s) and then degrades it; the initiator never sees an
#    error (no MEDIUM ERROR, no other failure, the session stays logged in)
#    and its writes go on to the file leg, and the map counts the regions
#    the NBD leg misses;
#  - nbdkit comes back on the same image: the backend reconnects, the
#    mirror copies the regions it missed while the writes go on, and says
#    "in sync";
#  - the writer stops; a checkpoint read of the whole LUN holds every
#    acknowledged write; vstord stops with SIGTERM; the two legs (the local
#    file and nbdkit's image) are byte-identical and each holds every
#    acknowledged write.
# Ports: iSCSI 3524, NBD 10848 (+ VSTOR_PORT_OFFSET).
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
. "$(dirname "$0")/lib/mirror.sh"
. "$(dirname "$0")/lib/nbdkit.sh"
WRITER=$BUILD_ABS/e2e/ack_writer
[ -x "$WRITER" ] || fail "ack_writer not built (libiscsi-dev missing)"
PORT=$((3524 + ${VSTOR_PORT_OFFSET:-0}))
NBD_PORT=$((10848 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-12.org.vstor:mirror-nbd
URL=iscsi://127.0.0.1:$PORT/$IQN/0
export ACK_WRITER_REGION=131072        # the 64 MiB LUN, in 512-byte blocks
export ACK_WRITER_FLUSH_EVERY=256

truncate -s 64M "$tmp/remote.img"
# nbdkit's file plugin: a write it acknowledged is in the image's page
# cache, which outlives nbdkit's SIGKILL (the server dies, not the machine)
serve() { nbdkit_run "$NBD_PORT" file "$tmp/remote.img"; }
serve
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [
      { "lun": 0, "volume": { "type": "mirror", "meta": "$tmp/m.map", "region": "64K",
          "leg_timeout": "2s", "retry": "0", "assume_clean": true,
          "legs": [ { "backend": "file", "path": "$tmp/local.img", "create": true, "size": "64M" },
                    { "backend": "nbd", "uri": "nbd://127.0.0.1:$NBD_PORT",
                      "connect_timeout": "2s" } ] } }
  ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"
mirror_wait $IQN 0 "in sync" 10

"$WRITER" soak "$URL" "$tmp/acks" 300 32 "$tmp/stop" >"$tmp/writer.out" 2>&1 &
wpid=$!
sleep 2
kill -0 $wpid 2>/dev/null || fail "the writer stopped early: $(cat "$tmp/writer.out")"
nbdkit_stop KILL
mirror_wait $IQN 0 degraded 20
leg1=$(mirror_get $IQN 0 leg1)
# writes go on to the file leg alone, and the NBD leg falls behind
sleep 3
kill -0 $wpid 2>/dev/null || fail "the writer stopped with the NBD leg gone: $(cat "$tmp/writer.out")"
behind=$(leg_behind $IQN 0 1)
[ "${behind:-0}" -ge 32 ] || fail "the NBD leg is behind on '${behind}' regions: $(mirror_get $IQN 0 leg1)"

serve
# the backend reconnects, the mirror copies what the leg missed
for _ in $(seq 600); do
	case $(mirror_get $IQN 0 state) in
	"in sync") break ;;
	esac
	kill -0 $wpid 2>/dev/null || fail "the writer stopped during the resync: $(cat "$tmp/writer.out")"
	sleep 0.1
done
state=$(mirror_get $IQN 0 state)
[ "$state" = "in sync" ] || fail "not in sync 60 s after nbdkit came back: $state; $(mirror_get $IQN 0 leg1)"
copied=$(mirror_get $IQN 0 resync_copied)
[ "${copied:-0}" -ge $((behind * 65536)) ] ||
	fail "the resync copied $copied bytes for $behind regions of 64K behind"

# a checkpoint reads the whole LUN back under the writer, then it stops
writer_checkpoint $wpid "$tmp/stop" "after the resync"
touch "$tmp/stop"
wait $wpid
wrc=$?
[ "$wrc" = 0 ] || fail "the writer failed (exit $wrc): $(tail -5 "$tmp/writer.out")"
grep -q "0 MEDIUM ERROR; session stayed logged in" "$tmp/writer.out" ||
	fail "the initiator saw the leg go: $(tail -3 "$tmp/writer.out")"
grep -q '^ack_writer: checkpoint .*, 0 bad$' "$tmp/writer.out" ||
	fail "the checkpoint read found bad blocks: $(grep checkpoint "$tmp/writer.out")"
acked=$(grep -o '^ack_writer: soak: [0-9]*' "$tmp/writer.out" | awk '{ print $3 }')
[ "${acked:-0}" -gt 1000 ] || fail "only '$acked' writes acknowledged: $(tail -3 "$tmp/writer.out")"
grep -q 'lost its resource' "$tmp/vstord.log" || fail "vstord did not log the NBD leg's loss"

stop_vstord TERM 30
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
nbdkit_stop TERM
cmp "$tmp/local.img" "$tmp/remote.img" || fail "the legs differ after the resync"
"$WRITER" verify-file "$tmp/local.img" "$tmp/acks" >"$tmp/vl.out" 2>&1 ||
	fail "the file leg misses acknowledged writes: $(tail -3 "$tmp/vl.out")"
"$WRITER" verify-file "$tmp/remote.img" "$tmp/acks" >"$tmp/vr.out" 2>&1 ||
	fail "the NBD leg misses acknowledged writes: $(tail -3 "$tmp/vr.out")"
pass "nbdkit killed under QD32 writes: leg degraded ($leg1), $behind regions behind, $copied bytes resynced after its return; $acked writes acknowledged, 0 errors at the initiator, legs identical"
