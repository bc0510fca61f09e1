#!/bin/bash
# Shared by tests/e2e/mirror_*.sh (after lib/common.sh and lib/ctl.sh):
# a mirror LUN's state as `vstorctl --json lun list` shows it.
#   mirror_get IQN LUN KEY      a key of the LUN's volume layer: state, leg0,
#                               resync_copied, resync_regions, region
#   mirror_wait IQN LUN WANT S  wait up to S seconds for state WANT
#   leg_behind IQN LUN I        regions leg I is behind on (from its line)
mirror_get() {
	ctl --json lun list --target "$1" | python3 -c '
import json, sys
lun, key = int(sys.argv[1]), sys.argv[2]
for l in json.load(sys.stdin)["luns"]:
    if l["lun"] != lun:
        continue
    for layer in l.get("layers", []):
        if layer["layer"] == "volume":
            print(layer.get(key, ""))
' "$2" "$3"
}

mirror_wait() {
	local iqn=$1 lun=$2 want=$3 max=$4 got
	for _ in $(seq $((max * 10))); do
		got=$(mirror_get "$iqn" "$lun" state)
		[ "$got" = "$want" ] && return 0
		sleep 0.1
	done
	fail "mirror state '$got' after ${max}s, want '$want'"
}

leg_behind() {
	mirror_get "$1" "$2" "leg$3" | sed -n 's/.*[ (]\([0-9][0-9]*\) regions \(behind\|to copy\).*/\1/p'
}
