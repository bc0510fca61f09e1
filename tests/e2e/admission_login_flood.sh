#!/bin/bash
# Issue 12's second flood: 256 connections from 127.0.0.2-9 (half of them
# from 127.0.0.2) that each send the first 20 bytes of a Login Request
# header and nothing more, and connect again whenever closed.  Before
# admission they filled max_connections (256) until the login timeout, and
# reconnecting kept the door shut.  Now connections still logging in have
# their own budget (max_login_connections, 64) with a share per address
# (max_logins_per_source, 16), and a newcomer from an address holding less
# takes the place of the busiest address's oldest login: during the flood a
# normal login from 127.0.0.1 (libiscsi: login, TEST UNIT READY, logout)
# succeeds within 2 s, five times.  The login timeout (3 s here) still
# closes the flood's connections; vstorctl stats and the metrics count the
# same refusals and drops, which the log mentions a few times per 10 s.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
PORT=$((3701 + ${VSTOR_PORT_OFFSET:-0}))
METRICS=$((3702 + ${VSTOR_PORT_OFFSET:-0}))
PORTAL=127.0.0.1:$PORT
IQN=iqn.2026-11.org.vstor:e2e-login-flood
. "$(dirname "$0")/lib/admission.sh"

cat >"$tmp/config.json" <<JSON
{ "portals": ["$PORTAL"],
  "iscsi": { "login_timeout_ms": 3000 },
  "metrics": { "listen": "127.0.0.1:$METRICS" },
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "16M" } ] } ] }
JSON
ctl_start $PORT "$tmp/config.json"

flood_start login 256 8 30
flood_until_full logins 64 refused.max_login_connections 64
legit_logins "the login flood" logins 64
flood_end
for k in refused.max_login_connections refused.max_logins_per_source dropped.login_evicted \
         dropped.login_timeout; do
	echo "$k $(stat $k)"
done
[ "$(stat refused.max_login_connections)" -gt 0 ] || fail "no connection refused by max_login_connections"
[ "$(stat refused.max_logins_per_source)" -gt 0 ] || fail "no connection refused by max_logins_per_source"
[ "$(stat dropped.login_evicted)" -ge 5 ] || fail "$(stat dropped.login_evicted) logins evicted, want one per legitimate login at least"
[ "$(stat dropped.login_timeout)" -gt 0 ] || fail "the login timeout closed none of the flood's connections"
[ "$(stat refused.max_connections)" = 0 ] || fail "max_connections refused $(stat refused.max_connections): the flood reached it"

# The metrics say the same.
exec 3<>"/dev/tcp/127.0.0.1/$METRICS" || fail "metrics port"
printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
timeout 5 cat <&3 >"$tmp/metrics"
exec 3<&-
for r in max_login_connections max_logins_per_source; do
	grep -qx "vstor_iscsi_refused_total{reason=\"$r\"} $(stat refused.$r)" "$tmp/metrics" ||
		fail "metrics: $(grep "reason=\"$r\"" "$tmp/metrics"), stats: $(stat refused.$r)"
done
for r in login_evicted login_timeout; do
	grep -qx "vstor_iscsi_dropped_total{reason=\"$r\"} $(stat dropped.$r)" "$tmp/metrics" ||
		fail "metrics: $(grep "reason=\"$r\"" "$tmp/metrics"), stats: $(stat dropped.$r)"
done

assert_rate_limited "refused: max_login_connections (64)"
assert_rate_limited "closed: still logging in after login_timeout_ms (3000)"

stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass "5 logins within 2 s during a flood of 256 half-sent login headers from 8 addresses"
