#!/bin/bash
# session list and stats against live sessions and real I/O.
#  - session list: a raw-socket session with known keys and a libiscsi one
#    with HeaderDigest=CRC32C show their initiator, ISID, TSIH, connection,
#    peer and the parameters negotiated with the daemon's own limits;
#    nothing once they logged out.
#  - stats: after a known mix of commands on a fresh LUN, the counts and
#    bytes are exactly those, errors count the refused READs, and every
#    latency percentile is within what the initiator itself measured.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
RAW=$BUILD_ABS/e2e/ctl_raw
[ -x "$RAW" ] && [ -x "$PROBE" ] || fail "ctl_raw / ctl_probe not built"
command -v python3 >/dev/null || fail "python3 not installed (scripts/test.sh installs it)"
PORT=$((3394 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:ctl-ss
RAWI=iqn.2026-11.org.vstor:ctl-ss-raw
LIBI=iqn.2026-11.org.vstor:ctl-ss-lib
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "iscsi": { "max_recv_data_segment_length": 131072 },
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "ram", "size": "16M" } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"

# ---- session list, with two sessions logged in
cat >"$tmp/list.sh" <<EOF2
'$VSTORCTL' --socket '$SOCK' --json session list >'$tmp/sessions.json' &&
'$VSTORCTL' --socket '$SOCK' session list >'$tmp/sessions.txt'
EOF2
"$PROBE" hold "127.0.0.1:$PORT" $IQN $LIBI crc32c "'$RAW' session $PORT $IQN $RAWI 'sh $tmp/list.sh'" ||
	fail "session list with two sessions logged in"
python3 - "$tmp/sessions.json" $IQN $RAWI $LIBI <<'PY' || fail "session list: $(cat "$tmp/sessions.json")"
import json, sys
f, iqn, rawi, libi = sys.argv[1:]
s = {x["initiator"]: x for x in json.load(open(f))["sessions"]}
assert set(s) == {rawi, libi}, s
for x in s.values():
    assert x["target"] == iqn and x["connections"] == 1, x
    assert x["peer"].startswith("127.0.0.1:") and x["tsih"] > 0, x
assert s[rawi]["tsih"] != s[libi]["tsih"]
r = s[rawi]
assert r["isid"] == "801234560007", r
# What ctl_raw offered against what the daemon offers (RFC 7143 section 13):
# the target receives 131072 (its config) and sends the initiator's 65536;
# MaxBurstLength and FirstBurstLength are the smaller; InitialR2T is OR
# (ctl_raw says Yes), ImmediateData AND (both Yes); digests None.
assert r["params"] == {"header_digest": False, "data_digest": False,
                       "max_recv_data_segment_length": 131072,
                       "max_xmit_data_segment_length": 65536,
                       "max_burst_length": 262144, "first_burst_length": 65536,
                       "immediate_data": True, "initial_r2t": True}, r["params"]
assert s[libi]["params"]["header_digest"] is True and s[libi]["params"]["data_digest"] is False, s[libi]
assert s[libi]["params"]["max_recv_data_segment_length"] == 131072, s[libi]
PY
grep -qE "^$IQN +$RAWI +801234560007 +[0-9]+ +1 +127\.0\.0\.1:[0-9]+ +no +no +131072 +65536 +262144 +65536 +yes +yes\$" \
	"$tmp/sessions.txt" || fail "session list table: $(cat "$tmp/sessions.txt")"
grep -qE "^$IQN +$LIBI +[0-9a-f]{12} +[0-9]+ +1 +127\.0\.0\.1:[0-9]+ +yes +no " "$tmp/sessions.txt" ||
	fail "session list table: $(cat "$tmp/sessions.txt")"
ctl_ok session list | grep -qx "no sessions" || fail "sessions left after logout: $(ctl session list)"

# ---- stats after known I/O on a LUN added for it (its counters start at 0)
ctl_ok lun add --target $IQN --lun 1 --backend ram --size 4M >/dev/null
"$PROBE" stats "127.0.0.1:$PORT" $IQN 1 >"$tmp/expect.json" || fail "I/O for stats"
ctl_ok --json stats --target $IQN --lun 1 >"$tmp/stats.json"
python3 - "$tmp/expect.json" "$tmp/stats.json" <<'PY' || fail "stats: want $(cat "$tmp/expect.json"), got $(cat "$tmp/stats.json")"
import json, sys
want = json.load(open(sys.argv[1]))
luns = json.load(open(sys.argv[2]))["luns"]
assert len(luns) == 1 and luns[0]["lun"] == 1, luns
got = luns[0]
for k in ("ops", "read_ops", "write_ops", "other_ops", "read_bytes", "write_bytes", "bytes", "errors"):
    assert got[k] == want[k], (k, got[k], want[k])
assert want["errors"] == 5 and want["write_bytes"] == 50 * 4096 and want["read_bytes"] == 30 * 8192, want
lat, bound = got["latency_us"], want["latency_bound_us"]
assert 1 <= lat["p50"] <= lat["p99"] <= lat["p99_9"], lat
for p in ("p50", "p99", "p99_9"):
    assert lat[p] <= bound[p], (p, lat[p], bound[p])
# Nothing runs now; the limit is the port's per-LUN queue depth.
assert got["queue_depth_in_use"] == 0 and got["held"] == 0 and got["queue_depth_limit"] > 0, got
for k in ("timeouts", "aborts", "resets", "busy", "task_set_full", "reservation_conflicts"):
    assert got[k] == 0, (k, got)
PY
ctl_ok stats --target $IQN --lun 1 >"$tmp/stats.txt"
head -1 "$tmp/stats.txt" | grep -qE '^TARGET +LUN +OPS +READS +WRITES +BYTES +ERRORS +P50us +P99us +P99\.9us +QD-LIMIT +QD-USED +HELD$' ||
	fail "stats table header: $(head -1 "$tmp/stats.txt")"
python3 - "$tmp/expect.json" "$tmp/stats.txt" $IQN <<'PY' || fail "stats table: $(cat "$tmp/stats.txt")"
import json, sys
w = json.load(open(sys.argv[1]))
row = open(sys.argv[2]).read().splitlines()[1].split()
assert row[:7] == [sys.argv[3], "1", str(w["ops"]), str(w["read_ops"]), str(w["write_ops"]),
                   str(w["bytes"]), str(w["errors"])], row
assert row[11:] == ["0", "0"] and int(row[10]) > 0, row
PY
# LUN 0 saw no I/O from this: its stats are its own.
ctl_ok --json stats --target $IQN --lun 0 | grep -q '"read_ops": 0,' || fail "LUN 0 counted LUN 1's reads"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass
