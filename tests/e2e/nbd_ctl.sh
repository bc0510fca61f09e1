#!/bin/bash
# NBD exports at run time through vstorctl: export add / list / remove
# (with and without force while a client is connected), one-line errors
# for bad input, a served LUN or target that cannot be removed under its
# export, NBD sessions in session list, and config save writing the
# "nbd" section that a restart serves again.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/nbd.sh"
nbd_need nbdinfo
NPORT=$((10817 + ${VSTOR_PORT_OFFSET:-0}))
IPORT=$((3445 + ${VSTOR_PORT_OFFSET:-0}))
NBD_CTL="$tmp/ctl.sock"
C() { "$BUILD/vstorctl" --socket "$NBD_CTL" "$@"; }
nbd_start $NPORT $IPORT

out=$(C export add extra --target $NBD_IQN --lun 1 --description "another name" --allow 127.0.0.1 2>&1) ||
	fail "export add: $out"
nbdinfo "nbd://127.0.0.1:$NPORT/extra" >/dev/null 2>&1 || fail "the added export is not served"
out=$(C export list 2>&1)
grep -qE '^extra +iqn.2026-11.org.vstor:nbd +1 +0 +yes +\["127.0.0.1"\] +another name' <<<"$out" ||
	fail "export list: $out"

# bad input: one line naming the field, nothing changed
expect() {  # WANT_SUBSTRING COMMAND...
	local want=$1
	shift
	out=$(C "$@" 2>&1) && fail "vstorctl $* succeeded: $out"
	grep -qF "$want" <<<"$out" || fail "vstorctl $*: want '$want', got: $out"
	[ "$(wc -l <<<"$out")" = 1 ] || fail "vstorctl $*: not one line: $out"
}
expect "params.name: export 'extra' exists" export add extra --target $NBD_IQN --lun 0
expect "params.target: no target 'iqn.2026-11.org.vstor:none'" export add x --target iqn.2026-11.org.vstor:none --lun 0
expect "params.lun: target '$NBD_IQN' has no LUN 9" export add x --target $NBD_IQN --lun 9
expect 'params.acl[0]: "nope"' export add x --target $NBD_IQN --lun 0 --allow nope
expect "params.name: no export 'x'" export remove x
expect "NBD export 'disk' serves $NBD_IQN LUN 0; remove the export first" lun remove --target $NBD_IQN --lun 0
expect "remove the export first" target remove $NBD_IQN --force

# removing an export in use: refused, then forced (the client is dropped)
/usr/bin/python3 - "nbd://127.0.0.1:$NPORT/extra" >"$tmp/client.out" 2>&1 <<'PY' &
import sys, time, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
h.pread(512, 0)
try:
    for _ in range(100):
        h.pread(512, 0); time.sleep(0.05)
    print("still connected")
except nbd.Error:
    print("dropped")
PY
client=$!
for _ in $(seq 50); do
	s=$(C session list 2>&1)
	grep -q "extra" <<<"$s" && break
	sleep 0.1
done
grep -qE 'extra +127.0.0.1:[0-9]+ +nbd:127.0.0.1:[0-9]+' <<<"$s" || fail "session list lacks the NBD session: $s"
expect "connections use it (force closes them)" export remove extra
C export remove extra --force >/dev/null || fail "export remove --force"
wait $client
grep -q dropped "$tmp/client.out" || fail "the client of a force-removed export was not dropped: $(cat "$tmp/client.out")"
out=$(nbdinfo "nbd://127.0.0.1:$NPORT/extra" 2>&1) && fail "a removed export is still served"

# config save: the running exports, served again after a restart
C export add again --target $NBD_IQN --lun 1 >/dev/null || fail "export add again"
C config save "$tmp/saved.json" >/dev/null || fail "config save"
grep -q '"name": "again"' "$tmp/saved.json" || fail "config save lost the added export"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
start_vstord "$NPORT" -c "$tmp/saved.json" --ctl-socket "$NBD_CTL"
nbdinfo "nbd://127.0.0.1:$NPORT/again" >/dev/null 2>&1 || fail "the saved export is not served after a restart"
stop_vstord TERM 10
pass "export add/list/remove (force drops the client), bad input, served LUN/target protected, config save round trip"
