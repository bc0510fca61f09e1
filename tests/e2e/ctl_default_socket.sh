#!/bin/bash
# The default control socket (vstord(8) --ctl-socket): without the option,
# vstord serves /run/vstor/vstord.sock (making /run/vstor), and plain
# vstorctl reaches it.  If it cannot -- another vstord has it, or /run is
# not writable -- a warning says so and the daemon serves all the same;
# the same path given with --ctl-socket is a start-up error (exit 1).  A
# stale socket left by a killed vstord is taken over.  Runs in a mount
# namespace of its own with a private /run, so the host's default socket
# (and a vstord using it) is never touched.
if [ -z "${VSTOR_E2E_PRIVATE_RUN:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP ctl_default_socket: needs root (a private /run)"; exit 77; }
	command -v unshare >/dev/null || { echo "SKIP ctl_default_socket: no unshare(1)"; exit 77; }
	VSTOR_E2E_PRIVATE_RUN=1 exec unshare --mount --propagation private "$0" "$@"
fi
mount -t tmpfs -o mode=0755 vstor-e2e-run /run || { echo "FAIL ctl_default_socket: cannot mount a private /run"; exit 1; }
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
P1=$((3435 + ${VSTOR_PORT_OFFSET:-0}))
P2=$((3436 + ${VSTOR_PORT_OFFSET:-0}))
DEF=/run/vstor/vstord.sock
IQN=iqn.2026-11.org.vstor:default
[ -e /run/vstor ] && fail "the private /run is not empty"

# 1. No --ctl-socket: the default one, directory made, root only.
start_vstord $P1 --listen 127.0.0.1:$P1
a_pid=$vstord_pid
e2e_extra_pids+=("$a_pid")
grep -qx "vstord: control socket $DEF" "$tmp/vstord.log" || fail "no 'control socket $DEF' line"
[ "$(stat -c %a /run/vstor)" = 755 ] || fail "/run/vstor mode $(stat -c %a /run/vstor), want 755"
[ "$(stat -c '%a %U %G' $DEF)" = "600 root root" ] || fail "$DEF: $(stat -c '%a %U %G' $DEF)"
out=$("$VSTORCTL" lun list 2>&1) || fail "vstorctl on the default socket: $out"
grep -qE "^$IQN +0 +ram" <<<"$out" || fail "vstorctl lun list: $out"

# 2. A second vstord finds the default socket taken: it warns and serves.
start_vstord $P2 --listen 127.0.0.1:$P2
grep -qx "vstord: warning: control socket disabled: $DEF: another vstord is listening there (use --ctl-socket PATH)" \
	"$tmp/vstord.log" || fail "no warning about the taken default socket: $(grep -i 'control socket' "$tmp/vstord.log")"
out=$(iscsi-ls -s "iscsi://127.0.0.1:$P2" 2>&1) || fail "the second vstord does not serve: $out"
grep -q "^Lun:0 " <<<"$out" || fail "the second vstord serves no LUN 0: $out"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "second vstord: exit status $stop_rc"
[ -S $DEF ] || fail "the second vstord removed the first one's socket"
"$VSTORCTL" lun list >/dev/null 2>&1 || fail "the first vstord's socket stopped answering"

# 3. The same path given explicitly: a start-up error.
timeout 10 "$VSTORD" --listen 127.0.0.1:$P2 --ctl-socket $DEF >"$tmp/explicit.out" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "--ctl-socket $DEF while taken: exit $rc, want 1: $(cat "$tmp/explicit.out")"
grep -q "^vstord: error: --ctl-socket: $DEF: another vstord is listening there\$" "$tmp/explicit.out" ||
	fail "--ctl-socket $DEF while taken: $(cat "$tmp/explicit.out")"

# 4. A stale socket (its vstord killed) is taken over by the next one.
vstord_pid=$a_pid
kill -KILL "$a_pid"
wait "$a_pid" 2>/dev/null
vstord_pid=
[ -S $DEF ] || fail "no stale socket left by the killed vstord"
: >"$tmp/vstord.log"
start_vstord $P1 --listen 127.0.0.1:$P1
grep -qx "vstord: control socket $DEF" "$tmp/vstord.log" || fail "the stale socket was not taken over"
"$VSTORCTL" lun list >/dev/null 2>&1 || fail "vstorctl on the taken-over socket"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "exit status $stop_rc"
[ -e $DEF ] && fail "$DEF left behind after SIGTERM"

# 5. /run not writable: a warning, and the daemon serves.
rm -rf /run/vstor
mount -o remount,ro /run || fail "cannot make the private /run read-only"
: >"$tmp/vstord.log"
start_vstord $P1 --listen 127.0.0.1:$P1
grep -q "^vstord: warning: control socket disabled: $DEF: cannot create the socket's directory /run/vstor: Read-only file system" \
	"$tmp/vstord.log" || fail "no warning about the unwritable /run: $(grep -i 'control socket' "$tmp/vstord.log")"
out=$(iscsi-ls -s "iscsi://127.0.0.1:$P1" 2>&1) || fail "vstord without a control socket does not serve: $out"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "exit status $stop_rc"
pass "default socket served, taken (warning), explicit (error), stale (taken over), /run read-only (warning)"
