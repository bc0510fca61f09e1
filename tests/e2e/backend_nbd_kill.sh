#!/bin/bash
# The NBD server under a LUN dies and comes back, and no acknowledged write
# is lost (issue 13, "no lost delayed write").
#
# nbdkit serves a file through its cache filter with cache=writeback, so
# what it has not flushed dies with it.  An initiator (ack_writer soak) keeps
# 32 numbered, self-checking WRITE(10)s in flight over one iSCSI session,
# round-robin over the whole 64 MiB LUN, one in 8 with FUA, and a
# SYNCHRONIZE CACHE every 4096 writes.  nbdkit is killed with SIGKILL at a random
# moment and started again after a random 0-10 s, NBD_KILL_CYCLES times
# (default 3; bench/nbd-backend-kill-soak runs 100).  Then:
#  - after each return, the writer stops and reads the whole LUN back: every
#    block holds its last acknowledged write (a write lost in the server's
#    cache would show, as its block is rewritten only a LUN later); and at
#    the end again through iSCSI and, after vstord's shutdown flushed, in
#    the file itself;
#  - no command ended in MEDIUM ERROR (or any error but retryable ones);
#  - the session stayed logged in (one login, the writer never lost it);
#  - vstord logged one "lost" and one "back" line per kill.
# Once with the LUN's cache=on (the backend keeps and writes again what the
# server had not flushed) and once with cache=off (every write with FUA).
# Ports: iSCSI 3490, NBD 10840 (+ VSTOR_PORT_OFFSET).
. "$(dirname "$0")/lib/common.sh" "$@"
ISCSI_PORT=$((3490 + ${VSTOR_PORT_OFFSET:-0}))
NBD_PORT=$((10840 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:nbdkill
CYCLES=${NBD_KILL_CYCLES:-3}
MAX_DOWN=${NBD_KILL_MAX_DOWN:-10}
MODES=${NBD_KILL_MODES:-on off}
writer=$BUILD/e2e/ack_writer
[ -x "$writer" ] || fail "$writer not built"
. "$(dirname "$0")/lib/nbdkit.sh"
url="iscsi://127.0.0.1:$ISCSI_PORT/$IQN/0"
export ACK_WRITER_REGION=131072        # the 64 MiB LUN, in 512-byte blocks

count() {   # pattern → lines of vstord.log since this mode started
	tail -n +"$log_from" "$tmp/vstord.log" | grep -c -- "$1"
}

summary=
for mode in $MODES; do
	img=$tmp/disk-$mode.img
	rm -f "$img" "$tmp/stop" "$tmp/stop.check"
	truncate -s 64M "$img"
	nbdkit_start "$img" "$NBD_PORT"
	cat >"$tmp/vstord.json" <<JSON
{ "portals": ["127.0.0.1:$ISCSI_PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [
    { "lun": 0, "backend": "nbd", "uri": "nbd://127.0.0.1:$NBD_PORT", "cache": "$mode" } ] } ] }
JSON
	log_from=1
	[ -f "$tmp/vstord.log" ] && log_from=$(($(wc -l <"$tmp/vstord.log") + 1))
	start_vstord "$ISCSI_PORT" -c "$tmp/vstord.json" --ctl-socket none
	"$writer" soak "$url" "$tmp/acked-$mode.log" 3600 32 "$tmp/stop" >"$tmp/writer-$mode.out" 2>&1 &
	writer_pid=$!
	sleep 1
	for cycle in $(seq "$CYCLES"); do
		# a random moment of the write stream, a random time away
		sleep "$((RANDOM % 3)).$((RANDOM % 10))"
		kill -0 "$writer_pid" 2>/dev/null || fail "cache=$mode cycle $cycle: the writer stopped: $(cat "$tmp/writer-$mode.out")"
		nbdkit_stop KILL
		sleep "$((RANDOM % MAX_DOWN)).$((RANDOM % 10))"
		nbdkit_start "$img" "$NBD_PORT"
		for _ in $(seq 300); do
			[ "$(count 'resource back')" -ge "$cycle" ] && break
			sleep 0.1
		done
		[ "$(count 'resource back')" -ge "$cycle" ] ||
			fail "cache=$mode cycle $cycle: the LUN did not come back within 30 s"
		# a checkpoint: is everything acknowledged before the kill there?
		writer_checkpoint "$writer_pid" "$tmp/stop" "cache=$mode cycle $cycle"
	done
	sleep 1
	touch "$tmp/stop"
	wait "$writer_pid"
	wrc=$?
	cat "$tmp/writer-$mode.out"
	[ "$wrc" = 0 ] || fail "cache=$mode: the writer failed (exit $wrc)"
	grep -q "0 MEDIUM ERROR; session stayed logged in" "$tmp/writer-$mode.out" ||
		fail "cache=$mode: $(tail -1 "$tmp/writer-$mode.out")"
	[ "$(grep -c '^ack_writer: checkpoint .*, 0 bad$' "$tmp/writer-$mode.out")" = "$CYCLES" ] ||
		fail "cache=$mode: want $CYCLES clean checkpoints"
	"$writer" verify "$url" "$tmp/acked-$mode.log" >"$tmp/verify-$mode.out" 2>&1 ||
		fail "cache=$mode: verify through iSCSI: $(cat "$tmp/verify-$mode.out")"
	cat "$tmp/verify-$mode.out"
	lost=$(count 'resource lost: nbd://')
	back=$(count 'resource back')
	logins=$(count 'login: iqn.2026-11.org.vstor:e2e-writer')
	[ "$lost" = "$CYCLES" ] || fail "cache=$mode: $lost 'resource lost' lines for $CYCLES kills"
	[ "$back" = "$CYCLES" ] || fail "cache=$mode: $back 'resource back' lines for $CYCLES kills"
	[ "$(count 'resource failed')" = 0 ] || fail "cache=$mode: the LUN failed"
	# the writer's session and the verifier's: never a second login of the writer
	[ "$logins" = 2 ] || fail "cache=$mode: $logins logins, want the writer's one and the verifier's"
	replayed=$(tail -n +"$log_from" "$tmp/vstord.log" | grep -o 'wrote again [0-9]*' |
		awk '{ n += $3 } END { print n + 0 }')
	stop_vstord TERM 30
	[ "$stop_rc" = 0 ] || fail "cache=$mode: vstord exit $stop_rc after SIGTERM (its last flush)"
	nbdkit_stop TERM
	# what vstord flushed at shutdown is in the file itself
	"$writer" verify-file "$img" "$tmp/acked-$mode.log" >"$tmp/vfile-$mode.out" 2>&1 ||
		fail "cache=$mode: verify in the file: $(cat "$tmp/vfile-$mode.out")"
	acked=$(grep -o '^ack_writer: soak: [0-9]*' "$tmp/writer-$mode.out" | awk '{ print $3 }')
	summary="$summary cache=$mode: $CYCLES kills, $acked writes acknowledged, $replayed written again;"
done
pass "${summary%;}"
