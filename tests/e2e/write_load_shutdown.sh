#!/bin/bash
# Acknowledged means durable: keep 32 writes in flight to a file LUN,
# SIGTERM vstord in the middle, and find every acknowledged write in the
# image file once vstord has exited, and again through iSCSI after a
# restart on the same file.
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
"$writer" write "$url" "$tmp/acks" 30 32 2>"$tmp/writer.err" &
wpid=$!
sleep 3
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM under write load: exit status $stop_rc, want 0"
wait $wpid
wrc=$?
[ "$wrc" = 0 ] || fail "writer: exit status $wrc: $(cat "$tmp/writer.err")"
acked=$(wc -l <"$tmp/acks")
[ "$acked" -gt 100 ] || fail "only $acked writes acknowledged: $(cat "$tmp/writer.err")"

# vstord has exited: what it acknowledged is on disk, not only in the page
# cache (reading the file back could not tell), and in the file itself.
assert_flushed "$tmp/disk.img" "acknowledged writes at SIGTERM"
"$writer" verify-file "$tmp/disk.img" "$tmp/acks" 2>"$tmp/verify-file.err" ||
	fail "acknowledged writes missing from the image: $(cat "$tmp/verify-file.err")"

start_vstord $PORT -c "$tmp/reopen.json"
"$writer" verify "$url" "$tmp/acks" 2>"$tmp/verify.err" ||
	fail "acknowledged writes lost: $(cat "$tmp/verify.err")"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "second SIGTERM: exit status $stop_rc"
pass "$acked acknowledged writes (QD 32) all present in the file and after a restart"
