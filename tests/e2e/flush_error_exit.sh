#!/bin/bash
# vstord(8) EXIT STATUS 1: "a LUN failed to flush at shutdown".  With every
# flush failing (shim/flush_fail.so: the file backend's fdatasync, through
# io_uring or not, reports an error as a failing disk cache would), a
# SIGTERM after acknowledged writes ends with exit status 1 and a line
# naming the LUN -- whoever stopped vstord must learn that acknowledged
# data may not be durable.  The same run without the shim exits 0.
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3431 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:e2e-flush-error
shim=$BUILD/e2e/flush_fail.so
writer=$BUILD/e2e/ack_writer
[ -f "$shim" ] || fail "$shim not built"
[ -x "$writer" ] || fail "$writer not built (needs libiscsi-dev)"
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN",
                 "luns": [ { "lun": 0, "backend": "file", "path": "$tmp/disk.img", "size": "16M", "create": true } ] } ] }
JSON
# vstord alone runs with the shim preloaded (ASan wants its runtime first
# otherwise).
real=$VSTORD
cat >"$tmp/vstord-flush-fail" <<SH
#!/bin/sh
LD_PRELOAD='$shim' ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0" exec '$real' "\$@"
SH
chmod +x "$tmp/vstord-flush-fail"

run_once() {   # label vstord → stop_rc
	VSTORD=$2
	rm -f "$tmp/disk.img" "$tmp/vstord.log"
	start_vstord $PORT -c "$tmp/c.json" --ctl-socket none
	"$writer" write "iscsi://127.0.0.1:$PORT/$IQN/0" "$tmp/acks" 1 4 2>"$tmp/writer.err" ||
		fail "$1: writer: $(cat "$tmp/writer.err")"
	[ -s "$tmp/acks" ] || fail "$1: no write acknowledged"
	stop_vstord TERM 20
	VSTORD=$real
}

run_once "healthy disk" "$real"
[ "$stop_rc" = 0 ] || fail "healthy disk: exit status $stop_rc, want 0"

run_once "failing flush" "$tmp/vstord-flush-fail"
[ "$stop_rc" = 1 ] || fail "failing flush at shutdown: exit status $stop_rc, want 1"
line=$(grep -E "^vstord: error: $IQN: LUN 0: remove failed: .*flush failed" "$tmp/vstord.log") ||
	fail "no error line names LUN 0 and its failed flush"
grep -qx "vstord: error: shutdown finished with errors (see above)" "$tmp/vstord.log" ||
	fail "no 'shutdown finished with errors'"
pass "a failed final flush: exit 1; $line"
