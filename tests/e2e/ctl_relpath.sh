#!/bin/bash
# Relative paths and the daemon's working directory: "vstorctl lun add
# --path rel.img" means rel.img in vstorctl's directory, so vstorctl sends
# an absolute path and config save writes that; the daemon refuses a
# relative path over the socket (naming params.path) and creates nothing.
# After a restart from another directory the LUN is the same file with the
# same data, not a new empty disk.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
[ -x "$PROBE" ] || fail "ctl_probe not built (libiscsi-dev missing)"
command -v python3 >/dev/null || fail "python3 not installed (scripts/test.sh installs it)"
PORT=$((3393 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:ctl-rel
VSTORD=$(cd "$(dirname "$VSTORD")" && pwd)/$(basename "$VSTORD")
mkdir -p "$tmp/daemon1" "$tmp/daemon2" "$tmp/client"
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "4M" } ] } ] }
JSON
cd "$tmp/daemon1" || fail "cd"
ctl_start $PORT "$tmp/c.json"

# 1. vstorctl resolves against its own directory.
(cd "$tmp/client" && ctl_ok lun add --target $IQN --lun 1 --backend file --path ./rel.img \
	--size 1M --create >/dev/null) || exit 1
[ -f "$tmp/client/rel.img" ] || fail "rel.img not created in vstorctl's directory"
[ -e "$tmp/daemon1/rel.img" ] && fail "rel.img created in vstord's working directory"
ctl_ok --json lun list --target $IQN | grep -q "\"path\": \"$tmp/client/rel.img\"" ||
	fail "lun list does not show the absolute path: $(ctl --json lun list)"

# 2. Over the socket a relative path is refused by name; nothing changes.
reply() { python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read())
print(s.makefile().readline().strip())' "$SOCK"; }
ctl_ok --json lun list >"$tmp/luns.before"
out=$(printf '%s\n' '{"id":1,"method":"lun.add","params":{"target":"'$IQN'","lun":2,"backend":"file","path":"rel2.img","size":"1M","create":true}}' | reply)
want='{"id":1,"error":{"code":-32602,"message":"params.path: must be an absolute path, got \"rel2.img\" (vstord does not resolve paths against its own working directory)"}}'
[ "$out" = "$want" ] || fail "relative lun.add path: $out"
out=$(printf '%s\n' '{"id":2,"method":"config.save","params":{"path":"saved.json"}}' | reply)
grep -q '"message":"params.path: must be an absolute path, got \\"saved.json\\"' <<<"$out" ||
	fail "relative config.save path: $out"
ctl_ok --json lun list >"$tmp/luns.after"
diff -u "$tmp/luns.before" "$tmp/luns.after" >&2 || fail "a refused request changed the LUNs"
[ -n "$(find "$tmp" -name rel2.img -o -name saved.json)" ] && fail "a refused request created a file"

# 3. Data, save, restart from elsewhere: the same file, the same data.
"$PROBE" io "127.0.0.1:$PORT" $IQN 1 write 5 165 || fail "write to LUN 1"
ctl_ok config save >/dev/null
grep -q "\"path\": \"$tmp/client/rel.img\"" "$tmp/c.json" || fail "config save did not write the absolute path"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
cd "$tmp/daemon2" || fail "cd"
ctl_start $PORT "$tmp/c.json"
ls -l "/proc/$vstord_pid/fd" | grep -q " $tmp/client/rel.img\$" || fail "restarted vstord does not serve $tmp/client/rel.img"
[ -n "$(find "$tmp/daemon1" "$tmp/daemon2" -name rel.img)" ] && fail "the restart created another rel.img"
[ "$(stat -c %s "$tmp/client/rel.img")" = $((1 << 20)) ] || fail "rel.img changed size"
"$PROBE" io "127.0.0.1:$PORT" $IQN 1 check 5 165 || fail "LUN 1 lost its data across the restart"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass
