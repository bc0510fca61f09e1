#!/bin/bash
# vstorctl top in a terminal (tmux, 80x24): under a load on one LUN, the
# captured screen shows every LUN on a line no wider than 80 columns, the
# loaded LUN's IOPS and latency moving from one frame to the next, the idle
# LUN at 0 IOPS; into a pipe, --count N prints N frames and ends.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
IO=$BUILD/e2e/io_count
[ -x "$IO" ] || fail "$IO not built (needs libiscsi-dev)"
command -v tmux >/dev/null || fail "tmux not installed"
PORT=$((3486 + ${VSTOR_PORT_OFFSET:-0}))
T=iqn.2026-11.org.vstor:top-test-with-a-rather-long-name
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$T", "luns": [
      { "lun": 0, "backend": "ram", "size": "32M" },
      { "lun": 1, "backend": "ram", "size": "8M" } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"
session=vstor-top-$$
tmux_kill() { tmux kill-session -t "$session" 2>/dev/null; }
trap 'tmux_kill; e2e_cleanup' EXIT

"$IO" load "127.0.0.1:$PORT" "$T" 0 8 >"$tmp/load.out" 2>&1 &
lp=$!
for _ in $(seq 50); do      # the load is logged in and running (a loaded machine is slow)
	ctl --json stats --target "$T" --lun 0 2>/dev/null | grep -q '"read_ops": [1-9]' && break
	sleep 0.2
done
tmux new-session -d -s "$session" -x 80 -y 24 \
	"'$VSTORCTL' --socket '$SOCK' top --interval 0.5; sleep 30" || fail "tmux did not start"
sleep 2
tmux capture-pane -p -t "$session" >"$tmp/frame1"
sleep 1.5
tmux capture-pane -p -t "$session" >"$tmp/frame2"
tmux_kill
wait $lp || fail "load: $(cat "$tmp/load.out")"

for f in "$tmp/frame1" "$tmp/frame2"; do
	grep -q '^vstorctl top ' "$f" || fail "no top header on screen: $(cat "$f")"
	grep -qE '^TARGET/LUN +R-IOPS +W-IOPS +R-MB/s +W-MB/s +P50 +P99 +QD$' "$f" ||
		fail "no column header: $(cat "$f")"
	awk 'length($0) > 80 { exit 1 }' "$f" || fail "a line wider than 80 columns: $(cat "$f")"
	# the long IQN shortened to its end, then the LUN
	grep -qE '^~.*name/0 ' "$f" || fail "no row for LUN 0: $(cat "$f")"
	grep -qE '^~.*name/1 +0 +0 +0\.0 +0\.0 +- +- +0/' "$f" ||
		fail "idle LUN 1 not at zero: $(grep '/1 ' "$f")"
	row=$(grep -E '^~.*name/0 ' "$f")
	read -r _ ri wi rm wm p50 p99 qd <<<"$row"
	[ "$ri" -gt 0 ] && [ "$wi" -gt 0 ] || fail "LUN 0 shows no IOPS under load: $row"
	[[ $p50 =~ ^[0-9.]+(us|ms|s)$ ]] || fail "LUN 0 P50 is '$p50': $row"
	[[ $qd =~ ^[0-9]+/[1-9][0-9]*$ ]] || fail "LUN 0 QD is '$qd': $row"
done
r1=$(grep -E '^~.*name/0 ' "$tmp/frame1")
r2=$(grep -E '^~.*name/0 ' "$tmp/frame2")
[ "$r1" != "$r2" ] || fail "the figures did not move between frames: $r1"
[ "$(head -1 "$tmp/frame1")" != "$(head -1 "$tmp/frame2")" ] || fail "the header did not refresh"

# Into a pipe: frames one after another, --count ends it.
ctl top --interval 0.2 --count 3 >"$tmp/pipe" 2>&1 || fail "top --count 3: $(cat "$tmp/pipe")"
[ "$(grep -c '^vstorctl top ' "$tmp/pipe")" = 3 ] || fail "want 3 frames: $(cat "$tmp/pipe")"
ctl top --interval 0 >/dev/null 2>"$tmp/err"
[ $? = 2 ] && grep -q -- '--interval: must be' "$tmp/err" || fail "bad --interval: $(cat "$tmp/err")"
pass "two frames 1.5 s apart, LUN 0 moving ($(awk '{print $2"/"$3}' <<<"$r2") IOPS), LUN 1 idle"
