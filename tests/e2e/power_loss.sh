#!/bin/bash
# Power loss: nothing made durable is lost (issue 12, point 5).  A file LUN
# with the vcache filter (a volatile write cache that a power failure
# empties) takes QD 32 writes, one in eight with FUA and a SYNCHRONIZE
# CACHE every 200, from power_writer; at a random moment the power fails
# (vstorctl lun set-filter --filter vcache,power_fail=1) and vstord is
# killed.  Every write acknowledged with FUA or covered by a completed
# SYNCHRONIZE CACHE must be in the image, whole; the others may be gone
# (and over the cycles some must be: else the cache was not volatile and
# the test proves nothing).  A cycle whose power fails while a SYNCHRONIZE
# CACHE is destaging loses nothing it may (that flush wrote them below),
# so when none of the first cycles lost a write, more cycles run, up to
# POWER_MAX_CYCLES (10), each checked the same way.
# POWER_CYCLES (default 3) sets the number of cycles; run it with 100 for
# the long version.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
PORT=$((3451 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:power
WRITER=$BUILD_ABS/e2e/power_writer
[ -x "$WRITER" ] || fail "power_writer not built (needs libiscsi-dev)"
cycles=${POWER_CYCLES:-3}
max_cycles=${POWER_MAX_CYCLES:-10}
[ "$max_cycles" -ge "$cycles" ] || max_cycles=$cycles
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [
      { "lun": 0, "backend": "file", "path": "$tmp/d.img", "size": "256M", "create": true,
        "filters": [ { "name": "vcache", "size": "16M" } ] } ] } ] }
JSON
durable=0 lost=0 acked=0 c=0
while [ $c -lt "$cycles" ] || { [ "$lost" = 0 ] && [ $c -lt "$max_cycles" ]; }; do
	c=$((c + 1))
	rm -f "$tmp/d.img"
	: >"$tmp/vstord.log"
	ctl_start $PORT "$tmp/c.json"
	"$WRITER" write "iscsi://127.0.0.1:$PORT/$IQN/0" "$tmp/w.log" 30 32 2>"$tmp/writer.err" &
	wpid=$!
	# 0.3 to 2.3 s of writing before the power goes
	sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.3 + r / 32768 * 2 }')"
	kill -0 $wpid 2>/dev/null || fail "cycle $c: the writer stopped early: $(cat "$tmp/writer.err")"
	ctl_ok lun set-filter --target $IQN --lun 0 --filter vcache,power_fail=1 >/dev/null
	kill -KILL "$vstord_pid"
	wait "$vstord_pid" 2>/dev/null
	vstord_pid=
	wait $wpid
	rc=$?
	[ $rc -le 0 ] || [ $rc = 0 ] || grep -q 'writes acknowledged' "$tmp/writer.err" ||
		fail "cycle $c: writer: $(cat "$tmp/writer.err")"
	grep -q 'status 0x' "$tmp/writer.err" && fail "cycle $c: a write got an unexpected status: $(cat "$tmp/writer.err")"
	out=$("$WRITER" verify-file "$tmp/d.img" "$tmp/w.log" 2>&1) ||
		fail "cycle $c: durable writes lost: $out"
	read -r a d l < <(sed -E 's/acknowledged ([0-9]+), durable ([0-9]+) .* ([0-9]+) lost.*/\1 \2 \3/' <<<"$out")
	acked=$((acked + a)) durable=$((durable + d)) lost=$((lost + l))
	echo "cycle $c: $out"
done
[ "$durable" -gt 0 ] || fail "no write was made durable: the test proves nothing"
[ "$lost" -gt 0 ] || fail "no acknowledged write was lost in $c power failures: is the cache volatile?"
pass "$c power failures: $acked writes acknowledged, all $durable durable ones present, $lost not durable ones lost"
