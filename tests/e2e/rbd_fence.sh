#!/bin/bash
# Exclusive access and fencing on one RBD image:
#  - vstord A opens it with exclusive=1 (the default): it holds the lock;
#  - vstord B asked to open it with exclusive=1 is refused with one line
#    naming the field and the owner, and exits 1;
#  - vstord C with exclusive=0 shares the image: it starts, but its writes
#    are refused while A holds the lock (DATA PROTECT, WRITE PROTECTED);
#  - blocklisting A's client (`ceph osd blocklist add`) turns A's LUN NOT
#    READY (04/01) on the initiator's open session, never MEDIUM ERROR;
#    removing the entry brings the LUN back (GOOD) on that same session,
#    without a new login; A's log says lost and back, once each.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/rbd.sh"
SENSE=$BUILD/e2e/sense_rw
[ -x "$SENSE" ] || fail "$SENSE not built"
PA=$(rbd_port 3) PB=$(rbd_port 4) PC=$(rbd_port 5)
IQN=iqn.2026-11.org.vstor:rbd-fence

rbd_cluster_up
config() {   # file port [key=json]
	local f=$1 p=$2
	shift 2
	cat >"$f" <<JSON
{ "portals": ["127.0.0.1:$p"],
  "targets": [ { "iqn": "$IQN", "luns": [ $(rbd_lun 0 fenced 'create=true' 'size="64M"' "$@") ] } ] }
JSON
}
config "$tmp/a.json" "$PA"
config "$tmp/b.json" "$PB"
config "$tmp/c.json" "$PC" 'exclusive=false'
start_vstord "$PA" -c "$tmp/a.json" --ctl-socket none

# B: refused, one line.
timeout 60 "$VSTORD" -c "$tmp/b.json" --ctl-socket none >"$tmp/b.out" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "second vstord with exclusive=1: exit $rc, want 1: $(cat "$tmp/b.out")"
[ "$(wc -l <"$tmp/b.out")" = 1 ] || fail "second vstord: want one line, got: $(cat "$tmp/b.out")"
grep -qE '^vstord: error: .*targets\[0\]\.luns\[0\]\.exclusive: rbd/fenced is locked by another client \(.+\); give exclusive=0 to share it$' \
	"$tmp/b.out" || fail "second vstord: unclear refusal: $(cat "$tmp/b.out")"
echo "B refused: $(cat "$tmp/b.out")"

# C: shares the image, its writes refused while A holds the lock.
"$VSTORD" -c "$tmp/c.json" --ctl-socket none >"$tmp/c.log" 2>&1 &
c_pid=$!
RBD_PIDS+=($c_pid)
for _ in $(seq 100); do
	port_open "$PC" && break
	kill -0 $c_pid 2>/dev/null || fail "vstord C (exclusive=0) exited: $(tail -3 "$tmp/c.log")"
	sleep 0.1
done
out=$(timeout 30 "$SENSE" "127.0.0.1:$PC" "$IQN" 0 write 0) || fail "write through C: no answer"
[ "$out" = "CHECK CONDITION 7/27/00" ] || fail "write through C while A holds the lock: '$out'"
kill -TERM $c_pid
wait $c_pid || fail "vstord C: exit status $? after SIGTERM"

# A: fenced and back, on one session.
addr=$(rbd status rbd/fenced 2>/dev/null | sed -n 's/^[[:space:]]*watcher=\([^ ]*\) .*/\1/p')
[ "$(wc -w <<<"$addr")" = 1 ] || fail "want A as the one watcher of rbd/fenced, got '$addr'"
rbd_client watch "127.0.0.1:$PA" "$IQN" 0 90 "$tmp/watch.log" 2>"$tmp/watch.err" &
w_pid=$!
RBD_PIDS+=($w_pid)
wait_line() {   # pattern seconds
	for _ in $(seq $(($2 * 10))); do
		grep -qx "$1" "$tmp/watch.log" 2>/dev/null && return 0
		kill -0 $w_pid 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
wait_line GOOD 20 || fail "no GOOD before fencing: $(cat "$tmp/watch.log" "$tmp/watch.err" 2>/dev/null)"
ceph osd blocklist add "$addr" >/dev/null 2>&1 || fail "ceph osd blocklist add $addr failed"
wait_line "NOT READY 04/01" 30 ||
	fail "no NOT READY after blocklisting $addr: $(cat "$tmp/watch.log" "$tmp/watch.err")"
sleep 3     # still fenced: the LUN must stay NOT READY until the entry goes
[ "$(tail -1 "$tmp/watch.log")" = "NOT READY 04/01" ] && kill -0 $w_pid 2>/dev/null ||
	fail "the LUN came back while still blocklisted: $(tr '\n' ' ' <"$tmp/watch.log")"
ceph osd blocklist rm "$addr" >/dev/null 2>&1 || fail "ceph osd blocklist rm $addr failed"
wait $w_pid
wrc=$?
echo "session saw: $(tr '\n' ' ' <"$tmp/watch.log")"
[ "$wrc" = 0 ] || fail "the session did not come back: $(cat "$tmp/watch.err")"
[ "$(tr '\n' ' ' <"$tmp/watch.log")" = "GOOD NOT READY 04/01 GOOD " ] ||
	fail "the session saw more than GOOD, NOT READY, GOOD: $(cat "$tmp/watch.log")"
[ "$(grep -c 'LUN 0: resource lost: rbd rbd/fenced: client\.[0-9]* (.*) blocklisted' "$tmp/vstord.log")" = 1 ] ||
	fail "want one 'resource lost ... blocklisted' line in A's log"
[ "$(grep -c 'LUN 0: resource back: rbd rbd/fenced: reopened as client\.' "$tmp/vstord.log")" = 1 ] ||
	fail "want one 'resource back ... reopened' line in A's log"
grep -q "MEDIUM" "$tmp/vstord.log" && fail "MEDIUM ERROR in A's log"
stop_vstord TERM 20
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
pass "second exclusive opener refused in one line; blocklisted: NOT READY, entry removed: GOOD on the same session"
