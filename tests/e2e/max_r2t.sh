#!/bin/bash
# iscsi.max_outstanding_r2t: a live vstord configured for 4 outstanding
# R2Ts, and a client that offers 4, moves a 1 MiB write with 4 R2Ts in
# flight at a time (RFC 7143 §13.17) and reads it back intact; a client
# offering 1 gets 1; without the setting the target offers the default 1.
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3375 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:e2e-r2t
client=$BUILD/e2e/r2t_client
[ -x "$client" ] || fail "$client not built"

config() {   # FILE [max_outstanding_r2t]
	local iscsi=
	[ -n "${2:-}" ] && iscsi="\"iscsi\": { \"max_outstanding_r2t\": $2 },"
	cat >"$1" <<JSON
{ "portals": ["127.0.0.1:$PORT"], $iscsi
  "targets": [ { "iqn": "$IQN",
                 "luns": [ { "lun": 0, "backend": "ram", "size": "16M" } ] } ] }
JSON
}

config "$tmp/r2t4.json" 4
start_vstord $PORT -c "$tmp/r2t4.json" --ctl-socket none
out=$("$client" $PORT $IQN 4 2>&1) || fail "offering 4: $out"
[ "$out" = "negotiated 4, outstanding 4, R2Ts 16" ] || fail "offering 4: $out"
out=$("$client" $PORT $IQN 1 2>&1) || fail "offering 1: $out"
[ "$out" = "negotiated 1, outstanding 1, R2Ts 16" ] || fail "offering 1: $out"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"

config "$tmp/default.json"
start_vstord $PORT -c "$tmp/default.json" --ctl-socket none
out=$("$client" $PORT $IQN 4 2>&1) || fail "default target, offering 4: $out"
[ "$out" = "negotiated 1, outstanding 1, R2Ts 16" ] || fail "default target, offering 4: $out"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass "4 R2Ts outstanding when both sides offer 4, the RFC default 1 otherwise"
