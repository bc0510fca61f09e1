#!/bin/bash
# Issue 12's first flood: 144 discovery sessions without CHAP (the
# default), from 127.0.0.2-9 (half of them from 127.0.0.2), each answering
# the target's NOP-In pings and logging in again whenever refused or
# closed.  Before admission they filled max_sessions (128) for ever and
# every normal login got 0x0302.  Now discovery has its own budget
# (max_discovery_sessions, 16) outside max_sessions: during the flood a
# normal login from 127.0.0.1 (libiscsi: login, TEST UNIT READY, logout)
# succeeds within 2 s, five times; the daemon never holds more discovery
# sessions than that budget (sampled after each login; the flood's own
# count lags behind the sessions the target closed), and vstorctl stats
# counts the refusals, which the log mentions a few times per 10 s.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
PORT=$((3700 + ${VSTOR_PORT_OFFSET:-0}))
PORTAL=127.0.0.1:$PORT
IQN=iqn.2026-11.org.vstor:e2e-discovery-flood
. "$(dirname "$0")/lib/admission.sh"

# Pings every 200 ms, so the flood has pings to answer.
cat >"$tmp/config.json" <<JSON
{ "portals": ["$PORTAL"],
  "iscsi": { "nop_interval_ms": 200, "nop_timeout_ms": 5000 },
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "16M" } ] } ] }
JSON
ctl_start $PORT "$tmp/config.json"

flood_start discovery 144 8 30
flood_until_full discovery_sessions 16 refused.max_discovery_sessions 32
legit_logins "the discovery flood" discovery_sessions 16
flood_end
[ "$flood_pings" -gt 0 ] || fail "the flood answered no NOP-In ping: it did not hold on as issue 12's did"
refused=$(stat refused.max_discovery_sessions)
[ "$refused" -gt 0 ] || fail "no discovery login counted as refused by max_discovery_sessions"
[ "$(stat refused.max_sessions)" = 0 ] || fail "a normal login was refused by max_sessions"
echo "refused $refused, replaced $(stat dropped.discovery_replaced)"
assert_rate_limited "refused: max_discovery_sessions (16)"

stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass "5 logins within 2 s during a flood of 144 discovery sessions from 8 addresses"
