#!/bin/bash
# IPv6 portals serve (README: --listen "[v6]:PORT for IPv6"): vstord
# listening on [::1] only answers SendTargets with the [::1] portal,
# takes a login and I/O over IPv6 (libiscsi initiators), and does not
# listen on 127.0.0.1.
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3433 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:default
writer=$BUILD/e2e/ack_writer
[ -x "$writer" ] || fail "$writer not built (needs libiscsi-dev)"
command -v iscsi-ls >/dev/null || fail "iscsi-ls not installed (libiscsi-bin)"
ip -6 addr show dev lo 2>/dev/null | grep -q "inet6 ::1/128" || skip "no ::1 on lo (IPv6 disabled)"

E2E_HOST=::1 start_vstord $PORT --listen "[::1]:$PORT" --ctl-socket none
grep -q "^vstord: serving $IQN LUN 0 (ram, 1 GiB) on \[::1\]:$PORT\$" "$tmp/vstord.log" ||
	fail "no 'serving ... on [::1]:$PORT' line"
port_open $PORT && fail "vstord listens on 127.0.0.1:$PORT too"

out=$(iscsi-ls -s "iscsi://[::1]:$PORT" 2>&1) || fail "discovery over IPv6: $out"
grep -qx "Target:$IQN Portal:\[::1\]:$PORT,1" <<<"$out" ||
	fail "SendTargets over IPv6 does not name the [::1] portal: $out"
grep -q "^Lun:0 " <<<"$out" || fail "no LUN 0 over IPv6: $out"

url="iscsi://[::1]:$PORT/$IQN/0"
"$writer" write "$url" "$tmp/acks" 1 8 2>"$tmp/writer.err" || fail "writes over IPv6: $(cat "$tmp/writer.err")"
[ -s "$tmp/acks" ] || fail "no write acknowledged over IPv6"
"$writer" verify "$url" "$tmp/acks" 2>"$tmp/verify.err" || fail "read back over IPv6: $(cat "$tmp/verify.err")"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass "SendTargets, login, $(wc -l <"$tmp/acks") writes read back, all over [::1]:$PORT"
