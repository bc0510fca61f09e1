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
# fail() in a subshell (a pipeline, $(...), a background job) ends only
# that subshell; it signals the test's own shell, which then fails too.
E2E_SHELL=$$
trap 'exit 1' USR1

e2e_extra_pids=()      # more daemons a test runs at once (killed at exit too)
e2e_cleanup() {
	local p
	for p in "$vstord_pid" "${e2e_extra_pids[@]}"; do
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null
			wait "$p" 2>/dev/null
		fi
	done
	rm -rf "$tmp"
}
trap e2e_cleanup EXIT

fail() {
	echo "FAIL $E2E_NAME: $*" >&2
	[ -f "$tmp/vstord.log" ] && show_daemon_log "$tmp/vstord.log" "$BUILD/e2e-logs/$E2E_NAME.log" vstord
	[ "$BASHPID" != "$E2E_SHELL" ] && kill -USR1 "$E2E_SHELL" 2>/dev/null
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

port_open() {   # port  (on E2E_HOST, default 127.0.0.1; "::1" for IPv6)
	(exec 3<>"/dev/tcp/${E2E_HOST:-127.0.0.1}/$1") 2>/dev/null
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

# assert_flushed FILE WHAT: no page of FILE may be dirty in the page cache,
# i.e. what was written to it was flushed (fdatasync / SYNCHRONIZE CACHE)
# and would survive a power cut; reading FILE back could not tell.  A
# system that cannot say (no cachestat(2), not root) is noted, not failed.
assert_flushed() {
	local file=$1 what=$2 out rc
	out=$("$BUILD/e2e/page_state" dirty "$file" 2>&1)
	rc=$?
	if [ "$rc" = 3 ]; then
		echo "NOTE $E2E_NAME: cannot check that $what was flushed: $out"
		return 0
	fi
	[ "$rc" = 0 ] || fail "page_state $file: $out"
	[ "$out" = "dirty 0" ] ||
		fail "$what: $out pages of $file still dirty in the page cache: not flushed, lost on power loss"
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
