#!/bin/bash
# vstord's own NBD fabric as the server of tests/vm/nbd_kernel.sh: a
# 256 MiB RAM LUN exported as EXPORT on 127.0.0.1:PORT.  vstord replaces
# this shell, so the harness's SIGTERM reaches it (it must exit 0).
# Usage: vstord_nbd.sh VSTORD PORT EXPORT DIR
set -eu
vstord=$1 port=$2 export=$3 dir=$4
cat >"$dir/vstord.json" <<JSON
{ "portals": ["127.0.0.1:$((port + 1))"],
  "targets": [ { "iqn": "iqn.2026-11.org.vstor:vm-nbd",
                 "luns": [ { "lun": 0, "backend": "ram", "size": "256M" } ] } ],
  "nbd": { "portals": ["127.0.0.1:$port"],
           "exports": [ { "name": "$export", "target": "iqn.2026-11.org.vstor:vm-nbd", "lun": 0 } ] } }
JSON
exec "$vstord" -c "$dir/vstord.json" --ctl-socket none
