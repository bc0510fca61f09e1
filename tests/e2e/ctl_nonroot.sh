#!/bin/bash
# (f) Only root may use the control socket: it is created 0600, so another
# user cannot even connect; and if the mode is loosened, the daemon still
# checks SO_PEERCRED and answers a non-root peer with one error line.
# Needs root (to create the socket as root and to switch to nobody).
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
[ "$(id -u)" = 0 ] || skip "needs root (runs vstorctl as another user)"
if command -v setpriv >/dev/null; then
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
elif command -v runuser >/dev/null; then
	as_nobody() { runuser -u nobody -- "$@"; }
else
	fail "neither setpriv nor runuser available (util-linux)"
fi
PORT=$((3386 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:ctl-f
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "64M" } ] } ] }
JSON
# nobody must be able to reach the socket's directory and the binaries.
chmod 755 "$tmp"
ctl_start $PORT "$tmp/c.json"
chmod 755 "$tmp/ctl"
[ "$(stat -c '%a %U' "$SOCK")" = "600 root" ] || fail "socket is $(stat -c '%a %U' "$SOCK"), want 600 root"
# A copy nobody can run whatever the build directory's permissions.
install -m 755 "$VSTORCTL" "$tmp/vstorctl"
as_nobody test -x "$tmp/vstorctl" || fail "nobody cannot run $tmp/vstorctl"

# 1. The mode keeps nobody out.
as_nobody "$tmp/vstorctl" --socket "$SOCK" lun list >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 3 ] || fail "nobody, 0600 socket: exit $rc, want 3 (could not ask the daemon)"
grep -qx "vstorctl: $SOCK: cannot connect: Permission denied (the control socket is for root)" "$tmp/err" ||
	fail "nobody, 0600 socket: $(cat "$tmp/err")"

# 2. Loosened mode: the daemon's own check refuses the peer.
chmod 666 "$SOCK"
as_nobody "$tmp/vstorctl" --socket "$SOCK" lun add --target $IQN --lun 1 --backend ram --size 1M \
	>"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 1 ] || fail "nobody, 0666 socket: exit $rc, want 1"
grep -qx "vstorctl: peer: uid 65534 is not root; the control socket is for root only" "$tmp/err" ||
	fail "nobody, 0666 socket: $(cat "$tmp/err")"
[ -s "$tmp/out" ] && fail "nobody got output: $(cat "$tmp/out")"
ctl_ok lun list --target $IQN | grep -qE "^$IQN +1 " && fail "nobody's lun add took effect"
# root still gets in
ctl_ok lun list --target $IQN | grep -qE "^$IQN +0 " || fail "root cannot list LUNs"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass
