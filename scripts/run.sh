#!/bin/bash
# The first command: install what is missing, build, and serve the default
# disk (iqn.2026-11.org.vstor:default, LUN 0 = 1 GiB RAM) on 127.0.0.1:3260
# in the foreground.  Extra arguments go to vstord (e.g. -c my.json).
# Builds vstorctl as well, so the README's vstorctl examples work from the
# checkout (as build/vstorctl, or vstorctl once build/ is on the PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh

vs_install_deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target vstord vstorctl >/dev/null

cat <<MSG
Built build/vstord and build/vstorctl (the control CLI: add LUNs and
targets while it runs; from another shell, as root:
  export PATH=$PWD/build:\$PATH; vstorctl lun list).

Attach the default disk from this machine with:

  iscsiadm -m discovery -t st -p 127.0.0.1:3260
  iscsiadm -m node -T iqn.2026-11.org.vstor:default -p 127.0.0.1:3260 --login

or look at it with libiscsi's tools (no kernel initiator needed):

  iscsi-ls -s iscsi://127.0.0.1:3260/
  iscsi-inq iscsi://127.0.0.1:3260/iqn.2026-11.org.vstor:default/0

Stop with Ctrl-C.
MSG
exec build/vstord "$@"
