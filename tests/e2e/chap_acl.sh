#!/bin/bash
# CHAP and initiator ACLs against a running vstord, with libiscsi as the
# initiator (RFC 7143 §12.1.3, §11.13.5):
#  - one-way CHAP (MD5) required: no or wrong credentials fail with status
#    0x0201 (authentication failure), the right ones get in;
#  - mutual CHAP: the target proves it knows the mutual secret (libiscsi
#    checks its CHAP_R), and an initiator expecting another secret refuses;
#  - an initiator not in a target's ACL does not see it in SendTargets and
#    fails to log in with 0x0202 (authorization failure);
#  - discovery CHAP: SendTargets needs the discovery credentials.
. "$(dirname "$0")/lib/common.sh" "$@"
PORT=$((3376 + ${VSTOR_PORT_OFFSET:-0}))
PORTAL=127.0.0.1:$PORT
client=$BUILD/e2e/chap_client
[ -x "$client" ] || fail "$client not built (needs libiscsi-dev)"
T1=iqn.2026-11.org.vstor:e2e-chap
T2=iqn.2026-11.org.vstor:e2e-mutual
T3=iqn.2026-11.org.vstor:e2e-acl
OK=iqn.2026-11.org.vstor:e2e-allowed
BAD=iqn.2026-11.org.vstor:e2e-stranger
LUN='"luns": [ { "lun": 0, "backend": "ram", "size": "16M" } ]'

cat >"$tmp/config.json" <<JSON
{ "portals": ["$PORTAL"],
  "discovery_chap": { "user": "disc", "secret": "disc-secret-1234" },
  "targets": [
    { "iqn": "$T1", "chap": { "user": "u1", "secret": "secret-one-1234" }, $LUN },
    { "iqn": "$T2", "chap": { "user": "u2", "secret": "secret-two-1234",
                              "mutual_user": "tgt2", "mutual_secret": "mutual-two-1234" }, $LUN },
    { "iqn": "$T3", "acl": ["$OK"], $LUN } ] }
JSON

# expect WANT_OUTPUT WANT_STATUS ARGS...
expect() {
	local want=$1 want_rc=$2 out rc
	shift 2
	out=$(timeout 30 "$client" "$@" 2>&1)
	rc=$?
	[ "$out" = "$want" ] && [ "$rc" = "$want_rc" ] ||
		fail "chap_client $*: got '$out' (exit $rc), want '$want' (exit $want_rc)"
}

start_vstord $PORT -c "$tmp/config.json" --ctl-socket none

# One-way CHAP.
expect "status 0x0201" 1 login $PORTAL $T1 $OK
expect "status 0x0201" 1 login $PORTAL $T1 $OK u1 wrong-secret-123
expect "status 0x0201" 1 login $PORTAL $T1 $OK u2 secret-one-1234
expect "ok" 0 login $PORTAL $T1 $OK u1 secret-one-1234

# Mutual CHAP.
expect "ok" 0 login $PORTAL $T2 $OK u2 secret-two-1234 tgt2 mutual-two-1234
out=$(timeout 30 "$client" login $PORTAL $T2 $OK u2 secret-two-1234 tgt2 not-the-secret-1 2>&1)
rc=$?
[ "$rc" = 2 ] && grep -q "CHAP_R" <<<"$out" ||
	fail "mutual CHAP with the wrong target secret: '$out' (exit $rc), want libiscsi to refuse the target's CHAP_R"
expect "status 0x0201" 1 login $PORTAL $T2 $OK u2 secret-one-1234 tgt2 mutual-two-1234

# ACL.
expect "ok" 0 login $PORTAL $T3 $OK
expect "status 0x0202" 1 login $PORTAL $T3 $BAD

# Discovery CHAP and what SendTargets shows to whom (in the order added).
expect "status 0x0201" 1 discover $PORTAL $OK
expect "status 0x0201" 1 discover $PORTAL $OK disc wrong-secret-123
expect "$T1
$T2
$T3" 0 discover $PORTAL $OK disc disc-secret-1234
expect "$T1
$T2" 0 discover $PORTAL $BAD disc disc-secret-1234

kill -0 "$vstord_pid" 2>/dev/null || fail "vstord died"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
grep -q "status 0x0201" "$tmp/vstord.log" || fail "refused logins are not logged"
pass "one-way, mutual and discovery CHAP; ACL hides and refuses (0x0202)"
