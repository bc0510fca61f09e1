#!/bin/bash
# An encrypted LUN through the whole daemon: a block written over iSCSI
# lands on the image as aes-xts-plain64 ciphertext that an independent XTS
# (tests/unit/lib/xts_ref.py, python3-cryptography) decrypts; config save
# writes the key's fingerprint (learned at open), never the key; a restart
# with another key in key_file is refused naming key_fingerprint instead of
# serving garbage, and with the right key the data is back; vstorctl lun
# add with a short key file is refused naming the field, changing nothing.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/ctl.sh"
[ -x "$PROBE" ] || fail "ctl_probe not built (libiscsi-dev missing)"
python3 -c 'import cryptography' 2>/dev/null ||
	fail "python3-cryptography not installed (scripts/test.sh installs it)"
REF=$E2E_ROOT/tests/unit/lib/xts_ref.py
PORT=$((3460 + ${VSTOR_PORT_OFFSET:-0}))
IQN=iqn.2026-11.org.vstor:crypt-key
head -c 64 /dev/urandom >"$tmp/k1"
head -c 64 /dev/urandom >"$tmp/k2"
cp "$tmp/k1" "$tmp/k1.orig"
cat >"$tmp/c.json" <<JSON
{ "portals": ["127.0.0.1:$PORT"],
  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "backend": "file",
      "path": "$tmp/disk.img", "size": "4M", "create": true,
      "filters": [ { "name": "crypt", "key_file": "$tmp/k1" } ] } ] } ] }
JSON
ctl_start $PORT "$tmp/c.json"
ctl_ok lun list | grep -q "crypt/file" || fail "lun list does not show crypt/file: $(ctl lun list)"

# 1. A block of 0xa5 at LBA 5: ciphertext on the image, plaintext to python.
"$PROBE" io "127.0.0.1:$PORT" $IQN 0 write 5 165 || fail "write to LUN 0"
"$PROBE" io "127.0.0.1:$PORT" $IQN 0 check 5 165 || fail "read back through crypt"
ctl_ok config save >/dev/null
python3 - "$tmp/disk.img" <<'PY' || fail "the image holds the plaintext block"
import sys
d = open(sys.argv[1], "rb").read()
sys.exit(1 if d[5 * 512:6 * 512] == b"\xa5" * 512 else 0)
PY
python3 "$REF" decrypt "$tmp/k1" "$tmp/disk.img" "$tmp/plain.img" || fail "xts_ref.py failed"
python3 - "$tmp/plain.img" <<'PY' || fail "xts_ref.py does not decrypt LBA 5 to 0xa5"
import sys
d = open(sys.argv[1], "rb").read()
sys.exit(0 if d[5 * 512:6 * 512] == b"\xa5" * 512 else 1)
PY

# 2. config save: the fingerprint xts_ref.py computes, and no key.
fp=$(python3 "$REF" fingerprint "$tmp/k1")
grep -q "\"key_fingerprint\": \"$fp\"" "$tmp/c.json" ||
	fail "config save did not write key_fingerprint $fp: $(cat "$tmp/c.json")"
python3 - "$tmp/k1" "$tmp/c.json" <<'PY' || fail "the saved config holds the key"
import sys, base64
k = open(sys.argv[1], "rb").read(); c = open(sys.argv[2], "rb").read()
sys.exit(1 if any(x in c for x in (k, k.hex().encode(), base64.b64encode(k))) else 0)
PY
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"

# 3. Another key in key_file: refused at start, naming the field.
cp "$tmp/k2" "$tmp/k1"
: >"$tmp/vstord.log"
"$VSTORD" -c "$tmp/c.json" --listen "127.0.0.1:$PORT" --ctl-socket "$SOCK" >"$tmp/start.log" 2>&1 &
vstord_pid=$!
for _ in $(seq 100); do kill -0 $vstord_pid 2>/dev/null || break; sleep 0.1; done
kill -0 $vstord_pid 2>/dev/null && fail "vstord started with the wrong key"
wait $vstord_pid
rc=$?
vstord_pid=
[ "$rc" = 1 ] || fail "wrong key: exit status $rc, want 1"
grep -q "targets\[0\]\.luns\[0\]\.filters\[0\]\.key_fingerprint: .*$fp" "$tmp/start.log" ||
	fail "wrong key: no line naming key_fingerprint: $(cat "$tmp/start.log")"

# 4. The right key again: the data is there.
cp "$tmp/k1.orig" "$tmp/k1"
ctl_start $PORT "$tmp/c.json"
"$PROBE" io "127.0.0.1:$PORT" $IQN 0 check 5 165 || fail "LUN 0 lost its data across the restart"

# 5. lun add with a 32-byte key file: refused naming the field, nothing changes.
head -c 32 /dev/urandom >"$tmp/short"
ctl_ok --json lun list >"$tmp/luns.before"
ctl_err 1 "params\.filters\[0\]\.key_file: .*holds 32 bytes" lun add --target $IQN --lun 1 \
	--backend ram --size 1M --filter "crypt,key_file=$tmp/short"
ctl_err 1 "params\.filters\[0\]\.key_file: .*No such file" lun add --target $IQN --lun 1 \
	--backend ram --size 1M --filter "crypt,key_file=$tmp/none"
ctl_ok --json lun list >"$tmp/luns.after"
diff -u "$tmp/luns.before" "$tmp/luns.after" >&2 || fail "a refused lun add changed the LUNs"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc"
pass
