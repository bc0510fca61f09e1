#!/bin/bash
# vstord with no config serves the default target; iscsi-ls and iscsi-inq
# see it; the start-up line says what is served; SIGTERM exits 0.
. "$(dirname "$0")/lib/common.sh" "$@"
command -v iscsi-ls >/dev/null || fail "iscsi-ls not installed (libiscsi-bin)"
PORT=$((3371 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:default

start_vstord $PORT --listen 127.0.0.1:$PORT
grep -q "^vstord: serving $IQN LUN 0 (ram, 1 GiB) on 127.0.0.1:$PORT\$" "$tmp/vstord.log" ||
	fail "start-up line missing"

out=$(iscsi-ls -i iqn.2026-11.org.vstor:e2e -s "iscsi://127.0.0.1:$PORT/" 2>&1) ||
	fail "iscsi-ls failed: $out"
grep -q "Target:$IQN" <<<"$out" || fail "iscsi-ls does not list $IQN: $out"
grep -q "Lun:0" <<<"$out" || fail "iscsi-ls does not list LUN 0: $out"

out=$(iscsi-readcapacity16 -i iqn.2026-11.org.vstor:e2e -s "iscsi://127.0.0.1:$PORT/$IQN/0" 2>&1) ||
	fail "iscsi-readcapacity16 failed: $out"
[ "$out" = 1073741824 ] || fail "capacity $out, want 1073741824 (1 GiB)"

out=$(iscsi-inq -i iqn.2026-11.org.vstor:e2e "iscsi://127.0.0.1:$PORT/$IQN/0" 2>&1) ||
	fail "iscsi-inq failed: $out"
grep -q "Peripheral Device Type:DIRECT_ACCESS" <<<"$out" || fail "not a disk: $out"

stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
pass
