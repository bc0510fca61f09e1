#!/bin/bash
# Reloading the configuration file (`vstorctl config reload`, the unit's
# ExecReload, and SIGHUP) applies it as the control-plane changes that turn
# the running daemon into what it says:
#  - the same file: no changes; a file that does not load, or whose new LUN
#    cannot open, changes nothing (the target added before it is taken
#    back) and says why in one line;
#  - a changed file: a LUN and a target added, a target removed, an ACL
#    entry added, a LUN that only grew grown in place (an initiator using
#    it stays logged in and sees the new capacity), growing past what a
#    RAM disk reserved refused;
#  - a LUN the file drops while an initiator uses it is refused unless the
#    file's force_remove names it; a field a running daemon cannot change
#    (threads) is refused;
#  - an option a layer learned at open (crypt's key_fingerprint) and the
#    file leaves out is no change; named with another value it is;
#  - SIGHUP does the same and logs what it did.
# vstord runs with --listen, which a reload keeps (the file says another
# portal).
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
[ -x "$CLIENT" ] || fail "ctl_client not built (libiscsi-dev missing)"
PORT=$((3483 + ${VSTOR_PORT_OFFSET:-0}))
R1=iqn.2026-11.org.vstor:r1
R2=iqn.2026-11.org.vstor:r2
R3=iqn.2026-11.org.vstor:r3
conf=$tmp/c.json

# write_conf LUN1_SIZE EXTRA_R1_LUNS EXTRA_TARGETS [TOP_LEVEL_EXTRA]
write_conf() {
	cat >"$conf" <<JSON
{ "portals": ["127.0.0.1:3260"], ${4:-}
  "targets": [
    { "iqn": "$R1", "luns": [ { "lun": 0, "backend": "ram", "size": "8M" },
                              { "lun": 1, "backend": "ram", "size": "$1" } $2 ] } $3 ] }
JSON
}
luns() { ctl --json lun list | python3 -c 'import json,sys; print(" ".join("%s/%d:%d" % (l["target"].split(":")[1], l["lun"], l["size"]) for l in json.load(sys.stdin)["luns"]))'; }
targets() { ctl --json target list | python3 -c 'import json,sys; print(" ".join(t["iqn"].split(":")[1] + ("+acl" if t["acl"] else "") for t in json.load(sys.stdin)["targets"]))'; }

write_conf 4M "" ", { \"iqn\": \"$R2\", \"luns\": [ { \"lun\": 0, \"backend\": \"ram\", \"size\": \"4M\" } ] }"
ctl_start $PORT "$conf"
before_luns=$(luns) before_targets=$(targets)
[ "$before_luns" = "r1/0:8388608 r1/1:4194304 r2/0:4194304" ] || fail "start: $before_luns"

# The same file: nothing to do, and --listen kept (the file says 3260).
out=$(ctl_ok config reload)
grep -q "^reloaded $conf: no changes" <<<"$out" || fail "unchanged file: $out"
port_open $PORT || fail "the reload moved the portal"

# A file that does not load changes nothing.
cp "$conf" "$tmp/good.json"
echo '{ "targets": [ }' >"$conf"
ctl_err 1 "^vstorctl: $conf:1:" config reload
cp "$tmp/good.json" "$conf"
# A new LUN, a new target, then a LUN of it whose file is missing: nothing
# stays.
python3 - "$conf" "$R3" "$tmp/missing.img" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["targets"][0]["luns"].append({"lun": 5, "backend": "ram", "size": "1M"})
c["targets"].append({"iqn": sys.argv[2], "luns": [{"lun": 0, "backend": "ram", "size": "4M"},
                                                  {"lun": 1, "backend": "file", "path": sys.argv[3]}]})
json.dump(c, open(sys.argv[1], "w"))
PY
ctl_err 1 "^vstorctl: $conf: targets\[2\]\.luns\[1\]\.path: " config reload
[ "$(luns)" = "$before_luns" ] || fail "a failed reload left LUNs changed: $(luns)"
[ "$(targets)" = "$before_targets" ] || fail "a failed reload left targets changed: $(targets)"

# A field a running daemon cannot change.
write_conf 4M "" "" '"threads": 3,'
ctl_err 1 "threads: differs from the running daemon's" config reload
[ "$(targets)" = "$before_targets" ] || fail "a refused reload changed targets"

# r1 LUN 1 4M -> 16M: grown in place; an initiator logged in and using it
# sees CAPACITY DATA HAS CHANGED and the new size, and no new LUN.
write_conf 16M "" ", { \"iqn\": \"$R2\", \"luns\": [ { \"lun\": 0, \"backend\": \"ram\", \"size\": \"4M\" } ] }"
"$CLIENT" resize "127.0.0.1:$PORT" "$R1" 1 $((16 << 20)) \
	"'$VSTORCTL' --socket '$SOCK' config reload >'$tmp/r.out' 2>'$tmp/r.err'" >"$tmp/client.out" 2>&1 ||
	fail "growing LUN 1 by reload, seen by an initiator: $(cat "$tmp/client.out" "$tmp/r.err")"
grep -qxF "  lun.resize $R1/1 16M" "$tmp/r.out" || fail "growing LUN 1: $(cat "$tmp/r.out")"
[ "$(wc -l <"$tmp/r.out")" = 2 ] || fail "growing LUN 1 did more: $(cat "$tmp/r.out")"

# The changes: r1 LUN 2 added, r2 removed, r3 added with an ACL.
write_conf 16M ", { \"lun\": 2, \"backend\": \"ram\", \"size\": \"2M\" }" \
	", { \"iqn\": \"$R3\", \"acl\": [\"iqn.2026-11.org.vstor:ini\"], \"luns\": [ { \"lun\": 0, \"backend\": \"ram\", \"size\": \"4M\" } ] }"
out=$(ctl_ok config reload)
for c in "lun.add $R1/2" "target.remove $R2" \
	"target.add $R3" "acl.add $R3 iqn.2026-11.org.vstor:ini" "lun.add $R3/0"; do
	grep -qxF "  $c" <<<"$out" || fail "reload did not say '$c': $out"
done
[ "$(luns)" = "r1/0:8388608 r1/1:16777216 r1/2:2097152 r3/0:4194304" ] || fail "after reload: $(luns)"
[ "$(targets)" = "r1 r3+acl" ] || fail "after reload: $(targets)"
# Grown past what the RAM disk reserved at open (4 x its size): refused,
# nothing replaced.
write_conf 128M ", { \"lun\": 2, \"backend\": \"ram\", \"size\": \"2M\" }" \
	", { \"iqn\": \"$R3\", \"acl\": [\"iqn.2026-11.org.vstor:ini\"], \"luns\": [ { \"lun\": 0, \"backend\": \"ram\", \"size\": \"4M\" } ] }"
ctl_err 1 "targets\[0\]\.luns\[1\]\.size: .*max_size" config reload
[ "$(luns)" = "r1/0:8388608 r1/1:16777216 r1/2:2097152 r3/0:4194304" ] || fail "after a refused growth: $(luns)"
write_conf 16M ", { \"lun\": 2, \"backend\": \"ram\", \"size\": \"2M\" }" \
	", { \"iqn\": \"$R3\", \"acl\": [\"iqn.2026-11.org.vstor:ini\"], \"luns\": [ { \"lun\": 0, \"backend\": \"ram\", \"size\": \"4M\" } ] }"
out=$(ctl_ok config reload)
grep -q "no changes" <<<"$out" || fail "a second reload of the same file changed: $out"

# In use: an initiator has used LUN 2; a file without it is refused ...
write_conf 16M "" ", { \"iqn\": \"$R3\", \"acl\": [\"iqn.2026-11.org.vstor:ini\"], \"luns\": [ { \"lun\": 0, \"backend\": \"ram\", \"size\": \"4M\" } ] }"
"$CLIENT" session "127.0.0.1:$PORT" "$R1" \
	"'$VSTORCTL' --socket '$SOCK' config reload >'$tmp/r.out' 2>'$tmp/r.err'" 2 >/dev/null 2>&1
rc=$?
[ "$rc" = 1 ] || fail "dropping a LUN in use: exit $rc, want 1: $(cat "$tmp/r.out" "$tmp/r.err")"
grep -q "LUN 2 of $R1 would be removed, but it is in use (1 logged-in initiator has used it); nothing was changed (list \"$R1/2\" in force_remove" "$tmp/r.err" ||
	fail "refusal message: $(cat "$tmp/r.err")"
grep -q "r1/2:" <<<"$(luns)" || fail "the refused reload removed LUN 2"
# ... unless force_remove names it.
write_conf 16M "" ", { \"iqn\": \"$R3\", \"acl\": [\"iqn.2026-11.org.vstor:ini\"], \"luns\": [ { \"lun\": 0, \"backend\": \"ram\", \"size\": \"4M\" } ] }" \
	"\"force_remove\": [\"$R1/2\"],"
"$CLIENT" session "127.0.0.1:$PORT" "$R1" \
	"'$VSTORCTL' --socket '$SOCK' config reload >'$tmp/r.out' 2>'$tmp/r.err'" 2 >/dev/null 2>&1 ||
	fail "forced reload failed: $(cat "$tmp/r.out" "$tmp/r.err")"
grep -qxF "  lun.remove $R1/2 (forced)" "$tmp/r.out" || fail "forced reload: $(cat "$tmp/r.out")"
grep -q "r1/2:" <<<"$(luns)" && fail "the forced reload kept LUN 2"
# force_remove is an instruction for one reload, not state: never saved
ctl_ok config save "$tmp/saved.json" >/dev/null
grep -q force_remove "$tmp/saved.json" && fail "config save wrote force_remove"

# What a layer learned at open (crypt's key_fingerprint) is in the running
# model, so config.save writes it; a file that leaves it out names the same
# LUN, so reloading that file changes nothing (a replaced RAM LUN would be
# a new, empty disk).  The file naming the same fingerprint: no change
# either; naming another: a change.
cp "$conf" "$tmp/before-crypt.json"
head -c 64 /dev/urandom >"$tmp/crypt.key"
chmod 600 "$tmp/crypt.key"
with_crypt() {   # [KEY_FINGERPRINT]
	python3 - "$tmp/before-crypt.json" "$conf" "$tmp/crypt.key" "${1:-}" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
f = {"name": "crypt", "key_file": sys.argv[3]}
if sys.argv[4]:
    f["key_fingerprint"] = sys.argv[4]
c["targets"][0]["luns"].append({"lun": 7, "backend": "ram", "size": "1M", "filters": [f]})
json.dump(c, open(sys.argv[2], "w"))
PY
}
with_crypt
out=$(ctl_ok config reload)
grep -qxF "  lun.add $R1/7" <<<"$out" || fail "adding a crypt LUN: $out"
out=$(ctl_ok config reload)
grep -q "^reloaded $conf: no changes" <<<"$out" || fail "the same file, fingerprint learned: $out"
ctl_ok config save "$tmp/saved.json" >/dev/null
fp=$(python3 -c 'import json,sys; l=[l for l in json.load(open(sys.argv[1]))["targets"][0]["luns"] if l["lun"] == 7][0]; print(l["filters"][0].get("key_fingerprint", ""))' "$tmp/saved.json")
[ ${#fp} = 32 ] || fail "config save wrote no learned key_fingerprint: '$fp'"
with_crypt "$fp"
out=$(ctl_ok config reload)
grep -q "^reloaded $conf: no changes" <<<"$out" || fail "the same file, fingerprint named: $out"
other=$(tr 0-9a-f 1-9a-f0 <<<"$fp")
with_crypt "$other"
ctl_err 1 "key_fingerprint.*LUN 7 of $R1 is back as it was, but a RAM disk comes back empty" config reload
cp "$tmp/before-crypt.json" "$conf"
out=$(ctl_ok config reload)
grep -qxF "  lun.remove $R1/7" <<<"$out" || fail "removing the crypt LUN: $out"

# SIGHUP: the same, logged.
write_conf 16M ", { \"lun\": 3, \"backend\": \"ram\", \"size\": \"1M\" }" ""
kill -HUP "$vstord_pid"
for _ in $(seq 50); do grep -q "SIGHUP: reloaded" "$tmp/vstord.log" && break; sleep 0.1; done
grep -q "SIGHUP: reloaded $conf: lun.add $R1/3, target.remove $R3" "$tmp/vstord.log" ||
	fail "SIGHUP: $(grep SIGHUP "$tmp/vstord.log")"
[ "$(luns)" = "r1/0:8388608 r1/1:16777216 r1/3:1048576" ] || fail "after SIGHUP: $(luns)"
echo '{' >"$conf"
kill -HUP "$vstord_pid"
for _ in $(seq 50); do grep -q "SIGHUP: reload refused" "$tmp/vstord.log" && break; sleep 0.1; done
grep -q "SIGHUP: reload refused: $conf:" "$tmp/vstord.log" || fail "SIGHUP with a bad file was not refused"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"

# NBD exports are not reloaded: a changed "nbd" section is refused, and so
# is replacing a LUN an export serves (export.remove first), force or not.
NBDP=$((3488 + ${VSTOR_PORT_OFFSET:-0}))
nbd_conf() {   # LUN1_SIZE EXPORT_NAME
	cat >"$conf" <<JSON
{ "portals": ["127.0.0.1:3260"], "force_remove": ["$R1/1"],
  "targets": [ { "iqn": "$R1", "luns": [ { "lun": 0, "backend": "ram", "size": "8M" },
                                         { "lun": 1, "backend": "ram", "size": "$1" } ] } ],
  "nbd": { "portals": ["127.0.0.1:$NBDP"],
           "exports": [ { "name": "$2", "target": "$R1", "lun": 1 } ] } }
JSON
}
nbd_conf 4M d1
: >"$tmp/vstord.log"
ctl_start $((PORT + 6)) "$conf"
nbd_conf 4M d2
ctl_err 1 "nbd: differs from the running daemon's" config reload
nbd_conf 2M d1      # smaller: a replacement (a larger one is grown in place)
ctl_err 1 "NBD export 'd1' serves $R1 LUN 1; remove the export first; nothing was changed" config reload
[ "$(luns)" = "r1/0:8388608 r1/1:4194304" ] || fail "a refused reload changed LUNs: $(luns)"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass "no-op, bad file, failed LUN (undone), fixed field, a growth in place, 5 changes, in-use refusal and force, learned options, SIGHUP, NBD"
