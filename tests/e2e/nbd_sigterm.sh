#!/bin/bash
# Connection loss and graceful shutdown of the NBD fabric:
#  - a client killed with 64 writes in flight: the daemon goes on, the
#    next client is served, no session is left behind;
#  - SIGTERM under a write load of 32 in flight: commands already read
#    finish, later ones get NBD_ESHUTDOWN, vstord exits 0, and every write
#    the client saw acknowledged is in the backing file.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/nbd.sh"
/usr/bin/python3 -c 'import nbd' 2>/dev/null || fail "python3-libnbd not installed"
NPORT=$((10816 + ${VSTOR_PORT_OFFSET:-0}))
IPORT=$((3444 + ${VSTOR_PORT_OFFSET:-0}))
URI="nbd://127.0.0.1:$NPORT/disk"
NBD_CTL="$tmp/ctl.sock"
nbd_start $NPORT $IPORT

# ---- connection loss with commands in flight
/usr/bin/python3 - "$URI" 2>/dev/null <<'PY'
import os, sys, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
for i in range(64):
    h.aio_pwrite(bytes([i]) * 1048576, i << 20)
os.kill(os.getpid(), 9)
PY
out=$(/usr/bin/python3 - "$URI" 2>&1 <<'PY'
import sys, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
h.pwrite(b"after" * 100 + b"\0" * 12, 0, nbd.CMD_FLAG_FUA)
assert h.pread(512, 0).startswith(b"after")
h.shutdown()
print("ok")
PY
) || fail "the next client after a killed one: $out"
for _ in $(seq 50); do
	s=$("$BUILD/vstorctl" --socket "$NBD_CTL" session list --json 2>&1)
	grep -q '"nbd_sessions": \[\]' <<<"$s" && break
	sleep 0.1
done
grep -q '"nbd_sessions": \[\]' <<<"$s" || fail "a session outlived its connection: $s"

# ---- SIGTERM under load: acknowledged writes survive
cat >"$tmp/load.py" <<'PY'
import sys, struct, nbd
uri, acked_path = sys.argv[1], sys.argv[2]
h = nbd.NBD(); h.connect_uri(uri)
acked = open(acked_path, "w")
state = {"next": 0, "errors": 0}
BLOCKS = (256 << 20) // 4096
def block(n):
    return struct.pack("<QQ", n, 0x76737472) * 256
def done(n):
    def cb(err):
        if err.value == 0:
            acked.write("%d\n" % n)
        else:
            state["errors"] += 1
        return 1
    return cb
try:
    while True:
        while h.aio_in_flight() < 32:
            n = state["next"]; state["next"] += 1
            h.aio_pwrite(block(n), (n % BLOCKS) * 4096, completion=done(n))
        h.poll(-1)
except nbd.Error as e:
    pass
acked.close()
print("sent", state["next"], "errors", state["errors"])
PY
/usr/bin/python3 "$tmp/load.py" "$URI" "$tmp/acked" >"$tmp/load.out" 2>&1 &
load=$!
sleep 2
[ "$(wc -l <"$tmp/acked")" -gt 100 ] || fail "the load did not get going: $(cat "$tmp/load.out")"
stop_vstord TERM 15
[ "$stop_rc" = 0 ] || fail "SIGTERM under load: exit status $stop_rc, want 0"
wait $load
grep -q "nbd info: stopped listening\|stopped listening" "$tmp/vstord.log" || fail "no orderly stop"
n=$(wc -l <"$tmp/acked")
/usr/bin/python3 - "$tmp/acked" "$tmp/disk.img" <<'PY' || fail "an acknowledged write is not in the backing file"
import sys, struct
BLOCKS = (256 << 20) // 4096
last = {}
for line in open(sys.argv[1]):
    n = int(line)
    b = n % BLOCKS
    last[b] = max(last.get(b, -1), n)
bad = 0
with open(sys.argv[2], "rb") as f:
    for b, n in last.items():
        f.seek(b * 4096)
        got = struct.unpack("<Q", f.read(8))[0]
        # a later write to the same block may have landed unacknowledged
        if got < n:
            bad += 1
print("checked", len(last), "blocks,", bad, "lost")
sys.exit(1 if bad else 0)
PY
pass "killed client with 64 in flight: daemon fine, no stale session; SIGTERM under load: exit 0, all $n acknowledged writes on disk ($(cat "$tmp/load.out"))"
