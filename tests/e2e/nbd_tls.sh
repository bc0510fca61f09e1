#!/bin/bash
# NBD over TLS (proto.md "TLS support") with libnbd's GnuTLS client:
#  - tls: require (FORCEDTLS): a plain client gets nothing;
#  - nbds:// with X.509 certificates made by certtool (the client's CN is
#    its identity), and with a PSK made by psktool (the PSK identity);
#  - an export whose access list names only tls:alice: alice in, bob out;
#  - nbdcopy through TLS with checksums; the identity in session list;
#  - tls: on (SELECTIVETLS): plain clients reach plain exports only.
. "$(dirname "$0")/lib/common.sh" "$@"
. "$(dirname "$0")/lib/nbd.sh"
nbd_need nbdinfo nbdcopy certtool psktool
NPORT=$((10814 + ${VSTOR_PORT_OFFSET:-0}))
IPORT=$((3443 + ${VSTOR_PORT_OFFSET:-0}))
NBD_CTL="$tmp/ctl.sock"
VSTORCTL="$BUILD/vstorctl"
pki="$tmp/pki"
mkdir -p "$pki/alice" "$pki/nocert"

# ---- a CA, the server's certificate (127.0.0.1), alice's client certificate
cat >"$pki/ca.info" <<EOT
cn = vstor e2e CA
ca
cert_signing_key
expiration_days = 2
EOT
cat >"$pki/server.info" <<EOT
cn = localhost
ip_address = 127.0.0.1
dns_name = localhost
tls_www_server
encryption_key
signing_key
expiration_days = 2
EOT
cat >"$pki/client.info" <<EOT
cn = alice
tls_www_client
encryption_key
signing_key
expiration_days = 2
EOT
gen() { certtool "$@" >/dev/null 2>&1 || fail "certtool $*"; }
gen --generate-privkey --outfile "$pki/ca-key.pem"
gen --generate-self-signed --load-privkey "$pki/ca-key.pem" --template "$pki/ca.info" \
	--outfile "$pki/ca-cert.pem"
gen --generate-privkey --outfile "$pki/server-key.pem"
gen --generate-certificate --load-privkey "$pki/server-key.pem" --load-ca-certificate "$pki/ca-cert.pem" \
	--load-ca-privkey "$pki/ca-key.pem" --template "$pki/server.info" --outfile "$pki/server-cert.pem"
gen --generate-privkey --outfile "$pki/alice/client-key.pem"
gen --generate-certificate --load-privkey "$pki/alice/client-key.pem" \
	--load-ca-certificate "$pki/ca-cert.pem" --load-ca-privkey "$pki/ca-key.pem" \
	--template "$pki/client.info" --outfile "$pki/alice/client-cert.pem"
cp "$pki/ca-cert.pem" "$pki/alice/"
cp "$pki/ca-cert.pem" "$pki/nocert/"
psktool -u alice -p "$tmp/keys.psk" >/dev/null 2>&1 || fail "psktool"
psktool -u bob -p "$tmp/keys.psk" >/dev/null 2>&1 || fail "psktool"

serve() {   # MODE: vstord with exports "disk" (anyone) and "secret" (tls:alice only)
	cat >"$tmp/vstord.json" <<JSON
{ "portals": ["127.0.0.1:$IPORT"],
  "targets": [ { "iqn": "$NBD_IQN", "luns": [
      { "lun": 0, "backend": "file", "path": "$tmp/disk.img", "size": "128M", "create": true },
      { "lun": 1, "backend": "ram", "size": "16M" } ] } ],
  "nbd": { "portals": ["127.0.0.1:$NPORT"],
           "tls": { "mode": "$1", "cert": "pki/server-cert.pem", "key": "pki/server-key.pem",
                    "ca": "pki/ca-cert.pem", "psk_file": "keys.psk" },
           "exports": [ { "name": "disk", "target": "$NBD_IQN", "lun": 0 },
                        { "name": "secret", "target": "$NBD_IQN", "lun": 1, "acl": ["tls:alice"] } ] } }
JSON
	start_vstord "$NPORT" -c "$tmp/vstord.json" --ctl-socket "$NBD_CTL"
}
CERT="nbds://127.0.0.1:$NPORT/disk?tls-certificates=$pki/alice"
PSK="nbds://alice@127.0.0.1:$NPORT/disk?tls-psk-file=$tmp/keys.psk"

serve require
out=$(nbdinfo "nbd://127.0.0.1:$NPORT/disk" 2>&1) && fail "tls: require let a plain client in: $out"
grep -qi "tls" <<<"$out" || fail "a plain client should hear that TLS is required: $out"
out=$(nbdinfo --json "$CERT" 2>&1) || fail "nbds:// with certificates: $out"
grep -q '"export-size": 134217728' <<<"$out" || fail "certificates: wrong export: $out"
grep -q 'using TLS\|"tls": true\|TLS' <<<"$(nbdinfo "$CERT" 2>&1)" || fail "nbdinfo does not say TLS"
out=$(nbdinfo --json "$PSK" 2>&1) || fail "nbds:// with a PSK: $out"
out=$(nbdinfo "nbds://127.0.0.1:$NPORT/disk?tls-certificates=$pki/nocert" 2>&1) &&
	fail "a client without a certificate got through a CA-checking server: $out"

# data through TLS, both ways, checksummed
head -c 24M /dev/urandom >"$tmp/src.img"
sum=$(sha256sum <"$tmp/src.img" | cut -d' ' -f1)
nbdcopy "$tmp/src.img" "$PSK" || fail "nbdcopy into the export over TLS (PSK)"
nbdcopy "$CERT" "$tmp/back.img" || fail "nbdcopy out over TLS (certificates)"
[ "$(head -c 24M "$tmp/back.img" | sha256sum | cut -d' ' -f1)" = "$sum" ] ||
	fail "TLS round trip: checksum differs"

# the identity decides "secret": alice (certificate or PSK) yes, bob no
nbdinfo "nbds://127.0.0.1:$NPORT/secret?tls-certificates=$pki/alice" >/dev/null 2>&1 ||
	fail "alice's certificate should open 'secret'"
nbdinfo "nbds://alice@127.0.0.1:$NPORT/secret?tls-psk-file=$tmp/keys.psk" >/dev/null 2>&1 ||
	fail "alice's PSK should open 'secret'"
out=$(nbdinfo "nbds://bob@127.0.0.1:$NPORT/secret?tls-psk-file=$tmp/keys.psk" 2>&1) &&
	fail "bob opened an export only alice may use: $out"
out=$(nbdinfo --list "nbds://bob@127.0.0.1:$NPORT/?tls-psk-file=$tmp/keys.psk" 2>&1)
grep -q 'export="secret"' <<<"$out" && fail "bob's LIST shows 'secret': $out"

# the session list names the identity and the nexus
/usr/bin/python3 - "$PSK" <<'PY' &
import sys, time, nbd
h = nbd.NBD(); h.set_uri_allow_local_file(True); h.connect_uri(sys.argv[1]); h.pread(512, 0); time.sleep(3)
PY
client=$!
for _ in $(seq 30); do
	out=$("$VSTORCTL" --socket "$NBD_CTL" session list --json 2>&1)
	grep -q '"tls_identity": "alice"' <<<"$out" && break
	sleep 0.1
done
wait $client
grep -q '"tls_identity": "alice"' <<<"$out" || fail "session list lacks the TLS identity: $out"
grep -q '"nexus": "nbd:alice@127.0.0.1:' <<<"$out" || fail "the nexus is not named by the identity: $out"
grep -q '"tls": true' <<<"$out" || fail "session list does not say TLS: $out"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"

# SELECTIVETLS: plain clients get "disk" but not the TLS-only "secret"
serve on
nbdinfo "nbd://127.0.0.1:$NPORT/disk" >/dev/null 2>&1 || fail "tls: on refused a plain client"
out=$(nbdinfo "nbd://127.0.0.1:$NPORT/secret" 2>&1) && fail "a TLS-only export served in plain text"
nbdinfo "$CERT" >/dev/null 2>&1 || fail "tls: on refused a TLS client"
stop_vstord TERM 10
[ "$stop_rc" = 0 ] || fail "SIGTERM: exit status $stop_rc, want 0"
pass "tls require/on, certificates and PSK via GnuTLS, identity access lists, nbdcopy over TLS"
