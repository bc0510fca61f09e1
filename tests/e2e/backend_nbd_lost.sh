#!/bin/bash
# When the nbd backend has to give up writes it acknowledged, the initiator
# is told, never silently (issue 13): the server comes back and refuses them
# when they are written again (nbdkit's error filter, EIO on every write),
# and the next SYNCHRONIZE CACHE ends in MEDIUM ERROR, WRITE ERROR
# (03/0C/00), once, the LUN staying up; or the server comes back as another
# export (a different size), and the LUN fails: NOT READY, MANUAL
# INTERVENTION REQUIRED (02/04/03), vstorctl lun list says "failed", and the
# log line says what changed and that acknowledged writes were lost.
# Ports: iSCSI 3493, NBD 10844 (+ VSTOR_PORT_OFFSET).
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
ISCSI_PORT=$((3493 + ${VSTOR_PORT_OFFSET:-0}))
NBD_PORT=$((10844 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:nbdlost
writer=$BUILD/e2e/ack_writer
[ -x "$writer" ] || fail "$writer not built"
. "$(dirname "$0")/lib/nbdkit.sh"
url="iscsi://127.0.0.1:$ISCSI_PORT/$IQN/0"

wait_log() {   # pattern seconds
	for _ in $(seq $(($2 * 10))); do
		grep -q -- "$1" "$tmp/vstord.log" && return 0
		sleep 0.1
	done
	fail "no '$1' in the log within $2 s"
}

state() {
	ctl --json lun list | python3 -c 'import json,sys; print(json.load(sys.stdin)["luns"][0]["state"])'
}

sync_cache() {   # → the answer line
	"$writer" sync "$url" 2>>"$tmp/sync.err"
}

errfilter=(--filter=error memory 64M error-pwrite=EIO error-pwrite-rate=100%
           "error-pwrite-file=$tmp/inject")
nbdkit_run "$NBD_PORT" "${errfilter[@]}"
cat >"$tmp/c.json" <<JSON
{ "targets": [ { "iqn": "$IQN", "luns": [
    { "lun": 0, "backend": "nbd", "uri": "nbd://127.0.0.1:$NBD_PORT", "hold_timeout": "30s" } ] } ] }
JSON
ctl_start "$ISCSI_PORT" "$tmp/c.json"

# 1. acknowledged, not flushed; the server dies and refuses them after
"$writer" write "$url" "$tmp/acked1.log" 1 8 2>"$tmp/w1.err" || fail "writer: $(cat "$tmp/w1.err")"
nbdkit_stop KILL
wait_log "LUN 0: resource lost: nbd://127.0.0.1:$NBD_PORT" 5
touch "$tmp/inject"
nbdkit_run "$NBD_PORT" "${errfilter[@]}"
wait_log "LUN 0: resource back: .*the server refused acknowledged writes: they are lost" 15
[ "$(state)" = connected ] || fail "state after the refused writes: $(state)"
a=$(sync_cache)
[ "$a" = "CHECK CONDITION 3/0c/00" ] || fail "SYNCHRONIZE CACHE after the loss: '$a', want MEDIUM ERROR 3/0c/00"
b=$(sync_cache)
[ "$b" = GOOD ] || fail "the next SYNCHRONIZE CACHE: '$b', want GOOD (the loss is reported once)"

# 2. the server comes back as another export
rm -f "$tmp/inject"
"$writer" write "$url" "$tmp/acked2.log" 1 8 2>"$tmp/w2.err" || fail "writer: $(cat "$tmp/w2.err")"
nbdkit_stop KILL
nbdkit_run "$NBD_PORT" --filter=log memory 32M "logfile=$tmp/export2.log"
wait_log "LUN 0: resource failed: nbd://127.0.0.1:$NBD_PORT: the export changed: size was 67108864 bytes, is 33554432; nothing more is sent to it; acknowledged writes not yet flushed there are lost" 15
[ "$(state)" = failed ] || fail "state after the export changed: $(state)"
c=$(sync_cache)
[ "$c" = "CHECK CONDITION 2/04/03" ] || fail "SYNCHRONIZE CACHE on the failed LUN: '$c', want 2/04/03: $(tail -2 "$tmp/sync.err")"
grep -q "MEDIUM\|3/0c" "$tmp/sync.err" && fail "a medium error went by: $(cat "$tmp/sync.err")"
stop_vstord TERM 30
# nothing was written to the other export (its log filter saw no write)
nbdkit_stop TERM
grep -q ' Connect ' "$tmp/export2.log" || fail "the other export's log has no connection"
grep -qE ' (Write|Trim|Zero) id=' "$tmp/export2.log" &&
	fail "written to the other export: $(grep -E ' (Write|Trim|Zero) id=' "$tmp/export2.log" | head -3)"
[ "$stop_rc" = timeout ] && fail "vstord did not stop"
pass "refused replay: MEDIUM ERROR 3/0c/00 once, then GOOD; another export: LUN failed (2/04/03)"
