#!/bin/bash
# Plugins: vstord --plugin-dir loads every *.so in the directory before the
# configuration, logging one line per plugin, so a LUN may use a plugin's
# backend; a refused plugin is one error line naming its file and exit 1;
# a named directory that is missing is an error; --help lists the plugins'
# layers.  LUNs over the guide's example backend (doc/examples/pattern.c,
# built by the unit tests), one under its example filter (offset.c), are
# read through QEMU's iSCSI driver: every 8-byte word holds its own offset.
. "$(dirname "$0")/lib/common.sh" "$@"
PLUGINS=$BUILD/tests/unit/plugins
[ -f "$PLUGINS/examples/pattern.so" ] || skip "$PLUGINS/examples/pattern.so not built"
PORT=$((3470 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:plugin

cat >"$tmp/vstord.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN",
    "luns": [ { "lun": 0, "backend": "pattern", "size": "1M" },
              { "lun": 1, "backend": "pattern", "size": "1M",
                "filters": [ { "name": "offset", "offset": "64K", "size": "512K" } ] } ] } ] }
JSON

# check RC ARGS...: run vstord --check, want that exit status
check() {
	local want=$1 rc
	shift
	timeout 20 "$VSTORD" --ctl-socket none --check "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" = "$want" ] || fail "vstord --check $*: exit $rc, want $want; stderr: $(cat "$tmp/err")"
}

check 0 --plugin-dir "$PLUGINS/examples" -c "$tmp/vstord.json"
grep -qx "vstord: plugin $PLUGINS/examples/offset.so: filter offset" "$tmp/err" ||
	fail "no log line for offset.so: $(cat "$tmp/err")"
grep -qx "vstord: plugin $PLUGINS/examples/pattern.so: backend pattern" "$tmp/err" ||
	fail "no log line for pattern.so: $(cat "$tmp/err")"

# --help lists the plugins' layers with their options
timeout 20 "$VSTORD" --plugin-dir "$PLUGINS/examples" --help >"$tmp/help" 2>"$tmp/err" ||
	fail "--help: exit $?"
grep -q "^  pattern: read-only disk" "$tmp/help" || fail "--help lacks pattern: $(cat "$tmp/help")"
grep -A1 "^  pattern: " "$tmp/help" | grep -q "^    size=SIZE .*(required)" ||
	fail "--help lacks pattern's size option"
grep -q "^  offset: a window of the disk below" "$tmp/help" || fail "--help lacks offset"

check 1 --plugin-dir none -c "$tmp/vstord.json"
grep -q 'luns\[0\]\.backend: unknown backend "pattern"' "$tmp/err" ||
	fail "without the plugin: $(cat "$tmp/err")"

# each bad plugin: one line naming its file; the good one is still logged
check 1 --plugin-dir "$PLUGINS/mixed"
bad=$(grep -c "^vstord: error: $PLUGINS/mixed/[a-z_]*\.so: " "$tmp/err")
[ "$bad" = 11 ] || fail "want 11 error lines, one per bad plugin, got $bad: $(cat "$tmp/err")"
grep -qx "vstord: plugin $PLUGINS/mixed/good.so: backend tgood" "$tmp/err" ||
	fail "good.so not logged: $(cat "$tmp/err")"
grep -q "^vstord: error: $PLUGINS/mixed/clash.so: backend 'ram' is already registered (built-in)\$" \
	"$tmp/err" || fail "clash not told: $(cat "$tmp/err")"

check 1 --plugin-dir "$tmp/none"
[ "$(cat "$tmp/err")" = "vstord: error: --plugin-dir $tmp/none: No such file or directory" ] ||
	fail "missing --plugin-dir: $(cat "$tmp/err")"

command -v qemu-img >/dev/null || fail "qemu-img not installed (qemu-utils, qemu-block-extra)"
start_vstord $PORT --plugin-dir "$PLUGINS/examples" -c "$tmp/vstord.json" --ctl-socket none
out=$(qemu-img convert -f raw -O raw "iscsi://127.0.0.1:$PORT/$IQN/0" "$tmp/back.raw" 2>&1) ||
	fail "qemu-img convert from the LUN failed: $out"
[ "$(stat -c %s "$tmp/back.raw")" = 1048576 ] || fail "read $(stat -c %s "$tmp/back.raw") bytes"
for off in 0 8 4096 524288 1048568; do
	word=$(od -An -tx1 -j "$off" -N 8 "$tmp/back.raw" | tr -d ' \n')
	[ "$word" = "$(printf '%016x' "$off")" ] || fail "word at $off is $word"
done
# LUN 1: the example filter over it serves bytes 64K..576K from 0
out=$(qemu-img convert -f raw -O raw "iscsi://127.0.0.1:$PORT/$IQN/1" "$tmp/win.raw" 2>&1) ||
	fail "qemu-img convert from LUN 1 failed: $out"
[ "$(stat -c %s "$tmp/win.raw")" = 524288 ] || fail "LUN 1: read $(stat -c %s "$tmp/win.raw") bytes"
for off in 0 8 524280; do
	word=$(od -An -tx1 -j "$off" -N 8 "$tmp/win.raw" | tr -d ' \n')
	[ "$word" = "$(printf '%016x' $((off + 65536)))" ] || fail "LUN 1: word at $off is $word"
done
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
pass "plugins loaded and told; LUNs of a plugin backend and filter read through QEMU"
