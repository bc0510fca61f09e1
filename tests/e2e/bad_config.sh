#!/bin/bash
# A bad config, option or LUN makes vstord exit non-zero with ONE line that
# names the file and the field.
. "$(dirname "$0")/lib/common.sh" "$@"

# expect STATUS PATTERN ARGS...: run vstord, want that exit status and a
# single stderr line matching the (grep -E) pattern.
expect() {
	local want=$1 pattern=$2 rc
	shift 2
	timeout 10 "$VSTORD" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" = "$want" ] || fail "vstord $*: exit $rc, want $want; stderr: $(cat "$tmp/err")"
	[ "$(wc -l <"$tmp/err")" = 1 ] || fail "vstord $*: want one line, got: $(cat "$tmp/err")"
	grep -qE -e "$pattern" "$tmp/err" || fail "vstord $*: stderr '$(cat "$tmp/err")' !~ /$pattern/"
}

cat >"$tmp/bs.json" <<'JSON'
{ "portals": ["127.0.0.1:3372"],
  "targets": [ { "iqn": "iqn.2026-11.org.vstor:t",
                 "luns": [ { "lun": 0, "backend": "ram", "size": "1M", "block_size": 1000 } ] } ] }
JSON
expect 1 "^vstord: error: $tmp/bs.json: targets\[0\]\.luns\[0\]\.block_size: must be 512 or 4096, got 1000\$" -c "$tmp/bs.json"

printf '{ "portals": ["127.0.0.1:3372"],\n  "tragets": [] }\n' >"$tmp/typo.json"
expect 1 "$tmp/typo.json: tragets: unknown key \(did you mean \"targets\"\?\)\$" -c "$tmp/typo.json"

printf '{ "portals": ["127.0.0.1:3372"\n' >"$tmp/syntax.json"
expect 1 "^vstord: error: $tmp/syntax.json:[0-9]+:[0-9]+: " -c "$tmp/syntax.json"

# The fabric's limits are the loader's: --check refuses what start would.
printf '{ "iscsi": { "max_recv_data_segment_length": 2097152 } }\n' >"$tmp/mrdsl.json"
expect 1 "^vstord: error: $tmp/mrdsl.json: iscsi\.max_recv_data_segment_length: must be 512-1048576, got 2097152\$" \
	--check -c "$tmp/mrdsl.json"
printf '{ "iscsi": { "queue_depth": 4096 } }\n' >"$tmp/qd.json"
expect 1 "^vstord: error: $tmp/qd.json: iscsi\.queue_depth: must be 1-1024, got 4096\$" -c "$tmp/qd.json"
printf '{ "iscsi": { "max_outstanding_r2t": 5 } }\n' >"$tmp/r2t.json"
expect 1 "^vstord: error: $tmp/r2t.json: iscsi\.max_outstanding_r2t: must be 1-4, got 5\$" -c "$tmp/r2t.json"

# The metrics listener and a reload's force_remove, checked as the rest.
printf '{ "metrics": { "listen": "1.2.3.4" } }\n' >"$tmp/metrics.json"
expect 1 "^vstord: error: $tmp/metrics.json: metrics\.listen: must be ADDR:PORT or \[IPv6\]:PORT, got \"1\.2\.3\.4\"\$" \
	--check -c "$tmp/metrics.json"
printf '{ "force_remove": ["iqn.2026-11.org.vstor:a/2000"] }\n' >"$tmp/force.json"
expect 1 "^vstord: error: $tmp/force.json: force_remove\[0\]: \"iqn.2026-11.org.vstor:a/2000\": must be IQN or IQN/LUN with LUN 0-1023\$" \
	--check -c "$tmp/force.json"

expect 1 "$tmp/missing.json: cannot open: No such file or directory" -c "$tmp/missing.json"

# A LUN that cannot be attached at start-up: the error names the LUN's
# field.  Its relative path is taken from the config file's directory,
# not from where vstord runs.
mkdir -p "$tmp/elsewhere"
printf '{ "portals": ["127.0.0.1:3372"],\n  "targets": [ { "iqn": "iqn.2026-11.org.vstor:t",\n    "luns": [ { "lun": 0, "backend": "file", "path": "none/x.img" } ] } ] }\n' >"$tmp/relfile.json"
(VSTORD=$(readlink -f "$VSTORD") && cd "$tmp/elsewhere" &&
	expect 1 "^vstord: error: \.\./relfile\.json: targets\[0\]\.luns\[0\]\.path: '$tmp/none/x\.img' cannot be opened: it does not exist \(create=1 creates it\)\$" \
		-c ../relfile.json --ctl-socket none) || exit 1
expect 1 "--listen 127.0.0.1: must be ADDR:PORT" --listen 127.0.0.1
expect 2 "unknown option" --bogus
expect 2 "--threads: must be 0-256" --threads lots
expect 2 "--ctl-idle-timeout: must be 100-3600000 ms, got '50'" --ctl-idle-timeout 50

# A LUN that passes validation but cannot be opened: the error names the LUN.
cat >"$tmp/nofile.json" <<JSON
{ "portals": ["127.0.0.1:3372"],
  "targets": [ { "iqn": "iqn.2026-11.org.vstor:t",
                 "luns": [ { "lun": 0, "backend": "file", "path": "$tmp/no/such/dir/d.img" } ] } ] }
JSON
expect 1 "$tmp/nofile.json: targets\[0\]\.luns\[0\]\.path: '$tmp/no/such/dir/d\.img' cannot be opened" -c "$tmp/nofile.json"

# --check accepts a good config and prints it back.
cat >"$tmp/good.json" <<'JSON'
{ "portals": ["127.0.0.1:3372"],
  "targets": [ { "iqn": "iqn.2026-11.org.vstor:t",
                 "luns": [ { "lun": 0, "backend": "ram", "size": "64M", "block_size": 4096 } ] } ] }
JSON
"$VSTORD" --check -c "$tmp/good.json" >"$tmp/out" 2>"$tmp/err" || fail "--check refused a good config: $(cat "$tmp/err")"
grep -q '"block_size": 4096' "$tmp/out" || fail "--check did not print the config"
"$VSTORD" -c "$tmp/out" --check >/dev/null 2>&1 || fail "--check output does not load back"
pass
