#!/bin/bash
# Shared by tests/e2e/*.sh.  Usage from a test:
#   . "$(dirname "$0")/lib/common.sh" "$@"
# Arguments: [VSTORD] [BUILD_DIR]; defaults build/vstord and its directory.
set -uo pipefail

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
. "$E2E_ROOT/tests/lib/daemon_log.sh"
VSTORD=${1:-${VSTORD:-$E2E_ROOT/build/vstord}}
BUILD=${2:-$(dirname "$VSTORD")}
E2E_NAME=$(basename "$0" .sh)
tmp=$(mktemp -d "/tmp/vstor-e2e-$E2E_NAME.XXXXXX")
vstord_pid=

e2e_cleanup() {
	if [ -n "$vstord_pid" ] && kill -0 "$vstord_pid" 2>/dev/null; then
		kill -KILL "$vstord_pid" 2>/dev/null
		wait "$vstord_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap e2e_cleanup EXIT

fail() {
	echo "FAIL $E2E_NAME: $*" >&2
	[ -f "$tmp/vstord.log" ] && show_daemon_log "$tmp/vstord.log" "$BUILD/e2e-logs/$E2E_NAME.log" vstord
	exit 1
}

skip() {
	echo "SKIP $E2E_NAME: $*"
	exit 77
}

pass() {
	echo "PASS $E2E_NAME${1:+: $1}"
	exit 0
}

[ -x "$VSTORD" ] || fail "$VSTORD not found; build first"

port_open() {   # port
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start_vstord PORT [ARGS...]: run vstord in the background, logging to
# $tmp/vstord.log, and wait until it accepts connections on PORT and has
# logged its "serving" lines.
start_vstord() {
	local port=$1
	shift
	"$VSTORD" "$@" >>"$tmp/vstord.log" 2>&1 &
	vstord_pid=$!
	for _ in $(seq 100); do
		kill -0 "$vstord_pid" 2>/dev/null || fail "vstord exited during start-up"
		# Up once the port accepts and vstord has said what it serves.
		port_open "$port" && grep -qE '^(vstord: |<6>)serving |no targets configured' "$tmp/vstord.log" &&
			return 0
		sleep 0.1
	done
	fail "vstord did not listen on 127.0.0.1:$port within 10 s"
}

# stop_vstord SIGNAL MAX_SECONDS: send the signal and wait.  Sets stop_rc to
# vstord's exit status, or "timeout" (after which vstord is killed).  Not
# for use in $(...): only this shell can wait for its child.
stop_vstord() {
	local sig=$1 max=$2
	kill "-$sig" "$vstord_pid"
	for _ in $(seq $((max * 10))); do
		kill -0 "$vstord_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$vstord_pid" 2>/dev/null; then
		kill -KILL "$vstord_pid" 2>/dev/null
		wait "$vstord_pid" 2>/dev/null
		vstord_pid=
		stop_rc=timeout
		return
	fi
	wait "$vstord_pid"
	stop_rc=$?
	vstord_pid=
}
