#!/bin/bash
# Shared by tests/e2e/admission_*.sh (after lib/common.sh and lib/ctl.sh):
# a flood from 127.0.0.2 and up (flood_client.c) against the daemon on
# $PORTAL, and a legitimate initiator on 127.0.0.1 that must get in.
#   flood_start MODE COUNT SOURCES SECONDS   flood_client in the background
#   flood_until_full HELD_KEY HELD REFUSED_KEY MIN
#                       wait until the daemon holds HELD of HELD_KEY for the
#                       flood and refused at least MIN by REFUSED_KEY
#   legit_logins WHAT HELD_KEY MAX   five logins within 2 s each, 1 s apart;
#                       HELD_KEY never above MAX meanwhile
#   flood_end           wait for the flood; its summary in flood_pings etc.
#   stats_json; stat KEY   a figure of "iscsi" in vstorctl stats (a.b.c)
#   assert_rate_limited PATTERN   log lines matching it: a few per 10 s
FLOOD=$BUILD_ABS/e2e/flood_client
LEGIT=$BUILD_ABS/e2e/chap_client
[ -x "$FLOOD" ] && [ -x "$LEGIT" ] || fail "flood_client / chap_client not built (needs libiscsi-dev)"

stats_json() { ctl_ok --json stats >"$tmp/stats.json"; }

stat() {
	python3 -c 'import json, sys
a = json.load(open(sys.argv[1]))["iscsi"]
for k in sys.argv[2].split("."):
    a = a[k]
print(a)' "$tmp/stats.json" "$1"
}

flood_start() {
	flood_seconds=$4
	"$FLOOD" "$1" "$PORT" "$2" "$3" "$4" >"$tmp/flood.out" 2>"$tmp/flood.err" &
	flood_pid=$!
	e2e_extra_pids+=("$flood_pid")
	flood_t0=$(date +%s)
}

flood_until_full() {
	local held_key=$1 held=$2 refused_key=$3 min=$4
	for _ in $(seq 100); do
		stats_json
		[ "$(stat "$held_key")" -ge "$held" ] && [ "$(stat "$refused_key")" -ge "$min" ] && break
		kill -0 "$flood_pid" 2>/dev/null || fail "flood_client ended early: $(cat "$tmp/flood.err")"
		sleep 0.1
	done
	[ "$(stat "$held_key")" = "$held" ] || fail "the flood holds $(stat "$held_key") of $held_key, want $held"
}

legit_logins() {
	local what=$1 held_key=$2 max=$3 i start out took
	for i in 1 2 3 4 5; do
		start=$(date +%s%N)
		out=$(timeout 10 "$LEGIT" login "$PORTAL" "$IQN" "iqn.2026-11.org.vstor:e2e-legit-$i" 2>&1)
		took=$((($(date +%s%N) - start) / 1000000))
		[ "$out" = ok ] || fail "login $i during $what: '$out' after ${took} ms"
		[ "$took" -lt 2000 ] || fail "login $i during $what took ${took} ms (want < 2000)"
		echo "login $i during $what: ${took} ms"
		stats_json
		[ "$(stat "$held_key")" -le "$max" ] || fail "$(stat "$held_key") of $held_key, over $max"
		kill -0 "$flood_pid" 2>/dev/null || fail "flood_client ended before login $i"
		sleep 1
	done
	[ $(($(date +%s) - flood_t0)) -lt "$flood_seconds" ] || fail "the logins outlasted the flood"
}

flood_end() {
	wait "$flood_pid" || fail "flood_client: $(cat "$tmp/flood.err")"
	echo "flood: $(cat "$tmp/flood.out")"
	read -r _ flood_attempts _ _ _ flood_pings _ flood_closed <"$tmp/flood.out"
	sleep 0.5       # its last connections gone: the figures stand still
	stats_json
}

assert_rate_limited() {
	local lines
	lines=$(grep -c -e "$1" "$tmp/vstord.log")
	[ "$lines" -gt 0 ] || fail "no log line matching '$1'"
	[ "$lines" -le $((5 * (flood_seconds / 10 + 2))) ] || fail "$lines log lines matching '$1': not rate limited"
	echo "log lines matching '$1': $lines"
}
