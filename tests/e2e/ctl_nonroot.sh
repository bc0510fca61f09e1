#!/bin/bash
# (f) Only root may use the control socket: it is created 0600 and owned by
# root:root (also when vstord runs with another gid), so another user cannot
# even connect; and if the mode is loosened, the daemon still checks
# SO_PEERCRED and answers a non-root peer with one error line.
# A vstord that is not root warns once at start that only its own uid (and
# root) can use the socket, which it owns; its own uid is served, any other
# uid is refused.
# Needs root (to create the socket as root and to switch users).
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
[ "$(id -u)" = 0 ] || skip "needs root (runs vstorctl as another user)"
command -v setpriv >/dev/null || fail "setpriv not available (util-linux)"
as_uid() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups "$@"; }
as_nobody() { as_uid 65534 "$@"; }
PORT=$((3386 + ${VSTOR_PORT_OFFSET:-0}))
PORT2=$((3396 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:ctl-f
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "64M" } ] } ] }
JSON
# nobody must be able to reach the socket's directory and the binaries.
chmod 755 "$tmp"
# Copies other users can run whatever the build directory's permissions.
install -m 755 "$VSTORCTL" "$tmp/vstorctl"
install -m 755 "$VSTORD" "$tmp/vstord"
# root, but with gid nobody: the socket must still be root:root.
printf '#!/bin/sh\nexec setpriv --regid=65534 --clear-groups "%s" "$@"\n' "$tmp/vstord" >"$tmp/vstord-gid"
chmod 755 "$tmp/vstord-gid"
VSTORD=$tmp/vstord-gid
ctl_start $PORT "$tmp/c.json"
chmod 755 "$tmp/ctl"
[ "$(stat -c '%a %U %G' "$SOCK")" = "600 root root" ] ||
	fail "socket is $(stat -c '%a %U %G' "$SOCK"), want 600 root root"
grep -q 'not root' "$tmp/vstord.log" && fail "a root vstord warned about not being root"
grep -q 'control socket disabled' "$tmp/vstord.log" && fail "a working control socket was called disabled"
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
ctl_lacks "^$IQN +1 " "nobody's lun add took effect" lun list --target $IQN
# root still gets in
ctl_ok lun list --target $IQN | grep -qE "^$IQN +0 " || fail "root cannot list LUNs"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"

# 3. vstord as nobody: it says who can connect, owns its socket, serves
# nobody (and root), refuses uid 65533 even with the mode loosened.
mv "$tmp/vstord.log" "$tmp/vstord-root.log"
mkdir -p "$tmp/ctl2"
chown 65534:65534 "$tmp/ctl2"
chmod 644 "$tmp/c.json"
SOCK=$tmp/ctl2/vstord.sock
printf '#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups "%s" "$@"\n' \
	"$tmp/vstord" >"$tmp/vstord-nobody"
chmod 755 "$tmp/vstord-nobody"
VSTORD=$tmp/vstord-nobody
ctl_start $PORT2 "$tmp/c.json"
[ "$(grep -c 'not root' "$tmp/vstord.log")" = 1 ] || fail "want one not-root warning: $(cat "$tmp/vstord.log")"
grep -q 'control socket disabled' "$tmp/vstord.log" && fail "a working control socket was called disabled"
grep -qx "vstord: warning: running as uid 65534, not root: only uid 65534 and root can use the control socket $SOCK" \
	"$tmp/vstord.log" || fail "not-root warning: $(grep 'not root' "$tmp/vstord.log")"
[ "$(stat -c '%a %u' "$SOCK")" = "600 65534" ] || fail "socket is $(stat -c '%a %u' "$SOCK"), want 600 65534"
as_nobody "$tmp/vstorctl" --socket "$SOCK" lun list --target $IQN >"$tmp/out" 2>"$tmp/err" ||
	fail "vstord's own uid cannot use its socket: $(cat "$tmp/err")"
grep -qE "^$IQN +0 " "$tmp/out" || fail "nobody's lun list: $(cat "$tmp/out")"
chmod 666 "$SOCK"
as_uid 65533 "$tmp/vstorctl" --socket "$SOCK" lun add --target $IQN --lun 1 --backend ram --size 1M \
	>"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 1 ] || fail "uid 65533 on nobody's vstord: exit $rc, want 1"
grep -qx "vstorctl: peer: uid 65533 is neither root nor vstord's uid 65534" "$tmp/err" ||
	fail "uid 65533 on nobody's vstord: $(cat "$tmp/err")"
ctl_lacks "^$IQN +1 " "uid 65533's lun add took effect" lun list --target $IQN
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM (nobody's vstord): exit status $stop_rc"
pass
