#!/bin/bash
# Access changes at run time through vstorctl, seen by initiators:
#  - acl add: an initiator not listed fails login (0x0202) and does not see
#    the target in SendTargets; a listed one does; acl remove opens it again;
#  - chap set (one-way): no credentials or a wrong secret fail, the right
#    ones work; mutual: the initiator checks the target's answer too (a
#    wrong expected secret fails on the initiator's side); chap clear
#    restores open login;
#  - target remove --force with sessions logged in: refused without force,
#    then the sessions are dropped, the target leaves SendTargets and the
#    target list, and the other target keeps serving verified data.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
RAW=$BUILD_ABS/e2e/ctl_raw
[ -x "$RAW" ] && [ -x "$PROBE" ] || fail "ctl_raw / ctl_probe not built"
PORT=$((3395 + ${VSTOR_PORT_OFFSET:-0}))
P=127.0.0.1:$PORT
IQN=iqn.2026-11.org.vstor:ctl-acc
IQN2=iqn.2026-11.org.vstor:ctl-acc2
INI_A=iqn.2026-11.org.vstor:ctl-acc-a
INI_B=iqn.2026-11.org.vstor:ctl-acc-b
cat >"$tmp/c.json" <<JSON
{ "portals": ["$P"],
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "4M" } ] },
               { "iqn": "$IQN2", "luns": [ { "lun": 0, "backend": "ram", "size": "4M" } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"
login() {   # IQN INITIATOR WANT
	local out
	out=$("$RAW" login $PORT $1 $2)
	[ "$out" = "$3" ] || fail "login to $1 as $2: '$out', want '$3'"
}
sees() {    # INITIATOR IQN yes|no: is IQN in that initiator's SendTargets?
	"$RAW" discover $PORT $1 >"$tmp/st" || fail "discovery as $1"
	if grep -qx "TargetName=$2" "$tmp/st"; then
		[ "$3" = yes ] || fail "$1 sees $2 in SendTargets: $(cat "$tmp/st")"
	else
		[ "$3" = no ] || fail "$1 does not see $2 in SendTargets: $(cat "$tmp/st")"
	fi
}

# ---- ACL
login $IQN $INI_B "login ok"
ctl_ok acl add --target $IQN --initiator $INI_A >/dev/null
login $IQN $INI_B "login status 0x0202"
login $IQN $INI_A "login ok"
sees $INI_B $IQN no
sees $INI_B $IQN2 yes
sees $INI_A $IQN yes
ctl_ok target list | grep -qE "^$IQN +- +$P \(default\) +1 +1 +no +no +0\$" || fail "target list: $(ctl target list)"
ctl_ok acl remove --target $IQN --initiator $INI_A >/dev/null
login $IQN $INI_B "login ok"
sees $INI_B $IQN yes

# ---- CHAP, one-way
ctl_ok chap set --target $IQN --user alice --secret alice-secret-1 >/dev/null
ctl_ok target list | grep -qE "^$IQN +.* +yes +no +0\$" || fail "target list after chap set: $(ctl target list)"
login $IQN $INI_A "login status 0x0201"
"$PROBE" chap $P $IQN $INI_A - - && fail "login without CHAP credentials worked"
"$PROBE" chap $P $IQN $INI_A alice wrong-secret-1 && fail "login with a wrong CHAP secret worked"
"$PROBE" chap $P $IQN $INI_A bob alice-secret-1 && fail "login with a wrong CHAP name worked"
"$PROBE" chap $P $IQN $INI_A alice alice-secret-1 || fail "login with the CHAP credentials failed"
login $IQN2 $INI_A "login ok"      # the other target is untouched

# ---- CHAP, mutual
ctl_ok chap set --target $IQN --user alice --secret alice-secret-1 --mutual-user tgt \
	--mutual-secret target-secret-2 >/dev/null
ctl_ok target list | grep -qE "^$IQN +.* +yes +yes +0\$" || fail "target list after mutual chap: $(ctl target list)"
"$PROBE" chap $P $IQN $INI_A alice alice-secret-1 tgt target-secret-2 || fail "mutual CHAP login failed"
"$PROBE" chap $P $IQN $INI_A alice alice-secret-1 tgt other-secret-3 &&
	fail "the initiator accepted a target that does not know the mutual secret"
"$PROBE" chap $P $IQN $INI_A alice alice-secret-1 || fail "one-way login to a mutual CHAP target failed"
"$PROBE" chap $P $IQN $INI_A - - && fail "login without credentials worked with mutual CHAP set"

# ---- chap clear: open again
ctl_ok chap clear --target $IQN >/dev/null
login $IQN $INI_A "login ok"
"$PROBE" chap $P $IQN $INI_A - - || fail "open login after chap clear failed"
ctl_ok target list | grep -qE "^$IQN +.* +no +no +0\$" || fail "target list after chap clear: $(ctl target list)"

# ---- target remove --force with sessions logged in
cat >"$tmp/remove.sh" <<EOF2
set -u
'$VSTORCTL' --socket '$SOCK' target remove $IQN2 >'$tmp/rm1.out' 2>'$tmp/rm1.err'
echo \$? >'$tmp/rm1.rc'
'$VSTORCTL' --socket '$SOCK' --json session list >'$tmp/sessions.before'
'$VSTORCTL' --socket '$SOCK' target remove $IQN2 --force >'$tmp/rm2.out' || exit 1
EOF2
"$PROBE" remove-target $P $IQN $IQN2 "sh $tmp/remove.sh" || fail "forced target removal with sessions"
[ "$(cat "$tmp/rm1.rc")" = 1 ] || fail "target remove without --force: exit $(cat "$tmp/rm1.rc"), want 1"
grep -qx "vstorctl: params.iqn: $IQN2 has 2 sessions logged in; use force" "$tmp/rm1.err" ||
	fail "target remove refusal: $(cat "$tmp/rm1.err")"
[ "$(grep -c "\"target\": \"$IQN2\"" "$tmp/sessions.before")" = 2 ] || fail "sessions before: $(cat "$tmp/sessions.before")"
grep -qx "luns_removed: 1" "$tmp/rm2.out" || fail "target remove --force: $(cat "$tmp/rm2.out")"
ctl_lacks "^$IQN2 " "$IQN2 still in target list" target list
ctl_lacks "$IQN2" "$IQN2 sessions still listed" --json session list
sees $INI_A $IQN2 no
sees $INI_A $IQN yes
login $IQN2 $INI_A "login status 0x0203"
login $IQN $INI_A "login ok"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass
