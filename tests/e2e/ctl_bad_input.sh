#!/bin/bash
# (e) Bad input: every refusal is one line naming the field (exit 1 from the
# daemon, exit 2 for a bad command line, exit 3 when there is no daemon to
# ask; with --json the daemon's error object) and the running state is
# unchanged.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
PORT=$((3385 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:ctl-e
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "64M" } ] } ] }
JSON
command -v python3 >/dev/null || fail "python3 not installed (scripts/test.sh installs it)"
ctl_start $PORT "$tmp/c.json"
state() { ctl_ok --json lun list; ctl_ok --json target list; }
state >"$tmp/state.before"

ctl_err 1 "^vstorctl: params\\.size: '12x' is not a size \\(e\\.g\\. " lun add --target $IQN --lun 1 --backend ram --size 12x
ctl_err 1 '^vstorctl: params\.size: 1000 bytes is not a multiple of block_size 512$' \
	lun add --target $IQN --lun 1 --backend ram --size 1000
ctl_err 1 "^vstorctl: params\.lun: LUN 0 already exists on $IQN\$" lun add --target $IQN --lun 0 --backend ram --size 1M
ctl_err 1 "^vstorctl: params\.path: '$tmp/no/such\.img' cannot be opened: it does not exist \(create=1 creates it\)\$" \
	lun add --target $IQN --lun 1 --backend file --path "$tmp/no/such.img"
# the backends this build has, as vstord --help lists them (rbd only with librbd)
known=$("$VSTORD" --help | awk '/^Backends /{b=1; next} /^Filters /{b=0}
	b && /^  [a-z0-9_-]+: /{sub(/^  /, ""); sub(/:.*/, ""); printf "%s%s", n++ ? ", " : "", $0}')
[ -n "$known" ] || fail "vstord --help lists no backends"
ctl_err 1 "^vstorctl: params\.backend: unknown backend \"tape\" \(known: $known\)\$" lun add --target $IQN --lun 1 --backend tape --size 1M
ctl_err 1 '^vstorctl: params\.block_size: must be 512 or 4096, got 1024$' \
	lun add --target $IQN --lun 1 --backend ram --size 1M --block-size 1024
ctl_err 1 '^vstorctl: params\.lun: must be 0-1023, got 1024$' lun add --target $IQN --lun 1024 --backend ram --size 1M
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
ctl_err 1 '^vstorctl: params\.options\.bogus: unknown option \(known: ' \
	lun add --target $IQN --lun 1 --backend file --path "$tmp/b.img" --size 1M --create --option bogus=1
ctl_err 1 '^vstorctl: params\.physical_block_size: 1000 is not a power-of-two multiple of ' \
	lun add --target $IQN --lun 1 --backend ram --size 1M --physical-block-size 1000
# usage errors: exit 2, nothing sent
ctl_err 2 "^vstorctl lun add: --option: 'dsync' is not KEY=VALUE, or KEY is given twice" \
	lun add --target $IQN --lun 1 --backend ram --size 1M --option dsync
ctl_err 2 "^vstorctl lun add: --option: 'dsync=0' is not KEY=VALUE, or KEY is given twice" \
	lun add --target $IQN --lun 1 --backend ram --size 1M --option dsync=1 --option dsync=0
ctl_err 2 '^vstorctl lun add: --target is required' lun add --lun 1 --backend ram --size 1M
ctl_err 2 "^vstorctl lun add: --lun: 'x' is not a number" lun add --target $IQN --lun x --backend ram
ctl_err 2 '^vstorctl: frobnicate: unknown command' frobnicate
ctl_err 2 '^vstorctl lun resize: --bogus: unknown option' lun resize --bogus

# --json: a refusal is the daemon's error object on stdout, with its code
# for scripts; nothing on stderr; still exit 1.
json_err() {    # WANT_CODE MESSAGE_PREFIX ARGS...
	local code=$1 prefix=$2 rc
	shift 2
	ctl --json "$@" >"$tmp/j.out" 2>"$tmp/j.err"
	rc=$?
	[ "$rc" = 1 ] || fail "vstorctl --json $*: exit $rc, want 1"
	[ -s "$tmp/j.err" ] && fail "vstorctl --json $*: stderr: $(cat "$tmp/j.err")"
	python3 - "$tmp/j.out" "$code" "$prefix" <<'PY' || fail "vstorctl --json $*: $(cat "$tmp/j.out")"
import json, sys
e = json.load(open(sys.argv[1]))
assert set(e) == {"code", "message"}, e
assert e["code"] == int(sys.argv[2]), e
assert e["message"].startswith(sys.argv[3]), e
PY
}
json_err -32602 "params.size: '12x' is not a size" lun add --target $IQN --lun 1 --backend ram --size 12x
json_err 2 "params.lun: LUN 0 already exists on $IQN" lun add --target $IQN --lun 0 --backend ram --size 1M
json_err 1 "params.target: no target iqn.2026-11.org.vstor:nope" lun list --target iqn.2026-11.org.vstor:nope
# No daemon to ask: exit 3, one line on stderr, with or without --json.
for j in "" --json; do
	"$VSTORCTL" --socket "$tmp/none.sock" $j lun list >"$tmp/u.out" 2>"$tmp/u.err"
	rc=$?
	[ "$rc" = 3 ] || fail "vstorctl $j with no daemon: exit $rc, want 3"
	[ -s "$tmp/u.out" ] && fail "vstorctl $j with no daemon printed on stdout: $(cat "$tmp/u.out")"
	grep -qx "vstorctl: $tmp/none.sock: cannot connect: No such file or directory (is vstord running? see --socket)" \
		"$tmp/u.err" || fail "vstorctl $j with no daemon: $(cat "$tmp/u.err")"
done

state >"$tmp/state.after"
diff -u "$tmp/state.before" "$tmp/state.after" >&2 || fail "a refused request changed the state"

# Protocol level, straight on the socket: unknown method, not JSON, oversize.
reply() { python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read())
print(s.makefile().readline().strip())' "$SOCK"; }
out=$(printf '{"id":7,"method":"lun.frob"}\n' | reply)
[ "$out" = '{"id":7,"error":{"code":-32601,"message":"method: unknown method '"'"'lun.frob'"'"'"}}' ] ||
	fail "unknown method: $out"
out=$(printf 'hello\n' | reply)
grep -q '"code":-32700,"message":"request: not JSON' <<<"$out" || fail "not JSON: $out"
out=$(head -c 70000 /dev/zero | tr '\0' ' ' | reply)
grep -q '"message":"request: longer than 65536 bytes"' <<<"$out" || fail "oversize: $out"

# Missing and wrong-typed fields and unknown methods, one connection, one
# line each way: each refused with its code and one line naming the field;
# lun.list and target.list before and after are the same.
python3 - "$SOCK" "$IQN" <<'PY' || fail "protocol-level refusals"
import json, socket, sys
sock, iqn = sys.argv[1:]
T = {"target": iqn}
cases = [
    ("lun.add", {"lun": 1, "backend": "ram", "size": "1M"}, -32602, "params.target: missing (required)"),
    ("lun.add", dict(T, lun="1", backend="ram", size="1M"), -32602,
     "params.lun: must be an integer, got a string"),
    ("lun.add", dict(T, lun=1, backend="ram", size=True), -32602,
     'params.size: must be a size like "1G" or a byte count, got true'),
    ("lun.add", dict(T, lun=1, size="1M"), -32602, "params.backend: missing (required)"),
    ("lun.add", dict(T, lun=1, backend="file", path=["/x"]), -32602,
     "params.path: must be a string, got an array"),
    ("lun.add", dict(T, lun=1, backend="ram", size="1M", options={"a": 1}), -32602,
     "params.options.a: must be a string, got an integer"),
    ("lun.resize", dict(T, lun=0), -32602, "params.size: missing (required)"),
    ("lun.resize", dict(T, lun=0, size=1.5), -32602,
     'params.size: must be a size like "1G" or a byte count, got a number with a fraction'),
    ("lun.remove", dict(T, lun=0, force="yes"), -32602, "params.force: must be true or false, got a string"),
    ("lun.remove", {"target": iqn}, -32602, "params.lun: missing (required)"),
    ("target.add", {"iqn": 7}, -32602, "params.iqn: must be a string, got an integer"),
    ("target.add", {"alias": "a"}, -32602, "params.iqn: missing (required)"),
    ("target.add", {"iqn": "iqn.2026-11.org.vstor:x", "portals": "127.0.0.1:1"}, -32602,
     "params.portals: must be an array, got a string"),
    ("target.remove", {"iqn": None}, -32602, "params.iqn: must be a string, got null"),
    ("acl.add", T, -32602, "params.initiator: missing (required)"),
    ("chap.set", dict(T, user=["u"], secret="s"), -32602, "params.user: must be a string, got an array"),
    ("stats", dict(T, lun=-1), -32602, "params.lun: must be 0-1023, got -1"),
    ("config.save", {"path": 5}, -32602, "params.path: must be a string, got an integer"),
    ("lun.list", dict(T, verbose=True), -32602, "params.verbose: unknown parameter for lun.list"),
    ("lun.destroy", {}, -32601, "method: unknown method 'lun.destroy'"),
    ("LUN.LIST", {}, -32601, "method: unknown method 'LUN.LIST'"),
]
raw = [({"id": 100}, -32600, "method: missing (required)"),
       ({"id": 101, "method": ["lun.list"]}, -32600, "method: must be a string"),
       ({"id": 102, "method": "lun.list", "params": "x"}, -32602, "params: must be an object"),
       ({"id": 103, "method": "lun.list", "param": {}}, -32600,
        "param: unknown key (a request has id, method, params)")]
reqs = [{"id": 0, "method": "lun.list"}, {"id": 1, "method": "target.list"}]
reqs += [{"id": 10 + i, "method": m, "params": p} for i, (m, p, _, _) in enumerate(cases)]
reqs += [r for r, _, _ in raw]
reqs += [{"id": 998, "method": "lun.list"}, {"id": 999, "method": "target.list"}]
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
s.sendall("".join(json.dumps(r) + "\n" for r in reqs).encode())
f = s.makefile()
replies = [json.loads(f.readline()) for _ in reqs]
ok = True
for (m, p, code, msg), r in zip(cases, replies[2:2 + len(cases)]):
    e = r.get("error")
    if not e or e["code"] != code or e["message"] != msg or "result" in r:
        print(f"{m} {p}: {r}, want {code} {msg}", file=sys.stderr)
        ok = False
for (req, code, msg), r in zip(raw, replies[2 + len(cases):-2]):
    e = r.get("error")
    if r.get("id") != req["id"] or not e or e["code"] != code or e["message"] != msg:
        print(f"{req}: {r}, want {code} {msg}", file=sys.stderr)
        ok = False
if replies[0]["result"] != replies[-2]["result"] or replies[1]["result"] != replies[-1]["result"]:
    print("state changed:", replies[0], replies[-2], replies[1], replies[-1], file=sys.stderr)
    ok = False
sys.exit(0 if ok else 1)
PY
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass
