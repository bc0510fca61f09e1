#!/bin/bash
# Per-target portals: a target is served on its own portals (config file
# targets[].portals, or vstorctl target add --portal ...) or, without any,
# on the daemon's.  The fabric listens on every portal in use, opens a new
# one at run time and closes it when its last target goes; SendTargets
# lists each target with its own TargetAddress entries only; a login on a
# portal that does not serve the target is "not found" (0x0203);
# config save writes the portals back.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
RAW=$BUILD_ABS/e2e/ctl_raw
[ -x "$RAW" ] || fail "ctl_raw not built"
command -v iscsi-ls >/dev/null || fail "iscsi-ls not installed (libiscsi-bin)"
command -v python3 >/dev/null || fail "python3 not installed (scripts/test.sh installs it)"
OFF=${VSTOR_PORT_OFFSET:-0}
PORT=$((3390 + OFF)) P1=$((3391 + OFF)) P2=$((3392 + OFF))
A=127.0.0.1
DEF=iqn.2026-11.org.vstor:ctl-p-default
CFG=iqn.2026-11.org.vstor:ctl-p-config
RT=iqn.2026-11.org.vstor:ctl-p-runtime
INI=iqn.2026-11.org.vstor:ctl-p-initiator
cat >"$tmp/c.json" <<JSON
{ "portals": ["$A:$PORT"],
  "targets": [ { "iqn": "$DEF", "luns": [ { "lun": 0, "backend": "ram", "size": "4M" } ] },
               { "iqn": "$CFG", "portals": ["$A:$P1"],
                 "luns": [ { "lun": 0, "backend": "ram", "size": "4M" } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"
grep -qx "vstord: listening on $A:$PORT, $A:$P1" "$tmp/vstord.log" || fail "listening line: $(grep listening "$tmp/vstord.log")"
grep -qx "vstord: serving $CFG LUN 0 (ram, 4 MiB) on $A:$P1" "$tmp/vstord.log" || fail "serving line for $CFG"
port_open $P1 || fail "config portal $P1 not listening"
port_open $P2 && fail "$P2 listening before any target uses it"

# At run time: a target on two portals, one shared with $CFG.
ctl_ok target add $RT --portal $A:$P1 --portal $A:$P2 >/dev/null
ctl_ok lun add --target $RT --lun 0 --backend ram --size 4M >/dev/null
port_open $P2 || fail "runtime portal $P2 not listening"
ctl_ok --json target list >"$tmp/targets.json"
python3 - "$tmp/targets.json" "$A" $PORT $P1 $P2 "$DEF" "$CFG" "$RT" <<'PY' || fail "target list: $(cat "$tmp/targets.json")"
import json, sys
f, a, port, p1, p2, d, c, r = sys.argv[1:]
t = {x["iqn"]: x for x in json.load(open(f))["targets"]}
assert t[d]["portals"] == [f"{a}:{port}"] and t[d]["default_portals"] is True, t[d]
assert t[c]["portals"] == [f"{a}:{p1}"] and t[c]["default_portals"] is False, t[c]
assert t[r]["portals"] == [f"{a}:{p1}", f"{a}:{p2}"] and t[r]["default_portals"] is False, t[r]
PY
ctl_ok target list | grep -qE "^$RT +- +$A:$P1,$A:$P2 +1 " || fail "target list table: $(ctl target list)"
ctl_ok target list | grep -qE "^$DEF +- +$A:$PORT \(default\) +1 " || fail "target list table: $(ctl target list)"

# SendTargets, from any portal: every target with its own addresses only.
for p in $PORT $P2; do
	"$RAW" discover $p $INI >"$tmp/st.$p" || fail "discovery on $p"
	cat >"$tmp/st.want" <<EOT
TargetName=$DEF
TargetAddress=$A:$PORT,1
TargetName=$CFG
TargetAddress=$A:$P1,1
TargetName=$RT
TargetAddress=$A:$P1,1
TargetAddress=$A:$P2,1
EOT
	diff -u "$tmp/st.want" "$tmp/st.$p" >&2 || fail "SendTargets on $p"
done
# libiscsi agrees, and logs in on each portal it was given.
iscsi-ls -s "iscsi://$A:$PORT/" >"$tmp/ls.out" 2>&1 || fail "iscsi-ls: $(cat "$tmp/ls.out")"
for want in "$DEF Portal:$A:$PORT,1" "$CFG Portal:$A:$P1,1" "$RT Portal:$A:$P1,1" "$RT Portal:$A:$P2,1"; do
	grep -qx "Target:$want" "$tmp/ls.out" || fail "iscsi-ls lacks $want: $(cat "$tmp/ls.out")"
done
[ "$(grep -c '^Target:' "$tmp/ls.out")" = 4 ] || fail "iscsi-ls lists other portals: $(cat "$tmp/ls.out")"

# Logins: only where the target is served; elsewhere 0x0203 (not found).
login() {   # PORT IQN WANT
	local out
	out=$("$RAW" login $1 $2 $INI)
	[ "$out" = "$3" ] || fail "login to $2 on port $1: '$out', want '$3'"
}
login $PORT $DEF "login ok"
login $P1 $DEF "login status 0x0203"
login $P1 $CFG "login ok"
login $PORT $CFG "login status 0x0203"
login $P2 $CFG "login status 0x0203"
login $P1 $RT "login ok"
login $P2 $RT "login ok"
login $PORT $RT "login status 0x0203"

# Bad portals are refused by name and change nothing.
ctl_ok --json target list >"$tmp/before.json"
ctl_err 1 '^vstorctl: params\.portals\[0\]: "localhost" is not an IPv4 address$' \
	target add iqn.2026-11.org.vstor:ctl-p-bad --portal localhost:3260
ctl_err 1 "^vstorctl: params\.portals\[1\]: duplicate of params\.portals\[0\]\$" \
	target add iqn.2026-11.org.vstor:ctl-p-bad --portal $A:$P2 --portal $A:$P2
ctl_ok --json target list >"$tmp/after.json"
diff -u "$tmp/before.json" "$tmp/after.json" >&2 || fail "a refused target add changed the targets"

# Saved and restored.
ctl_ok config save >/dev/null
python3 - "$tmp/c.json" "$A" $P1 $P2 "$RT" <<'PY' || fail "saved config: $(cat "$tmp/c.json")"
import json, sys
f, a, p1, p2, r = sys.argv[1:]
t = {x["iqn"]: x for x in json.load(open(f))["targets"]}
assert t[r]["portals"] == [f"{a}:{p1}", f"{a}:{p2}"], t[r]
PY
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
ctl_start $PORT "$tmp/c.json"
ctl_ok --json target list >"$tmp/targets2.json"
diff -u "$tmp/targets.json" "$tmp/targets2.json" >&2 || fail "target list differs after the restart"
login $P2 $RT "login ok"

# Removal closes the portals nobody needs any more, and only those.
ctl_ok target remove $RT >/dev/null
port_open $P2 && fail "$P2 still listening after its last target left"
port_open $P1 || fail "$P1 closed though $CFG still uses it"
login $P1 $CFG "login ok"
ctl_ok target remove $CFG >/dev/null
port_open $P1 && fail "$P1 still listening after its last target left"
port_open $PORT || fail "the daemon's portal closed"
login $PORT $DEF "login ok"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass
