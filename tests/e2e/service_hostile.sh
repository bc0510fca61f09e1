#!/bin/bash
# A hostile service (issue 16, "Must show"): svc_hostile writes random
# completion entries, ring indexes, whole rings and control messages,
# completes commands twice, hangs and vanishes, round after round, while
# an initiator keeps commands in flight to its LUNs and verifies the data
# of a RAM LUN in vstord.  vstord (the ASan build) must answer every
# command, keep the RAM LUN's data, disconnect the service each time
# (never crash), hold no more descriptors or much more memory than before,
# and exit 0 on SIGTERM (LeakSanitizer would make that non-zero).
# SVC_HOSTILE_SECONDS (default 20) and SVC_HOSTILE_SEED (default: random,
# printed) for longer or repeated runs.
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3541 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:svc-hostile
hostile=$BUILD/e2e/svc_hostile
[ -x "$hostile" ] || fail "$hostile not built (needs libiscsi-dev)"
seconds=${SVC_HOSTILE_SECONDS:-20}
seed=${SVC_HOSTILE_SEED:-$RANDOM$RANDOM}

cat >"$tmp/cfg.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"], "targets": [ { "iqn": "$IQN", "luns": [
  { "lun": 0, "backend": "ram", "size": "16M" } ] } ] }
JSON
start_vstord $PORT -c "$tmp/cfg.json" --ctl-socket "$tmp/ctl.sock" \
	--service-socket "$tmp/svc.sock" --service-timeout 500
fds() { ls "/proc/$vstord_pid/fd" | wc -l; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$vstord_pid/status"; }
fds_before=$(fds)
rss_before=$(rss)

echo "svc_hostile seed $seed, $seconds s"
timeout $((seconds + 60)) "$hostile" "127.0.0.1:$PORT" "$IQN" "$tmp/svc.sock" "$seconds" "$seed" \
	>"$tmp/hostile.out" 2>&1
hrc=$?
cat "$tmp/hostile.out"
kill -0 "$vstord_pid" 2>/dev/null || fail "vstord died (seed $seed)"
[ "$hrc" = 0 ] || fail "svc_hostile: exit $hrc (seed $seed)"
disconnects=$(sed -n 's/.* \([0-9]*\) disconnected by vstord.*/\1/p' "$tmp/hostile.out")
[ "${disconnects:-0}" -ge 5 ] || fail "vstord disconnected the hostile service only ${disconnects:-0} times"
grep -q "service hostile[0-9] (pid [0-9]*): .*: disconnected" "$tmp/vstord.log" ||
	fail "no disconnection logged"
# every connection closed: the descriptors are back (give the host a moment)
for _ in $(seq 50); do
	[ "$(fds)" -le "$fds_before" ] && break
	sleep 0.1
done
[ "$(fds)" -le "$fds_before" ] || fail "vstord holds $(fds) descriptors, $fds_before before"
rss_after=$(rss)
echo "vstord RSS ${rss_before} KiB before, ${rss_after} KiB after"
# ASan's quarantine and shadow grow with any use; a service must not make
# vstord grow without bound (64 MiB of data area per connection, unmapped)
[ $((rss_after - rss_before)) -lt 262144 ] || fail "vstord grew by $((rss_after - rss_before)) KiB"
stop_vstord TERM 20
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0 (seed $seed)"
grep -q "Sanitizer" "$tmp/vstord.log" && fail "sanitizer report (seed $seed)"
pass "$(sed -n 's/^svc_hostile: \([0-9]*\) rounds.*/\1/p' "$tmp/hostile.out") hostile rounds, $disconnects disconnections, seed $seed"
