#!/bin/bash
# Shared by tests/e2e/ctl_*.sh (after lib/common.sh): vstorctl against a
# vstord whose control socket lives in the test's temp dir.
#   ctl_start PORT CONFIG [ARGS...]  start vstord -c CONFIG --listen 127.0.0.1:PORT ARGS
#   ctl ARGS...             run vstorctl on that socket
#   ctl_ok ARGS...          the same; fail the test unless it exits 0
#   ctl_err RC PATTERN ARGS...  vstorctl must fail with RC and one stderr line
#   CLIENT, PROBE           the libiscsi helper programs (ctl_client.c, ctl_probe.c)
BUILD_ABS=$(cd "$BUILD" && pwd)
VSTORCTL=$BUILD_ABS/vstorctl
CLIENT=$BUILD_ABS/e2e/ctl_client
PROBE=$BUILD_ABS/e2e/ctl_probe
SOCK=$tmp/ctl/vstord.sock
[ -x "$VSTORCTL" ] || fail "$VSTORCTL not found; build first"

ctl() { "$VSTORCTL" --socket "$SOCK" "$@"; }

ctl_ok() {
	local out
	out=$("$VSTORCTL" --socket "$SOCK" "$@" 2>&1) || fail "vstorctl $*: $out"
	# A reader that stops at its match (grep -q) must not turn a success
	# into a SIGPIPE failure of the pipeline (pipefail).
	(trap '' PIPE; printf '%s\n' "$out") 2>/dev/null || true
}

# ctl_lacks PATTERN WHY ARGS...: vstorctl ARGS must succeed and print no
# line matching PATTERN (grep -E).  Call it in the test's shell, not in a
# pipeline: "ctl_ok ... | grep -q ... && fail" passed when vstorctl itself
# failed (nothing to match, and ctl_ok's fail ended only its subshell).
ctl_lacks() {
	local pattern=$1 why=$2
	shift 2
	ctl_ok "$@" >"$tmp/ctl.lacks"
	grep -qE -e "$pattern" "$tmp/ctl.lacks" && fail "$why: $(cat "$tmp/ctl.lacks")"
	return 0
}

# ctl_err WANT_RC PATTERN ARGS...: vstorctl must exit WANT_RC with one line
# on stderr matching PATTERN (grep -E) and nothing on stdout.
ctl_err() {
	local want=$1 pattern=$2 rc
	shift 2
	"$VSTORCTL" --socket "$SOCK" "$@" >"$tmp/ctl.out" 2>"$tmp/ctl.err"
	rc=$?
	[ "$rc" = "$want" ] || fail "vstorctl $*: exit $rc, want $want; stderr: $(cat "$tmp/ctl.err")"
	[ "$(wc -l <"$tmp/ctl.err")" = 1 ] || fail "vstorctl $*: want one stderr line, got: $(cat "$tmp/ctl.err")"
	[ -s "$tmp/ctl.out" ] && fail "vstorctl $*: printed on stdout: $(cat "$tmp/ctl.out")"
	grep -qE -e "$pattern" "$tmp/ctl.err" || fail "vstorctl $*: '$(cat "$tmp/ctl.err")' !~ /$pattern/"
}

ctl_start() {
	local port=$1 config=$2
	shift 2
	mkdir -p "$tmp/ctl"
	start_vstord "$port" -c "$config" --listen "127.0.0.1:$port" --ctl-socket "$SOCK" "$@"
	for _ in $(seq 50); do
		[ -S "$SOCK" ] && return 0
		sleep 0.1
	done
	fail "no control socket at $SOCK"
}
