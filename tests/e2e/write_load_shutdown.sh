#!/bin/bash
# Acknowledged means durable: write to a file LUN, SIGTERM vstord in the
# middle, restart it on the same file, and find every acknowledged write.
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3374 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:e2e-durable
writer=$BUILD/e2e/ack_writer
[ -x "$writer" ] || fail "$writer not built (needs libiscsi-dev)"

cat >"$tmp/create.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN",
                 "luns": [ { "lun": 0, "backend": "file", "path": "$tmp/disk.img", "size": "64M", "create": true } ] } ] }
JSON
cat >"$tmp/reopen.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN",
                 "luns": [ { "lun": 0, "backend": "file", "path": "$tmp/disk.img" } ] } ] }
JSON
url="iscsi://127.0.0.1:$PORT/$IQN/0"

start_vstord $PORT -c "$tmp/create.json"
"$writer" write "$url" "$tmp/acks" 30 2>"$tmp/writer.err" &
wpid=$!
sleep 3
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM under write load: exit status $stop_rc, want 0"
wait $wpid
acked=$(wc -l <"$tmp/acks")
[ "$acked" -gt 100 ] || fail "only $acked writes acknowledged: $(cat "$tmp/writer.err")"

start_vstord $PORT -c "$tmp/reopen.json"
"$writer" verify "$url" "$tmp/acks" 2>"$tmp/verify.err" ||
	fail "acknowledged writes lost: $(cat "$tmp/verify.err")"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "second SIGTERM: exit status $stop_rc"
pass "$acked acknowledged writes all present after restart"
