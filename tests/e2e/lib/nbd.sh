#!/bin/bash
# Shared by tests/e2e/nbd_*.sh (after lib/common.sh): a vstord with one
# target whose LUNs are served over NBD, and the clients' prerequisites.
#   nbd_need CMD...          fail if a client tool is missing
#   nbd_start NBDPORT ISCSIPORT [EXTRA_NBD_JSON] [LUNS_JSON]
# The libnbd tools (nbdsh) run python3 -m nbd: Debian's python3, whatever
# else is first on PATH.
export PATH="/usr/bin:/bin:$PATH"
NBD_IQN=iqn.2026-11.org.vstor:nbd

nbd_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null ||
			fail "$c not installed (scripts/lib/deps.sh test packages: libnbd-bin, python3-libnbd, nbdkit, qemu-utils, gnutls-bin)"
	done
}

# nbd_start NBDPORT ISCSIPORT [EXTRA] [LUNS]: EXTRA is JSON inserted in the
# "nbd" object before "exports" (e.g. a "tls" block); LUNS replaces the
# default LUN 0 = 256 MiB file, LUN 1 = 64 MiB RAM read-only.  Exports:
# "disk" (LUN 0) and "ro" (LUN 1).
nbd_start() {
	local nport=$1 iport=$2 extra=${3:-} luns=${4:-}
	[ -n "$luns" ] || luns='{ "lun": 0, "backend": "file", "path": "'"$tmp"'/disk.img", "size": "256M", "create": true },
	        { "lun": 1, "backend": "ram", "size": "64M", "readonly": true }'
	cat >"$tmp/vstord.json" <<JSON
{ "portals": ["127.0.0.1:$iport"],
  "targets": [ { "iqn": "$NBD_IQN", "luns": [ $luns ] } ],
  "nbd": { "portals": ["127.0.0.1:$nport"], $extra
           "exports": [ { "name": "disk", "target": "$NBD_IQN", "lun": 0, "description": "vstor e2e disk" },
                        { "name": "ro", "target": "$NBD_IQN", "lun": 1 } ] } }
JSON
	start_vstord "$nport" -c "$tmp/vstord.json" --ctl-socket "${NBD_CTL:-none}"
}
