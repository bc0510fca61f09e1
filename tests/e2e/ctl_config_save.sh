#!/bin/bash
# (d) Change a running vstord (target, LUNs, resize, ACL, CHAP), save the
# running state with "config save", restart vstord -c on the saved file:
# "vstorctl lun list --json" and "target list --json" are identical.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
command -v python3 >/dev/null || fail "python3 not installed (scripts/test.sh installs it)"
PORT=$((3384 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:ctl-d
IQN2=iqn.2026-11.org.vstor:ctl-d2
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "64M" } ] } ] }
JSON
cp "$tmp/c.json" "$tmp/orig.json"
ctl_start $PORT "$tmp/c.json"

ctl_ok lun add --target $IQN --lun 3 --backend file --path "$tmp/d3.img" --size 8M --create \
	--block-size 4096 --serial D3 >/dev/null
ctl_ok lun add --target $IQN --lun 1 --backend ram --size 16M --readonly >/dev/null
ctl_ok lun add --target $IQN --lun 4 --backend file --path "$tmp/d4.img" --size 8M --create \
	--removable --physical-block-size 4096 --option dsync=1 --option inline=0 >/dev/null
ctl_ok lun resize --target $IQN --lun 0 --size 96M >/dev/null
ctl_ok target add $IQN2 --alias second >/dev/null
ctl_ok lun add --target $IQN2 --lun 0 --backend ram --size 4M >/dev/null
ctl_ok acl add --target $IQN2 --initiator iqn.1993-08.org.debian:01:abc >/dev/null
ctl_ok chap set --target $IQN2 --user u1 --secret secret-one --mutual-user t1 --mutual-secret secret-two >/dev/null
ctl_ok config save | grep -qx "path: $tmp/c.json" || fail "config save did not write $tmp/c.json"
cmp -s "$tmp/c.json" "$tmp/orig.json" && fail "config save left the file unchanged"
[ "$(stat -c %a "$tmp/c.json")" = 600 ] || fail "saved config is not mode 0600 (it may hold CHAP secrets)"
# The flags that have no column in lun list are in the file.
python3 - "$tmp/c.json" <<'PY' || fail "LUN 4 saved wrong: $(cat "$tmp/c.json")"
import json, sys
luns = {l["lun"]: l for l in json.load(open(sys.argv[1]))["targets"][0]["luns"]}
l = luns[4]
assert l["removable"] is True and l["physical_block_size"] == 4096, l
assert l["options"] == {"dsync": "1", "inline": "0"}, l
PY
ctl_ok --json lun list >"$tmp/luns.before"
ctl_ok --json target list >"$tmp/targets.before"
# config save FILE: relative to vstorctl's directory
(cd "$tmp" && ctl_ok config save copy.json >/dev/null) || exit 1
cmp -s "$tmp/c.json" "$tmp/copy.json" || fail "config save FILE differs from the default save"

stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
"$VSTORD" --check -c "$tmp/c.json" >/dev/null 2>"$tmp/check.err" || fail "saved config does not load: $(cat "$tmp/check.err")"

ctl_start $PORT "$tmp/c.json"
ctl_ok --json lun list >"$tmp/luns.after"
ctl_ok --json target list >"$tmp/targets.after"
diff -u "$tmp/luns.before" "$tmp/luns.after" >&2 || fail "lun list differs after the restart"
diff -u "$tmp/targets.before" "$tmp/targets.after" >&2 || fail "target list differs after the restart"
grep -q '"size": 100663296' "$tmp/luns.after" || fail "resized LUN 0 is not 96 MiB after the restart"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass
