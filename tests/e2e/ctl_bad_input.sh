#!/bin/bash
# (e) Bad input: every refusal is one line naming the field (exit 1 from the
# daemon, exit 2 for a bad command line) and the running state is unchanged.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
PORT=$((3385 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:ctl-e
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "64M" } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"
state() { ctl_ok --json lun list; ctl_ok --json target list; }
state >"$tmp/state.before"

ctl_err 1 '^vstorctl: params\.size: not a size: "12x"' lun add --target $IQN --lun 1 --backend ram --size 12x
ctl_err 1 '^vstorctl: params\.size: 1000 bytes is not a multiple of block_size 512$' \
	lun add --target $IQN --lun 1 --backend ram --size 1000
ctl_err 1 "^vstorctl: params\.lun: LUN 0 already exists on $IQN\$" lun add --target $IQN --lun 0 --backend ram --size 1M
ctl_err 1 "^vstorctl: params\.path: '$tmp/no/such\.img' cannot be opened: it does not exist \(create=1 creates it\)\$" \
	lun add --target $IQN --lun 1 --backend file --path "$tmp/no/such.img"
ctl_err 1 '^vstorctl: params\.backend: unknown backend "tape"$' lun add --target $IQN --lun 1 --backend tape --size 1M
ctl_err 1 '^vstorctl: params\.block_size: must be 512 or 4096, got 1024$' \
	lun add --target $IQN --lun 1 --backend ram --size 1M --block-size 1024
ctl_err 1 '^vstorctl: params\.lun: must be 0-16383, got 20000$' lun add --target $IQN --lun 20000 --backend ram --size 1M
ctl_err 1 '^vstorctl: params\.target: "IQN\.bad": must start with "iqn\.", "eui\." or "naa\."' \
	lun add --target IQN.bad --lun 1 --backend ram --size 1M
ctl_err 1 '^vstorctl: params\.iqn: "iqn\.2026-13\.org\.x:y": iqn date month must be 01-12, got 13$' \
	target add iqn.2026-13.org.x:y
ctl_err 1 "^vstorctl: params\.iqn: target $IQN already exists\$" target add $IQN
ctl_err 1 '^vstorctl: params\.target: no target iqn\.2026-11\.org\.vstor:nope \(see target\.list\)$' \
	lun list --target iqn.2026-11.org.vstor:nope
ctl_err 1 "^vstorctl: params\.lun: no LUN 5 on $IQN \(see lun\.list\)\$" lun remove --target $IQN --lun 5
ctl_err 1 '^vstorctl: params\.initiator: "bob": must start with' acl add --target $IQN --initiator bob
ctl_err 1 '^vstorctl: params\.mutual_secret: missing \(required with mutual_user\)$' \
	chap set --target $IQN --user u --secret s --mutual-user m
# usage errors: exit 2, nothing sent
ctl_err 2 '^vstorctl lun add: --target is required' lun add --lun 1 --backend ram --size 1M
ctl_err 2 "^vstorctl lun add: --lun: 'x' is not a number" lun add --target $IQN --lun x --backend ram
ctl_err 2 '^vstorctl: frobnicate: unknown command' frobnicate
ctl_err 2 '^vstorctl lun resize: --bogus: unknown option' lun resize --bogus

state >"$tmp/state.after"
diff -u "$tmp/state.before" "$tmp/state.after" >&2 || fail "a refused request changed the state"

# Protocol level, straight on the socket: unknown method, not JSON, oversize.
reply() { python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read())
print(s.makefile().readline().strip())' "$SOCK"; }
command -v python3 >/dev/null || fail "python3 not installed (scripts/test.sh installs it)"
out=$(printf '{"id":7,"method":"lun.frob"}\n' | reply)
[ "$out" = '{"id":7,"error":{"code":-32601,"message":"method: unknown method '"'"'lun.frob'"'"'"}}' ] ||
	fail "unknown method: $out"
out=$(printf 'hello\n' | reply)
grep -q '"code":-32700,"message":"request: not JSON' <<<"$out" || fail "not JSON: $out"
out=$(head -c 70000 /dev/zero | tr '\0' ' ' | reply)
grep -q '"message":"request: longer than 65536 bytes"' <<<"$out" || fail "oversize: $out"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass
